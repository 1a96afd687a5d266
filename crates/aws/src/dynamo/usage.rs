//! `UsageStore`: billing-period counters (counted from the billing events that runs,
//! deliveries and turns write in their own transactions) and metered model calls, stored
//! twice in one transaction — by instance (quota checks) and by account (usage reports).

use super::codec::{attr_s, doc, item, n, R};
use super::keys::{self, BillingKind};
use super::DynamoStore;
use async_trait::async_trait;
use operator_core::domain::Timestamp;
use operator_core::ids::*;
use operator_core::ports::{LlmUsage, UsageBuckets, UsageCounts, UsageStore};

const BY_INSTANCE: &str = "usage by instance";
const BY_ACCOUNT: &str = "usage by account";

#[async_trait]
impl UsageStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn usage_counts(&self, a: &AccountId, since: Timestamp) -> R<UsageCounts> {
        let since = super::codec::ts(since);
        let mut c = UsageCounts::default();
        for i in self.query(&keys::billing_events(a), None, true).await? {
            let sk = attr_s(&i, "sk").unwrap_or_default();
            let Some((kind, at)) = keys::billing_event_of(&sk) else {
                continue;
            };
            if at < since.as_str() {
                continue;
            }
            match kind {
                BillingKind::Run => c.automation_runs += 1,
                BillingKind::Delivery => c.webhook_deliveries += 1,
                BillingKind::Turn => c.chat_turns += 1,
                BillingKind::Item => c.experiment_items += 1,
            }
        }
        Ok(c)
    }

    #[tracing::instrument(skip_all, fields(account = %u.account_id, instance = %u.instance_id))]
    async fn record_llm_usage(&self, u: &LlmUsage) -> R<()> {
        use rand::distributions::{Alphanumeric, DistString};
        let r = Alphanumeric.sample_string(&mut rand::thread_rng(), 8);
        let mut by_inst = item(keys::llm_usage_of_instance(&u.instance_id, u.at, &r), u)?;
        by_inst.insert("w".into(), n(u.weighted()));
        let mut by_acct = item(
            keys::llm_usage_of_account(&u.account_id, u.at, &u.instance_id, &r),
            u,
        )?;
        by_acct.insert("w".into(), n(u.weighted()));
        // Both or neither: a quota check and a usage report never disagree.
        self.tx()
            .put(BY_INSTANCE, by_inst)
            .put(BY_ACCOUNT, by_acct)
            .commit()
            .await
            .map_err(|e| e.into_store_error())
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn llm_usage_by_instance(
        &self,
        a: &AccountId,
        buckets: UsageBuckets,
    ) -> R<Vec<(InstanceId, Vec<u64>)>> {
        let count = buckets.count.max(1);
        let mut series: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
        for i in self
            .query(&keys::llm_usage_by_account(a), None, true)
            .await?
        {
            let u: LlmUsage = doc(&i)?;
            if u.at >= buckets.since {
                series
                    .entry(u.instance_id.to_string())
                    .or_insert_with(|| vec![0; count])[buckets.index(u.at)] += u.weighted();
            }
        }
        Ok(series
            .into_iter()
            .map(|(k, v)| (InstanceId::from_trusted(k), v))
            .collect())
    }

    #[tracing::instrument(skip_all, fields(instance = %instance))]
    async fn llm_usage_of_instance(
        &self,
        instance: &InstanceId,
        since: Timestamp,
    ) -> R<(u64, Option<Timestamp>)> {
        let mut sum = 0;
        let mut oldest: Option<Timestamp> = None;
        for i in self
            .query(&keys::llm_usage_by_instance(instance), None, true)
            .await?
        {
            let u: LlmUsage = doc(&i)?;
            if u.at >= since {
                sum += u.weighted();
                oldest = Some(oldest.map_or(u.at, |o| o.min(u.at)));
            }
        }
        Ok((sum, oldest))
    }
}
