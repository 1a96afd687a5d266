//! `/mcp`: the Model Context Protocol endpoint (Streamable HTTP transport, protocol
//! 2025-11-25), so assistants and IDEs (Claude Desktop, Cursor, VS Code, agent SDKs) use the
//! Operator agent's tools with an API key.
//!
//! One JSON-RPC message per POST, answered with one `application/json` body (the transport
//! allows that instead of an SSE stream); no server-initiated messages, so GET (a server
//! stream) and DELETE (ending a session) answer 405 with `Allow: POST`, as the transport
//! permits. Sessions are signed tokens ([`session`]): nothing is kept between requests, so
//! the endpoint behaves the same on Lambda as locally.
//!
//! HTTP statuses carry transport failures, with API.md's error body: 400 a missing
//! `Mcp-Session-Id` or an unsupported `MCP-Protocol-Version`, 404 an unknown or expired
//! session (the client then initializes again), 403 a foreign `Origin`, 406 an `Accept`
//! without JSON, 415 a body that is not JSON, 401 from the authentication layer. Everything
//! about the message itself is a JSON-RPC error in a 200 answer (see [`jsonrpc`]).

pub mod jsonrpc;
pub mod methods;
pub mod session;

use crate::http::cors::Cors;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::RawBody;
use crate::http::json::Json;
use crate::services::{Caller, Platform};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use jsonrpc::{Incoming, JsonRpcMessage, JsonRpcResponse};
use methods::SUPPORTED_VERSIONS;
use std::sync::Arc;

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const VERSION_HEADER: &str = "mcp-protocol-version";

/// Send an MCP message
///
/// The MCP endpoint (Streamable HTTP transport; protocol `2025-11-25`, also `2025-06-18` and
/// `2025-03-26`). The body is one JSON-RPC message; a request is answered with one
/// `application/json` JSON-RPC response, a notification or response with 202 and no body.
/// `initialize` negotiates the protocol version and returns the session in the
/// `Mcp-Session-Id` header, which every later message carries. Methods: `initialize`, `ping`,
/// `tools/list` (the Operator agent's tools, with their input schemas) and `tools/call` (a
/// tool's failure, invalid arguments included, is a result with `isError: true` and API.md's
/// error body as text). JSON-RPC errors come in a 200 answer: -32700 the body is not JSON,
/// -32600 not one valid message (batches included), -32601 unknown method, -32602 invalid
/// params or unknown tool.
#[utoipa::path(post, path = "/mcp", operation_id = "sendMcpMessage", tag = "mcp", request_body = JsonRpcMessage,
    params(
        ("Mcp-Session-Id" = Option<String>, Header, description = "the session from the answer to `initialize`; required on every other message"),
        ("MCP-Protocol-Version" = Option<String>, Header, description = "the negotiated protocol version (the session's when absent)")),
    responses(
        (status = 200, body = JsonRpcResponse, description = "the JSON-RPC response to a request (`result` or `error`)",
            headers(("Mcp-Session-Id" = String, description = "the new session, on the answer to `initialize`"))),
        (status = 202, description = "a notification or a response was accepted (no body)"),
        (status = 400, body = ErrorBody, description = "invalid_request: no `Mcp-Session-Id` on a message other than `initialize`, or an unsupported `MCP-Protocol-Version` (or not the session's)"),
        (status = 403, body = ErrorBody, description = "forbidden: a browser `Origin` other than this server's own or one OPERATOR_CORS_ORIGINS lists"),
        (status = 404, body = ErrorBody, description = "not_found: the session is unknown or expired (initialize again)"),
        (status = 406, body = ErrorBody, description = "not_acceptable: `Accept` rules out `application/json`")))]
pub async fn post(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    cors: Option<Extension<Arc<Cors>>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    check_origin(&p, cors.as_deref().map(Arc::as_ref), &headers)?;
    check_accept(&headers)?;
    check_content_type(&headers)?;
    let message = match jsonrpc::read(&body) {
        Ok(m) => m,
        Err(reply) => return Ok(Json(reply).into_response()),
    };
    if let Incoming::Request { id, method, params } = &message {
        if method == "initialize" {
            return Ok(match methods::initialize(params.clone()) {
                Ok((result, version)) => {
                    let expires = p.clock.now() + chrono::Duration::hours(session::TTL_HOURS);
                    let token = session::issue(&p, &caller.account.id, version, expires);
                    let mut res = Json(JsonRpcResponse::result(id.clone(), result)).into_response();
                    if let Ok(v) = HeaderValue::from_str(&token) {
                        res.headers_mut().insert(SESSION_HEADER, v);
                    }
                    res
                }
                Err(e) => Json(JsonRpcResponse::error(Some(id.clone()), e)).into_response(),
            });
        }
    }
    let version = session_version(&p, &caller, &headers)?;
    match message {
        Incoming::Request { id, method, params } => {
            let reply = match methods::handle(&p, &caller, version, &method, params).await {
                Ok(result) => JsonRpcResponse::result(id, result),
                Err(e) => JsonRpcResponse::error(Some(id), e),
            };
            Ok(Json(reply).into_response())
        }
        Incoming::Notification { .. } | Incoming::Response => {
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}

/// Listen for MCP server messages (not offered)
///
/// This server sends no messages of its own (every answer comes with its request), so it
/// offers no server stream: 405 with `Allow: POST`, which the transport allows and MCP
/// clients expect.
#[utoipa::path(get, path = "/mcp", operation_id = "openMcpStream", tag = "mcp",
    responses((status = 405, body = ErrorBody, description = "method_not_allowed: no server stream is offered",
        headers(("Allow" = String, description = "`POST`")))))]
