//! Embedded adapters for a single-process Operator: SQLite store and job queue, an
//! AES-256-GCM vault and the cron scheduler loop, wired together by [`Embedded::open`].

pub mod db;
pub mod queue;
pub mod scheduler;
pub mod store;
pub mod vault;

use operator_core::ports::SystemClock;
use operator_core::{Platform, PlatformConfig};
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use db::Db;
pub use queue::SqliteQueue;
pub use scheduler::LocalScheduler;
pub use store::SqliteStore;
pub use vault::{LocalVault, MasterKey};

/// Deliveries before a job is dead-lettered (the SQS redrive policy's maxReceiveCount).
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// The embedded platform's parts, opened from a data directory.
pub struct Embedded {
    pub platform: Platform,
    pub scheduler: LocalScheduler,
    pub data_dir: PathBuf,
}

impl Embedded {
    /// Creates `data_dir` if needed, opens `operator.db`, and checks the master key.
    pub async fn open(
        data_dir: &Path,
        master_key: Option<&SecretString>,
        config: PlatformConfig,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| anyhow::anyhow!("create data directory {}: {e}", data_dir.display()))?;
        let db = Db::open(&data_dir.join("operator.db"))?;
        let master = MasterKey::load_or_create(data_dir, master_key)?;
        let vault = LocalVault::open(db.clone(), master).await?;
        let scheduler = LocalScheduler::new();
        let platform = Platform {
            store: Arc::new(SqliteStore::new(db.clone())),
            queue: Arc::new(SqliteQueue::new(db, MAX_RECEIVE_COUNT)),
            vault: Arc::new(vault),
            scheduler: Arc::new(scheduler.clone()),
            clock: Arc::new(SystemClock),
            config: Arc::new(config),
        };
        Ok(Self {
            platform,
            scheduler,
            data_dir: data_dir.to_owned(),
        })
    }
}
