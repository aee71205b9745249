//! Setting up and running one view from its [`ViewSpec`] (design §4, §5):
//! the config opened (or, for a reverse view without one, created), the
//! tree built, the reader gate, idle policy and state files set, then the
//! mount served in the foreground or by a daemon that the call leaves
//! running once the mount is live.

use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::Filesystem;

use crate::configfile::{self, ConfigFileError, OpenError};
use crate::daemon::{self, DaemonError, Notifier};
use crate::excludes::{ExcludeError, Excludes};
use crate::init::{self, InitError};
use crate::log;
use crate::mountpoint::MountpointError;
use crate::state::{StateWriter, ViewState, epoch_secs};
use crate::view::Gate;
use crate::view::error::ViewError;
use crate::view::forward::ForwardFs;
use crate::view::forward::tree::ForwardTree;
use crate::view::mount::{self as vmount, IdlePolicy, MountSpec};
use crate::view::reverse::ReverseFs;
use crate::view::reverse::tree::{ExposedConfig, ReverseOptions, ReverseTree};
use crate::viewspec::{ViewKind, ViewSpec};
use crate::volume::Volume;

/// Why a view could not be set up or served.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The source cannot be reached.
    #[error("source {}", path.display())]
    Source {
        /// The source as given.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The source is not a directory.
    #[error("source {} is not a directory", path.display())]
    NotADirectory {
        /// The source as given.
        path: PathBuf,
    },
    /// A forward view's volume has no config where encfs looks.
    #[error(
        "no volume config found (tried {tried}); give the volume's config with --config CONFIG"
    )]
    NoConfig {
        /// The places looked at.
        tried: String,
    },
    /// Volume parameters given for a config that exists.
    #[error(
        "{} exists; --preset, --key-size, --block-size, --names and --kdf-* only \
         apply when a new config is created",
        path.display()
    )]
    ConfigExists {
        /// The config.
        path: PathBuf,
    },
    /// A reader that is not a user here.
    #[error("--allow-user {name}: no such user")]
    NoSuchUser {
        /// The name given.
        name: String,
    },
    /// `--lock-fd` does not name an open descriptor.
    #[error("--lock-fd {fd}: {source}")]
    LockFd {
        /// The descriptor given.
        fd: RawFd,
        /// The cause.
        source: nix::Error,
    },
    /// A step that failed with an I/O error; `what` names it and its path.
    #[error("{what}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// The tree, the mountpoint, or the mount itself.
    #[error(transparent)]
    View(#[from] ViewError),
    /// A mountpoint that is not empty.
    #[error(transparent)]
    Mountpoint(#[from] MountpointError),
    /// Serving the mount.
    #[error(transparent)]
    Serve(#[from] io::Error),
    /// Opening the config.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Creating a config.
    #[error(transparent)]
    Init(#[from] InitError),
    /// A bad `--exclude` pattern.
    #[error(transparent)]
    Exclude(#[from] ExcludeError),
    /// The daemon did not come up.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// Sets up the view `spec` describes and serves it: until it is unmounted
/// with `spec.foreground`, else in a daemon, returning once the mount is
/// live. Without syslog a daemon logs to the spec's log file, else to
/// `log_dir`/[`log_name`].
pub fn run(spec: &ViewSpec, log_dir: Option<&Path>) -> Result<(), MountError> {
    if !spec.foreground {
        daemon::close_inherited_fds();
    }
    // The manager's lock (`up --foreground`) is held until the mount is
    // live; nothing this process starts (a password program) inherits it.
    let lock = match spec.lock_fd {
        Some(fd) if spec.foreground => Some(take_lock_fd(fd)?),
        _ => None,
    };
    log::init("encmount", log::Facility::Daemon, true);
    // Before any tree sizes its directory-handle cache from the limit.
    crate::view::fdlimit::raise_to_hard();
    let src = spec
        .source
        .canonicalize()
        .map_err(|source| MountError::Source {
            path: spec.source.clone(),
            source,
        })?;
    if !src.is_dir() {
        return Err(MountError::NotADirectory {
            path: spec.source.clone(),
        });
    }
    let mnt = vmount::check_mountpoint(&spec.mountpoint)?;
    if !spec.nonempty {
        crate::mountpoint::ensure_empty(&mnt)?;
    }
    if !spec.foreground {
        let default = log_dir.map(|d| d.join(log_name(&mnt)));
        fallback_log(spec.log_file.clone().or(default), &mnt);
    }
    let view = View {
        spec,
        src,
        mnt,
        lock,
    };
    match spec.kind {
        ViewKind::Reverse => view.reverse(),
        ViewKind::Forward => view.forward(),
    }
}

/// Takes the inherited lock descriptor `fd`, marking it close-on-exec.
fn take_lock_fd(fd: RawFd) -> Result<OwnedFd, MountError> {
    use nix::fcntl::{F_GETFD, F_SETFD, FdFlag, fcntl};
    let err = |source| MountError::LockFd { fd, source };
    if fd <= 2 {
        return Err(err(nix::Error::EBADF));
    }
    // SAFETY: F_GETFD only reads the flags, and fails with EBADF for a
    // descriptor that is not open; an open one above stderr is ours to own
    // from here (the manager passed it to this process for that).
    let owned = unsafe {
        nix::fcntl::fcntl(std::os::fd::BorrowedFd::borrow_raw(fd), F_GETFD).map_err(err)?;
        OwnedFd::from_raw_fd(fd)
    };
    fcntl(&owned, F_SETFD(FdFlag::FD_CLOEXEC)).map_err(err)?;
    Ok(owned)
}

/// A view being set up: its spec, resolved source and mountpoint.
struct View<'s> {
    spec: &'s ViewSpec,
    src: PathBuf,
    mnt: PathBuf,
    lock: Option<OwnedFd>,
}

impl View<'_> {
    /// A reverse view: the plaintext source shown encrypted.
    fn reverse(self) -> Result<(), MountError> {
        let (config_path, volume) = open_or_create(self.spec, &self.src)?;
        let excludes = Excludes::new(&self.spec.excludes)?;
        let exposed = if self.spec.expose_config {
            let read_err = |source| MountError::Io {
                what: format!("cannot read config {}", config_path.display()),
                source,
            };
            let bytes = fs::read(&config_path).map_err(read_err)?;
            let mtime = fs::metadata(&config_path)
                .and_then(|m| m.modified())
                .map_err(read_err)?;
            Some(ExposedConfig { bytes, mtime })
        } else {
            None
        };
        let opts = ReverseOptions {
            file_iv: self.spec.file_iv.unwrap_or_default(),
            excludes,
            config: exposed,
        };
        let tree = Arc::new(ReverseTree::new(volume, &self.src, opts)?);
        let t = tree.clone();
        let counters: Counters = Arc::new(move || (t.open_handles(), t.skipped().count()));
        let setup = self.setup("reverse", counters)?;
        let t = tree.clone();
        let on_exit = move || {
            let n = t.skipped().count();
            if n > 0 {
                log::warn(&format!(
                    "{n} names were left out of the view (too long, and the short name \
                     they would be stored under is taken); see the log above"
                ));
            }
        };
        let fs = ReverseFs::new(tree, setup.gate.clone(), setup.workers);
        serve_view(fs, setup, on_exit)
    }

    /// A forward view: the cipher directory shown decrypted. The config
    /// must exist; a forward view never creates one.
    fn forward(self) -> Result<(), MountError> {
        let password = self.spec.password.source(Some(&self.src), false);
        let opened = configfile::open(self.spec.config.as_deref(), Some(&self.src), &password)
            .map_err(|e| match e {
                OpenError::Config(ConfigFileError::NotFound { tried }) => {
                    MountError::NoConfig { tried }
                }
                e => e.into(),
            })?;
        let tree = Arc::new(ForwardTree::new(opened.volume, &self.src)?);
        let t = tree.clone();
        let counters: Counters = Arc::new(move || (t.open_handles(), t.hidden().count()));
        let setup = self.setup("forward", counters)?;
        let t = tree.clone();
        let on_exit = move || {
            let (hidden, broken) = (t.hidden().count(), t.broken().count());
            if hidden > 0 {
                log::warn(&format!(
                    "{hidden} cipher entries were left out (names that do not decode); see the log above"
                ));
            }
            if broken > 0 {
                log::error(&format!(
                    "{broken} entries could not be decrypted (reads gave EIO); see the log above"
                ));
            }
        };
        let fs = ForwardFs::new(tree, setup.gate.clone(), setup.workers);
        serve_view(fs, setup, on_exit)
    }

    /// The [`Setup`] of this view; `counters` reads its open handles and
    /// left-out entries.
    fn setup(self, kind: &str, counters: Counters) -> Result<Setup, MountError> {
        let spec = self.spec;
        let gate = Arc::new(Gate::new(resolve_users(&spec.readers)?));
        let idle = spec.idle.map(|after| {
            let (g, c) = (gate.clone(), counters.clone());
            IdlePolicy {
                after,
                is_idle: Box::new(move || g.idle_for() >= after && c().0 == 0),
            }
        });
        let what = format!(
            "{kind} view of {} on {}",
            self.src.display(),
            self.mnt.display()
        );
        let mount = MountSpec {
            fsname: self.src.display().to_string(),
            mountpoint: self.mnt,
            threads: spec.fuse_threads.into(),
            allow_other: true,
        };
        let (g, kind, source, mountpoint) = (
            gate.clone(),
            kind.to_string(),
            self.src,
            mount.mountpoint.clone(),
        );
        let state = StateFiles {
            pid_file: spec.pid_file.clone(),
            state_file: spec.state_file.clone(),
            snapshot: Box::new(move || {
                let (open, skipped) = counters();
                ViewState {
                    pid: std::process::id(),
                    kind: kind.clone(),
                    source: source.clone(),
                    mountpoint: mountpoint.clone(),
                    started: epoch_secs(g.started()),
                    last_access: epoch_secs(g.last_access()),
                    open_handles: open as u64,
                    skipped_names: skipped,
                }
            }),
        };
        Ok(Setup {
            gate,
            idle,
            mount,
            state,
            workers: crypto_workers(spec.crypto_threads),
            foreground: spec.foreground,
            what,
            lock: self.lock,
        })
    }
}

/// Threads that encrypt large reads: as asked, else one per CPU.
fn crypto_workers(asked: Option<u16>) -> usize {
    asked.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        usize::from,
    )
}

/// Without syslog, a detached daemon's reports would be lost (its stderr
/// is /dev/null): they go to `log_file`.
fn fallback_log(log_file: Option<PathBuf>, mnt: &Path) {
    if log::syslog_connected() {
        return;
    }
    let Some(path) = log_file else {
        log::warn(&format!(
            "no syslog, and no log file for the view on {}: the daemon's reports are lost",
            mnt.display()
        ));
        return;
    };
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir);
    }
    if let Err(e) = log::set_fallback_file(&path) {
        log::warn(&format!(
            "no syslog, and {e}; the daemon's reports are lost"
        ));
    }
}

