//! `operator serve`: the embedded, all-in-one platform (API, console, scheduler, workers and
//! instance supervisor in one process) on a data directory. Thin: read configuration, open the
//! adapters, hand them to core, run until SIGTERM/SIGINT.

use anyhow::Context;
use clap::Args;
use operator_core::agent::AgentJobs;
use operator_core::domain::PlanSlug;
use operator_core::jobs::{Worker, WorkerConfig};
use operator_core::llm::LlmConfig;
use operator_core::services::Bootstrap;
use operator_core::services::LifecycleJobs;
use operator_local::{Embedded, Isolation, Settings};
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where an embedded platform keeps its data; `serve` and the admin commands find it the same
/// way.
#[derive(Args, Clone)]
pub struct DataDir {
    /// Where the database, master key and instance workspaces live.
    #[arg(long, env = "OPERATOR_DATA_DIR", default_value = ".operator")]
    pub data_dir: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "OPERATOR_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Base URL clients use to reach this server (webhook URLs); default http://<addr>.
    #[arg(long, env = "OPERATOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Plan of the default account created on first start.
    #[arg(long, env = "OPERATOR_DEFAULT_PLAN", default_value = "pro")]
    plan: String,
    #[command(flatten)]
    data: DataDir,
}

pub fn env_secret(name: &str) -> anyhow::Result<Option<SecretString>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(SecretString::from(v.trim().to_owned()))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!("{name} is not valid UTF-8"),
    }
}

pub fn settings(public_url: String) -> anyhow::Result<Settings> {
    Ok(Settings {
        control_url: public_url.clone(),
        public_url,
        image_tag: format!("operator-instance:{}", env!("CARGO_PKG_VERSION")),
        llm: LlmConfig::from_env()?,
        program: std::env::current_exe().context("locate the operator binary")?,
        isolation: Isolation::detect(),
        limits: operator_core::services::RateLimits::from_env()?,
        checkpoints: operator_core::domain::CheckpointCatalog::from_env()?,
    })
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        addr,
        public_url,
        plan,
        data,
    } = args;
    let plan = &plan;
    let plan = PlanSlug::parse(plan).context("OPERATOR_DEFAULT_PLAN / --plan")?;
    let bootstrap_key = env_secret("OPERATOR_BOOTSTRAP_KEY")?;
    let workers = WorkerConfig::from_env()?;
    let mut limits = operator_listener::Limits::from_env()?;
    limits.shutdown_grace = workers.grace;
    let master = env_secret("OPERATOR_MASTER_KEY")?;
    let cors = operator_core::http::cors::Cors::from_env()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let local = listener.local_addr()?;
    let base = public_url.unwrap_or_else(|| format!("http://{local}"));
    // Takes the data directory's lock: a second server on it stops here, naming the first.
    let embedded = Embedded::open(&data.data_dir, master.as_ref(), settings(base.clone())?).await?;
    let platform = embedded.platform.clone();

    println!(
        "Operator {} (embedded) — data in {}",
        env!("CARGO_PKG_VERSION"),
        data.data_dir.display()
    );
    match platform.bootstrap(plan, bootstrap_key.as_ref()).await? {
        Bootstrap::Created { account, key } => {
            println!(
                "Created the default account {} (plan {}).",
                account.id,
                account.plan.as_str()
            );
            match key {
                Some(key) => {
                    println!("Your API key — shown only this once, store it now:");
                    println!("  {}", key.expose_secret());
                }
                None => println!("API key: the one in OPERATOR_BOOTSTRAP_KEY."),
            }
        }
        Bootstrap::Existing { account } => {
            println!(
                "Default account {}. Need a key? operator keys create --account {} --data-dir {}",
                account.id,
                account.id,
                data.data_dir.display()
            );
        }
        Bootstrap::Revoked => {
            tracing::warn!("OPERATOR_BOOTSTRAP_KEY was revoked and stays revoked; starting without it (unset it, or create a key with `operator keys create`)");
            println!("Warning: OPERATOR_BOOTSTRAP_KEY was revoked; it stays revoked.");
        }
    }
    println!(
        "Instances run as {}.",
        embedded.runtime.isolation().describe()
    );
    if platform.config.llm.is_none() {
        println!("No LLM configured: set OPERATOR_LLM, OPERATOR_LLM_MODEL and OPENAI_API_KEY (or ANTHROPIC_API_KEY) for model calls.");
    }
    println!("Listening on {base}  (console: open {base}/ and sign in with the key; reference at {base}/docs)");

    // SIGTERM/SIGINT: one signal stops intake everywhere at once (HTTP accepting, job
    // receiving, the scheduler); running work then gets `workers.grace`.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let scheduler = tokio::spawn(embedded.scheduler.clone().run(
        platform.clone(),
        embedded.sweep.clone(),
        stop_rx.clone(),
    ));
    // Crash reports from the runtime → failed + restart with backoff.
    let mut events = embedded.runtime_events;
    let supervisor = {
        let platform = platform.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Err(e) = platform.handle_runtime_event(event).await {
                    tracing::error!(error = %e, "handling a runtime event failed");
                }
            }
        })
    };
    let lifecycle = Arc::new(Worker::new(
        platform.lifecycle.clone(),
        Arc::new(LifecycleJobs(platform.clone())),
        std::time::Duration::from_secs(60),
    ));
    let lifecycle = tokio::spawn(lifecycle.run(workers, stop_rx.clone()));
    // Instances a dead-lettered lifecycle job left starting become failed, with the reason;
    // the warm pool (if any) is kept at its size.
    tokio::spawn(platform.clone().watch_lifecycle(stop_rx.clone()));
    let agent = Arc::new(Worker::new(
        platform.queue.clone(),
        Arc::new(AgentJobs(platform.clone())),
        operator_core::agent::AGENT_JOB_VISIBILITY,
    ));
    let agent = tokio::spawn(agent.run(workers, stop_rx.clone()));
    let recovered = platform.recover_instances(embedded.sweep.as_ref()).await?;
    if recovered > 0 {
        tracing::info!(
            instances = recovered,
            "restarting instances that were running"
        );
    }
    let app = operator_core::http::router_with(platform, cors);
    let http = tokio::spawn(serve_http(listener, app, limits, stop_rx.clone()));

    let mut stopped = stop_rx;
    let _ = stopped.wait_for(|stop| *stop).await;
    // Open requests (a chat stream can last minutes) get the same grace as jobs; the
    // listener closes what is left then (the timeout here is only a backstop).
    let backstop = workers.grace + std::time::Duration::from_secs(5);
    let (http, lifecycle, agent) =
        tokio::join!(tokio::time::timeout(backstop, http), lifecycle, agent);
    match http {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = format!("{e:#}"), "HTTP server failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "HTTP server task failed"),
        Err(_) => tracing::warn!("HTTP server still closing after the grace period"),
    }
    let returned =
        lifecycle.map(|s| s.returned).unwrap_or(0) + agent.map(|s| s.returned).unwrap_or(0);
    if returned > 0 {
        tracing::info!(
            jobs = returned,
            "unfinished jobs returned to the queue; they resume on the next start"
        );
    }
    let _ = scheduler.await;
    embedded.runtime.shutdown_all().await;
    supervisor.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Serves the API (with the listener's timeouts and connection cap) until `stop` turns
/// true, then lets open requests finish for `limits.shutdown_grace`.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: operator_listener::Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    operator_listener::serve(listener, app, limits, async move {
        let _ = stop.wait_for(|stop| *stop).await;
    })
    .await
    .context("HTTP server")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
