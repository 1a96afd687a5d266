//! `instances ...`: `/api/instances` and the live-instance routes (activity, exec, files).
//! Request bodies are the server's own types (`operator_core::views`, `operator_instance_api`);
//! the instance API's answers are read with its types too.

use super::http::seg;
use super::output::{ago, cell, clean, clean_line, print_fields, print_json};
use super::Ctx;
use crate::exit::{Exit, Failure};
use clap::{Subcommand, ValueEnum};
use operator_core::views::{CloneInstanceBody, CreateInstanceBody};
use operator_instance_api::{Activity, ExecRequest, ExecResult, MAX_EXEC_TIMEOUT_MS};
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How often `logs -f` and `create --wait` look again.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// The longest `create --wait` waits for `active`.
const WAIT_FOR: Duration = Duration::from_secs(300);

#[derive(Subcommand)]
pub enum InstancesCommand {
    /// List instances, newest first.
    #[command(visible_alias = "list")]
    Ls {
        /// At most this many (default: all).
        #[arg(long)]
        limit: Option<usize>,
        /// Include deleted (inactive) instances.
        #[arg(long)]
        all: bool,
    },
    /// Show one instance.
    Get {
        /// inst_... or the name.
        instance: String,
    },
    /// Create an instance; it starts as `provisioning`.
    Create {
        /// 1-63 characters of a-z, 0-9 and -, unique in the account.
        name: String,
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// A repository to clone into the workspace: owner/repo (GitHub) or an https:// URL.
        #[arg(long, value_name = "REPO")]
        repo: Option<String>,
        /// An environment variable of the instance (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Wait until it is active (or failed), up to 5 minutes.
        #[arg(long)]
        wait: bool,
    },
    /// Delete an instance: its container stops and the name is free again.
    #[command(visible_alias = "delete")]
    Rm {
        /// inst_... or the name.
        instance: String,
    },
    /// Restart an instance's container; the workspace is kept.
    Restart {
        /// inst_... or the name.
        instance: String,
    },
    /// Copy an instance (workspace and settings) under a new name.
    Clone {
        /// inst_... or the name of the original.
        instance: String,
        /// The copy's name.
        name: String,
    },
    /// Show the instance agent's activity (its latest session, or --session).
    Logs {
        /// inst_... or the name.
        instance: String,
        /// Keep printing new lines as they come (Ctrl-C to stop).
        #[arg(short, long)]
        follow: bool,
        /// A session id (ses_...); default the most recent.
        #[arg(long)]
        session: Option<String>,
    },
    /// Run a command with bash -c in the instance's workspace; exits with its exit code.
    Exec {
        /// inst_... or the name.
        instance: String,
        /// Seconds before the command is stopped (default 30, at most 600).
        #[arg(long)]
        timeout: Option<u64>,
        /// Working directory, relative to the workspace.
        #[arg(long)]
        cwd: Option<String>,
        /// The command (put it after `--` when it has options of its own).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Read and write workspace files.
    #[command(subcommand)]
    Files(super::files::FilesCommand),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Prebuilt,
    Blank,
    /// The real OpenClaw gateway runs the instance (where the server has it installed).
    Openclaw,
}

pub(super) fn path_of(instance: &str) -> String {
    format!("/api/instances/{}", seg(instance))
}

pub async fn run(ctx: &Ctx, cmd: InstancesCommand) -> anyhow::Result<()> {
    match cmd {
        InstancesCommand::Ls { limit, all } => {
            let path = if all {
                "/api/instances?includeDeleted=true"
            } else {
                "/api/instances"
            };
            ctx.list(
                path,
                "instances",
                limit,
                &["NAME", "ID", "STATUS", "KIND", "CREATED"],
                |i| {
                    vec![
                        cell(&i["name"]),
                        cell(&i["id"]),
                        cell(&i["status"]),
                        cell(&i["kind"]),
                        ago(&i["createdAt"]),
                    ]
                },
                "No instances yet. Create one: operator instances create NAME",
            )
            .await
        }
        InstancesCommand::Get { instance } => {
            let v = ctx.api.get(&path_of(&instance)).await?;
            if ctx.json {
                print_json(&v);
            } else {
                show(&v["instance"]);
            }
            Ok(())
        }
        InstancesCommand::Create {
            name,
            kind,
            repo,
            env,
            wait,
        } => {
            let body = CreateInstanceBody {
                name,
                kind: kind.map(|k| match k {
                    Kind::Prebuilt => "prebuilt".to_owned(),
                    Kind::Blank => "blank".to_owned(),
                    Kind::Openclaw => "openclaw".to_owned(),
                }),
                checkpoint_repo: repo,
                env: parse_env(&env)?,
            };
            let mut v = ctx.api.post("/api/instances", &body).await?;
            if wait {
                let id = v["instance"]["id"].as_str().unwrap_or_default().to_owned();
                v = wait_active(ctx, &id).await?;
            }
            if ctx.json {
                print_json(&v);
            } else {
                let i = &v["instance"];
                println!(
                    "Created instance {} ({}), status {}.",
                    cell(&i["name"]),
                    cell(&i["id"]),
                    cell(&i["status"])
                );
                if !wait {
                    println!("Check on it: operator instances get {}", cell(&i["name"]));
                }
            }
            Ok(())
        }
        InstancesCommand::Rm { instance } => {
            let v = ctx.api.delete(&path_of(&instance)).await?;
            ctx.done(&v, &format!("Deleted instance {}.", clean_line(&instance)))
        }
        InstancesCommand::Restart { instance } => {
            let v = ctx
                .api
                .post_empty(&format!("{}/restart", path_of(&instance)))
                .await?;
            ctx.done(
                &v,
                &format!(
                    "Restarting {} (status {}).",
                    cell(&v["instance"]["name"]),
                    cell(&v["instance"]["status"])
                ),
            )
        }
        InstancesCommand::Clone { instance, name } => {
            let v = ctx
                .api
                .post(
                    &format!("{}/clone", path_of(&instance)),
                    &CloneInstanceBody { name },
                )
                .await?;
            ctx.done(
                &v,
                &format!(
                    "Cloned {} into {} ({}), status {}.",
                    clean_line(&instance),
                    cell(&v["instance"]["name"]),
                    cell(&v["instance"]["id"]),
                    cell(&v["instance"]["status"])
                ),
            )
        }
        InstancesCommand::Logs {
            instance,
            follow,
            session,
        } => logs(ctx, &instance, follow, session).await,
        InstancesCommand::Exec {
            instance,
            timeout,
            cwd,
            command,
        } => exec(ctx, &instance, timeout, cwd, command).await,
        InstancesCommand::Files(f) => super::files::run(ctx, f).await,
    }
}

fn parse_env(pairs: &[String]) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut env = BTreeMap::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--env {p:?}: expected NAME=VALUE")))?;
        env.insert(k.to_owned(), v.to_owned());
    }
    Ok(Some(env))
}

