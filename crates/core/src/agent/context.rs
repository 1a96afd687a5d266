//! Bounded model context. A chat (and an automation's or webhook's one thread) grows without
//! end, but every model request carries only: the system prompt, a maintained summary of
//! older turns, and the most recent earlier turns within a token budget, with oversized tool
//! outputs cut and marked.
//!
//! When the earlier turns not yet in the summary pass `history_tokens`, the oldest of them
//! are folded into the summary by a separate model call (previous summary + those turns, in
//! batches of at most `history_tokens`), until the newest turns that remain fit in half the
//! budget: the other half is room to grow before the next fold, so a summary is not written
//! on every turn. The summary is appended to the chat's event log as a `data-summary` chunk
//! under the pseudo turn id [`TurnId::summary`] (no turn's stream shows it), so it survives
//! restarts and lives in whichever store backs the chat. It is written from the same
//! history the model sees, where secret values are already redacted, and the summariser is
//! told never to write one.
//!
//! Tokens are estimated, not counted: a quarter of the characters (rounded up) plus 4 per
//! message. Budgets come from `OPERATOR_AGENT_HISTORY_TOKENS` and
//! `OPERATOR_AGENT_TOOL_OUTPUT_TOKENS` ([`ContextBudget::from_env`]).

use crate::domain::{ChatEvent, ChatMessage, Chunk, SummaryData};
use crate::ids::TurnId;
use crate::llm::{Message, ModelRequest};

/// The summariser's reply limit, and (in characters) the most of it that is kept.
const SUMMARY_MAX_TOKENS: u32 = 1024;
const SUMMARY_MAX_CHARS: usize = 6000;
/// Estimated tokens a message costs besides its text (role, framing).
const MESSAGE_OVERHEAD: u64 = 4;

/// Defined with the model settings (`llm`), which carry it; re-exported where it is used.
pub use crate::llm::ContextBudget;

/// A quarter of the characters, rounded up.
pub fn estimate_tokens(s: &str) -> u64 {
    (s.chars().count() as u64).div_ceil(4)
}

/// The estimated cost of one message in a request.
pub fn message_tokens(m: &Message) -> u64 {
    MESSAGE_OVERHEAD
        + match m {
            Message::User(t) => estimate_tokens(t),
            Message::Assistant { text, tool_calls } => {
                estimate_tokens(text)
                    + tool_calls
                        .iter()
                        .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.input.to_string()))
                        .sum::<u64>()
            }
            Message::ToolResult { output, .. } => estimate_tokens(output),
        }
}

/// `output` cut to about `max_tokens`, with a marker saying how much was left out.
pub fn truncate_output(output: String, max_tokens: u64) -> String {
    let max_chars = usize::try_from(max_tokens.saturating_mul(4)).unwrap_or(usize::MAX);
    let total = output.chars().count();
    if total <= max_chars {
        return output;
    }
    let cut: String = output.chars().take(max_chars).collect();
    format!(
        "{cut}\n[truncated: {} more characters not shown]",
        total - max_chars
    )
}

/// One earlier turn (a user message and the assistant's answer) in model form.
#[derive(Debug, Clone, PartialEq)]
pub struct PastTurn {
    /// The turn's id without `turn_` (its messages are `msg_u<key>` and `msg_a<key>`);
    /// time-ordered.
    pub key: String,
    pub messages: Vec<Message>,
    pub tokens: u64,
}

/// Groups stored messages (in conversation order) into turns, in model form, each tool
/// output cut to the budget.
pub fn past_turns(messages: &[ChatMessage], budget: &ContextBudget) -> Vec<PastTurn> {
    let mut out: Vec<PastTurn> = vec![];
    for m in messages {
        let key = m.id.turn_body().unwrap_or_default().to_owned();
        let converted: Vec<Message> = super::replay::history(std::slice::from_ref(m))
            .into_iter()
            .map(|msg| match msg {
                Message::ToolResult {
                    call_id,
                    output,
                    is_error,
                } => Message::ToolResult {
                    call_id,
                    output: truncate_output(output, budget.tool_output_tokens),
                    is_error,
                },
                other => other,
            })
            .collect();
        let tokens: u64 = converted.iter().map(message_tokens).sum();
        match out.last_mut() {
            Some(last) if last.key == key => {
                last.messages.extend(converted);
                last.tokens += tokens;
            }
            _ => out.push(PastTurn {
                key,
                messages: converted,
                tokens,
            }),
        }
    }
    out
}

