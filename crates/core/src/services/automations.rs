//! Automations: cron-scheduled prompts, their runs, and firing what is due.

use super::{Caller, Platform};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result};
use crate::ids::{AutomationId, ChatId};
use crate::jobs::Job;
use crate::ports::{Inserted, SweepStore};

pub struct CreateAutomation {
    pub name: String,
    pub prompt: String,
    pub cron_expression: String,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Default)]
pub struct UpdateAutomation {
    pub name: Option<String>,
    pub prompt: Option<String>,
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

/// Collects every field error of a request instead of stopping at the first.
#[derive(Default)]
struct Checks(crate::error::FieldErrors);

impl Checks {
    fn check<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(Error::Invalid { details, .. }) => {
                self.0.extend(details);
                None
            }
            Err(e) => {
                self.0.insert("request".into(), e.to_string());
                None
            }
        }
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_many(self.0))
        }
    }
}

/// Most fire times [`Platform::next_runs`] computes at once.
pub const MAX_NEXT_RUNS: usize = 20;

impl Platform {
    /// The next `count` fire times of a schedule from now (a preview before creating an
    /// automation: the console's cron helper). Validates like `create_automation`, so an
    /// expression this accepts is one creation accepts.
    pub fn next_runs(
        &self,
        cron_expression: &str,
        timezone: Option<&str>,
        count: Option<usize>,
    ) -> Result<(TimeZoneName, Vec<chrono::DateTime<chrono::Utc>>)> {
        let mut checks = Checks::default();
        let cron = checks.check(CronExpr::parse(cron_expression));
        let timezone = checks.check(match timezone {
            None => Ok(TimeZoneName::utc()),
            Some(tz) => TimeZoneName::parse(tz),
        });
        let count = checks.check(match count.unwrap_or(5) {
            n @ 1..=MAX_NEXT_RUNS => Ok(n),
            _ => Err(Error::invalid(
                "count",
                format!("must be between 1 and {MAX_NEXT_RUNS}"),
            )),
        });
        checks.finish()?;
        let (Some(cron), Some(timezone), Some(count)) = (cron, timezone, count) else {
            return Err(Error::Unexpected(anyhow::anyhow!("validation state")));
        };
        let mut at = self.clock.now();
        let mut runs = Vec::with_capacity(count);
        while runs.len() < count {
            match cron.next_after(at, timezone.tz()) {
                Some(t) => {
                    runs.push(t);
                    at = t;
                }
                None => break,
            }
        }
        Ok((timezone, runs))
    }

    #[tracing::instrument(skip(self, caller, req), fields(account = %caller.account.id))]
    pub async fn create_automation(
        &self,
        caller: &Caller,
        req: CreateAutomation,
    ) -> Result<Automation> {
        let mut checks = Checks::default();
        let name = checks.check(validate_title("name", &req.name));
        let prompt = checks.check(validate_prompt("prompt", &req.prompt));
        let cron = checks.check(CronExpr::parse(&req.cron_expression));
        let timezone = checks.check(match req.timezone.as_deref() {
            None => Ok(TimeZoneName::utc()),
            Some(tz) => TimeZoneName::parse(tz),
        });
        checks.finish()?;
        let (Some(name), Some(prompt), Some(cron), Some(timezone)) = (name, prompt, cron, timezone)
        else {
            return Err(Error::Unexpected(anyhow::anyhow!("validation state")));
        };
        let cap = crate::domain::MAX_AUTOMATIONS_PER_ACCOUNT;
        let probe = self
            .store
            .list_automations(&caller.account.id, &super::cap_probe(cap))
            .await?;
        super::below_cap(&probe, cap, "automations")?;
        let now = self.clock.now();
        let mut automation = Automation {
            id: AutomationId::generate(),
            account_id: caller.account.id.clone(),
            name,
            prompt,
            cron,
            timezone,
            enabled: req.enabled.unwrap_or(true),
            next_run_at: None,
            chat_id: ChatId::generate(),
            created_at: now,
            updated_at: now,
        };
        automation.next_run_at = automation.compute_next(now);
        self.store.insert_automation(&automation).await?;
        self.scheduler
            .upsert(&automation)
            .await
            .map_err(|e| Error::Unexpected(e.context("register the schedule")))?;
        Ok(automation)
    }

    pub async fn get_automation(&self, caller: &Caller, id: &str) -> Result<Automation> {
        let auto_id = AutomationId::parse(id).ok_or_else(|| Error::not_found("automation", id))?;
        self.store
            .get_automation(&caller.account.id, &auto_id)
            .await
            .or_not_found("automation", id)
    }

