//! AWS mode on the emulator: provisions the resources a deployment has (table, queues,
//! schedule group, cluster, task definition) and the environment the binaries read.
#![allow(dead_code)]

use super::emulator::{aws_config, emulator, unique};
use aws_sdk_sqs::types::QueueAttributeName;

pub struct AwsEnv {
    pub env: Vec<(&'static str, String)>,
    pub cfg: aws_config::SdkConfig,
    pub table: String,
    pub agent_queue_url: String,
    pub cluster: String,
    pub group: String,
}

async fn queue_pair(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String, String, String) {
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = |url: String| async move {
        sqs.get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone()
    };
    let dlq_arn = arn(dlq.clone()).await;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let url_arn = arn(url.clone()).await;
    (url, url_arn, dlq, dlq_arn)
}

/// First `<tag>` value of an EC2 Query API call on the emulator (it routes by the
/// credential scope, so no real signature is needed).
pub async fn ec2_first(action: &str, tag: &str) -> String {
    let body = reqwest::Client::new()
        .post(&emulator().url)
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("Action={action}&Version=2016-11-15"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned()
}

pub async fn provision(public_url: &str) -> AwsEnv {
    let cfg = aws_config().await;
    let prefix = unique("op");
    let table = format!("{prefix}-table");
    operator_aws::DynamoStore::create_table(&aws_sdk_dynamodb::Client::new(&cfg), &table)
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let (agent, agent_arn, agent_dlq, agent_dlq_arn) =
        queue_pair(&sqs, &format!("{prefix}-agent")).await;
    let (lifecycle, _, lifecycle_dlq, _) = queue_pair(&sqs, &format!("{prefix}-lifecycle")).await;
    let group = format!("{prefix}-schedules");
    aws_sdk_scheduler::Client::new(&cfg)
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .unwrap();
    let ecs = aws_sdk_ecs::Client::new(&cfg);
    let cluster = format!("{prefix}-cluster");
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let family = format!("{prefix}-instance");
    register_instance_task(&ecs, &family).await;
    let env = vec![
        ("OPERATOR_AWS_ENDPOINT_URL", emulator().url.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("OPERATOR_TABLE", table.clone()),
        ("OPERATOR_AGENT_QUEUE_URL", agent.clone()),
        ("OPERATOR_AGENT_DLQ_URL", agent_dlq),
        ("OPERATOR_AGENT_QUEUE_ARN", agent_arn),
        ("OPERATOR_AGENT_DLQ_ARN", agent_dlq_arn),
        ("OPERATOR_LIFECYCLE_QUEUE_URL", lifecycle),
        ("OPERATOR_LIFECYCLE_DLQ_URL", lifecycle_dlq),
        ("OPERATOR_SCHEDULE_GROUP", group.clone()),
        (
            "OPERATOR_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/operator-scheduler".into(),
        ),
        ("OPERATOR_SECRET_PREFIX", prefix.clone()),
        ("OPERATOR_ECS_CLUSTER", cluster.clone()),
        ("OPERATOR_INSTANCE_TASK_DEFINITION", family),
        (
            "OPERATOR_INSTANCE_SUBNETS",
            ec2_first("DescribeSubnets", "subnetId").await,
        ),
        (
            "OPERATOR_INSTANCE_SECURITY_GROUPS",
            ec2_first("DescribeSecurityGroups", "groupId").await,
        ),
        ("OPERATOR_PUBLIC_URL", public_url.to_owned()),
        (
            "OPERATOR_TOKEN_KEY",
            "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=".into(),
        ),
    ];
    AwsEnv {
        env,
        cfg,
        table,
        agent_queue_url: agent,
        cluster,
        group,
    }
}

/// A binary built beside `operator` (`cargo test --workspace` builds them all).
pub fn sibling_binary(name: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_BIN_EXE_operator")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is not built: run cargo build --workspace",
        p.display()
    );
    p
}

/// The instance task definition (Fargate, awsvpc; container sizes the emulator needs).
pub async fn register_instance_task(ecs: &aws_sdk_ecs::Client, family: &str) {
    ecs.register_task_definition()
        .family(family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("instance")
                .image("operator-instance:test")
                .cpu(512)
                .memory(1024)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
}
