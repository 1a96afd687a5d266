//! Services: every platform operation as one method on [`Platform`], shared by REST, the
//! Operator agent's tools and (later) the CLI and console. Handlers only translate.

mod accounts;
mod automations;
mod billing;
mod instances;
mod secrets;
mod webhooks;

pub use accounts::*;
pub use automations::*;
pub use billing::*;
pub use instances::*;
pub use secrets::*;
pub use webhooks::*;

use crate::domain::{Account, PageRequest};
use crate::error::Error;
use crate::ids::KeyId;
use crate::ports::{Clock, JobQueue, Scheduler, Store, Vault};
use std::sync::Arc;

/// Settings the services need that are not ports.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Base URL clients reach the API at (webhook URLs are built from it).
    pub public_url: String,
    /// Image tag recorded on new instances.
    pub image_tag: String,
}

/// The application: ports plus configuration. Cheap to clone (everything is `Arc`).
#[derive(Clone)]
pub struct Platform {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn JobQueue>,
    pub vault: Arc<dyn Vault>,
    pub scheduler: Arc<dyn Scheduler>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<PlatformConfig>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub key_id: KeyId,
}

/// Validates `?limit=&cursor=`.
pub fn page_request(limit: Option<i64>, cursor: Option<String>) -> Result<PageRequest, Error> {
    let limit = match limit {
        None => PageRequest::DEFAULT_LIMIT,
        Some(n) if (1..=i64::from(PageRequest::MAX_LIMIT)).contains(&n) => n as u32,
        Some(_) => {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {}", PageRequest::MAX_LIMIT),
            ))
        }
    };
    let cursor = match cursor {
        Some(c) if c.is_empty() => None,
        Some(c) if c.len() > 100 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            return Err(Error::invalid(
                "cursor",
                "is not a cursor returned by this API",
            ))
        }
        other => other,
    };
    Ok(PageRequest { limit, cursor })
}
