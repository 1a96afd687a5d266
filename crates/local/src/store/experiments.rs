//! `ExperimentStore` on SQLite: the experiment as a JSON document beside its pair cursor,
//! items by index, one claim row per lane, one result row per pair (its primary key makes a
//! second insert of a pair a no-op that returns the first).

use super::{json, json_col, map_err, require_changed, unexpected, SqliteStore, R};
use crate::db::{fmt_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{named_params, params, OptionalExtension};

/// Results page by item, then variant: `<item index, 6 digits>_<instance id>` (also the
/// cursor, which may hold letters, digits and `_` only).
fn sort_key(item_index: u32, instance: &InstanceId) -> String {
    format!("{item_index:06}_{instance}")
}

#[async_trait]
impl ExperimentStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %e.id))]
    async fn insert_experiment(&self, e: &Experiment, items: &[DatasetItem]) -> R<()> {
        let (e, items) = (e.clone(), items.to_vec());
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT INTO experiments (id, account_id, doc) VALUES (?1, ?2, ?3)",
                    params![e.id.as_str(), e.account_id.as_str(), json(&e)],
                )
                .map_err(map_err("experiment"))?;
                {
                    let mut stmt = c
                        .prepare_cached(
                            "INSERT INTO experiment_items (experiment_id, item_index, doc) VALUES (?1, ?2, ?3)",
                        )
                        .map_err(unexpected)?;
                    for (i, item) in items.iter().enumerate() {
                        stmt.execute(params![e.id.as_str(), i as i64, json(item)])
                            .map_err(unexpected)?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn get_experiment(&self, account: &AccountId, id: &ExperimentId) -> R<Experiment> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT doc FROM experiments WHERE account_id = ?1 AND id = ?2",
                    params![account.as_str(), id.as_str()],
                    |r| json_col(r, "doc"),
                )
                .map_err(map_err("experiment"))
            })
            .await
    }

    async fn list_experiments(&self, account: &AccountId, p: &PageRequest) -> R<Page<Experiment>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .read(move |c| {
                super::page(
                    c,
                    "SELECT doc FROM experiments WHERE account_id = :account
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":cursor": p.cursor},
                    p.limit,
                    |r| json_col(r, "doc"),
                    |e: &Experiment| e.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %e.id))]
    async fn update_experiment(&self, e: &Experiment) -> R<()> {
        let e = e.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE experiments SET doc = ?3 WHERE account_id = ?1 AND id = ?2
                         AND json_extract(doc, '$.status') NOT IN ('succeeded', 'failed', 'cancelled')",
                        params![e.account_id.as_str(), e.id.as_str(), json(&e)],
                    )
                    .map_err(unexpected)?;
                if n == 1 {
                    return Ok(());
                }
                let exists: bool = c
                    .row(
                        "SELECT EXISTS (SELECT 1 FROM experiments WHERE account_id = ?1 AND id = ?2)",
                        params![e.account_id.as_str(), e.id.as_str()],
                        |r| r.get(0),
                    )
                    .map_err(unexpected)?;
                Err(if exists {
                    operator_core::error::StoreError::Conflict("the experiment has ended".into())
                } else {
                    operator_core::error::StoreError::NotFound
                })
            })
            .await
    }

    async fn delete_experiment(&self, account: &AccountId, id: &ExperimentId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                // Items, lanes and results go with it (ON DELETE CASCADE).
                let n = c
                    .exec(
                        "DELETE FROM experiments WHERE account_id = ?1 AND id = ?2",
                        params![account.as_str(), id.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    async fn experiment_item(
        &self,
        account: &AccountId,
        id: &ExperimentId,
        index: u32,
    ) -> R<DatasetItem> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT i.doc FROM experiment_items i JOIN experiments e ON e.id = i.experiment_id
                     WHERE e.account_id = ?1 AND i.experiment_id = ?2 AND i.item_index = ?3",
                    params![account.as_str(), id.as_str(), index],
                    |r| json_col(r, "doc"),
                )
                .map_err(map_err("experiment item"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id, lane))]
    async fn claim_pair(
        &self,
        account: &AccountId,
        id: &ExperimentId,
        lane: u32,
    ) -> R<Option<u32>> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let (doc, next): (String, u32) = c
                    .row(
                        "SELECT doc, next_pair FROM experiments WHERE account_id = ?1 AND id = ?2",
                        params![account.as_str(), id.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(map_err("experiment"))?;
                let e: Experiment = serde_json::from_str(&doc)
                    .map_err(|e| operator_core::error::StoreError::Unexpected(e.into()))?;
                // The lane's own pair first, if it never got a result (a crash mid-pair).
                let held: Option<u32> = c
                    .row(
                        "SELECT l.pair FROM experiment_lanes l WHERE l.experiment_id = ?1 AND l.lane = ?2
                         AND NOT EXISTS (SELECT 1 FROM experiment_results r
                                         WHERE r.experiment_id = l.experiment_id AND r.pair = l.pair)",
                        params![id.as_str(), lane],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unexpected)?;
                if let Some(pair) = held {
                    return Ok(Some(pair));
                }
                if next >= e.pair_count() {
                    return Ok(None);
                }
                c.exec(
                    "UPDATE experiments SET next_pair = ?2 WHERE id = ?1",
                    params![id.as_str(), next + 1],
                )
                .map_err(unexpected)?;
                c.exec(
                    "INSERT INTO experiment_lanes (experiment_id, lane, pair) VALUES (?1, ?2, ?3)
                     ON CONFLICT (experiment_id, lane) DO UPDATE SET pair = excluded.pair",
                    params![id.as_str(), lane, next],
                )
                .map_err(unexpected)?;
                Ok(Some(next))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %r.experiment_id, item = r.item_index))]
    async fn insert_result(&self, r: &ExperimentResult) -> R<Inserted<ExperimentResult>> {
        let r = r.clone();
        self.db
            .call(move |c| {
                let doc: String = c
                    .row(
                        "SELECT doc FROM experiments WHERE account_id = ?1 AND id = ?2",
                        params![r.account_id.as_str(), r.experiment_id.as_str()],
                        |row| row.get(0),
                    )
                    .map_err(map_err("experiment"))?;
                let e: Experiment = serde_json::from_str(&doc)
                    .map_err(|e| operator_core::error::StoreError::Unexpected(e.into()))?;
                let variant = e
                    .instance_ids
                    .iter()
                    .position(|i| *i == r.instance_id)
                    .ok_or(operator_core::error::StoreError::NotFound)?;
                let pair = r.item_index * e.instance_ids.len() as u32 + variant as u32;
                let existing: Option<ExperimentResult> = c
                    .row(
                        "SELECT doc FROM experiment_results WHERE experiment_id = ?1 AND pair = ?2",
                        params![r.experiment_id.as_str(), pair],
                        |row| json_col(row, "doc"),
                    )
                    .optional()
                    .map_err(unexpected)?;
                if let Some(first) = existing {
                    return Ok(Inserted::Existing(first));
                }
                c.exec(
                    "INSERT INTO experiment_results (experiment_id, pair, sort_key, instance_id, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        r.experiment_id.as_str(),
                        pair,
                        sort_key(r.item_index, &r.instance_id),
                        r.instance_id.as_str(),
                        json(&r)
                    ],
                )
                .map_err(unexpected)?;
                // Billed once, with the result; kept when the experiment is deleted.
                c.exec(
                    "INSERT OR IGNORE INTO billing_events (account_id, at, kind, ref)
                     VALUES (?1, ?2, 'item', ?3)",
                    params![
                        r.account_id.as_str(),
                        fmt_ts(r.created_at),
                        format!("{}/{pair}", r.experiment_id)
                    ],
                )
                .map_err(unexpected)?;
                Ok(Inserted::Created(r))
            })
            .await
    }

    async fn list_results(
        &self,
        account: &AccountId,
        id: &ExperimentId,
        instance: Option<&InstanceId>,
        p: &PageRequest,
    ) -> R<Page<ExperimentResult>> {
        let (account, id, instance, p) =
            (account.clone(), id.clone(), instance.cloned(), p.clone());
        self.db
            .read(move |c| {
                super::page(
                    c,
                    "SELECT r.doc FROM experiment_results r JOIN experiments e ON e.id = r.experiment_id
                     WHERE e.account_id = :account AND r.experiment_id = :id
                     AND (:instance IS NULL OR r.instance_id = :instance)
                     AND (:cursor IS NULL OR r.sort_key > :cursor)
                     ORDER BY r.sort_key LIMIT :limit",
                    named_params! {":account": account.as_str(), ":id": id.as_str(),
                        ":instance": instance.as_ref().map(|i| i.as_str()), ":cursor": p.cursor},
                    p.limit,
                    |r| json_col(r, "doc"),
                    |r: &ExperimentResult| sort_key(r.item_index, &r.instance_id),
                )
            })
            .await
    }

    async fn all_results(
        &self,
        account: &AccountId,
        id: &ExperimentId,
    ) -> R<Vec<ExperimentResult>> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .scan(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT r.doc FROM experiment_results r JOIN experiments e ON e.id = r.experiment_id
                         WHERE e.account_id = ?1 AND r.experiment_id = ?2 ORDER BY r.sort_key",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), id.as_str()], |r| json_col(r, "doc"))
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<ExperimentResult>>>()
                    .map_err(unexpected)?;
                Ok(rows)
            })
            .await
    }
}
