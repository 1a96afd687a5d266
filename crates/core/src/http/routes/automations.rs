//! `/api/automations`: cron-scheduled prompts and their runs.

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::json::Json;
use crate::http::views::*;
use crate::services::{
    next_cursor, page_request, Caller, CreateAutomation, ListKind, Platform, UpdateAutomation,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;

fn wrap(a: crate::domain::Automation) -> Json<AutomationEnvelope> {
    Json(AutomationEnvelope {
        automation: a.into(),
    })
}

/// Create an automation
///
/// Schedules a prompt for the Operator agent on a standard 5-field cron expression in an IANA
/// time zone (default `UTC`). Each fire runs the prompt in the automation's own chat thread with
/// full tool access. An invalid cron expression or zone is a 400 whose `details` give the reason.
#[utoipa::path(post, path = "/api/automations", operation_id = "createAutomation", tag = "automations", request_body = CreateAutomationBody,
    responses((status = 201, body = AutomationEnvelope), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(b): ApiJson<CreateAutomationBody>,
) -> ApiResult<(StatusCode, Json<AutomationEnvelope>)> {
    let req: CreateAutomation = b.into();
    Ok((
        StatusCode::CREATED,
        wrap(p.create_automation(&caller, req).await?),
    ))
}

/// List automations
///
/// The account's automations, newest first, a page at a time (`limit`, `cursor` → `nextCursor`).
#[utoipa::path(get, path = "/api/automations", operation_id = "listAutomations", tag = "automations", params(ListQuery),
    responses((status = 200, body = AutomationList)))]
pub async fn list(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<AutomationList>> {
    let page = p
        .list_automations(
            &caller,
            &page_request(ListKind::Automations, q.limit, q.cursor)?,
        )
        .await?;
    Ok(Json(AutomationList {
        automations: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Automations, page.next_cursor),
    }))
}

/// Get an automation
///
/// One automation with its next fire time.
#[utoipa::path(get, path = "/api/automations/{id}", operation_id = "getAutomation", tag = "automations",
    params(("id" = String, Path, description = "auto_...")),
    responses((status = 200, body = AutomationEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AutomationEnvelope>> {
    Ok(wrap(p.get_automation(&caller, &id).await?))
}

/// Update an automation
///
/// Changes any field; `enabled: false` pauses it. The next fire time is recomputed.
#[utoipa::path(put, path = "/api/automations/{id}", operation_id = "updateAutomation", tag = "automations", request_body = UpdateAutomationBody,
    params(("id" = String, Path, description = "auto_...")),
    responses((status = 200, body = AutomationEnvelope), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateAutomationBody>,
) -> ApiResult<Json<AutomationEnvelope>> {
    let req: UpdateAutomation = b.into();
    Ok(wrap(p.update_automation(&caller, &id, req).await?))
}

/// Delete an automation
///
/// Removes the automation and its schedule; past runs and their chats stay readable through the
/// chat API.
#[utoipa::path(delete, path = "/api/automations/{id}", operation_id = "deleteAutomation", tag = "automations",
    params(("id" = String, Path, description = "auto_...")),
    responses((status = 200, body = OkBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OkBody>> {
    p.delete_automation(&caller, &id).await?;
    Ok(Json(OK))
}

/// Run an automation now
///
/// Queues one run immediately, outside the schedule (202 with the run).
#[utoipa::path(post, path = "/api/automations/{id}/run", operation_id = "runAutomation", tag = "automations",
    params(("id" = String, Path, description = "auto_...")),
    responses((status = 202, body = RunEnvelope), (status = 404, body = ErrorBody)))]
pub async fn run_now(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<RunEnvelope>)> {
    let run = p.run_automation_now(&caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(RunEnvelope { run: run.into() })))
}

/// List an automation's runs
///
/// Its runs, newest first: status, when it was due, when it ran, the chat it ran in, and the
/// error if it failed.
#[utoipa::path(get, path = "/api/automations/{id}/runs", operation_id = "listAutomationRuns", tag = "automations",
    params(("id" = String, Path, description = "auto_..."), ListQuery),
    responses((status = 200, body = RunList), (status = 404, body = ErrorBody)))]
pub async fn runs(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<RunList>> {
    let page = p
        .list_runs(
            &caller,
            &id,
            &page_request(ListKind::Runs, q.limit, q.cursor)?,
        )
        .await?;
    Ok(Json(RunList {
        runs: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Runs, page.next_cursor),
    }))
}

/// Preview a schedule
///
/// The next fire times of a cron expression in a time zone, from now, validated exactly as
/// creating an automation validates it — for a schedule helper before creating one.
#[utoipa::path(get, path = "/api/automations/next-runs", operation_id = "previewAutomationSchedule", tag = "automations", params(NextRunsQuery),
    responses((status = 200, body = NextRuns, description = "the next fire times from now, to preview a schedule before creating it"),
        (status = 400, body = ErrorBody, description = "invalid cron expression, time zone or count (the reason in `details`)")))]
pub async fn next_runs(
    State(p): State<Platform>,
    ApiQuery(q): ApiQuery<NextRunsQuery>,
) -> ApiResult<Json<NextRuns>> {
    let (timezone, next_runs) = p.next_runs(&q.cron_expression, q.timezone.as_deref(), q.count)?;
    Ok(Json(NextRuns {
        cron_expression: q
            .cron_expression
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        timezone: timezone.as_str().to_owned(),
        next_runs,
    }))
}
