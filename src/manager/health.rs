//! Is a view up? A view is *healthy* when its mountpoint has a
//! `fuse.encmount` mount and its pid file names a live view daemon, and
//! *stale* when the mount is there but its daemon is gone (a killed daemon
//! leaves a dead mount: "transport endpoint is not connected"). A stale
//! view is cleaned with a lazy unmount and by removing its state files.
//!
//! A view whose daemon is alive is then asked for its statistics through
//! the mount, by a forked child with a deadline ([`crate::probe`]): a
//! stopped or stuck daemon is *unresponsive*, and the caller never hangs.

use std::fs;
use std::io;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{MntFlags, umount2};

use super::{ManagerError, Paths, View};
use crate::mounts::{mount_entry, resolved};
use crate::probe::Answer;

/// The process name of a view daemon.
const DAEMON_COMM: &str = "encmount";
/// How often waits poll.
const POLL: Duration = Duration::from_millis(25);

/// The state of a view's mountpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Nothing is mounted there.
    Down,
    /// Our mount, served by a live daemon.
    Healthy {
        /// The daemon's pid.
        pid: u32,
    },
    /// Our mount and a live daemon, but the daemon does not answer
    /// (stopped, or stuck).
    Unresponsive {
        /// The daemon's pid.
        pid: u32,
        /// What the probe saw.
        reason: String,
    },
    /// Our mount, but its daemon is gone.
    Stale {
        /// Why it counts as stale.
        reason: String,
    },
    /// Something else is mounted there.
    Foreign {
        /// Its fs type.
        fs_type: String,
    },
}

impl Health {
    /// The word `status` shows: healthy, unresponsive, stale, down or foreign.
    pub fn word(&self) -> &'static str {
        match self {
            Health::Down => "down",
            Health::Healthy { .. } => "healthy",
            Health::Unresponsive { .. } => "unresponsive",
            Health::Stale { .. } => "stale",
            Health::Foreign { .. } => "foreign",
        }
    }
}

/// Looks at `view`'s mountpoint and daemon.
pub fn probe(view: &View, paths: &Paths) -> Health {
    let mnt = resolved(&view.mountpoint);
    let Some(entry) = mount_entry(&mnt) else {
        return Health::Down;
    };
    if !entry.is_view() {
        return Health::Foreign {
            fs_type: entry.fs_type,
        };
    }
    match read_pid(&paths.pid_file(&view.name)) {
        Some(pid) if daemon_alive(pid) => ask_daemon(&mnt, pid),
        Some(pid) => Health::Stale {
            reason: format!(
                "its daemon (pid {pid}) is gone; the mount is dead \
                 (transport endpoint is not connected)"
            ),
        },
        None => Health::Stale {
            reason: "no daemon is known for it (no pid file); the mount may be dead".into(),
        },
    }
}

/// Asks the live daemon `pid` through its mount `mnt` whether it serves.
fn ask_daemon(mnt: &Path, pid: u32) -> Health {
    match crate::probe::statfs_answers(mnt, crate::probe::DEFAULT_DEADLINE) {
        Answer::Answered => Health::Healthy { pid },
        Answer::TimedOut => Health::Unresponsive {
            pid,
            reason: format!(
                "its daemon (pid {pid}) did not answer within {}; it is stopped \
                 or stuck (see its state in /proc/{pid}/status)",
                humantime::format_duration(crate::probe::DEFAULT_DEADLINE)
            ),
        },
        Answer::Failed(Errno::ENOTCONN) => Health::Stale {
            reason: format!(
                "its daemon (pid {pid}) no longer serves the mount (transport \
                 endpoint is not connected)"
            ),
        },
        Answer::Failed(e) => Health::Unresponsive {
            pid,
            reason: format!(
                "its daemon (pid {pid}) answered with an error: {}",
                e.desc()
            ),
        },
    }
}

/// The pid in a pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live (not zombie) view daemon.
pub fn daemon_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "PID (COMM) STATE …"; COMM may hold spaces and parentheses.
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    comm == DAEMON_COMM && !matches!(state, Some('Z' | 'X' | 'x'))
}

/// Waits up to `timeout` for daemon `pid` to end; says whether it did.
pub fn wait_exit(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while daemon_alive(pid) {
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(POLL);
    }
    true
}

/// Detaches a stale mount and removes the view's pid and state files.
pub fn clean_stale(view: &View, paths: &Paths) -> Result<(), ManagerError> {
    let mnt = resolved(&view.mountpoint);
    match umount2(&mnt, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => {
            return Err(ManagerError::Io {
                what: format!(
                    "view {}: cannot detach the stale mount {}",
                    view.name,
                    mnt.display()
                ),
                source: e.into(),
            });
        }
    }
    remove_state_files(view, paths)
}

/// Removes the view's pid and state files (a daemon that ended by a
/// signal it could not handle leaves them behind).
pub fn remove_state_files(view: &View, paths: &Paths) -> Result<(), ManagerError> {
    for f in [paths.pid_file(&view.name), paths.state_file(&view.name)] {
        match fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ManagerError::Io {
                    what: format!("view {}: cannot remove {}", view.name, f.display()),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_of_other_programs_are_not_daemons() {
        // This test binary is not called "encmount".
        assert!(!daemon_alive(std::process::id()));
        assert!(!daemon_alive(u32::MAX));
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.pid");
        assert_eq!(read_pid(&p), None);
        fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_pid(&p), Some(1234));
        fs::write(&p, "garbage").unwrap();
        assert_eq!(read_pid(&p), None);
    }
}
