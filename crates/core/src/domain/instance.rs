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
}

impl InstanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prebuilt => "prebuilt",
            Self::Blank => "blank",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "prebuilt" => Some(Self::Prebuilt),
            "blank" => Some(Self::Blank),
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

/// Environment variables set in the instance: names as for secrets, values up to 32 KiB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvMap(BTreeMap<String, String>);

impl EnvMap {
    pub const MAX_ENTRIES: usize = 100;
    pub const MAX_VALUE_BYTES: usize = 32 * 1024;

    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, Error> {
        let mut details = FieldErrors::new();
        if map.len() > Self::MAX_ENTRIES {
            details.insert(
                "env".into(),
                format!("at most {} variables", Self::MAX_ENTRIES),
            );
        }
        for (k, v) in &map {
            if !super::secret::is_env_name(k) {
                details.insert(format!("env.{k}"), "must match [A-Z_][A-Z0-9_]*".into());
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

/// `owner/repo`, a git URL or a local path; validated for shape only.
pub fn validate_checkpoint_repo(s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() || s.len() > 512 || s.chars().any(char::is_control) {
        return Err(Error::invalid(
            "checkpointRepo",
            "must be owner/repo, a git URL or a path (at most 512 characters)",
        ));
    }
    Ok(s.to_owned())
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
