//! Experiments (API.md § Experiments): a dataset's items are sent to each variant (an
//! instance's agent) and every output is scored; the leaderboard ranks the variants.
//!
//! Execution works in *pairs*: pair `p` is item `p / variants` on variant `p % variants`
//! (variants interleaved, so all of them progress together). `concurrency` lanes work through
//! the pairs: a lane claims the next unclaimed pair (the store advances the experiment's
//! cursor atomically and remembers the lane's pair), runs it, and records its result once per
//! (experiment, variant, item). A lane that crashed resumes its own unfinished pair; a pair
//! with a result is never sent again.

pub mod dataset;
pub mod score;
pub mod stats;

pub use dataset::DatasetItem;
pub use score::{Metric, Scorer};

use super::Timestamp;
use crate::ids::{AccountId, ExperimentId, InstanceId};

/// The most variants one experiment compares.
pub const MAX_VARIANTS: usize = 20;
/// The default and the largest number of lanes (pairs in flight at once).
pub const DEFAULT_CONCURRENCY: u32 = 4;
pub const MAX_CONCURRENCY: u32 = 16;

/// `queued` → `running` → `succeeded`, or `failed` / `cancelled`; an ended experiment never
/// changes again.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl ExperimentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// No lane works on it any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Where the items came from (they are read once, when the experiment is created).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum DatasetSource {
    Inline,
    File {
        instance_id: InstanceId,
        path: String,
    },
    Url {
        url: String,
    },
}

/// An experiment as stored. The items are stored beside it, by index.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Experiment {
    pub id: ExperimentId,
    pub account_id: AccountId,
    pub name: String,
    /// The variants, in the order given (a pair's variant index points here).
    pub instance_ids: Vec<InstanceId>,
    pub scorer: Scorer,
    pub source: DatasetSource,
    pub item_count: u32,
    pub concurrency: u32,
    pub status: ExperimentStatus,
    /// Why it failed.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl Experiment {
    /// Pairs to run: every item on every variant.
    pub fn pair_count(&self) -> u32 {
        self.item_count * self.instance_ids.len() as u32
    }

    /// Pair `pair` as (variant index, item index).
    pub fn pair(&self, pair: u32) -> (usize, u32) {
        let variants = self.instance_ids.len().max(1) as u32;
        ((pair % variants) as usize, pair / variants)
    }
}

/// One (variant, item) once it ran: the output and its score, or why there is none.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExperimentResult {
    pub account_id: AccountId,
    pub experiment_id: ExperimentId,
    pub instance_id: InstanceId,
    pub item_index: u32,
    pub output: Option<String>,
    pub score: Option<f64>,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub latency_ms: Option<u64>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_interleave_the_variants() {
        let e = Experiment {
            id: ExperimentId::from_trusted("exp_1"),
            account_id: AccountId::from_trusted("acct_1"),
            name: "x".into(),
            instance_ids: vec![
                InstanceId::from_trusted("inst_a"),
                InstanceId::from_trusted("inst_b"),
                InstanceId::from_trusted("inst_c"),
            ],
            scorer: Scorer::Exact,
            source: DatasetSource::Inline,
            item_count: 4,
            concurrency: 4,
            status: ExperimentStatus::Queued,
            error: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            finished_at: None,
        };
        assert_eq!(e.pair_count(), 12);
        assert_eq!(e.pair(0), (0, 0));
        assert_eq!(e.pair(2), (2, 0));
        assert_eq!(e.pair(3), (0, 1));
        assert_eq!(e.pair(11), (2, 3));
    }
}
