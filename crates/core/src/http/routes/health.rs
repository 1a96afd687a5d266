//! `GET /api/health` (no auth) and `GET /api/cli/health` (who am I).

use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::http::views::*;
use crate::services::{Caller, Platform};
use axum::extract::State;
use axum::Extension;

/// Health check
///
/// No key needed: `{ok, version}`.
#[utoipa::path(get, path = "/api/health", operation_id = "health", tag = "health", security(()),
    responses((status = 200, body = HealthBody)))]
pub async fn health() -> Json<HealthBody> {
    Json(HealthBody {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// Who am I
///
/// The caller's user, plan and token limit — what a CLI shows after login.
#[utoipa::path(get, path = "/api/cli/health", operation_id = "whoami", tag = "health",
    responses((status = 200, body = CliHealthBody), (status = 401, body = crate::http::error::ErrorBody)))]
pub async fn cli_health(
    State(_p): State<Platform>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<CliHealthBody>> {
    let plan = caller.account.effective_plan();
    Ok(Json(CliHealthBody {
        authenticated: true,
        user_id: caller.account.user_id.to_string(),
        account_id: caller.account.id.to_string(),
        plan_slug: plan.slug,
        has_plan: true,
        token_limit: plan.token_limit,
    }))
}
