//! The local `InstanceRuntime`: one `operator instance serve` child process per instance in
//! `<data-dir>/instances/<id>/`, on a free loopback port, health-checked before it counts as
//! running. Crashes are reported as `RuntimeEvent::Exited`; the restart policy lives in core.
//!
//! With bubblewrap (`bwrap`) on PATH each instance runs in its own user, mount, PID, IPC
//! and UTS namespaces as an unprivileged user (uid/gid 65534, every capability dropped) on
//! an empty root that holds only what a runtime needs:
//!
//! - read-only: `/usr` (with `/bin`, `/sbin`, `/lib*` as on the host: links into `/usr` on
//!   merged-usr systems), the `operator` binary itself, the browser named by
//!   `OPERATOR_CHROMIUM` when it lies outside `/usr`, and a local `checkpointRepo` under
//!   the operator's allowed prefix;
//! - a minimal `/etc`: `passwd` and `group` naming only the instance user (written here),
//!   and from the host only name resolution (`hosts`, `resolv.conf`, `nsswitch.conf`,
//!   `host.conf`, `gai.conf`), `ld.so.cache`/`ld.so.conf*`, CA certificates (`ssl/certs`,
//!   `ca-certificates`), `alternatives`, `fonts`, `localtime`, `mime.types` and the
//!   browser's `chromium`/`chromium.d`; never `shadow`, `gshadow`, `ssl/private` or other
//!   keys (inside a user namespace, root-owned host files map to the instance user, so
//!   only harmless files are bound at all);
//! - writable: the instance's workspace (`<data-dir>/instances/<id>/workspace`) and a private
//!   `/tmp`; the rest of its directory (log, pid, `bin/`, this `/etc`'s sources) read-only, and
//!   the server reaches its own files there never through a link;
//! - fresh `/proc` and `/dev` (no host devices).
//!
//! Nothing else of the host is visible: not the data directory (database, master key,
//! other instances), not `/root`, `/home`, `/opt`, `/srv`, `/var` or the server's working
//! directory. Commands run through exec and the browser run inside the same sandbox. The
//! network is shared (instances call the control plane and the internet).

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use operator_core::domain::EnvMap;
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
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Plain child processes: instances share the host's view of the filesystem.
    Process,
    /// bubblewrap namespaces (see the module doc).
    Bubblewrap(PathBuf),
}

impl Isolation {
    /// bubblewrap when installed, unless `OPERATOR_SANDBOX=none`.
    pub fn detect() -> Self {
        if std::env::var("OPERATOR_SANDBOX").as_deref() == Ok("none") {
            return Self::Process;
        }
        std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("bwrap"))
                    .find(|p| p.is_file())
            })
            .map(Self::Bubblewrap)
            .unwrap_or(Self::Process)
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Process => "child processes (no filesystem isolation; install bubblewrap for it)",
            Self::Bubblewrap(_) => {
                "bubblewrap sandboxes (unprivileged user, only /usr and a minimal /etc visible, private /tmp and PID namespace)"
            }
        }
    }
}

struct Proc {
    pid: u32,
    endpoint: String,
    stopping: Arc<AtomicBool>,
    exited: watch::Receiver<bool>,
}

/// The uid and gid an instance runs as inside its user namespace (`nobody`'s numbers).
pub const SANDBOX_UID: u32 = 65534;

/// Host files of `/etc` an instance may see (only those that exist are bound).
const ETC_FILES: [&str; 16] = [
    "hosts",
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "alternatives",
    "fonts",
    "localtime",
    "mime.types",
    "chromium.d",
];

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
    events: mpsc::UnboundedSender<RuntimeEvent>,
    http: reqwest::Client,
}

impl LocalRuntime {
    /// `program` is the `operator` binary (it runs instances as `operator instance serve`).
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

    /// Stops every running instance (graceful server shutdown).
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
        let Ok(pid) = text.trim().parse::<i32>() else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(dir.to_string_lossy().as_ref());
        if pid > 1 && ours {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_file(dir.join("pid"));
    }

