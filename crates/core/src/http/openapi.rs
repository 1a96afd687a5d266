//! The OpenAPI 3.1 document, generated from the handlers' annotations, and `/docs`.

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
        // The validation rules of request fields, as patterns (views::patterns).
        if let Some(components) = openapi.components.as_mut() {
            for (schema, property, pattern) in crate::views::patterns::FIELDS {
                if let Some(RefOr::T(utoipa::openapi::schema::Schema::Object(o))) =
                    components.schemas.get_mut(*schema)
                {
                    if let Some(RefOr::T(utoipa::openapi::schema::Schema::Object(field))) =
                        o.properties.get_mut(*property)
                    {
                        field.pattern = Some((*pattern).to_owned());
                    }
                }
            }
        }
        // Component schemas with no required field.
        let optional_bodies: std::collections::HashSet<String> = openapi
            .components
            .iter()
            .flat_map(|c| c.schemas.iter())
            .filter(|(_, s)| {
                matches!(s, RefOr::T(utoipa::openapi::schema::Schema::Object(o)) if o.required.is_empty())
            })
            .map(|(name, _)| name.clone())
            .collect();
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
                // A body whose fields are all optional may be left out (the JSON extractor
                // reads an empty body as `{}`).
                if let Some(body) = op.request_body.as_mut() {
                    let all_optional =
                        body.content
                            .get("application/json")
                            .is_some_and(|c| match &c.schema {
                                Some(RefOr::Ref(r)) => {
                                    let name =
                                        r.ref_location.rsplit('/').next().unwrap_or_default();
                                    optional_bodies.contains(name)
                                }
                                _ => false,
                            });
                    if all_optional {
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
                // A parameter is absent or a value: `null` cannot be sent in a query or header.
                for p in op.parameters.iter_mut().flatten() {
                    if let Some(RefOr::T(utoipa::openapi::schema::Schema::Object(o))) =
                        p.schema.as_mut()
                    {
                        if let utoipa::openapi::schema::SchemaType::Array(types) = &o.schema_type {
                            let without_null: Vec<_> = types
                                .iter()
                                .filter(|t| !matches!(t, utoipa::openapi::schema::Type::Null))
                                .cloned()
                                .collect();
                            if let [only] = without_null.as_slice() {
                                o.schema_type =
                                    utoipa::openapi::schema::SchemaType::Type(only.clone());
                            }
                        }
                    }
                }
                // Raw bodies: any bytes (text or binary); an empty one is an empty content.
                if let Some(body) = op.request_body.as_mut() {
                    if let Some(text) = body.content.get("text/plain").cloned() {
                        body.content.insert(
                            "application/octet-stream".to_owned(),
                            utoipa::openapi::ContentBuilder::new()
                                .schema(Some(
                                    utoipa::openapi::ObjectBuilder::new()
                                        .schema_type(utoipa::openapi::schema::Type::String)
                                        .content_media_type("application/octet-stream"),
                                ))
                                .build(),
                        );
                        body.content.insert("text/plain".to_owned(), text);
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
                for (id, name, pattern, required) in crate::views::patterns::PARAMETERS {
                    if op.operation_id.as_deref() != Some(*id) {
                        continue;
                    }
                    for p in op.parameters.iter_mut().flatten() {
                        if p.name == *name {
                            p.required = if *required {
                                utoipa::openapi::Required::True
                            } else {
                                utoipa::openapi::Required::False
                            };
                            if let Some(RefOr::T(utoipa::openapi::schema::Schema::Object(o))) =
                                p.schema.as_mut()
                            {
                                o.pattern = Some((*pattern).to_owned());
                                if *required {
                                    o.min_length = Some(1);
                                }
                            }
                        }
                    }
                }
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
