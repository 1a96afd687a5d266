//! Chats with the Operator agent: threads, messages, turns and the event log a turn writes.

use super::Timestamp;
use crate::error::Error;
use crate::ids::{AccountId, ChatId, DeliveryId, MessageId, RunId, TurnId};
use serde::Deserialize;
use serde_json::Value;

/// Chat ids may come from clients (the AI SDK makes its own): 1-64 of `[A-Za-z0-9_-]`.
pub fn parse_chat_id(s: &str) -> Result<ChatId, Error> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(ChatId::from_trusted(s))
    } else {
        Err(Error::invalid(
            "id",
            "must be 1-64 letters, digits, '_' or '-'",
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Chat,
    Automation,
    Webhook,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Automation => "automation",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "automation" => Self::Automation,
            "webhook" => Self::Webhook,
            _ => Self::Chat,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Chat {
    pub id: ChatId,
    pub account_id: AccountId,
    pub title: String,
    pub kind: ChatKind,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub account_id: AccountId,
    /// `user` or `assistant`.
    pub role: String,
    /// AI SDK UIMessage parts: `{"type":"text","text"}`, `{"type":"tool-<name>", ...}`.
    pub parts: Value,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl TurnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Queued,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// What started a turn; its outcome is copied there when the turn ends.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", from = "String")]
pub enum TurnSource {
    Chat,
    Automation(RunId),
    Webhook(DeliveryId),
}

impl From<TurnSource> for String {
    fn from(s: TurnSource) -> String {
        s.encode()
    }
}

impl From<String> for TurnSource {
    fn from(s: String) -> TurnSource {
        TurnSource::decode(&s)
    }
}

impl TurnSource {
    pub fn encode(&self) -> String {
        match self {
            Self::Chat => "chat".into(),
            Self::Automation(r) => format!("automation:{r}"),
            Self::Webhook(d) => format!("webhook:{d}"),
        }
    }

    pub fn decode(s: &str) -> Self {
        match s.split_once(':') {
            Some(("automation", r)) => Self::Automation(RunId::from_trusted(r)),
            Some(("webhook", d)) => Self::Webhook(DeliveryId::from_trusted(d)),
            _ => Self::Chat,
        }
    }
}

/// One user message through the agent, start to finish.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Turn {
    /// Time-ordered: turns of a chat run in id order.
    pub id: TurnId,
    pub chat_id: ChatId,
    pub account_id: AccountId,
    pub status: TurnStatus,
    pub source: TurnSource,
    /// The user message this turn answers.
    pub user_message_id: MessageId,
    /// The id of the assistant message it produces (the stream's `messageId`).
    pub assistant_message_id: MessageId,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// One entry of a chat's event log: an AI SDK UI message stream chunk.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChatEvent {
    /// Increasing per chat: the SSE `id:`.
    pub seq: u64,
    /// The turn that wrote it ([`TurnId::summary`] for the chat's summary).
    pub turn_id: TurnId,
    pub data: Chunk,
}

impl ChatEvent {
    /// The turn's stream ends after this event.
    pub fn is_terminal(&self) -> bool {
        self.data.is_terminal()
    }
}

/// One chunk of the AI SDK UI message stream (protocol v1) that a turn emits, in the order
/// a turn emits them: `start`, then per model call `start-step`, text (`text-start`,
/// `text-delta`..., `text-end`) and tool calls (`tool-input-available`,
/// `tool-output-available`), `finish-step`; last `finish` or `error`. `data-summary` is our
/// custom data chunk for the chat's running summary (logged under no turn).
///
/// The wire form is the JSON of [`Chunk::to_value`]: a JSON object, whose keys serde_json
/// writes in sorted order, as the stream always has.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Chunk {
    #[serde(rename_all = "camelCase")]
    Start {
        /// The assistant message this turn writes.
        message_id: MessageId,
        message_metadata: StartMetadata,
    },
    StartStep,
    TextStart {
        id: String,
    },
    TextDelta {
        id: String,
        delta: String,
    },
    TextEnd {
        id: String,
    },
    /// A tool call; `input` as stored (secret values redacted).
    #[serde(rename_all = "camelCase")]
    ToolInputAvailable {
        tool_call_id: String,
        tool_name: String,
        input: Value,
    },
    #[serde(rename_all = "camelCase")]
    ToolOutputAvailable {
        tool_call_id: String,
        output: Value,
    },
    FinishStep,
    Finish,
    #[serde(rename_all = "camelCase")]
    Error {
        error_text: String,
    },
    DataSummary {
        data: SummaryData,
    },
}

/// `messageMetadata` of `start`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartMetadata {
    pub chat_id: ChatId,
}

/// `data` of `data-summary`: the summary and the key of the newest turn it covers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SummaryData {
    pub text: String,
    pub through: String,
}

impl Chunk {
    /// The chunk as stored and sent.
    pub fn to_value(&self) -> Value {
        // A chunk is a struct of strings and JSON values: serialising it cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A stored chunk; `None` for one this version does not know.
    pub fn from_value(v: &Value) -> Option<Chunk> {
        Chunk::deserialize(v).ok()
    }

    /// The turn's stream ends after this chunk.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Chunk::Finish | Chunk::Error { .. })
    }
}

/// The text of AI SDK message parts: every `{"type": "text"}` part, in order, one per line
/// (a turn's final answer, a stored user message, a request's new input).
pub fn text_of_parts(parts: &[Value]) -> String {
    parts
        .iter()
        .filter(|p| p["type"] == "text")
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}
