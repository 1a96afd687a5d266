//! `/api/automations` and their runs: cron and zone validation, run now, the runs list.

use crate::harness::*;
use axum::http::Method;
use serde_json::json;

fn brief() -> serde_json::Value {
    json!({"name": "brief", "prompt": "Send the morning brief", "cronExpression": "0 9 * * 1-5", "timezone": "America/New_York"})
}

#[tokio::test]
async fn an_automation_is_created_updated_and_run_now() {
    let api = Api::start().await;
    // WHEN an automation is created
    let v = api.post("/api/automations", brief()).await.ok(201);
    // THEN it has API.md's fields, enabled, with its next run
    let a = &v["automation"];
    assert_id(&a["id"], "auto_");
    assert_eq!(a["name"], "brief");
    assert_eq!(a["prompt"], "Send the morning brief");
    assert_eq!(a["cronExpression"], "0 9 * * 1-5");
    assert_eq!(a["timezone"], "America/New_York");
    assert_eq!(a["enabled"], true);
    for t in ["nextRunAt", "createdAt", "updatedAt"] {
        assert_time(&a[t]);
    }
    let id = a["id"].as_str().unwrap();
    // WHEN it is disabled THEN it says so
    let v = api
        .put(&format!("/api/automations/{id}"), json!({"enabled": false}))
        .await
        .ok(200);
    assert_eq!(v["automation"]["enabled"], false);
    // WHEN it is run now THEN 202 with the run, which the runs list shows
    let run = api
        .post(&format!("/api/automations/{id}/run"), json!({}))
        .await
        .ok(202);
    assert_id(&run["run"]["id"], "run_");
    let runs = api
        .get(&format!("/api/automations/{id}/runs"))
        .await
        .ok(200);
    let listed = &runs["runs"][0];
    assert_eq!(listed["id"], run["run"]["id"]);
    for field in [
        "status",
        "scheduledFor",
        "startedAt",
        "finishedAt",
        "chatId",
        "error",
    ] {
        assert!(listed.get(field).is_some(), "{field} missing: {listed}");
    }
    api.assert_page_errors(&format!("/api/automations/{id}/runs"))
        .await;
    // AND the list shows it; deleting it makes it a 404
    let list = api.get("/api/automations").await.ok(200);
    assert_eq!(list["automations"].as_array().unwrap().len(), 1);
    api.assert_page_errors("/api/automations").await;
    assert_eq!(
        api.delete(&format!("/api/automations/{id}")).await.ok(200),
        json!({"ok": true})
    );
    api.get(&format!("/api/automations/{id}"))
        .await
        .error(404, "not_found");
}

#[tokio::test]
async fn the_timezone_defaults_to_utc_and_bad_cron_or_zones_are_400s() {
    let api = Api::start().await;
    // WHEN no timezone is given THEN UTC
    let v = api
        .post(
            "/api/automations",
            json!({"name": "n", "prompt": "p", "cronExpression": "*/5 * * * *"}),
        )
        .await
        .ok(201);
    assert_eq!(v["automation"]["timezone"], "UTC");
    // WHEN the cron expression or zone is invalid THEN 400 naming it
    for cron in ["not cron", "61 * * * *", "* * * *"] {
        api.post(
            "/api/automations",
            json!({"name": "n", "prompt": "p", "cronExpression": cron}),
        )
        .await
        .invalid("cronExpression");
    }
    api.post("/api/automations", json!({"name": "n", "prompt": "p", "cronExpression": "0 9 * * *", "timezone": "Mars/Olympus"}))
        .await
        .invalid("timezone");
    // AND a missing prompt is a 400 naming it
    api.post(
        "/api/automations",
        json!({"name": "n", "cronExpression": "0 9 * * *"}),
    )
    .await
    .invalid("prompt");
}

