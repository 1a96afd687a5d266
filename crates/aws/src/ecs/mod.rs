//! `InstanceRuntime` on ECS Fargate: one task of the instance task definition per instance.
//! `startedBy` carries the instance id (how tasks are found again); each launch of a start has
//! its own `clientToken` (also the task's `operator:launch` tag), so a redelivered or repeated
//! start of one launch returns that launch's task — stopped, with its `stoppedReason`, if it
//! died — and the next launch gets a new task; the task's private IP is the endpoint.
//!
//! With workspaces on EFS ([`crate::efs`]) each instance runs its own task definition, the
//! base plus its workspace access point (`task_definition`); without, the base as it is
//! (workspaces then live and die with the task).
//!
//! Only the instance's own `env` and the platform variables go into the task overrides —
//! overrides are readable by anyone who may describe tasks, so secret values stay out of
//! them (instances read granted secrets from the control plane).

mod task_definition;
pub use task_definition::{WORKSPACE_PATH, WORKSPACE_VOLUME};

use crate::efs::Workspaces;
use anyhow::{bail, Context};
use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, DesiredStatus, KeyValuePair,
    LaunchType, NetworkConfiguration, Tag, Task, TaskField, TaskOverride,
};
use aws_sdk_ecs::Client;
use operator_core::domain::{Channels, InstanceKind};
use operator_core::ids::InstanceId;
use operator_core::ports::{InstanceRuntime, InstanceSpec, RuntimeStatus};
use secrecy::ExposeSecret;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EcsSettings {
    pub cluster: String,
    /// Family or ARN of the instance task definition.
    pub task_definition: String,
    /// The container running `operator-instance`.
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// The port `operator-instance` listens on in the task.
    pub port: u16,
    /// Task size of an `openclaw` instance (Fargate CPU units, MiB): its OpenClaw gateway
    /// alone holds ~1.2 GB, so it does not fit the default instance size.
    pub openclaw_cpu: String,
    pub openclaw_memory: String,
}

/// Where the instance image keeps OpenClaw (infra/docker/instance.Dockerfile).
pub const IMAGE_OPENCLAW_DIR: &str = "/opt/openclaw";

pub struct EcsRuntime {
    client: Client,
    settings: EcsSettings,
    http: reqwest::Client,
    workspaces: Option<Workspaces>,
    base: tokio::sync::OnceCell<task_definition::Base>,
}

/// How long `destroy` waits for an instance's tasks to stop before it removes the workspace
/// they mount (ECS gives a container its stop timeout, 30 s by default, before SIGKILL).
const STOP_WAIT: Duration = Duration::from_secs(120);

impl EcsRuntime {
    pub fn new(client: Client, settings: EcsSettings, http: reqwest::Client) -> Self {
        Self {
            client,
            settings,
            http,
            workspaces: None,
            base: tokio::sync::OnceCell::new(),
        }
    }

    /// Workspaces on EFS: each instance mounts its own access point, kept across restarts.
    pub fn with_workspaces(mut self, workspaces: Workspaces) -> Self {
        self.workspaces = Some(workspaces);
        self
    }

    /// The access point path of `id`'s workspace: the one its task definition mounts, or
    /// where its first start will put it.
    async fn workspace_root(&self, ws: &Workspaces, id: &InstanceId) -> anyhow::Result<String> {
        let family = self.family_of(id).await?;
        if let Some(ap) = self
            .describe_family(&family)
            .await?
            .and_then(|(def, _)| Self::access_point_of(&def))
        {
            if let Some(root) = ws.access_point_root(&ap).await? {
                return Ok(root);
            }
        }
        Ok(Workspaces::root_of(id))
    }

