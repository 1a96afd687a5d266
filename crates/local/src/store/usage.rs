//! Usage counters and metered model calls on SQLite (`UsageStore`), summed per account
//! and per instance over a window.

use super::{unexpected, SqliteStore, R};
use crate::db::{fmt_ts, parse_opt_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::params;

#[async_trait]
impl UsageStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn usage_counts(&self, account: &AccountId, since: Timestamp) -> R<UsageCounts> {
        let account = account.clone();
        self.db
            .scan(move |c| {
                // One pass over the period's billing events (db.rs, migration 6), which
                // outlive the runs, deliveries, turns and results they count.
                let mut stmt = c
                    .prepare_cached(
                        "SELECT kind, COUNT(*) FROM billing_events
                         WHERE account_id = ?1 AND at >= ?2 GROUP BY kind",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), fmt_ts(since)], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                    })
                    .map_err(unexpected)?;
                let mut counts = UsageCounts::default();
                for row in rows {
                    let (kind, n) = row.map_err(unexpected)?;
                    let n = u64::try_from(n).unwrap_or(0);
                    match kind.as_str() {
                        "run" => counts.automation_runs = n,
                        "delivery" => counts.webhook_deliveries = n,
                        "turn" => counts.chat_turns = n,
                        "item" => counts.experiment_items = n,
                        _ => {}
                    }
                }
                Ok(counts)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(instance = %u.instance_id))]
    async fn record_llm_usage(&self, u: &LlmUsage) -> R<()> {
        let u = u.clone();
        self.db
            .call(move |c| {
                c.exec(
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

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn llm_usage_by_instance(
        &self,
        account: &AccountId,
        buckets: UsageBuckets,
    ) -> R<Vec<(InstanceId, Vec<u64>)>> {
        let account = account.clone();
        let count = buckets.count.max(1);
        self.db
            .scan(move |c| {
                // The bucket as UsageBuckets::index computes it, in whole milliseconds: `at` is
                // stored as `YYYY-MM-DDTHH:MM:SS.mmmZ` (db::fmt_ts), so its milliseconds are
                // characters 21-23.
                let mut stmt = c
                    .prepare_cached(
                        "SELECT instance_id,
                                MIN((CAST(strftime('%s', at) AS INTEGER) * 1000
                                     + CAST(substr(at, 21, 3) AS INTEGER) - ?3) / ?4, ?5) AS bucket,
                                SUM(weighted)
                         FROM llm_usage WHERE account_id = ?1 AND at >= ?2
                         GROUP BY instance_id, bucket ORDER BY instance_id",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(
                        params![
                            account.as_str(),
                            fmt_ts(buckets.since),
                            buckets.since.timestamp_millis(),
                            buckets.width.num_milliseconds().max(1),
                            SqliteStore::to_i64(count as u64 - 1),
                        ],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, i64>(1)?,
                                u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                            ))
                        },
                    )
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                let mut out: Vec<(InstanceId, Vec<u64>)> = vec![];
                for (instance, bucket, tokens) in rows {
                    if out.last().is_none_or(|(i, _)| i.as_str() != instance) {
                        out.push((InstanceId::from_trusted(instance), vec![0; count]));
                    }
                    if let Some((_, series)) = out.last_mut() {
                        let b = usize::try_from(bucket.max(0)).unwrap_or(0).min(count - 1);
                        series[b] += tokens;
                    }
                }
                Ok(out)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(instance = %instance))]
    async fn llm_usage_of_instance(
        &self,
        instance: &InstanceId,
        since: Timestamp,
    ) -> R<(u64, Option<Timestamp>)> {
        let instance = instance.clone();
        self.db
            .scan(move |c| {
                let (sum, oldest): (Option<i64>, Option<String>) = c
                    .row(
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

impl SqliteStore {
    fn to_i64(v: u64) -> i64 {
        i64::try_from(v).unwrap_or(i64::MAX)
    }
}
