//! Domain types: validated newtypes and the records each port stores.
//!
//! Constructors that take user input (`parse`) return `Error::Invalid` naming the field, so a
//! value of one of these types is valid by construction everywhere else.

mod account;
mod automation;
mod catalog;
mod channels;
mod chat;
mod cli_login;
pub mod experiment;
mod instance;
mod schedule;
mod secret;
mod webhook;

pub use account::*;
pub use automation::*;
pub use catalog::*;
pub use channels::*;
pub use chat::*;
pub use cli_login::*;
pub use experiment::{
    DatasetItem, DatasetSource, Experiment, ExperimentResult, ExperimentStatus, Metric, Scorer,
};
pub use instance::*;
pub use schedule::*;
pub use secret::*;
pub use webhook::*;

use chrono::{DateTime, SubsecRound, Utc};

/// Timestamps are stored and shown with millisecond precision, RFC 3339 UTC.
pub type Timestamp = DateTime<Utc>;

/// Truncate to the precision every backend keeps.
pub fn ts(t: DateTime<Utc>) -> Timestamp {
    t.trunc_subsecs(3)
}

/// One page of a list plus the cursor for the next page (`None` at the end).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=` after validation: newest first, items with ids below `cursor`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Automations an account may have at once (each is a schedule the platform keeps firing).
pub const MAX_AUTOMATIONS_PER_ACCOUNT: u32 = 200;
/// Webhooks an account may have at once.
pub const MAX_WEBHOOKS_PER_ACCOUNT: u32 = 200;

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched newest first: the extra row only
    /// tells that a next page exists.
    pub fn from_overfetch(mut rows: Vec<T>, limit: u32, id_of: impl Fn(&T) -> String) -> Self {
        let limit = limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&id_of)
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}
