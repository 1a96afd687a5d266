//! Schedules. The `Scheduler` port contract, declared once and run on the embedded scheduler
//! and on EventBridge Scheduler (the emulator). Then automation firing on the embedded
//! scheduler with a fake clock (SQLite only: the cron loop is the embedded platform's):
//! nextRunAt across DST, a local time inside a repeated hour (fall back) and inside a
//! skipped hour (spring forward), one run per slot, one catch-up run after downtime. For
//! the same DST cases on AWS, what EventBridge is given (expression and zone) is checked on
//! the emulator, which stores schedules but never fires them.

use crate::backends;
use chrono::{DateTime, Duration, Utc};
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::jobs::Job;
use operator_core::ports::{ManualClock, Scheduler};
use operator_core::services::{Caller, CreateAutomation};
use operator_core::{Platform, PlatformConfig, PlatformParts};
use operator_local::{
    Isolation, LocalRuntime, LocalScheduler, LocalVault, MasterKey, SqliteQueue, SqliteStore,
};
use std::sync::Arc;

contracts! {
    local: crate::backends::scheduler_on_local,
    aws: crate::backends::scheduler_on_eventbridge,
    contracts: [upsert_and_remove_are_idempotent],
}

/// Upserts and removals are idempotent, also for unknown automations.
pub async fn upsert_and_remove_are_idempotent(s: Arc<dyn Scheduler>) {
    let now = Utc::now();
    let mut a = Automation {
        id: AutomationId::generate(),
        account_id: AccountId::generate(),
        name: "n".into(),
        prompt: "p".into(),
        cron: CronExpr::parse("*/15 * * * *").unwrap(),
        timezone: TimeZoneName::parse("Europe/Paris").unwrap(),
        enabled: true,
        next_run_at: None,
        chat_id: ChatId::generate(),
        created_at: now,
        updated_at: now,
    };
    s.upsert(&a).await.unwrap();
    s.upsert(&a).await.unwrap();
    a.enabled = false;
    s.upsert(&a).await.unwrap();
    s.remove(&a.account_id, &a.id).await.unwrap();
    s.remove(&a.account_id, &a.id).await.unwrap();
    s.remove(&AccountId::generate(), &AutomationId::generate())
        .await
        .unwrap();
}

// ---------- the embedded scheduler (SQLite only) ----------

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub async fn platform(
    at: &str,
) -> (
    Platform,
    Arc<ManualClock>,
    tempfile::TempDir,
    Arc<SqliteStore>,
) {
    let (db, dir) = backends::sqlite();
    let clock = Arc::new(ManualClock::new(utc(at)));
    let key = MasterKey::load_or_create(dir.path(), None).unwrap();
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let runtime = LocalRuntime::new(
        dir.path(),
        env!("CARGO_BIN_EXE_operator").into(),
        Isolation::Process,
        events,
    )
    .unwrap();
    let store = Arc::new(SqliteStore::new(db.clone()));
    let p = Platform::from(PlatformParts {
        store: store.clone(),
        queue: Arc::new(SqliteQueue::new(db.clone(), "agent", 5).with_clock(clock.clone())),
        lifecycle: Arc::new(SqliteQueue::new(db.clone(), "lifecycle", 5).with_clock(clock.clone())),
        runtime: Arc::new(runtime),
        http: reqwest::Client::new(),
        llm: None,
        bus: Arc::default(),
        slots: Arc::default(),
        auth_cache: Arc::default(),
        limits: Arc::default(),
        vault: Arc::new(LocalVault::open(db, key).await.unwrap()),
        scheduler: Arc::new(LocalScheduler::new()),
        clock: clock.clone(),
        config: Arc::new(PlatformConfig {
            public_url: "http://test".into(),
            control_url: "http://test".into(),
            image_tag: "t".into(),
            token_key: secrecy::SecretBox::new(Box::new([1u8; 32])),
            llm: None,
            checkpoints: Default::default(),
            warm_pool: Default::default(),
        }),
    });
    (p, clock, dir, store)
}

pub async fn caller(p: &Platform) -> Caller {
    let account = p.create_account(PlanSlug::Pro, None, None).await.unwrap();
    let (key, _) = p.create_key(&account.id, None).await.unwrap();
    Caller {
        account,
        key_id: key.id,
    }
}

async fn drain_fires(p: &Platform) -> Vec<Job> {
    let mut jobs = vec![];
    loop {
        let batch = p
            .queue
            .receive(10, std::time::Duration::from_secs(60))
            .await
            .unwrap();
        if batch.is_empty() {
            return jobs;
        }
        for r in batch {
            p.queue.ack(&r.receipt).await.unwrap();
            jobs.push(r.job);
        }
    }
}