    fn command(&self, spec: &InstanceSpec, dir: &Path) -> anyhow::Result<tokio::process::Command> {
        let workspace = dir.join("workspace");
        let bin = dir.join("bin");
        private_dir(&bin)?;
        // `operator-instance secret NAME` works inside the instance as on Fargate.
        write_private(
            &bin.join("operator-instance"),
            format!(
                "#!/bin/sh\nexec '{}' instance \"$@\"\n",
                self.program.display()
            )
            .as_bytes(),
            0o755,
        )?;

        let instance_args = [
            "instance".to_owned(),
            "serve".to_owned(),
            "--port".to_owned(),
            "0".to_owned(),
            "--workspace".to_owned(),
            workspace.display().to_string(),
            "--kind".to_owned(),
            spec.instance.kind.as_str().to_owned(),
        ];
        let mut cmd = match &self.isolation {
            Isolation::Process => {
                let mut c = tokio::process::Command::new(&self.program);
                c.args(&instance_args);
                c
            }
            Isolation::Bubblewrap(bwrap) => {
                let mut c = tokio::process::Command::new(bwrap);
                c.args(self.sandbox_args(spec, dir)?)
                    .arg("--")
                    .arg(&self.program)
                    .args(&instance_args);
                c
            }
        };
        cmd.env_clear();
        // The instance's own variables first, without the names the runtime relies on
        // (records from before that validation existed may still hold them).
        for (k, v) in &spec.env {
            if !EnvMap::reserved(k) {
                cmd.env(k, v.expose_secret());
            }
        }
        cmd.env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("HOME", &workspace)
        .env("LANG", "C.UTF-8");
        if let Some(prefix) = &self.checkpoint_prefix {
            cmd.env(CHECKPOINT_PREFIX_ENV, prefix);
        }
        for (name, value) in &self.inherited {
            cmd.env(name, value);
        }
        if let Some(repo) = &spec.instance.checkpoint_repo {
            cmd.env("OPERATOR_CHECKPOINT_REPO", repo);
        }
        cmd.env("RUST_LOG", "info")
            .env("OPERATOR_INSTANCE_ID", spec.instance.id.as_str())
            .env("OPERATOR_INSTANCE_TOKEN", spec.token.expose_secret())
            .env("OPERATOR_CONTROL_URL", &spec.control_url)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(false);
        // If the server dies (even by SIGKILL) its instances get SIGTERM. The signal is tied
        // to the spawning thread; spawns happen on runtime worker threads, which live as
        // long as the server.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        Ok(cmd)
    }

