//! Secrets and their grants to instances on SQLite (`SecretStore`); values live in the
//! vault, never here.

use super::{map_err, page, require_changed, unexpected, SqliteStore, R};
use crate::db::{fmt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{named_params, params, Row};

fn secret_row(r: &Row) -> rusqlite::Result<Secret> {
    let grants: Option<String> = r.get("grants")?;
    Ok(Secret {
        id: SecretId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        name: SecretName::from_trusted(r.get::<_, String>("name")?),
        description: r.get("description")?,
        is_global: r.get("is_global")?,
        grants: grants
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(InstanceId::from_trusted)
            .collect(),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
    })
}

const SECRET_SELECT: &str = "SELECT s.*, (SELECT group_concat(instance_id, ',') FROM
    (SELECT instance_id FROM secret_grants g WHERE g.secret_id = s.id ORDER BY instance_id)) AS grants
    FROM secrets s";

#[async_trait]
impl SecretStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %s.id))]
    async fn insert_secret(&self, s: &Secret) -> R<()> {
        let s = s.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT INTO secrets (id, account_id, name, description, is_global, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        s.id.as_str(),
                        s.account_id.as_str(),
                        s.name.as_str(),
                        s.description,
                        s.is_global,
                        fmt_ts(s.created_at),
                        fmt_ts(s.updated_at)
                    ],
                )
                .map_err(map_err("secret"))?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get_secret(&self, account: &AccountId, id: &SecretId) -> R<Secret> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    &format!("{SECRET_SELECT} WHERE s.id = ?1 AND s.account_id = ?2"),
                    params![id.as_str(), account.as_str()],
                    secret_row,
                )
                .map_err(map_err("secret"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn list_secrets(&self, account: &AccountId, p: &PageRequest) -> R<Page<Secret>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .read(move |c| {
                page(
                    c,
                    &format!(
                        "{SECRET_SELECT} WHERE s.account_id = :account
                         AND (:cursor IS NULL OR s.id < :cursor) ORDER BY s.id DESC LIMIT :limit"
                    ),
                    named_params! {":account": account.as_str(), ":cursor": p.cursor},
                    p.limit,
                    secret_row,
                    |s| s.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %s.id))]
    async fn update_secret(&self, s: &Secret) -> R<()> {
        let s = s.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE secrets SET description = ?3, is_global = ?4, updated_at = ?5
                         WHERE id = ?1 AND account_id = ?2",
                        params![
                            s.id.as_str(),
                            s.account_id.as_str(),
                            s.description,
                            s.is_global,
                            fmt_ts(s.updated_at)
                        ],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn delete_secret(&self, account: &AccountId, id: &SecretId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "DELETE FROM secrets WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn get_secret_by_name(&self, account: &AccountId, name: &SecretName) -> R<Secret> {
        let (account, name) = (account.clone(), name.clone());
        self.db
            .read(move |c| {
                c.row(
                    &format!("{SECRET_SELECT} WHERE s.account_id = ?1 AND s.name = ?2"),
                    params![account.as_str(), name.as_str()],
                    secret_row,
                )
                .map_err(map_err("secret"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, instance = %instance))]
    async fn secrets_for_instance(
        &self,
        account: &AccountId,
        instance: &InstanceId,
    ) -> R<Vec<Secret>> {
        let (account, instance) = (account.clone(), instance.clone());
        self.db
            .read(move |c| {
                let mut stmt = c
                    .prepare(&format!(
                        "{SECRET_SELECT} WHERE s.account_id = ?1 AND (s.is_global = 1 OR EXISTS
                            (SELECT 1 FROM secret_grants g WHERE g.secret_id = s.id AND g.instance_id = ?2))
                         ORDER BY s.name"
                    ))
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), instance.as_str()], secret_row)
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                Ok(rows)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id, instance = %instance))]
    async fn add_grant(
        &self,
        account: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
        at: Timestamp,
    ) -> R<()> {
        let (account, id, instance) = (account.clone(), id.clone(), instance.clone());
        let now = fmt_ts(at);
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "INSERT OR IGNORE INTO secret_grants (secret_id, instance_id, created_at)
                         SELECT id, ?3, ?4 FROM secrets WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str(), instance.as_str(), now],
                    )
                    .map_err(unexpected)?;
                if n == 0 {
                    // Either the secret is absent (NotFound) or the grant existed (idempotent).
                    let exists: bool = c
                        .row(
                            "SELECT EXISTS(SELECT 1 FROM secrets WHERE id = ?1 AND account_id = ?2)",
                            params![id.as_str(), account.as_str()],
                            |r| r.get(0),
                        )
                        .map_err(unexpected)?;
                    if !exists {
                        return Err(StoreError::NotFound);
                    }
                }
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id, instance = %instance))]
    async fn remove_grant(
        &self,
        account: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
    ) -> R<()> {
        let (account, id, instance) = (account.clone(), id.clone(), instance.clone());
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "DELETE FROM secret_grants WHERE instance_id = ?3 AND secret_id =
                            (SELECT id FROM secrets WHERE id = ?1 AND account_id = ?2)",
                        params![id.as_str(), account.as_str(), instance.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }
}
