//! Instance lifecycle jobs that cannot finish (SQLite, on a manual clock): whether the job's
//! last delivery fails or the job is dead-lettered without one, its instance ends `failed`
//! with the reason, never `provisioning` for good. The AWS e2e test runs the same rules on
//! SQS and ECS.

use crate::scheduler::{caller, platform};
use operator_core::domain::InstanceStatus;
use operator_core::jobs::{Job, JobError, JobHandler};
use operator_core::services::{CreateInstance, LifecycleJobs, LIFECYCLE_MAX_RECEIVES};
use std::time::Duration;

#[tokio::test]
async fn a_dead_lettered_start_leaves_its_instance_failed_not_provisioning() {
    // GIVEN an instance whose provision job is delivered until the queue gives up on it
    // (a worker that dies each time, so the handler never records anything)
    let (p, clock, _dir, _) = platform("2026-12-01T10:00:00Z").await;
    let c = caller(&p).await;
    let i = p
        .create_instance(
            &c,
            CreateInstance {
                name: "stuck".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for _ in 0..LIFECYCLE_MAX_RECEIVES {
        let got = p
            .lifecycle
            .receive(1, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "the job is delivered again");
        clock.advance(chrono::Duration::seconds(2));
    }
    assert!(p
        .lifecycle
        .receive(1, Duration::from_secs(1))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(p.lifecycle.dead_letters(10).await.unwrap().len(), 1);
    // WHEN the dead letters are checked while a start could still be under way
    assert_eq!(p.fail_instances_of_dead_jobs().await.unwrap(), 0);
    let now = p.get_instance(&c, i.id.as_str()).await.unwrap();
    assert_eq!(now.status, InstanceStatus::Provisioning);
    // AND again once no start can be
    clock.advance(chrono::Duration::minutes(12));
    assert_eq!(p.fail_instances_of_dead_jobs().await.unwrap(), 1);
    // THEN the instance is failed with the reason, once
    let now = p.get_instance(&c, i.id.as_str()).await.unwrap();
    assert_eq!(now.status, InstanceStatus::Failed);
    assert_eq!(
        now.status_reason.as_deref(),
        Some("could not start: its InstanceProvision job was dead-lettered after 5 deliveries")
    );
    assert_eq!(p.fail_instances_of_dead_jobs().await.unwrap(), 0);
}

#[tokio::test]
async fn a_clone_whose_last_delivery_fails_is_failed_with_the_reason() {
    // GIVEN a clone of an instance that has no workspace to copy (it never started)
    let (p, _clock, _dir, _) = platform("2026-12-01T10:00:00Z").await;
    let c = caller(&p).await;
    let source = p
        .create_instance(
            &c,
            CreateInstance {
                name: "source".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let clone = p
        .clone_instance(&c, source.id.as_str(), "copy")
        .await
        .unwrap();
    let job = Job::InstanceClone {
        account_id: c.account.id.clone(),
        source_id: source.id.clone(),
        instance_id: clone.id.clone(),
    };
    let handler = LifecycleJobs(p.clone());
    // WHEN its job fails before its last delivery: retried, the clone still provisioning
    let first = handler.handle(&job, 1).await;
    assert!(matches!(first, Err(JobError::Transient(_))), "{first:?}");
    let now = p.get_instance(&c, clone.id.as_str()).await.unwrap();
    assert_eq!(now.status, InstanceStatus::Provisioning);
    // AND on its last: no retry, and the clone is failed with why
    let last = handler.handle(&job, LIFECYCLE_MAX_RECEIVES).await;
    assert!(matches!(last, Err(JobError::Permanent(_))), "{last:?}");
    let now = p.get_instance(&c, clone.id.as_str()).await.unwrap();
    assert_eq!(now.status, InstanceStatus::Failed);
    assert_eq!(
        now.status_reason.as_deref(),
        Some("could not clone: the source instance has no workspace to clone (after 5 attempts)")
    );
}
