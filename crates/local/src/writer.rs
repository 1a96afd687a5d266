//! Group commit: the one writing connection lives on its own thread, and every write of the
//! store, the job queue and the vault is a job sent to it. The thread takes the jobs waiting
//! (up to `MAX_BATCH`), runs them in one transaction — each inside its own savepoint, so a job
//! that fails leaves no trace and does not undo the others — and commits once: one fsync for
//! the batch instead of one per write. A job's caller hears its result only after that commit
//! returned, so an acknowledged write is on disk (`synchronous = FULL`), as before.
//!
//! Under no load a batch is one job and a write costs what it did; under load, while one
//! batch's fsync runs, the next batch gathers.
//!
//! SQLite may roll a transaction back on its own when a statement fails for lack of space or
//! an I/O error. The writer notices (the connection is back in autocommit mode): the jobs of
//! the batch so far fail — nothing of theirs remains — and the rest run in a new transaction,
//! so no job is ever answered differently from what the database holds.

use rusqlite::Connection;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

/// Jobs in one transaction at most.
const MAX_BATCH: usize = 256;

/// A write: runs on the writer's connection, says whether to keep what it did, and answers
/// its caller once the batch's commit is known.
pub(crate) type Job = Box<dyn FnOnce(&mut Connection) -> Ran + Send>;

/// Tells a job's caller its result, given why its batch did not last if it did not.
pub(crate) type Answer = Box<dyn FnOnce(Option<&Failed>) + Send>;

/// Why a batch's writes did not last: its commit failed, or SQLite rolled it back.
#[derive(Debug)]
pub(crate) struct Failed {
    message: String,
    /// For lack of space (`SQLITE_FULL`).
    full: bool,
}

impl Failed {
    fn from_sqlite(e: &rusqlite::Error) -> Self {
        Self {
            message: e.to_string(),
            full: crate::db::is_full(e),
        }
    }

    /// SQLite ended the transaction on its own; the last failed call on `conn` says why.
    fn rolled_back(conn: &Connection) -> Self {
        // SAFETY: the handle is `conn`'s, alive for the call and used only on this thread;
        // sqlite3_errcode only reads the code of the connection's last failed call.
        let code = unsafe { rusqlite::ffi::sqlite3_errcode(conn.handle()) };
        let full = code == rusqlite::ffi::SQLITE_FULL;
        Self {
            message: if full {
                "database or disk is full; SQLite rolled back the write batch".to_owned()
            } else {
                format!("SQLite rolled back the write batch (result code {code})")
            },
            full,
        }
    }

    /// The error a write's caller gets: a full disk is the domain's `StorageFull`.
    pub(crate) fn to_error(&self) -> anyhow::Error {
        if self.full {
            anyhow::Error::new(operator_core::error::StorageFull(self.message.clone()))
        } else {
            anyhow::anyhow!("{}", self.message)
        }
    }
}

pub(crate) struct Ran {
    /// The job succeeded: its savepoint is released into the batch (else rolled back).
    pub keep: bool,
    /// Called with the commit's error, if the batch did not commit.
    pub answer: Answer,
}

/// What the writer has done: jobs run and transactions committed (their ratio is the
/// batching).
#[derive(Debug, Default)]
pub struct WriteStats {
    pub jobs: AtomicU64,
    pub commits: AtomicU64,
}

/// Starts the writer thread on `conn`; it ends when every sender is dropped.
pub(crate) fn start(conn: Connection) -> std::io::Result<(mpsc::Sender<Job>, Arc<WriteStats>)> {
    let (tx, rx) = mpsc::channel::<Job>();
    let stats = Arc::new(WriteStats::default());
    let counted = stats.clone();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(conn, rx, &counted))?;
    Ok((tx, stats))
}

fn run(mut conn: Connection, rx: mpsc::Receiver<Job>, stats: &WriteStats) {
    while let Ok(first) = rx.recv() {
        let mut pending = VecDeque::from([first]);
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        while !pending.is_empty() {
            run_batch(&mut conn, &mut pending, stats);
        }
    }
}

