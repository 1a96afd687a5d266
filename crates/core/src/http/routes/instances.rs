//! `/api/instances`: records and lifecycle (the live-instance routes come with the runtime).

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::views::*;
use crate::services::{
    next_cursor, page_request, Caller, CreateInstance, ListKind, Platform, UpdateInstance,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

fn wrap(i: crate::domain::Instance) -> Json<InstanceEnvelope> {
    Json(InstanceEnvelope { instance: i.into() })
}

#[utoipa::path(post, path = "/api/instances", tag = "instances", request_body = CreateInstanceBody,
    responses((status = 201, body = InstanceEnvelope), (status = 400, body = ErrorBody),
        (status = 402, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(b): ApiJson<CreateInstanceBody>,
) -> ApiResult<(StatusCode, Json<InstanceEnvelope>)> {
    let req = CreateInstance {
        name: b.name,
        kind: b.kind,
        checkpoint_repo: b.checkpoint_repo,
        env: b.env,
    };
    Ok((
        StatusCode::CREATED,
        wrap(p.create_instance(&caller, req).await?),
    ))
}

#[utoipa::path(get, path = "/api/instances", tag = "instances", params(InstanceListQuery),
    responses((status = 200, body = InstanceList)))]
pub async fn list(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<InstanceListQuery>,
) -> ApiResult<Json<InstanceList>> {
    let page = page_request(ListKind::Instances, q.limit, q.cursor)?;
    let page = p.list_instances(&caller, &page, q.include_deleted).await?;
    Ok(Json(InstanceList {
        instances: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Instances, page.next_cursor),
    }))
}

#[utoipa::path(get, path = "/api/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = InstanceEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<InstanceEnvelope>> {
    Ok(wrap(p.get_instance(&caller, &id).await?))
}

#[utoipa::path(put, path = "/api/instances/{id}", tag = "instances", request_body = UpdateInstanceBody,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = InstanceEnvelope), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateInstanceBody>,
) -> ApiResult<Json<InstanceEnvelope>> {
    let req = UpdateInstance {
        name: b.name,
        env: b.env,
        config: b.config,
    };
    Ok(wrap(p.update_instance(&caller, &id, req).await?))
}

#[utoipa::path(post, path = "/api/instances/{id}/restart", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 202, body = InstanceEnvelope), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn restart(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<InstanceEnvelope>)> {
    Ok((
        StatusCode::ACCEPTED,
        wrap(p.restart_instance(&caller, &id).await?),
    ))
}

#[utoipa::path(post, path = "/api/instances/{id}/clone", tag = "instances", request_body = CloneInstanceBody,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 201, body = InstanceEnvelope), (status = 402, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn clone(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CloneInstanceBody>,
) -> ApiResult<(StatusCode, Json<InstanceEnvelope>)> {
    Ok((
        StatusCode::CREATED,
        wrap(p.clone_instance(&caller, &id, &b.name).await?),
    ))
}

#[utoipa::path(delete, path = "/api/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = OkBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OkBody>> {
    p.delete_instance(&caller, &id).await?;
    Ok(Json(OK))
}

/// Largest file accepted by `PUT /files`.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

fn relay(r: crate::services::Relayed) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, r.content_type)],
        r.body,
    )
        .into_response()
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// Path relative to the workspace root; empty for the root.
    #[serde(default)]
    pub path: String,
}

/// Calls the instance's `/files` API for `path` and relays the answer.
async fn files_call(
    p: &Platform,
    caller: &Caller,
    id: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<bytes::Bytes>,
) -> ApiResult<axum::response::Response> {
    let target = format!("/files?path={}", encode(path));
    let r = p
        .call_instance(
            caller,
            id,
            method,
            &target,
            body,
            std::time::Duration::from_secs(60),
        )
        .await?;
    Ok(relay(r))
}

/// Percent-encodes a workspace path for a query string (`/` kept).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[utoipa::path(get, path = "/api/instances/{id}/files", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), FilesQuery),
    responses((status = 200, description = "a directory listing `{path, type: directory, entries}` or a file `{path, type: file, size, encoding, content}`"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "instance not active")))]
