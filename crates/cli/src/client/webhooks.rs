//! `webhooks ...`: `/api/webhooks` (prompts run when an HTTP call arrives) and their
//! deliveries. The trigger URL carries the webhook's token: it is the credential, shown as the
//! API shows it.

use super::http::seg;
use super::output::{ago, cell, clean_line, yes_no};
use super::{resolve, Ctx};
use clap::Subcommand;
use operator_core::views::CreateWebhookBody;

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// List webhooks.
    #[command(visible_alias = "list")]
    Ls {
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Create a webhook; prints the URL to call.
    Create {
        name: String,
        /// The prompt for each call; must contain {{payload}} (replaced by the request body).
        #[arg(long)]
        template: String,
        /// Create it switched off.
        #[arg(long)]
        disabled: bool,
    },
    /// Delete a webhook (its URL stops working).
    #[command(visible_alias = "delete")]
    Rm {
        /// wh_... or the name.
        webhook: String,
    },
    /// List a webhook's deliveries.
    Deliveries {
        /// wh_... or the name.
        webhook: String,
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub async fn run(ctx: &Ctx, cmd: WebhooksCommand) -> anyhow::Result<()> {
    match cmd {
        WebhooksCommand::Ls { limit } => {
            ctx.list("/api/webhooks", "webhooks", limit, &["NAME", "ID", "ENABLED", "CREATED", "URL"], |w| vec![cell(&w["name"]),
                    cell(&w["id"]),
                    yes_no(&w["enabled"]),
                    ago(&w["createdAt"]),
                    cell(&w["url"])], "No webhooks yet. Create one: operator webhooks create NAME --template \"Summarise: {{payload}}\"").await
        }
        WebhooksCommand::Create {
            name,
            template,
            disabled,
        } => {
            let body = CreateWebhookBody {
                name,
                prompt_template: template,
                enabled: disabled.then_some(false),
            };
            let v = ctx.api.post("/api/webhooks", &body).await?;
            let w = &v["webhook"];
            ctx.done(
                &v,
                &format!(
                    "Created webhook {} ({}). Call it with a JSON body:\n  curl -X POST -H 'content-type: application/json' -d '{{\"hello\":\"world\"}}' {}",
                    cell(&w["name"]),
                    cell(&w["id"]),
                    cell(&w["url"])
                ),
            )
        }
        WebhooksCommand::Rm { webhook } => {
            let id = resolve::id(ctx, resolve::WEBHOOKS, &webhook).await?;
            let v = ctx
                .api
                .delete(&format!("/api/webhooks/{}", seg(&id)))
                .await?;
            ctx.done(&v, &format!("Deleted webhook {}.", clean_line(&webhook)))
        }
        WebhooksCommand::Deliveries { webhook, limit } => {
            let id = resolve::id(ctx, resolve::WEBHOOKS, &webhook).await?;
            ctx.list(&format!("/api/webhooks/{}/deliveries", seg(&id)),
                    "deliveries",
                    limit, &["ID", "STATUS", "RECEIVED", "FINISHED", "CHAT", "ERROR"], |d| vec![cell(&d["id"]),
                    cell(&d["status"]),
                    ago(&d["receivedAt"]),
                    ago(&d["finishedAt"]),
                    cell(&d["chatId"]),
                    cell(&d["error"])], "No deliveries yet.").await
        }
    }
}
