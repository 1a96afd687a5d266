//! Evolving an experiment: keep its best `keep` variants, make new ones up to the population
//! size — each a clone of a kept variant whose skill the platform's model rewrites (a
//! mutation, steered by the caller's instructions) — and run the same dataset on the new
//! generation. Within the plan: when fewer new variants fit, fewer are made and the answer
//! says so.

use super::run::complete;
use super::variants::skill_file;
use super::{CreateExperiment, DatasetSpec};
use crate::domain::*;
use crate::error::{Error, Result};
use crate::ids::InstanceId;
use crate::llm::{Message, ModelRequest};
use crate::services::gateway::Meter;
use crate::services::{Caller, Platform};
use operator_instance_api::{FileNode, FilesQuery};

/// Longest rewritten skill asked for.
const MUTATION_MAX_TOKENS: u32 = 4000;

/// What `POST /api/experiments/{id}/evolve` asks for.
#[derive(Debug, Clone)]
pub struct Evolve {
    pub keep: u32,
    pub population_size: u32,
    pub instructions: Option<String>,
}

/// The next generation: its experiment (running) and what was made.
#[derive(Debug, Clone)]
pub struct Evolved {
    pub experiment: Experiment,
    /// The new variants' ids and names.
    pub made: Vec<(InstanceId, String)>,
    pub not_made: u32,
    pub note: String,
}

/// `{skill}-v{n}` → (skill, 1); `{skill}-gen{g}-v{n}` → (skill, g).
pub fn skill_and_generation(name: &str) -> Option<(&str, u32)> {
    let (head, n) = name.rsplit_once("-v")?;
    n.parse::<u32>().ok()?;
    if let Some((skill, g)) = head.rsplit_once("-gen") {
        if let Ok(g) = g.parse::<u32>() {
            return Some((skill, g));
        }
    }
    Some((head, 1))
}

