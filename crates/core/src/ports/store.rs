//! The persistence ports, one per aggregate. Services take the narrowest one they need;
//! [`Store`] bundles them so a backend is still passed around as one `Arc<dyn Store>`.
//!
//! Every read and write is scoped by account: an id of another account is `NotFound`, never
//! `Conflict` or a leak. Each method's doc states the error every adapter MUST return;
//! `tests/contracts` holds both backends to them. Adapters never read the clock: every time
//! they store comes in as an argument.

use super::{Inserted, LlmUsage, StoredResponse, UsageBuckets, UsageCounts};
use crate::domain::*;
use crate::error::StoreError;
use crate::ids::*;
use async_trait::async_trait;

pub type StoreResult<T> = Result<T, StoreError>;

/// Accounts and their API keys.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
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
    async fn delete_key(&self, account: &AccountId, id: &KeyId, at: Timestamp) -> StoreResult<()>;
    async fn touch_key(&self, id: &KeyId, at: Timestamp) -> StoreResult<()>;
    /// Records an approved CLI login. `Conflict` if the session already has an approval that
    /// has not expired at `login.approved_at` (an expired one is replaced).
    async fn insert_cli_login(&self, login: &CliLogin) -> StoreResult<()>;
    /// Removes and returns the session's approval, atomically (two polls never both get it).
    /// `NotFound` if there is none, or it expired before `now` (it is removed either way).
    async fn take_cli_login(&self, session: &CliSession, now: Timestamp) -> StoreResult<CliLogin>;
}

/// Instances (the control plane's record; the runtime owns the process).
#[async_trait]
pub trait InstanceStore: Send + Sync + 'static {
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
    /// Moves the live, `active` instance `from` (as read) to `to`'s account under `to`'s
    /// name and fields (same id), when that account has fewer than `capacity` instances in a
    /// capacity state — atomically, so one instance moves once (a warm pool's claim).
    /// `NotFound` if `from` is no longer live and active in its account (claimed already);
    /// `Conflict` if `to`'s name is taken; `CapacityExceeded` when full.
    async fn transfer_instance(
        &self,
        from: &Instance,
        to: &Instance,
        capacity: u32,
    ) -> StoreResult<()>;
    /// Instances in a capacity state.
    async fn count_capacity(&self, account: &AccountId) -> StoreResult<u32>;
    /// By id in any account — only for callers that authenticated the instance itself
    /// (instance tokens, runtime events). `NotFound` if absent.
    async fn find_instance(&self, id: &InstanceId) -> StoreResult<Instance>;
}

/// Secret metadata and grants (values live in the [`Vault`](super::Vault)).
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
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
    /// Idempotent (a repeat keeps the first grant's time); `NotFound` if the secret is absent.
    async fn add_grant(
        &self,
        account: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// `NotFound` if the secret or the grant is absent.
    async fn remove_grant(
        &self,
        account: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
    ) -> StoreResult<()>;
}

/// Automations and their runs.
#[async_trait]
pub trait AutomationStore: Send + Sync + 'static {
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
}

/// Webhooks and their deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
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
}

/// Chats and their finished messages.
#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
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
    /// The messages of the turns whose body (`MessageId::turn_body`) sorts after `after`, in
    /// conversation order: what a turn's context needs once older turns are summarised.
    async fn chat_messages_after(
        &self,
        account: &AccountId,
        chat: &ChatId,
        after: &str,
    ) -> StoreResult<Vec<ChatMessage>>;
    /// Removes these messages of the chat (a regenerated or edited answer and what followed
    /// it); ids that are not there are skipped.
    async fn delete_chat_messages(
        &self,
        account: &AccountId,
        chat: &ChatId,
        ids: &[MessageId],
    ) -> StoreResult<()>;
}

