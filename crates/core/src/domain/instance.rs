//! Agent instances: names, kinds, lifecycle states and their environment.

use super::Timestamp;
use crate::error::{Error, FieldErrors};
use crate::ids::{AccountId, InstanceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// 1–63 characters of `[a-z0-9-]`, unique per account among non-deleted instances.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceName(String);

impl InstanceName {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::invalid(
                "name",
                "must be 1-63 characters of lowercase letters, digits and '-'",
            ))
        }
    }

    pub fn from_trusted(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InstanceKind {
    /// A useful AGENTS.md and starter skills.
    #[default]
    Prebuilt,
    /// The bare OpenClaw tree.
    Blank,
    /// The real OpenClaw gateway runs the workspace: its agent, channels, skills and cron.
    Openclaw,
}

impl InstanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prebuilt => "prebuilt",
            Self::Blank => "blank",
            Self::Openclaw => "openclaw",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "prebuilt" => Some(Self::Prebuilt),
            "blank" => Some(Self::Blank),
            "openclaw" => Some(Self::Openclaw),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStatus {
    Provisioning,
    Active,
    Restarting,
    Inactive,
    Suspended,
    Failed,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Restarting => "restarting",
            Self::Inactive => "inactive",
            Self::Suspended => "suspended",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Provisioning,
            Self::Active,
            Self::Restarting,
            Self::Inactive,
            Self::Suspended,
            Self::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// States that occupy plan capacity.
    pub fn counts_against_capacity(self) -> bool {
        matches!(self, Self::Provisioning | Self::Active | Self::Restarting)
    }

    pub const CAPACITY_STATES: [InstanceStatus; 3] =
        [Self::Provisioning, Self::Active, Self::Restarting];
}

/// Environment variables set in the instance: names as for secrets (`[A-Z_][A-Z0-9_]*`, at
/// most 128 bytes), values without NUL up to 32 KiB, at most 256 KiB in all (with the
/// runtime's own variables it must fit `execve`'s limits). Names the runtime itself relies
/// on are reserved: see [`EnvMap::reserved`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvMap(BTreeMap<String, String>);

impl EnvMap {
    pub const MAX_ENTRIES: usize = 100;
    pub const MAX_VALUE_BYTES: usize = 32 * 1024;
    pub const MAX_TOTAL_BYTES: usize = 256 * 1024;
    /// Names the instance runtime sets or that change how every program starts.
    pub const RESERVED: [&'static str; 6] = ["PATH", "HOME", "SHELL", "IFS", "BASH_ENV", "ENV"];
    /// Prefixes of reserved names: the dynamic loader's and the platform's own.
    pub const RESERVED_PREFIXES: [&'static str; 2] = ["LD_", "OPERATOR_"];

    /// Whether `name` is reserved for the runtime (setting it could stop the instance or
    /// its commands from starting).
    pub fn reserved(name: &str) -> bool {
        Self::RESERVED.contains(&name)
            || Self::RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
    }

    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, Error> {
        let mut details = FieldErrors::new();
        if map.len() > Self::MAX_ENTRIES {
            details.insert(
                "env".into(),
                format!("at most {} variables", Self::MAX_ENTRIES),
            );
        }
        let total: usize = map.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        if total > Self::MAX_TOTAL_BYTES {
            details.insert("env".into(), "must be at most 256 KiB in all".into());
        }
        for (k, v) in &map {
            if !super::secret::is_env_name(k) {
                // A name with control characters is not echoed back as a field name.
                let field = if k.chars().any(char::is_control) {
                    "env".to_owned()
                } else {
                    format!("env.{k}")
                };
                details.insert(
                    field,
                    "names must match [A-Z_][A-Z0-9_]* (at most 128 characters)".into(),
                );
            } else if Self::reserved(k) {
                details.insert(
                    format!("env.{k}"),
                    "is reserved for the instance runtime (PATH, HOME, SHELL, IFS, BASH_ENV, ENV, LD_*, OPERATOR_*)".into(),
                );
            } else if v.contains('\0') {
                details.insert(format!("env.{k}"), "value must not contain NUL".into());
            } else if v.len() > Self::MAX_VALUE_BYTES {
                details.insert(format!("env.{k}"), "value must be at most 32 KiB".into());
            }
        }
        if details.is_empty() {
            Ok(Self(map))
        } else {
            Err(Error::invalid_many(details))
        }
    }

    pub fn from_trusted(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    pub account_id: AccountId,
    pub name: InstanceName,
    pub kind: InstanceKind,
    pub status: InstanceStatus,
    pub status_reason: Option<String>,
    pub image_tag: String,
    pub checkpoint_repo: Option<String>,
    pub env: EnvMap,
    /// Free-form configuration the instance runtime reads (model, skills, ...).
    pub config: serde_json::Value,
    /// Public host name of the instance, where the deployment gives it one.
    pub fqdn: Option<String>,
    /// Where the control plane reaches the instance's API (set by the runtime once active).
    pub endpoint: Option<String>,
    /// Consecutive automatic restarts after crashes (reset by a healthy start).
    pub restarts: u32,
    /// When the instance last became active (for instance-seconds).
    pub active_since: Option<Timestamp>,
    /// Active time accumulated before `active_since`.
    pub active_seconds: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set by DELETE; the name is free again and the record is kept as `inactive`.
    pub deleted_at: Option<Timestamp>,
}

/// Status changes: the only places that move an instance between states, so the fields
/// that go with a state (endpoint, active time, reason) always change together.
impl Instance {
    /// Folds the time since `active_since` into `active_seconds` (instance-seconds billing).
    pub fn settle_active_time(&mut self, now: Timestamp) {
        if let Some(since) = self.active_since.take() {
            let secs = (now - since).num_seconds().max(0) as u64;
            self.active_seconds += secs;
        }
    }

    /// Started and healthy at `endpoint`.
    pub fn mark_active(&mut self, endpoint: String, now: Timestamp) {
        self.status = InstanceStatus::Active;
        self.status_reason = None;
        // Host and port clients of this deployment can reach (local: loopback).
        self.fqdn = endpoint
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/').to_owned());
        self.endpoint = Some(endpoint);
        self.active_since = Some(now);
        self.updated_at = now;
    }

    /// Stopped for `reason` (a crash, a start that never finished).
    pub fn mark_failed(&mut self, reason: String, now: Timestamp) {
        self.settle_active_time(now);
        self.status = InstanceStatus::Failed;
        self.status_reason = Some(reason);
        self.endpoint = None;
        self.updated_at = now;
    }

    /// Asked to restart: only an `active` or `failed` instance can be.
    ///
    /// # Errors
    /// `Conflict` naming the current status otherwise.
    pub fn begin_restart(&mut self, now: Timestamp) -> Result<(), Error> {
        match self.status {
            InstanceStatus::Active | InstanceStatus::Failed => {}
            other => {
                return Err(Error::Conflict(format!(
                    "instance {} is {}; only active or failed instances can be restarted",
                    self.id,
                    other.as_str()
                )))
            }
        }
        self.status = InstanceStatus::Restarting;
        self.status_reason = None;
        self.updated_at = now;
        Ok(())
    }

    /// The control plane came back while this instance was running: it restarts.
    pub fn mark_recovering(&mut self, now: Timestamp) {
        self.settle_active_time(now);
        self.status = InstanceStatus::Restarting;
        self.endpoint = None;
        self.updated_at = now;
    }

    /// Deleted: `inactive`, its name free again. The record is kept.
    pub fn mark_deleted(&mut self, now: Timestamp) {
        self.settle_active_time(now);
        self.status = InstanceStatus::Inactive;
        self.endpoint = None;
        self.deleted_at = Some(now);
        self.updated_at = now;
    }

    /// Its process is gone (stopped for a restart or after deletion).
    pub fn mark_stopped(&mut self, now: Timestamp) {
        self.settle_active_time(now);
        self.endpoint = None;
    }
}

/// `checkpointRepo`, checked by the rule the instance applies again
/// ([`operator_wire::parse_checkpoint`]): remote git references only, or a local path under
/// the operator's allowed prefix (`OPERATOR_CHECKPOINT_LOCAL_PREFIX`; the runtime never lets
/// it cover the data directory).
pub fn validate_checkpoint_repo(
    s: &str,
    local_prefix: Option<&std::path::Path>,
) -> Result<String, Error> {
    match operator_wire::parse_checkpoint(s, local_prefix) {
        Ok(_) => Ok(s.to_owned()),
        Err(why) => Err(Error::invalid(
            "checkpointRepo",
            format!("must be owner/repo or an https:// or ssh:// git URL; {why}"),
        )),
    }
}

/// Instance configuration is a JSON object of at most 64 KiB.
pub fn validate_config(v: serde_json::Value) -> Result<serde_json::Value, Error> {
    if !v.is_object() {
        return Err(Error::invalid("config", "must be a JSON object"));
    }
    if v.to_string().len() > 64 * 1024 {
        return Err(Error::invalid("config", "must be at most 64 KiB"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn provisioning(at: Timestamp) -> Instance {
        Instance {
            id: InstanceId::from_trusted("inst_1"),
            account_id: AccountId::from_trusted("acct_1"),
            name: InstanceName::parse("one").unwrap(),
            kind: InstanceKind::Prebuilt,
            status: InstanceStatus::Provisioning,
            status_reason: None,
            image_tag: "t".into(),
            checkpoint_repo: None,
            env: EnvMap::default(),
            config: serde_json::json!({}),
            fqdn: None,
            endpoint: None,
            restarts: 0,
            active_since: None,
            active_seconds: 0,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        }
    }

    #[test]
    fn status_changes_keep_endpoint_active_time_and_reason_together() {
        let t0 = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut i = provisioning(t0);
        // GIVEN a provisioning instance THEN it cannot be restarted
        assert!(matches!(i.begin_restart(t0), Err(Error::Conflict(_))));
        // WHEN it becomes active THEN it has an endpoint, a host and an active-since time
        i.mark_active("http://127.0.0.1:4000/".into(), t0);
        assert_eq!(i.status, InstanceStatus::Active);
        assert_eq!(i.fqdn.as_deref(), Some("127.0.0.1:4000"));
        // WHEN it crashes 90 s later THEN it is failed, unreachable, with 90 s counted once
        i.mark_failed("exited".into(), t0 + chrono::Duration::seconds(90));
        assert_eq!(
            (
                i.status,
                i.endpoint.as_deref(),
                i.active_seconds,
                i.active_since
            ),
            (InstanceStatus::Failed, None, 90, None)
        );
        assert_eq!(i.status_reason.as_deref(), Some("exited"));
        // AND a restart clears the reason
        i.begin_restart(t0 + chrono::Duration::seconds(91)).unwrap();
        assert_eq!(
            (i.status, i.status_reason.as_deref()),
            (InstanceStatus::Restarting, None)
        );
        i.mark_active(
            "http://127.0.0.1:4001".into(),
            t0 + chrono::Duration::seconds(100),
        );
        // WHEN it is deleted 10 s later THEN it is inactive with both active spans counted
        i.mark_deleted(t0 + chrono::Duration::seconds(110));
        assert_eq!(
            (i.status, i.active_seconds, i.deleted_at.is_some()),
            (InstanceStatus::Inactive, 100, true)
        );
        // AND stopping it afterwards counts nothing twice
        i.mark_stopped(t0 + chrono::Duration::seconds(500));
        assert_eq!(i.active_seconds, 100);
    }

    #[test]
    fn instance_names() {
        assert!(InstanceName::parse("weather-desk").is_ok());
        assert!(InstanceName::parse(&"a".repeat(63)).is_ok());
        assert!(InstanceName::parse(&"a".repeat(64)).is_err());
        assert!(InstanceName::parse("").is_err());
        assert!(InstanceName::parse("Weather").is_err());
        assert!(InstanceName::parse("a_b").is_err());
    }

    #[test]
    fn env_values_and_reserved_names_are_refused_per_field() {
        for (name, value) in [
            ("PATH", "/x"),
            ("HOME", "/"),
            ("LD_PRELOAD", "/x.so"),
            ("LD_LIBRARY_PATH", "/x"),
            ("OPERATOR_INSTANCE_TOKEN", "x"),
            ("NUL_VALUE", "a\0b"),
        ] {
            let m = BTreeMap::from([(name.to_owned(), value.to_owned())]);
            match EnvMap::parse(m) {
                Err(Error::Invalid { details, .. }) => {
                    assert!(details.contains_key(&format!("env.{name}")), "{name}")
                }
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
        let m = BTreeMap::from([("BAD\0NAME".to_owned(), "v".to_owned())]);
        assert!(
            matches!(EnvMap::parse(m), Err(Error::Invalid { details, .. }) if details.contains_key("env"))
        );
        let big: BTreeMap<String, String> = (0..9)
            .map(|i| (format!("V{i}"), "x".repeat(EnvMap::MAX_VALUE_BYTES)))
            .collect();
        assert!(EnvMap::parse(big).is_err());
        let ok = BTreeMap::from([("REGION".to_owned(), "eu".to_owned())]);
        assert!(EnvMap::parse(ok).is_ok());
    }

    #[test]
    fn checkpoint_repos_are_remote_unless_a_local_prefix_allows_them() {
        for ok in [
            "acme/tools",
            "https://example.com/a/b.git",
            "ssh://git@example.com/a/b.git",
            "git@github.com:acme/tools.git",
        ] {
            assert!(validate_checkpoint_repo(ok, None).is_ok(), "{ok}");
        }
        let prefix = std::path::Path::new("/srv/repos");
        for bad in [
            "/srv/data/instances/inst_x/workspace",
            "/srv/repos/../data",
            "file:///srv/repos/x",
            "ext::sh -c id",
            "ext::sh",
            "--upload-pack=touch",
            "-u",
            "http://example.com/a.git",
            "git://example.com/a.git",
            "./a",
            "a/b/c",
            "x@-oProxyCommand=y:z",
        ] {
            assert!(
                validate_checkpoint_repo(bad, Some(prefix)).is_err(),
                "{bad}"
            );
        }
        assert!(validate_checkpoint_repo("/srv/repos/tools", None).is_err());
        assert!(validate_checkpoint_repo("/srv/repos/tools", Some(prefix)).is_ok());
        match validate_checkpoint_repo("/tmp/x", None) {
            Err(Error::Invalid { details, .. }) => assert!(details.contains_key("checkpointRepo")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn env_names_are_validated_per_field() {
        let mut m = BTreeMap::new();
        m.insert("OK_NAME".to_string(), "v".to_string());
        m.insert("bad-name".to_string(), "v".to_string());
        match EnvMap::parse(m) {
            Err(Error::Invalid { details, .. }) => assert!(details.contains_key("env.bad-name")),
            other => panic!("unexpected {other:?}"),
        }
    }
}
