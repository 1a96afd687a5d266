//! The Operator agent: a tool-calling loop we own. Every step is written to the chat's event
//! log as AI SDK UI message stream chunks before anyone sees it, so a turn interrupted by a
//! crash resumes from its log in a later job, and clients re-attach by sequence number.
//!
//! Each model request carries a bounded context ([`context`]): the system prompt with a
//! summary of older turns, the newest earlier turns within a budget, and this turn; tool
//! outputs are cut to a budget with a marker. A model reply that ends without its end marker,
//! or a turn whose model wrote neither text nor a tool call, fails the turn: it never
//! "succeeds" with nothing to show.

pub mod context;
mod jobs;
pub mod replay;
mod route;
pub mod tools;

pub use jobs::{AgentJobs, VISIBILITY as AGENT_JOB_VISIBILITY};
pub use replay::{final_text, history, parts_from_events};

use crate::domain::*;
use crate::error::{Error, Result};
use crate::idempotency::{self, IdempotencyBegin};
use crate::ids::TurnId;
use crate::llm::{Message, ModelEvent, ModelProvider, ModelRequest, ToolCall};
use crate::ports::StoredResponse;
use crate::services::{Caller, Platform};
use context::{ContextBudget, PastTurn, Summary};
use futures::{FutureExt, StreamExt};
use replay::{replay, Ended};
use serde_json::{json, Value};

/// Model calls per turn.
pub const MAX_STEPS: usize = 12;
/// Input + output tokens per turn before the agent stops.
pub const TURN_TOKEN_BUDGET: u64 = 400_000;
const MAX_OUTPUT_TOKENS: u32 = 4096;

pub fn system_prompt() -> String {
    "You are the Operator agent of an agent-operations platform. You run a fleet of AI agent \
instances for the user: each instance is an isolated container with its own workspace \
(AGENTS.md, skills/<name>/SKILL.md, workspace/), terminal, headless browser and metered LLM \
access. You act only through your tools, which cover every platform operation: instances \
(create, list, get, update, restart, clone, delete, activity, files, commands, messaging the \
instance's own agent), skills, secrets, automations (cron prompts that you run), webhooks \
(inbound HTTP that runs a prompt), billing, and a catalog of checkpoint repositories \
(ready-made workspaces, installed as an instance's checkpointRepo).\n\
Three ways to run something later: an automation (the platform fires the prompt to you on a \
cron schedule and records each run), a webhook (an inbound HTTP call fires it), or an \
openclaw instance's own cron (add_instance_cron: the instance runs it itself, with its own \
context and channels). Choose by who should act and where the record should live, and say \
which you chose.\n\
Rules: act, don't just describe. Use exact names and ids from tool results. When a tool \
returns an error, read its code and message and adapt (another name, fewer instances, ask \
the user). Secret values are write-only: never repeat, guess or reveal them. Capacity is \
limited by the plan (capacity_exceeded): say so rather than retrying. Finish with a short \
answer saying what you did."
        .to_owned()
}

struct Run<'a> {
    p: &'a Platform,
    caller: &'a Caller,
    turn: &'a Turn,
    /// This turn's events so far (read once at start, then appended as emitted), so
    /// finishing does not re-read the chat's whole log.
    events: std::sync::Mutex<Vec<Chunk>>,
    /// Events emitted but not yet written: [`Run::flush`] writes them in one append.
    pending: std::sync::Mutex<Vec<Chunk>>,
}

/// Events held back while a model's reply keeps coming without a pause (then written
/// together) before they are written anyway, so a stream sees a long fast reply as it goes.
const MAX_PENDING: usize = 64;

