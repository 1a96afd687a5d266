//! Tools for webhooks (inbound HTTP that runs a prompt), through the same services and views
//! as `/api/webhooks`.

use super::args::{NoArgs, On, Webhook};
use super::{ok, output, Effect, ToolDef};
use crate::domain::PageRequest;
use crate::error::Error;
use crate::services::{Caller, Platform};
use crate::views::{CreateWebhookBody, UpdateWebhookBody, WebhookEnvelope, WebhookView};
use async_trait::async_trait;
use serde_json::{json, Value};

fn envelope(p: &Platform, w: crate::domain::Webhook) -> Result<Value, Error> {
    output(WebhookEnvelope {
        webhook: WebhookView::new(p, w),
    })
}

pub struct Create;
#[async_trait]
impl ToolDef for Create {
    const NAME: &'static str = "create_webhook";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Create an inbound webhook whose requests run a prompt; the template must contain {{payload}}.";
    type Args = CreateWebhookBody;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(p, p.create_webhook(caller, args.into()).await?)
    }
}

pub struct List;
#[async_trait]
impl ToolDef for List {
    const NAME: &'static str = "list_webhooks";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List webhooks with their URLs.";
    type Args = NoArgs;
    async fn run(p: &Platform, caller: &Caller, _: NoArgs) -> Result<Value, Error> {
        let page = PageRequest::first(PageRequest::MAX_LIMIT);
        let items = p.list_webhooks(caller, &page).await?.items;
        let views: Vec<WebhookView> = items.into_iter().map(|w| WebhookView::new(p, w)).collect();
        Ok(json!({ "webhooks": output(views)? }))
    }
}

pub struct Update;
#[async_trait]
impl ToolDef for Update {
    const NAME: &'static str = "update_webhook";
    const DESCRIPTION: &'static str = "Change a webhook; regenerateToken invalidates the old URL.";
    type Args = On<Webhook, UpdateWebhookBody>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        envelope(
            p,
            p.update_webhook(caller, &args.id, args.body.into()).await?,
        )
    }
}

pub struct Delete;
#[async_trait]
impl ToolDef for Delete {
    const NAME: &'static str = "delete_webhook";
    const DESCRIPTION: &'static str = "Delete a webhook.";
    type Args = On<Webhook, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        p.delete_webhook(caller, &args.id).await?;
        Ok(ok())
    }
}
