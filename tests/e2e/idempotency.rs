//! `Idempotency-Key` on writes: same key and body → the first response; different body → 409.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_repeated_key_returns_the_first_response_once() {
    let app = App::spawn().await;
    let post = |body: serde_json::Value, key: &'static str| {
        app.request(Method::POST, "/api/instances", Some(&app.key))
            .header("Idempotency-Key", key)
            .json(&body)
    };
    let first = send(post(json!({"name": "idem"}), "k-1")).await;
    assert_eq!(first.0, 201);
    let res = post(json!({"name": "idem"}), "k-1").send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let second: serde_json::Value = res.json().await.unwrap();
    assert_eq!(first.1, second);
    let (_, list) = app.get("/api/instances").await;
    assert_eq!(list["instances"].as_array().unwrap().len(), 1);
    // same key, different body → 409
    let got = send(post(json!({"name": "other"}), "k-1")).await;
    assert_error(&got, 409, "conflict");
    // the same key in another account is independent
    let (_, other) = app.create_account("pro");
    let got = send(
        app.request(Method::POST, "/api/instances", Some(&other))
            .header("Idempotency-Key", "k-1")
            .json(&json!({"name": "idem"})),
    )
    .await;
    assert_eq!(got.0, 201);
    assert_ne!(got.1["instance"]["id"], first.1["instance"]["id"]);
    // errors are replayed too (a 4xx is an answer)
    let e1 = send(post(json!({"name": "BAD"}), "k-2")).await;
    let e2 = send(post(json!({"name": "BAD"}), "k-2")).await;
    assert_error(&e1, 400, "invalid_request");
    assert_eq!(e1, e2);
}

#[tokio::test]
async fn replays_of_secret_and_key_creation_never_store_the_plaintext() {
    let app = App::spawn().await;
    let make = || {
        app.request(Method::POST, "/api/secrets", Some(&app.key))
            .header("Idempotency-Key", "s-1")
            .json(&json!({"name": "IDEM", "value": "idem_plaintext_value"}))
    };
    let first = send(make()).await;
    assert_eq!(first.0, 201);
    assert_eq!(first.1["secret"]["value"], "idem_plaintext_value");
    let again = send(make()).await;
    assert_eq!(again.0, 201);
    assert_eq!(again.1["secret"]["id"], first.1["secret"]["id"]);
    assert!(again.1["secret"].get("value").is_none());

    let k1 = send(
        app.request(Method::POST, "/api/chat-keys", Some(&app.key))
            .header("Idempotency-Key", "k-1"),
    )
    .await;
    let k2 = send(
        app.request(Method::POST, "/api/chat-keys", Some(&app.key))
            .header("Idempotency-Key", "k-1"),
    )
    .await;
    assert_eq!(k1.1["id"], k2.1["id"]);
    assert!(k2.1["key"].is_null());
    let plain_key = k1.1["key"].as_str().unwrap();
    for f in ["operator.db", "operator.db-wal"] {
        let raw = std::fs::read(app.data_dir.join(f)).unwrap_or_default();
        for needle in ["idem_plaintext_value", plain_key] {
            assert!(
                !raw.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{f}"
            );
        }
    }
}
