//! The `Idempotency-Key` policy, in one place for both backends: a key answers the same
//! request for 24 hours, a claim whose request never finished is taken over after 5 minutes,
//! and a key reused for a different request is refused. Adapters only do the atomic part
//! ([`IdempotencyStore`]); every decision is the pure [`decide`].

use crate::domain::Timestamp;
use crate::ids::AccountId;
use crate::ports::{Claim, IdempotencyRecord, IdempotencyStore, StoreResult, StoredResponse};

/// How long a key answers the same request.
pub const TTL: chrono::Duration = chrono::Duration::hours(24);
/// How long a claim without a response blocks the key (its process may have died).
pub const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(5);
/// Claims tried before a contended key is reported as in progress.
const ATTEMPTS: usize = 3;

/// State of an `Idempotency-Key` for one account, as the caller sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyBegin {
    /// First use: the caller runs the request and then completes or releases the key.
    Started,
    /// Another request with this key is still running.
    InProgress,
    /// Already answered: replay this response.
    Completed(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
}

/// What an existing record means for a new request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Answer with [`IdempotencyBegin`] as it is.
    Answer(IdempotencyBegin),
    /// The record is expired or abandoned: replace it and run.
    TakeOver,
}

/// The policy: what `record` means for a request with `fingerprint` at `now`.
pub fn decide(record: &IdempotencyRecord, fingerprint: &str, now: Timestamp) -> Decision {
    let age = now - record.created_at;
    if age >= TTL {
        return Decision::TakeOver;
    }
    if record.fingerprint != fingerprint {
        return Decision::Answer(IdempotencyBegin::Mismatch);
    }
    match &record.response {
        Some(r) => Decision::Answer(IdempotencyBegin::Completed(r.clone())),
        None if age < ABANDONED_AFTER => Decision::Answer(IdempotencyBegin::InProgress),
        None => Decision::TakeOver,
    }
}

/// Claims `key` for a request with `fingerprint`, or reports what the key holds.
///
/// # Errors
/// The store's errors.
pub async fn begin(
    store: &dyn IdempotencyStore,
    account: &AccountId,
    key: &str,
    fingerprint: &str,
    now: Timestamp,
) -> StoreResult<IdempotencyBegin> {
    let fresh = IdempotencyRecord {
        fingerprint: fingerprint.to_owned(),
        created_at: now,
        response: None,
    };
    for _ in 0..ATTEMPTS {
        let held = match store.idempotency_claim(account, key, &fresh).await? {
            Claim::Claimed => return Ok(IdempotencyBegin::Started),
            Claim::Held(record) => record,
        };
        match decide(&held, fingerprint, now) {
            Decision::Answer(a) => return Ok(a),
            Decision::TakeOver => {
                if store
                    .idempotency_replace(account, key, held.created_at, &fresh)
                    .await?
                {
                    return Ok(IdempotencyBegin::Started);
                }
                // Someone else replaced or released it meanwhile: look again.
            }
        }
    }
    Ok(IdempotencyBegin::InProgress)
}

/// Stores the response of a claim made at `now` (expired records go on the way).
///
/// # Errors
/// The store's errors.
pub async fn complete(
    store: &dyn IdempotencyStore,
    account: &AccountId,
    key: &str,
    response: &StoredResponse,
    now: Timestamp,
) -> StoreResult<()> {
    store
        .idempotency_complete(account, key, response, now - TTL)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn record(fp: &str, response: Option<StoredResponse>) -> IdempotencyRecord {
        IdempotencyRecord {
            fingerprint: fp.into(),
            created_at: t0(),
            response,
        }
    }

    #[test]
    fn a_fresh_record_answers_by_fingerprint_and_state() {
        let done = StoredResponse {
            status: 201,
            body: b"{}".to_vec(),
        };
        let at = t0() + chrono::Duration::minutes(1);
        assert_eq!(
            decide(&record("a", Some(done.clone())), "a", at),
            Decision::Answer(IdempotencyBegin::Completed(done.clone()))
        );
        assert_eq!(
            decide(&record("a", Some(done)), "b", at),
            Decision::Answer(IdempotencyBegin::Mismatch)
        );
        assert_eq!(
            decide(&record("a", None), "a", at),
            Decision::Answer(IdempotencyBegin::InProgress)
        );
        assert_eq!(
            decide(&record("a", None), "b", at),
            Decision::Answer(IdempotencyBegin::Mismatch)
        );
    }

    #[test]
    fn abandoned_claims_and_expired_records_are_taken_over() {
        let abandoned = t0() + ABANDONED_AFTER;
        assert_eq!(
            decide(&record("a", None), "a", abandoned),
            Decision::TakeOver
        );
        // A different request is still refused while the key lives.
        assert_eq!(
            decide(&record("a", None), "b", abandoned),
            Decision::Answer(IdempotencyBegin::Mismatch)
        );
        let expired = t0() + TTL;
        let done = Some(StoredResponse {
            status: 200,
            body: vec![],
        });
        assert_eq!(
            decide(&record("a", done.clone()), "a", expired),
            Decision::TakeOver
        );
        assert_eq!(decide(&record("a", done), "b", expired), Decision::TakeOver);
    }
}
