//! The embedded `Scheduler`: a tokio loop that sleeps until the earliest `nextRunAt`, fires
//! what is due through `Platform::fire_due_automations`, and wakes early when an automation
//! changes. State lives in the store, so `nextRunAt` survives restarts.

use async_trait::async_trait;
use operator_core::domain::Automation;
use operator_core::ids::{AccountId, AutomationId};
use operator_core::ports::{Scheduler, SweepStore};
use operator_core::Platform;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Longest sleep between checks, so clock jumps are noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

#[derive(Default, Clone)]
pub struct LocalScheduler {
    wake: Arc<Notify>,
}

impl LocalScheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the cron loop until `shutdown` turns true.
    pub async fn run(
        self,
        platform: Platform,
        sweep: Arc<dyn SweepStore>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match platform.fire_due_automations(sweep.as_ref()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "automations fired"),
                Err(e) => tracing::error!(error = %e, "firing due automations failed"),
            }
            let sleep = match sweep.next_due_at().await {
                Ok(Some(next)) => (next - platform.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_SLEEP),
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::error!(error = %e, "reading the next due automation failed");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[async_trait]
impl Scheduler for LocalScheduler {
    async fn upsert(&self, _automation: &Automation) -> anyhow::Result<()> {
        // The loop reads schedules from the store; it only needs to re-plan its sleep.
        self.wake.notify_one();
        Ok(())
    }

    async fn remove(&self, _account: &AccountId, _id: &AutomationId) -> anyhow::Result<()> {
        self.wake.notify_one();
        Ok(())
    }
}
