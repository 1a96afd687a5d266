//! `SecretStore`: secret metadata with a per-account name lock, and grants as a string set
//! on the secret item (`ADD`/`DELETE` are atomic, so concurrent grants never lose each other).
//! Values live in the vault, never here.

use super::codec::{attr_s, doc, item, json, s, unexpected, Item, R};
use super::keys;
use super::retry::{on_contention, Attempt, Backoff};
use super::tx::TxError;
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::SecretStore;

const SECRET: &str = "secret";
const NAME_LOCK: &str = "secret name lock";

impl DynamoStore {
    fn secret_item(sec: &Secret) -> R<Item> {
        let mut it = item(
            keys::secret(&sec.account_id, &sec.id),
            &Self::secret_doc(sec),
        )?;
        if !sec.grants.is_empty() {
            it.insert(
                "grants".into(),
                AttributeValue::Ss(sec.grants.iter().map(|g| g.to_string()).collect()),
            );
        }
        Ok(it)
    }

    /// The document without grants (they are the `grants` set attribute).
    fn secret_doc(sec: &Secret) -> Secret {
        let mut d = sec.clone();
        d.grants = vec![];
        d
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

    /// An `UpdateItem` on the secret whose failed condition means "absent" (`NotFound`).
    async fn update_secret_item(
        &self,
        a: &AccountId,
        id: &SecretId,
        expression: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> R<()> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::secret(a, id).item()))
            .update_expression(expression)
            .condition_expression(condition);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        req.send().await.map_err(|e| {
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
impl SecretStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %sec.account_id, secret = %sec.id, name = sec.name.as_str()))]
    async fn insert_secret(&self, sec: &Secret) -> R<()> {
        on_contention("the secret name", Backoff::WRITES, || async {
            let mut lock = keys::secret_name_lock(&sec.account_id, &sec.name).item();
            lock.insert("secret".into(), s(sec.id.as_str()));
            let res = self
                .tx()
                .put_if(SECRET, Self::secret_item(sec)?, "attribute_not_exists(pk)")
                .put_if(NAME_LOCK, lock, "attribute_not_exists(pk)")
                .commit()
                .await;
            match res {
                Ok(()) => Ok(Attempt::Done(())),
                Err(TxError::Cancelled(c)) if c.failed(NAME_LOCK) || c.failed(SECRET) => {
                    Err(StoreError::Conflict("secret name already exists".into()))
                }
                Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
                Err(TxError::Store(e)) => Err(e),
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, secret = %id))]
    async fn get_secret(&self, a: &AccountId, id: &SecretId) -> R<Secret> {
        let i = self
            .get(keys::secret(a, id))
            .await?
            .ok_or(StoreError::NotFound)?;
        Self::secret_from(&i)
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn list_secrets(&self, a: &AccountId, p: &PageRequest) -> R<Page<Secret>> {
        let range = keys::secrets(a);
        let after = p.cursor.as_ref().map(|c| range.sk_of(c));
        let items = self.query(&range, after.as_deref(), false).await?;
        let rows: Vec<Secret> = items
            .iter()
            .take(p.limit as usize + 1)
            .map(Self::secret_from)
            .collect::<R<_>>()?;
        Ok(Page::from_overfetch(rows, p.limit, |s| s.id.to_string()))
    }

    #[tracing::instrument(skip_all, fields(account = %sec.account_id, secret = %sec.id))]
    async fn update_secret(&self, sec: &Secret) -> R<()> {
        // Only the document: the grants set is left alone, so a grant added concurrently
        // is kept (a whole-item put would write back the grants read before it).
        self.update_secret_item(
            &sec.account_id,
            &sec.id,
            "SET d = :d",
            "attribute_exists(pk)",
            vec![(":d", json(&Self::secret_doc(sec))?)],
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, secret = %id))]
    async fn delete_secret(&self, a: &AccountId, id: &SecretId) -> R<()> {
        let sec = self.get_secret(a, id).await?;
        let res = self
            .tx()
            .delete_if(SECRET, keys::secret(a, id), "attribute_exists(pk)")
            .delete_if(
                NAME_LOCK,
                keys::secret_name_lock(a, &sec.name),
                "attribute_not_exists(pk) OR secret = :id",
            )
            .value(":id", s(id.as_str()))
            .commit()
            .await;
        match res {
            Ok(()) => Ok(()),
            // Deleted by someone else meanwhile.
            Err(TxError::Cancelled(c)) if c.failed(SECRET) => Err(StoreError::NotFound),
            Err(e) => Err(e.into_store_error()),
        }
    }

    #[tracing::instrument(skip_all, fields(account = %a, name = name.as_str()))]
    async fn get_secret_by_name(&self, a: &AccountId, name: &SecretName) -> R<Secret> {
        let lock = self
            .get(keys::secret_name_lock(a, name))
            .await?
            .ok_or(StoreError::NotFound)?;
        self.get_secret(
            a,
            &SecretId::from_trusted(attr_s(&lock, "secret").unwrap_or_default()),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, instance = %instance))]
    async fn secrets_for_instance(&self, a: &AccountId, instance: &InstanceId) -> R<Vec<Secret>> {
        let mut out: Vec<Secret> = self
            .query(&keys::secrets(a), None, true)
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

    #[tracing::instrument(skip_all, fields(account = %a, secret = %id, instance = %instance))]
    async fn add_grant(
        &self,
        a: &AccountId,
        id: &SecretId,
        instance: &InstanceId,
        _at: Timestamp,
    ) -> R<()> {
        self.update_secret_item(
            a,
            id,
            "ADD grants :g",
            "attribute_exists(pk)",
            vec![(":g", AttributeValue::Ss(vec![instance.to_string()]))],
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, secret = %id, instance = %instance))]
    async fn remove_grant(&self, a: &AccountId, id: &SecretId, instance: &InstanceId) -> R<()> {
        self.update_secret_item(
            a,
            id,
            "DELETE grants :g",
            "attribute_exists(pk) AND contains(grants, :i)",
            vec![
                (":g", AttributeValue::Ss(vec![instance.to_string()])),
                (":i", s(instance.as_str())),
            ],
        )
        .await
    }
}
