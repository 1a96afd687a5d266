//! Instances on SQLite (`InstanceStore`): live names are unique per account and the
//! capacity check runs in the same transaction as the insert, so two creates cannot both
//! take the last slot.

use super::{json, json_col, map_err, opt_ts, page, require_changed, unexpected, SqliteStore, R};
use crate::db::{fmt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::types::Type;
use rusqlite::{named_params, params, Connection, Row};

/// The columns `instance_row` reads, by position: a hot read (every instance list) should not
/// look each column up by name (that was ~8 % of `GET /api/instances`).
macro_rules! instance_columns {
    () => {
        "id, account_id, name, kind, status, status_reason, image_tag, checkpoint_repo, env, \
         config, fqdn, endpoint, restarts, active_since, active_seconds, created_at, updated_at, \
         deleted_at"
    };
}
pub(super) use instance_columns;

/// A row of `SELECT instance_columns!() FROM instances …`. Text columns that become enums,
/// times or JSON are read in place (`get_ref`), not copied into a `String` first.
pub(super) fn instance_row(r: &Row) -> rusqlite::Result<Instance> {
    let text = |i: usize| -> rusqlite::Result<&str> {
        r.get_ref(i)?
            .as_str()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
    };
    let opt_text = |i: usize| -> rusqlite::Result<Option<&str>> {
        r.get_ref(i)?
            .as_str_or_null()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))
    };
    Ok(Instance {
        id: InstanceId::from_trusted(r.get::<_, String>(0)?),
        account_id: AccountId::from_trusted(r.get::<_, String>(1)?),
        name: InstanceName::from_trusted(r.get::<_, String>(2)?),
        kind: InstanceKind::parse(text(3)?).unwrap_or_default(),
        status: InstanceStatus::parse(text(4)?).unwrap_or(InstanceStatus::Failed),
        status_reason: r.get(5)?,
        image_tag: r.get(6)?,
        checkpoint_repo: r.get(7)?,
        env: EnvMap::from_trusted(json_col(r, 8)?),
        config: json_col(r, 9)?,
        fqdn: r.get(10)?,
        endpoint: r.get(11)?,
        restarts: r.get(12)?,
        active_since: opt_text(13)?.map(parse_ts).transpose()?,
        active_seconds: r.get::<_, i64>(14).map(|v| u64::try_from(v).unwrap_or(0))?,
        created_at: parse_ts(text(15)?)?,
        updated_at: parse_ts(text(16)?)?,
        deleted_at: opt_text(17)?.map(parse_ts).transpose()?,
    })
}

#[async_trait]
impl InstanceStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %i.id))]
    async fn insert_instance(&self, i: &Instance, capacity: u32) -> R<()> {
        let i = i.clone();
        self.db
            .call(move |c| {
                // A taken name is the more specific answer, so it is checked first.
                let taken: bool = c
                    .row(
                        "SELECT EXISTS(SELECT 1 FROM instances WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL)",
                        params![i.account_id.as_str(), i.name.as_str()],
                        |r| r.get(0),
                    )
                    .map_err(unexpected)?;
                if taken {
                    return Err(StoreError::Conflict("instance name already exists".into()));
                }
                let used = count_capacity(c, &i.account_id)?;
                if used >= capacity {
                    return Err(StoreError::CapacityExceeded {
                        used,
                        limit: capacity,
                    });
                }
                c.exec(
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
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %to.id))]
    async fn transfer_instance(&self, from: &Instance, to: &Instance, capacity: u32) -> R<()> {
        let (from, to) = (from.clone(), to.clone());
        self.db
            .call(move |c| {
                let taken: bool = c
                    .row(
                        "SELECT EXISTS(SELECT 1 FROM instances WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL)",
                        params![to.account_id.as_str(), to.name.as_str()],
                        |r| r.get(0),
                    )
                    .map_err(unexpected)?;
                if taken {
                    return Err(StoreError::Conflict("instance name already exists".into()));
                }
                let used = count_capacity(c, &to.account_id)?;
                if used >= capacity {
                    return Err(StoreError::CapacityExceeded {
                        used,
                        limit: capacity,
                    });
                }
                let n = c
                    .exec(
                        "UPDATE instances SET account_id = ?3, name = ?4, env = ?5, config = ?6,
                            status_reason = ?7, restarts = ?8, active_since = ?9,
                            active_seconds = ?10, created_at = ?11, updated_at = ?12
                         WHERE id = ?1 AND account_id = ?2 AND status = 'active' AND deleted_at IS NULL",
                        params![
                            to.id.as_str(),
                            from.account_id.as_str(),
                            to.account_id.as_str(),
                            to.name.as_str(),
                            json(&to.env),
                            json(&to.config),
                            to.status_reason,
                            to.restarts,
                            opt_ts(to.active_since),
                            to.active_seconds as i64,
                            fmt_ts(to.created_at),
                            fmt_ts(to.updated_at),
                        ],
                    )
                    .map_err(map_err("instance"))?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get_instance(&self, account: &AccountId, id: &InstanceId) -> R<Instance> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    concat!(
                        "SELECT ",
                        instance_columns!(),
                        " FROM instances WHERE id = ?1 AND account_id = ?2"
                    ),
                    params![id.as_str(), account.as_str()],
                    instance_row,
                )
                .map_err(map_err("instance"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn get_instance_by_name(&self, account: &AccountId, name: &InstanceName) -> R<Instance> {
        let (account, name) = (account.clone(), name.clone());
        self.db
            .read(move |c| {
                c.row(
                    concat!("SELECT ", instance_columns!(), " FROM instances WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL"),
                    params![account.as_str(), name.as_str()],
                    instance_row,
                )
                .map_err(map_err("instance"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn list_instances(
        &self,
        account: &AccountId,
        p: &PageRequest,
        include_deleted: bool,
    ) -> R<Page<Instance>> {
        let (account, p) = (account.clone(), p.clone());
        // Two statements, so that the live ones come from their own index (instances_live)
        // and a history of deleted instances costs a live listing nothing.
        let sql = if include_deleted {
            concat!(
                "SELECT ",
                instance_columns!(),
                " FROM instances WHERE account_id = :account
                 AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit"
            )
        } else {
            concat!(
                "SELECT ",
                instance_columns!(),
                " FROM instances WHERE account_id = :account AND deleted_at IS NULL
                 AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit"
            )
        };
        self.db
            .read(move |c| {
                page(
                    c,
                    sql,
                    named_params! {":account": account.as_str(), ":cursor": p.cursor},
                    p.limit,
                    instance_row,
                    |i| i.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %i.id))]
    async fn update_instance(&self, i: &Instance) -> R<()> {
        let i = i.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
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

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn count_capacity(&self, account: &AccountId) -> R<u32> {
        let account = account.clone();
        self.db.read(move |c| count_capacity(c, &account)).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    async fn find_instance(&self, id: &InstanceId) -> R<Instance> {
        let id = id.clone();
        self.db
            .read(move |c| {
                c.row(
                    concat!(
                        "SELECT ",
                        instance_columns!(),
                        " FROM instances WHERE id = ?1"
                    ),
                    [id.as_str()],
                    instance_row,
                )
                .map_err(map_err("instance"))
            })
            .await
    }
}

fn count_capacity(c: &Connection, account: &AccountId) -> R<u32> {
    let states: Vec<String> = InstanceStatus::CAPACITY_STATES
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    c.row(
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
