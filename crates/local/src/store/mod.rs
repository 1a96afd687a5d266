//! `Store` on SQLite. Every query is scoped by `account_id`; lists page by id (ids sort by
//! creation time), newest first.
//!
//! One submodule per port (the seams of `operator_core::ports::store`); this module holds
//! the adapter itself and the error mapping, paging and column helpers they all share.

mod accounts;
mod automations;
mod chats;
mod experiments;
mod idempotency;
mod instances;
mod secrets;
mod sweep;
mod turns;
mod usage;
mod webhooks;

use crate::db::{fmt_ts, is_constraint, sql_error, Db};
use operator_core::domain::*;
use operator_core::error::StoreError;
use rusqlite::{Connection, Row};

pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

type R<T> = Result<T, StoreError>;

fn unexpected(e: rusqlite::Error) -> StoreError {
    StoreError::Unexpected(sql_error(e))
}

/// `NotFound` for no rows, `Conflict` for constraint violations, else unexpected.
fn map_err(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        e if is_constraint(&e) => StoreError::Conflict(format!("{what} already exists")),
        e => unexpected(e),
    }
}

fn require_changed(n: usize) -> R<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Fetches `limit + 1` rows of `sql` (which must end in `LIMIT :limit`) and builds a page.
fn page<T>(
    conn: &Connection,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
    limit: u32,
    map: impl Fn(&Row) -> rusqlite::Result<T>,
    id_of: impl Fn(&T) -> String,
) -> R<Page<T>> {
    let overfetch = i64::from(limit) + 1;
    let mut all: Vec<(&str, &dyn rusqlite::ToSql)> = params.to_vec();
    all.push((":limit", &overfetch));
    let mut stmt = conn.prepare_cached(sql).map_err(unexpected)?;
    let rows = stmt
        .query_map(all.as_slice(), map)
        .map_err(unexpected)?
        .collect::<rusqlite::Result<Vec<T>>>()
        .map_err(unexpected)?;
    Ok(Page::from_overfetch(rows, limit, id_of))
}

/// A JSON text column, parsed where it lies (no copy into a `String` first).
fn json_col<T: serde::de::DeserializeOwned>(
    r: &Row,
    col: impl rusqlite::RowIndex,
) -> rusqlite::Result<T> {
    let text = r.get_ref(col)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn conversion(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

#[derive(Debug)]
struct BadValue(String);
impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadValue {}

fn opt_ts(t: Option<Timestamp>) -> Option<String> {
    t.map(fmt_ts)
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
