//! Group commit: the one writing connection lives on its own thread, and every write of the
//! store, the job queue and the vault is a job sent to it. The thread takes the jobs waiting
//! (up to `MAX_BATCH`), runs them in one transaction — each inside its own savepoint, so a job
//! that fails leaves no trace and does not undo the others — and commits once: one fsync for
//! the batch instead of one per write. A job's caller hears its result only after that commit
//! returned, so an acknowledged write is on disk (`synchronous = FULL`), as before.
//!
//! Under no load a batch is one job and a write costs what it did; under load, while one
//! batch's fsync runs, the next batch gathers.

use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

/// Jobs in one transaction at most.
const MAX_BATCH: usize = 256;

/// A write: runs on the writer's connection, says whether to keep what it did, and answers
/// its caller once the batch's commit is known.
pub(crate) type Job = Box<dyn FnOnce(&mut Connection) -> Ran + Send>;

/// Tells a job's caller its result, given the batch's commit error if it did not commit.
pub(crate) type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

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
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = control(&conn, "BEGIN IMMEDIATE") {
            // Cannot open the batch (another process holds the write lock past the busy
            // timeout): each job in its own transaction, as without group commit; they
            // report their errors.
            tracing::warn!(error = %e, "could not begin a write batch; writing one by one");
            for job in batch {
                if let Some(answer) = in_savepoint(&mut conn, job) {
                    // Outside a transaction, releasing the savepoint is the job's commit.
                    answer(None);
                }
            }
            continue;
        }
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            answers.extend(in_savepoint(&mut conn, job));
        }
        stats
            .jobs
            .fetch_add(answers.len() as u64, Ordering::Relaxed);
        let failed = match control(&conn, "COMMIT") {
            Ok(()) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "a write batch did not commit");
                if let Err(e) = conn.execute_batch("ROLLBACK") {
                    tracing::debug!(error = %e, "rolling back a batch that did not commit");
                }
                Some(e.to_string())
            }
        };
        for answer in answers {
            answer(failed.as_deref());
        }
    }
}

/// Runs `job` inside a savepoint, kept if the job succeeded and undone if not, so that a job
/// is all or nothing (the store's jobs need no savepoint of their own). Returns the job's
/// answer; `None` when it could not run (dropping it tells its caller the write failed).
fn in_savepoint(conn: &mut Connection, job: Job) -> Option<Answer> {
    if let Err(e) = control(conn, "SAVEPOINT job") {
        tracing::error!(error = %e, "could not open a savepoint");
        return None;
    }
    let ran = catch_unwind(AssertUnwindSafe(|| job(conn)));
    let keep = matches!(&ran, Ok(r) if r.keep);
    let undone = if keep {
        Ok(())
    } else {
        control(conn, "ROLLBACK TO job")
    };
    if let Err(e) = undone.and_then(|()| control(conn, "RELEASE job")) {
        tracing::error!(error = %e, "could not close a savepoint");
        if keep {
            // What the job wrote may not be kept: its caller must not hear success.
            if let Ok(r) = ran {
                (r.answer)(Some(&e.to_string()));
            }
            return None;
        }
    }
    ran.ok().map(|r| r.answer)
}

/// A transaction-control statement, prepared once (they run several times per batch).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use crate::db::Db;

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
