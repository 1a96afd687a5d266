//! The one HTTP application: `router(platform)` is hosted by axum locally, by lambda_http on
//! AWS and by `oneshot` in tests.

pub mod console;
mod conventions;
pub mod cors;
pub mod error;
pub mod extract;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod sse;
pub mod views;

use crate::services::Platform;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use routes::*;

/// Every route of API.md implemented so far, with auth, idempotency, JSON errors for
/// unknown routes and methods, and request tracing; no cross-origin browser calls.
pub fn router(platform: Platform) -> Router {
    router_with(platform, cors::Cors::none())
}

/// [`router`], answering browsers on the origins `cors` lists (`OPERATOR_CORS_ORIGINS`).
pub fn router_with(platform: Platform, cors: cors::Cors) -> Router {
    let authed = Router::new()
        .route("/api/cli/health", get(health::cli_health))
        .route("/api/cli/approve", post(cli::approve))
        .route("/api/chat-keys", post(keys::create).get(keys::list))
        .route("/api/chat-keys/{id}", axum::routing::delete(keys::revoke))
        .route(
            "/api/instances",
            post(instances::create).get(instances::list),
        )
        .route(
            "/api/instances/{id}",
            get(instances::get)
                .put(instances::update)
                .delete(instances::delete),
        )
        .route("/api/instances/{id}/restart", post(instances::restart))
        .route("/api/instances/{id}/clone", post(instances::clone))
        .route(
            "/api/instances/{id}/files",
            get(instances::read_files)
                .put(instances::write_file)
                .delete(instances::delete_file),
        )
        .route("/api/instances/{id}/activity", get(instances::activity))
        .route(
            "/api/instances/{id}/cron",
            get(instances::cron).post(instances::add_cron),
        )
        .route("/api/instances/{id}/messages", post(instances::message))
        .route("/api/instances/{id}/exec", post(instances::exec))
        .route(
            "/api/instances/{id}/browser/open",
            post(instances::browser_open),
        )
        .route(
            "/api/instances/{id}/browser/screenshot",
            get(instances::browser_screenshot),
        )
        .route("/api/secrets", post(secrets::create).get(secrets::list))
        .route(
            "/api/secrets/{id}",
            get(secrets::get)
                .put(secrets::update)
                .delete(secrets::delete),
        )
        .route("/api/secrets/{id}/grants", post(secrets::grant))
        .route(
            "/api/secrets/{id}/grants/{instance_id}",
            axum::routing::delete(secrets::revoke),
        )
        .route(
            "/api/automations",
            post(automations::create).get(automations::list),
        )
        .route(
            "/api/automations/{id}",
            get(automations::get)
                .put(automations::update)
                .delete(automations::delete),
        )
        .route("/api/automations/next-runs", get(automations::next_runs))
        .route("/api/automations/{id}/run", post(automations::run_now))
        .route("/api/automations/{id}/runs", get(automations::runs))
        .route("/api/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/api/webhooks/{id}",
            get(webhooks::get)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/api/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/api/billing", get(billing::get))
        .route(
            "/api/experiments",
            post(experiments::create).get(experiments::list),
        )
        .route(
            "/api/experiments/{id}",
            get(experiments::get).delete(experiments::delete),
        )
        .route("/api/experiments/{id}/results", get(experiments::results))
        .route("/api/experiments/{id}/cancel", post(experiments::cancel))
        .route("/api/experiments/{id}/evolve", post(experiments::evolve))
        .route("/mcp", post(mcp::post).get(mcp::get).delete(mcp::delete))
        .route("/api/chat", post(chat::post))
        .route("/api/chat/history", get(chat::history))
        .route("/api/chat/{id}", get(chat::get).delete(chat::delete))
        .route("/api/chat/{id}/stream", get(chat::stream))
        .route(
            "/api/v1/chat/completions",
            post(completions::chat_completions),
        )
        .route("/api/v1/models", get(completions::models))
        // Authentication, then idempotency (it needs the caller), in one layer.
        .route_layer(from_fn_with_state(
            platform.clone(),
            middleware::authenticate,
        ));

    let public = Router::new()
        .route("/api/health", get(health::health))
        .route("/api/cli/poll", get(cli::poll))
        .route(
            "/api/webhooks/trigger/{token}",
            post(webhooks::trigger).get(webhooks::trigger),
        )
        .route("/v1/chat/completions", post(gateway::chat_completions))
        .route("/v1/models", get(gateway::models))
        .route("/v1/messages", post(gateway::messages))
        .route("/v1/secrets", get(gateway::secrets))
        .route("/v1/secrets/{name}", get(gateway::secret))
        .route("/api/openapi.json", get(openapi::spec))
        .route("/docs", get(openapi::docs))
        .route("/docs/{name}", get(openapi::docs_asset));

    public
        .merge(console::routes())
        .merge(authed)
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(from_fn_with_state(std::sync::Arc::new(cors), edge))
        .with_state(platform)
}

/// The outermost layer: one span per request (method, path, request id, account once
/// known) and one line per response, around CORS (one layer for both: each layer clones the
/// boxed routes below it on every request). Every response carries `X-Request-Id`: the
/// caller's when well-formed ([`request_id_of`]), else a new one. Query strings are not
/// logged: they may carry tokens.
async fn edge(
    axum::extract::State(cors): axum::extract::State<std::sync::Arc<cors::Cors>>,
    req: Request,
    next: Next,
) -> Response {
    let request_id = request_id_of(req.headers());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %redact_path(req.uri().path()),
        request_id = %request_id,
        account = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let mut res = tracing::Instrument::instrument(cors::layer(cors, req, next), span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "response"
        )
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// The caller's `X-Request-Id` when it is 1 to 128 characters of letters, digits and
/// `-_.:`; otherwise a new `req_…` id (so a log line can never be forged through it).
pub fn request_id_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map_or_else(
            || crate::ids::RequestId::generate().to_string(),
            str::to_owned,
        )
}

/// The webhook token is a credential: keep it out of logs.
fn redact_path(path: &str) -> String {
    if path.starts_with("/api/webhooks/trigger/") {
        "/api/webhooks/trigger/<token>".to_owned()
    } else {
        path.to_owned()
    }
}
