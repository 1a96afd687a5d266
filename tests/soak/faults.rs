//! A model provider that misbehaves: it never answers, stalls or resets the connection
//! mid-stream, sends bytes that are not its protocol, or answers 500s. Each time the turn
//! ends with an error recorded in the chat's event log (replayed on re-attach) or on the
//! webhook delivery, the caller never gets a 5xx for it, and the server and its worker go
//! on serving: the next turn succeeds.

use crate::support::fake_llm::{self, FakeLlm, Reply};
use crate::support::sse::{parse_sse, Frame};
use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The platform's idle timeout for the model in these tests (seconds).
const IDLE_SECS: u64 = 2;
/// Calls per model request the platform makes before it gives up (llm::RetryPolicy).
const ATTEMPTS: usize = 5;

struct Fault {
    name: &'static str,
    /// What the fake answers, in order, for the one failing turn.
    replies: Vec<Reply>,
    /// Part of the error the turn must end with.
    error: &'static str,
}

fn faults() -> Vec<Fault> {
    let text = "the start of an answer that never ends".to_owned();
    vec![
        Fault {
            name: "hang (no byte at all, every attempt)",
            replies: vec![Reply::Hang; ATTEMPTS],
            error: "sent nothing",
        },
        Fault {
            name: "stall mid-stream",
            replies: vec![Reply::Stall(text.clone())],
            error: "sent nothing",
        },
        Fault {
            name: "connection reset mid-stream",
            replies: vec![Reply::Reset(text)],
            error: "stream interrupted",
        },
        Fault {
            name: "garbage: an HTML page",
            replies: vec![Reply::Garbage(
                "text/html",
                b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            )],
            error: "ended before its end marker",
        },
        Fault {
            name: "garbage: broken SSE, cut JSON and bytes that are not UTF-8",
            replies: vec![Reply::Garbage(
                "text/event-stream",
                b"data: {\"choices\": [{\"delta\": {\"content\": \"Hel\n\n\xff\xfe\x00garbage\n\n"
                    .to_vec(),
            )],
            error: "not valid server-sent events",
        },
        Fault {
            name: "500 on every attempt",
            replies: vec![Reply::Status(500, "the model broke".into()); ATTEMPTS],
            error: "HTTP 500",
        },
    ]
}

fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"type": "text", "text": text}]})
}

fn kinds(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f.data.as_str() {
            "[DONE]" => "[DONE]".to_owned(),
            _ => f.json()["type"].as_str().unwrap_or("?").to_owned(),
        })
        .collect()
}

