//! `~/.operator/config.json`, the hosted product's convention: `{"operatorApiKey",
//! "operatorAppUrl"}`. `$HOME` decides where it is. The folder is created 0700, the file is
//! written 0600 and atomically (a temporary file in the same folder, then a rename), so a
//! crash never leaves half a key and no other user can read it. Fields this version does not
//! know are kept.
//!
//! `OPERATOR_API_KEY` and `OPERATOR_URL` override the file.

use crate::exit::Failure;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The file's content.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_app_url: Option<String>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Where the settings came from (shown by `whoami`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    File,
    Default,
}

/// What a command connects with.
pub struct Settings {
    pub url: String,
    pub url_source: Source,
    pub key: Option<SecretString>,
    pub key_source: Source,
}

/// `$HOME/.operator/config.json`.
pub fn path() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Failure::usage("HOME is not set: cannot find ~/.operator/config.json").hint(
                "Set HOME, or use OPERATOR_API_KEY and OPERATOR_URL instead of a config file.",
            )
        })?;
    Ok(PathBuf::from(home).join(".operator").join("config.json"))
}

/// The file, or an empty one when there is none.
pub fn load() -> anyhow::Result<ConfigFile> {
    let path = path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::usage(format!("{} is not valid JSON: {e}", path.display()))
                .hint("Fix or delete it, then run `operator login` again.")
                .into()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("read {}", path.display()))),
    }
}

/// Writes the file: folder 0700, file 0600, atomically.
pub fn save(file: &ConfigFile) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let path = path()?;
    let dir = path.parent().context("config path has no folder")?;
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("create {}", dir.display()))?;
    }
    // A temporary file is created 0600 in the same folder, so the rename is atomic.
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .with_context(|| format!("write in {}", dir.display()))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let mut text = serde_json::to_vec_pretty(file)?;
    text.push(b'\n');
    tmp.write_all(&text)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path)
        .map_err(|e| e.error)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// `https://x/` → `https://x`; refuses what is not an http(s) URL.
pub fn normalise_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len()
    {
        return Err(Failure::usage(format!(
            "{url:?} is not a URL: expected http://host:port or https://host"
        ))
        .into());
    }
    Ok(url.to_owned())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Settings {
    /// Environment first, then the file, then the default URL.
    pub fn resolve() -> anyhow::Result<Self> {
        let (env_key, env_url) = (env("OPERATOR_API_KEY"), env("OPERATOR_URL"));
        // The file is read only when the environment does not answer everything, so a broken
        // or absent HOME does not matter to a fully configured environment.
        let file = if env_key.is_some() && env_url.is_some() {
            ConfigFile::default()
        } else {
            load()?
        };
        let (url, url_source) = match (env_url, file.operator_app_url) {
            (Some(u), _) => (u, Source::Env),
            (None, Some(u)) => (u, Source::File),
            (None, None) => (DEFAULT_URL.to_owned(), Source::Default),
        };
        let (key, key_source) = match (env_key, file.operator_api_key) {
            (Some(k), _) => (Some(k), Source::Env),
            (None, Some(k)) if !k.trim().is_empty() => (Some(k), Source::File),
            _ => (None, Source::Default),
        };
        Ok(Self {
            url: normalise_url(&url)?,
            url_source,
            key: key.map(SecretString::from),
            key_source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_trailing_slash_and_must_be_http() {
        assert_eq!(
            normalise_url(" https://op.example.com/ ").unwrap(),
            "https://op.example.com"
        );
        assert_eq!(
            normalise_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalise_url("op.example.com").is_err());
        assert!(normalise_url("https://").is_err());
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let mut f: ConfigFile = serde_json::from_str(
            r#"{"operatorApiKey":"ck_live_x","operatorAppUrl":"http://h","theme":"dark"}"#,
        )
        .unwrap();
        f.operator_api_key = None;
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"operatorAppUrl": "http://h", "theme": "dark"})
        );
    }
}
