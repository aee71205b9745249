//! One typed description of a view's mount (design §4, §7): what the
//! manager hands to `encmount mount`, and what `mount`'s options parse
//! into. [`ViewSpec::to_args`] writes it as `encmount mount` arguments and
//! `cli::parse_mount` reads them back; a test checks the round trip, so
//! the manager and the clap definitions cannot drift apart.

use std::ffi::{OsStr, OsString};
use std::ops::RangeInclusive;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::init::{self, NewVolume};
use crate::password::PasswordSource;
use crate::volume::FileIv;

/// Threads taking requests from the kernel (`--fuse-threads`, yaml
/// `fuse_threads`).
pub const FUSE_THREADS: RangeInclusive<u16> = 1..=16;
/// The default of [`FUSE_THREADS`]: measured on 2 cores, 4 beat 1 and 2.
pub const DEFAULT_FUSE_THREADS: u16 = 4;
/// Threads that encrypt large reads (`--crypto-threads`, yaml
/// `crypto_threads`; default one per CPU).
pub const CRYPTO_THREADS: RangeInclusive<u16> = 1..=64;

/// Which way a view shows its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKind {
    /// A plaintext directory shown encrypted (`--reverse`).
    Reverse,
    /// A cipher directory shown decrypted.
    Forward,
}

/// Where the volume password comes from, as given (the volume root that
/// `--extpass` programs see as `encfs_root` is added when it is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordFrom {
    /// `--password-file FILE`.
    File(PathBuf),
    /// `--stdinpass`.
    Stdin,
    /// `--extpass COMMAND`, killed after `timeout`.
    Command {
        /// The shell command.
        command: String,
        /// `--extpass-timeout`.
        timeout: Duration,
    },
    /// Asked on the terminal.
    Prompt,
}

impl PasswordFrom {
    /// The source to read, for the volume at `root`; `confirm` asks a
    /// prompt twice (a new password).
    pub fn source(&self, root: Option<&Path>, confirm: bool) -> PasswordSource {
        match self {
            Self::File(f) => PasswordSource::File(f.clone()),
            Self::Stdin => PasswordSource::Stdin,
            Self::Command { command, timeout } => PasswordSource::Command {
                command: command.clone(),
                root: root.map(Path::to_path_buf),
                timeout: *timeout,
            },
            Self::Prompt => PasswordSource::Prompt { confirm },
        }
    }
}

/// Everything `encmount mount` needs to set up one view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewSpec {
    /// Reverse (encrypting) or forward (decrypting).
    pub kind: ViewKind,
    /// The directory shown.
    pub source: PathBuf,
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The volume config (default: looked up as encfs does).
    pub config: Option<PathBuf>,
    /// The volume password.
    pub password: PasswordFrom,
    /// Parameters of a config a reverse view creates when there is none.
    pub new_volume: NewVolume,
    /// How a reverse view derives per-file IVs (default: path).
    pub file_iv: Option<FileIv>,
    /// Users (names or uids) who may read the view besides root.
    pub readers: Vec<String>,
    /// Source entries hidden from a reverse view (gitignore syntax).
    pub excludes: Vec<String>,
    /// Unmount after this long without requests and open files.
    pub idle: Option<Duration>,
    /// Show the volume config as `.encfs6.xml` at a reverse view's root.
    pub expose_config: bool,
    /// Threads that encrypt large reads (default: one per CPU).
    pub crypto_threads: Option<u16>,
    /// Threads taking requests from the kernel.
    pub fuse_threads: u16,
    /// Mount even on a non-empty mountpoint.
    pub nonempty: bool,
    /// Serve in this process instead of a detached daemon.
    pub foreground: bool,
    /// The daemon's pid, written while it runs (the manager's).
    pub pid_file: Option<PathBuf>,
    /// The view's JSON status, kept while it runs (the manager's).
    pub state_file: Option<PathBuf>,
    /// Where the daemon logs when there is no syslog.
    pub log_file: Option<PathBuf>,
    /// An inherited descriptor holding the manager's lock on this view,
    /// closed once the mount is live (`up --foreground`).
    pub lock_fd: Option<RawFd>,
}

