//! Plan, capacity and usage for `GET /api/billing` and `/api/cli/health`.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::Result;
use chrono::{Datelike, TimeZone, Utc};

/// Usage rolled up for one account.
#[derive(Debug, Clone)]
pub struct Billing {
    pub plan: Plan,
    pub capacity_used: u32,
    pub window_hours: u32,
    /// `input + 5 × output` over the rolling window (metered by the LLM gateway).
    pub tokens: u64,
    pub by_instance: Vec<(String, u64)>,
    pub period_start: Timestamp,
    pub instance_seconds: u64,
    pub chat_turns: u64,
    pub automation_runs: u64,
    pub webhook_deliveries: u64,
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
        let by_instance: Vec<(String, u64)> = self
            .store
            .llm_usage_by_instance(account, now - window)
            .await?
            .into_iter()
            .map(|(id, tokens)| (id.to_string(), tokens))
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
            tokens: by_instance.iter().map(|(_, t)| t).sum(),
            by_instance,
            period_start,
            instance_seconds,
            chat_turns: counts.chat_turns,
            automation_runs: counts.automation_runs,
            webhook_deliveries: counts.webhook_deliveries,
        })
    }
}
