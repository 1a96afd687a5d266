//! `Store` on DynamoDB, one table.
//!
//! Key schema: `pk` (S) and `sk` (S); records are JSON documents in `d`, with the few
//! attributes conditions need (`status`, `deleted`, `revoked`, `grants`, `lease_*`, `seq`)
//! beside them. Items (pk / sk):
//!
//! | record | pk | sk |
//! |---|---|---|
//! | account | `ACCT#<id>` | `A` |
//! | first account marker | `META` | `FIRST_ACCOUNT` |
//! | API key / hash lookup | `ACCT#<a>` / `KEYHASH#<sha256>` | `KEY#<id>` / `K` |
//! | instance / name lock / id lookup | `ACCT#<a>` / `ACCT#<a>` / `INSTID#<id>` | `INST#<id>` / `INSTNAME#<name>` / `I` |
//! | capacity version (optimistic lock) | `ACCT#<a>` | `CAPVER` |
//! | secret / name lock | `ACCT#<a>` | `SEC#<id>` / `SECNAME#<name>` |
//! | automation / id lookup | `ACCT#<a>` / `AUTOID#<id>` | `AUTO#<id>` / `A` |
//! | run / slot lock / id lookup | `AUTO#<auto>` / `AUTO#<auto>` / `RUNID#<id>` | `RUN#<id>` / `SLOT#<time>` / `R` |
//! | webhook / token lookup | `ACCT#<a>` / `WHTOKEN#<token>` | `WH#<id>` / `W` |
//! | delivery / dedup lock / id lookup | `WH#<wh>` / `WH#<wh>` / `DLVID#<id>` | `DLV#<id>` / `DEDUP#<key>` / `D` |
//! | idempotency record (TTL) | `ACCT#<a>` | `IDEM#<key>` |
//! | billing events (runs, deliveries, turns) | `ACCTEVT#<a>` | `<time>#<kind>#<id>` |
//! | LLM usage by instance / by account | `USAGE#<inst>` / `ACCTUSAGE#<a>` | `<time>#<rand>` / `<time>#<inst>#<rand>` |
//! | chat / listing entry | `ACCT#<a>` / `CHATS#<a>` | `CHAT#<id>` / `<time>#<id>` |
//! | message / turn / event | `CHAT#<a>#<chat>` | `MSG#<turn>#<0 user, 1 assistant>` / `TURN#<id>` / `EVT#<seq>` |
//! | turn lookup | `TURNID#<id>` | `T` |
//!
//! Uniqueness (names, hashes, slots, dedup keys) is a lock item written in the same
//! transaction with `attribute_not_exists`; a failed condition is `StoreError::Conflict`.
//! Lookups that must see the latest write (key hashes: revocation is immediate) are items
//! read with strong consistency rather than GSIs, which are eventually consistent.
//! Idempotency records carry `expires_at` for the table's TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::*;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;
type R<T> = Result<T, StoreError>;

pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn ts(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn unexpected(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("DynamoDB: {e}"))
}

fn acct(a: &AccountId) -> String {
    format!("ACCT#{a}")
}

fn chat_pk(a: &AccountId, c: &ChatId) -> String {
    format!("CHAT#{a}#{c}")
}

/// Sort key of a chat message: by turn, the user's before the assistant's.
fn msg_sk(id: &str) -> String {
    let rank = if id.starts_with("msg_u") { 0 } else { 1 };
    format!("MSG#{}#{rank}", id.get(5..).unwrap_or(id))
}

fn item<T: Serialize>(pk: impl Into<String>, sk: impl Into<String>, doc: &T) -> R<Item> {
    let mut i = Item::new();
    i.insert("pk".into(), s(pk));
    i.insert("sk".into(), s(sk));
    i.insert(
        "d".into(),
        s(serde_json::to_string(doc).map_err(unexpected)?),
    );
    Ok(i)
}

fn doc<T: DeserializeOwned>(i: &Item) -> R<T> {
    let d = i
        .get("d")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| unexpected("item without a document"))?;
    serde_json::from_str(d).map_err(unexpected)
}

fn attr_s(i: &Item, k: &str) -> Option<String> {
    i.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    let mut k = Item::new();
    k.insert("pk".into(), s(pk));
    k.insert("sk".into(), s(sk));
    k
}

fn put(i: Item, condition: Option<&str>) -> TransactWriteItem {
    let mut p = Put::builder().set_item(Some(i));
    if let Some(c) = condition {
        p = p.condition_expression(c);
    }
    TransactWriteItem::builder()
        .put(p.table_name("__TABLE__").build().expect("put"))
        .build()
}

fn delete(pk: impl Into<String>, sk: impl Into<String>) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .set_key(Some(key(pk, sk)))
                .table_name("__TABLE__")
                .build()
                .expect("delete"),
        )
        .build()
}

