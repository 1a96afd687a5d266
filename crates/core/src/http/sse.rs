//! The server-sent events the API writes: the chat stream (`/api/chat`, the AI SDK UI
//! message stream) and `chat.completion.chunk` streams (`/api/v1/chat/completions`). One
//! writer, so every stream frames its events the same way: an optional `id:` line, one
//! `data:` line of compact JSON, and a blank line. Compact JSON has no line break (serde_json
//! escapes CR and LF inside strings), so no value can add a line or end its event early; the
//! `sse_writer` fuzz target (`fuzz/`) checks that what is written parses back as the same
//! events.

use serde_json::Value;
use std::fmt::Write;

/// A comment that keeps an idle stream (and every proxy on its way) open.
pub const KEEPALIVE: &str = ": keepalive\n\n";

/// The last event of every stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// Appends one event carrying `data`, with its `id:` line when `id` is given.
pub fn push_event(out: &mut String, id: Option<u64>, data: &Value) {
    // Writing into a `String` cannot fail.
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    let _ = writeln!(out, "data: {data}\n");
}

/// One event carrying `data`, without an id.
pub fn event(data: &Value) -> String {
    let mut out = String::new();
    push_event(&mut out, None, data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_is_its_id_one_data_line_and_a_blank_line() {
        // GIVEN a value whose strings hold line breaks
        let v = json!({"delta": "a\nb\r\ndata: injected\r"});
        // WHEN it is written with an id
        let mut out = String::new();
        push_event(&mut out, Some(7), &v);
        // THEN the breaks stay escaped inside the one data line
        assert_eq!(
            out,
            "id: 7\ndata: {\"delta\":\"a\\nb\\r\\ndata: injected\\r\"}\n\n"
        );
        assert_eq!(event(&json!(1)), "data: 1\n\n");
    }
}
