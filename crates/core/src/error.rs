//! Domain errors: what a use case can fail with, independent of HTTP and of any backend.
//!
//! Ports return [`StoreError`]-style variants that services lift into [`Error`]; the HTTP layer
//! maps [`Error`] to API.md's error body in exactly one place (`http::error`).

use std::collections::BTreeMap;

/// Field name → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

/// The field a `serde_path_to_error` failure is about, as API errors name it (`env.FOO`,
/// `name`): serde reports a missing field at its parent, so the field itself is appended;
/// an error about the whole document is `root`.
pub fn failing_field(path: &str, message: &str, root: &str) -> String {
    match message.strip_prefix("missing field `") {
        Some(rest) => {
            let name = rest.split('`').next().unwrap_or_default();
            if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        }
        None if path == "." => root.to_owned(),
        None => path.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation; `details` names each offending field.
    #[error("{message}")]
    Invalid {
        message: String,
        details: FieldErrors,
    },
    /// The resource does not exist *for this account* (never reveals other tenants' ids).
    #[error("{0}")]
    NotFound(String),
    /// Duplicate name, wrong state, or an idempotency-key clash.
    #[error("{0}")]
    Conflict(String),
    /// The webhook exists but is disabled.
    #[error("{0}")]
    WebhookDisabled(String),
    /// The plan's instance capacity is used up.
    #[error("plan capacity reached: {used} of {limit} instances in use")]
    CapacityExceeded { used: u32, limit: u32 },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A dependency is not configured or not reachable (`llm_unavailable`, ...): 503.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// An instance or provider answered with an error or not at all: 502.
    #[error("{0}")]
    BadGateway(String),
    /// Over a key's or webhook's request rate: 429 `rate_limited` with `Retry-After`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// Over the rolling token quota: 429 with `Retry-After`.
    #[error("{message}")]
    QuotaExceeded {
        message: String,
        retry_after_secs: u64,
    },
    /// Anything else: logged with its cause chain, shown to clients as an opaque 500.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut details = FieldErrors::new();
        details.insert(field.to_owned(), message.clone());
        Error::Invalid {
            message: format!("{field}: {message}"),
            details,
        }
    }

    pub fn invalid_many(details: FieldErrors) -> Self {
        let message = details
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        Error::Invalid { message, details }
    }

    pub fn not_found(kind: &str, id: &str) -> Self {
        Error::NotFound(format!("{kind} {id} not found"))
    }
}

/// The backend had no room left to write (a full disk). Adapters put it in the cause chain
/// of their `Unexpected` error (`anyhow::Error::new(StorageFull(..))`), whichever port
/// failed; the API answers it as 507 `storage_full` instead of an opaque 500.
#[derive(Debug, thiserror::Error)]
#[error("storage is full: {0}")]
pub struct StorageFull(pub String);

/// True when `e` is, or was caused by, a [`StorageFull`].
pub fn is_storage_full(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StorageFull>().is_some() || e.chain().any(|c| c.is::<StorageFull>())
}

/// What every `Store` adapter MUST return for the two expected failure modes; anything else
/// is `Unexpected` (with a [`StorageFull`] in its chain when the disk is full).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The item does not exist (or belongs to another account).
    #[error("not found")]
    NotFound,
    /// A uniqueness or condition check failed (SQLite UNIQUE, DynamoDB ConditionalCheckFailed).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An insert that is bounded by plan capacity found the account full.
    #[error("capacity exceeded: {used} of {limit}")]
    CapacityExceeded { used: u32, limit: u32 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound("not found".into()),
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::CapacityExceeded { used, limit } => Error::CapacityExceeded { used, limit },
            StoreError::Unexpected(e) => Error::Unexpected(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Names the missing resource when a store lookup comes back `NotFound`.
pub trait OrNotFound<T> {
    fn or_not_found(self, kind: &str, id: &str) -> Result<T>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, kind: &str, id: &str) -> Result<T> {
        self.map_err(|e| match e {
            StoreError::NotFound => Error::not_found(kind, id),
            e => e.into(),
        })
    }
}