/// Did the transaction fail on a condition, and which of its items (by index)?
fn cancelled_conditions<E: std::fmt::Debug>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        E,
    >,
) -> Option<Vec<bool>> {
    let service = err.as_service_error()?;
    match service {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => Some(
            t.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
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

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<
        (),
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    > {
        // Fill in the table name (builders above cannot know it).
        let items = items
            .into_iter()
            .map(|mut t| {
                if let Some(p) = t.put.as_mut() {
                    p.table_name = self.table.clone();
                }
                if let Some(d) = t.delete.as_mut() {
                    d.table_name = self.table.clone();
                }
                if let Some(u) = t.update.as_mut() {
                    u.table_name = self.table.clone();
                }
                if let Some(c) = t.condition_check.as_mut() {
                    c.table_name = self.table.clone();
                }
                t
            })
            .collect();
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }

    async fn get(&self, pk: impl Into<String>, sk: impl Into<String>) -> R<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unexpected(e.into_service_error()))?;
        Ok(out.item)
    }

    async fn get_doc<T: DeserializeOwned>(
        &self,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> R<T> {
        match self.get(pk, sk).await? {
            Some(i) => doc(&i),
            None => Err(StoreError::NotFound),
        }
    }

    async fn put_item(&self, i: Item, condition: Option<&str>) -> R<()> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(i));
        if let Some(c) = condition {
            req = req.condition_expression(c);
        }
        req.send().await.map_err(|e| {
            let e = e.into_service_error();
            if e.is_conditional_check_failed_exception() {
                StoreError::Conflict("condition failed".into())
            } else {
                unexpected(e)
            }
        })?;
        Ok(())
    }

    async fn delete_item(&self, pk: impl Into<String>, sk: impl Into<String>) -> R<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(|e| unexpected(e.into_service_error()))?;
        Ok(())
    }

    /// Every item of a partition whose sort key starts with `prefix` (and is after `after`
    /// in the direction of travel), in order.
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        forward: bool,
    ) -> R<Vec<Item>> {
        let mut out = vec![];
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .scan_index_forward(forward)
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
                _ => return Ok(out),
            }
        }
    }

    /// A newest-first page of documents under `prefix`, with cursor = id.
    async fn page_of<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        p: &PageRequest,
        keep: impl Fn(&Item) -> bool,
        id_of: impl Fn(&T) -> String,
    ) -> R<Page<T>> {
        let after = p.cursor.as_ref().map(|c| format!("{prefix}{c}"));
        let items = self.query(pk, prefix, after.as_deref(), false).await?;
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
        pk: &str,
        prefix: &str,
        p: &PageRequest,
        account: &AccountId,
        account_of: impl Fn(&T) -> &AccountId,
        id_of: impl Fn(&T) -> String,
    ) -> R<Page<T>> {
        let page: Page<T> = self.page_of(pk, prefix, p, |_| true, id_of).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .filter(|x| account_of(x) == account)
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn billing_event(&self, a: &AccountId, at: Timestamp, kind: &str, id: &str) -> R<()> {
        let mut i = Item::new();
        i.insert("pk".into(), s(format!("ACCTEVT#{a}")));
        i.insert("sk".into(), s(format!("{}#{kind}#{id}", ts(at))));
        self.put_item(i, None).await
    }

    fn instance_item(i: &Instance) -> R<Item> {
        let mut it = item(acct(&i.account_id), format!("INST#{}", i.id), i)?;
        it.insert("t".into(), s("instance"));
        it.insert("status".into(), s(i.status.as_str()));
        it.insert(
            "deleted".into(),
            AttributeValue::Bool(i.deleted_at.is_some()),
        );
        Ok(it)
    }

    async fn capver(&self, a: &AccountId) -> R<u64> {
        Ok(self
            .get(acct(a), "CAPVER")
            .await?
            .and_then(|i| {
                i.get("v")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0))
    }

    fn bump_capver(a: &AccountId, v: u64) -> TransactWriteItem {
        let mut it = key(acct(a), "CAPVER");
        it.insert("v".into(), n(v + 1));
        let cond = if v == 0 {
            "attribute_not_exists(v) OR v = :v"
        } else {
            "v = :v"
        };
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .set_item(Some(it))
                    .condition_expression(cond)
                    .expression_attribute_values(":v", n(v))
                    .table_name("__TABLE__")
                    .build()
                    .expect("put"),
            )
            .build()
    }

    async fn instances_of(&self, a: &AccountId) -> R<Vec<Instance>> {
        self.query(&acct(a), "INST#", None, true)
            .await?
            .iter()
            .map(doc)
            .collect()
    }

    fn secret_item(sec: &Secret) -> R<Item> {
        let mut doc_sec = sec.clone();
        doc_sec.grants = vec![];
        let mut it = item(acct(&sec.account_id), format!("SEC#{}", sec.id), &doc_sec)?;
        if !sec.grants.is_empty() {
            it.insert(
                "grants".into(),
                AttributeValue::Ss(sec.grants.iter().map(|g| g.to_string()).collect()),
            );
        }
        Ok(it)
    }

    fn secret_from(i: &Item) -> R<Secret> {
        let mut sec: Secret = doc(i)?;
        let mut grants: Vec<InstanceId> = i
            .get("grants")
            .and_then(|g| g.as_ss().ok())
            .map(|g| g.iter().map(InstanceId::from_trusted).collect())
            .unwrap_or_default();
        grants.sort();
        sec.grants = grants;
        Ok(sec)
    }

    async fn get_secret_item(&self, a: &AccountId, id: &SecretId) -> R<Item> {
        self.get(acct(a), format!("SEC#{id}"))
            .await?
            .ok_or(StoreError::NotFound)
    }

    fn automation_item(a: &Automation) -> R<Item> {
        let mut it = item(acct(&a.account_id), format!("AUTO#{}", a.id), a)?;
        it.insert("t".into(), s("automation"));
        Ok(it)
    }

    fn chat_item(c: &Chat, seq: u64, lease: Option<(&str, Timestamp)>) -> R<Item> {
        let mut it = item(acct(&c.account_id), format!("CHAT#{}", c.id), c)?;
        it.insert("seq".into(), n(seq));
        if let Some((owner, until)) = lease {
            it.insert("lease_owner".into(), s(owner));
            it.insert("lease_until".into(), s(ts(until)));
        }
        Ok(it)
    }
}

