//! Automations and their runs on SQLite (`AutomationStore`): one run per scheduled slot,
//! enforced by a unique index, so a re-fired slot finds the existing run.

use super::{
    conversion, map_err, opt_ts, page, require_changed, unexpected, BadValue, SqliteStore, R,
};
use crate::db::{fmt_ts, is_constraint, parse_opt_ts, parse_ts, Cached};
use async_trait::async_trait;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::*;
use rusqlite::{named_params, params, Row};

pub(super) fn automation_row(r: &Row) -> rusqlite::Result<Automation> {
    let cron: String = r.get("cron")?;
    let tz: String = r.get("timezone")?;
    Ok(Automation {
        id: AutomationId::from_trusted(r.get::<_, String>("id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        name: r.get("name")?,
        prompt: r.get("prompt")?,
        cron: CronExpr::parse(&cron).map_err(|e| conversion(BadValue(e.to_string())))?,
        timezone: TimeZoneName::parse(&tz).map_err(|e| conversion(BadValue(e.to_string())))?,
        enabled: r.get("enabled")?,
        next_run_at: parse_opt_ts(r.get("next_run_at")?)?,
        chat_id: ChatId::from_trusted(r.get::<_, String>("chat_id")?),
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_ts(&r.get::<_, String>("updated_at")?)?,
    })
}

fn run_row(r: &Row) -> rusqlite::Result<AutomationRun> {
    Ok(AutomationRun {
        id: RunId::from_trusted(r.get::<_, String>("id")?),
        automation_id: AutomationId::from_trusted(r.get::<_, String>("automation_id")?),
        account_id: AccountId::from_trusted(r.get::<_, String>("account_id")?),
        trigger: RunTrigger::parse(&r.get::<_, String>("trigger")?),
        status: RunStatus::parse(&r.get::<_, String>("status")?).unwrap_or(RunStatus::Failed),
        scheduled_for: parse_ts(&r.get::<_, String>("scheduled_for")?)?,
        started_at: parse_opt_ts(r.get("started_at")?)?,
        finished_at: parse_opt_ts(r.get("finished_at")?)?,
        chat_id: r
            .get::<_, Option<String>>("chat_id")?
            .map(ChatId::from_trusted),
        error: r.get("error")?,
        created_at: parse_ts(&r.get::<_, String>("created_at")?)?,
    })
}

#[async_trait]
impl AutomationStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(id = %a.id))]
    async fn insert_automation(&self, a: &Automation) -> R<()> {
        let a = a.clone();
        self.db
            .call(move |c| {
                c.exec(
                    "INSERT INTO automations (id, account_id, name, prompt, cron, timezone, enabled,
                        next_run_at, chat_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        a.id.as_str(),
                        a.account_id.as_str(),
                        a.name,
                        a.prompt,
                        a.cron.as_str(),
                        a.timezone.as_str(),
                        a.enabled,
                        opt_ts(a.next_run_at),
                        a.chat_id.as_str(),
                        fmt_ts(a.created_at),
                        fmt_ts(a.updated_at)
                    ],
                )
                .map_err(map_err("automation"))?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get_automation(&self, account: &AccountId, id: &AutomationId) -> R<Automation> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM automations WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    automation_row,
                )
                .map_err(map_err("automation"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account))]
    async fn list_automations(&self, account: &AccountId, p: &PageRequest) -> R<Page<Automation>> {
        let (account, p) = (account.clone(), p.clone());
        self.db
            .read(move |c| {
                page(
                    c,
                    "SELECT * FROM automations WHERE account_id = :account
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":cursor": p.cursor},
                    p.limit,
                    automation_row,
                    |a| a.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %a.id))]
    async fn update_automation(&self, a: &Automation) -> R<()> {
        let a = a.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE automations SET name = ?3, prompt = ?4, cron = ?5, timezone = ?6,
                            enabled = ?7, next_run_at = ?8, updated_at = ?9
                         WHERE id = ?1 AND account_id = ?2",
                        params![
                            a.id.as_str(),
                            a.account_id.as_str(),
                            a.name,
                            a.prompt,
                            a.cron.as_str(),
                            a.timezone.as_str(),
                            a.enabled,
                            opt_ts(a.next_run_at),
                            fmt_ts(a.updated_at)
                        ],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn delete_automation(&self, account: &AccountId, id: &AutomationId) -> R<()> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "DELETE FROM automations WHERE id = ?1 AND account_id = ?2",
                        params![id.as_str(), account.as_str()],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    async fn advance_automation(
        &self,
        id: &AutomationId,
        expected: Option<Timestamp>,
        next: Option<Timestamp>,
    ) -> R<bool> {
        let id = id.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE automations SET next_run_at = ?3 WHERE id = ?1 AND next_run_at IS ?2",
                        params![id.as_str(), opt_ts(expected), opt_ts(next)],
                    )
                    .map_err(unexpected)?;
                Ok(n == 1)
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %r.id))]
    async fn insert_run(&self, r: &AutomationRun) -> R<Inserted<AutomationRun>> {
        let r = r.clone();
        self.db
            .call(move |c| {
                let res = c.exec(
                    "INSERT INTO automation_runs (id, automation_id, account_id, trigger, status,
                        scheduled_for, started_at, finished_at, chat_id, error, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        r.id.as_str(),
                        r.automation_id.as_str(),
                        r.account_id.as_str(),
                        r.trigger.as_str(),
                        r.status.as_str(),
                        fmt_ts(r.scheduled_for),
                        opt_ts(r.started_at),
                        opt_ts(r.finished_at),
                        r.chat_id.as_ref().map(|c| c.to_string()),
                        r.error,
                        fmt_ts(r.created_at)
                    ],
                );
                match res {
                    Ok(_) => Ok(Inserted::Created(r)),
                    Err(e) if is_constraint(&e) && r.trigger == RunTrigger::Schedule => {
                        let existing = c
                            .row(
                                "SELECT * FROM automation_runs WHERE automation_id = ?1
                                 AND scheduled_for = ?2 AND trigger = 'schedule'",
                                params![r.automation_id.as_str(), fmt_ts(r.scheduled_for)],
                                run_row,
                            )
                            .map_err(map_err("run"))?;
                        Ok(Inserted::Existing(existing))
                    }
                    Err(e) => Err(map_err("run")(e)),
                }
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, id = %id))]
    async fn get_run(&self, account: &AccountId, id: &RunId) -> R<AutomationRun> {
        let (account, id) = (account.clone(), id.clone());
        self.db
            .read(move |c| {
                c.row(
                    "SELECT * FROM automation_runs WHERE id = ?1 AND account_id = ?2",
                    params![id.as_str(), account.as_str()],
                    run_row,
                )
                .map_err(map_err("run"))
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(account = %account, automation = %automation))]
    async fn list_runs(
        &self,
        account: &AccountId,
        automation: &AutomationId,
        p: &PageRequest,
    ) -> R<Page<AutomationRun>> {
        let (account, automation, p) = (account.clone(), automation.clone(), p.clone());
        self.db
            .read(move |c| {
                page(
                    c,
                    "SELECT * FROM automation_runs WHERE account_id = :account
                     AND automation_id = :automation
                     AND (:cursor IS NULL OR id < :cursor) ORDER BY id DESC LIMIT :limit",
                    named_params! {":account": account.as_str(), ":automation": automation.as_str(), ":cursor": p.cursor},
                    p.limit,
                    run_row,
                    |r| r.id.to_string(),
                )
            })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %r.id))]
    async fn update_run(&self, r: &AutomationRun) -> R<()> {
        let r = r.clone();
        self.db
            .call(move |c| {
                let n = c
                    .exec(
                        "UPDATE automation_runs SET status = ?3, started_at = ?4, finished_at = ?5,
                            chat_id = ?6, error = ?7 WHERE id = ?1 AND account_id = ?2",
                        params![
                            r.id.as_str(),
                            r.account_id.as_str(),
                            r.status.as_str(),
                            opt_ts(r.started_at),
                            opt_ts(r.finished_at),
                            r.chat_id.as_ref().map(|c| c.to_string()),
                            r.error
                        ],
                    )
                    .map_err(unexpected)?;
                require_changed(n)
            })
            .await
    }
}
