//! `/api/openapi.json` and `/docs`: the reference is public and covers every route group.

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Method};

#[tokio::test]
async fn the_openapi_document_covers_every_route_group() {
    let api = Api::start().await;
    // WHEN the spec is fetched without a key
    let v = api
        .send(Method::GET, "/api/openapi.json", None, &[], Body::empty())
        .await
        .ok(200);
    // THEN it is OpenAPI 3.1 with a path for every group of API.md
    assert!(
        v["openapi"].as_str().is_some_and(|s| s.starts_with("3.1")),
        "{}",
        v["openapi"]
    );
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/api/health",
        "/api/cli/health",
        "/api/chat-keys",
        "/api/instances",
        "/api/instances/{id}/files",
        "/api/secrets/{id}/grants",
        "/api/automations/{id}/runs",
        "/api/webhooks/trigger/{token}",
        "/api/webhooks/{id}/deliveries",
        "/api/chat",
        "/api/chat/history",
        "/api/billing",
        "/v1/chat/completions",
        "/v1/secrets",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the spec");
    }
}

#[tokio::test]
async fn the_docs_page_is_html_without_a_key() {
    let api = Api::start().await;
    // WHEN /docs is fetched THEN an HTML page pointing at the spec comes back
    let r = api
        .send(Method::GET, "/docs", None, &[], Body::empty())
        .await;
    assert_eq!(r.status.as_u16(), 200);
    let ct = r.headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = String::from_utf8_lossy(&r.body);
    assert!(
        html.contains("openapi.json"),
        "the page does not load the spec"
    );
}
