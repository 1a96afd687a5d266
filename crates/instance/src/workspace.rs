//! The instance workspace (OpenClaw layout) and safe path resolution inside it.
//!
//! Every path a client names is resolved relative to the workspace root; absolute paths,
//! `..` components and symlinks that lead outside the root are refused.

use anyhow::Context;
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
    let files: Vec<(&str, &str)> = if kind == "openclaw" {
        // OpenClaw writes its own AGENTS.md, IDENTITY.md, SOUL.md, USER.md on first start.
        vec![]
    } else if prebuilt {
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

/// Why a workspace path was refused or could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path itself is malformed (absolute, `..`, NUL, empty where a file is needed).
    #[error("{0}")]
    Invalid(&'static str),
    /// Resolution left the workspace (a symlink pointing outside, at the moment of opening).
    #[error("path leads outside the workspace")]
    Outside,
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} is a directory")]
    IsDirectory(String),
    /// The workspace's current content is in the way (a file where a folder must be).
    #[error("{0}")]
    InTheWay(&'static str),
    #[error("{0} is not a regular file or directory")]
    NotAFile(String),
    #[error("file is larger than 10 MiB")]
    TooLarge,
    #[error(transparent)]
    Io(std::io::Error),
}

impl PathError {
    fn from_io(e: std::io::Error, rel: &str) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => Self::NotFound(rel.to_owned()),
            ErrorKind::IsADirectory => Self::IsDirectory(rel.to_owned()),
            // cap-std reports an escape as PermissionDenied ("a path led outside of the
            // filesystem"); the kernel's openat2(RESOLVE_BENEATH) as EXDEV; symlink loops
            // (ELOOP) are treated alike.
            ErrorKind::PermissionDenied | ErrorKind::CrossesDevices => Self::Outside,
            _ if e.raw_os_error() == Some(libc::ELOOP) => Self::Outside,
            _ if e.raw_os_error() == Some(libc::ENOTDIR) => Self::NotFound(rel.to_owned()),
            _ => Self::Io(e),
        }
    }
}

pub use operator_instance_api::{DirEntry, EntryKind};

/// What a path names: a file's bytes or a directory's entries.
#[derive(Debug)]
pub enum Node {
    File {
        bytes: Vec<u8>,
        modified_at: Option<String>,
    },
    Directory(Vec<DirEntry>),
}

/// The workspace root as an open directory handle. Every operation resolves its path
/// beneath that handle in one step (cap-std: `openat2` with `RESOLVE_BENEATH` on Linux,
/// else a component-by-component walk with `O_NOFOLLOW`), so there is no window between a
/// check and the use in which a swapped symlink could lead outside: the kernel refuses the
/// escape at the moment of opening. Symlinks that stay inside are followed.
pub struct Workspace {
    root: PathBuf,
    dir: cap_std::fs::Dir,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn modified(m: &cap_std::fs::Metadata) -> Option<String> {
    m.modified().ok().map(|t| rfc3339(t.into_std()))
}

impl Workspace {
    /// Opens `root` (which must exist) as the base of every later resolution.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        Ok(Self {
            root: root.to_owned(),
            dir,
        })
    }

    /// The root's path (for processes that need a path, such as the browser profile).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The root handle, for callers with fixed relative names (session transcripts).
    pub fn dir(&self) -> &cap_std::fs::Dir {
        &self.dir
    }

    /// Reads a file or lists a directory. Special files (FIFOs, sockets, devices) are
    /// refused without blocking on them.
    pub fn read(&self, rel: &str, max_bytes: u64) -> Result<Node, PathError> {
        use cap_std::fs::OpenOptionsExt;
        use std::io::Read;
        let mut clean = clean(rel)?;
        if clean.as_os_str().is_empty() {
            clean.push(".");
        }
        let mut opts = cap_std::fs::OpenOptions::new();
        opts.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self
            .dir
            .open_with(&clean, &opts)
            .map_err(|e| PathError::from_io(e, rel))?;
        let meta = file.metadata().map_err(PathError::Io)?;
        if meta.is_dir() {
            let dir = cap_std::fs::Dir::from_std_file(file.into_std());
            return list(&dir).map(Node::Directory);
        }
        if !meta.is_file() {
            return Err(PathError::NotAFile(rel.to_owned()));
        }
        if meta.len() > max_bytes {
            return Err(PathError::TooLarge);
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.into_std()
            .take(max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(PathError::Io)?;
        if bytes.len() as u64 > max_bytes {
            return Err(PathError::TooLarge);
        }
        Ok(Node::File {
            bytes,
            modified_at: modified(&meta),
        })
    }

    /// The entries of a directory.
    pub fn list(&self, rel: &str) -> Result<Vec<DirEntry>, PathError> {
        list(&self.open_dir(rel)?)
    }

    /// A text file (for the agent's tools and the system prompt).
    pub fn read_to_string(&self, rel: &str) -> Result<String, PathError> {
        let clean = clean(rel)?;
        if clean.as_os_str().is_empty() {
            return Err(PathError::IsDirectory(rel.to_owned()));
        }
        match self.read(rel, 10 * 1024 * 1024)? {
            Node::File { bytes, .. } => String::from_utf8(bytes)
                .map_err(|_| PathError::Io(std::io::Error::other("the file is not UTF-8 text"))),
            Node::Directory(_) => Err(PathError::IsDirectory(rel.to_owned())),
        }
    }

    /// Creates or replaces a file, creating parent folders.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), PathError> {
        let clean = clean(rel)?;
        if clean.as_os_str().is_empty() {
            return Err(PathError::Invalid("path is required"));
        }
        if let Some(parent) = clean.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Err(e) = self.dir.create_dir_all(parent) {
                // "Exists" may be a symlink leading outside or a file in the way: say which.
                return Err(match self.dir.metadata(parent) {
                    Err(e) => PathError::from_io(e, rel),
                    Ok(m) if !m.is_dir() => {
                        PathError::InTheWay("a parent of the path is a file, not a folder")
                    }
                    Ok(_) => PathError::from_io(e, rel),
                });
            }
        }
        self.dir
            .write(&clean, bytes)
            .map_err(|e| PathError::from_io(e, rel))
    }

    /// Deletes a file, a symlink (not its target) or a directory tree.
    pub fn remove(&self, rel: &str) -> Result<(), PathError> {
        let clean = clean(rel)?;
        if clean.as_os_str().is_empty() {
            return Err(PathError::Invalid(
                "path is required (the workspace root cannot be deleted)",
            ));
        }
        let meta = self
            .dir
            .symlink_metadata(&clean)
            .map_err(|e| PathError::from_io(e, rel))?;
        let res = if meta.is_dir() {
            self.dir.remove_dir_all(&clean)
        } else {
            self.dir.remove_file(&clean)
        };
        res.map_err(|e| PathError::from_io(e, rel))
    }

    /// Opens a directory of the workspace (a command's working directory: the process
    /// changes into the handle, never into a path).
    pub fn open_dir(&self, rel: &str) -> Result<cap_std::fs::Dir, PathError> {
        let clean = clean(rel)?;
        if clean.as_os_str().is_empty() {
            return self.dir.try_clone().map_err(PathError::Io);
        }
        self.dir
            .open_dir(&clean)
            .map_err(|e| PathError::from_io(e, rel))
    }
}

