//! `/api/chat`: request validation, the missing-model answer, history, read and delete,
//! and one full turn (the agent's job handler run in the test, the scripted fake model
//! behind it) replayed through `/api/chat/{id}/stream`.

use crate::fake_llm::{FakeLlm, Reply as Model};
use crate::harness::*;
use axum::http::Method;
use operator_core::agent::AgentJobs;
use operator_core::jobs::{Job, JobHandler};
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

/// The events of an SSE body, in order: each `id:` (if any) and `data:` payload.
fn sse_frames(body: &[u8]) -> Vec<(Option<String>, serde_json::Value)> {
    crate::sse::parse_sse(&String::from_utf8_lossy(body))
        .into_iter()
        .map(|f| {
            let data = if f.data == "[DONE]" {
                json!("[DONE]")
            } else {
                f.json()
            };
            (f.id.map(|id| id.to_string()), data)
        })
        .collect()
}

#[tokio::test]
async fn a_turn_that_calls_a_tool_streams_the_ui_message_protocol_and_is_kept() {
    // GIVEN a platform whose model first creates an instance, then answers
    let model = FakeLlm::start(vec![
        Model::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "weather-desk"}),
        )]),
        Model::Text("Created weather-desk.".into()),
    ])
    .await;
    let api = Api::start_with_model_at(&format!("{}/v1", model.url)).await;
    // WHEN a message is posted and the agent runs its turn
    let r = api
        .post_stream_as(&api.key, "/api/chat", user("Create weather-desk"))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    let chat = newest_chat(&api, &api.key).await;
    let job = Job::ChatTurn {
        account_id: api.account.clone(),
        chat_id: operator_core::ids::ChatId::parse(&chat).unwrap(),
    };
    AgentJobs(api.platform.clone())
        .handle(&job, 1)
        .await
        .expect("the turn runs");
    // THEN the turn replays as API.md's stream (from its start: `after=0`): tool call, its
    // output, then the text
    let r = api.get(&format!("/api/chat/{chat}/stream?after=0")).await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.headers["x-vercel-ai-ui-message-stream"], "v1");
    let events = sse_frames(&r.body);
    let frames: Vec<&serde_json::Value> = events.iter().map(|(_, f)| f).collect();
    assert!(
        events.iter().all(|(id, f)| id.is_some() || *f == "[DONE]"),
        "every event carries an SSE id: {events:?}"
    );
    // (the model streams its text in several deltas: one `text-delta` type stands for them)
    let mut types: Vec<&str> = frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("[DONE]"))
        .collect();
    types.dedup();
    assert_eq!(
        types,
        [
            "start",
            "start-step",
            "tool-input-available",
            "tool-output-available",
            "finish-step",
            "start-step",
            "text-start",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
            "[DONE]"
        ],
        "{frames:?}"
    );
    assert_eq!(frames[0]["messageMetadata"]["chatId"], *chat);
    assert_id(&frames[0]["messageId"], "msg_");
    assert_eq!(frames[2]["toolName"], "create_instance");
    assert_eq!(frames[2]["input"], json!({"name": "weather-desk"}));
    assert_eq!(frames[3]["toolCallId"], frames[2]["toolCallId"]);
    assert_eq!(frames[3]["output"]["instance"]["status"], "provisioning");
    let text_id = &frames[6]["id"];
    let deltas: Vec<&serde_json::Value> = frames
        .iter()
        .filter(|f| f["type"] == "text-delta")
        .copied()
        .collect();
    assert!(deltas.iter().all(|d| d["id"] == *text_id), "{deltas:?}");
    let text: String = deltas.iter().filter_map(|d| d["delta"].as_str()).collect();
    assert_eq!(text, "Created weather-desk.");
    // AND the instance exists, and the chat keeps both messages
    api.get("/api/instances/weather-desk").await.ok(200);
    let v = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    let messages = v["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{v}");
    assert_eq!(messages[1]["role"], "assistant");
    let parts = messages[1]["parts"].to_string();
    assert!(parts.contains("create_instance"), "{parts}");
    assert!(parts.contains("Created weather-desk."), "{parts}");
    // AND `?after=<eventId>` and `Last-Event-ID` replay only what came after that event
    let last_step = events
        .iter()
        .rev()
        .find(|(_, f)| f["type"] == "finish-step")
        .and_then(|(id, _)| id.clone())
        .unwrap();
    let r = api
        .get(&format!("/api/chat/{chat}/stream?after={last_step}"))
        .await;
    let rest: Vec<serde_json::Value> = sse_frames(&r.body).into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        rest,
        [json!({"type": "finish"}), json!("[DONE]")],
        "{rest:?}"
    );
    let r = api
        .send(
            Method::GET,
            &format!("/api/chat/{chat}/stream"),
            Some(&api.key),
            &[("last-event-id", &last_step)],
            axum::body::Body::empty(),
        )
        .await;
    let rest: Vec<serde_json::Value> = sse_frames(&r.body).into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        rest,
        [json!({"type": "finish"}), json!("[DONE]")],
        "{rest:?}"
    );
}