impl Run<'_> {
    /// Adds an event, written (and shown to the turn's streams) by the next flush.
    fn push(&self, data: Chunk) {
        lock(&self.pending).push(data.clone());
        lock(&self.events).push(data);
    }

    /// Writes the pending events in one append, then hands them to the turn's streams.
    async fn flush(&self) -> Result<()> {
        let batch = std::mem::take(&mut *lock(&self.pending));
        if batch.is_empty() {
            return Ok(());
        }
        self.append(&self.turn.id, &batch).await
    }

    /// Appends `batch` to the chat's log under `turn_id` (this turn's, or the summary's),
    /// then hands it to the chat's streams.
    async fn append(&self, turn_id: &TurnId, batch: &[Chunk]) -> Result<()> {
        let t = self.turn;
        let last = self
            .p
            .store
            .append_chat_events(&t.account_id, &t.chat_id, turn_id, batch)
            .await?;
        self.p.bus.publish(&t.chat_id, turn_id, batch, last);
        Ok(())
    }

    /// Writes an event (after any pending ones).
    async fn emit(&self, data: Chunk) -> Result<()> {
        self.push(data);
        self.flush().await
    }

    /// Runs a tool once per call id, even across crashes and redeliveries.
    async fn call_tool(&self, call: &ToolCall) -> Value {
        let key = format!("tool:{}:{}", self.turn.id, call.id);
        let account = &self.turn.account_id;
        let now = self.p.clock.now();
        if let Ok(IdempotencyBegin::Completed(prev)) =
            idempotency::begin(self.p.store.as_ref(), account, &key, &call.name, now).await
        {
            if let Ok(v) = serde_json::from_slice(&prev.body) {
                return v;
            }
        }
        let lost_a_secret = tools::find(&call.name).is_some_and(|t| t.lost_a_secret(&call.input));
        let output = if lost_a_secret {
            json!({"error": {"code": "invalid_request", "message": "the secret value was not kept across a restart; ask the user for it again"}})
        } else {
            match tools::execute(self.p, self.caller, &call.name, &call.input).await {
                Ok(v) => v,
                Err(e) => tools::error_output(e),
            }
        };
        let stored = StoredResponse {
            status: 200,
            body: serde_json::to_vec(&output).unwrap_or_default(),
        };
        if let Err(e) =
            idempotency::complete(self.p.store.as_ref(), account, &key, &stored, now).await
        {
            tracing::warn!(error = %e, "could not record a tool result for replay");
        }
        output
    }

    /// The text of this turn's steps so far.
    fn text_so_far(&self) -> String {
        final_text(&parts_from_events(&lock(&self.events)))
    }

    async fn finish_tool_calls(
        &self,
        calls: &[ToolCall],
        done: &std::collections::HashMap<String, Value>,
        budget: &ContextBudget,
    ) -> Result<Vec<Message>> {
        let mut results = vec![];
        for call in calls {
            let output = match done.get(&call.id) {
                Some(o) => o.clone(),
                None => {
                    let o = self.call_tool(call).await;
                    self.emit(Chunk::ToolOutputAvailable {
                        tool_call_id: call.id.clone(),
                        output: o.clone(),
                    })
                    .await?;
                    o
                }
            };
            results.push(tool_result(&call.id, &output, budget));
        }
        Ok(results)
    }
}

