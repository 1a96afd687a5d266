//! `Store` on SQLite. Every query is scoped by `account_id`; lists page by id (ids sort by
//! creation time), newest first.

use crate::db::{fmt_ts, is_constraint, parse_opt_ts, parse_ts, Db};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{named_params, params, Connection, OptionalExtension, Row};

pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

type R<T> = Result<T, StoreError>;

fn unexpected(e: rusqlite::Error) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e))
}

/// `NotFound` for no rows, `Conflict` for constraint violations, else unexpected.
fn map_err(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        e if is_constraint(&e) => StoreError::Conflict(format!("{what} already exists")),
        e => unexpected(e),
    }
}

fn require_changed(n: usize) -> R<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Fetches `limit + 1` rows of `sql` (which must end in `LIMIT :limit`) and builds a page.
fn page<T>(
    conn: &Connection,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
    limit: u32,
    map: impl Fn(&Row) -> rusqlite::Result<T>,
    id_of: impl Fn(&T) -> String,
) -> R<Page<T>> {
    let overfetch = i64::from(limit) + 1;
    let mut all: Vec<(&str, &dyn rusqlite::ToSql)> = params.to_vec();
    all.push((":limit", &overfetch));
    let mut stmt = conn.prepare_cached(sql).map_err(unexpected)?;
    let rows = stmt
        .query_map(all.as_slice(), map)
        .map_err(unexpected)?
        .collect::<rusqlite::Result<Vec<T>>>()
        .map_err(unexpected)?;
    Ok(Page::from_overfetch(rows, limit, id_of))
}

// ---------- row mapping ----------

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

