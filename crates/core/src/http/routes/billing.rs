//! `GET /api/billing`: plan, capacity and usage.

use crate::http::error::ApiResult;
use crate::http::json::Json;
use crate::http::views::*;
use crate::services::{Caller, Platform};
use axum::extract::State;
use axum::Extension;

/// Get plan, capacity and usage
///
/// The plan, how much of its instance capacity is used (active and provisioning instances), and
/// usage: tokens per instance over the rolling 6-hour window (in total and per 15-minute bucket),
/// instance time, chat turns, automation runs and webhook deliveries this period.
#[utoipa::path(get, path = "/api/billing", operation_id = "getBilling", tag = "billing",
    responses((status = 200, body = BillingView)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<BillingView>> {
    Ok(Json(p.billing(&caller).await?.into()))
}
