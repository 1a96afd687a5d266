//! Webhooks and deliveries on the wire: the REST bodies (also the Operator agent's tool
//! arguments) and views.

use crate::domain::*;
use crate::services::{CreateWebhook, Platform, UpdateWebhook};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhookBody {
    #[schema(example = "github-push", max_length = 100)]
    pub name: String,
    /// Must contain `{{payload}}` (at most 4 times), where the trigger's raw body goes.
    #[schema(
        example = "A GitHub event arrived: {{payload}}. Summarise it.",
        max_length = 20000
    )]
    pub prompt_template: String,
    pub enabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhookBody {
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// Must contain `{{payload}}` (at most 4 times), where the trigger's raw body goes.
    #[schema(max_length = 20000)]
    pub prompt_template: Option<String>,
    pub enabled: Option<bool>,
    /// Replace the token; the old trigger URL stops working at once.
    #[serde(default)]
    pub regenerate_token: bool,
}

impl From<CreateWebhookBody> for CreateWebhook {
    fn from(b: CreateWebhookBody) -> Self {
        CreateWebhook {
            name: b.name,
            prompt_template: b.prompt_template,
            enabled: b.enabled,
        }
    }
}

impl From<UpdateWebhookBody> for UpdateWebhook {
    fn from(b: UpdateWebhookBody) -> Self {
        UpdateWebhook {
            name: b.name,
            prompt_template: b.prompt_template,
            enabled: b.enabled,
            regenerate_token: b.regenerate_token,
        }
    }
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
    #[serde(serialize_with = "super::ts::ser")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::ts::ser")]
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
    #[serde(serialize_with = "super::ts::ser")]
    pub received_at: DateTime<Utc>,
    #[serde(serialize_with = "super::ts::ser_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::ts::ser_opt")]
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
