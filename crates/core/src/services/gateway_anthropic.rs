//! The LLM gateway's Anthropic Messages wire (`POST /v1/messages`), for code in an instance
//! that speaks Anthropic's API (the `anthropic` SDKs, tools built on them): the request is
//! read as Anthropic's, turned into the gateway's OpenAI-shaped call (so the quota, the
//! provider routing and the metering are the same ones), and the answer — a JSON body or the
//! stream — is turned back into Anthropic's shapes (`message`; `message_start`,
//! `content_block_*`, `message_delta`, `message_stop` events).

use super::gateway::{GatewayReply, SseData};
use super::Platform;
use crate::error::{Error, Result};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

impl Platform {
    /// `POST /v1/messages` from an instance (Anthropic Messages wire).
    pub async fn gateway_messages(
        &self,
        bearer: Option<&str>,
        body: &[u8],
    ) -> Result<GatewayReply> {
        let req: Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("body", format!("not valid JSON: {e}")))?;
        if !req.is_object() || !req["messages"].is_array() {
            return Err(Error::invalid("messages", "must be an array of messages"));
        }
        let openai = to_openai(&req)?;
        let body = serde_json::to_vec(&openai).map_err(|e| Error::Unexpected(e.into()))?;
        Ok(match self.gateway_chat(bearer, &body).await? {
            GatewayReply::Json { status, body } if status < 400 => GatewayReply::Json {
                status,
                body: from_openai(&body),
            },
            GatewayReply::Json { status, body } => GatewayReply::Json {
                status,
                body: anthropic_error(&body),
            },
            GatewayReply::Stream(s) => {
                let model = openai["model"].as_str().unwrap_or_default().to_owned();
                GatewayReply::Stream(translate_stream(s, model))
            }
        })
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An Anthropic Messages request as the gateway's OpenAI Chat Completions request.
pub fn to_openai(req: &Value) -> Result<Value> {
    let mut messages = vec![];
    let system = text_of(&req["system"]);
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in req["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or_default();
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            _ => vec![],
        };
        match role {
            "user" => {
                // Tool results first (they answer the previous assistant turn), then the text.
                for b in blocks.iter().filter(|b| b["type"] == "tool_result") {
                    messages.push(json!({"role": "tool",
                        "tool_call_id": b["tool_use_id"].as_str().unwrap_or_default(),
                        "content": text_of(&b["content"])}));
                }
                let text = text_of(&Value::Array(blocks.clone()));
                if !text.is_empty() {
                    messages.push(json!({"role": "user", "content": text}));
                }
            }
            "assistant" => {
                let calls: Vec<Value> = blocks
                    .iter()
                    .filter(|b| b["type"] == "tool_use")
                    .map(|b| {
                        json!({"id": b["id"], "type": "function",
                        "function": {"name": b["name"], "arguments": b["input"].to_string()}})
                    })
                    .collect();
                let text = text_of(&Value::Array(blocks.clone()));
                let mut msg = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    msg["tool_calls"] = json!(calls);
                }
                messages.push(msg);
            }
            other => {
                return Err(Error::invalid(
                    "messages",
                    format!("unsupported role {other:?} (user or assistant)"),
                ))
            }
        }
    }
    let tools: Vec<Value> = req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            json!({"type": "function", "function": {"name": t["name"],
            "description": t["description"].as_str().unwrap_or_default(),
            "parameters": t["input_schema"]}})
        })
        .collect();
    let mut out = json!({"messages": messages, "stream": req["stream"].as_bool().unwrap_or(false)});
    for (from, to) in [
        ("model", "model"),
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
    ] {
        if !req[from].is_null() {
            out[to] = req[from].clone();
        }
    }
    if !tools.is_empty() {
        out["tools"] = json!(tools);
    }
    Ok(out)
}

fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "tool_calls" => "tool_use",
        "length" => "max_tokens",
        _ => "end_turn",
    }
}

