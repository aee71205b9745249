//! Does a mounted view answer? A `statfs(2)` of its mountpoint goes to the
//! daemon; a stopped or stuck daemon never answers, and the caller would
//! hang with it. So the request is made by a forked child, and the parent
//! waits for it only until a deadline (design §7: health asks the daemon).
//!
//! A FUSE request waits killably, so a child stuck on a stopped daemon dies
//! of the SIGKILL sent at the deadline and is reaped.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// How long `status` and `check` wait for a view to answer.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);
/// How often the parent looks at the child.
const POLL: Duration = Duration::from_millis(5);
/// How long the parent waits for the killed child to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(1);

/// What a probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The daemon answered.
    Answered,
    /// The request failed with this error (`ENOTCONN`: a dead mount).
    Failed(Errno),
    /// No answer by the deadline: the daemon is stopped or stuck.
    TimedOut,
}

/// Asks the file system mounted on `mountpoint` for its statistics and
/// waits at most `deadline` for the answer.
pub fn statfs_answers(mountpoint: &Path, deadline: Duration) -> Answer {
    let Ok(path) = CString::new(mountpoint.as_os_str().as_bytes()) else {
        return Answer::Failed(Errno::EINVAL);
    };
    // SAFETY: the child only calls async-signal-safe functions (statfs,
    // _exit) on memory prepared before the fork, so forking a process
    // with threads is sound.
    match unsafe { fork() } {
        Err(e) => Answer::Failed(e),
        Ok(ForkResult::Child) => {
            // SAFETY: `path` is a valid C string, `buf` a valid statfs.
            unsafe {
                let mut buf: libc::statfs = std::mem::zeroed();
                let code = if libc::statfs(path.as_ptr(), &mut buf) == 0 {
                    0
                } else {
                    // errno values fit in an exit status (1..=133 on Linux).
                    *libc::__errno_location() & 0xff
                };
                libc::_exit(code)
            }
        }
        Ok(ForkResult::Parent { child }) => wait_answer(child, deadline),
    }
}

fn wait_answer(child: Pid, deadline: Duration) -> Answer {
    let start = Instant::now();
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, 0)) => return Answer::Answered,
            Ok(WaitStatus::Exited(_, code)) => return Answer::Failed(Errno::from_raw(code)),
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return Answer::Failed(Errno::EINTR),
            Err(Errno::EINTR) => {}
            Err(e) => return Answer::Failed(e),
        }
        if start.elapsed() >= deadline {
            let _ = kill(child, Signal::SIGKILL);
            reap(child);
            return Answer::TimedOut;
        }
        thread::sleep(POLL);
    }
}

/// Reaps the killed child, waiting at most [`REAP_WAIT`]; a child that
/// still has not died is left to be reaped when this process ends.
fn reap(child: Pid) {
    let start = Instant::now();
    while start.elapsed() < REAP_WAIT {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => thread::sleep(POLL),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_answers() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            statfs_answers(d.path(), Duration::from_secs(5)),
            Answer::Answered
        );
    }

    #[test]
    fn a_missing_path_fails_with_its_errno() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            statfs_answers(&d.path().join("missing"), Duration::from_secs(5)),
            Answer::Failed(Errno::ENOENT)
        );
    }

    #[test]
    fn a_path_with_nul_is_invalid() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"a\0b"));
        assert_eq!(
            statfs_answers(p, Duration::from_secs(1)),
            Answer::Failed(Errno::EINVAL)
        );
    }

    #[test]
    fn a_fifo_reader_that_never_answers_is_no_answer() {
        // Not statfs, but the same wait: a child blocked forever is killed
        // and reaped at the deadline.
        let child = match unsafe { fork() }.unwrap() {
            ForkResult::Child => loop {
                // SAFETY: pause(2) is async-signal-safe.
                unsafe { libc::pause() };
            },
            ForkResult::Parent { child } => child,
        };
        assert_eq!(
            wait_answer(child, Duration::from_millis(100)),
            Answer::TimedOut
        );
        assert_eq!(
            waitpid(child, Some(WaitPidFlag::WNOHANG)),
            Err(Errno::ECHILD)
        );
    }
}
