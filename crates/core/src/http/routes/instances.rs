//! `/api/instances`: records and lifecycle, and the live-instance routes, which relay to the
//! instance's API through the typed `InstanceClient` (status, content type and body passed
//! through unchanged).

use crate::error::Error;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::json::Json;
use crate::http::views::*;
use crate::services::{next_cursor, page_request, Caller, ListKind, Platform, Relayed};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use operator_instance_api::{
    ActivityQuery, BrowserOpenRequest, CronJobRequest, ExecRequest, FilesQuery, MessageRequest,
};
use operator_wire::MAX_COMMAND_BYTES;

fn wrap(i: crate::domain::Instance) -> Json<InstanceEnvelope> {
    Json(InstanceEnvelope { instance: i.into() })
}

/// Create an instance
///
/// Provisions an isolated workspace (filesystem, terminal, headless browser, metered model
/// access). It starts as `provisioning` and becomes `active` (or `failed` with a `statusReason`).
/// Names are 1–63 of `[a-z0-9-]`, unique among the account's instances that are not deleted; over
/// the plan's capacity the answer is 402.
#[utoipa::path(post, path = "/api/instances", operation_id = "createInstance", tag = "instances", request_body = CreateInstanceBody,
    responses((status = 201, body = InstanceEnvelope), (status = 400, body = ErrorBody),
        (status = 402, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "kind_unavailable: this server cannot run the kind (`openclaw` without OpenClaw installed)")))]
pub async fn create(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(b): ApiJson<CreateInstanceBody>,
) -> ApiResult<(StatusCode, Json<InstanceEnvelope>)> {
    Ok((
        StatusCode::CREATED,
        wrap(p.create_instance(&caller, b.into()).await?),
    ))
}

/// List instances
///
/// The account's instances, newest first; `includeDeleted` adds the inactive ones.
#[utoipa::path(get, path = "/api/instances", operation_id = "listInstances", tag = "instances", params(InstanceListQuery),
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

/// Get an instance
///
/// By id (`inst_...`) or by name.
#[utoipa::path(get, path = "/api/instances/{id}", operation_id = "getInstance", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = InstanceEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<InstanceEnvelope>> {
    Ok(wrap(p.get_instance(&caller, &id).await?))
}

/// Update an instance
///
/// Renames it or replaces its `env` or `config`.
#[utoipa::path(put, path = "/api/instances/{id}", operation_id = "updateInstance", tag = "instances", request_body = UpdateInstanceBody,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = InstanceEnvelope), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateInstanceBody>,
) -> ApiResult<Json<InstanceEnvelope>> {
    Ok(wrap(p.update_instance(&caller, &id, b.into()).await?))
}

/// Restart an instance
///
/// Stops and starts its container (status `restarting`, then `active`); the workspace is kept.
#[utoipa::path(post, path = "/api/instances/{id}/restart", operation_id = "restartInstance", tag = "instances",
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

/// Clone an instance
///
/// A new instance with a copy of this one's workspace and settings, under a new name.
#[utoipa::path(post, path = "/api/instances/{id}/clone", operation_id = "cloneInstance", tag = "instances", request_body = CloneInstanceBody,
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

/// Delete an instance
///
/// Stops its container; the status becomes `inactive` and the name is free again.
#[utoipa::path(delete, path = "/api/instances/{id}", operation_id = "deleteInstance", tag = "instances",
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
pub const MAX_FILE_BYTES: usize = operator_instance_api::MAX_FILE_BYTES;

/// The instance's answer as it came: status, content type and body unchanged.
fn relay<T>(r: Relayed<T>) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, [(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
}

/// Read a workspace file or folder
///
/// A folder listing (`type: directory` with entries) or a file with its content (`utf-8`, or
/// `base64` for binary files), by path relative to the workspace root (empty for the root).
#[utoipa::path(get, path = "/api/instances/{id}/files", operation_id = "readInstanceFiles", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), FilesQuery),
    responses((status = 200, body = operator_instance_api::FileNode, description = "a directory listing (`type: directory`, its entries) or a file (`type: file`, its content as `utf-8` text or `base64`)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "instance not active")))]
pub async fn read_files(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> ApiResult<Response> {
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.read_files(&q).await?))
}

/// Write a workspace file
///
/// The raw request body (up to 10 MiB) becomes the file at `path`; folders are created as needed.
#[utoipa::path(put, path = "/api/instances/{id}/files", operation_id = "writeInstanceFile", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), FilesQuery),
    request_body(content = String, description = "the raw file content (up to 10 MiB)"),
    responses((status = 200, body = operator_instance_api::FileWritten, description = "the file written"), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn write_file(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let bytes = crate::http::extract::read_body_limited(body, MAX_FILE_BYTES).await?;
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.write_file(&q, bytes).await?))
}

/// Delete a workspace file
///
/// Removes a file or an empty folder.
#[utoipa::path(delete, path = "/api/instances/{id}/files", operation_id = "deleteInstanceFile", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), FilesQuery),
    responses((status = 200, body = OkBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_file(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FilesQuery>,
) -> ApiResult<Response> {
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.delete_file(&q).await?))
}

/// Read the instance agent's activity
///
/// The instance agent's sessions and the lines (JSONL) of one of them, a page at a time: pass the
/// returned `cursor` to get only new lines.
#[utoipa::path(get, path = "/api/instances/{id}/activity", operation_id = "getInstanceActivity", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name"), ActivityQuery),
    responses((status = 200, body = operator_instance_api::Activity, description = "the sessions and the new lines of the selected one"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn activity(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> ApiResult<Response> {
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.activity(&q).await?))
}

/// Message the instance's agent
///
/// Sends text to the agent running in the instance and returns its reply and session id.
#[utoipa::path(post, path = "/api/instances/{id}/messages", operation_id = "messageInstance", tag = "instances", request_body = MessageRequest,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = operator_instance_api::MessageReply, description = "the instance agent's reply"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "the instance is over its token quota"),
        (status = 503, body = ErrorBody, description = "llm_unavailable: no LLM provider configured")))]
