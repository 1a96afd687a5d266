//! Tools for experiments: make variants (clones with their own version of a skill), run an
//! experiment and read its leaderboard, list, cancel, delete — through the same services and
//! views as `/api/experiments`. Variants are made within the plan's capacity: when fewer fit,
//! the answer says what was made instead of failing.

use super::args::{Instance, NoArgs, On, PathParam};
use super::{ok, output, Effect, ToolDef};
use crate::domain::PageRequest;
use crate::error::Error;
use crate::services::{Caller, Platform, VariantSkill};
use crate::views::{CreateExperimentBody, EvolveBody, EvolvedView, ExperimentView};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// How long `run_experiment` waits for the experiment to finish before answering with its
/// progress so far.
const RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// `experiment`: an experiment id.
pub struct Experiment;
impl PathParam for Experiment {
    const FIELD: &'static str = "experiment";
    const DESCRIPTION: &'static str = "experiment id (exp_...)";
}

async fn state(p: &Platform, caller: &Caller, id: &str) -> Result<Value, Error> {
    let view: ExperimentView = p.experiment_state(caller, id).await?.into();
    output(json!({ "experiment": view }))
}

/// One variant's version of the skill.
#[derive(Deserialize, ToSchema)]
pub struct VariantArgs {
    /// One line: the strategy this variant follows.
    pub description: String,
    /// The skill's instructions for this variant (Markdown).
    pub body: String,
}

/// `create_variants`' arguments besides the source instance.
#[derive(Deserialize, ToSchema)]
pub struct VariantsArgs {
    /// The skill each variant gets its own version of (`[a-z0-9-]`); variants are named
    /// `{skill}-v1`, `{skill}-v2`, ... (with `generation`: `{skill}-gen{N}-v1`, ...).
    pub skill: String,
    /// Set for a later generation (evolving the best of an experiment).
    pub generation: Option<u32>,
    /// One entry per variant (1 to 20).
    #[schema(inline)]
    pub variants: Vec<VariantArgs>,
}

pub struct CreateVariants;
#[async_trait]
impl ToolDef for CreateVariants {
    const NAME: &'static str = "create_variants";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Make experiment variants: clone an instance once per strategy and give each clone its own version of a skill. Waits until they are active. Stays within the plan: when fewer fit, makes what fits and says so (then run those, or fewer, or in sequence).";
    type Args = On<Instance, VariantsArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let skills = args
            .body
            .variants
            .into_iter()
            .map(|v| VariantSkill {
                description: v.description,
                body: v.body,
            })
            .collect();
        let made = p
            .create_variants(
                caller,
                &args.id,
                &args.body.skill,
                args.body.generation,
                skills,
            )
            .await?;
        output(made)
    }
}

pub struct Run;
#[async_trait]
impl ToolDef for Run {
    const NAME: &'static str = "run_experiment";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Run an experiment: send every dataset item to every variant (instance) and score the answers (exact, contains, numeric mae/rmse, jsonField, llmJudge). Waits for it to finish and returns the leaderboard, best first.";
    type Args = CreateExperimentBody;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let e = p.create_experiment(caller, args.into()).await?;
        let deadline = tokio::time::Instant::now() + RUN_WAIT;
        loop {
            let current = p.get_experiment(caller, e.id.as_str()).await?;
            if current.status.is_terminal() || tokio::time::Instant::now() >= deadline {
                return state(p, caller, e.id.as_str()).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

pub struct Get;
#[async_trait]
impl ToolDef for Get {
    const NAME: &'static str = "get_experiment";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "Get an experiment's status, progress and leaderboard (best first).";
    type Args = On<Experiment, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        state(p, caller, &args.id).await
    }
}

pub struct List;
#[async_trait]
impl ToolDef for List {
    const NAME: &'static str = "list_experiments";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List experiments, newest first.";
    type Args = NoArgs;
    async fn run(p: &Platform, caller: &Caller, _: NoArgs) -> Result<Value, Error> {
        let page = PageRequest::first(PageRequest::MAX_LIMIT);
        let items = p.list_experiments(caller, &page).await?.items;
        let views: Vec<ExperimentView> = items.into_iter().map(Into::into).collect();
        Ok(json!({ "experiments": output(views)? }))
    }
}

pub struct Cancel;
#[async_trait]
impl ToolDef for Cancel {
    const NAME: &'static str = "cancel_experiment";
    const DESCRIPTION: &'static str =
        "Cancel a running experiment: items not yet sent are not sent; results so far stay.";
    type Args = On<Experiment, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let view: ExperimentView = p.cancel_experiment(caller, &args.id).await?.into();
        output(json!({ "experiment": view }))
    }
}

pub struct Delete;
#[async_trait]
impl ToolDef for Delete {
    const NAME: &'static str = "delete_experiment";
    const DESCRIPTION: &'static str = "Delete an experiment with its results.";
    type Args = On<Experiment, NoArgs>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        p.delete_experiment(caller, &args.id).await?;
        Ok(ok())
    }
}

pub struct Evolve;
#[async_trait]
impl ToolDef for Evolve {
    const NAME: &'static str = "evolve_experiment";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Evolve a succeeded experiment: keep its best `keep` variants, clone them into new variants up to `populationSize` with mutated skills (steered by `instructions`), and run the same dataset on the new generation. Stays within the plan and says what it made. Then wait with get_experiment.";
    type Args = On<Experiment, EvolveBody>;
    async fn run(p: &Platform, caller: &Caller, args: Self::Args) -> Result<Value, Error> {
        let view: EvolvedView = p
            .evolve_experiment(caller, &args.id, args.body.into())
            .await?
            .into();
        output(view)
    }
}
