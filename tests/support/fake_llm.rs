//! A scripted fake LLM speaking the real OpenAI Chat Completions wire protocol (plain JSON
//! and SSE streaming with tool calls and usage) on a loopback port. Tests queue replies and
//! inspect every request it received. Besides answers it serves faults: a model that never
//! answers, one that stalls or resets the connection mid-stream, bytes that are not the
//! protocol, HTTP errors.
#![allow(dead_code)]

use axum::extract::connect_info::{ConnectInfo, Connected};
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
    /// Text streamed word by word with a pause between words (milliseconds).
    SlowText(String, u64),
    /// Text answered only after a delay (milliseconds) before the response starts.
    LateText(String, u64),
    /// (tool name, arguments)
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error from the provider.
    Status(u16, String),
    /// Text answered only once `release_held` is called (see `held_now`).
    Held(String),
    /// Accepts the request and never answers: no status line, no byte.
    Hang,
    /// Streams the first half of the text's events, then goes silent for good (the
    /// connection stays open).
    Stall(String),
    /// Streams the first half of the text's events, then resets the TCP connection (RST).
    Reset(String),
    /// A 200 with this content type and these bytes, whatever the protocol expects.
    Garbage(&'static str, Vec<u8>),
}

impl Reply {
    /// A short name of the variant, as `FakeLlm::served` lists them.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Text(_) => "text",
            Reply::SlowText(..) => "slow-text",
            Reply::LateText(..) => "late-text",
            Reply::ToolCalls(_) => "tool-calls",
            Reply::Status(..) => "status",
            Reply::Held(_) => "held",
            Reply::Hang => "hang",
            Reply::Stall(_) => "stall",
            Reply::Reset(_) => "reset",
            Reply::Garbage(..) => "garbage",
        }
    }
}

/// The accepted connection's socket, so that `Reply::Reset` can reset it.
#[derive(Clone, Copy)]
struct Socket(std::os::fd::RawFd);

impl Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for Socket {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        use std::os::fd::AsRawFd;
        Socket(stream.io().as_raw_fd())
    }
}

/// Connections reset by `Reply::Reset` (in this process: by any fake).
static RESETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many connections `Reply::Reset` has reset so far, by any fake of this process.
pub fn resets() -> usize {
    RESETS.load(std::sync::atomic::Ordering::SeqCst)
}

/// How a streamed answer ends.
#[derive(Clone, Copy)]
enum Tail {
    /// After its last event, as the protocol says.
    Whole,
    /// Half-way, then silence.
    Stall,
    /// Half-way, then a TCP reset of this socket.
    Reset(Socket),
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<Value>,
    /// Requests received (kept or not).
    received: usize,
    /// Not keeping each request's body (a benchmark's thousands): see `FakeLlm::start_lean`.
    lean: bool,
    /// (input, output) tokens of every answer that reported its usage.
    reported: Vec<(u64, u64)>,
    gate: Arc<Gate>,
    /// What answers once the script is exhausted.
    fallback: Option<Reply>,
    /// `Reply::kind` of every reply served, in order.
    served: Vec<&'static str>,
}

/// Holds `Reply::Held` requests until released.
struct Gate {
    waiting: std::sync::atomic::AtomicUsize,
    released: tokio::sync::watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            waiting: Default::default(),
            released: tokio::sync::watch::channel(false).0,
        }
    }
}

/// Waits at the gate if the reply is `Held`.
async fn hold(inner: &Arc<Mutex<Inner>>, reply: &Reply) {
    if !matches!(reply, Reply::Held(_)) {
        return;
    }
    let gate = inner.lock().unwrap().gate.clone();
    let mut released = gate.released.subscribe();
    gate.waiting
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _ = released.wait_for(|r| *r).await;
    gate.waiting
        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
}

#[derive(Clone)]
pub struct FakeLlm {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeLlm {
    pub async fn start(script: Vec<Reply>) -> Self {
        Self::start_with(Inner {
            script: script.into(),
            ..Inner::default()
        })
        .await
    }

    /// A fake that keeps no request bodies (`requests()` stays empty; `request_count` counts):
    /// a benchmark's load generator shares the machine with the server, so the fake reads
    /// only what it answers from instead of building and keeping a JSON tree per request.
    pub async fn start_lean() -> Self {
        Self::start_with(Inner {
            lean: true,
            ..Inner::default()
        })
        .await
    }

