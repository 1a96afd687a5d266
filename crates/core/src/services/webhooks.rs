//! Webhooks: inbound triggers that turn a request body into a prompt for the agent.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result, StoreError};
use crate::ids::{ChatId, DeliveryId, WebhookId};
use crate::jobs::Job;
use crate::ports::Inserted;

pub struct CreateWebhook {
    pub name: String,
    pub prompt_template: String,
    pub enabled: Option<bool>,
}

#[derive(Default)]
pub struct UpdateWebhook {
    pub name: Option<String>,
    pub prompt_template: Option<String>,
    pub enabled: Option<bool>,
    pub regenerate_token: bool,
}

impl Platform {
    /// The public trigger URL for a token.
    pub fn webhook_url(&self, token: &str) -> String {
        format!(
            "{}/api/webhooks/trigger/{token}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    pub async fn create_webhook(&self, caller: &Caller, req: CreateWebhook) -> Result<Webhook> {
        let name = validate_title("name", &req.name);
        let template = validate_template(&req.prompt_template);
        let (name, prompt_template) = match (name, template) {
            (Ok(n), Ok(t)) => (n, t),
            (n, t) => {
                let mut details = crate::error::FieldErrors::new();
                for e in [n.err(), t.err()].into_iter().flatten() {
                    if let Error::Invalid { details: d, .. } = e {
                        details.extend(d);
                    }
                }
                return Err(Error::invalid_many(details));
            }
        };
        let cap = crate::domain::MAX_WEBHOOKS_PER_ACCOUNT;
        let probe = self
            .store
            .list_webhooks(&caller.account.id, &super::cap_probe(cap))
            .await?;
        super::below_cap(&probe, cap, "webhooks")?;
        let now = self.clock.now();
        let webhook = Webhook {
            id: WebhookId::generate(),
            account_id: caller.account.id.clone(),
            name,
            prompt_template,
            token: mint_webhook_token(),
            enabled: req.enabled.unwrap_or(true),
            chat_id: ChatId::generate(),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_webhook(&webhook).await?;
        Ok(webhook)
    }

    pub async fn get_webhook(&self, caller: &Caller, id: &str) -> Result<Webhook> {
        let wh = WebhookId::parse(id).ok_or_else(|| Error::not_found("webhook", id))?;
        self.store
            .get_webhook(&caller.account.id, &wh)
            .await
            .or_not_found("webhook", id)
    }

    pub async fn list_webhooks(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<Webhook>> {
        Ok(self.store.list_webhooks(&caller.account.id, page).await?)
    }

    /// `regenerateToken` replaces the token; the old URL is dead from this call on.
    pub async fn update_webhook(
        &self,
        caller: &Caller,
        id: &str,
        req: UpdateWebhook,
    ) -> Result<Webhook> {
        let mut wh = self.get_webhook(caller, id).await?;
        if let Some(n) = req.name.as_deref() {
            wh.name = validate_title("name", n)?;
        }
        if let Some(t) = req.prompt_template.as_deref() {
            wh.prompt_template = validate_template(t)?;
        }
        if let Some(e) = req.enabled {
            wh.enabled = e;
        }
        if req.regenerate_token {
            wh.token = mint_webhook_token();
        }
        wh.updated_at = self.clock.now();
        self.store
            .update_webhook(&wh)
            .await
            .or_not_found("webhook", id)?;
        Ok(wh)
    }

    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<()> {
        let wh = self.get_webhook(caller, id).await?;
        self.store
            .delete_webhook(&wh.account_id, &wh.id)
            .await
            .or_not_found("webhook", id)
    }

    pub async fn list_deliveries(
        &self,
        caller: &Caller,
        id: &str,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let wh = self.get_webhook(caller, id).await?;
        Ok(self
            .store
            .list_deliveries(&wh.account_id, &wh.id, page)
            .await?)
    }

    /// The unauthenticated trigger: the token is the credential. Records a delivery (or
    /// returns the earlier one for a repeated `dedup_key`) and enqueues it.
    #[tracing::instrument(skip_all)]
    pub async fn trigger_webhook(
        &self,
        token: &str,
        payload: &[u8],
        dedup_key: Option<String>,
    ) -> Result<Delivery> {
        let unknown = || Error::NotFound("webhook not found".into());
        if token.len() > 100 {
            return Err(unknown());
        }
        let wh = match self.store.webhook_by_token(token).await {
            Ok(wh) => wh,
            Err(StoreError::NotFound) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        self.limits.webhook(wh.id.as_str())?;
        if !wh.enabled {
            return Err(Error::WebhookDisabled(format!(
                "webhook {} is disabled",
                wh.id
            )));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::PayloadTooLarge(format!(
                "webhook payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        let payload = std::str::from_utf8(payload)
            .map_err(|_| Error::invalid("body", "must be UTF-8 text"))?
            .to_owned();
        let dedup_key = dedup_key
            .filter(|k| !k.is_empty())
            .map(|k| k.chars().take(200).collect());
        let delivery = Delivery {
            id: DeliveryId::generate(),
            webhook_id: wh.id.clone(),
            account_id: wh.account_id.clone(),
            status: DeliveryStatus::Queued,
            payload,
            dedup_key,
            received_at: self.clock.now(),
            started_at: None,
            finished_at: None,
            chat_id: None,
            error: None,
        };
        let (d, queue_it) = match self.store.insert_delivery(&delivery).await? {
            Inserted::Created(d) => (d, true),
            // The first trigger may have been cut off (a crash) between storing its delivery
            // and queueing its job: a repeat of a delivery that has not started queues it
            // again. The job is idempotent (one turn per delivery), so a second copy is
            // harmless; without this the repeat would be acknowledged and never run.
            Inserted::Existing(first) => {
                let queue_it = first.status == DeliveryStatus::Queued;
                (first, queue_it)
            }
        };
        if queue_it {
            self.enqueue(Job::WebhookDelivery {
                account_id: d.account_id.clone(),
                webhook_id: d.webhook_id.clone(),
                delivery_id: d.id.clone(),
            })
            .await?;
        }
        Ok(d)
    }
}
