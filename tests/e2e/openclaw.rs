//! `openclaw` instances: the real OpenClaw gateway (installed by scripts/install-openclaw.sh,
//! pinned) runs the workspace; its model provider is the platform's LLM gateway (here in
//! front of the scripted fake model), its Telegram channel talks to a scripted fake of the
//! Bot API. One instance serves the whole walk, as a gateway takes 15–30 s and ~1.2 GB to
//! start.

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::{eventually, tail, App, Options};
use serde_json::{json, Value};

const ANSWER: &str = "Five, said the model behind OpenClaw.";

fn openclaw_dir() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../openclaw")
        .display()
        .to_string()
}

/// Whether the fake model was ever sent `text` (anywhere in a request).
fn model_saw(llm: &FakeLlm, text: &str) -> bool {
    llm.requests().iter().any(|r| r.to_string().contains(text))
}

async fn wait_active(app: &App, id: &str) -> Value {
    let got = eventually(300, || async {
        let (_, v) = app.get(&format!("/api/instances/{id}")).await;
        match v["instance"]["status"].as_str() {
            Some("active") => Some(Ok(v)),
            Some("failed") => Some(Err(v)),
            _ => None,
        }
    })
    .await;
    let log = std::fs::read_to_string(app.data_dir.join(format!("instances/{id}/instance.log")))
        .unwrap_or_default();
    match got {
        Some(Ok(v)) => v,
        other => panic!(
            "the openclaw instance did not become active: {other:?}\n{}\n{}",
            tail(&log, 30),
            tail(&app.server_log(), 30)
        ),
    }
}

