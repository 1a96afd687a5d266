//! Lifecycle jobs that cannot finish: the instance a job was starting is marked `failed`
//! with the reason when the job's last delivery fails (see `LifecycleJobs`) or when the job
//! was dead-lettered without one; and the workers' minute watch that checks for those and
//! keeps the warm pool at its size.

use super::runtime::START_DEADLINE_MINUTES;
use super::Platform;
use crate::domain::*;
use crate::error::{Error, Result, StoreError};
use crate::jobs::Job;
use std::time::Duration;

impl Platform {
    /// A lifecycle job that cannot finish (its last delivery failed, or it was dead-lettered):
    /// the instance it was starting is marked `failed` with `why`, so none stays
    /// `provisioning` or `restarting` for good. Others are left as they are.
    pub async fn fail_instance_of_job(&self, job: &Job, why: &str) -> Result<bool> {
        let (account_id, instance_id, what) = match job {
            Job::InstanceProvision {
                account_id,
                instance_id,
                ..
            } => (account_id, instance_id, "start"),
            Job::InstanceRestart {
                account_id,
                instance_id,
            } => (account_id, instance_id, "restart"),
            Job::InstanceClone {
                account_id,
                instance_id,
                ..
            } => (account_id, instance_id, "clone"),
            _ => return Ok(false),
        };
        let mut instance = match self.store.get_instance(account_id, instance_id).await {
            Ok(i) => i,
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if instance.deleted_at.is_some()
            || !matches!(
                instance.status,
                InstanceStatus::Provisioning | InstanceStatus::Restarting
            )
        {
            return Ok(false);
        }
        instance.mark_failed(format!("could not {what}: {why}"), self.clock.now());
        self.store.update_instance(&instance).await?;
        tracing::warn!(instance = %instance.id, %why, "instance failed: its lifecycle job cannot finish");
        Ok(true)
    }

    /// Instances a dead-lettered lifecycle job left `provisioning` or `restarting` (say, the
    /// worker died during the job's last delivery) become `failed`. Only those without
    /// progress for longer than a start may take: one whose start is under way is left to it.
    pub async fn fail_instances_of_dead_jobs(&self) -> Result<usize> {
        let dead = self
            .lifecycle
            .dead_letters(10)
            .await
            .map_err(Error::Unexpected)?;
        let mut failed = 0;
        for letter in dead {
            let Ok(job) = serde_json::from_str::<Job>(&letter.body) else {
                continue;
            };
            let (Job::InstanceProvision {
                account_id,
                instance_id,
                ..
            }
            | Job::InstanceRestart {
                account_id,
                instance_id,
            }
            | Job::InstanceClone {
                account_id,
                instance_id,
                ..
            }) = &job
            else {
                continue;
            };
            let stale = match self.store.get_instance(account_id, instance_id).await {
                Ok(i) => {
                    self.clock.now() - i.updated_at
                        > chrono::Duration::minutes(START_DEADLINE_MINUTES + 1)
                }
                Err(StoreError::NotFound) => false,
                Err(e) => return Err(e.into()),
            };
            let why = format!(
                "its {} job was dead-lettered after {} deliveries",
                job.kind(),
                letter.receive_count
            );
            if stale && self.fail_instance_of_job(&job, &why).await? {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Every minute until `stop` turns true: [`Self::fail_instances_of_dead_jobs`], and the
    /// warm pool brought to its size ([`Self::ensure_warm_pool`]) when there is one.
    pub async fn watch_lifecycle(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.fail_instances_of_dead_jobs().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    instances = n,
                    "instances of dead-lettered lifecycle jobs marked failed"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not check the lifecycle dead-letter queue")
                }
            }
            if !self.config.warm_pool.0.is_empty() {
                match self.ensure_warm_pool().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(started = n, "warm pool refilled"),
                    Err(e) => tracing::warn!(error = %e, "could not refill the warm pool"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}
