//! How each backend builds a fresh adapter for one test, and [`contracts!`], which runs a
//! suite's list of contracts on both backends so that list is written once.
//!
//! The builders `contracts!` calls, `<port>_on_<backend>`, are async and return
//! `(adapter, guard)`: the guard keeps what the adapter lives on (a temp dir) until the test
//! ends. `sqlite_store` and `dynamo_store` keep their earlier shapes for direct use. The AWS builders start the emulator (moto server) on
//! first use and give each test fresh resources (queue, table, schedule group, cluster).

use crate::emulator::{aws_config, unique};
use operator_core::jobs::Job;
use operator_core::ports::{
    InstanceRuntime, JobQueue, ManualClock, ReceivedJob, Scheduler, Store, Vault,
};
use operator_local::{Db, LocalVault, MasterKey, SqliteQueue, SqliteStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Declares a suite's contracts ONCE and runs each on both backends.
///
/// ```ignore
/// contracts! {
///     sqlite: crate::backends::store_on_sqlite,  // names the embedded module and its builder
///     aws: crate::backends::store_on_dynamodb,   // the AWS adapter on the emulator
///     contracts: [accounts_and_keys, secrets_and_grants],
/// }
/// ```
///
/// generates `mod sqlite { #[tokio::test] async fn accounts_and_keys() … }` and the same
/// `mod aws { … }`; each test builds a fresh adapter and calls the suite's
/// `async fn accounts_and_keys(adapter)`. A contract added to the list runs on both. What
/// exists on one backend only (the embedded `SweepStore`, a SQLite file's encryption, a
/// Fargate task's overrides) is a plain `#[tokio::test]` named after its backend
/// (`sqlite_…`, `local_…`, `aws_only_…`, or in `aws.rs`) under a "SQLite only" heading.
/// Contracts written in another file are registered by a `use` of them in the suite's
/// module and their names in its list.
macro_rules! contracts {
    (
        $local:ident: $local_builder:path,
        aws: $aws_builder:path,
        contracts: [$($name:ident),+ $(,)?] $(,)?
    ) => {
        mod $local {
            $(
                #[tokio::test]
                async fn $name() {
                    let (adapter, _guard) = $local_builder().await;
                    super::$name(adapter).await;
                }
            )+
        }
        mod aws {
            $(
                #[tokio::test]
                async fn $name() {
                    let (adapter, _guard) = $aws_builder().await;
                    super::$name(adapter).await;
                }
            )+
        }
    };
}

/// A fresh SQLite database in its own temp dir (kept alive by the returned guard).
pub fn sqlite() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("operator.db")).unwrap();
    (db, dir)
}

// ---------- Store ----------

/// A fresh SQLite store (kept alive by the returned guard).
pub fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let (db, dir) = sqlite();
    (Arc::new(SqliteStore::new(db)), dir)
}

/// A fresh DynamoDB table on the emulator.
pub async fn dynamo_store() -> Arc<dyn Store> {
    dynamo_store_with(&aws_config().await).await
}

/// A fresh DynamoDB table reached with `cfg`.
pub async fn dynamo_store_with(cfg: &aws_config::SdkConfig) -> Arc<dyn Store> {
    let client = aws_sdk_dynamodb::Client::new(cfg);
    let table = unique("operator");
    operator_aws::DynamoStore::create_table(&client, &table)
        .await
        .unwrap();
    Arc::new(operator_aws::DynamoStore::new(client, table))
}

pub async fn store_on_sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    sqlite_store()
}

pub async fn store_on_dynamodb() -> (Arc<dyn Store>, ()) {
    (dynamo_store().await, ())
}

// ---------- Vault ----------

pub async fn vault_on_sqlite() -> (Arc<dyn Vault>, tempfile::TempDir) {
    let (db, dir) = sqlite();
    let key = MasterKey::load_or_create(dir.path(), None).unwrap();
    (Arc::new(LocalVault::open(db, key).await.unwrap()), dir)
}