fn turn_item(t: &Turn) -> R<Item> {
    let mut it = item(
        chat_pk(&t.account_id, &t.chat_id),
        format!("TURN#{}", t.id),
        t,
    )?;
    it.insert("status".into(), s(t.status.as_str()));
    Ok(it)
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn insert_account(&self, a: &Account) -> R<()> {
        self.put_item(item(acct(&a.id), "A", a)?, Some("attribute_not_exists(pk)"))
            .await?;
        let mut marker = key("META", "FIRST_ACCOUNT");
        marker.insert("account".into(), s(a.id.as_str()));
        match self
            .put_item(marker, Some("attribute_not_exists(pk)"))
            .await
        {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn get_account(&self, id: &AccountId) -> R<Account> {
        self.get_doc(acct(id), "A").await
    }

    async fn first_account(&self) -> R<Option<Account>> {
        match self.get("META", "FIRST_ACCOUNT").await? {
            Some(m) => {
                let id = AccountId::from_trusted(attr_s(&m, "account").unwrap_or_default());
                Ok(Some(self.get_account(&id).await?))
            }
            None => Ok(None),
        }
    }

    async fn insert_key(&self, k: &ApiKey) -> R<()> {
        let lookup = item(format!("KEYHASH#{}", k.hash), "K", k)?;
        let mut by_id = key(format!("KEYID#{}", k.id), "K");
        by_id.insert("account".into(), s(k.account_id.as_str()));
        let res = self
            .transact(vec![
                put(
                    item(acct(&k.account_id), format!("KEY#{}", k.id), k)?,
                    Some("attribute_not_exists(pk)"),
                ),
                put(lookup, Some("attribute_not_exists(pk)")),
                put(by_id, None),
            ])
            .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) if cancelled_conditions(&e).is_some() => {
                Err(StoreError::Conflict("key exists".into()))
            }
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }

    async fn key_by_hash(&self, hash: &str) -> R<ApiKey> {
        let lookup = self
            .get(format!("KEYHASH#{hash}"), "K")
            .await?
            .ok_or(StoreError::NotFound)?;
        let k: ApiKey = doc(&lookup)?;
        // The key item has last_used_at and the revocation flag.
        let current = self
            .get(acct(&k.account_id), format!("KEY#{}", k.id))
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.contains_key("revoked") {
            return Err(StoreError::NotFound);
        }
        doc(&current)
    }

    async fn list_keys(&self, a: &AccountId, p: &PageRequest) -> R<Page<ApiKey>> {
        self.page_of(
            &acct(a),
            "KEY#",
            p,
            |i| !i.contains_key("revoked"),
            |k: &ApiKey| k.id.to_string(),
        )
        .await
    }

    async fn delete_key(&self, a: &AccountId, id: &KeyId, at: Timestamp) -> R<()> {
        let current = self
            .get(acct(a), format!("KEY#{id}"))
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.contains_key("revoked") {
            return Err(StoreError::NotFound);
        }
        let k: ApiKey = doc(&current)?;
        let mut revoked = current.clone();
        revoked.insert("revoked".into(), AttributeValue::Bool(true));
        revoked.insert("revoked_at".into(), s(ts(at)));
        let res = self
            .transact(vec![
                put(
                    revoked,
                    Some("attribute_exists(pk) AND attribute_not_exists(revoked)"),
                ),
                delete(format!("KEYHASH#{}", k.hash), "K"),
            ])
            .await;
        match res {
            Ok(()) => Ok(()),
            Err(e) if cancelled_conditions(&e).is_some() => Err(StoreError::NotFound),
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }

    async fn touch_key(&self, id: &KeyId, at: Timestamp) -> R<()> {
        let lookup = self
            .get(format!("KEYID#{id}"), "K")
            .await?
            .ok_or(StoreError::NotFound)?;
        let a = AccountId::from_trusted(attr_s(&lookup, "account").unwrap_or_default());
        let current = self
            .get(acct(&a), format!("KEY#{id}"))
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut k: ApiKey = doc(&current)?;
        k.last_used_at = Some(at);
        let mut next = current.clone();
        next.insert(
            "d".into(),
            s(serde_json::to_string(&k).map_err(unexpected)?),
        );
        self.put_item(next, Some("attribute_exists(pk)")).await
    }
}

#[async_trait]
impl InstanceStore for DynamoStore {
    async fn insert_instance(&self, i: &Instance, capacity: u32) -> R<()> {
        for _ in 0..10 {
            if self
                .get(acct(&i.account_id), format!("INSTNAME#{}", i.name.as_str()))
                .await?
                .is_some()
            {
                return Err(StoreError::Conflict("instance name already exists".into()));
            }
            let v = self.capver(&i.account_id).await?;
            let used = self.count_capacity(&i.account_id).await?;
            if used >= capacity {
                return Err(StoreError::CapacityExceeded {
                    used,
                    limit: capacity,
                });
            }
            let mut lock = key(acct(&i.account_id), format!("INSTNAME#{}", i.name.as_str()));
            lock.insert("instance".into(), s(i.id.as_str()));
            let mut lookup = key(format!("INSTID#{}", i.id), "I");
            lookup.insert("account".into(), s(i.account_id.as_str()));
            let res = self
                .transact(vec![
                    put(Self::instance_item(i)?, Some("attribute_not_exists(pk)")),
                    put(lock, Some("attribute_not_exists(pk)")),
                    put(lookup, None),
                    Self::bump_capver(&i.account_id, v),
                ])
                .await;
            match res {
                Ok(()) => return Ok(()),
                Err(e) => match cancelled_conditions(&e) {
                    Some(reasons) if reasons.get(1) == Some(&true) => {
                        return Err(StoreError::Conflict("instance name already exists".into()))
                    }
                    Some(_) => continue, // capacity changed meanwhile: check again
                    None => return Err(unexpected(e.into_service_error())),
                },
            }
        }
        Err(unexpected("too much contention on the account's instances"))
    }

    async fn get_instance(&self, a: &AccountId, id: &InstanceId) -> R<Instance> {
        self.get_doc(acct(a), format!("INST#{id}")).await
    }

    async fn get_instance_by_name(&self, a: &AccountId, name: &InstanceName) -> R<Instance> {
        let lock = self
            .get(acct(a), format!("INSTNAME#{}", name.as_str()))
            .await?
            .ok_or(StoreError::NotFound)?;
        let id = InstanceId::from_trusted(attr_s(&lock, "instance").unwrap_or_default());
        self.get_instance(a, &id).await
    }

    async fn list_instances(
        &self,
        a: &AccountId,
        p: &PageRequest,
        include_deleted: bool,
    ) -> R<Page<Instance>> {
        self.page_of(
            &acct(a),
            "INST#",
            p,
            |i| include_deleted || !matches!(i.get("deleted"), Some(AttributeValue::Bool(true))),
            |i: &Instance| i.id.to_string(),
        )
        .await
    }

    async fn update_instance(&self, i: &Instance) -> R<()> {
        let old = self.get_instance(&i.account_id, &i.id).await?;
        let v = self.capver(&i.account_id).await?;
        let mut ops = vec![put(Self::instance_item(i)?, Some("attribute_exists(pk)"))];
        let old_live = old.deleted_at.is_none();
        let new_live = i.deleted_at.is_none();
        let renamed = old.name != i.name;
        let mut lock_index = None;
        if old_live && (renamed || !new_live) {
            ops.push(delete(
                acct(&i.account_id),
                format!("INSTNAME#{}", old.name.as_str()),
            ));
        }
        if new_live && (renamed || !old_live) {
            let mut lock = key(acct(&i.account_id), format!("INSTNAME#{}", i.name.as_str()));
            lock.insert("instance".into(), s(i.id.as_str()));
            lock_index = Some(ops.len());
            ops.push(put(lock, Some("attribute_not_exists(pk)")));
        }
        ops.push(Self::bump_capver(&i.account_id, v));
        match self.transact(ops).await {
            Ok(()) => Ok(()),
            Err(e) => match cancelled_conditions(&e) {
                Some(r) if r.first() == Some(&true) => Err(StoreError::NotFound),
                Some(r) if lock_index.is_some_and(|ix| r.get(ix) == Some(&true)) => {
                    Err(StoreError::Conflict("instance name already exists".into()))
                }
                // Capacity version moved: a concurrent change; retry once from the top.
                Some(_) => Box::pin(self.update_instance(i)).await,
                None => Err(unexpected(e.into_service_error())),
            },
        }
    }

    async fn count_capacity(&self, a: &AccountId) -> R<u32> {
        Ok(self
            .instances_of(a)
            .await?
            .iter()
            .filter(|i| i.deleted_at.is_none() && i.status.counts_against_capacity())
            .count() as u32)
    }

    async fn find_instance(&self, id: &InstanceId) -> R<Instance> {
        let lookup = self
            .get(format!("INSTID#{id}"), "I")
            .await?
            .ok_or(StoreError::NotFound)?;
        let a = AccountId::from_trusted(attr_s(&lookup, "account").unwrap_or_default());
        self.get_instance(&a, id).await
    }
}

#[async_trait]
impl SecretStore for DynamoStore {
    async fn insert_secret(&self, sec: &Secret) -> R<()> {
        let mut lock = key(
            acct(&sec.account_id),
            format!("SECNAME#{}", sec.name.as_str()),
        );
        lock.insert("secret".into(), s(sec.id.as_str()));
        match self
            .transact(vec![
                put(Self::secret_item(sec)?, Some("attribute_not_exists(pk)")),
                put(lock, Some("attribute_not_exists(pk)")),
            ])
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if cancelled_conditions(&e).is_some() => {
                Err(StoreError::Conflict("secret name already exists".into()))
            }
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }

    async fn get_secret(&self, a: &AccountId, id: &SecretId) -> R<Secret> {
        Self::secret_from(&self.get_secret_item(a, id).await?)
    }

    async fn list_secrets(&self, a: &AccountId, p: &PageRequest) -> R<Page<Secret>> {
        let after = p.cursor.as_ref().map(|c| format!("SEC#{c}"));
        let items = self
            .query(&acct(a), "SEC#", after.as_deref(), false)
            .await?;
        let rows: Vec<Secret> = items
            .iter()
            .take(p.limit as usize + 1)
            .map(Self::secret_from)
            .collect::<R<_>>()?;
        Ok(Page::from_overfetch(rows, p.limit, |s| s.id.to_string()))
    }

    async fn update_secret(&self, sec: &Secret) -> R<()> {
        let current = self.get_secret(&sec.account_id, &sec.id).await?;
        let mut next = sec.clone();
        next.grants = current.grants;
        self.put_item(Self::secret_item(&next)?, Some("attribute_exists(pk)"))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::NotFound,
                e => e,
            })
    }

    async fn delete_secret(&self, a: &AccountId, id: &SecretId) -> R<()> {
        let sec = self.get_secret(a, id).await?;
        self.transact(vec![
            delete(acct(a), format!("SEC#{id}")),
            delete(acct(a), format!("SECNAME#{}", sec.name.as_str())),
        ])
        .await
        .map_err(|e| unexpected(e.into_service_error()))
    }

    async fn get_secret_by_name(&self, a: &AccountId, name: &SecretName) -> R<Secret> {
        let lock = self
            .get(acct(a), format!("SECNAME#{}", name.as_str()))
            .await?
            .ok_or(StoreError::NotFound)?;
        self.get_secret(
            a,
            &SecretId::from_trusted(attr_s(&lock, "secret").unwrap_or_default()),
        )
        .await
    }

    async fn secrets_for_instance(&self, a: &AccountId, instance: &InstanceId) -> R<Vec<Secret>> {
        let mut out: Vec<Secret> = self
            .query(&acct(a), "SEC#", None, true)
            .await?
            .iter()
            .map(Self::secret_from)
            .collect::<R<Vec<Secret>>>()?
            .into_iter()
            .filter(|s| s.is_global || s.grants.contains(instance))
            .collect();
        out.sort_by(|x, y| x.name.as_str().cmp(y.name.as_str()));
        Ok(out)
    }

    async fn add_grant(
        &self,
        a: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
        _at: Timestamp,
    ) -> R<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(acct(a), format!("SEC#{id}"))))
            .update_expression("ADD grants :g")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":g", AttributeValue::Ss(vec![instance.to_string()]))
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

    async fn remove_grant(&self, a: &AccountId, id: &SecretId, instance: &InstanceId) -> R<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(acct(a), format!("SEC#{id}"))))
            .update_expression("DELETE grants :g")
            .condition_expression("attribute_exists(pk) AND contains(grants, :i)")
            .expression_attribute_values(":g", AttributeValue::Ss(vec![instance.to_string()]))
            .expression_attribute_values(":i", s(instance.as_str()))
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
}

