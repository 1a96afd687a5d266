//! Running commands in the workspace: `bash -c`, a timeout that kills the whole process
//! group, and capped output.
//!
//! The shell is named by absolute path and the working directory is entered through an open
//! directory handle (`fchdir`), so neither the instance's `PATH` nor a symlink swapped in
//! after the check decides what runs where.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

pub const MAX_OUTPUT: usize = 256 * 1024;
pub use operator_instance_api::{ExecRequest, ExecResult};
pub use operator_wire::MAX_COMMAND_BYTES;

/// `/bin/bash`, else `/bin/sh` (a minimal image may ship only the latter).
fn shell() -> &'static str {
    if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

async fn read_capped(mut r: impl tokio::io::AsyncRead + Unpin) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(out.len());
                if n > room {
                    truncated = true;
                }
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (out, truncated)
}

pub async fn run(
    cwd: &cap_std::fs::Dir,
    command: &str,
    timeout: Duration,
    env: &[(String, String)],
) -> anyhow::Result<ExecResult> {
    let started = std::time::Instant::now();
    use std::os::fd::AsRawFd;
    anyhow::ensure!(
        command.len() <= MAX_COMMAND_BYTES,
        "command is larger than {MAX_COMMAND_BYTES} bytes"
    );
    let cwd_fd = cwd.as_raw_fd();
    let mut cmd = tokio::process::Command::new(shell());
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    // SAFETY: fchdir is async-signal-safe; `cwd` outlives the spawn (borrowed here).
    unsafe {
        cmd.pre_exec(move || {
            if libc::fchdir(cwd_fd) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_task = tokio::spawn(async move {
        match stdout {
            Some(s) => read_capped(s).await,
            None => (vec![], false),
        }
    });
    let err_task = tokio::spawn(async move {
        match stderr {
            Some(s) => read_capped(s).await,
            None => (vec![], false),
        }
    });
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(s) => (Some(s?), false),
        Err(_) => {
            if let Some(pid) = pid {
                // The whole group: bash and everything it started.
                // SAFETY: kill(2) takes integers and touches no memory; the group is the one
                // this child leads (`process_group(0)`), not yet reaped, so not reused.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            (None, true)
        }
    };
    // A background process may keep the pipes open after bash exits: wait briefly, then
    // return what was read rather than hang.
    let grace = Duration::from_secs(2);
    let (out, t1) = tokio::time::timeout(grace, out_task)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let (err, t2) = tokio::time::timeout(grace, err_task)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Ok(ExecResult {
        exit_code: status.and_then(|s| s.code()),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        timed_out,
        truncated: t1 || t2,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_broken_path_in_the_environment_does_not_stop_the_shell() {
        // GIVEN an environment whose PATH leads nowhere
        let dir = tempfile::tempdir().unwrap();
        let cwd =
            cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let env = vec![("PATH".to_owned(), "/nonexistent".to_owned())];
        // WHEN a command runs
        let r = run(&cwd, "echo ok; pwd", Duration::from_secs(10), &env)
            .await
            .unwrap();
        // THEN the shell still starts (its builtins work) in the given folder
        assert_eq!(r.exit_code, Some(0), "{r:?}");
        let expected = format!("ok\n{}\n", dir.path().canonicalize().unwrap().display());
        assert_eq!(r.stdout, expected);
    }
}
