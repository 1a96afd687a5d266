//! `JobQueue` on SQLite with SQS standard-queue semantics: delayed delivery, a visibility
//! timeout per receive, a receive count, and a dead-letter table after `max_receive_count`.
//! Visibility and delays are read from an injected [`Clock`] (the system clock unless a test
//! passes a manual one), so tests move time instead of sleeping.

use crate::db::{Cached, Db};
use async_trait::async_trait;
use operator_core::ids::JobId;
use operator_core::jobs::Job;
use operator_core::ports::{Clock, DeadLetter, JobQueue, ReceivedJob, SystemClock};
use rand::distributions::{Alphanumeric, DistString};
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;
use std::time::Duration;

pub struct SqliteQueue {
    db: Db,
    name: String,
    max_receive_count: u32,
    /// What "now" is for visibility timeouts and delays.
    clock: Arc<dyn Clock>,
    /// Wakes an idle worker of this process when a job is sent.
    sent: tokio::sync::Notify,
}

impl SqliteQueue {
    /// One named queue in the shared table (like one SQS queue). `max_receive_count` plays
    /// the role of the SQS redrive policy's maxReceiveCount.
    pub fn new(db: Db, name: &str, max_receive_count: u32) -> Self {
        Self {
            db,
            name: name.to_owned(),
            max_receive_count: max_receive_count.max(1),
            clock: Arc::new(SystemClock),
            sent: tokio::sync::Notify::new(),
        }
    }

    /// The same queue on another clock (tests pass a `ManualClock` and advance it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

fn now_ms(clock: &dyn Clock) -> i64 {
    clock.now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

impl SqliteQueue {
    /// Embedded start-up: jobs held by the previous (dead) process become visible now
    /// instead of after their visibility timeout.
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name))]
    pub async fn release_in_flight(&self) -> anyhow::Result<u64> {
        let queue = self.name.clone();
        let clock = self.clock.clone();
        self.db
            .call(move |c| -> anyhow::Result<u64> {
                let n = c.exec(
                    "UPDATE jobs SET visible_at = ?2, receipt = NULL WHERE queue = ?1 AND receipt IS NOT NULL AND visible_at > ?2",
                    params![queue, now_ms(clock.as_ref())],
                )?;
                Ok(n as u64)
            })
            .await
    }
}

#[async_trait]
impl JobQueue for SqliteQueue {
    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name))]
    async fn send(&self, job: &Job, delay: Duration) -> anyhow::Result<String> {
        let body = serde_json::to_string(job)?;
        let id = JobId::generate().to_string();
        let now = now_ms(self.clock.as_ref());
        let visible_at = now + ms(delay);
        let ret = id.clone();
        let queue = self.name.clone();
        self.db
            .call(move |c| -> anyhow::Result<()> {
                c.exec(
                    "INSERT INTO jobs (id, body, visible_at, receive_count, sent_at, queue) VALUES (?1, ?2, ?3, 0, ?4, ?5)",
                    params![id, body, visible_at, now, queue],
                )
                .map_err(crate::db::sql_error)?;
                Ok(())
            })
            .await?;
        if delay.is_zero() {
            self.sent.notify_one();
        }
        Ok(ret)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name, max = max))]
    async fn receive(&self, max: u32, visibility: Duration) -> anyhow::Result<Vec<ReceivedJob>> {
        let max_receive = self.max_receive_count;
        let queue = self.name.clone();
        let clock = self.clock.clone();
        self.db
            .call(move |c| -> anyhow::Result<Vec<ReceivedJob>> {
                let now = now_ms(clock.as_ref());
                let mut out = Vec::new();
                while out.len() < max as usize {
                    let next: Option<(String, String, u32)> = c
                        .prepare_cached(
                            "SELECT id, body, receive_count FROM jobs WHERE queue = ?2 AND visible_at <= ?1
                             ORDER BY visible_at, id LIMIT 1",
                        )?
                        .query_row(params![now, queue], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .optional()?;
                    let Some((id, body, count)) = next else { break };
                    let parsed = serde_json::from_str::<Job>(&body);
                    if count >= max_receive || parsed.is_err() {
                        if let Err(e) = &parsed {
                            tracing::error!(message_id = %id, error = %e, "unreadable job moved to the dead-letter queue");
                        } else {
                            tracing::warn!(message_id = %id, receive_count = count, "job moved to the dead-letter queue");
                        }
                        c.exec(
                            "INSERT OR REPLACE INTO dead_jobs (id, body, receive_count, dead_at, queue) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![id, body, count, now, queue],
                        )?;
                        c.exec("DELETE FROM jobs WHERE id = ?1", [&id])?;
                        continue;
                    }
                    let receipt = format!(
                        "{id}.{}",
                        Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
                    );
                    c.exec(
                        "UPDATE jobs SET receive_count = receive_count + 1, receipt = ?2, visible_at = ?3 WHERE id = ?1",
                        params![id, receipt, now + ms(visibility)],
                    )?;
                    out.push(ReceivedJob {
                        message_id: id,
                        receipt,
                        job: parsed?,
                        receive_count: count + 1,
                    });
                }
                Ok(out)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name))]
    async fn ack(&self, receipt: &str) -> anyhow::Result<()> {
        let receipt = receipt.to_owned();
        self.db
            .call(move |c| -> anyhow::Result<()> {
                c.exec("DELETE FROM jobs WHERE receipt = ?1", [receipt])?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name))]
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> anyhow::Result<()> {
        let receipt = receipt.to_owned();
        let clock = self.clock.clone();
        self.db
            .call(move |c| -> anyhow::Result<()> {
                c.exec(
                    "UPDATE jobs SET visible_at = ?2 WHERE receipt = ?1",
                    params![receipt, now_ms(clock.as_ref()) + ms(timeout)],
                )?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name))]
    async fn wait_for_message(&self, max: Duration) {
        // Timing out is the idle case, not an error: the caller receives either way.
        let _ = tokio::time::timeout(max, self.sent.notified()).await;
    }

    #[tracing::instrument(level = "debug", skip_all, fields(queue = %self.name))]
    async fn dead_letters(&self, max: u32) -> anyhow::Result<Vec<DeadLetter>> {
        let queue = self.name.clone();
        self.db
            .scan(move |c| -> anyhow::Result<Vec<DeadLetter>> {
                let mut stmt = c.prepare(
                    "SELECT id, body, receive_count FROM dead_jobs WHERE queue = ?2 ORDER BY dead_at, id LIMIT ?1",
                )?;
                let rows = stmt
                    .query_map(params![max, queue], |r| {
                        Ok(DeadLetter {
                            message_id: r.get(0)?,
                            body: r.get(1)?,
                            receive_count: r.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
    }
}
