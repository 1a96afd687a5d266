//! The one retry loop of the adapter: optimistic writes (a version check, a compare-and-set)
//! that lose to a concurrent writer try again from a fresh read, a bounded number of times
//! with jittered backoff, then fail with an error that names what was contended.

use super::codec::R;
use operator_core::error::StoreError;
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// The outcome of one optimistic attempt.
pub(crate) enum Attempt<T> {
    Done(T),
    /// Lost to a concurrent writer (how, for the log and the final error): read again and
    /// retry.
    Contended(String),
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub attempts: u32,
    /// The first wait's upper bound; it doubles per attempt up to `max`.
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Account-wide optimistic locks (the capacity version) and transactions that race on a
    /// lock item: a handful of writers at most.
    pub const WRITES: Backoff = Backoff {
        attempts: 12,
        base: Duration::from_millis(10),
        max: Duration::from_millis(250),
    };

    /// A compare-and-set that only a rare interleaving (a release between two reads) loses.
    pub const RARE: Backoff = Backoff {
        attempts: 3,
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
    };

    /// "Full jitter": a uniform wait up to the attempt's exponential bound.
    fn wait(&self, attempt: u32) -> Duration {
        let bound = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
        let millis = bound.as_millis().max(1) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }
}

/// Runs `attempt` until it is `Done` or fails, at most `backoff.attempts` times; `what`
/// names the contended thing in the final error.
pub(crate) async fn on_contention<T, F, Fut>(what: &str, backoff: Backoff, mut attempt: F) -> R<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R<Attempt<T>>>,
{
    let mut last = String::new();
    for n in 0..backoff.attempts {
        match attempt().await? {
            Attempt::Done(v) => return Ok(v),
            Attempt::Contended(why) => {
                tracing::debug!(what, attempt = n + 1, why, "optimistic write lost");
                last = why;
                if n + 1 < backoff.attempts {
                    tokio::time::sleep(backoff.wait(n)).await;
                }
            }
        }
    }
    Err(StoreError::Unexpected(anyhow::anyhow!(
        "DynamoDB: {what} kept changing concurrently; gave up after {} attempts (last: {last})",
        backoff.attempts
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const FAST: Backoff = Backoff {
        attempts: 4,
        base: Duration::from_millis(1),
        max: Duration::from_millis(2),
    };

    #[tokio::test]
    async fn retries_while_contended_and_returns_the_first_success() {
        // GIVEN an attempt that loses twice, then wins
        let calls = AtomicU32::new(0);
        // WHEN it runs under the helper
        let got = on_contention("the thing", FAST, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Ok(Attempt::Contended("lost".into())),
                n => Ok(Attempt::Done(n)),
            }
        })
        .await
        .unwrap();
        // THEN it ran three times and returned the winner's value
        assert_eq!(got, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_cap_with_an_error_naming_what_was_contended() {
        // GIVEN an attempt that always loses
        let calls = AtomicU32::new(0);
        // WHEN it runs under the helper
        let err = on_contention::<(), _, _>("the account's instances", FAST, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Attempt::Contended("version moved".into()))
        })
        .await
        .unwrap_err();
        // THEN it stopped at the cap with a clear error
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(err.to_string().contains(
            "the account's instances kept changing concurrently; gave up after 4 attempts"
        ));
    }

    #[tokio::test]
    async fn a_domain_error_ends_the_loop_at_once() {
        // GIVEN an attempt that fails with a domain error
        let calls = AtomicU32::new(0);
        // WHEN it runs under the helper
        let err = on_contention::<(), _, _>("x", FAST, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Conflict("taken".into()))
        })
        .await
        .unwrap_err();
        // THEN it is returned without retrying
        assert!(matches!(err, StoreError::Conflict(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
