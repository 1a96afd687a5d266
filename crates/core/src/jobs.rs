//! Jobs: the slow work a request hands to the queue, and the worker that executes them.
//!
//! A job is plain data (its JSON is the SQS message body and the EventBridge target input).
//! Handlers must be idempotent: a job can be delivered more than once.

pub use crate::job::Job;
use crate::ports::{JobQueue, ReceivedJob};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How a handler's attempt ended.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another delivery (after the visibility timeout): e.g. a dependency is down.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Retrying cannot help; the handler has recorded the failure where users see it.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

/// Executes jobs. One implementation is the platform's (`services`), tests bring their own.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn handle(&self, job: &Job, receive_count: u32) -> Result<(), JobError>;
}

/// `try_execute_next` outcome, so a test can drive the worker one job at a time.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retry,
    Empty,
}

/// How many jobs a worker runs at once and how it stops.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// Jobs in flight at once. Jobs are I/O-bound (model calls, instance calls), so this is
    /// sized in the hundreds; one chat's turns are still serialised by its lease.
    pub concurrency: usize,
    /// On shutdown, how long running jobs may go on before they are cut off and returned
    /// to the queue (they resume after the restart, as after a crash).
    pub grace: Duration,
}

impl WorkerConfig {
    pub const DEFAULT_CONCURRENCY: usize = 256;
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

    /// `OPERATOR_WORKER_CONCURRENCY` and `OPERATOR_SHUTDOWN_GRACE_SECS` (both optional);
    /// fails naming the variable when one is set but not a number.
    pub fn from_env() -> anyhow::Result<Self> {
        fn var<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
            match std::env::var(name) {
                Ok(v) if v.trim().is_empty() => Ok(None),
                Ok(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| anyhow::anyhow!("{name} must be a whole number, not {v:?}")),
                Err(_) => Ok(None),
            }
        }
        let concurrency: Option<usize> = var("OPERATOR_WORKER_CONCURRENCY")?;
        let concurrency = concurrency.unwrap_or(Self::DEFAULT_CONCURRENCY);
        anyhow::ensure!(
            (1..=10_000).contains(&concurrency),
            "OPERATOR_WORKER_CONCURRENCY must be between 1 and 10000"
        );
        let grace: Option<u64> = var("OPERATOR_SHUTDOWN_GRACE_SECS")?;
        let grace = grace.map_or(Self::DEFAULT_GRACE, Duration::from_secs);
        Ok(Self { concurrency, grace })
    }
}

/// What `Worker::run` left behind when it stopped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Jobs still running when the grace period ended: cut off and made visible again.
    pub returned: usize,
}

/// Receipts of the jobs running now, by message id (to return them at shutdown).
type RunningJobs = Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>;

/// A job's entry in `RunningJobs` for as long as its task lives (finished, failed,
/// panicked or aborted alike).
struct Running {
    jobs: RunningJobs,
    message_id: String,
}

impl Running {
    fn track(jobs: &RunningJobs, job: &ReceivedJob) -> Self {
        if let Ok(mut map) = jobs.lock() {
            map.insert(job.message_id.clone(), job.receipt.clone());
        }
        Self {
            jobs: jobs.clone(),
            message_id: job.message_id.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut map) = self.jobs.lock() {
            map.remove(&self.message_id);
        }
    }
}

