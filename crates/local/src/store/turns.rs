//! Turns, the chat event log and chat leases on SQLite (`TurnStore`): events carry a
//! per-chat sequence number, and one worker at a time holds a chat's lease.

use super::{json_col, map_err, opt_ts, require_changed, unexpected, SqliteStore, R};
use crate::db::{fmt_ts, is_constraint, parse_opt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{params, Connection, OptionalExtension, Row};

fn turn_row(r: &Row) -> rusqlite::Result<Turn> {
    Ok(Turn {
        id: TurnId::from_trusted(r.get::<_, String>("id")?),
        chat_id: ChatId::from_trusted(r.get::<_, String>("chat_id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        status: TurnStatus::parse(&r.get::<_, String>("status")?),
        source: TurnSource::decode(&r.get::<_, String>("source")?),
        user_message_id: MessageId::from_trusted(r.get::<_, String>("user_message_id")?),
        assistant_message_id: MessageId::from_trusted(r.get::<_, String>("assistant_message_id")?),
        error: r.get("error")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        started_at: parse_opt_ts(r.get("started_at")?)?,
        finished_at: parse_opt_ts(r.get("finished_at")?)?,
    })
}

#[async_trait]
impl TurnStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %t.id))]
    async fn insert_turn(&self, t: &Turn) -> R<Inserted<Turn>> {
        let t = t.clone();
        self.db
            .call(move |c| {
                let res = c.exec(
                    "INSERT INTO chat_turns (id, account_id, chat_id, status, source, user_message_id,
                        assistant_message_id, error, created_at, started_at, finished_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        t.id.as_str(),
                        t.account_id.as_str(),
                        t.chat_id.as_str(),
                        t.status.as_str(),
                        t.source.encode(),
                        t.user_message_id.as_str(),
                        t.assistant_message_id.as_str(),
                        t.error,
                        fmt_ts(t.created_at),
                        opt_ts(t.started_at),
                        opt_ts(t.finished_at)
                    ],
                );
                match res {
                    Ok(_) => Ok(Inserted::Created(t)),
                    Err(e) if is_constraint(&e) => {
                        let existing = c
                            .row("SELECT * FROM chat_turns WHERE id = ?1", [t.id.as_str()], turn_row)
                            .map_err(map_err("turn"))?;
                        Ok(Inserted::Existing(existing))
                    }
                    Err(e) => Err(unexpected(e)),
                }
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn get_turn(&self, account: &AccountId, id: &TurnId) -> R<Turn> {
        let (account, id) = (account.clone(), id.as_str().to_owned());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM chat_turns WHERE id = ?1 AND account_id = ?2",
                    params![id, account.as_str()],
                    turn_row,
                )
                .map_err(map_err("turn"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %t.id))]
    async fn update_turn(&self, t: &Turn) -> R<()> {
        let t = t.clone();
        self.db.call(move |c| write_turn(c, &t)).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn next_open_turn(&self, account: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM chat_turns WHERE account_id = ?1 AND chat_id = ?2
                     AND status IN ('queued', 'running') ORDER BY id LIMIT 1",
                    params![account.as_str(), chat.as_str()],
                    turn_row,
                )
                .optional()
                .map_err(unexpected)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn last_turn(&self, account: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM chat_turns WHERE account_id = ?1 AND chat_id = ?2 ORDER BY id DESC LIMIT 1",
                    params![account.as_str(), chat.as_str()],
                    turn_row,
                )
                .optional()
                .map_err(unexpected)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat, n = data.len()))]
    async fn append_chat_events(
        &self,
        account: &AccountId,
        chat: &ChatId,
        turn_id: &TurnId,
        data: &[Chunk],
    ) -> R<u64> {
        let (account, chat, turn_id) = (account.clone(), chat.clone(), turn_id.clone());
        let data = wire(data);
        self.db
            .call(move |c| append_events(c, &account, &chat, &turn_id, &data))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %t.account_id, chat = %t.chat_id, turn = %t.id))]
    async fn end_turn(&self, t: &Turn, data: &Chunk) -> R<u64> {
        let t = t.clone();
        let data = wire(std::slice::from_ref(data));
        self.db
            .call(move |c| {
                let last = append_events(c, &t.account_id, &t.chat_id, &t.id, &data)?;
                write_turn(c, &t)?;
                Ok(last)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn chat_events(
        &self,
        account: &AccountId,
        chat: &ChatId,
        after: u64,
        limit: u32,
    ) -> R<Vec<ChatEvent>> {
        let (account, chat) = (account.clone(), chat.clone());
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.db
            .read(move |c| {
                events(
                    c,
                    "SELECT seq, turn_id, data FROM chat_events WHERE account_id = ?1 AND chat_id = ?2
                     AND seq > ?3 ORDER BY seq LIMIT ?4",
                    (&account, &chat, after, limit),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn chat_events_before(
        &self,
        account: &AccountId,
        chat: &ChatId,
        before: u64,
        limit: u32,
    ) -> R<Vec<ChatEvent>> {
        let (account, chat) = (account.clone(), chat.clone());
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        self.db
            .read(move |c| {
                events(
                    c,
                    "SELECT seq, turn_id, data FROM chat_events WHERE account_id = ?1 AND chat_id = ?2
                     AND seq < ?3 ORDER BY seq DESC LIMIT ?4",
                    (&account, &chat, before, limit),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn last_chat_seq(&self, account: &AccountId, chat: &ChatId) -> R<u64> {
        let (account, chat) = (account.clone(), chat.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT COALESCE(MAX(seq), 0) FROM chat_events WHERE account_id = ?1 AND chat_id = ?2",
                    params![account.as_str(), chat.as_str()],
                    |r| r.get::<_, i64>(0),
                )
                .map(|v| v as u64)
                .map_err(unexpected)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn claim_chat(
        &self,
        account: &AccountId,
        chat: &ChatId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> R<bool> {
        let (account, chat, owner) = (account.clone(), chat.clone(), owner.to_owned());
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE chats SET lease_owner = ?3, lease_until = ?5 WHERE account_id = ?1 AND id = ?2
                         AND (lease_owner IS NULL OR lease_owner = ?3 OR lease_until < ?4)",
                        params![account.as_str(), chat.as_str(), owner, fmt_ts(now), fmt_ts(until)],
                    )
                    .map_err(unexpected)?;
                Ok(n == 1)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, chat = %chat))]
    async fn release_chat(&self, account: &AccountId, chat: &ChatId, owner: &str) -> R<()> {
        let (account, chat, owner) = (account.clone(), chat.clone(), owner.to_owned());
        self.db
            .call(move |c| {
                c.exec(
                    "UPDATE chats SET lease_owner = NULL, lease_until = NULL WHERE account_id = ?1 AND id = ?2 AND lease_owner = ?3",
                    params![account.as_str(), chat.as_str(), owner],
                )
                .map_err(unexpected)?;
                Ok(())
            })
            .await
    }
}

/// A page of the chat's events: `sql` selects `seq, turn_id, data` of account ?1, chat ?2,
/// bounded by ?3, at most ?4.
fn events(
    c: &Connection,
    sql: &str,
    (account, chat, bound, limit): (&AccountId, &ChatId, i64, u32),
) -> R<Vec<ChatEvent>> {
    let mut stmt = c.prepare_cached(sql).map_err(unexpected)?;
    let rows = stmt
        .query_map(
            params![account.as_str(), chat.as_str(), bound, limit],
            event_row,
        )
        .map_err(unexpected)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(unexpected)?;
    Ok(rows)
}

/// A row of `SELECT seq, turn_id, data FROM chat_events`.
fn event_row(r: &rusqlite::Row) -> rusqlite::Result<ChatEvent> {
    Ok(ChatEvent {
        seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        turn_id: TurnId::from_trusted(r.get::<_, String>(1)?),
        data: json_col(r, 2)?,
    })
}

/// Each chunk's wire form (keys sorted), as the stream sends it.
fn wire(data: &[Chunk]) -> Vec<String> {
    data.iter().map(|d| d.to_value().to_string()).collect()
}

/// Appends `data` (wire forms) to the chat's log under `turn_id`; the last number written.
fn append_events(
    c: &Connection,
    account: &AccountId,
    chat: &ChatId,
    turn_id: &TurnId,
    data: &[String],
) -> R<u64> {
    let last: i64 = c
        .row(
            "SELECT COALESCE(MAX(seq), 0) FROM chat_events WHERE account_id = ?1 AND chat_id = ?2",
            params![account.as_str(), chat.as_str()],
            |r| r.get(0),
        )
        .map_err(unexpected)?;
    let mut seq = last;
    for d in data {
        seq += 1;
        c.exec(
            "INSERT INTO chat_events (account_id, chat_id, seq, turn_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![account.as_str(), chat.as_str(), seq, turn_id.as_str(), d],
        )
        .map_err(unexpected)?;
    }
    Ok(u64::try_from(seq).unwrap_or(0))
}

/// Writes a turn's status, error and times; `NotFound` if it is not there.
fn write_turn(c: &Connection, t: &Turn) -> R<()> {
    let n = c
        .exec(
            "UPDATE chat_turns SET status = ?3, error = ?4, started_at = ?5, finished_at = ?6
             WHERE id = ?1 AND account_id = ?2",
            params![
                t.id.as_str(),
                t.account_id.as_str(),
                t.status.as_str(),
                t.error,
                opt_ts(t.started_at),
                opt_ts(t.finished_at)
            ],
        )
        .map_err(unexpected)?;
    require_changed(n)
}
