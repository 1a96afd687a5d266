//! One experiment lane at work: claim the next pair, send the item to the variant's agent (as
//! `POST /api/instances/{id}/messages` does), score the answer, record the result once; until
//! no pair is left, the experiment is cancelled or deleted. The last lane to find nothing left
//! marks the experiment `succeeded`.

use crate::domain::experiment::score::{self, Scored};
use crate::domain::*;
use crate::error::{Error, StoreError};
use crate::ids::{AccountId, ExperimentId, InstanceId};
use crate::jobs::JobError;
use crate::llm::{Message, ModelEvent, ModelRequest};
use crate::services::gateway::Meter;
use crate::services::relay::INSTANCE_UNREACHABLE;
use crate::services::Platform;
use futures::StreamExt;

/// The waits before asking an unreachable instance again (about 7 s in all: a restart).
const UNREACHABLE_RETRIES: [std::time::Duration; 4] = [
    std::time::Duration::from_millis(500),
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
    std::time::Duration::from_secs(4),
];

/// Longest judge answer asked for.
const JUDGE_MAX_TOKENS: u32 = 400;

fn transient(e: impl std::fmt::Display) -> JobError {
    JobError::Transient(anyhow::anyhow!("{e}"))
}

impl Platform {
    /// Works lane `lane` of the experiment until no pair is left (a redelivered lane resumes
    /// the pair it had claimed).
    #[tracing::instrument(skip(self), fields(%account, %id))]
    pub async fn run_experiment_lane(
        &self,
        account: &AccountId,
        id: &ExperimentId,
        lane: u32,
    ) -> Result<(), JobError> {
        // An account deleted since the experiment started has nothing left to run.
        match self.store.get_account(account).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Ok(()),
            Err(err) => return Err(err.into()),
        }
        loop {
            let mut e = match self.store.get_experiment(account, id).await {
                Ok(e) => e,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            if e.status.is_terminal() {
                return Ok(());
            }
            if e.status == ExperimentStatus::Queued {
                e.status = ExperimentStatus::Running;
                e.updated_at = self.clock.now();
                match self.store.update_experiment(&e).await {
                    Ok(()) => {}
                    // Deleted, or ended (cancelled) since it was read: nothing more to run.
                    Err(StoreError::NotFound | StoreError::Conflict(_)) => return Ok(()),
                    Err(err) => return Err(err.into()),
                }
            }
            let pair = match self.store.claim_pair(account, id, lane).await {
                Ok(Some(pair)) => pair,
                Ok(None) => break,
                Err(StoreError::NotFound) => return Ok(()),
                Err(err) => return Err(err.into()),
            };
            self.run_pair(&e, pair).await?;
        }
        self.finish_experiment(account, id).await
    }

