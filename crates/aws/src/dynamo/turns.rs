//! `TurnStore`: turns in the chat's partition with an id lookup, the chat's event log, and
//! the lease on the chat item. An event takes the next sequence number by advancing the
//! chat item's `seq` under a condition in the same transaction as the event, so two appends
//! never share a number; the loser retries (bounded). A turn's billing event is written in
//! the transaction that creates the turn.

use super::automations::BILLING;
use super::codec::{attr_n, attr_s, doc, item, n, s, ts, unexpected, Item, R};
use super::keys::{self, BillingKind};
use super::retry::{on_contention, Attempt, Backoff};
use super::tx::{Tx, TxError};
use super::DynamoStore;
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::{Inserted, TurnStore};

const TURN: &str = "turn";
const LOOKUP: &str = "turn lookup";
const SEQUENCE: &str = "chat event sequence";
const EVENT: &str = "chat event";
const OPEN: &str = "open-turn marker";
/// Events per transaction (DynamoDB allows 100 items; one is the sequence).
const EVENTS_PER_WRITE: usize = 99;

fn turn_item(t: &Turn) -> R<Item> {
    let mut it = item(keys::turn(&t.account_id, &t.chat_id, &t.id), t)?;
    it.insert("status".into(), s(t.status.as_str()));
    Ok(it)
}

/// Adds to `tx` the open-turn marker's write for `t`'s status: there while the turn is
/// queued or running, gone once it ended (keys::open_turn).
fn with_open_marker<'a>(tx: Tx<'a>, t: &Turn) -> Tx<'a> {
    let key = keys::open_turn(&t.account_id, &t.chat_id, &t.id);
    if t.status.is_terminal() {
        tx.delete(OPEN, key)
    } else {
        tx.put(OPEN, key.item())
    }
}

