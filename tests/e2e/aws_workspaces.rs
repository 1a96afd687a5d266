//! AWS instances that survive (issue 18), end to end on the emulator: the worker and the API
//! function binaries, DynamoDB, SQS, ECS and EFS on moto, and real `operator-instance`
//! processes standing in for the Fargate tasks (support/fargate.rs: it starts one per task
//! the emulator reports running, with the workspace the task's access point names, and
//! routes the tasks' addresses to them).

use crate::aws::spawn;
use crate::support::aws_env::provision;
use crate::support::fargate::FakeFargate;
use crate::support::lambda::RuntimeApi;
use crate::support::*;
use operator_core::ports::AccountStore;
use serde_json::{json, Value};
use std::sync::Arc;

struct Api {
    lambda: Arc<RuntimeApi>,
    auth: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let out = self
            .lambda
            .invoke(
                method,
                path,
                &[
                    ("authorization", &self.auth),
                    ("content-type", "application/json"),
                ],
                body.as_deref(),
            )
            .await;
        let status = out.status;
        let text = out.text().await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The instance once `ok` holds for it (within 90 s).
    async fn instance_when(&self, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..450 {
            let (_, v) = self
                .call("GET", &format!("/api/instances/{id}"), None)
                .await;
            if ok(&v["instance"]) {
                return v["instance"].clone();
            }
            last = v;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("instance {id} never became {what}: {last}");
    }

    async fn active(&self, id: &str) -> Value {
        self.instance_when(id, "active", |i| i["status"] == "active")
            .await
    }

    async fn read(&self, id: &str, path: &str) -> String {
        let (s, v) = self
            .call(
                "GET",
                &format!("/api/instances/{id}/files?path={path}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["content"].as_str().unwrap_or_default().to_owned()
    }
}

fn tag<'a>(tags: &'a [aws_sdk_ecs::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// Every task of the instance, stopped ones included (the emulator lists them all).
async fn tasks_of(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    id: &str,
) -> Vec<aws_sdk_ecs::types::Task> {
    let arns = ecs
        .list_tasks()
        .cluster(cluster)
        .started_by(id)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    if arns.is_empty() {
        return vec![];
    }
    ecs.describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .include(aws_sdk_ecs::types::TaskField::Tags)
        .send()
        .await
        .unwrap()
        .tasks
        .unwrap_or_default()
}

fn live(tasks: &[aws_sdk_ecs::types::Task]) -> Vec<&aws_sdk_ecs::types::Task> {
    tasks
        .iter()
        .filter(|t| t.desired_status() != Some("STOPPED"))
        .collect()
}

/// A deployment on the emulator with workspaces on EFS: the API function, the worker (with
/// `extra` in their environment), Fargate's part, and an account with a key.
struct Deployment {
    aws: crate::support::aws_env::AwsEnv,
    ecs: aws_sdk_ecs::Client,
    efs: aws_sdk_efs::Client,
    fs_id: String,
    mount: std::path::PathBuf,
    store: operator_aws::DynamoStore,
    api: Api,
    fargate: FakeFargate,
    _procs: Vec<crate::aws::Proc>,
    _dir: tempfile::TempDir,
}

async fn deploy(extra: &[(&'static str, String)]) -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let aws = provision("http://operator.test").await;
    let ecs = aws_sdk_ecs::Client::new(&aws.cfg);
    let efs = aws_sdk_efs::Client::new(&aws.cfg);
    // GIVEN a file system for workspaces (its root stood for by a local directory, of which
    // the worker mounts /instances)
    let fs_id = efs
        .create_file_system()
        .creation_token(crate::support::emulator::unique("workspaces"))
        .encrypted(true)
        .send()
        .await
        .unwrap()
        .file_system_id;
    let efs_root = dir.path().join("efs");
    let mount = efs_root.join("instances");
    std::fs::create_dir_all(&mount).unwrap();
    let store =
        operator_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws.cfg), aws.table.clone());
    let account = operator_core::domain::Account {
        id: operator_core::ids::AccountId::generate(),
        user_id: operator_core::ids::UserId::generate(),
        plan: operator_core::domain::PlanSlug::Pro,
        instance_limit: None,
        token_limit: None,
        created_at: chrono::Utc::now(),
    };
    store.insert_account(&account).await.unwrap();
    let minted = operator_core::domain::mint_key();
    store
        .insert_key(&operator_core::domain::ApiKey {
            id: operator_core::ids::KeyId::generate(),
            account_id: account.id.clone(),
            name: None,
            prefix: minted.prefix.clone(),
            hash: minted.hash.clone(),
            created_at: chrono::Utc::now(),
            last_used_at: None,
        })
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&minted.plaintext).to_owned();

    // AND the API function, the worker, and Fargate's part played for the emulator's tasks
    let lambda = Arc::new(RuntimeApi::start().await);
    let logs = dir.path().join("tasks");
    std::fs::create_dir_all(&logs).unwrap();
    let fargate = FakeFargate::start(
        &aws.cfg,
        &aws.cluster,
        efs_root.clone(),
        lambda.clone(),
        logs,
    )
    .await;
    let mut env = aws.env.clone();
    env.retain(|(k, _)| *k != "OPERATOR_PUBLIC_URL");
    env.extend(fargate.env());
    env.push(("OPERATOR_EFS_FILE_SYSTEM_ID", fs_id.clone()));
    env.push(("OPERATOR_WORKSPACES_DIR", mount.display().to_string()));
    env.extend(extra.iter().cloned());
    let worker = spawn("worker", &env, &dir.path().join("worker.log"));
    let mut fenv = env.clone();
    fenv.extend(lambda.env());
    let function = spawn("api", &fenv, &dir.path().join("api.log"));
    let api = Api {
        lambda: lambda.clone(),
        auth: format!("Bearer {key}"),
    };

    Deployment {
        aws,
        ecs,
        efs,
        fs_id,
        mount,
        store,
        api,
        fargate,
        _procs: vec![worker, function],
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workspaces_survive_restart_crash_and_clone_on_efs_and_a_stopped_launch_is_relaunched() {
    let Deployment {
        aws,
        ecs,
        efs,
        fs_id,
        mount,
        store,
        api,
        fargate,
        _procs: _running,
        _dir,
    } = deploy(&[]).await;
    // WHEN an instance is created, it runs its own task definition: the stack's plus its
    // workspace access point (root /instances/<id>, the image's user) mounted at /workspace
    let (s, v) = api
        .call("POST", "/api/instances", Some(json!({"name": "keeper"})))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["instance"]["id"].as_str().unwrap().to_owned();
    api.active(&id).await;
    let tasks = tasks_of(&ecs, &aws.cluster, &id).await;
    assert_eq!(tasks.len(), 1);
    let base_family = aws
        .env
        .iter()
        .find(|(k, _)| *k == "OPERATOR_INSTANCE_TASK_DEFINITION")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        tasks[0].group(),
        Some(format!("family:{base_family}").as_str())
    );
    let def = ecs
        .describe_task_definition()
        .task_definition(tasks[0].task_definition_arn().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!(
        def.family(),
        Some(format!("{base_family}-{id}").as_str()),
        "{:?}",
        tasks[0].task_definition_arn()
    );
    let mount_point = &def.container_definitions()[0].mount_points()[0];
    assert_eq!(mount_point.source_volume(), Some("workspace"));
    assert_eq!(mount_point.container_path(), Some("/workspace"));
    let volume = def
        .volumes()
        .iter()
        .find(|v| v.name() == Some("workspace"))
        .unwrap();
    let config = volume.efs_volume_configuration().unwrap();
    assert_eq!(config.file_system_id(), fs_id.as_str());
    assert_eq!(
        config.transit_encryption(),
        Some(&aws_sdk_ecs::types::EfsTransitEncryption::Enabled)
    );
    let access_point = config
        .authorization_config()
        .unwrap()
        .access_point_id()
        .unwrap()
        .to_owned();
    let ap = efs
        .describe_access_points()
        .access_point_id(&access_point)
        .send()
        .await
        .unwrap()
        .access_points
        .unwrap()
        .remove(0);
    assert_eq!(
        ap.root_directory().unwrap().path(),
        Some(format!("/instances/{id}").as_str())
    );
    assert_eq!(
        ap.posix_user().map(|u| (u.uid(), u.gid())),
        Some((10001, 10001))
    );
    assert_eq!(ap.file_system_id(), Some(fs_id.as_str()));

    // AND a file written through the API lands in that workspace
    let written = api
        .lambda
        .invoke(
            "PUT",
            &format!("/api/instances/{id}/files?path=notes/today.md"),
            &[("authorization", &api.auth), ("content-type", "text/plain")],
            Some("remember the milk\n"),
        )
        .await;
    assert_eq!(written.status, 200);
    assert_eq!(
        std::fs::read_to_string(mount.join(&id).join("notes/today.md")).unwrap(),
        "remember the milk\n"
    );

    // THEN a restart runs a new task on the same workspace: the file is there
    let (s, v) = api
        .call("POST", &format!("/api/instances/{id}/restart"), None)
        .await;
    assert_eq!(s, 202, "{v}");
    let first_task = tasks[0].task_arn().unwrap().to_owned();
    eventually(90, || async {
        let t = tasks_of(&ecs, &aws.cluster, &id).await;
        (live(&t).len() == 1 && live(&t)[0].task_arn() != Some(first_task.as_str())).then_some(())
    })
    .await
    .expect("the restart ran a new task");
    api.active(&id).await;
    assert_eq!(api.read(&id, "notes/today.md").await, "remember the milk\n");

    // AND so does a crash: the task stops on its own (the stack's rule renders the job)
    let current = live(&tasks_of(&ecs, &aws.cluster, &id).await)[0]
        .task_arn()
        .unwrap()
        .to_owned();
    ecs.stop_task()
        .cluster(&aws.cluster)
        .task(&current)
        .reason("Essential container in task exited")
        .send()
        .await
        .unwrap();
    let lifecycle_url = aws
        .env
        .iter()
        .find(|(k, _)| *k == "OPERATOR_LIFECYCLE_QUEUE_URL")
        .unwrap()
        .1
        .clone();
    aws_sdk_sqs::Client::new(&aws.cfg)
        .send_message()
        .queue_url(&lifecycle_url)
        .message_body(
            json!({"type": "InstanceExited", "instanceId": id, "reason": "Essential container in task exited"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let iid = operator_core::ids::InstanceId::from_trusted(&id);
    eventually(90, || async {
        let i = operator_core::ports::InstanceStore::find_instance(&store, &iid)
            .await
            .ok()?;
        (i.restarts == 1 && i.status == operator_core::domain::InstanceStatus::Active).then_some(())
    })
    .await
    .expect("the crashed instance is active again in a new task");
    assert_eq!(api.read(&id, "notes/today.md").await, "remember the milk\n");

    // AND a clone gets a copy of the workspace, behind an access point of its own
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/instances/{id}/clone"),
            Some(json!({"name": "keeper-copy"})),
        )
        .await;
    assert!(s == 201 || s == 202, "{s} {v}");
    let copy = v["instance"]["id"].as_str().unwrap().to_owned();
    api.active(&copy).await;
    assert_eq!(
        api.read(&copy, "notes/today.md").await,
        "remember the milk\n"
    );
    let copy_tasks = tasks_of(&ecs, &aws.cluster, &copy).await;
    let copy_def = ecs
        .describe_task_definition()
        .task_definition(copy_tasks[0].task_definition_arn().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let copy_ap = operator_aws::EcsRuntime::access_point_of(&copy_def).unwrap();
    assert_ne!(copy_ap, access_point);

    // AND deleting the clone removes its workspace, access point and task definition once
    // its task has stopped; the original keeps its own
    let (s, v) = api
        .call("DELETE", &format!("/api/instances/{copy}"), None)
        .await;
    assert!(s == 200 || s == 202, "{s} {v}");
    eventually(60, || async {
        let gone = !mount.join(&copy).exists();
        let ap_gone = efs
            .describe_access_points()
            .access_point_id(&copy_ap)
            .send()
            .await
            .is_err();
        (gone && ap_gone).then_some(())
    })
    .await
    .expect("the clone's workspace and access point are removed");
    let family = ecs
        .describe_task_definition()
        .task_definition(format!("{base_family}-{copy}"))
        .send()
        .await;
    assert!(
        family.map_or(true, |o| o
            .task_definition
            .and_then(|d| d.status)
            .map(|s| s.as_str().to_owned())
            == Some("INACTIVE".into())),
        "the clone's task definition is deregistered"
    );
    assert!(live(&tasks_of(&ecs, &aws.cluster, &copy).await).is_empty());
    assert!(mount.join(&id).join("notes/today.md").exists());

    // AND a task that stops while starting puts its reason in statusReason, and the start
    // launches again under a new client token
    fargate.pause(true);
    let (s, v) = api
        .call("POST", "/api/instances", Some(json!({"name": "doomed"})))
        .await;
    assert_eq!(s, 201, "{v}");
    let doomed = v["instance"]["id"].as_str().unwrap().to_owned();
    let first = eventually(30, || async {
        tasks_of(&ecs, &aws.cluster, &doomed)
            .await
            .into_iter()
            .next()
    })
    .await
    .expect("a task for the new instance");
    ecs.stop_task()
        .cluster(&aws.cluster)
        .task(first.task_arn().unwrap())
        .reason("CannotPullContainerError: pull image manifest has been retried 5 time(s)")
        .send()
        .await
        .unwrap();
    let waiting = api
        .instance_when(&doomed, "told why its launch stopped", |i| {
            i["statusReason"]
                .as_str()
                .is_some_and(|r| r.contains("CannotPullContainerError"))
        })
        .await;
    assert_eq!(waiting["status"], "provisioning", "{waiting}");
    fargate.pause(false);
    api.active(&doomed).await;
    let launches: std::collections::BTreeSet<String> = tasks_of(&ecs, &aws.cluster, &doomed)
        .await
        .iter()
        .filter_map(|t| tag(t.tags(), "operator:launch").map(str::to_owned))
        .collect();
    assert_eq!(
        launches.len(),
        2,
        "two launches, two client tokens: {launches:?}"
    );
    assert!(fargate.started.lock().unwrap().len() >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_claims_a_warm_instance_and_the_pool_refills() {
    // GIVEN a warm pool of 2
    let d = deploy(&[("OPERATOR_WARM_POOL", "prebuilt=2".into())]).await;
    let pool = operator_core::ids::AccountId::from_trusted(operator_core::services::POOL_ACCOUNT);
    let page = operator_core::domain::PageRequest {
        limit: 100,
        cursor: None,
    };
    let ready = || async {
        let items =
            operator_core::ports::InstanceStore::list_instances(&d.store, &pool, &page, false)
                .await
                .ok()?
                .items;
        let active: Vec<_> = items
            .into_iter()
            .filter(|i| i.status == operator_core::domain::InstanceStatus::Active)
            .map(|i| i.id.to_string())
            .collect();
        (active.len() == 2).then_some(active)
    };
    let warm = eventually(90, ready)
        .await
        .expect("the pool fills to 2 active instances");
    let running_before = d.fargate.started.lock().unwrap().clone();
    // WHEN an instance is created
    let (s, v) = d
        .api
        .call("POST", "/api/instances", Some(json!({"name": "quick"})))
        .await;
    assert_eq!(s, 201, "{v}");
    // THEN it is a pooled one, active at once: its task was running before the request
    let id = v["instance"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["instance"]["status"], "active", "{v}");
    assert_eq!(v["instance"]["name"], "quick");
    assert!(warm.contains(&id), "{id} is not one of {warm:?}");
    let tasks = tasks_of(&d.ecs, &d.aws.cluster, &id).await;
    assert_eq!(tasks.len(), 1, "no task was started for the create");
    assert!(
        running_before
            .iter()
            .any(|a| Some(a.as_str()) == tasks[0].task_arn()),
        "its task was running before the create"
    );
    // AND it serves as the caller's, with its own workspace
    assert!(!d.api.read(&id, "AGENTS.md").await.is_empty());
    let (_, list) = d.api.call("GET", "/api/instances", None).await;
    assert_eq!(list["instances"].as_array().unwrap().len(), 1, "{list}");
    // AND the pool is refilled to 2 with a new instance
    let refilled = eventually(90, ready).await.expect("the pool refills to 2");
    assert!(!refilled.contains(&id));
    assert_eq!(refilled.iter().filter(|i| warm.contains(i)).count(), 1);
    let _ = (&d.efs, &d.fs_id, &d.mount, &d.fargate);
}
