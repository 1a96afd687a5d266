//! Accounts, plans and API keys.

use super::Timestamp;
use crate::error::Error;
use crate::ids::{AccountId, KeyId, UserId};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanSlug {
    Basic,
    Pro,
    Max,
    Enterprise,
}

impl PlanSlug {
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "basic" => Ok(Self::Basic),
            "pro" => Ok(Self::Pro),
            "max" => Ok(Self::Max),
            "enterprise" => Ok(Self::Enterprise),
            _ => Err(Error::invalid(
                "plan",
                format!("unknown plan {s:?}; expected basic, pro, max or enterprise"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Pro => "pro",
            Self::Max => "max",
            Self::Enterprise => "enterprise",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Basic => "Basic",
            Self::Pro => "Pro",
            Self::Max => "Max",
            Self::Enterprise => "Enterprise",
        }
    }

    fn default_instance_limit(self) -> u32 {
        match self {
            Self::Basic => 1,
            Self::Pro => 5,
            Self::Max => 20,
            Self::Enterprise => 100,
        }
    }

    /// Rolling 6-hour token allowance (`input + 5 × output`).
    fn default_token_limit(self) -> u64 {
        match self {
            Self::Basic => 5_000_000,
            Self::Pro => 15_000_000,
            Self::Max => 60_000_000,
            Self::Enterprise => 250_000_000,
        }
    }
}

/// The limits in force for an account: the plan's, or the account's custom ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub slug: PlanSlug,
    pub name: &'static str,
    pub instance_limit: u32,
    pub token_limit: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub user_id: UserId,
    pub plan: PlanSlug,
    /// Custom limits (enterprise, or an admin override); `None` = the plan's default.
    pub instance_limit: Option<u32>,
    pub token_limit: Option<u64>,
    pub created_at: Timestamp,
}

impl Account {
    pub fn effective_plan(&self) -> Plan {
        Plan {
            slug: self.plan,
            name: self.plan.name(),
            instance_limit: self
                .instance_limit
                .unwrap_or_else(|| self.plan.default_instance_limit()),
            token_limit: self
                .token_limit
                .unwrap_or_else(|| self.plan.default_token_limit()),
        }
    }
}

pub const KEY_PREFIX: &str = "ck_live_";

/// A stored API key: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    pub id: KeyId,
    pub account_id: AccountId,
    pub name: Option<String>,
    /// First characters of the key, enough to recognise it in a list.
    pub prefix: String,
    pub hash: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A freshly minted key: the plaintext exists only in this value and the create response.
pub struct NewKey {
    pub plaintext: secrecy::SecretString,
    pub prefix: String,
    pub hash: String,
}

/// Mints `ck_live_` + 40 random alphanumerics.
pub fn mint_key() -> NewKey {
    let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    key_from_plaintext(format!("{KEY_PREFIX}{secret}"))
}

/// Validates a caller-chosen key (bootstrap) and derives its stored form.
pub fn key_from_plaintext(plaintext: String) -> NewKey {
    let prefix: String = plaintext.chars().take(KEY_PREFIX.len() + 4).collect();
    let hash = hash_key(&plaintext);
    NewKey {
        plaintext: plaintext.into(),
        prefix,
        hash,
    }
}

/// Checks the shape of a key given in configuration (`OPERATOR_BOOTSTRAP_KEY`).
pub fn validate_key_shape(key: &str) -> Result<(), Error> {
    let ok = key.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        (16..=128).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "key",
            "must be ck_live_ followed by 16-128 letters or digits",
        ))
    }
}

/// The key's SHA-256 digest, hex-encoded: what the store keeps and looks keys up by.
pub fn hash_key(plaintext: &str) -> String {
    hex::encode(key_digest(plaintext))
}

/// The key's SHA-256 digest (the bytes [`hash_key`] encodes).
pub fn key_digest(plaintext: &str) -> [u8; 32] {
    Sha256::digest(plaintext.as_bytes()).into()
}

/// A key's optional label: blank means none; otherwise a title (1–100 characters without
/// control, bidirectional or invisible formatting characters).
pub fn validate_key_name(name: Option<String>) -> Result<Option<String>, Error> {
    match name {
        Some(n) if n.trim().is_empty() && n.chars().count() <= 100 => Ok(None),
        Some(n) => super::validate_title("name", &n).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn minted_keys_have_the_documented_shape_and_hash_matches() {
        let k = mint_key();
        let plain = k.plaintext.expose_secret();
        assert!(validate_key_shape(plain).is_ok());
        assert_eq!(k.hash, hash_key(plain));
        assert!(plain.starts_with(&k.prefix));
        assert_eq!(k.hash.len(), 64);
    }

    #[test]
    fn enterprise_uses_custom_limits() {
        let acct = Account {
            id: AccountId::generate(),
            user_id: UserId::generate(),
            plan: PlanSlug::Enterprise,
            instance_limit: Some(500),
            token_limit: None,
            created_at: chrono::Utc::now(),
        };
        assert_eq!(acct.effective_plan().instance_limit, 500);
        assert_eq!(PlanSlug::Pro.default_instance_limit(), 5);
    }
}
