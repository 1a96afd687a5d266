//! Each instance's own task definition when workspaces are on EFS: the stack's instance task
//! definition (the base) plus a volume on the instance's access point, mounted at the
//! container's workspace. ECS takes volumes only from task definitions (RunTask cannot
//! override them), so an instance gets a family of its own, `<base family>-<instance id>`;
//! it is registered again only when the base changes (a deploy), and the access point it
//! names is the instance's workspace for good (a restart, a relaunch, a new image).

use super::EcsRuntime;
use crate::efs::Workspaces;
use anyhow::Context;
use aws_sdk_ecs::types::{
    EfsAuthorizationConfig, EfsAuthorizationConfigIam, EfsTransitEncryption,
    EfsVolumeConfiguration, MountPoint, Tag, TaskDefinition, TaskDefinitionField, Volume,
};
use operator_core::ids::{AccountId, InstanceId};

/// The volume holding the workspace, and where the instance image keeps its workspace.
pub const WORKSPACE_VOLUME: &str = "workspace";
pub const WORKSPACE_PATH: &str = "/workspace";
const BASE_TAG: &str = "operator:base";

/// The stack's instance task definition, as described once per process.
#[derive(Debug)]
pub struct Base {
    pub arn: String,
    pub family: String,
    def: TaskDefinition,
}

