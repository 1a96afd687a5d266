//! `chat`: talk to the Operator agent. `POST /api/chat` answers with the AI SDK UI message
//! stream (API.md § Chat), read here as the server's own typed chunks
//! ([`operator_core::domain::Chunk`]): text deltas are printed as they come, each tool call as
//! it starts (`→ create_instance {"name":"cli-desk"}`) and ends (`✓ create_instance`, or `✗`
//! with the error), then the chat id so the conversation can go on.
//!
//! Ctrl-C stops following, not the turn: it keeps running on the server, and
//! `chat --chat ID --attach` (`GET /api/chat/{id}/stream?after=<last event id seen>`)
//! picks it up again. A 204 there means nothing is running.

use super::http::{seg, STREAM_IDLE};
use super::output::{clean, clean_line, print_json};
use super::Ctx;
use crate::exit::{Exit, Failure};
use clap::Args;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use operator_core::domain::Chunk;
use operator_core::http::routes::chat::ChatRequest;
use operator_core::llm::eventsource_safe;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The longest a `--json` turn is waited for (the server answers when the turn ends).
const JSON_TURN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Tool inputs longer than this are shortened in the tool line.
const INPUT_SHOWN: usize = 200;

#[derive(Args)]
pub struct ChatArgs {
    /// The message (several words are joined with spaces). Without it: an interactive session,
    /// one message per line, all in the same chat.
    text: Vec<String>,
    /// Continue this chat (chat_...).
    #[arg(long, value_name = "CHAT_ID")]
    chat: Option<String>,
    /// Re-attach to the chat's running turn instead of sending a message (needs --chat).
    #[arg(long, requires = "chat", conflicts_with = "text")]
    attach: bool,
    /// With --attach: resume after this event id (the one Ctrl-C printed); 0 replays the last
    /// turn even when it has finished.
    #[arg(long, requires = "attach", value_name = "EVENT_ID")]
    after: Option<u64>,
}

pub async fn run(ctx: &Ctx, args: ChatArgs) -> anyhow::Result<()> {
    let mut sigint = signal(SignalKind::interrupt())?;
    if args.attach {
        if ctx.json {
            return Err(Failure::usage("--json does not apply to --attach").into());
        }
        let chat = args.chat.unwrap_or_default();
        return attach(ctx, &chat, args.after, &mut sigint).await;
    }
    let text = args.text.join(" ");
    if text.trim().is_empty() {
        if !args.text.is_empty() {
            return Err(Failure::usage("the message is empty").into());
        }
        if ctx.json {
            return Err(Failure::usage("--json needs the message as an argument").into());
        }
        return repl(ctx, args.chat, &mut sigint).await;
    }
    if ctx.json {
        return json_turn(ctx, args.chat.as_deref(), &text).await;
    }
    let mut view = TurnView::stdout(None);
    let outcome = send(ctx, args.chat.as_deref(), &text, &mut view, &mut sigint).await?;
    finish(outcome, &view)
}

/// `POST /api/chat`'s body: a new message, in an existing chat or a new one.
fn request_body(chat: Option<&str>, text: &str) -> ChatRequest {
    ChatRequest::user_text(chat, text)
}

async fn json_turn(ctx: &Ctx, chat: Option<&str>, text: &str) -> anyhow::Result<()> {
    let rb = ctx
        .api
        .stream_request(Method::POST, "/api/chat")
        .timeout(JSON_TURN_TIMEOUT)
        .header("x-response-format", "json")
        .json(&request_body(chat, text));
    print_json(&ctx.api.json(rb).await?);
    Ok(())
}

/// How following a turn ended.
enum Outcome {
    /// `finish` arrived.
    Finished,
    /// An `error` chunk: the agent could not finish.
    Failed(String),
    /// Ctrl-C.
    Interrupted,
    /// 204 on re-attach: no turn to follow.
    NothingRunning,
}

/// What has been seen of the turn: for printing it (to `out`), and for the re-attach hint.
struct TurnView<W: Write> {
    out: W,
    chat_id: Option<String>,
    last_event: Option<u64>,
    tools: HashMap<String, String>,
    at_line_start: bool,
    printed: bool,
}

