//! The job enum: the slow work a request hands to a queue, as plain data. Its JSON is the SQS
//! message body and the EventBridge target input, so changing a variant is a wire change.
//! The worker that runs jobs is in [`crate::jobs`].

use crate::domain::Timestamp;
use crate::ids::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Job {
    /// Start an instance, or check on its start: the job is sent again every few seconds
    /// while the runtime reports it starting. `launch` counts the launch attempts of this
    /// start (0 first): a runtime keeps one launch idempotent (ECS: one `clientToken` per
    /// launch, so a check returns the task it made) and a launch after a stopped one distinct.
    InstanceProvision {
        account_id: AccountId,
        instance_id: InstanceId,
        #[serde(default, skip_serializing_if = "is_zero")]
        launch: u32,
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
    /// One lane of an experiment: it runs pairs (item × variant) one after another until none
    /// is left (see `domain::experiment`). A redelivered lane resumes its unfinished pair.
    ExperimentLane {
        account_id: AccountId,
        experiment_id: ExperimentId,
        lane: u32,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Job {
    /// A first start of `instance_id` (launch 0).
    pub fn provision(account_id: AccountId, instance_id: InstanceId) -> Self {
        Job::InstanceProvision {
            account_id,
            instance_id,
            launch: 0,
        }
    }

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
            Job::ExperimentLane { .. } => "ExperimentLane",
        }
    }
}
