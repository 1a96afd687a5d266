//! Model providers behind one trait: Anthropic Messages and OpenAI-compatible Chat
//! Completions (OpenAI, Ollama, vLLM), both streamed. Retries on 429, 5xx and connection
//! trouble happen here, before the first byte of a reply, honouring the provider's
//! `Retry-After` with capped exponential backoff and jitter ([`RetryPolicy`]); a failure after
//! that is the caller's.
//!
//! Streams are parsed over bytes by `eventsource-stream` (UTF-8 split across reads; LF, CR
//! and CRLF line endings and a byte-order mark with [`eventsource_safe`]). A reply stream is complete only with its provider's end marker
//! (`data: [DONE]` or a `finish_reason` for OpenAI, `message_stop` for Anthropic): a stream
//! that stops before it yields an error, never a quietly empty [`ModelEvent::Done`]. A
//! provider silent for longer than [`LlmConfig::idle_timeout`] fails the call the same way:
//! before its answer starts (retried like connection trouble) or in the middle of it.

pub(crate) mod anthropic;
mod config;
pub(crate) mod openai;

use async_trait::async_trait;
pub use config::{ContextBudget, LlmConfig, LlmProvider, DEFAULT_IDLE_TIMEOUT};
use futures::stream::BoxStream;
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A tool the model may call.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the input object.
    pub schema: Value,
}

/// The tools offered in requests: shared by every request that offers them (the agent's
/// catalogue is built once) and put in each provider's wire form once, since the schemas are
/// most of a request's bytes.
#[derive(Debug, Default)]
pub struct Tools {
    specs: Vec<ToolSpec>,
    openai: OnceLock<Box<RawValue>>,
    anthropic: OnceLock<Box<RawValue>>,
}

impl Tools {
    pub fn new(specs: Vec<ToolSpec>) -> Arc<Self> {
        Arc::new(Self {
            specs,
            ..Self::default()
        })
    }

    /// The tools in a provider's wire form, as `to_wire` writes one of them (computed once).
    fn wire<'a>(
        &'a self,
        cell: &'a OnceLock<Box<RawValue>>,
        to_wire: impl Fn(&ToolSpec) -> Value,
    ) -> &'a RawValue {
        cell.get_or_init(|| {
            let all: Vec<Value> = self.specs.iter().map(to_wire).collect();
            // A list of Values always serialises.
            serde_json::value::to_raw_value(&all).unwrap_or_else(|_| RawValue::NULL.to_owned())
        })
    }
}

impl std::ops::Deref for Tools {
    type Target = [ToolSpec];

    fn deref(&self) -> &[ToolSpec] {
        &self.specs
    }
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
    pub tools: Arc<Tools>,
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
    /// 429 / 5xx with a `Retry-After`: worth retrying once that time has passed.
    #[error("model provider is unavailable: {message}")]
    Throttled {
        message: String,
        retry_after: Duration,
    },
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
        policy: RetryPolicy::DEFAULT,
    })
}

/// How a call that fails before streaming starts is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Calls in all, the first one included.
    pub attempts: u32,
    /// The backoff before the first retry; it doubles with each further retry.
    pub base: Duration,
    /// No single wait is longer than this. A provider that asks for a longer wait
    /// (`Retry-After`) is not retried early: the call fails with its `Throttled` error.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Five calls; backoff 0.5 s, 1 s, 2 s, 4 s (with jitter) unless the provider names its
    /// own wait; any one wait at most 30 s, so a call gives up within about two minutes.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        attempts: 5,
        base: Duration::from_millis(500),
        max_delay: Duration::from_secs(30),
    };

    /// The wait before retry number `retry` (1 for the first). Exponential backoff with
    /// "equal jitter" (half the step fixed, half scaled by `jitter` in `[0, 1)`), raised to
    /// the provider's `Retry-After` when it gave one, and never above `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let step = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        let backoff = step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        retry_after
            .map_or(backoff, |ra| ra.max(backoff))
            .min(self.max_delay)
    }
}

