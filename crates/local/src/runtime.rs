//! The local `InstanceRuntime`: one `operator instance-runtime serve` child process per
//! instance in `<data-dir>/instances/<id>/`, on a free loopback port, health-checked before it
//! counts as running. Crashes are reported as `RuntimeEvent::Exited`; the restart policy
//! lives in core.
//!
//! Split by concern: [`sandbox`] (bubblewrap, and what an instance may see), [`launch`]
//! (its command and environment), [`files`] (the server's own files beside the workspace,
//! never through a link); this module supervises the processes (start, health check,
//! crash reports, stop).

mod files;
mod launch;
mod sandbox;

pub use sandbox::{Isolation, SANDBOX_UID};

use crate::signal::{is_alive, send_signal, Signal};
use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use files::{log_tail, open_log, private_dir, read_private, write_private};
use operator_core::domain::InstanceKind;
use operator_core::ids::InstanceId;
use operator_core::ports::{InstanceRuntime, InstanceSpec, RuntimeEvent, RuntimeStatus};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, watch, Mutex};

const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an `openclaw` instance may take to answer: its gateway loads for 15–30 s on
/// two busy cores (docs/research/openclaw.md), more when several start at once.
const OPENCLAW_START_TIMEOUT: Duration = Duration::from_secs(240);
/// Where OpenClaw is installed (`scripts/install-openclaw.sh`); default `./openclaw`.
pub const OPENCLAW_DIR_ENV: &str = "OPERATOR_OPENCLAW_DIR";
const STOP_GRACE: Duration = Duration::from_secs(5);

struct Proc {
    pid: u32,
    endpoint: String,
    stopping: Arc<AtomicBool>,
    exited: watch::Receiver<bool>,
}

/// The operator setting that allows local `checkpointRepo` paths under one directory.
pub const CHECKPOINT_PREFIX_ENV: &str = "OPERATOR_CHECKPOINT_LOCAL_PREFIX";

/// The server's settings an instance inherits (read once, at start): the browser, and the
/// listener's limits, so the instance API is configured like the platform API.
const INHERITED: [&str; 5] = [
    "OPERATOR_CHROMIUM",
    "OPERATOR_HEADER_TIMEOUT_SECS",
    "OPERATOR_BODY_TIMEOUT_SECS",
    "OPERATOR_IDLE_TIMEOUT_SECS",
    "OPERATOR_MAX_CONNECTIONS",
];

pub struct LocalRuntime {
    data_dir: PathBuf,
    /// `INHERITED` variables set for the server.
    inherited: Vec<(&'static str, String)>,
    /// `OPERATOR_CHECKPOINT_LOCAL_PREFIX`, canonical; never overlaps the data directory.
    checkpoint_prefix: Option<PathBuf>,
    instances_dir: PathBuf,
    program: PathBuf,
    isolation: Isolation,
    procs: Arc<Mutex<HashMap<InstanceId, Proc>>>,
    /// One start at a time per instance (starts of different instances run side by side:
    /// an OpenClaw gateway takes tens of seconds to answer).
    starting: std::sync::Mutex<HashMap<InstanceId, Arc<Mutex<()>>>>,
    /// OpenClaw's install (canonical), when there is one: `openclaw` instances need it.
    openclaw: Result<PathBuf, String>,
    events: mpsc::UnboundedSender<RuntimeEvent>,
    http: reqwest::Client,
}

impl LocalRuntime {
    /// `program` is the `operator` binary (it runs instances as `operator instance-runtime serve`).
    pub fn new(
        data_dir: &Path,
        program: PathBuf,
        isolation: Isolation,
        events: mpsc::UnboundedSender<RuntimeEvent>,
    ) -> anyhow::Result<Self> {
        let data_dir = data_dir.canonicalize()?;
        let instances_dir = data_dir.join("instances");
        std::fs::create_dir_all(&instances_dir)?;
        let checkpoint_prefix = checkpoint_prefix(&data_dir)?;
        let inherited = INHERITED
            .into_iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| (name, v)))
            .collect();
        Ok(Self {
            data_dir,
            inherited,
            checkpoint_prefix,
            instances_dir,
            program,
            isolation,
            procs: Arc::default(),
            starting: Default::default(),
            openclaw: openclaw_install(),
            events,
            http: reqwest::Client::new(),
        })
    }

    pub fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// The browser named by `OPERATOR_CHROMIUM`, if any.
    fn chromium(&self) -> Option<PathBuf> {
        self.inherited
            .iter()
            .find(|(name, _)| *name == "OPERATOR_CHROMIUM")
            .map(|(_, v)| PathBuf::from(v))
    }

    fn dir(&self, id: &InstanceId) -> PathBuf {
        self.instances_dir.join(id.as_str())
    }

    /// Stops every running instance at once (graceful server shutdown): the whole takes one
    /// instance's stop grace, not one per instance.
    pub async fn shutdown_all(&self) {
        let ids: Vec<InstanceId> = self.procs.lock().await.keys().cloned().collect();
        futures::future::join_all(ids.iter().map(|id| self.stop(id))).await;
    }

    /// Kills a process left over from a previous run of the server (its pid file).
    fn kill_stale(&self, dir: &Path) {
        let Ok(text) = read_private(&dir.join("pid")) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(dir.to_string_lossy().as_ref());
        if pid > 1 && ours {
            if let Err(e) = send_signal(pid, Signal::Kill) {
                tracing::warn!(pid, error = %e, "could not kill a stale instance process");
            }
        }
        remove_pid_file(dir);
    }

    async fn wait_healthy(
        &self,
        endpoint: &str,
        token: &str,
        limit: Duration,
        exited: &watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        let deadline = started + limit;
        loop {
            let res = self
                .http
                .get(format!("{endpoint}/health"))
                .bearer_auth(token)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if tokio::time::Instant::now() > deadline => {
                    bail!("health check answered {}", r.status())
                }
                Err(e) if tokio::time::Instant::now() > deadline => bail!("health check: {e}"),
                // A process that died while starting is not waited for until the deadline.
                _ if *exited.borrow() => bail!("the instance exited while starting"),
                // Quick polls first (a plain instance answers in milliseconds), then calmer.
                _ if started.elapsed() < Duration::from_secs(1) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// Removes an instance's pid file; one that is already gone is fine.
/// OpenClaw's install: `OPERATOR_OPENCLAW_DIR`, else `./openclaw` (where
/// `scripts/install-openclaw.sh` puts it in a checkout); why there is none, if none.
fn openclaw_install() -> Result<PathBuf, String> {
    let named = std::env::var_os(OPENCLAW_DIR_ENV).filter(|d| !d.is_empty());
    let dir = named
        .clone()
        .map_or_else(|| PathBuf::from("openclaw"), PathBuf::from);
    if operator_instance_api::openclaw_install::complete(&dir) {
        return dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()));
    }
    Err(match named {
        Some(_) => format!(
            "OpenClaw is not installed at {} ({OPENCLAW_DIR_ENV}): run scripts/install-openclaw.sh {}",
            dir.display(),
            dir.display()
        ),
        None => format!(
            "OpenClaw is not installed on this server: run scripts/install-openclaw.sh, or set {OPENCLAW_DIR_ENV}"
        ),
    })
}

