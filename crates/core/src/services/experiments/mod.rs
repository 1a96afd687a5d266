//! Experiments (API.md § Experiments): create one (its dataset read and checked up front),
//! read it with its progress and leaderboard, page its results, cancel, delete. Running the
//! pairs is `run.rs`, one job per lane.

mod evolve;
mod run;
mod slots;
mod variants;

pub use evolve::{Evolve, Evolved};
pub use slots::InstanceSlots;
pub use variants::{skill_file, skill_name, VariantSkill, VariantsMade};

use super::{Caller, Platform};
use crate::domain::experiment::{dataset, stats, MAX_CONCURRENCY, MAX_VARIANTS};
use crate::domain::*;
use crate::error::{Error, OrNotFound, Result};
use crate::ids::{ExperimentId, InstanceId};
use crate::jobs::Job;

/// Where a new experiment's items come from.
#[derive(Debug, Clone)]
pub enum DatasetSpec {
    Items(Vec<DatasetItem>),
    File { instance: String, path: String },
    Url(String),
}

/// What `POST /api/experiments` asks for.
#[derive(Debug, Clone)]
pub struct CreateExperiment {
    pub name: String,
    /// Instance ids or names, the variants in this order.
    pub instances: Vec<String>,
    pub dataset: DatasetSpec,
    pub scorer: Scorer,
    pub concurrency: Option<u32>,
}

/// An experiment with what it has done so far.
#[derive(Debug, Clone)]
pub struct ExperimentState {
    pub experiment: Experiment,
    pub done: u32,
    /// Best first; names of the variants as they are now (a deleted one keeps its name).
    pub leaderboard: Vec<(stats::Standing, String)>,
}

/// The longest dataset read from a URL or a workspace file.
const MAX_DATASET_BYTES: usize = 10 * 1024 * 1024;
/// How long fetching a dataset URL may take.
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn parse_experiment_id(id: &str) -> Result<ExperimentId> {
    ExperimentId::parse(id).ok_or_else(|| Error::not_found("experiment", id))
}

impl Platform {
    /// Checks everything (variants exist, scorer, items), stores the experiment with its
    /// items and queues its lanes.
    #[tracing::instrument(skip(self, caller, req), fields(account = %caller.account.id))]
    pub async fn create_experiment(
        &self,
        caller: &Caller,
        req: CreateExperiment,
    ) -> Result<Experiment> {
        let name = validate_title("name", &req.name)?;
        if req.instances.is_empty() || req.instances.len() > MAX_VARIANTS {
            return Err(Error::invalid(
                "instanceIds",
                format!("give 1 to {MAX_VARIANTS} instances (the variants to compare)"),
            ));
        }
        let mut instance_ids: Vec<InstanceId> = vec![];
        for i in &req.instances {
            let instance = self.get_instance(caller, i).await?;
            if instance.deleted_at.is_some() {
                return Err(Error::not_found("instance", i));
            }
            if instance_ids.contains(&instance.id) {
                return Err(Error::invalid(
                    "instanceIds",
                    format!("{i} is listed twice"),
                ));
            }
            instance_ids.push(instance.id);
        }
        req.scorer.validate()?;
        let concurrency = req.concurrency.unwrap_or(experiment::DEFAULT_CONCURRENCY);
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(Error::invalid(
                "concurrency",
                format!("must be 1 to {MAX_CONCURRENCY}"),
            ));
        }
        let (items, source) = self.dataset_items(caller, req.dataset).await?;
        dataset::validate_items(&items, req.scorer.needs_expected())?;
        let now = self.clock.now();
        let e = Experiment {
            id: ExperimentId::generate(),
            account_id: caller.account.id.clone(),
            name,
            instance_ids,
            scorer: req.scorer,
            source,
            item_count: items.len() as u32,
            concurrency,
            status: ExperimentStatus::Queued,
            error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        self.store.insert_experiment(&e, &items).await?;
        for lane in 0..concurrency.min(e.pair_count()) {
            self.enqueue(Job::ExperimentLane {
                account_id: e.account_id.clone(),
                experiment_id: e.id.clone(),
                lane,
            })
            .await?;
        }
        Ok(e)
    }

    /// The items of `spec`, read now: inline, a workspace file (JSONL/CSV), or a URL.
    async fn dataset_items(
        &self,
        caller: &Caller,
        spec: DatasetSpec,
    ) -> Result<(Vec<DatasetItem>, DatasetSource)> {
        match spec {
            DatasetSpec::Items(items) => Ok((items, DatasetSource::Inline)),
            DatasetSpec::File { instance, path } => {
                let client = self.instance_client(caller, &instance).await?;
                let node = client
                    .read_files(&operator_instance_api::FilesQuery::new(path.clone()))
                    .await?
                    .parse()?;
                let text = match node {
                    operator_instance_api::FileNode::File {
                        encoding, content, ..
                    } if encoding == "utf-8" => content,
                    operator_instance_api::FileNode::File { .. } => {
                        return Err(Error::invalid(
                            "dataset.file.path",
                            format!("{path} is not UTF-8 text"),
                        ))
                    }
                    operator_instance_api::FileNode::Directory { .. } => {
                        return Err(Error::invalid(
                            "dataset.file.path",
                            format!("{path} is a folder, not a file"),
                        ))
                    }
                };
                if text.len() > MAX_DATASET_BYTES {
                    return Err(Error::invalid("dataset.file", "is larger than 10 MB"));
                }
                let items = dataset::parse(&text, dataset::format_of(&path))?;
                let instance_id = self.get_instance(caller, &instance).await?.id;
                Ok((items, DatasetSource::File { instance_id, path }))
            }
            DatasetSpec::Url(url) => {
                if !url.starts_with("https://") && !url.starts_with("http://") {
                    return Err(Error::invalid("dataset.url", "must be an http(s) URL"));
                }
                let text = self.fetch_dataset(&url).await?;
                let items = dataset::parse(&text, None)?;
                Ok((items, DatasetSource::Url { url }))
            }
        }
    }

