//! Rate limits: a token bucket per API key and per webhook token. Each bucket holds up to
//! `burst` requests and refills at `per_second`; a request finding it empty is refused with
//! 429 `rate_limited` and `Retry-After` (whole seconds until a token is back). Buckets live in
//! the serving process: on AWS each Lambda instance keeps its own, so a key's ceiling there is
//! the limit times the instances serving it.
//!
//! `OPERATOR_RATE_LIMIT_PER_KEY` and `OPERATOR_RATE_LIMIT_PER_WEBHOOK`: `RATE` or `RATE/BURST`
//! (requests per second, decimals allowed; the burst defaults to twice the rate), or `off`.

use crate::error::Error;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept at most per limiter; past it, full ones (idle long enough to refill) go.
const MAX_BUCKETS: usize = 50_000;

/// A rate and burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `RATE`, `RATE/BURST` or `off` (None).
    pub fn parse(name: &str, v: &str) -> anyhow::Result<Option<Self>> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || {
            anyhow::anyhow!(
                "{name} must be RATE or RATE/BURST (requests per second) or off, not {v:?}"
            )
        };
        let (rate, burst) = match v.split_once('/') {
            Some((r, b)) => (
                r.trim().parse::<f64>().map_err(|_| bad())?,
                Some(b.trim().parse::<f64>().map_err(|_| bad())?),
            ),
            None => (v.parse::<f64>().map_err(|_| bad())?, None),
        };
        let burst = burst.unwrap_or(rate * 2.0);
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0 && burst.is_finite() && burst >= 1.0,
            bad()
        );
        Ok(Some(Self {
            per_second: rate,
            burst,
        }))
    }
}

/// Token buckets by key.
pub struct Limiter {
    rate: Rate,
    what: &'static str,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    pub fn new(rate: Rate, what: &'static str) -> Self {
        Self {
            rate,
            what,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token of `key`'s bucket, or says how long until one is back.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate.per_second, self.rate.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.rate.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * self.rate.per_second;
        b.tokens = (b.tokens + refill).min(self.rate.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - b.tokens) / self.rate.per_second,
            ))
        }
    }

    /// `take`, as the API's 429.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        self.take(key, Instant::now()).map_err(|wait| Error::RateLimited {
            message: format!(
                "too many requests for this {}: the limit is {} per second (bursts of {}); retry after the Retry-After seconds",
                self.what, self.rate.per_second, self.rate.burst
            ),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }
}

/// The platform's limits; `None` = unlimited.
#[derive(Default)]
pub struct RateLimits {
    pub per_key: Option<Limiter>,
    pub per_webhook: Option<Limiter>,
}

impl RateLimits {
    pub const DEFAULT_PER_KEY: Rate = Rate {
        per_second: 1000.0,
        burst: 2000.0,
    };
    pub const DEFAULT_PER_WEBHOOK: Rate = Rate {
        per_second: 100.0,
        burst: 1000.0,
    };

    pub fn new(per_key: Option<Rate>, per_webhook: Option<Rate>) -> Self {
        Self {
            per_key: per_key.map(|r| Limiter::new(r, "API key")),
            per_webhook: per_webhook.map(|r| Limiter::new(r, "webhook")),
        }
    }

    /// From `OPERATOR_RATE_LIMIT_PER_KEY` / `_PER_WEBHOOK`, the defaults when unset.
    pub fn from_env() -> anyhow::Result<Self> {
        let read = |name: &str, default: Rate| -> anyhow::Result<Option<Rate>> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Rate::parse(name, &v),
                _ => Ok(Some(default)),
            }
        };
        Ok(Self::new(
            read("OPERATOR_RATE_LIMIT_PER_KEY", Self::DEFAULT_PER_KEY)?,
            read("OPERATOR_RATE_LIMIT_PER_WEBHOOK", Self::DEFAULT_PER_WEBHOOK)?,
        ))
    }

    pub fn key(&self, id: &str) -> Result<(), Error> {
        self.per_key.as_ref().map_or(Ok(()), |l| l.check(id))
    }

    pub fn webhook(&self, id: &str) -> Result<(), Error> {
        self.per_webhook.as_ref().map_or(Ok(()), |l| l.check(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_an_optional_burst_or_off_and_refuse_nonsense() {
        let r = |v| Rate::parse("X", v);
        assert_eq!(
            r("10").unwrap(),
            Some(Rate {
                per_second: 10.0,
                burst: 20.0
            })
        );
        assert_eq!(
            r(" 2.5/5 ").unwrap(),
            Some(Rate {
                per_second: 2.5,
                burst: 5.0
            })
        );
        assert_eq!(r("OFF").unwrap(), None);
        for bad in ["", "0", "-1", "ten", "5/0", "5/x", "inf"] {
            let e = r(bad).unwrap_err().to_string();
            assert!(e.contains("X must be"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_the_rate_and_says_when_to_come_back() {
        let l = Limiter::new(
            Rate {
                per_second: 10.0,
                burst: 3.0,
            },
            "API key",
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("k", t0).is_ok());
        }
        let wait = l.take("k", t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // another key has its own bucket
        assert!(l.take("other", t0).is_ok());
        // 100 ms later one token is back, not two
        let t1 = t0 + Duration::from_millis(100);
        assert!(l.take("k", t1).is_ok());
        assert!(l.take("k", t1).is_err());
        // at the rate, never refused
        let mut t = t1;
        for _ in 0..50 {
            t += Duration::from_millis(100);
            assert!(l.take("k", t).is_ok());
        }
    }

    #[test]
    fn the_refusal_is_a_429_with_a_whole_second_retry_after() {
        let l = Limiter::new(
            Rate {
                per_second: 0.5,
                burst: 1.0,
            },
            "webhook",
        );
        assert!(l.check("w").is_ok());
        match l.check("w") {
            Err(Error::RateLimited {
                retry_after_secs,
                message,
            }) => {
                assert_eq!(retry_after_secs, 2);
                assert!(message.contains("webhook"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
