//! Services: every platform operation as one method on [`Platform`], shared by REST, the
//! Operator agent's tools and (later) the CLI and console. Handlers only translate.

mod accounts;
mod auth_cache;
mod automations;
mod billing;
mod bus;
mod chat;
mod experiments;
mod gateway;
mod gateway_anthropic;
mod instances;
mod lifecycle_watch;
mod rate;
mod relay;
mod runtime;
mod secrets;
mod warm_pool;
mod webhooks;

pub use accounts::*;
pub use auth_cache::AuthCache;
pub use automations::*;
pub use billing::*;
pub use bus::*;
pub use chat::*;
pub use experiments::*;
pub use gateway::*;
pub use instances::*;
pub use rate::{Limiter, Rate, RateLimits};
pub use relay::*;
pub use runtime::*;
pub use secrets::*;
pub use warm_pool::{WarmPool, POOL_ACCOUNT};
pub use webhooks::*;

use crate::domain::{Account, Page, PageRequest};
use crate::error::Error;
use crate::ids::KeyId;
use crate::ports::{Clock, InstanceRuntime, JobQueue, Scheduler, Store, Vault};
use std::sync::Arc;

/// Where they were defined before `llm` owned them; kept so callers' paths do not change.
pub use crate::llm::{LlmConfig, LlmProvider};

/// Settings the services need that are not ports.
#[derive(Debug)]
pub struct PlatformConfig {
    /// Base URL clients reach the API at (webhook URLs are built from it).
    pub public_url: String,
    /// Base URL instances reach the control plane at (gateway, secrets).
    pub control_url: String,
    /// Image tag recorded on new instances.
    pub image_tag: String,
    /// Signs instance tokens (HMAC-SHA256); derived from the deployment's master secret.
    pub token_key: secrecy::SecretBox<[u8; 32]>,
    /// The model provider behind the gateway and the Operator agent; `None` = not configured.
    pub llm: Option<LlmConfig>,
    /// Checkpoint repositories the Operator agent may offer (`OPERATOR_CHECKPOINT_CATALOG`).
    pub checkpoints: crate::domain::CheckpointCatalog,
    /// Instances kept started ahead of demand, per kind (`OPERATOR_WARM_POOL`).
    pub warm_pool: WarmPool,
}

/// The application: ports plus configuration, behind one `Arc` — every request's handlers
/// and middleware clone it (axum's `State`), and one shared count is far cheaper than one per
/// port (a dozen contended atomics per clone showed as 9 % of a read's CPU).
#[derive(Clone)]
pub struct Platform(Arc<PlatformParts>);

impl std::ops::Deref for Platform {
    type Target = PlatformParts;

    fn deref(&self) -> &PlatformParts {
        &self.0
    }
}

impl From<PlatformParts> for Platform {
    fn from(parts: PlatformParts) -> Self {
        Self(Arc::new(parts))
    }
}

/// What a [`Platform`] is made of.
pub struct PlatformParts {
    pub store: Arc<dyn Store>,
    /// Agent work: chat turns, automation fires, webhook deliveries (may run for minutes).
    pub queue: Arc<dyn JobQueue>,
    /// Instance lifecycle jobs, kept apart so they never wait behind agent work.
    pub lifecycle: Arc<dyn JobQueue>,
    pub runtime: Arc<dyn InstanceRuntime>,
    /// Shared HTTP client (instance APIs, the model provider).
    pub http: reqwest::Client,
    /// The Operator agent's model; `None` when no LLM is configured.
    pub llm: Option<Arc<dyn crate::llm::ModelProvider>>,
    /// Wakes chat streams when events are appended.
    pub bus: Arc<ChatBus>,
    /// Experiment lanes send an instance one message at a time (experiments/slots.rs).
    pub slots: Arc<InstanceSlots>,
    /// Recently authenticated keys (auth_cache.rs); off where the API runs in many processes.
    pub auth_cache: Arc<AuthCache>,
    /// Requests per second per API key and per webhook (rate.rs).
    pub limits: Arc<RateLimits>,
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

/// The list a cursor belongs to: a cursor from one list is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Keys,
    Instances,
    Secrets,
    Automations,
    Runs,
    Webhooks,
    Deliveries,
    Chats,
    Experiments,
    ExperimentResults,
}

impl ListKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::Instances => "instances",
            Self::Secrets => "secrets",
            Self::Automations => "automations",
            Self::Runs => "runs",
            Self::Webhooks => "webhooks",
            Self::Deliveries => "deliveries",
            Self::Chats => "chats",
            Self::Experiments => "experiments",
            Self::ExperimentResults => "results",
        }
    }
}

/// Cursors are opaque to clients: base64url of the list's tag, the store's position and a
/// checksum, so a cursor that was mistyped, truncated or taken from another list is a 400
/// rather than a silently empty page. (Not a credential: lists are scoped to the caller.)
/// The page to read before creating one more of something an account may have `cap` of: at
/// the cap, its first `cap - 1` have a next page. (Soft under creates racing at the cap: a
/// cap bounds what an account keeps the platform running, it is not a billing quota.)
pub(crate) fn cap_probe(cap: u32) -> PageRequest {
    PageRequest::first(cap.saturating_sub(1).max(1))
}

/// 409 when `probe` (read with `cap_probe`) shows the account at its cap of `what`.
pub(crate) fn below_cap<T>(probe: &Page<T>, cap: u32, what: &str) -> crate::error::Result<()> {
    match probe.next_cursor {
        Some(_) => Err(Error::Conflict(format!(
            "this account has {cap} {what}, the most it may have; delete one first"
        ))),
        None => Ok(()),
    }
}

pub fn encode_cursor(kind: ListKind, position: &str) -> String {
    use base64::Engine;
    let mut raw = format!("{}:{position}:", kind.tag()).into_bytes();
    raw.extend_from_slice(&cursor_checksum(kind, position));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn cursor_checksum(kind: ListKind, position: &str) -> [u8; 6] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("operator cursor\0{}\0{position}", kind.tag()));
    let mut sum = [0u8; 6];
    sum.copy_from_slice(&digest[..6]);
    sum
}

fn decode_cursor(kind: ListKind, cursor: &str) -> Option<String> {
    use base64::Engine;
    if cursor.len() > 200 {
        return None;
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let (body, sum) = raw.split_at_checked(raw.len().checked_sub(6)?)?;
    let body = std::str::from_utf8(body).ok()?;
    let position = body
        .strip_prefix(kind.tag())?
        .strip_prefix(':')?
        .strip_suffix(':')?;
    let well_formed = !position.is_empty()
        && position
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (well_formed && sum == cursor_checksum(kind, position)).then(|| position.to_owned())
}

/// A page's `nextCursor` as clients see it.
pub fn next_cursor(kind: ListKind, position: Option<String>) -> Option<String> {
    position.map(|p| encode_cursor(kind, &p))
}

/// Validates `?limit=&cursor=` for the list `kind`.
pub fn page_request(
    kind: ListKind,
    limit: Option<i64>,
    cursor: Option<String>,
) -> Result<PageRequest, Error> {
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
        Some(c) => Some(decode_cursor(kind, &c).ok_or_else(|| {
            Error::invalid(
                "cursor",
                "is not a nextCursor returned by this list (cursors are opaque: pass them back unchanged)",
            )
        })?),
        None => None,
    };
    Ok(PageRequest { limit, cursor })
}
