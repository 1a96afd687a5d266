//! Routes instances call with their instance token: the LLM gateway and secret reads.

use crate::http::error::ApiResult;
use crate::http::extract::ApiPath;
use crate::http::json::Json;
use crate::http::routes::completions::ModelList;
use crate::services::{GatewayReply, Platform};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

/// Largest request an instance may send to the gateway (long contexts).
pub const MAX_GATEWAY_BODY: usize = 16 * 1024 * 1024;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}

/// Model call from an instance (OpenAI-compatible)
///
/// For instances, with their instance token: forwards an OpenAI-compatible chat completion
/// (streaming or not) to the configured provider and meters `input + 5 × output` tokens against
/// the instance's 6-hour window; over the plan's limit the call gets 429 with `Retry-After`.
#[utoipa::path(post, path = "/v1/chat/completions", operation_id = "instanceChatCompletions", tag = "gateway",
    security(("instanceToken" = [])),
    request_body(content = Object, description = "OpenAI Chat Completions request; `stream: true` answers with SSE"),
    responses((status = 200, description = "OpenAI Chat Completions response or SSE stream"),
        (status = 401, body = crate::http::error::ErrorBody), (status = 429, body = crate::http::error::ErrorBody),
        (status = 503, body = crate::http::error::ErrorBody, description = "llm_unavailable")))]
pub async fn chat_completions(
    State(p): State<Platform>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let bytes = crate::http::extract::read_body_limited(body, MAX_GATEWAY_BODY).await?;
    Ok(reply(p.gateway_chat(bearer(&headers), &bytes).await?))
}

/// The instance token as Anthropic clients send it (`x-api-key`), else as a bearer token.
fn api_key_or_bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer(headers))
}

fn reply(r: GatewayReply) -> Response {
    match r {
        GatewayReply::Json { status, body } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            Json(body),
        )
            .into_response(),
        GatewayReply::Stream(s) => (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            axum::body::Body::from_stream(s),
        )
            .into_response(),
    }
}

/// Model call from an instance (Anthropic Messages)
///
/// For instances, with their instance token as `x-api-key` (what Anthropic clients send) or a
/// bearer token: an Anthropic Messages request (tools, `stream: true` for Anthropic's SSE
/// events), answered in Anthropic's shapes whatever the configured provider, through the same
/// quota and metering as `/v1/chat/completions`.
#[utoipa::path(post, path = "/v1/messages", operation_id = "instanceMessages", tag = "gateway",
    security(("instanceToken" = [])),
    request_body(content = Object, description = "Anthropic Messages request; `stream: true` answers with Anthropic's SSE events"),
    responses((status = 200, description = "Anthropic `message` or its event stream"),
        (status = 400, body = crate::http::error::ErrorBody),
        (status = 401, body = crate::http::error::ErrorBody), (status = 429, body = crate::http::error::ErrorBody),
        (status = 503, body = crate::http::error::ErrorBody, description = "llm_unavailable")))]
pub async fn messages(
    State(p): State<Platform>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let bytes = crate::http::extract::read_body_limited(body, MAX_GATEWAY_BODY).await?;
    Ok(reply(
        p.gateway_messages(api_key_or_bearer(&headers), &bytes)
            .await?,
    ))
}

/// Models for an instance (OpenAI-compatible)
///
/// For instances, with their instance token: the model their calls go to (OpenAI clients list
/// the models when they start).
#[utoipa::path(get, path = "/v1/models", operation_id = "instanceListModels", tag = "gateway",
    security(("instanceToken" = [])),
    responses((status = 200, body = ModelList),
        (status = 401, body = crate::http::error::ErrorBody),
        (status = 503, body = crate::http::error::ErrorBody, description = "llm_unavailable")))]
pub async fn models(State(p): State<Platform>, headers: HeaderMap) -> ApiResult<Json<ModelList>> {
    let (model, created) = p.gateway_model(bearer(&headers)).await?;
    Ok(Json(ModelList::one(model, created)))
}

/// Secrets visible to an instance
///
/// For instances, with their instance token: the names of the secrets granted to it (and global
/// ones).
#[utoipa::path(get, path = "/v1/secrets", operation_id = "instanceListSecrets", tag = "gateway",
    security(("instanceToken" = [])),
    responses((status = 200, description = "`{secrets: [{name, value}]}`: every secret granted to the instance, and the global ones"),
        (status = 401, body = crate::http::error::ErrorBody)))]
pub async fn secrets(State(p): State<Platform>, headers: HeaderMap) -> ApiResult<Response> {
    let list = p.secrets_of_instance(bearer(&headers)).await?;
    let body: Vec<serde_json::Value> = list
        .iter()
        .map(|(name, v)| serde_json::json!({"name": name, "value": v.expose_secret()}))
        .collect();
    let mut res = Json(serde_json::json!({"secrets": body})).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

/// Read a secret from an instance
///
/// For instances, with their instance token: the current value of a secret granted to it (or
/// global), so rotation is seen without a restart.
#[utoipa::path(get, path = "/v1/secrets/{name}", operation_id = "instanceGetSecret", tag = "gateway",
    security(("instanceToken" = [])),
    params(("name" = String, Path, description = "the secret's name")),
    responses((status = 200, description = "`{name, value}`: the current value"),
        (status = 401, body = crate::http::error::ErrorBody), (status = 404, body = crate::http::error::ErrorBody)))]
pub async fn secret(
    State(p): State<Platform>,
    headers: HeaderMap,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    let value = p.secret_for_instance(bearer(&headers), &name).await?;
    let mut res =
        Json(serde_json::json!({"name": name, "value": value.expose_secret()})).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}