    /// GETs a dataset URL: at most 10 MB within 30 s, a 2xx answer.
    async fn fetch_dataset(&self, url: &str) -> Result<String> {
        let fail = |why: String| Error::invalid("dataset.url", why);
        let mut res = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| fail(format!("could not be fetched: {e}")))?;
        if !res.status().is_success() {
            return Err(fail(format!("answered {}", res.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| fail(format!("could not be read: {e}")))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DATASET_BYTES {
                return Err(fail("is larger than 10 MB".into()));
            }
        }
        String::from_utf8(body).map_err(|_| fail("is not UTF-8 text".into()))
    }

    pub async fn list_experiments(
        &self,
        caller: &Caller,
        page: &PageRequest,
    ) -> Result<Page<Experiment>> {
        Ok(self
            .store
            .list_experiments(&caller.account.id, page)
            .await?)
    }

    pub async fn get_experiment(&self, caller: &Caller, id: &str) -> Result<Experiment> {
        let eid = parse_experiment_id(id)?;
        self.store
            .get_experiment(&caller.account.id, &eid)
            .await
            .or_not_found("experiment", id)
    }

    /// The experiment with its progress and leaderboard, from its results.
    pub async fn experiment_state(&self, caller: &Caller, id: &str) -> Result<ExperimentState> {
        let experiment = self.get_experiment(caller, id).await?;
        let results = self
            .store
            .all_results(&caller.account.id, &experiment.id)
            .await?;
        let variants: Vec<&str> = experiment.instance_ids.iter().map(|i| i.as_str()).collect();
        let outcomes: Vec<stats::Outcome> = results
            .iter()
            .map(|r| stats::Outcome {
                instance_id: r.instance_id.as_str(),
                score: r.score,
                latency_ms: r.latency_ms,
            })
            .collect();
        let standings = stats::leaderboard(
            &variants,
            &outcomes,
            experiment.scorer.lower_is_better(),
            experiment.scorer.is_rmse(),
        );
        let mut leaderboard = vec![];
        for s in standings {
            let name = match InstanceId::parse(&s.instance_id) {
                Some(iid) => self
                    .store
                    .get_instance(&caller.account.id, &iid)
                    .await
                    .map(|i| i.name.as_str().to_owned())
                    .unwrap_or_else(|_| s.instance_id.clone()),
                None => s.instance_id.clone(),
            };
            leaderboard.push((s, name));
        }
        Ok(ExperimentState {
            done: results.len() as u32,
            experiment,
            leaderboard,
        })
    }

    /// A page of results, each with its item (read once per item on the page).
    pub async fn experiment_results(
        &self,
        caller: &Caller,
        id: &str,
        instance: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<(ExperimentResult, Option<DatasetItem>)>> {
        let e = self.get_experiment(caller, id).await?;
        let instance = match instance {
            Some(i) => Some(self.get_instance(caller, i).await?.id),
            None => None,
        };
        let results = self
            .store
            .list_results(&caller.account.id, &e.id, instance.as_ref(), page)
            .await?;
        let mut items: std::collections::HashMap<u32, Option<DatasetItem>> = Default::default();
        for r in &results.items {
            if let std::collections::hash_map::Entry::Vacant(slot) = items.entry(r.item_index) {
                slot.insert(
                    self.store
                        .experiment_item(&caller.account.id, &e.id, r.item_index)
                        .await
                        .ok(),
                );
            }
        }
        Ok(Page {
            items: results
                .items
                .into_iter()
                .map(|r| {
                    let item = items.get(&r.item_index).cloned().flatten();
                    (r, item)
                })
                .collect(),
            next_cursor: results.next_cursor,
        })
    }

    /// Stops it: pairs not yet sent are not sent; results so far stay. Cancelling a finished
    /// experiment changes nothing.
    pub async fn cancel_experiment(&self, caller: &Caller, id: &str) -> Result<Experiment> {
        let mut e = self.get_experiment(caller, id).await?;
        if !e.status.is_terminal() {
            let now = self.clock.now();
            e.status = ExperimentStatus::Cancelled;
            e.updated_at = now;
            e.finished_at = Some(now);
            match self.store.update_experiment(&e).await {
                Ok(()) => {}
                // It ended meanwhile: show how.
                Err(crate::error::StoreError::Conflict(_)) => {
                    return self.get_experiment(caller, id).await
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(e)
    }

    pub async fn delete_experiment(&self, caller: &Caller, id: &str) -> Result<()> {
        let eid = parse_experiment_id(id)?;
        self.store
            .delete_experiment(&caller.account.id, &eid)
            .await
            .or_not_found("experiment", id)
    }
}