#[tokio::test]
async fn weekday_nine_am_new_york_fires_at_the_right_instants_across_spring_forward() {
    // GIVEN Friday 2026-03-06 10:00 EST, and DST starting Sunday 2026-03-08
    let (p, clock, _dir, sweep) = platform("2026-03-06T15:00:00Z").await;
    let c = caller(&p).await;
    let a = p
        .create_automation(
            &c,
            CreateAutomation {
                name: "standup".into(),
                prompt: "go".into(),
                cron_expression: "0 9 * * 1-5".into(),
                timezone: Some("America/New_York".into()),
                enabled: None,
            },
        )
        .await
        .unwrap();
    // THEN the next run is Monday 09:00 EDT = 13:00 UTC (not 14:00 as in winter)
    assert_eq!(a.next_run_at, Some(utc("2026-03-09T13:00:00Z")));
    // Nothing fires before then
    clock.set(utc("2026-03-09T12:59:59Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 0);
    // WHEN the clock reaches the slot THEN exactly one run is enqueued for it
    clock.set(utc("2026-03-09T13:00:00Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 1);
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 0);
    let jobs = drain_fires(&p).await;
    assert!(
        matches!(&jobs[..], [Job::AutomationFire { scheduled_for: Some(t), run_id: Some(_), .. }] if *t == utc("2026-03-09T13:00:00Z"))
    );
    let runs = p
        .list_runs(&c, a.id.as_str(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1);
    assert_eq!(runs.items[0].status, RunStatus::Queued);
    let a = p.get_automation(&c, a.id.as_str()).await.unwrap();
    assert_eq!(a.next_run_at, Some(utc("2026-03-10T13:00:00Z")));
}

#[tokio::test]
async fn downtime_yields_one_catch_up_run_and_a_future_next_run() {
    let (p, clock, _dir, sweep) = platform("2026-05-04T08:00:00Z").await;
    let c = caller(&p).await;
    let a = p
        .create_automation(
            &c,
            CreateAutomation {
                name: "hourly".into(),
                prompt: "go".into(),
                cron_expression: "0 * * * *".into(),
                timezone: None,
                enabled: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(a.next_run_at, Some(utc("2026-05-04T09:00:00Z")));
    // The server was down for 5 hours and 30 minutes
    clock.advance(Duration::minutes(5 * 60 + 30));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 1);
    assert_eq!(drain_fires(&p).await.len(), 1);
    let a = p.get_automation(&c, a.id.as_str()).await.unwrap();
    assert_eq!(a.next_run_at, Some(utc("2026-05-04T14:00:00Z")));
}

#[tokio::test]
async fn a_slot_recorded_before_a_crash_is_not_run_twice() {
    let (p, clock, _dir, sweep) = platform("2026-05-04T08:59:00Z").await;
    let c = caller(&p).await;
    let a = p
        .create_automation(
            &c,
            CreateAutomation {
                name: "hourly".into(),
                prompt: "go".into(),
                cron_expression: "0 * * * *".into(),
                timezone: None,
                enabled: None,
            },
        )
        .await
        .unwrap();
    clock.set(utc("2026-05-04T09:00:00Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 1);
    // Simulate a crash between enqueue and advance: nextRunAt is back on the fired slot.
    p.store
        .advance_automation(
            &a.id,
            Some(utc("2026-05-04T10:00:00Z")),
            Some(utc("2026-05-04T09:00:00Z")),
        )
        .await
        .unwrap();
    p.fire_due_automations(sweep.as_ref()).await.unwrap();
    let runs = p
        .list_runs(&c, a.id.as_str(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1, "the slot has one run record");
    // Both enqueued fires name the same run, so the handler executes it once.
    let jobs = drain_fires(&p).await;
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0], jobs[1]);
}

async fn daily_new_york(p: &Platform, c: &Caller, cron: &str) -> Automation {
    p.create_automation(
        c,
        CreateAutomation {
            name: "nightly".into(),
            prompt: "go".into(),
            cron_expression: cron.into(),
            timezone: Some("America/New_York".into()),
            enabled: None,
        },
    )
    .await
    .unwrap()
}

/// The fire times of the jobs enqueued so far.
async fn fired_slots(p: &Platform) -> Vec<DateTime<Utc>> {
    drain_fires(p)
        .await
        .into_iter()
        .map(|j| match j {
            Job::AutomationFire {
                scheduled_for: Some(t),
                ..
            } => t,
            other => panic!("not a scheduled fire: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_time_inside_the_repeated_hour_fires_once_at_its_first_occurrence() {
    // GIVEN 01:30 daily in New York, where 01:30 happens twice on Sunday 2026-11-01 (EDT
    // 05:30Z, then EST 06:30Z), as documented in crates/core/src/domain/schedule.rs and the
    // README (DST as EventBridge Scheduler does it)
    let (p, clock, _dir, sweep) = platform("2026-10-31T12:00:00Z").await;
    let c = caller(&p).await;
    let a = daily_new_york(&p, &c, "30 1 * * *").await;
    assert_eq!(a.next_run_at, Some(utc("2026-11-01T05:30:00Z")));
    // WHEN the clock reaches the first 01:30 (EDT) THEN one run fires
    clock.set(utc("2026-11-01T05:29:59Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 0);
    clock.set(utc("2026-11-01T05:30:00Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 1);
    // and the next run is Monday's 01:30 EST, not the repeat an hour later
    let a = p.get_automation(&c, a.id.as_str()).await.unwrap();
    assert_eq!(a.next_run_at, Some(utc("2026-11-02T06:30:00Z")));
    // WHEN the clock reaches the second 01:30 (EST) THEN nothing fires
    clock.set(utc("2026-11-01T06:30:00Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 0);
    clock.set(utc("2026-11-01T07:00:00Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 0);
    assert_eq!(fired_slots(&p).await, vec![utc("2026-11-01T05:30:00Z")]);
    let runs = p
        .list_runs(&c, a.id.as_str(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1, "one run for the repeated hour");
}

#[tokio::test]
async fn a_time_inside_the_skipped_hour_does_not_fire_that_day() {
    // GIVEN 02:30 daily in New York, a time that does not exist on Sunday 2026-03-08 (clocks
    // jump from 02:00 EST to 03:00 EDT)
    let (p, clock, _dir, sweep) = platform("2026-03-07T12:00:00Z").await;
    let c = caller(&p).await;
    let a = daily_new_york(&p, &c, "30 2 * * *").await;
    // THEN the next run is Monday 02:30 EDT: Sunday has no 02:30
    assert_eq!(a.next_run_at, Some(utc("2026-03-09T06:30:00Z")));
    // WHEN Sunday passes THEN nothing fires, neither at the jump nor at 03:30 EDT
    for t in [
        "2026-03-08T07:00:00Z",
        "2026-03-08T07:30:00Z",
        "2026-03-08T12:00:00Z",
        "2026-03-09T06:29:59Z",
    ] {
        clock.set(utc(t));
        assert_eq!(
            p.fire_due_automations(sweep.as_ref()).await.unwrap(),
            0,
            "{t}"
        );
    }
    // WHEN Monday 02:30 EDT comes THEN it fires once
    clock.set(utc("2026-03-09T06:30:00Z"));
    assert_eq!(p.fire_due_automations(sweep.as_ref()).await.unwrap(), 1);
    assert_eq!(fired_slots(&p).await, vec![utc("2026-03-09T06:30:00Z")]);
    let a = p.get_automation(&c, a.id.as_str()).await.unwrap();
    assert_eq!(a.next_run_at, Some(utc("2026-03-10T06:30:00Z")));
}

// ---------- the same DST cases on AWS ----------

/// EventBridge Scheduler evaluates the cron expression on the schedule's own time zone and
/// documents the same DST rule as the embedded scheduler ("When the time shifts forward in
/// Spring, your schedule invocation gets skipped if the cron expression falls on a
/// non-existent date and time. When the time shifts back in the Fall, your schedule runs only
/// once": EventBridge Scheduler user guide, schedule types, daylight saving time). The
/// emulator stores schedules but never fires them, so what can be checked is that the
/// schedule carries the local wall-clock time and the IANA zone, not a UTC conversion
/// (which would fire at the wrong hour for half the year and twice or never around a change).
#[tokio::test]
async fn aws_only_eventbridge_gets_the_wall_clock_time_and_zone_for_dst_cases() {
    let (s, client, target) = backends::eventbridge().await;
    for (cron, want) in [
        ("30 1 * * *", "cron(30 1 * * ? *)"), // inside the repeated hour on 2026-11-01
        ("30 2 * * *", "cron(30 2 * * ? *)"), // inside the skipped hour on 2026-03-08
    ] {
        let now = Utc::now();
        let a = Automation {
            id: AutomationId::generate(),
            account_id: AccountId::generate(),
            name: "nightly".into(),
            prompt: "p".into(),
            cron: CronExpr::parse(cron).unwrap(),
            timezone: TimeZoneName::parse("America/New_York").unwrap(),
            enabled: true,
            next_run_at: None,
            chat_id: ChatId::generate(),
            created_at: now,
            updated_at: now,
        };
        s.upsert(&a).await.unwrap();
        let got = client
            .get_schedule()
            .name(operator_aws::EventBridgeScheduler::schedule_name(
                &a.account_id,
                &a.id,
                0,
            ))
            .group_name(&target.group)
            .send()
            .await
            .unwrap();
        assert_eq!(got.schedule_expression(), Some(want), "{cron}");
        assert_eq!(
            got.schedule_expression_timezone(),
            Some("America/New_York"),
            "{cron}"
        );
    }
}