fn show(i: &Value) {
    let mut status = cell(&i["status"]);
    if let Some(r) = i["statusReason"].as_str() {
        status.push_str(&format!(" ({})", clean_line(r)));
    }
    let env: Vec<String> = i["env"]
        .as_object()
        .map(|m| m.keys().map(|k| clean_line(k)).collect())
        .unwrap_or_default();
    print_fields(&[
        ("Name", cell(&i["name"])),
        ("ID", cell(&i["id"])),
        ("Status", status),
        ("Kind", cell(&i["kind"])),
        ("Image", cell(&i["imageTag"])),
        ("Repository", cell(&i["checkpointRepo"])),
        (
            "Env",
            if env.is_empty() {
                "-".into()
            } else {
                env.join(", ")
            },
        ),
        ("Created", ago(&i["createdAt"])),
        ("Updated", ago(&i["updatedAt"])),
    ]);
}

/// Polls until the instance is `active` (its answer) or `failed` (an error with the reason).
async fn wait_active(ctx: &Ctx, id: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR;
    loop {
        let v = ctx.api.get(&path_of(id)).await?;
        match v["instance"]["status"].as_str() {
            Some("active") => return Ok(v),
            Some("failed") => {
                return Err(Failure::new(
                    Exit::Unexpected,
                    format!(
                        "instance {id} failed: {}",
                        cell(&v["instance"]["statusReason"])
                    ),
                )
                .into())
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::new(
                Exit::Unexpected,
                format!("instance {id} is not active after {} s", WAIT_FOR.as_secs()),
            )
            .hint(format!("Check on it: operator instances get {id}"))
            .into());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// One transcript line (JSONL) for a person: `[time] role: text`, or the line itself.
fn render_line(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return clean(line);
    };
    let time = v["timestamp"]
        .as_str()
        .map(|t| format!("[{}] ", clean_line(t)))
        .unwrap_or_default();
    match (v["role"].as_str(), &v["content"]) {
        (Some(role), Value::String(text)) => format!("{time}{}: {}", clean_line(role), clean(text)),
        (Some(role), content) if !content.is_null() => {
            format!(
                "{time}{}: {}",
                clean_line(role),
                clean_line(&content.to_string())
            )
        }
        _ => clean(line),
    }
}

async fn logs(
    ctx: &Ctx,
    instance: &str,
    follow: bool,
    session: Option<String>,
) -> anyhow::Result<()> {
    let path = format!("{}/activity", path_of(instance));
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut cursor: Option<String> = None;
    let mut shown_session: Option<String> = None;
    loop {
        let mut query: Vec<(&str, String)> = vec![];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        if let Some(s) = &session {
            query.push(("sessionId", s.clone()));
        }
        let v = ctx
            .api
            .json(ctx.api.request(Method::GET, &path).query(&query))
            .await?;
        if ctx.json {
            // One activity answer per line when following, the answer itself otherwise.
            if follow {
                println!("{v}");
            } else {
                print_json(&v);
            }
        } else {
            let page: Activity = serde_json::from_value(v.clone()).map_err(|e| {
                Failure::new(Exit::Unexpected, format!("unexpected activity answer: {e}"))
            })?;
            match &page.selected_session {
                None if cursor.is_none() => {
                    println!("No activity yet: the instance agent has no sessions.");
                }
                Some(s) if shown_session.as_deref() != Some(s.id.as_str()) => {
                    println!("— session {} {}", clean_line(&s.id), clean_line(&s.title));
                    shown_session = Some(s.id.clone());
                }
                _ => {}
            }
            let mut out = std::io::stdout().lock();
            for line in &page.lines {
                let _ = writeln!(out, "{}", render_line(line));
            }
            let _ = out.flush();
        }
        if !follow {
            return Ok(());
        }
        if let Some(c) = v["cursor"].as_str() {
            cursor = Some(c.to_owned());
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = sigint.recv() => return Ok(()),
        }
    }
}

async fn exec(
    ctx: &Ctx,
    instance: &str,
    timeout: Option<u64>,
    cwd: Option<String>,
    command: Vec<String>,
) -> anyhow::Result<()> {
    let timeout_ms = timeout.map(|s| s.saturating_mul(1000).min(MAX_EXEC_TIMEOUT_MS));
    let body = ExecRequest {
        command: command.join(" "),
        timeout_ms,
        cwd,
    };
    let wait = Duration::from_millis(body.effective_timeout_ms()) + Duration::from_secs(60);
    let rb = ctx
        .api
        .stream_request(Method::POST, &format!("{}/exec", path_of(instance)))
        .timeout(wait)
        .json(&body);
    let v = ctx.api.json(rb).await?;
    if ctx.json {
        print_json(&v);
        return Ok(());
    }
    let r: ExecResult = serde_json::from_value(v)
        .map_err(|e| Failure::new(Exit::Unexpected, format!("unexpected exec answer: {e}")))?;
    // What the command wrote, as it wrote it when piped; made safe for a terminal.
    write_out(&mut std::io::stdout(), r.stdout.as_bytes());
    write_out(&mut std::io::stderr(), r.stderr.as_bytes());
    if r.truncated {
        eprintln!("(output truncated)");
    }
    if r.timed_out {
        return Err(Failure::new(
            Exit::Unexpected,
            format!(
                "the command timed out after {} ms",
                body.effective_timeout_ms()
            ),
        )
        .hint("Give it longer with --timeout SECONDS (at most 600).")
        .into());
    }
    match r.exit_code {
        Some(0) => Ok(()),
        // Like ssh: the remote command's exit code is the CLI's.
        Some(code) => Err(Failure::new(Exit::Command(code), "").into()),
        None => Err(Failure::new(Exit::Unexpected, "the command was killed by a signal").into()),
    }
}

/// Raw bytes to a pipe or file; to a terminal, made safe first.
pub(super) fn write_out<W: Write + IsTerminal>(w: &mut W, bytes: &[u8]) {
    if w.is_terminal() {
        let _ = w.write_all(clean(&String::from_utf8_lossy(bytes)).as_bytes());
    } else {
        let _ = w.write_all(bytes);
    }
    let _ = w.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_split_at_the_first_equals_sign() {
        let env = parse_env(&["A=1".into(), "B=x=y".into()]).unwrap().unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "x=y");
        assert!(parse_env(&["NOPE".into()]).is_err());
        assert!(parse_env(&[]).unwrap().is_none());
    }

    #[test]
    fn transcript_lines_read_as_role_and_text() {
        assert_eq!(
            render_line(r#"{"type":"message","role":"user","content":"hi","timestamp":"t1"}"#),
            "[t1] user: hi"
        );
        assert_eq!(render_line("not json \u{1b}"), "not json \\u{1b}");
    }
}
