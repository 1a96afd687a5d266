//! The LLM gateway: instances call an OpenAI-compatible `/v1/chat/completions` with their
//! instance token; the gateway checks the plan's rolling 6-hour quota, forwards to the
//! configured provider (provider keys never reach an instance), and meters the tokens.

use super::{LlmConfig, LlmProvider, Platform};
use crate::domain::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{AccountId, InstanceId};
use crate::llm::{Message, ModelEvent, ModelRequest, ToolCall, ToolSpec};
use crate::ports::LlmUsage;
use bytes::Bytes;
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::time::Duration;

/// The rolling quota window.
pub const QUOTA_WINDOW_HOURS: i64 = 6;

/// What the gateway hands back: a complete JSON body or a live SSE stream.
pub enum GatewayReply {
    Json { status: u16, body: Value },
    Stream(futures::stream::BoxStream<'static, std::io::Result<Bytes>>),
}

fn llm_unavailable() -> Error {
    Error::Unavailable {
        code: "llm_unavailable",
        message: super::llm_unavailable_message(),
    }
}

/// Reads `usage` from an OpenAI response or stream chunk.
fn openai_usage(v: &Value) -> Option<(u64, u64)> {
    let u = v.get("usage")?;
    Some((
        u["prompt_tokens"].as_u64()?,
        u["completion_tokens"].as_u64()?,
    ))
}

/// The `data:` fields of an SSE body fed as it arrives: whole lines only (a character split
/// across reads stays whole; lines end at LF, CR or CRLF, as SSE allows and as the model
/// client reads them; a CRLF reads as a line and an empty one, which has no data).
#[derive(Debug, Default)]
pub(crate) struct SseData {
    /// Bytes of the line not yet ended.
    pending: Vec<u8>,
}

impl SseData {
    /// Calls `on_data` with each `data:` value (trimmed) of the lines `bytes` completes.
    pub(crate) fn feed(&mut self, bytes: &[u8], mut on_data: impl FnMut(&str)) {
        self.pending.extend_from_slice(bytes);
        while let Some(pos) = self.pending.iter().position(|b| matches!(b, b'\n' | b'\r')) {
            let raw: Vec<u8> = self.pending.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&raw);
            if let Some(data) = line.trim().strip_prefix("data:") {
                on_data(data.trim());
            }
        }
    }
}

/// Watches an OpenAI-compatible SSE body relayed as is for its usage chunk, so the relayed
/// call is metered: it keeps the last `usage` a `data:` line reported.
#[derive(Debug, Default)]
pub struct UsageWatcher {
    lines: SseData,
    usage: Option<(u64, u64)>,
}

impl UsageWatcher {
    /// Reads the lines `bytes` completes.
    pub fn feed(&mut self, bytes: &[u8]) {
        let usage = &mut self.usage;
        self.lines.feed(bytes, |data| {
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                *usage = openai_usage(&v).or(*usage);
            }
        });
    }

    /// (prompt, completion) tokens of the last usage seen.
    pub fn usage(&self) -> Option<(u64, u64)> {
        self.usage
    }
}

impl Platform {
    /// `GET /v1/models` from an instance: the model its calls go to (OpenAI clients ask on
    /// start), with when the instance was created.
    pub async fn gateway_model(&self, bearer: Option<&str>) -> Result<(String, Timestamp)> {
        let instance = self.authenticate_instance(bearer).await?;
        let llm = self.config.llm.as_ref().ok_or_else(llm_unavailable)?;
        Ok((llm.model.clone(), instance.created_at))
    }

    /// `POST /v1/chat/completions` from an instance.
    pub async fn gateway_chat(&self, bearer: Option<&str>, body: &[u8]) -> Result<GatewayReply> {
        let instance = self.authenticate_instance(bearer).await?;
        let llm = self.config.llm.as_ref().ok_or_else(llm_unavailable)?;
        let mut req: Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("body", format!("not valid JSON: {e}")))?;
        if !req.is_object() || !req["messages"].is_array() {
            return Err(Error::invalid(
                "messages",
                "must be an array of chat messages",
            ));
        }

        // Quota: the instance's weighted tokens over the rolling window.
        let account = self.store.get_account(&instance.account_id).await?;
        let limit = account.effective_plan().token_limit;
        let now = self.clock.now();
        let window = chrono::Duration::hours(QUOTA_WINDOW_HOURS);
        let (used, oldest) = self
            .store
            .llm_usage_of_instance(&instance.id, now - window)
            .await?;
        if used >= limit {
            let retry = oldest
                .map(|t| (t + window - now).num_seconds().max(1) as u64)
                .unwrap_or(60);
            return Err(Error::QuotaExceeded {
                message: format!(
                    "instance {} used {used} of {limit} tokens in the last {QUOTA_WINDOW_HOURS} hours (input + 5 x output)",
                    instance.id
                ),
                retry_after_secs: retry,
            });
        }