impl TurnView<std::io::Stdout> {
    fn stdout(chat_id: Option<String>) -> Self {
        TurnView::new(std::io::stdout(), chat_id)
    }
}

impl<W: Write> TurnView<W> {
    fn new(out: W, chat_id: Option<String>) -> Self {
        Self {
            out,
            chat_id,
            last_event: None,
            tools: HashMap::new(),
            at_line_start: true,
            printed: false,
        }
    }

    /// Prints one chunk (text as it comes, tool steps as they happen).
    fn show(&mut self, chunk: Chunk) -> Option<Outcome> {
        match chunk {
            Chunk::Start {
                message_metadata, ..
            } => self.chat_id = Some(message_metadata.chat_id.to_string()),
            Chunk::TextDelta { delta, .. } => {
                if !delta.is_empty() {
                    let _ = write!(self.out, "{}", clean(&delta));
                    self.at_line_start = delta.ends_with('\n');
                    self.printed = true;
                }
            }
            Chunk::TextEnd { .. } => self.end_line(),
            Chunk::ToolInputAvailable {
                tool_call_id,
                tool_name,
                input,
            } => {
                self.end_line();
                let mut shown = clean_line(&input.to_string());
                if shown.chars().count() > INPUT_SHOWN {
                    shown = shown.chars().take(INPUT_SHOWN).collect::<String>() + "…";
                }
                let _ = writeln!(self.out, "→ {} {shown}", clean_line(&tool_name));
                self.tools.insert(tool_call_id, tool_name);
                self.at_line_start = true;
                self.printed = true;
            }
            Chunk::ToolOutputAvailable {
                tool_call_id,
                output,
            } => {
                self.end_line();
                let name = self
                    .tools
                    .get(&tool_call_id)
                    .map(|n| clean_line(n))
                    .unwrap_or_else(|| "tool".to_owned());
                match output.get("error") {
                    Some(err) if !err.is_null() => {
                        let why = err["message"]
                            .as_str()
                            .map(clean_line)
                            .unwrap_or_else(|| clean_line(&err.to_string()));
                        let _ = writeln!(self.out, "✗ {name}: {why}");
                    }
                    _ => {
                        let _ = writeln!(self.out, "✓ {name}");
                    }
                }
                self.at_line_start = true;
                self.printed = true;
            }
            Chunk::Error { error_text } => {
                self.end_line();
                return Some(Outcome::Failed(clean(&error_text)));
            }
            Chunk::Finish => {
                self.end_line();
                return Some(Outcome::Finished);
            }
            Chunk::StartStep | Chunk::TextStart { .. } | Chunk::FinishStep => {}
            Chunk::DataSummary { .. } => {}
        }
        let _ = self.out.flush();
        None
    }

    fn end_line(&mut self) {
        if self.printed && !self.at_line_start {
            let _ = writeln!(self.out);
            self.at_line_start = true;
        }
        let _ = self.out.flush();
    }

    /// `operator chat --chat ID --attach --after N`, to pick the turn up again.
    fn reattach_hint(&self) -> String {
        match &self.chat_id {
            Some(id) => {
                let after = self
                    .last_event
                    .map(|n| format!(" --after {n}"))
                    .unwrap_or_default();
                format!("Stopped following. The turn keeps running on the server; re-attach with:\n  operator chat --chat {id} --attach{after}")
            }
            None => "Stopped following. The message was sent and the turn runs on the server."
                .to_owned(),
        }
    }
}

/// Sends a message and follows its turn.
async fn send(
    ctx: &Ctx,
    chat: Option<&str>,
    text: &str,
    view: &mut TurnView<impl Write>,
    sigint: &mut Signal,
) -> anyhow::Result<Outcome> {
    let rb = ctx
        .api
        .stream_request(Method::POST, "/api/chat")
        .json(&request_body(chat, text));
    let res = tokio::select! {
        r = ctx.api.send(rb) => r?,
        _ = sigint.recv() => return Ok(Outcome::Interrupted),
    };
    follow(ctx, res, view, sigint).await
}

