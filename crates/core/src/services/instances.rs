//! Instance records and their lifecycle jobs.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result};
use crate::ids::InstanceId;
use crate::jobs::Job;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct CreateInstance {
    pub name: String,
    pub kind: Option<String>,
    pub checkpoint_repo: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default)]
pub struct UpdateInstance {
    pub name: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub config: Option<serde_json::Value>,
    /// `config.channels` of an `openclaw` instance (see [`Channels`]).
    pub channels: Option<serde_json::Value>,
}

impl Platform {
    /// Records a new instance (`provisioning`) and enqueues its provisioning.
    #[tracing::instrument(skip(self, caller, req), fields(account = %caller.account.id))]
    pub async fn create_instance(&self, caller: &Caller, req: CreateInstance) -> Result<Instance> {
        let name = InstanceName::parse(&req.name)?;
        let kind = match req.kind.as_deref() {
            None => InstanceKind::default(),
            Some(k) => InstanceKind::parse(k).ok_or_else(|| {
                Error::invalid("kind", "must be \"prebuilt\", \"blank\" or \"openclaw\"")
            })?,
        };
        // A kind this server cannot run is its own shortcoming, as a missing LLM is: 503.
        self.runtime
            .supports(kind)
            .map_err(|why| Error::Unavailable {
                code: "kind_unavailable",
                message: format!("kind {}: {why}", kind.as_str()),
            })?;
        let checkpoint_repo = req
            .checkpoint_repo
            .as_deref()
            .map(|r| validate_checkpoint_repo(r, self.runtime.checkpoint_local_prefix()))
            .transpose()?;
        let env = EnvMap::parse(req.env.unwrap_or_default())?;
        let now = self.clock.now();
        let instance = Instance {
            id: InstanceId::generate(),
            account_id: caller.account.id.clone(),
            name,
            kind,
            status: InstanceStatus::Provisioning,
            status_reason: None,
            image_tag: self.config.image_tag.clone(),
            checkpoint_repo,
            env,
            config: serde_json::json!({}),
            fqdn: None,
            endpoint: None,
            restarts: 0,
            active_since: None,
            active_seconds: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        if let Some(warm) = self.claim_warm(caller, &instance).await? {
            return Ok(warm);
        }
        self.insert_with_capacity(caller, &instance).await?;
        self.enqueue(Job::provision(
            instance.account_id.clone(),
            instance.id.clone(),
        ))
        .await?;
        Ok(instance)
    }

    async fn insert_with_capacity(&self, caller: &Caller, instance: &Instance) -> Result<()> {
        let limit = caller.account.effective_plan().instance_limit;
        self.store
            .insert_instance(instance, limit)
            .await
            .map_err(|e| match e {
                crate::error::StoreError::Conflict(_) => Error::Conflict(format!(
                    "an instance named {} already exists",
                    instance.name.as_str()
                )),
                e => e.into(),
            })
    }

    pub(crate) async fn enqueue(&self, job: Job) -> Result<()> {
        self.enqueue_after(job, Duration::ZERO).await
    }

    /// Instance jobs go to the lifecycle queue, agent work to the agent queue.
    pub(crate) async fn enqueue_after(&self, job: Job, delay: Duration) -> Result<()> {
        let queue = if job.is_lifecycle() {
            &self.lifecycle
        } else {
            &self.queue
        };
        queue
            .send(&job, delay)
            .await
            .map_err(|e| Error::Unexpected(e.context(format!("enqueue {}", job.kind()))))?;
        Ok(())
    }

    /// By id (`inst_...`, deleted ones included) or by name (live ones only).
    pub async fn get_instance(&self, caller: &Caller, id_or_name: &str) -> Result<Instance> {
        let account = &caller.account.id;
        if let Some(id) = InstanceId::parse(id_or_name) {
            return self
                .store
                .get_instance(account, &id)
                .await
                .or_not_found("instance", id_or_name);
        }
        let name = InstanceName::parse(id_or_name)
            .map_err(|_| Error::not_found("instance", id_or_name))?;
        self.store
            .get_instance_by_name(account, &name)
            .await
            .or_not_found("instance", id_or_name)
    }

    async fn get_live_instance(&self, caller: &Caller, id_or_name: &str) -> Result<Instance> {
        let instance = self.get_instance(caller, id_or_name).await?;
        if instance.deleted_at.is_some() {
            return Err(Error::Conflict(format!(
                "instance {} is deleted",
                instance.id
            )));
        }
        Ok(instance)
    }

    pub async fn list_instances(
        &self,
        caller: &Caller,
        page: &PageRequest,
        include_deleted: bool,
    ) -> Result<Page<Instance>> {
        Ok(self
            .store
            .list_instances(&caller.account.id, page, include_deleted)
            .await?)
    }

    #[tracing::instrument(skip(self, caller, req), fields(account = %caller.account.id))]
    pub async fn update_instance(
        &self,
        caller: &Caller,
        id_or_name: &str,
        req: UpdateInstance,
    ) -> Result<Instance> {
        let mut instance = self.get_live_instance(caller, id_or_name).await?;
        if let Some(name) = req.name {
            instance.name = InstanceName::parse(&name)?;
        }
        if let Some(env) = req.env {
            instance.env = EnvMap::parse(env)?;
        }
        let before = Channels::of_config(&instance.config);
        if let Some(config) = req.config {
            instance.config = validate_config(config)?;
        }
        if let Some(channels) = req.channels {
            if let Some(obj) = instance.config.as_object_mut() {
                obj.insert("channels".into(), channels);
            }
        }
        let channels = match instance.config.get("channels") {
            Some(c) => Some(Channels::parse(c)?),
            None => None,
        };
        let rewire = channels.as_ref().filter(|c| c.telegram.is_some()) != before.as_ref();
        if rewire {
            self.check_channels(&instance, channels.as_ref()).await?;
        }
        instance.updated_at = self.clock.now();
        // New channels take effect by a restart (OpenClaw reads the tokens at start).
        let restart = rewire && instance.status == InstanceStatus::Active;
        if restart {
            instance.begin_restart(self.clock.now())?;
        }
        self.store
            .update_instance(&instance)
            .await
            .map_err(|e| match e {
                crate::error::StoreError::Conflict(_) => Error::Conflict(format!(
                    "an instance named {} already exists",
                    instance.name.as_str()
                )),
                e => e.into(),
            })?;
        if restart {
            self.enqueue(Job::InstanceRestart {
                account_id: instance.account_id.clone(),
                instance_id: instance.id.clone(),
            })
            .await?;
        }
        Ok(instance)
    }

    /// Channels need an `openclaw` instance, and their token secrets granted to it.
    async fn check_channels(&self, instance: &Instance, channels: Option<&Channels>) -> Result<()> {
        let Some(channels) = channels else {
            return Ok(());
        };
        if instance.kind != InstanceKind::Openclaw {
            return Err(Error::Conflict(
                "channels need an instance of kind openclaw (its OpenClaw runs the channels)"
                    .into(),
            ));
        }
        let granted: Vec<String> = self
            .store
            .secrets_for_instance(&instance.account_id, &instance.id)
            .await?
            .into_iter()
            .map(|s| s.name.as_str().to_owned())
            .collect();
        for name in channels.secrets() {
            if !granted.iter().any(|g| g == name) {
                return Err(Error::Conflict(format!(
                    "channels: secret {name} is not granted to instance {}: create and grant it first",
                    instance.name.as_str()
                )));
            }
        }
        Ok(())
    }

    /// `active` or `failed` → `restarting`, and a restart job.
    pub async fn restart_instance(&self, caller: &Caller, id_or_name: &str) -> Result<Instance> {
        let mut instance = self.get_live_instance(caller, id_or_name).await?;
        instance.begin_restart(self.clock.now())?;
        self.store.update_instance(&instance).await?;
        self.enqueue(Job::InstanceRestart {
            account_id: instance.account_id.clone(),
            instance_id: instance.id.clone(),
        })
        .await?;
        Ok(instance)
    }

    /// A new instance (own capacity slot) whose workspace is copied from the source.
    pub async fn clone_instance(
        &self,
        caller: &Caller,
        id_or_name: &str,
        name: &str,
    ) -> Result<Instance> {
        let source = self.get_live_instance(caller, id_or_name).await?;
        let name = InstanceName::parse(name)?;
        let now = self.clock.now();
        let instance = Instance {
            id: InstanceId::generate(),
            name,
            status: InstanceStatus::Provisioning,
            status_reason: None,
            fqdn: None,
            endpoint: None,
            restarts: 0,
            active_since: None,
            active_seconds: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            ..source.clone()
        };
        self.insert_with_capacity(caller, &instance).await?;
        self.enqueue(Job::InstanceClone {
            account_id: instance.account_id.clone(),
            source_id: source.id,
            instance_id: instance.id.clone(),
        })
        .await?;
        Ok(instance)
    }

    /// Marks the instance deleted (`inactive`, name freed) and enqueues stopping it.
    /// Deleting a deleted instance is a no-op.
    pub async fn delete_instance(&self, caller: &Caller, id_or_name: &str) -> Result<()> {
        let mut instance = self.get_instance(caller, id_or_name).await?;
        if instance.deleted_at.is_some() {
            return Ok(());
        }
        instance.mark_deleted(self.clock.now());
        self.store.update_instance(&instance).await?;
        self.enqueue(Job::InstanceStop {
            account_id: instance.account_id.clone(),
            instance_id: instance.id.clone(),
        })
        .await
    }
}
