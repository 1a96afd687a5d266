//! Variants for an experiment: clones of an instance, each with its own version of one skill,
//! named `{skill}-v{n}` (a later generation `{skill}-gen{g}-v{n}`). Always within the plan:
//! when fewer instances fit than asked for, only those are made and the answer says so, so
//! a caller (the Operator agent) never loops on 402s.

use crate::domain::*;
use crate::error::{Error, Result};
use crate::services::{Caller, Platform};
use operator_instance_api::FilesQuery;
use std::time::Duration;

/// How long a new variant may take to become active before its skill is written.
const ACTIVE_WITHIN: Duration = Duration::from_secs(120);

/// One variant to make: the skill's instructions for it.
#[derive(Debug, Clone)]
pub struct VariantSkill {
    /// One line: what this variant does differently.
    pub description: String,
    /// The skill's instructions (Markdown).
    pub body: String,
}

/// What `create_variants` did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantsMade {
    /// The variants made, active, each with its skill written: `{id, name}`.
    pub variants: Vec<serde_json::Value>,
    /// Variants asked for that were not made (the plan's capacity).
    pub not_made: usize,
    /// What happened, in a sentence for the person asking.
    pub note: String,
}

/// A skill's name: 1-64 characters of `[a-z0-9-]` (it names a folder); an error names `field`.
pub fn skill_name<'a>(field: &str, n: &'a str) -> Result<&'a str> {
    let ok = (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(n)
    } else {
        Err(Error::invalid(
            field,
            "skill names are 1-64 characters of [a-z0-9-]",
        ))
    }
}

/// `SKILL.md` in the Agent Skills format.
pub fn skill_file(name: &str, description: &str, body: &str) -> String {
    let description = description.replace('\n', " ");
    format!("---\nname: {name}\ndescription: {description}\n---\n\n{body}\n")
}

impl Platform {
    /// Clones `source` once per entry of `skills` (within the plan's capacity), waits for
    /// each clone to be active and writes its version of the skill.
    pub async fn create_variants(
        &self,
        caller: &Caller,
        source: &str,
        skill: &str,
        generation: Option<u32>,
        skills: Vec<VariantSkill>,
    ) -> Result<VariantsMade> {
        let skill = skill_name("skill", skill)?;
        if skills.is_empty() || skills.len() > experiment::MAX_VARIANTS {
            return Err(Error::invalid(
                "variants",
                format!("give 1 to {} variants", experiment::MAX_VARIANTS),
            ));
        }
        let source = self.get_instance(caller, source).await?;
        let used = self.store.count_capacity(&caller.account.id).await?;
        let limit = caller.account.effective_plan().instance_limit;
        let room = limit.saturating_sub(used) as usize;
        let asked = skills.len();
        let mut made = vec![];
        for (i, v) in skills.into_iter().take(room).enumerate() {
            let name = match generation {
                Some(g) => format!("{skill}-gen{g}-v{}", i + 1),
                None => format!("{skill}-v{}", i + 1),
            };
            let clone = self
                .clone_instance(caller, source.id.as_str(), &name)
                .await?;
            self.wait_active(caller, &clone.id).await?;
            self.instance_client(caller, clone.id.as_str())
                .await?
                .write_file(
                    &FilesQuery::new(format!("skills/{skill}/SKILL.md")),
                    skill_file(skill, &v.description, &v.body)
                        .into_bytes()
                        .into(),
                )
                .await?
                .parse()?;
            made.push(serde_json::json!({"id": clone.id, "name": name}));
        }
        let not_made = asked - made.len();
        let note = if not_made == 0 {
            format!(
                "Made {} variants of {} with their own {skill} skill.",
                made.len(),
                source.name.as_str()
            )
        } else {
            format!(
                "The plan allows {limit} instance{} and {} are in use, so {} of the {asked} variants were made \
                 ({not_made} not made). Run these first, then delete the weaker ones and make the rest, \
                 or upgrade the plan.",
                if limit == 1 { "" } else { "s" },
                used,
                made.len()
            )
        };
        Ok(VariantsMade {
            variants: made,
            not_made,
            note,
        })
    }

    /// Waits until the instance is active (a failed one is an error).
    pub(super) async fn wait_active(
        &self,
        caller: &Caller,
        id: &crate::ids::InstanceId,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + ACTIVE_WITHIN;
        loop {
            let i = self.get_instance(caller, id.as_str()).await?;
            match i.status {
                InstanceStatus::Active => return Ok(()),
                InstanceStatus::Failed | InstanceStatus::Inactive | InstanceStatus::Suspended => {
                    return Err(Error::Conflict(format!(
                        "variant {} is {}: {}",
                        i.name.as_str(),
                        i.status.as_str(),
                        i.status_reason.unwrap_or_default()
                    )))
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(Error::Conflict(format!(
                        "variant {} is still {} after {} s",
                        i.name.as_str(),
                        i.status.as_str(),
                        ACTIVE_WITHIN.as_secs()
                    )))
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}
