//! Instances at run time: lifecycle jobs executed through the `InstanceRuntime` port,
//! crash supervision with backoff, recovery after a control-plane restart, instance tokens,
//! and the secrets an instance reads (its calls to a live instance are in `relay`).

use super::Platform;
use crate::domain::*;
use crate::error::{Error, Result, StoreError};
use crate::ids::InstanceId;
use crate::jobs::{Job, JobError, JobHandler};
use crate::ports::{InstanceSpec, RuntimeEvent, RuntimeStatus, SweepStore};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::time::Duration;

/// Automatic restarts after crashes before the instance is left `failed`.
pub const MAX_AUTO_RESTARTS: u32 = 5;
/// How long one launch may report `Starting` before the start counts as failed.
pub(super) const START_DEADLINE_MINUTES: i64 = 10;
/// Launches of one start before the instance is left `failed`: a launch whose task or
/// process stops before it is healthy is followed by another, after a backoff.
pub const MAX_LAUNCHES: u32 = 3;
/// Deliveries of a lifecycle job (the queues' maxReceiveCount, embedded and in
/// infra/template.yaml). A job that fails on its last delivery fails its instance with the
/// reason rather than leaving it to the dead-letter queue `provisioning` for good.
pub const LIFECYCLE_MAX_RECEIVES: u32 = 5;
/// How often a start that is under way is checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);

