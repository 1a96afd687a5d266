//! One tracing setup for every binary (`operator` serve and admin, `operator instance-runtime`,
//! `operator-instance`, the ECS worker, the Lambda API), so the log format and the
//! `RUST_LOG` filter (default `info`) are decided in one place instead of in each `main`.
//!
//! Each host is a [`Profile`]: where its lines go and in which shape.
//! - [`Profile::Cli`]: stderr, human-readable (coloured on a terminal), or JSON lines when
//!   the CLI asks (it reads `OPERATOR_LOG_FORMAT`).
//! - [`Profile::Instance`]: stderr without colour (the local runtime keeps it in
//!   `instance.log`, Fargate sends it to CloudWatch).
//! - [`Profile::Worker`]: JSON lines on stdout (CloudWatch via the ECS log driver).
//! - [`Profile::Lambda`]: JSON lines on stdout without a timestamp (Lambda adds its own).
//!
//! A line that cannot be written (the log's disk is full, its pipe is closed) is dropped.
//! tracing-subscriber's default would report it with `eprintln!`, which panics when stderr
//! itself fails: a full disk under `server.log` then killed requests and the database's
//! writer thread.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset or unparsable.
pub const DEFAULT_FILTER: &str = "info";

/// Which binary is logging, and so where and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `operator serve` and the admin commands; `json` for JSON lines.
    Cli { json: bool },
    /// The instance runtime (`operator instance-runtime serve`, `operator-instance`).
    Instance,
    /// The ECS worker.
    Worker,
    /// The API function on Lambda (and its local HTTP mode).
    Lambda,
}

/// A global subscriber was already installed (by an earlier `init` or by a test harness).
#[derive(Debug, thiserror::Error)]
#[error("tracing is already set up: {0}")]
pub struct AlreadyInitialised(String);

/// Installs the global subscriber for `profile`, filtered by `RUST_LOG` (default
/// [`DEFAULT_FILTER`]).
///
/// # Errors
/// [`AlreadyInitialised`] when a global subscriber is already set; the existing one stays.
pub fn init(profile: Profile) -> Result<(), AlreadyInitialised> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false);
    let done = match profile {
        Profile::Cli { json } => {
            let builder = builder
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal());
            if json {
                builder.json().try_init()
            } else {
                builder.try_init()
            }
        }
        Profile::Instance => builder
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init(),
        Profile::Worker => builder.json().try_init(),
        Profile::Lambda => builder.json().without_time().try_init(),
    };
    done.map_err(|e| AlreadyInitialised(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the child process of `a_log_that_cannot_be_written_never_panics`.
    const CHILD: &str = "OPERATOR_TELEMETRY_TEST_FULL_STDERR";

    #[test]
    fn a_log_that_cannot_be_written_never_panics() {
        if std::env::var_os(CHILD).is_some() {
            init(Profile::Cli { json: false }).expect("init");
            tracing::error!("this line cannot be written");
            tracing::warn!("nor can this one");
            return;
        }
        // GIVEN a process whose stderr is a full device (every write: ENOSPC)
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
        // WHEN it logs
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "tests::a_log_that_cannot_be_written_never_panics",
                // Uncaptured, so that `eprintln!` meets the full stderr, as in a server.
                "--nocapture",
            ])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::null())
            .stderr(full)
            .status()
            .expect("run the child");
        // THEN the lines are dropped and it goes on (a panic would fail the child)
        assert!(status.success(), "{status}");
    }

    #[test]
    fn a_second_init_is_refused_and_keeps_the_first() {
        // GIVEN a process whose tracing is set up
        init(Profile::Instance).expect("first init");
        // WHEN another binary's setup runs in the same process
        let again = init(Profile::Cli { json: false });
        // THEN it says so instead of panicking or replacing the first
        assert!(again.is_err());
        assert!(again.unwrap_err().to_string().contains("already set up"));
    }
}
