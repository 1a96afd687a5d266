//! Secrets on the wire: the REST bodies (also the Operator agent's tool arguments) and views.
//! A value goes in, never out (except in the answer to create).

use crate::domain::*;
use crate::services::{CreateSecret, UpdateSecret};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSecretBody {
    /// `ENV_VAR_STYLE`: the variable instances read it as.
    #[schema(example = "GITHUB_TOKEN")]
    pub name: String,
    /// The secret value (write-only: never shown again), at most 64 KiB.
    #[schema(value_type = String, example = "ghp_example", min_length = 1, max_length = 65536)]
    #[serde(serialize_with = "write_secret")]
    pub value: secrecy::SecretString,
    /// What it is for.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// Readable by every instance of the account.
    #[serde(default)]
    pub is_global: bool,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSecretBody {
    /// A new value (rotation).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 65536)]
    #[serde(serialize_with = "write_optional_secret")]
    pub value: Option<secrecy::SecretString>,
    /// An empty string clears it.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    pub is_global: Option<bool>,
}

/// A value into a request body: clients (the `operator` CLI) send these same types.
fn write_secret<S: serde::Serializer>(v: &secrecy::SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secrecy::ExposeSecret::expose_secret(v))
}

fn write_optional_secret<S: serde::Serializer>(
    v: &Option<secrecy::SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => write_secret(v, s),
        None => s.serialize_none(),
    }
}

impl From<CreateSecretBody> for CreateSecret {
    fn from(b: CreateSecretBody) -> Self {
        CreateSecret {
            name: b.name,
            value: b.value,
            description: b.description,
            is_global: b.is_global,
        }
    }
}

impl From<UpdateSecretBody> for UpdateSecret {
    fn from(b: UpdateSecretBody) -> Self {
        UpdateSecret {
            value: b.value,
            description: b.description.map(|d| Some(d).filter(|d| !d.is_empty())),
            is_global: b.is_global,
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantBody {
    pub instance_id: String,
}

#[derive(Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_global: bool,
    pub grants: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Present only in the response to create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl From<Secret> for SecretView {
    fn from(s: Secret) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.as_str().to_owned(),
            description: s.description,
            is_global: s.is_global,
            grants: s.grants.iter().map(ToString::to_string).collect(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            value: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SecretEnvelope {
    pub secret: SecretView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretList {
    pub secrets: Vec<SecretView>,
    pub next_cursor: Option<String>,
}
