//! Reading secrets from the person at the terminal: a line with echo off, restored however
//! the read ends (Enter, Ctrl-C, or the caller giving up on it), or all of stdin when it is a
//! pipe. A value read here is never printed.

use crate::exit::{Exit, Failure};
use secrecy::SecretString;
use std::io::{IsTerminal, Read};

pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Echo off on stdin (the newline still shows) until dropped.
struct NoEcho {
    saved: libc::termios,
}

impl NoEcho {
    fn new() -> std::io::Result<Self> {
        let fd = libc::STDIN_FILENO;
        let mut current = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr writes a complete termios through the pointer when it returns 0;
        // the value is read only in that case.
        if unsafe { libc::tcgetattr(fd, current.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: initialised by the successful tcgetattr above.
        let saved = unsafe { current.assume_init() };
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: a valid termios (a modified copy of the current one) for stdin.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { saved })
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        // SAFETY: restores the termios read from stdin in `new`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

/// Prints `prompt` on stderr and reads one line from the terminal without echoing it. Ctrl-C
/// restores the terminal and ends the command (exit 130); so does dropping the future (the
/// read then stays pending on a thread that ends with the process).
pub async fn hidden_line(prompt: &str) -> anyhow::Result<SecretString> {
    eprint!("{prompt}");
    let guard = NoEcho::new().map_err(|e| anyhow::anyhow!("could not turn off echo: {e}"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let read = tokio::select! {
        r = rx => r,
        _ = tokio::signal::ctrl_c() => {
            drop(guard);
            eprintln!();
            return Err(Failure::new(Exit::Interrupted, "interrupted").into());
        }
    };
    drop(guard);
    let line = read
        .map_err(|_| anyhow::anyhow!("the terminal read stopped"))?
        .map_err(|e| anyhow::anyhow!("read the terminal: {e}"))?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// All of stdin (a pipe), without one trailing newline.
pub fn read_piped_stdin() -> anyhow::Result<SecretString> {
    let mut bytes = vec![];
    std::io::stdin().read_to_end(&mut bytes)?;
    let mut text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage("the value on stdin is not UTF-8 text"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(SecretString::from(text))
}