#[async_trait]
impl AutomationStore for DynamoStore {
    async fn insert_automation(&self, a: &Automation) -> R<()> {
        let mut lookup = key(format!("AUTOID#{}", a.id), "A");
        lookup.insert("account".into(), s(a.account_id.as_str()));
        self.transact(vec![
            put(Self::automation_item(a)?, Some("attribute_not_exists(pk)")),
            put(lookup, None),
        ])
        .await
        .map_err(|e| match cancelled_conditions(&e) {
            Some(_) => StoreError::Conflict("automation exists".into()),
            None => unexpected(e.into_service_error()),
        })
    }

    async fn get_automation(&self, a: &AccountId, id: &AutomationId) -> R<Automation> {
        self.get_doc(acct(a), format!("AUTO#{id}")).await
    }

    async fn list_automations(&self, a: &AccountId, p: &PageRequest) -> R<Page<Automation>> {
        self.page_of(
            &acct(a),
            "AUTO#",
            p,
            |_| true,
            |x: &Automation| x.id.to_string(),
        )
        .await
    }

    async fn update_automation(&self, a: &Automation) -> R<()> {
        self.put_item(Self::automation_item(a)?, Some("attribute_exists(pk)"))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::NotFound,
                e => e,
            })
    }

    async fn delete_automation(&self, a: &AccountId, id: &AutomationId) -> R<()> {
        self.get_automation(a, id).await?;
        for i in self.query(&format!("AUTO#{id}"), "", None, true).await? {
            if let Some(sk) = attr_s(&i, "sk") {
                if let Some(run) = sk.strip_prefix("RUN#") {
                    self.delete_item(format!("RUNID#{run}"), "R").await?;
                }
                self.delete_item(format!("AUTO#{id}"), sk).await?;
            }
        }
        self.delete_item(format!("AUTOID#{id}"), "A").await?;
        self.delete_item(acct(a), format!("AUTO#{id}")).await
    }

    async fn advance_automation(
        &self,
        id: &AutomationId,
        expected: Option<Timestamp>,
        next: Option<Timestamp>,
    ) -> R<bool> {
        let Some(lookup) = self.get(format!("AUTOID#{id}"), "A").await? else {
            return Ok(false);
        };
        let account = AccountId::from_trusted(attr_s(&lookup, "account").unwrap_or_default());
        let Some(current) = self.get(acct(&account), format!("AUTO#{id}")).await? else {
            return Ok(false);
        };
        let mut a: Automation = doc(&current)?;
        if a.next_run_at != expected {
            return Ok(false);
        }
        a.next_run_at = next;
        let old_doc = attr_s(&current, "d").unwrap_or_default();
        // Compare-and-set on the whole document: nobody changed it since we read it.
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::automation_item(&a)?))
            .condition_expression("d = :old")
            .expression_attribute_values(":old", s(old_doc))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(unexpected(e))
                }
            }
        }
    }

    async fn insert_run(&self, r: &AutomationRun) -> R<Inserted<AutomationRun>> {
        let mut lookup = key(format!("RUNID#{}", r.id), "R");
        lookup.insert("account".into(), s(r.account_id.as_str()));
        lookup.insert("automation".into(), s(r.automation_id.as_str()));
        let mut ops = vec![
            put(
                item(
                    format!("AUTO#{}", r.automation_id),
                    format!("RUN#{}", r.id),
                    r,
                )?,
                Some("attribute_not_exists(pk)"),
            ),
            put(lookup, None),
        ];
        if r.trigger == RunTrigger::Schedule {
            let mut slot = key(
                format!("AUTO#{}", r.automation_id),
                format!("SLOT#{}", ts(r.scheduled_for)),
            );
            slot.insert("run".into(), s(r.id.as_str()));
            ops.push(put(slot, Some("attribute_not_exists(pk)")));
        }
        match self.transact(ops).await {
            Ok(()) => {
                self.billing_event(&r.account_id, r.created_at, "run", r.id.as_str())
                    .await?;
                Ok(Inserted::Created(r.clone()))
            }
            Err(e) => match cancelled_conditions(&e) {
                Some(reasons) if reasons.get(2) == Some(&true) => {
                    let slot = self
                        .get(
                            format!("AUTO#{}", r.automation_id),
                            format!("SLOT#{}", ts(r.scheduled_for)),
                        )
                        .await?
                        .ok_or_else(|| unexpected("slot lock vanished"))?;
                    let first = RunId::from_trusted(attr_s(&slot, "run").unwrap_or_default());
                    Ok(Inserted::Existing(
                        self.get_run(&r.account_id, &first).await?,
                    ))
                }
                Some(_) => Err(StoreError::Conflict("run exists".into())),
                None => Err(unexpected(e.into_service_error())),
            },
        }
    }

    async fn get_run(&self, a: &AccountId, id: &RunId) -> R<AutomationRun> {
        let lookup = self
            .get(format!("RUNID#{id}"), "R")
            .await?
            .ok_or(StoreError::NotFound)?;
        if attr_s(&lookup, "account").as_deref() != Some(a.as_str()) {
            return Err(StoreError::NotFound);
        }
        let auto = attr_s(&lookup, "automation").unwrap_or_default();
        self.get_doc(format!("AUTO#{auto}"), format!("RUN#{id}"))
            .await
    }

    async fn list_runs(
        &self,
        a: &AccountId,
        automation: &AutomationId,
        p: &PageRequest,
    ) -> R<Page<AutomationRun>> {
        self.page_in_account(
            &format!("AUTO#{automation}"),
            "RUN#",
            p,
            a,
            |r: &AutomationRun| &r.account_id,
            |r: &AutomationRun| r.id.to_string(),
        )
        .await
    }

    async fn update_run(&self, r: &AutomationRun) -> R<()> {
        self.get_run(&r.account_id, &r.id).await?;
        self.put_item(
            item(
                format!("AUTO#{}", r.automation_id),
                format!("RUN#{}", r.id),
                r,
            )?,
            Some("attribute_exists(pk)"),
        )
        .await
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn insert_webhook(&self, w: &Webhook) -> R<()> {
        let mut lookup = key(format!("WHTOKEN#{}", w.token), "W");
        lookup.insert("account".into(), s(w.account_id.as_str()));
        lookup.insert("webhook".into(), s(w.id.as_str()));
        self.transact(vec![
            put(
                item(acct(&w.account_id), format!("WH#{}", w.id), w)?,
                Some("attribute_not_exists(pk)"),
            ),
            put(lookup, Some("attribute_not_exists(pk)")),
        ])
        .await
        .map_err(|e| match cancelled_conditions(&e) {
            Some(_) => StoreError::Conflict("webhook token exists".into()),
            None => unexpected(e.into_service_error()),
        })
    }

    async fn get_webhook(&self, a: &AccountId, id: &WebhookId) -> R<Webhook> {
        self.get_doc(acct(a), format!("WH#{id}")).await
    }

    async fn webhook_by_token(&self, token: &str) -> R<Webhook> {
        let lookup = self
            .get(format!("WHTOKEN#{token}"), "W")
            .await?
            .ok_or(StoreError::NotFound)?;
        let a = AccountId::from_trusted(attr_s(&lookup, "account").unwrap_or_default());
        let id = WebhookId::from_trusted(attr_s(&lookup, "webhook").unwrap_or_default());
        let w = self.get_webhook(&a, &id).await?;
        if w.token != token {
            return Err(StoreError::NotFound);
        }
        Ok(w)
    }

    async fn list_webhooks(&self, a: &AccountId, p: &PageRequest) -> R<Page<Webhook>> {
        self.page_of(&acct(a), "WH#", p, |_| true, |w: &Webhook| w.id.to_string())
            .await
    }

    async fn update_webhook(&self, w: &Webhook) -> R<()> {
        let old = self.get_webhook(&w.account_id, &w.id).await?;
        let mut ops = vec![put(
            item(acct(&w.account_id), format!("WH#{}", w.id), w)?,
            Some("attribute_exists(pk)"),
        )];
        if old.token != w.token {
            let mut lookup = key(format!("WHTOKEN#{}", w.token), "W");
            lookup.insert("account".into(), s(w.account_id.as_str()));
            lookup.insert("webhook".into(), s(w.id.as_str()));
            ops.push(delete(format!("WHTOKEN#{}", old.token), "W"));
            ops.push(put(lookup, Some("attribute_not_exists(pk)")));
        }
        self.transact(ops)
            .await
            .map_err(|e| match cancelled_conditions(&e) {
                Some(_) => StoreError::NotFound,
                None => unexpected(e.into_service_error()),
            })
    }

    async fn delete_webhook(&self, a: &AccountId, id: &WebhookId) -> R<()> {
        let w = self.get_webhook(a, id).await?;
        for i in self.query(&format!("WH#{id}"), "", None, true).await? {
            if let Some(sk) = attr_s(&i, "sk") {
                if let Some(d) = sk.strip_prefix("DLV#") {
                    self.delete_item(format!("DLVID#{d}"), "D").await?;
                }
                self.delete_item(format!("WH#{id}"), sk).await?;
            }
        }
        self.delete_item(format!("WHTOKEN#{}", w.token), "W")
            .await?;
        self.delete_item(acct(a), format!("WH#{id}")).await
    }

    async fn insert_delivery(&self, d: &Delivery) -> R<Inserted<Delivery>> {
        let mut lookup = key(format!("DLVID#{}", d.id), "D");
        lookup.insert("account".into(), s(d.account_id.as_str()));
        lookup.insert("webhook".into(), s(d.webhook_id.as_str()));
        let mut ops = vec![
            put(
                item(format!("WH#{}", d.webhook_id), format!("DLV#{}", d.id), d)?,
                Some("attribute_not_exists(pk)"),
            ),
            put(lookup, None),
        ];
        if let Some(k) = &d.dedup_key {
            let mut lock = key(format!("WH#{}", d.webhook_id), format!("DEDUP#{k}"));
            lock.insert("delivery".into(), s(d.id.as_str()));
            ops.push(put(lock, Some("attribute_not_exists(pk)")));
        }
        match self.transact(ops).await {
            Ok(()) => {
                self.billing_event(&d.account_id, d.received_at, "delivery", d.id.as_str())
                    .await?;
                Ok(Inserted::Created(d.clone()))
            }
            Err(e) => match cancelled_conditions(&e) {
                Some(reasons) if reasons.get(2) == Some(&true) => {
                    let k = d.dedup_key.clone().unwrap_or_default();
                    let lock = self
                        .get(format!("WH#{}", d.webhook_id), format!("DEDUP#{k}"))
                        .await?
                        .ok_or_else(|| unexpected("dedup lock vanished"))?;
                    let first =
                        DeliveryId::from_trusted(attr_s(&lock, "delivery").unwrap_or_default());
                    Ok(Inserted::Existing(
                        self.get_delivery(&d.account_id, &first).await?,
                    ))
                }
                Some(_) => Err(StoreError::Conflict("delivery exists".into())),
                None => Err(unexpected(e.into_service_error())),
            },
        }
    }

    async fn get_delivery(&self, a: &AccountId, id: &DeliveryId) -> R<Delivery> {
        let lookup = self
            .get(format!("DLVID#{id}"), "D")
            .await?
            .ok_or(StoreError::NotFound)?;
        if attr_s(&lookup, "account").as_deref() != Some(a.as_str()) {
            return Err(StoreError::NotFound);
        }
        let wh = attr_s(&lookup, "webhook").unwrap_or_default();
        self.get_doc(format!("WH#{wh}"), format!("DLV#{id}")).await
    }

    async fn list_deliveries(
        &self,
        a: &AccountId,
        webhook: &WebhookId,
        p: &PageRequest,
    ) -> R<Page<Delivery>> {
        self.page_in_account(
            &format!("WH#{webhook}"),
            "DLV#",
            p,
            a,
            |d: &Delivery| &d.account_id,
            |d: &Delivery| d.id.to_string(),
        )
        .await
    }

    async fn update_delivery(&self, d: &Delivery) -> R<()> {
        self.get_delivery(&d.account_id, &d.id).await?;
        self.put_item(
            item(format!("WH#{}", d.webhook_id), format!("DLV#{}", d.id), d)?,
            Some("attribute_exists(pk)"),
        )
        .await
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn idempotency_claim(
        &self,
        a: &AccountId,
        k: &str,
        record: &IdempotencyRecord,
    ) -> R<Claim> {
        // Bounded: a record can vanish between the failed put and the read (a release); two
        // rounds of that in a row means the key is contended, reported as held by the newest.
        for _ in 0..3 {
            match self
                .put_item(
                    idempotency_item(a, k, record),
                    Some("attribute_not_exists(pk)"),
                )
                .await
            {
                Ok(()) => return Ok(Claim::Claimed),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            if let Some(i) = self.get(acct(a), format!("IDEM#{k}")).await? {
                return Ok(Claim::Held(idempotency_record(&i)?));
            }
        }
        Err(StoreError::Unexpected(anyhow::anyhow!(
            "idempotency key {k} kept changing while it was claimed"
        )))
    }

    async fn idempotency_replace(
        &self,
        a: &AccountId,
        k: &str,
        expected: Timestamp,
        record: &IdempotencyRecord,
    ) -> R<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(idempotency_item(a, k, record)))
            .condition_expression("created_at = :c")
            .expression_attribute_values(":c", s(ts(expected)))
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

    async fn idempotency_complete(
        &self,
        a: &AccountId,
        k: &str,
        response: &StoredResponse,
        // Expiry is the table's TTL attribute (`expires_at`).
        _purge_before: Timestamp,
    ) -> R<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(acct(a), format!("IDEM#{k}"))))
            .update_expression("SET #s = :s, body = :b")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", n(response.status))
            .expression_attribute_values(
                ":b",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                    response.body.clone(),
                )),
            )
            .send()
            .await
            .map_err(|e| unexpected(e.into_service_error()))?;
        Ok(())
    }

    async fn idempotency_release(&self, a: &AccountId, k: &str) -> R<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(acct(a), format!("IDEM#{k}"))))
            .condition_expression("attribute_not_exists(#s)")
            .expression_attribute_names("#s", "status")
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
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

