//! How `experiments get` and `results` show an experiment: its fields, the leaderboard table,
//! numbers to 4 significant digits, latencies, cells cut to one line.

use super::scorer_spec;
use crate::client::output::{ago, cell, clean_line, print_fields, Table};
use operator_core::domain::experiment::Scorer;
use serde_json::Value;

/// One experiment: its fields, then the leaderboard.
pub(super) fn show(e: &Value) {
    let scorer = serde_json::from_value::<Scorer>(e["scorer"].clone()).ok();
    let scorer_text = match &scorer {
        Some(s) if s.lower_is_better() => format!("{} (an error: lower is better)", scorer_spec(s)),
        Some(s) => format!("{} (0-1: higher is better)", scorer_spec(s)),
        None => cell(&e["scorer"]),
    };
    let mut fields = vec![
        ("Name", cell(&e["name"])),
        ("ID", cell(&e["id"])),
        ("Status", cell(&e["status"])),
        (
            "Progress",
            format!(
                "{}/{}",
                cell(&e["progress"]["done"]),
                cell(&e["progress"]["total"])
            ),
        ),
        ("Scorer", scorer_text),
    ];
    if let Some(Scorer::LlmJudge { rubric }) = &scorer {
        fields.push(("Rubric", cut(&clean_line(rubric), 100)));
    }
    fields.extend([
        ("Items", cell(&e["itemCount"])),
        ("Concurrency", cell(&e["concurrency"])),
        ("Created", ago(&e["createdAt"])),
        ("Finished", ago(&e["finishedAt"])),
    ]);
    if !e["error"].is_null() {
        fields.push(("Error", cell(&e["error"])));
    }
    print_fields(&fields);
    println!();
    let mut t = Table::new(&[
        "RANK",
        "VARIANT",
        "SCORE",
        "CI95",
        "SCORED",
        "ERRORS",
        "MEAN LATENCY",
    ]);
    for (rank, s) in e["leaderboard"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let ci = match s["ci95"].as_array().map(Vec::as_slice) {
            Some([lo, hi]) => match (lo.as_f64(), hi.as_f64()) {
                (Some(lo), Some(hi)) => format!("{}..{}", sig4(lo), sig4(hi)),
                _ => "-".to_owned(),
            },
            _ => "-".to_owned(),
        };
        t.row(vec![
            (rank + 1).to_string(),
            cell(&s["instanceName"]),
            s["score"].as_f64().map_or("-".to_owned(), sig4),
            ci,
            cell(&s["scored"]),
            cell(&s["errors"]),
            s["meanLatencyMs"].as_f64().map_or("-".to_owned(), latency),
        ]);
    }
    t.print_or("No leaderboard yet.");
}

/// `x` with 4 significant digits (all the integer digits when there are more): 1.000,
/// 0.3333, 12.35, 12346; 0 as `0`.
pub(super) fn sig4(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x == 0.0 {
            "0".to_owned()
        } else {
            x.to_string()
        };
    }
    let decimals = |v: f64| (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let d = decimals(x);
    let text = format!("{x:.d$}");
    // Rounding may carry into a new digit (9.9996 → 10.000): one decimal fewer then.
    match text.parse::<f64>() {
        Ok(r) if decimals(r) < d => format!("{x:.*}", decimals(r)),
        _ => text,
    }
}

/// A latency in milliseconds: `840 ms`, `2.4 s`.
pub(super) fn latency(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// At most `max` characters, `…` marking a cut.
pub(super) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
