//! Chats with the Operator agent: posting a message (a queued turn), running a chat's turns
//! one at a time (a lease per chat), automation fires and webhook deliveries as turns in
//! their own threads, and the in-process bus that wakes streams when events are appended.

use super::{Caller, Platform};
use crate::agent;
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result, StoreError};
use crate::ids::{AccountId, ChatId, KeyId, TurnId};
use crate::jobs::{Job, JobError, JobHandler};
use crate::ports::Inserted;
use async_trait::async_trait;
use std::time::Duration;

/// How long a worker holds a chat without renewing.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);

/// Wakes stream followers when a chat's log grows (in-process; Lambda polls instead).
pub struct ChatBus {
    tx: tokio::sync::broadcast::Sender<(AccountId, ChatId)>,
}

impl Default for ChatBus {
    fn default() -> Self {
        Self {
            tx: tokio::sync::broadcast::channel(1024).0,
        }
    }
}

impl ChatBus {
    pub fn notify(&self, account: &AccountId, chat: &ChatId) {
        let _ = self.tx.send((account.clone(), chat.clone()));
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<(AccountId, ChatId)> {
        self.tx.subscribe()
    }
}

pub fn llm_unavailable_message() -> String {
    "no LLM provider is configured: set OPERATOR_LLM=openai|anthropic, OPERATOR_LLM_MODEL, \
     OPERATOR_LLM_BASE_URL (optional) and OPENAI_API_KEY or ANTHROPIC_API_KEY"
        .to_owned()
}

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        crate::ids::ulid_body(u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0))
    )
}

/// A posted message: where its turn's events will appear.
pub struct Posted {
    pub chat: Chat,
    pub turn: Turn,
    /// Events of this turn have sequence numbers above this.
    pub after_seq: u64,
}

impl Platform {
    fn require_llm(&self) -> Result<()> {
        if self.llm.is_none() {
            return Err(Error::Unavailable {
                code: "llm_unavailable",
                message: llm_unavailable_message(),
            });
        }
        Ok(())
    }

