//! `mount` (reverse and forward views) and `umount` (design §4, §5).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use encmount::configfile::{self, ConfigFileError};
use encmount::log;
use encmount::view::Gate;
use encmount::view::daemon::{self, Notifier};
use encmount::view::excludes::Excludes;
use encmount::view::mount::{self as vmount, IdlePolicy, MountSpec};
use encmount::view::reverse::ReverseFs;
use encmount::view::reverse::tree::{ExposedConfig, FileIvMode, ReverseOptions, ReverseTree};
use encmount::view::state::{StateWriter, ViewState, epoch_secs};
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

    /// How per-file IVs of a reverse view are derived
    #[arg(
        long,
        value_enum,
        default_value = "path",
        long_help = "How the per-file IV of a reverse view is derived (volumes \
            with per-file IVs only). path (default): from the file's relative \
            path, so a copied, restored or saved-by-rename file keeps its \
            ciphertext. inode: from the inode number, exactly as stock `encfs \
            --reverse` does; use it to keep a view byte-identical to an \
            existing encfs reverse backup."
    )]
    pub file_iv: FileIvArg,

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
            entry: it is ciphertext. Repeatable."
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

    /// FUSE worker threads
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,

    /// Do not show the volume config as .encfs6.xml at the view root
    #[arg(
        long,
        long_help = "Do not show the (password-wrapped) volume config as \
            .encfs6.xml at the root of a reverse view. By default it is shown, \
            so a backup of the view is self-contained: `encfs SAVEDCOPY MNT` \
            needs only the password."
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

pub fn mount(a: &MountArgs) -> Result<()> {
    if !a.foreground {
        daemon::close_inherited_fds();
    }
    log::init("encmount", log::Facility::Daemon, true);
    let src = a
        .source
        .canonicalize()
        .with_context(|| format!("source {}", a.source.display()))?;
    if !src.is_dir() {
        bail!("source {} is not a directory", a.source.display());
    }
    let mnt = vmount::check_mountpoint(&a.mountpoint)?;
    if !a.reverse {
        bail!("forward views are not available yet; use `encmount restore`");
    }
    if !a.excludes.is_empty() && !a.reverse {
        bail!("--exclude applies to reverse views only");
    }
    let (config_path, volume) = open_or_create(a, &src)?;
    let readers = resolve_users(&a.allow_users)?;
    let excludes = Excludes::new(&a.excludes)?;
    let exposed = if a.no_expose_config {
        None
    } else {
        let bytes = fs::read(&config_path)?;
        let mtime = fs::metadata(&config_path)?.modified()?;
        Some(ExposedConfig { bytes, mtime })
    };
    let opts = ReverseOptions {
        file_iv: match a.file_iv {
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
    let gate = Arc::new(Gate::new(readers));
    let idle = a.idle.map(|after| {
        let (t, g) = (tree.clone(), gate.clone());
        IdlePolicy {
            after,
            is_idle: Box::new(move || g.idle_for() >= after && t.open_handles() == 0),
        }
    });
    let spec = MountSpec {
        fsname: src.display().to_string(),
        mountpoint: mnt,
        threads: a.threads.into(),
        allow_other: true,
    };
    let what = format!(
        "reverse view of {} on {}",
        src.display(),
        spec.mountpoint.display()
    );
    let (t, g, source, mountpoint) = (
        tree.clone(),
        gate.clone(),
        src.clone(),
        spec.mountpoint.clone(),
    );
    let state = StateFiles {
        pid_file: a.pid_file.clone(),
        state_file: a.state_file.clone(),
        snapshot: Box::new(move || ViewState {
            pid: std::process::id(),
            kind: "reverse".into(),
            source: source.clone(),
            mountpoint: mountpoint.clone(),
            started: epoch_secs(g.started()),
            last_access: epoch_secs(g.last_access()),
            open_handles: t.open_handles() as u64,
            skipped_names: t.skipped().count(),
        }),
    };
    let t = tree.clone();
    let on_exit = move || {
        let n = t.skipped().count();
        if n > 0 {
            log::warn(&format!(
                "{n} names were left out of the view (too long); see the log above"
            ));
        }
    };
    run_view(
        ReverseFs::new(tree, gate),
        spec,
        idle,
        a.foreground,
        what,
        state,
        on_exit,
    )
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

/// The pid and status files a managed view keeps.
pub struct StateFiles {
    pid_file: Option<PathBuf>,
    state_file: Option<PathBuf>,
    snapshot: Box<dyn Fn() -> ViewState + Send>,
}

/// Mounts and serves, in the foreground or as a daemon that the command
/// leaves running once the mount is live.
fn run_view<FS: Filesystem>(
    fs: FS,
    spec: MountSpec,
    idle: Option<IdlePolicy>,
    foreground: bool,
    what: String,
    state: StateFiles,
    on_exit: impl FnOnce(),
) -> Result<()> {
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
    let Some(entry) = vmount::mount_entry(&mnt) else {
        bail!("{} is not mounted", a.mountpoint.display());
    };
    if entry.fs_type != vmount::FS_TYPE {
        bail!(
            "{} is a {} mount, not an encmount view; use umount(8)",
            a.mountpoint.display(),
            entry.fs_type
        );
    }
    vmount::unmount(&mnt, a.lazy)?;
    Ok(())
}