    async fn start_with(inner: Inner) -> Self {
        let inner = Arc::new(Mutex::new(inner));
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<Socket>(),
            )
            .await
        });
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

    /// Environment that points the platform at this fake (Anthropic flavour).
    pub fn anthropic_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPERATOR_LLM", "anthropic".into()),
            ("OPERATOR_LLM_MODEL", "fake-claude".into()),
            ("OPERATOR_LLM_BASE_URL", self.url.clone()),
            ("ANTHROPIC_API_KEY", "sk-ant-fake-provider-key".into()),
        ]
    }

    pub fn push(&self, reply: Reply) {
        self.inner.lock().unwrap().script.push_back(reply);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// How many requests it received (cheaper than `requests().len()`).
    pub fn request_count(&self) -> usize {
        self.inner.lock().unwrap().received
    }

    /// What answers once the script is exhausted (by default a fixed text).
    pub fn set_fallback(&self, reply: Reply) {
        self.inner.lock().unwrap().fallback = Some(reply);
    }

    /// `Reply::kind` of every reply served so far, in order.
    pub fn served(&self) -> Vec<&'static str> {
        self.inner.lock().unwrap().served.clone()
    }

    /// What the answers so far reported, weighted as the platform meters it (input + 5 ×
    /// output): what billing must show for them.
    pub fn reported_weighted(&self) -> u64 {
        let g = self.inner.lock().unwrap();
        g.reported.iter().map(|(i, o)| i + 5 * o).sum()
    }

    /// How many `Reply::Held` requests are waiting right now.
    pub fn held_now(&self) -> usize {
        let gate = self.inner.lock().unwrap().gate.clone();
        gate.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets every held request (and every later one) answer.
    pub fn release_held(&self) {
        let gate = self.inner.lock().unwrap().gate.clone();
        gate.released.send_replace(true);
    }
}

/// Deterministic token counts: a quarter of the characters, at least one.
fn tokens(s: &str) -> u64 {
    (s.len() as u64 / 4).max(1)
}

/// The next scripted reply (or the fallback), noted as served.
fn next_reply(g: &mut Inner) -> Reply {
    let reply = g.script.pop_front().unwrap_or_else(|| {
        g.fallback
            .clone()
            .unwrap_or(Reply::Text("(the fake LLM's script is exhausted)".into()))
    });
    g.served.push(reply.kind());
    reply
}

/// The faults that need no protocol: never answering, and bytes that are not it.
async fn protocol_free_fault(reply: &Reply) -> Option<Response> {
    match reply {
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        Reply::Garbage(content_type, bytes) => Some(
            (
                [("content-type", *content_type)],
                axum::body::Body::from(bytes.clone()),
            )
                .into_response(),
        ),
        _ => None,
    }
}

/// How a streamed `reply` ends on `socket`.
fn tail(reply: &Reply, socket: Socket) -> Tail {
    match reply {
        Reply::Stall(_) => Tail::Stall,
        Reply::Reset(_) => Tail::Reset(socket),
        _ => Tail::Whole,
    }
}

/// What the OpenAI fake answers from (the request's other fields are only kept).
#[derive(serde::Deserialize)]
struct OpenAiRequest<'a> {
    #[serde(default)]
    model: Option<&'a str>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(borrow)]
    messages: &'a serde_json::value::RawValue,
}

#[derive(serde::Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

async fn openai(
    State(inner): State<Arc<Mutex<Inner>>>,
    ConnectInfo(socket): ConnectInfo<Socket>,
    body: axum::body::Bytes,
) -> Response {
    let req: OpenAiRequest =
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return (
                axum::http::StatusCode::BAD_REQUEST,
                Json(json!({"error": {"message": e.to_string(), "type": "invalid_request_error"}})),
            )
                .into_response(),
        };
    let reply = {
        let mut g = inner.lock().unwrap();
        g.received += 1;
        if !g.lean {
            g.requests
                .push(serde_json::from_slice(&body).expect("parsed above"));
        }
        next_reply(&mut g)
    };
    hold(&inner, &reply).await;
    if let Some(res) = protocol_free_fault(&reply).await {
        return res;
    }
    if let Reply::LateText(_, ms) = &reply {
        tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
    }
    let prompt_tokens = tokens(req.messages.get());
    let model = req.model.unwrap_or("fake-model").to_owned();
    let (content, tool_calls) = match &reply {
        Reply::Status(code, msg) => {
            return (
                axum::http::StatusCode::from_u16(*code).unwrap(),
                Json(json!({"error": {"message": msg, "type": "fake_error"}})),
            )
                .into_response()
        }
        Reply::Text(t)
        | Reply::SlowText(t, _)
        | Reply::LateText(t, _)
        | Reply::Held(t)
        | Reply::Stall(t)
        | Reply::Reset(t) => (Some(t.clone()), vec![]),
        Reply::Hang | Reply::Garbage(..) => unreachable!("answered above"),
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
    if req.stream {
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
        if req.stream_options.is_some_and(|o| o.include_usage) {
            let mut g = inner.lock().unwrap();
            g.reported.push((prompt_tokens, completion_tokens));
            drop(g);
            events.push(
                json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                               "model": model, "choices": [], "usage": usage}),
            );
        }
        let mut frames: Vec<String> = events
            .into_iter()
            .map(|e| format!("data: {e}\n\n"))
            .collect();
        frames.push("data: [DONE]\n\n".into());
        return sse(frames, pause(&reply), tail(&reply, socket));
    }
    inner
        .lock()
        .unwrap()
        .reported
        .push((prompt_tokens, completion_tokens));
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

