//! `ChatStore`: chat items (which also carry the event sequence and the run lease, see
//! `turns`), a per-account listing by creation time, and finished messages in the chat's
//! partition, sorted by turn.

use super::codec::{attr_s, item, json, n, s, ts, unexpected, Item, R};
use super::keys;
use super::tx::TxError;
use super::DynamoStore;
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::ChatStore;

const CHAT: &str = "chat";
const LISTING: &str = "chat listing entry";

impl DynamoStore {
    fn chat_item(c: &Chat, seq: u64, lease: Option<(&str, Timestamp)>) -> R<Item> {
        let mut it = item(keys::chat(&c.account_id, &c.id), c)?;
        it.insert("seq".into(), n(seq));
        if let Some((owner, until)) = lease {
            it.insert("lease_owner".into(), s(owner));
            it.insert("lease_until".into(), s(ts(until)));
        }
        Ok(it)
    }
}

/// Listing cursors are the entry's sort key with the characters cursors may not contain
/// spelled out (cursors are alphanumeric and '_').
fn cursor_of(sk: &str) -> String {
    sk.replace('#', "_h_")
        .replace(':', "_c_")
        .replace('.', "_d_")
        .replace('-', "_m_")
}

fn sk_of(cursor: &str) -> String {
    cursor
        .replace("_h_", "#")
        .replace("_c_", ":")
        .replace("_d_", ".")
        .replace("_m_", "-")
}

#[async_trait]
impl ChatStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %c.account_id, chat = %c.id))]
    async fn insert_chat(&self, c: &Chat) -> R<()> {
        let mut listing = keys::chat_listing(&c.account_id, c.created_at, &c.id).item();
        listing.insert("chat".into(), s(c.id.as_str()));
        self.tx()
            .put_if(
                CHAT,
                Self::chat_item(c, 0, None)?,
                "attribute_not_exists(pk)",
            )
            .put(LISTING, listing)
            .commit()
            .await
            .map_err(|e| match e {
                TxError::Cancelled(c) if c.failed(CHAT) => {
                    StoreError::Conflict("chat exists".into())
                }
                e => e.into_store_error(),
            })
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %id))]
    async fn get_chat(&self, a: &AccountId, id: &ChatId) -> R<Chat> {
        self.get_doc(keys::chat(a, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn list_chats(&self, a: &AccountId, p: &PageRequest) -> R<Page<Chat>> {
        let after = p.cursor.as_deref().map(sk_of);
        let entries = self
            .query(&keys::chat_listings(a), after.as_deref(), false)
            .await?;
        let mut rows = vec![];
        for e in entries.iter().take(p.limit as usize + 1) {
            let id = ChatId::from_trusted(attr_s(e, "chat").unwrap_or_default());
            match self.get_chat(a, &id).await {
                Ok(c) => rows.push((attr_s(e, "sk").unwrap_or_default(), c)),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let page = Page::from_overfetch(rows, p.limit, |(sk, _)| cursor_of(sk));
        Ok(Page {
            items: page.items.into_iter().map(|(_, c)| c).collect(),
            next_cursor: page.next_cursor,
        })
    }

    #[tracing::instrument(skip_all, fields(account = %c.account_id, chat = %c.id))]
    async fn update_chat(&self, c: &Chat) -> R<()> {
        // Only the document: the sequence and the lease beside it are not the caller's.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::chat(&c.account_id, &c.id).item()))
            .update_expression("SET d = :d")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":d", json(c)?)
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    StoreError::NotFound
                } else {
                    unexpected(e)
                }
            })?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %id))]
    async fn delete_chat(&self, a: &AccountId, id: &ChatId) -> R<()> {
        let c = self.get_chat(a, id).await?;
        for i in self.query(&keys::chat_children(a, id), None, true).await? {
            let sk = attr_s(&i, "sk").unwrap_or_default();
            if let Some(t) = keys::turn_id_of(&sk) {
                self.delete_item(keys::turn_lookup(&t)).await?;
            }
            let pk = attr_s(&i, "pk").unwrap_or_default();
            self.delete_item(keys::Key { pk, sk }).await?;
        }
        self.delete_item(keys::chat_listing(a, c.created_at, &c.id))
            .await?;
        self.delete_item(keys::chat(a, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %m.account_id, chat = %m.chat_id))]
    async fn insert_chat_message(&self, m: &ChatMessage) -> R<()> {
        self.put_item(
            item(keys::chat_message(&m.account_id, &m.chat_id, &m.id), m)?,
            None,
            || StoreError::Conflict("condition failed".into()),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat))]
    async fn chat_messages(&self, a: &AccountId, chat: &ChatId) -> R<Vec<ChatMessage>> {
        self.docs(&keys::chat_messages(a, chat)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat))]
    async fn chat_messages_after(
        &self,
        a: &AccountId,
        chat: &ChatId,
        after: &str,
    ) -> R<Vec<ChatMessage>> {
        // Sort keys are `MSG#<turn>#<rank>` (rank 0 or 1): `~` sorts after both ranks, so
        // the range starts at the first turn after `after`.
        let from = format!("MSG#{after}#~");
        self.query(&keys::chat_messages(a, chat), Some(&from), true)
            .await?
            .iter()
            .map(super::doc)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(account = %a, chat = %chat))]
    async fn delete_chat_messages(&self, a: &AccountId, chat: &ChatId, ids: &[MessageId]) -> R<()> {
        // One item each (deleting an absent item succeeds): a regenerate removes two or four.
        for id in ids {
            self.delete_item(keys::chat_message(a, chat, id)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_cursors_round_trip_to_sort_keys() {
        // GIVEN a listing entry's sort key
        let sk = "2026-03-09T13:00:00.000Z#chat_01ab";
        // WHEN it becomes a cursor and back
        let cursor = cursor_of(sk);
        // THEN the cursor is alphanumeric and '_', and decodes to the same key
        assert!(cursor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_eq!(sk_of(&cursor), sk);
    }
}
