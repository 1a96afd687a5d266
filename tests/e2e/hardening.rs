//! Holes found by probing (issue 10), each shut by a behaviour tested here: the bootstrap
//! key's own account, checked cursors and names, turns in the hundreds at once, a bounded
//! shutdown that loses nothing, and one server per data directory.

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_bootstrap_key_opens_its_own_account_and_once_revoked_stays_revoked() {
    // GIVEN a server first started without a bootstrap key: the default account and its key
    let dir = tempfile::tempdir().unwrap();
    let plain = |key: Option<String>| Options {
        data_dir: Some(dir.path()),
        key,
        env: vec![],
    };
    let first = App::spawn_with(plain(None)).await;
    let default_key = first.key.clone();
    let (_, default_me) = first.get("/api/cli/health").await;
    drop(first);

    // WHEN it restarts with OPERATOR_BOOTSTRAP_KEY
    let boot = random_key();
    let app = App::spawn_with(plain(Some(boot.clone()))).await;
    // THEN that key opens an account of its own; the default account gained no key
    let (s, boot_me) = app.get("/api/cli/health").await;
    assert_eq!(s, 200, "{boot_me}");
    assert_ne!(boot_me["userId"], default_me["userId"]);
    let (_, keys) = app
        .call_as(&default_key, Method::GET, "/api/chat-keys", None)
        .await;
    let names: Vec<&Value> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["name"])
        .collect();
    assert_eq!(names, [&json!("default")], "{keys}");

    // WHEN the bootstrap key is revoked (with a second key of its account)
    let (s, second) = app.post("/api/chat-keys", json!({"name": "second"})).await;
    assert_eq!(s, 201, "{second}");
    let second = second["key"].as_str().unwrap().to_owned();
    let (_, keys) = app.get("/api/chat-keys").await;
    let boot_id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "bootstrap")
        .and_then(|k| k["id"].as_str())
        .unwrap()
        .to_owned();
    let (s, v) = app
        .call_as(
            &second,
            Method::DELETE,
            &format!("/api/chat-keys/{boot_id}"),
            None,
        )
        .await;
    assert!(s.is_success(), "{v}");
    drop(app);

    // THEN the server still starts with the same variable, warns, and the key stays revoked
    let again = App::spawn_with(plain(Some(boot.clone()))).await;
    assert!(
        again.stdout.iter().any(|l| l.contains("revoked")),
        "{:?}",
        again.stdout
    );
    let got = again.get("/api/cli/health").await;
    assert_error(&got, 401, "unauthorized");
    let (s, v) = again
        .call_as(&second, Method::GET, "/api/cli/health", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["userId"], boot_me["userId"]);
}

