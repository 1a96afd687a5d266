//! OpenAI Chat Completions (and compatible servers), streamed.

use super::*;
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::json;
use std::collections::BTreeMap;

pub struct OpenAi {
    url: String,
    key: Option<secrecy::SecretString>,
    http: reqwest::Client,
    idle: Duration,
}

impl OpenAi {
    pub fn new(cfg: &LlmConfig, http: reqwest::Client) -> Self {
        Self {
            url: format!("{}/chat/completions", cfg.base_url.trim_end_matches('/')),
            key: cfg
                .api_key
                .as_ref()
                .map(|k| secrecy::SecretString::from(k.expose_secret().to_owned())),
            http,
            idle: cfg.idle_timeout,
        }
    }
}

pub fn body(req: &ModelRequest) -> Body<'_> {
    let mut messages = vec![json!({"role": "system", "content": req.system})];
    for m in &req.messages {
        messages.push(match m {
            Message::User(t) => json!({"role": "user", "content": t}),
            Message::Assistant { text, tool_calls } => {
                let mut v = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
                if !tool_calls.is_empty() {
                    v["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.input.to_string()}}))
                        .collect();
                }
                v
            }
            Message::ToolResult { call_id, output, .. } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": output})
            }
        });
    }
    Body {
        model: &req.model,
        messages,
        max_tokens: req.max_tokens,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        tools: (!req.tools.is_empty()).then(|| {
            req.tools.wire(&req.tools.openai, |t| {
                json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema}})
            })
        }),
    }
}

/// A Chat Completions request body (the tools' wire form is shared, see [`Tools`]).
#[derive(serde::Serialize)]
pub struct Body<'a> {
    model: &'a str,
    messages: Vec<Value>,
    max_tokens: u32,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a RawValue>,
}

#[derive(serde::Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// Decoding state of one reply stream.
struct Decoder {
    events: BoxStream<'static, Result<(String, String), ProviderError>>,
    calls: BTreeMap<u64, PartialCall>,
    out: std::collections::VecDeque<ModelEvent>,
    /// A choice reported its `finish_reason`.
    finished: bool,
    /// Nothing more is read.
    done: bool,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    args: String,
}

#[async_trait]
impl ModelProvider for OpenAi {
    async fn stream(&self, req: &ModelRequest) -> Result<EventStream, ProviderError> {
        let mut rb = self.http.post(&self.url).json(&body(req));
        if let Some(k) = &self.key {
            rb = rb.bearer_auth(k.expose_secret());
        }
        stream_reply(rb, self.idle, decode).await
    }
}

/// A reply's SSE body (as the bytes arrive, split anywhere) → the provider-neutral events:
/// text deltas, tool calls once their arguments are complete, usage, and `Done` at the end
/// marker. Ends after `Done` or after its one error (a stream cut before the end marker is
/// one). Public through [`super::fuzzing`] for the fuzz targets.
pub fn decode(
    bytes: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    idle: Duration,
) -> EventStream {
    let events = sse_events(bytes, idle);
    let state = Decoder {
        events,
        calls: BTreeMap::new(),
        out: std::collections::VecDeque::new(),
        finished: false,
        done: false,
    };
    futures::stream::unfold(state, |mut d| async move {
        loop {
            if let Some(e) = d.out.pop_front() {
                return Some((Ok(e), d));
            }
            if d.done {
                return None;
            }
            match d.events.next().await {
                None if d.finished => {
                    // Some compatible servers end after `finish_reason` without `[DONE]`.
                    flush(&mut d.calls, &mut d.out);
                    d.out.push_back(ModelEvent::Done);
                    d.done = true;
                }
                None => {
                    d.done = true;
                    return Some((
                        Err(ProviderError::Retryable(
                            "the model's stream ended before its end marker ([DONE])".to_owned(),
                        )),
                        d,
                    ));
                }
                Some(Err(e)) => {
                    d.done = true;
                    return Some((Err(e), d));
                }
                Some(Ok((_, data))) => {
                    if data.trim() == "[DONE]" {
                        flush(&mut d.calls, &mut d.out);
                        d.out.push_back(ModelEvent::Done);
                        d.done = true;
                        continue;
                    }
                    let Ok(v) = serde_json::from_str::<Value>(&data) else {
                        continue;
                    };
                    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                        d.out.push_back(ModelEvent::Usage {
                            input: u["prompt_tokens"].as_u64().unwrap_or(0),
                            output: u["completion_tokens"].as_u64().unwrap_or(0),
                        });
                    }
                    if !v["choices"][0]["finish_reason"].is_null() {
                        d.finished = true;
                    }
                    let delta = &v["choices"][0]["delta"];
                    if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                        d.out.push_back(ModelEvent::TextDelta(t.to_owned()));
                    }
                    for tc in delta["tool_calls"].as_array().into_iter().flatten() {
                        let idx = tc["index"].as_u64().unwrap_or(0);
                        let c = d.calls.entry(idx).or_default();
                        if let Some(id) = tc["id"].as_str() {
                            c.id = id.to_owned();
                        }
                        if let Some(n) = tc["function"]["name"].as_str() {
                            c.name.push_str(n);
                        }
                        if let Some(a) = tc["function"]["arguments"].as_str() {
                            c.args.push_str(a);
                        }
                    }
                }
            }
        }
    })
    .boxed()
}

fn flush(calls: &mut BTreeMap<u64, PartialCall>, out: &mut std::collections::VecDeque<ModelEvent>) {
    for (_, c) in std::mem::take(calls) {
        let input = if c.args.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&c.args).unwrap_or_else(|_| json!({"_unparsed": c.args}))
        };
        out.push_back(ModelEvent::ToolCall(ToolCall {
            id: c.id,
            name: c.name,
            input,
        }));
    }
}
