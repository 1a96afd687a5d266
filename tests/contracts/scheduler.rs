//! Automation firing with a fake clock: nextRunAt across DST, one run per slot, one
//! catch-up run after downtime.

use crate::backends;
use chrono::{DateTime, Duration, Utc};
use operator_core::domain::{PageRequest, PlanSlug, RunStatus};
use operator_core::jobs::Job;
use operator_core::ports::ManualClock;
use operator_core::services::{Caller, CreateAutomation};
use operator_core::{Platform, PlatformConfig};
use operator_local::{
    Isolation, LocalRuntime, LocalScheduler, LocalVault, MasterKey, SqliteQueue, SqliteStore,
};
use std::sync::Arc;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn platform(
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
    let p = Platform {
        store: store.clone(),
        queue: Arc::new(SqliteQueue::new(db.clone(), "agent", 5)),
        lifecycle: Arc::new(SqliteQueue::new(db.clone(), "lifecycle", 5)),
        runtime: Arc::new(runtime),
        http: reqwest::Client::new(),
        llm: None,
        bus: Arc::default(),
        vault: Arc::new(LocalVault::open(db, key).await.unwrap()),
        scheduler: Arc::new(LocalScheduler::new()),
        clock: clock.clone(),
        config: Arc::new(PlatformConfig {
            public_url: "http://test".into(),
            control_url: "http://test".into(),
            image_tag: "t".into(),
            token_key: secrecy::SecretBox::new(Box::new([1u8; 32])),
            llm: None,
        }),
    };
    (p, clock, dir, store)
}

async fn caller(p: &Platform) -> Caller {
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
