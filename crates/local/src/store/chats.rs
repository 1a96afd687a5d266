//! Chats and their messages on SQLite (`ChatStore`), and the start-up release of chat
//! leases a previous process held.

use super::{json_col, map_err, require_changed, unexpected, SqliteStore, R};
use crate::db::{fmt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{params, Row};

fn chat_row(r: &Row) -> rusqlite::Result<Chat> {
    Ok(Chat {
        id: ChatId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        title: r.get("title")?,
        kind: ChatKind::parse(&r.get::<_, String>("kind")?),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
    })
}

#[async_trait]
impl ChatStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %chat.id))]
    async fn insert_chat(&self, chat: &Chat) -> R<()> {
        let chat = chat.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT INTO chats (account_id, id, title, kind, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        chat.account_id.as_str(),
                        chat.id.as_str(),
                        chat.title,
                        chat.kind.as_str(),
                        fmt_ts(chat.created_at),
                        fmt_ts(chat.updated_at)
                    ],
                )
                .map_err(map_err("chat"))?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get_chat(&self, account: &AccountId, id: &ChatId) -> R<Chat> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM chats WHERE account_id = ?1 AND id = ?2",
                    params![account.as_str(), id.as_str()],
                    chat_row,
                )
                .map_err(map_err("chat"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn list_chats(&self, account: &AccountId, p: &PageRequest) -> R<Page<Chat>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .read(move |c| {
                let cursor: Option<i64> = p.cursor.as_deref().and_then(|s| s.parse().ok());
                let mut stmt = c
                    .prepare_cached(
                        "SELECT rowid AS rid, * FROM chats WHERE account_id = ?1 AND (?2 IS NULL OR rowid < ?2)
                         ORDER BY rowid DESC LIMIT ?3",
                    )
                    .map_err(unexpected)?;
                let rows = stmt
                    .query_map(params![account.as_str(), cursor, i64::from(p.limit) + 1], |r| {
                        Ok((r.get::<_, i64>("rid")?, chat_row(r)?))
                    })
                    .map_err(unexpected)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(unexpected)?;
                let page = Page::from_overfetch(rows, p.limit, |(rid, _)| rid.to_string());
                Ok(Page {
                    items: page.items.into_iter().map(|(_, c)| c).collect(),
                    next_cursor: page.next_cursor,
                })
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %chat.id))]
    async fn update_chat(&self, chat: &Chat) -> R<()> {
        let chat = chat.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE chats SET title = ?3, updated_at = ?4 WHERE account_id = ?1 AND id = ?2",
                        params![chat.account_id.as_str(), chat.id.as_str(), chat.title, fmt_ts(chat.updated_at)],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn delete_chat(&self, account: &AccountId, id: &ChatId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "DELETE FROM chats WHERE account_id = ?1 AND id = ?2",
                        params![account.as_str(), id.as_str()],
                    )
                    .map_err(unexpected)?;
                for table in ["chat_messages", "chat_turns", "chat_events"] {
                    c.exec(
                        &format!("DELETE FROM {table} WHERE account_id = ?1 AND chat_id = ?2"),
                        params![account.as_str(), id.as_str()],
                    )
                    .map_err(unexpected)?;
                }
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %m.id))]
    async fn insert_chat_message(&self, m: &ChatMessage) -> R<()> {
        let m = m.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT OR REPLACE INTO chat_messages (account_id, chat_id, id, role, parts, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        m.account_id.as_str(),
                        m.chat_id.as_str(),
                        m.id.as_str(),
                        m.role,
                        m.parts.to_string(),
                        fmt_ts(m.created_at)
                    ],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn chat_messages(&self, account: &AccountId, chat: &ChatId) -> R<Vec<ChatMessage>> {
        self.chat_messages_after(account, chat, "").await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn chat_messages_after(
        &self,
        account: &AccountId,
        chat: &ChatId,
        after: &str,
    ) -> R<Vec<ChatMessage>> {
        let (account, chat, after) = (account.clone(), chat.clone(), after.to_owned());
        self.db
            .scan(move |c| {
                // Two ranges of the primary key, the users' messages and the answers, each
                // from the first turn after `after` (ids are `msg_u<turn>` / `msg_a<turn>`).
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, chat_id, account_id, role, parts, created_at FROM chat_messages
                         WHERE account_id = ?1 AND chat_id = ?2 AND id > ?3 AND id < ?4",
                    )
                    .map_err(unexpected)?;
                let mut rows = Vec::new();
                for (kind, end) in [("msg_u", "msg_v"), ("msg_a", "msg_b")] {
                    let from = format!("{kind}{after}");
                    let part = stmt
                        .query_map(
                            params![account.as_str(), chat.as_str(), from, end],
                            message_row,
                        )
                        .map_err(unexpected)?
                        .collect::<rusqlite::Result<Vec<ChatMessage>>>()
                        .map_err(unexpected)?;
                    rows.extend(part);
                }
                // The order is the ids' (MessageId says what it is), not a slice of them here.
                rows.sort_by(|a, b| a.id.conversation_order(&b.id));
                Ok(rows)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn delete_chat_messages(
        &self,
        account: &AccountId,
        chat: &ChatId,
        ids: &[MessageId],
    ) -> R<()> {
        let (account, chat, ids) = (account.clone(), chat.clone(), ids.to_vec());
        self.db
            .call(move |c| {
                for id in &ids {
                    c.exec(
                        "DELETE FROM chat_messages WHERE account_id = ?1 AND chat_id = ?2 AND id = ?3",
                        params![account.as_str(), chat.as_str(), id.as_str()],
                    )
                    .map_err(unexpected)?;
                }
                Ok(())
            })
            .await
    }
}

impl SqliteStore {
    /// Embedded start-up: the previous process's chat leases are void (it is gone).
    pub async fn release_all_chat_leases(&self) -> anyhow::Result<()> {
        self.db
            .call(|c| -> anyhow::Result<()> {
                c.exec(
                    "UPDATE chats SET lease_owner = NULL, lease_until = NULL",
                    [],
                )?;
                Ok(())
            })
            .await
    }
}

/// A row of `SELECT id, chat_id, account_id, role, parts, created_at FROM chat_messages`.
fn message_row(r: &rusqlite::Row) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        id: MessageId::from_trusted(r.get::<_, String>(0)?),
        chat_id: ChatId::from_trusted(r.get::<_, String>(1)?),
        account_id: AccountId::from_trusted(r.get::<_, String>(2)?),
        role: r.get(3)?,
        parts: json_col(r, 4)?,
        created_at: parse_ts(&r.get::<_, String>(5)?)?,
    })
}
