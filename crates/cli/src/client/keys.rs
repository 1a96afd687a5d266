//! `keys ...`: the account's API keys (`/api/chat-keys`). `keys create --account ACCT` is the
//! admin form that writes to a data directory or an AWS table instead ([`crate::admin`]).

use super::http::seg;
use super::output::{ago, cell, clean_line};
use super::Ctx;
use crate::admin;
use clap::{Args, Subcommand};
use operator_core::views::CreateKeyBody;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List the account's keys (prefixes only).
    #[command(visible_alias = "list")]
    Ls {
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Create a key; it is shown only this once.
    Create(KeyCreateArgs),
    /// Revoke a key: it fails on its very next use.
    #[command(visible_alias = "rm")]
    Revoke {
        /// key_...
        key: String,
    },
}

#[derive(Args)]
pub struct KeyCreateArgs {
    /// A label for the key.
    #[arg(long)]
    pub name: Option<String>,
    /// Admin: create the key for this account (acct_...) directly in the data directory of
    /// `operator serve`, or with --aws in the deployment's table, instead of through the API.
    #[arg(long = "account", value_name = "ACCOUNT_ID")]
    pub admin: Option<String>,
    #[command(flatten)]
    pub target: admin::Target,
}

pub async fn run(ctx: &Ctx, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Ls { limit } => {
            ctx.list(
                "/api/chat-keys",
                "keys",
                limit,
                &["ID", "NAME", "PREFIX", "CREATED", "LAST USED"],
                |k| {
                    vec![
                        cell(&k["id"]),
                        cell(&k["name"]),
                        cell(&k["prefix"]),
                        ago(&k["createdAt"]),
                        ago(&k["lastUsedAt"]),
                    ]
                },
                "No keys.",
            )
            .await
        }
        KeysCommand::Create(args) => {
            if args.target.is_aws() {
                return Err(crate::exit::Failure::usage("--aws needs --account ACCOUNT_ID").into());
            }
            let v = ctx
                .api
                .post("/api/chat-keys", &CreateKeyBody { name: args.name })
                .await?;
            ctx.done(
                &v,
                &format!(
                    "Created key {} — shown only this once, store it now:\n  {}",
                    cell(&v["id"]),
                    cell(&v["key"])
                ),
            )
        }
        KeysCommand::Revoke { key } => {
            let v = ctx
                .api
                .delete(&format!("/api/chat-keys/{}", seg(&key)))
                .await?;
            ctx.done(&v, &format!("Revoked key {}.", clean_line(&key)))
        }
    }
}
