//! Running a view as a daemon: the command returns only once the mount is
//! live, or fails with the daemon's reason (design §4).
//!
//! The process forks before any thread exists; the child reports through a
//! pipe, detaches (new session, `/`, stdio on `/dev/null`) and serves.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::errno::Errno;

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe2, setsid};

const READY: &[u8] = b"ok";

/// Why a daemon did not come up.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The report pipe or the fork failed.
    #[error("cannot start the view daemon: {what}: {source}")]
    Start {
        /// The step that failed (`pipe`, `fork`).
        what: &'static str,
        /// The cause.
        source: Errno,
    },
    /// The child reported a failure (or died without reporting).
    #[error("{0}")]
    Failed(String),
}

/// The child's way to tell the waiting parent how mounting went.
pub struct Notifier {
    pipe: Option<File>,
}

impl Notifier {
    /// The mount is live: the parent exits 0.
    pub fn ready(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(READY);
        }
    }

    /// Mounting failed: the parent prints `reason` and exits 1.
    pub fn failed(&mut self, reason: &str) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(reason.as_bytes());
        }
    }
}

/// Closes every inherited descriptor above stderr, so a daemon does not
/// keep its caller's pipes or files open. Call before opening anything.
pub fn close_inherited_fds() {
    // SAFETY: close_range(2) only closes descriptors; none above 2 is owned
    // by Rust objects this early in the subcommand.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
}

/// Forks. The parent waits for the child's report and returns `Ok` when
/// the child called [`Notifier::ready`], else the child's reason as an
/// error. The child runs `child` (which must report, then serve) and exits
/// with its status; it never returns from this function.
pub fn daemonize(child: impl FnOnce(&mut Notifier) -> i32) -> Result<(), DaemonError> {
    let start = |what| move |source| DaemonError::Start { what, source };
    let (r, w): (OwnedFd, OwnedFd) = pipe2(OFlag::O_CLOEXEC).map_err(start("pipe"))?;
    // SAFETY: the process has one thread here (views start their threads
    // only when serving), so the child may run arbitrary code.
    match unsafe { fork() }.map_err(start("fork"))? {
        ForkResult::Parent { child } => {
            drop(w);
            let mut msg = Vec::new();
            let _ = File::from(r).read_to_end(&mut msg);
            if msg == READY {
                return Ok(());
            }
            let _ = waitpid(child, None);
            let reason = String::from_utf8_lossy(&msg).trim().to_string();
            Err(DaemonError::Failed(if reason.is_empty() {
                "the view daemon exited before mounting".to_string()
            } else {
                reason
            }))
        }
        ForkResult::Child => {
            drop(r);
            let _ = setsid();
            let mut notifier = Notifier {
                pipe: Some(File::from(w)),
            };
            let code = child(&mut notifier);
            notifier.failed("the view daemon stopped before mounting");
            std::process::exit(code);
        }
    }
}

/// Detaches a daemon from its caller's terminal and directory.
pub fn detach_stdio() {
    let _ = std::env::set_current_dir("/");
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = dup2_stdin(&null);
        let _ = dup2_stdout(&null);
        let _ = dup2_stderr(&null);
    }
}
