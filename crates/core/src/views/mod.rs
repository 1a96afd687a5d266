//! Request and response bodies exactly as API.md spells them (camelCase, wrapped objects),
//! mapped from domain types here so the domain stays free of wire concerns. A neutral module:
//! the HTTP layer serves these types and the Operator agent's tools take and answer the same
//! ones (their JSON schemas are derived from them), so REST and the agent cannot drift.

mod automations;
mod billing;
pub mod error;
mod experiments;
mod instances;
mod keys;
pub mod patterns;
mod secrets;
pub mod ts;
mod webhooks;

pub use automations::*;
pub use billing::*;
pub use error::{ErrorBody, ErrorDetail, ErrorReply};
pub use experiments::*;
pub use instances::*;
pub use keys::*;
pub use secrets::*;
pub use webhooks::*;

use crate::domain::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OkBody {
    pub ok: bool,
}

pub const OK: OkBody = OkBody { ok: true };

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    pub ok: bool,
    pub version: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CliHealthBody {
    pub authenticated: bool,
    #[schema(example = "user_01jbx8...")]
    pub user_id: String,
    pub account_id: String,
    pub plan_slug: PlanSlug,
    pub has_plan: bool,
    pub token_limit: u64,
}

/// `POST /api/cli/approve`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CliApproveBody {
    /// The session id the CLI chose (a UUID), from the approve page's URL.
    #[schema(
        example = "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        pattern = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
    )]
    pub session: String,
}

/// `GET /api/cli/poll`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CliPollQuery {
    /// The session id the CLI chose (a UUID).
    #[param(
        pattern = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        example = "6f1c2b8e-6a0e-4d8b-9a52-1d2c3e4f5a6b"
    )]
    pub session: String,
}

/// The key a CLI login hands out (shown once).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CliPollBody {
    pub operator_api_key: String,
}

/// Query of every list route.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page (opaque: pass it back unchanged).
    pub cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InstanceListQuery {
    /// Page size, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page (opaque: pass it back unchanged).
    pub cursor: Option<String>,
    /// Also list deleted (`inactive`) instances.
    #[serde(default)]
    pub include_deleted: bool,
}
