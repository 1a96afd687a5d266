//! `InstanceStore`: instances, their per-account name locks and id lookups.
//!
//! Every write to an account's instances also advances the account's capacity version
//! (`CAPVER`) with a condition on the version read before, so capacity is checked atomically
//! with the insert: a writer that lost the race reads again and retries (bounded). Names are
//! unique through the name lock's `attribute_not_exists` condition alone — no read guards
//! them — so two racing inserts or renames to one name cannot both commit.

use super::codec::{attr_n, attr_s, item, n, s, R};
use super::keys;
use super::retry::{on_contention, Attempt, Backoff};
use super::tx::{Tx, TxError};
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use operator_core::domain::*;
use operator_core::error::StoreError;
use operator_core::ids::*;
use operator_core::ports::InstanceStore;

const INSTANCE: &str = "instance";
const NAME_LOCK: &str = "instance name lock";
const OLD_NAME_LOCK: &str = "previous instance name lock";
const LOOKUP: &str = "instance id lookup";
const MOVED: &str = "moved instance";
const CAPACITY: &str = "capacity version";
const CONTENDED: &str = "the account's instances";

fn name_taken() -> StoreError {
    StoreError::Conflict("instance name already exists".into())
}

impl DynamoStore {
    fn instance_item(i: &Instance) -> R<super::codec::Item> {
        let mut it = item(keys::instance(&i.account_id, &i.id), i)?;
        it.insert("t".into(), s("instance"));
        it.insert("status".into(), s(i.status.as_str()));
        it.insert(
            "deleted".into(),
            AttributeValue::Bool(i.deleted_at.is_some()),
        );
        Ok(it)
    }

    fn name_lock_item(i: &Instance) -> super::codec::Item {
        let mut lock = keys::instance_name_lock(&i.account_id, &i.name).item();
        lock.insert("instance".into(), s(i.id.as_str()));
        lock
    }

    /// The account's capacity version (0 before the first write).
    async fn capacity_version(&self, a: &AccountId) -> R<u64> {
        Ok(self
            .get(keys::capacity_version(a))
            .await?
            .and_then(|i| attr_n(&i, "v"))
            .unwrap_or(0))
    }

