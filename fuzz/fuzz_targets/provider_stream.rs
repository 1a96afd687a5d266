//! The model providers' stream decoders (`llm::openai`, `llm::anthropic`) and the LLM
//! gateway's usage watcher (`services::UsageWatcher`, which meters a relayed stream), fed a
//! reply body in arbitrary pieces as the network delivers it.
//!
//! Input: byte 0 picks the mode, byte 1 seeds how the body is cut into pieces.
//! - Raw (byte 0 even): the rest is the reply body, any bytes at all. Each decoder must end
//!   (its stream is finite), with exactly one terminal item, last: `Done` or an error; `Done`
//!   only after the provider's end marker; and the same items whether the body comes in one
//!   piece, byte by byte, or cut anywhere.
//! - Scripted (byte 0 odd): the rest, read with `arbitrary`, is a reply — text pieces, tool
//!   calls, usage — written on the wire as each provider writes it (as the fake in
//!   `tests/support/fake_llm.rs` does) with LF, CRLF or CR line endings. Each decoder must
//!   give back exactly that reply, then `Done`; the usage watcher must see the OpenAI
//!   stream's usage, as the decoder does, so a relayed call is metered alike.
#![no_main]

use arbitrary::{Result, Unstructured};
use bytes::Bytes;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use operator_core::fuzzing::{anthropic_decode, openai_decode};
use operator_core::llm::{EventStream, ModelEvent, ToolCall};
use operator_core::services::UsageWatcher;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let [mode, seed, rest @ ..] = data else {
        return;
    };
    if mode % 2 == 0 {
        raw(rest, *seed);
    } else if let Ok(reply) = Reply::read(&mut Unstructured::new(rest)) {
        scripted(&reply, *seed);
    }
});

/// What a decoder yielded: its events, and its error (as text) if it ended with one.
type Outcome = (Vec<ModelEvent>, Option<String>);

fn raw(body: &[u8], seed: u8) {
    for (name, decode, end_marker) in [
        (
            "openai",
            openai_decode as Decoder,
            &["[DONE]", "finish_reason"][..],
        ),
        (
            "anthropic",
            anthropic_decode as Decoder,
            &["message_stop"][..],
        ),
    ] {
        let whole = run(decode, vec![body.to_vec()]);
        let bytewise = run(decode, body.chunks(1).map(<[u8]>::to_vec).collect());
        let cut = run(decode, pieces(body, seed));
        assert_eq!(whole, bytewise, "{name}: byte by byte differs");
        assert_eq!(whole, cut, "{name}: cut differently differs");
        let (events, error) = &whole;
        let done = events.iter().filter(|e| **e == ModelEvent::Done).count();
        match error {
            Some(_) => assert_eq!(done, 0, "{name}: Done and an error"),
            None => assert!(
                done == 1 && events.last() == Some(&ModelEvent::Done),
                "{name}: the stream ended without Done or an error: {events:?}"
            ),
        }
        if done == 1 {
            let text = String::from_utf8_lossy(body);
            assert!(
                end_marker.iter().any(|m| text.contains(m)),
                "{name}: Done without an end marker"
            );
        }
    }
}

type Decoder = fn(futures::stream::BoxStream<'static, reqwest::Result<Bytes>>) -> EventStream;

/// Runs a decoder over the body given as `pieces`, to its end.
fn run(decode: Decoder, pieces: Vec<Vec<u8>>) -> Outcome {
    let input = futures::stream::iter(pieces.into_iter().map(|p| Ok(Bytes::from(p)))).boxed();
    let mut stream = decode(input);
    futures::executor::block_on(async {
        let mut events = vec![];
        while let Some(item) = stream.next().await {
            match item {
                Ok(e) => events.push(e),
                Err(e) => {
                    // Nothing comes after the error.
                    assert!(stream.next().await.is_none(), "an item after an error");
                    return (events, Some(e.to_string()));
                }
            }
        }
        (events, None)
    })
}

/// `body` cut into pieces of 1 to 64 bytes, their lengths drawn from `seed`.
fn pieces(body: &[u8], seed: u8) -> Vec<Vec<u8>> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut out = vec![];
    let mut at = 0;
    while at < body.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state % 64) as usize + 1;
        let end = (at + len).min(body.len());
        out.push(body[at..end].to_vec());
        at = end;
    }
    out
}

/// A model's reply, as the decoders should give it back.
#[derive(Debug)]
struct Reply {
    /// Text pieces, streamed one event each.
    text: Vec<String>,
    /// (id, name, arguments) of each tool call.
    calls: Vec<(String, String, Value)>,
    /// (input, output) tokens.
    usage: (u64, u64),
    /// The line ending the provider writes.
    eol: &'static str,
}

