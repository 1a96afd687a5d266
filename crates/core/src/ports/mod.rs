//! Ports: the traits every backend implements (SQLite/local and AWS side by side).
//!
//! Each method's doc states the error every adapter MUST return, so services behave the same
//! whichever column of DESIGN.md they run in. Contract suites in `tests/contracts` hold every
//! adapter to these docs. Persistence is split per aggregate in [`store`].

mod store;
pub mod workspace_copy;
pub use store::*;

use crate::domain::*;
use crate::ids::*;
use crate::job::Job;
use async_trait::async_trait;
use secrecy::SecretString;
use std::time::Duration;

/// Result of an insert that is idempotent on a natural key.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted<T> {
    Created(T),
    /// The natural key already existed; this is the earlier record.
    Existing(T),
}

impl<T> Inserted<T> {
    pub fn into_inner(self) -> T {
        match self {
            Inserted::Created(t) | Inserted::Existing(t) => t,
        }
    }
}

/// A response kept for an `Idempotency-Key`, replayed to repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One metered model call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LlmUsage {
    pub account_id: AccountId,
    pub instance_id: InstanceId,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub at: Timestamp,
}

impl LlmUsage {
    /// What counts against the quota: output tokens weigh five times input tokens.
    pub fn weighted(&self) -> u64 {
        self.input_tokens + 5 * self.output_tokens
    }
}

/// How a usage window is cut for a chart: `count` consecutive buckets of `width`, the first
/// starting at `since` (the last one also takes whatever is later).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageBuckets {
    pub since: Timestamp,
    pub width: chrono::Duration,
    pub count: usize,
}

impl UsageBuckets {
    /// The bucket a record at `at` (not before `since`) falls in, by whole milliseconds (the
    /// precision timestamps are stored with), so every adapter agrees.
    pub fn index(&self, at: Timestamp) -> usize {
        let ms = (at.timestamp_millis() - self.since.timestamp_millis()).max(0);
        let width = self.width.num_milliseconds().max(1);
        usize::try_from(ms / width)
            .unwrap_or(usize::MAX)
            .min(self.count.saturating_sub(1))
    }
}

/// Counters for the billing period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageCounts {
    pub automation_runs: u64,
    pub webhook_deliveries: u64,
    pub chat_turns: u64,
    /// Experiment results: one per (variant, item) that ran, scored or not.
    pub experiment_items: u64,
}

/// A job handed out by `JobQueue::receive`, invisible to others until its visibility
/// timeout expires or it is acknowledged.
#[derive(Debug, Clone)]
pub struct ReceivedJob {
    pub message_id: String,
    /// Names this delivery; only the latest receipt of a message can ack it.
    pub receipt: String,
    pub job: Job,
    /// 1 on the first delivery.
    pub receive_count: u32,
}

/// A message moved aside after too many deliveries (`receive_count` is at least the
/// queue's maximum; SQS also counts the receive that moved it).
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
}

/// At-least-once job queue with SQS standard-queue semantics.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Enqueues; the job becomes receivable after `delay`. Returns the message id.
    async fn send(&self, job: &Job, delay: Duration) -> anyhow::Result<String>;
    /// Up to `max` visible jobs, each hidden for `visibility` and its receive count raised.
    /// A message already received `max_receive_count` times is moved to the dead-letter
    /// queue instead of being returned; so is a body that does not parse as a `Job`.
    async fn receive(&self, max: u32, visibility: Duration) -> anyhow::Result<Vec<ReceivedJob>>;
    /// Deletes the message if `receipt` is its latest; a stale receipt is ignored (Ok).
    async fn ack(&self, receipt: &str) -> anyhow::Result<()>;
    /// Hides the message for `timeout` from now (0 = visible at once). Stale receipt: Ok.
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> anyhow::Result<()>;
    /// Messages currently in the dead-letter queue (for inspection and redrive tooling).
    async fn dead_letters(&self, max: u32) -> anyhow::Result<Vec<DeadLetter>>;
    /// Waits up to `max` for a message to be sent, so an idle worker reacts at once. A queue
    /// that long-polls inside `receive` (SQS) keeps this default.
    async fn wait_for_message(&self, max: Duration) {
        tokio::time::sleep(max).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("secret value not found")]
    NotFound,
    /// The stored value cannot be decrypted with the configured key.
    #[error("{0}")]
    Decrypt(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Encrypted secret values. Values never appear in logs or errors.
#[async_trait]
pub trait Vault: Send + Sync + 'static {
    /// Creates or replaces the value.
    async fn put(
        &self,
        account: &AccountId,
        id: &SecretId,
        value: &SecretString,
    ) -> Result<(), VaultError>;
    /// `NotFound` if absent; `Decrypt` with a clear message if the key does not fit.
    async fn get(&self, account: &AccountId, id: &SecretId) -> Result<SecretString, VaultError>;
    /// Idempotent.
    async fn delete(&self, account: &AccountId, id: &SecretId) -> Result<(), VaultError>;
}

