//! `Store` on DynamoDB, one table (its key schema is `keys`). One module per port, each an
//! `impl XStore for DynamoStore`; this one holds the store itself and the reads and single-item
//! writes they share. Multi-item writes go through `tx::Tx`, optimistic retries through
//! `retry::on_contention`. No request path reads the whole table: every read is a `GetItem`
//! or a `Query` of one partition.

mod accounts;
mod automations;
mod chats;
mod codec;
mod experiments;
mod idempotency;
mod instances;
mod keys;
mod retry;
mod secrets;
mod turns;
mod tx;
mod usage;
mod webhooks;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use codec::{attr_s, doc, s, unexpected, Item, R};
use keys::{Key, Range};
use operator_core::domain::{Page, PageRequest};
use operator_core::error::StoreError;
use operator_core::ids::AccountId;
use serde::de::DeserializeOwned;

/// The store: an SDK client and the table every item lives in.
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table (on-demand, `pk`/`sk`) — for development and tests; deployments
    /// get it from the infrastructure template, with TTL on `expires_at`.
    pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()?,
            )
            .send()
            .await?;
        Ok(())
    }

    /// A transaction on this store's table.
    fn tx(&self) -> tx::Tx<'_> {
        tx::Tx::new(self)
    }

    /// The item at `key`, read with strong consistency.
    async fn get(&self, key: Key) -> R<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unexpected(e.into_service_error()))?;
        Ok(out.item)
    }

    /// The document at `key`; `NotFound` if absent.
    async fn get_doc<T: DeserializeOwned>(&self, key: Key) -> R<T> {
        match self.get(key).await? {
            Some(i) => doc(&i),
            None => Err(StoreError::NotFound),
        }
    }

    /// One item written alone; a failed `condition` is `on_condition`.
    async fn put_item(
        &self,
        i: Item,
        condition: Option<&str>,
        on_condition: impl FnOnce() -> StoreError,
    ) -> R<()> {
        self.put_item_with(i, condition, Item::new(), on_condition)
            .await
    }

    /// [`Self::put_item`] with `values` for the placeholders (`:name`) of `condition`.
    async fn put_item_with(
        &self,
        i: Item,
        condition: Option<&str>,
        values: Item,
        on_condition: impl FnOnce() -> StoreError,
    ) -> R<()> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(i))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Err(on_condition())
                } else {
                    Err(unexpected(e))
                }
            }
        }
    }

    async fn delete_item(&self, key: Key) -> R<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .send()
            .await
            .map_err(|e| unexpected(e.into_service_error()))?;
        Ok(())
    }

    /// Every item of `range` (after `after` in the direction of travel), in order: sort-key
    /// order when `forward`, newest first otherwise.
    async fn query(&self, range: &Range, after: Option<&str>, forward: bool) -> R<Vec<Item>> {
        let (pk, prefix) = (range.pk.as_str(), range.prefix);
        let mut out = vec![];
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            q = match (after, forward) {
                (Some(a), true) => q
                    .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :z")
                    .expression_attribute_values(":a", s(format!("{a}\u{0}")))
                    .expression_attribute_values(":z", s(format!("{prefix}\u{10FFFF}"))),
                (Some(a), false) => q
                    .key_condition_expression("pk = :pk AND sk < :a")
                    .expression_attribute_values(":a", s(a)),
                // (empty strings are not valid attribute values)
                (None, _) if prefix.is_empty() => q.key_condition_expression("pk = :pk"),
                (None, _) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", s(prefix)),
            };
            let res = q
                .send()
                .await
                .map_err(|e| unexpected(e.into_service_error()))?;
            for i in res.items.unwrap_or_default() {
                // Going backwards from a cursor, the prefix is checked here.
                if attr_s(&i, "sk").is_some_and(|sk| sk.starts_with(prefix)) {
                    out.push(i);
                }
            }
            match res.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        // The whole range is read either way; backwards is the same items reversed.
        if !forward {
            out.reverse();
        }
        Ok(out)
    }

    /// At most `limit` items of `range` whose sort key sorts at or below `last`, newest
    /// first, reading only as many pages as that takes.
    async fn query_back(&self, range: &Range, last: &str, limit: usize) -> R<Vec<Item>> {
        let mut out = vec![];
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let page = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .scan_index_forward(false)
                .limit(page)
                .key_condition_expression("pk = :pk AND sk BETWEEN :p AND :l")
                .expression_attribute_values(":pk", s(range.pk.as_str()))
                .expression_attribute_values(":p", s(range.prefix))
                .expression_attribute_values(":l", s(last))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unexpected(e.into_service_error()))?;
            out.extend(res.items.unwrap_or_default());
            match res.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// At most `limit` items of `range` in sort-key order, reading only as many pages as
    /// that takes.
    async fn query_first(&self, range: &Range, limit: usize) -> R<Vec<Item>> {
        let mut out = vec![];
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let page = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .limit(page)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(range.pk.as_str()))
                .expression_attribute_values(":p", s(range.prefix))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unexpected(e.into_service_error()))?;
            out.extend(res.items.unwrap_or_default());
            match res.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The documents of `range`, in sort-key order.
    async fn docs<T: DeserializeOwned>(&self, range: &Range) -> R<Vec<T>> {
        self.query(range, None, true)
            .await?
            .iter()
            .map(doc)
            .collect()
    }

    /// A newest-first page of documents of `range`, with cursor = id.
    async fn page_of<T: DeserializeOwned>(
        &self,
        range: &Range,
        p: &PageRequest,
        keep: impl Fn(&Item) -> bool,
        id_of: impl Fn(&T) -> String,
    ) -> R<Page<T>> {
        let after = p.cursor.as_ref().map(|c| range.sk_of(c));
        let items = self.query(range, after.as_deref(), false).await?;
        let rows: Vec<T> = items
            .iter()
            .filter(|i| keep(i))
            .take(p.limit as usize + 1)
            .map(doc)
            .collect::<R<_>>()?;
        Ok(Page::from_overfetch(rows, p.limit, id_of))
    }

    /// A page of one partition's documents that belong to `account` (runs and deliveries
    /// live under their automation or webhook; ownership is checked on each).
    async fn page_in_account<T: DeserializeOwned>(
        &self,
        range: &Range,
        p: &PageRequest,
        account: &AccountId,
        account_of: impl Fn(&T) -> &AccountId,
        id_of: impl Fn(&T) -> String,
    ) -> R<Page<T>> {
        let page: Page<T> = self.page_of(range, p, |_| true, id_of).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .filter(|x| account_of(x) == account)
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// The account recorded on a lookup item (`account` attribute).
    fn account_of(lookup: &Item) -> AccountId {
        AccountId::from_trusted(attr_s(lookup, "account").unwrap_or_default())
    }
}
