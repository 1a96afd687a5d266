//! Tenant isolation: a second account sees and changes nothing of the first, on every route.

use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn a_second_account_sees_and_changes_nothing_of_the_first() {
    let app = App::spawn().await;
    // GIVEN account A with one of everything
    let (_, i) = app
        .post("/api/instances", json!({"name": "shared-name"}))
        .await;
    let inst = i["instance"]["id"].as_str().unwrap().to_owned();
    // Settled first, so the before/after snapshots compare like with like
    app.wait_status(&app.key, &inst, "active").await;
    let (_, s) = app
        .post(
            "/api/secrets",
            json!({"name": "TOKEN", "value": "a-secret"}),
        )
        .await;
    let sec = s["secret"]["id"].as_str().unwrap().to_owned();
    let (_, a) = app
        .post(
            "/api/automations",
            json!({"name": "a", "prompt": "p", "cronExpression": "0 9 * * *"}),
        )
        .await;
    let auto = a["automation"]["id"].as_str().unwrap().to_owned();
    let (_, w) = app
        .post(
            "/api/webhooks",
            json!({"name": "w", "promptTemplate": "{{payload}}"}),
        )
        .await;
    let wh = w["webhook"]["id"].as_str().unwrap().to_owned();
    let (_, k) = app.post("/api/chat-keys", json!({"name": "a-key"})).await;
    let key_id = k["id"].as_str().unwrap().to_owned();
    let a_key = k["key"].as_str().unwrap().to_owned();
    let paths = [
        format!("/api/instances/{inst}"),
        format!("/api/secrets/{sec}"),
        format!("/api/automations/{auto}"),
        format!("/api/webhooks/{wh}"),
        format!("/api/automations/{auto}/runs"),
        format!("/api/webhooks/{wh}/deliveries"),
        "/api/chat-keys".to_owned(),
    ];
    let before = snapshot(&app, &paths).await;

    // WHEN account B tries every route on A's ids
    let (_, b) = app.create_account("pro");
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/instances/{inst}"), None),
        (Method::GET, "/api/instances/shared-name".into(), None),
        (
            Method::PUT,
            format!("/api/instances/{inst}"),
            Some(json!({"name": "stolen"})),
        ),
        (Method::POST, format!("/api/instances/{inst}/restart"), None),
        (
            Method::POST,
            format!("/api/instances/{inst}/clone"),
            Some(json!({"name": "c"})),
        ),
        (Method::DELETE, format!("/api/instances/{inst}"), None),
        (Method::GET, format!("/api/secrets/{sec}"), None),
        (
            Method::PUT,
            format!("/api/secrets/{sec}"),
            Some(json!({"value": "x"})),
        ),
        (Method::DELETE, format!("/api/secrets/{sec}"), None),
        (
            Method::POST,
            format!("/api/secrets/{sec}/grants"),
            Some(json!({"instanceId": inst})),
        ),
        (
            Method::DELETE,
            format!("/api/secrets/{sec}/grants/{inst}"),
            None,
        ),
        (Method::GET, format!("/api/automations/{auto}"), None),
        (
            Method::PUT,
            format!("/api/automations/{auto}"),
            Some(json!({"enabled": false})),
        ),
        (Method::POST, format!("/api/automations/{auto}/run"), None),
        (Method::GET, format!("/api/automations/{auto}/runs"), None),
        (Method::DELETE, format!("/api/automations/{auto}"), None),
        (Method::GET, format!("/api/webhooks/{wh}"), None),
        (
            Method::PUT,
            format!("/api/webhooks/{wh}"),
            Some(json!({"regenerateToken": true})),
        ),
        (Method::GET, format!("/api/webhooks/{wh}/deliveries"), None),
        (Method::DELETE, format!("/api/webhooks/{wh}"), None),
        (Method::DELETE, format!("/api/chat-keys/{key_id}"), None),
    ];
    for (m, p, body) in attempts {
        let got = app.call_as(&b, m.clone(), &p, body).await;
        // THEN every one is a 404 (never 403, never a leak)
        assert_error(&got, 404, "not_found");
        assert!(!got.1.to_string().contains("a-secret"), "{m} {p}");
    }
    // B's lists are empty of A's things
    for (p, field) in [
        ("/api/instances?includeDeleted=true", "instances"),
        ("/api/secrets", "secrets"),
        ("/api/automations", "automations"),
        ("/api/webhooks", "webhooks"),
    ] {
        let (s, v) = app.call_as(&b, Method::GET, p, None).await;
        assert_eq!(s, 200);
        assert_eq!(v[field].as_array().unwrap().len(), 0, "{p}: {v}");
    }
    let (_, keys) = app.call_as(&b, Method::GET, "/api/chat-keys", None).await;
    assert!(!keys.to_string().contains(&key_id));
    // B's own instance and secret may reuse A's names; B cannot grant its secret to A's instance
    let (s, _) = app
        .call_as(
            &b,
            Method::POST,
            "/api/instances",
            Some(json!({"name": "shared-name"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, bs) = app
        .call_as(
            &b,
            Method::POST,
            "/api/secrets",
            Some(json!({"name": "TOKEN", "value": "b"})),
        )
        .await;
    assert_eq!(s, 201);
    let bsec = bs["secret"]["id"].as_str().unwrap();
    let got = app
        .call_as(
            &b,
            Method::POST,
            &format!("/api/secrets/{bsec}/grants"),
            Some(json!({"instanceId": inst})),
        )
        .await;
    assert_error(&got, 404, "not_found");
    let (_, bill) = app.call_as(&b, Method::GET, "/api/billing", None).await;
    assert_eq!(bill["capacity"]["used"], 1);

    // AND A's resources are exactly as before, A's key still works
    let after = snapshot(&app, &paths).await;
    assert_eq!(before, after);
    let (s, _) = app.call_as(&a_key, Method::GET, "/api/billing", None).await;
    assert_eq!(s, 200);
    let (_, abill) = app.get("/api/billing").await;
    assert_eq!(abill["capacity"]["used"], 1);
}

async fn snapshot(app: &App, paths: &[String]) -> Vec<(reqwest::StatusCode, Value)> {
    let mut out = vec![];
    for p in paths {
        out.push(app.get(p).await);
    }
    out
}
