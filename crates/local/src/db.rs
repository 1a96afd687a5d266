//! The SQLite database file shared by the embedded store, job queue and vault: one writing
//! connection in WAL mode with full fsync, a small pool of read-only connections beside it
//! (WAL lets readers run while the writer commits, each seeing the last commit), the schema
//! migrated on open (schema.rs).

pub(crate) use crate::cached::{Cached, STATEMENT_CACHE};
use crate::{schema, writer};
use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::{mpsc, Arc, Condvar, Mutex};

/// Read-only connections in the pool: reads of different requests run side by side.
const READERS: usize = 4;

/// A handle to the database; clones share the connections.
#[derive(Clone)]
pub struct Db {
    /// The writer thread's queue (writer.rs: group commit).
    writes: mpsc::Sender<writer::Job>,
    stats: Arc<writer::WriteStats>,
    readers: Arc<ReadPool>,
}

/// Idle read connections; a read takes one (waiting while all are busy) and gives it back.
struct ReadPool {
    idle: Mutex<Idle>,
    freed: Condvar,
}

/// The pool's state under its lock. `waiting` counts the threads blocked in
/// [`ReadPool::take`], so that giving a reader back wakes someone only when someone waits
/// (a condition variable's notify is a system call even when nobody does, one per read).
struct Idle {
    conns: Vec<Connection>,
    waiting: usize,
}

/// A reader on loan: back to the pool when dropped, also when the read panics.
struct Lent<'a> {
    conn: Option<Connection>,
    pool: &'a ReadPool,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.give_back(c);
        }
    }
}

impl ReadPool {
    fn take(&self) -> Connection {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(c) = idle.conns.pop() {
                return c;
            }
            idle.waiting += 1;
            idle = self.freed.wait(idle).unwrap_or_else(|e| e.into_inner());
            idle.waiting -= 1;
        }
    }

    /// Runs `f` on `conn`, which goes back to the pool afterwards (also if `f` panics).
    fn lend<T, E: From<anyhow::Error>>(
        &self,
        conn: Connection,
        f: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut lent = Lent {
            conn: Some(conn),
            pool: self,
        };
        match lent.conn.as_mut() {
            Some(c) => f(c),
            None => Err(E::from(anyhow::anyhow!("no database reader"))),
        }
    }

    /// A free reader, if there is one now.
    fn try_take(&self) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .conns
            .pop()
    }

    fn give_back(&self, c: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.conns.push(c);
        let someone_waits = idle.waiting > 0;
        drop(idle);
        if someone_waits {
            self.freed.notify_one();
        }
    }
}

impl Db {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("open the database {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .context("configure SQLite")?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .context("check the database")?;
        anyhow::ensure!(
            check == "ok",
            "database {} is damaged: {check}",
            path.display()
        );
        schema::migrate(&conn)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_context(|| format!("open the database {} to read", path.display()))?;
            r.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                .context("configure a SQLite reader")?;
            r.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            readers.push(r);
        }
        let (writes, stats) = writer::start(conn).context("start the database writer")?;
        Ok(Self {
            writes,
            stats,
            readers: Arc::new(ReadPool {
                idle: Mutex::new(Idle {
                    conns: readers,
                    waiting: 0,
                }),
                freed: Condvar::new(),
            }),
        })
    }

    /// Runs a bounded read-only `f` (a row, a page): at once on the calling task when a
    /// reader is free (a point read takes microseconds, less than handing it to a blocking
    /// thread and back), else on a blocking thread like [`Db::scan`]. A write there fails: the
    /// connection is read-only. It sees every commit made before it started.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        match self.readers.try_take() {
            Some(conn) => self.readers.lend(conn, f),
            None => self.scan(f).await,
        }
    }

    /// Runs a read-only `f` whose cost grows with the data (histories, aggregations, sweeps)
    /// on a pooled reader on a blocking thread, so that it never holds up the tasks sharing
    /// the caller's thread.
    pub async fn scan<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.take();
            pool.lend(conn, f)
        })
        .await
        .map_err(|e| E::from(anyhow::anyhow!("database task failed: {e}")))?
    }

    /// Writes run and batches committed since the database was opened.
    pub fn write_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.stats.jobs.load(Relaxed),
            self.stats.commits.load(Relaxed),
        )
    }

    /// Runs `f` on the writing connection, in the writer's next batch (writer.rs), and
    /// returns its result once that batch committed. An `Err` from `f` undoes what `f` wrote.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: writer::Job = Box::new(move |c: &mut Connection| {
            let out = f(c);
            writer::Ran {
                keep: out.is_ok(),
                answer: Box::new(move |failed: Option<&writer::Failed>| {
                    let out = match (out, failed) {
                        (Ok(_), Some(why)) => Err(E::from(
                            why.to_error()
                                .context("the database did not commit the write"),
                        )),
                        (out, _) => out,
                    };
                    // The caller may have gone (its request was cancelled): nothing to tell.
                    let _ = tx.send(out);
                }),
            }
        });
        let stopped = || E::from(anyhow::anyhow!("the database writer stopped"));
        self.writes.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// Timestamps as fixed-width RFC 3339 (millisecond, `Z`) so text order is time order.
