//! Plan, capacity and usage on the wire.

use crate::domain::*;
use crate::services::Billing;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    pub slug: PlanSlug,
    pub name: String,
    pub instance_limit: u32,
    pub token_limit: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityView {
    pub used: u32,
    pub limit: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceUsage {
    pub instance_id: String,
    /// Weighted tokens (`input + 5 × output`) over the window.
    pub tokens: u64,
    /// The same per `bucketMinutes`, oldest first, the last bucket ending now.
    pub series: Vec<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub window_hours: u32,
    pub tokens: u64,
    /// Instances with model usage in the window.
    pub by_instance: Vec<InstanceUsage>,
    /// The width of each `byInstance[].series` bucket.
    pub bucket_minutes: u32,
    #[serde(serialize_with = "super::ts::ser")]
    pub period_start: DateTime<Utc>,
    pub instance_seconds: u64,
    pub chat_turns: u64,
    pub automation_runs: u64,
    pub webhook_deliveries: u64,
    /// Experiment results this period: one per (variant, item) that ran, scored or not.
    /// An `llmJudge` experiment's grading tokens are metered to the variant graded, and an
    /// evolve's mutation tokens to the variant mutated, in `tokens`/`byInstance`.
    pub experiment_items: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingView {
    pub plan: PlanView,
    pub status: String,
    pub capacity: CapacityView,
    pub usage: UsageView,
}

impl From<Billing> for BillingView {
    fn from(b: Billing) -> Self {
        Self {
            capacity: CapacityView {
                used: b.capacity_used,
                limit: b.plan.instance_limit,
            },
            plan: PlanView {
                slug: b.plan.slug,
                name: b.plan.name.to_owned(),
                instance_limit: b.plan.instance_limit,
                token_limit: b.plan.token_limit,
            },
            status: "active".into(),
            usage: UsageView {
                window_hours: b.window_hours,
                tokens: b.tokens,
                by_instance: b
                    .by_instance
                    .into_iter()
                    .map(|(instance_id, series)| InstanceUsage {
                        instance_id,
                        tokens: series.iter().sum(),
                        series,
                    })
                    .collect(),
                bucket_minutes: b.bucket_minutes,
                period_start: b.period_start,
                instance_seconds: b.instance_seconds,
                chat_turns: b.chat_turns,
                automation_runs: b.automation_runs,
                webhook_deliveries: b.webhook_deliveries,
                experiment_items: b.experiment_items,
            },
        }
    }
}
