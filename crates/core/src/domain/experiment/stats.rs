//! The leaderboard: each variant's aggregate score with a 95 % confidence interval, counts and
//! mean latency, ranked best first (API.md § Experiments, `leaderboard`). Pure arithmetic over
//! the recorded outcomes, so every backend and every reader computes the same numbers.
//!
//! The interval is Student's t on the item scores: `mean ± t(0.975, n−1)·s/√n` with `s` the
//! sample standard deviation. For RMSE it is the interval of the mean squared error, square
//! rooted. Bounds never leave the scores' range: `[0, 1]` for 0..1 scores, `≥ 0` for item
//! errors (numeric).

/// One variant's standing: API.md's leaderboard entry without the instance name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    pub instance_id: String,
    /// Mean item score (RMSE: root of the mean squared error); `None` with no scored item.
    pub score: Option<f64>,
    pub ci95: Option<(f64, f64)>,
    pub scored: u32,
    pub errors: u32,
    pub mean_latency_ms: Option<f64>,
}

/// One finished (variant, item): its score (`None` when it errored) and latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome<'a> {
    pub instance_id: &'a str,
    pub score: Option<f64>,
    pub latency_ms: Option<u64>,
}

/// Two-sided 95 % Student t quantiles, t(0.975, df) for df = 1..=30.
const T_975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
    2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687,
    2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/// t(0.975, df): the table up to 30 degrees of freedom, the normal 1.96 beyond.
pub fn t_975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T_975[df - 1],
        _ => 1.96,
    }
}

/// Mean and 95 % interval of `xs` (non-empty): `(mean, mean)` for a single value.
fn mean_ci(xs: &[f64]) -> (f64, (f64, f64)) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, (mean, mean));
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = t_975(xs.len() - 1) * var.sqrt() / n.sqrt();
    (mean, (mean - half, mean + half))
}

/// One variant's aggregate from its item scores (non-empty).
fn aggregate(xs: &[f64], lower_is_better: bool, rmse: bool) -> (f64, (f64, f64)) {
    let (mean, (lo, hi)) = mean_ci(xs);
    if rmse {
        return (mean.sqrt(), (lo.max(0.0).sqrt(), hi.sqrt()));
    }
    if lower_is_better {
        (mean, (lo.max(0.0), hi))
    } else {
        (mean, (lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0)))
    }
}

/// The leaderboard: one [`Standing`] per variant (duplicates in `variants` counted once;
/// outcomes of other instances ignored), sorted best first by score (lower first when
/// `lower_is_better`), variants with no score last; ties keep `variants` order. A non-finite
/// score counts as an error. `rmse`: the score is `sqrt(mean of squared errors)`.
pub fn leaderboard(
    variants: &[&str],
    outcomes: &[Outcome],
    lower_is_better: bool,
    rmse: bool,
) -> Vec<Standing> {
    let mut ids: Vec<&str> = Vec::with_capacity(variants.len());
    for v in variants {
        if !ids.contains(v) {
            ids.push(v);
        }
    }
    let mut board: Vec<Standing> = ids
        .iter()
        .map(|id| {
            let mine = || outcomes.iter().filter(|o| o.instance_id == *id);
            let scores: Vec<f64> = mine()
                .filter_map(|o| o.score)
                .filter(|s| s.is_finite())
                .collect();
            let latencies: Vec<u64> = mine().filter_map(|o| o.latency_ms).collect();
            let errors = mine().count() - scores.len();
            let (score, ci95) = if scores.is_empty() {
                (None, None)
            } else {
                let (s, ci) = aggregate(&scores, lower_is_better, rmse);
                (Some(s), Some(ci))
            };
            Standing {
                instance_id: (*id).to_owned(),
                score,
                ci95,
                scored: scores.len() as u32,
                errors: errors as u32,
                mean_latency_ms: (!latencies.is_empty()).then(|| {
                    latencies.iter().map(|&l| l as f64).sum::<f64>() / latencies.len() as f64
                }),
            }
        })
        .collect();
    // Stable: equal scores (and unscored variants) keep their order.
    board.sort_by(|a, b| match (a.score, b.score) {
        (Some(x), Some(y)) if lower_is_better => x.total_cmp(&y),
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    board
}

#[cfg(test)]
mod tests;
