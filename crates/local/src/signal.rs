//! Safe wrappers for the few process-control system calls the local platform makes
//! (`kill`, `prctl(PR_SET_PDEATHSIG)`), so callers hold no `unsafe` and a pid that would
//! mean something else to `kill` (0 is the caller's own process group, a negative number a
//! whole group) is refused instead of sent.

use std::io;

/// The signals the platform sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Asks a process to stop (it may clean up first).
    Term,
    /// Stops a process at once.
    Kill,
}

impl Signal {
    fn raw(self) -> libc::c_int {
        match self {
            Self::Term => libc::SIGTERM,
            Self::Kill => libc::SIGKILL,
        }
    }
}

/// `pid` as `kill` takes it, refused when it is not one positive process id.
fn target(pid: u32) -> io::Result<libc::pid_t> {
    match libc::pid_t::try_from(pid) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pid} is not a single process id"),
        )),
    }
}

/// Sends `signal` to the process `pid`.
///
/// # Errors
/// `InvalidInput` for pid 0 or one above `i32::MAX` (which `kill` would read as a process
/// group); otherwise the OS error (`ESRCH`: no such process, `EPERM`: not ours).
pub fn send_signal(pid: u32, signal: Signal) -> io::Result<()> {
    let pid = target(pid)?;
    // SAFETY: kill(2) takes plain integers and touches no memory of this process; `pid` is
    // a single positive process id (checked above), never a group.
    let rc = unsafe { libc::kill(pid, signal.raw()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether a process `pid` exists (and may be signalled by us): `kill(pid, 0)`.
pub fn is_alive(pid: u32) -> bool {
    let Ok(pid) = target(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent or shared.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Makes the child spawned by `cmd` receive `signal` when the thread that spawns it ends
/// (with the whole process, even by SIGKILL). Spawn from a thread that lives as long as
/// the parent (a runtime worker thread, or a dedicated one).
pub fn set_parent_death_signal(cmd: &mut std::process::Command, signal: Signal) {
    use std::os::unix::process::CommandExt;
    let raw = libc::c_ulong::try_from(signal.raw()).unwrap_or(libc::SIGKILL as libc::c_ulong);
    // SAFETY: the closure runs between fork and exec, where only async-signal-safe calls
    // are allowed: it makes one prctl(2) call with integer arguments, allocates nothing and
    // touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, raw) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_signal_reaches_the_process_and_a_group_id_is_refused() {
        // GIVEN a running child
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(is_alive(pid));
        // WHEN it is sent SIGTERM
        send_signal(pid, Signal::Term).unwrap();
        // THEN it ends by that signal
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
        // AND pids that kill(2) would read as a process group are refused, not sent
        for pid in [0, u32::MAX] {
            let err = send_signal(pid, Signal::Kill).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(!is_alive(pid));
        }
    }

    #[test]
    fn a_child_with_a_parent_death_signal_starts_normally() {
        // GIVEN a command that asks for SIGKILL when its parent goes
        let mut cmd = std::process::Command::new("true");
        set_parent_death_signal(&mut cmd, Signal::Kill);
        // WHEN it runs, THEN the pre-exec hook lets it start and exit cleanly
        assert!(cmd.status().unwrap().success());
    }
}
