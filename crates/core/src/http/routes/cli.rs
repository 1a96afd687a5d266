//! The CLI's browser login (`operator login` without `--key`): a signed-in user approves the
//! CLI's session (`POST /api/cli/approve`, from the console's `/auth/cli?session=` page), and
//! the CLI's poll (`GET /api/cli/poll?session=`, no key yet) receives a new API key, once.
//! The session id is the CLI's secret; it travels in the query of the poll, which the request
//! log never records (paths only).

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::json::Json;
use crate::http::views::*;
use crate::services::{Caller, Platform};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use secrecy::ExposeSecret;

/// Approve a CLI login
///
/// Records that the signed-in caller approves the CLI session (a UUID the CLI generated and
/// showed its user). The CLI then receives a new API key of this account, once, from `GET
/// /api/cli/poll`. Approvals expire after 10 minutes; a live approval of the same session is a
/// 409.
#[utoipa::path(post, path = "/api/cli/approve", operation_id = "approveCliLogin", tag = "cli", request_body = CliApproveBody,
    responses((status = 200, body = OkBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CliApproveBody>,
) -> ApiResult<Json<OkBody>> {
    p.approve_cli_login(&caller, &body.session).await?;
    Ok(Json(OkBody { ok: true }))
}

/// Collect a CLI login's key
///
/// No API key: the session id is the question. 404 until the session is approved, then
/// `{operatorApiKey}` exactly once (a new key named after the CLI login), then 404 again.
#[utoipa::path(get, path = "/api/cli/poll", operation_id = "pollCliLogin", tag = "cli", security(()), params(CliPollQuery),
    responses((status = 200, body = CliPollBody), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn poll(
    State(p): State<Platform>,
    ApiQuery(q): ApiQuery<CliPollQuery>,
) -> ApiResult<Response> {
    let (_, key) = p.redeem_cli_login(&q.session).await?;
    let mut res = Json(CliPollBody {
        operator_api_key: key.expose_secret().to_owned(),
    })
    .into_response();
    // A key in a response: never kept by a cache on the way.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
