//! `/api/chat-keys`: create (shown once), list (paged, never the secret), revoke.

use crate::harness::*;
use axum::http::Method;
use serde_json::json;

#[tokio::test]
async fn a_key_is_shown_once_and_listed_without_its_secret() {
    let api = Api::start().await;
    // WHEN a key is created
    let created = api
        .post("/api/chat-keys", json!({"name": "ci"}))
        .await
        .ok(201);
    // THEN the plaintext and id come back once
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("ck_live_"), "{created}");
    assert_id(&created["id"], "key_");
    // AND the list shows its metadata, never the key
    let list = api.get("/api/chat-keys").await.ok(200);
    let keys = list["keys"].as_array().unwrap();
    let ci = keys.iter().find(|k| k["id"] == created["id"]).unwrap();
    assert_eq!(ci["name"], "ci");
    assert!(key.starts_with(ci["prefix"].as_str().unwrap()), "{ci}");
    assert_time(&ci["createdAt"]);
    assert!(ci.get("lastUsedAt").is_some(), "{ci}");
    assert!(!list.to_string().contains(key), "the list leaks a key");
    assert!(
        list.get("nextCursor").is_some_and(|c| c.is_null()),
        "{list}"
    );
}

#[tokio::test]
async fn keys_page_with_a_cursor_and_refuse_bad_ones() {
    let api = Api::start().await;
    // GIVEN three keys (the harness's and two more)
    for name in ["a", "b"] {
        api.post("/api/chat-keys", json!({ "name": name }))
            .await
            .ok(201);
    }
    // WHEN they are listed two at a time
    let first = api.get("/api/chat-keys?limit=2").await.ok(200);
    assert_eq!(first["keys"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().expect("a next page");
    let second = api
        .get(&format!("/api/chat-keys?limit=2&cursor={cursor}"))
        .await
        .ok(200);
    // THEN the second page holds the rest and ends the list
    assert_eq!(second["keys"].as_array().unwrap().len(), 1);
    assert!(second["nextCursor"].is_null(), "{second}");
    // AND malformed limits and cursors are 400s naming the parameter
    api.assert_page_errors("/api/chat-keys").await;
}

#[tokio::test]
async fn another_accounts_key_cannot_be_revoked_and_bad_names_are_refused() {
    let api = Api::start().await;
    let other = api.other_account().await;
    let theirs = api
        .json_as(&other, Method::POST, "/api/chat-keys", json!({}))
        .await
        .ok(201);
    // WHEN this account revokes the other's key THEN 404, and the key still works
    api.delete(&format!(
        "/api/chat-keys/{}",
        theirs["id"].as_str().unwrap()
    ))
    .await
    .error(404, "not_found");
    api.get_as(theirs["key"].as_str().unwrap(), "/api/cli/health")
        .await
        .ok(200);
    // AND an unknown id is a 404 too
    api.delete("/api/chat-keys/key_doesnotexist")
        .await
        .error(404, "not_found");
    // WHEN a name of the wrong type is sent THEN 400 naming it
    api.post("/api/chat-keys", json!({"name": 42}))
        .await
        .invalid("name");
    // AND every key route needs a key
    api.assert_requires_key(Method::GET, "/api/chat-keys").await;
    api.assert_requires_key(Method::POST, "/api/chat-keys")
        .await;
}
