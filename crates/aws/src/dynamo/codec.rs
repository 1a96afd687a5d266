//! Item ↔ model mapping: records are JSON documents in the `d` attribute, beside the few
//! plain attributes that conditions and filters need. Kept apart so every aggregate module
//! encodes and decodes the same way and no DynamoDB type leaks past the adapter.

use super::keys::Key;
use aws_sdk_dynamodb::types::AttributeValue;
use operator_core::domain::Timestamp;
use operator_core::error::StoreError;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;
pub(super) type R<T> = Result<T, StoreError>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Timestamps as stored (and compared as strings): RFC 3339 UTC with milliseconds.
pub(super) fn ts(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn unexpected(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("DynamoDB: {e}"))
}

/// The JSON text of a document.
pub(super) fn json<T: Serialize>(doc: &T) -> R<AttributeValue> {
    Ok(s(serde_json::to_string(doc).map_err(unexpected)?))
}

/// An item at `key` carrying `doc` as its document.
pub(super) fn item<T: Serialize>(key: Key, doc: &T) -> R<Item> {
    let mut i = key.item();
    i.insert("d".into(), json(doc)?);
    Ok(i)
}

pub(super) fn doc<T: DeserializeOwned>(i: &Item) -> R<T> {
    let d = i
        .get("d")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| unexpected("item without a document"))?;
    serde_json::from_str(d).map_err(unexpected)
}

pub(super) fn attr_s(i: &Item, k: &str) -> Option<String> {
    i.get(k).and_then(|v| v.as_s().ok()).cloned()
}

pub(super) fn attr_n(i: &Item, k: &str) -> Option<u64> {
    i.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}
