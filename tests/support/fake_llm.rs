//! A scripted fake LLM speaking the real OpenAI Chat Completions wire protocol (plain JSON
//! and SSE streaming with tool calls and usage) on a loopback port. Tests queue replies and
//! inspect every request it received.
#![allow(dead_code)]

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub enum Reply {
    Text(String),
    /// (tool name, arguments)
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error from the provider.
    Status(u16, String),
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<Value>,
}

#[derive(Clone)]
pub struct FakeLlm {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeLlm {
    pub async fn start(script: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            requests: vec![],
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// Environment that points the platform at this fake (OpenAI flavour).
    pub fn openai_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPERATOR_LLM", "openai".into()),
            ("OPERATOR_LLM_MODEL", "fake-model".into()),
            ("OPERATOR_LLM_BASE_URL", format!("{}/v1", self.url)),
        ]
    }

    pub fn push(&self, reply: Reply) {
        self.inner.lock().unwrap().script.push_back(reply);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }
}

/// Deterministic token counts: a quarter of the characters, at least one.
fn tokens(s: &str) -> u64 {
    (s.len() as u64 / 4).max(1)
}

async fn openai(State(inner): State<Arc<Mutex<Inner>>>, Json(req): Json<Value>) -> Response {
    let reply = {
        let mut g = inner.lock().unwrap();
        g.requests.push(req.clone());
        g.script
            .pop_front()
            .unwrap_or(Reply::Text("(the fake LLM's script is exhausted)".into()))
    };
    let prompt_tokens = tokens(&req["messages"].to_string());
    let model = req["model"].as_str().unwrap_or("fake-model").to_owned();
    let (content, tool_calls) = match &reply {
        Reply::Status(code, msg) => {
            return (
                axum::http::StatusCode::from_u16(*code).unwrap(),
                Json(json!({"error": {"message": msg, "type": "fake_error"}})),
            )
                .into_response()
        }
        Reply::Text(t) => (Some(t.clone()), vec![]),
        Reply::ToolCalls(calls) => (
            None,
            calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({"id": format!("call_{i}_{}", rand_suffix()), "type": "function",
                           "function": {"name": name, "arguments": args.to_string()}})
                })
                .collect::<Vec<_>>(),
        ),
    };
    let completion_tokens =
        content.as_deref().map(tokens).unwrap_or(0) + 10 * tool_calls.len() as u64;
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens});
    let finish = if tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    if req["stream"].as_bool().unwrap_or(false) {
        let mut events = vec![];
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        events.push(chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        ));
        if let Some(text) = &content {
            for piece in text.split_inclusive(' ') {
                events.push(chunk(json!({"content": piece}), Value::Null));
            }
        }
        for (i, call) in tool_calls.iter().enumerate() {
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                       "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}}]}),
                Value::Null,
            ));
        }
        events.push(chunk(json!({}), json!(finish)));
        if req["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false)
        {
            events.push(
                json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                               "model": model, "choices": [], "usage": usage}),
            );
        }
        let mut body = String::new();
        for e in events {
            body.push_str(&format!("data: {e}\n\n"));
        }
        body.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], body).into_response();
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }))
    .into_response()
}

fn rand_suffix() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 6)
}
