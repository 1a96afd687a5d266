//! Experiments on the wire (API.md § Experiments): the create body (also the Operator agent's
//! tool argument) and the views.

use crate::domain::experiment::stats::Standing;
use crate::domain::*;
use crate::services::{CreateExperiment, DatasetSpec, ExperimentState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateExperimentBody {
    #[schema(example = "aqi-strategies", max_length = 100)]
    pub name: String,
    /// The variants: 1 to 20 instances of the account, by id or name.
    #[schema(min_items = 1, max_items = 20, example = json!(["aqi-v1", "aqi-v2"]))]
    pub instance_ids: Vec<String>,
    #[schema(inline)]
    pub dataset: DatasetBody,
    #[schema(inline)]
    pub scorer: Scorer,
    /// Pairs (item × variant) in flight at once, 1 to 16 (default 4).
    #[schema(minimum = 1, maximum = 16)]
    #[serde(default, deserialize_with = "whole::optional")]
    pub concurrency: Option<u32>,
}

/// The items: inline (up to 1,000), a JSONL or CSV file in an instance's workspace, or a JSONL
/// or CSV URL.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum DatasetBody {
    /// Up to 1,000 items.
    Items(#[schema(inline)] Vec<DatasetItem>),
    File(#[schema(inline)] DatasetFile),
    Url(String),
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetFile {
    /// The instance (id or name) whose workspace holds the file.
    pub instance_id: String,
    /// Relative to the workspace root; `.jsonl`/`.ndjson` or `.csv`.
    pub path: String,
}

impl From<CreateExperimentBody> for CreateExperiment {
    fn from(b: CreateExperimentBody) -> Self {
        CreateExperiment {
            name: b.name,
            instances: b.instance_ids,
            dataset: match b.dataset {
                DatasetBody::Items(items) => DatasetSpec::Items(items),
                DatasetBody::File(f) => DatasetSpec::File {
                    instance: f.instance_id,
                    path: f.path,
                },
                DatasetBody::Url(url) => DatasetSpec::Url(url),
            },
            scorer: b.scorer,
            concurrency: b.concurrency,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentProgress {
    /// Pairs (item × variant) with a result.
    pub done: u32,
    pub total: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardEntry {
    pub instance_id: String,
    pub instance_name: String,
    /// Mean score (exact/contains/jsonField/llmJudge: 0–1, higher is better); for `numeric`
    /// the MAE or RMSE (lower is better). Null until an item is scored.
    pub score: Option<f64>,
    /// 95 % confidence interval of the score.
    #[schema(value_type = Option<Vec<f64>>)]
    pub ci95: Option<[f64; 2]>,
    pub scored: u32,
    pub errors: u32,
    pub mean_latency_ms: Option<f64>,
}

impl LeaderboardEntry {
    fn new(s: Standing, name: String) -> Self {
        Self {
            instance_id: s.instance_id,
            instance_name: name,
            score: s.score,
            ci95: s.ci95.map(|(lo, hi)| [lo, hi]),
            scored: s.scored,
            errors: s.errors,
            mean_latency_ms: s.mean_latency_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentView {
    pub id: String,
    pub name: String,
    pub status: ExperimentStatus,
    pub instance_ids: Vec<String>,
    pub scorer: Scorer,
    pub item_count: u32,
    pub concurrency: u32,
    /// With `GET /api/experiments/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ExperimentProgress>,
    /// Best first; with `GET /api/experiments/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaderboard: Option<Vec<LeaderboardEntry>>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Experiment> for ExperimentView {
    fn from(e: Experiment) -> Self {
        Self {
            id: e.id.to_string(),
            name: e.name,
            status: e.status,
            instance_ids: e.instance_ids.iter().map(ToString::to_string).collect(),
            scorer: e.scorer,
            item_count: e.item_count,
            concurrency: e.concurrency,
            progress: None,
            leaderboard: None,
            error: e.error,
            created_at: e.created_at,
            updated_at: e.updated_at,
            finished_at: e.finished_at,
        }
    }
}

impl From<ExperimentState> for ExperimentView {
    fn from(s: ExperimentState) -> Self {
        let total = s.experiment.pair_count();
        let mut v = ExperimentView::from(s.experiment);
        v.progress = Some(ExperimentProgress {
            done: s.done,
            total,
        });
        v.leaderboard = Some(
            s.leaderboard
                .into_iter()
                .map(|(st, name)| LeaderboardEntry::new(st, name))
                .collect(),
        );
        v
    }
}

#[derive(Serialize, ToSchema)]
pub struct ExperimentEnvelope {
    pub experiment: ExperimentView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentList {
    pub experiments: Vec<ExperimentView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResultView {
    pub instance_id: String,
    pub item_index: u32,
    pub input: String,
    /// The item's expected answer (any JSON), when it has one.
    pub expected: Option<serde_json::Value>,
    pub output: Option<String>,
    pub score: Option<f64>,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub latency_ms: Option<u64>,
}

impl From<(ExperimentResult, Option<DatasetItem>)> for ExperimentResultView {
    fn from((r, item): (ExperimentResult, Option<DatasetItem>)) -> Self {
        Self {
            instance_id: r.instance_id.to_string(),
            item_index: r.item_index,
            input: item.as_ref().map(|i| i.input.clone()).unwrap_or_default(),
            expected: item.and_then(|i| i.expected),
            output: r.output,
            score: r.score,
            reason: r.reason,
            error: r.error,
            latency_ms: r.latency_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResultList {
    pub results: Vec<ExperimentResultView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvolveBody {
    /// The best variants kept as they are (1 to the experiment's variants).
    #[schema(example = 2, minimum = 1, maximum = 20)]
    #[serde(deserialize_with = "whole::required")]
    pub keep: u32,
    /// Variants of the new generation: the kept plus new mutations of them (more than `keep`,
    /// at most 20).
    #[schema(example = 5, minimum = 2, maximum = 20)]
    #[serde(deserialize_with = "whole::required")]
    pub population_size: u32,
    /// What the mutations should try (e.g. "focus on the ensemble approach").
    #[schema(max_length = 4000)]
    pub instructions: Option<String>,
}

impl From<EvolveBody> for crate::services::Evolve {
    fn from(b: EvolveBody) -> Self {
        Self {
            keep: b.keep,
            population_size: b.population_size,
            instructions: b.instructions,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VariantRef {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvolvedView {
    /// The new generation's experiment (running).
    pub experiment: ExperimentView,
    /// The new variants made (the kept ones are in `experiment.instanceIds` too).
    pub variants: Vec<VariantRef>,
    /// New variants the plan had no room for.
    pub not_made: u32,
    /// What was done, in a sentence.
    pub note: String,
}

impl From<crate::services::Evolved> for EvolvedView {
    fn from(e: crate::services::Evolved) -> Self {
        Self {
            experiment: e.experiment.into(),
            variants: e
                .made
                .into_iter()
                .map(|(id, name)| VariantRef {
                    id: id.to_string(),
                    name,
                })
                .collect(),
            not_made: e.not_made,
            note: e.note,
        }
    }
}

/// Counts as JSON Schema's `integer` reads them: `14` and `14.0` alike (a number with no
/// fractional part), so a client whose JSON writes whole numbers as floats is not refused.
mod whole {
    use serde::{Deserialize, Deserializer};

    fn count<E: serde::de::Error>(n: serde_json::Number) -> Result<u32, E> {
        if let Some(u) = n.as_u64() {
            return u32::try_from(u).map_err(|_| E::custom(format!("{u} is too large")));
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(f as u32),
            _ => Err(E::custom(format!(
                "expected a whole number from 0, got {n}"
            ))),
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        count(serde_json::Number::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(count)
            .transpose()
    }
}