/// Runs (or resumes) `turn` to its end. Returns the error text when the turn failed.
pub async fn run_turn(p: &Platform, caller: &Caller, turn: &Turn) -> Result<Option<String>> {
    let (mine, summary) = replay::tail_of_log(p, turn).await?;
    let log = replay(&mine);
    let fresh = mine.is_empty();
    match log.ended {
        Some(Ended::Finished) => return Ok(None),
        Some(Ended::Failed(e)) => return Ok(Some(e)),
        None => {}
    }
    let run = Run {
        p,
        caller,
        turn,
        events: std::sync::Mutex::new(mine),
        pending: Default::default(),
    };
    if fresh {
        // Written with the first step's start (or before a summary is asked for).
        run.push(Chunk::Start {
            message_id: turn.assistant_message_id.clone(),
            message_metadata: StartMetadata {
                chat_id: turn.chat_id.clone(),
            },
        });
    }

    // Conversation so far: earlier turns (not yet summarised), then this turn's message; a
    // message queued behind this turn is not part of it.
    let through = summary.as_ref().map_or("", |s| s.through.as_str());
    let messages = p
        .store
        .chat_messages_after(&turn.account_id, &turn.chat_id, through)
        .await?;
    let budget = p.config.llm.as_ref().map(|c| c.context).unwrap_or_default();
    let (current, earlier): (Vec<ChatMessage>, Vec<ChatMessage>) = messages
        .into_iter()
        .filter(|m| m.id.is_before(&turn.id) || m.id == turn.user_message_id)
        .partition(|m| m.id == turn.user_message_id);
    let past: Vec<PastTurn> = context::past_turns(&earlier, &budget)
        .into_iter()
        .filter(|t| summary.as_ref().is_none_or(|s| t.key > s.through))
        .collect();
    // `@name …` goes to that instance's own agent, when the account has such an instance.
    let said = history(&current);
    if let Some(crate::llm::Message::User(text)) = said.first() {
        if let Some((name, message)) = route::mention(text) {
            if p.get_instance(caller, name).await.is_ok() {
                return route::routed(&run, name, message, &log.steps).await;
            }
        }
    }
    let mut convo = said;
    let done_steps = log.steps.len();
    if resume_steps(&run, log.steps, &budget, &mut convo).await? {
        // A completed text-only step is the answer: only `finish` was missing.
        return finish(&run, None).await;
    }

    let Some(llm) = p.llm.clone() else {
        return finish(&run, Some(crate::services::llm_unavailable_message())).await;
    };
    let model = p
        .config
        .llm
        .as_ref()
        .map(|c| c.model.clone())
        .unwrap_or_default();
    let (summary, kept, used_tokens) =
        fold_history(&run, llm.as_ref(), &model, past, summary, &budget).await?;
    let convo: Vec<Message> = kept
        .into_iter()
        .flat_map(|t| t.messages)
        .chain(convo)
        .collect();
    let steps = Steps {
        llm: llm.as_ref(),
        model,
        system: context::system_with_summary(system_prompt(), summary.as_ref()),
        budget,
        done: done_steps,
        texts: log.texts,
        used_tokens,
    };
    model_steps(&run, steps, convo).await
}

/// Closes the steps an interrupted run left open and finishes their tool calls (each runs
/// once, see [`Run::call_tool`]), adding them to `convo`. A reply cut off mid-text is asked
/// for again. True when a finished text-only step already answered the turn.
async fn resume_steps(
    run: &Run<'_>,
    steps: Vec<replay::Step>,
    budget: &ContextBudget,
    convo: &mut Vec<Message>,
) -> Result<bool> {
    for mut step in steps {
        if step.finished && step.calls.is_empty() {
            return Ok(true);
        }
        if !step.finished {
            if let Some(id) = step.text_open.take() {
                run.emit(Chunk::TextEnd { id }).await?;
            }
            if step.calls.is_empty() {
                run.emit(Chunk::FinishStep).await?;
                continue;
            }
        }
        convo.push(Message::Assistant {
            text: step.text.clone(),
            tool_calls: step.calls.clone(),
        });
        let results = run
            .finish_tool_calls(&step.calls, &step.outputs, budget)
            .await?;
        convo.extend(results);
        if !step.finished {
            run.emit(Chunk::FinishStep).await?;
        }
    }
    Ok(false)
}

/// What the model loop works with.
struct Steps<'a> {
    llm: &'a dyn ModelProvider,
    model: String,
    system: String,
    budget: ContextBudget,
    /// Steps already taken (before a restart).
    done: usize,
    /// Text parts already begun.
    texts: usize,
    used_tokens: u64,
}

