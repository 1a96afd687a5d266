//! The cross-account queries only the embedded adapters answer (`SweepStore`): the cron
//! loop's due automations and start-up recovery's running instances. Full scans are fine
//! on one SQLite file; the AWS store has no such port.

use super::automations::automation_row;
use super::instances::{instance_columns, instance_row};
use super::{unexpected, SqliteStore, R};
use crate::db::{fmt_ts, parse_opt_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ports::*;
use rusqlite::params;

#[async_trait]
impl SweepStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn instances_in_states(&self, states: &[InstanceStatus]) -> R<Vec<Instance>> {
        let states: Vec<String> = states.iter().map(|s| s.as_str().to_owned()).collect();
        self.db
            .scan(move |c| {
                let list = states.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(",");
                let mut stmt = c
                    .prepare(&format!(
                        "SELECT {} FROM instances WHERE deleted_at IS NULL AND status IN ({list}) ORDER BY id",
                        instance_columns!()
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

    #[tracing::instrument(level = "debug", skip_all)]
    async fn due_automations(&self, now: Timestamp, limit: u32) -> R<Vec<Automation>> {
        self.db
            .scan(move |c| {
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

    #[tracing::instrument(level = "debug", skip_all)]
    async fn next_due_at(&self) -> R<Option<Timestamp>> {
        self.db
            .scan(|c| {
                let s: Option<String> = c
                    .row(
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
