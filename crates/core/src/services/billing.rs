//! Plan, capacity and usage for `GET /api/billing` and `/api/cli/health`.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::Result;
use crate::ports::UsageBuckets;
use chrono::{Datelike, TimeZone, Utc};

/// The token window is charted in buckets of this many minutes (24 over 6 hours).
pub const USAGE_BUCKET_MINUTES: u32 = 15;

/// Usage rolled up for one account.
#[derive(Debug, Clone)]
pub struct Billing {
    pub plan: Plan,
    pub capacity_used: u32,
    pub window_hours: u32,
    /// `input + 5 × output` over the rolling window (metered by the LLM gateway).
    pub tokens: u64,
    /// Per instance with usage in the window: its tokens per bucket of `bucket_minutes`,
    /// oldest first.
    pub by_instance: Vec<(String, Vec<u64>)>,
    pub bucket_minutes: u32,
    pub period_start: Timestamp,
    pub instance_seconds: u64,
    pub chat_turns: u64,
    pub automation_runs: u64,
    pub webhook_deliveries: u64,
    pub experiment_items: u64,
}

impl Platform {
    pub async fn billing(&self, caller: &Caller) -> Result<Billing> {
        let account = &caller.account.id;
        let now = self.clock.now();
        let period_start = Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single()
            .unwrap_or(now);
        let used = self.store.count_capacity(account).await?;
        let counts = self.store.usage_counts(account, period_start).await?;
        let window = chrono::Duration::hours(super::QUOTA_WINDOW_HOURS);
        let buckets = UsageBuckets {
            since: now - window,
            width: chrono::Duration::minutes(i64::from(USAGE_BUCKET_MINUTES)),
            count: (super::QUOTA_WINDOW_HOURS * 60 / i64::from(USAGE_BUCKET_MINUTES)) as usize,
        };
        let by_instance: Vec<(String, Vec<u64>)> = self
            .store
            .llm_usage_by_instance(account, buckets)
            .await?
            .into_iter()
            .map(|(id, series)| (id.to_string(), series))
            .collect();
        // Instance-seconds: accumulated active time plus the current active stretch.
        let mut instance_seconds = 0u64;
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let batch = self.store.list_instances(account, &page, true).await?;
            for i in &batch.items {
                instance_seconds += i.active_seconds
                    + i.active_since
                        .map(|t| (now - t).num_seconds().max(0) as u64)
                        .unwrap_or(0);
            }
            match batch.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        Ok(Billing {
            plan: caller.account.effective_plan(),
            capacity_used: used,
            window_hours: 6,
            tokens: by_instance.iter().flat_map(|(_, s)| s).sum(),
            by_instance,
            bucket_minutes: USAGE_BUCKET_MINUTES,
            period_start,
            instance_seconds,
            chat_turns: counts.chat_turns,
            automation_runs: counts.automation_runs,
            webhook_deliveries: counts.webhook_deliveries,
            experiment_items: counts.experiment_items,
        })
    }
}
