//! Entry points for the fuzz targets in `fuzz/` (not an API; nothing else uses them). Each
//! names the real code a target drives, so no target carries a copy of it. Everything else
//! the targets call is public already (`domain::CronExpr`, `domain::render_prompt`,
//! `http::sse`, `http::router`, `services::UsageWatcher`).

/// The OpenAI Chat Completions stream decoder over raw SSE bytes.
pub use crate::llm::openai::decode as openai_decode;

/// The Anthropic Messages stream decoder over raw SSE bytes.
pub use crate::llm::anthropic::decode as anthropic_decode;