fn list(dir: &cap_std::fs::Dir) -> Result<Vec<DirEntry>, PathError> {
    let mut entries = vec![];
    for e in dir.entries().map_err(PathError::Io)?.flatten() {
        // Not followed: a symlink is described as itself.
        let Ok(m) = e.metadata() else { continue };
        let ft = m.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Directory
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        entries.push(DirEntry {
            name: e.file_name().to_string_lossy().into_owned(),
            kind,
            size: m.len(),
            modified_at: modified(&m),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// The lexical part of the check: relative, no `..`, no NUL. `""` is the root.
fn clean(rel: &str) -> Result<PathBuf, PathError> {
    if rel.contains('\0') {
        return Err(PathError::Invalid("path contains a NUL byte"));
    }
    let mut clean = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => clean.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::Invalid("path may not contain '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Invalid("path must be relative to the workspace"))
            }
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        init(&root, "prebuilt").unwrap();
        let ws = Workspace::open(&root).unwrap();
        (dir, ws)
    }

    #[test]
    fn resolution_refuses_escapes() {
        // GIVEN a workspace with a symlink to /etc and one to a file inside
        let (_d, ws) = ws();
        std::os::unix::fs::symlink("/etc", ws.root().join("workspace/etc")).unwrap();
        std::os::unix::fs::symlink("../AGENTS.md", ws.root().join("workspace/agents")).unwrap();
        // THEN inside paths work, lexical and symlink escapes are refused
        assert!(matches!(
            ws.read("AGENTS.md", 1 << 20),
            Ok(Node::File { .. })
        ));
        assert!(matches!(ws.read("", 1 << 20), Ok(Node::Directory(_))));
        assert!(matches!(
            ws.read("workspace/agents", 1 << 20),
            Ok(Node::File { .. })
        ));
        for p in ["../etc/passwd", "workspace/../../x", "/etc/passwd"] {
            assert!(
                matches!(ws.read(p, 1 << 20), Err(PathError::Invalid(_))),
                "{p}"
            );
        }
        for p in ["workspace/etc/passwd", "workspace/etc"] {
            assert!(
                matches!(ws.read(p, 1 << 20), Err(PathError::Outside)),
                "{p}"
            );
        }
        let w = ws.write("workspace/etc/new-file", b"x");
        assert!(matches!(w, Err(PathError::Outside)), "{w:?}");
        assert!(matches!(
            ws.open_dir("workspace/etc"),
            Err(PathError::Outside)
        ));
        assert!(ws.write("workspace/new/file.txt", b"x").is_ok());
        assert!(matches!(
            ws.read("nope", 1 << 20),
            Err(PathError::NotFound(_))
        ));
    }

    #[test]
    fn listings_report_symlinks_as_links_and_delete_removes_the_link_only() {
        let (_d, ws) = ws();
        let outside = ws.root().parent().unwrap().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, ws.root().join("workspace/out")).unwrap();
        let Ok(Node::Directory(entries)) = ws.read("workspace", 1 << 20) else {
            panic!("not a directory")
        };
        let link = entries.iter().find(|e| e.name == "out").unwrap();
        assert_eq!(link.kind, EntryKind::Symlink);
        ws.remove("workspace/out").unwrap();
        assert!(outside.join("keep").exists());
        assert!(matches!(ws.remove(""), Err(PathError::Invalid(_))));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let (_d, ws) = ws();
        let p = std::ffi::CString::new(ws.root().join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: `p` is a NUL-terminated path that outlives the call; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            ws.read("fifo", 1 << 20),
            Err(PathError::NotAFile(_))
        ));
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