#[tokio::test]
async fn cursors_are_checked_and_names_refuse_hidden_characters() {
    let app = App::spawn().await;
    for i in 0..3 {
        app.post("/api/chat-keys", json!({"name": format!("k{i}")}))
            .await;
    }
    let (_, page) = app.get("/api/chat-keys?limit=1").await;
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    // A cursor works on its own list...
    let (s, v) = app
        .get(&format!("/api/chat-keys?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    // ...and garbage, a truncated cursor or one from another list is a 400, not an empty page
    let truncated = &cursor[..cursor.len() - 2];
    for path in [
        "/api/chat-keys?cursor=garbage".to_owned(),
        format!("/api/chat-keys?cursor={truncated}"),
        format!("/api/automations?cursor={cursor}"),
        format!("/api/instances?cursor={cursor}"),
    ] {
        let got = app.get(&path).await;
        assert_error(&got, 400, "invalid_request");
        assert!(got.1["error"]["details"]["cursor"].is_string(), "{}", got.1);
    }

    // Names with NUL, terminal escapes, bidi overrides or zero-width characters are refused
    for name in [
        "a\u{0}b",
        "\u{1b}[31mred",
        "invoice\u{202E}fdp.exe",
        "zero\u{200B}width",
    ] {
        let got = app.post("/api/chat-keys", json!({"name": name})).await;
        assert_error(&got, 400, "invalid_request");
        let got = app
            .post(
                "/api/automations",
                json!({"name": name, "prompt": "p", "cronExpression": "0 9 * * *"}),
            )
            .await;
        assert_error(&got, 400, "invalid_request");
        let got = app
            .post(
                "/api/webhooks",
                json!({"name": name, "promptTemplate": "{{payload}}"}),
            )
            .await;
        assert_error(&got, 400, "invalid_request");
    }
    // Ordinary non-ASCII text is still a fine name
    let (s, v) = app
        .post("/api/chat-keys", json!({"name": "Café — équipe"}))
        .await;
    assert_eq!(s, 201, "{v}");
}

/// Acceptance: with a model that holds every request until released, at least 32 turns
/// (of different chats) are in flight at once.
#[tokio::test]
async fn turns_of_different_chats_run_in_the_hundreds_not_four_at_a_time() {
    const CHATS: usize = 40;
    let llm = FakeLlm::start(vec![]).await;
    for _ in 0..CHATS {
        llm.push(Reply::Held("done".into()));
    }
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    // WHEN 40 people send a message at once
    let turns: Vec<_> = (0..CHATS)
        .map(|i| {
            let rb = app
                .request(Method::POST, "/api/chat", Some(&app.key))
                .header("x-response-format", "json")
                .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": format!("hello {i}")}]}]}));
            tokio::spawn(send(rb))
        })
        .collect();
    // THEN at least 32 model calls wait at the model at the same time
    let most = eventually(60, || async {
        let n = llm.held_now();
        (n >= 32).then_some(n)
    })
    .await;
    llm.release_held();
    assert!(
        most.is_some(),
        "at most {} turns were in flight at once",
        llm.held_now()
    );
    // AND every turn then finishes
    for t in turns {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["text"], "done", "{v}");
    }
}

/// SIGTERM with 200 webhook deliveries queued and the model hanging: the server stops
/// receiving at once, cuts the running turn off after the grace period, exits 0, and after
/// the restart every delivery completes (none lost, none stuck).
#[tokio::test]
async fn sigterm_exits_within_the_grace_period_and_unfinished_work_resumes_after_restart() {
    const DELIVERIES: usize = 200;
    let llm = FakeLlm::start(vec![]).await;
    for _ in 0..DELIVERIES {
        llm.push(Reply::Held("handled".into()));
    }
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let mut env = llm.openai_env();
    env.push(("OPERATOR_SHUTDOWN_GRACE_SECS", "2".into()));
    let opts = || Options {
        data_dir: Some(dir.path()),
        key: Some(key.clone()),
        env: env.clone(),
    };
    let mut app = App::spawn_with(opts()).await;
    let (_, w) = app
        .post(
            "/api/webhooks",
            json!({"name": "busy", "promptTemplate": "Handle {{payload}}"}),
        )
        .await;
    let (id, url) = (
        w["webhook"]["id"].as_str().unwrap().to_owned(),
        w["webhook"]["url"].as_str().unwrap().to_owned(),
    );
    let http = reqwest::Client::new();
    for chunk in (0..DELIVERIES).collect::<Vec<_>>().chunks(25) {
        let sent = futures::future::join_all(chunk.iter().map(|i| {
            http.post(&url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"n": {i}}}"#))
                .send()
        }))
        .await;
        for r in sent {
            assert_eq!(r.unwrap().status(), 202);
        }
    }
    // GIVEN a turn hanging at the model
    assert!(
        eventually(30, || async { (llm.held_now() > 0).then_some(()) })
            .await
            .is_some(),
        "no turn reached the model"
    );

    // WHEN the server gets SIGTERM
    let started = Instant::now();
    let status = app.terminate(Duration::from_secs(20));
    // THEN it exits 0 within the grace period plus a margin
    let status = status.unwrap_or_else(|| {
        panic!(
            "still running {:?} after SIGTERM; log: {}",
            started.elapsed(),
            app.server_log()
        )
    });
    assert!(status.success(), "{status:?}");
    drop(app);

    // WHEN it restarts and the model answers again
    llm.release_held();
    let app = App::spawn_with(opts()).await;
    // THEN every delivery completes
    let path = format!("/api/webhooks/{id}/deliveries?limit=200");
    let done = eventually(240, || async {
        let (_, v) = app.get(&path).await;
        let list = v["deliveries"].as_array().cloned().unwrap_or_default();
        let succeeded = list.iter().filter(|d| d["status"] == "succeeded").count();
        (list.len() == DELIVERIES && succeeded == DELIVERIES).then_some(())
    })
    .await;
    let (_, v) = app.get(&path).await;
    let statuses: std::collections::BTreeMap<String, usize> = v["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .fold(Default::default(), |mut m, d| {
            *m.entry(d["status"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
            m
        });
    assert!(done.is_some(), "deliveries by status: {statuses:?}");
}

#[tokio::test]
async fn one_server_per_data_directory_and_admin_commands_never_invent_one() {
    let app = App::spawn().await;
    // WHEN a second server starts on the same data directory
    let mut second = std::process::Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&app.data_dir)
        .env_remove("OPERATOR_BOOTSTRAP_KEY")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server on the same data directory kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = second.wait_with_output().unwrap();
    // THEN it exits non-zero naming the first one's pid
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", app.pid())), "{err}");
    // AND the first one is unharmed
    let (s, _) = app.get("/api/cli/health").await;
    assert_eq!(s, 200);

    // WHEN an admin command is pointed at a directory no server made
    let elsewhere = tempfile::tempdir().unwrap();
    let missing = elsewhere.path().join("not-a-data-dir");
    let out = std::process::Command::new(BIN)
        .args(["keys", "create", "--account", "acct_x", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    // THEN it refuses, says which directory it looked at, and creates nothing
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    assert!(!missing.exists());
    // AND beside the running server an admin command works
    let (_, key) = app.create_account("basic");
    let (s, _) = app
        .call_as(&key, Method::GET, "/api/cli/health", None)
        .await;
    assert_eq!(s, 200);
}