    /// Waits until none of `id`'s tasks is live (bounded by `STOP_WAIT`).
    async fn wait_stopped(&self, id: &InstanceId) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        while self.live_task(id).await?.is_some() {
            if tokio::time::Instant::now() > deadline {
                bail!("the instance's task is still stopping after {STOP_WAIT:?}");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok(())
    }

    /// Environment overrides for the task (no secret values).
    pub fn environment(spec: &InstanceSpec, port: u16) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = spec
            .instance
            .env
            .as_map()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.push(("OPERATOR_INSTANCE_ID".into(), spec.instance.id.to_string()));
        env.push((
            "OPERATOR_INSTANCE_TOKEN".into(),
            spec.token.expose_secret().to_owned(),
        ));
        env.push(("OPERATOR_CONTROL_URL".into(), spec.control_url.clone()));
        env.push((
            "OPERATOR_INSTANCE_KIND".into(),
            spec.instance.kind.as_str().into(),
        ));
        env.push(("OPERATOR_INSTANCE_PORT".into(), port.to_string()));
        env.push(("OPERATOR_INSTANCE_BIND".into(), "0.0.0.0".into()));
        // Secret values come from the control plane at start, not from the overrides.
        env.push(("OPERATOR_LOAD_SECRETS".into(), "1".into()));
        if let Some(repo) = &spec.instance.checkpoint_repo {
            env.push(("OPERATOR_CHECKPOINT_REPO".into(), repo.clone()));
        }
        if spec.instance.kind == InstanceKind::Openclaw {
            env.push(("OPERATOR_OPENCLAW_DIR".into(), IMAGE_OPENCLAW_DIR.into()));
            // Tokens by name only (`${SECRET}`): the values come with the secrets at start.
            if let Some(channels) = Channels::of_config(&spec.instance.config) {
                env.push((
                    "OPERATOR_OPENCLAW_CHANNELS".into(),
                    channels.openclaw_config(None).to_string(),
                ));
            }
        }
        env
    }

    /// The task's size for `spec`'s kind, when not the task definition's.
    pub fn task_size(&self, spec: &InstanceSpec) -> Option<(&str, &str)> {
        (spec.instance.kind == InstanceKind::Openclaw).then_some((
            self.settings.openclaw_cpu.as_str(),
            self.settings.openclaw_memory.as_str(),
        ))
    }

    /// Idempotency token of one launch (ECS keeps it 24 hours; at most 64 characters): the
    /// same for every call of that launch, new for the next launch and for each restart.
    pub fn client_token(spec: &InstanceSpec) -> String {
        format!(
            "{}-{}-{}",
            spec.instance.id,
            spec.launch,
            spec.instance.updated_at.timestamp_millis()
        )
    }

    /// The instance's tasks whose desired status is `desired` (RUNNING: live or starting;
    /// STOPPED: stopping or stopped in the last hour or so), with their tags.
    async fn tasks_of(&self, id: &InstanceId, desired: DesiredStatus) -> anyhow::Result<Vec<Task>> {
        let arns = self
            .client
            .list_tasks()
            .cluster(&self.settings.cluster)
            .started_by(id.as_str())
            .desired_status(desired)
            .send()
            .await
            .context("ECS ListTasks")?
            .task_arns
            .unwrap_or_default();
        if arns.is_empty() {
            return Ok(vec![]);
        }
        Ok(self
            .client
            .describe_tasks()
            .cluster(&self.settings.cluster)
            .set_tasks(Some(arns))
            .include(TaskField::Tags)
            .send()
            .await
            .context("ECS DescribeTasks")?
            .tasks
            .unwrap_or_default())
    }

    /// A live task of the instance (not stopped, not being stopped), if any.
    async fn live_task(&self, id: &InstanceId) -> anyhow::Result<Option<Task>> {
        Ok(self
            .tasks_of(id, DesiredStatus::Running)
            .await?
            .into_iter()
            .find(|t| t.last_status() != Some("STOPPED") && t.desired_status() != Some("STOPPED")))
    }