/// Runs jobs of `pending` in one transaction and commits it. Should SQLite roll the
/// transaction back midway, the jobs run so far fail and the rest stay in `pending`.
fn run_batch(conn: &mut Connection, pending: &mut VecDeque<Job>, stats: &WriteStats) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        // Cannot open the batch (another process holds the write lock past the busy
        // timeout): each job in a transaction of its own, as without group commit; they
        // report their errors.
        tracing::warn!(error = %e, "could not begin a write batch; writing one by one");
        for job in pending.drain(..) {
            one_by_one(conn, job);
        }
        return;
    }
    let mut answers = Vec::with_capacity(pending.len());
    while let Some(job) = pending.pop_front() {
        if let Err(e) = control(conn, "SAVEPOINT job") {
            tracing::error!(error = %e, "could not open a savepoint");
            // Dropping the job drops its answer channel: the caller gets an error.
            continue;
        }
        let ran = catch_unwind(AssertUnwindSafe(|| job(conn)));
        if conn.is_autocommit() {
            // The transaction is gone (SQLite rolled it back after this job's failure, or the
            // job ended it): nothing of this batch remains. A job that failed keeps its own
            // error; the others hear why.
            let why = Failed::rolled_back(conn);
            tracing::error!(error = %why.message, "a write batch was rolled back");
            answers.extend(ran.ok().map(|r| r.answer));
            stats
                .jobs
                .fetch_add(answers.len() as u64, Ordering::Relaxed);
            for answer in answers {
                answer(Some(&why));
            }
            return;
        }
        let keep = matches!(&ran, Ok(r) if r.keep);
        if let Err(e) = close_savepoint(conn, keep) {
            tracing::error!(error = %e, "could not close a savepoint");
        }
        if let Ok(r) = ran {
            answers.push(r.answer);
        }
    }
    stats
        .jobs
        .fetch_add(answers.len() as u64, Ordering::Relaxed);
    let failed = match control(conn, "COMMIT") {
        Ok(()) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "a write batch did not commit");
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::debug!(error = %e, "rolling back a batch that did not commit");
            }
            Some(Failed::from_sqlite(&e))
        }
    };
    for answer in answers {
        answer(failed.as_ref());
    }
}

/// Runs `job` in a transaction of its own: outside a transaction its savepoint is one, and
/// releasing it is the job's commit. A job is all or nothing either way (the store's jobs
/// have no savepoints of their own).
fn one_by_one(conn: &mut Connection, job: Job) {
    if let Err(e) = control(conn, "SAVEPOINT job") {
        tracing::error!(error = %e, "could not open a savepoint");
        return;
    }
    let ran = catch_unwind(AssertUnwindSafe(|| job(conn)));
    let failed = if conn.is_autocommit() {
        Some(Failed::rolled_back(conn))
    } else {
        let keep = matches!(&ran, Ok(r) if r.keep);
        match close_savepoint(conn, keep) {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(error = %e, "a write did not commit");
                if !conn.is_autocommit() {
                    if let Err(e) = conn.execute_batch("ROLLBACK") {
                        tracing::debug!(error = %e, "rolling back a write that did not commit");
                    }
                }
                keep.then(|| Failed::from_sqlite(&e))
            }
        }
    };
    if let Ok(r) = ran {
        (r.answer)(failed.as_ref());
    }
}

/// Keeps (releases) or undoes the job's savepoint.
fn close_savepoint(conn: &Connection, keep: bool) -> rusqlite::Result<()> {
    if !keep {
        control(conn, "ROLLBACK TO job")?;
    }
    control(conn, "RELEASE job")
}

