//! Following one turn in a chat's event log: what `/api/chat` streams (the AI SDK's UI message
//! stream), what `/api/v1/chat/completions` streams (OpenAI chunks), and waiting for a turn to
//! end. The log is the truth; the in-process bus only wakes a follower early.

use crate::domain::Chunk;
use crate::error::Error;
use crate::ids::{AccountId, ChatId, TurnId};
use crate::services::{Caller, Platform, Posted, Taken};
use serde_json::Value;
use std::time::Duration;

/// A keepalive is due when nothing else was sent for this long.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Re-read the log at least this often even without a wake-up (other processes write too).
const POLL: Duration = Duration::from_millis(500);
/// Events read from the log at once.
const READ_LIMIT: u32 = 500;

/// What a follower gets next.
pub enum Step {
    /// Events of the turn in order, each with its log sequence (the SSE id) when it has one;
    /// the batch that ends the turn ends with its terminal chunk (`finish` or `error`).
    Events(Vec<(Option<u64>, Chunk)>),
    /// Nothing happened for a while: time to show the connection is alive.
    Keepalive,
}

pub struct Follow {
    p: Platform,
    account: AccountId,
    chat: ChatId,
    turn: Option<TurnId>,
    after: u64,
    done: bool,
    /// Whether the turn was looked up once nothing new was found: a cursor at or past a
    /// finished turn's end would otherwise wait forever for an end it already passed.
    checked_finished: bool,
    /// The look-up found the turn finished.
    finished: bool,
    watch: crate::services::ChatWatch,
    /// The log may hold events not handed out (nothing read yet, a full page read, or a
    /// poll tick): read it rather than wait for what this process publishes.
    stale: bool,
    /// When something was last handed out (the heartbeat counts from here).
    last_sent: tokio::time::Instant,
}

impl Follow {
    /// Follows `turn` (none: there is nothing to follow) from the event after `after`.
    pub fn new(
        p: &Platform,
        account: AccountId,
        chat: ChatId,
        turn: Option<TurnId>,
        after: u64,
    ) -> Self {
        Self {
            watch: p.bus.watch(&chat),
            p: p.clone(),
            account,
            chat,
            turn,
            after,
            done: false,
            checked_finished: false,
            finished: false,
            stale: true,
            last_sent: tokio::time::Instant::now(),
        }
    }

    /// The next step; `None` once the turn has ended.
    pub async fn next(&mut self) -> Option<Step> {
        let step = self.next_inner().await;
        self.last_sent = tokio::time::Instant::now();
        step
    }

    async fn next_inner(&mut self) -> Option<Step> {
        if self.done {
            return None;
        }
        let Some(turn) = self.turn.clone() else {
            self.done = true;
            return None;
        };
        loop {
            // What this process's turns just wrote, when it continues where this stream is;
            // else the log, when it may hold more than was handed out.
            let read = match self.watch.take(self.after) {
                Taken::Events(events) => Ok(events),
                Taken::Nothing if !self.stale => Ok(vec![]),
                Taken::Nothing | Taken::Gap => {
                    let read = self
                        .p
                        .store
                        .chat_events(&self.account, &self.chat, self.after, READ_LIMIT)
                        .await;
                    // A full page: there may be more.
                    self.stale = read.as_ref().is_ok_and(|e| e.len() == READ_LIMIT as usize);
                    read
                }
            };
            let events = match read {
                Ok(e) => e,
                Err(e) => {
                    self.done = true;
                    tracing::error!(error = %e, "reading the chat log failed");
                    let failed = Chunk::Error {
                        error_text: "the chat log could not be read".into(),
                    };
                    return Some(Step::Events(vec![(None, failed)]));
                }
            };
            if !events.is_empty() {
                let mut out = vec![];
                for e in events {
                    self.after = e.seq;
                    if e.turn_id != turn {
                        continue;
                    }
                    let terminal = e.is_terminal();
                    out.push((Some(e.seq), e.data));
                    if terminal {
                        self.done = true;
                        break;
                    }
                }
                if !out.is_empty() {
                    return Some(Step::Events(out));
                }
                continue;
            }
            // Nothing new. A finished turn writes its last event before it is marked
            // finished: if it is marked, the cursor is past its end and nothing will come.
            // (Read the log once more after seeing the mark: the end may have been written
            // between the read above and the look-up.)
            if self.finished {
                self.done = true;
                return None;
            }
            if !self.checked_finished {
                self.checked_finished = true;
                match self.p.store.get_turn(&self.account, &turn).await {
                    Ok(t) if t.status.is_terminal() => {
                        self.finished = true;
                        self.stale = true;
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading the followed turn failed"),
                }
            }
            // Wait for a wake-up for this chat, a poll tick, or the heartbeat; then read
            // the log again.
            let now = tokio::time::Instant::now();
            let deadline = self.last_sent + HEARTBEAT;
            if now >= deadline {
                return Some(Step::Keepalive);
            }
            if tokio::time::timeout((now + POLL).min(deadline) - now, self.watch.changed())
                .await
                .is_err()
            {
                // A tick without a wake-up: another process may have written.
                self.stale = true;
            }
        }
    }
}

/// Waits for a posted message's turn to end and returns the answer's text (its text parts);
/// a failed turn is a 502 naming why.
pub async fn answer_text(p: &Platform, caller: &Caller, posted: &Posted) -> Result<String, Error> {
    let mut f = Follow::new(
        p,
        caller.account.id.clone(),
        posted.chat.id.clone(),
        Some(posted.turn.id.clone()),
        posted.after_seq,
    );
    let mut failed = None;
    while let Some(step) = f.next().await {
        if let Step::Events(events) = step {
            for (_, chunk) in events {
                if let Chunk::Error { error_text } = chunk {
                    failed = Some(error_text);
                }
            }
        }
    }
    if let Some(err) = failed {
        return Err(Error::BadGateway(format!(
            "the agent could not finish: {err}"
        )));
    }
    let (_, messages) = p.get_chat(caller, posted.chat.id.as_str()).await?;
    let parts = messages
        .into_iter()
        .find(|m| m.id == posted.turn.assistant_message_id)
        .and_then(|m| m.parts.as_array().cloned())
        .unwrap_or_default();
    Ok(crate::agent::final_text(&parts))
}

/// The new input of a chat request: the text of its last message, which must be the user's.
/// `last` is that message's role and its text-bearing field (the AI SDK's `parts`, or
/// OpenAI's `content`): a string, or `text` parts joined by newlines.
pub fn user_input(last: Option<(&str, &Value)>) -> Result<String, Error> {
    let (role, body) = last
        .ok_or_else(|| Error::invalid("messages", "must contain at least the new user message"))?;
    if role != "user" {
        return Err(Error::invalid(
            "messages",
            "the last message must have role \"user\"",
        ));
    }
    let text = match body {
        Value::String(s) => s.clone(),
        Value::Array(parts) => crate::domain::text_of_parts(parts),
        _ => String::new(),
    };
    if text.trim().is_empty() {
        return Err(Error::invalid(
            "messages",
            "the last user message has no text",
        ));
    }
    Ok(text)
}
