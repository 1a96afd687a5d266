//! `@name` routing: a chat message that starts with `@<instance-name>` (an instance of the
//! account) goes to that instance's own agent, without asking the Operator's model. The
//! delivery shows in the turn as a `message_instance` tool step (the same tool the model
//! would call, run once per turn even across restarts), and the instance agent's reply is
//! the turn's text.

use super::replay::Step;
use super::tools::{self, ToolDef};
use super::{finish, Run};
use crate::domain::{Chunk, InstanceName};
use crate::error::Result;
use crate::llm::ToolCall;
use serde_json::json;

/// `(instance name, the message for it)` when `text` addresses an instance by `@name`.
pub fn mention(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim_start().strip_prefix('@')?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .unwrap_or(rest.len());
    let (name, message) = rest.split_at(end);
    let message = message.trim_start_matches([':', ',']).trim();
    (InstanceName::parse(name).is_ok() && !message.is_empty()).then_some((name, message))
}

/// The turn's call that delivers the message (one per turn).
fn delivery(run: &Run<'_>, name: &str, text: &str) -> ToolCall {
    ToolCall {
        id: format!("route_{}", run.turn.id),
        name: tools::workspace::Message::NAME.to_owned(),
        input: json!({"instance": name, "text": text}),
    }
}

/// Runs (or resumes, from the steps its log holds) a turn addressed to `@name`.
pub(super) async fn routed(
    run: &Run<'_>,
    name: &str,
    text: &str,
    logged: &[Step],
) -> Result<Option<String>> {
    let call = delivery(run, name, text);
    let delivered = logged
        .iter()
        .any(|s| s.calls.iter().any(|c| c.id == call.id));
    // Run once (a resumed turn gets the recorded output back, without a second delivery).
    let output = if delivered {
        run.call_tool(&call).await
    } else {
        run.push(Chunk::StartStep);
        run.push(Chunk::ToolInputAvailable {
            tool_call_id: call.id.clone(),
            tool_name: call.name.clone(),
            input: call.input.clone(),
        });
        // The delivery shows before the instance answers (its agent may take a while).
        run.flush().await?;
        let output = run.call_tool(&call).await;
        run.push(Chunk::ToolOutputAvailable {
            tool_call_id: call.id.clone(),
            output: output.clone(),
        });
        run.push(Chunk::FinishStep);
        output
    };
    if let Some(e) = output.get("error") {
        let why = e["message"]
            .as_str()
            .unwrap_or("the instance did not answer");
        return finish(run, Some(format!("@{name}: {why}"))).await;
    }
    let reply = output["text"].as_str().unwrap_or_default().to_owned();
    let id = format!("txt_route_{}", run.turn.id);
    run.push(Chunk::StartStep);
    run.push(Chunk::TextStart { id: id.clone() });
    run.push(Chunk::TextDelta {
        id: id.clone(),
        delta: reply,
    });
    run.push(Chunk::TextEnd { id });
    run.push(Chunk::FinishStep);
    finish(run, None).await
}

#[cfg(test)]
mod tests {
    use super::mention;

    #[test]
    fn a_leading_mention_of_a_valid_name_with_a_message_routes() {
        assert_eq!(
            mention("@weather-desk what is 2 + 3"),
            Some(("weather-desk", "what is 2 + 3"))
        );
        assert_eq!(mention("  @desk: hello"), Some(("desk", "hello")));
        assert_eq!(mention("@desk, hi there"), Some(("desk", "hi there")));
        // not a mention: no message, not leading, not a name
        assert_eq!(mention("@desk"), None);
        assert_eq!(mention("ask @desk something"), None);
        assert_eq!(mention("@Desk hi"), None);
        assert_eq!(mention("email a@b.c"), None);
    }
}
