//! Names for ids. Secrets, automations and webhooks are addressed by id in the API; the CLI
//! also takes their (unique) names and looks the id up in the list.

use super::output::clean_line;
use super::Ctx;
use crate::exit::{Exit, Failure};

/// A resource whose records have `id` and `name`.
pub struct Kind {
    pub path: &'static str,
    pub field: &'static str,
    pub prefix: &'static str,
    pub noun: &'static str,
}

pub const SECRETS: Kind = Kind {
    path: "/api/secrets",
    field: "secrets",
    prefix: "sec_",
    noun: "secret",
};

pub const AUTOMATIONS: Kind = Kind {
    path: "/api/automations",
    field: "automations",
    prefix: "auto_",
    noun: "automation",
};

pub const WEBHOOKS: Kind = Kind {
    path: "/api/webhooks",
    field: "webhooks",
    prefix: "wh_",
    noun: "webhook",
};

/// The id of the record named `name`, if there is one.
pub async fn find(ctx: &Ctx, kind: Kind, name: &str) -> anyhow::Result<Option<String>> {
    let all = ctx.api.list(kind.path, kind.field, None).await?;
    Ok(all[kind.field]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .and_then(|r| r["id"].as_str())
        .map(str::to_owned))
}

/// `arg` itself when it is an id, else the id of the record with that name (exit 3 if none).
pub async fn id(ctx: &Ctx, kind: Kind, arg: &str) -> anyhow::Result<String> {
    if arg.starts_with(kind.prefix) {
        return Ok(arg.to_owned());
    }
    let noun = kind.noun;
    let field = kind.field;
    match find(ctx, kind, arg).await? {
        Some(id) => Ok(id),
        None => Err(Failure::new(
            Exit::NotFound,
            format!("no {noun} named {}", clean_line(arg)),
        )
        .hint(format!("List them: operator {field} ls"))
        .into()),
    }
}
