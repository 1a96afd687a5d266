//! `Scheduler` on EventBridge Scheduler: one schedule per automation (two when standard cron
//! sets both day fields, see `cron`), tenant-prefixed names in the configured group, flexible
//! window off, target = the jobs queue with the `AutomationFire` job as input. The
//! `<aws.scheduler.scheduled-time>` context attribute fills `scheduledFor`, so a redelivered
//! fire maps to the same run.

use crate::cron;
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleState,
    Target,
};
use aws_sdk_scheduler::Client;
use operator_core::domain::Automation;
use operator_core::ids::{AccountId, AutomationId};
use operator_core::ports::Scheduler;

/// Where schedules deliver, and as whom.
#[derive(Debug, Clone)]
pub struct ScheduleTarget {
    pub group: String,
    pub queue_arn: String,
    pub dlq_arn: String,
    /// The role EventBridge Scheduler assumes (it may only `sqs:SendMessage` to the queue).
    pub role_arn: String,
}

pub struct EventBridgeScheduler {
    client: Client,
    target: ScheduleTarget,
}

impl EventBridgeScheduler {
    pub fn new(client: Client, target: ScheduleTarget) -> Self {
        Self { client, target }
    }

    /// `<12 chars of the account>-<automation id>[-n]`: unique, tenant-prefixed, ≤ 64 chars.
    pub fn schedule_name(account: &AccountId, id: &AutomationId, n: usize) -> String {
        let acct = account.as_str().trim_start_matches("acct_");
        let tail = &acct[acct.len().saturating_sub(12)..];
        format!("{tail}-{id}-{n}")
    }

    /// The job the schedule delivers.
    pub fn input(a: &Automation) -> String {
        serde_json::json!({
            "type": "AutomationFire",
            "accountId": a.account_id,
            "automationId": a.id,
            "scheduledFor": "<aws.scheduler.scheduled-time>",
        })
        .to_string()
    }

    async fn delete(&self, name: &str) -> anyhow::Result<()> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.target.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_resource_not_found_exception() {
                    Ok(())
                } else {
                    Err(anyhow::Error::new(e).context("Scheduler DeleteSchedule"))
                }
            }
        }
    }
}

#[async_trait]
impl Scheduler for EventBridgeScheduler {
    #[tracing::instrument(skip_all, fields(automation = %a.id))]
    async fn upsert(&self, a: &Automation) -> anyhow::Result<()> {
        let expressions = cron::to_aws(a.cron.as_str())?;
        let target = Target::builder()
            .arn(&self.target.queue_arn)
            .role_arn(&self.target.role_arn)
            .input(Self::input(a))
            .dead_letter_config(
                DeadLetterConfig::builder()
                    .arn(&self.target.dlq_arn)
                    .build(),
            )
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(5)
                    .maximum_event_age_in_seconds(3600)
                    .build(),
            )
            .build()
            .context("schedule target")?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .context("flexible time window")?;
        let state = if a.enabled {
            ScheduleState::Enabled
        } else {
            ScheduleState::Disabled
        };
        for (n, expression) in expressions.iter().enumerate() {
            let name = Self::schedule_name(&a.account_id, &a.id, n);
            let created = self
                .client
                .create_schedule()
                .name(&name)
                .group_name(&self.target.group)
                .schedule_expression(expression)
                .schedule_expression_timezone(a.timezone.as_str())
                .flexible_time_window(window.clone())
                .target(target.clone())
                .state(state.clone())
                .description(format!("Operator automation {}", a.id))
                .send()
                .await;
            if let Err(e) = created {
                let e = e.into_service_error();
                if !e.is_conflict_exception() {
                    return Err(anyhow::Error::new(e).context("Scheduler CreateSchedule"));
                }
                self.client
                    .update_schedule()
                    .name(&name)
                    .group_name(&self.target.group)
                    .schedule_expression(expression)
                    .schedule_expression_timezone(a.timezone.as_str())
                    .flexible_time_window(window.clone())
                    .target(target.clone())
                    .state(state.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::Error::new(e.into_service_error())
                            .context("Scheduler UpdateSchedule")
                    })?;
            }
        }
        // A schedule left over from a previous two-part expression.
        for n in expressions.len()..2 {
            self.delete(&Self::schedule_name(&a.account_id, &a.id, n))
                .await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(account = %account, automation = %id))]
    async fn remove(&self, account: &AccountId, id: &AutomationId) -> anyhow::Result<()> {
        for n in 0..2 {
            self.delete(&Self::schedule_name(account, id, n)).await?;
        }
        Ok(())
    }
}