    /// Adds the version bump that commits only if nobody wrote since `v` was read.
    fn bump_capacity_version<'a>(tx: Tx<'a>, a: &AccountId, v: u64) -> Tx<'a> {
        let mut it = keys::capacity_version(a).item();
        it.insert("v".into(), n(v + 1));
        let cond = if v == 0 {
            "attribute_not_exists(v) OR v = :v"
        } else {
            "v = :v"
        };
        tx.put_if(CAPACITY, it, cond).value(":v", n(v))
    }

    async fn try_insert_instance(&self, i: &Instance, capacity: u32) -> R<Attempt<()>> {
        let a = &i.account_id;
        let v = self.capacity_version(a).await?;
        let used = self.count_capacity(a).await?;
        if used >= capacity {
            // A taken name is the more specific answer, so it wins over a full account.
            if self
                .get(keys::instance_name_lock(a, &i.name))
                .await?
                .is_some()
            {
                return Err(name_taken());
            }
            return Err(StoreError::CapacityExceeded {
                used,
                limit: capacity,
            });
        }
        let mut lookup = keys::instance_lookup(&i.id).item();
        lookup.insert("account".into(), s(a.as_str()));
        let tx = self
            .tx()
            .put_if(
                INSTANCE,
                Self::instance_item(i)?,
                "attribute_not_exists(pk)",
            )
            .put_if(
                NAME_LOCK,
                Self::name_lock_item(i),
                "attribute_not_exists(pk)",
            )
            .put(LOOKUP, lookup);
        match Self::bump_capacity_version(tx, a, v).commit().await {
            Ok(()) => Ok(Attempt::Done(())),
            Err(TxError::Cancelled(c)) if c.failed(NAME_LOCK) => Err(name_taken()),
            Err(TxError::Cancelled(c)) if c.failed(INSTANCE) => {
                Err(StoreError::Conflict("instance exists".into()))
            }
            // The capacity version moved (or DynamoDB saw a concurrent transaction).
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// One attempt at moving `from` to `to` (see `InstanceStore::transfer_instance`). The
    /// source item must still hold the document as read (`d`): any write since (a claim, a
    /// status change) cancels the move, reported as `NotFound`.
    async fn try_transfer_instance(
        &self,
        from: &Instance,
        to: &Instance,
        capacity: u32,
    ) -> R<Attempt<()>> {
        if from.status != InstanceStatus::Active || from.deleted_at.is_some() {
            return Err(StoreError::NotFound);
        }
        let a = &to.account_id;
        let v = self.capacity_version(a).await?;
        let used = self.count_capacity(a).await?;
        if used >= capacity {
            if self
                .get(keys::instance_name_lock(a, &to.name))
                .await?
                .is_some()
            {
                return Err(name_taken());
            }
            return Err(StoreError::CapacityExceeded {
                used,
                limit: capacity,
            });
        }
        let as_read = item(keys::instance(&from.account_id, &from.id), from)?
            .remove("d")
            .ok_or_else(|| {
                StoreError::Unexpected(anyhow::anyhow!("an instance item without a document"))
            })?;
        let mut lookup = keys::instance_lookup(&to.id).item();
        lookup.insert("account".into(), s(a.as_str()));
        let tx = self
            .tx()
            .delete_if(
                INSTANCE,
                keys::instance(&from.account_id, &from.id),
                "d = :d",
            )
            .value(":d", as_read)
            .delete_if(
                OLD_NAME_LOCK,
                keys::instance_name_lock(&from.account_id, &from.name),
                "attribute_not_exists(pk) OR instance = :id",
            )
            .value(":id", s(from.id.as_str()))
            .put_if(MOVED, Self::instance_item(to)?, "attribute_not_exists(pk)")
            .put_if(
                NAME_LOCK,
                Self::name_lock_item(to),
                "attribute_not_exists(pk)",
            )
            .put(LOOKUP, lookup);
        match Self::bump_capacity_version(tx, a, v).commit().await {
            Ok(()) => Ok(Attempt::Done(())),
            Err(TxError::Cancelled(c)) if c.failed(INSTANCE) => Err(StoreError::NotFound),
            Err(TxError::Cancelled(c)) if c.failed(NAME_LOCK) => Err(name_taken()),
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn try_update_instance(&self, i: &Instance) -> R<Attempt<()>> {
        let a = &i.account_id;
        let old = self.get_instance(a, &i.id).await?;
        let v = self.capacity_version(a).await?;
        let mut tx = self
            .tx()
            .put_if(INSTANCE, Self::instance_item(i)?, "attribute_exists(pk)");
        let old_live = old.deleted_at.is_none();
        let new_live = i.deleted_at.is_none();
        let renamed = old.name != i.name;
        if old_live && (renamed || !new_live) {
            // Only this instance's own lock (it may be gone already, never someone else's).
            tx = tx
                .delete_if(
                    OLD_NAME_LOCK,
                    keys::instance_name_lock(a, &old.name),
                    "attribute_not_exists(pk) OR instance = :id",
                )
                .value(":id", s(i.id.as_str()));
        }
        if new_live && (renamed || !old_live) {
            tx = tx.put_if(
                NAME_LOCK,
                Self::name_lock_item(i),
                "attribute_not_exists(pk)",
            );
        }
        match Self::bump_capacity_version(tx, a, v).commit().await {
            Ok(()) => Ok(Attempt::Done(())),
            Err(TxError::Cancelled(c)) if c.failed(INSTANCE) => Err(StoreError::NotFound),
            Err(TxError::Cancelled(c)) if c.failed(NAME_LOCK) => Err(name_taken()),
            // The capacity version moved, or the instance was renamed meanwhile: read again.
            Err(TxError::Cancelled(c)) => Ok(Attempt::Contended(c.to_string())),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl InstanceStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(account = %i.account_id, instance = %i.id, capacity = capacity))]
    async fn insert_instance(&self, i: &Instance, capacity: u32) -> R<()> {
        on_contention(CONTENDED, Backoff::WRITES, || {
            self.try_insert_instance(i, capacity)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a, instance = %id))]
    async fn get_instance(&self, a: &AccountId, id: &InstanceId) -> R<Instance> {
        self.get_doc(keys::instance(a, id)).await
    }

    #[tracing::instrument(skip_all, fields(account = %a, name = name.as_str()))]
    async fn get_instance_by_name(&self, a: &AccountId, name: &InstanceName) -> R<Instance> {
        let lock = self
            .get(keys::instance_name_lock(a, name))
            .await?
            .ok_or(StoreError::NotFound)?;
        let id = InstanceId::from_trusted(attr_s(&lock, "instance").unwrap_or_default());
        self.get_instance(a, &id).await
    }

    #[tracing::instrument(skip_all, fields(account = %a, include_deleted = include_deleted))]
    async fn list_instances(
        &self,
        a: &AccountId,
        p: &PageRequest,
        include_deleted: bool,
    ) -> R<Page<Instance>> {
        self.page_of(
            &keys::instances(a),
            p,
            |i| include_deleted || !matches!(i.get("deleted"), Some(AttributeValue::Bool(true))),
            |i: &Instance| i.id.to_string(),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %i.account_id, instance = %i.id))]
    async fn update_instance(&self, i: &Instance) -> R<()> {
        on_contention(CONTENDED, Backoff::WRITES, || self.try_update_instance(i)).await
    }

    #[tracing::instrument(skip_all, fields(from = %from.account_id, to = %to.account_id, instance = %to.id))]
    async fn transfer_instance(&self, from: &Instance, to: &Instance, capacity: u32) -> R<()> {
        on_contention(CONTENDED, Backoff::WRITES, || {
            self.try_transfer_instance(from, to, capacity)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(account = %a))]
    async fn count_capacity(&self, a: &AccountId) -> R<u32> {
        Ok(self
            .docs::<Instance>(&keys::instances(a))
            .await?
            .iter()
            .filter(|i| i.deleted_at.is_none() && i.status.counts_against_capacity())
            .count() as u32)
    }

    #[tracing::instrument(skip_all, fields(instance = %id))]
    async fn find_instance(&self, id: &InstanceId) -> R<Instance> {
        let lookup = self
            .get(keys::instance_lookup(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        self.get_instance(&Self::account_of(&lookup), id).await
    }
}