pub async fn read_files(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> ApiResult<axum::response::Response> {
    files_call(&p, &caller, &id, reqwest::Method::GET, &q.path, None).await
}

#[utoipa::path(put, path = "/api/instances/{id}/files", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), FilesQuery),
    request_body(content = String, description = "the raw file content (up to 10 MiB)"),
    responses((status = 200, description = "`{path, size}`"), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn write_file(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
    body: axum::body::Body,
) -> ApiResult<axum::response::Response> {
    let bytes = crate::http::extract::read_body_limited(body, MAX_FILE_BYTES).await?;
    files_call(&p, &caller, &id, reqwest::Method::PUT, &q.path, Some(bytes)).await
}

#[utoipa::path(delete, path = "/api/instances/{id}/files", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), FilesQuery),
    responses((status = 200, body = OkBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_file(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> ApiResult<axum::response::Response> {
    files_call(&p, &caller, &id, reqwest::Method::DELETE, &q.path, None).await
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// `cursor` of the previous reply: only newer lines are returned.
    pub cursor: Option<String>,
    /// A session id; default the most recent session.
    pub session_id: Option<String>,
}

#[utoipa::path(get, path = "/api/instances/{id}/activity", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), ActivityQuery),
    responses((status = 200, description = "`{sessions, selectedSession, lineCount, lines, sessionChanged, cursor}`"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn activity(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> ApiResult<axum::response::Response> {
    let mut path = "/activity?".to_owned();
    if let Some(c) = q.cursor {
        path.push_str(&format!("cursor={}&", encode(&c)));
    }
    if let Some(s) = q.session_id {
        path.push_str(&format!("sessionId={}", encode(&s)));
    }
    let r = p
        .call_instance(
            &caller,
            &id,
            reqwest::Method::GET,
            &path,
            None,
            std::time::Duration::from_secs(30),
        )
        .await?;
    Ok(relay(r))
}

#[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    pub text: String,
    /// Continue this session of the instance agent; default a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

#[utoipa::path(post, path = "/api/instances/{id}/messages", tag = "instances", request_body = MessageBody,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, description = "`{text, sessionId}`: the instance agent's reply"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "the instance is over its token quota"),
        (status = 503, body = ErrorBody, description = "llm_unavailable: no LLM provider configured")))]
pub async fn message(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MessageBody>,
) -> ApiResult<axum::response::Response> {
    if b.text.trim().is_empty() {
        return Err(crate::error::Error::invalid("text", "must not be empty").into());
    }
    let body = serde_json::to_vec(&b).map_err(|e| crate::error::Error::Unexpected(e.into()))?;
    let r = p
        .call_instance(
            &caller,
            &id,
            reqwest::Method::POST,
            "/messages",
            Some(body.into()),
            std::time::Duration::from_secs(900),
        )
        .await?;
    if r.status == 429 {
        let mut e = crate::http::error::ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "token quota exceeded".into()),
        );
        e.retry_after = Some(60);
        return Err(e);
    }
    Ok(relay(r))
}

use operator_wire::MAX_COMMAND_BYTES;

#[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecBody {
    /// Run with `bash -c` in the workspace; at most 100 KiB (413 above).
    pub command: String,
    /// Default 30 000, at most 600 000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Working directory relative to the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

#[utoipa::path(post, path = "/api/instances/{id}/exec", tag = "instances", request_body = ExecBody,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, description = "`{exitCode, stdout, stderr, timedOut, truncated, durationMs}`"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "the command is larger than 100 KiB")))]
pub async fn exec(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ExecBody>,
) -> ApiResult<axum::response::Response> {
    if b.command.trim().is_empty() {
        return Err(crate::error::Error::invalid("command", "must not be empty").into());
    }
    if b.command.len() > MAX_COMMAND_BYTES {
        return Err(crate::error::Error::PayloadTooLarge(format!(
            "command must be at most {} KiB",
            MAX_COMMAND_BYTES / 1024
        ))
        .into());
    }
    if b.command.contains('\0') {
        return Err(crate::error::Error::invalid("command", "must not contain NUL").into());
    }
    let wait =
        std::time::Duration::from_millis(b.timeout_ms.unwrap_or(30_000).min(600_000) + 10_000);
    let body = serde_json::to_vec(&b).map_err(|e| crate::error::Error::Unexpected(e.into()))?;
    let r = p
        .call_instance(
            &caller,
            &id,
            reqwest::Method::POST,
            "/exec",
            Some(body.into()),
            wait,
        )
        .await?;
    Ok(relay(r))
}

#[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct BrowserOpenBody {
    pub url: String,
}

#[utoipa::path(post, path = "/api/instances/{id}/browser/open", tag = "instances", request_body = BrowserOpenBody,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, description = "`{url, title, text}` of the loaded page"),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "browser_unavailable: chromium is not installed")))]
pub async fn browser_open(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<BrowserOpenBody>,
) -> ApiResult<axum::response::Response> {
    let body = serde_json::to_vec(&b).map_err(|e| crate::error::Error::Unexpected(e.into()))?;
    let r = p
        .call_instance(
            &caller,
            &id,
            reqwest::Method::POST,
            "/browser/open",
            Some(body.into()),
            std::time::Duration::from_secs(90),
        )
        .await?;
    Ok(relay(r))
}

#[utoipa::path(get, path = "/api/instances/{id}/browser/screenshot", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, content_type = "image/png", description = "PNG of the current page"),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn browser_screenshot(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::response::Response> {
    let r = p
        .call_instance(
            &caller,
            &id,
            reqwest::Method::GET,
            "/browser/screenshot",
            None,
            std::time::Duration::from_secs(60),
        )
        .await?;
    Ok(relay(r))
}
