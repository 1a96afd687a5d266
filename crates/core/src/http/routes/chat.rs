//! `/api/chat`: the Operator agent over the AI SDK UI message stream protocol (v1), JSON
//! mode, history, and re-attaching to a turn by event id.

use super::turns::{answer_text, user_input, Follow, Step};
use crate::domain::{Chat, ChatMessage};
use crate::error::Error;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::json::Json;
use crate::http::sse;
use crate::http::views::ListQuery;
use crate::ids::{AccountId, ChatId, TurnId};
use crate::services::{next_cursor, page_request, Caller, ListKind, Platform};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::convert::Infallible;
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// Continue this chat; omit to start a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// AI SDK UIMessages (`{role, parts: [{type: "text", text}]}`); the last must be the
    /// user's, with text: it is the new input (earlier ones are ignored: the server keeps the
    /// history).
    #[schema(value_type = Vec<Object>, min_items = 1,
        example = json!([{"role": "user", "parts": [{"type": "text", "text": "Create an instance called weather-desk."}]}]))]
    pub messages: Vec<Value>,
    /// What the AI SDK asks for: `submit-message` (the default: a new message, or with
    /// `messageId` of a stored message, an edit that replaces it and what followed) or
    /// `regenerate-message` (answer the last turn, or the one of `messageId`, again: the old
    /// answer and any later turns are replaced, not appended to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// With `trigger`: the stored message (`msg_...`, user or assistant) whose turn is answered
    /// again; ids the server did not issue are ignored.
    #[serde(rename = "messageId", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl ChatRequest {
    /// A new user message, in chat `id` or a new one (what the CLI and scripts send).
    pub fn user_text(id: Option<&str>, text: &str) -> Self {
        Self {
            id: id.map(str::to_owned),
            messages: vec![
                serde_json::json!({"role": "user", "parts": [{"type": "text", "text": text}]}),
            ],
            trigger: None,
            message_id: None,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    SubmitMessage,
    RegenerateMessage,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatJsonReply {
    pub chat_id: String,
    pub text: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    pub id: String,
    pub title: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Chat> for ChatView {
    fn from(c: Chat) -> Self {
        Self {
            id: c.id.to_string(),
            title: c.title,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub role: String,
    #[schema(value_type = Vec<Object>)]
    pub parts: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ChatMessage> for MessageView {
    fn from(m: ChatMessage) -> Self {
        Self {
            id: m.id.to_string(),
            role: m.role,
            parts: m.parts,
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatList {
    pub chats: Vec<ChatView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChatWithMessages {
    pub chat: ChatView,
    pub messages: Vec<MessageView>,
}

/// The last message as `user_input` reads it: its role and its `parts` (or `content`).
fn last_message(messages: &[Value]) -> Option<(&str, &Value)> {
    messages.last().map(|m| {
        let body = if m["parts"].is_array() {
            &m["parts"]
        } else {
            &m["content"]
        };
        (m["role"].as_str().unwrap_or_default(), body)
    })
}

fn sse_headers(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-vercel-ai-ui-message-stream",
        HeaderValue::from_static("v1"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// The turn's events as the UI message stream: each with its SSE id, a comment line as
/// keepalive, and `data: [DONE]` at the end.
fn follow(
    p: Platform,
    account: AccountId,
    chat: ChatId,
    turn: Option<TurnId>,
    after: u64,
) -> axum::body::Body {
    let state = Some(Follow::new(&p, account, chat, turn, after));
    let stream = futures::stream::unfold(state, |state| async move {
        let mut f = state?;
        let bytes = match f.next().await {
            Some(Step::Keepalive) => Bytes::from_static(sse::KEEPALIVE.as_bytes()),
            Some(Step::Events(events)) => {
                let mut out = String::new();
                for (seq, chunk) in events {
                    sse::push_event(&mut out, seq, &chunk.to_value());
                }
                Bytes::from(out)
            }
            None => {
                return Some((
                    Ok::<_, Infallible>(Bytes::from_static(sse::DONE.as_bytes())),
                    None,
                ))
            }
        };
        Some((Ok(bytes), Some(f)))
    });
    axum::body::Body::from_stream(stream)
}

/// Send a message to the Operator agent
///
/// Runs one turn of the Operator agent. Omit `id` to start a chat, pass a `chatId` to continue
/// one; only the last user message is new input (clients that resend history are fine). By
/// default the answer streams as `text/event-stream` in the AI SDK UI message stream protocol v1
/// (`x-vercel-ai-ui-message-stream: v1`); every event carries an SSE `id` for resuming with `GET
/// /api/chat/{id}/stream`. With `x-response-format: json` the call returns `{chatId, text}` once
/// the turn ends. A message to a chat whose turn is running is queued behind it.
#[utoipa::path(post, path = "/api/chat", operation_id = "sendChatMessage", tag = "chat", request_body = ChatRequest,
    params(("x-response-format" = Option<String>, Header, description = "`json` for `{chatId, text}` once the turn ends")),
    responses(
        (status = 200, description = "the turn: streamed by default (AI SDK UI message stream v1: `start`, `start-step`, `text-start`/`text-delta`/`text-end`, `tool-input-available`, `tool-output-available`, `finish-step`, `finish` or `error`, then `data: [DONE]`; each event has an SSE `id:`); with `x-response-format: json`, `{chatId, text}` once it ends",
            content(("text/event-stream"), (ChatJsonReply = "application/json"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "llm_unavailable: no LLM provider configured")))]
pub async fn post(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ChatRequest>,
) -> ApiResult<Response> {
    let posted = match (req.trigger, req.id.as_deref()) {
        (Some(Trigger::RegenerateMessage), Some(chat)) => {
            p.rewrite_chat(&caller, chat, req.message_id.as_deref(), None)
                .await?
        }
        (Some(Trigger::RegenerateMessage), None) => {
            return Err(Error::invalid("id", "regenerating needs the chat's id").into())
        }
        (_, Some(chat))
            if req
                .message_id
                .as_deref()
                .is_some_and(|m| m.starts_with("msg_")) =>
        {
            let text = user_input(last_message(&req.messages))?;
            p.rewrite_chat(&caller, chat, req.message_id.as_deref(), Some(&text))
                .await?
        }
        (_, chat) => {
            let text = user_input(last_message(&req.messages))?;
            p.post_chat_message(&caller, chat, &text).await?
        }
    };
    let json_mode = headers
        .get("x-response-format")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("json"));
    if json_mode {
        let text = answer_text(&p, &caller, &posted).await?;
        return Ok(Json(ChatJsonReply {
            chat_id: posted.chat.id.to_string(),
            text,
        })
        .into_response());
    }
    let body = follow(
        p,
        caller.account.id.clone(),
        posted.chat.id,
        Some(posted.turn.id),
        posted.after_seq,
    );
    let mut res = (StatusCode::OK, body).into_response();
    sse_headers(&mut res);
    Ok(res)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this event id (same as the `Last-Event-ID` header).
    pub after: Option<u64>,
}

/// Re-attach to a chat's turn
///
/// Replays the running (or last) turn of the chat after the given event id (`Last-Event-ID`
/// header or `after` query), then follows it live until it ends. Without a cursor and with no
/// turn queued or running the answer is 204 (nothing to resume), as the AI SDK's `resume`
/// expects; `after=0` replays the last turn from its start.
#[utoipa::path(get, path = "/api/chat/{id}/stream", operation_id = "streamChat", tag = "chat",
    params(("id" = String, Path, description = "chat id"), StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "the last SSE id received")),
    responses((status = 200, content_type = "text/event-stream", description = "replays the running (or last) turn after the cursor, then follows it live"),
        (status = 204, description = "no cursor was given and no turn is queued or running: nothing to resume"),
        (status = 404, body = ErrorBody)))]
pub async fn stream(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> ApiResult<Response> {
    let cursor = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            Error::invalid("Last-Event-ID", "must be an event id from this stream")
        })?),
        None => q.after,
    };
    let (chat, turn) = p.current_turn(&caller, &id).await?;
    let ended = match (&turn, cursor) {
        (None, _) => true,
        // (a turn's end is written with its final state: a streamed end means finished)
        (Some(t), None) => t.status.is_terminal(),
        (Some(_), Some(_)) => false,
    };
    if ended && cursor.is_none() {
        // Nothing to resume (the AI SDK's `resume` asks on every page load): 204, as its
        // transport expects; a cursor asks for a replay of the last turn.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let after = cursor.unwrap_or(0);
    let body = follow(
        p,
        caller.account.id.clone(),
        chat.id,
        turn.map(|t| t.id),
        after,
    );
    let mut res = (StatusCode::OK, body).into_response();
    sse_headers(&mut res);
    Ok(res)
}

/// List chats
///
/// The account's chats, most recently active first.
#[utoipa::path(get, path = "/api/chat/history", operation_id = "listChats", tag = "chat", params(ListQuery),
    responses((status = 200, body = ChatList)))]
pub async fn history(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ChatList>> {
    let page = p
        .chat_history(&caller, &page_request(ListKind::Chats, q.limit, q.cursor)?)
        .await?;
    Ok(Json(ChatList {
        chats: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Chats, page.next_cursor),
    }))
}

/// Get a chat with its messages
///
/// The chat and all its messages; assistant messages carry their text and tool parts (input and
/// output).
#[utoipa::path(get, path = "/api/chat/{id}", operation_id = "getChat", tag = "chat",
    params(("id" = String, Path, description = "chat id")),
    responses((status = 200, body = ChatWithMessages), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChatWithMessages>> {
    let (chat, messages) = p.get_chat(&caller, &id).await?;
    Ok(Json(ChatWithMessages {
        chat: chat.into(),
        messages: messages.into_iter().map(Into::into).collect(),
    }))
}

/// Delete a chat
///
/// Deletes the chat and its history.
#[utoipa::path(delete, path = "/api/chat/{id}", operation_id = "deleteChat", tag = "chat",
    params(("id" = String, Path, description = "chat id")),
    responses((status = 200, body = crate::http::views::OkBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<crate::http::views::OkBody>> {
    p.delete_chat(&caller, &id).await?;
    Ok(Json(crate::http::views::OK))
}
