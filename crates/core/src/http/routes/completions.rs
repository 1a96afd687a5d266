//! `/api/v1/chat/completions` and `/api/v1/models`: the Operator agent behind the OpenAI Chat
//! Completions shape (the hosted product's older API, `model: "operator"`), so the official
//! `openai` clients and the tools built on them can drive the platform. A request is one chat
//! turn: its last user message goes to the agent, exactly as `POST /api/chat` sends it; the
//! chat id travels in `metadata.chatId` (or `user`, when it is a chat id) and comes back in the
//! `x-operator-chat-id` header and the completion's `metadata`.

use super::turns::{answer_text, user_input, Follow, Step};
use crate::domain::Chunk;
use crate::error::Error;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::ApiJson;
use crate::http::json::Json;
use crate::http::sse;
use crate::services::{Caller, Platform, Posted};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::convert::Infallible;
use utoipa::ToSchema;

/// The one model this endpoint serves.
pub const MODEL: &str = "operator";

#[derive(Deserialize, ToSchema)]
pub struct CompletionRequest {
    /// `operator` (any case): the Operator agent.
    #[schema(example = "operator")]
    pub model: String,
    /// OpenAI chat messages; the last must be the user's, with text (a string, or `text`
    /// parts): it is the new input. Earlier ones are not sent again: the server keeps the
    /// chat's history.
    #[schema(min_items = 1)]
    pub messages: Vec<CompletionMessage>,
    /// Stream `chat.completion.chunk`s as server-sent events, then `data: [DONE]`.
    pub stream: Option<bool>,
    /// A chat id (`chat_...`) continues that chat (another value is ignored).
    pub user: Option<String>,
    /// `chatId` continues that chat.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize, ToSchema)]
pub struct CompletionMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// A string, or an array of parts (`{"type": "text", "text"}`).
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Completion {
    /// `chatcmpl-` and the turn's id.
    pub id: String,
    /// `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    pub model: &'static str,
    pub choices: Vec<CompletionChoice>,
    /// `{"chatId"}`: send it back in `metadata` to continue this chat.
    #[schema(value_type = Object)]
    pub metadata: Value,
}

#[derive(Serialize, ToSchema)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: CompletionReply,
    /// `stop`.
    pub finish_reason: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct CompletionReply {
    /// `assistant`.
    pub role: &'static str,
    /// The agent's answer (its text; the tool calls it made are in the chat's history).
    pub content: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    /// `list`.
    pub object: &'static str,
    pub data: Vec<ModelView>,
}

impl ModelList {
    /// A list of the one model `id`, created at `created`.
    pub fn one(id: String, created: crate::domain::Timestamp) -> Self {
        Self {
            object: "list",
            data: vec![ModelView {
                id,
                object: "model",
                created: created.timestamp(),
                owned_by: "operator",
            }],
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelView {
    /// `operator` here; the configured model on the instances' gateway.
    pub id: String,
    /// `model`.
    pub object: &'static str,
    /// Unix seconds: when the account (the instance, on the gateway) was created.
    pub created: i64,
    pub owned_by: &'static str,
}

/// The chat a request continues: `metadata.chatId`, else `user` when it is a chat id.
fn chat_of(req: &CompletionRequest) -> Result<Option<String>, Error> {
    match req.metadata.as_ref().and_then(|m| m.get("chatId")) {
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(Value::Null) | None => Ok(req
            .user
            .as_ref()
            .filter(|u| u.starts_with("chat_"))
            .cloned()),
        Some(_) => Err(Error::invalid(
            "metadata.chatId",
            "must be a chat id string",
        )),
    }
}

/// Chat with the Operator agent (OpenAI-compatible)
///
/// One turn of the Operator agent in the OpenAI Chat Completions shape, for the official
/// `openai` clients (base URL `<server>/api/v1`, API key = an Operator key, `model:
/// "operator"`). The last user message is the input; the server keeps the history, so pass
/// the chat id from the `x-operator-chat-id` header (or the completion's `metadata.chatId`)
/// back in `metadata.chatId` to continue a chat. With `stream: true` the answer's text
/// streams as `chat.completion.chunk` events, then `data: [DONE]`; tool calls the agent makes
/// run on the server and are not streamed (they are in `GET /api/chat/{id}`).
#[utoipa::path(post, path = "/api/v1/chat/completions", operation_id = "createChatCompletion", tag = "openai",
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "the completion; with `stream: true`, `chat.completion.chunk` server-sent events then `data: [DONE]`",
            headers(("x-operator-chat-id" = String, description = "the chat this turn belongs to")),
            content((Completion = "application/json"), ("text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody, description = "the agent could not finish the turn"),
        (status = 503, body = ErrorBody, description = "llm_unavailable: no LLM provider configured")))]
pub async fn chat_completions(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CompletionRequest>,
) -> ApiResult<Response> {
    if !req.model.eq_ignore_ascii_case(MODEL) {
        return Err(Error::invalid(
            "model",
            format!("this endpoint serves one model, \"{MODEL}\" (the Operator agent)"),
        )
        .into());
    }
    let text = user_input(
        req.messages
            .last()
            .map(|m| (m.role.as_str(), m.content.as_ref().unwrap_or(&Value::Null))),
    )?;
    let chat = chat_of(&req)?;
    let posted = p.post_chat_message(&caller, chat.as_deref(), &text).await?;
    let id = format!("chatcmpl-{}", posted.turn.id);
    let created = posted.turn.created_at.timestamp();
    let chat_header =
        HeaderValue::from_str(posted.chat.id.as_str()).map_err(|e| Error::Unexpected(e.into()))?;
    let mut res = if req.stream == Some(true) {
        let mut res = (StatusCode::OK, stream(&p, &caller, &posted, id, created)).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        res
    } else {
        let content = answer_text(&p, &caller, &posted).await?;
        Json(Completion {
            id,
            object: "chat.completion",
            created,
            model: MODEL,
            choices: vec![CompletionChoice {
                index: 0,
                message: CompletionReply {
                    role: "assistant",
                    content,
                },
                finish_reason: "stop",
            }],
            metadata: json!({"chatId": posted.chat.id}),
        })
        .into_response()
    };
    res.headers_mut().insert("x-operator-chat-id", chat_header);
    Ok(res)
}

/// The turn's text as `chat.completion.chunk`s: the role first, each text delta as it comes
/// (text blocks of separate steps apart by a blank line), `finish_reason: "stop"` last — or an
/// `error` event when the turn fails — then `[DONE]`.
fn stream(
    p: &Platform,
    caller: &Caller,
    posted: &Posted,
    id: String,
    created: i64,
) -> axum::body::Body {
    let follow = Follow::new(
        p,
        caller.account.id.clone(),
        posted.chat.id.clone(),
        Some(posted.turn.id.clone()),
        posted.after_seq,
    );
    let chunk = move |delta: Value, finish: Option<&str>| {
        let v = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        sse::event(&v)
    };
    let first = chunk(json!({"role": "assistant", "content": ""}), None);
    // (follower, whether text was sent, whether a block of text ended since)
    let state = Some((follow, false, false));
    let rest = futures::stream::unfold(state, move |state| {
        let chunk = chunk.clone();
        async move {
            let (mut f, mut wrote, mut ended) = state?;
            let out = match f.next().await {
                Some(Step::Keepalive) => sse::KEEPALIVE.to_owned(),
                Some(Step::Events(events)) => {
                    let mut out = String::new();
                    for (_, c) in events {
                        match c {
                            Chunk::TextDelta { delta, .. } if !delta.is_empty() => {
                                let sep = if wrote && ended { "\n\n" } else { "" };
                                out.push_str(&chunk(
                                    json!({"content": format!("{sep}{delta}")}),
                                    None,
                                ));
                                (wrote, ended) = (true, false);
                            }
                            Chunk::TextEnd { .. } => ended = true,
                            Chunk::Finish => out.push_str(&chunk(json!({}), Some("stop"))),
                            Chunk::Error { error_text } => {
                                let e = json!({"error": {"message": format!("the agent could not finish: {error_text}"),
                                    "type": "server_error", "code": "agent_failed"}});
                                sse::push_event(&mut out, None, &e);
                            }
                            _ => {}
                        }
                    }
                    out
                }
                None => {
                    return Some((
                        Ok::<_, Infallible>(Bytes::from_static(sse::DONE.as_bytes())),
                        None,
                    ))
                }
            };
            Some((Ok(Bytes::from(out)), Some((f, wrote, ended))))
        }
    });
    let first = futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(first)) });
    axum::body::Body::from_stream(futures::StreamExt::chain(first, rest))
}

/// List models (OpenAI-compatible)
///
/// The one model of the OpenAI-compatible endpoint: `operator`, the Operator agent.
#[utoipa::path(get, path = "/api/v1/models", operation_id = "listModels", tag = "openai",
    responses((status = 200, body = ModelList)))]
pub async fn models(Extension(caller): Extension<Caller>) -> Json<ModelList> {
    Json(ModelList::one(MODEL.to_owned(), caller.account.created_at))
}
