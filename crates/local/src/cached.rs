//! Statements prepared once per connection.

use rusqlite::{Connection, Params, Row};

/// Prepared statements each connection keeps: every statement the store runs, so that none
/// is parsed again (rusqlite's default keeps 16, fewer than the store has).
pub(crate) const STATEMENT_CACHE: usize = 256;

/// `execute` and `query_row` through the connection's statement cache (rusqlite's own parse
/// the statement on every call, which was a tenth of a chat turn's CPU).
pub(crate) trait Cached {
    /// [`Connection::execute`], with the statement prepared once.
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    /// [`Connection::query_row`], with the statement prepared once.
    fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
