//! `/api/secrets`: the value is returned only by create, and never logged.

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::json::Json;
use crate::http::middleware::ReplayBody;
use crate::http::views::*;
use crate::services::{
    next_cursor, page_request, Caller, CreateSecret, ListKind, Platform, UpdateSecret,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use secrecy::ExposeSecret;

fn wrap(s: crate::domain::Secret) -> Json<SecretEnvelope> {
    Json(SecretEnvelope { secret: s.into() })
}

/// Create a secret
///
/// Stores the value encrypted. Names are environment-variable names (`[A-Z_][A-Z0-9_]*`), unique
/// per account. The value is in this response only; it is never shown again, never logged and
/// never given to the Operator agent's model.
#[utoipa::path(post, path = "/api/secrets", operation_id = "createSecret", tag = "secrets", request_body = CreateSecretBody,
    responses((status = 201, body = SecretEnvelope, description = "the only response that contains `value`"),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(b): ApiJson<CreateSecretBody>,
) -> ApiResult<(StatusCode, Extension<ReplayBody>, Json<SecretEnvelope>)> {
    let value = b.value.expose_secret().to_owned();
    let req: CreateSecret = b.into();
    let mut view: SecretView = p.create_secret(&caller, req).await?.into();
    let redacted = ReplayBody::json(&SecretEnvelope {
        secret: SecretView {
            value: None,
            ..view.clone()
        },
    });
    view.value = Some(value);
    Ok((
        StatusCode::CREATED,
        Extension(redacted),
        Json(SecretEnvelope { secret: view }),
    ))
}

/// List secrets
///
/// Metadata and grants, never values.
#[utoipa::path(get, path = "/api/secrets", operation_id = "listSecrets", tag = "secrets", params(ListQuery),
    responses((status = 200, body = SecretList)))]
pub async fn list(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<SecretList>> {
    let page = p
        .list_secrets(
            &caller,
            &page_request(ListKind::Secrets, q.limit, q.cursor)?,
        )
        .await?;
    Ok(Json(SecretList {
        secrets: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Secrets, page.next_cursor),
    }))
}

/// Get a secret's metadata
///
/// Its description, grants and dates, never the value.
#[utoipa::path(get, path = "/api/secrets/{id}", operation_id = "getSecret", tag = "secrets",
    params(("id" = String, Path, description = "sec_...")),
    responses((status = 200, body = SecretEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SecretEnvelope>> {
    Ok(wrap(p.get_secret(&caller, &id).await?))
}

/// Update or rotate a secret
///
/// A new `value` rotates it (instances see it on next use); also the description and whether it
/// is global.
#[utoipa::path(put, path = "/api/secrets/{id}", operation_id = "updateSecret", tag = "secrets", request_body = UpdateSecretBody,
    params(("id" = String, Path, description = "sec_...")),
    responses((status = 200, body = SecretEnvelope), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateSecretBody>,
) -> ApiResult<Json<SecretEnvelope>> {
    let req: UpdateSecret = b.into();
    Ok(wrap(p.update_secret(&caller, &id, req).await?))
}

/// Delete a secret
///
/// Instances lose access at once.
#[utoipa::path(delete, path = "/api/secrets/{id}", operation_id = "deleteSecret", tag = "secrets",
    params(("id" = String, Path, description = "sec_...")),
    responses((status = 200, body = OkBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OkBody>> {
    p.delete_secret(&caller, &id).await?;
    Ok(Json(OK))
}

/// Grant a secret to an instance
///
/// The instance can read it from then on.
#[utoipa::path(post, path = "/api/secrets/{id}/grants", operation_id = "grantSecret", tag = "secrets", request_body = GrantBody,
    params(("id" = String, Path, description = "sec_...")),
    responses((status = 200, body = SecretEnvelope), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn grant(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<GrantBody>,
) -> ApiResult<Json<SecretEnvelope>> {
    Ok(wrap(p.grant_secret(&caller, &id, &b.instance_id).await?))
}

/// Revoke a secret from an instance
///
/// The instance can no longer read it.
#[utoipa::path(delete, path = "/api/secrets/{id}/grants/{instanceId}", operation_id = "revokeSecretGrant", tag = "secrets",
    params(("id" = String, Path, description = "sec_..."), ("instanceId" = String, Path, description = "inst_...")),
    responses((status = 200, body = OkBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, instance)): ApiPath<(String, String)>,
) -> ApiResult<Json<OkBody>> {
    p.revoke_grant(&caller, &id, &instance).await?;
    Ok(Json(OK))
}
