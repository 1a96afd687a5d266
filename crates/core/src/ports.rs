//! Ports: the traits every backend implements (SQLite/local and AWS side by side).
//!
//! Each method's doc states the error every adapter MUST return, so services behave the same
//! whichever column of DESIGN.md they run in. Contract suites in `tests/contracts` hold every
//! adapter to these docs.

use crate::domain::*;
use crate::error::StoreError;
use crate::ids::*;
use crate::jobs::Job;
use async_trait::async_trait;
use secrecy::SecretString;
use std::time::Duration;

pub type StoreResult<T> = Result<T, StoreError>;

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

/// State of an `Idempotency-Key` for one account.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyBegin {
    /// First use: the caller runs the request and then completes or releases the key.
    Started,
    /// Another request with this key is still running.
    InProgress,
    /// Already answered: replay this response (when `fingerprint` matches).
    Completed(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
}

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

/// Counters for the billing period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageCounts {
    pub automation_runs: u64,
    pub webhook_deliveries: u64,
    pub chat_turns: u64,
}

/// Persistent state. Every read and write is scoped by account: an id of another account is
/// `NotFound`, never `Conflict` or a leak.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- accounts and keys ---
    async fn insert_account(&self, account: &Account) -> StoreResult<()>;
    /// `NotFound` if absent.
    async fn get_account(&self, id: &AccountId) -> StoreResult<Account>;
    /// The oldest account (the default account of an embedded install), if any.
    async fn first_account(&self) -> StoreResult<Option<Account>>;
    /// `Conflict` if a key with the same hash exists.
    async fn insert_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// The live key with this hash; `NotFound` if it never existed or was revoked.
    async fn key_by_hash(&self, hash: &str) -> StoreResult<ApiKey>;
    async fn list_keys(&self, account: &AccountId, page: &PageRequest)
        -> StoreResult<Page<ApiKey>>;
    /// Revokes at once; `NotFound` if absent or already revoked.
    async fn delete_key(&self, account: &AccountId, id: &KeyId) -> StoreResult<()>;
    async fn touch_key(&self, id: &KeyId, at: Timestamp) -> StoreResult<()>;

    // --- instances ---
    /// Inserts when the account has fewer than `capacity` instances in a capacity state
    /// (provisioning, active, restarting) — checked atomically with the insert.
    /// `Conflict` for a live instance with the same name (checked first); `CapacityExceeded`
    /// when full.
    async fn insert_instance(&self, instance: &Instance, capacity: u32) -> StoreResult<()>;
    /// By id, deleted ones included; `NotFound` otherwise.
    async fn get_instance(&self, account: &AccountId, id: &InstanceId) -> StoreResult<Instance>;
    /// The live (not deleted) instance with this name; `NotFound` otherwise.
    async fn get_instance_by_name(
        &self,
        account: &AccountId,
        name: &InstanceName,
    ) -> StoreResult<Instance>;
    async fn list_instances(
        &self,
        account: &AccountId,
        page: &PageRequest,
        include_deleted: bool,
    ) -> StoreResult<Page<Instance>>;
    /// Replaces the mutable fields. `Conflict` if a rename collides with a live instance,
    /// `NotFound` if absent.
    async fn update_instance(&self, instance: &Instance) -> StoreResult<()>;
    /// Instances in a capacity state.
    async fn count_capacity(&self, account: &AccountId) -> StoreResult<u32>;
    /// By id in any account — only for callers that authenticated the instance itself
    /// (instance tokens, runtime events). `NotFound` if absent.
    async fn find_instance(&self, id: &InstanceId) -> StoreResult<Instance>;
    /// Live instances of every account in one of `states` (recovery after a restart).
    async fn instances_in_states(&self, states: &[InstanceStatus]) -> StoreResult<Vec<Instance>>;

    // --- secrets (metadata only; values live in the Vault) ---
    /// `Conflict` if the name exists in the account.
    async fn insert_secret(&self, secret: &Secret) -> StoreResult<()>;
    async fn get_secret(&self, account: &AccountId, id: &SecretId) -> StoreResult<Secret>;
    async fn list_secrets(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<Secret>>;
    /// Updates description, isGlobal and updatedAt; `NotFound` if absent.
    async fn update_secret(&self, secret: &Secret) -> StoreResult<()>;
    /// Deletes the secret and its grants; `NotFound` if absent.
    async fn delete_secret(&self, account: &AccountId, id: &SecretId) -> StoreResult<()>;
    /// `NotFound` if no secret has this name in the account.
    async fn get_secret_by_name(
        &self,
        account: &AccountId,
        name: &SecretName,
    ) -> StoreResult<Secret>;
    /// The account's global secrets plus those granted to `instance`.
    async fn secrets_for_instance(
        &self,
        account: &AccountId,
        instance: &InstanceId,
    ) -> StoreResult<Vec<Secret>>;
    /// Idempotent; `NotFound` if the secret is absent.
    async fn add_grant(
        &self,
        account: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
    ) -> StoreResult<()>;
    /// `NotFound` if the secret or the grant is absent.
    async fn remove_grant(
        &self,
        account: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
    ) -> StoreResult<()>;

    // --- automations and runs ---
    async fn insert_automation(&self, automation: &Automation) -> StoreResult<()>;
    async fn get_automation(
        &self,
        account: &AccountId,
        id: &AutomationId,
    ) -> StoreResult<Automation>;
    async fn list_automations(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<Automation>>;
    /// `NotFound` if absent.
    async fn update_automation(&self, automation: &Automation) -> StoreResult<()>;
    /// Deletes the automation and its runs; `NotFound` if absent.
    async fn delete_automation(&self, account: &AccountId, id: &AutomationId) -> StoreResult<()>;
    /// Enabled automations of every account whose `next_run_at <= now`, earliest first.
    async fn due_automations(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Automation>>;
    /// The earliest `next_run_at` of any enabled automation.
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>>;
    /// Sets `next_run_at` only if it still equals `expected` (so two schedulers never both
    /// advance the same slot). Returns whether it was updated.
    async fn advance_automation(
        &self,
        id: &AutomationId,
        expected: Option<Timestamp>,
        next: Option<Timestamp>,
    ) -> StoreResult<bool>;
    /// Scheduled runs are unique per (automation, scheduledFor): a second insert returns
    /// `Existing` with the first run. Manual runs always insert.
    async fn insert_run(&self, run: &AutomationRun) -> StoreResult<Inserted<AutomationRun>>;
    async fn get_run(&self, account: &AccountId, id: &RunId) -> StoreResult<AutomationRun>;
    async fn list_runs(
        &self,
        account: &AccountId,
        automation: &AutomationId,
        page: &PageRequest,
    ) -> StoreResult<Page<AutomationRun>>;
    async fn update_run(&self, run: &AutomationRun) -> StoreResult<()>;

    // --- webhooks and deliveries ---
    /// `Conflict` if the token exists (never in practice: tokens are random).
    async fn insert_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    async fn get_webhook(&self, account: &AccountId, id: &WebhookId) -> StoreResult<Webhook>;
    /// Any account; `NotFound` for unknown or rotated tokens.
    async fn webhook_by_token(&self, token: &str) -> StoreResult<Webhook>;
    async fn list_webhooks(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<Webhook>>;
    async fn update_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    /// Deletes the webhook and its deliveries; `NotFound` if absent.
    async fn delete_webhook(&self, account: &AccountId, id: &WebhookId) -> StoreResult<()>;
    /// Unique per (webhook, dedupKey) when a key is given: a repeat returns `Existing`.
    async fn insert_delivery(&self, delivery: &Delivery) -> StoreResult<Inserted<Delivery>>;
    async fn get_delivery(&self, account: &AccountId, id: &DeliveryId) -> StoreResult<Delivery>;
    async fn list_deliveries(
        &self,
        account: &AccountId,
        webhook: &WebhookId,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>>;
    async fn update_delivery(&self, delivery: &Delivery) -> StoreResult<()>;

    // --- idempotency keys (24 h) ---
    /// Claims `key` for this account with the request's `fingerprint`, or reports its state.
    /// Records older than 24 hours count as absent.
    async fn idempotency_begin(
        &self,
        account: &AccountId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<IdempotencyBegin>;
    async fn idempotency_complete(
        &self,
        account: &AccountId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()>;
    /// Forgets a claim whose request failed unexpectedly, so a retry can run.
    async fn idempotency_release(&self, account: &AccountId, key: &str) -> StoreResult<()>;

    // --- chats ---
    /// `Conflict` if the account already has a chat with this id.
    async fn insert_chat(&self, chat: &Chat) -> StoreResult<()>;
    async fn get_chat(&self, account: &AccountId, id: &ChatId) -> StoreResult<Chat>;
    /// Most recently created first; the cursor is opaque.
    async fn list_chats(&self, account: &AccountId, page: &PageRequest) -> StoreResult<Page<Chat>>;
    async fn update_chat(&self, chat: &Chat) -> StoreResult<()>;
    /// Deletes the chat with its messages, turns and events; `NotFound` if absent.
    async fn delete_chat(&self, account: &AccountId, id: &ChatId) -> StoreResult<()>;
    async fn insert_chat_message(&self, message: &ChatMessage) -> StoreResult<()>;
    /// In conversation order: by turn (message ids are `msg_u<turn>` / `msg_a<turn>`), the
    /// user's message before the assistant's.
    async fn chat_messages(
        &self,
        account: &AccountId,
        chat: &ChatId,
    ) -> StoreResult<Vec<ChatMessage>>;
    /// Idempotent on the turn id: a repeat returns `Existing`.
    async fn insert_turn(&self, turn: &Turn) -> StoreResult<Inserted<Turn>>;
    async fn get_turn(&self, account: &AccountId, id: &str) -> StoreResult<Turn>;
    async fn update_turn(&self, turn: &Turn) -> StoreResult<()>;
    /// The oldest turn of the chat that is queued or running.
    async fn next_open_turn(&self, account: &AccountId, chat: &ChatId)
        -> StoreResult<Option<Turn>>;
    /// The newest turn of the chat.
    async fn last_turn(&self, account: &AccountId, chat: &ChatId) -> StoreResult<Option<Turn>>;
    /// Appends to the chat's log; returns the event's sequence number (1, 2, ...).
    async fn append_chat_event(
        &self,
        account: &AccountId,
        chat: &ChatId,
        turn_id: &str,
        data: &serde_json::Value,
    ) -> StoreResult<u64>;
    /// Events with `seq > after`, in order, at most `limit`.
    async fn chat_events(
        &self,
        account: &AccountId,
        chat: &ChatId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<ChatEvent>>;
    /// The highest sequence number so far (0 for none).
    async fn last_chat_seq(&self, account: &AccountId, chat: &ChatId) -> StoreResult<u64>;
    /// Takes (or renews) the right to run the chat's turns until `until`; false if another
    /// owner holds an unexpired lease.
    async fn claim_chat(
        &self,
        account: &AccountId,
        chat: &ChatId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<bool>;
    async fn release_chat(
        &self,
        account: &AccountId,
        chat: &ChatId,
        owner: &str,
    ) -> StoreResult<()>;

    // --- usage ---
    async fn usage_counts(&self, account: &AccountId, since: Timestamp)
        -> StoreResult<UsageCounts>;
    /// Records one metered model call of an instance.
    async fn record_llm_usage(&self, usage: &LlmUsage) -> StoreResult<()>;
    /// Per instance of the account: weighted tokens (`input + 5 × output`) since `since`.
    async fn llm_usage_by_instance(
        &self,
        account: &AccountId,
        since: Timestamp,
    ) -> StoreResult<Vec<(InstanceId, u64)>>;
    /// One instance's weighted tokens since `since`, and its oldest record in that window.
    async fn llm_usage_of_instance(
        &self,
        instance: &InstanceId,
        since: Timestamp,
    ) -> StoreResult<(u64, Option<Timestamp>)>;
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
}

/// The runtime's view of an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeStatus {
    Running {
        endpoint: String,
    },
    /// Accepted but not reachable yet (a Fargate task being placed and pulled).
    Starting,
    Stopped,
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