/// Keeps automation schedules firing: the embedded cron loop, or EventBridge Scheduler.
#[async_trait]
pub trait Scheduler: Send + Sync + 'static {
    /// Called after an automation is created or changed (enabled or not).
    async fn upsert(&self, automation: &Automation) -> anyhow::Result<()>;
    /// Called after an automation is deleted. Idempotent.
    async fn remove(&self, account: &AccountId, id: &AutomationId) -> anyhow::Result<()>;
}

/// What the control plane hands a runtime to start an instance.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub instance: Instance,
    /// Per-instance credential: the instance checks it on every call it serves and presents
    /// it to the control plane (gateway, secrets).
    pub token: SecretString,
    /// Where the instance reaches the control plane.
    pub control_url: String,
    /// Environment for the instance: its `env` plus granted and global secrets.
    pub env: Vec<(String, SecretString)>,
    /// Which launch attempt of this start (0 first). A runtime makes one launch idempotent
    /// (a redelivered start of the same launch returns the same task) and each new launch
    /// distinct (ECS: the `clientToken`).
    pub launch: u32,
}

/// The runtime's view of an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeStatus {
    Running {
        endpoint: String,
    },
    /// Accepted but not reachable yet (a Fargate task being placed and pulled).
    Starting,
    /// Not running. `reason`: why the last launch stopped, when the runtime knows (an ECS
    /// task's `stoppedReason` and `stopCode`, a process's exit and log tail).
    Stopped {
        reason: Option<String>,
    },
}

impl RuntimeStatus {
    /// Stopped, reason unknown.
    pub const STOPPED: RuntimeStatus = RuntimeStatus::Stopped { reason: None };
}

/// Something the runtime noticed on its own (not in answer to a call).
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// The instance stopped without being asked to (crash, OOM, task stopped).
    Exited { id: InstanceId, reason: String },
}

/// Runs instances: local child processes or ECS Fargate tasks. Every method is idempotent
/// per instance id, so a redelivered job never starts a second copy.
#[async_trait]
pub trait InstanceRuntime: Send + Sync + 'static {
    /// Starts the instance (or returns the running one) and waits until it is healthy.
    async fn start(&self, spec: &InstanceSpec) -> anyhow::Result<RuntimeStatus>;
    async fn status(&self, id: &InstanceId) -> anyhow::Result<RuntimeStatus>;
    /// Graceful stop, then forced. Ok if not running.
    async fn stop(&self, id: &InstanceId) -> anyhow::Result<()>;
    /// Copies `from`'s workspace to `to` (before `to` starts).
    async fn copy_workspace(&self, from: &InstanceId, to: &InstanceId) -> anyhow::Result<()>;
    /// Stops the instance and removes its workspace. Ok if absent.
    async fn destroy(&self, id: &InstanceId) -> anyhow::Result<()>;
    /// Whether this runtime can run instances of `kind`; why not, if it cannot (say, OpenClaw
    /// is not installed).
    fn supports(&self, kind: crate::domain::InstanceKind) -> Result<(), String> {
        let _ = kind;
        Ok(())
    }
    /// The directory under which `checkpointRepo` may name a local path (an operator
    /// setting of runtimes that run on the server's own filesystem); `None` = remote only.
    fn checkpoint_local_prefix(&self) -> Option<&std::path::Path> {
        None
    }
}

/// Time, injectable so schedules can be tested with a fake clock.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        ts(chrono::Utc::now())
    }
}

/// A clock tests move by hand.
pub struct ManualClock(std::sync::Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
