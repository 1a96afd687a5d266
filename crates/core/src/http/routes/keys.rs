//! `/api/chat-keys`: create (shown once), list, revoke.

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::json::Json;
use crate::http::middleware::ReplayBody;
use crate::http::views::*;
use crate::services::{next_cursor, page_request, Caller, ListKind, Platform};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use secrecy::ExposeSecret;

/// Create an API key
///
/// A new key with full access to the account. The key is in this response only; it is stored as a
/// hash.
#[utoipa::path(post, path = "/api/chat-keys", operation_id = "createKey", tag = "keys", request_body = CreateKeyBody,
    responses((status = 201, body = CreatedKeyBody), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CreateKeyBody>,
) -> ApiResult<(StatusCode, Extension<ReplayBody>, Json<CreatedKeyBody>)> {
    let (key, plaintext) = p.create_key(&caller.account.id, body.name).await?;
    // A replay says which key was created but cannot show it again: only its hash is kept.
    let redacted = ReplayBody::json(&serde_json::json!({
        "id": key.id.to_string(),
        "key": null,
        "prefix": key.prefix,
    }));
    Ok((
        StatusCode::CREATED,
        Extension(redacted),
        Json(CreatedKeyBody {
            key: plaintext.expose_secret().to_owned(),
            id: key.id.to_string(),
        }),
    ))
}

/// List API keys
///
/// Names, prefixes and last use of the account's keys (never the keys).
#[utoipa::path(get, path = "/api/chat-keys", operation_id = "listKeys", tag = "keys", params(ListQuery),
    responses((status = 200, body = KeyList)))]
pub async fn list(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<KeyList>> {
    let page = p
        .list_keys(&caller, &page_request(ListKind::Keys, q.limit, q.cursor)?)
        .await?;
    Ok(Json(KeyList {
        keys: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Keys, page.next_cursor),
    }))
}

/// Revoke an API key
///
/// The key fails with 401 on its very next use.
#[utoipa::path(delete, path = "/api/chat-keys/{id}", operation_id = "revokeKey", tag = "keys",
    params(("id" = String, Path, description = "key_...")),
    responses((status = 200, body = OkBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OkBody>> {
    p.revoke_key(&caller, &id).await?;
    Ok(Json(OK))
}
