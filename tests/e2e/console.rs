//! The web console in a real browser: runs the browser suite (`tests/console/suite.mjs`,
//! puppeteer-core driving Debian's chromium) against the real binary whose Operator agent
//! talks to the scripted fake LLM, then checks over HTTP what the suite did through the
//! pages, so a suite that skipped its work cannot pass.

use crate::browser_suite;
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The whole browser run; the suite's own waits are far shorter (60 s at most each).
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

/// The fake model's replies, one per LLM request, in the order the suite makes them: two
/// chat turns (each a tool call, then the answer after the tool's result), then one message
/// to an instance's agent.
fn script() -> Vec<Reply> {
    vec![
        // "Create an instance called weather-desk."
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "weather-desk"}),
        )]),
        // slow (14 words, 400 ms apart) so the suite can see the turn's progress and reload
        // the page in the middle of it
        Reply::SlowText(
            "Created weather-desk. It is provisioning now and will be active in a moment.".into(),
            400,
        ),
        // "Read notes.md of weather-desk." — the file holds injected HTML, and so does the reply
        Reply::ToolCalls(vec![(
            "read_file".into(),
            json!({"instance": "weather-desk", "path": "notes.md"}),
        )]),
        Reply::Text(
            r#"Here is what the file says: **bold** [click me](javascript:alert(1)) <script>window.__pwned=3</script><img src=x onerror="window.__pwned=4">"#
                .into(),
        ),
        // the suite's message to docs-desk: its agent's model call, through the gateway
        Reply::Text("Hello from docs-desk.".into()),
    ]
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_console_works_in_a_real_browser_against_the_real_server() {
    browser_suite::assert_installed();
    // GIVEN the real server whose Operator agent talks to the scripted fake model
    let llm = FakeLlm::start(script()).await;
    let app = App::spawn_with(Options {
        env: llm.anthropic_env(),
        ..Options::default()
    })
    .await;

    // WHEN the browser suite signs in and walks every page
    let shots = browser_suite::fresh_screenshot_dir("console-screenshots");
    let run = browser_suite::run("suite.mjs", &app, &shots, &[], SUITE_TIMEOUT).await;
    println!("{}", run.stdout);
    assert!(
        run.ok,
        "the console suite failed:\n{}\n--- stderr ---\n{}\n--- server log (tail) ---\n{}",
        run.stdout,
        run.stderr,
        tail(&app.server_log(), 60)
    );
    let s = browser_suite::summary(&run.stdout);

    // THEN the CLI login it approved handed out a working key of the same account, once
    let cli_key = s["cliKey"].as_str().expect("cliKey in SUMMARY").to_owned();
    let session = s["cliSession"].as_str().expect("cliSession").to_owned();
    assert_eq!(s["pollBefore"], 404, "{s}");
    assert_eq!(s["pollAfter"], 404, "{s}");
    let (st, me) = app.get("/api/cli/health").await;
    assert_eq!(st, 200, "{me}");
    let (st, cli) = app
        .call_as(&cli_key, Method::GET, "/api/cli/health", None)
        .await;
    assert_eq!(st, 200, "the CLI key does not work: {cli}");
    assert_eq!(cli["userId"], me["userId"], "{cli} vs {me}");
    let (st, v) = send(app.request(
        Method::GET,
        &format!("/api/cli/poll?session={session}"),
        None,
    ))
    .await;
    assert_eq!(st, 404, "a later poll still hands out a key: {v}");

    // AND what was done through the pages is there, over REST
    let (_, keys) = app.get("/api/chat-keys").await;
    let key_names = names(&keys["keys"]);
    assert!(
        !key_names.iter().any(|n| n == "ci-key"),
        "ci-key was revoked through the page: {keys}"
    );
    assert!(
        key_names.iter().any(|n| n.starts_with("CLI login")),
        "{keys}"
    );
    let (_, instances) = app.get("/api/instances").await;
    let instance_names = names(&instances["instances"]);
    for n in ["weather-desk", "docs-desk"] {
        assert!(instance_names.iter().any(|i| i == n), "{instances}");
    }
    assert!(
        !instance_names.iter().any(|i| i == "docs-desk-copy"),
        "cloned, then deleted through the page: {instances}"
    );
    let (st, file) = app
        .get("/api/instances/docs-desk/files?path=hello.txt")
        .await;
    assert_eq!(st, 200, "{file}");
    let marker = s["uploadMarker"].as_str().expect("uploadMarker");
    assert!(
        file.to_string().contains(marker),
        "the uploaded file lacks {marker}: {file}"
    );
    let (_, secrets) = app.get("/api/secrets").await;
    let secret = secrets["secrets"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "API_TOKEN"))
        .unwrap_or_else(|| panic!("no secret API_TOKEN: {secrets}"));
    assert_eq!(
        secret["grants"],
        json!([]),
        "granted, then revoked: {secret}"
    );
    assert!(secret.get("value").is_none(), "{secret}");
    let (_, autos) = app.get("/api/automations").await;
    let auto = autos["automations"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "weekday-report"))
        .unwrap_or_else(|| panic!("no automation weekday-report: {autos}"));
    assert_eq!(auto["cronExpression"], "0 9 * * 1-5");
    assert_eq!(auto["timezone"], "America/New_York");
    assert_eq!(
        auto["enabled"],
        json!(false),
        "disabled through the page: {auto}"
    );
    let (_, hooks) = app.get("/api/webhooks").await;
    let hook = hooks["webhooks"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "deploy-hook"))
        .unwrap_or_else(|| panic!("no webhook deploy-hook: {hooks}"));
    assert_eq!(
        hook["enabled"],
        json!(false),
        "disabled through the page: {hook}"
    );

    // AND the injected HTML really reached the model as the tool's output (the suite saw it
    // rendered inert), and the chat the suite re-attached to holds both turns
    let reqs = serde_json::to_string(&llm.requests()).expect("requests as JSON");
    assert!(llm.requests().len() >= 5, "{reqs}");
    assert!(
        reqs.contains("<script>window.__pwned=1</script>"),
        "no model request carried the read_file output: {reqs}"
    );
    let chat_path = s["chatPath"].as_str().expect("chatPath");
    let chat_id = chat_path.trim_start_matches("/chat/");
    let (st, chat) = app.get(&format!("/api/chat/{chat_id}")).await;
    assert_eq!(st, 200, "{chat}");
    let stored = chat.to_string();
    assert!(stored.contains("Created weather-desk."), "{chat}");
    assert!(stored.contains("window.__pwned=3"), "{chat}");

    // AND neither a key nor the secret's value is in the server's log
    let log = app.server_log();
    for (what, v) in [
        ("the bootstrap key", app.key.as_str()),
        ("the CLI key", cli_key.as_str()),
        ("the secret value", "s3cr3t-value-123"),
    ] {
        assert!(!log.contains(v), "the server log holds {what}");
    }

    // AND the run left a screenshot of every page
    for f in [
        "signin.png",
        "chat.png",
        "chat-injection.png",
        "instances.png",
        "instance.png",
        "instance-activity.png",
        "secrets.png",
        "automations.png",
        "webhooks.png",
        "keys.png",
        "billing.png",
        "instance-browser.png",
        "cli-login.png",
        "chat-phone.png",
        "instances-phone.png",
    ] {
        let p = shots.join(f);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "no screenshot {}", p.display());
    }
}
