//! `billing`: the plan, instance capacity and the rolling token window (`GET /api/billing`).

use super::output::{cell, print_fields, print_json};
use super::Ctx;

pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let v = ctx.api.get("/api/billing").await?;
    if ctx.json {
        print_json(&v);
        return Ok(());
    }
    let (plan, cap, usage) = (&v["plan"], &v["capacity"], &v["usage"]);
    print_fields(&[
        (
            "Plan",
            format!("{} ({})", cell(&plan["name"]), cell(&plan["slug"])),
        ),
        ("Status", cell(&v["status"])),
        (
            "Instances",
            format!("{} of {}", cell(&cap["used"]), cell(&cap["limit"])),
        ),
        (
            "Tokens",
            format!(
                "{} of {} in the last {} h",
                cell(&usage["tokens"]),
                cell(&plan["tokenLimit"]),
                cell(&usage["windowHours"])
            ),
        ),
        ("Chat turns", cell(&usage["chatTurns"])),
        ("Automation runs", cell(&usage["automationRuns"])),
        ("Webhook deliveries", cell(&usage["webhookDeliveries"])),
        ("Experiment items", cell(&usage["experimentItems"])),
        ("Instance seconds", cell(&usage["instanceSeconds"])),
    ]);
    Ok(())
}
