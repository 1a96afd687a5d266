//! AWS adapters for the ports of `operator-core`: SQS job queues, Secrets Manager vault,
//! EventBridge Scheduler, ECS Fargate runtime, and the DynamoDB store. One `aws_config` per
//! process, with an optional endpoint override (the emulator in tests).

pub mod cron;
pub mod dynamo;
pub mod ecs;
pub mod efs;
pub mod platform;
pub mod scheduler;
pub mod secrets;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use ecs::{EcsRuntime, EcsSettings};
pub use efs::{EfsSettings, Workspaces};
pub use scheduler::{EventBridgeScheduler, ScheduleTarget};
pub use secrets::SecretsManagerVault;
pub use sqs::SqsQueue;

/// Loads the shared AWS configuration once; `endpoint_url` points every client at an
/// emulator (or a VPC endpoint).
pub async fn load_config(
    endpoint_url: Option<&str>,
    region: Option<&str>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    loader.load().await
}
