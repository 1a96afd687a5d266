//! `/api/webhooks`: management routes (API key) and the public trigger (token in the URL).

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, RawBody};
use crate::http::json::Json;
use crate::http::views::*;
use crate::services::{
    next_cursor, page_request, Caller, CreateWebhook, ListKind, Platform, UpdateWebhook,
};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Extension;

fn wrap(p: &Platform, w: crate::domain::Webhook) -> Json<WebhookEnvelope> {
    Json(WebhookEnvelope {
        webhook: WebhookView::new(p, w),
    })
}

/// Create a webhook
///
/// An inbound URL whose calls prompt the Operator agent: every `{{payload}}` in the template (it
/// must contain one) is replaced by the request body. The URL carries the token that authorises
/// calls.
#[utoipa::path(post, path = "/api/webhooks", operation_id = "createWebhook", tag = "webhooks", request_body = CreateWebhookBody,
    responses((status = 201, body = WebhookEnvelope), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(b): ApiJson<CreateWebhookBody>,
) -> ApiResult<(StatusCode, Json<WebhookEnvelope>)> {
    let req: CreateWebhook = b.into();
    let wh = p.create_webhook(&caller, req).await?;
    Ok((StatusCode::CREATED, wrap(&p, wh)))
}

/// List webhooks
///
/// The account's webhooks with their URLs.
#[utoipa::path(get, path = "/api/webhooks", operation_id = "listWebhooks", tag = "webhooks", params(ListQuery),
    responses((status = 200, body = WebhookList)))]
pub async fn list(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<WebhookList>> {
    let page = p
        .list_webhooks(
            &caller,
            &page_request(ListKind::Webhooks, q.limit, q.cursor)?,
        )
        .await?;
    Ok(Json(WebhookList {
        webhooks: page
            .items
            .into_iter()
            .map(|w| WebhookView::new(&p, w))
            .collect(),
        next_cursor: next_cursor(ListKind::Webhooks, page.next_cursor),
    }))
}

/// Get a webhook
#[utoipa::path(get, path = "/api/webhooks/{id}", operation_id = "getWebhook", tag = "webhooks",
    params(("id" = String, Path, description = "wh_...")),
    responses((status = 200, body = WebhookEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<WebhookEnvelope>> {
    let wh = p.get_webhook(&caller, &id).await?;
    Ok(wrap(&p, wh))
}

/// Update a webhook
///
/// Changes the name, template or `enabled`; `regenerateToken: true` rotates the token (the old
/// URL stops working at once).
#[utoipa::path(put, path = "/api/webhooks/{id}", operation_id = "updateWebhook", tag = "webhooks", request_body = UpdateWebhookBody,
    params(("id" = String, Path, description = "wh_...")),
    responses((status = 200, body = WebhookEnvelope), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateWebhookBody>,
) -> ApiResult<Json<WebhookEnvelope>> {
    let req: UpdateWebhook = b.into();
    let wh = p.update_webhook(&caller, &id, req).await?;
    Ok(wrap(&p, wh))
}

/// Delete a webhook
#[utoipa::path(delete, path = "/api/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    params(("id" = String, Path, description = "wh_...")),
    responses((status = 200, body = OkBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OkBody>> {
    p.delete_webhook(&caller, &id).await?;
    Ok(Json(OK))
}

/// List a webhook's deliveries
///
/// Each call received: status, when, the chat it ran in, the error if it failed.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks",
    params(("id" = String, Path, description = "wh_..."), ListQuery),
    responses((status = 200, body = DeliveryList), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<DeliveryList>> {
    let page = p
        .list_deliveries(
            &caller,
            &id,
            &page_request(ListKind::Deliveries, q.limit, q.cursor)?,
        )
        .await?;
    Ok(Json(DeliveryList {
        deliveries: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Deliveries, page.next_cursor),
    }))
}

/// Headers whose value names a delivery, so a provider's retry is recognised.
const DEDUP_HEADERS: [&str; 4] = [
    "idempotency-key",
    "x-github-delivery",
    "x-gitlab-event-uuid",
    "x-shopify-webhook-id",
];

/// Trigger a webhook
///
/// No API key: the token in the path is the credential. The raw body (up to 10 KB) replaces
/// `{{payload}}`. A repeated `Idempotency-Key` (or a provider delivery id such as
/// `X-GitHub-Delivery`) returns the first delivery instead of a new one. Unknown or rotated
/// token: 404; disabled webhook: 409 `webhook_disabled`; past the webhook's rate
/// (`OPERATOR_RATE_LIMIT_PER_WEBHOOK`): 429 `rate_limited` with `Retry-After`.
#[utoipa::path(post, path = "/api/webhooks/trigger/{token}", operation_id = "triggerWebhook", tag = "webhooks", security(()),
    params(("token" = String, Path, description = "the webhook's token (the credential)")),
    request_body(content = String, description = "any body up to 10 KB; replaces every {{payload}}"),
    responses((status = 202, body = TriggerAccepted), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "webhook_disabled"), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited: over the webhook's requests per second; `Retry-After` says when to retry")))]
pub async fn trigger(
    State(p): State<Platform>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<TriggerAccepted>)> {
    let dedup = DEDUP_HEADERS
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::to_owned);
    // A GET carries its parameters in the query string: they become the payload.
    let payload = if method == Method::GET && body.is_empty() {
        query_as_json(uri.query()).into_bytes().into()
    } else {
        body
    };
    let delivery = p.trigger_webhook(&token, &payload, dedup).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TriggerAccepted {
            delivery_id: delivery.id.to_string(),
        }),
    ))
}

/// `a=1&b=x` → `{"a":"1","b":"x"}`; no query → empty payload.
fn query_as_json(query: Option<&str>) -> String {
    match query.filter(|q| !q.is_empty()) {
        None => String::new(),
        Some(q) => {
            let pairs: Vec<(String, String)> =
                axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
                    &format!("/?{q}").parse().unwrap_or_default(),
                )
                .map(|x| x.0)
                .unwrap_or_default();
            let map: serde_json::Map<String, serde_json::Value> = pairs
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            serde_json::Value::Object(map).to_string()
        }
    }
}

/// Trigger a webhook without a body
///
/// As `POST`, for providers that call with GET; `{{payload}}` becomes empty.
#[utoipa::path(get, path = "/api/webhooks/trigger/{token}", operation_id = "triggerWebhookWithoutBody", tag = "webhooks", security(()),
    params(("token" = String, Path, description = "the webhook's token (the credential)")),
    responses((status = 202, body = TriggerAccepted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited")))]
#[allow(dead_code)]
fn trigger_get_doc() {}
