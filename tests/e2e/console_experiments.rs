//! The console's Experiments pages in a real browser: `tests/console/experiments.mjs` creates an
//! experiment through the form, watches it run, reads its leaderboard, chart and results,
//! evolves it, cancels and deletes another — against the real binary whose variants' agents
//! talk to the scripted fake LLM. Then what the pages showed and did is checked over REST.

use crate::browser_suite;
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use serde_json::Value;
use std::time::Duration;

const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

/// The model's answers in the order the suite causes them (see the suite's header).
fn script() -> Vec<Reply> {
    let late = |t: &str| Reply::LateText(t.into(), 600);
    let mut s: Vec<Reply> = ["a", "a", "b", "x", "c", "x"]
        .into_iter()
        .map(late)
        .collect();
    s.push(Reply::Text("Answer with the letter alone.".into()));
    s.extend(["a", "a", "b", "x", "c", "c"].into_iter().map(late));
    s.extend((0..4).map(|i| Reply::LateText(format!("slow {i}"), 3000)));
    s
}

/// The page's leaderboard rows as (variant, score, scored, errors), from the API's numbers
/// formatted as the page does (three decimals at most).
fn api_board(e: &Value) -> Vec<[String; 4]> {
    e["leaderboard"]
        .as_array()
        .expect("a leaderboard")
        .iter()
        .map(|r| {
            let score = r["score"].as_f64().expect("a score");
            let shown = format!("{score:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned();
            [
                r["instanceName"].as_str().unwrap_or_default().to_owned(),
                shown,
                r["scored"].to_string(),
                r["errors"].to_string(),
            ]
        })
        .collect()
}

#[tokio::test]
async fn the_experiments_pages_run_rank_evolve_cancel_and_delete_in_a_real_browser() {
    browser_suite::assert_installed();
    // GIVEN two variants of skill `p`, and the fake model's answers in the suite's order
    let llm = FakeLlm::start(script()).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    for v in ["p-v1", "p-v2"] {
        app.variant_with_skill(v, "p").await;
    }

    // WHEN the suite works the pages
    let shots = browser_suite::fresh_screenshot_dir("console-experiments-screenshots");
    let run = browser_suite::run("experiments.mjs", &app, &shots, &[], SUITE_TIMEOUT).await;
    println!("{}", run.stdout);
    assert!(
        run.ok,
        "the experiments suite failed:\n{}\n--- stderr ---\n{}\n--- server log (tail) ---\n{}",
        run.stdout,
        run.stderr,
        tail(&app.server_log(), 60)
    );
    let s = browser_suite::summary(&run.stdout);

    // THEN the leaderboards the pages showed are the API's
    for (id, shown) in [("first", "board"), ("evolved", "evolvedBoard")] {
        let id = s[id].as_str().expect("an experiment id in SUMMARY");
        let (st, v) = app.get(&format!("/api/experiments/{id}")).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["experiment"]["status"], "succeeded", "{v}");
        let page: Vec<[String; 4]> =
            serde_json::from_value(s[shown].clone()).expect("the page's board");
        assert_eq!(page, api_board(&v["experiment"]), "{v}");
    }
    // AND the evolve made generation 2 from p-v1's skill, steered by the dialog's instructions
    let (st, skill) = app
        .get("/api/instances/p-gen2-v1/files?path=skills/p/SKILL.md")
        .await;
    assert_eq!(st, 200, "{skill}");
    assert!(
        skill["content"]
            .as_str()
            .is_some_and(|c| c.contains("Answer with the letter alone.")),
        "{skill}"
    );
    let reqs = serde_json::to_string(&llm.requests()).expect("requests");
    assert!(reqs.contains("Strategy of p-v1") && reqs.contains("Focus on the ensemble approach."));
    // AND the cancelled experiment was deleted, and cancelling stopped its items: of its 4
    // answers (3 s each) at most 2 were asked for before the page cancelled it
    let slow = s["slow"].as_str().expect("slow-exp's id");
    let (st, _) = app.get(&format!("/api/experiments/{slow}")).await;
    assert_eq!(st, 404);
    let asked = llm.requests().len();
    assert!(
        (14..=15).contains(&asked),
        "6 + 1 + 6 before slow-exp, then 1 or 2 of its 4: {asked}"
    );
    // AND billing counts every item that ran, the deleted experiment's too
    let (_, b) = app.get("/api/billing").await;
    let items = b["usage"]["experimentItems"]
        .as_u64()
        .expect("experimentItems");
    assert!((12..=14).contains(&items), "{b}");

    // AND every page left its screenshot
    for f in [
        "experiment-new.png",
        "experiment-running.png",
        "experiment.png",
        "experiment-evolved.png",
        "experiment-cancelled.png",
        "experiments.png",
        "experiment-phone.png",
    ] {
        assert!(shots.join(f).exists(), "no screenshot {f}");
    }
}