    async fn ensure_chat(
        &self,
        account: &AccountId,
        id: &ChatId,
        kind: ChatKind,
        title: &str,
    ) -> Result<Chat> {
        match self.store.get_chat(account, id).await {
            Ok(c) => return Ok(c),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let now = self.clock.now();
        let chat = Chat {
            id: id.clone(),
            account_id: account.clone(),
            title: title.chars().take(80).collect(),
            kind,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_chat(&chat).await {
            Ok(()) => Ok(chat),
            // Created concurrently: use that one.
            Err(StoreError::Conflict(_)) => Ok(self.store.get_chat(account, id).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds the user's message to the chat (created if new) and queues a turn for it.
    #[tracing::instrument(skip(self, caller, text), fields(account = %caller.account.id))]
    pub async fn post_chat_message(
        &self,
        caller: &Caller,
        chat_id: Option<&str>,
        text: &str,
    ) -> Result<Posted> {
        self.require_llm()?;
        if text.trim().is_empty() {
            return Err(Error::invalid(
                "messages",
                "the last message must be a user message with text",
            ));
        }
        if text.chars().count() > 100_000 {
            return Err(Error::invalid(
                "messages",
                "a message may be at most 100000 characters",
            ));
        }
        let id = match chat_id {
            Some(id) => parse_chat_id(id)?,
            None => ChatId::generate(),
        };
        let account = &caller.account.id;
        let chat = self
            .ensure_chat(account, &id, ChatKind::Chat, text.trim())
            .await?;
        let after_seq = self.store.last_chat_seq(account, &id).await?;
        let turn = self.queue_turn(&chat, text, TurnSource::Chat, None).await?;
        self.enqueue(Job::ChatTurn {
            account_id: account.clone(),
            chat_id: id,
        })
        .await?;
        Ok(Posted {
            chat,
            turn,
            after_seq,
        })
    }

    /// Stores the user message and the queued turn (idempotent when `turn_id` is given).
    async fn queue_turn(
        &self,
        chat: &Chat,
        text: &str,
        source: TurnSource,
        turn_id: Option<TurnId>,
    ) -> Result<Turn> {
        let now = self.clock.now();
        let turn_id = turn_id.unwrap_or_else(TurnId::generate);
        let user_message_id = turn_id.user_message().to_string();
        self.store
            .insert_chat_message(&ChatMessage {
                id: user_message_id.clone(),
                chat_id: chat.id.clone(),
                account_id: chat.account_id.clone(),
                role: "user".into(),
                parts: serde_json::json!([{"type": "text", "text": text}]),
                created_at: now,
            })
            .await?;
        let turn = Turn {
            id: turn_id.to_string(),
            chat_id: chat.id.clone(),
            account_id: chat.account_id.clone(),
            status: TurnStatus::Queued,
            source,
            user_message_id,
            assistant_message_id: turn_id.assistant_message().to_string(),
            error: None,
            created_at: now,
            started_at: None,
            finished_at: None,
        };
        Ok(self.store.insert_turn(&turn).await?.into_inner())
    }

    pub async fn chat_history(&self, caller: &Caller, page: &PageRequest) -> Result<Page<Chat>> {
        Ok(self.store.list_chats(&caller.account.id, page).await?)
    }

    pub async fn get_chat(&self, caller: &Caller, id: &str) -> Result<(Chat, Vec<ChatMessage>)> {
        let chat_id = parse_chat_id(id).map_err(|_| Error::not_found("chat", id))?;
        let chat = self
            .store
            .get_chat(&caller.account.id, &chat_id)
            .await
            .or_not_found("chat", id)?;
        let messages = self
            .store
            .chat_messages(&caller.account.id, &chat_id)
            .await?;
        Ok((chat, messages))
    }

    pub async fn delete_chat(&self, caller: &Caller, id: &str) -> Result<()> {
        let chat_id = parse_chat_id(id).map_err(|_| Error::not_found("chat", id))?;
        self.store
            .delete_chat(&caller.account.id, &chat_id)
            .await
            .or_not_found("chat", id)
    }

    /// The turn a re-attaching client follows: the running one, else the last.
    pub async fn current_turn(&self, caller: &Caller, id: &str) -> Result<(Chat, Option<Turn>)> {
        let chat_id = parse_chat_id(id).map_err(|_| Error::not_found("chat", id))?;
        let account = &caller.account.id;
        let chat = self
            .store
            .get_chat(account, &chat_id)
            .await
            .or_not_found("chat", id)?;
        let turn = match self.store.next_open_turn(account, &chat_id).await? {
            Some(t) => Some(t),
            None => self.store.last_turn(account, &chat_id).await?,
        };
        Ok((chat, turn))
    }

    /// Runs every open turn of a chat in order while holding its lease.
    pub async fn drain_chat(&self, account: &AccountId, chat: &ChatId) -> Result<(), JobError> {
        let owner = new_id("owner_");
        loop {
            let now = self.clock.now();
            if !self
                .store
                .claim_chat(account, chat, &owner, now, now + LEASE)
                .await?
            {
                // Another worker is running this chat's turns; try again shortly.
                return Err(JobError::Transient(anyhow::anyhow!("chat {chat} is busy")));
            }
            let renew = {
                let (p, account, chat, owner) =
                    (self.clone(), account.clone(), chat.clone(), owner.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        let now = p.clock.now();
                        let _ = p
                            .store
                            .claim_chat(&account, &chat, &owner, now, now + LEASE)
                            .await;
                    }
                })
            };
            let result = self.run_open_turns(account, chat).await;
            renew.abort();
            self.store.release_chat(account, chat, &owner).await?;
            result?;
            // A turn queued while we were releasing is ours to run, not stranded.
            if self.store.next_open_turn(account, chat).await?.is_none() {
                return Ok(());
            }
        }
    }

    async fn run_open_turns(&self, account: &AccountId, chat: &ChatId) -> Result<(), JobError> {
        while let Some(mut turn) = self.store.next_open_turn(account, chat).await? {
            let acct = self.store.get_account(account).await?;
            let caller = Caller {
                account: acct,
                key_id: KeyId::from_trusted("key_operator_agent"),
            };
            if turn.status == TurnStatus::Queued {
                turn.status = TurnStatus::Running;
                turn.started_at = Some(self.clock.now());
                self.store.update_turn(&turn).await?;
                self.source_started(&turn).await?;
            }
            let outcome = agent::run_turn(self, &caller, &turn)
                .await
                .map_err(|e| JobError::Transient(anyhow::anyhow!("{e}")))?;
            turn.status = if outcome.is_none() {
                TurnStatus::Succeeded
            } else {
                TurnStatus::Failed
            };
            turn.error = outcome;
            turn.finished_at = Some(self.clock.now());
            self.store.update_turn(&turn).await?;
            self.source_finished(&turn).await?;
            if let Ok(mut c) = self.store.get_chat(account, chat).await {
                c.updated_at = self.clock.now();
                let _ = self.store.update_chat(&c).await;
            }
        }
        Ok(())
    }

    async fn source_started(&self, turn: &Turn) -> Result<()> {
        let now = self.clock.now();
        match &turn.source {
            TurnSource::Chat => {}
            TurnSource::Automation(run_id) => {
                let mut run = self.store.get_run(&turn.account_id, run_id).await?;
                run.status = RunStatus::Running;
                run.started_at = Some(now);
                run.chat_id = Some(turn.chat_id.clone());
                self.store.update_run(&run).await?;
            }
            TurnSource::Webhook(dlv) => {
                let mut d = self.store.get_delivery(&turn.account_id, dlv).await?;
                d.status = DeliveryStatus::Running;
                d.started_at = Some(now);
                d.chat_id = Some(turn.chat_id.clone());
                self.store.update_delivery(&d).await?;
            }
        }
        Ok(())
    }

    async fn source_finished(&self, turn: &Turn) -> Result<()> {
        let ok = turn.status == TurnStatus::Succeeded;
        match &turn.source {
            TurnSource::Chat => {}
            TurnSource::Automation(run_id) => {
                let mut run = self.store.get_run(&turn.account_id, run_id).await?;
                run.status = if ok {
                    RunStatus::Succeeded
                } else {
                    RunStatus::Failed
                };
                run.error = turn.error.clone();
                run.finished_at = turn.finished_at;
                run.chat_id = Some(turn.chat_id.clone());
                self.store.update_run(&run).await?;
            }
            TurnSource::Webhook(dlv) => {
                let mut d = self.store.get_delivery(&turn.account_id, dlv).await?;
                d.status = if ok {
                    DeliveryStatus::Succeeded
                } else {
                    DeliveryStatus::Failed
                };
                d.error = turn.error.clone();
                d.finished_at = turn.finished_at;
                d.chat_id = Some(turn.chat_id.clone());
                self.store.update_delivery(&d).await?;
            }
        }
        Ok(())
    }

    /// Marks a run or delivery failed without a turn (no LLM, automation gone, ...).
    async fn fail_source(
        &self,
        account: &AccountId,
        source: &TurnSource,
        error: String,
    ) -> Result<()> {
        let now = Some(self.clock.now());
        match source {
            TurnSource::Chat => {}
            TurnSource::Automation(run_id) => {
                let mut run = self.store.get_run(account, run_id).await?;
                run.status = RunStatus::Failed;
                run.error = Some(error);
                run.finished_at = now;
                self.store.update_run(&run).await?;
            }
            TurnSource::Webhook(dlv) => {
                let mut d = self.store.get_delivery(account, dlv).await?;
                d.status = DeliveryStatus::Failed;
                d.error = Some(error);
                d.finished_at = now;
                self.store.update_delivery(&d).await?;
            }
        }
        Ok(())
    }

    /// Executes one agent-queue job.
    pub async fn run_agent_job(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::ChatTurn {
                account_id,
                chat_id,
            } => self.drain_chat(account_id, chat_id).await,
            Job::AutomationFire {
                account_id,
                automation_id,
                run_id,
                scheduled_for,
            } => {
                let a = match self.store.get_automation(account_id, automation_id).await {
                    Ok(a) => a,
                    Err(StoreError::NotFound) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let run = match run_id {
                    Some(id) => self.store.get_run(account_id, id).await?,
                    None => {
                        // EventBridge sends the automation only: the run is made here, once per slot.
                        let slot = scheduled_for.unwrap_or_else(|| self.clock.now());
                        let run = AutomationRun {
                            id: crate::ids::RunId::generate(),
                            automation_id: a.id.clone(),
                            account_id: a.account_id.clone(),
                            trigger: RunTrigger::Schedule,
                            status: RunStatus::Queued,
                            scheduled_for: slot,
                            started_at: None,
                            finished_at: None,
                            chat_id: None,
                            error: None,
                            created_at: self.clock.now(),
                        };
                        match self.store.insert_run(&run).await? {
                            Inserted::Created(r) | Inserted::Existing(r) => r,
                        }
                    }
                };
                if matches!(run.status, RunStatus::Succeeded | RunStatus::Failed) {
                    return Ok(());
                }
                let source = TurnSource::Automation(run.id.clone());
                if self.llm.is_none() {
                    self.fail_source(account_id, &source, llm_unavailable_message())
                        .await?;
                    return Ok(());
                }
                let chat = self
                    .ensure_chat(account_id, &a.chat_id, ChatKind::Automation, &a.name)
                    .await?;
                let turn_id = TurnId::for_source(run.id.body());
                self.queue_turn(&chat, &a.prompt, source, Some(turn_id))
                    .await?;
                self.drain_chat(account_id, &chat.id).await
            }
            Job::WebhookDelivery {
                account_id,
                webhook_id,
                delivery_id,
            } => {
                let (wh, d) = match (
                    self.store.get_webhook(account_id, webhook_id).await,
                    self.store.get_delivery(account_id, delivery_id).await,
                ) {
                    (Ok(w), Ok(d)) => (w, d),
                    (Err(StoreError::NotFound), _) | (_, Err(StoreError::NotFound)) => {
                        return Ok(())
                    }
                    (Err(e), _) | (_, Err(e)) => return Err(e.into()),
                };
                if matches!(d.status, DeliveryStatus::Succeeded | DeliveryStatus::Failed) {
                    return Ok(());
                }
                let source = TurnSource::Webhook(d.id.clone());
                if self.llm.is_none() {
                    self.fail_source(account_id, &source, llm_unavailable_message())
                        .await?;
                    return Ok(());
                }
                let chat = self
                    .ensure_chat(account_id, &wh.chat_id, ChatKind::Webhook, &wh.name)
                    .await?;
                let turn_id = TurnId::for_source(d.id.body());
                self.queue_turn(&chat, &wh.render(&d.payload), source, Some(turn_id))
                    .await?;
                self.drain_chat(account_id, &chat.id).await
            }
            other => Err(JobError::Permanent(anyhow::anyhow!(
                "{} is not an agent job",
                other.kind()
            ))),
        }
    }
}

/// The worker's handler for the agent queue.
pub struct AgentJobs(pub Platform);

#[async_trait]
impl JobHandler for AgentJobs {
    async fn handle(&self, job: &Job, _receive_count: u32) -> Result<(), JobError> {
        self.0.run_agent_job(job).await
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Transient(anyhow::anyhow!("{e}"))
    }
}