    pub async fn list_automations(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<Automation>> {
        Ok(self
            .store
            .list_automations(&caller.account.id, page)
            .await?)
    }

    #[tracing::instrument(skip(self, caller, req), fields(account = %caller.account.id))]
    pub async fn update_automation(
        &self,
        caller: &Caller,
        id: &str,
        req: UpdateAutomation,
    ) -> Result<Automation> {
        let mut a = self.get_automation(caller, id).await?;
        let mut checks = Checks::default();
        if let Some(n) = req.name.as_deref() {
            a.name = checks.check(validate_title("name", n)).unwrap_or_default();
        }
        if let Some(p) = req.prompt.as_deref() {
            a.prompt = checks
                .check(validate_prompt("prompt", p))
                .unwrap_or_default();
        }
        if let Some(c) = req.cron_expression.as_deref() {
            if let Some(c) = checks.check(CronExpr::parse(c)) {
                a.cron = c;
            }
        }
        if let Some(tz) = req.timezone.as_deref() {
            if let Some(tz) = checks.check(TimeZoneName::parse(tz)) {
                a.timezone = tz;
            }
        }
        checks.finish()?;
        if let Some(e) = req.enabled {
            a.enabled = e;
        }
        let now = self.clock.now();
        a.next_run_at = a.compute_next(now);
        a.updated_at = now;
        self.store
            .update_automation(&a)
            .await
            .or_not_found("automation", id)?;
        self.scheduler
            .upsert(&a)
            .await
            .map_err(|e| Error::Unexpected(e.context("update the schedule")))?;
        Ok(a)
    }

    pub async fn delete_automation(&self, caller: &Caller, id: &str) -> Result<()> {
        let a = self.get_automation(caller, id).await?;
        self.store
            .delete_automation(&a.account_id, &a.id)
            .await
            .or_not_found("automation", id)?;
        self.scheduler
            .remove(&a.account_id, &a.id)
            .await
            .map_err(|e| Error::Unexpected(e.context("remove the schedule")))
    }

    /// `POST /run`: a manual run now, regardless of `enabled`.
    pub async fn run_automation_now(&self, caller: &Caller, id: &str) -> Result<AutomationRun> {
        let a = self.get_automation(caller, id).await?;
        let now = self.clock.now();
        self.record_and_enqueue_run(&a, RunTrigger::Manual, now)
            .await
    }

    pub async fn list_runs(
        &self,
        caller: &Caller,
        id: &str,
        page: &PageRequest,
    ) -> Result<Page<AutomationRun>> {
        let a = self.get_automation(caller, id).await?;
        Ok(self.store.list_runs(&a.account_id, &a.id, page).await?)
    }

    /// Records a run and enqueues its fire. Scheduled runs are unique per slot: a slot that
    /// was already recorded (crash between enqueue and advance) is re-enqueued, never doubled.
    async fn record_and_enqueue_run(
        &self,
        a: &Automation,
        trigger: RunTrigger,
        scheduled_for: Timestamp,
    ) -> Result<AutomationRun> {
        let run = AutomationRun::queued(a, trigger, scheduled_for, self.clock.now());
        let run = match self.store.insert_run(&run).await? {
            Inserted::Created(r) => r,
            Inserted::Existing(r) if r.status != RunStatus::Queued => return Ok(r),
            Inserted::Existing(r) => r,
        };
        self.enqueue(Job::AutomationFire {
            account_id: a.account_id.clone(),
            automation_id: a.id.clone(),
            run_id: Some(run.id.clone()),
            scheduled_for: Some(run.scheduled_for),
        })
        .await?;
        Ok(run)
    }

    /// Embedded scheduler step: enqueue every automation whose `nextRunAt` has come, and
    /// advance it. A slot missed while the server was down fires once on start (one
    /// catch-up run, not one per missed slot). Returns how many runs were enqueued.
    pub async fn fire_due_automations(&self, sweep: &dyn SweepStore) -> Result<usize> {
        let now = self.clock.now();
        let mut fired = 0;
        loop {
            let due = sweep.due_automations(now, 100).await?;
            if due.is_empty() {
                return Ok(fired);
            }
            for a in due {
                let Some(slot) = a.next_run_at else { continue };
                self.record_and_enqueue_run(&a, RunTrigger::Schedule, slot)
                    .await?;
                let next = a.compute_next(slot.max(now));
                if self
                    .store
                    .advance_automation(&a.id, Some(slot), next)
                    .await?
                {
                    fired += 1;
                }
            }
        }
    }
}
