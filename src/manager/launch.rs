//! Bringing views up and down (design §7).
//!
//! A view is brought up by running `encmount mount --reverse … SRC MNT`
//! (the binary next to the running one; its arguments are the view's
//! [`ViewSpec`]), which returns once the mount is live and leaves a daemon
//! serving it. Every check-then-act runs under an exclusive `flock` on
//! `RUN_DIR/NAME.lock`, so racing callers end with one mount and all of
//! them succeed. A foreground run (`up --foreground`, a systemd unit)
//! hands its lock to the `encmount mount --foreground` it execs, which
//! releases it once its mount is live.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{F_SETFD, FdFlag, Flock, FlockArg, fcntl};
use nix::mount::{MntFlags, umount2};

use super::config::PasswordSpec;
use super::health::{self, Health, probe};
use super::paths::create_dir;
use super::{ManagerError, Paths, View};
use super::{gate, yaml};
use crate::log;
use crate::mounts::resolved;
use crate::password::check_password_file;
use crate::viewspec::{PasswordFrom, ViewKind, ViewSpec};

/// How long a daemon may take to exit after its mount went away.
const EXIT_WAIT: Duration = Duration::from_secs(10);
/// `PATH` for the view daemon (and its password_command).
const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long `up` waits for a daemon that is unmounted but still exiting.
const LINGER_WAIT: Duration = Duration::from_secs(3);

/// What [`ensure_up`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpOutcome {
    /// The view was healthy; nothing was done.
    AlreadyUp {
        /// The daemon's pid.
        pid: u32,
    },
    /// The view was mounted.
    Mounted {
        /// The new daemon's pid.
        pid: u32,
        /// Set when a stale mount was cleaned first: why it was stale.
        cleaned: Option<String>,
    },
}

/// What [`down`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownOutcome {
    /// Nothing was mounted.
    NotMounted,
    /// Unmounted; the daemon has exited.
    Unmounted,
    /// Busy, so detached (`--lazy`); its daemon ends when the last user
    /// is done.
    Detached,
    /// A stale mount was cleaned.
    CleanedStale,
}

/// Makes sure `view` is mounted and healthy: a no-op when it is, a clean
/// and remount when it is stale. Safe to call concurrently, from threads
/// or processes: exactly one mount results and every caller succeeds.
pub fn ensure_up(view: &View, paths: &Paths) -> Result<UpOutcome, ManagerError> {
    let _lock = lock(view, paths)?;
    let cleaned = match settle(view, paths)? {
        Settled::Up(pid) => return Ok(UpOutcome::AlreadyUp { pid }),
        Settled::Free(cleaned) => cleaned,
    };
    prepare(view, paths)?;
    let out = command(&mount_spec(view, paths, false), paths)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| ManagerError::Io {
            what: format!(
                "view {}: cannot run {}",
                view.name,
                paths.encmount_bin.display()
            ),
            source: e,
        })?;
    if !out.status.success() {
        let reason = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| l.strip_prefix("encmount: ").unwrap_or(l).trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let reason = if reason.is_empty() {
            format!("encmount mount failed ({})", out.status)
        } else {
            reason
        };
        log::error(&format!("view {}: cannot mount: {reason}", view.name));
        return Err(ManagerError::Mount {
            view: view.name.clone(),
            reason,
        });
    }
    match probe(view, paths) {
        Health::Healthy { pid } => {
            log::info(&format!(
                "view {}: mounted {} on {} (pid {pid})",
                view.name,
                view.source.display(),
                view.mountpoint.display()
            ));
            Ok(UpOutcome::Mounted { pid, cleaned })
        }
        other => Err(ManagerError::Mount {
            view: view.name.clone(),
            reason: format!(
                "the daemon reported success, but the view is {}",
                other.word()
            ),
        }),
    }
}

