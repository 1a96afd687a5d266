//! The agent queue's jobs: a chat's turns run one at a time under a lease per chat, and
//! automation fires and webhook deliveries become turns in their own threads; a turn's
//! outcome is copied to the run or delivery that started it. Here rather than in `services`
//! because running a turn is the agent's: services never call into the agent.

use crate::domain::*;
use crate::error::{Result, StoreError};
use crate::ids::{AccountId, ChatId, KeyId, TurnId};
use crate::jobs::{Job, JobError, JobHandler};
use crate::services::{llm_unavailable_message, new_id, Caller, Platform};
use async_trait::async_trait;
use std::time::Duration;

/// How long a worker holds a chat without renewing.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// How often a running worker renews its lease.
const RENEW: Duration = Duration::from_secs(10);
/// The agent queue's visibility timeout: a job in flight is hidden this long (its worker
/// extends it at half-time while it runs). At least twice the lease, so that the job of a
/// worker that died comes back after its chat lease has run out and can take the chat.
pub const VISIBILITY: Duration = Duration::from_secs(120);
const _: () = assert!(VISIBILITY.as_secs() >= 2 * LEASE.num_seconds() as u64);

impl Platform {
    /// Runs every open turn of a chat in order while holding its lease. The caller's turn
    /// is stored before this is called.
    pub async fn drain_chat(&self, account: &AccountId, chat: &ChatId) -> Result<(), JobError> {
        if self.store.next_open_turn(account, chat).await?.is_none() {
            // Run already by the worker that held the chat.
            return Ok(());
        }
        let owner = new_id("owner_");
        loop {
            let now = self.clock.now();
            if !self
                .store
                .claim_chat(account, chat, &owner, now, now + LEASE)
                .await?
            {
                // Another worker is running this chat's turns; try again shortly. (It runs
                // ours too, but this job still owes its source the outcome should that
                // worker die between ending the turn and recording it there.)
                return Err(JobError::Transient(anyhow::anyhow!("chat {chat} is busy")));
            }
            let renew = {
                let (p, account, chat, owner) =
                    (self.clone(), account.clone(), chat.clone(), owner.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(RENEW).await;
                        let now = p.clock.now();
                        // A failed renewal is retried on the next tick; the lease outlives
                        // two missed renewals, and losing it only lets another worker resume
                        // the turn (each tool call runs once either way).
                        if let Err(e) = p
                            .store
                            .claim_chat(&account, &chat, &owner, now, now + LEASE)
                            .await
                        {
                            tracing::warn!(%chat, error = %e, "could not renew the chat lease");
                        }
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
            let outcome = super::run_turn(self, &caller, &turn)
                .await
                .map_err(|e| JobError::Transient(anyhow::anyhow!("{e}")))?;
            // A turn's end is written with its final state; one whose end a crash left
            // unmarked (or written by an earlier version) is marked here.
            let mut turn = self.store.get_turn(account, &turn.id).await?;
            if !turn.status.is_terminal() {
                turn.status = if outcome.is_none() {
                    TurnStatus::Succeeded
                } else {
                    TurnStatus::Failed
                };
                turn.error = outcome;
                turn.finished_at = Some(self.clock.now());
                self.store.update_turn(&turn).await?;
            }
            self.source_finished(&turn).await?;
            // `updatedAt` orders the chat history; the turn itself is recorded, so a failure
            // here is logged, not retried.
            match self.store.get_chat(account, chat).await {
                Ok(mut c) => {
                    c.updated_at = self.clock.now();
                    if let Err(e) = self.store.update_chat(&c).await {
                        tracing::warn!(%chat, error = %e, "could not touch the chat after a turn");
                    }
                }
                Err(e) => tracing::warn!(%chat, error = %e, "could not read the chat after a turn"),
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

    /// A run's or delivery's job found its turn already ended: the process that ran the
    /// turn died between recording the turn's end and the source's (two writes). The
    /// redelivered job copies the outcome now, else the source would stay `running`.
    async fn finish_source_of_ended(&self, turn: &Turn) -> Result<()> {
        if turn.status.is_terminal() {
            self.source_finished(turn).await?;
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
                        let run =
                            AutomationRun::queued(&a, RunTrigger::Schedule, slot, self.clock.now());
                        self.store.insert_run(&run).await?.into_inner()
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
                let turn = self
                    .queue_turn(&chat, &a.prompt, source, Some(turn_id))
                    .await?;
                self.finish_source_of_ended(&turn).await?;
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
                let turn = self
                    .queue_turn(&chat, &wh.render(&d.payload), source, Some(turn_id))
                    .await?;
                self.finish_source_of_ended(&turn).await?;
                self.drain_chat(account_id, &chat.id).await
            }
            Job::ExperimentLane {
                account_id,
                experiment_id,
                lane,
            } => {
                self.run_experiment_lane(account_id, experiment_id, *lane)
                    .await
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
