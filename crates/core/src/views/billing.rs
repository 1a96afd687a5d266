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
    pub tokens: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub window_hours: u32,
    pub tokens: u64,
    pub by_instance: Vec<InstanceUsage>,
    pub period_start: DateTime<Utc>,
    pub instance_seconds: u64,
    pub chat_turns: u64,
    pub automation_runs: u64,
    pub webhook_deliveries: u64,
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
                    .map(|(instance_id, tokens)| InstanceUsage {
                        instance_id,
                        tokens,
                    })
                    .collect(),
                period_start: b.period_start,
                instance_seconds: b.instance_seconds,
                chat_turns: b.chat_turns,
                automation_runs: b.automation_runs,
                webhook_deliveries: b.webhook_deliveries,
            },
        }
    }
}
