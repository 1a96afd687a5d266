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
    if text == "{}" {
        // The common empty object (env, config) without starting the parser: parsing `{}`
        // twice was a seventh of decoding an instance row.
        let empty = serde::de::value::MapDeserializer::<
            std::iter::Empty<((), ())>,
            serde::de::value::Error,
        >::new(std::iter::empty());
        return T::deserialize(empty).map_err(conversion);
    }
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

#[cfg(test)]
mod tests {
    use super::json_col;
    use std::collections::BTreeMap;

    /// The empty-object shortcut decodes `{}` exactly as the parser does, for every type
    /// read from a JSON column; other text still goes through the parser.
    #[test]
    fn an_empty_object_column_decodes_as_the_parser_would() {
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct WithDefaults {
            #[serde(default)]
            n: u32,
        }
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let read = |text: &str| {
            conn.query_row("SELECT ?1", [text], |r| {
                Ok((
                    json_col::<serde_json::Value>(r, 0)?,
                    json_col::<BTreeMap<String, String>>(r, 0)?,
                    json_col::<WithDefaults>(r, 0)?,
                ))
            })
        };
        let (value, map, with) = read("{}").expect("empty object");
        assert_eq!(value, serde_json::json!({}));
        assert!(map.is_empty());
        assert_eq!(with, WithDefaults { n: 0 });
        let with = conn
            .query_row("SELECT ?1", [r#"{"n": 3}"#], |r| {
                json_col::<WithDefaults>(r, 0)
            })
            .expect("parsed");
        assert_eq!(with, WithDefaults { n: 3 });
        assert!(read("[]").is_err(), "an array is not an object");
        let got = conn
            .query_row("SELECT '{\"A\":\"b\"}'", [], |r| {
                json_col::<BTreeMap<String, String>>(r, 0)
            })
            .expect("parsed");
        assert_eq!(got.get("A").map(String::as_str), Some("b"));
    }
}
