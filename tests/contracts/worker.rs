//! The worker loop over a real queue: ack on success, retry on transient errors, ack on
//! permanent ones, visibility heartbeats while a long job runs, and `run`: many jobs at once
//! and a bounded shutdown that returns cut-off jobs to the queue.

use crate::backends;
use async_trait::async_trait;
use operator_core::ids::*;
use operator_core::jobs::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Scripted {
    outcomes: Mutex<Vec<&'static str>>,
    seen: Mutex<Vec<u32>>,
}

#[async_trait]
impl JobHandler for Scripted {
    async fn handle(&self, _job: &Job, receive_count: u32) -> Result<(), JobError> {
        self.seen.lock().unwrap().push(receive_count);
        let next = self.outcomes.lock().unwrap().remove(0);
        match next {
            "ok" => Ok(()),
            "slow" => {
                tokio::time::sleep(Duration::from_millis(4000)).await;
                Ok(())
            }
            "transient" => Err(JobError::Transient(anyhow::anyhow!("try later"))),
            _ => Err(JobError::Permanent(anyhow::anyhow!("give up"))),
        }
    }
}

fn job() -> Job {
    Job::InstanceStop {
        account_id: AccountId::from_trusted("acct_w"),
        instance_id: InstanceId::from_trusted("inst_w"),
    }
}

#[tokio::test]
async fn success_acks_transient_retries_with_backoff_permanent_acks() {
    let (q, _dir) = backends::sqlite_queue(5);
    let handler = Arc::new(Scripted::default());
    *handler.outcomes.lock().unwrap() = vec!["transient", "ok", "permanent"];
    let worker = Worker::new(q.clone(), handler.clone(), Duration::from_millis(500));
    assert_eq!(worker.try_execute_next().await.unwrap(), Outcome::Empty);
    q.send(&job(), Duration::ZERO).await.unwrap();
    assert_eq!(worker.try_execute_next().await.unwrap(), Outcome::Retry);
    assert_eq!(
        worker.try_execute_next().await.unwrap(),
        Outcome::Empty,
        "hidden during the 1 s retry backoff"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(worker.try_execute_next().await.unwrap(), Outcome::Done);
    assert_eq!(*handler.seen.lock().unwrap(), vec![1, 2]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        worker.try_execute_next().await.unwrap(),
        Outcome::Empty,
        "acked"
    );
    q.send(&job(), Duration::ZERO).await.unwrap();
    assert_eq!(worker.try_execute_next().await.unwrap(), Outcome::Done);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        worker.try_execute_next().await.unwrap(),
        Outcome::Empty,
        "permanent failures are not retried"
    );
}

#[tokio::test]
async fn a_long_job_stays_invisible_while_it_runs() {
    let (q, _dir) = backends::sqlite_queue(5);
    let handler = Arc::new(Scripted::default());
    *handler.outcomes.lock().unwrap() = vec!["slow"];
    let worker = Arc::new(Worker::new(
        q.clone(),
        handler.clone(),
        Duration::from_secs(2),
    ));
    q.send(&job(), Duration::ZERO).await.unwrap();
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { worker.try_execute_next().await.unwrap() }
    });
    // Well past the 2 s visibility timeout, the heartbeat (every second) has kept it hidden.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(q
            .receive(1, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty());
    }
    assert_eq!(running.await.unwrap(), Outcome::Done);
    assert_eq!(*handler.seen.lock().unwrap(), vec![1]);
}

/// Blocks every job until the test ends, counting how many run at once.
#[derive(Default)]
struct Hanging {
    running: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl JobHandler for Hanging {
    async fn handle(&self, _job: &Job, _receive_count: u32) -> Result<(), JobError> {
        self.running
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// `Worker::run` fills its slots, and on shutdown receives nothing more and returns the jobs
/// still running after the grace period to the queue, visible at once (any backend).
pub async fn run_fills_its_slots_and_returns_cut_off_jobs_on_shutdown(
    q: Arc<dyn operator_core::ports::JobQueue>,
) {
    // GIVEN 30 jobs and a worker with 20 slots whose jobs never end
    for _ in 0..30 {
        q.send(&job(), Duration::ZERO).await.unwrap();
    }
    let handler = Arc::new(Hanging::default());
    let worker = Arc::new(Worker::new(
        q.clone(),
        handler.clone(),
        Duration::from_secs(30),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(worker.run(
        WorkerConfig {
            concurrency: 20,
            grace: Duration::from_millis(300),
        },
        stopped,
    ));
    // THEN 20 run at once
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while handler.running.load(std::sync::atomic::Ordering::SeqCst) < 20 {
        assert!(std::time::Instant::now() < deadline, "slots never filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // WHEN it is told to stop
    stop.send(true).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("run ends after the grace period")
        .unwrap();
    // THEN the 20 cut-off jobs are back in the queue with the 10 never taken: 30 receivable now
    assert_eq!(report.returned, 20);
    assert_eq!(
        handler.running.load(std::sync::atomic::Ordering::SeqCst),
        20,
        "nothing received after the stop"
    );
    let mut visible = 0;
    for _ in 0..10 {
        let got = q.receive(10, Duration::from_secs(30)).await.unwrap();
        visible += got.len();
        if visible >= 30 {
            break;
        }
    }
    assert_eq!(visible, 30);
}

#[tokio::test]
async fn sqlite_run_fills_its_slots_and_returns_cut_off_jobs_on_shutdown() {
    let (q, _dir) = backends::sqlite_queue(5);
    run_fills_its_slots_and_returns_cut_off_jobs_on_shutdown(q).await;
}