/// A transaction-control statement, prepared once (they run several times per batch).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use std::sync::Mutex;

    /// What each job of a hand-made batch heard: (job, kept its write, its batch's failure).
    type Heard = Arc<Mutex<Vec<(i64, bool, Option<(String, bool)>)>>>;

    /// A job that runs `write` for row `n` and records what it is told.
    fn job(
        n: i64,
        heard: &Heard,
        write: impl FnOnce(&mut Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> Job {
        let heard = heard.clone();
        Box::new(move |c: &mut Connection| {
            let keep = write(c).is_ok();
            Ran {
                keep,
                answer: Box::new(move |failed: Option<&Failed>| {
                    let failed = failed.map(|f| (f.message.clone(), f.full));
                    heard.lock().unwrap().push((n, keep, failed));
                }),
            }
        })
    }

    fn insert(n: i64, blob: usize) -> impl FnOnce(&mut Connection) -> rusqlite::Result<()> {
        move |c: &mut Connection| {
            c.execute(
                "INSERT INTO t (n, b) VALUES (?1, zeroblob(?2))",
                rusqlite::params![n, blob as i64],
            )
            .map(drop)
        }
    }

    fn rows(c: &Connection) -> Vec<i64> {
        let mut s = c.prepare("SELECT n FROM t ORDER BY n").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn table() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Connection::open(dir.path().join("t.db")).expect("open");
        c.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY, b BLOB);",
        )
        .expect("table");
        (dir, c)
    }

    /// A write acknowledged as written is in the database, and one answered with a failure
    /// is not.
    fn assert_answers_match_rows(heard: &Heard, c: &Connection) {
        let rows = rows(c);
        for (n, kept, failed) in heard.lock().unwrap().iter() {
            let acknowledged = *kept && failed.is_none();
            assert_eq!(
                acknowledged,
                rows.contains(n),
                "job {n}: kept {kept}, failure {failed:?}, rows {rows:?}"
            );
        }
    }

    #[test]
    fn a_batch_rolled_back_midway_fails_its_jobs_so_far_and_runs_the_rest_anew() {
        // GIVEN a batch whose third job ends the transaction, as SQLite does on its own
        // after some failures (a full disk, an I/O error)
        let (_dir, mut c) = table();
        let heard: Heard = Arc::default();
        let mut batch: VecDeque<Job> = VecDeque::from([
            job(1, &heard, insert(1, 0)),
            job(2, &heard, insert(2, 0)),
            job(3, &heard, |c| c.execute_batch("ROLLBACK")),
            job(4, &heard, insert(4, 0)),
            job(5, &heard, insert(5, 0)),
        ]);
        let stats = WriteStats::default();
        // WHEN the writer runs it
        while !batch.is_empty() {
            run_batch(&mut c, &mut batch, &stats);
        }
        // THEN the jobs before are told they failed, and the rest are written and committed
        assert_eq!(rows(&c), [4, 5]);
        assert_answers_match_rows(&heard, &c);
        assert_eq!(heard.lock().unwrap().len(), 5);
        assert!(c.is_autocommit(), "no transaction left open");
    }

    #[test]
    fn a_full_database_fails_its_writes_as_full_and_answers_match_the_rows() {
        // GIVEN a database that cannot grow (max_page_count: SQLITE_FULL, as a full disk)
        let (_dir, mut c) = table();
        let pages: i64 = c
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("page count");
        c.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))
            .expect("cap");
        let heard: Heard = Arc::default();
        // WHEN a batch holds small writes around one too large to fit
        let mut batch: VecDeque<Job> = VecDeque::from([
            job(1, &heard, insert(1, 10)),
            job(2, &heard, insert(2, 1_000_000)),
            job(3, &heard, insert(3, 10)),
        ]);
        let stats = WriteStats::default();
        while !batch.is_empty() {
            run_batch(&mut c, &mut batch, &stats);
        }
        // THEN the large one fails, every answer matches what the database holds, and a
        // failure reported for lack of space says so
        assert!(!rows(&c).contains(&2));
        assert!(rows(&c).contains(&3), "{:?}", rows(&c));
        assert_answers_match_rows(&heard, &c);
        for (n, _, failed) in heard.lock().unwrap().iter() {
            if let Some((message, full)) = failed {
                assert!(*full, "job {n}: {message}");
            }
        }
    }

    /// Many writers at once share commits; a write that fails leaves nothing and undoes
    /// nobody else's; every acknowledged write is there, read through a reader.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_a_failed_one_undoes_only_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        db.call(|c| {
            c.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
                .map_err(anyhow::Error::from)
        })
        .await
        .expect("table");
        let tasks: Vec<_> = (0..300)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.call(move |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        // every tenth fails after writing: its row must not stay
                        anyhow::ensure!(n % 10 != 7, "write {n} refused");
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        let mut refused = 0;
        for t in tasks {
            if t.await.expect("task").is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 30);
        let rows: Vec<i64> = db
            .read(|c| -> anyhow::Result<Vec<i64>> {
                let mut s = c.prepare("SELECT n FROM t ORDER BY n")?;
                let rows = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
            .expect("read");
        let want: Vec<i64> = (0..300).filter(|n| n % 10 != 7).collect();
        assert_eq!(rows, want);
        let (jobs, commits) = db.write_stats();
        assert_eq!(jobs, 301);
        assert!(
            commits < jobs,
            "no two writes shared a commit: {commits} commits for {jobs}"
        );
    }
}