/// `mnt-srv-encmount-docs.log` for /srv/encmount/docs: the log file of a
/// view that is not the manager's.
pub fn log_name(mnt: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut name = String::from("mnt");
    for part in mnt.as_os_str().as_bytes().split(|&b| b == b'/') {
        if part.is_empty() {
            continue;
        }
        name.push('-');
        for &b in part {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' => name.push(b as char),
                _ => name.push_str(&format!("\\x{b:02x}")),
            }
        }
    }
    name.push_str(".log");
    name
}

/// Loads the config (looked up as encfs does) or, for a reverse view with
/// none, creates one as `init` does (design §4).
fn open_or_create(spec: &ViewSpec, src: &Path) -> Result<(PathBuf, Volume), MountError> {
    match configfile::locate(spec.config.as_deref(), Some(src)) {
        Ok(located) => {
            if spec.new_volume.any_given() {
                return Err(MountError::ConfigExists { path: located.path });
            }
            let password = spec.password.source(Some(src), false);
            let opened = configfile::open(spec.config.as_deref(), Some(src), &password)?;
            Ok((opened.path, opened.volume))
        }
        Err(ConfigFileError::NotFound { .. }) | Err(ConfigFileError::Read { .. })
            if spec.kind == ViewKind::Reverse =>
        {
            let path = spec
                .config
                .clone()
                .or_else(|| std::env::var_os("ENCFS6_CONFIG").map(PathBuf::from))
                .unwrap_or_else(|| src.join(configfile::V6_NAME));
            let password = spec.password.source(path.parent(), true);
            let volume = init::create_config(&path, &spec.new_volume, &password)?;
            crate::report::print_error(
                "encmount",
                &format!(
                    "created {}; keep a copy of it and its password apart from the backups",
                    path.display()
                ),
            );
            Ok((path, volume))
        }
        Err(e) => Err(OpenError::from(e).into()),
    }
}

