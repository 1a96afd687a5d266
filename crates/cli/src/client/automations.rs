//! `automations ...`: `/api/automations` (prompts the Operator agent runs on a cron schedule)
//! and their runs.

use super::http::seg;
use super::output::{ago, cell, clean_line, yes_no};
use super::{resolve, Ctx};
use clap::Subcommand;
use operator_core::views::CreateAutomationBody;

#[derive(Subcommand)]
pub enum AutomationsCommand {
    /// List automations.
    #[command(visible_alias = "list")]
    Ls {
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Create an automation: PROMPT runs through the Operator agent on the schedule.
    Create {
        name: String,
        /// 5-field cron: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5".
        #[arg(long)]
        cron: String,
        /// What the Operator agent is asked each time.
        #[arg(long)]
        prompt: String,
        /// IANA time zone of the schedule (default UTC), e.g. America/New_York.
        #[arg(long)]
        timezone: Option<String>,
        /// Create it switched off.
        #[arg(long)]
        disabled: bool,
    },
    /// Delete an automation.
    #[command(visible_alias = "delete")]
    Rm {
        /// auto_... or the name.
        automation: String,
    },
    /// Run an automation now.
    Run {
        /// auto_... or the name.
        automation: String,
    },
    /// List an automation's runs.
    Runs {
        /// auto_... or the name.
        automation: String,
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub async fn run(ctx: &Ctx, cmd: AutomationsCommand) -> anyhow::Result<()> {
    match cmd {
        AutomationsCommand::Ls { limit } => {
            ctx.list("/api/automations", "automations", limit, &["NAME", "ID", "CRON", "TIMEZONE", "ENABLED", "NEXT RUN"], |a| vec![cell(&a["name"]),
                    cell(&a["id"]),
                    cell(&a["cronExpression"]),
                    cell(&a["timezone"]),
                    yes_no(&a["enabled"]),
                    ago(&a["nextRunAt"])], "No automations yet. Create one: operator automations create NAME --cron \"0 9 * * 1-5\" --prompt \"...\"").await
        }
        AutomationsCommand::Create {
            name,
            cron,
            prompt,
            timezone,
            disabled,
        } => {
            let body = CreateAutomationBody {
                name,
                prompt,
                cron_expression: cron,
                timezone,
                enabled: disabled.then_some(false),
            };
            let v = ctx.api.post("/api/automations", &body).await?;
            let a = &v["automation"];
            ctx.done(
                &v,
                &format!(
                    "Created automation {} ({}); next run {}.",
                    cell(&a["name"]),
                    cell(&a["id"]),
                    ago(&a["nextRunAt"])
                ),
            )
        }
        AutomationsCommand::Rm { automation } => {
            let id = resolve::id(ctx, resolve::AUTOMATIONS, &automation).await?;
            let v = ctx
                .api
                .delete(&format!("/api/automations/{}", seg(&id)))
                .await?;
            ctx.done(
                &v,
                &format!("Deleted automation {}.", clean_line(&automation)),
            )
        }
        AutomationsCommand::Run { automation } => {
            let id = resolve::id(ctx, resolve::AUTOMATIONS, &automation).await?;
            let v = ctx
                .api
                .post_empty(&format!("/api/automations/{}/run", seg(&id)))
                .await?;
            let r = &v["run"];
            ctx.done(
                &v,
                &format!(
                    "Started run {} of {} (status {}). Follow it: operator automations runs {}",
                    cell(&r["id"]),
                    clean_line(&automation),
                    cell(&r["status"]),
                    clean_line(&automation)
                ),
            )
        }
        AutomationsCommand::Runs { automation, limit } => {
            let id = resolve::id(ctx, resolve::AUTOMATIONS, &automation).await?;
            ctx.list(&format!("/api/automations/{}/runs", seg(&id)),
                    "runs",
                    limit, &["ID", "STATUS", "SCHEDULED", "FINISHED", "CHAT", "ERROR"], |r| vec![cell(&r["id"]),
                    cell(&r["status"]),
                    ago(&r["scheduledFor"]),
                    ago(&r["finishedAt"]),
                    cell(&r["chatId"]),
                    cell(&r["error"])], "No runs yet.").await
        }
    }
}