impl Platform {
    pub async fn evolve_experiment(
        &self,
        caller: &Caller,
        id: &str,
        req: Evolve,
    ) -> Result<Evolved> {
        let state = self.experiment_state(caller, id).await?;
        let old = &state.experiment;
        if old.status != ExperimentStatus::Succeeded {
            return Err(Error::Conflict(format!(
                "experiment {} is {}: only a succeeded experiment can be evolved",
                old.id,
                old.status.as_str()
            )));
        }
        let variants = old.instance_ids.len() as u32;
        if req.keep < 1 || req.keep > variants {
            return Err(Error::invalid(
                "keep",
                format!("must be 1 to {variants} (the variants it had)"),
            ));
        }
        if req.population_size <= req.keep
            || req.population_size as usize > experiment::MAX_VARIANTS
        {
            return Err(Error::invalid(
                "populationSize",
                format!(
                    "must be more than keep ({}) and at most {}",
                    req.keep,
                    experiment::MAX_VARIANTS
                ),
            ));
        }
        if let Some(i) = &req.instructions {
            if i.chars().count() > 4000 {
                return Err(Error::invalid(
                    "instructions",
                    "must be at most 4000 characters",
                ));
            }
        }
        let (Some(llm), Some(cfg)) = (self.llm.as_ref(), self.config.llm.as_ref()) else {
            return Err(Error::Unavailable {
                code: "llm_unavailable",
                message: crate::services::llm_unavailable_message(),
            });
        };
        // The kept: the leaderboard's best, each with its skill and generation.
        let mut kept = vec![];
        for (rank, (standing, name)) in state.leaderboard.iter().take(req.keep as usize).enumerate()
        {
            let (skill, generation) = skill_and_generation(name).ok_or_else(|| {
                Error::invalid(
                    "experiment",
                    format!("variant {name} was not made by create_variants ({{skill}}-v{{n}}), so its skill is unknown"),
                )
            })?;
            kept.push((
                rank + 1,
                standing.instance_id.clone(),
                name.clone(),
                skill.to_owned(),
                generation,
                standing.score,
            ));
        }
        let generation = kept.iter().map(|k| k.4).max().unwrap_or(1) + 1;
        let used = self.store.count_capacity(&caller.account.id).await?;
        let limit = caller.account.effective_plan().instance_limit;
        let wanted = req.population_size - req.keep;
        let room = limit.saturating_sub(used);
        let new = wanted.min(room);
        let mut made = vec![];
        for j in 0..new as usize {
            let (rank, parent_id, parent_name, skill, _, score) = &kept[j % kept.len()];
            let path = format!("skills/{skill}/SKILL.md");
            let current = match self
                .instance_client(caller, parent_id)
                .await?
                .read_files(&FilesQuery::new(path.clone()))
                .await?
                .parse()?
            {
                FileNode::File { content, .. } => content,
                FileNode::Directory { .. } => {
                    return Err(Error::invalid(
                        "experiment",
                        format!("{parent_name} has no {path}"),
                    ))
                }
            };
            let user = format!(
                "Variant {parent_name} ranked {rank} of {variants} (score {}) with this skill:\n\n<skill>\n{current}\n</skill>\n\n\
                 Write mutation {} of it for generation {generation}: keep what works, change one idea so it may score better.{}\n\
                 Answer with only the skill's instructions in Markdown, without the front matter.",
                score.map_or("none".to_owned(), |s| format!("{s:.4}")),
                j + 1,
                req.instructions
                    .as_deref()
                    .map(|i| format!(" Focus: {i}"))
                    .unwrap_or_default(),
            );
            let body = complete(
                llm.as_ref(),
                &ModelRequest {
                    model: cfg.model.clone(),
                    system: "You evolve agent skills for an experiment. You answer with a skill's new instructions only.".into(),
                    messages: vec![Message::User(user)],
                    tools: Default::default(),
                    max_tokens: MUTATION_MAX_TOKENS,
                },
            )
            .await
            .map_err(Error::BadGateway)?;
            // the mutation's tokens are the mutated variant's
            let (body, (input, output)) = body;
            let parent = crate::ids::InstanceId::from_trusted(parent_id.clone());
            Meter::new(self, &caller.account.id, &parent, self.clock.now())
                .record(input, output)
                .await;
            let name = format!("{skill}-gen{generation}-v{}", j + 1);
            let clone = self.clone_instance(caller, parent_id, &name).await?;
            self.wait_active(caller, &clone.id).await?;
            let description = format!("generation {generation}, a mutation of {parent_name}");
            self.instance_client(caller, clone.id.as_str())
                .await?
                .write_file(
                    &FilesQuery::new(path),
                    skill_file(skill, &description, body.trim())
                        .into_bytes()
                        .into(),
                )
                .await?
                .parse()?;
            made.push((clone.id, name));
        }
        let mut items = vec![];
        for index in 0..old.item_count {
            items.push(
                self.store
                    .experiment_item(&caller.account.id, &old.id, index)
                    .await?,
            );
        }
        let mut instances: Vec<String> = kept.iter().map(|k| k.1.clone()).collect();
        instances.extend(made.iter().map(|(id, _)| id.to_string()));
        let experiment = self
            .create_experiment(
                caller,
                CreateExperiment {
                    name: format!("{}-gen{generation}", old.name)
                        .chars()
                        .take(100)
                        .collect(),
                    instances,
                    dataset: DatasetSpec::Items(items),
                    scorer: old.scorer.clone(),
                    concurrency: Some(old.concurrency),
                },
            )
            .await?;
        let not_made = wanted - new;
        let note = if not_made == 0 {
            format!(
                "Kept the best {} and made {new} new variant{} (generation {generation}); running the same {} items on all {}.",
                req.keep,
                if new == 1 { "" } else { "s" },
                old.item_count,
                req.keep + new
            )
        } else {
            format!(
                "Kept the best {}; the plan allows {limit} instance{} and {used} are in use, so {new} of the {wanted} new variants \
                 were made ({not_made} not made). Running the same {} items on the {}.",
                req.keep,
                if limit == 1 { "" } else { "s" },
                old.item_count,
                req.keep + new
            )
        };
        Ok(Evolved {
            experiment,
            made,
            not_made,
            note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_give_their_skill_and_generation() {
        assert_eq!(
            skill_and_generation("aqi-predictor-v3"),
            Some(("aqi-predictor", 1))
        );
        assert_eq!(
            skill_and_generation("aqi-predictor-gen4-v12"),
            Some(("aqi-predictor", 4))
        );
        assert_eq!(skill_and_generation("weather-desk"), None);
        assert_eq!(skill_and_generation("x-vNaN"), None);
    }
}