    /// Marks the experiment `succeeded` once every pair has its result.
    async fn finish_experiment(
        &self,
        account: &AccountId,
        id: &ExperimentId,
    ) -> Result<(), JobError> {
        let mut e = match self.store.get_experiment(account, id).await {
            Ok(e) => e,
            Err(StoreError::NotFound) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        if e.status.is_terminal() {
            return Ok(());
        }
        let done = self.store.all_results(account, id).await?.len() as u32;
        if done >= e.pair_count() {
            let now = self.clock.now();
            e.status = ExperimentStatus::Succeeded;
            e.updated_at = now;
            e.finished_at = Some(now);
            match self.store.update_experiment(&e).await {
                // (Conflict: cancelled meanwhile, and it stays so.)
                Ok(()) | Err(StoreError::NotFound | StoreError::Conflict(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Sends one item to one variant, scores the answer and records it.
    async fn run_pair(&self, e: &Experiment, pair: u32) -> Result<(), JobError> {
        let (variant, index) = e.pair(pair);
        let instance_id = &e.instance_ids[variant];
        let item = self
            .store
            .experiment_item(&e.account_id, &e.id, index)
            .await?;
        // One message at a time per instance (slots.rs); the wait for the slot is not latency.
        let slot = self.slots.acquire(instance_id).await;
        let mut tries = 0;
        let (answer, started) = loop {
            // A variant that is still starting (new clones usually are) is waited for; the
            // record read here is the one the client is built from (a restart that begins
            // after this read makes the instance unreachable, which is asked again below).
            let instance = match self.store.get_instance(&e.account_id, instance_id).await {
                Ok(i)
                    if matches!(
                        i.status,
                        InstanceStatus::Provisioning | InstanceStatus::Restarting
                    ) =>
                {
                    return Err(transient(format!(
                        "instance {instance_id} is {}; the experiment waits for it",
                        i.status.as_str()
                    )))
                }
                Ok(i) => Ok(i),
                Err(StoreError::NotFound) => {
                    Err(Error::not_found("instance", instance_id.as_str()))
                }
                Err(err) => return Err(err.into()),
            };
            let started = std::time::Instant::now();
            let answer = match instance.and_then(|i| self.client_for(&i)) {
                Ok(client) => client
                    .message(&operator_instance_api::MessageRequest {
                        text: item.input.clone(),
                        session_id: None,
                    })
                    .await
                    .and_then(|r| r.parse()),
                Err(err) => Err(err),
            };
            // Not delivered (the instance is between processes): asked again, read afresh,
            // a few times before it counts as the item's error.
            match &answer {
                Err(Error::Unavailable { code, .. })
                    if *code == INSTANCE_UNREACHABLE && tries < UNREACHABLE_RETRIES.len() =>
                {
                    tracing::debug!(instance = %instance_id, tries, "instance unreachable; asking again");
                    tokio::time::sleep(UNREACHABLE_RETRIES[tries]).await;
                    tries += 1;
                }
                _ => break (answer, started),
            }
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        drop(slot);
        let (output, scored) = match answer {
            Ok(reply) => {
                let scored = self
                    .score_answer(&e.scorer, &item, &reply.text, &e.account_id, instance_id)
                    .await;
                (Some(reply.text), scored)
            }
            Err(Error::Unexpected(err)) => return Err(JobError::Transient(err)),
            Err(err) => (None, Err(err.to_string())),
        };
        let (score, reason, error) = match scored {
            Ok(Scored { score, reason }) => (Some(score), reason, None),
            Err(why) => (None, None, Some(why)),
        };
        let result = ExperimentResult {
            account_id: e.account_id.clone(),
            experiment_id: e.id.clone(),
            instance_id: instance_id.clone(),
            item_index: index,
            output,
            score,
            reason,
            error,
            latency_ms: Some(latency_ms),
            created_at: self.clock.now(),
        };
        match self.store.insert_result(&result).await {
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// The answer's score, or why it has none (the item's error).
    async fn score_answer(
        &self,
        scorer: &Scorer,
        item: &DatasetItem,
        output: &str,
        account: &AccountId,
        instance: &InstanceId,
    ) -> Result<Scored, String> {
        match scorer {
            Scorer::LlmJudge { rubric } => {
                self.judge(rubric, item, output, account, instance).await
            }
            _ => score::score(scorer, output, item.expected.as_ref()).map_err(|e| e.0),
        }
    }

    /// Asks the platform's model to grade the answer; a malformed grade is asked for once
    /// more, then it is the item's error.
    async fn judge(
        &self,
        rubric: &str,
        item: &DatasetItem,
        output: &str,
        account: &AccountId,
        instance: &InstanceId,
    ) -> Result<Scored, String> {
        let (Some(llm), Some(cfg)) = (self.llm.as_ref(), self.config.llm.as_ref()) else {
            return Err(crate::services::llm_unavailable_message());
        };
        let (system, user) =
            score::judge_prompt(rubric, &item.input, item.expected.as_ref(), output);
        let req = ModelRequest {
            model: cfg.model.clone(),
            system,
            messages: vec![Message::User(user)],
            tools: Default::default(),
            max_tokens: JUDGE_MAX_TOKENS,
        };
        let mut last = String::new();
        for _ in 0..2 {
            let (text, (input, output)) = complete(llm.as_ref(), &req).await?;
            Meter::new(self, account, instance, self.clock.now())
                .record(input, output)
                .await;
            match score::parse_judge(&text) {
                Ok(s) => return Ok(s),
                Err(why) => last = why.0,
            }
        }
        Err(last)
    }
}

/// One model call's whole text and its tokens (input, output) as the provider reported them.
pub(super) async fn complete(
    llm: &dyn crate::llm::ModelProvider,
    req: &ModelRequest,
) -> Result<(String, (u64, u64)), String> {
    let mut stream = llm
        .stream(req)
        .await
        .map_err(|e| format!("the model could not be asked: {e}"))?;
    let mut text = String::new();
    let mut tokens = (0, 0);
    while let Some(ev) = stream.next().await {
        match ev.map_err(|e| format!("the model's answer broke off: {e}"))? {
            ModelEvent::TextDelta(d) => text.push_str(&d),
            ModelEvent::Usage { input, output } => tokens = (input, output),
            ModelEvent::Done => return Ok((text, tokens)),
            _ => {}
        }
    }
    Err("the model's answer ended before it was complete".into())
}
