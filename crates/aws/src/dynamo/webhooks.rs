//! `WebhookStore`: webhooks with a token lookup (inbound calls carry only the token), and
//! their deliveries under the webhook's partition. A delivery with a dedup key takes a lock
//! per (webhook, key), so a repeat maps to the first delivery; the delivery's billing event
//! is written in the same transaction, so it exists exactly when the delivery does.

use super::automations::BILLING;
use super::codec::{attr_s, item, s, Item, R};
use super::keys::{self, BillingKind};
use super::retry::{on_contention, Attempt, Backoff};
use super::tx::TxError;
use super::DynamoStore;
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::{Inserted, WebhookStore};

const WEBHOOK: &str = "webhook";
const TOKEN: &str = "token lookup";
const OLD_TOKEN: &str = "previous token lookup";
const DELIVERY: &str = "delivery";
const LOOKUP: &str = "delivery id lookup";
const DEDUP: &str = "dedup key lock";

impl DynamoStore {
    fn token_item(w: &Webhook) -> Item {
        let mut lookup = keys::webhook_token(&w.token).item();
        lookup.insert("account".into(), s(w.account_id.as_str()));
        lookup.insert("webhook".into(), s(w.id.as_str()));
        lookup
    }

    async fn try_insert_delivery(&self, d: &Delivery) -> R<Attempt<Inserted<Delivery>>> {
        let mut lookup = keys::delivery_lookup(&d.id).item();
        lookup.insert("account".into(), s(d.account_id.as_str()));
        lookup.insert("webhook".into(), s(d.webhook_id.as_str()));
        let mut tx = self
            .tx()
            .put_if(
                DELIVERY,
                item(keys::delivery(&d.webhook_id, &d.id), d)?,
                "attribute_not_exists(pk)",
            )
            .put(LOOKUP, lookup)
            .put(
                BILLING,
                keys::billing_event(
                    &d.account_id,
                    d.received_at,
                    BillingKind::Delivery,
                    d.id.as_str(),
                )
                .item(),
            );
        if let Some(k) = &d.dedup_key {
            let mut lock = keys::delivery_dedup_lock(&d.webhook_id, k).item();
            lock.insert("delivery".into(), s(d.id.as_str()));
            tx = tx.put_if(DEDUP, lock, "attribute_not_exists(pk)");
        }
        match tx.commit().await {
            Ok(()) => Ok(Attempt::Done(Inserted::Created(d.clone()))),
            Err(TxError::Cancelled(c)) if c.failed(DEDUP) => {
                let k = d.dedup_key.as_deref().unwrap_or_default();
                let Some(lock) = self
                    .get(keys::delivery_dedup_lock(&d.webhook_id, k))
                    .await?
                else {
                    // The webhook was deleted between the two: try again from the top.
                    return Ok(Attempt::Contended("the dedup lock vanished".into()));
                };
                let first = DeliveryId::from_trusted(attr_s(&lock, "delivery").unwrap_or_default());
                Ok(Attempt::Done(Inserted::Existing(
                    self.get_delivery(&d.account_id, &first).await?,
                )))
            }
            Err(TxError::Cancelled(c)) if c.failed(DELIVERY) => {
                Err(StoreError::Conflict("delivery exists".into()))
            }
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %w.account_id, webhook = %w.id))]
    async fn insert_webhook(&self, w: &Webhook) -> R<()> {
        self.tx()
            .put_if(
                WEBHOOK,
                item(keys::webhook(&w.account_id, &w.id), w)?,
                "attribute_not_exists(pk)",
            )
            .put_if(TOKEN, Self::token_item(w), "attribute_not_exists(pk)")
            .commit()
            .await
            .map_err(|e| match e {
                TxError::Cancelled(c) if c.failed(WEBHOOK) || c.failed(TOKEN) => {
                    StoreError::Conflict("webhook token exists".into())
                }
                e => e.into_store_error(),
            })
    }

    #[tracing::instrument(skip_all, fields(account = %a, webhook = %id))]
    async fn get_webhook(&self, a: &AccountId, id: &WebhookId) -> R<Webhook> {
        self.get_doc(keys::webhook(a, id)).await
    }

    // The token is a credential: it stays out of the span.
    #[tracing::instrument(skip_all)]
    async fn webhook_by_token(&self, token: &str) -> R<Webhook> {
        let lookup = self
            .get(keys::webhook_token(token))
            .await?
            .ok_or(StoreError::NotFound)?;
        let id = WebhookId::from_trusted(attr_s(&lookup, "webhook").unwrap_or_default());
        let w = self.get_webhook(&Self::account_of(&lookup), &id).await?;
        if w.token != token {
            return Err(StoreError::NotFound);
        }
        Ok(w)
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn list_webhooks(&self, a: &AccountId, p: &PageRequest) -> R<Page<Webhook>> {
        self.page_of(
            &keys::webhooks(a),
            p,
            |_| true,
            |w: &Webhook| w.id.to_string(),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %w.account_id, webhook = %w.id))]
    async fn update_webhook(&self, w: &Webhook) -> R<()> {
        let old = self.get_webhook(&w.account_id, &w.id).await?;
        let mut tx = self.tx().put_if(
            WEBHOOK,
            item(keys::webhook(&w.account_id, &w.id), w)?,
            "attribute_exists(pk)",
        );
        if old.token != w.token {
            tx = tx
                .delete(OLD_TOKEN, keys::webhook_token(&old.token))
                .put_if(TOKEN, Self::token_item(w), "attribute_not_exists(pk)");
        }
        tx.commit().await.map_err(|e| match e {
            TxError::Cancelled(c) if c.failed(WEBHOOK) || c.failed(TOKEN) => StoreError::NotFound,
            e => e.into_store_error(),
        })
    }

    #[tracing::instrument(skip_all, fields(account = %a, webhook = %id))]
    async fn delete_webhook(&self, a: &AccountId, id: &WebhookId) -> R<()> {
        let w = self.get_webhook(a, id).await?;
        for i in self.query(&keys::webhook_children(id), None, true).await? {
            let Some(sk) = attr_s(&i, "sk") else { continue };
            if let Some(d) = keys::delivery_id_of(&sk) {
                self.delete_item(keys::delivery_lookup(&d)).await?;
            }
            let pk = attr_s(&i, "pk").unwrap_or_default();
            self.delete_item(keys::Key { pk, sk }).await?;
        }
        self.delete_item(keys::webhook_token(&w.token)).await?;
        self.delete_item(keys::webhook(a, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %d.account_id, webhook = %d.webhook_id, delivery = %d.id))]
    async fn insert_delivery(&self, d: &Delivery) -> R<Inserted<Delivery>> {
        on_contention("the webhook's deliveries", Backoff::WRITES, || {
            self.try_insert_delivery(d)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, delivery = %id))]
    async fn get_delivery(&self, a: &AccountId, id: &DeliveryId) -> R<Delivery> {
        let lookup = self
            .get(keys::delivery_lookup(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        if attr_s(&lookup, "account").as_deref() != Some(a.as_str()) {
            return Err(StoreError::NotFound);
        }
        let wh = WebhookId::from_trusted(attr_s(&lookup, "webhook").unwrap_or_default());
        self.get_doc(keys::delivery(&wh, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a, webhook = %webhook))]
    async fn list_deliveries(
        &self,
        a: &AccountId,
        webhook: &WebhookId,
        p: &PageRequest,
    ) -> R<Page<Delivery>> {
        self.page_in_account(
            &keys::deliveries(webhook),
            p,
            a,
            |d: &Delivery| &d.account_id,
            |d: &Delivery| d.id.to_string(),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %d.account_id, delivery = %d.id))]
    async fn update_delivery(&self, d: &Delivery) -> R<()> {
        self.get_delivery(&d.account_id, &d.id).await?;
        self.put_item(
            item(keys::delivery(&d.webhook_id, &d.id), d)?,
            Some("attribute_exists(pk)"),
            || StoreError::Conflict("condition failed".into()),
        )
        .await
    }
}
