//! `/api/automations`: validation, nextRunAt, runs, and the live scheduler firing on time.

use crate::support::*;
use chrono::{DateTime, Datelike, Timelike, Utc};
use reqwest::Method;
use serde_json::json;

fn ts(v: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("timestamp"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn create_computes_next_run_in_the_zone() {
    let app = App::spawn().await;
    let (s, v) = app
        .post(
            "/api/automations",
            json!({"name": "standup", "prompt": "Summarise yesterday",
                   "cronExpression": "0 9 * * 1-5", "timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let a = &v["automation"];
    assert!(a["id"].as_str().unwrap().starts_with("auto_"));
    assert!(a["chatId"].as_str().unwrap().starts_with("chat_"));
    assert_eq!(a["enabled"], true);
    assert_eq!(a["cronExpression"], "0 9 * * 1-5");
    assert_eq!(a["timezone"], "America/New_York");
    // nextRunAt is the next weekday 09:00 New York time, in the future, within 4 days
    let next = ts(&a["nextRunAt"]);
    let local = next.with_timezone(&chrono_tz::America::New_York);
    assert_eq!((local.hour(), local.minute()), (9, 0));
    assert!(local.weekday().number_from_monday() <= 5);
    assert!(next > Utc::now() && next < Utc::now() + chrono::Duration::days(4));

    // timezone defaults to UTC
    let (_, v) = app
        .post(
            "/api/automations",
            json!({"name": "n", "prompt": "p", "cronExpression": "30 6 * * *"}),
        )
        .await;
    assert_eq!(v["automation"]["timezone"], "UTC");
    let next = ts(&v["automation"]["nextRunAt"]);
    assert_eq!((next.hour(), next.minute()), (6, 30));
}

#[tokio::test]
async fn invalid_cron_or_zone_is_400_naming_the_problem() {
    let app = App::spawn().await;
    for (cron, tz, field, hint) in [
        ("0 9 * *", "UTC", "cronExpression", "5 fields"),
        ("61 * * * *", "UTC", "cronExpression", "out of range 0-59"),
        ("0 0 31 2 *", "UTC", "cronExpression", "never"),
        ("0 9 * * 1-5", "Mars/Olympus", "timezone", "Mars/Olympus"),
    ] {
        let got = app
            .post(
                "/api/automations",
                json!({"name": "n", "prompt": "p", "cronExpression": cron, "timezone": tz}),
            )
            .await;
        assert_error(&got, 400, "invalid_request");
        let detail = got.1["error"]["details"][field]
            .as_str()
            .unwrap_or_default();
        assert!(detail.contains(hint), "{cron} {tz}: {}", got.1);
    }
    // every bad field is reported at once
    let got = app
        .post(
            "/api/automations",
            json!({"name": "", "prompt": "", "cronExpression": "x", "timezone": "Nope/Nope"}),
        )
        .await;
    let details = got.1["error"]["details"].as_object().unwrap();
    for f in ["name", "prompt", "cronExpression", "timezone"] {
        assert!(details.contains_key(f), "{f}: {}", got.1);
    }
    let got = app
        .post("/api/automations", json!({"name": "n", "prompt": "p"}))
        .await;
    assert_error(&got, 400, "invalid_request");
}

#[tokio::test]
async fn update_disable_run_now_and_delete() {
    let app = App::spawn().await;
    let (_, v) = app
        .post(
            "/api/automations",
            json!({"name": "n", "prompt": "p", "cronExpression": "0 * * * *"}),
        )
        .await;
    let id = v["automation"]["id"].as_str().unwrap().to_owned();
    // disable → no next run
    let (s, v) = app
        .put(&format!("/api/automations/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["automation"]["nextRunAt"].is_null());
    // re-enable with a new schedule and zone
    let (_, v) = app
        .put(
            &format!("/api/automations/{id}"),
            json!({"enabled": true, "cronExpression": "15 8 * * *", "timezone": "Europe/Paris",
                   "prompt": "new prompt", "name": "renamed"}),
        )
        .await;
    let a = &v["automation"];
    assert_eq!(a["name"], "renamed");
    assert_eq!(a["prompt"], "new prompt");
    let local = ts(&a["nextRunAt"]).with_timezone(&chrono_tz::Europe::Paris);
    assert_eq!((local.hour(), local.minute()), (8, 15));
    let got = app
        .put(
            &format!("/api/automations/{id}"),
            json!({"cronExpression": "bad"}),
        )
        .await;
    assert_error(&got, 400, "invalid_request");

    // run now → 202 with a queued manual run, listed under runs
    let (s, v) = send(app.request(
        Method::POST,
        &format!("/api/automations/{id}/run"),
        Some(&app.key),
    ))
    .await;
    assert_eq!(s, 202, "{v}");
    let run = &v["run"];
    assert!(run["id"].as_str().unwrap().starts_with("run_"));
    assert_eq!(run["status"], "queued");
    for f in ["scheduledFor", "startedAt", "finishedAt", "chatId", "error"] {
        assert!(run.get(f).is_some(), "{f}: {run}");
    }
    let (_, runs) = app.get(&format!("/api/automations/{id}/runs")).await;
    assert_eq!(runs["runs"][0]["id"], run["id"]);
    let (_, billing) = app.get("/api/billing").await;
    assert_eq!(billing["usage"]["automationRuns"], 1);

    let (s, _) = app.delete(&format!("/api/automations/{id}")).await;
    assert_eq!(s, 200);
    assert_error(
        &app.get(&format!("/api/automations/{id}")).await,
        404,
        "not_found",
    );
    assert_error(
        &app.get(&format!("/api/automations/{id}/runs")).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn an_automation_due_next_minute_is_enqueued_on_time() {
    // GIVEN a running server and an every-minute automation
    let app = App::spawn().await;
    let (s, v) = app
        .post(
            "/api/automations",
            json!({"name": "tick", "prompt": "tick", "cronExpression": "* * * * *"}),
        )
        .await;
    assert_eq!(s, 201);
    let id = v["automation"]["id"].as_str().unwrap().to_owned();
    let slot = ts(&v["automation"]["nextRunAt"]);
    assert_eq!(slot.second(), 0);
    assert!(slot > Utc::now() && slot <= Utc::now() + chrono::Duration::seconds(61));
    // WHEN its minute comes THEN the server records and enqueues a run for exactly that slot
    let run = eventually(90, || async {
        let (_, runs) = app.get(&format!("/api/automations/{id}/runs")).await;
        runs["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|r| ts(&r["scheduledFor"]) == slot).cloned())
    })
    .await
    .expect("a run for the due slot");
    assert_eq!(run["trigger"], "schedule");
    // With no LLM configured the fire is executed and fails, saying what to configure.
    let run_id = run["id"].as_str().unwrap().to_owned();
    let failed = eventually(20, || async {
        let (_, runs) = app.get(&format!("/api/automations/{id}/runs")).await;
        runs["runs"].as_array().and_then(|r| {
            r.iter()
                .find(|r| r["id"] == run_id.as_str() && r["status"] == "failed")
                .cloned()
        })
    })
    .await
    .expect("the run is executed");
    assert!(
        failed["error"].as_str().unwrap().contains("OPERATOR_LLM"),
        "{failed}"
    );
    let created = ts(&run["createdAt"]);
    assert!(created >= slot, "fired early: {run}");
    assert!(
        created - slot < chrono::Duration::seconds(10),
        "fired late: {run}"
    );
    // AND nextRunAt moved on to the following minute
    let (_, v) = app.get(&format!("/api/automations/{id}")).await;
    assert!(ts(&v["automation"]["nextRunAt"]) > slot);
}

/// Sends one run-now and waits for that run to end; returns its status.
async fn run_to_end(app: &App, id: &str) -> String {
    let (s, v) = send(app.request(
        Method::POST,
        &format!("/api/automations/{id}/run"),
        Some(&app.key),
    ))
    .await;
    assert_eq!(s, 202, "{v}");
    let run_id = v["run"]["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, runs) = app
            .get(&format!("/api/automations/{id}/runs?limit=5"))
            .await;
        let status = runs["runs"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["id"] == run_id.as_str()))
            .and_then(|r| r["status"].as_str())
            .unwrap_or_default()
            .to_owned();
        if status == "succeeded" || status == "failed" {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run {run_id} did not end: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn two_hundred_runs_of_one_automation_keep_the_model_request_bounded() {
    use crate::support::fake_llm::FakeLlm;
    // GIVEN a fake model with no script (it answers every request, summaries included, with
    // the same short text) and a history budget of 2050 estimated tokens. Each run's turn
    // costs 216 (a 796-character prompt: 199 + 4; the 36-character answer: 9 + 4), so
    // nine earlier turns (1944) fit and ten do not: the 10th request carries the most
    // history any request can, and no summary yet.
    let llm = FakeLlm::start(vec![]).await;
    let mut env = llm.openai_env();
    env.push(("OPERATOR_AGENT_HISTORY_TOKENS", "2050".into()));
    let app = App::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await;
    let prompt: String = "Check the weather desk and report. "
        .repeat(23)
        .chars()
        .take(796)
        .collect();
    let (s, v) = app
        .post(
            "/api/automations",
            json!({"name": "desk", "prompt": prompt, "cronExpression": "0 0 1 1 *"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["automation"]["id"].as_str().unwrap().to_owned();
    // WHEN it runs 200 times, one run after another
    for n in 1..=200 {
        assert_eq!(run_to_end(&app, &id).await, "succeeded", "run {n}");
    }
    // THEN the 200th model request is no larger than the 10th by more than the summary
    let reqs = llm.requests();
    let main: Vec<&serde_json::Value> = reqs.iter().filter(|r| r["tools"].is_array()).collect();
    let summaries = reqs.len() - main.len();
    assert_eq!(main.len(), 200);
    assert!(summaries > 0, "older turns were summarised");
    let size = |r: &serde_json::Value| r["messages"].to_string().len();
    let system = |r: &serde_json::Value| r["messages"][0]["content"].as_str().unwrap().to_owned();
    let (tenth, last) = (main[9], main[199]);
    assert!(
        !system(tenth).contains("a summary of older turns"),
        "no summary by the 10th run"
    );
    assert_eq!(tenth["messages"].as_array().unwrap().len(), 1 + 2 * 9 + 1);
    // the summary is the part of the 200th request's system prompt beyond the 10th's
    let summary_size = system(last).len() - system(tenth).len();
    assert!(system(last).starts_with(&system(tenth)));
    assert!(system(last).contains("(the fake LLM's script is exhausted)"));
    assert!(
        size(last) <= size(tenth) + summary_size,
        "200th: {} bytes, 10th: {} bytes, summary: {summary_size} bytes",
        size(last),
        size(tenth)
    );
    println!(
        "model request sizes: 10th {} bytes, 200th {} bytes ({} messages; summary {summary_size} bytes); {summaries} summary calls",
        size(tenth),
        size(last),
        last["messages"].as_array().unwrap().len()
    );
}
