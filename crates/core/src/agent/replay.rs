//! Reading a turn back from its log: its events and the latest summary, found at the log's
//! tail ([`tail_of_log`], the one store read here); then, as pure functions of stored data,
//! the steps a turn got through (so an interrupted turn resumes where it stopped), the
//! assistant message's UI parts, and the model's view of stored messages.

use super::context::Summary;
use crate::domain::{ChatMessage, Chunk, Turn};
use crate::error::Result;
use crate::ids::TurnId;
use crate::llm::{Message, ToolCall};
use crate::services::Platform;
use serde_json::{json, Value};
use std::collections::HashMap;

/// One step (one model call) as reconstructed from the log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    /// The text the model wrote in this step.
    pub text: String,
    /// The id of a text part that was started but not ended (cut off mid-text).
    pub text_open: Option<String>,
    /// The tool calls of this step (inputs as stored: redacted).
    pub calls: Vec<ToolCall>,
    /// Outputs recorded so far, by call id.
    pub outputs: HashMap<String, Value>,
    /// `finish-step` was logged.
    pub finished: bool,
}

/// How a logged turn ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    Finished,
    Failed(String),
}

/// A turn's log, read back.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    /// `Some` when the turn already ended (its last chunk is `finish` or `error`).
    pub ended: Option<Ended>,
    /// The steps begun, in order.
    pub steps: Vec<Step>,
    /// Text parts begun so far (new ones are numbered after them).
    pub texts: usize,
}

/// Reads a turn's chunks (in log order) back into steps.
pub fn replay(events: &[Chunk]) -> Replay {
    let mut r = Replay::default();
    for e in events {
        let step = r.steps.last_mut();
        match (e, step) {
            (Chunk::StartStep, _) => r.steps.push(Step::default()),
            (Chunk::TextStart { id }, step) => {
                r.texts += 1;
                if let Some(s) = step {
                    s.text_open = Some(id.clone());
                }
            }
            (Chunk::TextDelta { delta, .. }, Some(s)) => s.text.push_str(delta),
            (Chunk::TextEnd { .. }, Some(s)) => s.text_open = None,
            (
                Chunk::ToolInputAvailable {
                    tool_call_id,
                    tool_name,
                    input,
                },
                Some(s),
            ) => s.calls.push(ToolCall {
                id: tool_call_id.clone(),
                name: tool_name.clone(),
                input: input.clone(),
            }),
            (
                Chunk::ToolOutputAvailable {
                    tool_call_id,
                    output,
                },
                Some(s),
            ) => {
                s.outputs.insert(tool_call_id.clone(), output.clone());
            }
            (Chunk::FinishStep, Some(s)) => s.finished = true,
            _ => {}
        }
    }
    r.ended = match events.last() {
        Some(Chunk::Finish) => Some(Ended::Finished),
        Some(Chunk::Error { error_text }) => Some(Ended::Failed(error_text.clone())),
        _ => None,
    };
    r
}

/// AI SDK UIMessage parts of the assistant message, from the turn's chunks.
pub fn parts_from_events(events: &[Chunk]) -> Vec<Value> {
    let mut parts: Vec<Value> = vec![];
    for e in events {
        match e {
            Chunk::StartStep => parts.push(json!({"type": "step-start"})),
            Chunk::TextStart { .. } => {
                parts.push(json!({"type": "text", "text": "", "state": "done"}))
            }
            Chunk::TextDelta { delta, .. } => {
                if let Some(last) = parts.iter_mut().rev().find(|p| p["type"] == "text") {
                    let t = format!("{}{delta}", last["text"].as_str().unwrap_or_default());
                    last["text"] = json!(t);
                }
            }
            Chunk::ToolInputAvailable {
                tool_call_id,
                tool_name,
                input,
            } => parts.push(json!({
                "type": format!("tool-{tool_name}"),
                "toolCallId": tool_call_id, "state": "input-available", "input": input,
            })),
            Chunk::ToolOutputAvailable {
                tool_call_id,
                output,
            } => {
                if let Some(p) = parts
                    .iter_mut()
                    .find(|p| p["toolCallId"].as_str() == Some(tool_call_id))
                {
                    p["state"] = json!("output-available");
                    p["output"] = output.clone();
                }
            }
            _ => {}
        }
    }
    parts
}

/// The final text of a turn (what JSON mode returns): every text part, in order.
pub fn final_text(parts: &[Value]) -> String {
    crate::domain::text_of_parts(parts)
}

