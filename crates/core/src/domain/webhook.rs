//! Webhooks (inbound HTTP triggers) and the record of each delivery.

use super::Timestamp;
use crate::error::Error;
use crate::ids::{AccountId, ChatId, DeliveryId, WebhookId};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};

pub const PAYLOAD_PLACEHOLDER: &str = "{{payload}}";
/// Largest accepted trigger body.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024;
/// `{{payload}}`s a template may hold: each is replaced by up to [`MAX_PAYLOAD_BYTES`], so a
/// prompt stays within the template's size plus 40 KiB (a template of 1,800 placeholders
/// made an 18 MB prompt of one trigger).
pub const MAX_PLACEHOLDERS: usize = 4;

pub fn validate_template(s: &str) -> Result<String, Error> {
    let s = super::validate_prompt("promptTemplate", s)?;
    match s.matches(PAYLOAD_PLACEHOLDER).count() {
        0 => Err(Error::invalid(
            "promptTemplate",
            "must contain {{payload}} where the request body goes",
        )),
        n if n > MAX_PLACEHOLDERS => Err(Error::invalid(
            "promptTemplate",
            format!("may contain {{{{payload}}}} at most {MAX_PLACEHOLDERS} times (it has {n})"),
        )),
        _ => Ok(s),
    }
}

/// `whk_` + 40 random alphanumerics: the credential embedded in the trigger URL.
pub fn mint_webhook_token() -> String {
    format!(
        "whk_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
    )
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub name: String,
    pub prompt_template: String,
    pub token: String,
    pub enabled: bool,
    pub chat_id: ChatId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Webhook {
    /// The prompt of a delivery: see [`render_prompt`].
    pub fn render(&self, payload: &str) -> String {
        render_prompt(&self.prompt_template, payload)
    }
}

/// `template` with every `{{payload}}` replaced by the raw body, in one pass: a body that
/// itself contains `{{payload}}` is inserted as written, never expanded again.
pub fn render_prompt(template: &str, payload: &str) -> String {
    template.replace(PAYLOAD_PLACEHOLDER, payload)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub account_id: AccountId,
    pub status: DeliveryStatus,
    /// The raw request body (UTF-8, at most 10 KiB).
    pub payload: String,
    /// Idempotency-Key or provider delivery id; a repeat returns this delivery.
    pub dedup_key: Option<String>,
    pub received_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub chat_id: Option<ChatId>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_needs_the_placeholder() {
        assert!(validate_template("Summarise {{payload}}").is_ok());
        assert!(validate_template("Summarise").is_err());
    }

    #[test]
    fn a_template_holds_at_most_four_placeholders() {
        assert!(validate_template(&"{{payload}} ".repeat(MAX_PLACEHOLDERS)).is_ok());
        let e = validate_template(&"{{payload}} ".repeat(MAX_PLACEHOLDERS + 1)).unwrap_err();
        assert!(e.to_string().contains("at most 4 times (it has 5)"), "{e}");
    }
}
