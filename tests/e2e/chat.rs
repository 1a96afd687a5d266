//! `/api/chat`: the Operator agent end to end with the scripted fake LLM speaking the real
//! Anthropic and OpenAI wire protocols.

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

/// One SSE frame: its `id:` and `data:`.
pub use crate::support::sse::{parse_sse, Frame};

fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"type": "text", "text": text}]})
}

pub async fn chat_sse(
    app: &App,
    key: &str,
    body: Value,
) -> (reqwest::header::HeaderMap, Vec<Frame>) {
    let res = app
        .request(Method::POST, "/api/chat", Some(key))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (headers, parse_sse(&text))
}

async fn chat_json(app: &App, body: Value) -> (reqwest::StatusCode, Value) {
    send(
        app.request(Method::POST, "/api/chat", Some(&app.key))
            .header("x-response-format", "json")
            .json(&body),
    )
    .await
}

fn types(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            if f.data == "[DONE]" {
                "[DONE]".to_owned()
            } else {
                f.json()["type"].as_str().unwrap_or("?").to_owned()
            }
        })
        .collect()
}

async fn create_weather_desk(flavour: &str) {
    // GIVEN a fake model that calls create_instance, then answers
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "weather-desk"}),
        )]),
        Reply::Text("Created weather-desk.".into()),
    ])
    .await;
    let env = if flavour == "anthropic" {
        llm.anthropic_env()
    } else {
        llm.openai_env()
    };
    let app = App::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await;
    // WHEN the user asks for it
    let (headers, frames) = chat_sse(
        &app,
        &app.key,
        json!({"messages": [user("Create an instance called weather-desk.")]}),
    )
    .await;
    // THEN the stream is an AI SDK UI message stream with every step
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-vercel-ai-ui-message-stream"], "v1");
    let t = types(&frames);
    assert_eq!(
        t,
        [
            "start",
            "start-step",
            "tool-input-available",
            "tool-output-available",
            "finish-step",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
            "[DONE]"
        ],
        "{flavour}: {frames:?}"
    );
    let start = frames[0].json();
    let chat_id = start["messageMetadata"]["chatId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(chat_id.starts_with("chat_"));
    assert!(start["messageId"].as_str().unwrap().starts_with("msg_"));
    let input = frames[2].json();
    assert_eq!(input["toolName"], "create_instance");
    assert_eq!(input["input"], json!({"name": "weather-desk"}));
    let output = frames[3].json();
    assert_eq!(output["toolCallId"], input["toolCallId"]);
    assert_eq!(output["output"]["instance"]["name"], "weather-desk");
    let text: String = frames
        .iter()
        .filter(|f| f.json()["type"] == "text-delta")
        .map(|f| f.json()["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Created weather-desk.");
    // every event carries an increasing SSE id
    let ids: Vec<u64> = frames
        .iter()
        .filter(|f| f.data != "[DONE]")
        .map(|f| f.id.expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    // AND the instance exists and becomes active
    let (s, v) = app.get("/api/instances/weather-desk").await;
    assert_eq!(s, 200, "{v}");
    app.wait_status(&app.key, v["instance"]["id"].as_str().unwrap(), "active")
        .await;
    // AND the provider saw our tools, and the tool result on the second call
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 2);
    if flavour == "anthropic" {
        assert_eq!(reqs[0]["_headers"]["x-api-key"], "sk-ant-fake-provider-key");
        assert!(reqs[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "create_instance" && t["input_schema"].is_object()));
        let last = reqs[1]["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["content"][0]["type"], "tool_result");
    } else {
        assert!(reqs[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["function"]["name"] == "create_instance"));
        let last = reqs[1]["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["role"], "tool");
    }
    // AND the chat keeps the exchange with the tool part
    let (_, chat) = app.get(&format!("/api/chat/{chat_id}")).await;
    let msgs = chat["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["role"], "assistant");
    let tool_part = msgs[1]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "tool-create_instance")
        .cloned()
        .unwrap();
    assert_eq!(tool_part["state"], "output-available");
    assert_eq!(tool_part["output"]["instance"]["name"], "weather-desk");
}

#[tokio::test]
async fn chat_creates_an_instance_over_the_openai_wire_format() {
    create_weather_desk("openai").await;
}

#[tokio::test]
async fn chat_creates_an_instance_over_the_anthropic_wire_format() {
    create_weather_desk("anthropic").await;
}

#[tokio::test]
async fn json_mode_and_follow_ups_keep_the_context() {
    let llm = FakeLlm::start(vec![
        Reply::Text("Hello, I am the Operator.".into()),
        Reply::Text("You greeted me.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.anthropic_env(),
        ..Options::default()
    })
    .await;
    let (s, v) = chat_json(&app, json!({"messages": [user("hi there")]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["text"], "Hello, I am the Operator.");
    let chat_id = v["chatId"].as_str().unwrap().to_owned();
    // The client resends history (as the AI SDK does); only the last message is new
    let (s, v) = chat_json(
        &app,
        json!({"id": chat_id, "messages": [user("hi there"), {"role": "assistant", "parts": [{"type": "text", "text": "Hello, I am the Operator."}]}, user("what did I say?")]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["chatId"], chat_id.as_str());
    assert_eq!(v["text"], "You greeted me.");
    // The model received the prior exchange from the server's history
    let second = &llm.requests()[1]["messages"];
    let texts: Vec<String> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        texts,
        ["hi there", "Hello, I am the Operator.", "what did I say?"],
        "{second}"
    );
    // history, get, delete
    let (_, h) = app.get("/api/chat/history").await;
    assert_eq!(h["chats"][0]["id"], chat_id.as_str());
    assert_eq!(h["chats"][0]["title"], "hi there");
    let (_, c) = app.get(&format!("/api/chat/{chat_id}")).await;
    assert_eq!(c["messages"].as_array().unwrap().len(), 4);
    assert_eq!(c["chat"]["id"], chat_id.as_str());
    let (s, v) = app.delete(&format!("/api/chat/{chat_id}")).await;
    assert_eq!((s.as_u16(), v), (200, json!({"ok": true})));
    assert_error(
        &app.get(&format!("/api/chat/{chat_id}")).await,
        404,
        "not_found",
    );
    // bad requests
    assert_error(
        &chat_json(&app, json!({"messages": []})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &chat_json(
            &app,
            json!({"messages": [{"role": "assistant", "parts": [{"type": "text", "text": "x"}]}]}),
        )
        .await,
        400,
        "invalid_request",
    );
    assert_error(
        &chat_json(&app, json!({"id": "bad id!", "messages": [user("x")]})).await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn without_an_llm_chat_is_503_naming_the_variables() {
    let app = App::spawn().await;
    let got = chat_json(&app, json!({"messages": [user("hi")]})).await;
    assert_error(&got, 503, "llm_unavailable");
    let msg = got.1["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("OPERATOR_LLM") && msg.contains("OPENAI_API_KEY"),
        "{msg}"
    );
}

#[tokio::test]
async fn tool_errors_go_back_to_the_model_and_the_turn_still_answers() {
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![("create_instance".into(), json!({"name": "one"}))]),
        Reply::ToolCalls(vec![("create_instance".into(), json!({"name": "two"}))]),
        Reply::ToolCalls(vec![("create_instance".into(), json!({"name": "one"}))]),
        Reply::ToolCalls(vec![(
            "get_instance".into(),
            json!({"instance": "missing"}),
        )]),
        Reply::Text("The plan allows one instance; I kept 'one'.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let (_, basic) = app.create_account("basic");
    let (_, frames) = chat_sse(
        &app,
        &basic,
        json!({"messages": [user("make two instances")]}),
    )
    .await;
    let outputs: Vec<Value> = frames
        .iter()
        .map(|f| f.json())
        .filter(|v| v["type"] == "tool-output-available")
        .map(|v| v["output"].clone())
        .collect();
    assert_eq!(outputs.len(), 4, "{frames:?}");
    assert_eq!(outputs[0]["instance"]["name"], "one");
    assert_eq!(outputs[1]["error"]["code"], "capacity_exceeded");
    assert_eq!(outputs[2]["error"]["code"], "conflict");
    assert_eq!(outputs[3]["error"]["code"], "not_found");
    assert_eq!(types(&frames).last().unwrap(), "[DONE]");
    assert!(types(&frames).contains(&"finish".to_owned()));
    // the model saw each error as the tool's result
    let reqs = llm.requests();
    let last_tool = reqs[2]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last_tool["content"]
        .as_str()
        .unwrap()
        .contains("capacity_exceeded"));
}

#[tokio::test]
async fn provider_errors_are_retried_then_reported() {
    let llm = FakeLlm::start(vec![
        Reply::Status(500, "overloaded".into()),
        Reply::Status(429, "slow down".into()),
        Reply::Text("recovered".into()),
        Reply::Status(500, "down".into()),
        Reply::Status(503, "down".into()),
        Reply::Status(502, "down".into()),
        Reply::Status(429, "down".into()),
        Reply::Status(500, "still down".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let (s, v) = chat_json(&app, json!({"messages": [user("hello")]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["text"], "recovered");
    assert_eq!(llm.requests().len(), 3);
    // five failures in a row (every attempt): an error event, then the end of the stream
    let (_, frames) = chat_sse(&app, &app.key, json!({"messages": [user("again")]})).await;
    let t = types(&frames);
    assert_eq!(&t[t.len() - 2..], ["error", "[DONE]"], "{frames:?}");
    let err = frames[frames.len() - 2].json();
    assert!(
        err["errorText"].as_str().unwrap().contains("still down"),
        "{err}"
    );
    assert_eq!(llm.requests().len(), 8);
}

#[tokio::test]
async fn reattaching_with_last_event_id_loses_and_repeats_nothing() {
    let llm = FakeLlm::start(vec![Reply::SlowText(
        "one two three four five six seven eight nine ten".into(),
        80,
    )])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    // Read the first few events, then drop the connection
    let mut res = app
        .request(Method::POST, "/api/chat", Some(&app.key))
        .json(&json!({"messages": [user("count")]}))
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    while parse_sse(&buf).len() < 4 {
        let chunk = res.chunk().await.unwrap().expect("stream ended early");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(res);
    let first: Vec<Frame> = parse_sse(&buf)
        .into_iter()
        .filter(|f| buf.contains(&format!("{}\n\n", f.data)))
        .collect();
    let chat_id = first[0].json()["messageMetadata"]["chatId"]
        .as_str()
        .unwrap()
        .to_owned();
    let last_id = first.last().unwrap().id.unwrap();
    // Re-attach from the last id we saw
    let res = app
        .request(
            Method::GET,
            &format!("/api/chat/{chat_id}/stream"),
            Some(&app.key),
        )
        .header("Last-Event-ID", last_id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-vercel-ai-ui-message-stream"], "v1");
    let rest = parse_sse(&res.text().await.unwrap());
    let mut ids: Vec<u64> = first.iter().chain(&rest).filter_map(|f| f.id).collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicated events");
    assert_eq!(ids, (1..=n as u64).collect::<Vec<_>>(), "lost events");
    assert_eq!(rest.last().unwrap().data, "[DONE]");
    let text: String = first
        .iter()
        .chain(&rest)
        .map(|f| f.json())
        .filter(|v| v["type"] == "text-delta")
        .map(|v| v["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "one two three four five six seven eight nine ten");
    // ?after= works the same, and a finished turn replays completely
    let res = app
        .request(
            Method::GET,
            &format!("/api/chat/{chat_id}/stream?after=0"),
            Some(&app.key),
        )
        .send()
        .await
        .unwrap();
    let all = parse_sse(&res.text().await.unwrap());
    assert_eq!(all.iter().filter_map(|f| f.id).count(), n);
}

#[tokio::test]
async fn a_turn_interrupted_by_kill_9_completes_exactly_once_after_restart() {
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "weather-desk"}),
        )]),
        Reply::SlowText(
            "this answer is cut off by the crash and asked for again".into(),
            150,
        ),
        Reply::Text("Created weather-desk.".into()),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let opts = || Options {
        data_dir: Some(dir.path()),
        key: Some(key.clone()),
        env: llm.openai_env(),
    };
    let app = App::spawn_with(opts()).await;
    let mut res = app
        .request(Method::POST, "/api/chat", Some(&key))
        .json(&json!({"messages": [user("Create an instance called weather-desk.")]}))
        .send()
        .await
        .unwrap();
    // Wait until the second step is streaming text, then kill -9 the server
    let mut buf = String::new();
    loop {
        let chunk = res.chunk().await.unwrap().expect("stream ended early");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        let frames = parse_sse(&buf);
        if frames
            .iter()
            .any(|f| f.json()["type"] == "tool-output-available")
            && frames.iter().any(|f| f.json()["type"] == "text-delta")
        {
            break;
        }
    }
    let chat_id = parse_sse(&buf)[0].json()["messageMetadata"]["chatId"]
        .as_str()
        .unwrap()
        .to_owned();
    operator_local::signal::send_signal(app.pid(), operator_local::signal::Signal::Kill)
        .expect("SIGKILL the server");
    drop(res);
    let _ = app.kill9();
    // WHEN the server restarts THEN the turn resumes and finishes once
    let app = App::spawn_with(opts()).await;
    let res = app
        .request(
            Method::GET,
            &format!("/api/chat/{chat_id}/stream?after=0"),
            Some(&key),
        )
        .send()
        .await
        .unwrap();
    let frames = parse_sse(&res.text().await.unwrap());
    let t = types(&frames);
    assert_eq!(t.iter().filter(|x| *x == "finish").count(), 1, "{t:?}");
    assert_eq!(
        t.iter().filter(|x| *x == "tool-output-available").count(),
        1,
        "{t:?}"
    );
    assert_eq!(t.last().unwrap(), "[DONE]");
    let (_, list) = app.get("/api/instances").await;
    let names: Vec<&str> = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["weather-desk"], "no duplicate instance");
    let (_, chat) = app.get(&format!("/api/chat/{chat_id}")).await;
    let msgs = chat["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{chat}");
    assert!(msgs[1]["parts"]
        .to_string()
        .contains("Created weather-desk."));
    assert_eq!(llm.requests().len(), 3, "the tool step was not re-run");
}

#[tokio::test]
async fn automations_and_webhooks_run_through_the_agent() {
    let llm = FakeLlm::start(vec![
        Reply::Text("Morning brief sent.".into()),
        Reply::Text("Handled the push.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    // An automation due within the minute
    let (_, a) = app
        .post("/api/automations", json!({"name": "brief", "prompt": "Send the morning brief", "cronExpression": "* * * * *"}))
        .await;
    let auto_id = a["automation"]["id"].as_str().unwrap().to_owned();
    let auto_chat = a["automation"]["chatId"].as_str().unwrap().to_owned();
    let run = eventually(90, || async {
        let (_, runs) = app.get(&format!("/api/automations/{auto_id}/runs")).await;
        runs["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["status"] == "succeeded").cloned())
    })
    .await
    .expect("the automation ran");
    assert_eq!(run["chatId"], auto_chat.as_str());
    assert!(run["startedAt"].is_string() && run["finishedAt"].is_string());
    assert!(run["error"].is_null());
    // A webhook delivery, with the payload inside the prompt
    let (_, w) = app
        .post(
            "/api/webhooks",
            json!({"name": "gh", "promptTemplate": "GitHub sent: {{payload}} -- act on it"}),
        )
        .await;
    let wh_id = w["webhook"]["id"].as_str().unwrap().to_owned();
    let url = w["webhook"]["url"].as_str().unwrap().to_owned();
    let res = reqwest::Client::new()
        .post(&url)
        .body(r#"{"ref":"refs/heads/main"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let d = eventually(30, || async {
        let (_, l) = app.get(&format!("/api/webhooks/{wh_id}/deliveries")).await;
        l["deliveries"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["status"] == "succeeded").cloned())
    })
    .await
    .expect("the delivery ran");
    assert_eq!(d["chatId"], w["webhook"]["chatId"]);
    let reqs = llm.requests();
    let prompts: Vec<String> = reqs
        .iter()
        .map(|r| {
            r["messages"].as_array().unwrap().last().unwrap()["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        prompts.contains(&"Send the morning brief".to_owned()),
        "{prompts:?}"
    );
    assert!(
        prompts.contains(&r#"GitHub sent: {"ref":"refs/heads/main"} -- act on it"#.to_owned()),
        "{prompts:?}"
    );
    // each has its own thread
    let (_, c) = app.get(&format!("/api/chat/{auto_chat}")).await;
    assert_eq!(c["messages"].as_array().unwrap().len(), 2);
    let (_, bill) = app.get("/api/billing").await;
    assert!(bill["usage"]["chatTurns"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn secret_values_never_reach_events_logs_or_model_requests() {
    const VALUE: &str = "ghp_chatSECRET_9f8e7d";
    const REST_VALUE: &str = "rest_only_SECRET_1a2b";
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_secret".into(),
            json!({"name": "GH_TOKEN", "value": VALUE, "description": "deploys"}),
        )]),
        Reply::ToolCalls(vec![("list_secrets".into(), json!({}))]),
        Reply::Text("Stored GH_TOKEN.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    app.post(
        "/api/secrets",
        json!({"name": "REST_TOKEN", "value": REST_VALUE}),
    )
    .await;
    let (_, frames) = chat_sse(
        &app,
        &app.key,
        json!({"messages": [user("store my GitHub token")]}),
    )
    .await;
    let body: String = frames.iter().map(|f| f.data.clone()).collect();
    assert!(body.contains("[redacted]"), "{body}");
    // the secret exists
    let (_, list) = app.get("/api/secrets").await;
    assert!(list.to_string().contains("GH_TOKEN"));
    let chat_id = frames[0].json()["messageMetadata"]["chatId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, chat) = app.get(&format!("/api/chat/{chat_id}")).await;
    let requests = serde_json::to_string(&llm.requests()).unwrap();
    let log = app.server_log();
    let db: Vec<u8> = ["operator.db", "operator.db-wal"]
        .iter()
        .flat_map(|f| std::fs::read(app.data_dir.join(f)).unwrap_or_default())
        .collect();
    for v in [VALUE, REST_VALUE] {
        assert!(!body.contains(v), "stream holds {v}");
        assert!(!chat.to_string().contains(v), "stored events hold {v}");
        assert!(!requests.contains(v), "a model request holds {v}");
        assert!(!log.contains(v), "the log holds {v}");
        assert!(
            !db.windows(v.len()).any(|w| w == v.as_bytes()),
            "the database holds {v} in plaintext"
        );
    }
}

#[tokio::test]
async fn the_ai_sdk_parses_the_stream_into_an_assistant_message_with_the_tool_part() {
    let node = crate::clients::node();
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "weather-desk"}),
        )]),
        Reply::Text("Created weather-desk.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.anthropic_env(),
        ..Options::default()
    })
    .await;
    let res = app
        .request(Method::POST, "/api/chat", Some(&app.key))
        .json(&json!({"messages": [user("Create an instance called weather-desk.")]}))
        .send()
        .await
        .unwrap();
    let body = res.bytes().await.unwrap();
    let mut child = std::process::Command::new(node)
        .arg(crate::clients::script("check-stream.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node is needed for this test");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "AI SDK rejected the stream: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = &v["message"];
    assert_eq!(msg["role"], "assistant");
    assert!(msg["id"].as_str().unwrap().starts_with("msg_"));
    assert!(
        msg["metadata"]["chatId"]
            .as_str()
            .unwrap()
            .starts_with("chat_"),
        "{msg}"
    );
    let parts = msg["parts"].as_array().unwrap();
    let tool = parts
        .iter()
        .find(|p| p["type"] == "tool-create_instance")
        .expect("tool part");
    assert_eq!(tool["state"], "output-available");
    assert_eq!(tool["input"]["name"], "weather-desk");
    assert_eq!(tool["output"]["instance"]["name"], "weather-desk");
    let text = parts
        .iter()
        .find(|p| p["type"] == "text")
        .expect("text part");
    assert_eq!(text["text"], "Created weather-desk.");
}

#[tokio::test]
async fn a_second_message_waits_for_the_running_turn() {
    let llm = FakeLlm::start(vec![
        Reply::SlowText("first answer takes a while to stream out".into(), 60),
        Reply::Text("second answer".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let first = app
        .request(Method::POST, "/api/chat", Some(&app.key))
        .json(&json!({"messages": [user("first")]}))
        .send()
        .await
        .unwrap();
    let mut first = first;
    let chunk = first.chunk().await.unwrap().unwrap();
    let chat_id = parse_sse(&String::from_utf8_lossy(&chunk))[0].json()["messageMetadata"]
        ["chatId"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN a second message arrives while the first turn streams
    let (s, v) = chat_json(&app, json!({"id": chat_id, "messages": [user("second")]})).await;
    // THEN it is answered after the first turn, which it sees in its history
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["text"], "second answer");
    let second_req = &llm.requests()[1]["messages"];
    assert!(
        second_req
            .to_string()
            .contains("first answer takes a while to stream out"),
        "{second_req}"
    );
    let (_, chat) = app.get(&format!("/api/chat/{chat_id}")).await;
    let roles: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    // the first stream was never interleaved with the second turn's events
    let rest = first.text().await.unwrap();
    assert!(!rest.contains("second answer"));
}

#[tokio::test]
async fn a_quiet_stream_sends_heartbeat_comments_every_15_seconds() {
    let llm = FakeLlm::start(vec![Reply::LateText("finally".into(), 17_000)]).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let started = std::time::Instant::now();
    let res = app
        .request(Method::POST, "/api/chat", Some(&app.key))
        .json(&json!({"messages": [user("take your time")]}))
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(body.contains(": keepalive\n\n"), "{body}");
    let beat = body.find(": keepalive").unwrap();
    assert!(
        body[..beat].contains("\"start-step\""),
        "heartbeat comes while waiting on the model"
    );
    assert!(body.trim_end().ends_with("data: [DONE]"));
    assert!(started.elapsed() >= std::time::Duration::from_secs(15));
}

#[tokio::test]
async fn an_empty_model_reply_fails_the_turn_instead_of_succeeding_with_nothing() {
    // GIVEN a model whose reply ends normally but carries no text and no tool call
    let llm = FakeLlm::start(vec![Reply::Text(String::new())]).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    // WHEN a message is sent
    let (_, frames) = chat_sse(&app, &app.key, json!({"messages": [user("hello")]})).await;
    // THEN the turn ends with an error saying the reply was empty, not with `finish`
    let t = types(&frames);
    assert_eq!(&t[t.len() - 2..], ["error", "[DONE]"], "{frames:?}");
    let err = frames[frames.len() - 2].json();
    assert!(
        err["errorText"].as_str().unwrap().contains("empty reply"),
        "{err}"
    );
}

/// The chat id of a turn's SSE frames.
fn chat_of(frames: &[Frame]) -> String {
    frames[0].json()["messageMetadata"]["chatId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn older_turns_are_summarised_without_secret_values_and_the_summary_survives_a_restart() {
    const VALUE: &str = "sk_summary_SECRET_77aa";
    // GIVEN a history budget of 40 estimated tokens, and a model that stores a secret in the
    // first turn, then writes the summary, then answers
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_secret".into(),
            json!({"name": "API_TOKEN", "value": VALUE}),
        )]),
        Reply::Text("Stored API_TOKEN.".into()),
        Reply::Text("SUMMARY: the user stored the secret API_TOKEN.".into()),
        Reply::Text("Second answer.".into()),
        Reply::Text("Third answer.".into()),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let opts = || {
        let mut env = llm.openai_env();
        env.push(("OPERATOR_AGENT_HISTORY_TOKENS", "40".into()));
        Options {
            data_dir: Some(dir.path()),
            key: Some(key.clone()),
            env,
        }
    };
    let app = App::spawn_with(opts()).await;
    let (_, frames) = chat_sse(&app, &key, json!({"messages": [user("store my token")]})).await;
    let chat_id = chat_of(&frames);
    // WHEN a second message comes after a turn larger than the budget
    let (_, frames) = chat_sse(
        &app,
        &key,
        json!({"id": chat_id, "messages": [user("what next?")]}),
    )
    .await;
    assert!(types(&frames).contains(&"finish".to_owned()), "{frames:?}");
    // THEN the model was first asked for a summary: no tools, the first turn as a transcript
    // with the secret's value redacted
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 4);
    let summary_req = &reqs[2];
    assert!(summary_req.get("tools").is_none(), "{summary_req}");
    let asked = summary_req["messages"].to_string();
    assert!(asked.contains("store my token") && asked.contains("create_secret"));
    assert!(asked.contains("[redacted]"), "{asked}");
    // AND the answer's request carries the summary instead of the first turn
    let main = &reqs[3];
    let messages = main["messages"].as_array().unwrap();
    assert!(messages[0]["content"]
        .as_str()
        .unwrap()
        .contains("SUMMARY: the user stored the secret API_TOKEN."));
    assert_eq!(messages.len(), 2, "system and the new message: {main}");
    assert_eq!(messages[1]["content"], "what next?");

    // WHEN the server is killed and restarted, and a third message comes
    let _ = app.kill9();
    let app = App::spawn_with(opts()).await;
    let (_, frames) = chat_sse(
        &app,
        &key,
        json!({"id": chat_id, "messages": [user("and now?")]}),
    )
    .await;
    assert!(types(&frames).contains(&"finish".to_owned()), "{frames:?}");
    // THEN the stored summary is still sent, with the turn after it, and no new summary
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 5);
    let messages = reqs[4]["messages"].as_array().unwrap();
    assert!(messages[0]["content"]
        .as_str()
        .unwrap()
        .contains("SUMMARY: the user stored the secret API_TOKEN."));
    let texts: Vec<&str> = messages[1..]
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["what next?", "Second answer.", "and now?"]);
    // AND the secret's value reached no model request, the summary's included
    let all = serde_json::to_string(&reqs).unwrap();
    assert!(
        !all.contains(VALUE),
        "a model request holds the secret value"
    );
}

#[tokio::test]
async fn an_oversized_tool_output_reaches_the_model_cut_with_a_marker() {
    // GIVEN tool outputs limited to 10 estimated tokens (40 characters) for the model
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![("get_billing".into(), json!({}))]),
        Reply::Text("Here is your plan.".into()),
    ])
    .await;
    let mut env = llm.openai_env();
    env.push(("OPERATOR_AGENT_TOOL_OUTPUT_TOKENS", "10".into()));
    let app = App::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await;
    // WHEN a turn calls a tool whose output is longer than that
    let (_, frames) = chat_sse(&app, &app.key, json!({"messages": [user("my plan?")]})).await;
    let full = frames
        .iter()
        .map(|f| f.json())
        .find(|v| v["type"] == "tool-output-available")
        .expect("a tool output")["output"]
        .to_string();
    assert!(full.len() > 40, "{full}");
    // THEN the client's stream has the whole output, and the model sees its first 40
    // characters and a marker saying how much was left out
    let reqs = llm.requests();
    let tool_msg = reqs[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result")["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept: String = full.chars().take(40).collect();
    assert!(tool_msg.starts_with(&kept), "{tool_msg}");
    assert!(
        tool_msg.contains(&format!(
            "[truncated: {} more characters not shown]",
            full.chars().count() - 40
        )),
        "{tool_msg}"
    );
}

#[tokio::test]
async fn a_message_to_at_name_is_answered_by_that_instance_s_agent_in_the_same_stream() {
    // GIVEN an instance weather-desk whose own agent's model answers "5"
    let llm = FakeLlm::start(vec![Reply::Text("2 + 3 = 5".into())]).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    app.active_instance("weather-desk").await;
    // WHEN the chat message starts with @weather-desk
    let (_, frames) = chat_sse(
        &app,
        &app.key,
        json!({"messages": [user("@weather-desk what is 2 + 3")]}),
    )
    .await;
    let events: Vec<Value> = frames
        .iter()
        .filter(|f| f.data != "[DONE]")
        .map(|f| f.json())
        .collect();
    // THEN the stream shows the delivery as a message_instance step with the rest of the text
    let input = events
        .iter()
        .find(|e| e["type"] == "tool-input-available")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(input["toolName"], "message_instance");
    assert_eq!(
        input["input"],
        json!({"instance": "weather-desk", "text": "what is 2 + 3"})
    );
    let output = events
        .iter()
        .find(|e| e["type"] == "tool-output-available")
        .unwrap();
    assert_eq!(output["output"]["text"], "2 + 3 = 5");
    // AND the instance agent's answer is the turn's text, and the turn finishes
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "text-delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(text, "2 + 3 = 5");
    assert_eq!(types(&frames).last().unwrap(), "[DONE]");
    assert!(types(&frames).contains(&"finish".to_owned()));
    // AND only the instance's agent asked the model: the Operator's model was not consulted
    assert_eq!(llm.requests().len(), 1, "{:?}", llm.requests());
    // AND a mention of an instance the account does not have goes to the Operator agent
    llm.push(Reply::Text("There is no instance called ghost.".into()));
    let (_, frames) = chat_sse(&app, &app.key, json!({"messages": [user("@ghost hello")]})).await;
    let text: String = frames
        .iter()
        .filter(|f| f.data != "[DONE]")
        .map(|f| f.json())
        .filter(|e| e["type"] == "text-delta")
        .filter_map(|e| e["delta"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "There is no instance called ghost.");
}
