//! `/api/instances`: records and lifecycle (the live-instance routes come with the runtime).

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::views::*;
use crate::services::{page_request, Caller, CreateInstance, Platform, UpdateInstance};
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
    let page = page_request(q.limit, q.cursor)?;
    let page = p.list_instances(&caller, &page, q.include_deleted).await?;
    Ok(Json(InstanceList {
        instances: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
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
