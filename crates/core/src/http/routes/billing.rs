//! `GET /api/billing`: plan, capacity and usage.

use crate::http::error::ApiResult;
use crate::http::views::*;
use crate::services::{Caller, Platform};
use axum::extract::State;
use axum::{Extension, Json};

#[utoipa::path(get, path = "/api/billing", tag = "billing",
    responses((status = 200, body = BillingView)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<BillingView>> {
    Ok(Json(p.billing(&caller).await?.into()))
}
