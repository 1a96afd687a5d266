//! `/api/v1/chat/completions` and `/api/v1/models`: the Operator agent in the OpenAI Chat
//! Completions shape — validation, the completion, the chunk stream, and continuing a chat.

use crate::fake_llm::{FakeLlm, Reply as Model};
use crate::harness::*;
use axum::body::Body;
use axum::http::Method;
use operator_core::agent::AgentJobs;
use operator_core::jobs::{Job, JobHandler};
use serde_json::{json, Value};

fn ask(text: &str) -> Value {
    json!({"model": "operator", "messages": [{"role": "user", "content": text}]})
}

/// Sends `body` and, once its turn is queued, runs it (no worker runs here).
async fn complete(api: &Api, body: Value) -> Reply {
    let before = api.get("/api/chat/history").await.ok(200)["chats"]
        .as_array()
        .map_or(0, Vec::len);
    let chat = body["metadata"]["chatId"].as_str().map(str::to_owned);
    let send = api.send(
        Method::POST,
        "/api/v1/chat/completions",
        Some(&api.key),
        &[("content-type", "application/json")],
        Body::from(body.to_string()),
    );
    let run = async {
        // Its turn is queued once the chat (new, or the one named) has an open turn: the chat
        // and its user message are written before the turn, so neither is enough to wait on.
        let chat = loop {
            let h = api.get("/api/chat/history").await.ok(200);
            let chats = h["chats"].as_array().unwrap();
            let candidate = match &chat {
                Some(id) => Some(id.clone()),
                None if chats.len() > before => chats[0]["id"].as_str().map(str::to_owned),
                None => None,
            };
            if let Some(c) = candidate {
                let id = operator_core::ids::ChatId::parse(&c).unwrap();
                let open = api
                    .platform
                    .store
                    .next_open_turn(&api.account, &id)
                    .await
                    .unwrap();
                if open.is_some() {
                    break c;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        let job = Job::ChatTurn {
            account_id: api.account.clone(),
            chat_id: operator_core::ids::ChatId::parse(&chat).unwrap(),
        };
        AgentJobs(api.platform.clone())
            .handle(&job, 1)
            .await
            .expect("the turn runs");
    };
    let (reply, ()) = tokio::join!(send, run);
    reply
}

#[tokio::test]
async fn a_completion_is_the_agents_answer_and_a_stream_is_chunks() {
    let model = FakeLlm::start(vec![
        Model::ToolCalls(vec![("create_instance".into(), json!({"name": "oa-desk"}))]),
        Model::Text("Created oa-desk.".into()),
        Model::Text("Still here.".into()),
    ])
    .await;
    let api = Api::start_with_model_at(&format!("{}/v1", model.url)).await;
    // WHEN a completion is asked for
    let r = complete(&api, ask("Create an instance called oa-desk.")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let chat = r.headers["x-operator-chat-id"].to_str().unwrap().to_owned();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    // THEN it is a chat.completion holding the answer, naming its chat
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "operator");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"), "{v}");
    assert_eq!(
        v["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "Created oa-desk."}, "finish_reason": "stop"}])
    );
    assert_eq!(v["metadata"]["chatId"], chat);
    // AND the agent's tool ran
    let list = api.get("/api/instances").await.ok(200);
    assert_eq!(list["instances"][0]["name"], "oa-desk");
    // WHEN the chat continues as a stream
    let mut body = ask("Are you there?");
    body["stream"] = json!(true);
    body["metadata"] = json!({"chatId": chat});
    let r = complete(&api, body).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(r.headers["x-operator-chat-id"], chat.as_str());
    let frames = crate::sse::parse_sse(&String::from_utf8_lossy(&r.body));
    // THEN the chunks are the role, the text, then `stop`, and `[DONE]` ends the stream
    assert_eq!(frames.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| f.json())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"
        && c["model"] == "operator"
        && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Still here.");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    // AND both turns are the same chat
    let c = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    assert_eq!(c["messages"].as_array().unwrap().len(), 4, "{c}");
}

#[tokio::test]
async fn models_lists_operator_and_bad_requests_are_400s() {
    let api = Api::start_with_model().await;
    let v = api.get("/api/v1/models").await.ok(200);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "operator");
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    api.assert_requires_key(Method::GET, "/api/v1/models").await;
    api.assert_requires_key(Method::POST, "/api/v1/chat/completions")
        .await;
    // WHEN the model is another, the last message is not the user's, has no text, or the
    // chat id is not a string THEN 400 naming the field
    let mut other = ask("hi");
    other["model"] = json!("gpt-4o");
    api.post("/api/v1/chat/completions", other)
        .await
        .invalid("model");
    for messages in [
        json!([]),
        json!([{"role": "assistant", "content": "hi"}]),
        json!([{"role": "user", "content": "  "}]),
        json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
    ] {
        api.post(
            "/api/v1/chat/completions",
            json!({"model": "operator", "messages": messages}),
        )
        .await
        .invalid("messages");
    }
    let mut bad_chat = ask("hi");
    bad_chat["metadata"] = json!({"chatId": 7});
    api.post("/api/v1/chat/completions", bad_chat)
        .await
        .invalid("metadata.chatId");
    api.post("/api/v1/chat/completions", json!({"messages": []}))
        .await
        .invalid("model");
}