/// Prepares a foreground run of `view` (for a systemd unit): cleans a
/// stale mount, refuses a healthy one, and returns the `encmount mount
/// --foreground` command to exec, which inherits the view's lock.
pub fn foreground_command(view: &View, paths: &Paths) -> Result<Foreground, ManagerError> {
    let lock = lock(view, paths)?;
    if let Settled::Up(pid) = settle(view, paths)? {
        return Err(ManagerError::View {
            view: view.name.clone(),
            message: format!(
                "already mounted (daemon pid {pid}); stop it with `encmount down {}` first",
                view.name
            ),
        });
    }
    prepare(view, paths)?;
    // Kept open across the exec: the lock lasts until `mount` closes it.
    fcntl(&*lock, F_SETFD(FdFlag::empty())).map_err(|e| ManagerError::Io {
        what: format!("view {}: cannot pass on its lock", view.name),
        source: e.into(),
    })?;
    let mut spec = mount_spec(view, paths, true);
    spec.lock_fd = Some(lock.as_raw_fd());
    Ok(Foreground {
        command: command(&spec, paths),
        _lock: lock,
    })
}

/// A foreground run ready to exec, holding the view's lock.
pub struct Foreground {
    command: Command,
    _lock: Flock<File>,
}

impl Foreground {
    /// Replaces this process with `encmount mount --foreground`; returns
    /// only on failure (and then releases the lock).
    pub fn exec(mut self) -> io::Error {
        self.command.exec()
    }
}

/// Unmounts `view`. A busy view is an error naming it, unless `lazy`,
/// which detaches it. A stale view is cleaned.
pub fn down(view: &View, paths: &Paths, lazy: bool) -> Result<DownOutcome, ManagerError> {
    let _lock = lock(view, paths)?;
    let pid = match probe(view, paths) {
        Health::Down => {
            if let Some(pid) = health::read_pid(&paths.pid_file(&view.name))
                && !health::daemon_alive(pid)
            {
                health::remove_state_files(view, paths)?;
            }
            return Ok(DownOutcome::NotMounted);
        }
        Health::Foreign { fs_type } => return Err(foreign(view, fs_type)),
        Health::Stale { reason } => {
            log::warn(&format!(
                "view {}: stale ({reason}); cleaning up",
                view.name
            ));
            health::clean_stale(view, paths)?;
            return Ok(DownOutcome::CleanedStale);
        }
        // A stopped daemon's mount unmounts all the same.
        Health::Healthy { pid } | Health::Unresponsive { pid, .. } => pid,
    };
    let mnt = resolved(&view.mountpoint);
    match umount2(&mnt, MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) => {
            if !health::wait_exit(pid, EXIT_WAIT) {
                log::warn(&format!(
                    "view {}: unmounted, but its daemon (pid {pid}) is still running",
                    view.name
                ));
            }
            log::info(&format!("view {}: unmounted {}", view.name, mnt.display()));
            Ok(DownOutcome::Unmounted)
        }
        Err(Errno::EBUSY) if lazy => {
            umount2(&mnt, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW).map_err(|e| {
                ManagerError::Io {
                    what: format!("view {}: cannot detach {}", view.name, mnt.display()),
                    source: e.into(),
                }
            })?;
            log::info(&format!(
                "view {}: detached busy {}; its daemon (pid {pid}) ends when the last user is done",
                view.name,
                mnt.display()
            ));
            Ok(DownOutcome::Detached)
        }
        Err(Errno::EBUSY) => Err(ManagerError::Busy {
            view: view.name.clone(),
            mountpoint: view.mountpoint.clone(),
        }),
        Err(e) => Err(ManagerError::Io {
            what: format!("view {}: cannot unmount {}", view.name, mnt.display()),
            source: e.into(),
        }),
    }
}

/// Holds the view's lock file exclusively until dropped.
fn lock(view: &View, paths: &Paths) -> Result<Flock<File>, ManagerError> {
    create_dir(&paths.run_dir)?;
    let path = paths.lock_file(&view.name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| ManagerError::Io {
            what: format!("view {}: cannot open lock {}", view.name, path.display()),
            source: e,
        })?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| ManagerError::Io {
        what: format!("view {}: cannot lock {}", view.name, path.display()),
        source: e.into(),
    })
}

enum Settled {
    /// Healthy, served by this pid.
    Up(u32),
    /// Free to mount; a stale mount was cleaned for the reason given.
    Free(Option<String>),
}

