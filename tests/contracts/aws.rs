//! The same port contracts against the AWS adapters, on the emulator (moto server).

use crate::emulator::{aws_config, unique};
use operator_aws::{EventBridgeScheduler, ScheduleTarget, SecretsManagerVault, SqsQueue};
use operator_core::ports::{JobQueue, Scheduler, Vault};
use std::sync::Arc;

/// A fresh queue pair: main queue with a redrive policy to its dead-letter queue.
pub async fn sqs_queue(max_receive_count: u32) -> (Arc<dyn JobQueue>, String, String) {
    let cfg = aws_config().await;
    let client = aws_sdk_sqs::Client::new(&cfg);
    let name = unique("jobs");
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let url = client
        .create_queue()
        .queue_name(&name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (Arc::new(SqsQueue::new(client, url, dlq_url)), name, dlq_arn)
}

macro_rules! sqs_queue_contract {
    ($($name:ident),*) => {
        mod sqs {
            $(
                #[tokio::test]
                async fn $name() {
                    let (q, _, _) = super::sqs_queue(3).await;
                    crate::queue::$name(q).await;
                }
            )*
        }
    };
}

sqs_queue_contract!(
    delivers_what_was_sent_once_while_invisible,
    visibility_expiry_redelivers_with_a_higher_count,
    ack_deletes,
    change_visibility_zero_releases_at_once,
    delayed_messages_wait,
    batch_receive_respects_max,
    dead_letters_after_max_receives
);

#[tokio::test]
async fn sqs_worker_run_fills_its_slots_and_returns_cut_off_jobs_on_shutdown() {
    let (q, _, _) = sqs_queue(5).await;
    crate::worker::run_fills_its_slots_and_returns_cut_off_jobs_on_shutdown(q).await;
}

#[tokio::test]
async fn secrets_manager_round_trip_replace_delete_and_scope() {
    let cfg = aws_config().await;
    let v: Arc<dyn Vault> = Arc::new(SecretsManagerVault::new(
        aws_sdk_secretsmanager::Client::new(&cfg),
        unique("operator"),
        None,
    ));
    crate::vault::round_trip_replace_delete_and_scope(v).await;
}

mod eventbridge {
    use super::*;
    use operator_core::domain::*;
    use operator_core::ids::*;

    fn automation(cron: &str, tz: &str, enabled: bool) -> Automation {
        let now = chrono::Utc::now();
        Automation {
            id: AutomationId::generate(),
            account_id: AccountId::generate(),
            name: "brief".into(),
            prompt: "p".into(),
            cron: CronExpr::parse(cron).unwrap(),
            timezone: TimeZoneName::parse(tz).unwrap(),
            enabled,
            next_run_at: None,
            chat_id: ChatId::generate(),
            created_at: now,
            updated_at: now,
        }
    }

    pub(super) async fn setup() -> (
        EventBridgeScheduler,
        aws_sdk_scheduler::Client,
        ScheduleTarget,
    ) {
        let cfg = aws_config().await;
        let client = aws_sdk_scheduler::Client::new(&cfg);
        let group = unique("operator");
        client
            .create_schedule_group()
            .name(&group)
            .send()
            .await
            .unwrap();
        let target = ScheduleTarget {
            group,
            queue_arn: "arn:aws:sqs:us-east-1:123456789012:operator-jobs".into(),
            dlq_arn: "arn:aws:sqs:us-east-1:123456789012:operator-jobs-dlq".into(),
            role_arn: "arn:aws:iam::123456789012:role/operator-scheduler".into(),
        };
        (
            EventBridgeScheduler::new(client.clone(), target.clone()),
            client,
            target,
        )
    }

    #[tokio::test]
    async fn a_schedule_per_automation_with_converted_cron_zone_and_job_input() {
        let (s, client, target) = setup().await;
        let a = automation("0 9 * * 1-5", "America/New_York", true);
        s.upsert(&a).await.unwrap();
        let name = EventBridgeScheduler::schedule_name(&a.account_id, &a.id, 0);
        assert!(name.len() <= 64);
        let got = client
            .get_schedule()
            .name(&name)
            .group_name(&target.group)
            .send()
            .await
            .unwrap();
        assert_eq!(got.schedule_expression(), Some("cron(0 9 ? * 2-6 *)"));
        assert_eq!(got.schedule_expression_timezone(), Some("America/New_York"));
        assert_eq!(
            got.state(),
            Some(&aws_sdk_scheduler::types::ScheduleState::Enabled)
        );
        assert_eq!(
            got.flexible_time_window().unwrap().mode(),
            &aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off
        );
        let t = got.target().unwrap();
        assert_eq!(t.arn(), target.queue_arn);
        assert_eq!(t.role_arn(), target.role_arn);
        let input: serde_json::Value = serde_json::from_str(t.input().unwrap()).unwrap();
        assert_eq!(input["type"], "AutomationFire");
        assert_eq!(input["automationId"], a.id.as_str());
        assert_eq!(input["scheduledFor"], "<aws.scheduler.scheduled-time>");
        // the input is a Job the worker understands
        let mut concrete = input.clone();
        concrete["scheduledFor"] = serde_json::json!("2026-03-09T13:00:00Z");
        let job: operator_core::jobs::Job = serde_json::from_value(concrete).unwrap();
        assert!(matches!(
            job,
            operator_core::jobs::Job::AutomationFire { .. }
        ));

        // update: disabled, both day fields → two schedules; then remove
        let mut b = a.clone();
        b.enabled = false;
        b.cron = CronExpr::parse("0 9 13 * 5").unwrap();
        s.upsert(&b).await.unwrap();
        let first = client
            .get_schedule()
            .name(&name)
            .group_name(&target.group)
            .send()
            .await
            .unwrap();
        assert_eq!(
            first.state(),
            Some(&aws_sdk_scheduler::types::ScheduleState::Disabled)
        );
        assert_eq!(first.schedule_expression(), Some("cron(0 9 13 * ? *)"));
        let second_name = EventBridgeScheduler::schedule_name(&a.account_id, &a.id, 1);
        let second = client
            .get_schedule()
            .name(&second_name)
            .group_name(&target.group)
            .send()
            .await
            .unwrap();
        assert_eq!(second.schedule_expression(), Some("cron(0 9 ? * 6 *)"));
        s.remove(&a.account_id, &a.id).await.unwrap();
        s.remove(&a.account_id, &a.id).await.unwrap();
        assert!(client
            .get_schedule()
            .name(&name)
            .group_name(&target.group)
            .send()
            .await
            .is_err());
        assert!(client
            .get_schedule()
            .name(&second_name)
            .group_name(&target.group)
            .send()
            .await
            .is_err());
    }
}

mod ecs {
    use super::*;
    use operator_aws::{EcsRuntime, EcsSettings};
    use operator_core::domain::*;
    use operator_core::ids::*;
    use operator_core::ports::{InstanceRuntime, InstanceSpec, RuntimeStatus};

    use crate::support::aws_env::{ec2_first, register_instance_task};

    fn spec() -> InstanceSpec {
        let now = chrono::Utc::now();
        let mut env = std::collections::BTreeMap::new();
        env.insert("REGION".to_owned(), "eu".to_owned());
        InstanceSpec {
            instance: Instance {
                id: InstanceId::generate(),
                account_id: AccountId::generate(),
                name: InstanceName::parse("weather-desk").unwrap(),
                kind: InstanceKind::Prebuilt,
                status: InstanceStatus::Provisioning,
                status_reason: None,
                image_tag: "t".into(),
                checkpoint_repo: None,
                env: EnvMap::parse(env).unwrap(),
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
            token: "inst_x.tokentokentokentoken".to_owned().into(),
            control_url: "https://api.example.com".into(),
            env: vec![
                ("REGION".into(), "eu".to_owned().into()),
                (
                    "GITHUB_TOKEN".into(),
                    "ghp_must_not_be_in_overrides".to_owned().into(),
                ),
            ],
        }
    }

    #[tokio::test]
    async fn ecs_runtime_start_once_stop_twice() {
        let rt = runtime().await.0;
        crate::runtime::start_once_stop_twice(Arc::new(rt)).await;
    }

    async fn runtime() -> (EcsRuntime, aws_sdk_ecs::Client, String) {
        let cfg = aws_config().await;
        let client = aws_sdk_ecs::Client::new(&cfg);
        let cluster = unique("operator");
        client
            .create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .unwrap();
        let family = unique("operator-instance");
        register_instance_task(&client, &family).await;
        let rt = EcsRuntime::new(
            client.clone(),
            EcsSettings {
                cluster: cluster.clone(),
                task_definition: family,
                container: "instance".into(),
                subnets: vec![ec2_first("DescribeSubnets", "subnetId").await],
                security_groups: vec![ec2_first("DescribeSecurityGroups", "groupId").await],
                assign_public_ip: false,
                port: 8080,
            },
            reqwest::Client::new(),
        );
        (rt, client, cluster)
    }

    #[tokio::test]
    async fn fargate_tasks_carry_overrides_tags_and_are_started_once_and_stopped() {
        let (rt, client, cluster) = runtime().await;
        let spec = spec();
        let first = rt.start(&spec).await.unwrap();
        // no container runs in the emulator: the task exists but is not reachable
        assert_eq!(first, RuntimeStatus::Starting);
        let again = rt.start(&spec).await.unwrap();
        assert_eq!(again, RuntimeStatus::Starting);
        let arns = client
            .list_tasks()
            .cluster(&cluster)
            .started_by(spec.instance.id.as_str())
            .send()
            .await
            .unwrap()
            .task_arns
            .unwrap();
        assert_eq!(
            arns.len(),
            1,
            "a redelivered start must not start a second task"
        );
        let task = client
            .describe_tasks()
            .cluster(&cluster)
            .tasks(&arns[0])
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .unwrap()
            .tasks
            .unwrap()
            .remove(0);
        assert_eq!(
            task.launch_type(),
            Some(&aws_sdk_ecs::types::LaunchType::Fargate)
        );
        assert_eq!(task.started_by(), Some(spec.instance.id.as_str()));
        let env: std::collections::HashMap<String, String> =
            task.overrides().unwrap().container_overrides()[0]
                .environment()
                .iter()
                .map(|kv| {
                    (
                        kv.name().unwrap().to_owned(),
                        kv.value().unwrap().to_owned(),
                    )
                })
                .collect();
        assert_eq!(env["OPERATOR_INSTANCE_ID"], spec.instance.id.as_str());
        assert_eq!(env["OPERATOR_CONTROL_URL"], "https://api.example.com");
        assert_eq!(
            env["OPERATOR_INSTANCE_TOKEN"],
            "inst_x.tokentokentokentoken"
        );
        assert_eq!(env["REGION"], "eu");
        assert!(
            !env.contains_key("GITHUB_TOKEN"),
            "secret values stay out of task overrides"
        );
        let tags: std::collections::HashMap<&str, &str> = task
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(tags["operator:instance"], spec.instance.id.as_str());
        assert_eq!(tags["operator:account"], spec.instance.account_id.as_str());
        // stop: the task is stopped and the instance reads as stopped
        rt.stop(&spec.instance.id).await.unwrap();
        let task = client
            .describe_tasks()
            .cluster(&cluster)
            .tasks(&arns[0])
            .send()
            .await
            .unwrap()
            .tasks
            .unwrap()
            .remove(0);
        assert_eq!(task.desired_status(), Some("STOPPED"));
        rt.destroy(&spec.instance.id).await.unwrap();
    }
}

/// A fresh table for one test.
pub async fn dynamo_store() -> Arc<dyn operator_core::ports::Store> {
    let cfg = aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let table = unique("operator");
    operator_aws::DynamoStore::create_table(&client, &table)
        .await
        .unwrap();
    Arc::new(operator_aws::DynamoStore::new(client, table))
}

macro_rules! dynamo_store_contract {
    ($($name:ident),*) => {
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    let s = super::dynamo_store().await;
                    crate::store::$name(s).await;
                }
            )*
        }
    };
}

dynamo_store_contract!(
    accounts_and_keys,
    instances_capacity_names_and_scope,
    secrets_and_grants,
    automations_due_and_runs_once_per_slot,
    webhooks_tokens_and_delivery_dedup,
    idempotency_key_lifecycle,
    chats_turns_events_and_leases,
    llm_usage_is_summed_per_instance_over_the_window
);

#[tokio::test]
async fn eventbridge_upsert_and_remove_are_idempotent() {
    let (s, _, _) = eventbridge::setup().await;
    crate::runtime::upsert_and_remove_are_idempotent(Arc::new(s)).await;
}
