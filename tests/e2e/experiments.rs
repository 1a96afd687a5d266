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

/// Starts an experiment over `instances` with `items` and `scorer`, one lane.
async fn start(app: &App, instances: Value, items: Value, scorer: Value) -> String {
    let (s, v) = app
        .post(
            "/api/experiments",
            json!({"name": "e", "instanceIds": instances, "dataset": {"items": items},
                   "scorer": scorer, "concurrency": 1}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["experiment"]["id"].as_str().unwrap().to_owned()
}

/// The inputs the variants' agents received, in order (their last user message).
fn inputs_seen(llm: &FakeLlm) -> Vec<String> {
    llm.requests()
        .iter()
        .filter_map(|r| {
            let last = r["messages"].as_array()?.last()?.clone();
            let text = match &last["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                _ => return None,
            };
            text.starts_with("Q").then_some(text)
        })
        .collect()
}

#[tokio::test]
async fn the_llm_judge_grades_with_reasons_and_a_malformed_grade_is_retried_once_then_an_error() {
    // GIVEN one variant; per item its answer, then the judge's grade(s)
    let llm = FakeLlm::start(vec![
        Reply::Text("Answer A".into()),
        Reply::Text(r#"{"score": 0.9, "reason": "Complete and correct."}"#.into()),
        Reply::Text("Answer B".into()),
        Reply::Text("I would say it is fairly good.".into()),
        Reply::Text("```json\n{\"score\": 0.2, \"reason\": \"Misses the point.\"}\n```".into()),
        Reply::Text("Answer C".into()),
        Reply::Text("not a grade".into()),
        Reply::Text(r#"{"score": 7, "reason": "out of range"}"#.into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    app.active_instance("writer").await;
    let id = start(
        &app,
        json!(["writer"]),
        json!([{"input": "Q0"}, {"input": "Q1", "expected": "a point"}, {"input": "Q2"}]),
        json!({"type": "llmJudge", "rubric": "Is the answer complete and correct?"}),
    )
    .await;
    // WHEN it finishes
    let v = finished(&app, &id).await;
    // THEN it succeeded: two items graded, the third recorded as an error (no crash, no 5xx)
    let e = &v["experiment"];
    assert_eq!(e["status"], "succeeded", "{v}");
    let s = &e["leaderboard"][0];
    assert_eq!(
        (s["scored"].as_u64(), s["errors"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    assert!((s["score"].as_f64().unwrap() - 0.55).abs() < 1e-9, "{v}");
    let (_, r) = app.get(&format!("/api/experiments/{id}/results")).await;
    let rows = r["results"].as_array().unwrap();
    assert_eq!(rows[0]["score"], 0.9);
    assert_eq!(rows[0]["reason"], "Complete and correct.");
    assert_eq!(
        rows[1]["score"], 0.2,
        "the malformed grade was asked for again: {r}"
    );
    assert_eq!(rows[1]["reason"], "Misses the point.");
    assert_eq!(rows[2]["score"], Value::Null);
    assert_eq!(rows[2]["output"], "Answer C");
    assert!(
        rows[2]["error"]
            .as_str()
            .unwrap()
            .contains("malformed judge output"),
        "{r}"
    );
    // AND the judge saw the rubric and the answer, and was asked exactly 5 times
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 8);
    // AND billing counts the 3 items, and meters every token of the 8 model calls — the
    // variant's own 3 through the gateway, the judge's 5 — to the variant
    let (_, b) = app.get("/api/billing").await;
    assert_eq!(b["usage"]["experimentItems"], 3, "{b}");
    let by = &b["usage"]["byInstance"];
    assert_eq!(by.as_array().map(Vec::len), Some(1), "{b}");
    assert_eq!(
        by[0]["tokens"].as_u64(),
        Some(llm.reported_weighted()),
        "billed vs what the model reported: {b}"
    );
    assert!(llm.reported_weighted() > 0);
    let judge = serde_json::to_string(&reqs[1]).unwrap();
    assert!(judge.contains("Is the answer complete and correct?") && judge.contains("Answer A"));
}

#[tokio::test]
async fn cancelling_stops_the_items_not_yet_sent() {
    // GIVEN an experiment whose first answer is held back
    let llm = FakeLlm::start(vec![Reply::Held("1".into()), Reply::Text("2".into())]).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    app.active_instance("solo").await;
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"input": format!("Q{i}"), "expected": "x"}))
        .collect();
    let id = start(
        &app,
        json!(["solo"]),
        json!(items),
        json!({"type": "exact"}),
    )
    .await;
    eventually(60, || async { (llm.held_now() == 1).then_some(()) })
        .await
        .expect("the first item reached the model");
    // WHEN it is cancelled while the first item is in flight, and that answer then arrives
    let (s, v) = app
        .post(&format!("/api/experiments/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["experiment"]["status"], "cancelled");
    llm.release_held();
    // THEN the answer in flight is kept (the lane looks at the status before each next item)
    let v = eventually(60, || async {
        let (_, v) = app.get(&format!("/api/experiments/{id}")).await;
        (v["experiment"]["progress"]["done"] == 1).then_some(v)
    })
    .await
    .expect("the item in flight is recorded");
    // AND no other item was sent; the experiment stays cancelled
    assert_eq!(v["experiment"]["status"], "cancelled", "{v}");
    assert_eq!(inputs_seen(&llm), ["Q0"]);
    let (_, r) = app.get(&format!("/api/experiments/{id}/results")).await;
    assert_eq!(r["results"].as_array().unwrap().len(), 1, "{r}");
}

#[tokio::test]
async fn after_a_kill_9_mid_experiment_a_restart_completes_it_without_resending_finished_items() {
    // GIVEN an experiment of 4 items whose second answer is held when the server is killed
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let llm = FakeLlm::start(vec![
        Reply::Text("a0".into()),
        Reply::Held("lost".into()),
        Reply::Text("a1".into()),
        Reply::Text("a2".into()),
        Reply::Text("a3".into()),
    ])
    .await;
    let opts = || Options {
        data_dir: Some(dir.path()),
        key: Some(key.clone()),
        env: llm.openai_env(),
    };
    let app = App::spawn_with(opts()).await;
    app.active_instance("solo").await;
    let items: Vec<Value> = (0..4)
        .map(|i| json!({"input": format!("Q{i}"), "expected": format!("a{i}")}))
        .collect();
    let id = start(
        &app,
        json!(["solo"]),
        json!(items),
        json!({"type": "exact"}),
    )
    .await;
    eventually(60, || async { (llm.held_now() == 1).then_some(()) })
        .await
        .expect("the second item reached the model");
    // WHEN the server is killed -9 and started again
    let _ = app.kill9();
    llm.release_held();
    let app = App::spawn_with(opts()).await;
    // THEN the experiment completes with every item scored
    let v = finished(&app, &id).await;
    let e = &v["experiment"];
    assert_eq!(e["status"], "succeeded", "{v}");
    assert_eq!(e["progress"], json!({"done": 4, "total": 4}));
    let (_, r) = app.get(&format!("/api/experiments/{id}/results")).await;
    assert_eq!(
        e["leaderboard"][0]["score"],
        1.0,
        "{v}\n{r}\nmodel saw {:?}\n{}",
        inputs_seen(&llm),
        tail(&app.server_log(), 40)
    );
    // AND the finished item was never sent again; only the one in flight was
    assert_eq!(inputs_seen(&llm), ["Q0", "Q1", "Q1", "Q2", "Q3"]);
}

#[tokio::test]
async fn evolving_keeps_the_best_mutates_their_skills_and_runs_the_next_generation() {
    // GIVEN three variants of skill `p` scored on 2 items: v1 1.0, v2 0.5, v3 0.0; then the
    // model writes two mutations; then the new generation answers
    let mut script: Vec<Reply> = ["a", "a", "x", "b", "x", "x"]
        .into_iter()
        .map(|t| Reply::Text(t.into()))
        .collect();
    script.push(Reply::Text("Mutation one: check twice.".into()));
    script.push(Reply::Text("Mutation two: ensemble the guesses.".into()));
    // gen 2 runs [p-v1, p-v2, p-gen2-v1, p-gen2-v2] on both items
    for t in ["a", "x", "a", "a", "b", "b", "x", "b"] {
        script.push(Reply::Text(t.into()));
    }
    let llm = FakeLlm::start(script).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    for v in ["p-v1", "p-v2", "p-v3"] {
        app.variant_with_skill(v, "p").await;
    }
    let id = start(
        &app,
        json!(["p-v1", "p-v2", "p-v3"]),
        json!([{"input": "Q0", "expected": "a"}, {"input": "Q1", "expected": "b"}]),
        json!({"type": "exact"}),
    )
    .await;
    // an experiment still running cannot be evolved; bad sizes are 400s
    let (s, v) = app.get(&format!("/api/experiments/{id}")).await;
    assert_eq!(s, 200, "{v}");
    finished(&app, &id).await;
    let (s, v) = app
        .post(
            &format!("/api/experiments/{id}/evolve"),
            json!({"keep": 0, "populationSize": 4}),
        )
        .await;
    assert_error(&(s, v), 400, "invalid_request");
    let (s, v) = app
        .post(
            &format!("/api/experiments/{id}/evolve"),
            json!({"keep": 2, "populationSize": 2}),
        )
        .await;
    assert_error(&(s, v), 400, "invalid_request");
    // WHEN it is evolved: keep 2, population 4, steered to the ensemble approach
    let (s, v) = app
        .post(
            &format!("/api/experiments/{id}/evolve"),
            json!({"keep": 2, "populationSize": 4, "instructions": "Focus on the ensemble approach."}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // THEN two mutations of the best two were made as generation 2
    let names: Vec<&str> = v["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p-gen2-v1", "p-gen2-v2"]);
    assert_eq!(v["notMade"], 0);
    let (_, skill) = app
        .get("/api/instances/p-gen2-v2/files?path=skills/p/SKILL.md")
        .await;
    let skill = skill["content"].as_str().unwrap();
    assert!(
        skill.contains("Mutation two: ensemble the guesses.") && skill.contains("name: p"),
        "{skill}"
    );
    let reqs = llm.requests();
    let mutation = serde_json::to_string(&reqs[7]).unwrap();
    assert!(
        mutation.contains("Strategy of p-v2") && mutation.contains("ensemble approach"),
        "{mutation}"
    );
    // AND the next generation runs the same items on the kept and the new
    let next = v["experiment"]["id"].as_str().unwrap().to_owned();
    let v = finished(&app, &next).await;
    let e = &v["experiment"];
    assert_eq!(e["status"], "succeeded", "{v}");
    assert_eq!(e["itemCount"], 2);
    let board: Vec<(&str, f64)> = e["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["instanceName"].as_str().unwrap(),
                s["score"].as_f64().unwrap(),
            )
        })
        .collect();
    // (v1 a b, v2 x b, gen2-v1 a x, gen2-v2 a b; ties keep the variants' order)
    assert_eq!(
        board,
        [
            ("p-v1", 1.0),
            ("p-gen2-v2", 1.0),
            ("p-v2", 0.5),
            ("p-gen2-v1", 0.5)
        ]
    );
    assert_eq!(llm.requests().len(), 16);
}

#[tokio::test]
async fn an_automation_runs_an_experiment_through_the_agent() {
    // GIVEN a daily automation whose prompt asks the agent to score a variant against actuals;
    // the agent's model calls run_experiment, the variant answers, the agent reports
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "run_experiment".into(),
            json!({"name": "daily-actuals", "instanceIds": ["desk"],
                   "dataset": {"items": [{"input": "Q0: today's AQI?", "expected": 42}]},
                   "scorer": {"type": "numeric", "metric": "mae"}}),
        )]),
        Reply::Text("AQI 45 today.".into()),
        Reply::Text("Scored desk against today's actuals: MAE 3.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    app.active_instance("desk").await;
    let (s, v) = app
        .post(
            "/api/automations",
            json!({"name": "score daily", "prompt": "Score desk against today's actuals.",
                   "cronExpression": "0 18 * * *", "timezone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let auto = v["automation"]["id"].as_str().unwrap().to_owned();
    // WHEN it fires (run now: the same job a schedule queues)
    let (s, v) = app
        .post(&format!("/api/automations/{auto}/run"), json!({}))
        .await;
    assert_eq!(s, 202, "{v}");
    let run = v["run"]["id"].as_str().unwrap().to_owned();
    // THEN the run succeeds and an experiment scored the variant
    eventually(120, || async {
        let (_, runs) = app.get(&format!("/api/automations/{auto}/runs")).await;
        let r = runs["runs"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == run.as_str())?
            .clone();
        (r["status"] == "succeeded").then_some(())
    })
    .await
    .expect("the automation's run succeeds");
    let (_, list) = app.get("/api/experiments").await;
    let id = list["experiments"][0]["id"].as_str().unwrap().to_owned();
    let v = finished(&app, &id).await;
    assert_eq!(v["experiment"]["name"], "daily-actuals");
    assert_eq!(v["experiment"]["leaderboard"][0]["score"], 3.0, "{v}");
    assert_eq!(llm.requests().len(), 3);
}
