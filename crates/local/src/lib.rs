//! Embedded adapters for a single-process Operator: SQLite store and job queue, an
//! AES-256-GCM vault and the cron scheduler loop, wired together by [`Embedded::open`].

mod cached;
pub mod db;
pub mod lock;
pub mod queue;
pub mod runtime;
pub mod scheduler;
mod schema;
pub mod signal;
pub mod store;
pub mod vault;
mod writer;

use operator_core::ports::{Clock, RuntimeEvent, SystemClock};
use operator_core::services::{AuthCache, LlmConfig, RateLimits};
use operator_core::{Platform, PlatformConfig, PlatformParts};
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

pub use db::Db;
pub use lock::DataDirLock;
pub use queue::SqliteQueue;
pub use runtime::{Isolation, LocalRuntime};
pub use scheduler::LocalScheduler;
pub use store::SqliteStore;
pub use vault::{LocalVault, MasterKey};

/// Deliveries before a job is dead-lettered (the SQS redrive policy's maxReceiveCount).
pub const MAX_RECEIVE_COUNT: u32 = operator_core::services::LIFECYCLE_MAX_RECEIVES;
/// Deliveries of an agent job (it retries while another worker holds its chat).
pub const AGENT_MAX_RECEIVE_COUNT: u32 = 10;

/// How long an authenticated key is trusted without reading the store again.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// What the embedded platform needs besides its data directory.
pub struct Settings {
    /// Base URL of the API for clients (webhook URLs).
    pub public_url: String,
    /// Base URL instances use to reach the control plane.
    pub control_url: String,
    pub image_tag: String,
    pub llm: Option<LlmConfig>,
    /// The `operator` binary, which runs instances as `operator instance-runtime serve`.
    pub program: PathBuf,
    pub isolation: Isolation,
    /// Requests per second per API key and per webhook.
    pub limits: RateLimits,
    /// Checkpoint repositories the Operator agent may offer.
    pub checkpoints: operator_core::domain::CheckpointCatalog,
}

/// The embedded platform's parts, opened from a data directory.
pub struct Embedded {
    pub platform: Platform,
    /// The cross-account queries only the embedded store answers (cron loop, recovery).
    pub sweep: Arc<SqliteStore>,
    pub scheduler: LocalScheduler,
    pub runtime: Arc<LocalRuntime>,
    /// Crash reports from the runtime, for `Platform::handle_runtime_event`.
    pub runtime_events: mpsc::UnboundedReceiver<RuntimeEvent>,
    pub data_dir: PathBuf,
    db: Db,
    agent_queue: Arc<SqliteQueue>,
    lifecycle_queue: Arc<SqliteQueue>,
    /// Held while the server runs (`None` for admin commands, which share the directory).
    pub lock: Option<DataDirLock>,
}

/// The database file whose presence tells that `operator serve` made a data directory.
pub const DB_FILE: &str = "operator.db";

impl Embedded {
    /// For the server: creates `data_dir` if needed and takes its lock (one server per
    /// directory), opens `operator.db`, checks the master key, and frees what a previous
    /// (dead) server held: chat leases and jobs in flight.
    pub async fn open(
        data_dir: &Path,
        master_key: Option<&SecretString>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let lock = DataDirLock::acquire(data_dir)?;
        let mut embedded = Self::open_unlocked(data_dir, master_key, settings).await?;
        // This process owns the data directory: whatever the previous one held is free.
        SqliteStore::new(embedded.db.clone())
            .release_all_chat_leases()
            .await?;
        embedded.agent_queue.release_in_flight().await?;
        embedded.lifecycle_queue.release_in_flight().await?;
        embedded.lock = Some(lock);
        Ok(embedded)
    }

    /// For admin commands, beside a running server: the directory must be one that
    /// `operator serve` made (admin commands never create one), and nothing the server
    /// holds is touched.
    pub async fn open_existing(
        data_dir: &Path,
        master_key: Option<&SecretString>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let shown = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        anyhow::ensure!(
            data_dir.join(DB_FILE).is_file(),
            "{} holds no Operator data (no {DB_FILE}): pass the --data-dir (or OPERATOR_DATA_DIR) that `operator serve` uses, or start `operator serve --data-dir {}` first",
            shown.display(),
            shown.display()
        );
        Self::open_unlocked(data_dir, master_key, settings).await
    }

    async fn open_unlocked(
        data_dir: &Path,
        master_key: Option<&SecretString>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let db = Db::open(&data_dir.join(DB_FILE))?;
        let master = MasterKey::load_or_create(data_dir, master_key)?;
        let token_key = master.derive("operator instance tokens v1");
        let vault = LocalVault::open(db.clone(), master).await?;
        let scheduler = LocalScheduler::new();
        let (events_tx, runtime_events) = mpsc::unbounded_channel();
        let runtime = Arc::new(LocalRuntime::new(
            data_dir,
            settings.program,
            settings.isolation,
            events_tx,
        )?);
        let http = reqwest::Client::new();
        let llm = settings
            .llm
            .as_ref()
            .map(|c| operator_core::llm::from_config(c, http.clone()));
        let store = Arc::new(SqliteStore::new(db.clone()));
        // One clock for the platform and the queues' visibility timeouts and delays.
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // Agent turns can wait on a busy chat, so they get more deliveries than the default.
        let agent_queue = Arc::new(
            SqliteQueue::new(db.clone(), "agent", AGENT_MAX_RECEIVE_COUNT)
                .with_clock(clock.clone()),
        );
        let lifecycle_queue = Arc::new(
            SqliteQueue::new(db.clone(), "lifecycle", MAX_RECEIVE_COUNT).with_clock(clock.clone()),
        );
        let platform = Platform::from(PlatformParts {
            store: store.clone(),
            queue: agent_queue.clone(),
            lifecycle: lifecycle_queue.clone(),
            runtime: runtime.clone(),
            http,
            llm,
            bus: Arc::default(),
            slots: Arc::default(),
            // One serving process per data dir: revocations through it are immediate; an
            // admin command in another process is seen within the time to live.
            auth_cache: Arc::new(AuthCache::new(AUTH_CACHE_TTL)),
            limits: Arc::new(settings.limits),
            vault: Arc::new(vault),
            scheduler: Arc::new(scheduler.clone()),
            clock,
            config: Arc::new(PlatformConfig {
                public_url: settings.public_url,
                control_url: settings.control_url,
                image_tag: settings.image_tag,
                token_key: secrecy::SecretBox::new(Box::new(token_key)),
                llm: settings.llm,
                checkpoints: settings.checkpoints,
                warm_pool: Default::default(),
            }),
        });
        Ok(Self {
            platform,
            sweep: store,
            scheduler,
            runtime,
            runtime_events,
            data_dir: data_dir.to_owned(),
            lock: None,
            db,
            agent_queue,
            lifecycle_queue,
        })
    }
}
