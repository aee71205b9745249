//! `mount` (reverse and forward views) and `umount` (design §4, §5).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, ValueEnum};
use encmount::configfile::{self, ConfigFileError};
use encmount::daemon::{self, Notifier};
use encmount::excludes::Excludes;
use encmount::log;
use encmount::mounts;
use encmount::state::{StateWriter, ViewState, epoch_secs};
use encmount::view::Gate;
use encmount::view::forward::ForwardFs;
use encmount::view::forward::tree::ForwardTree;
use encmount::view::mount::{self as vmount, IdlePolicy, MountSpec};
use encmount::view::reverse::ReverseFs;
use encmount::view::reverse::tree::{ExposedConfig, FileIvMode, ReverseOptions, ReverseTree};
use encmount::volume::Volume;
use fuser::Filesystem;

use crate::args::{ConfigArgs, PasswordArgs, absolute};
use crate::offline::{VolumeArgs, create_config};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FileIvArg {
    /// Derived from the relative path: stable across copies and restores
    Path,
    /// Derived from the inode number, exactly as stock `encfs --reverse`
    Inode,
}

#[derive(Args, Debug)]
pub struct MountArgs {
    /// Show SOURCE (plaintext) as an encrypted view; without it, SOURCE is a
    /// cipher directory shown decrypted
    #[arg(short, long)]
    pub reverse: bool,

    #[command(flatten)]
    pub config: ConfigArgs,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub volume: VolumeArgs,

    /// How per-file IVs of a reverse view are derived (default: path)
    #[arg(
        long,
        value_enum,
        long_help = "How the per-file IV of a reverse view is derived (volumes \
            with per-file IVs only). path (default): from the file's relative \
            path, so a copied, restored or saved-by-rename file keeps its \
            ciphertext. inode: from the inode number, exactly as stock `encfs \
            --reverse` does; use it to keep a view byte-identical to an \
            existing encfs reverse backup. Reverse views only."
    )]
    pub file_iv: Option<FileIvArg>,

    /// Stay in the foreground (for systemd or debugging)
    #[arg(short, long)]
    pub foreground: bool,

    /// Unmount after DURATION without requests and with no open files (e.g. 15m)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle: Option<Duration>,

    /// Also let USER (name or uid) read the view; root always may
    #[arg(
        long = "allow-user",
        value_name = "USER",
        long_help = "Also let USER (a name or a numeric uid) read the view. \
            Root always may; everyone else gets EACCES. Readers see every \
            entry whatever its mode: ciphertext in a reverse view, but \
            plaintext in a forward view. Repeatable."
    )]
    pub allow_users: Vec<String>,

    /// Hide entries matching PATTERN (gitignore syntax; repeatable)
    #[arg(
        long = "exclude",
        value_name = "PATTERN",
        long_help = "Hide source entries matching PATTERN, in gitignore syntax: \
            `*.tmp` matches at any depth, a leading `/` anchors at the source \
            root, a trailing `/` matches directories only, `!` re-includes. \
            Reverse views only. Repeatable."
    )]
    pub excludes: Vec<String>,

    /// Threads that encrypt large reads (default: one per CPU)
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(1..=64),
        long_help = "Threads that encrypt or decrypt large reads in parallel \
            (default: one per CPU). Reads of 128 KiB and more, which the kernel \
            keeps several of in flight for one sequential reader, go to these \
            threads; everything else is answered by the request threads \
            (--fuse-threads)."
    )]
    pub threads: Option<u16>,

    /// Threads taking requests from the kernel
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        value_parser = clap::value_parser!(u16).range(1..=16),
        long_help = "Threads taking requests from the kernel (default 4). More \
            let small-file readers (tar, rsync) overlap their round trips; \
            measured on 2 cores, 4 beat 1 and 2."
    )]
    pub fuse_threads: u16,

    /// Do not show the volume config as .encfs6.xml at the view root
    #[arg(
        long,
        long_help = "Do not show the (password-wrapped) volume config as \
            .encfs6.xml at the root of a reverse view. By default it is shown, \
            so a backup of the view is self-contained: `encfs SAVEDCOPY MNT` \
            needs only the password. Reverse views only."
    )]
    pub no_expose_config: bool,

    /// Write the daemon's pid to FILE while it runs (for the manager)
    #[arg(long, value_name = "FILE", hide = true)]
    pub pid_file: Option<PathBuf>,

    /// Keep a JSON status in FILE while the view runs (for the manager)
    #[arg(long, value_name = "FILE", hide = true)]
    pub state_file: Option<PathBuf>,

    /// The directory to show: plaintext with --reverse, else a cipher directory
    pub source: PathBuf,
    /// Where to mount the view (an existing, empty directory)
    pub mountpoint: PathBuf,
}