/// Rebuilds the model's view of earlier turns from stored messages.
pub fn history(messages: &[ChatMessage]) -> Vec<Message> {
    let mut out = vec![];
    for m in messages {
        let parts = m.parts.as_array().cloned().unwrap_or_default();
        if m.role == "user" {
            let text = parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n");
            out.push(Message::User(text));
            continue;
        }
        let mut text = String::new();
        for p in &parts {
            let ty = p["type"].as_str().unwrap_or_default();
            if ty == "text" {
                text.push_str(p["text"].as_str().unwrap_or_default());
            } else if let Some(name) = ty.strip_prefix("tool-") {
                let id = p["toolCallId"].as_str().unwrap_or_default().to_owned();
                out.push(Message::Assistant {
                    text: std::mem::take(&mut text),
                    tool_calls: vec![ToolCall {
                        id: id.clone(),
                        name: name.to_owned(),
                        input: p["input"].clone(),
                    }],
                });
                let output = p
                    .get("output")
                    .cloned()
                    .unwrap_or(json!({"error": "no result recorded"}));
                out.push(Message::ToolResult {
                    call_id: id,
                    is_error: output.get("error").is_some(),
                    output: output.to_string(),
                });
            }
        }
        if !text.is_empty() {
            out.push(Message::Assistant {
                text,
                tool_calls: vec![],
            });
        }
    }
    out
}

/// Events read back from the log's end per store call.
const TAIL_PAGE: u32 = 256;

