//! Request and response bodies exactly as API.md spells them (camelCase, wrapped objects),
//! mapped from domain types here so the domain stays free of wire concerns.

use crate::domain::*;
use crate::services::{Billing, Platform};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OkBody {
    pub ok: bool,
}

pub const OK: OkBody = OkBody { ok: true };

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    pub ok: bool,
    pub version: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CliHealthBody {
    pub authenticated: bool,
    #[schema(example = "user_01jbx8...")]
    pub user_id: String,
    pub account_id: String,
    pub plan_slug: PlanSlug,
    pub has_plan: bool,
    pub token_limit: u64,
}

/// Query of every list route.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InstanceListQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Also list deleted (`inactive`) instances.
    #[serde(default)]
    pub include_deleted: bool,
}

// ---------- API keys ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeyBody {
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKeyBody {
    /// The full key; shown only in this response.
    pub key: String,
    pub id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub name: Option<String>,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    pub keys: Vec<KeyView>,
    pub next_cursor: Option<String>,
}

// ---------- instances ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstanceBody {
    #[schema(example = "weather-desk")]
    pub name: String,
    /// `prebuilt` (default) or `blank`.
    pub kind: Option<String>,
    pub checkpoint_repo: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInstanceBody {
    pub name: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    #[schema(value_type = Object)]
    pub config: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloneInstanceBody {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    pub kind: InstanceKind,
    pub status: InstanceStatus,
    pub status_reason: Option<String>,
    pub image_tag: String,
    pub avatar_url: Option<String>,
    pub fqdn: Option<String>,
    pub checkpoint_repo: Option<String>,
    pub env: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Instance> for InstanceView {
    fn from(i: Instance) -> Self {
        Self {
            id: i.id.to_string(),
            name: i.name.as_str().to_owned(),
            kind: i.kind,
            status: i.status,
            status_reason: i.status_reason,
            image_tag: i.image_tag,
            avatar_url: None,
            fqdn: i.fqdn,
            checkpoint_repo: i.checkpoint_repo,
            env: i.env.as_map().clone(),
            config: i.config,
            created_at: i.created_at,
            updated_at: i.updated_at,
            deleted_at: i.deleted_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstanceEnvelope {
    pub instance: InstanceView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceList {
    pub instances: Vec<InstanceView>,
    pub next_cursor: Option<String>,
}

// ---------- secrets ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSecretBody {
    #[schema(example = "GITHUB_TOKEN")]
    pub name: String,
    #[schema(value_type = String)]
    pub value: secrecy::SecretString,
    pub description: Option<String>,
    #[serde(default)]
    pub is_global: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSecretBody {
    #[schema(value_type = Option<String>)]
    pub value: Option<secrecy::SecretString>,
    /// An empty string clears it.
    pub description: Option<String>,
    pub is_global: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantBody {
    pub instance_id: String,
}

#[derive(Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_global: bool,
    pub grants: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Present only in the response to create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl From<Secret> for SecretView {
    fn from(s: Secret) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.as_str().to_owned(),
            description: s.description,
            is_global: s.is_global,
            grants: s.grants.iter().map(ToString::to_string).collect(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            value: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SecretEnvelope {
    pub secret: SecretView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretList {
    pub secrets: Vec<SecretView>,
    pub next_cursor: Option<String>,
}

// ---------- automations ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAutomationBody {
    pub name: String,
    pub prompt: String,
    #[schema(example = "0 9 * * 1-5")]
    pub cron_expression: String,
    /// IANA name, default `UTC`.
    #[schema(example = "America/New_York")]
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAutomationBody {
    pub name: Option<String>,
    pub prompt: Option<String>,
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomationView {
    pub id: String,
    pub name: String,
    pub prompt: String,
    pub cron_expression: String,
    pub timezone: String,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub chat_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Automation> for AutomationView {
    fn from(a: Automation) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name,
            prompt: a.prompt,
            cron_expression: a.cron.as_str().to_owned(),
            timezone: a.timezone.as_str().to_owned(),
            enabled: a.enabled,
            next_run_at: a.next_run_at,
            chat_id: a.chat_id.to_string(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AutomationEnvelope {
    pub automation: AutomationView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomationList {
    pub automations: Vec<AutomationView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: String,
    pub automation_id: String,
    pub status: RunStatus,
    /// `schedule` or `manual`.
    pub trigger: String,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub chat_id: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AutomationRun> for RunView {
    fn from(r: AutomationRun) -> Self {
        Self {
            id: r.id.to_string(),
            automation_id: r.automation_id.to_string(),
            status: r.status,
            trigger: r.trigger.as_str().to_owned(),
            scheduled_for: r.scheduled_for,
            started_at: r.started_at,
            finished_at: r.finished_at,
            chat_id: r.chat_id.map(|c| c.to_string()),
            error: r.error,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RunEnvelope {
    pub run: RunView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunList {
    pub runs: Vec<RunView>,
    pub next_cursor: Option<String>,
}

// ---------- webhooks ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhookBody {
    pub name: String,
    /// Must contain `{{payload}}`.
    #[schema(example = "A GitHub event arrived: {{payload}}. Summarise it.")]
    pub prompt_template: String,
    pub enabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhookBody {
    pub name: Option<String>,
    pub prompt_template: Option<String>,
    pub enabled: Option<bool>,
    /// Replace the token; the old trigger URL stops working at once.
    #[serde(default)]
    pub regenerate_token: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub name: String,
    pub prompt_template: String,
    pub token: String,
    pub url: String,
    pub enabled: bool,
    pub chat_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookView {
    pub fn new(p: &Platform, w: Webhook) -> Self {
        Self {
            url: p.webhook_url(&w.token),
            id: w.id.to_string(),
            name: w.name,
            prompt_template: w.prompt_template,
            token: w.token,
            enabled: w.enabled,
            chat_id: w.chat_id.to_string(),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEnvelope {
    pub webhook: WebhookView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub status: DeliveryStatus,
    pub received_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub chat_id: Option<String>,
    pub error: Option<String>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            status: d.status,
            received_at: d.received_at,
            started_at: d.started_at,
            finished_at: d.finished_at,
            chat_id: d.chat_id.map(|c| c.to_string()),
            error: d.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAccepted {
    pub delivery_id: String,
}

// ---------- billing ----------

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