pub async fn vault_on_secrets_manager() -> (Arc<dyn Vault>, ()) {
    let cfg = aws_config().await;
    let vault = operator_aws::SecretsManagerVault::new(
        aws_sdk_secretsmanager::Client::new(&cfg),
        unique("operator"),
        None,
    );
    (Arc::new(vault), ())
}

// ---------- InstanceRuntime and Scheduler ----------

pub async fn runtime_on_local() -> (Arc<dyn InstanceRuntime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
    let rt = operator_local::LocalRuntime::new(
        dir.path(),
        env!("CARGO_BIN_EXE_operator").into(),
        operator_local::Isolation::detect(),
        events,
    )
    .unwrap();
    (Arc::new(rt), dir)
}

/// ECS on the emulator: a fresh cluster and task definition, the default VPC's network.
pub async fn ecs() -> (operator_aws::EcsRuntime, aws_sdk_ecs::Client, String) {
    use crate::support::aws_env::{ec2_first, register_instance_task};
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
    let rt = operator_aws::EcsRuntime::new(
        client.clone(),
        operator_aws::EcsSettings {
            cluster: cluster.clone(),
            task_definition: family,
            container: "instance".into(),
            subnets: vec![ec2_first("DescribeSubnets", "subnetId").await],
            security_groups: vec![ec2_first("DescribeSecurityGroups", "groupId").await],
            assign_public_ip: false,
            port: 8080,
            openclaw_cpu: "1024".into(),
            openclaw_memory: "3072".into(),
        },
        reqwest::Client::new(),
    );
    (rt, client, cluster)
}

pub async fn runtime_on_ecs() -> (Arc<dyn InstanceRuntime>, ()) {
    (Arc::new(ecs().await.0), ())
}

pub async fn scheduler_on_local() -> (Arc<dyn Scheduler>, ()) {
    (Arc::new(operator_local::LocalScheduler::new()), ())
}

/// EventBridge Scheduler on the emulator, in a fresh schedule group.
pub async fn eventbridge() -> (
    operator_aws::EventBridgeScheduler,
    aws_sdk_scheduler::Client,
    operator_aws::ScheduleTarget,
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
    let target = operator_aws::ScheduleTarget {
        group,
        queue_arn: "arn:aws:sqs:us-east-1:123456789012:operator-jobs".into(),
        dlq_arn: "arn:aws:sqs:us-east-1:123456789012:operator-jobs-dlq".into(),
        role_arn: "arn:aws:iam::123456789012:role/operator-scheduler".into(),
    };
    (
        operator_aws::EventBridgeScheduler::new(client.clone(), target.clone()),
        client,
        target,
    )
}

pub async fn scheduler_on_eventbridge() -> (Arc<dyn Scheduler>, ()) {
    (Arc::new(eventbridge().await.0), ())
}

// ---------- JobQueue ----------

/// A queue under test and how time passes for it, so queue and worker contracts say "let
/// the visibility timeout pass" once and each backend does it without guessing a sleep.
pub struct TestQueue {
    pub queue: Arc<dyn JobQueue>,
    time: QueueTime,
}

enum QueueTime {
    /// SQLite: the queue reads this clock; time passes when the test moves it.
    Manual(Arc<ManualClock>),
    /// SQS on the emulator, in real time. A message sent to `witness` with a delay and
    /// then received proves, on the emulator's own clock, that the delay has passed.
    Real { witness: Arc<dyn JobQueue> },
}

/// Every wait on a real-time backend gives up after this.
const DEADLINE: Duration = Duration::from_secs(30);
/// Between polls of a condition (not a guess of how long anything takes).
const POLL: Duration = Duration::from_millis(50);

