//! Entry points for the fuzz targets in `fuzz/` (not an API; nothing else uses them). Each
//! names the real code a target drives, so no target carries a copy of it. Everything else
//! the targets call is public already (`domain::CronExpr`, `domain::render_prompt`,
//! `http::sse`, `http::router`, `services::UsageWatcher`).

use crate::llm::EventStream;
use std::time::Duration;

/// How long the decoders wait for a byte here: forever, since the targets' streams never
/// stall and run on a plain executor (with `Duration::MAX` the idle timeout sets no timer,
/// so needs no Tokio runtime).
const IDLE: Duration = Duration::MAX;

/// The OpenAI Chat Completions stream decoder over raw SSE bytes.
pub fn openai_decode(
    bytes: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
) -> EventStream {
    crate::llm::openai::decode(bytes, IDLE)
}

/// The Anthropic Messages stream decoder over raw SSE bytes.
pub fn anthropic_decode(
    bytes: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
) -> EventStream {
    crate::llm::anthropic::decode(bytes, IDLE)
}
