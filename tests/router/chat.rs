//! `/api/chat`: request validation, the missing-model answer, history, read and delete.
//! (A full turn needs the agent worker; the e2e suite runs those against the real binary.)

use crate::harness::*;
use axum::http::Method;
use serde_json::json;

fn user(text: &str) -> serde_json::Value {
    json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": text}]}]})
}

#[tokio::test]
async fn without_a_model_a_chat_message_is_a_503_llm_unavailable() {
    // GIVEN a platform with no LLM provider configured
    let api = Api::start().await;
    // WHEN a message is posted THEN 503 llm_unavailable
    api.post("/api/chat", user("hello"))
        .await
        .error(503, "llm_unavailable");
    // AND no chat was started
    let v = api.get("/api/chat/history").await.ok(200);
    assert_eq!(v["chats"], json!([]));
}

#[tokio::test]
async fn a_chat_request_without_user_text_is_a_400() {
    let api = Api::start().await;
    // WHEN `messages` is missing THEN 400 naming it
    api.post("/api/chat", json!({})).await.invalid("messages");
    // WHEN there is no user message with text THEN 400 invalid_request
    for body in [
        json!({"messages": []}),
        json!({"messages": [{"role": "assistant", "parts": [{"type": "text", "text": "hi"}]}]}),
    ] {
        api.post("/api/chat", body)
            .await
            .error(400, "invalid_request");
    }
    api.assert_requires_key(Method::POST, "/api/chat").await;
}

#[tokio::test]
async fn unknown_and_other_accounts_chats_are_404s() {
    let api = Api::start().await;
    // GIVEN a chat of another account (a webhook's thread)
    let other = api.other_account().await;
    let chat = api
        .json_as(
            &other,
            Method::POST,
            "/api/webhooks",
            json!({"name": "t", "promptTemplate": "{{payload}}"}),
        )
        .await
        .ok(201)["webhook"]["chatId"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN this account reads, streams or deletes it, or one that does not exist THEN 404
    for id in [chat.as_str(), "chat_doesnotexist"] {
        api.get(&format!("/api/chat/{id}"))
            .await
            .error(404, "not_found");
        api.get(&format!("/api/chat/{id}/stream"))
            .await
            .error(404, "not_found");
        api.delete(&format!("/api/chat/{id}"))
            .await
            .error(404, "not_found");
    }
    // AND continuing another account's chat is a 404 too
    let mut body = user("hi");
    body["id"] = json!(chat);
    let r = api.post("/api/chat", body).await;
    assert!(
        matches!(r.status.as_u16(), 404 | 503),
        "neither 404 nor llm_unavailable: {r:?}"
    );
    api.assert_requires_key(Method::GET, "/api/chat/history")
        .await;
    api.get("/api/chat/history?cursor=bad")
        .await
        .invalid("cursor");
}

#[tokio::test]
async fn an_accounts_chat_is_read_listed_and_deleted() {
    let api = Api::start().await;
    // GIVEN the account's webhook thread
    let chat = api
        .post(
            "/api/webhooks",
            json!({"name": "t", "promptTemplate": "{{payload}}"}),
        )
        .await
        .ok(201)["webhook"]["chatId"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN it is read THEN the chat and its (empty) messages come back
    let v = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    assert_eq!(v["chat"]["id"], *chat);
    assert!(v["messages"].is_array(), "{v}");
    // AND the history lists it with API.md's fields
    let h = api.get("/api/chat/history").await.ok(200);
    let listed = h["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == *chat)
        .cloned()
        .unwrap_or_else(|| panic!("{chat} not in {h}"));
    for field in ["title", "createdAt", "updatedAt"] {
        assert!(listed.get(field).is_some(), "{field} missing: {listed}");
    }
    // WHEN it is deleted THEN ok, and it is gone
    assert_eq!(
        api.delete(&format!("/api/chat/{chat}")).await.ok(200),
        json!({"ok": true})
    );
    api.get(&format!("/api/chat/{chat}"))
        .await
        .error(404, "not_found");
}
