//! The instance workspace (OpenClaw layout) and safe path resolution inside it.
//!
//! Every path a client names is resolved relative to the workspace root; absolute paths,
//! `..` components and symlinks that lead outside the root are refused.

use anyhow::{bail, Context};
use std::path::{Component, Path, PathBuf};

const MARKER: &str = ".operator/initialized";

/// Writes the skeleton on first start (never overwrites what the user changed later).
pub fn init(root: &Path, kind: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    if root.join(MARKER).exists() {
        return Ok(());
    }
    for dir in ["workspace", "skills", "sessions", "cron/jobs", ".operator"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    let prebuilt = kind != "blank";
    let files: Vec<(&str, &str)> = if prebuilt {
        vec![
            ("AGENTS.md", PREBUILT_AGENTS),
            ("IDENTITY.md", "# Identity\n\nYou are an Operator instance: a focused agent with your own workspace.\n"),
            ("USER.md", "# User\n\nNotes about the people you work for go here.\n"),
            ("HEARTBEAT.md", "# Heartbeat\n\nChecks to run on each heartbeat, one per line.\n"),
            ("skills/web-research/SKILL.md", SKILL_WEB_RESEARCH),
            ("skills/report-writing/SKILL.md", SKILL_REPORT),
        ]
    } else {
        vec![
            ("AGENTS.md", "# Agents\n"),
            ("IDENTITY.md", "# Identity\n"),
            ("USER.md", "# User\n"),
            ("HEARTBEAT.md", "# Heartbeat\n"),
        ]
    };
    for (path, text) in files {
        let p = root.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !p.exists() {
            std::fs::write(&p, text)?;
        }
    }
    std::fs::write(root.join(MARKER), chrono::Utc::now().to_rfc3339())?;
    Ok(())
}

const PREBUILT_AGENTS: &str = "# AGENTS.md — how to work here\n\n\
You are an autonomous agent running inside an Operator instance.\n\n\
- Your files live in this workspace; put work products under `workspace/`.\n\
- Skills are in `skills/<name>/SKILL.md`; load one with the `load_skill` tool before using it.\n\
- Use `bash` for commands, `read_file`/`write_file` for files, `http_request` for APIs and\n  \
`browser_open` to read web pages.\n\
- Secrets granted to you are environment variables; `operator-instance secret NAME` prints the\n  \
current value (it follows rotations).\n\
- Be concise. When done, answer with what you did and where the results are.\n";

const SKILL_WEB_RESEARCH: &str = "---\nname: web-research\ndescription: Find and summarise information from web pages with sources.\n---\n\n\
# Web research\n\n1. Open each candidate page with `browser_open` (or `http_request` for APIs).\n\
2. Extract the facts that answer the question; keep the URL of each.\n\
3. Answer with a short summary and a list of sources.\n";

const SKILL_REPORT: &str = "---\nname: report-writing\ndescription: Write a structured Markdown report into workspace/reports.\n---\n\n\
# Report writing\n\nWrite `workspace/reports/<date>-<topic>.md` with: a title, a three-line summary,\n\
findings as bullet points, and next steps. Reply with the path of the report.\n";

/// Brings `checkpointRepo` into `workspace/<repo name>` once: a local path or a git URL
/// (`owner/repo` means GitHub). A failure stops the start with git's own message.
pub fn apply_checkpoint(root: &Path, repo: &str) -> anyhow::Result<()> {
    let marker = root.join(".operator/checkpoint");
    if marker.exists() || repo.trim().is_empty() {
        return Ok(());
    }
    let repo = repo.trim();
    let local = Path::new(repo);
    let source = if (local.is_absolute() && local.exists())
        || repo.contains("://")
        || repo.starts_with("git@")
    {
        repo.to_owned()
    } else if repo.split('/').count() == 2 && !repo.starts_with('.') {
        format!("https://github.com/{repo}.git")
    } else {
        bail!("checkpointRepo {repo:?} is neither an absolute path, a git URL nor owner/repo");
    };
    let name = repo
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("checkpoint")
        .trim_end_matches(".git")
        .to_owned();
    let dest = root
        .join("workspace")
        .join(if name.is_empty() { "checkpoint" } else { &name });
    if local.is_absolute() && local.is_dir() && !local.join(".git").exists() {
        copy_dir(local, &dest)?;
    } else {
        let out = std::process::Command::new("git")
            .args(["clone", "--depth", "1", "--quiet", &source])
            .arg(&dest)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .context("run git (is it installed?)")?;
        if !out.status.success() {
            bail!(
                "git clone {source} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    std::fs::write(marker, repo)?;
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

/// Resolves `rel` inside `root` (which must be canonical). `must_exist = false` allows a
/// path whose last components do not exist yet (for writes).
pub fn resolve(root: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    if rel.contains('\0') {
        bail!("path contains a NUL byte");
    }
    let rel_path = Path::new(rel);
    let mut clean = PathBuf::new();
    for c in rel_path.components() {
        match c {
            Component::Normal(p) => clean.push(p),
            Component::CurDir => {}
            Component::ParentDir => bail!("path may not contain '..'"),
            Component::RootDir | Component::Prefix(_) => {
                bail!("path must be relative to the workspace")
            }
        }
    }
    let joined = root.join(&clean);
    // The deepest existing ancestor, with symlinks resolved, must stay inside the root.
    let mut existing = joined.as_path();
    loop {
        if existing.symlink_metadata().is_ok() {
            break;
        }
        existing = existing.parent().unwrap_or(root);
    }
    let real = existing
        .canonicalize()
        .with_context(|| format!("resolve {rel}"))?;
    if !real.starts_with(root) {
        bail!("path leads outside the workspace");
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        init(&root, "prebuilt").unwrap();
        assert!(resolve(&root, "AGENTS.md").is_ok());
        assert!(resolve(&root, "workspace/new/file.txt").is_ok());
        assert!(resolve(&root, "").unwrap() == root);
        assert!(resolve(&root, "../etc/passwd").is_err());
        assert!(resolve(&root, "workspace/../../x").is_err());
        assert!(resolve(&root, "/etc/passwd").is_err());
        std::os::unix::fs::symlink("/etc", root.join("workspace/etc")).unwrap();
        assert!(resolve(&root, "workspace/etc/passwd").is_err());
        assert!(resolve(&root, "workspace/etc").is_err());
        assert!(resolve(&root, "workspace/etc/new-file").is_err());
    }

    #[test]
    fn skeleton_follows_the_openclaw_layout() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "prebuilt").unwrap();
        for p in [
            "AGENTS.md",
            "IDENTITY.md",
            "USER.md",
            "HEARTBEAT.md",
            "workspace",
            "skills/web-research/SKILL.md",
            "sessions",
            "cron/jobs",
        ] {
            assert!(dir.path().join(p).exists(), "{p}");
        }
        let blank = tempfile::tempdir().unwrap();
        init(blank.path(), "blank").unwrap();
        assert!(std::fs::read_dir(blank.path().join("skills"))
            .unwrap()
            .next()
            .is_none());
    }
}