fn remove_pid_file(dir: &Path) {
    match std::fs::remove_file(dir.join("pid")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // A stale pid file is checked against /proc before anything is killed, so leaving
        // one behind is harmless; say so in the log.
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "could not remove a pid file"),
    }
}

/// `OPERATOR_CHECKPOINT_LOCAL_PREFIX`, canonical, refused when it overlaps `data_dir`
/// (a prefix inside the data directory, or one containing it, would let a tenant clone
/// another tenant's instance).
fn checkpoint_prefix(data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Some(raw) = std::env::var_os(CHECKPOINT_PREFIX_ENV).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let prefix = PathBuf::from(&raw)
        .canonicalize()
        .with_context(|| format!("{CHECKPOINT_PREFIX_ENV}={}", Path::new(&raw).display()))?;
    if prefix.starts_with(data_dir) || data_dir.starts_with(&prefix) {
        bail!(
            "{CHECKPOINT_PREFIX_ENV}={} overlaps the data directory {}; name a folder of repositories outside it",
            prefix.display(),
            data_dir.display()
        );
    }
    Ok(Some(prefix))
}

#[async_trait]
impl InstanceRuntime for LocalRuntime {
    async fn start(&self, spec: &InstanceSpec) -> anyhow::Result<RuntimeStatus> {
        let id = spec.instance.id.clone();
        let gate = self
            .starting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_default()
            .clone();
        let _one_start = gate.lock().await;
        {
            let mut procs = self.procs.lock().await;
            if let Some(p) = procs.get(&id) {
                if !*p.exited.borrow() && is_alive(p.pid) {
                    return Ok(RuntimeStatus::Running {
                        endpoint: p.endpoint.clone(),
                    });
                }
                procs.remove(&id);
            }
        }
        let dir = self.dir(&id);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        private_dir(&dir.join("workspace"))
            .with_context(|| format!("create {}/workspace", dir.display()))?;
        self.kill_stale(&dir);
        let log_path = dir.join("instance.log");
        let log = open_log(&log_path)?;
        let mut cmd = self.command(spec, &dir)?;
        cmd.stderr(Stdio::from(log));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", self.program.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("instance exited at once"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return Some(addr.trim().to_owned());
                }
            }
            None
        })
        .await;
        let addr = match addr {
            Ok(Some(a)) => a,
            other => {
                // The child may be gone already; either way nothing is left running after.
                if let Err(e) = child.start_kill() {
                    tracing::debug!(error = %e, "killing an instance that did not start");
                }
                if let Err(e) = child.wait().await {
                    tracing::debug!(error = %e, "reaping an instance that did not start");
                }
                let why = if other.is_err() {
                    "did not start in time"
                } else {
                    "exited before listening"
                };
                return Ok(RuntimeStatus::Stopped {
                    reason: Some(format!("instance {why}{}", log_tail(&log_path))),
                });
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        write_private(&dir.join("pid"), pid.to_string().as_bytes(), 0o644)?;
        let endpoint = format!("http://{addr}");

        let stopping = Arc::new(AtomicBool::new(false));
        let (exit_tx, exit_rx) = watch::channel(false);
        {
            let (stopping, events, procs, id, log_path) = (
                stopping.clone(),
                self.events.clone(),
                self.procs.clone(),
                id.clone(),
                log_path.clone(),
            );
            tokio::spawn(async move {
                let status = child.wait().await;
                // Fails only when no one watches any more (the instance was dropped): fine.
                let _ = exit_tx.send(true);
                if !stopping.load(Ordering::SeqCst) {
                    let reason = match status {
                        Ok(s) => format!("{s}{}", log_tail(&log_path)),
                        Err(e) => e.to_string(),
                    };
                    let mut map = procs.lock().await;
                    if map.get(&id).is_some_and(|p| p.pid == pid) {
                        map.remove(&id);
                    }
                    drop(map);
                    // No receiver means the server is shutting down: nobody restarts it then.
                    if events.send(RuntimeEvent::Exited { id, reason }).is_err() {
                        tracing::debug!("instance exit not reported: the server is stopping");
                    }
                }
            });
        }
        let limit = match spec.instance.kind {
            InstanceKind::Openclaw => OPENCLAW_START_TIMEOUT,
            _ => START_TIMEOUT,
        };
        if let Err(e) = self
            .wait_healthy(&endpoint, spec.token.expose_secret(), limit, &exit_rx)
            .await
        {
            stopping.store(true, Ordering::SeqCst);
            // It may have exited already (ESRCH): nothing is left to stop then.
            if let Err(e) = send_signal(pid, Signal::Kill) {
                tracing::debug!(pid, error = %e, "killing an unhealthy instance");
            }
            // A launch that failed (the caller launches again or gives up), not a failed call.
            return Ok(RuntimeStatus::Stopped {
                reason: Some(format!(
                    "did not become healthy: {e:#}{}",
                    log_tail(&log_path)
                )),
            });
        }
        self.procs.lock().await.insert(
            id,
            Proc {
                pid,
                endpoint: endpoint.clone(),
                stopping,
                exited: exit_rx,
            },
        );
        Ok(RuntimeStatus::Running { endpoint })
    }

    async fn status(&self, id: &InstanceId) -> anyhow::Result<RuntimeStatus> {
        let procs = self.procs.lock().await;
        Ok(match procs.get(id) {
            Some(p) if !*p.exited.borrow() => RuntimeStatus::Running {
                endpoint: p.endpoint.clone(),
            },
            _ => RuntimeStatus::STOPPED,
        })
    }

    async fn stop(&self, id: &InstanceId) -> anyhow::Result<()> {
        let Some(mut p) = self.procs.lock().await.remove(id) else {
            self.kill_stale(&self.dir(id));
            return Ok(());
        };
        p.stopping.store(true, Ordering::SeqCst);
        // A process that already exited (ESRCH) is stopped; the wait below then ends at once.
        if let Err(e) = send_signal(p.pid, Signal::Term) {
            tracing::debug!(pid = p.pid, error = %e, "asking an instance to stop");
        }
        if tokio::time::timeout(STOP_GRACE, p.exited.wait_for(|e| *e))
            .await
            .is_err()
        {
            if let Err(e) = send_signal(p.pid, Signal::Kill) {
                tracing::debug!(pid = p.pid, error = %e, "killing an instance past its grace");
            }
            // Bounded: after SIGKILL the exit is reported at once; past the grace, move on.
            let _ = tokio::time::timeout(STOP_GRACE, p.exited.wait_for(|e| *e)).await;
        }
        remove_pid_file(&self.dir(id));
        Ok(())
    }

    async fn copy_workspace(&self, from: &InstanceId, to: &InstanceId) -> anyhow::Result<()> {
        let (src, dst) = (
            self.dir(from).join("workspace"),
            self.dir(to).join("workspace"),
        );
        tokio::task::spawn_blocking(move || {
            operator_core::ports::workspace_copy::copy_workspace(&src, &dst)
        })
        .await??;
        Ok(())
    }

    fn supports(&self, kind: InstanceKind) -> Result<(), String> {
        match kind {
            InstanceKind::Openclaw => self.openclaw.as_ref().map(|_| ()).map_err(Clone::clone),
            _ => Ok(()),
        }
    }

    fn checkpoint_local_prefix(&self) -> Option<&Path> {
        self.checkpoint_prefix.as_deref()
    }

    async fn destroy(&self, id: &InstanceId) -> anyhow::Result<()> {
        self.stop(id).await?;
        let dir = self.dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        Ok(())
    }
}
