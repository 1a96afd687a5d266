//! `/api/webhooks` and the public trigger.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn make(app: &App) -> (String, String, String) {
    let (s, v) = app
        .post(
            "/api/webhooks",
            json!({"name": "github", "promptTemplate": "GitHub says: {{payload}}"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let w = &v["webhook"];
    (
        w["id"].as_str().unwrap().to_owned(),
        w["token"].as_str().unwrap().to_owned(),
        w["url"].as_str().unwrap().to_owned(),
    )
}

async fn trigger(
    app: &App,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (reqwest::StatusCode, Value) {
    let mut rb = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let _ = app;
    send(rb).await
}

#[tokio::test]
async fn create_requires_the_payload_placeholder_and_returns_the_url() {
    let app = App::spawn().await;
    let got = app
        .post(
            "/api/webhooks",
            json!({"name": "x", "promptTemplate": "no placeholder"}),
        )
        .await;
    assert_error(&got, 400, "invalid_request");
    assert!(got.1["error"]["details"]["promptTemplate"]
        .as_str()
        .unwrap()
        .contains("{{payload}}"));
    let (s, v) = app
        .post(
            "/api/webhooks",
            json!({"name": "x", "promptTemplate": "Do {{payload}}"}),
        )
        .await;
    assert_eq!(s, 201);
    let w = &v["webhook"];
    assert!(w["id"].as_str().unwrap().starts_with("wh_"));
    assert!(w["chatId"].as_str().unwrap().starts_with("chat_"));
    assert_eq!(w["enabled"], true);
    let token = w["token"].as_str().unwrap();
    assert_eq!(
        w["url"],
        format!("{}/api/webhooks/trigger/{token}", app.base)
    );
    let (_, list) = app.get("/api/webhooks").await;
    assert_eq!(list["webhooks"][0]["id"], w["id"]);
}

#[tokio::test]
async fn trigger_records_a_queued_delivery_without_an_api_key() {
    let app = App::spawn().await;
    let (id, _, url) = make(&app).await;
    let (s, v) = trigger(&app, &url, r#"{"action":"opened"}"#, &[]).await;
    assert_eq!(s, 202, "{v}");
    let dlv = v["deliveryId"].as_str().unwrap().to_owned();
    assert!(dlv.starts_with("dlv_"));
    let (_, list) = app.get(&format!("/api/webhooks/{id}/deliveries")).await;
    let d = &list["deliveries"][0];
    assert_eq!(d["id"], dlv.as_str());
    for f in ["status", "receivedAt", "chatId", "error"] {
        assert!(d.get(f).is_some(), "{f}: {d}");
    }
    // With no LLM configured the delivery is executed and fails, saying what to configure.
    let failed = eventually(20, || async {
        let (_, list) = app.get(&format!("/api/webhooks/{id}/deliveries")).await;
        list["deliveries"]
            .as_array()
            .and_then(|l| l.iter().find(|d| d["status"] == "failed").cloned())
    })
    .await
    .expect("the delivery is executed");
    assert!(
        failed["error"].as_str().unwrap().contains("OPERATOR_LLM"),
        "{failed}"
    );
    // GET with no body works too
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 202);
    let (_, billing) = app.get("/api/billing").await;
    assert_eq!(billing["usage"]["webhookDeliveries"], 2);
    // The token never reaches the log
    let token = url.rsplit('/').next().unwrap();
    assert!(!app.server_log().contains(token));
}

#[tokio::test]
async fn oversized_disabled_unknown_and_rotated() {
    let app = App::spawn().await;
    let (id, _, url) = make(&app).await;
    // > 10 KB → 413
    let big = format!("\"{}\"", "x".repeat(10 * 1024 + 1));
    let got = trigger(&app, &url, &big, &[]).await;
    assert_error(&got, 413, "payload_too_large");
    // exactly 10 KB is fine
    let ok = format!("\"{}\"", "x".repeat(10 * 1024 - 2));
    assert_eq!(trigger(&app, &url, &ok, &[]).await.0, 202);
    // unknown token → 404
    let got = trigger(
        &app,
        &format!("{}/api/webhooks/trigger/whk_nope", app.base),
        "{}",
        &[],
    )
    .await;
    assert_error(&got, 404, "not_found");
    // disabled → 409 webhook_disabled
    let (s, _) = app
        .put(&format!("/api/webhooks/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(s, 200);
    let got = trigger(&app, &url, "{}", &[]).await;
    assert_error(&got, 409, "webhook_disabled");
    // re-enabled and rotated → the old URL is dead at once, the new one works
    let (_, v) = app
        .put(
            &format!("/api/webhooks/{id}"),
            json!({"enabled": true, "regenerateToken": true}),
        )
        .await;
    let new_url = v["webhook"]["url"].as_str().unwrap().to_owned();
    assert_ne!(new_url, url);
    let got = trigger(&app, &url, "{}", &[]).await;
    assert_error(&got, 404, "not_found");
    assert_eq!(trigger(&app, &new_url, "{}", &[]).await.0, 202);
}

#[tokio::test]
async fn repeated_delivery_ids_return_the_first_delivery() {
    let app = App::spawn().await;
    let (id, _, url) = make(&app).await;
    let a = trigger(&app, &url, "{}", &[("Idempotency-Key", "evt-1")]).await;
    let b = trigger(&app, &url, "{}", &[("Idempotency-Key", "evt-1")]).await;
    assert_eq!(a.0, 202);
    assert_eq!(a.1["deliveryId"], b.1["deliveryId"]);
    let c = trigger(&app, &url, "{}", &[("X-GitHub-Delivery", "gh-42")]).await;
    let d = trigger(&app, &url, "{}", &[("X-GitHub-Delivery", "gh-42")]).await;
    assert_eq!(c.1["deliveryId"], d.1["deliveryId"]);
    assert_ne!(a.1["deliveryId"], c.1["deliveryId"]);
    let (_, list) = app.get(&format!("/api/webhooks/{id}/deliveries")).await;
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn update_validates_and_delete_removes() {
    let app = App::spawn().await;
    let (id, _, url) = make(&app).await;
    let got = app
        .put(
            &format!("/api/webhooks/{id}"),
            json!({"promptTemplate": "no placeholder"}),
        )
        .await;
    assert_error(&got, 400, "invalid_request");
    let (s, v) = app
        .put(&format!("/api/webhooks/{id}"), json!({"name": "renamed"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["webhook"]["name"], "renamed");
    let (s, _) = app
        .call(Method::DELETE, &format!("/api/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_error(
        &app.get(&format!("/api/webhooks/{id}")).await,
        404,
        "not_found",
    );
    assert_error(&trigger(&app, &url, "{}", &[]).await, 404, "not_found");
}
