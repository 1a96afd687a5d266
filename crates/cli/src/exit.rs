//! Exit codes by class of failure, and the one place failures are printed. A command returns
//! `anyhow::Error`; a [`Failure`] inside it chooses the exit code and carries what to do next,
//! anything else is unexpected (1).

use std::fmt;

/// The exit codes (`--help` and docs/cli.md list the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Unexpected failure, or the server failed (5xx).
    Unexpected,
    /// A usage error, or no key / the key was refused (401).
    Usage,
    /// The resource does not exist (404).
    NotFound,
    /// The request was refused as invalid or in conflict (400, 409, other 4xx).
    Invalid,
    /// The server could not be reached.
    Network,
    /// Plan capacity, token quota or rate limit (402, 429).
    Limited,
    /// Ctrl-C.
    Interrupted,
    /// The exit code of a command run in an instance (`instances exec`), passed through.
    Command(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Unexpected => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Invalid => 4,
            Exit::Network => 5,
            Exit::Limited => 6,
            Exit::Interrupted => 130,
            Exit::Command(code) => code,
        }
    }
}

/// A failure with its class and, when there is one, what the user can do about it.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Prints `e` on stderr (`error: ...` and, for a [`Failure`], its hint) and returns the exit
/// code of its class.
pub fn report(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<Failure>() {
        Some(f) => {
            if !f.message.is_empty() && f.exit != Exit::Interrupted {
                eprintln!("error: {}", f.message);
            }
            if let Some(h) = &f.hint {
                eprintln!("{h}");
            }
            f.exit.code()
        }
        None => {
            eprintln!("error: {e:#}");
            Exit::Unexpected.code()
        }
    }
}
