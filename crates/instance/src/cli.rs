//! The `operator-instance` command line (also reachable as `operator instance-runtime ...`):
//! `serve` runs the instance API; `secret NAME` prints a granted secret's current value.

use crate::{browser, checkpoint, control, openclaw, router, workspace, Inner};
use clap::{Parser, Subcommand};
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "operator-instance", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the instance API.
    Serve {
        #[arg(long, env = "OPERATOR_INSTANCE_PORT", default_value_t = 0)]
        port: u16,
        #[arg(long, env = "OPERATOR_INSTANCE_BIND", default_value = "127.0.0.1")]
        bind: String,
        #[arg(long, env = "OPERATOR_WORKSPACE")]
        workspace: std::path::PathBuf,
        #[arg(long, env = "OPERATOR_INSTANCE_KIND", default_value = "prebuilt")]
        kind: String,
    },
    /// Print the current value of a secret granted to this instance.
    Secret { name: String },
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// The standard variables of OpenAI and Anthropic clients, pointing at the platform's LLM
/// gateway with the instance token, so that code run in the instance (an SDK, a skill's
/// script) is metered and needs no provider key. The instance's own env and secrets win where
/// they set one.
fn model_env(env: &mut Vec<(String, String)>, control_url: &str, token: &str) {
    if control_url.is_empty() {
        return;
    }
    let root = control_url.trim_end_matches('/');
    for (name, value) in [
        ("OPENAI_BASE_URL", format!("{root}/v1")),
        ("OPENAI_API_KEY", token.to_owned()),
        // Anthropic clients add `/v1/messages` themselves and send the key as `x-api-key`.
        ("ANTHROPIC_BASE_URL", root.to_owned()),
        ("ANTHROPIC_API_KEY", token.to_owned()),
    ] {
        let set = std::env::var_os(name).is_some_and(|v| !v.is_empty())
            || env.iter().any(|(n, _)| n == name);
        if !set {
            env.push((name.to_owned(), value));
        }
    }
}

/// Set once the API has stopped serving: the gateway's exit is then expected.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts the OpenClaw gateway of an `openclaw` instance (see [`openclaw`]): installed at
/// `OPERATOR_OPENCLAW_DIR`, its provider the platform's gateway, its channels as the
/// platform configured them (`OPERATOR_OPENCLAW_CHANNELS`, tokens as `${VAR}`).
async fn start_openclaw(
    root: &std::path::Path,
    control: &control::Control,
    env: &[(String, String)],
) -> anyhow::Result<openclaw::OpenClaw> {
    let install = std::env::var_os("OPERATOR_OPENCLAW_DIR")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "an openclaw instance needs OPERATOR_OPENCLAW_DIR (where scripts/install-openclaw.sh put OpenClaw)"
            )
        })?;
    let channels = match std::env::var("OPERATOR_OPENCLAW_CHANNELS") {
        Ok(text) if !text.is_empty() => Some(
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("OPERATOR_OPENCLAW_CHANNELS: {e}"))?,
        ),
        _ => None,
    };
    // The model OpenClaw names: the one the gateway serves (as any OpenAI client learns it).
    let model = match control.models().await {
        Ok(ids) if !ids.is_empty() => ids[0].clone(),
        Ok(_) | Err(_) => control.model.clone().unwrap_or_else(|| "default".into()),
    };
    openclaw::OpenClaw::start(
        openclaw::Setup {
            root,
            install,
            model_url: format!("{}/v1", control.base),
            model,
            env,
            channels,
        },
        |reason| {
            if !STOPPING.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!("error: {reason}");
                // The platform's supervisor restarts the instance (with backoff).
                std::process::exit(1);
            }
        },
    )
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let control = control::Control::new(
        env("OPERATOR_CONTROL_URL"),
        env("OPERATOR_INSTANCE_TOKEN"),
        std::env::var("OPERATOR_LLM_MODEL")
            .ok()
            .filter(|m| !m.is_empty()),
    );
    match cli.command {
        Command::Secret { name } => {
            println!("{}", control.secret(&name).await?);
            Ok(())
        }
        Command::Serve {
            port,
            bind,
            workspace: root,
            kind,
        } => {
            let token = env("OPERATOR_INSTANCE_TOKEN");
            anyhow::ensure!(
                token.len() >= 16,
                "OPERATOR_INSTANCE_TOKEN must be set (at least 16 characters)"
            );
            workspace::init(&root, &kind)?;
            if let Ok(repo) = std::env::var("OPERATOR_CHECKPOINT_REPO") {
                let prefix = std::env::var_os("OPERATOR_CHECKPOINT_LOCAL_PREFIX")
                    .filter(|p| !p.is_empty())
                    .map(std::path::PathBuf::from);
                checkpoint::apply_checkpoint(&root, &repo, prefix.as_deref())?;
            }
            let root = root.canonicalize()?;
            let ws = workspace::Workspace::open(&root)?;
            // Containers start without secret values; load them from the control plane.
            let mut secret_env = vec![];
            if std::env::var("OPERATOR_LOAD_SECRETS").as_deref() == Ok("1") {
                for attempt in 1..=5u64 {
                    match control.all_secrets().await {
                        Ok(list) => {
                            secret_env = list;
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, attempt, "could not load secrets yet");
                            tokio::time::sleep(std::time::Duration::from_secs(attempt)).await;
                        }
                    }
                }
            }
            model_env(&mut secret_env, &env("OPERATOR_CONTROL_URL"), &token);
            let openclaw = if kind == "openclaw" {
                Some(start_openclaw(&root, &control, &secret_env).await?)
            } else {
                None
            };
            let state = Arc::new(Inner {
                instance_id: env("OPERATOR_INSTANCE_ID"),
                token,
                browser: browser::BrowserManager::new(&root.join(".operator/chromium")),
                root,
                workspace: ws,
                control,
                http: reqwest::Client::new(),
                agent_lock: tokio::sync::Mutex::new(()),
                env: secret_env,
                openclaw,
            });
            let listener = tokio::net::TcpListener::bind((bind.as_str(), port)).await?;
            // The runtime reads this line to learn the port.
            println!("listening on {}", listener.local_addr()?);
            let app = router(state.clone());
            let limits = operator_listener::Limits::from_env()?;
            operator_listener::serve(listener, app, limits, async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("signal handler");
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            })
            .await?;
            STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Some(oc) = &state.openclaw {
                oc.stop(std::time::Duration::from_secs(4)).await;
            }
            state.browser.shutdown().await;
            Ok(())
        }
    }
}