/// The uids of `names` (user names or numeric uids).
fn resolve_users(names: &[String]) -> Result<Vec<u32>, MountError> {
    names
        .iter()
        .map(|n| {
            if let Ok(uid) = n.parse::<u32>() {
                return Ok(uid);
            }
            match nix::unistd::User::from_name(n) {
                Ok(Some(u)) => Ok(u.uid.as_raw()),
                Ok(None) => Err(MountError::NoSuchUser { name: n.clone() }),
                Err(e) => Err(MountError::Io {
                    what: format!("--allow-user {n}"),
                    source: e.into(),
                }),
            }
        })
        .collect()
}

/// A view's counters: open files and directories, entries left out.
type Counters = Arc<dyn Fn() -> (usize, u64) + Send + Sync>;

/// What every view needs besides its tree: who may read it, when it idles
/// out, where it mounts.
struct Setup {
    gate: Arc<Gate>,
    idle: Option<IdlePolicy>,
    mount: MountSpec,
    state: StateFiles,
    /// Threads that encrypt large reads.
    workers: usize,
    foreground: bool,
    /// "reverse view of SRC on MNT", for the log.
    what: String,
    /// The manager's lock, released once the mount is live.
    lock: Option<OwnedFd>,
}

/// The pid and status files a managed view keeps.
struct StateFiles {
    pid_file: Option<PathBuf>,
    state_file: Option<PathBuf>,
    snapshot: Box<dyn Fn() -> ViewState + Send>,
}

