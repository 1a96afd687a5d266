//! Unit tests of the leaderboard: means and t-intervals against hand-computed values, RMSE,
//! ordering both ways, unscored variants last.

use super::*;

fn ok<'a>(id: &'a str, score: f64, latency: u64) -> Outcome<'a> {
    Outcome {
        instance_id: id,
        score: Some(score),
        latency_ms: Some(latency),
    }
}

fn failed(id: &str) -> Outcome<'_> {
    Outcome {
        instance_id: id,
        score: None,
        latency_ms: None,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

fn assert_ci(s: &Standing, lo: f64, hi: f64) {
    let (l, h) = s.ci95.expect("an interval");
    assert!(close(l, lo) && close(h, hi), "{:?} != ({lo}, {hi})", s.ci95);
}

fn ids(board: &[Standing]) -> Vec<&str> {
    board.iter().map(|s| s.instance_id.as_str()).collect()
}

#[test]
fn t_table_matches_the_published_quantiles() {
    assert_eq!(t_975(1), 12.7062);
    assert_eq!(t_975(2), 4.3027);
    assert_eq!(t_975(10), 2.2281);
    assert_eq!(t_975(30), 2.0423);
    assert_eq!(t_975(31), 1.96);
    assert_eq!(t_975(500), 1.96);
}

#[test]
fn mae_mean_and_t_interval_match_hand_computed_values() {
    // errors 2, 4, 6, 8: mean 5, s = √(20/3) = 2.58199, s/√4 = 1.29099, t(3) = 3.1824
    let outs: Vec<_> = [2.0, 4.0, 6.0, 8.0]
        .iter()
        .map(|&e| ok("a", e, 100))
        .collect();
    let board = leaderboard(&["a"], &outs, true, false);
    assert_eq!(board.len(), 1);
    assert_eq!(board[0].score, Some(5.0));
    assert_ci(&board[0], 0.891539, 9.108461);
    assert_eq!((board[0].scored, board[0].errors), (4, 0));
    assert_eq!(board[0].mean_latency_ms, Some(100.0));
}

#[test]
fn mae_interval_is_floored_at_zero() {
    // errors 0.2, 0.4, 0.9: mean 0.5, half-width 0.8957 → (−0.3957 → 0, 1.3957); not clamped to 1
    let outs: Vec<_> = [0.2, 0.4, 0.9].iter().map(|&e| ok("a", e, 1)).collect();
    let board = leaderboard(&["a"], &outs, true, false);
    assert!(close(board[0].score.unwrap(), 0.5));
    assert_ci(&board[0], 0.0, 1.395678);
}

#[test]
fn rmse_is_the_root_of_the_mean_squared_error_and_its_interval() {
    // squared errors 1, 4, 9, 16: MSE 7.5, s = √43, half = 3.1824·√43/2 = 10.4342
    let outs: Vec<_> = [1.0, 4.0, 9.0, 16.0]
        .iter()
        .map(|&e| ok("a", e, 1))
        .collect();
    let board = leaderboard(&["a"], &outs, true, true);
    assert!(close(board[0].score.unwrap(), 7.5f64.sqrt()));
    assert_ci(&board[0], 0.0, 4.234879);
    // A tight spread keeps a positive lower bound: squared errors 4, 4.5, 5 → MSE 4.5,
    // s = 0.5, half = 4.3027·0.5/√3 = 1.24208 → √3.25792, √5.74208
    let outs: Vec<_> = [4.0, 4.5, 5.0].iter().map(|&e| ok("b", e, 1)).collect();
    let board = leaderboard(&["b"], &outs, true, true);
    assert!(close(board[0].score.unwrap(), 4.5f64.sqrt()));
    assert_ci(&board[0], 1.804970, 2.396264);
}

#[test]
fn zero_to_one_scores_are_clamped_to_the_unit_interval() {
    // 0.6, 0.8, 1.0: mean 0.8, s = 0.2, half = 4.3027·0.2/√3 = 0.49683 → (0.30317, 1.29683 → 1)
    let outs: Vec<_> = [0.6, 0.8, 1.0].iter().map(|&e| ok("a", e, 1)).collect();
    let board = leaderboard(&["a"], &outs, false, false);
    assert!(close(board[0].score.unwrap(), 0.8));
    assert_ci(&board[0], 0.303167, 1.0);
}

#[test]
fn beyond_thirty_degrees_of_freedom_the_normal_quantile_is_used() {
    // 20 ones and 20 zeros: mean 0.5, s = √(10/39), half = 1.96·s/√40 = 0.156926
    let mut outs: Vec<_> = (0..20).map(|_| ok("a", 1.0, 1)).collect();
    outs.extend((0..20).map(|_| ok("a", 0.0, 1)));
    let board = leaderboard(&["a"], &outs, false, false);
    assert_eq!(board[0].score, Some(0.5));
    assert_ci(&board[0], 0.343074, 0.656926);
}

#[test]
fn a_single_item_has_a_zero_width_interval() {
    let board = leaderboard(&["a"], &[ok("a", 0.7, 10)], false, false);
    assert_eq!(board[0].score, Some(0.7));
    assert_eq!(board[0].ci95, Some((0.7, 0.7)));
    let board = leaderboard(&["a"], &[ok("a", 9.0, 10)], true, true);
    assert_eq!(board[0].score, Some(3.0));
    assert_eq!(board[0].ci95, Some((3.0, 3.0)));
}

#[test]
fn higher_is_better_ranks_descending_with_ties_in_variant_order() {
    let outs = [
        ok("a", 0.5, 1),
        ok("b", 0.9, 1),
        failed("c"),
        ok("d", 0.9, 1),
    ];
    let board = leaderboard(&["a", "b", "c", "d"], &outs, false, false);
    assert_eq!(ids(&board), ["b", "d", "a", "c"]);
}

#[test]
fn lower_is_better_ranks_ascending_and_errors_only_variants_stay_last() {
    let outs = [
        failed("c"),
        ok("a", 5.0, 1),
        ok("b", 1.0, 1),
        ok("d", 3.0, 1),
        failed("c"),
    ];
    let board = leaderboard(&["c", "a", "b", "d", "e"], &outs, true, false);
    assert_eq!(ids(&board), ["b", "d", "a", "c", "e"]);
    let c = &board[3];
    assert_eq!((c.score, c.ci95, c.scored, c.errors), (None, None, 0, 2));
    let e = &board[4];
    assert_eq!(
        (e.score, e.scored, e.errors, e.mean_latency_ms),
        (None, 0, 0, None)
    );
}

#[test]
fn errors_are_counted_and_left_out_of_the_mean_but_not_of_the_latency() {
    let outs = [
        ok("a", 1.0, 100),
        ok("a", 0.0, 200),
        Outcome {
            instance_id: "a",
            score: None,
            latency_ms: Some(600),
        },
        failed("a"),
        Outcome {
            instance_id: "a",
            score: Some(f64::NAN),
            latency_ms: None,
        },
    ];
    let board = leaderboard(&["a"], &outs, false, false);
    let a = &board[0];
    assert_eq!(a.score, Some(0.5));
    assert_eq!((a.scored, a.errors), (2, 3));
    assert_eq!(a.mean_latency_ms, Some(300.0));
}

#[test]
fn duplicate_variants_count_once_and_other_instances_are_ignored() {
    let outs = [ok("a", 1.0, 1), ok("zz", 0.0, 1)];
    let board = leaderboard(&["a", "a"], &outs, false, false);
    assert_eq!(ids(&board), ["a"]);
    assert_eq!(board[0].scored, 1);
    assert!(leaderboard(&[], &outs, false, false).is_empty());
}

#[test]
fn a_standing_serialises_as_the_api_leaderboard_entry() {
    let board = leaderboard(&["a"], &[ok("a", 1.0, 5)], false, false);
    assert_eq!(
        serde_json::to_value(&board[0]).unwrap(),
        serde_json::json!({"instanceId": "a", "score": 1.0, "ci95": [1.0, 1.0], "scored": 1,
            "errors": 0, "meanLatencyMs": 5.0})
    );
}
