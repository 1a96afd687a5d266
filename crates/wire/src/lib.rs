//! Definitions the control plane (`operator-core`) and the instance runtime
//! (`operator-instance`) must agree on, written once here: the API validates a request with
//! the same rule the instance applies again, so the two can never drift apart. Kept free of
//! dependencies so the instance image stays small.

use std::path::{Component, Path, PathBuf};

/// The largest command `exec` runs: one argument of `execve` may not exceed 128 KiB
/// (`MAX_ARG_STRLEN`), so a larger one could never start. The API answers 413 above it.
pub const MAX_COMMAND_BYTES: usize = 100 * 1024;

/// Where `checkpointRepo` brings a workspace from, once its shape is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointRef {
    /// A URL for `git clone`: `https://`, `ssh://` or scp-like `user@host:path`
    /// (`owner/repo` becomes its GitHub https URL).
    Remote(String),
    /// An absolute path without `..` under the operator's allowed prefix (as written; the
    /// instance resolves links and checks the prefix again).
    Local(PathBuf),
}

/// Why a `checkpointRepo` is refused (a sentence for the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckpointRefused(pub String);

/// Parses `checkpointRepo`: `owner/repo` (GitHub), an `https://` or `ssh://` git URL, or
/// scp-like `user@host:path`. A local path only when the operator allows a directory
/// (`local_prefix`, from `OPERATOR_CHECKPOINT_LOCAL_PREFIX`) and the path lies under it.
/// `file://`, `ext::` and git's other transports, and anything starting with `-` (an
/// option to git or ssh), are refused.
pub fn parse_checkpoint(
    repo: &str,
    local_prefix: Option<&Path>,
) -> Result<CheckpointRef, CheckpointRefused> {
    let refuse = |why: &str| Err(CheckpointRefused(why.to_owned()));
    if repo.is_empty() || repo.len() > 512 {
        return refuse("it must be 1-512 characters");
    }
    if repo.starts_with('-') || repo.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse("it may not start with '-' or contain spaces or control characters");
    }
    if repo.starts_with('/') {
        let path = Path::new(repo);
        let plain = path
            .components()
            .all(|c| !matches!(c, Component::ParentDir));
        return match local_prefix {
            Some(prefix) if plain && path.starts_with(prefix) => {
                Ok(CheckpointRef::Local(path.to_owned()))
            }
            Some(prefix) => refuse(&format!("local paths must lie under {}", prefix.display())),
            None => refuse("local paths are not allowed on this server"),
        };
    }
    // The remote forms, each exactly as `CHECKPOINT_REPO` (operator-core) documents it.
    if let Some(rest) = repo.strip_prefix("https://") {
        return if url_rest(rest, false) {
            Ok(CheckpointRef::Remote(repo.to_owned()))
        } else {
            refuse("not a valid https:// URL (host[:port] then /path segments of letters, digits and ._~%+-)")
        };
    }
    if let Some(rest) = repo.strip_prefix("ssh://") {
        return if url_rest(rest, true) {
            Ok(CheckpointRef::Remote(repo.to_owned()))
        } else {
            refuse("not a valid ssh:// URL ([user@]host[:port] then /path segments of letters, digits and ._~%+-)")
        };
    }
    if let Some((user_host, path)) = repo.split_once(':') {
        let scp_like = user_host
            .split_once('@')
            .is_some_and(|(user, host)| is_plain_name(user) && is_plain_name(host))
            && !path.starts_with('-')
            && path_segments(path);
        return if scp_like {
            Ok(CheckpointRef::Remote(repo.to_owned()))
        } else {
            refuse("only https://, ssh:// and user@host:path URLs are allowed, no other schemes or git transports")
        };
    }
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() == 2 && parts.iter().all(|p| is_plain_name(p)) {
        return Ok(CheckpointRef::Remote(format!(
            "https://github.com/{repo}.git"
        )));
    }
    refuse("not a repository reference")
}

/// After `https://` or `ssh://`: `[user@]host[:port]` (a user only for ssh), then optional
/// `/segment`s, optionally ending in `/`.
fn url_rest(rest: &str, user_allowed: bool) -> bool {
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let authority = match authority.split_once('@') {
        Some((user, host)) if user_allowed && is_plain_name(user) => host,
        Some(_) => return false,
        None => authority,
    };
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok = host.starts_with(|c: char| c.is_ascii_alphanumeric())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok && (path.is_empty() || path_segments(path))
}

/// `segment(/segment)*` with an optional final `/`; a segment is letters, digits and `._~%+-`.
fn path_segments(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/').all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~%+-".contains(&b))
    })
}

/// `[A-Za-z0-9._-]+`, not starting with `.` or `-` (safe as a file name and as a git/ssh
/// argument).
pub fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '-'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_references_and_allowed_local_paths_only() {
        assert_eq!(
            parse_checkpoint("acme/tools", None),
            Ok(CheckpointRef::Remote(
                "https://github.com/acme/tools.git".into()
            ))
        );
        for ok in [
            "https://example.com/a/b.git",
            "ssh://git@example.com/a/b.git",
            "git@github.com:acme/tools.git",
        ] {
            assert_eq!(
                parse_checkpoint(ok, None),
                Ok(CheckpointRef::Remote(ok.into())),
                "{ok}"
            );
        }
        let prefix = Path::new("/srv/repos");
        for bad in [
            "file:///etc",
            "ext::sh -c touch% /tmp/pwned",
            "-uhttps://x",
            "--upload-pack=touch /tmp/x",
            "http://example.com/a.git",
            "git://example.com/a.git",
            "./relative",
            "a/b/c",
            "-oProxyCommand=x@host:path",
            "user@-host:path",
            "https://-host/x",
            "/srv/repos/../../etc",
            "/data/instances/inst_1",
            "",
        ] {
            assert!(parse_checkpoint(bad, Some(prefix)).is_err(), "{bad:?}");
        }
        assert!(parse_checkpoint("/srv/repos/tools", None).is_err());
        assert_eq!(
            parse_checkpoint("/srv/repos/tools", Some(prefix)),
            Ok(CheckpointRef::Local("/srv/repos/tools".into()))
        );
    }
}
