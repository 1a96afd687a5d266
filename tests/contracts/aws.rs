//! AWS only: what the AWS adapters do beyond the port contracts (those run on both backends
//! from each suite's single list, see `backends::contracts!`): the EventBridge schedules'
//! shape and the Fargate tasks' overrides and tags, checked on the emulator (moto server).

/// A fresh DynamoDB table (kept here too for suites written against `crate::aws`).
#[allow(unused_imports)]
pub use crate::backends::dynamo_store;

mod eventbridge {
    use operator_aws::EventBridgeScheduler;
    use operator_core::domain::*;
    use operator_core::ids::*;
    use operator_core::ports::Scheduler;

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

    #[tokio::test]
    async fn a_schedule_per_automation_with_converted_cron_zone_and_job_input() {
        let (s, client, target) = crate::backends::eventbridge().await;
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
    use operator_core::domain::*;
    use operator_core::ids::*;
    use operator_core::ports::{InstanceRuntime, InstanceSpec, RuntimeStatus};

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
            launch: 0,
        }
    }

    #[tokio::test]
    async fn fargate_tasks_carry_overrides_tags_and_are_started_once_and_stopped() {
        let (rt, client, cluster) = crate::backends::ecs().await;
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

    /// Tasks of `spec`'s instance (ECS lists stopped ones too when asked), with their tags.
    async fn tasks(
        client: &aws_sdk_ecs::Client,
        cluster: &str,
        spec: &InstanceSpec,
        desired: aws_sdk_ecs::types::DesiredStatus,
    ) -> Vec<aws_sdk_ecs::types::Task> {
        let arns = client
            .list_tasks()
            .cluster(cluster)
            .started_by(spec.instance.id.as_str())
            .desired_status(desired)
            .send()
            .await
            .unwrap()
            .task_arns
            .unwrap_or_default();
        if arns.is_empty() {
            return vec![];
        }
        client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .unwrap()
            .tasks
            .unwrap()
    }

    fn launch_tag(task: &aws_sdk_ecs::types::Task) -> String {
        task.tags()
            .iter()
            .find(|t| t.key() == Some("operator:launch"))
            .and_then(|t| t.value())
            .expect("an operator:launch tag")
            .to_owned()
    }

    #[tokio::test]
    async fn each_launch_has_its_own_client_token_and_a_stopped_launch_reports_why() {
        use aws_sdk_ecs::types::DesiredStatus;
        let (rt, client, cluster) = crate::backends::ecs().await;
        // GIVEN the first launch of an instance, checked on again (a redelivered job)
        let mut spec = spec();
        assert_eq!(rt.start(&spec).await.unwrap(), RuntimeStatus::Starting);
        assert_eq!(rt.start(&spec).await.unwrap(), RuntimeStatus::Starting);
        let first = tasks(&client, &cluster, &spec, DesiredStatus::Running).await;
        assert_eq!(first.len(), 1, "one launch, one task");
        let token0 = launch_tag(&first[0]);
        assert_eq!(token0, operator_aws::EcsRuntime::client_token(&spec));
        // WHEN its task stops on its own while starting
        client
            .stop_task()
            .cluster(&cluster)
            .task(first[0].task_arn().unwrap())
            .reason("CannotPullContainerError: pull image manifest has been retried 5 time(s)")
            .send()
            .await
            .unwrap();
        // THEN checking on that launch reports the stop and its reason, and starts nothing
        match rt.start(&spec).await.unwrap() {
            RuntimeStatus::Stopped { reason: Some(r) } => {
                assert!(r.contains("CannotPullContainerError"), "{r}")
            }
            other => panic!("expected the launch's stop, got {other:?}"),
        }
        assert!(tasks(&client, &cluster, &spec, DesiredStatus::Running)
            .await
            .is_empty());
        match rt.status(&spec.instance.id).await.unwrap() {
            RuntimeStatus::Stopped { reason: Some(r) } => {
                assert!(r.contains("CannotPullContainerError"), "{r}")
            }
            other => panic!("expected stopped with the reason, got {other:?}"),
        }
        // AND the next launch gets a new task under a different client token
        spec.launch = 1;
        assert_eq!(rt.start(&spec).await.unwrap(), RuntimeStatus::Starting);
        let second = tasks(&client, &cluster, &spec, DesiredStatus::Running).await;
        assert_eq!(second.len(), 1);
        let token1 = launch_tag(&second[0]);
        assert_ne!(
            token0, token1,
            "a new launch must not reuse the client token"
        );
        assert_ne!(first[0].task_arn(), second[0].task_arn());
        assert!(
            token0.len() <= 64 && token1.len() <= 64,
            "ECS takes up to 64 characters"
        );
        rt.destroy(&spec.instance.id).await.unwrap();
    }

    #[tokio::test]
    async fn an_openclaw_task_gets_its_own_size_the_image_s_openclaw_and_channels_by_name() {
        // GIVEN an openclaw instance with a Telegram channel whose token is a granted secret
        let (rt, client, cluster) = crate::backends::ecs().await;
        let mut spec = spec();
        spec.instance.kind = InstanceKind::Openclaw;
        spec.instance.config = serde_json::json!({"channels": {"telegram": {
            "botTokenSecret": "TELEGRAM_BOT_TOKEN", "allowFrom": ["123456"]}}});
        spec.env.push((
            "TELEGRAM_BOT_TOKEN".into(),
            "4242:bot-token-must-not-be-in-overrides".to_owned().into(),
        ));
        // WHEN its task starts
        rt.start(&spec).await.unwrap();
        let arns = client
            .list_tasks()
            .cluster(&cluster)
            .started_by(spec.instance.id.as_str())
            .send()
            .await
            .unwrap()
            .task_arns
            .unwrap();
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
        // THEN the task is sized for an OpenClaw gateway, not the default instance size
        let overrides = task.overrides().unwrap();
        assert_eq!(overrides.cpu(), Some("1024"));
        assert_eq!(overrides.memory(), Some("3072"));
        // AND it finds OpenClaw in the image, and its channel names the secret, never the value
        let env: std::collections::HashMap<String, String> = overrides.container_overrides()[0]
            .environment()
            .iter()
            .map(|kv| {
                (
                    kv.name().unwrap().to_owned(),
                    kv.value().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(env["OPERATOR_INSTANCE_KIND"], "openclaw");
        assert_eq!(env["OPERATOR_OPENCLAW_DIR"], "/opt/openclaw");
        let channels: serde_json::Value =
            serde_json::from_str(&env["OPERATOR_OPENCLAW_CHANNELS"]).unwrap();
        assert_eq!(channels["telegram"]["botToken"], "${TELEGRAM_BOT_TOKEN}");
        assert_eq!(
            channels["telegram"]["allowFrom"],
            serde_json::json!(["123456"])
        );
        assert!(!format!("{env:?}").contains("bot-token-must-not-be-in-overrides"));
        rt.destroy(&spec.instance.id).await.unwrap();
    }
}