fn json_col<T: serde::de::DeserializeOwned>(r: &Row, col: &str) -> rusqlite::Result<T> {
    let s: String = r.get(col)?;
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn instance_row(r: &Row) -> rusqlite::Result<Instance> {
    Ok(Instance {
        id: InstanceId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        name: InstanceName::from_trusted(r.get::<_, String>("name")?),
        kind: InstanceKind::parse(&r.get::<_, String>("kind")?).unwrap_or_default(),
        status: InstanceStatus::parse(&r.get::<_, String>("status")?)
            .unwrap_or(InstanceStatus::Failed),
        status_reason: r.get("status_reason")?,
        image_tag: r.get("image_tag")?,
        checkpoint_repo: r.get("checkpoint_repo")?,
        env: EnvMap::from_trusted(json_col(r, "env")?),
        config: json_col(r, "config")?,
        fqdn: r.get("fqdn")?,
        endpoint: r.get("endpoint")?,
        restarts: r.get("restarts")?,
        active_since: parse_opt_ts(r.get("active_since")?)?,
        active_seconds: r
            .get::<_, i64>("active_seconds")
            .map(|v| u64::try_from(v).unwrap_or(0))?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
        deleted_at: parse_opt_ts(r.get("deleted_at")?)?,
    })
}

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

fn conversion(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

#[derive(Debug)]
struct BadValue(String);
impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadValue {}

fn automation_row(r: &Row) -> rusqlite::Result<Automation> {
    let cron: String = r.get("cron")?;
    let tz: String = r.get("timezone")?;
    Ok(Automation {
        id: AutomationId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        name: r.get("name")?,
        prompt: r.get("prompt")?,
        cron: CronExpr::parse(&cron).map_err(|e| conversion(BadValue(e.to_string())))?,
        timezone: TimeZoneName::parse(&tz).map_err(|e| conversion(BadValue(e.to_string())))?,
        enabled: r.get("enabled")?,
        next_run_at: parse_opt_ts(r.get("next_run_at")?)?,
        chat_id: ChatId::from_trusted(r.get::<_, String>("chat_id")?),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
    })
}

fn run_row(r: &Row) -> rusqlite::Result<AutomationRun> {
    Ok(AutomationRun {
        id: RunId::from_trusted(r.get::<_, String>("id")?),
        automation_id: AutomationId::from_trusted(r.get::<_, String>("automation_id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        trigger: RunTrigger::parse(&r.get::<_, String>("trigger")?),
        status: RunStatus::parse(&r.get::<_, String>("status")?).unwrap_or(RunStatus::Failed),
        scheduled_for: parse_ts(&r.get::<_, String>("scheduled_for")?)?,
        started_at: parse_opt_ts(r.get("started_at")?)?,
        finished_at: parse_opt_ts(r.get("finished_at")?)?,
        chat_id: r
            .get::<_, Option<String>>("chat_id")?
            .map(ChatId::from_trusted),
        error: r.get("error")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
    })
}

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

fn chat_row(r: &Row) -> rusqlite::Result<Chat> {
    Ok(Chat {
        id: ChatId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        title: r.get("title")?,
        kind: ChatKind::parse(&r.get::<_, String>("kind")?),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
    })
}

fn turn_row(r: &Row) -> rusqlite::Result<Turn> {
    Ok(Turn {
        id: r.get("id")?,
        chat_id: ChatId::from_trusted(r.get::<_, String>("chat_id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        status: TurnStatus::parse(&r.get::<_, String>("status")?),
        source: TurnSource::decode(&r.get::<_, String>("source")?),
        user_message_id: r.get("user_message_id")?,
        assistant_message_id: r.get("assistant_message_id")?,
        error: r.get("error")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        started_at: parse_opt_ts(r.get("started_at")?)?,
        finished_at: parse_opt_ts(r.get("finished_at")?)?,
    })
}

fn opt_ts(t: Option<Timestamp>) -> Option<String> {
    t.map(fmt_ts)
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn insert_account(&self, a: &Account) -> R<()> {
        let a = a.clone();
        self.db
            .call(move |c| {
                c.execute(
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

    async fn get_account(&self, id: &AccountId) -> R<Account> {
        let id = id.clone();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM accounts WHERE id = ?1",
                    [id.as_str()],
                    account_row,
                )
                .map_err(map_err("account"))
            })
            .await
    }

    async fn first_account(&self) -> R<Option<Account>> {
        self.db
            .call(|c| {
                c.query_row(
                    "SELECT * FROM accounts ORDER BY rowid LIMIT 1",
                    [],
                    account_row,
                )
                .optional()
                .map_err(unexpected)
            })
            .await
    }

    async fn insert_key(&self, k: &ApiKey) -> R<()> {
        let k = k.clone();
        self.db
            .call(move |c| {
                c.execute(
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

    async fn key_by_hash(&self, hash: &str) -> R<ApiKey> {
        let hash = hash.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
                    [hash],
                    key_row,
                )
                .map_err(map_err("key"))
            })
            .await
    }

    async fn list_keys(&self, account: &AccountId, p: &PageRequest) -> R<Page<ApiKey>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .call(move |c| {
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

    async fn delete_key(&self, account: &AccountId, id: &KeyId, at: Timestamp) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        let now = fmt_ts(at);
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE api_keys SET revoked_at = ?3
                         WHERE id = ?1 AND account_id = ?2 AND revoked_at IS NULL",
                        params![id.as_str(), account.as_str(), now],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn touch_key(&self, id: &KeyId, at: Timestamp) -> R<()> {
        let id = id.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                    params![id.as_str(), fmt_ts(at)],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl InstanceStore for SqliteStore {
    async fn insert_instance(&self, i: &Instance, capacity: u32) -> R<()> {
        let i = i.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(unexpected)?;
                // A taken name is the more specific answer, so it is checked first.
                let taken: bool = tx
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM instances WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL)",
                        params![i.account_id.as_str(), i.name.as_str()],
                        |r| r.get(0),
                    )
                    .map_err(unexpected)?;
                if taken {
                    return Err(StoreError::Conflict("instance name already exists".into()));
                }
                let used = count_capacity(&tx, &i.account_id)?;
                if used >= capacity {
                    return Err(StoreError::CapacityExceeded {
                        used,
                        limit: capacity,
                    });
                }
                tx.execute(
                    "INSERT INTO instances (id, account_id, name, kind, status, status_reason,
                        image_tag, checkpoint_repo, env, config, fqdn, created_at, updated_at, deleted_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    params![
                        i.id.as_str(),
                        i.account_id.as_str(),
                        i.name.as_str(),
                        i.kind.as_str(),
                        i.status.as_str(),
                        i.status_reason,
                        i.image_tag,
                        i.checkpoint_repo,
                        json(&i.env),
                        json(&i.config),
                        i.fqdn,
                        fmt_ts(i.created_at),
                        fmt_ts(i.updated_at),
                        opt_ts(i.deleted_at)
                    ],
                )
                .map_err(map_err("instance"))?;
                tx.commit().map_err(unexpected)
            })
            .await
    }

    async fn get_instance(&self, account: &AccountId, id: &InstanceId) -> R<Instance> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM instances WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    instance_row,
                )
                .map_err(map_err("instance"))
            })
            .await
    }

    async fn get_instance_by_name(&self, account: &AccountId, name: &InstanceName) -> R<Instance> {
        let (account, name) = (account.clone(), name.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM instances WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL",
                    params![account.as_str(), name.as_str()],
                    instance_row,
                )
                .map_err(map_err("instance"))
            })
            .await
    }

    async fn list_instances(
        &self,
        account: &AccountId,
        p: &PageRequest,
        include_deleted: bool,
    ) -> R<Page<Instance>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .call(move |c| {
                page(
                    c,
                    "SELECT * FROM instances WHERE account_id = :account
                     AND (:all OR deleted_at IS NULL)
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":all": include_deleted, ":cursor": p.cursor},
                    p.limit,
                    instance_row,
                    |i| i.id.to_string(),
                )
            })
            .await
    }

    async fn update_instance(&self, i: &Instance) -> R<()> {
        let i = i.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE instances SET name = ?3, status = ?4, status_reason = ?5, env = ?6,
                            config = ?7, fqdn = ?8, updated_at = ?9, deleted_at = ?10, image_tag = ?11,
                            endpoint = ?12, restarts = ?13, active_since = ?14, active_seconds = ?15
                         WHERE id = ?1 AND account_id = ?2",
                        params![
                            i.id.as_str(),
                            i.account_id.as_str(),
                            i.name.as_str(),
                            i.status.as_str(),
                            i.status_reason,
                            json(&i.env),
                            json(&i.config),
                            i.fqdn,
                            fmt_ts(i.updated_at),
                            opt_ts(i.deleted_at),
                            i.image_tag,
                            i.endpoint,
                            i.restarts,
                            opt_ts(i.active_since),
                            i64::try_from(i.active_seconds).unwrap_or(i64::MAX)
                        ],
                    )
                    .map_err(map_err("instance"))?;
                require_changed(n)
            })
            .await
    }

    async fn count_capacity(&self, account: &AccountId) -> R<u32> {
        let account = account.clone();
        self.db.call(move |c| count_capacity(c, &account)).await
    }

    async fn find_instance(&self, id: &InstanceId) -> R<Instance> {
        let id = id.clone();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM instances WHERE id = ?1",
                    [id.as_str()],
                    instance_row,
                )
                .map_err(map_err("instance"))
            })
            .await
    }
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn insert_secret(&self, s: &Secret) -> R<()> {
        let s = s.clone();
        self.db
            .call(move |c| {
                c.execute(
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

    async fn get_secret(&self, account: &AccountId, id: &SecretId) -> R<Secret> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    &format!("{SECRET_SELECT} WHERE s.id = ?1 AND s.account_id = ?2"),
                    params![id.as_str(), account.as_str()],
                    secret_row,
                )
                .map_err(map_err("secret"))
            })
            .await
    }

    async fn list_secrets(&self, account: &AccountId, p: &PageRequest) -> R<Page<Secret>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .call(move |c| {
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

    async fn update_secret(&self, s: &Secret) -> R<()> {
        let s = s.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
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

    async fn delete_secret(&self, account: &AccountId, id: &SecretId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "DELETE FROM secrets WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn get_secret_by_name(&self, account: &AccountId, name: &SecretName) -> R<Secret> {
        let (account, name) = (account.clone(), name.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    &format!("{SECRET_SELECT} WHERE s.account_id = ?1 AND s.name = ?2"),
                    params![account.as_str(), name.as_str()],
                    secret_row,
                )
                .map_err(map_err("secret"))
            })
            .await
    }

    async fn secrets_for_instance(
        &self,
        account: &AccountId,
        instance: &InstanceId,
    ) -> R<Vec<Secret>> {
        let (account, instance) = (account.clone(), instance.clone());
        self.db
            .call(move |c| {
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
                    .execute(
                        "INSERT OR IGNORE INTO secret_grants (secret_id, instance_id, created_at)
                         SELECT id, ?3, ?4 FROM secrets WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str(), instance.as_str(), now],
                    )
                    .map_err(unexpected)?;
                if n == 0 {
                    // Either the secret is absent (NotFound) or the grant existed (idempotent).
                    let exists: bool = c
                        .query_row(
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
                    .execute(
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

#[async_trait]
impl AutomationStore for SqliteStore {
    async fn insert_automation(&self, a: &Automation) -> R<()> {
        let a = a.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO automations (id, account_id, name, prompt, cron, timezone, enabled,
                        next_run_at, chat_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        a.id.as_str(),
                        a.account_id.as_str(),
                        a.name,
                        a.prompt,
                        a.cron.as_str(),
                        a.timezone.as_str(),
                        a.enabled,
                        opt_ts(a.next_run_at),
                        a.chat_id.as_str(),
                        fmt_ts(a.created_at),
                        fmt_ts(a.updated_at)
                    ],
                )
                .map_err(map_err("automation"))?;
                Ok(())
            })
            .await
    }

    async fn get_automation(&self, account: &AccountId, id: &AutomationId) -> R<Automation> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM automations WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    automation_row,
                )
                .map_err(map_err("automation"))
            })
            .await
    }

    async fn list_automations(&self, account: &AccountId, p: &PageRequest) -> R<Page<Automation>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .call(move |c| {
                page(
                    c,
                    "SELECT * FROM automations WHERE account_id = :account
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":cursor": p.cursor},
                    p.limit,
                    automation_row,
                    |a| a.id.to_string(),
                )
            })
            .await
    }

    async fn update_automation(&self, a: &Automation) -> R<()> {
        let a = a.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE automations SET name = ?3, prompt = ?4, cron = ?5, timezone = ?6,
                            enabled = ?7, next_run_at = ?8, updated_at = ?9
                         WHERE id = ?1 AND account_id = ?2",
                        params![
                            a.id.as_str(),
                            a.account_id.as_str(),
                            a.name,
                            a.prompt,
                            a.cron.as_str(),
                            a.timezone.as_str(),
                            a.enabled,
                            opt_ts(a.next_run_at),
                            fmt_ts(a.updated_at)
                        ],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn delete_automation(&self, account: &AccountId, id: &AutomationId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "DELETE FROM automations WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn advance_automation(
        &self,
        id: &AutomationId,
        expected: Option<Timestamp>,
        next: Option<Timestamp>,
    ) -> R<bool> {
        let id = id.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE automations SET next_run_at = ?3 WHERE id = ?1 AND next_run_at IS ?2",
                        params![id.as_str(), opt_ts(expected), opt_ts(next)],
                    )
                    .map_err(unexpected)?;
                Ok(n == 1)
            })
            .await
    }

    async fn insert_run(&self, r: &AutomationRun) -> R<Inserted<AutomationRun>> {
        let r = r.clone();
        self.db
            .call(move |c| {
                let res = c.execute(
                    "INSERT INTO automation_runs (id, automation_id, account_id, trigger, status,
                        scheduled_for, started_at, finished_at, chat_id, error, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        r.id.as_str(),
                        r.automation_id.as_str(),
                        r.account_id.as_str(),
                        r.trigger.as_str(),
                        r.status.as_str(),
                        fmt_ts(r.scheduled_for),
                        opt_ts(r.started_at),
                        opt_ts(r.finished_at),
                        r.chat_id.as_ref().map(|c| c.to_string()),
                        r.error,
                        fmt_ts(r.created_at)
                    ],
                );
                match res {
                    Ok(_) => Ok(Inserted::Created(r)),
                    Err(e) if is_constraint(&e) && r.trigger == RunTrigger::Schedule => {
                        let existing = c
                            .query_row(
                                "SELECT * FROM automation_runs WHERE automation_id = ?1
                                 AND scheduled_for = ?2 AND trigger = 'schedule'",
                                params![r.automation_id.as_str(), fmt_ts(r.scheduled_for)],
                                run_row,
                            )
                            .map_err(map_err("run"))?;
                        Ok(Inserted::Existing(existing))
                    }
                    Err(e) => Err(map_err("run")(e)),
                }
            })
            .await
    }

    async fn get_run(&self, account: &AccountId, id: &RunId) -> R<AutomationRun> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM automation_runs WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    run_row,
                )
                .map_err(map_err("run"))
            })
            .await
    }

    async fn list_runs(
        &self,
        account: &AccountId,
        automation: &AutomationId,
        p: &PageRequest,
    ) -> R<Page<AutomationRun>> {
        let (account, automation, p) = (account.clone(), automation.clone(), p.clone());
        self.db
            .call(move |c| {
                page(
                    c,
                    "SELECT * FROM automation_runs WHERE account_id = :account
                     AND automation_id = :automation
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":automation": automation.as_str(), ":cursor": p.cursor},
                    p.limit,
                    run_row,
                    |r| r.id.to_string(),
                )
            })
            .await
    }

    async fn update_run(&self, r: &AutomationRun) -> R<()> {
        let r = r.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE automation_runs SET status = ?3, started_at = ?4, finished_at = ?5,
                            chat_id = ?6, error = ?7 WHERE id = ?1 AND account_id = ?2",
                        params![
                            r.id.as_str(),
                            r.account_id.as_str(),
                            r.status.as_str(),
                            opt_ts(r.started_at),
                            opt_ts(r.finished_at),
                            r.chat_id.as_ref().map(|c| c.to_string()),
                            r.error
                        ],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn insert_webhook(&self, w: &Webhook) -> R<()> {
        let w = w.clone();
        self.db
            .call(move |c| {
                c.execute(
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

    async fn get_webhook(&self, account: &AccountId, id: &WebhookId) -> R<Webhook> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM webhooks WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    webhook_row,
                )
                .map_err(map_err("webhook"))
            })
            .await
    }

    async fn webhook_by_token(&self, token: &str) -> R<Webhook> {
        let token = token.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM webhooks WHERE token = ?1",
                    [token],
                    webhook_row,
                )
                .map_err(map_err("webhook"))
            })
            .await
    }

    async fn list_webhooks(&self, account: &AccountId, p: &PageRequest) -> R<Page<Webhook>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .call(move |c| {
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

    async fn update_webhook(&self, w: &Webhook) -> R<()> {
        let w = w.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
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

    async fn delete_webhook(&self, account: &AccountId, id: &WebhookId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "DELETE FROM webhooks WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn insert_delivery(&self, d: &Delivery) -> R<Inserted<Delivery>> {
        let d = d.clone();
        self.db
            .call(move |c| {
                let res = c.execute(
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
                            .query_row(
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

    async fn get_delivery(&self, account: &AccountId, id: &DeliveryId) -> R<Delivery> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM deliveries WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    delivery_row,
                )
                .map_err(map_err("delivery"))
            })
            .await
    }

    async fn list_deliveries(
        &self,
        account: &AccountId,
        webhook: &WebhookId,
        p: &PageRequest,
    ) -> R<Page<Delivery>> {
        let (account, webhook, p) = (account.clone(), webhook.clone(), p.clone());
        self.db
            .call(move |c| {
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

    async fn update_delivery(&self, d: &Delivery) -> R<()> {
        let d = d.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
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

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn idempotency_claim(
        &self,
        account: &AccountId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> R<Claim> {
        let (account, key, record) = (account.clone(), key.to_owned(), record.clone());
        self.db
            .call(move |c| {
                let inserted = c
                    .execute(
                        "INSERT INTO idempotency_keys (account_id, key, fingerprint, status, body, created_at)
                         VALUES (?1, ?2, ?3, NULL, NULL, ?4) ON CONFLICT DO NOTHING",
                        params![account.as_str(), key, record.fingerprint, fmt_ts(record.created_at)],
                    )
                    .map_err(unexpected)?;
                if inserted == 1 {
                    return Ok(Claim::Claimed);
                }
                let (fingerprint, status, body, created): (String, Option<u16>, Option<Vec<u8>>, String) = c
                    .query_row(
                        "SELECT fingerprint, status, body, created_at FROM idempotency_keys
                         WHERE account_id = ?1 AND key = ?2",
                        params![account.as_str(), key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .map_err(unexpected)?;
                Ok(Claim::Held(IdempotencyRecord {
                    fingerprint,
                    created_at: parse_ts(&created).map_err(unexpected)?,
                    response: status.map(|status| StoredResponse {
                        status,
                        body: body.unwrap_or_default(),
                    }),
                }))
            })
            .await
    }

    async fn idempotency_replace(
        &self,
        account: &AccountId,
        key: &str,
        expected: Timestamp,
        record: &IdempotencyRecord,
    ) -> R<bool> {
        let (account, key, record) = (account.clone(), key.to_owned(), record.clone());
        self.db
            .call(move |c| {
                let (status, body) = match &record.response {
                    Some(r) => (Some(r.status), Some(r.body.clone())),
                    None => (None, None),
                };
                let n = c
                    .execute(
                        "UPDATE idempotency_keys SET fingerprint = ?3, status = ?4, body = ?5, created_at = ?6
                         WHERE account_id = ?1 AND key = ?2 AND created_at = ?7",
                        params![
                            account.as_str(),
                            key,
                            record.fingerprint,
                            status,
                            body,
                            fmt_ts(record.created_at),
                            fmt_ts(expected)
                        ],
                    )
                    .map_err(unexpected)?;
                Ok(n == 1)
            })
            .await
    }

    async fn idempotency_complete(
        &self,
        account: &AccountId,
        key: &str,
        response: &StoredResponse,
        purge_before: Timestamp,
    ) -> R<()> {
        let (account, key, response) = (account.clone(), key.to_owned(), response.clone());
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE idempotency_keys SET status = ?3, body = ?4 WHERE account_id = ?1 AND key = ?2",
                    params![account.as_str(), key, response.status, response.body],
                )
                .map_err(unexpected)?;
                // Expired records go here too, so the table stays small.
                c.execute(
                    "DELETE FROM idempotency_keys WHERE created_at < ?1",
                    [fmt_ts(purge_before)],
                )
                    .map_err(unexpected)?;
                Ok(())
            })
            .await
    }

    async fn idempotency_release(&self, account: &AccountId, key: &str) -> R<()> {
        let (account, key) = (account.clone(), key.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM idempotency_keys WHERE account_id = ?1 AND key = ?2 AND status IS NULL",
                    params![account.as_str(), key],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn insert_chat(&self, chat: &Chat) -> R<()> {
        let chat = chat.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO chats (account_id, id, title, kind, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        chat.account_id.as_str(),
                        chat.id.as_str(),
                        chat.title,
                        chat.kind.as_str(),
                        fmt_ts(chat.created_at),
                        fmt_ts(chat.updated_at)
                    ],
                )
                .map_err(map_err("chat"))?;
                Ok(())
            })
            .await
    }

    async fn get_chat(&self, account: &AccountId, id: &ChatId) -> R<Chat> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM chats WHERE account_id = ?1 AND id = ?2",
                    params![account.as_str(), id.as_str()],
                    chat_row,
                )
                .map_err(map_err("chat"))
            })
            .await
    }

    async fn list_chats(&self, account: &AccountId, p: &PageRequest) -> R<Page<Chat>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .call(move |c| {
                let cursor: Option<i64> = p.cursor.as_deref().and_then(|s| s.parse().ok());
                let mut stmt = c
                    .prepare_cached(
                        "SELECT rowid AS rid, * FROM chats WHERE account_id = ?1 AND (?2 IS NULL OR rowid < ?2)
                         ORDER BY rowid DESC LIMIT ?3",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), cursor, i64::from(p.limit) + 1], |r| {
                        Ok((r.get::<_, i64>("rid")?, chat_row(r)?))
                    })
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                let page = Page::from_overfetch(rows, p.limit, |(rid, _)| rid.to_string());
                Ok(Page {
                    items: page.items.into_iter().map(|(_, c)| c).collect(),
                    next_cursor: page.next_cursor,
                })
            })
            .await
    }

    async fn update_chat(&self, chat: &Chat) -> R<()> {
        let chat = chat.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE chats SET title = ?3, updated_at = ?4 WHERE account_id = ?1 AND id = ?2",
                        params![chat.account_id.as_str(), chat.id.as_str(), chat.title, fmt_ts(chat.updated_at)],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn delete_chat(&self, account: &AccountId, id: &ChatId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(unexpected)?;
                let n = tx
                    .execute(
                        "DELETE FROM chats WHERE account_id = ?1 AND id = ?2",
                        params![account.as_str(), id.as_str()],
                    )
                    .map_err(unexpected)?;
                for table in ["chat_messages", "chat_turns", "chat_events"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE account_id = ?1 AND chat_id = ?2"),
                        params![account.as_str(), id.as_str()],
                    )
                    .map_err(unexpected)?;
                }
                tx.commit().map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn insert_chat_message(&self, m: &ChatMessage) -> R<()> {
        let m = m.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO chat_messages (account_id, chat_id, id, role, parts, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        m.account_id.as_str(),
                        m.chat_id.as_str(),
                        m.id,
                        m.role,
                        m.parts.to_string(),
                        fmt_ts(m.created_at)
                    ],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }

    async fn chat_messages(&self, account: &AccountId, chat: &ChatId) -> R<Vec<ChatMessage>> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT * FROM chat_messages WHERE account_id = ?1 AND chat_id = ?2
                         ORDER BY substr(id, 6), role DESC, rowid",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), chat.as_str()], |r| {
                        Ok(ChatMessage {
                            id: r.get("id")?,
                            chat_id: ChatId::from_trusted(r.get::<_, String>("chat_id")?),
                            account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
                            role: r.get("role")?,
                            parts: json_col(r, "parts")?,
                            created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
                        })
                    })
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                Ok(rows)
            })
            .await
    }
}

