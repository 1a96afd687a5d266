//! The OpenAPI 3.1 document, generated from the handlers' annotations, and `/docs`.

use super::conventions::Conventions;
use super::error::{ErrorBody, ErrorDetail};
use super::routes::*;
use super::views::*;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ck_live_...")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "instanceToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("per-instance token, given to each instance at start"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Operator API", description = "Agent-operations platform: instances, secrets, automations, webhooks, keys, billing."),
    modifiers(&BearerAuth, &Conventions),
    security(("apiKey" = [])),
    paths(
        health::health, health::cli_health, cli::approve, cli::poll,
        keys::create, keys::list, keys::revoke,
        instances::create, instances::list, instances::get, instances::update,
        instances::restart, instances::clone, instances::delete,
        instances::read_files, instances::write_file, instances::delete_file,
        instances::activity, instances::message, instances::exec,
        instances::cron, instances::add_cron,
        instances::browser_open, instances::browser_screenshot,
        gateway::chat_completions, gateway::messages, gateway::models, gateway::secrets, gateway::secret,
        secrets::create, secrets::list, secrets::get, secrets::update, secrets::delete,
        secrets::grant, secrets::revoke,
        automations::create, automations::list, automations::get, automations::update,
        automations::delete, automations::run_now, automations::runs, automations::next_runs,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::deliveries, webhooks::trigger, webhooks::trigger_get_doc,
        billing::get,
        chat::post, chat::stream, chat::history, chat::get, chat::delete,
        completions::chat_completions, completions::models,
        experiments::create, experiments::list, experiments::get, experiments::results,
        experiments::cancel, experiments::delete, experiments::evolve,
        mcp::post, mcp::get, mcp::delete,
    ),
    components(schemas(ErrorBody, ErrorDetail, OkBody))
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`: built and serialised once (the document is fixed at compile
/// time), then served from memory.
pub async fn spec() -> axum::response::Response {
    use axum::response::IntoResponse;
    static DOCUMENT: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        serde_json::to_vec(&doc)
            .expect("the OpenAPI document serialises")
            .into()
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
        .into_response()
}

/// `GET /docs`: the API reference, served by the binary (no CDN). `docs.html` loads the
/// plain ES modules of `docs/` (`GET /docs/{name}`), which read `/api/openapi.json` and build
/// a "try it" form per operation; see `docs/docs.js`. Everything goes out with the console's
/// Content-Security-Policy: only this origin's scripts, no inline script, no other origin.
pub async fn docs() -> axum::response::Response {
    super::console::embedded_page("text/html; charset=utf-8", DOCS_PAGE)
}

/// `GET /docs/{name}`: the page's scripts and stylesheet.
pub async fn docs_asset(
    axum::extract::Path(name): axum::extract::Path<String>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    super::console::embedded_asset(DOCS_ASSETS, &name, uri).await
}

const DOCS_PAGE: &str = include_str!("docs.html");
const DOCS_JS: &str = "text/javascript; charset=utf-8";

/// `/docs/<name>` → (content type, text).
const DOCS_ASSETS: &[(&str, &str, &str)] = &[
    ("docs.js", DOCS_JS, include_str!("docs/docs.js")),
    ("spec.js", DOCS_JS, include_str!("docs/spec.js")),
    ("http.js", DOCS_JS, include_str!("docs/http.js")),
    ("dom.js", DOCS_JS, include_str!("docs/dom.js")),
    (
        "docs.css",
        "text/css; charset=utf-8",
        include_str!("docs/docs.css"),
    ),
];