/// The running summary of a chat's older turns.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub text: String,
    /// Key of the newest turn it covers: turns up to this one are not sent verbatim.
    pub through: String,
}

impl Summary {
    /// The chunk that stores it.
    pub fn to_event(&self) -> Chunk {
        Chunk::DataSummary {
            data: SummaryData {
                text: self.text.clone(),
                through: self.through.clone(),
            },
        }
    }

    /// The newest summary in a chat's log.
    pub fn latest(events: &[ChatEvent]) -> Option<Summary> {
        events.iter().rev().find_map(Self::of_event)
    }

    /// The summary an event of the log holds, if it is one.
    pub fn of_event(e: &ChatEvent) -> Option<Summary> {
        match &e.data {
            Chunk::DataSummary { data } if e.turn_id == TurnId::summary() => Some(Summary {
                text: data.text.clone(),
                through: data.through.clone(),
            }),
            _ => None,
        }
    }
}

/// Which earlier turns are folded into the summary before this request, and which are
/// sent as they are.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Oldest first, in batches of at most the history budget (at least one turn each).
    pub fold: Vec<Vec<PastTurn>>,
    /// The newest turns, sent verbatim.
    pub keep: Vec<PastTurn>,
}

/// Plans the request's history from the turns after the summary (oldest first).
pub fn plan(turns: Vec<PastTurn>, budget: &ContextBudget) -> Plan {
    let total: u64 = turns.iter().map(|t| t.tokens).sum();
    if total <= budget.history_tokens {
        return Plan {
            fold: vec![],
            keep: turns,
        };
    }
    // Keep the newest turns that fit in half the budget; fold the rest.
    let half = budget.history_tokens / 2;
    let mut kept_tokens = 0;
    let mut split = turns.len();
    while split > 0 && kept_tokens + turns[split - 1].tokens <= half {
        kept_tokens += turns[split - 1].tokens;
        split -= 1;
    }
    let mut turns = turns;
    let keep = turns.split_off(split);
    Plan {
        fold: batches(turns, budget.history_tokens),
        keep,
    }
}

/// The newest turns within the whole budget (what is sent when a summary cannot be made).
pub fn newest_within(turns: Vec<PastTurn>, max_tokens: u64) -> Vec<PastTurn> {
    let mut used = 0;
    let mut split = turns.len();
    while split > 0 && used + turns[split - 1].tokens <= max_tokens {
        used += turns[split - 1].tokens;
        split -= 1;
    }
    let mut turns = turns;
    turns.split_off(split)
}

fn batches(turns: Vec<PastTurn>, max_tokens: u64) -> Vec<Vec<PastTurn>> {
    let mut out: Vec<Vec<PastTurn>> = vec![];
    let mut used = 0;
    for t in turns {
        match out.last_mut() {
            Some(b) if used + t.tokens <= max_tokens => {
                used += t.tokens;
                b.push(t);
            }
            _ => {
                used = t.tokens;
                out.push(vec![t]);
            }
        }
    }
    out
}

/// The system prompt with the summary of older turns appended.
pub fn system_with_summary(system: String, summary: Option<&Summary>) -> String {
    match summary {
        Some(s) => format!(
            "{system}\n\n# Earlier in this conversation (a summary of older turns)\n{}",
            s.text
        ),
        None => system,
    }
}

const SUMMARISER: &str = "You keep the running summary of a conversation between a user and \
the Operator agent of an agent-operations platform. Rewrite the summary so it also covers the \
new part of the transcript. Keep what later turns may need: names and ids of instances, \
automations, webhooks and secrets, what was done and with what result, decisions, open \
requests, errors and their causes. Never write a secret value, API key, token or password: \
where the transcript shows [redacted], keep it redacted. At most 300 words. Answer with the \
summary text only.";

