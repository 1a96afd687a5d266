//! Anthropic Messages, streamed.

use super::*;
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::json;

pub struct Anthropic {
    url: String,
    key: Option<secrecy::SecretString>,
    http: reqwest::Client,
    idle: Duration,
}

impl Anthropic {
    pub fn new(cfg: &LlmConfig, http: reqwest::Client) -> Self {
        let base = cfg.base_url.trim_end_matches('/');
        let url = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        Self {
            url,
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
    // Anthropic wants alternating turns; consecutive tool results share one user turn.
    let mut messages: Vec<Value> = vec![];
    for m in &req.messages {
        match m {
            Message::User(t) => {
                messages.push(json!({"role": "user", "content": [{"type": "text", "text": t}]}))
            }
            Message::Assistant { text, tool_calls } => {
                let mut content = vec![];
                if !text.is_empty() {
                    content.push(json!({"type": "text", "text": text}));
                }
                for c in tool_calls {
                    content.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input}),
                    );
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            Message::ToolResult {
                call_id,
                output,
                is_error,
            } => {
                let block = json!({"type": "tool_result", "tool_use_id": call_id, "content": output, "is_error": is_error});
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "user"
                            && last["content"][0]["type"] == "tool_result" =>
                    {
                        if let Some(arr) = last["content"].as_array_mut() {
                            arr.push(block);
                        }
                    }
                    _ => messages.push(json!({"role": "user", "content": [block]})),
                }
            }
        }
    }
    Body {
        model: &req.model,
        system: &req.system,
        messages,
        max_tokens: req.max_tokens,
        stream: true,
        tools: (!req.tools.is_empty()).then(|| {
            req.tools.wire(
                &req.tools.anthropic,
                |t| json!({"name": t.name, "description": t.description, "input_schema": t.schema}),
            )
        }),
    }
}

/// A Messages request body (the tools' wire form is shared, see [`Tools`]).
#[derive(serde::Serialize)]
pub struct Body<'a> {
    model: &'a str,
    system: &'a str,
    messages: Vec<Value>,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a RawValue>,
}

#[derive(Default)]
struct Block {
    kind: String,
    id: String,
    name: String,
    json: String,
}

#[async_trait]
impl ModelProvider for Anthropic {
    async fn stream(&self, req: &ModelRequest) -> Result<EventStream, ProviderError> {
        let mut rb = self
            .http
            .post(&self.url)
            .header("anthropic-version", "2023-06-01")
            .json(&body(req));
        if let Some(k) = &self.key {
            rb = rb.header("x-api-key", k.expose_secret());
        }
        stream_reply(rb, self.idle, decode).await
    }
}

/// A reply's SSE body (as the bytes arrive, split anywhere) → the provider-neutral events:
/// text deltas, tool calls at their block's end, usage, and `Done` at `message_stop`. Ends
/// after `Done` or after its one error (a stream cut before `message_stop` is one). Public
/// through [`super::fuzzing`] for the fuzz targets.
pub fn decode(
    bytes: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    idle: Duration,
) -> EventStream {
    let events = sse_events(bytes, idle);
    let state = (
        events,
        std::collections::BTreeMap::<u64, Block>::new(),
        0u64,
        false,
    );
    futures::stream::unfold(
        state,
        |(mut events, mut blocks, mut input_tokens, done)| async move {
            if done {
                return None;
            }
            loop {
                let (_, data) = match events.next().await {
                    None => {
                        return Some((
                            Err(ProviderError::Retryable(
                                "the model's stream ended before its end marker (message_stop)"
                                    .to_owned(),
                            )),
                            (events, blocks, input_tokens, true),
                        ))
                    }
                    Some(Err(e)) => return Some((Err(e), (events, blocks, input_tokens, true))),
                    Some(Ok(ev)) => ev,
                };
                let Ok(v) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                let idx = v["index"].as_u64().unwrap_or(0);
                let item = match v["type"].as_str().unwrap_or_default() {
                    "message_start" => {
                        input_tokens = v["message"]["usage"]["input_tokens"].as_u64().unwrap_or(0);
                        None
                    }
                    "content_block_start" => {
                        let b = &v["content_block"];
                        blocks.insert(
                            idx,
                            Block {
                                kind: b["type"].as_str().unwrap_or_default().to_owned(),
                                id: b["id"].as_str().unwrap_or_default().to_owned(),
                                name: b["name"].as_str().unwrap_or_default().to_owned(),
                                json: String::new(),
                            },
                        );
                        None
                    }
                    "content_block_delta" => {
                        let d = &v["delta"];
                        match d["type"].as_str().unwrap_or_default() {
                            "text_delta" => d["text"]
                                .as_str()
                                .map(|t| ModelEvent::TextDelta(t.to_owned())),
                            "input_json_delta" => {
                                if let Some(b) = blocks.get_mut(&idx) {
                                    b.json
                                        .push_str(d["partial_json"].as_str().unwrap_or_default());
                                }
                                None
                            }
                            _ => None,
                        }
                    }
                    "content_block_stop" => match blocks.remove(&idx) {
                        Some(b) if b.kind == "tool_use" => {
                            let input = if b.json.trim().is_empty() {
                                json!({})
                            } else {
                                serde_json::from_str(&b.json)
                                    .unwrap_or_else(|_| json!({"_unparsed": b.json}))
                            };
                            Some(ModelEvent::ToolCall(ToolCall {
                                id: b.id,
                                name: b.name,
                                input,
                            }))
                        }
                        _ => None,
                    },
                    "message_delta" => Some(ModelEvent::Usage {
                        input: input_tokens,
                        output: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
                    }),
                    "message_stop" => {
                        return Some((Ok(ModelEvent::Done), (events, blocks, input_tokens, true)))
                    }
                    "error" => {
                        let msg = v["error"]["message"]
                            .as_str()
                            .unwrap_or("stream error")
                            .to_owned();
                        return Some((
                            Err(ProviderError::Retryable(msg)),
                            (events, blocks, input_tokens, true),
                        ));
                    }
                    _ => None,
                };
                if let Some(item) = item {
                    return Some((Ok(item), (events, blocks, input_tokens, false)));
                }
            }
        },
    )
    .boxed()
}
