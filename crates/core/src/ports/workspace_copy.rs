//! Copying a workspace directory for a clone, the same way for every runtime whose
//! workspaces are directories the control plane can reach (embedded: the data directory;
//! AWS: the worker's mount of the workspaces file system).

use anyhow::{bail, Context};
use std::path::Path;

/// Copies workspace `src` to `dst` unless `dst` exists: into `<dst>.partial` first, renamed
/// when complete, so an interrupted copy is redone, never taken for a finished one. Symlinks
/// stay symlinks (never followed out of the workspace); the browser profile is skipped.
pub fn copy_workspace(src: &Path, dst: &Path) -> anyhow::Result<()> {
    if dst.exists() {
        return Ok(());
    }
    if !src.is_dir() {
        bail!("the source instance has no workspace to clone");
    }
    let mut partial = dst.as_os_str().to_owned();
    partial.push(".partial");
    let partial = Path::new(&partial);
    // A partial copy left by an interrupted clone, if any (usually there is none).
    let _ = std::fs::remove_dir_all(partial);
    copy_tree(src, partial).context("copy the source instance's workspace")?;
    std::fs::rename(partial, dst).context("move the copied workspace into place")?;
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "chromium" && src.ends_with(".operator") {
            continue;
        }
        let (s, d) = (entry.path(), dst.join(&name));
        let ty = entry.file_type()?;
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s)?, &d)?;
        } else if ty.is_dir() {
            copy_tree(&s, &d)?;
        } else {
            std::fs::copy(&s, &d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_and_symlinks_skips_the_browser_profile_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(src.join("skills/x")).unwrap();
        std::fs::create_dir_all(src.join(".operator/chromium")).unwrap();
        std::fs::write(src.join("skills/x/SKILL.md"), "# x").unwrap();
        std::fs::write(src.join(".operator/chromium/Cookies"), "c").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        copy_workspace(&src, &dst).unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("skills/x/SKILL.md")).unwrap(),
            "# x"
        );
        assert!(!dst.join(".operator/chromium").exists());
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(!dir.path().join("b.partial").exists());
        std::fs::write(src.join("later"), "x").unwrap();
        copy_workspace(&src, &dst).unwrap();
        assert!(!dst.join("later").exists(), "a finished copy is not redone");
        assert!(copy_workspace(&dir.path().join("missing"), &dir.path().join("c")).is_err());
    }
}
