//! The SSE writer (`http::sse`) as the chat stream uses it: events (each a UI message
//! stream chunk, most with an `id:`), keepalive comments between them, `data: [DONE]` last.
//!
//! Input: structured by `arbitrary` — a list of items, each a keepalive or a chunk of any
//! kind with strings full of line breaks, colons and field names, and JSON values of any
//! shape.
//!
//! Properties: what is written parses back, under the SSE rules of the HTML standard (a
//! parser written here from the standard, and `eventsource-stream` fed the bytes in
//! arbitrary pieces, as a client reads them), as exactly the events written — same data,
//! same last-event id — and nothing else: no text inside a value adds a line, a field or
//! an event. Each event's data is the chunk's JSON, which reads back as the same chunk.
#![no_main]

use arbitrary::{Result, Unstructured};
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use operator_core::domain::{Chunk, StartMetadata, SummaryData};
use operator_core::http::sse;
use operator_core::ids::{ChatId, MessageId};
use serde_json::{Map, Value};

/// Fragments that would break a careless SSE writer.
const NASTY: &[&str] = &[
    "\n", "\r", "\r\n", "\n\n", "data: ", "id: 9", ":", "event: x", "\u{feff}", "\0", "\u{2028}",
    "\u{85}", "[DONE]", "\"", "\\",
];

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(items) = items(&mut u) else {
        return;
    };
    // Written as `routes::chat::follow` writes a turn.
    let mut out = String::new();
    let mut want: Vec<(String, String)> = vec![];
    let mut last_id = String::new();
    for item in &items {
        match item {
            None => out.push_str(sse::KEEPALIVE),
            Some((id, chunk)) => {
                let value = chunk.to_value();
                sse::push_event(&mut out, *id, &value);
                if let Some(id) = id {
                    last_id = id.to_string();
                }
                want.push((last_id.clone(), value.to_string()));
            }
        }
    }
    out.push_str(sse::DONE);
    want.push((last_id, "[DONE]".to_owned()));

    for line in out.split('\n') {
        assert!(
            line.is_empty()
                || line.starts_with("id: ")
                || line.starts_with("data: ")
                || line == ": keepalive",
            "a stray line: {line:?}"
        );
        assert!(!line.contains('\r'), "a CR would end a line: {line:?}");
    }
    let parsed = parse(&out);
    assert_eq!(parsed, want, "the standard's parser reads other events");
    let cuts: Vec<u8> = u.arbitrary().unwrap_or_default();
    assert_eq!(
        client(&out, &cuts),
        want,
        "eventsource-stream reads other events"
    );
    // Every event's data is its chunk again.
    for ((_, data), item) in parsed.iter().zip(items.iter().flatten()) {
        let v: Value = serde_json::from_str(data).expect("data is JSON");
        assert_eq!(Chunk::from_value(&v).as_ref(), Some(&item.1));
    }
});

type Item = Option<(Option<u64>, Chunk)>;

fn items(u: &mut Unstructured) -> Result<Vec<Item>> {
    let n = u.int_in_range(0..=8)?;
    let mut out = vec![];
    for _ in 0..n {
        out.push(if u.ratio(1, 5)? {
            None
        } else {
            Some((u.arbitrary()?, chunk(u)?))
        });
    }
    Ok(out)
}

fn chunk(u: &mut Unstructured) -> Result<Chunk> {
    Ok(match u.int_in_range(0..=10)? {
        0 => Chunk::Start {
            message_id: MessageId::from_trusted(text(u)?),
            message_metadata: StartMetadata {
                chat_id: ChatId::from_trusted(text(u)?),
            },
        },
        1 => Chunk::StartStep,
        2 => Chunk::TextStart { id: text(u)? },
        3 => Chunk::TextDelta {
            id: text(u)?,
            delta: text(u)?,
        },
        4 => Chunk::TextEnd { id: text(u)? },
        5 => Chunk::ToolInputAvailable {
            tool_call_id: text(u)?,
            tool_name: text(u)?,
            input: value(u, 3)?,
        },
        6 => Chunk::ToolOutputAvailable {
            tool_call_id: text(u)?,
            output: value(u, 3)?,
        },
        7 => Chunk::FinishStep,
        8 => Chunk::Finish,
        9 => Chunk::Error {
            error_text: text(u)?,
        },
        _ => Chunk::DataSummary {
            data: SummaryData {
                text: text(u)?,
                through: text(u)?,
            },
        },
    })
}

/// Arbitrary text, often with line breaks and SSE syntax in it.
fn text(u: &mut Unstructured) -> Result<String> {
    let mut s = String::new();
    for _ in 0..u.int_in_range(0..=4)? {
        if u.arbitrary()? {
            s.push_str(u.choose(NASTY)?);
        } else {
            s.push_str(u.arbitrary::<&str>()?);
        }
    }
    Ok(s)
}

/// A JSON value of any shape, nested at most `depth` deep.
fn value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let top = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=top)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => Value::from(text(u)?),
        4 => Value::from(u.arbitrary::<u64>()?),
        5 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => {
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=4)? {
                m.insert(text(u)?, value(u, depth - 1)?);
            }
            Value::Object(m)
        }
    })
}

/// The event stream interpretation of the HTML standard (§ 9.2.6), for `message` events:
/// (last event id, data) of each event dispatched.
fn parse(stream: &str) -> Vec<(String, String)> {
    let stream = stream.strip_prefix('\u{feff}').unwrap_or(stream);
    let (mut events, mut data, mut last_id) = (vec![], String::new(), String::new());
    let mut rest = stream;
    // Only complete lines count: text after the last line break is discarded.
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        rest = if rest[end..].starts_with("\r\n") {
            &rest[end + 2..]
        } else {
            &rest[end + 1..]
        };
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                events.push((last_id.clone(), std::mem::take(&mut data)));
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match name {
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => last_id = value.to_owned(),
            _ => {}
        }
    }
    events
}

/// What `eventsource-stream` reads from the bytes cut at `cuts` (piece lengths).
fn client(stream: &str, cuts: &[u8]) -> Vec<(String, String)> {
    let bytes = stream.as_bytes();
    let mut pieces: Vec<Result<Vec<u8>, std::convert::Infallible>> = vec![];
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let len = cuts.get(i).map_or(bytes.len(), |c| usize::from(*c).max(1));
        let end = (at + len).min(bytes.len());
        pieces.push(Ok(bytes[at..end].to_vec()));
        (at, i) = (end, i + 1);
    }
    use eventsource_stream::Eventsource;
    futures::executor::block_on(
        futures::stream::iter(pieces)
            .eventsource()
            .map(|e| {
                let e = e.expect("the client reads the stream");
                (e.id, e.data)
            })
            .collect(),
    )
}
