//! The server's own files in an instance's directory (log, pid, `bin/`, `sandbox-etc/`),
//! opened so that a link planted there is never followed.

use std::path::Path;

/// The server's own files in an instance's directory (log, pid, `bin/`, `sandbox-etc/`)
/// are never reached through a link: a link planted there (by an instance of an older
/// version, whose whole directory was writable) would otherwise send the server's writes or
/// reads to any host file. Inside the sandbox the directory is read-only except `workspace/`.
pub(super) fn open_private(
    path: &Path,
    opts: &mut std::fs::OpenOptions,
) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    opts.custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Replaces `path` with a fresh file holding `data` (whatever was there, a link included,
/// is removed first; the new file is created exclusively, so never through a link).
pub(super) fn write_private(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = open_private(
        path,
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode),
    )?;
    f.write_all(data)
}

pub(super) fn read_private(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    open_private(path, std::fs::OpenOptions::new().read(true))?.read_to_string(&mut text)?;
    Ok(text)
}

/// A directory of the server's own: a link or file in its place is removed first.
pub(super) fn private_dir(path: &Path) -> std::io::Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.is_dir() {
            std::fs::remove_file(path)?;
        }
    }
    std::fs::create_dir_all(path)
}

/// The instance's log for appending, never through a link (one found there is replaced).
pub(super) fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    let open = || open_private(path, std::fs::OpenOptions::new().create(true).append(true));
    match open() {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            std::fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

/// The last lines of the instance's log, as `; log: a | b`, or nothing.
pub(super) fn log_tail(path: &Path) -> String {
    let text = read_private(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "; log: {}",
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_files_are_never_written_or_read_through_a_planted_link() {
        // GIVEN an instance directory whose log, pid, wrapper and passwd are links to a
        // file outside it (as an instance of an older version could have left them)
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("host-file");
        std::fs::write(&target, "host secret").unwrap();
        let own = dir.path().join("inst");
        std::fs::create_dir_all(own.join("bin")).unwrap();
        std::os::unix::fs::symlink(dir.path(), own.join("sandbox-etc")).unwrap();
        for f in ["instance.log", "pid", "bin/operator-instance"] {
            std::os::unix::fs::symlink(&target, own.join(f)).unwrap();
        }
        // WHEN the server writes and reads them
        write_private(&own.join("pid"), b"42", 0o644).unwrap();
        write_private(&own.join("bin/operator-instance"), b"#!/bin/sh\n", 0o755).unwrap();
        private_dir(&own.join("sandbox-etc")).unwrap();
        write_private(
            &own.join("sandbox-etc/passwd"),
            b"operator:x:1:1::/:/bin/sh\n",
            0o644,
        )
        .unwrap();
        let mut log = open_log(&own.join("instance.log")).unwrap();
        std::io::Write::write_all(&mut log, b"a log line\n").unwrap();
        // THEN the outside file is untouched and each path is the server's own file
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host secret");
        assert!(!dir.path().join("passwd").exists());
        for f in [
            "instance.log",
            "pid",
            "bin/operator-instance",
            "sandbox-etc/passwd",
        ] {
            let m = std::fs::symlink_metadata(own.join(f)).unwrap();
            assert!(m.is_file(), "{f}");
        }
        assert!(std::fs::symlink_metadata(own.join("sandbox-etc"))
            .unwrap()
            .is_dir());
        assert_eq!(read_private(&own.join("pid")).unwrap(), "42");
        assert_eq!(log_tail(&own.join("instance.log")), "; log: a log line");
        // AND a link planted for reading is not followed
        std::fs::remove_file(own.join("pid")).unwrap();
        std::os::unix::fs::symlink(&target, own.join("pid")).unwrap();
        assert!(read_private(&own.join("pid")).is_err());
    }
}