    /// bubblewrap's arguments for one instance (see the module doc for what they expose).
    fn sandbox_args(&self, spec: &InstanceSpec, dir: &Path) -> anyhow::Result<Vec<String>> {
        let s = |p: &Path| p.display().to_string();
        let mut a: Vec<String> = vec![];
        let mut add = |args: &[&str]| a.extend(args.iter().map(|x| (*x).to_owned()));
        let uid = SANDBOX_UID.to_string();
        add(&[
            "--unshare-user",
            "--uid",
            &uid,
            "--gid",
            &uid,
            "--cap-drop",
            "ALL",
        ]);
        add(&[
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]);
        add(&[
            "--hostname",
            "operator-instance",
            "--new-session",
            "--die-with-parent",
        ]);
        add(&["--ro-bind", "/usr", "/usr"]);
        // `/bin`, `/sbin` and `/lib*`: links into /usr on merged-usr hosts, else folders.
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            let p = Path::new(top);
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = std::fs::read_link(p)?;
                    add(&["--symlink", &s(&target), top]);
                }
                Ok(m) if m.is_dir() => add(&["--ro-bind", top, top]),
                _ => {}
            }
        }
        add(&["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        // A minimal /etc: our own passwd and group, then the harmless host files.
        let etc = dir.join("sandbox-etc");
        private_dir(&etc)?;
        let home = s(&dir.join("workspace"));
        write_private(
            &etc.join("passwd"),
            format!("operator:x:{uid}:{uid}:Operator instance:{home}:/bin/sh\n").as_bytes(),
            0o644,
        )?;
        write_private(
            &etc.join("group"),
            format!("operator:x:{uid}:\n").as_bytes(),
            0o644,
        )?;
        add(&["--dir", "/etc"]);
        add(&["--ro-bind", &s(&etc.join("passwd")), "/etc/passwd"]);
        add(&["--ro-bind", &s(&etc.join("group")), "/etc/group"]);
        for name in ETC_FILES {
            let host = Path::new("/etc").join(name);
            // Follow links (resolv.conf often points into /run); bind what they lead to.
            if let Ok(real) = host.canonicalize() {
                add(&["--ro-bind", &s(&real), &s(&host)]);
            }
        }
        // Chromium's own settings (`/etc/chromium/...`) but nothing else of that tree.
        if let Ok(real) = Path::new("/etc/chromium").canonicalize() {
            add(&["--ro-bind", &s(&real), "/etc/chromium"]);
        }
        // The data directory stays hidden even where it lies under a bound tree (/usr/...),
        // then the instance's own directory (after /tmp: the data dir may lie there).
        add(&["--tmpfs", &s(&self.data_dir)]);
        // Its own directory read-only (the server's files: log, pid, bin/, sandbox-etc/),
        // with `workspace/` (everything the instance keeps) writable on top.
        let own = s(dir);
        let workspace = s(&dir.join("workspace"));
        add(&["--ro-bind", &own, &own, "--bind", &workspace, &workspace]);
        // The binary (it may live under target/, /opt or the data directory's parent).
        let program = self.program.canonicalize()?;
        add(&["--ro-bind", &s(&program), &s(&self.program)]);
        // A browser named outside /usr.
        if let Some(chromium) = self.chromium() {
            if let Ok(real) = chromium.canonicalize() {
                if !real.starts_with("/usr") && !real.starts_with(&self.data_dir) {
                    add(&["--ro-bind", &s(&real), &s(&chromium)]);
                }
            }
        }
        // A local checkpoint under the allowed prefix is cloned from inside.
        if let (Some(repo), Some(prefix)) = (
            spec.instance.checkpoint_repo.as_deref(),
            self.checkpoint_prefix.as_deref(),
        ) {
            if let Ok(real) = Path::new(repo).canonicalize() {
                if real.starts_with(prefix) && !real.starts_with(&self.data_dir) {
                    add(&["--ro-bind", &s(&real), &s(&real)]);
                    if let Some(p) = Path::new(repo).to_str().filter(|r| Path::new(r) != real) {
                        add(&["--symlink", &s(&real), p]);
                    }
                }
            }
        }
        add(&["--chdir", &own]);
        Ok(a)
    }

    async fn wait_healthy(&self, endpoint: &str, token: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
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
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
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

/// The server's own files in an instance's directory (log, pid, `bin/`, `sandbox-etc/`)
/// are never reached through a link: a link planted there (by an instance of an older
/// version, whose whole directory was writable) would otherwise send the server's writes or
/// reads to any host file. Inside the sandbox the directory is read-only except `workspace/`.
fn open_private(path: &Path, opts: &mut std::fs::OpenOptions) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    opts.custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Replaces `path` with a fresh file holding `data` (whatever was there, a link included,
/// is removed first; the new file is created exclusively, so never through a link).
fn write_private(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = open_private(
        path,
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode),
    )?;
    f.write_all(data)
}

fn read_private(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    open_private(path, std::fs::OpenOptions::new().read(true))?.read_to_string(&mut text)?;
    Ok(text)
}

/// A directory of the server's own: a link or file in its place is removed first.
fn private_dir(path: &Path) -> std::io::Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.is_dir() {
            std::fs::remove_file(path)?;
        }
    }
    std::fs::create_dir_all(path)
}

