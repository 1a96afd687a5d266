//! `AccountStore`: accounts, the first-account marker, and API keys with their hash and id
//! lookups. Revocation flags the key item and deletes the hash lookup in one transaction, so
//! a revoked key stops authenticating at once.

use super::codec::{doc, item, json, n, s, ts, unexpected, R};
use super::keys;
use super::retry::{on_contention, Attempt, Backoff};
use super::tx::TxError;
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::AccountStore;

const KEY: &str = "API key";
const HASH: &str = "API key hash lookup";
const ID_LOOKUP: &str = "API key id lookup";

#[async_trait]
impl AccountStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %a.id))]
    async fn insert_account(&self, a: &Account) -> R<()> {
        self.put_item(
            item(keys::account(&a.id), a)?,
            Some("attribute_not_exists(pk)"),
            || StoreError::Conflict("account exists".into()),
        )
        .await?;
        let mut marker = keys::first_account().item();
        marker.insert("account".into(), s(a.id.as_str()));
        // Only the first account's marker sticks; a later one finding it is expected.
        match self
            .put_item(marker, Some("attribute_not_exists(pk)"), || {
                StoreError::Conflict("first account exists".into())
            })
            .await
        {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %id))]
    async fn get_account(&self, id: &AccountId) -> R<Account> {
        self.get_doc(keys::account(id)).await
    }

    #[tracing::instrument(skip_all)]
    async fn first_account(&self) -> R<Option<Account>> {
        match self.get(keys::first_account()).await? {
            Some(m) => Ok(Some(self.get_account(&Self::account_of(&m)).await?)),
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %k.account_id, key = %k.id))]
    async fn insert_key(&self, k: &ApiKey) -> R<()> {
        let mut by_id = keys::api_key_id(&k.id).item();
        by_id.insert("account".into(), s(k.account_id.as_str()));
        self.tx()
            .put_if(
                KEY,
                item(keys::api_key(&k.account_id, &k.id), k)?,
                "attribute_not_exists(pk)",
            )
            .put_if(
                HASH,
                item(keys::api_key_hash(&k.hash), k)?,
                "attribute_not_exists(pk)",
            )
            .put(ID_LOOKUP, by_id)
            .commit()
            .await
            .map_err(|e| match e {
                TxError::Cancelled(c) if c.failed(KEY) || c.failed(HASH) => {
                    StoreError::Conflict("key exists".into())
                }
                e => e.into_store_error(),
            })
    }

    // The hash is a credential's digest: it stays out of the span.
    #[tracing::instrument(skip_all)]
    async fn key_by_hash(&self, hash: &str) -> R<ApiKey> {
        let lookup = self
            .get(keys::api_key_hash(hash))
            .await?
            .ok_or(StoreError::NotFound)?;
        let k: ApiKey = doc(&lookup)?;
        // The key item has last_used_at and the revocation flag.
        let current = self
            .get(keys::api_key(&k.account_id, &k.id))
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.contains_key("revoked") {
            return Err(StoreError::NotFound);
        }
        doc(&current)
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn list_keys(&self, a: &AccountId, p: &PageRequest) -> R<Page<ApiKey>> {
        self.page_of(
            &keys::api_keys(a),
            p,
            |i| !i.contains_key("revoked"),
            |k: &ApiKey| k.id.to_string(),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, key = %id))]
    async fn delete_key(&self, a: &AccountId, id: &KeyId, at: Timestamp) -> R<()> {
        on_contention("the API key", Backoff::WRITES, || async {
            let current = self
                .get(keys::api_key(a, id))
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
                .tx()
                .put_if(
                    KEY,
                    revoked,
                    "attribute_exists(pk) AND attribute_not_exists(revoked)",
                )
                .delete(HASH, keys::api_key_hash(&k.hash))
                .commit()
                .await;
            match res {
                Ok(()) => Ok(Attempt::Done(())),
                // Revoked by someone else meanwhile.
                Err(TxError::Cancelled(c)) if c.failed(KEY) => Err(StoreError::NotFound),
                Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
                Err(TxError::Store(e)) => Err(e),
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(key = %id))]
    async fn touch_key(&self, id: &KeyId, at: Timestamp) -> R<()> {
        let lookup = self
            .get(keys::api_key_id(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let key = keys::api_key(&Self::account_of(&lookup), id);
        let current = self.get(key.clone()).await?.ok_or(StoreError::NotFound)?;
        let mut k: ApiKey = doc(&current)?;
        k.last_used_at = Some(at);
        // Only the document changes: a revocation that lands between the read and this
        // write keeps its flag (a whole-item put would bring the key back).
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression("SET d = :d")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked)")
            .expression_attribute_values(":d", json(&k)?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    // Revoked: there is nothing left to touch.
                    Ok(())
                } else {
                    Err(unexpected(e))
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(account = %login.account_id))]
    async fn insert_cli_login(&self, login: &CliLogin) -> R<()> {
        let mut i = item(keys::cli_login(&login.session), login)?;
        // The table's TTL attribute: DynamoDB removes approvals nobody polled; the condition
        // below reads it too.
        i.insert("expires_at".into(), n(login.expires_at.timestamp()));
        // An expired approval of the same session is replaced; a live one is kept.
        self.put_item_with(
            i,
            Some("attribute_not_exists(pk) OR expires_at <= :now"),
            [(":now".to_owned(), n(login.approved_at.timestamp()))].into(),
            || StoreError::Conflict("this CLI login is already approved".into()),
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn take_cli_login(&self, session: &CliSession, now: Timestamp) -> R<CliLogin> {
        // One delete returning what it removed: of two racing polls, one gets the item.
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::cli_login(session).item()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unexpected(e.into_service_error()))?;
        let Some(old) = res.attributes.filter(|a| !a.is_empty()) else {
            return Err(StoreError::NotFound);
        };
        let login: CliLogin = doc(&old)?;
        if login.expires_at <= now {
            return Err(StoreError::NotFound);
        }
        Ok(login)
    }
}
