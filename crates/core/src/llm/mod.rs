//! Model providers behind one trait: Anthropic Messages and OpenAI-compatible Chat
//! Completions (OpenAI, Ollama, vLLM), both streamed. Retries with backoff on 429 and 5xx
//! happen here, before the first byte of a reply; a failure after that is the caller's.

mod anthropic;
mod openai;

use crate::services::{LlmConfig, LlmProvider};
use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A tool the model may call.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the input object.
    pub schema: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

/// Provider-neutral conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    User(String),
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    ToolResult {
        call_id: String,
        output: String,
        is_error: bool,
    },
}

#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    TextDelta(String),
    /// A complete tool call (arguments assembled from the stream).
    ToolCall(ToolCall),
    Usage {
        input: u64,
        output: u64,
    },
    /// End of the reply.
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 429 / 5xx / connection trouble: worth retrying.
    #[error("model provider is unavailable: {0}")]
    Retryable(String),
    #[error("model provider error: {0}")]
    Fatal(String),
}

pub type EventStream = BoxStream<'static, Result<ModelEvent, ProviderError>>;

#[async_trait]
pub trait ModelProvider: Send + Sync + 'static {
    /// One model call, streamed.
    async fn stream(&self, req: &ModelRequest) -> Result<EventStream, ProviderError>;
}

/// The configured provider wrapped with retries, or `None` when no LLM is configured.
pub fn from_config(cfg: &LlmConfig, http: reqwest::Client) -> Arc<dyn ModelProvider> {
    let inner: Arc<dyn ModelProvider> = match cfg.provider {
        LlmProvider::OpenAi => Arc::new(openai::OpenAi::new(cfg, http)),
        LlmProvider::Anthropic => Arc::new(anthropic::Anthropic::new(cfg, http)),
    };
    Arc::new(Retrying {
        inner,
        attempts: 3,
        first_backoff: Duration::from_millis(250),
    })
}

/// Retries a call that fails before streaming starts: 250 ms, 500 ms, then gives up.
pub struct Retrying {
    inner: Arc<dyn ModelProvider>,
    attempts: u32,
    first_backoff: Duration,
}

#[async_trait]
impl ModelProvider for Retrying {
    async fn stream(&self, req: &ModelRequest) -> Result<EventStream, ProviderError> {
        let mut delay = self.first_backoff;
        let mut attempt = 1;
        loop {
            match self.inner.stream(req).await {
                Err(ProviderError::Retryable(e)) if attempt < self.attempts => {
                    tracing::warn!(attempt, error = %e, "model call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Classifies a non-2xx provider answer.
fn http_error(status: u16, body: &str) -> ProviderError {
    let detail: String = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["message"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(300).collect());
    let msg = format!("HTTP {status}: {detail}");
    if status == 429 || status >= 500 {
        ProviderError::Retryable(msg)
    } else {
        ProviderError::Fatal(msg)
    }
}

/// Splits an SSE byte stream into `(event, data)` pairs.
pub(crate) fn sse_events(
    bytes: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
) -> BoxStream<'static, Result<(String, String), ProviderError>> {
    use futures::StreamExt;
    let state = (
        Box::pin(bytes),
        String::new(),
        std::collections::VecDeque::new(),
    );
    futures::stream::unfold(state, |(mut bytes, mut buf, mut ready)| async move {
        loop {
            if let Some(ev) = ready.pop_front() {
                return Some((Ok(ev), (bytes, buf, ready)));
            }
            match bytes.next().await {
                Some(Ok(chunk)) => {
                    buf.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buf.find("\n\n") {
                        let block: String = buf.drain(..end + 2).collect();
                        let (mut event, mut data) = (String::new(), Vec::new());
                        for line in block.lines() {
                            if let Some(v) = line.strip_prefix("event:") {
                                event = v.trim().to_owned();
                            } else if let Some(v) = line.strip_prefix("data:") {
                                data.push(v.trim_start().to_owned());
                            }
                        }
                        if !data.is_empty() {
                            ready.push_back((event, data.join("\n")));
                        }
                    }
                }
                Some(Err(e)) => {
                    return Some((
                        Err(ProviderError::Retryable(format!("stream interrupted: {e}"))),
                        (bytes, buf, ready),
                    ))
                }
                None => return None,
            }
        }
    })
    .boxed()
}
