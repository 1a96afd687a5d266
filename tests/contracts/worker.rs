//! The worker loop over a real queue, declared once and run on SQLite (on a manual clock)
//! and on SQS (the emulator): ack on success, retry with backoff on transient errors, ack
//! on permanent ones, visibility heartbeats while a long job runs, and `run`: many jobs at
//! once and a bounded shutdown that returns cut-off jobs to the queue.
//!
//! No assertion depends on how fast the machine is: time on the queue passes through
//! [`TestQueue::elapse`], and waits for the worker are conditions with a deadline.

use crate::backends::TestQueue;
use async_trait::async_trait;
use operator_core::ids::*;
use operator_core::jobs::*;
use operator_core::ports::{DeadLetter, JobQueue, ReceivedJob};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

contracts! {
    sqlite: crate::backends::worker_queue_on_sqlite,
    aws: crate::backends::worker_queue_on_sqs,
    contracts: [
        success_acks_transient_retries_with_backoff_permanent_acks,
        a_long_job_stays_invisible_while_it_runs,
        run_fills_its_slots_and_returns_cut_off_jobs_on_shutdown,
    ],
}

/// Every wait for the worker gives up after this.
const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `done` until it holds, failing the test after [`DEADLINE`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Handler outcomes in order; "hold" runs until the test releases it.
#[derive(Default)]
struct Scripted {
    outcomes: Mutex<Vec<&'static str>>,
    seen: Mutex<Vec<u32>>,
    release: tokio::sync::Notify,
}

#[async_trait]
impl JobHandler for Scripted {
    async fn handle(&self, _job: &Job, receive_count: u32) -> Result<(), JobError> {
        self.seen.lock().unwrap().push(receive_count);
        let next = self.outcomes.lock().unwrap().remove(0);
        match next {
            "ok" => Ok(()),
            "hold" => {
                self.release.notified().await;
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

/// Tries jobs until one ran (SQLite: the first try; SQS: polled until it is delivered).
async fn execute_next(worker: &Worker) -> Outcome {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match worker.try_execute_next().await.unwrap() {
            Outcome::Empty => {
                assert!(Instant::now() < deadline, "no job was delivered");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ran => return ran,
        }
    }
}

pub async fn success_acks_transient_retries_with_backoff_permanent_acks(t: TestQueue) {
    let q = t.queue.clone();
    let handler = Arc::new(Scripted::default());
    *handler.outcomes.lock().unwrap() = vec!["transient", "ok", "permanent"];
    // 500 ms (SQS rounds it to 1 s): past it, an unacked job is visible again.
    let visibility = Duration::from_millis(500);
    let past_visibility = Duration::from_millis(1100);
    let worker = Worker::new(q.clone(), handler.clone(), visibility);
    assert_eq!(worker.try_execute_next().await.unwrap(), Outcome::Empty);
    q.send(&job(), Duration::ZERO).await.unwrap();
    assert_eq!(execute_next(&worker).await, Outcome::Retry);
    assert_eq!(
        worker.try_execute_next().await.unwrap(),
        Outcome::Empty,
        "hidden during the 1 s retry backoff"
    );
    t.elapse(Duration::from_millis(1200)).await;
    assert_eq!(execute_next(&worker).await, Outcome::Done);
    assert_eq!(*handler.seen.lock().unwrap(), vec![1, 2]);
    t.elapse(past_visibility).await;
    assert_eq!(
        worker.try_execute_next().await.unwrap(),
        Outcome::Empty,
        "acked"
    );
    q.send(&job(), Duration::ZERO).await.unwrap();
    assert_eq!(execute_next(&worker).await, Outcome::Done);
    t.elapse(past_visibility).await;
    assert_eq!(
        worker.try_execute_next().await.unwrap(),
        Outcome::Empty,
        "permanent failures are not retried"
    );
}

/// Counts visibility changes, so a test can wait for the worker's heartbeats.
struct CountingQueue {
    inner: Arc<dyn JobQueue>,
    visibility_changes: AtomicUsize,
}

#[async_trait]
impl JobQueue for CountingQueue {
    async fn send(&self, job: &Job, delay: Duration) -> anyhow::Result<String> {
        self.inner.send(job, delay).await
    }
    async fn receive(&self, max: u32, visibility: Duration) -> anyhow::Result<Vec<ReceivedJob>> {
        self.inner.receive(max, visibility).await
    }
    async fn ack(&self, receipt: &str) -> anyhow::Result<()> {
        self.inner.ack(receipt).await
    }
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> anyhow::Result<()> {
        let r = self.inner.change_visibility(receipt, timeout).await;
        self.visibility_changes.fetch_add(1, Ordering::SeqCst);
        r
    }
    async fn dead_letters(&self, max: u32) -> anyhow::Result<Vec<DeadLetter>> {
        self.inner.dead_letters(max).await
    }
}

pub async fn a_long_job_stays_invisible_while_it_runs(t: TestQueue) {
    // GIVEN a worker whose job runs until released; its heartbeat extends the job's
    // visibility every half timeout (SQS counts visibility in whole seconds)
    let visibility = if t.real_time() {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(200)
    };
    let q = Arc::new(CountingQueue {
        inner: t.queue.clone(),
        visibility_changes: AtomicUsize::new(0),
    });
    let handler = Arc::new(Scripted::default());
    *handler.outcomes.lock().unwrap() = vec!["hold"];
    let worker = Arc::new(Worker::new(q.clone(), handler.clone(), visibility));
    q.send(&job(), Duration::ZERO).await.unwrap();
    let running = tokio::spawn({
        let worker = worker.clone();
        async move { execute_next(&worker).await }
    });
    wait_until("the job to start", || {
        !handler.seen.lock().unwrap().is_empty()
    })
    .await;
    // WHEN, beat after beat, half a timeout passes on the queue's clock, two timeouts in all
    for beat in 1..=4 {
        wait_until("a heartbeat", || {
            q.visibility_changes.load(Ordering::SeqCst) >= beat
        })
        .await;
        t.elapse(visibility / 2).await;
        // THEN the job stays hidden: the last heartbeat hid it for a whole timeout from then
        assert!(
            t.queue
                .receive(1, Duration::from_secs(30))
                .await
                .unwrap()
                .is_empty(),
            "visible again after heartbeat {beat}"
        );
    }
    handler.release.notify_one();
    let outcome = tokio::time::timeout(DEADLINE, running)
        .await
        .expect("the job ends once released")
        .unwrap();
    assert_eq!(outcome, Outcome::Done);
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
pub async fn run_fills_its_slots_and_returns_cut_off_jobs_on_shutdown(t: TestQueue) {
    let q = t.queue.clone();
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
    wait_until("the 20 slots to fill", || {
        handler.running.load(std::sync::atomic::Ordering::SeqCst) >= 20
    })
    .await;
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
    let visible = t.receive_at_least(30, Duration::from_secs(30)).await;
    assert_eq!(visible.len(), 30);
    assert!(
        q.receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty(),
        "no job lost or duplicated"
    );
}