/// Calls the model step by step until it answers without tool calls, fails, or runs out of
/// steps or tokens.
async fn model_steps(
    run: &Run<'_>,
    mut s: Steps<'_>,
    mut convo: Vec<Message>,
) -> Result<Option<String>> {
    let tools = tools::catalogue();
    for _ in s.done..MAX_STEPS {
        if s.used_tokens > TURN_TOKEN_BUDGET {
            return finish(
                run,
                Some(format!(
                    "stopped: this turn used its token budget ({TURN_TOKEN_BUDGET} tokens)"
                )),
            )
            .await;
        }
        let req = ModelRequest {
            model: s.model.clone(),
            system: s.system.clone(),
            messages: convo.clone(),
            tools: tools.clone(),
            max_tokens: MAX_OUTPUT_TOKENS,
        };
        // The step's start is written while the model is asked.
        run.push(Chunk::StartStep);
        let (written, opened) = tokio::join!(run.flush(), s.llm.stream(&req));
        written?;
        let mut stream = match opened {
            Ok(st) => st,
            Err(e) => return finish(run, Some(e.to_string())).await,
        };
        let (mut text, mut text_id, mut calls) = (String::new(), None::<String>, vec![]);
        let (mut failure, mut ended) = (None, false);
        loop {
            // What the model has sent is written before waiting for more: an instant reply
            // costs one write, a slow one streams chunk by chunk.
            let next = match stream.next().now_or_never() {
                Some(next) => next,
                None => {
                    run.flush().await?;
                    stream.next().await
                }
            };
            let Some(ev) = next else { break };
            if lock(&run.pending).len() >= MAX_PENDING {
                run.flush().await?;
            }
            match ev {
                Ok(ModelEvent::TextDelta(d)) => {
                    let id = match &text_id {
                        Some(id) => id.clone(),
                        None => {
                            s.texts += 1;
                            let id = format!("txt_{}", s.texts);
                            run.push(Chunk::TextStart { id: id.clone() });
                            text_id = Some(id.clone());
                            id
                        }
                    };
                    text.push_str(&d);
                    run.push(Chunk::TextDelta { id, delta: d });
                }
                Ok(ModelEvent::ToolCall(c)) => calls.push(c),
                Ok(ModelEvent::Usage { input, output }) => s.used_tokens += input + output,
                Ok(ModelEvent::Done) => {
                    ended = true;
                    break;
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(id) = text_id {
            run.push(Chunk::TextEnd { id });
        }
        if failure.is_none() && !ended {
            failure = Some("the model's reply ended before it was complete".to_owned());
        }
        if let Some(f) = failure {
            return finish(run, Some(f)).await;
        }
        if text.trim().is_empty() && calls.is_empty() && run.text_so_far().trim().is_empty() {
            // Nothing to show for the whole turn: a failure, not an empty success.
            return finish(
                run,
                Some("the model sent an empty reply (no text and no tool call)".to_owned()),
            )
            .await;
        }
        // Stored events and the model's later view get redacted inputs; execution below
        // uses the live ones.
        let redacted: Vec<ToolCall> = calls
            .iter()
            .map(|c| ToolCall {
                input: tools::redact(&c.name, &c.input),
                ..c.clone()
            })
            .collect();
        for call in &redacted {
            run.push(Chunk::ToolInputAvailable {
                tool_call_id: call.id.clone(),
                tool_name: call.name.clone(),
                input: call.input.clone(),
            });
        }
        let mut results = vec![];
        for call in &calls {
            // The call shows before it runs (a tool may take a while).
            run.flush().await?;
            let output = run.call_tool(call).await;
            results.push(tool_result(&call.id, &output, &s.budget));
            run.push(Chunk::ToolOutputAvailable {
                tool_call_id: call.id.clone(),
                output,
            });
        }
        // Written with the next step's start, or by `finish`.
        run.push(Chunk::FinishStep);
        convo.push(Message::Assistant {
            text,
            tool_calls: redacted.clone(),
        });
        convo.extend(results);
        if redacted.is_empty() {
            return finish(run, None).await;
        }
    }
    finish(
        run,
        Some(format!(
            "stopped after {MAX_STEPS} steps without a final answer"
        )),
    )
    .await
}

/// A tool's output as the model sees it: cut to the budget, with a marker.
fn tool_result(call_id: &str, output: &Value, budget: &ContextBudget) -> Message {
    Message::ToolResult {
        call_id: call_id.to_owned(),
        is_error: output.get("error").is_some(),
        output: context::truncate_output(output.to_string(), budget.tool_output_tokens),
    }
}

/// Folds the oldest earlier turns into the chat's summary when they pass the budget (see
/// [`context`]); returns the summary to send, the turns to send verbatim, and the tokens the
/// summarisation used. A summary that cannot be written (the model failed) is tried again on
/// the next turn; meanwhile the request carries the newest turns within the whole budget.
async fn fold_history(
    run: &Run<'_>,
    llm: &dyn ModelProvider,
    model: &str,
    past: Vec<PastTurn>,
    mut summary: Option<Summary>,
    budget: &ContextBudget,
) -> Result<(Option<Summary>, Vec<PastTurn>, u64)> {
    let plan = context::plan(past, budget);
    let (mut used, mut unfolded) = (0u64, Vec::<PastTurn>::new());
    for batch in plan.fold {
        let Some(last) = batch.last().map(|t| t.key.clone()) else {
            continue;
        };
        if !unfolded.is_empty() {
            unfolded.extend(batch);
            continue;
        }
        // The turn's start is shown before the (slow) summary is asked for.
        run.flush().await?;
        match summarise(llm, model, summary.as_ref(), &batch, budget).await {
            Ok((text, tokens)) => {
                used += tokens;
                let s = Summary {
                    text,
                    through: last,
                };
                run.append(&TurnId::summary(), &[s.to_event()]).await?;
                summary = Some(s);
            }
            Err(e) => {
                tracing::warn!(chat = %run.turn.chat_id, error = %e, "could not summarise older turns; sending the newest within the budget");
                unfolded.extend(batch);
            }
        }
    }
    let keep = if unfolded.is_empty() {
        plan.keep
    } else {
        unfolded.extend(plan.keep);
        context::newest_within(unfolded, budget.history_tokens)
    };
    Ok((summary, keep, used))
}

/// One summarisation call: the new summary's text and the tokens it used.
async fn summarise(
    llm: &dyn ModelProvider,
    model: &str,
    previous: Option<&Summary>,
    batch: &[PastTurn],
    budget: &ContextBudget,
) -> std::result::Result<(String, u64), String> {
    let req = context::summary_request(model.to_owned(), previous, batch, budget);
    let mut stream = llm.stream(&req).await.map_err(|e| e.to_string())?;
    let (mut text, mut tokens) = (String::new(), 0u64);
    while let Some(ev) = stream.next().await {
        match ev.map_err(|e| e.to_string())? {
            ModelEvent::TextDelta(d) => text.push_str(&d),
            ModelEvent::Usage { input, output } => tokens += input + output,
            ModelEvent::ToolCall(_) => {}
            ModelEvent::Done => {
                return context::summary_text(&text)
                    .map(|t| (t, tokens))
                    .ok_or_else(|| "the model wrote an empty summary".to_owned())
            }
        }
    }
    Err("the summary's stream ended before it was complete".to_owned())
}

/// Stores the assistant message, then ends the turn's stream (`finish` or `error`): a
/// client that sees the end can read the message.
async fn finish(run: &Run<'_>, error: Option<String>) -> Result<Option<String>> {
    let t = run.turn;
    // The steps' ends are written before the message: a turn resumed in between finds
    // its last step finished, not cut off.
    run.flush().await?;
    let parts = parts_from_events(&lock(&run.events));
    run.p
        .store
        .insert_chat_message(&ChatMessage {
            id: t.assistant_message_id.clone(),
            chat_id: t.chat_id.clone(),
            account_id: t.account_id.clone(),
            role: "assistant".into(),
            parts: json!(parts),
            created_at: run.p.clock.now(),
        })
        .await?;
    // The end and the turn's final state in one write (see `TurnStore::end_turn`).
    let end = match &error {
        None => Chunk::Finish,
        Some(e) => Chunk::Error {
            error_text: e.clone(),
        },
    };
    let mut done = t.clone();
    done.status = if error.is_none() {
        TurnStatus::Succeeded
    } else {
        TurnStatus::Failed
    };
    done.error = error.clone();
    done.finished_at = Some(run.p.clock.now());
    let last = run.p.store.end_turn(&done, &end).await?;
    lock(&run.events).push(end.clone());
    run.p.bus.publish(&t.chat_id, &t.id, &[end], last);
    Ok(error)
}

impl From<crate::llm::ProviderError> for Error {
    fn from(e: crate::llm::ProviderError) -> Self {
        Error::BadGateway(e.to_string())
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