impl ViewSpec {
    /// A view of `source` on `mountpoint` with every option at its default.
    pub fn new(kind: ViewKind, source: PathBuf, mountpoint: PathBuf) -> Self {
        Self {
            kind,
            source,
            mountpoint,
            config: None,
            password: PasswordFrom::Prompt,
            new_volume: NewVolume::default(),
            file_iv: None,
            readers: Vec::new(),
            excludes: Vec::new(),
            idle: None,
            expose_config: true,
            crypto_threads: None,
            fuse_threads: DEFAULT_FUSE_THREADS,
            nonempty: false,
            foreground: false,
            pid_file: None,
            state_file: None,
            log_file: None,
            lock_fd: None,
        }
    }

    /// The arguments of `encmount mount` for this view, `mount` first.
    /// Options are written `--name=value`, so no value can be taken for an
    /// option, and the two paths follow `--`.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut a = Args(vec!["mount".into()]);
        a.flag("reverse", self.kind == ViewKind::Reverse);
        a.opt("config", self.config.as_deref().map(Path::as_os_str));
        match &self.password {
            PasswordFrom::File(f) => a.opt("password-file", Some(f.as_os_str())),
            PasswordFrom::Stdin => a.flag("stdinpass", true),
            PasswordFrom::Command { command, timeout } => {
                a.opt("extpass", Some(command.as_ref()));
                a.opt("extpass-timeout", Some(duration(*timeout).as_ref()));
            }
            PasswordFrom::Prompt => {}
        }
        let new = &self.new_volume;
        a.opt("preset", new.preset.map(init::preset_name).map(OsStr::new));
        a.num("key-size", new.key_bits);
        a.num("block-size", new.block_size);
        a.opt(
            "names",
            new.names.map(init::name_codec_name).map(OsStr::new),
        );
        a.num("kdf-ms", new.kdf_ms);
        a.num("kdf-iterations", new.kdf_iterations);
        a.opt("file-iv", self.file_iv.map(FileIv::name).map(OsStr::new));
        for r in &self.readers {
            a.opt("allow-user", Some(r.as_ref()));
        }
        for e in &self.excludes {
            a.opt("exclude", Some(e.as_ref()));
        }
        a.opt("idle", self.idle.map(duration).as_deref().map(OsStr::new));
        a.flag("no-expose-config", !self.expose_config);
        a.num("crypto-threads", self.crypto_threads);
        if self.fuse_threads != DEFAULT_FUSE_THREADS {
            a.num("fuse-threads", Some(self.fuse_threads));
        }
        a.flag("nonempty", self.nonempty);
        a.flag("foreground", self.foreground);
        a.opt("pid-file", self.pid_file.as_deref().map(Path::as_os_str));
        a.opt(
            "state-file",
            self.state_file.as_deref().map(Path::as_os_str),
        );
        a.opt("log-file", self.log_file.as_deref().map(Path::as_os_str));
        a.num("lock-fd", self.lock_fd);
        a.0.push("--".into());
        a.0.push(self.source.clone().into());
        a.0.push(self.mountpoint.clone().into());
        a.0
    }
}

/// A duration as `--idle` and `--extpass-timeout` take it (`15m`, `500ms`).
fn duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// An argv being written.
struct Args(Vec<OsString>);

impl Args {
    fn flag(&mut self, name: &str, on: bool) {
        if on {
            self.0.push(format!("--{name}").into());
        }
    }

    fn opt(&mut self, name: &str, value: Option<&OsStr>) {
        if let Some(v) = value {
            let mut o = OsString::from(format!("--{name}="));
            o.push(v);
            self.0.push(o);
        }
    }

    fn num(&mut self, name: &str, value: Option<impl ToString>) {
        let text = value.map(|v| v.to_string());
        self.opt(name, text.as_deref().map(OsStr::new));
    }
}
