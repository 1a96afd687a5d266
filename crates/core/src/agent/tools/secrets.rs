//! Tools for secrets, through the same services and views as `/api/secrets`. A value goes in
//! (`create_secret`, `update_secret`: declared secret fields, redacted wherever the input is
//! stored or shown) and never comes out. Secrets are named by id or by name.

use super::args::{Instance, NoArgs, On, Secret};
use super::{ok, output, Effect, ToolDef};
use crate::domain::{PageRequest, SecretName};
use crate::error::{Error, StoreError};
use crate::services::{Caller, Platform};
use crate::views::{CreateSecretBody, SecretEnvelope, SecretView, UpdateSecretBody};
use async_trait::async_trait;
use serde_json::{json, Value};

/// The caller's secret `key`: an id (`sec_...`) or a name.
async fn by_id_or_name(
    p: &Platform,
    caller: &Caller,
    key: &str,
) -> Result<crate::domain::Secret, Error> {
    if key.starts_with("sec_") {
        return p.get_secret(caller, key).await;
    }
    let name = SecretName::parse(key).map_err(|_| Error::not_found("secret", key))?;
    match p.store.get_secret_by_name(&caller.account.id, &name).await {
        Ok(s) => Ok(s),
        Err(StoreError::NotFound) => Err(Error::not_found("secret", key)),
        Err(e) => Err(e.into()),
    }
}

fn envelope(s: crate::domain::Secret) -> Result<Value, Error> {
    output(SecretEnvelope { secret: s.into() })
}

pub struct Create;
#[async_trait]
impl ToolDef for Create {
    const NAME: &'static str = "create_secret";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str =
        "Store a secret (encrypted). The value is never shown again, to you or anyone.";
    const SECRET_FIELDS: &'static [&'static str] = &["value"];
    type Args = CreateSecretBody;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(p.create_secret(caller, args.into()).await?)
    }
}

pub struct List;
#[async_trait]
impl ToolDef for List {
    const NAME: &'static str = "list_secrets";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List secrets (names, grants; never values).";
    type Args = NoArgs;
    async fn run(p: &Platform, caller: &Caller, _: NoArgs) -> Result<Value, Error> {
        let page = PageRequest::first(PageRequest::MAX_LIMIT);
        let items = p.list_secrets(caller, &page).await?.items;
        let views: Vec<SecretView> = items.into_iter().map(Into::into).collect();
        Ok(json!({ "secrets": output(views)? }))
    }
}

pub struct Update;
#[async_trait]
impl ToolDef for Update {
    const NAME: &'static str = "update_secret";
    const DESCRIPTION: &'static str = "Rotate a secret's value or change its description/isGlobal.";
    const SECRET_FIELDS: &'static [&'static str] = &["value"];
    type Args = On<Secret, UpdateSecretBody>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let sec = by_id_or_name(p, caller, &args.id).await?;
        envelope(
            p.update_secret(caller, sec.id.as_str(), args.body.into())
                .await?,
        )
    }
}

pub struct Grant;
#[async_trait]
impl ToolDef for Grant {
    const NAME: &'static str = "grant_secret";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str =
        "Let an instance read a secret (as an env var from its next start, and on demand).";
    type Args = On<Secret, On<Instance, NoArgs>>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let sec = by_id_or_name(p, caller, &args.id).await?;
        envelope(
            p.grant_secret(caller, sec.id.as_str(), &args.body.id)
                .await?,
        )
    }
}

pub struct Revoke;
#[async_trait]
impl ToolDef for Revoke {
    const NAME: &'static str = "revoke_secret";
    const DESCRIPTION: &'static str = "Withdraw an instance's access to a secret.";
    type Args = On<Secret, On<Instance, NoArgs>>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let sec = by_id_or_name(p, caller, &args.id).await?;
        let i = p.get_instance(caller, &args.body.id).await?;
        p.revoke_grant(caller, sec.id.as_str(), i.id.as_str())
            .await?;
        Ok(ok())
    }
}

pub struct Delete;
#[async_trait]
impl ToolDef for Delete {
    const NAME: &'static str = "delete_secret";
    const DESCRIPTION: &'static str = "Delete a secret.";
    type Args = On<Secret, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let sec = by_id_or_name(p, caller, &args.id).await?;
        p.delete_secret(caller, sec.id.as_str()).await?;
        Ok(ok())
    }
}