fn pause(reply: &Reply) -> u64 {
    match reply {
        Reply::SlowText(_, ms) => *ms,
        _ => 0,
    }
}

/// An SSE response whose frames are sent `pause_ms` apart, ending as `tail` says.
fn sse(mut frames: Vec<String>, pause_ms: u64, tail: Tail) -> Response {
    if !matches!(tail, Tail::Whole) {
        frames.truncate(frames.len().div_ceil(2));
    }
    let stream = futures::stream::unfold(
        (frames.into_iter(), false),
        move |(mut it, ended)| async move {
            if ended {
                return None;
            }
            let Some(next) = it.next() else {
                return match tail {
                    Tail::Whole => None,
                    Tail::Stall => {
                        std::future::pending::<()>().await;
                        None
                    }
                    Tail::Reset(socket) => {
                        // Let what was written reach the client first: a reset discards
                        // whatever still sits in the socket's send buffer.
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        // Linger 0: closing the socket (hyper does, on a body error) sends RST.
                        let linger = libc::linger {
                            l_onoff: 1,
                            l_linger: 0,
                        };
                        // SAFETY: setsockopt on this connection's open socket with a valid
                        // `linger` of the size passed.
                        let rc = unsafe {
                            libc::setsockopt(
                                socket.0,
                                libc::SOL_SOCKET,
                                libc::SO_LINGER,
                                (&linger as *const libc::linger).cast(),
                                std::mem::size_of::<libc::linger>() as libc::socklen_t,
                            )
                        };
                        if rc == 0 {
                            RESETS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Some((Err(std::io::Error::other("reset")), (it, true)))
                    }
                };
            };
            if pause_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
            }
            Some((Ok::<_, std::io::Error>(next), (it, false)))
        },
    );
    (
        [("content-type", "text/event-stream")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

async fn anthropic(
    State(inner): State<Arc<Mutex<Inner>>>,
    ConnectInfo(socket): ConnectInfo<Socket>,
    headers: axum::http::HeaderMap,
    Json(req): Json<Value>,
) -> Response {
    let reply = {
        let mut g = inner.lock().unwrap();
        let mut logged = req.clone();
        logged["_headers"] = json!({"x-api-key": headers.get("x-api-key").and_then(|v| v.to_str().ok()),
                                    "anthropic-version": headers.get("anthropic-version").and_then(|v| v.to_str().ok())});
        g.received += 1;
        if !g.lean {
            g.requests.push(logged);
        }
        next_reply(&mut g)
    };
    hold(&inner, &reply).await;
    if let Some(res) = protocol_free_fault(&reply).await {
        return res;
    }
    let input_tokens = tokens(&req["messages"].to_string()) + tokens(&req["system"].to_string());
    let model = req["model"].as_str().unwrap_or("fake-claude").to_owned();
    let mut content: Vec<Value> = vec![];
    match &reply {
        Reply::Status(code, msg) => {
            return (
                axum::http::StatusCode::from_u16(*code).unwrap(),
                Json(json!({"type": "error", "error": {"type": "fake_error", "message": msg}})),
            )
                .into_response()
        }
        Reply::Text(t)
        | Reply::SlowText(t, _)
        | Reply::LateText(t, _)
        | Reply::Held(t)
        | Reply::Stall(t)
        | Reply::Reset(t) => content.push(json!({"type": "text", "text": t})),
        Reply::Hang | Reply::Garbage(..) => unreachable!("answered above"),
        Reply::ToolCalls(calls) => {
            for (name, args) in calls {
                content.push(json!({"type": "tool_use", "id": format!("toolu_{}", rand_suffix()), "name": name, "input": args}));
            }
        }
    }
    let output_tokens: u64 = content
        .iter()
        .map(|c| c["text"].as_str().map(tokens).unwrap_or(10))
        .sum();
    inner
        .lock()
        .unwrap()
        .reported
        .push((input_tokens, output_tokens));
    let stop = if content.iter().any(|c| c["type"] == "tool_use") {
        "tool_use"
    } else {
        "end_turn"
    };
    if !req["stream"].as_bool().unwrap_or(false) {
        return Json(
            json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}),
        )
        .into_response();
    }
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut frames = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
        "role": "assistant", "content": [], "model": model, "stop_reason": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
    )];
    for (i, block) in content.iter().enumerate() {
        if block["type"] == "text" {
            frames.push(ev("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})));
            for piece in block["text"]
                .as_str()
                .unwrap_or_default()
                .split_inclusive(' ')
            {
                frames.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}})));
            }
        } else {
            frames.push(ev("content_block_start", json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})));
            let args = block["input"].to_string();
            let (a, b) = args.split_at(args.len() / 2);
            for part in [a, b] {
                frames.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": part}})));
            }
        }
        frames.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        ));
    }
    frames.push(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": output_tokens}})));
    frames.push(ev("message_stop", json!({"type": "message_stop"})));
    sse(frames, pause(&reply), tail(&reply, socket))
}
