//! The web console: a small single-page application served by the binary itself, so a
//! self-hoster needs no CDN, no build step and no other server.
//!
//! The sources in `assets/` are what the browser runs — plain ES modules, no bundler, no
//! framework — embedded at compile time. Every page path serves the same `index.html`; the
//! script routes on `location.pathname`. The console only talks to this server's `/api`
//! with the signed-in key, like any other client: it adds no operation of its own.
//!
//! Everything agents, instances or users wrote is untrusted. The scripts build the DOM with
//! `textContent` and element constructors (markdown included, see `markdown.js`) and never
//! parse HTML from data; the Content-Security-Policy below backs that up: no inline script,
//! nothing loaded from another origin, no framing.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Sent with every console response. `connect-src 'self'` keeps the API calls on this
/// origin; `img-src blob:` lets the browser panel show a screenshot fetched with the key.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page paths (each serves `index.html`).
pub const PAGES: &[&str] = &[
    "/",
    "/chat",
    "/chat/{id}",
    "/instances",
    "/instances/{id}",
    "/experiments",
    "/experiments/{id}",
    "/secrets",
    "/automations",
    "/webhooks",
    "/keys",
    "/billing",
    "/auth/cli",
];

/// Every asset: `/console/<name>` → (content type, bytes).
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("assets/app.js")),
    ("api.js", JS, include_str!("assets/api.js")),
    ("dom.js", JS, include_str!("assets/dom.js")),
    ("markdown.js", JS, include_str!("assets/markdown.js")),
    ("chat.js", JS, include_str!("assets/chat.js")),
    ("instances.js", JS, include_str!("assets/instances.js")),
    ("instance.js", JS, include_str!("assets/instance.js")),
    ("resources.js", JS, include_str!("assets/resources.js")),
    ("billing.js", JS, include_str!("assets/billing.js")),
    ("experiments.js", JS, include_str!("assets/experiments.js")),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("assets/index.html");

/// The console's routes, merged into the platform router (public: the page itself holds
/// no data; every API call it makes carries the key).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new().route("/console/{name}", get(asset));
    for page in PAGES {
        r = r.route(page, get(index));
    }
    r
}

async fn index() -> Response {
    embedded_page("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(name): Path<String>, uri: axum::http::Uri) -> Response {
    embedded_asset(ASSETS, &name, uri).await
}

/// An embedded asset by name from a table of `(name, content type, text)`, or API.md's 404.
/// Also serves the `/docs` page's assets.
pub(crate) async fn embedded_asset(
    table: &[(&str, &'static str, &'static str)],
    name: &str,
    uri: axum::http::Uri,
) -> Response {
    match table.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => embedded_page(content_type, body),
        None => crate::http::error::not_found_fallback(uri)
            .await
            .into_response(),
    }
}

/// An embedded file with the console's headers: the Content-Security-Policy and the
/// hardening headers (also used by `/docs`, which runs under the same policy).
pub(crate) fn embedded_page(content_type: &'static str, body: &'static str) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Small and embedded in the binary: revalidate each load so an upgrade shows at once.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    res
}
