//! `InstanceRuntime` on ECS Fargate: one task of the instance task definition per instance.
//! `startedBy` carries the instance id (how tasks are found again); `clientToken` makes a
//! redelivered start return the same task; the task's private IP is the endpoint.
//!
//! Only the instance's own `env` and the platform variables go into the task overrides —
//! overrides are readable by anyone who may describe tasks, so secret values stay out of
//! them (instances read granted secrets from the control plane).

use anyhow::{bail, Context};
use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, Tag, Task, TaskOverride,
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
}

impl EcsRuntime {
    pub fn new(client: Client, settings: EcsSettings, http: reqwest::Client) -> Self {
        Self {
            client,
            settings,
            http,
        }
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

    /// Idempotency token: the same for a redelivered start, new for each restart.
    pub fn client_token(spec: &InstanceSpec) -> String {
        format!(
            "{}-{}",
            spec.instance.id,
            spec.instance.updated_at.timestamp_millis()
        )
    }

    async fn tasks_of(&self, id: &InstanceId) -> anyhow::Result<Vec<Task>> {
        let arns = self
            .client
            .list_tasks()
            .cluster(&self.settings.cluster)
            .started_by(id.as_str())
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
            .send()
            .await
            .context("ECS DescribeTasks")?
            .tasks
            .unwrap_or_default())
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
                return RuntimeStatus::Stopped
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
        // Already started (a redelivered job)? Report on that task instead of a second one.
        let token = Self::client_token(spec);
        if let Some(task) = self
            .tasks_of(&spec.instance.id)
            .await?
            .into_iter()
            .find(|t| t.last_status() != Some("STOPPED") && t.desired_status() != Some("STOPPED"))
        {
            return Ok(self.status_of(&task, spec.token.expose_secret()).await);
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
        let out = self
            .client
            .run_task()
            .cluster(&s.cluster)
            .task_definition(&s.task_definition)
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
        let tasks = self.tasks_of(id).await?;
        Ok(
            match tasks.iter().find(|t| t.last_status() == Some("RUNNING")) {
                Some(t) => match Self::private_ip(t) {
                    Some(ip) => RuntimeStatus::Running {
                        endpoint: format!("http://{ip}:{}", self.settings.port),
                    },
                    None => RuntimeStatus::Starting,
                },
                None if tasks.iter().any(|t| t.last_status() != Some("STOPPED")) => {
                    RuntimeStatus::Starting
                }
                None => RuntimeStatus::Stopped,
            },
        )
    }

    #[tracing::instrument(skip_all, fields(instance = %id))]
    async fn stop(&self, id: &InstanceId) -> anyhow::Result<()> {
        for task in self.tasks_of(id).await? {
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

    #[tracing::instrument(skip_all, fields(from = %from, to = %_to))]
    async fn copy_workspace(&self, from: &InstanceId, _to: &InstanceId) -> anyhow::Result<()> {
        bail!("cloning {from}: Fargate tasks have no persistent workspace to copy yet (shared storage is not configured)")
    }

    #[tracing::instrument(skip_all, fields(instance = %id))]
    async fn destroy(&self, id: &InstanceId) -> anyhow::Result<()> {
        self.stop(id).await
    }
}