impl EcsRuntime {
    pub(super) async fn base(&self) -> anyhow::Result<&Base> {
        self.base
            .get_or_try_init(|| async {
                let def = self
                    .client
                    .describe_task_definition()
                    .task_definition(&self.settings.task_definition)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.into_service_error()))
                    .context("ECS DescribeTaskDefinition (the instance task definition)")?
                    .task_definition
                    .context("ECS described no task definition")?;
                Ok(Base {
                    arn: def.task_definition_arn().unwrap_or_default().to_owned(),
                    family: def.family().unwrap_or_default().to_owned(),
                    def,
                })
            })
            .await
    }

    /// The family of `id`'s own task definition.
    pub async fn family_of(&self, id: &InstanceId) -> anyhow::Result<String> {
        Ok(format!("{}-{id}", self.base().await?.family))
    }

    /// The latest active revision of `family` with its tags; `None` if it has none.
    pub(super) async fn describe_family(
        &self,
        family: &str,
    ) -> anyhow::Result<Option<(TaskDefinition, Vec<Tag>)>> {
        match self
            .client
            .describe_task_definition()
            .task_definition(family)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .task_definition
                .filter(|d| d.status().map(|s| s.as_str()) != Some("INACTIVE"))
                .map(|d| (d, out.tags.unwrap_or_default()))),
            Err(e) => {
                let e = e.into_service_error();
                // ECS answers a family it does not know with a ClientException.
                if e.is_client_exception() {
                    Ok(None)
                } else {
                    Err(anyhow::anyhow!("{e}").context("ECS DescribeTaskDefinition"))
                }
            }
        }
    }

    /// The access point an instance task definition mounts as the workspace.
    pub fn access_point_of(def: &TaskDefinition) -> Option<String> {
        def.volumes()
            .iter()
            .find(|v| v.name() == Some(WORKSPACE_VOLUME))
            .and_then(|v| v.efs_volume_configuration())
            .and_then(|c| c.authorization_config())
            .and_then(|a| a.access_point_id())
            .map(str::to_owned)
    }

    /// The task definition to run `id` with: the base as it is without EFS; with EFS, the
    /// instance's own (made, with its access point, on its first start).
    pub(super) async fn task_definition_for(
        &self,
        id: &InstanceId,
        account: &AccountId,
    ) -> anyhow::Result<String> {
        let Some(ws) = &self.workspaces else {
            return Ok(self.settings.task_definition.clone());
        };
        let base = self.base().await?;
        let family = self.family_of(id).await?;
        let access_point = match self.describe_family(&family).await? {
            Some((def, tags)) => {
                let current = tags
                    .iter()
                    .any(|t| t.key() == Some(BASE_TAG) && t.value() == Some(base.arn.as_str()));
                if current {
                    return def
                        .task_definition_arn()
                        .map(str::to_owned)
                        .context("ECS described a task definition without an ARN");
                }
                Self::access_point_of(&def)
                    .with_context(|| format!("{family} mounts no workspace access point"))?
            }
            None => ws.create_access_point(id, account).await?,
        };
        self.register(base, &family, ws, &access_point, id, account)
            .await
    }

    /// Registers `family` as the base plus the workspace volume on `access_point`.
    pub(super) async fn register(
        &self,
        base: &Base,
        family: &str,
        ws: &Workspaces,
        access_point: &str,
        id: &InstanceId,
        account: &AccountId,
    ) -> anyhow::Result<String> {
        let d = &base.def;
        let mut containers = d.container_definitions().to_vec();
        let container = containers
            .iter_mut()
            .find(|c| c.name() == Some(self.settings.container.as_str()))
            .with_context(|| {
                format!(
                    "the instance task definition has no container {:?}",
                    self.settings.container
                )
            })?;
        let mut mounts = container.mount_points.take().unwrap_or_default();
        mounts.retain(|m| m.container_path() != Some(WORKSPACE_PATH));
        mounts.push(
            MountPoint::builder()
                .source_volume(WORKSPACE_VOLUME)
                .container_path(WORKSPACE_PATH)
                .read_only(false)
                .build(),
        );
        container.mount_points = Some(mounts);
        let mut volumes = d.volumes().to_vec();
        volumes.retain(|v| v.name() != Some(WORKSPACE_VOLUME));
        volumes.push(
            Volume::builder()
                .name(WORKSPACE_VOLUME)
                .efs_volume_configuration(
                    EfsVolumeConfiguration::builder()
                        .file_system_id(ws.file_system_id())
                        .transit_encryption(EfsTransitEncryption::Enabled)
                        .authorization_config(
                            EfsAuthorizationConfig::builder()
                                .access_point_id(access_point)
                                .iam(EfsAuthorizationConfigIam::Disabled)
                                .build(),
                        )
                        .build()
                        .context("EFS volume")?,
                )
                .build(),
        );
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let out = self
            .client
            .register_task_definition()
            .family(family)
            .set_task_role_arn(d.task_role_arn().map(str::to_owned))
            .set_execution_role_arn(d.execution_role_arn().map(str::to_owned))
            .set_network_mode(d.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(Some(volumes))
            .set_placement_constraints(Some(d.placement_constraints().to_vec()))
            .set_requires_compatibilities(Some(d.requires_compatibilities().to_vec()))
            .set_cpu(d.cpu().map(str::to_owned))
            .set_memory(d.memory().map(str::to_owned))
            .set_pid_mode(d.pid_mode().cloned())
            .set_ipc_mode(d.ipc_mode().cloned())
            .set_ephemeral_storage(d.ephemeral_storage().cloned())
            .set_runtime_platform(d.runtime_platform().cloned())
            .tags(tag(BASE_TAG, &base.arn))
            .tags(tag("operator:instance", id.as_str()))
            .tags(tag("operator:account", account.as_str()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.into_service_error()))
            .context("ECS RegisterTaskDefinition")?;
        out.task_definition
            .and_then(|d| d.task_definition_arn)
            .context("ECS registered no task definition")
    }

    /// Deregisters every active revision of `family` (ECS keeps inactive ones readable for
    /// tasks that still name them). Bounded: a family has a handful of revisions, one per
    /// deploy the instance lived through.
    pub(super) async fn deregister_family(&self, family: &str) -> anyhow::Result<()> {
        for _ in 0..100 {
            let Some((def, _)) = self.describe_family(family).await? else {
                return Ok(());
            };
            let arn = def
                .task_definition_arn()
                .context("ECS described a task definition without an ARN")?;
            self.client
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.into_service_error()))
                .context("ECS DeregisterTaskDefinition")?;
        }
        anyhow::bail!("{family} still has active revisions after 100 deregistrations")
    }
}