/// Under the lock: finds out whether the view is up, and clears the way
/// for a mount when it is not.
fn settle(view: &View, paths: &Paths) -> Result<Settled, ManagerError> {
    match probe(view, paths) {
        Health::Healthy { pid } => Ok(Settled::Up(pid)),
        Health::Unresponsive { reason, .. } => Err(ManagerError::View {
            view: view.name.clone(),
            message: format!(
                "mounted but unresponsive: {reason}; bring it down with \
                 `encmount down --lazy {}` and up again",
                view.name
            ),
        }),
        Health::Foreign { fs_type } => Err(foreign(view, fs_type)),
        Health::Stale { reason } => {
            log::warn(&format!(
                "view {}: stale ({reason}); cleaning up and remounting",
                view.name
            ));
            health::clean_stale(view, paths)?;
            Ok(Settled::Free(Some(reason)))
        }
        Health::Down => {
            // A daemon whose mount just went (idle timeout, umount) may
            // still be exiting; a detached busy one may run on. Either way
            // it gives up its files once a new daemon takes them over.
            if let Some(pid) = health::read_pid(&paths.pid_file(&view.name)) {
                if health::daemon_alive(pid) {
                    health::wait_exit(pid, LINGER_WAIT);
                } else {
                    health::remove_state_files(view, paths)?;
                }
            }
            Ok(Settled::Free(None))
        }
    }
}

fn foreign(view: &View, fs_type: String) -> ManagerError {
    ManagerError::Foreign {
        view: view.name.clone(),
        mountpoint: view.mountpoint.clone(),
        fs_type,
    }
}

/// Checks what the daemon would trip over, with messages naming the view,
/// and creates the mountpoint.
fn prepare(view: &View, paths: &Paths) -> Result<(), ManagerError> {
    match fs::metadata(&view.config) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(ManagerError::View {
                view: view.name.clone(),
                message: format!("volume config {} is not a file", view.config.display()),
            });
        }
        Err(e) => {
            return Err(ManagerError::View {
                view: view.name.clone(),
                message: format!(
                    "volume config {}: {e}; create it with `encmount init {}`",
                    view.config.display(),
                    view.config.display()
                ),
            });
        }
    }
    if let PasswordSpec::File(f) = &view.password {
        check_password_file(f, true).map_err(|source| ManagerError::Password {
            view: view.name.clone(),
            source,
        })?;
    }
    create_dir(&paths.run_dir)?;
    create_dir(&view.mountpoint)?;
    if !view.nonempty {
        crate::mountpoint::ensure_empty(&view.mountpoint).map_err(|e| ManagerError::View {
            view: view.name.clone(),
            message: crate::report::error_line(&e),
        })?;
    }
    gate::close(view, &yaml::load(&paths.yaml)?)
}

/// How the manager mounts `view`: a reverse view with the yaml's settings
/// and the manager's pid, state and log files.
pub fn mount_spec(view: &View, paths: &Paths, foreground: bool) -> ViewSpec {
    let mut spec = ViewSpec::new(
        ViewKind::Reverse,
        view.source.clone(),
        view.mountpoint.clone(),
    );
    spec.config = Some(view.config.clone());
    spec.password = match &view.password {
        PasswordSpec::File(f) => PasswordFrom::File(f.clone()),
        PasswordSpec::Command(c) => PasswordFrom::Command {
            command: c.clone(),
            timeout: view.password_timeout,
        },
    };
    spec.file_iv = Some(view.file_iv);
    spec.readers = view.readers.iter().map(|r| r.uid.to_string()).collect();
    spec.excludes = view.exclude.clone();
    spec.idle = view.on_demand.then_some(view.idle_timeout);
    spec.expose_config = view.expose_config;
    spec.fuse_threads = view.fuse_threads;
    spec.crypto_threads = view.crypto_threads;
    spec.nonempty = view.nonempty;
    spec.foreground = foreground;
    spec.pid_file = Some(paths.pid_file(&view.name));
    spec.state_file = Some(paths.state_file(&view.name));
    spec.log_file = Some(paths.log_file(&view.name));
    spec
}

/// `encmount mount …` for `spec`. It runs in `/` with a clean
/// environment: it is a root daemon, perhaps started on behalf of an
/// unprivileged caller (the rsync shim).
pub fn command(spec: &ViewSpec, paths: &Paths) -> Command {
    let mut c = Command::new(&paths.encmount_bin);
    c.args(spec.to_args())
        .current_dir("/")
        .env_clear()
        .env("PATH", SAFE_PATH);
    c
}
