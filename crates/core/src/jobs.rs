//! Jobs: the slow work a request hands to the queue, and the worker that executes them.
//!
//! A job is plain data (its JSON is the SQS message body and the EventBridge target input).
//! Handlers must be idempotent: a job can be delivered more than once.

use crate::domain::Timestamp;
use crate::ids::*;
use crate::ports::{JobQueue, ReceivedJob};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Job {
    InstanceProvision {
        account_id: AccountId,
        instance_id: InstanceId,
    },
    InstanceRestart {
        account_id: AccountId,
        instance_id: InstanceId,
    },
    InstanceStop {
        account_id: AccountId,
        instance_id: InstanceId,
    },
    InstanceClone {
        account_id: AccountId,
        source_id: InstanceId,
        instance_id: InstanceId,
    },
    /// An instance stopped without being asked to, as reported by the runtime's own events
    /// (on AWS: an EventBridge rule on ECS task-state changes renders this job; see
    /// infra/template.yaml). The event may be stale: the handler checks the runtime.
    InstanceExited {
        instance_id: InstanceId,
        #[serde(default)]
        reason: Option<String>,
    },
    /// One fire of an automation. `run_id` is set when the run record was created up front
    /// (embedded scheduler, manual run); EventBridge sends only the automation, and the
    /// handler then creates the run for `scheduled_for` idempotently.
    AutomationFire {
        account_id: AccountId,
        automation_id: AutomationId,
        #[serde(default)]
        run_id: Option<RunId>,
        #[serde(default)]
        scheduled_for: Option<Timestamp>,
    },
    WebhookDelivery {
        account_id: AccountId,
        webhook_id: WebhookId,
        delivery_id: DeliveryId,
    },
    ChatTurn {
        account_id: AccountId,
        chat_id: ChatId,
    },
}

impl Job {
    /// Instance lifecycle jobs (their own queue: quick, never behind agent work).
    pub fn is_lifecycle(&self) -> bool {
        matches!(
            self,
            Job::InstanceProvision { .. }
                | Job::InstanceRestart { .. }
                | Job::InstanceStop { .. }
                | Job::InstanceClone { .. }
                | Job::InstanceExited { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Job::InstanceProvision { .. } => "InstanceProvision",
            Job::InstanceRestart { .. } => "InstanceRestart",
            Job::InstanceStop { .. } => "InstanceStop",
            Job::InstanceClone { .. } => "InstanceClone",
            Job::InstanceExited { .. } => "InstanceExited",
            Job::AutomationFire { .. } => "AutomationFire",
            Job::WebhookDelivery { .. } => "WebhookDelivery",
            Job::ChatTurn { .. } => "ChatTurn",
        }
    }
}

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
        // Heartbeat: extend visibility at half the timeout while the handler runs.
        let heartbeat = {
            let queue = self.queue.clone();
            let receipt = received.receipt.clone();
            let visibility = self.visibility;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(visibility / 2).await;
                    if let Err(e) = queue.change_visibility(&receipt, visibility).await {
                        tracing::warn!(error = %e, "could not extend job visibility");
                    }
                }
            })
        };
        let result = self
            .handler
            .handle(&received.job, received.receive_count)
            .await;
        heartbeat.abort();
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

    /// Runs until `shutdown` resolves, `concurrency` jobs at a time.
    pub async fn run(
        self: Arc<Self>,
        concurrency: usize,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency.max(1) {
            let worker = self.clone();
            let mut shutdown = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    if *shutdown.borrow() {
                        break;
                    }
                    match worker.try_execute_next().await {
                        Ok(Outcome::Done | Outcome::Retry) => continue,
                        Ok(Outcome::Empty) => {}
                        Err(e) => tracing::error!(error = %e, "job queue receive failed"),
                    }
                    tokio::select! {
                        _ = worker.queue.wait_for_message(Duration::from_millis(500)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
