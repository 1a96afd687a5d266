//! Instances on the wire: the REST bodies (also the Operator agent's tool arguments) and views.

use super::patterns;
use crate::domain::*;
use crate::services::{CreateInstance, UpdateInstance};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstanceBody {
    /// 1-63 characters of `[a-z0-9-]`, unique in the account.
    #[schema(example = "weather-desk")]
    pub name: String,
    /// `prebuilt` (default), `blank` or `openclaw` (the real OpenClaw gateway runs the
    /// workspace, where the server has it installed).
    #[schema(value_type = Option<InstanceKind>, inline)]
    pub kind: Option<String>,
    /// A repository to clone into the workspace: `owner/repo` (GitHub) or an `https://` URL
    /// (the server also takes `ssh://` and `user@host:path`, and configured local paths).
    #[schema(example = "owner/repo", max_length = 512)]
    pub checkpoint_repo: Option<String>,
    /// Environment variables of the instance (at most 100; names `[A-Z_][A-Z0-9_]*` other
    /// than PATH, HOME, SHELL, IFS, BASH_ENV, ENV, LD_* and OPERATOR_*; values without NUL).
    #[schema(value_type = Option<EnvVars>, inline)]
    pub env: Option<BTreeMap<String, String>>,
}

impl From<CreateInstanceBody> for CreateInstance {
    fn from(b: CreateInstanceBody) -> Self {
        CreateInstance {
            name: b.name,
            kind: b.kind,
            checkpoint_repo: b.checkpoint_repo,
            env: b.env,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInstanceBody {
    /// A new name.
    pub name: Option<String>,
    /// Replaces the environment variables.
    #[schema(value_type = Option<EnvVars>, inline)]
    pub env: Option<BTreeMap<String, String>>,
    /// Replaces the instance's config object.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    /// Chat channels of an `openclaw` instance (kept as `config.channels`; a change restarts
    /// an active instance). Tokens are named by a secret granted to the instance.
    #[schema(value_type = Option<Channels>, inline)]
    pub channels: Option<serde_json::Value>,
}

impl From<UpdateInstanceBody> for UpdateInstance {
    fn from(b: UpdateInstanceBody) -> Self {
        UpdateInstance {
            name: b.name,
            env: b.env,
            config: b.config,
            channels: b.channels,
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloneInstanceBody {
    /// The copy's name.
    #[schema(example = "weather-desk-copy")]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    pub kind: InstanceKind,
    pub status: InstanceStatus,
    pub status_reason: Option<String>,
    pub image_tag: String,
    pub avatar_url: Option<String>,
    pub fqdn: Option<String>,
    pub checkpoint_repo: Option<String>,
    pub env: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    #[serde(serialize_with = "super::ts::ser")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::ts::ser")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "super::ts::ser_opt")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Instance> for InstanceView {
    fn from(i: Instance) -> Self {
        Self {
            id: i.id.to_string(),
            name: i.name.as_str().to_owned(),
            kind: i.kind,
            status: i.status,
            status_reason: i.status_reason,
            image_tag: i.image_tag,
            avatar_url: None,
            fqdn: i.fqdn,
            checkpoint_repo: i.checkpoint_repo,
            env: i.env.as_map().clone(),
            config: i.config,
            created_at: i.created_at,
            updated_at: i.updated_at,
            deleted_at: i.deleted_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstanceEnvelope {
    pub instance: InstanceView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceList {
    pub instances: Vec<InstanceView>,
    pub next_cursor: Option<String>,
}

/// An instance's environment variables, as [`EnvMap::parse`] accepts them: at most 100,
/// names `[A-Z_][A-Z0-9_]*` (a few reserved for the runtime are refused), values without NUL
/// of at most 32 KiB.
pub struct EnvVars;

impl utoipa::PartialSchema for EnvVars {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let value = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(patterns::NO_NUL))
            .max_length(Some(EnvMap::MAX_VALUE_BYTES));
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(patterns::ENV_NAME));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(name))
            .additional_properties(Some(value))
            .max_properties(Some(EnvMap::MAX_ENTRIES))
            .examples([serde_json::json!({"REGION": "eu-west-1"})])
            .into()
    }
}

impl ToSchema for EnvVars {}