/// The summarisation call: the previous summary and the turns to fold in, as a transcript.
pub fn summary_request(
    model: String,
    previous: Option<&Summary>,
    batch: &[PastTurn],
    budget: &ContextBudget,
) -> ModelRequest {
    let mut transcript = String::new();
    for m in batch.iter().flat_map(|t| &t.messages) {
        let line = match m {
            Message::User(t) => format!("User: {t}"),
            Message::Assistant { text, tool_calls } => {
                let mut s = String::new();
                if !text.is_empty() {
                    s.push_str(&format!("Assistant: {text}"));
                }
                for c in tool_calls {
                    if !s.is_empty() {
                        s.push('\n');
                    }
                    s.push_str(&format!("Assistant called {} with {}", c.name, c.input));
                }
                s
            }
            Message::ToolResult {
                output, is_error, ..
            } => format!(
                "Tool {}: {output}",
                if *is_error { "error" } else { "result" }
            ),
        };
        // Each message cut like a tool output, so one huge message cannot make every
        // summarisation fail (and be retried on every later turn).
        transcript.push_str(&truncate_output(line, budget.tool_output_tokens));
        transcript.push('\n');
    }
    let previous = previous.map_or("(none yet)", |s| s.text.as_str());
    ModelRequest {
        model,
        system: SUMMARISER.to_owned(),
        messages: vec![Message::User(format!(
            "Summary so far:\n{previous}\n\nNew part of the transcript:\n{transcript}"
        ))],
        tools: Default::default(),
        max_tokens: SUMMARY_MAX_TOKENS,
    }
}