/// Options that only make sense with `--reverse`, as given.
fn reverse_only_options(a: &MountArgs) -> Vec<&'static str> {
    let mut given = Vec::new();
    if !a.excludes.is_empty() {
        given.push("--exclude");
    }
    if a.volume.any_given() {
        given.push("--preset/--key-size/--block-size/--names/--kdf-*");
    }
    if a.file_iv.is_some() {
        given.push("--file-iv");
    }
    if a.no_expose_config {
        given.push("--no-expose-config");
    }
    given
}

/// A usage error of `mount`: clap's format and exit status (2).
fn usage_error(msg: String) -> anyhow::Error {
    let mut cli = crate::Cli::command();
    cli.build();
    let mount = cli
        .find_subcommand_mut("mount")
        .expect("mount is a subcommand");
    mount
        .error(clap::error::ErrorKind::ArgumentConflict, msg)
        .into()
}

pub fn mount(a: &MountArgs) -> Result<()> {
    if !a.reverse {
        let given = reverse_only_options(a);
        if !given.is_empty() {
            let verb = if given.len() == 1 { "is" } else { "are" };
            return Err(usage_error(format!(
                "{} {verb} for reverse views only (--reverse); a forward view \
                 shows an existing volume as it is",
                given.join(", ")
            )));
        }
    }
    if !a.foreground {
        daemon::close_inherited_fds();
    }
    log::init("encmount", log::Facility::Daemon, true);
    // Before any tree sizes its directory-handle cache from the limit.
    encmount::view::fdlimit::raise_to_hard();
    let src = a
        .source
        .canonicalize()
        .with_context(|| format!("source {}", a.source.display()))?;
    if !src.is_dir() {
        bail!("source {} is not a directory", a.source.display());
    }
    let mnt = vmount::check_mountpoint(&a.mountpoint)?;
    if !a.reverse {
        return mount_forward(a, &src, mnt);
    }
    let (config_path, volume) = open_or_create(a, &src)?;
    let excludes = Excludes::new(&a.excludes)?;
    let exposed = if a.no_expose_config {
        None
    } else {
        let bytes = fs::read(&config_path)?;
        let mtime = fs::metadata(&config_path)?.modified()?;
        Some(ExposedConfig { bytes, mtime })
    };
    let opts = ReverseOptions {
        file_iv: match a.file_iv.unwrap_or(FileIvArg::Path) {
            FileIvArg::Path => FileIvMode::Path,
            FileIvArg::Inode => FileIvMode::Inode,
        },
        excludes,
        config: exposed,
    };
    let tree = Arc::new(
        ReverseTree::new(volume, &src, opts)
            .with_context(|| format!("source {}", src.display()))?,
    );
    let t = tree.clone();
    let counters: Counters = Arc::new(move || (t.open_handles(), t.skipped().count()));
    let setup = setup(a, &src, mnt, "reverse", counters)?;
    let what = format!(
        "reverse view of {} on {}",
        src.display(),
        setup.spec.mountpoint.display()
    );
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
    run_view(fs, setup, a.foreground, what, on_exit)
}

/// A forward view: the cipher directory `src` shown decrypted (design §5).
/// The config must exist; a forward view never creates one.
fn mount_forward(a: &MountArgs, src: &Path, mnt: PathBuf) -> Result<()> {
    let opened = a.config.open(Some(src), &a.password).map_err(|e| {
        match e.downcast_ref::<ConfigFileError>() {
            Some(ConfigFileError::NotFound { tried }) => anyhow::anyhow!(
                "no volume config found (tried {tried}); give the volume's config \
                 with --config CONFIG"
            ),
            _ => e,
        }
    })?;
    let tree = Arc::new(
        ForwardTree::new(opened.volume, src)
            .with_context(|| format!("cipher directory {}", src.display()))?,
    );
    let t = tree.clone();
    let counters: Counters = Arc::new(move || (t.open_handles(), t.hidden().count()));
    let setup = setup(a, src, mnt, "forward", counters)?;
    let what = format!(
        "forward view of {} on {}",
        src.display(),
        setup.spec.mountpoint.display()
    );
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
    run_view(fs, setup, a.foreground, what, on_exit)
}

/// Loads the config (looked up as encfs does) or, for a reverse view with
/// none, creates one like `init` (design §4).
fn open_or_create(a: &MountArgs, src: &Path) -> Result<(PathBuf, Volume)> {
    match configfile::locate(a.config.config.as_deref(), Some(src)) {
        Ok(located) => {
            if a.volume.any_given() {
                bail!(
                    "{} exists; --preset, --key-size, --block-size, --names and --kdf-* \
                     only apply when a new config is created",
                    located.path.display()
                );
            }
            let opened = a.config.open(Some(src), &a.password)?;
            Ok((opened.path, opened.volume))
        }
        Err(ConfigFileError::NotFound { .. }) | Err(ConfigFileError::Read { .. }) if a.reverse => {
            let path = a
                .config
                .config
                .clone()
                .or_else(|| std::env::var_os("ENCFS6_CONFIG").map(PathBuf::from))
                .unwrap_or_else(|| src.join(configfile::V6_NAME));
            let volume = create_config(&path, &a.volume, &a.password)?;
            eprintln!(
                "encmount: created {}; keep a copy of it and its password apart from the backups",
                path.display()
            );
            Ok((path, volume))
        }
        Err(e) => Err(e.into()),
    }
}

