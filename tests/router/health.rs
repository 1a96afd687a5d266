//! Health, auth in general, and the JSON fallbacks for unknown routes and methods.

use crate::harness::*;
use axum::body::Body;
use axum::http::Method;

#[tokio::test]
async fn health_needs_no_key_and_reports_the_version() {
    // GIVEN a platform WHEN /api/health is called without a key
    let api = Api::start().await;
    let v = api
        .send(Method::GET, "/api/health", None, &[], Body::empty())
        .await
        .ok(200);
    // THEN it is ok with a version
    assert_eq!(v["ok"], true);
    assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
}

#[tokio::test]
async fn cli_health_describes_the_callers_account() {
    let api = Api::start().await;
    // WHEN the CLI checks its key
    let v = api.get("/api/cli/health").await.ok(200);
    // THEN it is told who it is and its plan
    assert_eq!(v["authenticated"], true);
    assert_id(&v["userId"], "user_");
    assert_eq!(v["planSlug"], "pro");
    assert_eq!(v["hasPlan"], true);
    assert_eq!(v["tokenLimit"], 15_000_000);
    // AND without a valid key it is a 401 with the error body
    api.assert_requires_key(Method::GET, "/api/cli/health")
        .await;
}

#[tokio::test]
async fn a_revoked_key_fails_on_its_very_next_request() {
    // GIVEN a second key of the account
    let api = Api::start().await;
    let created = api
        .post("/api/chat-keys", serde_json::json!({}))
        .await
        .ok(201);
    let (id, key) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap().to_owned(),
    );
    api.get_as(&key, "/api/cli/health").await.ok(200);
    // WHEN it is revoked
    api.delete(&format!("/api/chat-keys/{id}")).await.ok(200);
    // THEN its next use is a 401
    api.get_as(&key, "/api/cli/health")
        .await
        .error(401, "unauthorized");
    // AND the key that revoked it still works
    api.get("/api/cli/health").await.ok(200);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let api = Api::start().await;
    // WHEN a path no route serves is called THEN 404 not_found
    api.get("/api/nothing-here").await.error(404, "not_found");
    api.send(Method::GET, "/nothing", None, &[], Body::empty())
        .await
        .error(404, "not_found");
    // WHEN a known path gets a method it does not take THEN 405 with the error body
    api.send(Method::DELETE, "/api/health", None, &[], Body::empty())
        .await
        .error(405, "method_not_allowed");
    api.send(
        Method::PATCH,
        "/api/instances",
        Some(&api.key),
        &[],
        Body::empty(),
    )
    .await
    .error(405, "method_not_allowed");
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_with_the_error_body() {
    let api = Api::start().await;
    // WHEN the body is not valid JSON THEN 400 invalid_request
    api.send(
        Method::POST,
        "/api/secrets",
        Some(&api.key),
        &[("content-type", "application/json")],
        Body::from("{not json"),
    )
    .await
    .error(400, "invalid_request");
    // WHEN the content type is not JSON THEN 415
    let r = api
        .send(
            Method::POST,
            "/api/secrets",
            Some(&api.key),
            &[("content-type", "text/plain")],
            Body::from(r#"{"name":"A","value":"b"}"#),
        )
        .await;
    assert_eq!(r.status.as_u16(), 415, "{r:?}");
    assert!(r.json()["error"]["code"].is_string());
    // WHEN the body is over the 1 MiB limit THEN 413 payload_too_large
    let big = format!(
        r#"{{"name":"A","value":"{}"}}"#,
        "x".repeat(1024 * 1024 + 1)
    );
    api.send(
        Method::POST,
        "/api/secrets",
        Some(&api.key),
        &[("content-type", "application/json")],
        Body::from(big),
    )
    .await
    .error(413, "payload_too_large");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_refuses_another_body() {
    let api = Api::start().await;
    let send = |body: &'static str| {
        api.send(
            Method::POST,
            "/api/automations",
            Some(&api.key),
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "create-brief-1"),
            ],
            Body::from(body),
        )
    };
    let body = r#"{"name":"brief","prompt":"p","cronExpression":"0 9 * * *"}"#;
    // WHEN the same write is sent twice with one Idempotency-Key
    let first = send(body).await.ok(201);
    let again = send(body).await.ok(201);
    // THEN the second is the first response, and nothing new was created
    assert_eq!(first, again);
    let list = api.get("/api/automations").await.ok(200);
    assert_eq!(list["automations"].as_array().unwrap().len(), 1);
    // AND a different body under the same key is a 409
    send(r#"{"name":"other","prompt":"p","cronExpression":"0 9 * * *"}"#)
        .await
        .error(409, "conflict");
}

#[tokio::test]
async fn every_response_carries_a_request_id_the_callers_when_well_formed() {
    let api = Api::start().await;
    // WHEN requests come without an id: a success, an unauthenticated call, an unknown route
    let mut seen = std::collections::HashSet::new();
    for (path, key) in [
        ("/api/health", None),
        ("/api/instances", Some(api.key.as_str())),
        ("/api/instances", None),
        ("/api/nowhere", None),
    ] {
        let r = api.send(Method::GET, path, key, &[], Body::empty()).await;
        // THEN each response has its own new id
        let id = r.headers["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.starts_with("req_") && id.len() > 10, "{path}: {id}");
        assert!(seen.insert(id), "ids are unique");
    }
    // AND a well-formed id of the caller's comes back as sent
    let r = api
        .send(
            Method::GET,
            "/api/health",
            None,
            &[("x-request-id", "trace-7f3a.b:2")],
            Body::empty(),
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "trace-7f3a.b:2");
    // AND a malformed or oversized one is replaced, never echoed
    for bad in ["has space", "semi;colon", &"x".repeat(129)] {
        let r = api
            .send(
                Method::GET,
                "/api/health",
                None,
                &[("x-request-id", bad)],
                Body::empty(),
            )
            .await;
        let id = r.headers["x-request-id"].to_str().unwrap();
        assert!(id.starts_with("req_"), "{bad:?} -> {id}");
    }
}
