//! Mounting and serving a view: our own `mount(2)` (type `fuse.encmount`,
//! `ro,nosuid,nodev`), the serving loop with its signal and idle threads,
//! and unmounting (design §4).
//!
//! We mount ourselves and hand the fd to fuser (`Session::from_fd`): fuser
//! 0.18's own mount code cannot set the fs type, and unmounts the path a
//! second time when its session ends.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use fuser::{Config, Filesystem, Session, SessionACL};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::signal::{SigSet, Signal};

use crate::log;
use crate::mounts::{FS_TYPE, mount_entry};
use crate::view::error::ViewError;

/// Readahead for the view's backing device: lets one sequential reader
/// keep several 1 MiB reads in flight, one per FUSE thread.
const READAHEAD_KB: u32 = 4096;

/// Where and how to mount.
#[derive(Clone, Debug)]
pub struct MountSpec {
    /// Shown as the mount's source (the plaintext or cipher directory).
    pub fsname: String,
    /// The mountpoint (absolute, an existing directory).
    pub mountpoint: PathBuf,
    /// Threads taking requests from `/dev/fuse`.
    pub threads: usize,
    /// Let users other than root reach the view (it checks them itself).
    pub allow_other: bool,
}

/// Checks that `mnt` can be mounted on: an existing directory, not a dead
/// mount left by a killed daemon.
pub fn check_mountpoint(mnt: &Path) -> Result<PathBuf, ViewError> {
    // realpath(3) does not stat the last component, so a dead mount shows
    // up (ENOTCONN) only in the stat below.
    let problem = |source: io::Error| {
        if source.raw_os_error() == Some(libc::ENOTCONN) {
            ViewError::DeadMount {
                path: mnt.to_path_buf(),
            }
        } else {
            ViewError::Mountpoint {
                path: mnt.to_path_buf(),
                source,
            }
        }
    };
    let canon = mnt.canonicalize().map_err(problem)?;
    if !std::fs::metadata(&canon).map_err(problem)?.is_dir() {
        return Err(ViewError::NotADirectory {
            path: mnt.to_path_buf(),
        });
    }
    if mount_entry(&canon).is_some() {
        return Err(ViewError::AlreadyMounted {
            path: mnt.to_path_buf(),
        });
    }
    Ok(canon)
}

/// Mounts `fs` and completes the FUSE handshake; the mount is live when
/// this returns.
pub fn mount_session<FS: Filesystem>(fs: FS, spec: &MountSpec) -> Result<Session<FS>, ViewError> {
    if spec.threads == 0 {
        return Err(ViewError::NoThreads);
    }
    // Before the handshake, which runs the view's `init` (it may start
    // threads): every thread must inherit the mask, so that only the
    // signal thread of `serve` gets these and unmounts.
    stop_signals().thread_block().map_err(|e| ViewError::Io {
        what: "cannot block the stop signals".into(),
        source: e.into(),
    })?;
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/fuse")
        .map_err(|source| ViewError::Io {
            what: "cannot open /dev/fuse".into(),
            source,
        })?;
    let mut data = format!("fd={},rootmode=40000,user_id=0,group_id=0", dev.as_raw_fd());
    if spec.allow_other {
        data.push_str(",allow_other");
    }
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(
        Some(spec.fsname.as_str()),
        &spec.mountpoint,
        Some(FS_TYPE),
        flags,
        Some(data.as_str()),
    )
    .map_err(|e| ViewError::Io {
        what: format!("cannot mount {}", spec.mountpoint.display()),
        source: e.into(),
    })?;
    let mut config = Config::default();
    config.n_threads = Some(spec.threads);
    let acl = if spec.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    match Session::from_fd(fs, OwnedFd::from(dev), acl, config) {
        Ok(s) => {
            set_readahead(&spec.mountpoint);
            Ok(s)
        }
        Err(e) => {
            // Never leave a dead mount behind.
            let _ = umount2(&spec.mountpoint, MntFlags::MNT_DETACH);
            Err(ViewError::Io {
                what: format!(
                    "cannot start the FUSE session on {}",
                    spec.mountpoint.display()
                ),
                source: e,
            })
        }
    }
}

/// Raises the readahead of the mount's backing device (best effort).
fn set_readahead(mnt: &Path) {
    if let Some(entry) = mount_entry(mnt) {
        let path = format!("/sys/class/bdi/{}/read_ahead_kb", entry.device);
        if let Err(e) = std::fs::write(&path, READAHEAD_KB.to_string()) {
            log::warn(&format!("cannot raise readahead ({path}): {e}"));
        }
    }
}

/// What decides that an idle view unmounts itself.
pub struct IdlePolicy {
    /// How long without requests.
    pub after: Duration,
    /// Says whether the view is idle now (no requests for `after`, no
    /// open files).
    pub is_idle: Box<dyn Fn() -> bool + Send>,
}

/// Serves the session until the view is unmounted: by `umount`, by a
/// SIGTERM/SIGINT/SIGHUP (which unmounts), or by the idle policy.
pub fn serve<FS: Filesystem>(
    session: Session<FS>,
    mnt: &Path,
    idle: Option<IdlePolicy>,
) -> io::Result<()> {
    let signals = stop_signals();
    // Blocked since `mount_session` (again here for a caller that did not
    // use it), so only the signal thread receives them.
    signals.thread_block().map_err(io::Error::from)?;
    let m = mnt.to_path_buf();
    thread::Builder::new()
        .name("encmount-signals".into())
        .spawn(move || {
            while let Ok(sig) = signals.wait() {
                log::info(&format!("{sig}: unmounting {}", m.display()));
                if let Err(e) = unmount(&m, true) {
                    log::error(&crate::report::error_line(&e));
                }
            }
        })?;
    if let Some(policy) = idle {
        let m = mnt.to_path_buf();
        thread::Builder::new()
            .name("encmount-idle".into())
            .spawn(move || idle_loop(&m, policy))?;
    }
    session.run()
}

/// The signals that stop a view (it unmounts first).
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

fn idle_loop(mnt: &Path, policy: IdlePolicy) {
    let tick = (policy.after / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        thread::sleep(tick);
        if !(policy.is_idle)() {
            continue;
        }
        match umount2(mnt, MntFlags::UMOUNT_NOFOLLOW) {
            Ok(()) => {
                log::info(&format!(
                    "{}: idle for {}, unmounted",
                    mnt.display(),
                    humantime::format_duration(policy.after)
                ));
                return;
            }
            // Still in use by something the view cannot see (a cwd): retry.
            Err(Errno::EBUSY) => {}
            Err(_) => return,
        }
    }
}

/// Unmounts `mnt`. A busy mount is an error unless `lazy`, which detaches
/// it (it goes away once the last user is done).
pub fn unmount(mnt: &Path, lazy: bool) -> Result<(), ViewError> {
    let failed = |what: &str, e: Errno| ViewError::Io {
        what: format!("cannot {what} {}", mnt.display()),
        source: e.into(),
    };
    match umount2(mnt, MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) => Ok(()),
        Err(Errno::EBUSY) if lazy => umount2(mnt, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
            .map_err(|e| failed("detach", e)),
        Err(Errno::EBUSY) => Err(ViewError::Busy {
            path: mnt.to_path_buf(),
        }),
        Err(e) => Err(failed("unmount", e)),
    }
}
