//! The worker (an ECS service): consumes the lifecycle and agent SQS queues with the same
//! job handlers as the embedded platform. On SIGTERM it stops receiving at once, gives running
//! jobs a grace period (`OPERATOR_SHUTDOWN_GRACE_SECS`), returns the rest to their queue
//! (visible at once, so another worker resumes them) and exits 0.

use operator_aws::platform::Startup;
use operator_core::agent::AgentJobs;
use operator_core::domain::PlanSlug;
use operator_core::jobs::{Worker, WorkerConfig};
use operator_core::services::{Bootstrap, LifecycleJobs};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() {
    if let Err(e) = operator_telemetry::init(operator_telemetry::Profile::Worker) {
        eprintln!("warning: {e}");
    }
    if let Err(e) = run().await {
        tracing::error!(error = format!("{e:#}"), "worker failed");
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let config = WorkerConfig::from_env()?;
    let startup = Startup::load().await?;
    let platform = startup.build(None)?;
    // A new deployment names its first key's secret: create the first account with it
    // (once; later starts find the account). The key itself is never logged.
    if let Some(key) = startup.bootstrap_key().await? {
        let plan = std::env::var("OPERATOR_DEFAULT_PLAN").unwrap_or_else(|_| "pro".into());
        let plan =
            PlanSlug::parse(&plan).map_err(|e| anyhow::anyhow!("OPERATOR_DEFAULT_PLAN: {e}"))?;
        match platform.bootstrap(plan, Some(&key)).await? {
            Bootstrap::Created { account, .. } => {
                tracing::info!(account = %account.id, "created the first account with the bootstrap key")
            }
            Bootstrap::Existing { account } => {
                tracing::info!(account = %account.id, "the bootstrap key's account exists")
            }
            Bootstrap::Revoked => {
                tracing::warn!(
                    "the bootstrap key was revoked and stays revoked; starting without it"
                )
            }
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let lifecycle = Arc::new(Worker::new(
        platform.lifecycle.clone(),
        Arc::new(LifecycleJobs(platform.clone())),
        Duration::from_secs(60),
    ));
    let agent = Arc::new(Worker::new(
        platform.queue.clone(),
        Arc::new(AgentJobs(platform.clone())),
        operator_core::agent::AGENT_JOB_VISIBILITY,
    ));
    let lifecycle = tokio::spawn(lifecycle.run(config, stop_rx.clone()));
    // Instances a dead-lettered lifecycle job left starting become failed, with the reason;
    // the warm pool (if any) is kept at its size.
    tokio::spawn(platform.clone().watch_lifecycle(stop_rx.clone()));
    let agent = tokio::spawn(agent.run(config, stop_rx));
    tracing::info!(
        concurrency = config.concurrency,
        "worker consuming the lifecycle and agent queues"
    );
    println!("worker ready");
    shutdown_signal().await;
    tracing::info!(grace = ?config.grace, "SIGTERM: receiving stopped; finishing running jobs");
    let _ = stop_tx.send(true);
    let returned = lifecycle.await.map(|s| s.returned).unwrap_or(0)
        + agent.await.map(|s| s.returned).unwrap_or(0);
    tracing::info!(returned, "worker stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
