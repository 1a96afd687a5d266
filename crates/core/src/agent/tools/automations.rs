//! Tools for automations (cron prompts the Operator agent runs), through the same services
//! and views as `/api/automations`.

use super::args::{Automation, NoArgs, On};
use super::{ok, output, Effect, ToolDef};
use crate::domain::PageRequest;
use crate::error::Error;
use crate::services::{Caller, Platform};
use crate::views::{
    AutomationEnvelope, AutomationView, CreateAutomationBody, RunEnvelope, UpdateAutomationBody,
};
use async_trait::async_trait;
use serde_json::{json, Value};

fn envelope(a: crate::domain::Automation) -> Result<Value, Error> {
    output(AutomationEnvelope {
        automation: a.into(),
    })
}

pub struct Create;
#[async_trait]
impl ToolDef for Create {
    const NAME: &'static str = "create_automation";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str =
        "Schedule a prompt for this agent on a 5-field cron in an IANA time zone.";
    type Args = CreateAutomationBody;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(p.create_automation(caller, args.into()).await?)
    }
}

pub struct List;
#[async_trait]
impl ToolDef for List {
    const NAME: &'static str = "list_automations";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List automations with their next run.";
    type Args = NoArgs;
    async fn run(p: &Platform, caller: &Caller, _: NoArgs) -> Result<Value, Error> {
        let page = PageRequest::first(PageRequest::MAX_LIMIT);
        let items = p.list_automations(caller, &page).await?.items;
        let views: Vec<AutomationView> = items.into_iter().map(Into::into).collect();
        Ok(json!({ "automations": output(views)? }))
    }
}

pub struct Update;
#[async_trait]
impl ToolDef for Update {
    const NAME: &'static str = "update_automation";
    const DESCRIPTION: &'static str = "Change an automation (any field, or enabled).";
    type Args = On<Automation, UpdateAutomationBody>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(
            p.update_automation(caller, &args.id, args.body.into())
                .await?,
        )
    }
}

pub struct Delete;
#[async_trait]
impl ToolDef for Delete {
    const NAME: &'static str = "delete_automation";
    const DESCRIPTION: &'static str = "Delete an automation.";
    type Args = On<Automation, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        p.delete_automation(caller, &args.id).await?;
        Ok(ok())
    }
}

pub struct Run;
#[async_trait]
impl ToolDef for Run {
    const NAME: &'static str = "run_automation";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Run an automation now.";
    type Args = On<Automation, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let run = p.run_automation_now(caller, &args.id).await?;
        output(RunEnvelope { run: run.into() })
    }
}
