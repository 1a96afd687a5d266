//! The API reference at `/docs` in a real browser: runs `tests/console/docs.mjs` (puppeteer-core
//! driving Debian's chromium) against the real binary whose Operator agent talks to the
//! scripted fake LLM, then checks over HTTP what the page did, so a run that skipped its work
//! cannot pass.

use crate::browser_suite;
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use serde_json::Value;
use std::time::Duration;

/// The whole browser run; its own waits are far shorter (60 s at most each).
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// The fake model's reply to the `x-response-format: json` chat.
const JSON_REPLY: &str = "Hello from the docs page.";
/// The fake model's reply to the streamed chat: 16 words, 300 ms apart, so the page must show
/// the first ones seconds before the turn ends.
const SLOW_REPLY: &str =
    "Streaming live: every word of this answer reaches the reference page while the turn is still running.";

fn text_of(chat: &Value) -> String {
    chat["messages"].to_string()
}

#[tokio::test]
async fn the_api_reference_sends_real_requests_from_a_real_browser() {
    browser_suite::assert_installed();
    // GIVEN the real server whose Operator agent talks to the scripted fake model: a plain
    // answer for the JSON chat, then a slow one for the streamed chat
    let llm = FakeLlm::start(vec![
        Reply::Text(JSON_REPLY.into()),
        Reply::SlowText(SLOW_REPLY.into(), 300),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let marker = format!("docs-marker-{}", &random_key()[8..24]);

    // WHEN the browser suite uses the reference's forms
    let shots = browser_suite::fresh_screenshot_dir("docs-screenshots");
    let env = [
        ("DOCS_MARKER", marker.as_str()),
        ("DOCS_JSON_REPLY", JSON_REPLY),
        ("DOCS_SLOW_REPLY", SLOW_REPLY),
    ];
    let run = browser_suite::run("docs.mjs", &app, &shots, &env, SUITE_TIMEOUT).await;
    println!("{}", run.stdout);
    assert!(
        run.ok,
        "the docs suite failed:\n{}\n--- stderr ---\n{}\n--- server log (tail) ---\n{}",
        run.stdout,
        run.stderr,
        tail(&app.server_log(), 60)
    );
    let s = browser_suite::summary(&run.stdout);

    // THEN the instance created through the page exists
    let name = s["instanceName"].as_str().expect("instanceName in SUMMARY");
    let (st, inst) = app.get(&format!("/api/instances/{name}")).await;
    assert_eq!(st, 200, "{inst}");
    assert_eq!(inst["instance"]["name"], name);

    // AND the file uploaded as a raw body holds exactly what the page sent
    let path = s["filePath"].as_str().expect("filePath");
    let sent = s["fileContent"].as_str().expect("fileContent");
    assert!(
        sent.contains(&marker),
        "the uploaded content lacks {marker}"
    );
    let query = reqwest::Url::parse_with_params("http://x/", [("path", path)]).expect("query");
    let (st, file) = app
        .get(&format!(
            "/api/instances/{name}/files?{}",
            query.query().unwrap_or_default()
        ))
        .await;
    assert_eq!(st, 200, "{file}");
    assert_eq!(file["type"], "file", "{file}");
    assert_eq!(file["content"].as_str(), Some(sent), "{file}");

    // AND both chats are stored with the model's answers, which the fake was asked for once each
    let json_chat = s["jsonChatId"].as_str().expect("jsonChatId");
    let (st, chat) = app.get(&format!("/api/chat/{json_chat}")).await;
    assert_eq!(st, 200, "{chat}");
    assert!(text_of(&chat).contains(JSON_REPLY), "{chat}");
    let stream_chat = s["streamChatId"].as_str().expect("streamChatId");
    let (st, chat) = app.get(&format!("/api/chat/{stream_chat}")).await;
    assert_eq!(st, 200, "{chat}");
    assert!(text_of(&chat).contains(SLOW_REPLY), "{chat}");
    assert_eq!(s["streamedText"], SLOW_REPLY);
    let asked = serde_json::to_string(&llm.requests()).expect("requests as JSON");
    assert_eq!(llm.requests().len(), 2, "{asked}");
    assert!(asked.contains("Say hello to the docs page."), "{asked}");
    assert!(
        asked.contains("Tell me slowly about the docs page."),
        "{asked}"
    );

    // AND what the spec's pre-filled example bodies created is there
    let sent = s["examplesSent"].as_array().expect("examplesSent");
    assert!(sent.len() >= 3, "{s}");
    for (kind, base) in [
        ("secret", "/api/secrets/"),
        ("automation", "/api/automations/"),
        ("webhook", "/api/webhooks/"),
        ("clone", "/api/instances/"),
    ] {
        if let Some(id) = s["exampleIds"][kind].as_str() {
            let (st, v) = app.get(&format!("{base}{id}")).await;
            assert_eq!(st, 200, "the {kind} created from its example: {v}");
        }
    }

    // AND the key sent twice with one Idempotency-Key exists once
    let key_id = s["idempotentKeyId"].as_str().expect("idempotentKeyId");
    let (_, keys) = app.get("/api/chat-keys").await;
    let named: Vec<&Value> = keys["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|k| k["name"] == "docs-idempotent")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(named.len(), 1, "{keys}");
    assert_eq!(named[0]["id"], key_id, "{keys}");

    // AND the key is not in the server's log
    assert!(
        !app.server_log().contains(app.key.as_str()),
        "the server log holds the key"
    );

    // AND the run left its screenshots
    for f in ["docs.png", "docs-chat.png"] {
        let p = shots.join(f);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "no screenshot {}", p.display());
    }
}
