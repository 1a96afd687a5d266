//! The MCP methods this server answers: `initialize` (version negotiation), `ping`,
//! `tools/list` and `tools/call`. The tools are the Operator agent's own ([`tools::ALL`]):
//! the same names, descriptions, input schemas, validation and service calls; nothing here
//! describes a tool a second time.

use super::jsonrpc::{JsonRpcError, INVALID_PARAMS, METHOD_NOT_FOUND};
use crate::agent::tools::{self, Effect, Tool};
use crate::services::{Caller, Platform};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Protocol versions spoken here, newest first: the Streamable HTTP transport exists since
/// 2025-03-26.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The version offered to a client that asks for one this server does not speak.
pub const LATEST_VERSION: &str = SUPPORTED_VERSIONS[0];

/// What a client is told about this server.
const INSTRUCTIONS: &str = "Operator: the tools manage this account's agent instances (create, inspect, message, files, commands, skills), secrets (values go in, never come out), automations, webhooks and billing. Instances start as `provisioning` and become `active` shortly after.";

fn invalid_params(message: impl Into<String>) -> JsonRpcError {
    JsonRpcError::new(INVALID_PARAMS, message)
}

/// `params` read as `T`; an error names the member at fault.
fn params<T: serde::de::DeserializeOwned>(params: Map<String, Value>) -> Result<T, JsonRpcError> {
    serde_path_to_error::deserialize(Value::Object(params)).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field = crate::error::failing_field(&path, &msg, "params");
        invalid_params(format!("Invalid params: params.{field}: {msg}"))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    protocol_version: String,
}

/// `initialize`: the result and the negotiated version (the client's when spoken here,
/// else the newest, as the lifecycle's version negotiation says).
pub fn initialize(p: Map<String, Value>) -> Result<(Value, &'static str), JsonRpcError> {
    let asked: InitializeParams = params(p)?;
    let version = SUPPORTED_VERSIONS
        .iter()
        .copied()
        .find(|v| *v == asked.protocol_version)
        .unwrap_or(LATEST_VERSION);
    let result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {
            "name": "operator",
            "title": "Operator",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": INSTRUCTIONS,
    });
    Ok((result, version))
}

#[derive(Deserialize)]
struct ListParams {
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct CallParams {
    name: String,
    arguments: Option<Map<String, Value>>,
}

/// Every request but `initialize`, in a session speaking `version`.
pub async fn handle(
    p: &Platform,
    caller: &Caller,
    version: &'static str,
    method: &str,
    raw: Map<String, Value>,
) -> Result<Value, JsonRpcError> {
    match method {
        "ping" => Ok(json!({})),
        "tools/list" => {
            let ListParams { cursor } = params(raw)?;
            if cursor.is_some() {
                // Every tool is on the one page: no cursor was ever handed out.
                return Err(invalid_params(
                    "Invalid params: params.cursor: unknown cursor",
                ));
            }
            let tools: Vec<Value> = tools::ALL.iter().map(|t| describe(*t)).collect();
            Ok(json!({ "tools": tools }))
        }
        "tools/call" => {
            let call: CallParams = params(raw)?;
            let tool = tools::find(&call.name)
                .ok_or_else(|| invalid_params(format!("Unknown tool: {}", call.name)))?;
            let input = Value::Object(call.arguments.unwrap_or_default());
            Ok(run(p, caller, version, tool, input).await)
        }
        _ => Err(JsonRpcError::new(
            METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )),
    }
}

/// A tool as `tools/list` shows it, with the hints its declared [`Effect`] gives (without
/// them a client must assume every tool may destroy something).
fn describe(tool: &dyn Tool) -> Value {
    json!({
        "name": tool.name(),
        "description": tool.description(),
        "inputSchema": tool.input_schema(),
        "annotations": {
            "readOnlyHint": tool.effect() == Effect::Reads,
            "destructiveHint": tool.effect() == Effect::Changes,
        },
    })
}

/// Runs one tool for the caller. Its output is the result's text (and, from 2025-06-18 on,
/// its `structuredContent`); a failure — invalid arguments included, so the model can
/// correct them — is a result with `isError: true` and API.md's error body, as the agent
/// loop gives it to its own model. The input is never logged (it may hold a secret).
async fn run(
    p: &Platform,
    caller: &Caller,
    version: &'static str,
    tool: &dyn Tool,
    input: Value,
) -> Value {
    let (output, is_error) = match tool.call(p, caller, input).await {
        Ok(v) => (v, false),
        Err(e) => (tools::error_output(e), true),
    };
    tracing::info!(tool = tool.name(), is_error, "mcp tools/call");
    let mut result = json!({
        "content": [{"type": "text", "text": output.to_string()}],
        "isError": is_error,
    });
    if output.is_object() && version >= "2025-06-18" {
        result["structuredContent"] = output;
    }
    result
}