/// Chat turns, the event log clients re-attach to, and the lease that lets one worker run
/// a chat's turns at a time.
#[async_trait]
pub trait TurnStore: Send + Sync + 'static {
    /// Idempotent on the turn id: a repeat returns `Existing`.
    async fn insert_turn(&self, turn: &Turn) -> StoreResult<Inserted<Turn>>;
    async fn get_turn(&self, account: &AccountId, id: &TurnId) -> StoreResult<Turn>;
    async fn update_turn(&self, turn: &Turn) -> StoreResult<()>;
    /// The oldest turn of the chat that is queued or running.
    async fn next_open_turn(&self, account: &AccountId, chat: &ChatId)
        -> StoreResult<Option<Turn>>;
    /// The newest turn of the chat.
    async fn last_turn(&self, account: &AccountId, chat: &ChatId) -> StoreResult<Option<Turn>>;
    /// Appends `data` to the chat's log, in order, as one write (all or none); returns the
    /// last event's sequence number (1, 2, ...: the first is `last - data.len() + 1`). A turn
    /// writes what is ready at once in one call, so an instant reply costs one write, not
    /// one per chunk. Empty `data` writes nothing and returns the last number so far.
    async fn append_chat_events(
        &self,
        account: &AccountId,
        chat: &ChatId,
        turn_id: &TurnId,
        data: &[Chunk],
    ) -> StoreResult<u64>;
    /// Appends one event; returns its sequence number.
    async fn append_chat_event(
        &self,
        account: &AccountId,
        chat: &ChatId,
        turn_id: &TurnId,
        data: &Chunk,
    ) -> StoreResult<u64> {
        self.append_chat_events(account, chat, turn_id, std::slice::from_ref(data))
            .await
    }
    /// Appends `turn`'s last event (its finish or error) and writes `turn` — its final
    /// status, error and finish time — in one transaction: whoever sees the end (a stream, a
    /// client about to regenerate) also finds the turn finished. Returns the event's number.
    async fn end_turn(&self, turn: &Turn, data: &Chunk) -> StoreResult<u64>;
    /// Events with `seq > after`, in order, at most `limit`.
    async fn chat_events(
        &self,
        account: &AccountId,
        chat: &ChatId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<ChatEvent>>;
    /// Events with `seq < before`, newest first, at most `limit`: the log read backwards
    /// from its end (a turn's own events and the latest summary are near it).
    async fn chat_events_before(
        &self,
        account: &AccountId,
        chat: &ChatId,
        before: u64,
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
}

/// Usage counters for the billing period and metered model calls.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    async fn usage_counts(&self, account: &AccountId, since: Timestamp)
        -> StoreResult<UsageCounts>;
    /// Records one metered model call of an instance.
    async fn record_llm_usage(&self, usage: &LlmUsage) -> StoreResult<()>;
    /// Per instance of the account with usage since `buckets.since`: its weighted tokens
    /// (`input + 5 × output`) per bucket (`buckets.count` of them, see [`UsageBuckets::index`]).
    async fn llm_usage_by_instance(
        &self,
        account: &AccountId,
        buckets: UsageBuckets,
    ) -> StoreResult<Vec<(InstanceId, Vec<u64>)>>;
    /// One instance's weighted tokens since `since`, and its oldest record in that window.
    async fn llm_usage_of_instance(
        &self,
        instance: &InstanceId,
        since: Timestamp,
    ) -> StoreResult<(u64, Option<Timestamp>)>;
}

/// A stored `Idempotency-Key` claim.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// What the request was (method, path, body hash): a reuse for another request is refused.
    pub fingerprint: String,
    pub created_at: Timestamp,
    /// The answer, once the request finished; `None` while it runs.
    pub response: Option<StoredResponse>,
}

/// The atomic part of an idempotency claim; what a claim means is decided in
/// [`crate::idempotency`].
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key was free (or only held by a record `replace` displaced): the caller runs.
    Claimed,
    /// The key has this record.
    Held(IdempotencyRecord),
}

/// `Idempotency-Key` records, per account. The policy (expiry, abandoned claims, replay) is
/// `crate::idempotency`'s; adapters only store and swap records atomically.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Stores `record` for `key` unless the key already has a record, atomically;
    /// returns the existing record otherwise.
    async fn idempotency_claim(
        &self,
        account: &AccountId,
        key: &str,
        record: &IdempotencyRecord,
    ) -> StoreResult<Claim>;
    /// Replaces the key's record with `record` only if the stored one was created at
    /// `expected` (compare-and-swap); returns whether it did. Absent key: false.
    async fn idempotency_replace(
        &self,
        account: &AccountId,
        key: &str,
        expected: Timestamp,
        record: &IdempotencyRecord,
    ) -> StoreResult<bool>;
    /// Records the response of the claim. Records created before `purge_before` (of any key)
    /// may be deleted on the way.
    async fn idempotency_complete(
        &self,
        account: &AccountId,
        key: &str,
        response: &StoredResponse,
        purge_before: Timestamp,
    ) -> StoreResult<()>;
    /// Forgets a claim that has no response yet (its request failed unexpectedly), so a
    /// retry can run. Ok if absent or completed.
    async fn idempotency_release(&self, account: &AccountId, key: &str) -> StoreResult<()>;
}