impl TestQueue {
    /// Lets `d` pass on the queue's clock. SQLite: moves the clock, at once. SQS: waits
    /// until a witness message sent now with delay `d` (whole seconds, rounded up: SQS
    /// counts delays and visibility in seconds) is received, within [`DEADLINE`].
    pub async fn elapse(&self, d: Duration) {
        match &self.time {
            QueueTime::Manual(clock) => clock.advance(chrono::Duration::from_std(d).unwrap()),
            QueueTime::Real { witness } => {
                let whole = Duration::from_secs(d.as_millis().div_ceil(1000) as u64);
                let sent = witness.send(&witness_job(), whole).await.unwrap();
                let deadline = Instant::now() + whole + DEADLINE;
                loop {
                    let got = witness.receive(10, Duration::from_secs(30)).await.unwrap();
                    for r in &got {
                        witness.ack(&r.receipt).await.unwrap();
                    }
                    if got.iter().any(|r| r.message_id == sent) {
                        return;
                    }
                    assert!(Instant::now() < deadline, "{d:?} never passed on the queue");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Receives until at least `n` jobs came back (in one or more batches, each hidden for
    /// `visibility`). SQLite answers at once; SQS is polled, within [`DEADLINE`].
    pub async fn receive_at_least(&self, n: usize, visibility: Duration) -> Vec<ReceivedJob> {
        let deadline = Instant::now() + DEADLINE;
        let mut got = Vec::new();
        loop {
            // SQS hands out at most 10 per receive.
            let want = u32::try_from((n - got.len()).min(10)).unwrap();
            got.extend(self.queue.receive(want, visibility).await.unwrap());
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "received {} of {n} jobs before the deadline",
                got.len()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether the queue runs on the wall clock (SQS) rather than a clock the test moves.
    pub fn real_time(&self) -> bool {
        matches!(self.time, QueueTime::Real { .. })
    }
}

fn witness_job() -> Job {
    Job::provision(
        operator_core::ids::AccountId::from_trusted("acct_witness"),
        operator_core::ids::InstanceId::from_trusted("inst_witness"),
    )
}

/// A SQLite queue on a manual clock. `max_receive_count` as in the SQS redrive policy.
pub fn sqlite_test_queue(max_receive_count: u32) -> (TestQueue, tempfile::TempDir) {
    let (db, dir) = sqlite();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let queue = SqliteQueue::new(db, "contract", max_receive_count).with_clock(clock.clone());
    (
        TestQueue {
            queue: Arc::new(queue),
            time: QueueTime::Manual(clock),
        },
        dir,
    )
}

/// A fresh SQS queue pair on the emulator (main queue with a redrive policy to its
/// dead-letter queue), and a witness queue to tell time by.
pub async fn sqs_test_queue(max_receive_count: u32) -> TestQueue {
    let cfg = aws_config().await;
    let client = aws_sdk_sqs::Client::new(&cfg);
    let name = unique("jobs");
    let dlq_url = create_queue(&client, &format!("{name}-dlq"), None).await;
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
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()}).to_string();
    let url = create_queue(&client, &name, Some(redrive)).await;
    let witness_url = create_queue(&client, &format!("{name}-witness"), None).await;
    let witness_dlq = create_queue(&client, &format!("{name}-witness-dlq"), None).await;
    TestQueue {
        queue: Arc::new(operator_aws::SqsQueue::new(client.clone(), url, dlq_url)),
        time: QueueTime::Real {
            witness: Arc::new(operator_aws::SqsQueue::new(
                client,
                witness_url,
                witness_dlq,
            )),
        },
    }
}

async fn create_queue(client: &aws_sdk_sqs::Client, name: &str, redrive: Option<String>) -> String {
    let mut req = client.create_queue().queue_name(name);
    if let Some(policy) = redrive {
        req = req.attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            policy,
        );
    }
    req.send().await.unwrap().queue_url.unwrap()
}

/// The queue suite's queues: `max_receive_count` = 3.
pub async fn queue_on_sqlite() -> (TestQueue, tempfile::TempDir) {
    sqlite_test_queue(3)
}

pub async fn queue_on_sqs() -> (TestQueue, ()) {
    (sqs_test_queue(3).await, ())
}

/// The worker suite's queues: `max_receive_count` = 5.
pub async fn worker_queue_on_sqlite() -> (TestQueue, tempfile::TempDir) {
    sqlite_test_queue(5)
}

pub async fn worker_queue_on_sqs() -> (TestQueue, ()) {
    (sqs_test_queue(5).await, ())
}
