//! The command-line client: every command that talks to a running deployment over its public
//! API (API.md) with an API key. Settings come from `~/.operator/config.json` ([`config`]),
//! overridden by `OPERATOR_API_KEY` / `OPERATOR_URL`; requests, errors and paging live in
//! [`http`]; tables and sanitising of what the server sends in [`output`]; one module per
//! resource.

pub mod automations;
pub mod chat;
pub mod config;
pub mod experiments;
pub mod files;
pub mod http;
pub mod instances;
pub mod keys;
pub mod login;
pub mod output;
pub mod secrets;
pub mod terminal;
pub mod webhooks;

mod billing;
mod resolve;

use crate::exit::Failure;
use clap::Subcommand;
use http::Api;

/// The client's commands (flattened into the `operator` command tree in `main`).
#[derive(Subcommand)]
pub enum Command {
    /// Sign in to a deployment and save the key in ~/.operator/config.json.
    Login(login::LoginArgs),
    /// Remove the saved key from ~/.operator/config.json.
    Logout,
    /// Show who the saved key (or OPERATOR_API_KEY) belongs to, and where it points.
    Whoami,
    /// Talk to the Operator agent: one message, or an interactive session without TEXT.
    Chat(chat::ChatArgs),
    /// Manage instances (isolated agent workspaces).
    #[command(subcommand, alias = "instance")]
    Instances(instances::InstancesCommand),
    /// Manage secrets (values are read from stdin or a hidden prompt, never echoed).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Manage automations (prompts on a cron schedule).
    #[command(subcommand)]
    Automations(automations::AutomationsCommand),
    /// Manage webhooks (prompts run on inbound HTTP calls).
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Run experiments: send a dataset to several variants, score the answers, rank them.
    #[command(subcommand)]
    Experiments(experiments::ExperimentsCommand),
    /// Manage API keys (`keys create --account` is the admin form, see `accounts`).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Show the plan, capacity and usage of the account.
    Billing,
}

/// What every command gets: the API (URL and key) and the output mode.
pub struct Ctx {
    pub api: Api,
    pub json: bool,
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Login(a) => login::login(a, json).await,
        Command::Logout => login::logout(json),
        Command::Whoami => login::whoami(&ctx(json)?).await,
        Command::Chat(a) => chat::run(&ctx(json)?, a).await,
        Command::Instances(c) => listed(instances::run(&ctx(json)?, c).await, "instances"),
        Command::Secrets(c) => listed(secrets::run(&ctx(json)?, c).await, "secrets"),
        Command::Automations(c) => listed(automations::run(&ctx(json)?, c).await, "automations"),
        Command::Webhooks(c) => listed(webhooks::run(&ctx(json)?, c).await, "webhooks"),
        Command::Experiments(c) => listed(experiments::run(&ctx(json)?, c).await, "experiments"),
        Command::Keys(c) => listed(keys::run(&ctx(json)?, c).await, "keys"),
        Command::Billing => billing::run(&ctx(json)?).await,
    }
}

impl Ctx {
    /// A list command: every page of `key` from `path` (at most `limit` items), printed as the
    /// API's JSON with `--json`, else as a table of `headers` with `row` of each item, or the
    /// `empty` sentence when there is none.
    pub async fn list(
        &self,
        path: &str,
        key: &str,
        limit: Option<usize>,
        headers: &[&'static str],
        row: impl Fn(&serde_json::Value) -> Vec<String>,
        empty: &str,
    ) -> anyhow::Result<()> {
        let v = self.api.list(path, key, limit).await?;
        if self.json {
            output::print_json(&v);
            return Ok(());
        }
        let mut t = output::Table::new(headers);
        for item in v[key].as_array().into_iter().flatten() {
            t.row(row(item));
        }
        t.print_or(empty);
        Ok(())
    }

    /// `--json`: the API's answer; otherwise the sentence.
    pub fn done(&self, v: &serde_json::Value, sentence: &str) -> anyhow::Result<()> {
        if self.json {
            output::print_json(v);
        } else {
            println!("{sentence}");
        }
        Ok(())
    }
}

/// A 404 from a resource command says how to list what exists.
fn listed(r: anyhow::Result<()>, resource: &str) -> anyhow::Result<()> {
    r.map_err(|mut e| {
        if let Some(f) = e.downcast_mut::<Failure>() {
            if f.exit == crate::exit::Exit::NotFound
                && f.hint.as_deref() == Some(http::NOT_FOUND_HINT)
            {
                f.hint = Some(format!("List what exists: operator {resource} ls"));
            }
        }
        e
    })
}

/// The deployment and key from the environment or the config file; no key is a usage error
/// that says to log in.
fn ctx(json: bool) -> anyhow::Result<Ctx> {
    let settings = config::Settings::resolve()?;
    let Some(key) = settings.key else {
        return Err(Failure::usage("no API key: you are not logged in")
            .hint(format!(
                "Run `operator login --url {}` (or set OPERATOR_API_KEY).",
                settings.url
            ))
            .into());
    };
    Ok(Ctx {
        api: Api::new(&settings.url, key)?,
        json,
    })
}