#[async_trait]
impl ChatStore for DynamoStore {
    async fn insert_chat(&self, c: &Chat) -> R<()> {
        let mut listing = key(
            format!("CHATS#{}", c.account_id),
            format!("{}#{}", ts(c.created_at), c.id),
        );
        listing.insert("chat".into(), s(c.id.as_str()));
        self.transact(vec![
            put(
                Self::chat_item(c, 0, None)?,
                Some("attribute_not_exists(pk)"),
            ),
            put(listing, None),
        ])
        .await
        .map_err(|e| match cancelled_conditions(&e) {
            Some(_) => StoreError::Conflict("chat exists".into()),
            None => unexpected(e.into_service_error()),
        })
    }

    async fn get_chat(&self, a: &AccountId, id: &ChatId) -> R<Chat> {
        self.get_doc(acct(a), format!("CHAT#{id}")).await
    }

    async fn list_chats(&self, a: &AccountId, p: &PageRequest) -> R<Page<Chat>> {
        let pk = format!("CHATS#{a}");
        // The cursor is the listing entry's sort key with '#' spelled '_h_' (cursors are
        // alphanumeric and '_').
        let after = p.cursor.as_ref().map(|c| {
            c.replace("_h_", "#")
                .replace("_c_", ":")
                .replace("_d_", ".")
                .replace("_m_", "-")
        });
        let entries = self.query(&pk, "", after.as_deref(), false).await?;
        let mut rows = vec![];
        for e in entries.iter().take(p.limit as usize + 1) {
            let id = ChatId::from_trusted(attr_s(e, "chat").unwrap_or_default());
            match self.get_chat(a, &id).await {
                Ok(c) => rows.push((attr_s(e, "sk").unwrap_or_default(), c)),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let page = Page::from_overfetch(rows, p.limit, |(sk, _)| {
            sk.replace('#', "_h_")
                .replace(':', "_c_")
                .replace('.', "_d_")
                .replace('-', "_m_")
        });
        Ok(Page {
            items: page.items.into_iter().map(|(_, c)| c).collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn update_chat(&self, c: &Chat) -> R<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(acct(&c.account_id), format!("CHAT#{}", c.id))))
            .update_expression("SET d = :d")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":d", s(serde_json::to_string(c).map_err(unexpected)?))
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

    async fn delete_chat(&self, a: &AccountId, id: &ChatId) -> R<()> {
        let c = self.get_chat(a, id).await?;
        let pk = chat_pk(a, id);
        for i in self.query(&pk, "", None, true).await? {
            let sk = attr_s(&i, "sk").unwrap_or_default();
            if let Some(t) = sk.strip_prefix("TURN#") {
                self.delete_item(format!("TURNID#{t}"), "T").await?;
            }
            self.delete_item(pk.clone(), sk).await?;
        }
        self.delete_item(
            format!("CHATS#{a}"),
            format!("{}#{}", ts(c.created_at), c.id),
        )
        .await?;
        self.delete_item(acct(a), format!("CHAT#{id}")).await
    }

    async fn insert_chat_message(&self, m: &ChatMessage) -> R<()> {
        self.put_item(
            item(chat_pk(&m.account_id, &m.chat_id), msg_sk(&m.id), m)?,
            None,
        )
        .await
    }

    async fn chat_messages(&self, a: &AccountId, chat: &ChatId) -> R<Vec<ChatMessage>> {
        self.query(&chat_pk(a, chat), "MSG#", None, true)
            .await?
            .iter()
            .map(doc)
            .collect()
    }
}

#[async_trait]
impl TurnStore for DynamoStore {
    async fn insert_turn(&self, t: &Turn) -> R<Inserted<Turn>> {
        let mut lookup = key(format!("TURNID#{}", t.id), "T");
        lookup.insert("account".into(), s(t.account_id.as_str()));
        lookup.insert("chat".into(), s(t.chat_id.as_str()));
        match self
            .transact(vec![
                put(turn_item(t)?, Some("attribute_not_exists(pk)")),
                put(lookup, None),
            ])
            .await
        {
            Ok(()) => {
                self.billing_event(&t.account_id, t.created_at, "turn", &t.id)
                    .await?;
                Ok(Inserted::Created(t.clone()))
            }
            Err(e) if cancelled_conditions(&e).is_some() => Ok(Inserted::Existing(
                self.get_turn(&t.account_id, &t.id).await?,
            )),
            Err(e) => Err(unexpected(e.into_service_error())),
        }
    }

    async fn get_turn(&self, a: &AccountId, id: &str) -> R<Turn> {
        let lookup = self
            .get(format!("TURNID#{id}"), "T")
            .await?
            .ok_or(StoreError::NotFound)?;
        if attr_s(&lookup, "account").as_deref() != Some(a.as_str()) {
            return Err(StoreError::NotFound);
        }
        let chat = ChatId::from_trusted(attr_s(&lookup, "chat").unwrap_or_default());
        self.get_doc(chat_pk(a, &chat), format!("TURN#{id}")).await
    }

    async fn update_turn(&self, t: &Turn) -> R<()> {
        self.put_item(turn_item(t)?, Some("attribute_exists(pk)"))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::NotFound,
                e => e,
            })
    }