pub fn fmt_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads what `fmt_ts` wrote (digit by digit: a row holds several and lists read many), or
/// any other RFC 3339 time.
pub fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    if let Some(t) = parse_fixed(s.as_bytes()) {
        return Ok(t);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` exactly, else None.
fn parse_fixed(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let time = date.and_hms_milli_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?)?;
    Some(time.and_utc())
}

pub fn parse_opt_ts(s: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

/// True when SQLite could not write for lack of space (`SQLITE_FULL`: a full disk).
pub fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

/// A SQLite error for the ports' `Unexpected`: a full disk becomes the domain's
/// [`StorageFull`](operator_core::error::StorageFull) (507 to the caller), anything else stays
/// itself.
pub fn sql_error(e: rusqlite::Error) -> anyhow::Error {
    if is_full(&e) {
        anyhow::Error::new(operator_core::error::StorageFull(e.to_string()))
    } else {
        anyhow::Error::new(e)
    }
}

/// True for UNIQUE / CHECK / FOREIGN KEY violations.
pub fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_back_as_written_and_other_rfc3339_still_parses() {
        let mut t = chrono::DateTime::from_timestamp_millis(0).expect("epoch");
        for step in 0..5_000i64 {
            t += chrono::Duration::milliseconds(step * 9_876_543 + 3);
            assert_eq!(parse_ts(&fmt_ts(t)).expect("parses"), t);
        }
        let other = parse_ts("2026-03-09T14:00:00+01:00").expect("offset form");
        assert_eq!(fmt_ts(other), "2026-03-09T13:00:00.000Z");
        assert!(parse_ts("2026-13-09T13:00:00.000Z").is_err());
        assert!(parse_ts("2026-03-09T13:00:00.0a0Z").is_err());
    }

    /// Scans beyond the pool's size wait for a reader and get one when it comes back: a
    /// returned reader wakes a waiting scan (it is told only when someone waits).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scans_beyond_the_pool_wait_for_a_reader_and_all_finish() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        let gate = Arc::new(std::sync::Barrier::new(READERS + 1));
        let (lent, mut all_lent) = tokio::sync::mpsc::unbounded_channel();
        let mut held = Vec::new();
        for _ in 0..READERS {
            let (db, gate, lent) = (db.clone(), gate.clone(), lent.clone());
            held.push(tokio::spawn(async move {
                db.scan(move |c| {
                    let _ = lent.send(());
                    gate.wait();
                    c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                        .map_err(anyhow::Error::from)
                })
                .await
            }));
        }
        // Every reader is lent out (each holder has its own) before these start: they wait.
        for _ in 0..READERS {
            all_lent.recv().await.expect("a holder took its reader");
        }
        let waiting: Vec<_> = (0..3i64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.scan(move |c| {
                        c.query_row("SELECT ?1", [i], |r| r.get::<_, i64>(0))
                            .map_err(anyhow::Error::from)
                    })
                    .await
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let none_ran = waiting.iter().all(|w| !w.is_finished());
        // The holders are let go before anything can fail (a runtime waits for its
        // blocking threads when it is dropped).
        let gate2 = gate.clone();
        tokio::task::spawn_blocking(move || gate2.wait())
            .await
            .expect("gate");
        assert!(none_ran, "a scan ran while every reader was lent out");
        for h in held {
            assert_eq!(h.await.expect("join").expect("scan"), 1);
        }
        for (i, w) in waiting.into_iter().enumerate() {
            let got = tokio::time::timeout(std::time::Duration::from_secs(10), w)
                .await
                .expect("a waiting scan was never woken")
                .expect("join")
                .expect("scan");
            assert_eq!(got, i as i64);
        }
        // AND a read finds a free reader at once afterwards
        let n: i64 = db
            .read(|c| {
                c.query_row("SELECT 7", [], |r| r.get(0))
                    .map_err(anyhow::Error::from)
            })
            .await
            .expect("read");
        assert_eq!(n, 7);
    }

    /// The statements run once per job, per keyed write or per listing find their rows by
    /// index, however long the backlog or history: no scan, no sort (each was a scan).
    #[tokio::test]
    async fn per_job_and_per_write_statements_use_an_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        for (sql, index) in [
            (
                "SELECT id, body, receive_count FROM jobs WHERE queue = 'agent' AND visible_at <= 5
                 ORDER BY visible_at, id LIMIT 1",
                "jobs_visible",
            ),
            ("DELETE FROM jobs WHERE receipt = 'r'", "jobs_receipt"),
            (
                "UPDATE jobs SET visible_at = 1 WHERE receipt = 'r'",
                "jobs_receipt",
            ),
            (
                "DELETE FROM idempotency_keys WHERE created_at < '2026'",
                "idempotency_age",
            ),
            // listing an account's live instances reads none of its deleted ones
            (
                "SELECT * FROM instances WHERE account_id = 'a' AND deleted_at IS NULL
                 AND (NULL IS NULL OR id < NULL) ORDER BY id DESC LIMIT 51",
                "instances_live",
            ),
            // a chat's next open turn reads none of its finished ones (a webhook's chat
            // gains one per delivery)
            (
                "SELECT * FROM chat_turns WHERE account_id = 'a' AND chat_id = 'c'
                 AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
                "chat_turns_open",
            ),
        ] {
            let plan: Vec<String> = db
                .read(move |c| -> anyhow::Result<Vec<String>> {
                    let mut s = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let rows = s
                        .query_map([], |r| r.get::<_, String>(3))?
                        .collect::<Result<_, _>>()?;
                    Ok(rows)
                })
                .await
                .expect("plan");
            assert!(plan.iter().any(|p| p.contains(index)), "{sql}: {plan:?}");
            assert!(
                !plan
                    .iter()
                    .any(|p| p.starts_with("SCAN") || p.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
    }

    /// A database written by the previous release (schema 5) keeps its billing period when
    /// it moves to billing events: every run, delivery, turn and result already there is
    /// counted, at its own time, in the fixed-width format the period query compares with.
    #[test]
    fn migration_6_carries_existing_usage_into_billing_events() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .expect("pragma");
        for step in &schema::MIGRATIONS[..5] {
            conn.execute_batch(step).expect("old schema");
        }
        conn.pragma_update(None, "user_version", 5)
            .expect("version");
        conn.execute_batch(
            r#"
            INSERT INTO automations VALUES ('auto_1', 'acct_1', 'a', 'p', '* * * * *', 'UTC', 1,
                NULL, 'chat_1', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z');
            INSERT INTO automation_runs (id, automation_id, account_id, trigger, status,
                scheduled_for, created_at)
                VALUES ('run_1', 'auto_1', 'acct_1', 'manual', 'succeeded',
                '2026-11-02T00:00:00.000Z', '2026-11-02T00:00:00.000Z');
            INSERT INTO webhooks VALUES ('wh_1', 'acct_1', 'w', 'p', 'tok', 1, 'chat_2',
                '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z');
            INSERT INTO deliveries (id, webhook_id, account_id, status, payload, received_at)
                VALUES ('dlv_1', 'wh_1', 'acct_1', 'succeeded', '{}', '2026-11-03T00:00:00.000Z');
            INSERT INTO chat_turns (id, account_id, chat_id, status, source, user_message_id,
                assistant_message_id, created_at)
                VALUES ('turn_1', 'acct_1', 'chat_3', 'succeeded', 'chat', 'm1', 'm2',
                '2026-11-04T00:00:00.000Z');
            INSERT INTO experiments (id, account_id, doc) VALUES ('exp_1', 'acct_1', '{}');
            INSERT INTO experiment_results VALUES ('exp_1', 3, 's', 'inst_1',
                '{"created_at": "2026-11-05T06:07:08.123456789Z"}');
            "#,
        )
        .expect("old rows");

        schema::migrate(&conn).expect("migrate");

        let mut stmt = conn
            .prepare(
                "SELECT kind, ref, at FROM billing_events WHERE account_id = 'acct_1' ORDER BY at",
            )
            .expect("query");
        let rows: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let want = [
            ("run", "run_1", "2026-11-02T00:00:00.000Z"),
            ("delivery", "dlv_1", "2026-11-03T00:00:00.000Z"),
            ("turn", "turn_1", "2026-11-04T00:00:00.000Z"),
            ("item", "exp_1/3", "2026-11-05T06:07:08.123Z"),
        ];
        let got: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|(k, r, a)| (k.as_str(), r.as_str(), a.as_str()))
            .collect();
        assert_eq!(got, want);

        // AND deleting what they count keeps them; a new run is billed by its trigger
        conn.execute_batch(
            "DELETE FROM automations; DELETE FROM webhooks; DELETE FROM experiments;
             INSERT INTO automations VALUES ('auto_2', 'acct_1', 'b', 'p', '* * * * *', 'UTC', 1,
                NULL, 'chat_4', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z');
             INSERT INTO automation_runs (id, automation_id, account_id, trigger, status,
                scheduled_for, created_at)
                VALUES ('run_2', 'auto_2', 'acct_1', 'manual', 'queued',
                '2026-11-06T00:00:00.000Z', '2026-11-06T00:00:00.000Z');",
        )
        .expect("later rows");
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM billing_events", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 5);
    }
}