#[tokio::test]
async fn another_accounts_automation_is_a_404() {
    let api = Api::start().await;
    let other = api.other_account().await;
    let theirs = api
        .json_as(&other, Method::POST, "/api/automations", brief())
        .await
        .ok(201)["automation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN this account reads, changes, runs or deletes it THEN 404
    let base = format!("/api/automations/{theirs}");
    api.get(&base).await.error(404, "not_found");
    api.put(&base, json!({"enabled": false}))
        .await
        .error(404, "not_found");
    api.post(&format!("{base}/run"), json!({}))
        .await
        .error(404, "not_found");
    api.get(&format!("{base}/runs"))
        .await
        .error(404, "not_found");
    api.delete(&base).await.error(404, "not_found");
    // AND the owner's automation is untouched
    let v = api.get_as(&other, &base).await.ok(200);
    assert_eq!(v["automation"]["enabled"], true);
    api.assert_requires_key(Method::GET, "/api/automations")
        .await;
}

#[tokio::test]
async fn next_runs_previews_a_schedule_in_its_zone_and_names_what_is_wrong() {
    let api = Api::start().await;
    api.assert_requires_key(
        Method::GET,
        "/api/automations/next-runs?cronExpression=*%20*%20*%20*%20*",
    )
    .await;
    // WHEN weekday 09:00 in New York is previewed
    let v = api
        .get("/api/automations/next-runs?cronExpression=0%209%20*%20*%201-5&timezone=America/New_York")
        .await
        .ok(200);
    // THEN five UTC instants, strictly increasing, each 09:00 on a weekday New York time
    // (13:00 UTC in summer time, 14:00 in winter)
    assert_eq!(v["cronExpression"], "0 9 * * 1-5");
    assert_eq!(v["timezone"], "America/New_York");
    let runs: Vec<chrono::DateTime<chrono::Utc>> = v["nextRuns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(runs.len(), 5, "{v}");
    assert!(runs.windows(2).all(|w| w[0] < w[1]), "{v}");
    assert!(runs[0] > chrono::Utc::now());
    for t in &runs {
        use chrono::{Datelike, Timelike};
        assert!([13, 14].contains(&t.hour()) && t.minute() == 0, "{t}");
        assert!(t.weekday().number_from_monday() <= 5, "{t}");
    }
    // AND count is honoured; the zone defaults to UTC
    let v = api
        .get("/api/automations/next-runs?cronExpression=*/15%20*%20*%20*%20*&count=3")
        .await
        .ok(200);
    assert_eq!(v["timezone"], "UTC");
    assert_eq!(v["nextRuns"].as_array().unwrap().len(), 3);
    // WHEN the expression, zone or count is wrong THEN 400 naming each field with the reason
    let e = api
        .get("/api/automations/next-runs?cronExpression=61%20*%20*%20*%20*&timezone=Mars/Olympus&count=0")
        .await
        .invalid("cronExpression");
    for field in ["timezone", "count"] {
        assert!(e["error"]["details"][field].is_string(), "{e}");
    }
    api.get("/api/automations/next-runs")
        .await
        .invalid("cronExpression");
}

#[tokio::test]
async fn an_account_has_at_most_200_automations() {
    // GIVEN an account with 200 automations
    let api = Api::start().await;
    let mut last = String::new();
    for i in 0..200 {
        let v = api
            .post(
                "/api/automations",
                json!({"name": format!("a{i}"), "prompt": "p", "cronExpression": "0 9 * * *"}),
            )
            .await
            .ok(201);
        last = v["automation"]["id"].as_str().unwrap().to_owned();
    }
    // WHEN it creates one more THEN 409 naming the cap, and nothing was scheduled for it
    let e = api
        .post(
            "/api/automations",
            json!({"name": "one-too-many", "prompt": "p", "cronExpression": "0 9 * * *"}),
        )
        .await
        .error(409, "conflict");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("200 automations"),
        "{e}"
    );
    // AND once one is deleted there is room again
    api.delete(&format!("/api/automations/{last}"))
        .await
        .ok(200);
    api.post(
        "/api/automations",
        json!({"name": "room-again", "prompt": "p", "cronExpression": "0 9 * * *"}),
    )
    .await
    .ok(201);
}