        if req["model"].as_str().is_none_or(str::is_empty) {
            req["model"] = json!(llm.model);
        }
        let stream = req["stream"].as_bool().unwrap_or(false);
        let meter = Meter::new(self, &instance.account_id, &instance.id, now);
        match llm.provider {
            LlmProvider::OpenAi => self.forward_openai(llm, req, stream, meter).await,
            // Any other provider: translate through the provider-neutral model interface.
            LlmProvider::Anthropic => self.forward_translated(req, stream, meter).await,
        }
    }

    async fn forward_openai(
        &self,
        llm: &LlmConfig,
        mut req: Value,
        stream: bool,
        meter: Meter,
    ) -> Result<GatewayReply> {
        if stream {
            req["stream_options"] = json!({"include_usage": true});
        }
        let url = format!("{}/chat/completions", llm.base_url.trim_end_matches('/'));
        let mut rb = self
            .http
            .post(url)
            .json(&req)
            .timeout(Duration::from_secs(600));
        if let Some(k) = &llm.api_key {
            rb = rb.bearer_auth(k.expose_secret());
        }
        let res = rb
            .send()
            .await
            .map_err(|e| Error::BadGateway(format!("model provider unreachable: {e}")))?;
        let status = res.status().as_u16();
        if !stream || status >= 400 {
            let body: Value = res.json().await.unwrap_or_else(|_| {
                json!({"error": {"code": "bad_gateway", "message": "model provider sent a non-JSON reply"}})
            });
            if let Some((i, o)) = openai_usage(&body) {
                meter.record(i, o).await;
            }
            return Ok(GatewayReply::Json { status, body });
        }
        // Relay the SSE bytes as they come, watching for the usage chunk.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(32);
        let mut upstream = res.bytes_stream();
        let idle = llm.idle_timeout;
        tokio::spawn(async move {
            let mut watcher = UsageWatcher::default();
            loop {
                // A provider that goes quiet mid-stream ends the relay after the idle timeout
                // (OPERATOR_LLM_IDLE_TIMEOUT_SECS), as the agent's own calls do.
                let Ok(next) = tokio::time::timeout(idle, upstream.next()).await else {
                    let quiet = format!("model provider sent nothing for {} s", idle.as_secs());
                    let _ = tx.send(Err(std::io::Error::other(quiet))).await;
                    break;
                };
                let Some(chunk) = next else { break };
                match chunk {
                    Ok(bytes) => {
                        watcher.feed(&bytes);
                        if tx.send(Ok(bytes)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        break;
                    }
                }
            }
            if let Some((i, o)) = watcher.usage() {
                meter.record(i, o).await;
            }
        });
        let s =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Ok(GatewayReply::Stream(s.boxed()))
    }
}

