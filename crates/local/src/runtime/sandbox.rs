//! The bubblewrap sandbox an instance runs in, when `bwrap` is installed ([`Isolation`]).
//!
//! With bubblewrap (`bwrap`) on PATH each instance runs in its own user, mount, PID, IPC
//! and UTS namespaces as an unprivileged user (uid/gid 65534, every capability dropped) on
//! an empty root that holds only what a runtime needs:
//!
//! - read-only: `/usr` (with `/bin`, `/sbin`, `/lib*` as on the host: links into `/usr` on
//!   merged-usr systems), the `operator` binary itself, the browser named by
//!   `OPERATOR_CHROMIUM` when it lies outside `/usr`, a local `checkpointRepo` under
//!   the operator's allowed prefix, and OpenClaw's install for an `openclaw` instance;
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

use super::{private_dir, write_private, LocalRuntime};
use operator_core::domain::InstanceKind;
use operator_core::ports::InstanceSpec;
use std::path::{Path, PathBuf};

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

impl LocalRuntime {
    /// bubblewrap's arguments for one instance (see the module doc for what they expose).
    pub(super) fn sandbox_args(
        &self,
        spec: &InstanceSpec,
        dir: &Path,
    ) -> anyhow::Result<Vec<String>> {
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
        // OpenClaw's install, read-only, for an `openclaw` instance.
        if spec.instance.kind == InstanceKind::Openclaw {
            if let Ok(dir) = &self.openclaw {
                add(&["--ro-bind", &s(dir), &s(dir)]);
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
}
