//! Running a puppeteer suite of `tests/console/` (node driving Debian's chromium) against a
//! spawned server: a fresh screenshot folder, a bounded run whose whole process group
//! (node and its chromium) is killed afterwards, and the suite's `SUMMARY {json}` line.

use crate::support::App;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/console")
}

/// `target/<name>`, emptied: screenshots of an earlier run must not count for this one.
pub fn fresh_screenshot_dir(name: &str) -> PathBuf {
    let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target")
        .join(name);
    if shots.exists() {
        std::fs::remove_dir_all(&shots).expect("clear the screenshot dir");
    }
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    shots.canonicalize().expect("screenshot dir path")
}

/// Fails clearly when what scripts/test.sh installs is missing.
pub fn assert_installed() {
    assert!(
        suite_dir()
            .join("node_modules/puppeteer-core/package.json")
            .exists(),
        "puppeteer-core is not installed: run `npm ci --prefix tests/console` (scripts/test.sh does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "chromium is not installed: apt-get install chromium (scripts/test.sh does)"
    );
}

/// Runs `node tests/console/<script>` with OPERATOR_URL, OPERATOR_KEY, SCREENSHOT_DIR and
/// `env`, killing its whole process group when it ends or outlives `timeout`.
pub async fn run(
    script: &str,
    app: &App,
    shots: &Path,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Run {
    let dir = suite_dir();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join(script))
        .current_dir(&dir)
        .env("OPERATOR_URL", &app.base)
        .env("OPERATOR_KEY", &app.key)
        .env("SCREENSHOT_DIR", shots)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().expect("node is needed for the browser suites");
    let pgid = child.id().expect("node's pid") as i32;
    let out = tokio::time::timeout(timeout, child.wait_with_output()).await;
    // Whatever the suite left behind (a chromium after a crash) goes too; a group already
    // gone (ESRCH, the usual case) is fine.
    // SAFETY: kill(2) on the process group this test created for the suite.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    match out {
        Ok(out) => {
            let out = out.expect("wait for node");
            Run {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => panic!(
            "{script} did not finish within {} s; killed it",
            timeout.as_secs()
        ),
    }
}

/// The suite's `SUMMARY {json}` line.
pub fn summary(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .unwrap_or_else(|| panic!("the suite printed no SUMMARY line:\n{stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("SUMMARY is not JSON ({e}): {line}"))
}
