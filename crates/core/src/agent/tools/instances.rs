//! Tools for instance records (create, list, get, update, restart, clone, delete) and the
//! plan's capacity, through the same services and views as `/api/instances` and
//! `/api/billing`.

use super::args::{Instance, NoArgs, On};
use super::{ok, output, Effect, ToolDef};
use crate::domain::PageRequest;
use crate::error::Error;
use crate::services::{Caller, Platform};
use crate::views::{
    BillingView, CloneInstanceBody, CreateInstanceBody, InstanceEnvelope, InstanceView,
    UpdateInstanceBody,
};
use async_trait::async_trait;
use serde_json::{json, Value};

fn envelope(i: crate::domain::Instance) -> Result<Value, Error> {
    output(InstanceEnvelope { instance: i.into() })
}

pub struct Create;
#[async_trait]
impl ToolDef for Create {
    const NAME: &'static str = "create_instance";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Create an agent instance (isolated workspace, terminal, browser, LLM). Starts as provisioning, active shortly after.";
    type Args = CreateInstanceBody;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(p.create_instance(caller, args.into()).await?)
    }
}

pub struct List;
#[async_trait]
impl ToolDef for List {
    const NAME: &'static str = "list_instances";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List the account's instances with their status.";
    type Args = NoArgs;
    async fn run(p: &Platform, caller: &Caller, _: NoArgs) -> Result<Value, Error> {
        let page = PageRequest::first(PageRequest::MAX_LIMIT);
        let items = p.list_instances(caller, &page, false).await?.items;
        let views: Vec<InstanceView> = items.into_iter().map(Into::into).collect();
        Ok(json!({ "instances": output(views)? }))
    }
}

pub struct Get;
#[async_trait]
impl ToolDef for Get {
    const NAME: &'static str = "get_instance";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Get one instance.";
    type Args = On<Instance, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(p.get_instance(caller, &args.id).await?)
    }
}

pub struct Update;
#[async_trait]
impl ToolDef for Update {
    const NAME: &'static str = "update_instance";
    const DESCRIPTION: &'static str = "Rename an instance or change its env/config.";
    type Args = On<Instance, UpdateInstanceBody>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(
            p.update_instance(caller, &args.id, args.body.into())
                .await?,
        )
    }
}

pub struct Restart;
#[async_trait]
impl ToolDef for Restart {
    const NAME: &'static str = "restart_instance";
    const DESCRIPTION: &'static str = "Restart an active or failed instance.";
    type Args = On<Instance, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(p.restart_instance(caller, &args.id).await?)
    }
}

pub struct Clone;
#[async_trait]
impl ToolDef for Clone {
    const NAME: &'static str = "clone_instance";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Create a new instance with a copy of another's workspace.";
    type Args = On<Instance, CloneInstanceBody>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(p.clone_instance(caller, &args.id, &args.body.name).await?)
    }
}

pub struct Delete;
#[async_trait]
impl ToolDef for Delete {
    const NAME: &'static str = "delete_instance";
    const DESCRIPTION: &'static str = "Delete an instance: stops it and removes its workspace.";
    type Args = On<Instance, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        p.delete_instance(caller, &args.id).await?;
        Ok(ok())
    }
}

pub struct Billing;
#[async_trait]
impl ToolDef for Billing {
    const NAME: &'static str = "get_billing";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Plan, capacity (instances used/limit) and token usage.";
    type Args = NoArgs;
    async fn run(p: &Platform, caller: &Caller, _: NoArgs) -> Result<Value, Error> {
        output(BillingView::from(p.billing(caller).await?))
    }
}

/// `search_checkpoints`' arguments.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct SearchCheckpointsArgs {
    /// Words that must all appear in a listed repository's name, description, tags or
    /// address; empty for the whole list.
    #[serde(default)]
    pub query: String,
}

pub struct SearchCheckpoints;
#[async_trait]
impl ToolDef for SearchCheckpoints {
    const NAME: &'static str = "search_checkpoints";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Search the operator's catalog of checkpoint repositories (ready-made workspaces: AGENTS.md, skills). Install one by creating an instance with its repo as checkpointRepo (an OpenClaw checkpoint becomes the workspace itself).";
    type Args = SearchCheckpointsArgs;
    async fn run(p: &Platform, _: &Caller, args: SearchCheckpointsArgs) -> Result<Value, Error> {
        let catalog = &p.config.checkpoints;
        if catalog.is_empty() {
            return Err(Error::Conflict(
                "this server lists no checkpoint repositories (OPERATOR_CHECKPOINT_CATALOG); a checkpointRepo can still be named directly".into(),
            ));
        }
        Ok(json!({ "checkpoints": catalog.search(&args.query) }))
    }
}
