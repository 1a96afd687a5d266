//! The OpenAPI 3.1 document, generated from the handlers' annotations, and `/docs`.

use super::error::{ErrorBody, ErrorDetail};
use super::routes::*;
use super::views::*;
use axum::response::Html;
use axum::Json;
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
    modifiers(&BearerAuth),
    security(("apiKey" = [])),
    paths(
        health::health, health::cli_health, cli::approve, cli::poll,
        keys::create, keys::list, keys::revoke,
        instances::create, instances::list, instances::get, instances::update,
        instances::restart, instances::clone, instances::delete,
        instances::read_files, instances::write_file, instances::delete_file,
        instances::activity, instances::message, instances::exec,
        instances::browser_open, instances::browser_screenshot,
        gateway::chat_completions, gateway::secrets, gateway::secret,
        secrets::create, secrets::list, secrets::get, secrets::update, secrets::delete,
        secrets::grant, secrets::revoke,
        automations::create, automations::list, automations::get, automations::update,
        automations::delete, automations::run_now, automations::runs, automations::next_runs,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::deliveries, webhooks::trigger, webhooks::trigger_get_doc,
        billing::get,
        chat::post, chat::stream, chat::history, chat::get, chat::delete,
    ),
    components(schemas(ErrorBody, ErrorDetail, OkBody))
)]
pub struct ApiDoc;

/// `GET /api/openapi.json`
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    Json(doc)
}

/// `GET /docs`: a self-contained reference (no CDN) with a "try it" form per operation.
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