pub async fn message(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MessageRequest>,
) -> ApiResult<Response> {
    if b.text.trim().is_empty() {
        return Err(Error::invalid("text", "must not be empty").into());
    }
    let client = p.instance_client(&caller, &id).await?;
    let r = client.message(&b).await?;
    if r.status == 429 {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
            serde_json::from_slice::<operator_instance_api::ErrorBody>(&r.body)
                .ok()
                .map(|b| b.error.message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "token quota exceeded".into()),
        );
        e.retry_after = Some(60);
        return Err(e);
    }
    Ok(relay(r))
}

/// List the instance's own scheduled jobs
///
/// The jobs of an `openclaw` instance's own scheduler (OpenClaw's cron): they run inside the
/// instance as agent turns, apart from the platform's automations. Includes the jobs OpenClaw
/// keeps for itself (`builtIn`). Other kinds have no local scheduler (409).
#[utoipa::path(get, path = "/api/instances/{id}/cron", operation_id = "listInstanceCron", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = operator_instance_api::CronJobs, description = "the instance's jobs"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "instance not active, or not of kind openclaw")))]
pub async fn cron(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.cron().await?))
}

/// Add a job to the instance's own scheduler
///
/// An agent turn with `message` that an `openclaw` instance runs itself on `schedule`
/// (exactly one of `cron` with an optional `tz`, `everySeconds`, or `at` for once).
#[utoipa::path(post, path = "/api/instances/{id}/cron", operation_id = "addInstanceCron", tag = "instances", request_body = CronJobRequest,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 201, body = operator_instance_api::CronJobCreated, description = "the job as the instance's scheduler holds it"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "instance not active, or not of kind openclaw")))]
pub async fn add_cron(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CronJobRequest>,
) -> ApiResult<Response> {
    if let Some(why) = b.problem() {
        return Err(Error::invalid("job", why).into());
    }
    let client = p.instance_client(&caller, &id).await?;
    let job = client.add_cron(&b).await?.parse()?;
    Ok((StatusCode::CREATED, Json(job)).into_response())
}

/// Run a command in the instance
///
/// Runs the command with `bash -c` in the workspace and returns exit code, stdout and stderr
/// (each capped), and whether it timed out.
#[utoipa::path(post, path = "/api/instances/{id}/exec", operation_id = "execInInstance", tag = "instances", request_body = ExecRequest,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = operator_instance_api::ExecResult, description = "how the command ended and what it wrote"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "the command is larger than 100 KiB")))]
pub async fn exec(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ExecRequest>,
) -> ApiResult<Response> {
    if b.command.trim().is_empty() {
        return Err(Error::invalid("command", "must not be empty").into());
    }
    if b.command.len() > MAX_COMMAND_BYTES {
        return Err(Error::PayloadTooLarge(format!(
            "command must be at most {} KiB",
            MAX_COMMAND_BYTES / 1024
        ))
        .into());
    }
    if b.command.contains('\0') {
        return Err(Error::invalid("command", "must not contain NUL").into());
    }
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.exec(&b).await?))
}

/// Open a page in the instance's browser
///
/// Loads an http(s) URL in the instance's headless browser and returns the page's URL, title and
/// text.
#[utoipa::path(post, path = "/api/instances/{id}/browser/open", operation_id = "openInstanceBrowser", tag = "instances", request_body = BrowserOpenRequest,
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, body = operator_instance_api::PageInfo, description = "the loaded page"),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "browser_unavailable: chromium is not installed")))]
pub async fn browser_open(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<BrowserOpenRequest>,
) -> ApiResult<Response> {
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.browser_open(&b).await?))
}

/// Screenshot the instance's browser
///
/// A PNG of the page the instance's browser shows.
#[utoipa::path(get, path = "/api/instances/{id}/browser/screenshot", operation_id = "screenshotInstanceBrowser", tag = "instances",
    params(("id" = String, Path, description = "inst_... or the instance name")),
    responses((status = 200, content_type = "image/png", description = "PNG of the current page"),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn browser_screenshot(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let client = p.instance_client(&caller, &id).await?;
    Ok(relay(client.browser_screenshot().await?))
}