    async fn next_open_turn(&self, a: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        for i in self.query(&chat_pk(a, chat), "TURN#", None, true).await? {
            if matches!(
                attr_s(&i, "status").as_deref(),
                Some("queued") | Some("running")
            ) {
                return Ok(Some(doc(&i)?));
            }
        }
        Ok(None)
    }

    async fn last_turn(&self, a: &AccountId, chat: &ChatId) -> R<Option<Turn>> {
        match self
            .query(&chat_pk(a, chat), "TURN#", None, false)
            .await?
            .first()
        {
            Some(i) => Ok(Some(doc(i)?)),
            None => Ok(None),
        }
    }

    async fn append_chat_event(
        &self,
        a: &AccountId,
        chat: &ChatId,
        turn_id: &str,
        data: &serde_json::Value,
    ) -> R<u64> {
        for _ in 0..20 {
            let seq = self.last_chat_seq(a, chat).await?;
            let next = seq + 1;
            let mut ev = key(chat_pk(a, chat), format!("EVT#{next:020}"));
            ev.insert("turn".into(), s(turn_id));
            ev.insert("data".into(), s(data.to_string()));
            let bump = TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .set_key(Some(key(acct(a), format!("CHAT#{chat}"))))
                        .update_expression("SET seq = :n")
                        .condition_expression("seq = :s")
                        .expression_attribute_values(":n", n(next))
                        .expression_attribute_values(":s", n(seq))
                        .table_name("__TABLE__")
                        .build()
                        .expect("update"),
                )
                .build();
            match self
                .transact(vec![bump, put(ev, Some("attribute_not_exists(pk)"))])
                .await
            {
                Ok(()) => return Ok(next),
                Err(e) if cancelled_conditions(&e).is_some() => continue,
                Err(e) => return Err(unexpected(e.into_service_error())),
            }
        }
        Err(unexpected("too much contention on the chat's event log"))
    }

    async fn chat_events(
        &self,
        a: &AccountId,
        chat: &ChatId,
        after: u64,
        limit: u32,
    ) -> R<Vec<ChatEvent>> {
        let start = format!("EVT#{after:020}");
        let items = self
            .query(&chat_pk(a, chat), "EVT#", Some(&start), true)
            .await?;
        items
            .iter()
            .take(limit as usize)
            .map(|i| {
                let seq = attr_s(i, "sk")
                    .and_then(|sk| sk.trim_start_matches("EVT#").parse().ok())
                    .unwrap_or(0);
                Ok(ChatEvent {
                    seq,
                    turn_id: attr_s(i, "turn").unwrap_or_default(),
                    data: serde_json::from_str(&attr_s(i, "data").unwrap_or_default())
                        .map_err(unexpected)?,
                })
            })
            .collect()
    }

    async fn last_chat_seq(&self, a: &AccountId, chat: &ChatId) -> R<u64> {
        Ok(self
            .get(acct(a), format!("CHAT#{chat}"))
            .await?
            .and_then(|i| {
                i.get("seq")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0))
    }

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
            .set_key(Some(key(acct(a), format!("CHAT#{chat}"))))
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

    async fn release_chat(&self, a: &AccountId, chat: &ChatId, owner: &str) -> R<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(acct(a), format!("CHAT#{chat}"))))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :o")
            .expression_attribute_values(":o", s(owner))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
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