/// Experiments: the record, its items, the lanes' claims on pairs, and one result per
/// (experiment, variant, item). See `domain::experiment` for how lanes work through pairs.
#[async_trait]
pub trait ExperimentStore: Send + Sync + 'static {
    /// Stores the experiment with its items (index order); `Conflict` if the id exists.
    async fn insert_experiment(&self, e: &Experiment, items: &[DatasetItem]) -> StoreResult<()>;
    async fn get_experiment(
        &self,
        account: &AccountId,
        id: &ExperimentId,
    ) -> StoreResult<Experiment>;
    /// Newest first; the cursor is opaque.
    async fn list_experiments(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<Experiment>>;
    /// Saves status, error and times; `NotFound` if it was deleted, `Conflict` if the stored
    /// one has ended (succeeded, failed, cancelled): an ended experiment never changes again,
    /// so a lane's late write cannot undo a cancel.
    async fn update_experiment(&self, e: &Experiment) -> StoreResult<()>;
    /// Deletes it with its items, claims and results; `NotFound` if absent.
    async fn delete_experiment(&self, account: &AccountId, id: &ExperimentId) -> StoreResult<()>;
    async fn experiment_item(
        &self,
        account: &AccountId,
        id: &ExperimentId,
        index: u32,
    ) -> StoreResult<DatasetItem>;
    /// The pair lane `lane` is to run: the one it claimed before if that has no result yet
    /// (the lane crashed mid-pair), else the next unclaimed pair, claimed for it atomically
    /// (no two lanes ever get the same new pair). `None` once every pair is claimed.
    async fn claim_pair(
        &self,
        account: &AccountId,
        id: &ExperimentId,
        lane: u32,
    ) -> StoreResult<Option<u32>>;
    /// Records a (variant, item) result once: a second insert for the same pair returns the
    /// first as `Existing`.
    async fn insert_result(&self, r: &ExperimentResult) -> StoreResult<Inserted<ExperimentResult>>;
    /// Results ordered by (item index, instance id), optionally one variant's; the cursor is
    /// opaque.
    async fn list_results(
        &self,
        account: &AccountId,
        id: &ExperimentId,
        instance: Option<&InstanceId>,
        page: &PageRequest,
    ) -> StoreResult<Page<ExperimentResult>>;
    /// Every result of the experiment (the leaderboard and progress are computed from them).
    async fn all_results(
        &self,
        account: &AccountId,
        id: &ExperimentId,
    ) -> StoreResult<Vec<ExperimentResult>>;
}

/// Everything a backend persists, as one object.
pub trait Store:
    AccountStore
    + InstanceStore
    + SecretStore
    + AutomationStore
    + WebhookStore
    + ChatStore
    + TurnStore
    + UsageStore
    + IdempotencyStore
    + ExperimentStore
{
}

impl<T> Store for T where
    T: AccountStore
        + InstanceStore
        + SecretStore
        + AutomationStore
        + WebhookStore
        + ChatStore
        + TurnStore
        + UsageStore
        + IdempotencyStore
        + ExperimentStore
{
}

/// Queries across every account that only a single-node store answers cheaply (a SQL index);
/// the embedded cron loop and the embedded restart recovery use them. AWS needs none: EventBridge
/// Scheduler fires automations and ECS reports its own tasks.
#[async_trait]
pub trait SweepStore: Send + Sync + 'static {
    /// Enabled automations of every account whose `next_run_at <= now`, earliest first.
    async fn due_automations(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Automation>>;
    /// The earliest `next_run_at` of any enabled automation.
    async fn next_due_at(&self) -> StoreResult<Option<Timestamp>>;
    /// Live instances of every account in one of `states` (recovery after a restart).
    async fn instances_in_states(&self, states: &[InstanceStatus]) -> StoreResult<Vec<Instance>>;
}
