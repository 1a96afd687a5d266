//! The one place a domain [`Error`] becomes API.md's error: status, `{"error": {"code",
//! "message", "details"?}}` and an optional `Retry-After`. REST answers with it
//! (`http::error`); the Operator agent gives the same code and message back to the model.
//! Unexpected errors are logged with their cause chain and shown as an opaque 500 — except
//! a full disk ([`StorageFull`](crate::error::StorageFull) in the chain): 507 `storage_full`.

use crate::error::{is_storage_full, Error, FieldErrors};
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_request`, `unauthorized`, `not_found`, `conflict`, ...
    pub code: &'static str,
    pub message: String,
    /// Per-field problems (400 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<FieldErrors>,
}

/// A domain error as the API shows it.
#[derive(Debug)]
pub struct ErrorReply {
    /// The HTTP status.
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Option<FieldErrors>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ErrorReply {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// The body API.md shows.
    pub fn body(self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        }
    }
}

impl From<Error> for ErrorReply {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { message, details } => ErrorReply {
                details: Some(details),
                ..ErrorReply::new(400, "invalid_request", message)
            },
            Error::NotFound(m) => ErrorReply::new(404, "not_found", m),
            Error::Conflict(m) => ErrorReply::new(409, "conflict", m),
            Error::WebhookDisabled(m) => ErrorReply::new(409, "webhook_disabled", m),
            e @ Error::CapacityExceeded { .. } => ErrorReply::new(
                402,
                "capacity_exceeded",
                format!("{e}; delete an instance or upgrade the plan"),
            ),
            Error::PayloadTooLarge(m) => ErrorReply::new(413, "payload_too_large", m),
            Error::Unauthorized(m) => ErrorReply::new(401, "unauthorized", m),
            Error::Unavailable { code, message } => ErrorReply::new(503, code, message),
            Error::BadGateway(m) => ErrorReply::new(502, "bad_gateway", m),
            Error::RateLimited {
                message,
                retry_after_secs,
            } => ErrorReply {
                retry_after: Some(retry_after_secs.max(1)),
                ..ErrorReply::new(429, "rate_limited", message)
            },
            Error::QuotaExceeded {
                message,
                retry_after_secs,
            } => ErrorReply {
                retry_after: Some(retry_after_secs.max(1)),
                ..ErrorReply::new(429, "quota_exceeded", message)
            },
            Error::Unexpected(e) if is_storage_full(&e) => {
                tracing::error!(error = format!("{e:#}"), "storage full");
                ErrorReply::new(
                    507,
                    "storage_full",
                    "the server's storage is full; try again once space has been freed",
                )
            }
            Error::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "unexpected error");
                ErrorReply::new(
                    500,
                    "internal_error",
                    "internal error; the server log has the details",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{StorageFull, StoreError};
    use anyhow::Context;

    #[test]
    fn a_full_disk_anywhere_in_the_cause_chain_is_507_storage_full() {
        // GIVEN a full disk reported directly, under added context, and through a store error
        let direct = anyhow::Error::new(StorageFull("database or disk is full".into()));
        let wrapped = Err::<(), _>(anyhow::Error::new(StorageFull("disk".into())))
            .context("the database did not commit the write")
            .context("enqueue WebhookDelivery")
            .unwrap_err();
        let stored = Error::from(StoreError::Unexpected(anyhow::Error::new(StorageFull(
            "disk".into(),
        ))));
        for e in [
            Error::Unexpected(direct),
            Error::Unexpected(wrapped),
            stored,
        ] {
            // WHEN it becomes the API's error THEN 507 storage_full, saying what to do
            let r = ErrorReply::from(e);
            assert_eq!((r.status, r.code), (507, "storage_full"));
            assert!(r.message.contains("full"), "{}", r.message);
        }
        // AND any other unexpected error stays an opaque 500
        let r = ErrorReply::from(Error::Unexpected(anyhow::anyhow!("database is locked")));
        assert_eq!((r.status, r.code), (500, "internal_error"));
    }
}
