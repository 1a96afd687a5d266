//! The checkpoint catalog: repositories an operator lists (`OPERATOR_CHECKPOINT_CATALOG`, a
//! JSON file of `[{"repo", "name", "description", "tags"?}]`) so the Operator agent can find a
//! starting point for an instance ("an AQI monitor") and install it as the instance's
//! `checkpointRepo` (an OpenClaw checkpoint lands at the workspace root, any other repository
//! under `workspace/`).

use serde::{Deserialize, Serialize};

/// One listed repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// What `checkpointRepo` takes: `owner/repo`, an `https://` or `ssh://` URL, or a local
    /// path under the server's allowed prefix.
    pub repo: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The operator's list, searched by words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointCatalog(Vec<CatalogEntry>);

/// Matches a search returns at most.
pub const MAX_MATCHES: usize = 20;

impl CheckpointCatalog {
    pub fn new(entries: Vec<CatalogEntry>) -> Self {
        Self(entries)
    }

    /// The catalog at `OPERATOR_CHECKPOINT_CATALOG`, if set; a file that cannot be read or
    /// parsed stops the start with the reason.
    pub fn from_env() -> anyhow::Result<Self> {
        let Some(path) = std::env::var_os("OPERATOR_CHECKPOINT_CATALOG").filter(|p| !p.is_empty())
        else {
            return Ok(Self::default());
        };
        let path = std::path::PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("OPERATOR_CHECKPOINT_CATALOG {}: {e}", path.display()))?;
        let entries: Vec<CatalogEntry> = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "OPERATOR_CHECKPOINT_CATALOG {}: not a list of {{repo, name, description, tags}}: {e}",
                path.display()
            )
        })?;
        Ok(Self(entries))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries whose name, description, tags or repo contain every word of `query`
    /// (case-insensitive), best first (more words in the name and tags); all for an empty
    /// query; at most [`MAX_MATCHES`].
    pub fn search(&self, query: &str) -> Vec<CatalogEntry> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let mut hits: Vec<(usize, &CatalogEntry)> = self
            .0
            .iter()
            .filter_map(|e| {
                let title = format!("{} {}", e.name, e.tags.join(" ")).to_lowercase();
                let all = format!("{title} {} {}", e.description, e.repo).to_lowercase();
                words.iter().all(|w| all.contains(w.as_str())).then(|| {
                    (
                        words.iter().filter(|w| title.contains(w.as_str())).count(),
                        e,
                    )
                })
            })
            .collect();
        hits.sort_by_key(|h| std::cmp::Reverse(h.0));
        hits.into_iter()
            .take(MAX_MATCHES)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, description: &str, tags: &[&str]) -> CatalogEntry {
        CatalogEntry {
            repo: format!("acme/{name}"),
            name: name.into(),
            description: description.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn every_word_must_match_and_title_matches_rank_first() {
        let c = CheckpointCatalog::new(vec![
            entry("news-desk", "Summarises air quality news", &["news"]),
            entry(
                "aqi-monitor",
                "Checks the air quality index feed",
                &["air", "aqi"],
            ),
            entry("pr-review", "Reviews pull requests", &["github"]),
        ]);
        let names = |q: &str| -> Vec<String> { c.search(q).into_iter().map(|e| e.name).collect() };
        assert_eq!(names("air quality"), ["aqi-monitor", "news-desk"]);
        assert_eq!(names("AQI"), ["aqi-monitor"]);
        assert_eq!(names("github pull"), ["pr-review"]);
        assert!(names("weather").is_empty());
        assert_eq!(names("").len(), 3);
    }
}
