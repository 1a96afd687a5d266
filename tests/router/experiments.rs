//! `/api/experiments`: creation checks (variants, dataset, scorer, concurrency) with API.md's
//! error bodies, the views before any pair ran, cancel, delete and scoping. (Running pairs
//! needs live instances: tests/e2e/experiments.rs.)

use crate::harness::*;
use axum::http::Method;
use serde_json::{json, Value};

fn body(instances: Value) -> Value {
    json!({
        "name": "capitals",
        "instanceIds": instances,
        "dataset": {"items": [{"input": "Capital of France?", "expected": "Paris"},
                              {"input": "Capital of Italy?", "expected": "Rome"}]},
        "scorer": {"type": "exact"}
    })
}

#[tokio::test]
async fn bad_experiments_are_refused_with_the_field_named() {
    let api = Api::start().await;
    api.post("/api/instances", json!({"name": "alpha"}))
        .await
        .ok(201);
    api.assert_requires_key(Method::POST, "/api/experiments")
        .await;
    api.assert_requires_key(Method::GET, "/api/experiments")
        .await;
    // a scorer that does not exist, or one missing its own field
    for scorer in [
        json!({"type": "regex"}),
        json!({"type": "numeric"}),
        json!({"type": "jsonField", "field": ""}),
    ] {
        let mut b = body(json!(["alpha"]));
        b["scorer"] = scorer.clone();
        let r = api.post("/api/experiments", b).await;
        assert_eq!(r.status.as_u16(), 400, "{scorer}: {r:?}");
        assert_eq!(r.json()["error"]["code"], "invalid_request", "{scorer}");
    }
    // an empty dataset, a dataset of another shape, an item without its expected answer
    let mut b = body(json!(["alpha"]));
    b["dataset"] = json!({"items": []});
    api.post("/api/experiments", b).await.invalid("dataset");
    let mut b = body(json!(["alpha"]));
    b["dataset"] = json!({"rows": []});
    api.post("/api/experiments", b)
        .await
        .error(400, "invalid_request");
    let mut b = body(json!(["alpha"]));
    b["dataset"] = json!({"items": [{"input": "no answer"}]});
    let r = api.post("/api/experiments", b).await;
    assert_eq!(r.status.as_u16(), 400, "{r:?}");
    // no variants, more than 20, the same one twice, an unknown one (404, as for any id)
    api.post("/api/experiments", body(json!([])))
        .await
        .invalid("instanceIds");
    let many: Vec<String> = (0..21).map(|i| format!("v{i}")).collect();
    api.post("/api/experiments", body(json!(many)))
        .await
        .invalid("instanceIds");
    api.post("/api/experiments", body(json!(["alpha", "alpha"])))
        .await
        .invalid("instanceIds");
    api.post("/api/experiments", body(json!(["alpha", "nosuch"])))
        .await
        .error(404, "not_found");
    // a concurrency out of range
    let mut b = body(json!(["alpha"]));
    b["concurrency"] = json!(0);
    api.post("/api/experiments", b).await.invalid("concurrency");
    // a count with a fraction (a whole number written as 2.0 is a count: see below)
    let mut b = body(json!(["alpha"]));
    b["concurrency"] = json!(2.5);
    api.post("/api/experiments", b).await.invalid("concurrency");
    // an unknown field
    let mut b = body(json!(["alpha"]));
    b["variants"] = json!(3);
    api.post("/api/experiments", b)
        .await
        .error(400, "invalid_request");
    // THEN nothing was created
    let v = api.get("/api/experiments").await.ok(200);
    assert_eq!(v["experiments"], json!([]));
    // AND a whole number written as a float is a count, as JSON Schema's integer reads it
    let mut b = body(json!(["alpha"]));
    b["concurrency"] = json!(2.0);
    let v = api.post("/api/experiments", b).await.ok(201);
    assert_eq!(v["experiment"]["concurrency"], 2);
}

#[tokio::test]
async fn a_new_experiment_is_queued_readable_cancellable_and_scoped() {
    let api = Api::start().await;
    let alpha = api
        .post("/api/instances", json!({"name": "alpha"}))
        .await
        .ok(201);
    api.post("/api/instances", json!({"name": "beta"}))
        .await
        .ok(201);
    // WHEN an experiment over two variants is created (no worker runs here)
    let v = api
        .post(
            "/api/experiments",
            body(json!([alpha["instance"]["id"], "beta"])),
        )
        .await
        .ok(201);
    let id = v["experiment"]["id"].as_str().unwrap().to_owned();
    assert_eq!(v["experiment"]["status"], "queued");
    assert_eq!(v["experiment"]["scorer"], json!({"type": "exact"}));
    assert_eq!(v["experiment"]["concurrency"], 4);
    // THEN reading it shows no progress yet and both variants, unscored
    let v = api.get(&format!("/api/experiments/{id}")).await.ok(200);
    let e = &v["experiment"];
    assert_eq!(e["progress"], json!({"done": 0, "total": 4}));
    let board = e["leaderboard"].as_array().unwrap();
    assert_eq!(board.len(), 2);
    assert!(board
        .iter()
        .all(|s| s["score"].is_null() && s["scored"] == 0));
    let names: Vec<&str> = board
        .iter()
        .map(|s| s["instanceName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let r = api
        .get(&format!("/api/experiments/{id}/results"))
        .await
        .ok(200);
    assert_eq!(r["results"], json!([]));
    api.get(&format!("/api/experiments/{id}/results?cursor=bad"))
        .await
        .invalid("cursor");
    api.get(&format!("/api/experiments/{id}/results?instanceId=nosuch"))
        .await
        .error(404, "not_found");
    api.assert_page_errors("/api/experiments").await;
    // AND another account sees none of it
    let other = api.other_account().await;
    for path in [
        format!("/api/experiments/{id}"),
        format!("/api/experiments/{id}/results"),
    ] {
        api.get_as(&other, &path).await.error(404, "not_found");
    }
    let v = api.get_as(&other, "/api/experiments").await.ok(200);
    assert_eq!(v["experiments"], json!([]));
    // WHEN it is cancelled THEN 202 cancelled, and again changes nothing
    let v = api
        .post(&format!("/api/experiments/{id}/cancel"), json!({}))
        .await
        .ok(202);
    assert_eq!(v["experiment"]["status"], "cancelled");
    let again = api
        .post(&format!("/api/experiments/{id}/cancel"), json!({}))
        .await
        .ok(202);
    assert_eq!(
        again["experiment"]["finishedAt"],
        v["experiment"]["finishedAt"]
    );
    // AND unknown ids are 404s
    for path in ["/api/experiments/exp_nosuch", "/api/experiments/nonsense"] {
        api.get(path).await.error(404, "not_found");
        api.delete(path).await.error(404, "not_found");
        api.post(&format!("{path}/cancel"), json!({}))
            .await
            .error(404, "not_found");
    }
    // WHEN it is deleted THEN it is gone
    api.delete(&format!("/api/experiments/{id}")).await.ok(200);
    api.get(&format!("/api/experiments/{id}"))
        .await
        .error(404, "not_found");
}
