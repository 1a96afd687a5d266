//! Accounts and their API keys on SQLite (`AccountStore`): a key is found by its hash
//! on every request, so that lookup is one indexed row.

use super::{map_err, page, require_changed, unexpected, SqliteStore, R};
use crate::db::{fmt_ts, parse_opt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{named_params, params, OptionalExtension, Row};

fn account_row(r: &Row) -> rusqlite::Result<Account> {
    let plan: String = r.get("plan")?;
    Ok(Account {
        id: AccountId::from_trusted(r.get::<_, String>("id")?),
        user_id: UserId::from_trusted(r.get::<_, String>("user_id")?),
        plan: PlanSlug::parse(&plan).unwrap_or(PlanSlug::Basic),
        instance_limit: r.get::<_, Option<u32>>("instance_limit")?,
        token_limit: r
            .get::<_, Option<i64>>("token_limit")?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
    })
}

fn key_row(r: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: KeyId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        name: r.get("name")?,
        prefix: r.get("prefix")?,
        hash: r.get("hash")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        last_used_at: parse_opt_ts(r.get("last_used_at")?)?,
    })
}

#[async_trait]
impl AccountStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %a.id))]
    async fn insert_account(&self, a: &Account) -> R<()> {
        let a = a.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT INTO accounts (id, user_id, plan, instance_limit, token_limit, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        a.id.as_str(),
                        a.user_id.as_str(),
                        a.plan.as_str(),
                        a.instance_limit,
                        a.token_limit.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
                        fmt_ts(a.created_at)
                    ],
                )
                .map_err(map_err("account"))?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    async fn get_account(&self, id: &AccountId) -> R<Account> {
        let id = id.clone();
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM accounts WHERE id = ?1",
                    [id.as_str()],
                    account_row,
                )
                .map_err(map_err("account"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn first_account(&self) -> R<Option<Account>> {
        self.db
            .read(|c| {
                c.row(
                    "SELECT * FROM accounts ORDER BY rowid LIMIT 1",
                    [],
                    account_row,
                )
                .optional()
                .map_err(unexpected)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %k.id))]
    async fn insert_key(&self, k: &ApiKey) -> R<()> {
        let k = k.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT INTO api_keys (id, account_id, name, prefix, hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        k.id.as_str(),
                        k.account_id.as_str(),
                        k.name,
                        k.prefix,
                        k.hash,
                        fmt_ts(k.created_at)
                    ],
                )
                .map_err(map_err("key"))?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn key_by_hash(&self, hash: &str) -> R<ApiKey> {
        let hash = hash.to_owned();
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
                    [hash],
                    key_row,
                )
                .map_err(map_err("key"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn list_keys(&self, account: &AccountId, p: &PageRequest) -> R<Page<ApiKey>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .read(move |c| {
                page(
                    c,
                    "SELECT * FROM api_keys WHERE account_id = :account AND revoked_at IS NULL
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":cursor": p.cursor},
                    p.limit,
                    key_row,
                    |k| k.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn delete_key(&self, account: &AccountId, id: &KeyId, at: Timestamp) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        let now = fmt_ts(at);
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE api_keys SET revoked_at = ?3
                         WHERE id = ?1 AND account_id = ?2 AND revoked_at IS NULL",
                        params![id.as_str(), account.as_str(), now],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    async fn touch_key(&self, id: &KeyId, at: Timestamp) -> R<()> {
        let id = id.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                    params![id.as_str(), fmt_ts(at)],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %login.account_id))]
    async fn insert_cli_login(&self, login: &CliLogin) -> R<()> {
        let login = login.clone();
        self.db
            .call(move |c| {
                // An expired approval of the same session is replaced; a live one is kept.
                let n = c
                    .exec(
                        "INSERT INTO cli_logins (session, account_id, approved_at, expires_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (session) DO UPDATE SET
                           account_id = excluded.account_id, approved_at = excluded.approved_at,
                           expires_at = excluded.expires_at
                         WHERE cli_logins.expires_at <= excluded.approved_at",
                        params![
                            login.session.as_str(),
                            login.account_id.as_str(),
                            fmt_ts(login.approved_at),
                            fmt_ts(login.expires_at)
                        ],
                    )
                    .map_err(unexpected)?;
                if n == 0 {
                    return Err(StoreError::Conflict(
                        "this CLI login is already approved".into(),
                    ));
                }
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn take_cli_login(&self, session: &CliSession, now: Timestamp) -> R<CliLogin> {
        let session = session.clone();
        self.db
            .call(move |c| {
                let row: Option<(String, String, String)> = c
                    .row(
                        "DELETE FROM cli_logins WHERE session = ?1
                         RETURNING account_id, approved_at, expires_at",
                        [session.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(unexpected)?;
                let Some((account, approved, expires)) = row else {
                    return Err(StoreError::NotFound);
                };
                let login = CliLogin {
                    session,
                    account_id: AccountId::from_trusted(account),
                    approved_at: parse_ts(&approved).map_err(unexpected)?,
                    expires_at: parse_ts(&expires).map_err(unexpected)?,
                };
                if login.expires_at <= now {
                    return Err(StoreError::NotFound);
                }
                Ok(login)
            })
            .await
    }
}
