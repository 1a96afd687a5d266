//! `OPERATOR_CORS_ORIGINS`: preflights from a listed origin pass with the API's methods and
//! headers; another origin's are refused; responses name the origin, never `*`.

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Method, Request};
use operator_core::http::cors::Cors;
use tower::ServiceExt;

const APP: &str = "https://app.example.com";

async fn send(api: &Api, req: Request<Body>) -> axum::response::Response {
    let cors = Cors::parse(&format!("{APP}, http://localhost:5173")).unwrap();
    operator_core::http::router_with(api.platform.clone(), cors)
        .oneshot(req)
        .await
        .unwrap()
}

fn preflight(origin: &str, method: &str, headers: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/chat")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_listed_origin_passes_preflight_and_reads_responses() {
    let api = Api::start().await;
    // WHEN a browser on a listed origin asks before POSTing a chat message
    let res = send(
        &api,
        preflight(
            APP,
            "POST",
            "authorization, content-type, idempotency-key, x-response-format, last-event-id",
        ),
    )
    .await;
    // THEN 204 names that origin (not `*`), the methods and every header the API reads
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    let methods = h[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap();
    for m in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = h[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap();
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-response-format",
        "last-event-id",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    assert!(h[header::VARY].to_str().unwrap().contains("Origin"));
    // AND the real request's response names the origin and exposes the stream header
    let res = send(
        &api,
        Request::builder()
            .uri("/api/instances")
            .header(header::ORIGIN, APP)
            .header(header::AUTHORIZATION, format!("Bearer {}", api.key))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    let exposed = res.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap();
    assert!(
        exposed.contains("x-vercel-ai-ui-message-stream"),
        "{exposed}"
    );
    // AND an error answer (401) still carries them, so the page can read why
    let res = send(
        &api,
        Request::builder()
            .uri("/api/instances")
            .header(header::ORIGIN, "http://localhost:5173")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn another_origin_is_refused_and_gets_no_cors_headers() {
    let api = Api::start().await;
    // WHEN a browser on an origin that is not listed asks
    let res = send(
        &api,
        preflight("https://evil.example", "POST", "authorization"),
    )
    .await;
    // THEN 403 with API.md's error body saying how to allow it
    assert_eq!(res.status(), 403);
    assert!(!res
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "cors_origin_refused", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("OPERATOR_CORS_ORIGINS"));
    // AND its requests run (a same-origin console sends Origin too) but name no origin
    let res = send(
        &api,
        Request::builder()
            .uri("/api/health")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(!res
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    // AND without OPERATOR_CORS_ORIGINS (the default router) no origin is allowed
    let res = operator_core::http::router(api.platform.clone())
        .oneshot(preflight(APP, "GET", "authorization"))
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn mcp_accepts_a_listed_origin_and_refuses_another() {
    let api = Api::start().await;
    let initialize = |origin: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .header(header::ORIGIN, origin)
            .header(header::AUTHORIZATION, format!("Bearer {}", api.key))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(Body::from(
                serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "browser-app", "version": "1"}}})
                .to_string(),
            ))
            .unwrap()
    };
    // WHEN a browser app on a listed origin opens an MCP session THEN it gets one
    let res = send(&api, initialize(APP)).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("mcp-session-id"));
    assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    // AND one on another origin is refused (the transport's DNS-rebinding guard)
    let res = send(&api, initialize("https://evil.example")).await;
    assert_eq!(res.status(), 403);
}
