//! `checkpointRepo`: a repository brought into the workspace once, at first start.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// Where a checkpoint is brought from, once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointSource {
    /// A URL handed to `git clone` (https or ssh only).
    Remote(String),
    /// A directory under the operator's allowed prefix (canonical path).
    Local(PathBuf),
}

/// Validates `checkpointRepo` again inside the instance, by the API's own rule
/// ([`operator_wire::parse_checkpoint`]), and for a local path with symlinks resolved: it
/// must still lie under the (resolved) `local_prefix`.
pub fn checkpoint_source(
    repo: &str,
    local_prefix: Option<&Path>,
) -> anyhow::Result<CheckpointSource> {
    let refused = |why: &dyn std::fmt::Display| {
        anyhow::anyhow!("checkpointRepo {:?} is refused: {why}", repo.trim())
    };
    match operator_wire::parse_checkpoint(repo, local_prefix).map_err(|e| refused(&e))? {
        operator_wire::CheckpointRef::Remote(url) => Ok(CheckpointSource::Remote(url)),
        operator_wire::CheckpointRef::Local(path) => {
            let real = path
                .canonicalize()
                .with_context(|| format!("checkpointRepo {}", path.display()))?;
            let prefix = local_prefix.unwrap_or(Path::new("/"));
            let prefix = prefix.canonicalize().unwrap_or_else(|_| prefix.to_owned());
            if !real.starts_with(&prefix) {
                return Err(refused(&format!(
                    "local paths must lie under {}",
                    prefix.display()
                )));
            }
            Ok(CheckpointSource::Local(real))
        }
    }
}

/// Files and folders at a repository's root that make it an OpenClaw checkpoint: a workspace
/// in OpenClaw's layout, brought to the workspace root rather than into `workspace/<name>`.
const OPENCLAW_MARKERS: [&str; 5] = [
    "AGENTS.md",
    "SOUL.md",
    "IDENTITY.md",
    "skills",
    "HEARTBEAT.md",
];

/// Whether the checked-out `dir` is an OpenClaw checkpoint (workspace layout at its root).
pub fn is_openclaw_layout(dir: &Path) -> bool {
    OPENCLAW_MARKERS.iter().any(|m| dir.join(m).exists())
}

/// Brings `checkpointRepo` into the workspace once (see [`checkpoint_source`]): an OpenClaw
/// checkpoint (its root holds `AGENTS.md`, `SOUL.md`, `IDENTITY.md`, `HEARTBEAT.md` or
/// `skills/`) is laid over the workspace root, its files replacing the skeleton's; any other
/// repository goes to `workspace/<repo name>`. A failure stops the start with git's own
/// message.
pub fn apply_checkpoint(
    root: &Path,
    repo: &str,
    local_prefix: Option<&Path>,
) -> anyhow::Result<()> {
    let marker = root.join(".operator/checkpoint");
    if marker.exists() || repo.trim().is_empty() {
        return Ok(());
    }
    let repo = repo.trim();
    let source = checkpoint_source(repo, local_prefix)?;
    let name = repo
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .trim_end_matches(".git");
    let name = if operator_wire::is_plain_name(name) {
        name
    } else {
        "checkpoint"
    };
    // Fetched beside the workspace's own files first, then placed by its layout.
    let staged = root.join(".operator/checkpoint-src");
    let _ = std::fs::remove_dir_all(&staged);
    match &source {
        CheckpointSource::Local(dir) if !dir.join(".git").exists() => copy_dir(dir, &staged)?,
        CheckpointSource::Local(dir) => clone(&dir.display().to_string(), "file", &staged)?,
        CheckpointSource::Remote(url) => clone(url, "https:ssh", &staged)?,
    }
    let _ = std::fs::remove_dir_all(staged.join(".git"));
    if is_openclaw_layout(&staged) {
        copy_dir(&staged, root)?;
        std::fs::remove_dir_all(&staged)?;
    } else {
        let dest = root.join("workspace").join(name);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&staged, &dest)?;
    }
    std::fs::write(marker, repo)?;
    Ok(())
}

