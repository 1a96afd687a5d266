//! A warm pool: instances started ahead of demand, so that a create takes one already
//! running instead of waiting for a task to start (30–60 s on Fargate).
//!
//! Pooled instances are ordinary instances of a reserved account (`acct_warmpool`, which has
//! no capacity limit and no key) named `pool-<kind>-<slot>`, started by the ordinary
//! lifecycle jobs. A create that asks for nothing an instance must start with (no `env`, no
//! `checkpointRepo`, and an account without global secrets, which instances load at start)
//! takes an `active` pooled instance of its kind: the store moves it, atomically, to the
//! caller's account under the caller's name. The instance keeps its id, so its token, task,
//! task definition and workspace access point are already its own; its active time counts
//! from the claim. No task is started on the request path. The pool is refilled right after
//! a claim and checked every minute by the workers, which also replace pooled instances of
//! an older image (`OPERATOR_IMAGE_TAG` changes with every deploy) and failed ones.
//!
//! One visible trace: instance ids sort by creation time, and a claimed one's id dates from
//! its pool start, so it can list a little below instances created between the two.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, Result, StoreError};
use crate::ids::{AccountId, InstanceId};
use crate::jobs::Job;

/// The account pooled instances belong to until claimed.
pub const POOL_ACCOUNT: &str = "acct_warmpool";

/// Pooled instances to keep per kind (`OPERATOR_WARM_POOL`, e.g. `prebuilt=2,openclaw=1`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarmPool(pub Vec<(InstanceKind, u32)>);

impl WarmPool {
    pub const MAX_PER_KIND: u32 = 50;