/// Reads a turn's stream to its end (or Ctrl-C), printing as it goes.
async fn follow(
    ctx: &Ctx,
    res: reqwest::Response,
    view: &mut TurnView<impl Write>,
    sigint: &mut Signal,
) -> anyhow::Result<Outcome> {
    let mut events = Box::pin(eventsource_safe(idle_bounded(res)).eventsource());
    loop {
        let next = tokio::select! {
            n = events.next() => n,
            _ = sigint.recv() => return Ok(Outcome::Interrupted),
        };
        let broke = |why: String| {
            Failure::new(
                Exit::Network,
                format!("the stream from {} broke: {why}", ctx.api.base),
            )
            .hint(view.reattach_hint().replace("Stopped following. ", ""))
        };
        let event = match next {
            None => return Err(broke("it ended before the turn did".into()).into()),
            Some(Err(e)) => return Err(broke(e.to_string()).into()),
            Some(Ok(e)) => e,
        };
        if let Ok(id) = event.id.trim().parse::<u64>() {
            view.last_event = Some(id);
        }
        if event.data == "[DONE]" {
            // `[DONE]` after `finish`/`error` was handled; on its own it ends the stream.
            return Ok(Outcome::Finished);
        }
        let Ok(value) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        // Chunks this version does not know are skipped.
        if let Some(chunk) = Chunk::from_value(&value) {
            if let Some(outcome) = view.show(chunk) {
                return Ok(outcome);
            }
        }
    }
}

/// The response body, failing when nothing at all (not even the server's keepalive comment,
/// sent every 15 s) arrives for [`STREAM_IDLE`].
fn idle_bounded(res: reqwest::Response) -> impl futures::Stream<Item = Result<Vec<u8>, String>> {
    futures::stream::unfold(Box::pin(res.bytes_stream()), |mut body| async move {
        let item = match tokio::time::timeout(STREAM_IDLE, body.next()).await {
            Ok(None) => return None,
            Ok(Some(Ok(bytes))) => Ok(bytes.to_vec()),
            Ok(Some(Err(e))) => Err(e.to_string()),
            Err(_) => Err(format!("nothing arrived for {} s", STREAM_IDLE.as_secs())),
        };
        Some((item, body))
    })
}

/// Turns how a one-shot turn ended into the exit status and the last lines.
fn finish(outcome: Outcome, view: &TurnView<impl Write>) -> anyhow::Result<()> {
    match outcome {
        Outcome::Finished => {
            if let Some(id) = &view.chat_id {
                eprintln!("Chat {id} — continue it with: operator chat --chat {id} \"...\"");
            }
            Ok(())
        }
        Outcome::Failed(why) => {
            let mut f = Failure::new(
                Exit::Unexpected,
                format!("the agent could not finish: {why}"),
            );
            if let Some(id) = &view.chat_id {
                f = f.hint(format!(
                    "Try again in the same chat: operator chat --chat {id} \"...\""
                ));
            }
            Err(f.into())
        }
        Outcome::Interrupted => Err(Failure::new(Exit::Interrupted, "interrupted")
            .hint(view.reattach_hint())
            .into()),
        Outcome::NothingRunning => Ok(()),
    }
}

async fn attach(
    ctx: &Ctx,
    chat: &str,
    after: Option<u64>,
    sigint: &mut Signal,
) -> anyhow::Result<()> {
    let path = format!("/api/chat/{}/stream", seg(chat));
    let mut rb = ctx.api.stream_request(Method::GET, &path);
    if let Some(a) = after {
        rb = rb.query(&[("after", a)]);
    }
    let res = tokio::select! {
        r = ctx.api.send(rb) => r?,
        _ = sigint.recv() => return Err(Failure::new(Exit::Interrupted, "interrupted").into()),
    };
    let mut view = TurnView::stdout(Some(chat.to_owned()));
    view.last_event = after;
    let outcome = if res.status() == StatusCode::NO_CONTENT {
        eprintln!("Nothing is running in chat {chat}: its last turn has finished. Replay it with: operator chat --chat {chat} --attach --after 0");
        Outcome::NothingRunning
    } else {
        follow(ctx, res, &mut view, sigint).await?
    };
    finish(outcome, &view)
}