#[async_trait]
impl TurnStore for SqliteStore {
    async fn insert_turn(&self, t: &Turn) -> R<Inserted<Turn>> {
        let t = t.clone();
        self.db
            .call(move |c| {
                let res = c.execute(
                    "INSERT INTO chat_turns (id, account_id, chat_id, status, source, user_message_id,
                        assistant_message_id, error, created_at, started_at, finished_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        t.id,
                        t.account_id.as_str(),
                        t.chat_id.as_str(),
                        t.status.as_str(),
                        t.source.encode(),
                        t.user_message_id,
                        t.assistant_message_id,
                        t.error,
                        fmt_ts(t.created_at),
                        opt_ts(t.started_at),
                        opt_ts(t.finished_at)
                    ],
                );
                match res {
                    Ok(_) => Ok(Inserted::Created(t)),
                    Err(e) if is_constraint(&e) => {
                        let existing = c
                            .query_row("SELECT * FROM chat_turns WHERE id = ?1", [&t.id], turn_row)
                            .map_err(map_err("turn"))?;
                        Ok(Inserted::Existing(existing))
                    }
                    Err(e) => Err(unexpected(e)),
                }
            })
            .await
    }

    async fn get_turn(&self, account: &AccountId, id: &str) -> R<Turn> {
        let (account, id) = (account.clone(), id.to_owned());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM chat_turns WHERE id = ?1 AND account_id = ?2",
                    params![id, account.as_str()],
                    turn_row,
                )
                .map_err(map_err("turn"))
            })
            .await
    }

    async fn update_turn(&self, t: &Turn) -> R<()> {
        let t = t.clone();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE chat_turns SET status = ?3, error = ?4, started_at = ?5, finished_at = ?6
                         WHERE id = ?1 AND account_id = ?2",
                        params![
                            t.id,
                            t.account_id.as_str(),
                            t.status.as_str(),
                            t.error,
                            opt_ts(t.started_at),
                            opt_ts(t.finished_at)
                        ],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn next_open_turn(&self, account: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM chat_turns WHERE account_id = ?1 AND chat_id = ?2
                     AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
                    params![account.as_str(), chat.as_str()],
                    turn_row,
                )
                .optional()
                .map_err(unexpected)
            })
            .await
    }

    async fn last_turn(&self, account: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT * FROM chat_turns WHERE account_id = ?1 AND chat_id = ?2 ORDER BY id DESC LIMIT 1",
                    params![account.as_str(), chat.as_str()],
                    turn_row,
                )
                .optional()
                .map_err(unexpected)
            })
            .await
    }

    async fn append_chat_event(
        &self,
        account: &AccountId,
        chat: &ChatId,
        turn_id: &str,
        data: &serde_json::Value,
    ) -> R<u64> {
        let (account, chat, turn_id, data) = (
            account.clone(),
            chat.clone(),
            turn_id.to_owned(),
            data.to_string(),
        );
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(unexpected)?;
                let seq: i64 = tx
                    .query_row(
                        "SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_events WHERE account_id = ?1 AND chat_id = ?2",
                        params![account.as_str(), chat.as_str()],
                        |r| r.get(0),
                    )
                    .map_err(unexpected)?;
                tx.execute(
                    "INSERT INTO chat_events (account_id, chat_id, seq, turn_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![account.as_str(), chat.as_str(), seq, turn_id, data],
                )
                .map_err(unexpected)?;
                tx.commit().map_err(unexpected)?;
                Ok(seq as u64)
            })
            .await
    }

    async fn chat_events(
        &self,
        account: &AccountId,
        chat: &ChatId,
        after: u64,
        limit: u32,
    ) -> R<Vec<ChatEvent>> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT seq, turn_id, data FROM chat_events WHERE account_id = ?1 AND chat_id = ?2
                         AND seq > ?3 ORDER BY seq LIMIT ?4",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), chat.as_str(), after as i64, limit], |r| {
                        Ok(ChatEvent {
                            seq: r.get::<_, i64>(0)? as u64,
                            turn_id: r.get(1)?,
                            data: json_col(r, "data")?,
                        })
                    })
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                Ok(rows)
            })
            .await
    }

    async fn last_chat_seq(&self, account: &AccountId, chat: &ChatId) -> R<u64> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM chat_events WHERE account_id = ?1 AND chat_id = ?2",
                    params![account.as_str(), chat.as_str()],
                    |r| r.get::<_, i64>(0),
                )
                .map(|v| v as u64)
                .map_err(unexpected)
            })
            .await
    }

    async fn claim_chat(
        &self,
        account: &AccountId,
        chat: &ChatId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> R<bool> {
        let (account, chat, owner) = (account.clone(), chat.clone(), owner.to_owned());
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "UPDATE chats SET lease_owner = ?3, lease_until = ?5 WHERE account_id = ?1 AND id = ?2
                         AND (lease_owner IS NULL OR lease_owner = ?3 OR lease_until < ?4)",
                        params![account.as_str(), chat.as_str(), owner, fmt_ts(now), fmt_ts(until)],
                    )
                    .map_err(unexpected)?;
                Ok(n == 1)
            })
            .await
    }

    async fn release_chat(&self, account: &AccountId, chat: &ChatId, owner: &str) -> R<()> {
        let (account, chat, owner) = (account.clone(), chat.clone(), owner.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE chats SET lease_owner = NULL, lease_until = NULL WHERE account_id = ?1 AND id = ?2 AND lease_owner = ?3",
                    params![account.as_str(), chat.as_str(), owner],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn usage_counts(&self, account: &AccountId, since: Timestamp) -> R<UsageCounts> {
        let account = account.clone();
        self.db
            .call(move |c| {
                let since = fmt_ts(since);
                let count = |sql: &str| -> R<u64> {
                    c.query_row(sql, params![account.as_str(), since], |r| r.get::<_, i64>(0))
                        .map(|n| u64::try_from(n).unwrap_or(0))
                        .map_err(unexpected)
                };
                Ok(UsageCounts {
                    automation_runs: count(
                        "SELECT COUNT(*) FROM automation_runs WHERE account_id = ?1 AND created_at >= ?2",
                    )?,
                    webhook_deliveries: count(
                        "SELECT COUNT(*) FROM deliveries WHERE account_id = ?1 AND received_at >= ?2",
                    )?,
                    chat_turns: count(
                        "SELECT COUNT(*) FROM chat_turns WHERE account_id = ?1 AND created_at >= ?2",
                    )?,
                })
            })
            .await
    }

    async fn record_llm_usage(&self, u: &LlmUsage) -> R<()> {
        let u = u.clone();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO llm_usage (account_id, instance_id, input_tokens, output_tokens, weighted, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        u.account_id.as_str(),
                        u.instance_id.as_str(),
                        SqliteStore::to_i64(u.input_tokens),
                        SqliteStore::to_i64(u.output_tokens),
                        SqliteStore::to_i64(u.weighted()),
                        fmt_ts(u.at)
                    ],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }

    async fn llm_usage_by_instance(
        &self,
        account: &AccountId,
        since: Timestamp,
    ) -> R<Vec<(InstanceId, u64)>> {
        let account = account.clone();
        self.db
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT instance_id, SUM(weighted) FROM llm_usage WHERE account_id = ?1 AND at >= ?2
                         GROUP BY instance_id ORDER BY instance_id",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), fmt_ts(since)], |r| {
                        Ok((
                            InstanceId::from_trusted(r.get::<_, String>(0)?),
                            u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                        ))
                    })
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                Ok(rows)
            })
            .await
    }

    async fn llm_usage_of_instance(
        &self,
        instance: &InstanceId,
        since: Timestamp,
    ) -> R<(u64, Option<Timestamp>)> {
        let instance = instance.clone();
        self.db
            .call(move |c| {
                let (sum, oldest): (Option<i64>, Option<String>) = c
                    .query_row(
                        "SELECT SUM(weighted), MIN(at) FROM llm_usage WHERE instance_id = ?1 AND at >= ?2",
                        params![instance.as_str(), fmt_ts(since)],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(unexpected)?;
                Ok((
                    sum.map(|v| u64::try_from(v).unwrap_or(0)).unwrap_or(0),
                    parse_opt_ts(oldest).map_err(unexpected)?,
                ))
            })
            .await
    }
}

