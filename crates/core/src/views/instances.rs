//! Instances on the wire: the REST bodies (also the Operator agent's tool arguments) and views.

use crate::domain::*;
use crate::services::{CreateInstance, UpdateInstance};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateInstanceBody {
    /// 1-63 characters of `[a-z0-9-]`, unique in the account.
    #[schema(example = "weather-desk")]
    pub name: String,
    /// `prebuilt` (default) or `blank`.
    pub kind: Option<String>,
    /// Git URL, `owner/repo` or an allowed local path to clone into the workspace.
    pub checkpoint_repo: Option<String>,
    /// Environment variables of the instance.
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
    pub env: Option<BTreeMap<String, String>>,
    /// Replaces the instance's config object.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

impl From<UpdateInstanceBody> for UpdateInstance {
    fn from(b: UpdateInstanceBody) -> Self {
        UpdateInstance {
            name: b.name,
            env: b.env,
            config: b.config,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloneInstanceBody {
    /// The copy's name.
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
