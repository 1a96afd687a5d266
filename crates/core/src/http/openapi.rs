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

/// What every route shares, stated once from the layers that cause it (rather than repeated
/// in each handler's annotation): the authentication middleware answers 401 on every route
/// that needs a key (or an instance token); the JSON body extractor answers 400 (bad JSON or
/// validation), 413 and 415; the query and path extractors answer 400; the id lookups 404.
/// Also the server list (this server, whatever address it is reached at).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, ServerBuilder};
        openapi.servers = Some(vec![ServerBuilder::new()
            .url("/")
            .description(Some("this server"))
            .build()]);
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "ErrorBody",
                            ))))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let public = op.security.as_ref().is_some_and(|reqs| {
                    reqs.iter()
                        .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
                });
                let json_body = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.contains_key("application/json"));
                let params = op.parameters.as_deref().unwrap_or_default();
                let has_query = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query));
                let has_path = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path));
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                };
                if !public {
                    add(
                        "401",
                        "unauthorized: the key (or instance token) is missing, unknown or revoked",
                    );
                }
                if json_body {
                    add("400", "invalid_request: the body is not valid JSON or a field is invalid (`details` names each field)");
                    add("413", "payload_too_large: the body is over the limit");
                    add("415", "the body is not `application/json`");
                }
                if has_query {
                    add(
                        "400",
                        "invalid_request: a query parameter is invalid (`details` names it)",
                    );
                }
                if has_path {
                    add("404", "not_found: no such resource in this account");
                }
            }
        }
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
