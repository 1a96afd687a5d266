//! InstanceRuntime contract, declared once and run on the local runtime (child processes)
//! and on ECS (the emulator, where tasks never become reachable).

use chrono::Utc;
use operator_core::domain::*;
use operator_core::ids::*;
use operator_core::ports::{InstanceRuntime, InstanceSpec, RuntimeStatus};
use std::sync::Arc;

contracts! {
    local: crate::backends::runtime_on_local,
    aws: crate::backends::runtime_on_ecs,
    contracts: [start_once_stop_twice],
}

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
        launch: 0,
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
        RuntimeStatus::Stopped { .. }
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
