//! `secrets ...`: `/api/secrets`. A value is read from stdin when it is piped, else from a
//! hidden prompt; it never appears in argv, on the screen or in the output (the create
//! answer's `value` is dropped even with `--json`).

use super::http::seg;
use super::output::{ago, cell, clean_line, yes_no};
use super::{resolve, terminal, Ctx};
use crate::exit::Failure;
use clap::Subcommand;
use operator_core::views::{CreateSecretBody, GrantBody, UpdateSecretBody};
use secrecy::ExposeSecret;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// List secrets (names and grants; never values).
    #[command(visible_alias = "list")]
    Ls {
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Create a secret, or give an existing one (same name) a new value. The value comes from
    /// stdin when piped (`printf %s "$TOKEN" | operator secrets set NAME`), else from a hidden
    /// prompt.
    Set {
        /// ENV_VAR_STYLE: the variable instances read it as.
        name: String,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
        /// Readable by every instance of the account.
        #[arg(long)]
        global: bool,
    },
    /// Delete a secret.
    #[command(visible_alias = "delete")]
    Rm {
        /// sec_... or the name.
        secret: String,
    },
    /// Let an instance read a secret.
    Grant {
        /// sec_... or the name.
        secret: String,
        /// inst_... or the instance's name.
        instance: String,
    },
    /// Take a secret back from an instance.
    Revoke {
        /// sec_... or the name.
        secret: String,
        /// inst_... or the instance's name.
        instance: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: SecretsCommand) -> anyhow::Result<()> {
    match cmd {
        SecretsCommand::Ls { limit } => {
            ctx.list(
                "/api/secrets",
                "secrets",
                limit,
                &["NAME", "ID", "GLOBAL", "GRANTS", "UPDATED"],
                |s| {
                    let grants = s["grants"].as_array().map_or(0, Vec::len);
                    vec![
                        cell(&s["name"]),
                        cell(&s["id"]),
                        yes_no(&s["isGlobal"]),
                        grants.to_string(),
                        ago(&s["updatedAt"]),
                    ]
                },
                "No secrets yet. Add one: operator secrets set NAME",
            )
            .await
        }
        SecretsCommand::Set {
            name,
            description,
            global,
        } => set(ctx, name, description, global).await,
        SecretsCommand::Rm { secret } => {
            let id = resolve::id(ctx, resolve::SECRETS, &secret).await?;
            let v = ctx
                .api
                .delete(&format!("/api/secrets/{}", seg(&id)))
                .await?;
            ctx.done(&v, &format!("Deleted secret {}.", clean_line(&secret)))
        }
        SecretsCommand::Grant { secret, instance } => {
            let id = resolve::id(ctx, resolve::SECRETS, &secret).await?;
            let v = ctx
                .api
                .post(
                    &format!("/api/secrets/{}/grants", seg(&id)),
                    &GrantBody {
                        instance_id: instance.clone(),
                    },
                )
                .await?;
            ctx.done(
                &v,
                &format!(
                    "Granted {} to {}.",
                    clean_line(&secret),
                    clean_line(&instance)
                ),
            )
        }
        SecretsCommand::Revoke { secret, instance } => {
            let id = resolve::id(ctx, resolve::SECRETS, &secret).await?;
            let instance_id = instance_id(ctx, &instance).await?;
            let v = ctx
                .api
                .delete(&format!(
                    "/api/secrets/{}/grants/{}",
                    seg(&id),
                    seg(&instance_id)
                ))
                .await?;
            ctx.done(
                &v,
                &format!(
                    "Revoked {} from {}.",
                    clean_line(&secret),
                    clean_line(&instance)
                ),
            )
        }
    }
}

/// The id of an instance given by id or name (the grant routes take ids).
async fn instance_id(ctx: &Ctx, instance: &str) -> anyhow::Result<String> {
    if instance.starts_with("inst_") {
        return Ok(instance.to_owned());
    }
    let v = ctx
        .api
        .get(&format!("/api/instances/{}", seg(instance)))
        .await?;
    Ok(v["instance"]["id"].as_str().unwrap_or(instance).to_owned())
}

async fn set(
    ctx: &Ctx,
    name: String,
    description: Option<String>,
    global: bool,
) -> anyhow::Result<()> {
    let existing = resolve::find(ctx, resolve::SECRETS, &name).await?;
    let value = if terminal::stdin_is_tty() {
        terminal::hidden_line(&format!("Value for {} (hidden): ", clean_line(&name))).await?
    } else {
        terminal::read_piped_stdin()?
    };
    if value.expose_secret().is_empty() {
        return Err(Failure::usage("the value is empty")
            .hint("Pipe it in (printf %s \"$VALUE\" | operator secrets set NAME) or type it at the prompt.")
            .into());
    }
    let mut v = match &existing {
        Some(id) => {
            let body = UpdateSecretBody {
                value: Some(value),
                description,
                is_global: global.then_some(true),
            };
            ctx.api
                .put(&format!("/api/secrets/{}", seg(id)), &body)
                .await?
        }
        None => {
            let body = CreateSecretBody {
                name: name.clone(),
                value,
                description,
                is_global: global,
            };
            ctx.api.post("/api/secrets", &body).await?
        }
    };
    // The create answer repeats the value: it is not shown, not even as JSON.
    if let Some(s) = v["secret"].as_object_mut() {
        s.remove("value");
    }
    let s = &v["secret"];
    let verb = if existing.is_some() {
        "Updated"
    } else {
        "Created"
    };
    ctx.done(
        &v,
        &format!("{verb} secret {} ({}).", cell(&s["name"]), cell(&s["id"])),
    )
}