/// One message per line of stdin, in one chat, until end of input or `/exit`.
async fn repl(ctx: &Ctx, mut chat: Option<String>, sigint: &mut Signal) -> anyhow::Result<()> {
    let tty = super::terminal::stdin_is_tty();
    if tty {
        eprintln!(
            "Operator agent at {} — type a message and press Enter; /exit or Ctrl-D to leave. Ctrl-C during an answer stops following it.",
            ctx.api.base
        );
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        if tty {
            eprint!("› ");
            let _ = std::io::stderr().flush();
        }
        let line = tokio::select! {
            l = lines.next_line() => l?,
            _ = sigint.recv() => {
                eprintln!();
                return Err(Failure::new(Exit::Interrupted, "interrupted").into());
            }
        };
        let Some(line) = line else { break };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if matches!(text, "/exit" | "/quit") {
            break;
        }
        let mut view = TurnView::stdout(None);
        match send(ctx, chat.as_deref(), text, &mut view, sigint).await {
            Ok(Outcome::Finished) => {}
            Ok(Outcome::Failed(why)) => eprintln!("error: the agent could not finish: {why}"),
            Ok(Outcome::Interrupted) => eprintln!("\n{}", view.reattach_hint()),
            Ok(Outcome::NothingRunning) => {}
            // A refused message (e.g. 503 llm_unavailable) ends the session with its class.
            Err(e) => return Err(e),
        }
        if view.chat_id.is_some() {
            chat = view.chat_id.clone();
        }
    }
    if let Some(id) = &chat {
        eprintln!("Chat {id} — continue it with: operator chat --chat {id}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(v: Value) -> Chunk {
        Chunk::from_value(&v).expect("a chunk")
    }

    fn printed(view: &TurnView<Vec<u8>>) -> String {
        String::from_utf8(view.out.clone()).unwrap()
    }

    #[test]
    fn a_turn_is_followed_to_its_finish_and_remembers_the_chat() {
        let mut view = TurnView::new(vec![], None);
        assert!(view
            .show(chunk(json!({"type": "start", "messageId": "msg_1", "messageMetadata": {"chatId": "chat_1"}})))
            .is_none());
        assert!(view
            .show(chunk(json!({"type": "tool-input-available", "toolCallId": "c1", "toolName": "create_instance", "input": {"name": "x"}})))
            .is_none());
        assert!(view
            .show(chunk(json!({"type": "tool-output-available", "toolCallId": "c1", "output": {"error": {"message": "no"}}})))
            .is_none());
        for c in [
            json!({"type": "start-step"}),
            json!({"type": "text-start", "id": "t"}),
            json!({"type": "text-delta", "id": "t", "delta": "It failed, "}),
            json!({"type": "text-delta", "id": "t", "delta": "sorry.\u{1b}[2J"}),
            json!({"type": "text-end", "id": "t"}),
        ] {
            assert!(view.show(chunk(c)).is_none());
        }
        assert!(matches!(
            view.show(chunk(json!({"type": "finish"}))),
            Some(Outcome::Finished)
        ));
        assert_eq!(
            printed(&view),
            "→ create_instance {\"name\":\"x\"}\n✗ create_instance: no\nIt failed, sorry.\\u{1b}[2J\n"
        );
        assert_eq!(view.chat_id.as_deref(), Some("chat_1"));
        assert_eq!(view.tools["c1"], "create_instance");
        view.last_event = Some(7);
        assert!(view
            .reattach_hint()
            .contains("operator chat --chat chat_1 --attach --after 7"));
    }

    #[test]
    fn an_error_chunk_fails_the_turn() {
        let mut view = TurnView::new(vec![], None);
        match view.show(chunk(
            json!({"type": "error", "errorText": "boom\u{1b}[2J"}),
        )) {
            Some(Outcome::Failed(why)) => assert_eq!(why, "boom\\u{1b}[2J"),
            _ => panic!("expected a failure"),
        }
    }

    #[test]
    fn the_request_names_the_chat_only_when_continuing() {
        let body = |chat| serde_json::to_value(request_body(chat, "hi")).unwrap();
        assert!(body(None).get("id").is_none());
        assert_eq!(body(Some("chat_1"))["id"], "chat_1");
        assert_eq!(body(None)["messages"][0]["parts"][0]["text"], "hi");
        assert_eq!(body(None).as_object().unwrap().len(), 1, "{}", body(None));
    }
}
