//! InstanceRuntime and Scheduler contracts, for the local and the AWS adapters.

use chrono::Utc;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::{InstanceRuntime, InstanceSpec, RuntimeStatus, Scheduler};
use std::sync::Arc;

pub fn spec() -> InstanceSpec {
    let now = Utc::now();
    InstanceSpec {
        instance: Instance {
            id: InstanceId::generate(),
            account_id: AccountId::generate(),
            name: InstanceName::parse("contract").unwrap(),
            kind: InstanceKind::Blank,
            status: InstanceStatus::Provisioning,
            status_reason: None,
            image_tag: "t".into(),
            checkpoint_repo: None,
            env: EnvMap::default(),
            config: serde_json::json!({}),
            fqdn: None,
            endpoint: None,
            restarts: 0,
            active_since: None,
            active_seconds: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        },
        token: "inst_contract.0123456789abcdef0123".to_owned().into(),
        control_url: "http://127.0.0.1:9".into(),
        env: vec![],
    }
}

/// Start is idempotent, stop and destroy are too, and a stopped instance is not running.
pub async fn start_once_stop_twice(rt: Arc<dyn InstanceRuntime>) {
    let spec = spec();
    let first = rt.start(&spec).await.unwrap();
    assert!(
        matches!(
            first,
            RuntimeStatus::Running { .. } | RuntimeStatus::Starting
        ),
        "{first:?}"
    );
    let again = rt.start(&spec).await.unwrap();
    assert_eq!(first, again, "a second start reports the same instance");
    assert!(!matches!(
        rt.status(&spec.instance.id).await.unwrap(),
        RuntimeStatus::Stopped
    ));
    rt.stop(&spec.instance.id).await.unwrap();
    rt.stop(&spec.instance.id).await.unwrap();
    assert!(!matches!(
        rt.status(&spec.instance.id).await.unwrap(),
        RuntimeStatus::Running { .. }
    ));
    rt.destroy(&spec.instance.id).await.unwrap();
    rt.destroy(&InstanceId::generate()).await.unwrap();
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

#[tokio::test]
async fn local_runtime_start_once_stop_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let rt = operator_local::LocalRuntime::new(
        dir.path(),
        env!("CARGO_BIN_EXE_operator").into(),
        operator_local::Isolation::detect(),
        events,
    )
    .unwrap();
    start_once_stop_twice(Arc::new(rt)).await;
}

#[tokio::test]
async fn local_scheduler_upsert_and_remove_are_idempotent() {
    upsert_and_remove_are_idempotent(Arc::new(operator_local::LocalScheduler::new())).await;
}