#[async_trait]
impl SweepStore for SqliteStore {
    async fn instances_in_states(&self, states: &[InstanceStatus]) -> R<Vec<Instance>> {
        let states: Vec<String> = states.iter().map(|s| s.as_str().to_owned()).collect();
        self.db
            .call(move |c| {
                let list = states.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(",");
                let mut stmt = c
                    .prepare(&format!(
                        "SELECT * FROM instances WHERE deleted_at IS NULL AND status IN ({list}) ORDER BY id"
                    ))
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map([], instance_row)
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                Ok(rows)
            })
            .await
    }

    async fn due_automations(&self, now: Timestamp, limit: u32) -> R<Vec<Automation>> {
        self.db
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT * FROM automations WHERE enabled = 1 AND next_run_at IS NOT NULL
                         AND next_run_at <= ?1 ORDER BY next_run_at LIMIT ?2",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![fmt_ts(now), limit], automation_row)
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                Ok(rows)
            })
            .await
    }

    async fn next_due_at(&self) -> R<Option<Timestamp>> {
        self.db
            .call(|c| {
                let s: Option<String> = c
                    .query_row(
                        "SELECT MIN(next_run_at) FROM automations WHERE enabled = 1",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(unexpected)?;
                parse_opt_ts(s).map_err(unexpected)
            })
            .await
    }
}

impl SqliteStore {
    /// Embedded start-up: the previous process's chat leases are void (it is gone).
    pub async fn release_all_chat_leases(&self) -> anyhow::Result<()> {
        self.db
            .call(|c| -> anyhow::Result<()> {
                c.execute(
                    "UPDATE chats SET lease_owner = NULL, lease_until = NULL",
                    [],
                )?;
                Ok(())
            })
            .await
    }

    fn to_i64(v: u64) -> i64 {
        i64::try_from(v).unwrap_or(i64::MAX)
    }
}

fn count_capacity(c: &Connection, account: &AccountId) -> R<u32> {
    let states: Vec<String> = InstanceStatus::CAPACITY_STATES
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    c.query_row(
        &format!(
            "SELECT COUNT(*) FROM instances WHERE account_id = ?1 AND deleted_at IS NULL
             AND status IN ({})",
            states.join(",")
        ),
        [account.as_str()],
        |r| r.get::<_, u32>(0),
    )
    .map_err(unexpected)
}