#[async_trait]
impl UsageStore for DynamoStore {
    async fn usage_counts(&self, a: &AccountId, since: Timestamp) -> R<UsageCounts> {
        let since = ts(since);
        let mut c = UsageCounts::default();
        for i in self.query(&format!("ACCTEVT#{a}"), "", None, true).await? {
            let sk = attr_s(&i, "sk").unwrap_or_default();
            if sk.as_str() < since.as_str() {
                continue;
            }
            match sk.split('#').nth(1) {
                Some("run") => c.automation_runs += 1,
                Some("delivery") => c.webhook_deliveries += 1,
                Some("turn") => c.chat_turns += 1,
                _ => {}
            }
        }
        Ok(c)
    }

    async fn record_llm_usage(&self, u: &LlmUsage) -> R<()> {
        use rand::distributions::{Alphanumeric, DistString};
        let r = Alphanumeric.sample_string(&mut rand::thread_rng(), 8);
        let mut by_inst = item(
            format!("USAGE#{}", u.instance_id),
            format!("{}#{r}", ts(u.at)),
            u,
        )?;
        by_inst.insert("w".into(), n(u.weighted()));
        let mut by_acct = item(
            format!("ACCTUSAGE#{}", u.account_id),
            format!("{}#{}#{r}", ts(u.at), u.instance_id),
            u,
        )?;
        by_acct.insert("w".into(), n(u.weighted()));
        self.transact(vec![put(by_inst, None), put(by_acct, None)])
            .await
            .map_err(|e| unexpected(e.into_service_error()))
    }

