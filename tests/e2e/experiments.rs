//! Experiments over REST against a real server: variants are live instances whose agents
//! answer through the gateway (the scripted fake LLM), each answer scored.

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use serde_json::{json, Value};

/// Polls the experiment until it is no longer queued or running.
async fn finished(app: &App, id: &str) -> Value {
    eventually(120, || async {
        let (_, v) = app.get(&format!("/api/experiments/{id}")).await;
        let status = v["experiment"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (status != "queued" && status != "running").then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("experiment {id} did not finish"))
}

#[tokio::test]
async fn an_exact_experiment_over_two_variants_ranks_them_and_pages_its_results() {
    // GIVEN two live variants whose agents answer in turn: alpha right every time, beta once
    // (one lane, so the pairs run in order: item 0 on alpha, item 0 on beta, item 1 ...)
    let llm = FakeLlm::start(
        ["Paris", "Lyon", " berlin ", "Berlin", "Rome", "Milan"]
            .into_iter()
            .map(|t| Reply::Text(t.into()))
            .collect(),
    )
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let alpha = app.active_instance("alpha").await;
    let beta = app.active_instance("beta").await;
    // WHEN an experiment with an inline dataset and the exact scorer is started
    let (s, v) = app
        .post(
            "/api/experiments",
            json!({
                "name": "capitals",
                "instanceIds": ["alpha", beta],
                "dataset": {"items": [
                    {"input": "Capital of France?", "expected": "paris"},
                    {"input": "Capital of Germany?", "expected": "Berlin"},
                    {"input": "Capital of Italy?", "expected": "Rome"}
                ]},
                "scorer": {"type": "exact"},
                "concurrency": 1
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let e = &v["experiment"];
    assert_eq!(e["status"], "queued");
    assert_eq!(e["itemCount"], 3);
    assert_eq!(e["instanceIds"], json!([alpha, beta]));
    let id = e["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("exp_"));
    // THEN it succeeds with every pair done and alpha first
    let v = finished(&app, &id).await;
    let e = &v["experiment"];
    assert_eq!(e["status"], "succeeded", "{v}");
    assert_eq!(e["progress"], json!({"done": 6, "total": 6}));
    let board = e["leaderboard"].as_array().unwrap();
    assert_eq!(board.len(), 2, "{v}");
    assert_eq!(board[0]["instanceId"], alpha.as_str());
    assert_eq!(board[0]["instanceName"], "alpha");
    assert_eq!(board[0]["score"], 1.0);
    assert_eq!(board[0]["scored"], 3);
    assert_eq!(board[0]["errors"], 0);
    assert_eq!(board[1]["instanceName"], "beta");
    let beta_score = board[1]["score"].as_f64().unwrap();
    assert!((beta_score - 1.0 / 3.0).abs() < 1e-9, "{v}");
    let ci = board[1]["ci95"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() <= beta_score && beta_score <= ci[1].as_f64().unwrap());
    assert!(board[0]["meanLatencyMs"].as_f64().is_some());
    // AND the results page one row per (variant, item), by item then variant
    let (_, first) = app
        .get(&format!("/api/experiments/{id}/results?limit=4"))
        .await;
    let (_, rest) = app
        .get(&format!(
            "/api/experiments/{id}/results?limit=4&cursor={}",
            first["nextCursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rest["nextCursor"], Value::Null);
    let rows: Vec<&Value> = first["results"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["results"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    let germany_beta = rows
        .iter()
        .find(|r| r["itemIndex"] == 1 && r["instanceId"] == beta.as_str())
        .unwrap();
    assert_eq!(germany_beta["input"], "Capital of Germany?");
    assert_eq!(germany_beta["expected"], "Berlin");
    assert_eq!(germany_beta["output"], "Berlin");
    assert_eq!(germany_beta["score"], 1.0);
    let (_, only_alpha) = app
        .get(&format!("/api/experiments/{id}/results?instanceId=alpha"))
        .await;
    assert_eq!(only_alpha["results"].as_array().unwrap().len(), 3);
    // AND each item reached the variant's agent once: six model calls
    assert_eq!(llm.requests().len(), 6);
    // AND it is listed, and deleting it removes it
    let (_, list) = app.get("/api/experiments").await;
    assert_eq!(list["experiments"][0]["id"], id.as_str());
    let (s, _) = app.delete(&format!("/api/experiments/{id}")).await;
    assert_eq!(s, 200);
    let (s, v) = app.get(&format!("/api/experiments/{id}")).await;
    assert_error(&(s, v), 404, "not_found");
}