/// `turn`'s own events (oldest first) and the chat's latest summary, read backwards from
/// the end of the log: a chat runs one turn at a time, so a turn's events are the log's
/// tail (with summaries written meanwhile), and the latest summary lies at most a history
/// budget of turns back. A chat's whole log is read only while it has no summary, that is
/// while its history fits the budget; a webhook's or automation's chat grows without end,
/// and each turn read all of it.
pub(super) async fn tail_of_log(
    p: &Platform,
    turn: &Turn,
) -> Result<(Vec<Chunk>, Option<Summary>)> {
    let (account, chat) = (&turn.account_id, &turn.chat_id);
    let mut before = p.store.last_chat_seq(account, chat).await? + 1;
    let (mut mine, mut summary, mut past_mine) = (Vec::new(), None, false);
    loop {
        let page = p
            .store
            .chat_events_before(account, chat, before, TAIL_PAGE)
            .await?;
        for e in &page {
            if e.turn_id == turn.id {
                if !past_mine {
                    mine.push(e.data.clone());
                }
            } else if e.turn_id == TurnId::summary() {
                if summary.is_none() {
                    summary = Summary::of_event(e);
                }
            } else if e.turn_id < turn.id {
                // An earlier turn's: this turn's events all came after it.
                past_mine = true;
            }
        }
        match page.last() {
            Some(last) if page.len() == TAIL_PAGE as usize && !(past_mine && summary.is_some()) => {
                before = last.seq
            }
            _ => break,
        }
    }
    mine.reverse();
    Ok((mine, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::StartMetadata;

    fn start() -> Chunk {
        Chunk::Start {
            message_id: crate::ids::MessageId::from_trusted("msg_a1"),
            message_metadata: StartMetadata {
                chat_id: crate::ids::ChatId::from_trusted("chat_1"),
            },
        }
    }

    fn text(id: &str, delta: &str) -> [Chunk; 2] {
        [
            Chunk::TextStart { id: id.into() },
            Chunk::TextDelta {
                id: id.into(),
                delta: delta.into(),
            },
        ]
    }

    fn call(id: &str) -> Chunk {
        Chunk::ToolInputAvailable {
            tool_call_id: id.into(),
            tool_name: "list_instances".into(),
            input: json!({}),
        }
    }

    fn output(id: &str) -> Chunk {
        Chunk::ToolOutputAvailable {
            tool_call_id: id.into(),
            output: json!({"instances": []}),
        }
    }

    #[test]
    fn a_turn_cut_off_mid_text_has_one_open_unfinished_step() {
        // GIVEN a log that stops inside the model's text
        let mut log = vec![start(), Chunk::StartStep];
        log.extend(text("txt_1", "Hel"));
        // WHEN it is replayed
        let r = replay(&log);
        // THEN the turn has not ended, and its one step holds the text so far, still open
        assert_eq!(r.ended, None);
        assert_eq!(r.texts, 1);
        assert_eq!(r.steps.len(), 1);
        let s = &r.steps[0];
        assert_eq!(s.text, "Hel");
        assert_eq!(s.text_open.as_deref(), Some("txt_1"));
        assert!(!s.finished && s.calls.is_empty());
        // AND the message so far shows the text
        assert_eq!(final_text(&parts_from_events(&log)), "Hel");
    }

    #[test]
    fn a_turn_cut_off_mid_tool_call_knows_which_outputs_are_missing() {
        // GIVEN a step with text and two tool calls, of which only the first has an output
        let mut log = vec![start(), Chunk::StartStep];
        log.extend(text("txt_1", "Looking."));
        log.extend([
            Chunk::TextEnd { id: "txt_1".into() },
            call("c1"),
            call("c2"),
            output("c1"),
        ]);
        // WHEN it is replayed
        let r = replay(&log);
        // THEN the step is unfinished, its text closed, both calls known, one output recorded
        assert_eq!(r.ended, None);
        let s = &r.steps[0];
        assert_eq!(s.text_open, None);
        assert!(!s.finished);
        assert_eq!(
            s.calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["c1", "c2"]
        );
        assert!(s.outputs.contains_key("c1") && !s.outputs.contains_key("c2"));
        // AND the parts show one call answered and one waiting
        let parts = parts_from_events(&log);
        let states: Vec<&str> = parts
            .iter()
            .filter(|p| p["type"] == "tool-list_instances")
            .map(|p| p["state"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(states, ["output-available", "input-available"]);
    }

    #[test]
    fn a_finished_turn_replays_as_ended_with_its_steps() {
        // GIVEN a whole turn: a tool step, then an answer
        let mut log = vec![start(), Chunk::StartStep, call("c1"), output("c1")];
        log.push(Chunk::FinishStep);
        log.push(Chunk::StartStep);
        log.extend(text("txt_1", "None yet."));
        log.extend([
            Chunk::TextEnd { id: "txt_1".into() },
            Chunk::FinishStep,
            Chunk::Finish,
        ]);
        // WHEN it is replayed THEN it has ended, with two finished steps
        let r = replay(&log);
        assert_eq!(r.ended, Some(Ended::Finished));
        assert_eq!(r.steps.len(), 2);
        assert!(r.steps.iter().all(|s| s.finished));
        assert_eq!(r.steps[1].text, "None yet.");
        // AND the message has a step-start per step, the tool part, then the text
        let parts = parts_from_events(&log);
        let types: Vec<&str> = parts.iter().filter_map(|p| p["type"].as_str()).collect();
        assert_eq!(
            types,
            ["step-start", "tool-list_instances", "step-start", "text"]
        );
        // AND a failed turn replays with its error
        let failed = [
            start(),
            Chunk::Error {
                error_text: "boom".into(),
            },
        ];
        assert_eq!(replay(&failed).ended, Some(Ended::Failed("boom".into())));
    }

    #[test]
    fn chunks_keep_their_wire_form() {
        // The stream's JSON, keys sorted, exactly as the untyped code wrote it.
        let cases = [
            (
                start(),
                r#"{"messageId":"msg_a1","messageMetadata":{"chatId":"chat_1"},"type":"start"}"#,
            ),
            (Chunk::StartStep, r#"{"type":"start-step"}"#),
            (
                Chunk::TextDelta {
                    id: "txt_1".into(),
                    delta: "hi".into(),
                },
                r#"{"delta":"hi","id":"txt_1","type":"text-delta"}"#,
            ),
            (
                call("c1"),
                r#"{"input":{},"toolCallId":"c1","toolName":"list_instances","type":"tool-input-available"}"#,
            ),
            (
                output("c1"),
                r#"{"output":{"instances":[]},"toolCallId":"c1","type":"tool-output-available"}"#,
            ),
            (Chunk::FinishStep, r#"{"type":"finish-step"}"#),
            (Chunk::Finish, r#"{"type":"finish"}"#),
            (
                Chunk::Error {
                    error_text: "x".into(),
                },
                r#"{"errorText":"x","type":"error"}"#,
            ),
        ];
        for (chunk, wire) in cases {
            assert_eq!(chunk.to_value().to_string(), wire);
            let back: Value = serde_json::from_str(wire).expect("json");
            assert_eq!(Chunk::from_value(&back), Some(chunk));
        }
        assert_eq!(Chunk::from_value(&json!({"type": "reasoning-delta"})), None);
    }
}