/// OpenAI Chat Completions request → provider-neutral request.
fn neutral_request(req: &Value, default_model: &str) -> Result<ModelRequest> {
    let text_of = |c: &Value| -> String {
        match c {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    };
    let mut system = vec![];
    let mut messages = vec![];
    for m in req["messages"].as_array().into_iter().flatten() {
        match m["role"].as_str().unwrap_or_default() {
            "system" | "developer" => system.push(text_of(&m["content"])),
            "user" => messages.push(Message::User(text_of(&m["content"]))),
            "assistant" => {
                let tool_calls = m["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| ToolCall {
                        id: c["id"].as_str().unwrap_or_default().to_owned(),
                        name: c["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        input: c["function"]["arguments"]
                            .as_str()
                            .and_then(|a| serde_json::from_str(a).ok())
                            .unwrap_or(json!({})),
                    })
                    .collect();
                messages.push(Message::Assistant {
                    text: text_of(&m["content"]),
                    tool_calls,
                });
            }
            "tool" => messages.push(Message::ToolResult {
                call_id: m["tool_call_id"].as_str().unwrap_or_default().to_owned(),
                output: text_of(&m["content"]),
                is_error: false,
            }),
            other => {
                return Err(Error::invalid(
                    "messages",
                    format!("unsupported role {other:?}"),
                ))
            }
        }
    }
    let tools = req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| ToolSpec {
            name: t["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            description: t["function"]["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            schema: t["function"]["parameters"].clone(),
        })
        .collect();
    let max_tokens = req["max_completion_tokens"]
        .as_u64()
        .or_else(|| req["max_tokens"].as_u64())
        .unwrap_or(4096)
        .min(u64::from(u32::MAX)) as u32;
    Ok(ModelRequest {
        model: req["model"]
            .as_str()
            .filter(|m| !m.is_empty())
            .unwrap_or(default_model)
            .to_owned(),
        system: system.join("\n\n"),
        messages,
        tools: crate::llm::Tools::new(tools),
        max_tokens,
    })
}

fn openai_chunk(model: &str, delta: Value, finish: Value) -> Bytes {
    let v = json!({"id": "chatcmpl-gateway", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(format!("data: {v}\n\n"))
}

impl Platform {
    async fn forward_translated(
        &self,
        req: Value,
        stream: bool,
        meter: Meter,
    ) -> Result<GatewayReply> {
        let llm = self.llm.clone().ok_or_else(llm_unavailable)?;
        let default_model = self
            .config
            .llm
            .as_ref()
            .map(|c| c.model.clone())
            .unwrap_or_default();
        let request = neutral_request(&req, &default_model)?;
        let model = request.model.clone();
        let mut events = match llm.stream(&request).await {
            Ok(e) => e,
            Err(e) => {
                return Ok(GatewayReply::Json {
                    status: 502,
                    body: json!({"error": {"code": "bad_gateway", "message": e.to_string()}}),
                })
            }
        };
        if !stream {
            let (mut text, mut calls, mut usage) = (String::new(), vec![], (0, 0));
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ModelEvent::TextDelta(d)) => text.push_str(&d),
                    Ok(ModelEvent::ToolCall(c)) => calls.push(c),
                    Ok(ModelEvent::Usage { input, output }) => usage = (input, output),
                    Ok(ModelEvent::Done) => break,
                    Err(e) => {
                        return Ok(GatewayReply::Json {
                            status: 502,
                            body: json!({"error": {"code": "bad_gateway", "message": e.to_string()}}),
                        })
                    }
                }
            }
            meter.record(usage.0, usage.1).await;
            let mut message = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
            if !calls.is_empty() {
                message["tool_calls"] = calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.input.to_string()}}))
                    .collect();
            }
            let finish = if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            return Ok(GatewayReply::Json {
                status: 200,
                body: json!({"id": "chatcmpl-gateway", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}}),
            });
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(32);
        tokio::spawn(async move {
            let _ = tx
                .send(Ok(openai_chunk(
                    &model,
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                )))
                .await;
            let (mut calls, mut usage) = (0usize, (0, 0));
            while let Some(ev) = events.next().await {
                let chunk = match ev {
                    Ok(ModelEvent::TextDelta(d)) => {
                        openai_chunk(&model, json!({"content": d}), Value::Null)
                    }
                    Ok(ModelEvent::ToolCall(c)) => {
                        calls += 1;
                        openai_chunk(
                            &model,
                            json!({"tool_calls": [{"index": calls - 1, "id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": c.input.to_string()}}]}),
                            Value::Null,
                        )
                    }
                    Ok(ModelEvent::Usage { input, output }) => {
                        usage = (input, output);
                        continue;
                    }
                    Ok(ModelEvent::Done) => break,
                    Err(e) => {
                        let v = json!({"error": {"code": "bad_gateway", "message": e.to_string()}});
                        let _ = tx.send(Ok(Bytes::from(format!("data: {v}\n\n")))).await;
                        break;
                    }
                };
                if tx.send(Ok(chunk)).await.is_err() {
                    break;
                }
            }
            let finish = if calls == 0 { "stop" } else { "tool_calls" };
            let _ = tx
                .send(Ok(openai_chunk(&model, json!({}), json!(finish))))
                .await;
            let u = json!({"id": "chatcmpl-gateway", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
                "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1}});
            let _ = tx
                .send(Ok(Bytes::from(format!("data: {u}\n\ndata: [DONE]\n\n"))))
                .await;
            meter.record(usage.0, usage.1).await;
        });
        let s =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Ok(GatewayReply::Stream(s.boxed()))
    }
}

/// One model call metered to an instance: the gateway's own, and those the platform makes on
/// an instance's behalf (an experiment's judge grading it, an evolve's mutation of it), so all
/// show in billing and count against the instance's token limit.
pub(crate) struct Meter {
    platform: Platform,
    usage: LlmUsage,
}

impl Meter {
    pub(crate) fn new(
        platform: &Platform,
        account: &AccountId,
        instance: &InstanceId,
        at: Timestamp,
    ) -> Self {
        Self {
            platform: platform.clone(),
            usage: LlmUsage {
                account_id: account.clone(),
                instance_id: instance.clone(),
                input_tokens: 0,
                output_tokens: 0,
                at,
            },
        }
    }

    pub(crate) async fn record(mut self, input: u64, output: u64) {
        self.usage.input_tokens = input;
        self.usage.output_tokens = output;
        if let Err(e) = self.platform.store.record_llm_usage(&self.usage).await {
            tracing::error!(error = %e, "could not record LLM usage");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UsageWatcher;

    #[test]
    fn usage_is_seen_whatever_the_line_endings_and_reads() {
        // Found by the provider_stream fuzz target: with CR line endings (which SSE allows
        // and the model client reads) the relayed call was not metered at all.
        for eol in ["\n", "\r\n", "\r"] {
            let body = format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"hi\"}}}}]}}{eol}{eol}\
                 data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":5}}}}{eol}{eol}\
                 data: [DONE]{eol}{eol}"
            );
            // GIVEN the body in one read, and byte by byte
            let mut whole = UsageWatcher::default();
            whole.feed(body.as_bytes());
            let mut bytewise = UsageWatcher::default();
            for b in body.as_bytes() {
                bytewise.feed(std::slice::from_ref(b));
            }
            // THEN both see the usage
            assert_eq!(whole.usage(), Some((12, 5)), "{eol:?}");
            assert_eq!(bytewise.usage(), Some((12, 5)), "{eol:?}");
        }
    }
}
