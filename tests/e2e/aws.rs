//! AWS mode end to end on the emulator: the API Lambda binary (through a Lambda Runtime API
//! emulator), the worker binary on SQS, DynamoDB, Secrets Manager, ECS and EventBridge
//! Scheduler, and the scripted fake LLM.

use crate::support::aws_env::{provision, sibling_binary};
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::lambda::RuntimeApi;
use crate::support::*;
use operator_core::ports::{AccountStore, InstanceStore};
use operator_local::signal::{send_signal, Signal};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

pub(crate) struct Proc(Child);

impl Proc {
    /// SIGTERM, then the exit status if it comes within `within`.
    fn terminate(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        if let Err(e) = send_signal(self.0.id(), Signal::Term) {
            eprintln!("SIGTERM to {}: {e}", self.0.id());
        }
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Already gone (ESRCH) is fine: the wait below then returns at once.
        let _ = send_signal(self.0.id(), Signal::Term);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn spawn(bin: &str, env: &[(&str, String)], log: &std::path::Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    let mut cmd = Command::new(sibling_binary(bin));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc(cmd.spawn().unwrap())
}

/// Waits (up to 60 s) until `queue_url` has no message: none visible, none received and not
/// yet deleted (in flight), none delayed. A job is deleted only once its handler is done.
async fn agent_queue_drained(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Option<()> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let counts: &[A] = &[
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ];
    eventually(60, || async move {
        let out = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .set_attribute_names(Some(counts.to_vec()))
            .send()
            .await
            .ok()?;
        let attrs = out.attributes()?;
        counts
            .iter()
            .all(|k| attrs.get(k).map(String::as_str) == Some("0"))
            .then_some(())
    })
    .await
}

fn frames_of(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| {
            if d == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(d).unwrap()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_platform_runs_end_to_end_on_lambda_sqs_dynamodb_ecs_and_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "weather-desk"}),
        )]),
        Reply::Text("Created weather-desk.".into()),
        Reply::Text("Morning brief done.".into()),
        Reply::Text("Handled the push.".into()),
    ])
    .await;
    let aws = provision("https://abc123.lambda-url.us-east-1.on.aws").await;
    let mut env = aws.env.clone();
    env.extend(llm.openai_env());

    // GIVEN an account and key in the DynamoDB table
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
    let auth = format!("Bearer {key}");

    // AND the worker and the API function running
    let mut worker = spawn("worker", &env, &dir.path().join("worker.log"));
    let lambda = RuntimeApi::start().await;
    let mut fenv = env.clone();
    fenv.extend(lambda.env());
    // As deployed (infra/template.yaml): a function cannot be configured with its own
    // Function URL, so it has no OPERATOR_PUBLIC_URL and takes it from the request's Host.
    fenv.retain(|(k, _)| *k != "OPERATOR_PUBLIC_URL");
    let _function = spawn("api", &fenv, &dir.path().join("api.log"));

    // WHEN the API is called through Lambda (first with no Host to take its URL from: the
    // caller's fault, answered with the API's error body, and the function serves on)
    let hostless = lambda.invoke_with("GET", "/api/health", &[], None).await;
    assert_eq!(hostless.status, 400);
    assert_eq!(hostless.json().await["error"]["code"], "invalid_request");
    let health = lambda.invoke("GET", "/api/health", &[], None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json().await["ok"], true);
    let unauth = lambda.invoke("GET", "/api/instances", &[], None).await;
    assert_eq!(unauth.status, 401);
    assert_eq!(unauth.json().await["error"]["code"], "unauthorized");
    // The web console comes through the same function, with its policy
    let console = lambda.invoke("GET", "/instances", &[], None).await;
    assert_eq!(console.status, 200);
    assert!(console.headers["content-security-policy"].contains("script-src 'self'"));
    assert!(console.text().await.contains("/console/app.js"));
    let module = lambda.invoke("GET", "/console/app.js", &[], None).await;
    assert_eq!(module.status, 200);
    assert!(module.headers["content-type"].starts_with("text/javascript"));

    // A chat turn: queued on SQS, run by the worker, streamed back by the function
    let chat = lambda
        .invoke(
            "POST",
            "/api/chat",
            &[("authorization", &auth), ("content-type", "application/json")],
            Some(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "Create an instance called weather-desk."}]}]}).to_string()),
        )
        .await;
    assert_eq!(chat.status, 200);
    assert_eq!(
        chat.headers.get("content-type").map(String::as_str),
        Some("text/event-stream")
    );
    assert_eq!(
        chat.headers
            .get("x-vercel-ai-ui-message-stream")
            .map(String::as_str),
        Some("v1")
    );
    let frames = frames_of(&chat.text().await);
    let types: Vec<String> = frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("[DONE]").to_owned())
        .collect();
    assert!(
        types.contains(&"tool-output-available".to_owned()),
        "{types:?}"
    );
    assert_eq!(types.last().unwrap(), "[DONE]");
    let instance_id = frames
        .iter()
        .find(|f| f["type"] == "tool-output-available")
        .unwrap()["output"]["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // THEN an ECS task was started for it with the right overrides and tags
    let ecs = aws_sdk_ecs::Client::new(&aws.cfg);
    let tasks_of_instance = || async {
        ecs.list_tasks()
            .cluster(&aws.cluster)
            .started_by(&instance_id)
            .send()
            .await
            .ok()
            .and_then(|out| out.task_arns)
            .unwrap_or_default()
    };
    let arns = eventually(30, || async {
        let arns = tasks_of_instance().await;
        (!arns.is_empty()).then_some(arns)
    })
    .await
    .expect("an ECS task for the instance");
    assert_eq!(arns.len(), 1);
    let task = ecs
        .describe_tasks()
        .cluster(&aws.cluster)
        .tasks(&arns[0])
        .include(aws_sdk_ecs::types::TaskField::Tags)
        .send()
        .await
        .unwrap()
        .tasks
        .unwrap()
        .remove(0);
    let overrides = task.overrides().unwrap().container_overrides()[0]
        .environment()
        .to_vec();
    let env_of = |k: &str| {
        overrides
            .iter()
            .find(|kv| kv.name() == Some(k))
            .and_then(|kv| kv.value())
            .map(str::to_owned)
    };
    assert_eq!(
        env_of("OPERATOR_INSTANCE_ID").as_deref(),
        Some(instance_id.as_str())
    );
    assert_eq!(
        env_of("OPERATOR_CONTROL_URL").as_deref(),
        Some("https://abc123.lambda-url.us-east-1.on.aws")
    );
    assert!(task
        .tags()
        .iter()
        .any(|t| t.key() == Some("operator:account") && t.value() == Some(account.id.as_str())));

    // A crash: the instance's task stops on its own. In AWS the stack's EventBridge rule
    // renders this InstanceExited job onto the lifecycle queue (infra/tests check the
    // rule's template against the job's fields); the emulator emits no task-state events,
    // so the test delivers the job as the rule would. The instance must be active first:
    // the emulator's task has no instance behind it to pass the health check.
    let id = operator_core::ids::InstanceId::from_trusted(&instance_id);
    let mut inst = store.find_instance(&id).await.unwrap();
    inst.status = operator_core::domain::InstanceStatus::Active;
    inst.active_since = Some(chrono::Utc::now());
    store.update_instance(&inst).await.unwrap();
    ecs.stop_task()
        .cluster(&aws.cluster)
        .task(&arns[0])
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
            json!({"type": "InstanceExited", "instanceId": instance_id, "reason": "Essential container in task exited"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    // THEN the worker records the crash and starts a new task for the instance
    let restarted = eventually(30, || async {
        let i = store.find_instance(&id).await.ok()?;
        let tasks = tasks_of_instance().await;
        (i.restarts == 1 && tasks.iter().any(|t| *t != arns[0])).then_some(i)
    })
    .await
    .expect("the crashed instance was restarted in a new task");
    assert_eq!(
        restarted.status_reason.as_deref(),
        Some("instance process exited: Essential container in task exited")
    );

    // An automation: a schedule with the converted cron and zone
    let created = lambda
        .invoke(
            "POST",
            "/api/automations",
            &[("authorization", &auth), ("content-type", "application/json")],
            Some(&json!({"name": "brief", "prompt": "Send the morning brief", "cronExpression": "0 9 * * 1-5", "timezone": "America/New_York"}).to_string()),
        )
        .await;
    assert_eq!(created.status, 201);
    let auto = created.json().await["automation"].clone();
    let auto_id = auto["id"].as_str().unwrap().to_owned();
    let scheduler = aws_sdk_scheduler::Client::new(&aws.cfg);
    let name = operator_aws::EventBridgeScheduler::schedule_name(
        &account.id,
        &operator_core::ids::AutomationId::from_trusted(&auto_id),
        0,
    );
    let schedule = scheduler
        .get_schedule()
        .name(&name)
        .group_name(&aws.group)
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.schedule_expression(), Some("cron(0 9 ? * 2-6 *)"));
    assert_eq!(
        schedule.schedule_expression_timezone(),
        Some("America/New_York")
    );
    // The emulator does not fire schedules: deliver the target input as EventBridge would,
    // twice (a duplicate delivery), and expect one run that succeeds.
    let input = schedule
        .target()
        .unwrap()
        .input()
        .unwrap()
        .replace("<aws.scheduler.scheduled-time>", "2026-11-30T14:00:00Z");
    let sqs = aws_sdk_sqs::Client::new(&aws.cfg);
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&aws.agent_queue_url)
            .message_body(&input)
            .send()
            .await
            .unwrap();
    }
    let runs = eventually(60, || async {
        let r = lambda
            .invoke(
                "GET",
                &format!("/api/automations/{auto_id}/runs"),
                &[("authorization", &auth)],
                None,
            )
            .await
            .json()
            .await;
        let runs = r["runs"].as_array().cloned().unwrap_or_default();
        (runs.iter().any(|x| x["status"] == "succeeded")).then_some(runs)
    })
    .await
    .expect("the automation ran");
    // Both deliveries are settled once the agent queue holds nothing, visible, in flight or
    // delayed: the duplicate was received and acknowledged, so a second run would exist now.
    agent_queue_drained(&sqs, &aws.agent_queue_url)
        .await
        .expect("the agent queue drains (both deliveries handled) within 60 s");
    let r = lambda
        .invoke(
            "GET",
            &format!("/api/automations/{auto_id}/runs"),
            &[("authorization", &auth)],
            None,
        )
        .await
        .json()
        .await;
    assert_eq!(
        r["runs"].as_array().unwrap().len(),
        1,
        "a duplicate delivery ran twice: {r}"
    );
    assert_eq!(runs[0]["chatId"], auto["chatId"]);
    assert_eq!(runs[0]["scheduledFor"], "2026-11-30T14:00:00.000Z");

    // A webhook trigger: SQS → worker → delivery succeeded
    let w = lambda
        .invoke(
            "POST",
            "/api/webhooks",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(&json!({"name": "gh", "promptTemplate": "GitHub: {{payload}}"}).to_string()),
        )
        .await
        .json()
        .await;
    let token = w["webhook"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        w["webhook"]["url"].as_str().unwrap(),
        format!("https://abc123.lambda-url.us-east-1.on.aws/api/webhooks/trigger/{token}")
    );
    let wh_id = w["webhook"]["id"].as_str().unwrap().to_owned();
    let trig = lambda
        .invoke(
            "POST",
            &format!("/api/webhooks/trigger/{token}"),
            &[("content-type", "application/json")],
            Some(r#"{"ref":"main"}"#),
        )
        .await;
    assert_eq!(trig.status, 202);
    let d = eventually(60, || async {
        let l = lambda
            .invoke(
                "GET",
                &format!("/api/webhooks/{wh_id}/deliveries"),
                &[("authorization", &auth)],
                None,
            )
            .await
            .json()
            .await;
        l["deliveries"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["status"] == "succeeded").cloned())
    })
    .await
    .expect("the delivery ran");
    assert_eq!(d["chatId"], w["webhook"]["chatId"]);
    let prompts = serde_json::to_string(&llm.requests()).unwrap();
    assert!(
        prompts.contains(r#"GitHub: {\"ref\":\"main\"}"#),
        "{prompts}"
    );

    // AND on SIGTERM the worker stops receiving and exits 0
    let status = worker
        .terminate(std::time::Duration::from_secs(30))
        .expect("the worker exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_function_that_cannot_start_tells_the_lambda_runtime_why() {
    // GIVEN the API function on Lambda with its table not configured
    let dir = tempfile::tempdir().unwrap();
    let lambda = RuntimeApi::start().await;
    let mut env = lambda.env();
    env.push((
        "OPERATOR_PUBLIC_URL",
        "https://abc123.lambda-url.us-east-1.on.aws".into(),
    ));
    let mut function = spawn("api", &env, &dir.path().join("api.log"));
    // THEN it reports its init error to the runtime, naming what is missing, and exits
    let reported = eventually(30, || async { lambda.init_errors().into_iter().next() })
        .await
        .expect("an init error reported to the runtime");
    assert_eq!(reported.0, "Runtime.InitError");
    let body: Value = serde_json::from_str(&reported.1).unwrap();
    assert_eq!(body["errorType"], "Runtime.InitError");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("OPERATOR_TABLE must be set"),
        "{body}"
    );
    let exited = function.terminate(std::time::Duration::from_secs(10));
    assert!(exited.is_some_and(|s| !s.success()), "{exited:?}");
}