    /// `kind=n` pairs separated by commas; empty for none.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let mut out = vec![];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, n) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not kind=count"))?;
            let kind = InstanceKind::parse(kind.trim())
                .ok_or_else(|| format!("{:?} is not an instance kind", kind.trim()))?;
            let n: u32 = n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= Self::MAX_PER_KIND)
                .ok_or_else(|| {
                    format!("{part:?}: the count must be 0 to {}", Self::MAX_PER_KIND)
                })?;
            out.retain(|(k, _)| *k != kind);
            if n > 0 {
                out.push((kind, n));
            }
        }
        Ok(Self(out))
    }

    /// `OPERATOR_WARM_POOL`, none when unset.
    pub fn from_env() -> anyhow::Result<Self> {
        let v = std::env::var("OPERATOR_WARM_POOL").unwrap_or_default();
        Self::parse(&v).map_err(|e| anyhow::anyhow!("OPERATOR_WARM_POOL: {e}"))
    }

    pub fn size(&self, kind: InstanceKind) -> u32 {
        self.0
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

fn pool_account() -> AccountId {
    AccountId::from_trusted(POOL_ACCOUNT)
}

impl Platform {
    /// Every instance of the pool account, live ones only.
    async fn pooled(&self) -> Result<Vec<Instance>> {
        let mut out = vec![];
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        loop {
            let p = self
                .store
                .list_instances(&pool_account(), &page, false)
                .await?;
            out.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Takes a running pooled instance for `wanted` (a new instance of the caller's, not yet
    /// stored), when the pool has one and `wanted` needs nothing a start would give it.
    pub(super) async fn claim_warm(
        &self,
        caller: &Caller,
        wanted: &Instance,
    ) -> Result<Option<Instance>> {
        if self.config.warm_pool.size(wanted.kind) == 0
            || !wanted.env.as_map().is_empty()
            || wanted.checkpoint_repo.is_some()
        {
            return Ok(None);
        }
        // Global secrets reach an instance at its start: a pooled one started without them.
        if !self
            .store
            .secrets_for_instance(&caller.account.id, &wanted.id)
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        let limit = caller.account.effective_plan().instance_limit;
        let now = self.clock.now();
        let ready = self.pooled().await?.into_iter().filter(|i| {
            i.kind == wanted.kind
                && i.status == InstanceStatus::Active
                && i.image_tag == self.config.image_tag
        });
        for pooled in ready {
            let mut claimed = pooled.clone();
            claimed.account_id = caller.account.id.clone();
            claimed.name = wanted.name.clone();
            claimed.status_reason = None;
            claimed.restarts = 0;
            claimed.active_since = Some(now);
            claimed.active_seconds = 0;
            claimed.created_at = now;
            claimed.updated_at = now;
            match self.store.transfer_instance(&pooled, &claimed, limit).await {
                Ok(()) => {
                    tracing::info!(instance = %claimed.id, account = %claimed.account_id, "claimed a warm instance");
                    // Refill now; a failure here is repaired by the workers' minute check.
                    if let Err(e) = self.ensure_warm_pool().await {
                        tracing::warn!(error = %e, "could not refill the warm pool");
                    }
                    return Ok(Some(claimed));
                }
                // Taken by another create (or changed) meanwhile: the next one.
                Err(StoreError::NotFound) => continue,
                Err(StoreError::Conflict(_)) => {
                    return Err(Error::Conflict(format!(
                        "an instance named {} already exists",
                        wanted.name.as_str()
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Brings the pool to its configured size: replaces pooled instances of an older image
    /// or failed ones, and starts new ones for missing slots. Returns how many it started.
    pub async fn ensure_warm_pool(&self) -> Result<u32> {
        let pool = &self.config.warm_pool;
        let now = self.clock.now();
        let mut live = vec![];
        for mut i in self.pooled().await? {
            let stale = i.image_tag != self.config.image_tag
                || i.status == InstanceStatus::Failed
                || pool.size(i.kind) == 0;
            if stale {
                i.mark_deleted(now);
                self.store.update_instance(&i).await?;
                self.enqueue(Job::InstanceStop {
                    account_id: i.account_id.clone(),
                    instance_id: i.id.clone(),
                })
                .await?;
            } else {
                live.push(i);
            }
        }
        let mut started = 0;
        for (kind, size) in &pool.0 {
            if self.runtime.supports(*kind).is_err() {
                continue;
            }
            let taken: Vec<&str> = live
                .iter()
                .filter(|i| i.kind == *kind)
                .map(|i| i.name.as_str())
                .collect();
            for slot in 0..*size {
                let name = format!("pool-{}-{slot}", kind.as_str());
                if taken.contains(&name.as_str()) {
                    continue;
                }
                let instance = Instance {
                    id: InstanceId::generate(),
                    account_id: pool_account(),
                    name: InstanceName::parse(&name)?,
                    kind: *kind,
                    status: InstanceStatus::Provisioning,
                    status_reason: None,
                    image_tag: self.config.image_tag.clone(),
                    checkpoint_repo: None,
                    env: EnvMap::default(),
                    config: serde_json::json!({}),
                    fqdn: None,
                    endpoint: None,
                    restarts: 0,
                    active_since: None,
                    active_seconds: 0,
                    created_at: now,
                    updated_at: now,
                    deleted_at: None,
                };
                // The slot's name is the guard: two workers filling at once start it once.
                match self.store.insert_instance(&instance, u32::MAX).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
                self.enqueue(Job::provision(
                    instance.account_id.clone(),
                    instance.id.clone(),
                ))
                .await?;
                started += 1;
            }
        }
        Ok(started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_sizes_parse_per_kind_and_refuse_what_is_not_one() {
        assert_eq!(WarmPool::parse("").unwrap(), WarmPool::default());
        let p = WarmPool::parse("prebuilt=2, openclaw=1,blank=0").unwrap();
        assert_eq!(p.size(InstanceKind::Prebuilt), 2);
        assert_eq!(p.size(InstanceKind::Openclaw), 1);
        assert_eq!(p.size(InstanceKind::Blank), 0);
        for bad in [
            "prebuilt",
            "robot=1",
            "prebuilt=-1",
            "prebuilt=51",
            "prebuilt=x",
        ] {
            assert!(WarmPool::parse(bad).is_err(), "{bad}");
        }
    }
}