/// Receives jobs from any `JobQueue`, keeps them invisible while they run, acks when done.
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    handler: Arc<dyn JobHandler>,
    visibility: Duration,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn JobQueue>,
        handler: Arc<dyn JobHandler>,
        visibility: Duration,
    ) -> Self {
        Self {
            queue,
            handler,
            visibility,
        }
    }

    /// Takes one job, runs it to the end, and settles it on the queue.
    pub async fn try_execute_next(&self) -> anyhow::Result<Outcome> {
        let Some(received) = self.queue.receive(1, self.visibility).await?.pop() else {
            return Ok(Outcome::Empty);
        };
        Ok(self.execute(received).await)
    }

    async fn execute(&self, received: ReceivedJob) -> Outcome {
        let span = tracing::info_span!("job", kind = received.job.kind(), message_id = %received.message_id, attempt = received.receive_count);
        tracing::Instrument::instrument(self.execute_inner(received), span).await
    }

    async fn execute_inner(&self, received: ReceivedJob) -> Outcome {
        // Heartbeat: extend visibility at half the timeout while the handler runs. It lives
        // in this future, so a job cut off at shutdown stops extending at once.
        let heartbeat = async {
            loop {
                tokio::time::sleep(self.visibility / 2).await;
                if let Err(e) = self
                    .queue
                    .change_visibility(&received.receipt, self.visibility)
                    .await
                {
                    tracing::warn!(error = %e, "could not extend job visibility");
                }
            }
        };
        let result = tokio::select! {
            r = self.handler.handle(&received.job, received.receive_count) => r,
            never = heartbeat => never,
        };
        match result {
            Ok(()) | Err(JobError::Permanent(_)) => {
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "job failed permanently");
                }
                if let Err(e) = self.queue.ack(&received.receipt).await {
                    tracing::error!(error = %e, "could not ack job; it will be redelivered");
                }
                Outcome::Done
            }
            Err(e) => {
                // Retry with exponential backoff (1 s, 2 s, 4 s ... 60 s) rather than waiting
                // out the whole visibility timeout.
                let backoff =
                    Duration::from_secs(1u64 << received.receive_count.saturating_sub(1).min(6))
                        .min(Duration::from_secs(60));
                tracing::warn!(error = %e, retry_in = ?backoff, "job failed; will be retried");
                if let Err(e) = self
                    .queue
                    .change_visibility(&received.receipt, backoff)
                    .await
                {
                    tracing::warn!(error = %e, "could not schedule the retry; it follows the visibility timeout");
                }
                Outcome::Retry
            }
        }
    }

    /// Runs jobs, up to `config.concurrency` at once, until `shutdown` turns true. Then it
    /// receives nothing more, gives running jobs `config.grace` to finish, and returns the
    /// rest to the queue (visible at once: the next process picks them up).
    pub async fn run(
        self: Arc<Self>,
        config: WorkerConfig,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Stopped {
        let slots = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
        let running = RunningJobs::default();
        let mut tasks = tokio::task::JoinSet::new();
        'receive: loop {
            // Wait for a free slot, then take as many jobs as there are free slots (SQS
            // hands out at most 10 per call).
            let first = tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => break 'receive,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break 'receive,
                },
            };
            while tasks.try_join_next().is_some() {}
            let want = (slots.available_permits() + 1).min(10) as u32;
            let received = tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => break 'receive,
                r = self.queue.receive(want, self.visibility) => r,
            };
            let jobs = match received {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "job queue receive failed");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                drop(first);
                tokio::select! {
                    _ = self.queue.wait_for_message(Duration::from_millis(500)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break 'receive,
                }
                continue;
            }
            let mut first = Some(first);
            for job in jobs {
                // Every received job gets a slot: the batch was sized to the free ones.
                let permit = match first.take() {
                    Some(p) => p,
                    None => match slots.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => match slots.clone().acquire_owned().await {
                            Ok(p) => p,
                            Err(_) => break 'receive,
                        },
                    },
                };
                let tracked = Running::track(&running, &job);
                let worker = self.clone();
                tasks.spawn(async move {
                    worker.execute(job).await;
                    drop((tracked, permit));
                });
            }
        }
        // Shutdown: nothing more is received; running jobs get the grace period.
        let in_flight = tasks.len();
        if in_flight > 0 {
            tracing::info!(jobs = in_flight, grace = ?config.grace, "waiting for running jobs");
        }
        let drained = tokio::time::timeout(config.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        let mut stopped = Stopped::default();
        if drained.is_err() {
            // Receipts first: an aborted task forgets its own entry.
            let left: Vec<String> = running
                .lock()
                .map(|mut m| m.drain().map(|(_, receipt)| receipt).collect())
                .unwrap_or_default();
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            for receipt in &left {
                if let Err(e) = self.queue.change_visibility(receipt, Duration::ZERO).await {
                    tracing::warn!(error = %e, "could not return a job to the queue; it returns after its visibility timeout");
                }
            }
            stopped.returned = left.len();
            tracing::warn!(
                jobs = left.len(),
                "grace period over: running jobs cut off and returned to the queue"
            );
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;

    #[test]
    fn jobs_serialize_with_a_type_tag_and_camel_case_fields() {
        let job = Job::WebhookDelivery {
            account_id: AccountId::from_trusted("acct_1"),
            webhook_id: WebhookId::from_trusted("wh_1"),
            delivery_id: DeliveryId::from_trusted("dlv_1"),
        };
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["type"], "WebhookDelivery");
        assert_eq!(v["deliveryId"], "dlv_1");
        let back: Job = serde_json::from_value(v).unwrap();
        assert_eq!(back, job);
    }
}
