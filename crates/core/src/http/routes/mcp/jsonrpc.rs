//! JSON-RPC 2.0 as MCP uses it: one message per HTTP request (batches were removed from MCP
//! in 2025-06-18), request ids that are strings or integers (never `null`), `params` an
//! object. [`read`] turns a POST body into an [`Incoming`] message or the JSON-RPC error to
//! answer with: -32700 for a body that is not JSON, -32600 for JSON that is not one valid
//! message (the error names the field at fault).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// The `jsonrpc` member: always `"2.0"`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub enum JsonRpcVersion {
    #[serde(rename = "2.0")]
    V2,
}

/// A request id: a string or an integer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RequestId {
    Number(i64),
    String(String),
}

/// One JSON-RPC message from the client: a request (`method` and `id`), a notification
/// (`method`, no `id`), or a response to a server request (`id` and `result` or `error`;
/// this server sends no requests, so these are accepted and dropped).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "docs", "version": "1"}}}))]
pub struct JsonRpcMessage {
    pub jsonrpc: JsonRpcVersion,
    /// Absent on notifications; never `null`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub id: Option<RequestId>,
    /// `initialize`, `ping`, `tools/list`, `tools/call`, `notifications/...`
    pub method: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub params: Option<Map<String, Value>>,
    /// A client's answer to a server request.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// A client's error answer to a server request.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
}

/// A member that is present is read as its type (so `"id": null` is an error, not absent).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The answer to a request: `result` or `error`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JsonRpcResponse {
    pub jsonrpc: JsonRpcVersion,
    /// The request's id; `null` when it could not be read (parse error, invalid request).
    pub id: Option<RequestId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JsonRpcError>,
}

/// A JSON-RPC error: -32700 parse error, -32600 invalid request, -32601 method not found,
/// -32602 invalid params (also an unknown tool).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JsonRpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

impl JsonRpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
}

impl JsonRpcResponse {
    pub fn result(id: RequestId, result: Value) -> Self {
        Self {
            jsonrpc: JsonRpcVersion::V2,
            id: Some(id),
            result: Some(result),
            error: None,
        }
    }

    pub fn error(id: Option<RequestId>, error: JsonRpcError) -> Self {
        Self {
            jsonrpc: JsonRpcVersion::V2,
            id,
            result: None,
            error: Some(error),
        }
    }
}

/// A message as the endpoint handles it.
#[derive(Debug)]
pub enum Incoming {
    Request {
        id: RequestId,
        method: String,
        params: Map<String, Value>,
    },
    Notification {
        method: String,
    },
    /// A client's answer to a server request (this server sends none).
    Response,
}

/// The POST body as one message, or the error response to send back.
pub fn read(body: &[u8]) -> Result<Incoming, JsonRpcResponse> {
    let fail =
        |id, code, message: String| JsonRpcResponse::error(id, JsonRpcError::new(code, message));
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        fail(
            None,
            PARSE_ERROR,
            format!("Parse error: the body is not JSON ({e})"),
        )
    })?;
    let object =
        match &value {
            Value::Object(o) => o,
            Value::Array(_) => return Err(fail(
                None,
                INVALID_REQUEST,
                "Invalid Request: batches are not supported; send one JSON-RPC message per request"
                    .into(),
            )),
            _ => {
                return Err(fail(
                    None,
                    INVALID_REQUEST,
                    "Invalid Request: a JSON-RPC message is a JSON object".into(),
                ))
            }
        };
    // The id, when readable, goes back on the error so the client can match it.
    let id = object
        .get("id")
        .and_then(|v| RequestId::deserialize(v).ok());
    let msg: JsonRpcMessage = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = crate::error::failing_field(&path, &inner, "message");
        fail(
            id.clone(),
            INVALID_REQUEST,
            format!("Invalid Request: {field}: {inner}"),
        )
    })?;
    match (msg.method, msg.id) {
        (Some(method), Some(id)) => Ok(Incoming::Request {
            id,
            method,
            params: msg.params.unwrap_or_default(),
        }),
        (Some(method), None) => Ok(Incoming::Notification { method }),
        (None, Some(_)) if msg.result.is_some() || msg.error.is_some() => Ok(Incoming::Response),
        (None, id) => Err(fail(
            id,
            INVALID_REQUEST,
            "Invalid Request: a message has a `method` (request, notification) or an `id` with a `result` or `error` (response)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(body: &str) -> (Option<RequestId>, i64, String) {
        let r = read(body.as_bytes()).unwrap_err();
        let e = r.error.unwrap();
        (r.id, e.code, e.message)
    }

    #[test]
    fn messages_are_told_apart() {
        let r = read(br#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#).unwrap();
        assert!(matches!(r, Incoming::Request { id: RequestId::String(ref s), .. } if s == "a"));
        let n = read(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(n, Incoming::Notification { .. }));
        let a = read(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#).unwrap();
        assert!(matches!(a, Incoming::Response));
    }

    #[test]
    fn bad_messages_get_the_json_rpc_error_that_names_the_fault() {
        assert_eq!(error_of("{nope").1, PARSE_ERROR);
        assert_eq!(error_of("").1, PARSE_ERROR);
        let (_, code, msg) = error_of(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
        assert_eq!(code, INVALID_REQUEST);
        assert!(msg.contains("batch"), "{msg}");
        assert_eq!(error_of("7").1, INVALID_REQUEST);
        let (id, code, msg) = error_of(r#"{"jsonrpc":"1.0","id":4,"method":"ping"}"#);
        assert_eq!((id, code), (Some(RequestId::Number(4)), INVALID_REQUEST));
        assert!(msg.contains("jsonrpc"), "{msg}");
        let (id, code, msg) = error_of(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#);
        assert_eq!((id, code), (None, INVALID_REQUEST));
        assert!(msg.contains("id"), "{msg}");
        let (_, _, msg) = error_of(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#);
        assert!(msg.contains("params"), "{msg}");
        let (_, _, msg) = error_of(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#);
        assert!(msg.contains("id"), "{msg}");
        let (_, code, msg) = error_of(r#"{"id":1,"method":"ping"}"#);
        assert_eq!(code, INVALID_REQUEST);
        assert!(msg.contains("jsonrpc"), "{msg}");
        assert_eq!(error_of(r#"{"jsonrpc":"2.0","id":1}"#).1, INVALID_REQUEST);
    }
}
