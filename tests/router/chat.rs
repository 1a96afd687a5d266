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

/// The id of the newest chat in `key`'s history.
async fn newest_chat(api: &Api, key: &str) -> String {
    let h = api.get_as(key, "/api/chat/history").await.ok(200);
    h["chats"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no chat in {h}"))
        .to_owned()
}

#[tokio::test]
async fn a_message_starts_a_chat_streamed_in_the_ui_message_protocol() {
    // GIVEN a platform with a model
    let api = Api::start_with_model().await;
    // WHEN a user message is posted
    let r = api
        .post_stream_as(&api.key, "/api/chat", user("Create an instance"))
        .await;
    // THEN the answer is an AI SDK UI message stream v1
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(r.headers["x-vercel-ai-ui-message-stream"], "v1");
    // AND the chat is in the history with API.md's fields, holding the user's message
    let h = api.get("/api/chat/history").await.ok(200);
    let listed = &h["chats"][0];
    assert_id(&listed["id"], "chat_");
    assert!(listed["title"].is_string(), "{listed}");
    assert_time(&listed["createdAt"]);
    assert_time(&listed["updatedAt"]);
    let chat = listed["id"].as_str().unwrap();
    let v = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    assert_eq!(v["chat"]["id"], *chat);
    let first = &v["messages"][0];
    assert_eq!(first["role"], "user", "{v}");
    assert_eq!(first["parts"][0]["text"], "Create an instance", "{v}");
    assert_time(&first["createdAt"]);
    // WHEN it is deleted THEN ok, and it is gone
    assert_eq!(
        api.delete(&format!("/api/chat/{chat}")).await.ok(200),
        json!({"ok": true})
    );
    api.get(&format!("/api/chat/{chat}"))
        .await
        .error(404, "not_found");
}

#[tokio::test]
async fn with_a_model_bad_chat_requests_are_still_400s() {
    let api = Api::start_with_model().await;
    // WHEN the last message has no text, or `messages` is missing THEN 400 naming it
    api.post("/api/chat", user("   ")).await.invalid("messages");
    api.post("/api/chat", json!({"id": "chat_x"}))
        .await
        .invalid("messages");
    // AND nothing was started
    let h = api.get("/api/chat/history").await.ok(200);
    assert_eq!(h["chats"], json!([]));
}

#[tokio::test]
async fn unknown_and_other_accounts_chats_are_404s() {
    let api = Api::start_with_model().await;
    // GIVEN a chat of another account
    let other = api.other_account().await;
    let r = api.post_stream_as(&other, "/api/chat", user("mine")).await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    let chat = newest_chat(&api, &other).await;
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
    // WHEN this account posts under the other's chat id
    let mut body = user("hi");
    body["id"] = json!(chat);
    let r = api.post_stream_as(&api.key, "/api/chat", body).await;
    // THEN it starts a chat of its own, as for any id it has not used (clients such as the
    // AI SDK choose ids): a 404 only for ids another account uses would reveal them
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    let mine = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    let texts: Vec<&serde_json::Value> = mine["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["parts"][0]["text"])
        .collect();
    assert_eq!(texts, [&json!("hi")], "{mine}");
    // AND the other account's chat holds only its own message
    let theirs = api
        .get_as(&other, &format!("/api/chat/{chat}"))
        .await
        .ok(200);
    assert_eq!(theirs["messages"].as_array().unwrap().len(), 1, "{theirs}");
    assert_eq!(
        theirs["messages"][0]["parts"][0]["text"], "mine",
        "{theirs}"
    );
    api.assert_requires_key(Method::GET, "/api/chat/history")
        .await;
    api.get("/api/chat/history?cursor=bad")
        .await
        .invalid("cursor");
    api.assert_page_errors("/api/chat/history").await;
}