/// The summariser's answer as stored: trimmed, and cut if it ran long.
pub fn summary_text(reply: &str) -> Option<String> {
    let t = reply.trim();
    if t.is_empty() {
        return None;
    }
    Some(t.chars().take(SUMMARY_MAX_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, ChatId};
    use crate::llm::ToolCall;
    use serde_json::{json, Value};

    fn msg(id: &str, role: &str, parts: Value) -> ChatMessage {
        ChatMessage {
            id: crate::ids::MessageId::from_trusted(id),
            chat_id: ChatId::from_trusted("chat_1"),
            account_id: AccountId::from_trusted("acct_1"),
            role: role.into(),
            parts,
            created_at: chrono::Utc::now(),
        }
    }

    fn turn(key: &str, tokens: u64) -> PastTurn {
        PastTurn {
            key: key.into(),
            messages: vec![Message::User(key.into())],
            tokens,
        }
    }

    #[test]
    fn a_long_tool_output_is_cut_with_a_marker_and_turns_are_grouped() {
        // GIVEN two stored turns, the second with a tool output of 50 000 characters
        let big = "x".repeat(50_000);
        let messages = vec![
            msg(
                "msg_u01",
                "user",
                json!([{"type": "text", "text": "hello"}]),
            ),
            msg(
                "msg_a01",
                "assistant",
                json!([{"type": "text", "text": "hi"}]),
            ),
            msg("msg_u02", "user", json!([{"type": "text", "text": "list"}])),
            msg(
                "msg_a02",
                "assistant",
                json!([{"type": "tool-list_instances", "toolCallId": "c1", "input": {}, "output": {"data": big}},
                       {"type": "text", "text": "done"}]),
            ),
        ];
        let budget = ContextBudget {
            history_tokens: 1000,
            tool_output_tokens: 100,
        };
        // WHEN they are read as past turns
        let turns = past_turns(&messages, &budget);
        // THEN there are two turns, and the tool output is at most 400 characters plus a marker
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].key, "01");
        let out = turns[1]
            .messages
            .iter()
            .find_map(|m| match m {
                Message::ToolResult { output, .. } => Some(output.clone()),
                _ => None,
            })
            .unwrap();
        assert!(out.len() < 500, "{}", out.len());
        assert!(out.contains("[truncated: "), "{out}");
        assert!(turns[1].tokens < 200, "{}", turns[1].tokens);
    }

    #[test]
    fn under_the_budget_nothing_is_folded_over_it_the_newest_half_is_kept() {
        let budget = ContextBudget {
            history_tokens: 100,
            tool_output_tokens: 10,
        };
        let small: Vec<_> = (0..5).map(|i| turn(&format!("{i:02}"), 20)).collect();
        assert_eq!(
            plan(small.clone(), &budget),
            Plan {
                fold: vec![],
                keep: small
            }
        );
        // 8 turns of 20 = 160 > 100: keep the newest 2 (40 <= 50), fold 6 in batches <= 100
        let many: Vec<_> = (0..8).map(|i| turn(&format!("{i:02}"), 20)).collect();
        let p = plan(many, &budget);
        assert_eq!(
            p.keep.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
            ["06", "07"]
        );
        assert_eq!(p.fold.iter().map(Vec::len).collect::<Vec<_>>(), [5, 1]);
        // a single turn bigger than the budget is folded alone
        let p = plan(vec![turn("a", 500), turn("b", 10)], &budget);
        assert_eq!(p.fold.len(), 1);
        assert_eq!(p.keep[0].key, "b");
    }

    #[test]
    fn the_summary_request_carries_redacted_inputs_and_the_previous_summary() {
        let batch = vec![PastTurn {
            key: "01".into(),
            messages: vec![
                Message::User("store my key".into()),
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "create_secret".into(),
                        input: json!({"name": "K", "value": crate::agent::tools::REDACTED}),
                    }],
                },
                Message::ToolResult {
                    call_id: "c1".into(),
                    output: "{\"name\":\"K\"}".into(),
                    is_error: false,
                },
            ],
            tokens: 30,
        }];
        let prev = Summary {
            text: "Earlier: made instance alpha.".into(),
            through: "00".into(),
        };
        let budget = ContextBudget::default();
        let req = summary_request("m".into(), Some(&prev), &batch, &budget);
        assert!(req.tools.is_empty());
        assert!(req.system.contains("Never write a secret value"));
        let Message::User(body) = &req.messages[0] else {
            panic!("one user message")
        };
        assert!(body.contains("Earlier: made instance alpha."));
        assert!(body.contains("create_secret"));
        assert!(body.contains("[redacted]"));
    }

    #[test]
    fn a_huge_message_reaches_the_summariser_cut_to_the_budget() {
        // GIVEN an earlier turn whose user message is far over any context window
        let huge = "x".repeat(1_000_000);
        let batch = vec![PastTurn {
            key: "01".into(),
            messages: vec![
                Message::User(huge),
                Message::Assistant {
                    text: "ok".into(),
                    tool_calls: vec![],
                },
            ],
            tokens: 250_000,
        }];
        let budget = ContextBudget {
            history_tokens: 16_000,
            tool_output_tokens: 2_000,
        };
        // WHEN it is summarised THEN the request stays within a few budgets, with a marker
        let req = summary_request("m".into(), None, &batch, &budget);
        let Message::User(body) = &req.messages[0] else {
            panic!("one user message")
        };
        assert!(body.len() < 10_000, "{}", body.len());
        assert!(body.contains("[truncated: "));
        assert!(body.contains("Assistant: ok"));
    }

    #[test]
    fn the_latest_summary_event_wins() {
        let ev = |seq, turn: TurnId, data: Chunk| ChatEvent {
            seq,
            turn_id: turn,
            data,
        };
        let turn = || TurnId::from_trusted("turn_06");
        let a = Summary {
            text: "a".into(),
            through: "01".into(),
        };
        let b = Summary {
            text: "b".into(),
            through: "05".into(),
        };
        let events = vec![
            ev(1, TurnId::summary(), a.to_event()),
            ev(2, turn(), Chunk::StartStep),
            ev(3, TurnId::summary(), b.to_event()),
            ev(4, turn(), Chunk::Finish),
        ];
        assert_eq!(Summary::latest(&events), Some(b));
        assert_eq!(Summary::latest(&events[..2]), Some(a));
        assert_eq!(Summary::latest(&events[1..2]), None);
    }
}
