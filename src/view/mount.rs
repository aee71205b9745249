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
pub fn check_mountpoint(mnt: &Path) -> io::Result<PathBuf> {
    // realpath(3) does not stat the last component, so a dead mount shows
    // up (ENOTCONN) only in the stat below.
    let problem = |e: io::Error| {
        if e.raw_os_error() == Some(libc::ENOTCONN) {
            io::Error::other(format!(
                "{} is a dead mount (transport endpoint is not connected); \
                 clean it up with `encmount umount {}`",
                mnt.display(),
                mnt.display()
            ))
        } else {
            io::Error::new(e.kind(), format!("mountpoint {}: {e}", mnt.display()))
        }
    };
    let canon = mnt.canonicalize().map_err(problem)?;
    if !std::fs::metadata(&canon).map_err(problem)?.is_dir() {
        return Err(io::Error::other(format!(
            "mountpoint {} is not a directory",
            mnt.display()
        )));
    }
    if mount_entry(&canon).is_some() {
        return Err(io::Error::other(format!(
            "{} is already a mountpoint",
            mnt.display()
        )));
    }
    Ok(canon)
}

/// Mounts `fs` and completes the FUSE handshake; the mount is live when
/// this returns.
pub fn mount_session<FS: Filesystem>(fs: FS, spec: &MountSpec) -> io::Result<Session<FS>> {
    if spec.threads == 0 {
        return Err(io::Error::other("at least one FUSE thread is needed"));
    }
    // Before the handshake, which runs the view's `init` (it may start
    // threads): every thread must inherit the mask, so that only the
    // signal thread of `serve` gets these and unmounts.
    stop_signals().thread_block().map_err(io::Error::from)?;
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/fuse")
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open /dev/fuse: {e}")))?;
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
    .map_err(|e| io::Error::other(format!("cannot mount {}: {e}", spec.mountpoint.display())))?;
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
            Err(e)
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
                    log::error(&format!("cannot unmount {}: {e}", m.display()));
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
pub fn unmount(mnt: &Path, lazy: bool) -> io::Result<()> {
    match umount2(mnt, MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) => Ok(()),
        Err(Errno::EBUSY) if lazy => umount2(mnt, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW)
            .map_err(|e| io::Error::other(format!("cannot detach {}: {e}", mnt.display()))),
        Err(Errno::EBUSY) => Err(io::Error::other(format!(
            "{} is busy (files or directories in use); use --lazy to detach it anyway",
            mnt.display()
        ))),
        Err(e) => Err(io::Error::other(format!(
            "cannot unmount {}: {e}",
            mnt.display()
        ))),
    }
}
