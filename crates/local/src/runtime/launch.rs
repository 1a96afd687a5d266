//! The command that starts one instance: `operator instance-runtime serve` (inside bubblewrap
//! when available) with a cleared environment holding only what the instance needs.

use super::{private_dir, write_private, Isolation, LocalRuntime, CHECKPOINT_PREFIX_ENV};
use crate::signal::{set_parent_death_signal, Signal};
use operator_core::domain::{Channels, EnvMap, InstanceKind};

/// The Telegram Bot API's address for `openclaw` instances' bots, when not Telegram's own (a
/// proxy; a test's fake).
pub const TELEGRAM_API_ROOT_ENV: &str = "OPERATOR_TELEGRAM_API_ROOT";
use operator_core::ports::InstanceSpec;
use secrecy::ExposeSecret;
use std::path::Path;
use std::process::Stdio;

impl LocalRuntime {
    pub(super) fn command(
        &self,
        spec: &InstanceSpec,
        dir: &Path,
    ) -> anyhow::Result<tokio::process::Command> {
        let workspace = dir.join("workspace");
        let bin = dir.join("bin");
        private_dir(&bin)?;
        // `operator-instance secret NAME` works inside the instance as on Fargate.
        write_private(
            &bin.join("operator-instance"),
            format!(
                "#!/bin/sh\nexec '{}' instance-runtime \"$@\"\n",
                self.program.display()
            )
            .as_bytes(),
            0o755,
        )?;

        let instance_args = [
            "instance-runtime".to_owned(),
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
        if spec.instance.kind == InstanceKind::Openclaw {
            let dir = self
                .openclaw
                .as_ref()
                .map_err(|why| anyhow::anyhow!("{why}"))?;
            cmd.env(super::OPENCLAW_DIR_ENV, dir);
            // Its channels (tokens as `${SECRET}`: the values are in the env above).
            if let Some(channels) = Channels::of_config(&spec.instance.config) {
                let root = std::env::var(TELEGRAM_API_ROOT_ENV)
                    .ok()
                    .filter(|r| !r.is_empty());
                cmd.env(
                    "OPERATOR_OPENCLAW_CHANNELS",
                    channels.openclaw_config(root.as_deref()).to_string(),
                );
            }
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
        set_parent_death_signal(cmd.as_std_mut(), Signal::Term);
        Ok(cmd)
    }
}