    /// Why a stopped task stopped, as ECS tells it: `stoppedReason`, `stopCode`, and the
    /// container's own reason and exit code when it has them.
    pub fn stop_reason(task: &Task) -> String {
        let mut reason = task
            .stopped_reason()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or("stopped")
            .trim()
            .to_owned();
        if let Some(code) = task.stop_code() {
            reason.push_str(&format!(" ({})", code.as_str()));
        }
        for c in task.containers() {
            match (c.reason().filter(|r| !r.trim().is_empty()), c.exit_code()) {
                (Some(r), Some(code)) => {
                    reason.push_str(&format!("; container: {r}, exit code {code}"))
                }
                (Some(r), None) => reason.push_str(&format!("; container: {r}")),
                (None, Some(code)) if code != 0 => {
                    reason.push_str(&format!("; container exit code {code}"))
                }
                _ => {}
            }
        }
        reason
    }

    fn launch_of(task: &Task) -> Option<&str> {
        task.tags()
            .iter()
            .find(|t| t.key() == Some("operator:launch"))
            .and_then(|t| t.value())
    }

    fn private_ip(task: &Task) -> Option<String> {
        task.attachments()
            .iter()
            .flat_map(|a| a.details())
            .find(|d| d.name() == Some("privateIPv4Address"))
            .and_then(|d| d.value().map(str::to_owned))
    }