impl Platform {
    fn token_mac(&self, id: &InstanceId) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.config.token_key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(b"operator instance token v1:");
        mac.update(id.as_str().as_bytes());
        mac
    }

    /// `<instance id>.<hmac>`: verifiable without storage, never logged.
    pub fn instance_token(&self, id: &InstanceId) -> SecretString {
        let sig = hex::encode(self.token_mac(id).finalize().into_bytes());
        SecretString::from(format!("{id}.{sig}"))
    }

    /// The live, non-deleted instance a token belongs to; 401 otherwise.
    pub async fn authenticate_instance(&self, bearer: Option<&str>) -> Result<Instance> {
        let unauthorized = || Error::Unauthorized("missing or invalid instance token".into());
        let (id, sig) = bearer
            .and_then(|t| t.split_once('.'))
            .ok_or_else(unauthorized)?;
        let id = InstanceId::parse(id).ok_or_else(unauthorized)?;
        let sig = hex::decode(sig).map_err(|_| unauthorized())?;
        self.token_mac(&id)
            .verify_slice(&sig)
            .map_err(|_| unauthorized())?;
        match self.store.find_instance(&id).await {
            Ok(i) if i.deleted_at.is_none() => Ok(i),
            Ok(_) | Err(StoreError::NotFound) => Err(unauthorized()),
            Err(e) => Err(e.into()),
        }
    }

    async fn spec_for(&self, instance: &Instance, launch: u32) -> Result<InstanceSpec> {
        let mut env: Vec<(String, SecretString)> = instance
            .env
            .as_map()
            .iter()
            .map(|(k, v)| (k.clone(), SecretString::from(v.clone())))
            .collect();
        for secret in self
            .store
            .secrets_for_instance(&instance.account_id, &instance.id)
            .await?
        {
            match self.vault.get(&secret.account_id, &secret.id).await {
                Ok(v) => env.push((secret.name.as_str().to_owned(), v)),
                Err(e) => tracing::warn!(secret = %secret.id, error = %e, "secret not injected"),
            }
        }
        Ok(InstanceSpec {
            instance: instance.clone(),
            token: self.instance_token(&instance.id),
            control_url: self.config.control_url.clone(),
            env,
            launch,
        })
    }

    /// Starts `instance` (launch `launch` of this start; idempotent per launch, so the same
    /// call checks on a start under way) and records what came of it: `active`; a check
    /// again shortly; another launch after one that stopped; or `failed` with the reason.
    async fn start_and_record(&self, instance: Instance, launch: u32) -> Result<(), JobError> {
        let spec = self
            .spec_for(&instance, launch)
            .await
            .map_err(|e| JobError::Transient(e.into()))?;
        let status = self
            .runtime
            .start(&spec)
            .await
            .map_err(JobError::Transient)?;
        match status {
            RuntimeStatus::Running { endpoint } => {
                let mut current = self.reload(&instance).await?;
                if current.deleted_at.is_some() {
                    // Deleted while starting: do not leave it running (a failure retries
                    // the job, whose deleted branch destroys it again).
                    self.runtime
                        .destroy(&current.id)
                        .await
                        .map_err(JobError::Transient)?;
                    return Ok(());
                }
                current.mark_active(endpoint, self.clock.now());
                self.store
                    .update_instance(&current)
                    .await
                    .map_err(|e| JobError::Transient(e.into()))?;
                tracing::info!(instance = %current.id, launch, "instance active");
                Ok(())
            }
            RuntimeStatus::Starting => {
                // Check again shortly, without stopping it (a provision job never stops).
                let waited = self.clock.now() - instance.updated_at;
                if waited > chrono::Duration::minutes(START_DEADLINE_MINUTES) {
                    if let Err(e) = self.runtime.stop(&instance.id).await {
                        // Recorded failed either way; the stop is retried by delete/restart.
                        tracing::warn!(instance = %instance.id, error = %e, "could not stop an instance that did not start");
                    }
                    let reason = format!("did not start within {START_DEADLINE_MINUTES} minutes");
                    return self.fail_start(&instance, reason).await;
                }
                self.enqueue_after(
                    Job::InstanceProvision {
                        account_id: instance.account_id.clone(),
                        instance_id: instance.id.clone(),
                        launch,
                    },
                    CHECK_EVERY,
                )
                .await
                .map_err(|e| JobError::Transient(anyhow::anyhow!("{e}")))?;
                Ok(())
            }
            RuntimeStatus::Stopped { reason } => {
                // This launch stopped before it was healthy: launch again (a fresh launch,
                // after a backoff), or give up with the reason.
                let reason = reason.unwrap_or_else(|| "stopped before it was healthy".into());
                let mut current = self.reload(&instance).await?;
                if current.deleted_at.is_some() {
                    return Ok(());
                }
                let next = launch + 1;
                if next >= MAX_LAUNCHES {
                    return self
                        .fail_start(
                            &current,
                            format!("stopped while starting ({MAX_LAUNCHES} launches): {reason}"),
                        )
                        .await;
                }
                current.status_reason = Some(format!(
                    "launch {next} of {MAX_LAUNCHES} stopped while starting: {reason}; launching again"
                ));
                current.updated_at = self.clock.now();
                self.store
                    .update_instance(&current)
                    .await
                    .map_err(|e| JobError::Transient(e.into()))?;
                tracing::warn!(instance = %current.id, launch, %reason, "instance stopped while starting; launching again");
                self.enqueue_after(
                    Job::InstanceProvision {
                        account_id: current.account_id.clone(),
                        instance_id: current.id.clone(),
                        launch: next,
                    },
                    Duration::from_secs(2u64 << launch.min(4)),
                )
                .await
                .map_err(|e| JobError::Transient(anyhow::anyhow!("{e}")))?;
                Ok(())
            }
        }
    }

    /// Records the start of `instance` failed with `reason`; the job ends (permanently).
    async fn fail_start(&self, instance: &Instance, reason: String) -> Result<(), JobError> {
        let mut current = self.reload(instance).await?;
        current.mark_failed(reason.clone(), self.clock.now());
        self.store
            .update_instance(&current)
            .await
            .map_err(|e| JobError::Transient(e.into()))?;
        tracing::warn!(instance = %current.id, %reason, "instance start failed");
        Err(JobError::Permanent(anyhow::anyhow!(reason)))
    }

    async fn reload(&self, instance: &Instance) -> Result<Instance, JobError> {
        self.store
            .get_instance(&instance.account_id, &instance.id)
            .await
            .map_err(|e| JobError::Transient(e.into()))
    }

    async fn load_for_job(
        &self,
        account: &crate::ids::AccountId,
        id: &InstanceId,
    ) -> Result<Option<Instance>, JobError> {
        match self.store.get_instance(account, id).await {
            Ok(i) => Ok(Some(i)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(JobError::Transient(e.into())),
        }
    }

    /// Executes one instance lifecycle job (idempotent under redelivery).
    pub async fn run_lifecycle_job(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::InstanceProvision {
                account_id,
                instance_id,
                ..
            }
            | Job::InstanceRestart {
                account_id,
                instance_id,
            } => {
                let Some(instance) = self.load_for_job(account_id, instance_id).await? else {
                    return Ok(());
                };
                if instance.deleted_at.is_some() {
                    self.runtime
                        .destroy(instance_id)
                        .await
                        .map_err(JobError::Transient)?;
                    return Ok(());
                }
                if matches!(job, Job::InstanceRestart { .. }) {
                    self.runtime
                        .stop(instance_id)
                        .await
                        .map_err(JobError::Transient)?;
                    let mut i = instance.clone();
                    i.mark_stopped(self.clock.now());
                    self.store
                        .update_instance(&i)
                        .await
                        .map_err(|e| JobError::Transient(e.into()))?;
                } else if !matches!(
                    instance.status,
                    // `failed`: a crashed instance restarting with backoff stays failed
                    // (with the crash's reason) until it is active again.
                    InstanceStatus::Provisioning
                        | InstanceStatus::Restarting
                        | InstanceStatus::Failed
                ) {
                    // Done already (a redelivered provision, or a check after it became
                    // active), or no longer to run (suspended, deleted).
                    return Ok(());
                }
                let launch = match job {
                    Job::InstanceProvision { launch, .. } => *launch,
                    _ => 0,
                };
                self.start_and_record(instance, launch).await
            }
            Job::InstanceClone {
                account_id,
                source_id,
                instance_id,
            } => {
                let Some(instance) = self.load_for_job(account_id, instance_id).await? else {
                    return Ok(());
                };
                if instance.deleted_at.is_some() {
                    self.runtime
                        .destroy(instance_id)
                        .await
                        .map_err(JobError::Transient)?;
                    return Ok(());
                }
                if instance.status != InstanceStatus::Provisioning {
                    return Ok(());
                }
                self.runtime
                    .copy_workspace(source_id, instance_id)
                    .await
                    .map_err(JobError::Transient)?;
                self.start_and_record(instance, 0).await
            }
            Job::InstanceStop {
                account_id,
                instance_id,
            } => {
                self.runtime
                    .destroy(instance_id)
                    .await
                    .map_err(JobError::Transient)?;
                if let Some(mut i) = self.load_for_job(account_id, instance_id).await? {
                    i.mark_stopped(self.clock.now());
                    self.store
                        .update_instance(&i)
                        .await
                        .map_err(|e| JobError::Transient(e.into()))?;
                }
                Ok(())
            }
            Job::InstanceExited {
                instance_id,
                reason,
            } => {
                // A stale report (a task replaced by a restart since) must not fail the
                // instance that now runs: only a runtime with nothing running counts.
                match self
                    .runtime
                    .status(instance_id)
                    .await
                    .map_err(JobError::Transient)?
                {
                    RuntimeStatus::Stopped { .. } => {
                        let reason = reason
                            .as_deref()
                            .map(str::trim)
                            .filter(|r| !r.is_empty())
                            .unwrap_or("stopped")
                            .to_owned();
                        self.handle_runtime_event(RuntimeEvent::Exited {
                            id: instance_id.clone(),
                            reason,
                        })
                        .await
                        .map_err(JobError::from)
                    }
                    RuntimeStatus::Running { .. } | RuntimeStatus::Starting => Ok(()),
                }
            }
            other => Err(JobError::Permanent(anyhow::anyhow!(
                "{} is not an instance lifecycle job",
                other.kind()
            ))),
        }
    }

    /// A runtime noticed an instance stop on its own: record `failed` with the reason and
    /// schedule a restart with exponential backoff (1 s, 2 s, 4 s ... 30 s), up to
    /// `MAX_AUTO_RESTARTS` in a row.
    pub async fn handle_runtime_event(&self, event: RuntimeEvent) -> Result<()> {
        let RuntimeEvent::Exited { id, reason } = event;
        let mut instance = match self.store.find_instance(&id).await {
            Ok(i) => i,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if instance.deleted_at.is_some() {
            return Ok(());
        }
        match instance.status {
            InstanceStatus::Active => {}
            InstanceStatus::Provisioning | InstanceStatus::Restarting => {
                // Stopped while starting: the reason shows at once; the start's own check
                // launches again (or gives up) with the launch count it keeps.
                instance.status_reason = Some(format!("stopped while starting: {reason}"));
                self.store.update_instance(&instance).await?;
                tracing::warn!(instance = %id, %reason, "instance stopped while starting");
                return Ok(());
            }
            _ => return Ok(()),
        }
        let now = self.clock.now();
        // An instance that ran a good while before crashing starts a fresh restart budget.
        if instance
            .active_since
            .is_some_and(|t| now - t > chrono::Duration::minutes(10))
        {
            instance.restarts = 0;
        }
        instance.mark_failed(format!("instance process exited: {reason}"), now);
        instance.restarts += 1;
        self.store.update_instance(&instance).await?;
        tracing::warn!(instance = %id, %reason, restarts = instance.restarts, "instance exited unexpectedly");
        if instance.restarts <= MAX_AUTO_RESTARTS {
            let delay = Duration::from_secs((1u64 << (instance.restarts - 1)).min(30));
            self.enqueue_after(
                Job::InstanceRestart {
                    account_id: instance.account_id.clone(),
                    instance_id: instance.id.clone(),
                },
                delay,
            )
            .await?;
        }
        Ok(())
    }

    /// After a control-plane restart: bring back every instance that was running.
    pub async fn recover_instances(&self, sweep: &dyn SweepStore) -> Result<usize> {
        let running = sweep
            .instances_in_states(&[InstanceStatus::Active, InstanceStatus::Restarting])
            .await?;
        let n = running.len();
        for mut instance in running {
            instance.mark_recovering(self.clock.now());
            self.store.update_instance(&instance).await?;
            self.enqueue(Job::InstanceRestart {
                account_id: instance.account_id.clone(),
                instance_id: instance.id.clone(),
            })
            .await?;
        }
        Ok(n)
    }

    /// `GET /v1/secrets` for an instance: every granted and global secret with its current
    /// value (what a container loads into its environment at start).
    pub async fn secrets_of_instance(
        &self,
        bearer: Option<&str>,
    ) -> Result<Vec<(String, SecretString)>> {
        let instance = self.authenticate_instance(bearer).await?;
        let mut out = vec![];
        for secret in self
            .store
            .secrets_for_instance(&instance.account_id, &instance.id)
            .await?
        {
            let value = self
                .vault
                .get(&secret.account_id, &secret.id)
                .await
                .map_err(|e| {
                    Error::Unexpected(anyhow::anyhow!("read secret {}: {e}", secret.id))
                })?;
            out.push((secret.name.as_str().to_owned(), value));
        }
        Ok(out)
    }

    /// `GET /v1/secrets/{name}` for an instance: granted or global secrets only.
    pub async fn secret_for_instance(
        &self,
        bearer: Option<&str>,
        name: &str,
    ) -> Result<SecretString> {
        let instance = self.authenticate_instance(bearer).await?;
        let not_found =
            || Error::NotFound(format!("secret {name} is not granted to this instance"));
        let name = SecretName::parse(name).map_err(|_| not_found())?;
        let secret = match self
            .store
            .get_secret_by_name(&instance.account_id, &name)
            .await
        {
            Ok(s) => s,
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        if !secret.is_global && !secret.grants.contains(&instance.id) {
            return Err(not_found());
        }
        self.vault
            .get(&secret.account_id, &secret.id)
            .await
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("read secret {}: {e}", secret.id)))
    }
}

/// The worker's handler for the lifecycle queue.
pub struct LifecycleJobs(pub Platform);

#[async_trait]
impl JobHandler for LifecycleJobs {
    async fn handle(&self, job: &Job, receive_count: u32) -> Result<(), JobError> {
        match self.0.run_lifecycle_job(job).await {
            Err(JobError::Transient(e)) if receive_count >= LIFECYCLE_MAX_RECEIVES => {
                // The last delivery: record why on the instance (a failure to do so leaves
                // the job to the dead-letter queue, whose watcher records it then).
                let why = format!("{e:#} (after {receive_count} attempts)");
                match self.0.fail_instance_of_job(job, &why).await {
                    Ok(_) => Err(JobError::Permanent(e)),
                    Err(record) => Err(JobError::Transient(
                        e.context(format!("and could not record the failure: {record}")),
                    )),
                }
            }
            other => other,
        }
    }
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError::Transient(anyhow::anyhow!("{e}"))
    }
}