fn resolve_users(names: &[String]) -> Result<Vec<u32>> {
    names
        .iter()
        .map(|n| {
            if let Ok(uid) = n.parse::<u32>() {
                return Ok(uid);
            }
            match nix::unistd::User::from_name(n) {
                Ok(Some(u)) => Ok(u.uid.as_raw()),
                Ok(None) => bail!("--allow-user {n}: no such user"),
                Err(e) => bail!("--allow-user {n}: {e}"),
            }
        })
        .collect()
}

/// What every view needs besides its tree: who may read it, when it idles
/// out, where it mounts.
struct Setup {
    gate: Arc<Gate>,
    idle: Option<IdlePolicy>,
    spec: MountSpec,
    state: StateFiles,
    /// Threads that encrypt large reads.
    workers: usize,
}

/// A view's counters: open files and directories, entries left out.
type Counters = Arc<dyn Fn() -> (usize, u64) + Send + Sync>;

/// The [`Setup`] of a view of `src` on `mnt`; `counters` reads the view's
/// open handles and left-out entries.
fn setup(a: &MountArgs, src: &Path, mnt: PathBuf, kind: &str, counters: Counters) -> Result<Setup> {
    let gate = Arc::new(Gate::new(resolve_users(&a.allow_users)?));
    let idle = a.idle.map(|after| {
        let (g, c) = (gate.clone(), counters.clone());
        IdlePolicy {
            after,
            is_idle: Box::new(move || g.idle_for() >= after && c().0 == 0),
        }
    });
    let spec = MountSpec {
        fsname: src.display().to_string(),
        mountpoint: mnt,
        threads: a.fuse_threads.into(),
        allow_other: true,
    };
    let (g, kind, source, mountpoint) = (
        gate.clone(),
        kind.to_string(),
        src.to_path_buf(),
        spec.mountpoint.clone(),
    );
    let state = StateFiles {
        pid_file: a.pid_file.clone(),
        state_file: a.state_file.clone(),
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
    let workers = a.threads.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        usize::from,
    );
    Ok(Setup {
        gate,
        idle,
        spec,
        state,
        workers,
    })
}

/// The pid and status files a managed view keeps.
struct StateFiles {
    pid_file: Option<PathBuf>,
    state_file: Option<PathBuf>,
    snapshot: Box<dyn Fn() -> ViewState + Send>,
}

/// Mounts and serves, in the foreground or as a daemon that the command
/// leaves running once the mount is live.
fn run_view<FS: Filesystem>(
    fs: FS,
    setup: Setup,
    foreground: bool,
    what: String,
    on_exit: impl FnOnce(),
) -> Result<()> {
    let Setup {
        idle, spec, state, ..
    } = setup;
    let serve = |session, notifier: Option<&mut Notifier>| -> Result<()> {
        // The pid file exists before the caller hears "ready": a manager
        // that sees the mount also sees who serves it.
        let _state = StateWriter::start(state.pid_file, state.state_file, state.snapshot)
            .map_err(|e| log::error(&format!("cannot write state files: {e}")))
            .ok();
        if let Some(n) = notifier {
            n.ready();
            daemon::detach_stdio();
            log::set_stderr(false);
        }
        log::info(&format!("mounted {what}"));
        let r = vmount::serve(session, &spec.mountpoint, idle);
        log::info(&format!("unmounted {what}"));
        on_exit();
        Ok(r?)
    };
    if foreground {
        let session = vmount::mount_session(fs, &spec)?;
        return serve(session, None);
    }
    daemon::daemonize(|notifier| match vmount::mount_session(fs, &spec) {
        Ok(session) => match serve(session, Some(notifier)) {
            Ok(()) => 0,
            Err(e) => {
                log::error(&format!("{e:#}"));
                1
            }
        },
        Err(e) => {
            notifier.failed(&e.to_string());
            1
        }
    })?;
    Ok(())
}

#[derive(Args, Debug)]
pub struct UmountArgs {
    /// Detach a busy view now; it goes away when the last user is done
    #[arg(short = 'l', long)]
    pub lazy: bool,
    /// The view's mountpoint
    pub mountpoint: PathBuf,
}

pub fn umount(a: &UmountArgs) -> Result<()> {
    // A dead mount cannot be canonicalized (ENOTCONN): match it as given.
    let mnt = a
        .mountpoint
        .canonicalize()
        .or_else(|_| absolute(&a.mountpoint))?;
    let Some(entry) = mounts::mount_entry(&mnt) else {
        bail!("{} is not mounted", a.mountpoint.display());
    };
    if !entry.is_view() {
        bail!(
            "{} is a {} mount, not an encmount view; use umount(8)",
            a.mountpoint.display(),
            entry.fs_type
        );
    }
    vmount::unmount(&mnt, a.lazy)?;
    Ok(())
}