    /// Running and answering its health check, or still starting.
    async fn status_of(&self, task: &Task, token: &str) -> RuntimeStatus {
        match task.last_status() {
            Some("STOPPED") | Some("DEPROVISIONING") | Some("STOPPING") => {
                return RuntimeStatus::Stopped {
                    reason: Some(Self::stop_reason(task)),
                }
            }
            Some("RUNNING") => {}
            _ => return RuntimeStatus::Starting,
        }
        let Some(ip) = Self::private_ip(task) else {
            return RuntimeStatus::Starting;
        };
        let endpoint = format!("http://{ip}:{}", self.settings.port);
        let healthy = self
            .http
            .get(format!("{endpoint}/health"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            RuntimeStatus::Running { endpoint }
        } else {
            RuntimeStatus::Starting
        }
    }
}

#[async_trait]
impl InstanceRuntime for EcsRuntime {
    #[tracing::instrument(skip_all, fields(instance = %spec.instance.id))]
    async fn start(&self, spec: &InstanceSpec) -> anyhow::Result<RuntimeStatus> {
        // Already started (a redelivered job, a check on this launch)? Report on that task.
        let token = Self::client_token(spec);
        if let Some(task) = self.live_task(&spec.instance.id).await? {
            return Ok(self.status_of(&task, spec.token.expose_secret()).await);
        }
        // This launch's task stopped already: report why, and launch nothing (the next
        // launch, with its own token, is the caller's decision).
        if let Some(task) = self
            .tasks_of(&spec.instance.id, DesiredStatus::Stopped)
            .await?
            .into_iter()
            .find(|t| Self::launch_of(t) == Some(token.as_str()))
        {
            return Ok(RuntimeStatus::Stopped {
                reason: Some(Self::stop_reason(&task)),
            });
        }
        let s = &self.settings;
        let env = Self::environment(spec, s.port)
            .into_iter()
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .collect();
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(s.subnets.clone()))
                    .set_security_groups(Some(s.security_groups.clone()))
                    .assign_public_ip(if s.assign_public_ip {
                        AssignPublicIp::Enabled
                    } else {
                        AssignPublicIp::Disabled
                    })
                    .build()
                    .context("awsvpc configuration")?,
            )
            .build();
        let task_definition = self
            .task_definition_for(&spec.instance.id, &spec.instance.account_id)
            .await?;
        // The task group stays the base family's, which the stack's exit rule matches.
        let group = match &self.workspaces {
            Some(_) => Some(format!("family:{}", self.base().await?.family)),
            None => None,
        };
        let out = self
            .client
            .run_task()
            .cluster(&s.cluster)
            .task_definition(task_definition)
            .set_group(group)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name(&s.container)
                            .set_environment(Some(env))
                            .build(),
                    )
                    .set_cpu(self.task_size(spec).map(|(cpu, _)| cpu.to_owned()))
                    .set_memory(self.task_size(spec).map(|(_, mem)| mem.to_owned()))
                    .build(),
            )
            .started_by(spec.instance.id.as_str())
            .tags(
                Tag::builder()
                    .key("operator:instance")
                    .value(spec.instance.id.as_str())
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key("operator:account")
                    .value(spec.instance.account_id.as_str())
                    .build(),
            )
            .tags(Tag::builder().key("operator:launch").value(&token).build())
            .client_token(token)
            .send()
            .await
            .context("ECS RunTask")?;
        if let Some(f) = out.failures().first() {
            bail!(
                "ECS could not start the task: {} ({})",
                f.reason().unwrap_or("unknown"),
                f.detail().unwrap_or_default()
            );
        }
        let task = out
            .tasks()
            .first()
            .context("ECS RunTask returned no task")?;
        Ok(self.status_of(task, spec.token.expose_secret()).await)
    }

    #[tracing::instrument(skip_all, fields(instance = %id))]
    async fn status(&self, id: &InstanceId) -> anyhow::Result<RuntimeStatus> {
        if let Some(task) = self.live_task(id).await? {
            return Ok(match (task.last_status(), Self::private_ip(&task)) {
                (Some("RUNNING"), Some(ip)) => RuntimeStatus::Running {
                    endpoint: format!("http://{ip}:{}", self.settings.port),
                },
                _ => RuntimeStatus::Starting,
            });
        }
        // The reason of the task that stopped last, when ECS still lists it.
        let last = self
            .tasks_of(id, DesiredStatus::Stopped)
            .await?
            .into_iter()
            .max_by_key(|t| t.stopped_at().map(|at| (at.secs(), at.subsec_nanos())));
        Ok(RuntimeStatus::Stopped {
            reason: last.as_ref().map(Self::stop_reason),
        })
    }

    #[tracing::instrument(skip_all, fields(instance = %id))]
    async fn stop(&self, id: &InstanceId) -> anyhow::Result<()> {
        for task in self.tasks_of(id, DesiredStatus::Running).await? {
            if task.last_status() == Some("STOPPED") {
                continue;
            }
            let Some(arn) = task.task_arn() else { continue };
            self.client
                .stop_task()
                .cluster(&self.settings.cluster)
                .task(arn)
                .reason("stopped by Operator")
                .send()
                .await
                .context("ECS StopTask")?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(from = %from, to = %to))]
    async fn copy_workspace(&self, from: &InstanceId, to: &InstanceId) -> anyhow::Result<()> {
        let Some(ws) = &self.workspaces else {
            bail!("cloning needs persistent workspaces: this deployment runs instances without EFS (OPERATOR_EFS_FILE_SYSTEM_ID and OPERATOR_WORKSPACES_DIR are unset)")
        };
        let src = self.workspace_root(ws, from).await?;
        ws.copy(&src, &Workspaces::root_of(to)).await
    }

    #[tracing::instrument(skip_all, fields(instance = %id))]
    async fn destroy(&self, id: &InstanceId) -> anyhow::Result<()> {
        self.stop(id).await?;
        let Some(ws) = &self.workspaces else {
            return Ok(());
        };
        // The workspace goes once no task mounts it any more.
        self.wait_stopped(id).await?;
        let family = self.family_of(id).await?;
        let access_point = self
            .describe_family(&family)
            .await?
            .and_then(|(def, _)| Self::access_point_of(&def));
        let root = self.workspace_root(ws, id).await?;
        ws.remove(&root).await?;
        if let Some(ap) = access_point {
            ws.delete_access_point(&ap).await?;
        }
        self.deregister_family(&family).await
    }
}