/// Runs the chat's queued turns in the test (no worker runs here).
async fn run_turn(api: &Api, chat: &str) {
    let job = Job::ChatTurn {
        account_id: api.account.clone(),
        chat_id: operator_core::ids::ChatId::parse(chat).unwrap(),
    };
    AgentJobs(api.platform.clone())
        .handle(&job, 1)
        .await
        .expect("the turn runs");
}

/// `(role, text)` of the chat's stored messages.
async fn transcript(api: &Api, chat: &str) -> Vec<(String, String)> {
    let v = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text: Vec<&str> = m["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect();
            (m["role"].as_str().unwrap().to_owned(), text.join(""))
        })
        .collect()
}

#[tokio::test]
async fn regenerating_replaces_the_last_answer_and_a_finished_turn_is_not_resumed() {
    // GIVEN a chat whose one turn was answered
    let model = FakeLlm::start(vec![
        Model::Text("First answer.".into()),
        Model::Text("Second answer.".into()),
    ])
    .await;
    let api = Api::start_with_model_at(&format!("{}/v1", model.url)).await;
    let r = api
        .post_stream_as(&api.key, "/api/chat", user("hello"))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    let chat = newest_chat(&api, &api.key).await;
    run_turn(&api, &chat).await;
    let v = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    let answer = v["messages"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        transcript(&api, &chat).await,
        [
            ("user".into(), "hello".into()),
            ("assistant".into(), "First answer.".into())
        ]
    );
    // WHEN a client re-attaches without a cursor to the finished turn THEN 204: nothing to resume
    let r = api.get(&format!("/api/chat/{chat}/stream")).await;
    assert_eq!(r.status.as_u16(), 204, "{r:?}");
    assert!(r.body.is_empty());
    // WHEN the AI SDK regenerates that answer (its history, trigger and the answer's id)
    let regenerate = json!({
        "id": chat,
        "messages": [{"id": "client-1", "role": "user", "parts": [{"type": "text", "text": "hello"}]}],
        "trigger": "regenerate-message",
        "messageId": answer,
    });
    let r = api
        .post_stream_as(&api.key, "/api/chat", regenerate.clone())
        .await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    // THEN while the new answer is queued, re-attaching without a cursor follows it, and a
    // second regenerate is a 409
    api.post("/api/chat", regenerate.clone())
        .await
        .error(409, "conflict");
    run_turn(&api, &chat).await;
    // AND the history holds the question once and the new answer in place of the old
    assert_eq!(
        transcript(&api, &chat).await,
        [
            ("user".into(), "hello".into()),
            ("assistant".into(), "Second answer.".into())
        ]
    );
    // AND a cursor still replays the finished turn
    let r = api.get(&format!("/api/chat/{chat}/stream?after=0")).await;
    assert_eq!(r.status.as_u16(), 200);
    let deltas: String = sse_frames(&r.body)
        .iter()
        .filter_map(|(_, f)| f["delta"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(deltas, "Second answer.");
    // AND a cursor at the finished turn's end gets its end at once, not keepalives forever
    let last = sse_frames(&r.body)
        .iter()
        .filter_map(|(id, _)| id.clone())
        .next_back()
        .unwrap();
    for cursor in [last.as_str(), "999999"] {
        let r = api
            .get(&format!("/api/chat/{chat}/stream?after={cursor}"))
            .await;
        assert_eq!(r.status.as_u16(), 200);
        assert_eq!(
            sse_frames(&r.body),
            [(None, json!("[DONE]"))],
            "after={cursor}"
        );
    }
    // WHEN regenerate names no chat, an unknown chat, or the trigger is not one of the SDK's
    let mut no_chat = regenerate.clone();
    no_chat.as_object_mut().unwrap().remove("id");
    api.post("/api/chat", no_chat).await.invalid("id");
    let mut unknown = regenerate.clone();
    unknown["id"] = json!("chat_doesnotexist");
    api.post("/api/chat", unknown).await.error(404, "not_found");
    let mut bogus = regenerate;
    bogus["trigger"] = json!("rewind");
    api.post("/api/chat", bogus).await.invalid("trigger");
}

#[tokio::test]
async fn editing_an_earlier_message_replaces_it_and_what_followed() {
    // GIVEN a chat with two answered turns
    let model = FakeLlm::start(vec![
        Model::Text("One.".into()),
        Model::Text("Two.".into()),
        Model::Text("Edited.".into()),
    ])
    .await;
    let api = Api::start_with_model_at(&format!("{}/v1", model.url)).await;
    api.post_stream_as(&api.key, "/api/chat", user("first"))
        .await;
    let chat = newest_chat(&api, &api.key).await;
    run_turn(&api, &chat).await;
    let mut second = user("second");
    second["id"] = json!(chat);
    api.post_stream_as(&api.key, "/api/chat", second).await;
    run_turn(&api, &chat).await;
    let v = api.get(&format!("/api/chat/{chat}")).await.ok(200);
    let first_question = v["messages"][0]["id"].as_str().unwrap().to_owned();
    // WHEN the first message is sent again with new text under its id (the AI SDK's edit)
    let mut edit = user("first, reworded");
    edit["id"] = json!(chat);
    edit["trigger"] = json!("submit-message");
    edit["messageId"] = json!(first_question);
    let r = api.post_stream_as(&api.key, "/api/chat", edit).await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    run_turn(&api, &chat).await;
    // THEN the history is the edited question and its answer only
    assert_eq!(
        transcript(&api, &chat).await,
        [
            ("user".into(), "first, reworded".into()),
            ("assistant".into(), "Edited.".into())
        ]
    );
}

#[tokio::test]
async fn a_turn_s_end_is_written_with_its_final_state_so_resume_and_regenerate_see_it_ended() {
    // GIVEN a turn that is open (the model never answers here)
    let api = Api::start_with_model().await;
    let r = api
        .post_stream_as(&api.key, "/api/chat", user("hello"))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    let chat = operator_core::ids::ChatId::parse(&newest_chat(&api, &api.key).await).unwrap();
    let store = &api.platform.store;
    let turn = store
        .next_open_turn(&api.account, &chat)
        .await
        .unwrap()
        .expect("the posted turn is open");
    store
        .append_chat_events(
            &api.account,
            &chat,
            &turn.id,
            &[operator_core::domain::Chunk::FinishStep],
        )
        .await
        .unwrap();
    store
        .insert_chat_message(&operator_core::domain::ChatMessage {
            id: turn.assistant_message_id.clone(),
            chat_id: chat.clone(),
            account_id: api.account.clone(),
            role: "assistant".into(),
            parts: json!([{"type": "text", "text": "First answer."}]),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    // WHEN the agent ends it: the `finish` event and the finished turn in one write
    let mut done = turn.clone();
    done.status = operator_core::domain::TurnStatus::Succeeded;
    done.finished_at = Some(chrono::Utc::now());
    let last = store
        .end_turn(&done, &operator_core::domain::Chunk::Finish)
        .await
        .unwrap();
    assert_eq!(
        last,
        store.last_chat_seq(&api.account, &chat).await.unwrap()
    );
    let stored = store.get_turn(&api.account, &turn.id).await.unwrap();
    assert_eq!(stored.status, operator_core::domain::TurnStatus::Succeeded);
    // THEN a client that resumes right after the end it saw finds nothing to resume: 204
    let r = api.get(&format!("/api/chat/{chat}/stream")).await;
    assert_eq!(r.status.as_u16(), 204, "{r:?}");
    // AND a cursor still asks for the replay, which ends the stream
    let r = api.get(&format!("/api/chat/{chat}/stream?after=0")).await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
    let frames = sse_frames(&r.body);
    assert_eq!(frames.last().map(|(_, f)| f.clone()), Some(json!("[DONE]")));
    // AND regenerating at once is accepted, not a 409
    let regenerate = json!({
        "id": chat.to_string(),
        "messages": [{"id": "client-1", "role": "user", "parts": [{"type": "text", "text": "hello"}]}],
        "trigger": "regenerate-message",
        "messageId": turn.assistant_message_id.to_string(),
    });
    let r = api.post_stream_as(&api.key, "/api/chat", regenerate).await;
    assert_eq!(r.status.as_u16(), 200, "{r:?}");
}