/// Mounts and serves, in the foreground or as a daemon that the call
/// leaves running once the mount is live.
fn serve_view<FS: Filesystem>(
    fs: FS,
    setup: Setup,
    on_exit: impl FnOnce(),
) -> Result<(), MountError> {
    let Setup {
        idle,
        mount,
        state,
        foreground,
        what,
        lock,
        ..
    } = setup;
    let serve = |session, notifier: Option<&mut Notifier>| -> Result<(), MountError> {
        // The pid file exists before the caller hears "ready": a manager
        // that sees the mount also sees who serves it.
        let _state = StateWriter::start(state.pid_file, state.state_file, state.snapshot)
            .map_err(|e| log::error(&format!("cannot write state files: {e}")))
            .ok();
        // The mount is live and owned by this process: racing managers
        // may look now.
        drop(lock);
        if let Some(n) = notifier {
            n.ready();
            daemon::detach_stdio();
            log::set_stderr(false);
        }
        log::info(&format!("mounted {what}"));
        let r = vmount::serve(session, &mount.mountpoint, idle);
        log::info(&format!("unmounted {what}"));
        on_exit();
        Ok(r?)
    };
    if foreground {
        let session = vmount::mount_session(fs, &mount)?;
        return serve(session, None);
    }
    daemon::daemonize(|notifier| match vmount::mount_session(fs, &mount) {
        Ok(session) => match serve(session, Some(notifier)) {
            Ok(()) => 0,
            Err(e) => {
                log::error(&crate::report::error_line(&e));
                1
            }
        },
        Err(e) => {
            notifier.failed(&crate::report::error_line(&e));
            1
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viewspec::PasswordFrom;

    #[test]
    fn log_names_keep_safe_bytes_and_escape_the_rest() {
        assert_eq!(
            log_name(Path::new("/srv/encmount/docs")),
            "mnt-srv-encmount-docs.log"
        );
        assert_eq!(log_name(Path::new("/a b/ü")), "mnt-a\\x20b-\\xc3\\xbc.log");
    }

    #[test]
    fn readers_are_uids_or_user_names() {
        assert_eq!(
            resolve_users(&["0".into(), "root".into(), "4242".into()]).unwrap(),
            [0, 0, 4242]
        );
        let e = resolve_users(&["no-such-user-here".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--allow-user no-such-user-here: no such user"
        );
    }

    #[test]
    fn crypto_workers_default_to_one_per_cpu() {
        assert_eq!(crypto_workers(Some(3)), 3);
        assert!(crypto_workers(None) >= 1);
    }

    fn password_file(dir: &Path) -> PasswordFrom {
        use std::os::unix::fs::PermissionsExt;
        let f = dir.join("pw");
        fs::write(&f, "pw\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        PasswordFrom::File(f)
    }

    #[test]
    fn a_reverse_view_without_config_creates_one_and_then_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir(&src).unwrap();
        let mut spec = ViewSpec::new(ViewKind::Reverse, src.clone(), dir.path().join("mnt"));
        spec.password = password_file(dir.path());
        spec.new_volume.kdf_iterations = Some(init::MIN_KDF_ITERATIONS);
        let (path, made) = open_or_create(&spec, &src).unwrap();
        assert_eq!(path, src.join(configfile::V6_NAME));
        // Given again, the volume parameters are refused: the config exists.
        let Err(e) = open_or_create(&spec, &src) else {
            panic!("volume parameters for an existing config were taken");
        };
        assert!(matches!(e, MountError::ConfigExists { .. }), "{e}");
        spec.new_volume = Default::default();
        let (again, opened) = open_or_create(&spec, &src).unwrap();
        assert_eq!(again, path);
        assert_eq!(opened.encode_path(b"x/y").0, made.encode_path(b"x/y").0);
    }

    #[test]
    fn a_forward_view_never_creates_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = ViewSpec::new(
            ViewKind::Forward,
            dir.path().to_path_buf(),
            dir.path().join("mnt"),
        );
        spec.password = password_file(dir.path());
        let Err(e) = open_or_create(&spec, dir.path()) else {
            panic!("a forward view made a volume");
        };
        assert!(e.to_string().contains("no volume config found"), "{e}");
        assert!(!dir.path().join(configfile::V6_NAME).exists());
    }

    #[test]
    fn a_lock_fd_that_is_not_open_is_refused() {
        let e = take_lock_fd(987_654).unwrap_err();
        assert!(e.to_string().starts_with("--lock-fd 987654: "), "{e}");
        assert!(take_lock_fd(1).is_err());
    }
}
