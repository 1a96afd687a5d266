//! How each backend builds a fresh adapter for one test.

use operator_core::ports::{JobQueue, Store, Vault};
use operator_local::{Db, LocalVault, MasterKey, SqliteQueue, SqliteStore};
use std::sync::Arc;

/// A fresh SQLite database in its own temp dir (kept alive by the returned guard).
pub fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("operator.db")).unwrap();
    (db, dir)
}

pub fn sqlite_queue(max_receive_count: u32) -> (Arc<dyn JobQueue>, tempfile::TempDir) {
    let (db, dir) = sqlite();
    (
        Arc::new(SqliteQueue::new(db, "contract", max_receive_count)),
        dir,
    )
}

pub fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let (db, dir) = sqlite();
    (Arc::new(SqliteStore::new(db)), dir)
}

pub async fn local_vault() -> (Arc<dyn Vault>, tempfile::TempDir) {
    let (db, dir) = sqlite();
    let key = MasterKey::load_or_create(dir.path(), None).unwrap();
    (Arc::new(LocalVault::open(db, key).await.unwrap()), dir)
}
