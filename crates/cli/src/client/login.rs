//! `login`, `logout`, `whoami`.
//!
//! `login --key KEY` checks the key with `GET /api/cli/health` and saves it. Without `--key`,
//! the browser flow the console serves: the CLI picks a random session id (a UUID v4), shows
//! `<url>/auth/cli?session=<id>` (and opens it when there is a display), and polls `GET
//! /api/cli/poll?session=<id>` (404 until a signed-in user approves) every 2 s for up to 10
//! minutes; the approval mints a new key for the CLI. With no browser and a terminal on stdin,
//! it also offers to paste a key (hidden). The session id is the CLI's secret until then.

use super::config::{self, Settings, Source};
use super::http::{failure_of, network_failure, Api};
use super::output::{cell, clean_line, print_fields, print_json};
use super::terminal;
use super::Ctx;
use crate::exit::{Exit, Failure};
use clap::Args;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

/// How often the browser flow asks whether the session was approved.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long it waits (an approval itself expires after 10 minutes on the server).
const POLL_FOR: Duration = Duration::from_secs(600);
/// Network failures in a row before the poll gives up.
const POLL_FAILURES: u32 = 5;

#[derive(Args)]
pub struct LoginArgs {
    /// The deployment's URL (default: OPERATOR_URL, the saved one, or http://127.0.0.1:8080).
    #[arg(long)]
    url: Option<String>,
    /// An API key (ck_live_...) to save; `-` reads it from stdin. Without it: sign in through
    /// the browser.
    #[arg(long)]
    key: Option<String>,
    /// Do not try to open a browser; print the link only.
    #[arg(long)]
    no_browser: bool,
}

pub async fn login(args: LoginArgs, json: bool) -> anyhow::Result<()> {
    let url = match args.url {
        Some(u) => config::normalise_url(&u)?,
        None => Settings::resolve()?.url,
    };
    let key = match args.key.as_deref() {
        Some("-") => Some(terminal::read_piped_stdin()?),
        Some(k) => Some(SecretString::from(k.trim().to_owned())),
        None => None,
    };
    let (key, health) = match key {
        Some(key) => {
            let health = check_key(&url, &key).await?;
            (key, health)
        }
        None => browser_login(&url, args.no_browser).await?,
    };
    let mut file = config::load()?;
    file.operator_api_key = Some(key.expose_secret().to_owned());
    file.operator_app_url = Some(url.clone());
    let path = config::save(&file)?;
    if json {
        let mut out = health.clone();
        out["operatorAppUrl"] = json!(url);
        print_json(&out);
    } else {
        println!(
            "Logged in to {url} — account {} (plan {}). Key saved in {}.",
            cell(&health["accountId"]),
            cell(&health["planSlug"]),
            path.display()
        );
    }
    if std::env::var_os("OPERATOR_API_KEY").is_some_and(|v| !v.is_empty()) {
        eprintln!("Note: OPERATOR_API_KEY is set and overrides the saved key.");
    }
    Ok(())
}

/// `GET /api/cli/health` with `key`: the account it opens, or exit 2 with what to do.
async fn check_key(url: &str, key: &SecretString) -> anyhow::Result<Value> {
    let api = Api::new(url, key.clone())?;
    match api.get("/api/cli/health").await {
        Ok(v) => Ok(v),
        Err(e) => match e.downcast::<Failure>() {
            Ok(f) if f.exit == Exit::Usage => Err(Failure::usage(format!(
                "the key was refused by {url} (401 unauthorized)"
            ))
            .hint("Check the key (it starts with ck_live_): create one in the console under Keys, or run `operator login` without --key to sign in through the browser.")
            .into()),
            Ok(f) => Err(f.into()),
            Err(e) => Err(e),
        },
    }
}

/// A UUID v4: 122 random bits, the session's secret.
fn new_session() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

