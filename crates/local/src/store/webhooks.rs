//! Webhooks and their deliveries on SQLite (`WebhookStore`): a delivery is deduplicated
//! on the provider's delivery id by a unique index.

use super::{map_err, opt_ts, page, require_changed, unexpected, SqliteStore, R};
use crate::db::{fmt_ts, is_constraint, parse_opt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{named_params, params, Row};

fn webhook_row(r: &Row) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: WebhookId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        name: r.get("name")?,
        prompt_template: r.get("prompt_template")?,
        token: r.get("token")?,
        enabled: r.get("enabled")?,
        chat_id: ChatId::from_trusted(r.get::<_, String>("chat_id")?),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
    })
}

fn delivery_row(r: &Row) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: DeliveryId::from_trusted(r.get::<_, String>("id")?),
        webhook_id: WebhookId::from_trusted(r.get::<_, String>("webhook_id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        status: DeliveryStatus::parse(&r.get::<_, String>("status")?)
            .unwrap_or(DeliveryStatus::Failed),
        payload: r.get("payload")?,
        dedup_key: r.get("dedup_key")?,
        received_at: parse_ts(&r.get::<_, String>("received_at")?)?,
        started_at: parse_opt_ts(r.get("started_at")?)?,
        finished_at: parse_opt_ts(r.get("finished_at")?)?,
        chat_id: r
            .get::<_, Option<String>>("chat_id")?
            .map(ChatId::from_trusted),
        error: r.get("error")?,
    })
}

#[async_trait]
impl WebhookStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %w.id))]
    async fn insert_webhook(&self, w: &Webhook) -> R<()> {
        let w = w.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT INTO webhooks (id, account_id, name, prompt_template, token, enabled,
                        chat_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        w.id.as_str(),
                        w.account_id.as_str(),
                        w.name,
                        w.prompt_template,
                        w.token,
                        w.enabled,
                        w.chat_id.as_str(),
                        fmt_ts(w.created_at),
                        fmt_ts(w.updated_at)
                    ],
                )
                .map_err(map_err("webhook"))?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get_webhook(&self, account: &AccountId, id: &WebhookId) -> R<Webhook> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM webhooks WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    webhook_row,
                )
                .map_err(map_err("webhook"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn webhook_by_token(&self, token: &str) -> R<Webhook> {
        let token = token.to_owned();
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM webhooks WHERE token = ?1",
                    [token],
                    webhook_row,
                )
                .map_err(map_err("webhook"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn list_webhooks(&self, account: &AccountId, p: &PageRequest) -> R<Page<Webhook>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .read(move |c| {
                page(
                    c,
                    "SELECT * FROM webhooks WHERE account_id = :account
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":cursor": p.cursor},
                    p.limit,
                    webhook_row,
                    |w| w.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %w.id))]
    async fn update_webhook(&self, w: &Webhook) -> R<()> {
        let w = w.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE webhooks SET name = ?3, prompt_template = ?4, token = ?5, enabled = ?6,
                            updated_at = ?7 WHERE id = ?1 AND account_id = ?2",
                        params![
                            w.id.as_str(),
                            w.account_id.as_str(),
                            w.name,
                            w.prompt_template,
                            w.token,
                            w.enabled,
                            fmt_ts(w.updated_at)
                        ],
                    )
                    .map_err(map_err("webhook"))?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn delete_webhook(&self, account: &AccountId, id: &WebhookId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "DELETE FROM webhooks WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %d.id))]
    async fn insert_delivery(&self, d: &Delivery) -> R<Inserted<Delivery>> {
        let d = d.clone();
        self.db
            .call(move |c| {
                let res = c.exec(
                    "INSERT INTO deliveries (id, webhook_id, account_id, status, payload, dedup_key,
                        received_at, started_at, finished_at, chat_id, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        d.id.as_str(),
                        d.webhook_id.as_str(),
                        d.account_id.as_str(),
                        d.status.as_str(),
                        d.payload,
                        d.dedup_key,
                        fmt_ts(d.received_at),
                        opt_ts(d.started_at),
                        opt_ts(d.finished_at),
                        d.chat_id.as_ref().map(|c| c.to_string()),
                        d.error
                    ],
                );
                match res {
                    Ok(_) => Ok(Inserted::Created(d)),
                    Err(e) if is_constraint(&e) && d.dedup_key.is_some() => {
                        let first = c
                            .row(
                                "SELECT * FROM deliveries WHERE webhook_id = ?1 AND dedup_key = ?2",
                                params![d.webhook_id.as_str(), d.dedup_key],
                                delivery_row,
                            )
                            .map_err(map_err("delivery"))?;
                        Ok(Inserted::Existing(first))
                    }
                    Err(e) => Err(map_err("delivery")(e)),
                }
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get_delivery(&self, account: &AccountId, id: &DeliveryId) -> R<Delivery> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM deliveries WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    delivery_row,
                )
                .map_err(map_err("delivery"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, webhook = %webhook))]
    async fn list_deliveries(
        &self,
        account: &AccountId,
        webhook: &WebhookId,
        p: &PageRequest,
    ) -> R<Page<Delivery>> {
        let (account, webhook, p) = (account.clone(), webhook.clone(), p.clone());
        self.db
            .read(move |c| {
                page(
                    c,
                    "SELECT * FROM deliveries WHERE account_id = :account AND webhook_id = :webhook
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":webhook": webhook.as_str(), ":cursor": p.cursor},
                    p.limit,
                    delivery_row,
                    |d| d.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %d.id))]
    async fn update_delivery(&self, d: &Delivery) -> R<()> {
        let d = d.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE deliveries SET status = ?3, started_at = ?4, finished_at = ?5,
                            chat_id = ?6, error = ?7 WHERE id = ?1 AND account_id = ?2",
                        params![
                            d.id.as_str(),
                            d.account_id.as_str(),
                            d.status.as_str(),
                            opt_ts(d.started_at),
                            opt_ts(d.finished_at),
                            d.chat_id.as_ref().map(|c| c.to_string()),
                            d.error
                        ],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }
}