#[tokio::test]
async fn an_openclaw_instance_answers_through_openclaw_is_metered_and_runs_its_own_cron() {
    // GIVEN a platform with OpenClaw installed, a model that always answers the same, and
    // Telegram's Bot API faked (OpenClaw's `apiRoot`)
    let llm = FakeLlm::start(vec![]).await;
    llm.set_fallback(Reply::Text(ANSWER.into()));
    let tg = FakeTelegram::start().await;
    let mut env = llm.openai_env();
    env.push(("OPERATOR_OPENCLAW_DIR", openclaw_dir()));
    env.push(("OPERATOR_TELEGRAM_API_ROOT", tg.url.clone()));
    let app = App::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await;
    // WHEN an instance of kind openclaw is created
    let (s, v) = app
        .post(
            "/api/instances",
            json!({"name": "claw", "kind": "openclaw"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["instance"]["kind"], "openclaw");
    let id = v["instance"]["id"].as_str().unwrap().to_owned();
    // THEN it becomes active once OpenClaw's gateway answers
    wait_active(&app, &id).await;
    // AND a message is answered by OpenClaw's agent, through the platform's gateway: the
    // model got OpenClaw's request (its own tools, such as `exec`), not our small agent's
    let (s, reply) = app
        .post(
            &format!("/api/instances/{id}/messages"),
            json!({"text": "what is 2 + 3"}),
        )
        .await;
    assert_eq!(s, 200, "{reply}\n{}", tail(&app.server_log(), 20));
    assert_eq!(reply["text"], ANSWER, "{reply}");
    let session = reply["sessionId"].as_str().unwrap().to_owned();
    let asked = llm
        .requests()
        .into_iter()
        .find(|r| r.to_string().contains("what is 2 + 3"))
        .expect("the model was asked");
    let tools: Vec<&str> = asked["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(tools.contains(&"exec"), "not OpenClaw's request: {tools:?}");
    // AND the call was metered for the account
    let tokens = eventually(10, || async {
        let (_, bill) = app.get("/api/billing").await;
        bill["usage"]["tokens"].as_u64().filter(|t| *t > 0)
    })
    .await;
    assert!(tokens.is_some(), "OpenClaw's model call was not metered");
    // AND the activity shows OpenClaw's own transcript of that session
    let (s, act) = app
        .get(&format!("/api/instances/{id}/activity?sessionId={session}"))
        .await;
    assert_eq!(s, 200, "{act}");
    let lines: Vec<Value> = act["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l.as_str().unwrap()).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["role"] == "user" && l.to_string().contains("what is 2 + 3")),
        "{act}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["role"] == "assistant" && l.to_string().contains(ANSWER)),
        "{act}"
    );

    // WHEN a job is added to the instance's own scheduler, due in a few seconds
    let at = (chrono::Utc::now() + chrono::Duration::seconds(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (s, added) = app
        .post(
            &format!("/api/instances/{id}/cron"),
            json!({"name": "aqi-check", "schedule": {"at": at},
                   "message": "CRON_PING check the AQI feed"}),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    let job_id = added["job"]["id"].as_str().unwrap().to_owned();
    // THEN it is listed, beside OpenClaw's own jobs
    let (s, list) = app.get(&format!("/api/instances/{id}/cron")).await;
    assert_eq!(s, 200, "{list}");
    let jobs = list["jobs"].as_array().unwrap();
    let job = jobs
        .iter()
        .find(|j| j["id"] == job_id.as_str())
        .expect("listed");
    assert_eq!(job["name"], "aqi-check");
    assert_eq!(job["builtIn"], false);
    assert_eq!(job["schedule"]["at"], at.as_str(), "{job}");
    // AND it fires inside the instance: the agent turn reaches the model, the run is recorded
    let ran = eventually(120, || async {
        let (_, list) = app.get(&format!("/api/instances/{id}/cron")).await;
        let job = list["jobs"]
            .as_array()?
            .iter()
            .find(|j| j["id"] == job_id.as_str())?
            .clone();
        (job["lastStatus"] == "ok").then_some(job)
    })
    .await;
    assert!(ran.is_some(), "the job never ran ok");
    assert!(model_saw(&llm, "CRON_PING check the AQI feed"));

    // AND a schedule that is not exactly one form is refused before the instance sees it
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/cron"),
            json!({"name": "x", "schedule": {"cron": "0 8 * * *", "everySeconds": 60}, "message": "m"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    // AND an expression OpenClaw cannot read is the caller's error too
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/cron"),
            json!({"name": "x", "schedule": {"cron": "not a cron"}, "message": "m"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");

    // WHEN a Telegram bot is wired to it through the API, before its token secret is granted
    let channels = json!({"channels": {"telegram": {
        "botTokenSecret": "TELEGRAM_BOT_TOKEN", "allowFrom": ["424242"]}}});
    let (s, v) = app
        .put(&format!("/api/instances/{id}"), channels.clone())
        .await;
    // THEN it is refused (a conflict with what the instance has), naming the secret
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TELEGRAM_BOT_TOKEN"),
        "{v}"
    );
    // WHEN the secret exists and is granted
    let token = "4242:fake-bot-token-for-the-test";
    let (_, sec) = app
        .post(
            "/api/secrets",
            json!({"name": "TELEGRAM_BOT_TOKEN", "value": token}),
        )
        .await;
    let sec = sec["secret"]["id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .post(
            &format!("/api/secrets/{sec}/grants"),
            json!({"instanceId": id}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.put(&format!("/api/instances/{id}"), channels).await;
    // THEN the instance restarts with the channel, kept by name only
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["instance"]["status"], "restarting", "{v}");
    assert!(!v.to_string().contains(token));
    wait_active(&app, &id).await;
    // AND OpenClaw's config names the secret, never its value
    let (s, file) = app
        .get(&format!(
            "/api/instances/{id}/files?path=.openclaw/openclaw.json"
        ))
        .await;
    assert_eq!(s, 200, "{file}");
    let config = file["content"].as_str().unwrap();
    assert!(config.contains("${TELEGRAM_BOT_TOKEN}"), "{config}");
    assert!(!config.contains(token), "{config}");
    // AND a message from an allowed Telegram user gets the agent's reply, sent with the token
    tg.send_user_message(424242, "hello bot, what is 2 + 3?");
    let sent = eventually(180, || async {
        let sent = tg.sent();
        (!sent.is_empty()).then_some(sent)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no sendMessage; calls: {:?}\n{}",
            tg.calls().iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
            tail(&app.server_log(), 20)
        )
    });
    assert_eq!(
        sent[0]["chat_id"].to_string().trim_matches('"'),
        "424242",
        "{sent:?}"
    );
    assert!(
        sent[0]["text"].as_str().unwrap().contains(ANSWER),
        "{sent:?}"
    );
    assert!(model_saw(&llm, "hello bot, what is 2 + 3?"));
    assert!(tg.calls().iter().all(|(t, _, _)| t == token));
}

#[tokio::test]
async fn without_openclaw_installed_the_kind_is_refused_and_other_kinds_have_no_local_cron() {
    // GIVEN a server whose OpenClaw directory holds no install
    let empty = tempfile::tempdir().unwrap();
    let app = App::spawn_with(Options {
        env: vec![("OPERATOR_OPENCLAW_DIR", empty.path().display().to_string())],
        ..Options::default()
    })
    .await;
    // WHEN an openclaw instance is asked for THEN it is a 503 (the server's shortcoming, as a
    // missing model is) that says what to install
    let (s, v) = app
        .post(
            "/api/instances",
            json!({"name": "claw", "kind": "openclaw"}),
        )
        .await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "kind_unavailable");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("scripts/install-openclaw.sh"), "{msg}");
    // AND an unknown kind names the three
    let (s, v) = app
        .post("/api/instances", json!({"name": "x", "kind": "claw"}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("openclaw"));
    // AND a prebuilt instance has no scheduler of its own, nor channels: 409, not a 5xx
    let id = app.active_instance("plain").await;
    let (s, v) = app.get(&format!("/api/instances/{id}/cron")).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    let (s, v) = app
        .put(
            &format!("/api/instances/{id}"),
            json!({"channels": {"telegram": {"botTokenSecret": "T"}}}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    // AND channels that are not an object, or not available, are the caller's 400
    for bad in [
        json!([null, null]),
        json!({"discord": {"tokenSecret": "D"}}),
        json!({"telegram": {"botTokenSecret": "T", "allowFrom": ["12a"]}}),
    ] {
        let (s, v) = app
            .put(&format!("/api/instances/{id}"), json!({"channels": bad}))
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}
