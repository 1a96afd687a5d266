//! Crash safety: kill -9 in the middle of a burst of writes loses nothing acknowledged, and
//! the database opens cleanly afterwards.

use crate::support::*;
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_burst_loses_nothing_acknowledged() {
    // GIVEN a server on a data dir we keep
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let app = App::spawn_with(Options {
        data_dir: Some(dir.path()),
        key: Some(key.clone()),
        env: vec![("OPERATOR_DEFAULT_PLAN", "enterprise".into())],
    })
    .await;
    let base = app.base.clone();
    let acked: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));

    // WHEN 8 clients write as fast as they can
    let mut tasks = vec![];
    for t in 0..8 {
        let (base, key, acked, count) = (base.clone(), key.clone(), acked.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0.. {
                let (path, body, kind) = match i % 4 {
                    0 => ("/api/secrets", json!({"name": format!("S_{t}_{i}"), "value": format!("v{t}{i}")}), "secrets"),
                    1 => ("/api/webhooks", json!({"name": format!("w{t}-{i}"), "promptTemplate": "{{payload}}"}), "webhooks"),
                    2 => ("/api/automations", json!({"name": format!("a{t}-{i}"), "prompt": "p", "cronExpression": "0 9 * * *"}), "automations"),
                    _ => ("/api/instances", json!({"name": format!("i{t}-{i}")}), "instances"),
                };
                let res = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await;
                let Ok(res) = res else { break };
                if res.status() != 201 {
                    // capacity for instances may run out; anything else is a failure
                    assert!(kind == "instances" && res.status() == 402, "{}", res.status());
                    continue;
                }
                let Ok(v) = res.json::<serde_json::Value>().await else { break };
                let singular = &kind[..kind.len() - 1];
                let id = v[singular]["id"].as_str().unwrap().to_owned();
                let name = v[singular]["name"].as_str().unwrap().to_owned();
                acked.lock().unwrap().push((kind.to_owned(), id, name));
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // ... and the server is killed with SIGKILL while they are mid-flight
    while count.load(Ordering::SeqCst) < 150 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    operator_local::signal::send_signal(app.pid(), operator_local::signal::Signal::Kill)
        .expect("SIGKILL the server");
    for t in tasks {
        t.await.unwrap();
    }
    drop(app);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 150);

    // THEN a restart opens the database cleanly (quick_check runs at open)
    let app = App::spawn_with(Options {
        data_dir: Some(dir.path()),
        key: Some(key.clone()),
        env: vec![],
    })
    .await;
    // AND every acknowledged write is there, intact
    for (kind, id, name) in &acked {
        let (s, v) = app
            .call(Method::GET, &format!("/api/{kind}/{id}"), None)
            .await;
        assert_eq!(s, 200, "{kind} {id} lost after kill -9");
        let singular = &kind[..kind.len() - 1];
        assert_eq!(v[singular]["name"], name.as_str());
    }
    // AND the platform still takes writes
    let (s, _) = app
        .post("/api/secrets", json!({"name": "AFTER", "value": "x"}))
        .await;
    assert_eq!(s, 201);
    println!(
        "kill -9 after {} acknowledged writes; all present after restart",
        acked.len()
    );
}

#[tokio::test]
async fn state_and_next_run_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let opts = || Options {
        data_dir: Some(dir.path()),
        key: Some(key.clone()),
        env: vec![],
    };
    let app = App::spawn_with(opts()).await;
    let (_, a) = app
        .post(
            "/api/automations",
            json!({"name": "n", "prompt": "p", "cronExpression": "0 9 * * 1-5", "timezone": "America/New_York"}),
        )
        .await;
    let id = a["automation"]["id"].as_str().unwrap().to_owned();
    drop(app);
    let app = App::spawn_with(opts()).await;
    let (s, b) = app.get(&format!("/api/automations/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(a["automation"]["nextRunAt"], b["automation"]["nextRunAt"]);
}