impl DynamoStore {
    async fn try_insert_turn(&self, t: &Turn) -> R<Attempt<Inserted<Turn>>> {
        let mut lookup = keys::turn_lookup(&t.id).item();
        lookup.insert("account".into(), s(t.account_id.as_str()));
        lookup.insert("chat".into(), s(t.chat_id.as_str()));
        let tx = self
            .tx()
            .put_if(TURN, turn_item(t)?, "attribute_not_exists(pk)")
            .put(LOOKUP, lookup);
        let res = with_open_marker(tx, t)
            .put(
                BILLING,
                keys::billing_event(
                    &t.account_id,
                    t.created_at,
                    BillingKind::Turn,
                    t.id.as_str(),
                )
                .item(),
            )
            .commit()
            .await;
        match res {
            Ok(()) => Ok(Attempt::Done(Inserted::Created(t.clone()))),
            Err(TxError::Cancelled(c)) if c.failed(TURN) => Ok(Attempt::Done(Inserted::Existing(
                self.get_turn(&t.account_id, &t.id).await?,
            ))),
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// Appends `data` (at most [`EVENTS_PER_WRITE`]) after the chat's current last event in
    /// one transaction: the sequence moves only if no other append took the numbers first.
    async fn try_append_chat_events(
        &self,
        a: &AccountId,
        chat: &ChatId,
        turn_id: &TurnId,
        data: &[Chunk],
        ending: Option<&Turn>,
    ) -> R<Attempt<u64>> {
        let Some(current) = self.get(keys::chat(a, chat)).await? else {
            return Err(StoreError::NotFound);
        };
        let seq = attr_n(&current, "seq").unwrap_or(0);
        let next = seq + data.len() as u64;
        let mut tx = self
            .tx()
            .update_if(SEQUENCE, keys::chat(a, chat), "SET seq = :n", "seq = :s")
            .value(":n", n(next))
            .value(":s", n(seq));
        for (at, d) in (seq + 1..).zip(data) {
            let mut ev = keys::chat_event(a, chat, at).item();
            ev.insert("turn".into(), s(turn_id.as_str()));
            // The chunk's wire form (keys sorted), as the stream sends it.
            ev.insert("data".into(), s(d.to_value().to_string()));
            tx = tx.put_if(EVENT, ev, "attribute_not_exists(pk)");
        }
        if let Some(t) = ending {
            tx = with_open_marker(tx.put_if(TURN, turn_item(t)?, "attribute_exists(pk)"), t);
        }
        let res = tx.commit().await;
        match res {
            Ok(()) => Ok(Attempt::Done(next)),
            Err(TxError::Cancelled(c)) if ending.is_some() && c.failed(TURN) => {
                Err(StoreError::NotFound)
            }
            // Another append took the number first.
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl TurnStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %t.account_id, chat = %t.chat_id, turn = %t.id))]
    async fn insert_turn(&self, t: &Turn) -> R<Inserted<Turn>> {
        on_contention("the chat's turns", Backoff::WRITES, || {
            self.try_insert_turn(t)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, turn = %id))]
    async fn get_turn(&self, a: &AccountId, id: &TurnId) -> R<Turn> {
        let lookup = self
            .get(keys::turn_lookup(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        if attr_s(&lookup, "account").as_deref() != Some(a.as_str()) {
            return Err(StoreError::NotFound);
        }
        let chat = ChatId::from_trusted(attr_s(&lookup, "chat").unwrap_or_default());
        self.get_doc(keys::turn(a, &chat, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %t.account_id, turn = %t.id))]
    async fn update_turn(&self, t: &Turn) -> R<()> {
        let tx = self
            .tx()
            .put_if(TURN, turn_item(t)?, "attribute_exists(pk)");
        match with_open_marker(tx, t).commit().await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(c)) if c.failed(TURN) => Err(StoreError::NotFound),
            Err(e) => Err(e.into_store_error()),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat))]
    async fn next_open_turn(&self, a: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        if let Some(marker) = self
            .query_first(&keys::open_turns(a, chat), 1)
            .await?
            .first()
        {
            let sk = attr_s(marker, "sk").unwrap_or_default();
            let id = TurnId::from_trusted(sk.trim_start_matches("OPEN#").to_owned());
            return match self.get(keys::turn(a, chat, &id)).await? {
                Some(i) => Ok(Some(doc(&i)?)),
                // The chat was deleted between the two reads.
                None => Ok(None),
            };
        }
        // Turns stored before the markers existed have none: while the newest turn is open
        // and unmarked, the chat's turns are read the old way (once such a chat drains, never
        // again).
        match self.last_turn(a, chat).await? {
            Some(last) if !last.status.is_terminal() => {
                for i in self.query(&keys::turns(a, chat), None, true).await? {
                    if matches!(
                        attr_s(&i, "status").as_deref(),
                        Some("queued") | Some("running")
                    ) {
                        return Ok(Some(doc(&i)?));
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat))]
    async fn last_turn(&self, a: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        match self
            .query_back(&keys::turns(a, chat), "TURN#\u{10FFFF}", 1)
            .await?
            .first()
        {
            Some(i) => Ok(Some(doc(i)?)),
            None => Ok(None),
        }
    }

    // The events' data is what a model or a user wrote: it stays out of the span.
    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat, turn = %turn_id, n = data.len()))]
    async fn append_chat_events(
        &self,
        a: &AccountId,
        chat: &ChatId,
        turn_id: &TurnId,
        data: &[Chunk],
    ) -> R<u64> {
        if data.is_empty() {
            return self.last_chat_seq(a, chat).await;
        }
        // A transaction holds at most 100 items: the sequence and 99 events. A longer run is
        // written in parts, in order (each part whole or not at all).
        let mut last = 0;
        for part in data.chunks(EVENTS_PER_WRITE) {
            last = on_contention("the chat's event log", Backoff::WRITES, || {
                self.try_append_chat_events(a, chat, turn_id, part, None)
            })
            .await?;
        }
        Ok(last)
    }

    #[tracing::instrument(skip_all, fields(account = %t.account_id, chat = %t.chat_id, turn = %t.id))]
    async fn end_turn(&self, t: &Turn, data: &Chunk) -> R<u64> {
        // The event, the sequence and the turn in one transaction.
        let data = std::slice::from_ref(data);
        on_contention("the chat's event log", Backoff::WRITES, || {
            self.try_append_chat_events(&t.account_id, &t.chat_id, &t.id, data, Some(t))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat, after = after))]
    async fn chat_events(
        &self,
        a: &AccountId,
        chat: &ChatId,
        after: u64,
        limit: u32,
    ) -> R<Vec<ChatEvent>> {
        let start = keys::chat_event(a, chat, after).sk;
        let items = self
            .query(&keys::chat_events(a, chat), Some(&start), true)
            .await?;
        items.iter().take(limit as usize).map(event_of).collect()
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat, before = before))]
    async fn chat_events_before(
        &self,
        a: &AccountId,
        chat: &ChatId,
        before: u64,
        limit: u32,
    ) -> R<Vec<ChatEvent>> {
        let Some(last) = before.checked_sub(1) else {
            return Ok(vec![]);
        };
        let last = keys::chat_event(a, chat, last).sk;
        self.query_back(&keys::chat_events(a, chat), &last, limit as usize)
            .await?
            .iter()
            .map(event_of)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat))]
    async fn last_chat_seq(&self, a: &AccountId, chat: &ChatId) -> R<u64> {
        Ok(self
            .get(keys::chat(a, chat))
            .await?
            .and_then(|i| attr_n(&i, "seq"))
            .unwrap_or(0))
    }

    // The owner is a worker id, not a secret.
    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat, owner = owner))]
    async fn claim_chat(
        &self,
        a: &AccountId,
        chat: &ChatId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> R<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::chat(a, chat).item()))
            .update_expression("SET lease_owner = :o, lease_until = :u")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(lease_owner) OR lease_owner = :o OR lease_until < :now)")
            .expression_attribute_values(":o", s(owner))
            .expression_attribute_values(":u", s(ts(until)))
            .expression_attribute_values(":now", s(ts(now)))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat, owner = owner))]
    async fn release_chat(&self, a: &AccountId, chat: &ChatId, owner: &str) -> R<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::chat(a, chat).item()))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :o")
            .expression_attribute_values(":o", s(owner))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Not (or no longer) the owner: nothing to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }
}

/// A chat event item.
fn event_of(i: &Item) -> R<ChatEvent> {
    Ok(ChatEvent {
        seq: attr_s(i, "sk")
            .and_then(|sk| keys::chat_event_seq(&sk))
            .unwrap_or(0),
        turn_id: TurnId::from_trusted(attr_s(i, "turn").unwrap_or_default()),
        data: serde_json::from_str(&attr_s(i, "data").unwrap_or_default()).map_err(unexpected)?,
    })
}
