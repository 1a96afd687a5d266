//! A `TransactWriteItems` builder that owns the table name and names every operation, so a
//! cancelled transaction says which named condition failed ("instance name lock") instead
//! of an index that shifts whenever an operation is added.

use super::codec::{unexpected, Item, R};
use super::keys::Key;
use super::DynamoStore;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use operator_core::error::StoreError;
use std::collections::HashMap;

/// What one operation does to its item.
enum Action {
    Put(Item),
    Delete(Key),
    Update { key: Key, expression: String },
}

struct Op {
    name: &'static str,
    action: Action,
    condition: Option<String>,
    values: HashMap<String, AttributeValue>,
}

/// The operations of one transaction, in order, each with a name.
pub(crate) struct Tx<'a> {
    store: &'a DynamoStore,
    ops: Vec<Op>,
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub(crate) enum TxError {
    /// DynamoDB cancelled it; the reasons say which operations' conditions failed.
    Cancelled(Cancelled),
    /// Anything else (network, throttling, validation).
    Store(StoreError),
}

/// The per-operation outcome of a cancelled transaction.
#[derive(Debug)]
pub(crate) struct Cancelled {
    /// Operation name and DynamoDB's reason code (`None` for operations that were fine).
    reasons: Vec<(&'static str, Option<String>)>,
}

impl Cancelled {
    /// Did the condition of the operation called `name` fail?
    pub fn failed(&self, name: &str) -> bool {
        self.reasons
            .iter()
            .any(|(n, code)| *n == name && code.as_deref() == Some("ConditionalCheckFailed"))
    }
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .filter_map(|(n, c)| c.as_ref().map(|c| format!("{n}: {c}")))
            .collect();
        write!(f, "transaction cancelled ({})", reasons.join(", "))
    }
}

impl TxError {
    /// The error for a cancellation the caller did not expect.
    pub fn into_store_error(self) -> StoreError {
        match self {
            TxError::Cancelled(c) => unexpected(c),
            TxError::Store(e) => e,
        }
    }
}

impl<'a> Tx<'a> {
    pub fn new(store: &'a DynamoStore) -> Self {
        Self { store, ops: vec![] }
    }

    fn push(mut self, name: &'static str, action: Action, condition: Option<&str>) -> Self {
        self.ops.push(Op {
            name,
            action,
            condition: condition.map(str::to_owned),
            values: HashMap::new(),
        });
        self
    }

    /// Writes `item` whatever is there.
    pub fn put(self, name: &'static str, item: Item) -> Self {
        self.push(name, Action::Put(item), None)
    }

    /// Writes `item` if `condition` holds on the current one.
    pub fn put_if(self, name: &'static str, item: Item, condition: &str) -> Self {
        self.push(name, Action::Put(item), Some(condition))
    }

    /// Deletes the item (absent is fine).
    pub fn delete(self, name: &'static str, key: Key) -> Self {
        self.push(name, Action::Delete(key), None)
    }

    pub fn delete_if(self, name: &'static str, key: Key, condition: &str) -> Self {
        self.push(name, Action::Delete(key), Some(condition))
    }

    /// Applies an update expression if `condition` holds.
    pub fn update_if(
        self,
        name: &'static str,
        key: Key,
        expression: &str,
        condition: &str,
    ) -> Self {
        let expression = expression.to_owned();
        self.push(name, Action::Update { key, expression }, Some(condition))
    }

    /// A value (`:v`) for the expressions of the operation added last.
    pub fn value(mut self, placeholder: &str, v: AttributeValue) -> Self {
        if let Some(op) = self.ops.last_mut() {
            op.values.insert(placeholder.to_owned(), v);
        }
        self
    }

    fn build(&self, op: &Op) -> R<TransactWriteItem> {
        let table = self.store.table.clone();
        let values = (!op.values.is_empty()).then(|| op.values.clone());
        let built = match &op.action {
            Action::Put(item) => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(item.clone()))
                    .set_condition_expression(op.condition.clone())
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(unexpected)?,
            ),
            Action::Delete(key) => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(key.item()))
                    .set_condition_expression(op.condition.clone())
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(unexpected)?,
            ),
            Action::Update { key, expression } => TransactWriteItem::builder().update(
                Update::builder()
                    .table_name(table)
                    .set_key(Some(key.item()))
                    .update_expression(expression)
                    .set_condition_expression(op.condition.clone())
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(unexpected)?,
            ),
        };
        Ok(built.build())
    }

    /// Commits all operations or none.
    pub async fn commit(self) -> Result<(), TxError> {
        let items = self
            .ops
            .iter()
            .map(|op| self.build(op))
            .collect::<R<Vec<_>>>()
            .map_err(TxError::Store)?;
        let res = self
            .store
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(t) => {
                    let mut codes = t
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().map(str::to_owned).filter(|c| c != "None"));
                    Err(TxError::Cancelled(Cancelled {
                        reasons: self
                            .ops
                            .iter()
                            .map(|op| (op.name, codes.next().flatten()))
                            .collect(),
                    }))
                }
                other => Err(TxError::Store(unexpected(other))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cancelled(reasons: &[(&'static str, Option<&str>)]) -> Cancelled {
        Cancelled {
            reasons: reasons
                .iter()
                .map(|(n, c)| (*n, c.map(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn a_cancellation_names_the_failed_conditions() {
        // GIVEN a cancelled transaction whose second operation's condition failed
        let c = cancelled(&[
            ("instance", None),
            ("instance name lock", Some("ConditionalCheckFailed")),
            ("capacity version", Some("TransactionConflict")),
        ]);
        // WHEN it is asked by name
        // THEN only the named condition reads as failed, and the message names both reasons
        assert!(c.failed("instance name lock"));
        assert!(!c.failed("instance"));
        assert!(!c.failed("capacity version"));
        assert_eq!(
            c.to_string(),
            "transaction cancelled (instance name lock: ConditionalCheckFailed, capacity version: TransactionConflict)"
        );
    }
}
