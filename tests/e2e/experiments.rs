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

/// A chat turn's JSON answer (`x-response-format: json`) for `key`.
async fn chat_json(app: &App, key: &str, text: &str) -> Value {
    let (s, v) = send(
        app.request(reqwest::Method::POST, "/api/chat", Some(key))
            .header("x-response-format", "json")
            .json(
                &json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": text}]}]}),
            ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// The output of the chat's first call of `tool`.
async fn tool_output(app: &App, key: &str, chat: &str, tool: &str) -> Value {
    let (_, c) = app
        .call_as(
            key,
            reqwest::Method::GET,
            &format!("/api/chat/{chat}"),
            None,
        )
        .await;
    c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["parts"].as_array().unwrap())
        .find(|p| p["type"] == format!("tool-{tool}"))
        .unwrap_or_else(|| panic!("no {tool} call in {c}"))["output"]
        .clone()
}

#[tokio::test]
async fn the_agent_deploys_three_variants_scores_them_and_reports_the_leaderboard() {
    // GIVEN the Operator agent's model deploys 3 variants of a skill, runs a 10-item numeric
    // experiment on them, then reports; the variants' agents answer each day's AQI: v1 exactly,
    // v2 2 off, v3 5 off (one lane: item 0 on v1, v2, v3, then item 1 ...)
    let days: Vec<(String, f64)> = (0..10)
        .map(|i| {
            (
                format!("Day {i}: predict tomorrow's AQI."),
                40.0 + 3.0 * i as f64,
            )
        })
        .collect();
    let mut script = vec![
        Reply::ToolCalls(vec![(
            "create_variants".into(),
            json!({"instance": "aqi", "skill": "aqi-predictor", "variants": [
                {"description": "persistence", "body": "Predict today's value."},
                {"description": "trend", "body": "Extrapolate the 3-day trend."},
                {"description": "ensemble", "body": "Average persistence and trend."}
            ]}),
        )]),
        Reply::ToolCalls(vec![(
            "run_experiment".into(),
            json!({
                "name": "aqi-last-week",
                "instanceIds": ["aqi-predictor-v1", "aqi-predictor-v2", "aqi-predictor-v3"],
                "dataset": {"items": days.iter().map(|(q, a)| json!({"input": q, "expected": a})).collect::<Vec<_>>()},
                "scorer": {"type": "numeric", "metric": "mae"},
                "concurrency": 1
            }),
        )]),
    ];
    for (_, actual) in &days {
        for off in [0.0, 2.0, -5.0] {
            script.push(Reply::Text(format!(
                "My forecast: AQI {} tomorrow.",
                actual + off
            )));
        }
    }
    let report = "Leaderboard (MAE, lower is better): aqi-predictor-v1 0, aqi-predictor-v2 2, aqi-predictor-v3 5.";
    script.push(Reply::Text(report.into()));
    let llm = FakeLlm::start(script).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    app.active_instance("aqi").await;
    // WHEN the person asks for it in one message
    let v = chat_json(
        &app,
        &app.key,
        "Deploy 3 variants of the AQI predictor with different strategies and score them against last week's data.",
    )
    .await;
    // THEN the answer holds the leaderboard
    assert_eq!(v["text"], report, "{v}");
    let chat = v["chatId"].as_str().unwrap();
    // AND three active variants exist, each with its own version of the skill
    let (_, list) = app.get("/api/instances").await;
    let mut names: Vec<&str> = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "aqi",
            "aqi-predictor-v1",
            "aqi-predictor-v2",
            "aqi-predictor-v3"
        ]
    );
    let (_, skill) = app
        .get("/api/instances/aqi-predictor-v2/files?path=skills/aqi-predictor/SKILL.md")
        .await;
    assert!(
        skill["content"]
            .as_str()
            .unwrap()
            .contains("Extrapolate the 3-day trend."),
        "{skill}"
    );
    // AND the experiment ran 10 items on each and ranks them by MAE, as the tool told the model
    let out = tool_output(&app, &app.key, chat, "run_experiment").await;
    let id = out["experiment"]["id"].as_str().unwrap().to_owned();
    let (_, got) = app.get(&format!("/api/experiments/{id}")).await;
    let e = &got["experiment"];
    assert_eq!(e["status"], "succeeded", "{got}");
    assert_eq!(e["itemCount"], 10);
    assert_eq!(e["progress"], json!({"done": 30, "total": 30}));
    let board: Vec<(String, f64)> = e["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["instanceName"].as_str().unwrap().to_owned(),
                s["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        board,
        [
            ("aqi-predictor-v1".to_owned(), 0.0),
            ("aqi-predictor-v2".to_owned(), 2.0),
            ("aqi-predictor-v3".to_owned(), 5.0)
        ]
    );
    assert_eq!(out["experiment"]["leaderboard"], e["leaderboard"]);
    // AND every item reached each variant once (2 + 30 + 1 model calls)
    assert_eq!(llm.requests().len(), 33);
}

#[tokio::test]
async fn on_a_basic_plan_the_agent_makes_no_variant_and_says_so() {
    // GIVEN a basic account (1 instance) whose one instance is in use
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_variants".into(),
            json!({"instance": "solo", "skill": "predictor", "variants": [
                {"description": "a", "body": "A"}, {"description": "b", "body": "B"}, {"description": "c", "body": "C"}
            ]}),
        )]),
        Reply::Text("Your plan has room for no more instances, so I made no variants.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_account("basic");
    let (s, v) = app
        .call_as(
            &key,
            reqwest::Method::POST,
            "/api/instances",
            Some(json!({"name": "solo"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // WHEN the agent is asked for variants
    let v = chat_json(&app, &key, "Deploy 3 variants of the predictor.").await;
    // THEN the tool made none, said why and what to do, and nothing failed with a 402
    let out = tool_output(&app, &key, v["chatId"].as_str().unwrap(), "create_variants").await;
    assert_eq!(out["variants"], json!([]), "{out}");
    assert_eq!(out["notMade"], 3);
    let note = out["note"].as_str().unwrap();
    assert!(
        note.contains("plan allows 1") && note.contains("0 of the 3"),
        "{note}"
    );
    assert!(out.get("error").is_none(), "{out}");
    // AND the account still has its one instance; the model was asked twice, no loop
    let (_, list) = app
        .call_as(&key, reqwest::Method::GET, "/api/instances", None)
        .await;
    assert_eq!(list["instances"].as_array().unwrap().len(), 1);
    assert_eq!(llm.requests().len(), 2);
}