/// The instance's log for appending, never through a link (one found there is replaced).
fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    let open = || open_private(path, std::fs::OpenOptions::new().create(true).append(true));
    match open() {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            std::fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

/// The last lines of the instance's log, as `; log: a | b`, or nothing.
fn log_tail(path: &Path) -> String {
    let text = read_private(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "; log: {}",
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )
}

fn alive(pid: u32) -> bool {
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[async_trait]
impl InstanceRuntime for LocalRuntime {
    async fn start(&self, spec: &InstanceSpec) -> anyhow::Result<RuntimeStatus> {
        let id = spec.instance.id.clone();
        let mut procs = self.procs.lock().await;
        if let Some(p) = procs.get(&id) {
            if !*p.exited.borrow() && alive(p.pid) {
                return Ok(RuntimeStatus::Running {
                    endpoint: p.endpoint.clone(),
                });
            }
            procs.remove(&id);
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
                let _ = child.start_kill();
                let _ = child.wait().await;
                let why = if other.is_err() {
                    "did not start in time"
                } else {
                    "exited before listening"
                };
                bail!("instance {why}{}", log_tail(&log_path));
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
                    let _ = events.send(RuntimeEvent::Exited { id, reason });
                }
            });
        }
        if let Err(e) = self
            .wait_healthy(&endpoint, spec.token.expose_secret())
            .await
        {
            stopping.store(true, Ordering::SeqCst);
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            bail!(
                "instance did not become healthy: {e:#}{}",
                log_tail(&log_path)
            );
        }
        procs.insert(
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
            _ => RuntimeStatus::Stopped,
        })
    }

    async fn stop(&self, id: &InstanceId) -> anyhow::Result<()> {
        let Some(mut p) = self.procs.lock().await.remove(id) else {
            self.kill_stale(&self.dir(id));
            return Ok(());
        };
        p.stopping.store(true, Ordering::SeqCst);
        unsafe {
            libc::kill(p.pid as i32, libc::SIGTERM);
        }
        if tokio::time::timeout(STOP_GRACE, p.exited.wait_for(|e| *e))
            .await
            .is_err()
        {
            unsafe {
                libc::kill(p.pid as i32, libc::SIGKILL);
            }
            let _ = tokio::time::timeout(STOP_GRACE, p.exited.wait_for(|e| *e)).await;
        }
        let _ = std::fs::remove_file(self.dir(id).join("pid"));
        Ok(())
    }

    async fn copy_workspace(&self, from: &InstanceId, to: &InstanceId) -> anyhow::Result<()> {
        let (src, dst) = (
            self.dir(from).join("workspace"),
            self.dir(to).join("workspace"),
        );
        if dst.exists() {
            return Ok(());
        }
        if !src.exists() {
            bail!("instance {from} has no workspace to clone");
        }
        let tmp = self.dir(to).join("workspace.partial");
        let _ = std::fs::remove_dir_all(&tmp);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            copy_tree(&src, &tmp)?;
            std::fs::rename(&tmp, &dst)?;
            Ok(())
        })
        .await??;
        Ok(())
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

/// Recursive copy that keeps symlinks as symlinks and skips the browser profile.
fn copy_tree(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "chromium" && src.ends_with(".operator") {
            continue;
        }
        let (s, d) = (entry.path(), dst.join(&name));
        let ty = entry.file_type()?;
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s)?, &d)?;
        } else if ty.is_dir() {
            copy_tree(&s, &d)?;
        } else {
            std::fs::copy(&s, &d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_files_are_never_written_or_read_through_a_planted_link() {
        // GIVEN an instance directory whose log, pid, wrapper and passwd are links to a
        // file outside it (as an instance of an older version could have left them)
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("host-file");
        std::fs::write(&target, "host secret").unwrap();
        let own = dir.path().join("inst");
        std::fs::create_dir_all(own.join("bin")).unwrap();
        std::os::unix::fs::symlink(dir.path(), own.join("sandbox-etc")).unwrap();
        for f in ["instance.log", "pid", "bin/operator-instance"] {
            std::os::unix::fs::symlink(&target, own.join(f)).unwrap();
        }
        // WHEN the server writes and reads them
        write_private(&own.join("pid"), b"42", 0o644).unwrap();
        write_private(&own.join("bin/operator-instance"), b"#!/bin/sh\n", 0o755).unwrap();
        private_dir(&own.join("sandbox-etc")).unwrap();
        write_private(
            &own.join("sandbox-etc/passwd"),
            b"operator:x:1:1::/:/bin/sh\n",
            0o644,
        )
        .unwrap();
        let mut log = open_log(&own.join("instance.log")).unwrap();
        std::io::Write::write_all(&mut log, b"a log line\n").unwrap();
        // THEN the outside file is untouched and each path is the server's own file
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host secret");
        assert!(!dir.path().join("passwd").exists());
        for f in [
            "instance.log",
            "pid",
            "bin/operator-instance",
            "sandbox-etc/passwd",
        ] {
            let m = std::fs::symlink_metadata(own.join(f)).unwrap();
            assert!(m.is_file(), "{f}");
        }
        assert!(std::fs::symlink_metadata(own.join("sandbox-etc"))
            .unwrap()
            .is_dir());
        assert_eq!(read_private(&own.join("pid")).unwrap(), "42");
        assert_eq!(log_tail(&own.join("instance.log")), "; log: a log line");
        // AND a link planted for reading is not followed
        std::fs::remove_file(own.join("pid")).unwrap();
        std::os::unix::fs::symlink(&target, own.join("pid")).unwrap();
        assert!(read_private(&own.join("pid")).is_err());
    }
}
