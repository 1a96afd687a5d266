//! Chats with the Operator agent: posting a message (a queued turn), reading and deleting
//! chats, and the in-process bus that wakes streams when events are appended. Running the
//! queued turns is the agent's (`agent::jobs`), which builds on these.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result, StoreError};
use crate::ids::{AccountId, ChatId, MessageId, TurnId};
use crate::jobs::{Job, JobError};

pub fn llm_unavailable_message() -> String {
    "no LLM provider is configured: set OPERATOR_LLM=openai|anthropic, OPERATOR_LLM_MODEL, \
     OPERATOR_LLM_BASE_URL (optional) and OPENAI_API_KEY or ANTHROPIC_API_KEY"
        .to_owned()
}

pub(crate) fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        crate::ids::ulid_body(u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0))
    )
}

/// A posted message: where its turn's events will appear.
pub struct Posted {
    pub chat: Chat,
    pub turn: Turn,
    /// Events of this turn have sequence numbers above this.
    pub after_seq: u64,
}

impl Platform {
    fn require_llm(&self) -> Result<()> {
        if self.llm.is_none() {
            return Err(Error::Unavailable {
                code: "llm_unavailable",
                message: llm_unavailable_message(),
            });
        }
        Ok(())
    }

    pub(crate) async fn ensure_chat(
        &self,
        account: &AccountId,
        id: &ChatId,
        kind: ChatKind,
        title: &str,
    ) -> Result<Chat> {
        match self.store.get_chat(account, id).await {
            Ok(c) => return Ok(c),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let now = self.clock.now();
        let chat = Chat {
            id: id.clone(),
            account_id: account.clone(),
            title: title.chars().take(80).collect(),
            kind,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_chat(&chat).await {
            Ok(()) => Ok(chat),
            // Created concurrently: use that one.
            Err(StoreError::Conflict(_)) => Ok(self.store.get_chat(account, id).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds the user's message to the chat (created if new) and queues a turn for it.
    #[tracing::instrument(skip(self, caller, text), fields(account = %caller.account.id))]
    pub async fn post_chat_message(
        &self,
        caller: &Caller,
        chat_id: Option<&str>,
        text: &str,
    ) -> Result<Posted> {
        self.require_llm()?;
        if text.trim().is_empty() {
            return Err(Error::invalid(
                "messages",
                "the last message must be a user message with text",
            ));
        }
        if text.chars().count() > 100_000 {
            return Err(Error::invalid(
                "messages",
                "a message may be at most 100000 characters",
            ));
        }
        let id = match chat_id {
            Some(id) => parse_chat_id(id)?,
            None => ChatId::generate(),
        };
        let account = &caller.account.id;
        let chat = self
            .ensure_chat(account, &id, ChatKind::Chat, text.trim())
            .await?;
        self.post_turn(chat, text).await
    }

    /// Answers a chat's turn again: the AI SDK's `regenerate` (`text` = `None`: the turn's own
    /// message) and its edit of an earlier message (`text` = the new wording). The turn is the
    /// one `message_id` (its user or assistant message) belongs to, else the last; its
    /// messages and every later turn's are removed before the new turn is queued, so the
    /// history reads as the client now shows it. 409 while a turn of the chat is queued or
    /// running: the answer being replaced must be finished.
    #[tracing::instrument(skip(self, caller, text), fields(account = %caller.account.id))]
    pub async fn rewrite_chat(
        &self,
        caller: &Caller,
        chat_id: &str,
        message_id: Option<&str>,
        text: Option<&str>,
    ) -> Result<Posted> {
        self.require_llm()?;
        let id = parse_chat_id(chat_id).map_err(|_| Error::not_found("chat", chat_id))?;
        let account = &caller.account.id;
        let chat = self
            .store
            .get_chat(account, &id)
            .await
            .or_not_found("chat", chat_id)?;
        if self.store.next_open_turn(account, &id).await?.is_some() {
            return Err(Error::Conflict(format!(
                "chat {id} has a turn queued or running: wait for it to finish (GET /api/chat/{id}/stream follows it) before regenerating"
            )));
        }
        let messages = self.store.chat_messages(account, &id).await?;
        let named = message_id.and_then(|m| {
            messages
                .iter()
                .find(|stored| stored.id.as_str() == m)
                .and_then(|stored| stored.id.turn_body())
        });
        if let (Some(text), None) = (text, named) {
            // An edit of a message this chat does not hold: a new message after all.
            return self.post_chat_message(caller, Some(chat_id), text).await;
        }
        let Some(from) = named.or_else(|| messages.last().and_then(|m| m.id.turn_body())) else {
            return Err(Error::invalid(
                "messages",
                "this chat has no answer to regenerate yet",
            ));
        };
        let text = match text {
            Some(t) => t.to_owned(),
            None => messages
                .iter()
                .find(|m| m.id.is_user() && m.id.turn_body() == Some(from))
                .map(|m| text_of_parts(m.parts.as_array().map_or(&[][..], Vec::as_slice)))
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    Error::invalid(
                        "messageId",
                        "that answer has no user message to answer again",
                    )
                })?,
        };
        let replaced: Vec<MessageId> = messages
            .iter()
            .filter(|m| m.id.turn_body().is_some_and(|t| t >= from))
            .map(|m| m.id.clone())
            .collect();
        self.store
            .delete_chat_messages(account, &id, &replaced)
            .await?;
        self.post_turn(chat, &text).await
    }

    /// Queues a chat turn for `text` in `chat` and the job that runs it.
    async fn post_turn(&self, chat: Chat, text: &str) -> Result<Posted> {
        let after_seq = self.store.last_chat_seq(&chat.account_id, &chat.id).await?;
        let turn = self.queue_turn(&chat, text, TurnSource::Chat, None).await?;
        self.enqueue(Job::ChatTurn {
            account_id: chat.account_id.clone(),
            chat_id: chat.id.clone(),
        })
        .await?;
        Ok(Posted {
            chat,
            turn,
            after_seq,
        })
    }

    /// Stores the user message and the queued turn (idempotent when `turn_id` is given).
    pub(crate) async fn queue_turn(
        &self,
        chat: &Chat,
        text: &str,
        source: TurnSource,
        turn_id: Option<TurnId>,
    ) -> Result<Turn> {
        let now = self.clock.now();
        let turn_id = turn_id.unwrap_or_else(TurnId::generate);
        let user_message_id = turn_id.user_message();
        self.store
            .insert_chat_message(&ChatMessage {
                id: user_message_id.clone(),
                chat_id: chat.id.clone(),
                account_id: chat.account_id.clone(),
                role: "user".into(),
                parts: serde_json::json!([{"type": "text", "text": text}]),
                created_at: now,
            })
            .await?;
        let turn = Turn {
            id: turn_id.clone(),
            chat_id: chat.id.clone(),
            account_id: chat.account_id.clone(),
            status: TurnStatus::Queued,
            source,
            user_message_id,
            assistant_message_id: turn_id.assistant_message(),
            error: None,
            created_at: now,
            started_at: None,
            finished_at: None,
        };
        Ok(self.store.insert_turn(&turn).await?.into_inner())
    }

    pub async fn chat_history(&self, caller: &Caller, page: &PageRequest) -> Result<Page<Chat>> {
        Ok(self.store.list_chats(&caller.account.id, page).await?)
    }

    pub async fn get_chat(&self, caller: &Caller, id: &str) -> Result<(Chat, Vec<ChatMessage>)> {
        let chat_id = parse_chat_id(id).map_err(|_| Error::not_found("chat", id))?;
        let chat = self
            .store
            .get_chat(&caller.account.id, &chat_id)
            .await
            .or_not_found("chat", id)?;
        let messages = self
            .store
            .chat_messages(&caller.account.id, &chat_id)
            .await?;
        Ok((chat, messages))
    }

    pub async fn delete_chat(&self, caller: &Caller, id: &str) -> Result<()> {
        let chat_id = parse_chat_id(id).map_err(|_| Error::not_found("chat", id))?;
        self.store
            .delete_chat(&caller.account.id, &chat_id)
            .await
            .or_not_found("chat", id)
    }

    /// The turn a re-attaching client follows: the running one, else the last.
    pub async fn current_turn(&self, caller: &Caller, id: &str) -> Result<(Chat, Option<Turn>)> {
        let chat_id = parse_chat_id(id).map_err(|_| Error::not_found("chat", id))?;
        let account = &caller.account.id;
        let chat = self
            .store
            .get_chat(account, &chat_id)
            .await
            .or_not_found("chat", id)?;
        let turn = match self.store.next_open_turn(account, &chat_id).await? {
            Some(t) => Some(t),
            None => self.store.last_turn(account, &chat_id).await?,
        };
        Ok((chat, turn))
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Transient(anyhow::anyhow!("{e}"))
    }
}