/// `git clone --depth 1` of `url` into `dest`, allowing only the transport validated.
fn clone(url: &str, allow: &str, dest: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new("git")
        .args(["clone", "--depth", "1", "--quiet", "--"])
        .arg(url)
        .arg(dest)
        .env("GIT_TERMINAL_PROMPT", "0")
        // Only the transport validated above, for the clone and anything it leads to.
        .env("GIT_ALLOW_PROTOCOL", allow)
        .output()
        .context("run git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "checkpointRepo: git clone {url} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn copy_dir(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (s, d) = (entry.path(), dst.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_dir(&s, &d)?;
        } else if entry.file_type()?.is_file() {
            std::fs::copy(&s, &d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_sources_are_remote_urls_or_an_allowed_prefix() {
        // The shape rule is operator_wire's (tested there); here: remote ones pass through,
        // and local ones are judged with links resolved.
        use CheckpointSource::*;
        let gh = checkpoint_source("acme/tools", None).unwrap();
        assert_eq!(gh, Remote("https://github.com/acme/tools.git".into()));
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("repos");
        std::fs::create_dir_all(allowed.join("r")).unwrap();
        let inside = allowed.join("r");
        let elsewhere = dir.path().join("other");
        std::fs::create_dir_all(&elsewhere).unwrap();
        // A symlink under the prefix that leads elsewhere is judged by its target.
        std::os::unix::fs::symlink(&elsewhere, allowed.join("link")).unwrap();
        assert!(checkpoint_source("file:///etc", Some(&allowed)).is_err());
        let inside_s = inside.to_str().unwrap();
        assert!(checkpoint_source(inside_s, None).is_err());
        assert!(matches!(
            checkpoint_source(inside_s, Some(&allowed)),
            Ok(Local(_))
        ));
        assert!(checkpoint_source(elsewhere.to_str().unwrap(), Some(&allowed)).is_err());
        assert!(checkpoint_source(allowed.join("link").to_str().unwrap(), Some(&allowed)).is_err());
    }

    #[test]
    fn an_openclaw_checkpoint_lands_at_the_root_and_any_other_repo_in_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let repos = dir.path().join("repos");
        // an OpenClaw checkpoint: its own AGENTS.md and a skill, at its root
        let claw = repos.join("desk-claw");
        std::fs::create_dir_all(claw.join("skills/aqi")).unwrap();
        std::fs::write(claw.join("AGENTS.md"), "# the checkpoint's agents\n").unwrap();
        std::fs::write(claw.join("skills/aqi/SKILL.md"), "---\nname: aqi\n---\n").unwrap();
        // a plain repository
        let tools = repos.join("tools");
        std::fs::create_dir_all(&tools).unwrap();
        std::fs::write(tools.join("run.sh"), "echo hi\n").unwrap();
        for (repo, kind) in [(&claw, "prebuilt"), (&tools, "prebuilt")] {
            let root = dir.path().join(format!(
                "ws-{}",
                repo.file_name().unwrap().to_string_lossy()
            ));
            crate::workspace::init(&root, kind).unwrap();
            apply_checkpoint(&root, repo.to_str().unwrap(), Some(&repos)).unwrap();
        }
        let claw_ws = dir.path().join("ws-desk-claw");
        assert_eq!(
            std::fs::read_to_string(claw_ws.join("AGENTS.md")).unwrap(),
            "# the checkpoint's agents\n"
        );
        assert!(claw_ws.join("skills/aqi/SKILL.md").is_file());
        assert!(!claw_ws.join("workspace/desk-claw").exists());
        assert!(!claw_ws.join(".operator/checkpoint-src").exists());
        let tools_ws = dir.path().join("ws-tools");
        assert!(tools_ws.join("workspace/tools/run.sh").is_file());
        assert_ne!(
            std::fs::read_to_string(tools_ws.join("AGENTS.md")).unwrap(),
            "# the checkpoint's agents\n"
        );
    }
}