pub async fn get() -> Response {
    only_post("GET /mcp: this server offers no server-to-client stream; POST messages to /mcp")
}

/// End an MCP session (not offered)
///
/// Sessions are signed and expire on their own; nothing is kept to end early: 405 with
/// `Allow: POST`, which the transport allows. A client simply stops using the session.
#[utoipa::path(delete, path = "/mcp", operation_id = "endMcpSession", tag = "mcp",
    responses((status = 405, body = ErrorBody, description = "method_not_allowed: sessions end by expiring",
        headers(("Allow" = String, description = "`POST`")))))]
pub async fn delete() -> Response {
    only_post("DELETE /mcp: sessions are not ended by the client; they expire on their own")
}

fn only_post(message: &str) -> Response {
    let mut res = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        message,
    )
    .into_response();
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}

/// The session's protocol version: `Mcp-Session-Id` must be one this deployment issued to the
/// caller's account and not expired; `MCP-Protocol-Version`, when sent, must be the one it
/// negotiated.
fn session_version(p: &Platform, caller: &Caller, headers: &HeaderMap) -> ApiResult<&'static str> {
    let Some(id) = headers.get(SESSION_HEADER) else {
        return Err(ApiError::bad_request(
            "Mcp-Session-Id header is required: send `initialize` first and repeat the session it returns",
        ));
    };
    let version = id
        .to_str()
        .ok()
        .and_then(|id| session::verify(p, &caller.account.id, id, p.clock.now()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "MCP session not found or expired: send `initialize` again for a new one",
            )
        })?;
    match headers.get(VERSION_HEADER).map(|v| v.to_str().unwrap_or("?")) {
        None => Ok(version),
        Some(asked) if asked == version => Ok(version),
        Some(asked) if SUPPORTED_VERSIONS.contains(&asked) => Err(ApiError::bad_request(format!(
            "MCP-Protocol-Version {asked} is not the version negotiated for this session ({version})"
        ))),
        Some(asked) => Err(ApiError::bad_request(format!(
            "unsupported MCP-Protocol-Version {:?}; supported: {}",
            asked.chars().take(40).collect::<String>(),
            SUPPORTED_VERSIONS.join(", ")
        ))),
    }
}

/// The transport's guard against DNS rebinding: a browser `Origin`, when sent, must be this
/// server's own (its public URL) or one `OPERATOR_CORS_ORIGINS` lists.
fn check_origin(p: &Platform, cors: Option<&Cors>, headers: &HeaderMap) -> ApiResult<()> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let own = origin_of(&p.config.public_url);
    let ok = origin.to_str().is_ok_and(|o| {
        o.trim_end_matches('/').eq_ignore_ascii_case(&own) || cors.is_some_and(|c| c.allows(o))
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("/mcp accepts requests from no browser origin but {own} and those OPERATOR_CORS_ORIGINS lists"),
        ))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{authority}")
        }
        None => url.trim_end_matches('/').to_owned(),
    }
}

/// Answers are `application/json`: an `Accept` must allow it (MCP clients send
/// `application/json, text/event-stream`; no `Accept` at all allows anything).
fn check_accept(headers: &HeaderMap) -> ApiResult<()> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let allows_json = accept.to_str().is_ok_and(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';');
            let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            matches!(mime.as_str(), "application/json" | "application/*" | "*/*") && !refused
        })
    });
    if allows_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "answers are application/json: send Accept: application/json, text/event-stream",
        ))
    }
}

fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json (one JSON-RPC message)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> ApiResult<()> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        check_accept(&h)
    }

    #[test]
    fn accept_must_allow_json() {
        assert!(accept("application/json, text/event-stream").is_ok());
        assert!(accept("text/event-stream, */*;q=0.1").is_ok());
        assert!(accept("Application/JSON").is_ok());
        assert!(accept("text/event-stream").is_err());
        assert!(accept("application/json;q=0, text/event-stream").is_err());
        assert!(check_accept(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn the_origin_of_a_url_is_its_scheme_and_authority() {
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            origin_of("https://ops.example.com/base/"),
            "https://ops.example.com"
        );
        assert_eq!(
            origin_of("https://ops.example.com?x"),
            "https://ops.example.com"
        );
    }
}