fn has_display() -> bool {
    if cfg!(target_os = "macos") {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

/// Starts the desktop's browser on `link`; false when there is none.
fn open_browser(link: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(link)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reap it whenever it ends; the login does not wait for the browser.
            std::thread::spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}

async fn browser_login(url: &str, no_browser: bool) -> anyhow::Result<(SecretString, Value)> {
    let session = new_session();
    let link = format!("{url}/auth/cli?session={session}");
    eprintln!("To sign in, open this link where you are signed in to the console, check that the session matches, and approve:");
    eprintln!("  {link}");
    eprintln!("Session: {session}");
    let opened = !no_browser && has_display() && open_browser(&link);
    if opened {
        eprintln!("(Opened in your browser.)");
    }
    let offer_paste = !opened && terminal::stdin_is_tty();
    eprintln!("Waiting for the approval (up to 10 minutes; Ctrl-C to stop)...");
    let poll = poll_session(url, &session);
    if !offer_paste {
        tokio::select! {
            r = poll => return r,
            _ = tokio::signal::ctrl_c() => return Err(Failure::new(Exit::Interrupted, "interrupted").hint("Login cancelled.").into()),
        }
    }
    let paste = async {
        let key = terminal::hidden_line(
            "Or paste an API key (ck_live_..., input hidden) and press Enter: ",
        )
        .await?;
        if key.expose_secret().trim().is_empty() {
            return Err(Failure::usage("no key was pasted").into());
        }
        let key = SecretString::from(key.expose_secret().trim().to_owned());
        let health = check_key(url, &key).await?;
        Ok::<_, anyhow::Error>((key, health))
    };
    tokio::select! {
        r = poll => {
            // The prompt's future is dropped here, which restores the terminal's echo.
            eprintln!();
            r
        }
        r = paste => r,
    }
}

/// Polls until the session is approved; the key it hands out, and who it belongs to.
async fn poll_session(url: &str, session: &str) -> anyhow::Result<(SecretString, Value)> {
    let http = reqwest::Client::builder()
        .user_agent(concat!("operator-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?;
    let deadline = tokio::time::Instant::now() + POLL_FOR;
    let mut failures = 0;
    loop {
        let res = http
            .get(format!("{url}/api/cli/poll"))
            .query(&[("session", session)])
            .send()
            .await;
        match res {
            Ok(r) if r.status() == StatusCode::OK => {
                let body: Value = r.json().await.map_err(|e| network_failure(url, &e))?;
                let key = body["operatorApiKey"].as_str().ok_or_else(|| {
                    Failure::new(Exit::Unexpected, "the approval answer has no key")
                })?;
                let key = SecretString::from(key.to_owned());
                let health = check_key(url, &key).await?;
                return Ok((key, health));
            }
            Ok(r) if r.status() == StatusCode::NOT_FOUND => failures = 0,
            Ok(r) => {
                let status = r.status();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                return Err(failure_of(status, &body, None).into());
            }
            Err(e) => {
                failures += 1;
                if failures >= POLL_FAILURES {
                    return Err(network_failure(url, &e));
                }
            }
        }
        if tokio::time::Instant::now() + POLL_EVERY > deadline {
            return Err(
                Failure::new(Exit::Usage, "the login was not approved within 10 minutes")
                    .hint("Run `operator login` again, or pass a key with --key.")
                    .into(),
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

pub fn logout(json: bool) -> anyhow::Result<()> {
    let mut file = config::load()?;
    let path = config::path()?;
    let had = file.operator_api_key.take().is_some();
    if had {
        config::save(&file)?;
    }
    if json {
        print_json(&json!({"loggedOut": had}));
    } else if had {
        println!(
            "Logged out: the key was removed from {}. (The key itself still works until it is revoked: `operator keys revoke ID`.)",
            path.display()
        );
    } else {
        println!("Not logged in: {} holds no key.", path.display());
    }
    if std::env::var_os("OPERATOR_API_KEY").is_some_and(|v| !v.is_empty()) {
        eprintln!("Note: OPERATOR_API_KEY is still set in this environment and is still used.");
    }
    Ok(())
}

pub async fn whoami(ctx: &Ctx) -> anyhow::Result<()> {
    let settings = Settings::resolve()?;
    let health = ctx.api.get("/api/cli/health").await?;
    if ctx.json {
        let mut out = health;
        out["operatorAppUrl"] = json!(ctx.api.base);
        print_json(&out);
        return Ok(());
    }
    let source = |s: Source, env: &str| match s {
        Source::Env => format!("from {env}"),
        Source::File => "from ~/.operator/config.json".to_owned(),
        Source::Default => "default".to_owned(),
    };
    print_fields(&[
        (
            "URL",
            format!(
                "{} ({})",
                clean_line(&ctx.api.base),
                source(settings.url_source, "OPERATOR_URL")
            ),
        ),
        ("Account", cell(&health["accountId"])),
        ("User", cell(&health["userId"])),
        ("Plan", cell(&health["planSlug"])),
        (
            "Token limit",
            format!("{} per 6 h", cell(&health["tokenLimit"])),
        ),
        ("Key", source(settings.key_source, "OPERATOR_API_KEY")),
    ]);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sessions_are_canonical_v4_uuids() {
        let s = super::new_session();
        let groups: Vec<&str> = s.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{s}");
        assert_ne!(s, super::new_session());
    }
}
