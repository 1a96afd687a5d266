//! Secrets: metadata records (the value lives only in the Vault port).

use super::Timestamp;
use crate::error::Error;
use crate::ids::{AccountId, InstanceId, SecretId};

/// `[A-Z_][A-Z0-9_]*`: the variable name the secret is injected as.
pub fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && s.len() <= 128
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(s: &str) -> Result<Self, Error> {
        if is_env_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::invalid(
                "name",
                "must be an environment variable name: [A-Z_][A-Z0-9_]*, at most 128 characters",
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

pub const MAX_SECRET_BYTES: usize = 64 * 1024;

pub fn validate_secret_value(v: &str) -> Result<(), Error> {
    if v.is_empty() {
        Err(Error::invalid("value", "must not be empty"))
    } else if v.len() > MAX_SECRET_BYTES {
        Err(Error::invalid("value", "must be at most 64 KiB"))
    } else {
        Ok(())
    }
}

pub fn validate_description(d: Option<String>) -> Result<Option<String>, Error> {
    match d {
        Some(d) if d.chars().count() > 1000 => Err(Error::invalid(
            "description",
            "must be at most 1000 characters",
        )),
        other => Ok(other),
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Secret {
    pub id: SecretId,
    pub account_id: AccountId,
    pub name: SecretName,
    pub description: Option<String>,
    /// Readable by every instance of the account, not only granted ones.
    pub is_global: bool,
    pub grants: Vec<InstanceId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
