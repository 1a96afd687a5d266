//! Persistent instance workspaces on EFS. Each instance has an access point rooted at
//! `/instances/<id>` of the stack's file system, acting as the instance image's user; its
//! task definition mounts that access point at the container's workspace (see
//! `EcsRuntime`), so restarts and crash-restarts find the workspace as it was left. The
//! worker mounts the file system's `/instances` (its own access point, same user) at
//! `OPERATOR_WORKSPACES_DIR`: a clone is a directory copy there, a delete a removal.

#[cfg(feature = "workspaces")]
use anyhow::Context;
use operator_core::ids::{AccountId, InstanceId};
use std::path::PathBuf;

/// Where every instance workspace lives on the file system (the worker's access point root).
pub const WORKSPACES_ROOT: &str = "/instances";

#[derive(Debug, Clone)]
pub struct EfsSettings {
    pub file_system_id: String,
    /// The worker's mount of the file system's `/instances`.
    pub mount: PathBuf,
    /// The instance image's user and group (infra/docker/instance.Dockerfile: 10001).
    pub uid: i64,
    pub gid: i64,
}

#[cfg(feature = "workspaces")]
pub struct Workspaces {
    client: aws_sdk_efs::Client,
    settings: EfsSettings,
}

#[cfg(feature = "workspaces")]
impl Workspaces {
    pub fn new(client: aws_sdk_efs::Client, settings: EfsSettings) -> Self {
        Self { client, settings }
    }

    pub fn file_system_id(&self) -> &str {
        &self.settings.file_system_id
    }

    /// The access point path of `id`'s workspace.
    pub fn root_of(id: &InstanceId) -> String {
        format!("{WORKSPACES_ROOT}/{id}")
    }

    /// The worker's path of the workspace at access point path `root`, if it lies under
    /// `/instances` (one plain component below it).
    pub fn local_dir(&self, root: &str) -> Option<PathBuf> {
        let name = root.strip_prefix(WORKSPACES_ROOT)?.strip_prefix('/')?;
        (!name.is_empty() && !name.contains('/') && name != "." && name != "..")
            .then(|| self.settings.mount.join(name))
    }

    /// A new access point for `id`'s workspace (EFS creates the directory, owned by the
    /// instance user, at the first mount). The client token makes a repeated call return
    /// the same access point where EFS honours it.
    pub async fn create_access_point(
        &self,
        id: &InstanceId,
        account: &AccountId,
    ) -> anyhow::Result<String> {
        let s = &self.settings;
        use aws_sdk_efs::types::{CreationInfo, PosixUser, RootDirectory, Tag};
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let out = self
            .client
            .create_access_point()
            .client_token(id.as_str())
            .file_system_id(&s.file_system_id)
            .posix_user(
                PosixUser::builder()
                    .uid(s.uid)
                    .gid(s.gid)
                    .build()
                    .context("posix user")?,
            )
            .root_directory(
                RootDirectory::builder()
                    .path(Self::root_of(id))
                    .creation_info(
                        CreationInfo::builder()
                            .owner_uid(s.uid)
                            .owner_gid(s.gid)
                            .permissions("0750")
                            .build()
                            .context("creation info")?,
                    )
                    .build(),
            )
            .tags(tag("Name", id.as_str())?)
            .tags(tag("operator:instance", id.as_str())?)
            .tags(tag("operator:account", account.as_str())?)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.into_service_error()))
            .context("EFS CreateAccessPoint")?;
        out.access_point_id
            .context("EFS CreateAccessPoint returned no id")
    }

    /// The path an access point is rooted at, `None` if it no longer exists.
    pub async fn access_point_root(&self, access_point: &str) -> anyhow::Result<Option<String>> {
        match self
            .client
            .describe_access_points()
            .access_point_id(access_point)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .access_points()
                .first()
                .and_then(|ap| ap.root_directory())
                .and_then(|r| r.path())
                .map(str::to_owned)),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_access_point_not_found() {
                    Ok(None)
                } else {
                    Err(anyhow::anyhow!("{e}").context("EFS DescribeAccessPoints"))
                }
            }
        }
    }

    /// Deletes an access point (its directory stays; see [`Self::remove`]). Ok if absent.
    pub async fn delete_access_point(&self, access_point: &str) -> anyhow::Result<()> {
        match self
            .client
            .delete_access_point()
            .access_point_id(access_point)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_access_point_not_found() {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{e}").context("EFS DeleteAccessPoint"))
                }
            }
        }
    }

    /// Copies the workspace at access point path `from` to `to`, through the worker's mount.
    pub async fn copy(&self, from: &str, to: &str) -> anyhow::Result<()> {
        let (src, dst) = (self.dir(from)?, self.dir(to)?);
        tokio::task::spawn_blocking(move || {
            operator_core::ports::workspace_copy::copy_workspace(&src, &dst)
        })
        .await?
    }

    /// Removes the workspace at access point path `root`. Ok if absent.
    pub async fn remove(&self, root: &str) -> anyhow::Result<()> {
        let dir = self.dir(root)?;
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context("remove the instance's workspace")),
        })
        .await?
    }

    fn dir(&self, root: &str) -> anyhow::Result<PathBuf> {
        self.local_dir(root)
            .with_context(|| format!("{root} is not a workspace under {WORKSPACES_ROOT}"))
    }
}

/// Built without the `workspaces` feature (the API function, which never touches
/// workspaces): the type exists but has no value, so no code path can reach EFS.
#[cfg(not(feature = "workspaces"))]
pub enum Workspaces {}

#[cfg(not(feature = "workspaces"))]
#[allow(clippy::unused_async)]
impl Workspaces {
    pub fn file_system_id(&self) -> &str {
        match *self {}
    }
    pub fn root_of(id: &InstanceId) -> String {
        format!("{WORKSPACES_ROOT}/{id}")
    }
    pub fn local_dir(&self, _root: &str) -> Option<PathBuf> {
        match *self {}
    }
    pub async fn create_access_point(
        &self,
        _: &InstanceId,
        _: &AccountId,
    ) -> anyhow::Result<String> {
        match *self {}
    }
    pub async fn access_point_root(&self, _: &str) -> anyhow::Result<Option<String>> {
        match *self {}
    }
    pub async fn delete_access_point(&self, _: &str) -> anyhow::Result<()> {
        match *self {}
    }
    pub async fn copy(&self, _: &str, _: &str) -> anyhow::Result<()> {
        match *self {}
    }
    pub async fn remove(&self, _: &str) -> anyhow::Result<()> {
        match *self {}
    }
}

#[cfg(all(test, feature = "workspaces"))]
mod tests {
    use super::*;

    #[test]
    fn only_direct_children_of_the_workspaces_root_map_to_the_mount() {
        let cfg = aws_sdk_efs::Config::builder()
            .behavior_version(aws_sdk_efs::config::BehaviorVersion::latest())
            .build();
        let w = Workspaces::new(
            aws_sdk_efs::Client::from_conf(cfg),
            EfsSettings {
                file_system_id: "fs-1".into(),
                mount: "/mnt/workspaces".into(),
                uid: 10001,
                gid: 10001,
            },
        );
        assert_eq!(
            w.local_dir("/instances/inst_1"),
            Some(PathBuf::from("/mnt/workspaces/inst_1"))
        );
        for bad in [
            "/instances",
            "/instances/",
            "/instances/..",
            "/instances/a/b",
            "/other/x",
            "/instancesx/y",
        ] {
            assert_eq!(w.local_dir(bad), None, "{bad}");
        }
    }
}