/// Retries a call that fails before streaming starts, per its [`RetryPolicy`].
pub struct Retrying {
    inner: Arc<dyn ModelProvider>,
    policy: RetryPolicy,
}

impl Retrying {
    pub fn new(inner: Arc<dyn ModelProvider>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }
}

#[async_trait]
impl ModelProvider for Retrying {
    async fn stream(&self, req: &ModelRequest) -> Result<EventStream, ProviderError> {
        let mut attempt = 1;
        loop {
            let retry_after = match self.inner.stream(req).await {
                Err(ProviderError::Retryable(e)) if attempt < self.policy.attempts => {
                    tracing::warn!(attempt, error = %e, "model call failed; retrying");
                    None
                }
                Err(ProviderError::Throttled {
                    message,
                    retry_after,
                }) if attempt < self.policy.attempts && retry_after <= self.policy.max_delay => {
                    tracing::warn!(attempt, error = %message, ?retry_after, "model provider asked to wait; retrying");
                    Some(retry_after)
                }
                other => return other,
            };
            let delay = self
                .policy
                .delay(attempt, retry_after, rand::random::<f64>());
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// The provider's `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // Any number a provider sends is a wait or nothing, never a panic: negative or not a
    // number is nothing, one too large for a `Duration` is the longest one.
    let wait = |secs: f64| {
        (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
    };
    if let Some(d) = header("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|ms| wait(ms / 1000.0))
    {
        return Some(d);
    }
    let v = header("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return wait(secs);
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Classifies a non-2xx provider answer; `retry_after` is what its headers asked for.
fn http_error(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let detail: String = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["message"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(300).collect());
    let message = format!("HTTP {status}: {detail}");
    match retry_after {
        Some(retry_after) if status == 429 || status >= 500 => ProviderError::Throttled {
            message,
            retry_after,
        },
        _ if status == 429 || status >= 500 => ProviderError::Retryable(message),
        _ => ProviderError::Fatal(message),
    }
}

/// Reads a non-2xx answer into a [`ProviderError`].
async fn error_from(res: reqwest::Response) -> ProviderError {
    let status = res.status().as_u16();
    let wait = retry_after(res.headers());
    let text = res.text().await.unwrap_or_default();
    http_error(status, wait, &text)
}

/// Sends a model request, waiting at most `idle` for the head of its answer. Any failure
/// here, a silent provider included, is worth retrying.
pub(crate) async fn send_within(
    rb: reqwest::RequestBuilder,
    idle: Duration,
) -> Result<reqwest::Response, ProviderError> {
    match tokio::time::timeout(idle, rb.send()).await {
        Ok(Ok(res)) => Ok(res),
        Ok(Err(e)) => Err(ProviderError::Retryable(e.to_string())),
        Err(_) => Err(ProviderError::Retryable(silence(idle))),
    }
}

/// Sends a model request (`rb` with the provider's URL, body and credentials) and decodes
/// its streamed answer with the provider's `decode`; an error status is the provider's
/// error. The part of a call both providers share.
pub(crate) async fn stream_reply(
    rb: reqwest::RequestBuilder,
    idle: Duration,
    decode: fn(BoxStream<'static, reqwest::Result<bytes::Bytes>>, Duration) -> EventStream,
) -> Result<EventStream, ProviderError> {
    use futures::StreamExt;
    let res = send_within(rb.timeout(Duration::from_secs(600)), idle).await?;
    if res.status().as_u16() >= 300 {
        return Err(error_from(res).await);
    }
    Ok(decode(res.bytes_stream().boxed(), idle))
}

fn silence(idle: Duration) -> String {
    format!(
        "the model sent nothing for {} s (OPERATOR_LLM_IDLE_TIMEOUT_SECS)",
        idle.as_secs_f64()
    )
}

/// Parses an SSE byte stream into `(event, data)` pairs with `eventsource-stream`, which
/// decodes UTF-8 across chunk boundaries and accepts every line ending SSE allows (LF, CR
/// and CRLF). A transport failure, or no byte for `idle`, is retryable; bytes that are not
/// SSE are fatal. Nothing is read after the first failure.
pub(crate) fn sse_events(
    bytes: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    idle: Duration,
) -> BoxStream<'static, Result<(String, String), ProviderError>> {
    use eventsource_stream::{EventStreamError, Eventsource};
    use futures::StreamExt;
    let watched = futures::stream::unfold(Some(bytes.boxed()), move |bytes| async move {
        let mut bytes = bytes?;
        match tokio::time::timeout(idle, bytes.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(bytes))),
            Ok(Some(Err(e))) => Some((Err(e.to_string()), None)),
            Ok(None) => None,
            Err(_) => Some((Err(silence(idle)), None)),
        }
    });
    eventsource_safe(watched)
        .eventsource()
        .map(|r| match r {
            Ok(ev) => Ok((ev.event, ev.data)),
            Err(EventStreamError::Transport(e)) => {
                Err(ProviderError::Retryable(format!("stream interrupted: {e}")))
            }
            Err(e) => Err(ProviderError::Fatal(format!(
                "the model's stream is not valid server-sent events: {e}"
            ))),
        })
        .boxed()
}

/// The bytes of an SSE stream, prepared for `eventsource-stream` 0.2.3, which misreads two
/// things the standard allows (both found by the `provider_stream` fuzz target). Every
/// stream read with it goes through here: the providers', the CLI's chat.
///
/// - A leading byte-order mark: the parser skips U+FEFF by slicing one byte off a
///   three-byte character, and panics (jpopesculian/eventsource-stream#10, not merged).
///   The mark is removed here, as the standard says (one, at the very start, even split
///   across reads), and the stream handed on starts with a line break: an empty line,
///   which dispatches nothing and keeps the parser's own check off what follows (a second
///   U+FEFF is then, as the standard wants, part of the first field's name).
/// - A CR as the stream's last byte: the parser waits for a LF that could follow, so with
///   CR line endings the last event (Anthropic's `message_stop`) was never read. A LF is
///   added after it at the end, which makes it the CRLF it may have been.
pub fn eventsource_safe<B, E>(
    bytes: impl futures::Stream<Item = Result<B, E>> + Send + 'static,
) -> impl futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static
where
    B: Into<bytes::Bytes> + Send + 'static,
    E: Send + 'static,
{
    use futures::StreamExt;
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let first = futures::stream::once(async { Ok(bytes::Bytes::from_static(b"\n")) });
    let state = Input {
        bytes: bytes.map(|r| r.map(Into::into)).boxed().fuse(),
        head: Some(Vec::new()),
        last: None,
    };
    let rest = futures::stream::unfold(state, |mut s| async move {
        loop {
            let item = match s.bytes.next().await {
                None => {
                    let mut tail = s.head.take().unwrap_or_default();
                    if tail.last().or(s.last.as_ref()) == Some(&b'\r') {
                        tail.push(b'\n');
                    }
                    s.last = Some(b'\n');
                    return (!tail.is_empty()).then(|| (Ok(bytes::Bytes::from(tail)), s));
                }
                Some(Err(e)) => Err(e),
                Some(Ok(b)) => match s.head.as_mut() {
                    None => Ok(b),
                    Some(pending) => {
                        pending.extend_from_slice(&b);
                        if pending.len() < BOM.len() && BOM.starts_with(pending) {
                            continue;
                        }
                        let pending = s.head.take().unwrap_or_default();
                        let rest = pending.strip_prefix(BOM).unwrap_or(&pending);
                        Ok(bytes::Bytes::copy_from_slice(rest))
                    }
                },
            };
            if let Ok(b) = &item {
                if let Some(l) = b.last() {
                    s.last = Some(*l);
                }
            }
            return Some((item, s));
        }
    });
    first.chain(rest)
}

/// The state of [`eventsource_safe`].
struct Input<E> {
    bytes: futures::stream::Fuse<BoxStream<'static, Result<bytes::Bytes, E>>>,
    /// The bytes read while they could still be the byte-order mark; `None` once settled.
    head: Option<Vec<u8>>,
    /// The last byte handed on.
    last: Option<u8>,
}

#[cfg(test)]
mod tests;