    async fn llm_usage_by_instance(
        &self,
        a: &AccountId,
        since: Timestamp,
    ) -> R<Vec<(InstanceId, u64)>> {
        let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
        for i in self
            .query(&format!("ACCTUSAGE#{a}"), "", None, true)
            .await?
        {
            let u: LlmUsage = doc(&i)?;
            if u.at >= since {
                *totals.entry(u.instance_id.to_string()).or_default() += u.weighted();
            }
        }
        Ok(totals
            .into_iter()
            .map(|(k, v)| (InstanceId::from_trusted(k), v))
            .collect())
    }

    async fn llm_usage_of_instance(
        &self,
        instance: &InstanceId,
        since: Timestamp,
    ) -> R<(u64, Option<Timestamp>)> {
        let mut sum = 0;
        let mut oldest: Option<Timestamp> = None;
        for i in self
            .query(&format!("USAGE#{instance}"), "", None, true)
            .await?
        {
            let u: LlmUsage = doc(&i)?;
            if u.at >= since {
                sum += u.weighted();
                oldest = Some(oldest.map_or(u.at, |o| o.min(u.at)));
            }
        }
        Ok((sum, oldest))
    }
}

/// The item of an idempotency record; `expires_at` lets DynamoDB's TTL remove it.
fn idempotency_item(a: &AccountId, k: &str, record: &IdempotencyRecord) -> Item {
    let mut item = key(acct(a), format!("IDEM#{k}"));
    item.insert("fingerprint".into(), s(record.fingerprint.clone()));
    item.insert("created_at".into(), s(ts(record.created_at)));
    item.insert(
        "expires_at".into(),
        n((record.created_at + operator_core::idempotency::TTL).timestamp()),
    );
    if let Some(r) = &record.response {
        item.insert("status".into(), n(r.status));
        item.insert(
            "body".into(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(r.body.clone())),
        );
    }
    item
}

fn idempotency_record(i: &Item) -> R<IdempotencyRecord> {
    let created_at = attr_s(i, "created_at")
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
        .map(|c| c.with_timezone(&chrono::Utc))
        .ok_or_else(|| unexpected("idempotency record without a valid created_at"))?;
    let status = i
        .get("status")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u16>().ok());
    Ok(IdempotencyRecord {
        fingerprint: attr_s(i, "fingerprint").unwrap_or_default(),
        created_at,
        response: status.map(|status| StoredResponse {
            status,
            body: i
                .get("body")
                .and_then(|b| b.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
        }),
    })
}