impl Reply {
    fn read(u: &mut Unstructured) -> Result<Self> {
        let mut text: Vec<String> = vec![];
        for _ in 0..u.int_in_range(0..=6)? {
            text.push(u.arbitrary()?);
        }
        let mut calls = vec![];
        for _ in 0..u.int_in_range(0..=2)? {
            let mut args = serde_json::Map::new();
            for _ in 0..u.int_in_range(0..=3)? {
                args.insert(u.arbitrary()?, Value::from(u.arbitrary::<String>()?));
            }
            calls.push((u.arbitrary()?, u.arbitrary()?, Value::Object(args)));
        }
        let usage = (
            u.int_in_range(0..=1_000_000)?,
            u.int_in_range(0..=1_000_000)?,
        );
        let eol = *u.choose(&["\n", "\r\n", "\r"])?;
        Ok(Self {
            text,
            calls,
            usage,
            eol,
        })
    }

    /// The text, as one string.
    fn joined(&self) -> String {
        self.text.concat()
    }

    fn tool_calls(&self) -> Vec<ToolCall> {
        self.calls
            .iter()
            .map(|(id, name, input)| ToolCall {
                id: id.clone(),
                name: name.clone(),
                input: input.clone(),
            })
            .collect()
    }

    /// OpenAI Chat Completions with `stream_options.include_usage`, as `fake_llm` writes it.
    fn openai(&self) -> String {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "chatcmpl-fuzz", "object": "chat.completion.chunk", "created": 0,
                   "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        for piece in &self.text {
            events.push(chunk(json!({ "content": piece }), Value::Null));
        }
        for (i, (id, name, args)) in self.calls.iter().enumerate() {
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                        "function": {"name": name, "arguments": args.to_string()}}]}),
                Value::Null,
            ));
        }
        let finish = if self.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        events.push(chunk(json!({}), json!(finish)));
        events.push(
            json!({"id": "chatcmpl-fuzz", "object": "chat.completion.chunk",
            "created": 0, "model": "m", "choices": [],
            "usage": {"prompt_tokens": self.usage.0, "completion_tokens": self.usage.1,
                      "total_tokens": self.usage.0 + self.usage.1}}),
        );
        let eol = self.eol;
        let mut body: String = events
            .iter()
            .map(|e| format!("data: {e}{eol}{eol}"))
            .collect();
        body.push_str(&format!("data: [DONE]{eol}{eol}"));
        body
    }

    /// Anthropic Messages, as `fake_llm` writes it (tool input in two `input_json_delta`s).
    fn anthropic(&self) -> String {
        let mut frames = vec![(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_fuzz", "type": "message",
                "role": "assistant", "content": [], "model": "m", "stop_reason": null,
                "usage": {"input_tokens": self.usage.0, "output_tokens": 1}}}),
        )];
        let mut index = 0;
        if !self.text.is_empty() {
            frames.push((
                "content_block_start",
                json!({"type": "content_block_start",
                "index": index, "content_block": {"type": "text", "text": ""}}),
            ));
            for piece in &self.text {
                frames.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta",
                    "index": index, "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
            frames.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
            index += 1;
        }
        for (id, name, args) in &self.calls {
            frames.push((
                "content_block_start",
                json!({"type": "content_block_start",
                "index": index, "content_block": {"type": "tool_use", "id": id, "name": name,
                "input": {}}}),
            ));
            let args = args.to_string();
            let mut half = args.len() / 2;
            while !args.is_char_boundary(half) {
                half -= 1;
            }
            for part in [&args[..half], &args[half..]] {
                frames.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta",
                    "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}),
                ));
            }
            frames.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
            index += 1;
        }
        frames.push((
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": self.usage.1}}),
        ));
        frames.push(("message_stop", json!({"type": "message_stop"})));
        let eol = self.eol;
        frames
            .into_iter()
            .map(|(name, data)| format!("event: {name}{eol}data: {data}{eol}{eol}"))
            .collect()
    }
}

fn scripted(reply: &Reply, seed: u8) {
    for (name, decode, body) in [
        ("openai", openai_decode as Decoder, reply.openai()),
        ("anthropic", anthropic_decode as Decoder, reply.anthropic()),
    ] {
        let (events, error) = run(decode, pieces(body.as_bytes(), seed));
        assert_eq!(error, None, "{name}: {body:?}");
        let mut text = String::new();
        let (mut calls, mut usage) = (vec![], None);
        for e in &events {
            match e {
                ModelEvent::TextDelta(t) => text.push_str(t),
                ModelEvent::ToolCall(c) => calls.push(c.clone()),
                ModelEvent::Usage { input, output } => usage = Some((*input, *output)),
                ModelEvent::Done => {}
            }
        }
        assert_eq!(text, reply.joined(), "{name}: the text");
        assert_eq!(calls, reply.tool_calls(), "{name}: the tool calls");
        assert_eq!(usage, Some(reply.usage), "{name}: the usage");
        assert_eq!(events.last(), Some(&ModelEvent::Done), "{name}: Done last");
        if name == "openai" {
            let mut watcher = UsageWatcher::default();
            for piece in pieces(body.as_bytes(), seed) {
                watcher.feed(&piece);
            }
            assert_eq!(
                watcher.usage(),
                Some(reply.usage),
                "the gateway meters a relayed stream otherwise: {body:?}"
            );
        }
    }
}