/// Sends one chat message and reads its stream to the end (bounded).
async fn turn(app: &App, chat: Option<&str>, text: &str) -> (String, Vec<Frame>) {
    let mut body = json!({"messages": [user(text)]});
    if let Some(c) = chat {
        body["id"] = json!(c);
    }
    let res = app
        .request(Method::POST, "/api/chat", Some(&app.key))
        .json(&body)
        .send()
        .await
        .expect("send the message");
    assert_eq!(res.status(), 200, "the caller did nothing wrong");
    let text = tokio::time::timeout(Duration::from_secs(120), res.text())
        .await
        .expect("the turn ends: the platform's own timeouts bound it")
        .expect("the stream");
    let frames = parse_sse(&text);
    let chat = frames
        .first()
        .and_then(|f| {
            f.json()["messageMetadata"]["chatId"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no start event: {frames:?}"));
    (chat, frames)
}

/// While a turn runs, the server answers other requests.
async fn still_serving(app: &App) {
    let (s, v) = app.get("/api/health").await;
    assert_eq!((s.as_u16(), &v["ok"]), (200, &json!(true)), "{v}");
    let (s, v) = app.get("/api/secrets").await;
    assert_eq!(s, 200, "{v}");
}

async fn provider_faults(flavour: &str) {
    // GIVEN a server whose model is the scripted fake, with a short idle timeout
    let llm = FakeLlm::start(vec![]).await;
    let mut env = if flavour == "anthropic" {
        llm.anthropic_env()
    } else {
        llm.openai_env()
    };
    env.push(("OPERATOR_LLM_IDLE_TIMEOUT_SECS", IDLE_SECS.to_string()));
    let app = App::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await;
    llm.push(Reply::Text("Ready.".into()));
    let (chat, frames) = turn(&app, None, "hello").await;
    assert!(kinds(&frames).contains(&"finish".to_owned()), "{frames:?}");

    for fault in faults() {
        let served_before = llm.served().len();
        let resets_before = fake_llm::resets();
        let expected: Vec<&str> = fault.replies.iter().map(Reply::kind).collect();
        for r in fault.replies {
            llm.push(r);
        }
        // WHEN a turn meets the fault (and other requests come in meanwhile)
        let (sent, ()) = tokio::join!(turn(&app, Some(&chat), fault.name), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            still_serving(&app).await;
        });
        let (_, frames) = sent;
        // THEN the fake really served the fault, as many times as the platform retries it
        assert_eq!(&llm.served()[served_before..], expected, "{}", fault.name);
        if expected == ["reset"] {
            assert!(
                fake_llm::resets() > resets_before,
                "no connection was reset"
            );
        }
        // AND the stream ends with an error event naming what went wrong, then [DONE]
        let k = kinds(&frames);
        assert_eq!(
            &k[k.len() - 2..],
            ["error", "[DONE]"],
            "{}: {frames:?}",
            fault.name
        );
        let error = frames[frames.len() - 2].json()["errorText"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(error.contains(fault.error), "{}: {error}", fault.name);
        // AND the error is recorded: re-attaching replays the turn with the same error
        let res = app
            .request(
                Method::GET,
                &format!("/api/chat/{chat}/stream?after=0"),
                Some(&app.key),
            )
            .send()
            .await
            .expect("re-attach");
        assert_eq!(res.status(), 200);
        let replayed = parse_sse(&res.text().await.expect("the replay"));
        assert!(
            replayed
                .iter()
                .any(|f| f.json()["type"] == "error" && f.json()["errorText"] == error.as_str()),
            "{}: {replayed:?}",
            fault.name
        );
        // AND the worker lives: the next turn of the same chat succeeds
        llm.push(Reply::Text(format!("Fine again after the {}.", fault.name)));
        let (_, frames) = turn(&app, Some(&chat), "and now?").await;
        assert!(
            kinds(&frames).contains(&"finish".to_owned()),
            "after {}: {frames:?}",
            fault.name
        );
        println!(
            "{flavour}: {} → turn failed with \"{error}\"; next turn fine",
            fault.name
        );
    }

    // WHEN a webhook delivery meets the provider's 500s
    let (s, v) = app
        .post(
            "/api/webhooks",
            json!({"name": "faulty", "promptTemplate": "Handle {{payload}}"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (hook, token) = (
        v["webhook"]["id"].as_str().unwrap().to_owned(),
        v["webhook"]["token"].as_str().unwrap().to_owned(),
    );
    for _ in 0..ATTEMPTS {
        llm.push(Reply::Status(500, "the model broke".into()));
    }
    let failed = trigger_and_wait(&app, &hook, &token).await;
    // THEN the delivery is recorded as failed with the provider's error
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP 500"),
        "{failed}"
    );
    // AND the next delivery runs fine
    llm.push(Reply::Text("Handled.".into()));
    let ok = trigger_and_wait(&app, &hook, &token).await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    assert!(ok["error"].is_null(), "{ok}");

    // WHEN a JSON-mode caller's turn meets garbage THEN it gets the API's 502 error body
    llm.push(Reply::Garbage("text/plain", b"not even close".to_vec()));
    let got = send(
        app.request(Method::POST, "/api/chat", Some(&app.key))
            .header("x-response-format", "json")
            .json(&json!({"id": chat, "messages": [user("json please")]})),
    )
    .await;
    assert_error(&got, 502, "bad_gateway");
    // AND the server never logged a panic
    assert!(
        !app.server_log().contains("panicked"),
        "{}",
        tail(&app.server_log(), 40)
    );
}

/// Triggers the webhook and waits (bounded) for the delivery to end; returns it.
async fn trigger_and_wait(app: &App, hook: &str, token: &str) -> Value {
    let (s, v) = send(
        app.request(
            Method::POST,
            &format!("/api/webhooks/trigger/{token}"),
            None,
        )
        .json(&json!({"event": "push"})),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let id = v["deliveryId"].as_str().unwrap().to_owned();
    eventually(60, || async {
        let (_, list) = app.get(&format!("/api/webhooks/{hook}/deliveries")).await;
        list["deliveries"]
            .as_array()?
            .iter()
            .find(|d| {
                d["id"] == id.as_str() && (d["status"] == "succeeded" || d["status"] == "failed")
            })
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("delivery {id} never ended"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: scripts/soak.sh, or the soak step of scripts/test.sh"]
async fn openai_provider_faults_fail_the_turn_cleanly_and_the_worker_lives() {
    provider_faults("openai").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: scripts/soak.sh, or the soak step of scripts/test.sh"]
async fn anthropic_provider_faults_fail_the_turn_cleanly_and_the_worker_lives() {
    provider_faults("anthropic").await;
}
