//! The CLI's browser login at the HTTP level: approve (signed in), poll (no key yet) → a new
//! key, exactly once.

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Method};
use serde_json::json;

const SESSION: &str = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

async fn poll(api: &Api, session: &str) -> Reply {
    api.send(
        Method::GET,
        &format!("/api/cli/poll?session={session}"),
        None,
        &[],
        Body::empty(),
    )
    .await
}

#[tokio::test]
async fn an_approved_cli_login_hands_out_one_working_key_once() {
    let api = Api::start().await;
    // GIVEN a CLI polling for a session nobody approved yet THEN it is told 404
    poll(&api, SESSION).await.error(404, "not_found");
    // WHEN the signed-in user approves it
    assert_eq!(
        api.post("/api/cli/approve", json!({ "session": SESSION }))
            .await
            .ok(200),
        json!({"ok": true})
    );
    // AND approving it again is a conflict (one key per approval)
    api.post("/api/cli/approve", json!({ "session": SESSION }))
        .await
        .error(409, "conflict");
    // THEN the next poll gets a new key, not to be cached
    let reply = poll(&api, SESSION).await;
    assert_eq!(
        reply
            .headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    let body = reply.ok(200);
    let key = body["operatorApiKey"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ck_live_"), "{body}");
    // AND the key works, for the approving user's account
    let me = api.get("/api/cli/health").await.ok(200);
    let cli = api.get_as(&key, "/api/cli/health").await.ok(200);
    assert_eq!(cli["accountId"], me["accountId"]);
    // AND it is listed under a name saying where it came from
    let keys = api.get("/api/chat-keys").await.ok(200);
    assert!(
        keys["keys"].as_array().unwrap().iter().any(|k| k["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("CLI login "))),
        "{keys}"
    );
    // AND a second poll gets nothing
    poll(&api, SESSION).await.error(404, "not_found");
}

#[tokio::test]
async fn cli_login_refuses_bad_sessions_and_needs_a_signed_in_approver() {
    let api = Api::start().await;
    // Approving takes a key; polling does not (the CLI has none yet)
    api.assert_requires_key(Method::POST, "/api/cli/approve")
        .await;
    // Session ids are UUIDs: anything else is a 400 naming `session`
    for bad in ["abc", "1b4e28ba2fa141d2883f0016d3cca427", "%2e%2e%2f"] {
        api.post("/api/cli/approve", json!({ "session": bad }))
            .await
            .invalid("session");
        poll(&api, bad).await.invalid("session");
    }
    api.post("/api/cli/approve", json!({}))
        .await
        .invalid("session");
    api.send(Method::GET, "/api/cli/poll", None, &[], Body::empty())
        .await
        .invalid("session");
}