/// An OpenAI Chat Completions answer as an Anthropic `message`.
pub fn from_openai(body: &Value) -> Value {
    let choice = &body["choices"][0];
    let msg = &choice["message"];
    let mut content = vec![];
    if let Some(t) = msg["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    for c in msg["tool_calls"].as_array().into_iter().flatten() {
        let input = c["function"]["arguments"]
            .as_str()
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .unwrap_or_else(|| json!({}));
        content.push(json!({"type": "tool_use", "id": c["id"], "name": c["function"]["name"], "input": input}));
    }
    json!({
        "id": format!("msg_{}", body["id"].as_str().unwrap_or("gateway")),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        "stop_sequence": null,
        "usage": {"input_tokens": body["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                  "output_tokens": body["usage"]["completion_tokens"].as_u64().unwrap_or(0)},
    })
}

/// A provider's refusal in Anthropic's error shape.
fn anthropic_error(body: &Value) -> Value {
    let message = body["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| body.to_string());
    json!({"type": "error", "error": {"type": "api_error", "message": message}})
}

fn event(kind: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

/// Turns the gateway's OpenAI SSE chunks into Anthropic's stream events, as they come.
#[derive(Default)]
pub struct StreamTranslator {
    model: String,
    lines: SseData,
    started: bool,
    /// The content block open now, and how many blocks there were.
    open: Option<Open>,
    blocks: usize,
    stop: Option<&'static str>,
    output_tokens: u64,
    ended: bool,
}

#[derive(PartialEq)]
enum Open {
    Text,
    /// A tool call, by its index in the OpenAI stream.
    Tool(u64),
}

impl StreamTranslator {
    pub fn new(model: String) -> Self {
        Self {
            model,
            ..Self::default()
        }
    }

    /// The Anthropic events the OpenAI `bytes` complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        let mut data = vec![];
        self.lines.feed(bytes, |d| data.push(d.to_owned()));
        let mut out = vec![];
        for d in data {
            if d == "[DONE]" {
                out.extend(self.finish());
            } else if let Ok(v) = serde_json::from_str::<Value>(&d) {
                out.extend(self.chunk(&v));
            }
        }
        out
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if !self.started {
            self.started = true;
            out.push(event(
                "message_start",
                json!({"type": "message_start", "message": {
                "id": "msg_gateway", "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ));
        }
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if self.open.take().is_some() {
            out.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": self.blocks - 1}),
            ));
        }
    }

    fn chunk(&mut self, v: &Value) -> Vec<Bytes> {
        let mut out = vec![];
        self.start(&mut out);
        if let Some(e) = v.get("error") {
            out.push(event(
                "error",
                json!({"type": "error", "error": {"type": "api_error",
                "message": e["message"].as_str().unwrap_or("the model provider failed")}}),
            ));
            return out;
        }
        if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
            self.output_tokens = n;
        }
        let choice = &v["choices"][0];
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            if self.open != Some(Open::Text) {
                self.close(&mut out);
                self.open = Some(Open::Text);
                self.blocks += 1;
                out.push(event(
                    "content_block_start",
                    json!({"type": "content_block_start",
                    "index": self.blocks - 1, "content_block": {"type": "text", "text": ""}}),
                ));
            }
            out.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta",
                "index": self.blocks - 1, "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(0);
            if self.open != Some(Open::Tool(index)) {
                self.close(&mut out);
                self.open = Some(Open::Tool(index));
                self.blocks += 1;
                out.push(event(
                    "content_block_start",
                    json!({"type": "content_block_start",
                    "index": self.blocks - 1, "content_block": {"type": "tool_use",
                    "id": call["id"], "name": call["function"]["name"], "input": {}}}),
                ));
            }
            if let Some(args) = call["function"]["arguments"]
                .as_str()
                .filter(|a| !a.is_empty())
            {
                out.push(event("content_block_delta", json!({"type": "content_block_delta",
                    "index": self.blocks - 1, "delta": {"type": "input_json_delta", "partial_json": args}})));
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.close(&mut out);
            self.stop = Some(stop_reason(f));
        }
        out
    }

    /// The closing events (once).
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = vec![];
        if self.ended {
            return out;
        }
        self.ended = true;
        self.start(&mut out);
        self.close(&mut out);
        out.push(event(
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": self.stop.unwrap_or("end_turn"), "stop_sequence": null},
            "usage": {"output_tokens": self.output_tokens}}),
        ));
        out.push(event("message_stop", json!({"type": "message_stop"})));
        out
    }
}

fn translate_stream(
    upstream: futures::stream::BoxStream<'static, std::io::Result<Bytes>>,
    model: String,
) -> futures::stream::BoxStream<'static, std::io::Result<Bytes>> {
    let state = (upstream, StreamTranslator::new(model), false);
    futures::stream::unfold(state, |(mut up, mut tr, done)| async move {
        if done {
            return None;
        }
        match up.next().await {
            Some(Ok(bytes)) => {
                let out: Vec<u8> = tr.feed(&bytes).concat();
                Some((Ok(Bytes::from(out)), (up, tr, false)))
            }
            Some(Err(e)) => Some((Err(e), (up, tr, true))),
            None => {
                let out: Vec<u8> = tr.finish().concat();
                Some((Ok(Bytes::from(out)), (up, tr, true)))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_with_a_tool_round_trip_becomes_openai_messages() {
        let req = json!({"model": "m", "max_tokens": 100, "system": "be brief",
            "tools": [{"name": "add", "description": "adds", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "2 + 3?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 2}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "5"}]}]});
        let o = to_openai(&req).unwrap();
        let m = o["messages"].as_array().unwrap();
        assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(m[1], json!({"role": "user", "content": "2 + 3?"}));
        assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"], "{\"a\":2}");
        assert_eq!(
            m[3],
            json!({"role": "tool", "tool_call_id": "t1", "content": "5"})
        );
        assert_eq!(
            o["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(o["max_tokens"], 100);
    }

    #[test]
    fn an_answer_becomes_an_anthropic_message() {
        let a = from_openai(
            &json!({"id": "x", "model": "m", "choices": [{"message": {"content": "hi",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{\"k\":1}"}}]},
            "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        );
        assert_eq!(a["content"][0], json!({"type": "text", "text": "hi"}));
        assert_eq!(a["content"][1]["input"], json!({"k": 1}));
        assert_eq!(a["stop_reason"], "tool_use");
        assert_eq!(a["usage"], json!({"input_tokens": 3, "output_tokens": 2}));
    }

    #[test]
    fn a_stream_becomes_anthropic_events_in_order_even_split_mid_line() {
        let sse = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let mut t = StreamTranslator::new("m".into());
        let (a, b) = sse.as_bytes().split_at(37);
        let mut out: Vec<Bytes> = t.feed(a);
        out.extend(t.feed(b));
        out.extend(t.finish());
        let kinds: Vec<String> = out
            .iter()
            .map(|e| {
                String::from_utf8_lossy(e)
                    .lines()
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "event: message_start",
                "event: content_block_start",
                "event: content_block_delta",
                "event: content_block_delta",
                "event: content_block_stop",
                "event: message_delta",
                "event: message_stop"
            ]
        );
        assert!(String::from_utf8_lossy(&out[5]).contains("\"output_tokens\":2"));
    }
}
