//! Options of `mount` and `umount`, and `mount`'s options as a
//! [`ViewSpec`] (design §4).

use std::ffi::OsString;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, FromArgMatches};

use super::options::{ConfigArgs, PasswordArgs};
use super::volume::VolumeArgs;
use crate::viewspec::{CRYPTO_THREADS, DEFAULT_FUSE_THREADS, FUSE_THREADS, ViewKind, ViewSpec};
use crate::volume::FileIv;

/// `encmount mount`.
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
        value_parser = file_iv_parser(),
        long_help = "How the per-file IV of a reverse view is derived (volumes \
            with per-file IVs only). path (default): from the file's relative \
            path, so a copied, restored or saved-by-rename file keeps its \
            ciphertext. inode: from the inode number, exactly as stock `encfs \
            --reverse` does; use it to keep a view byte-identical to an \
            existing encfs reverse backup. Reverse views only."
    )]
    pub file_iv: Option<FileIv>,

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
        alias = "threads",
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(range(CRYPTO_THREADS)),
        long_help = "Threads that encrypt or decrypt large reads in parallel \
            (default: one per CPU; at most 64). Reads of 128 KiB and more, \
            which the kernel keeps several of in flight for one sequential \
            reader, go to these threads; everything else is answered by the \
            request threads (--fuse-threads). Formerly --threads."
    )]
    pub crypto_threads: Option<u16>,

    /// Threads taking requests from the kernel
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_FUSE_THREADS,
        value_parser = clap::value_parser!(u16).range(range(FUSE_THREADS)),
        long_help = "Threads taking requests from the kernel (default 4, at \
            most 16). More let small-file readers (tar, rsync) overlap their \
            round trips; measured on 2 cores, 4 beat 1 and 2."
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

    /// Mount even if MOUNTPOINT is not empty (its contents are hidden)
    #[arg(
        long,
        long_help = "Mount even if MOUNTPOINT is not empty. Without it a \
            non-empty mountpoint is refused, as encfs and gocryptfs do: the \
            view would hide what is there (and a backup of the mountpoint \
            would silently change)."
    )]
    pub nonempty: bool,

    /// Where a detached daemon logs when there is no syslog (for the manager)
    #[arg(long, value_name = "FILE", hide = true)]
    pub log_file: Option<PathBuf>,

    /// Write the daemon's pid to FILE while it runs (for the manager)
    #[arg(long, value_name = "FILE", hide = true)]
    pub pid_file: Option<PathBuf>,

    /// Keep a JSON status in FILE while the view runs (for the manager)
    #[arg(long, value_name = "FILE", hide = true)]
    pub state_file: Option<PathBuf>,

    /// Close the inherited descriptor FD (the manager's lock on the view)
    /// once the mount is live (for `up --foreground`)
    #[arg(long, value_name = "FD", hide = true, requires = "foreground")]
    pub lock_fd: Option<i32>,

    /// The directory to show: plaintext with --reverse, else a cipher directory
    #[arg(allow_hyphen_values = true)]
    pub source: PathBuf,
    /// Where to mount the view (an existing, empty directory)
    #[arg(allow_hyphen_values = true)]
    pub mountpoint: PathBuf,
}

impl MountArgs {
    /// The view these options describe; options that only a reverse view
    /// takes, given for a forward one, are a usage error.
    pub fn spec(&self) -> Result<ViewSpec, clap::Error> {
        if !self.reverse {
            let given = reverse_only_options(self);
            if !given.is_empty() {
                let verb = if given.len() == 1 { "is" } else { "are" };
                return Err(usage_error(format!(
                    "{} {verb} for reverse views only (--reverse); a forward view \
                     shows an existing volume as it is",
                    given.join(", ")
                )));
            }
        }
        let kind = if self.reverse {
            ViewKind::Reverse
        } else {
            ViewKind::Forward
        };
        Ok(ViewSpec {
            config: self.config.config.clone(),
            password: self.password.from(),
            new_volume: self.volume.new_volume(),
            file_iv: self.file_iv,
            readers: self.allow_users.clone(),
            excludes: self.excludes.clone(),
            idle: self.idle,
            expose_config: !self.no_expose_config,
            crypto_threads: self.crypto_threads,
            fuse_threads: self.fuse_threads,
            nonempty: self.nonempty,
            foreground: self.foreground,
            pid_file: self.pid_file.clone(),
            state_file: self.state_file.clone(),
            log_file: self.log_file.clone(),
            lock_fd: self.lock_fd,
            ..ViewSpec::new(kind, self.source.clone(), self.mountpoint.clone())
        })
    }
}

/// Parses `mount …` arguments (as [`ViewSpec::to_args`] writes them, the
/// subcommand name first) into the view they describe.
pub fn parse_mount<I, T>(args: I) -> Result<ViewSpec, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = mount_command().try_get_matches_from(args)?;
    MountArgs::from_arg_matches(&matches)?.spec()
}

/// `encmount mount` as a command of its own, for [`parse_mount`] and
/// usage errors: the same arguments as the subcommand.
fn mount_command() -> clap::Command {
    MountArgs::augment_args(clap::Command::new("mount").bin_name("encmount mount"))
}

/// A `u16` range as clap's ranged parser takes it.
fn range(r: RangeInclusive<u16>) -> RangeInclusive<i64> {
    i64::from(*r.start())..=i64::from(*r.end())
}

/// Options that only make sense with `--reverse`, as given.
fn reverse_only_options(a: &MountArgs) -> Vec<&'static str> {
    let mut given = Vec::new();
    if !a.excludes.is_empty() {
        given.push("--exclude");
    }
    if a.volume.new_volume().any_given() {
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
fn usage_error(msg: String) -> clap::Error {
    let mut cmd = mount_command();
    cmd.build();
    cmd.error(clap::error::ErrorKind::ArgumentConflict, msg)
}

/// `encmount umount`.
#[derive(Args, Debug)]
pub struct UmountArgs {
    /// Detach a busy view now; it goes away when the last user is done
    #[arg(short = 'l', long)]
    pub lazy: bool,
    /// The view's mountpoint
    pub mountpoint: PathBuf,
}

/// `--file-iv path|inode`, by the names [`FileIv::CHOICES`] gives.
fn file_iv_parser() -> impl clap::builder::TypedValueParser<Value = FileIv> {
    let help = |iv| match iv {
        FileIv::Path => "Derived from the relative path: stable across copies and restores",
        FileIv::Inode => "Derived from the inode number, exactly as stock `encfs --reverse`",
    };
    PossibleValuesParser::new(
        FileIv::CHOICES.map(|(name, iv)| PossibleValue::new(name).help(help(iv))),
    )
    .map(|name| FileIv::from_name(&name).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::NewVolume;
    use crate::viewspec::PasswordFrom;
    use crate::volume::{NameCodec, Preset};

    /// Specs that together set every option `mount` has.
    fn full_specs() -> Vec<ViewSpec> {
        let base = ViewSpec::new(
            ViewKind::Reverse,
            "/srv/plain -x".into(),
            "--mnt/view".into(),
        );
        let every = ViewSpec {
            config: Some("/etc/encmount/docs.encfs6.xml".into()),
            password: PasswordFrom::File("/etc/encmount/docs.pass".into()),
            new_volume: NewVolume {
                preset: Some(Preset::Paranoia),
                key_bits: Some(192),
                block_size: Some(2048),
                names: Some(NameCodec::Block32),
                kdf_ms: Some(250),
                kdf_iterations: None,
            },
            file_iv: Some(FileIv::Inode),
            readers: vec!["backuppc".into(), "4242".into()],
            excludes: vec!["*.tmp".into(), "/.cache/".into(), "!keep=this".into()],
            idle: Some(Duration::from_secs(15 * 60)),
            expose_config: false,
            crypto_threads: Some(CRYPTO_THREADS.end().to_owned()),
            fuse_threads: FUSE_THREADS.end().to_owned(),
            nonempty: true,
            foreground: true,
            pid_file: Some("/run/encmount/docs.pid".into()),
            state_file: Some("/run/encmount/docs.json".into()),
            log_file: Some("/run/encmount/docs.log".into()),
            lock_fd: Some(7),
            ..base.clone()
        };
        let command = ViewSpec {
            password: PasswordFrom::Command {
                command: "pass show 'backup key'; echo --x".into(),
                timeout: Duration::from_millis(2500),
            },
            new_volume: NewVolume {
                kdf_iterations: Some(123_456),
                ..NewVolume::default()
            },
            ..base.clone()
        };
        let stdin = ViewSpec {
            password: PasswordFrom::Stdin,
            ..base.clone()
        };
        let forward = ViewSpec {
            kind: ViewKind::Forward,
            ..base.clone()
        };
        vec![base, every, command, stdin, forward]
    }

    #[test]
    fn a_spec_survives_the_trip_through_argv_and_clap() {
        for spec in full_specs() {
            let args = spec.to_args();
            let back = parse_mount(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(back, spec, "{args:?}");
        }
    }

    #[test]
    fn the_specs_written_use_every_option_mount_has() {
        let written: Vec<String> = full_specs()
            .iter()
            .flat_map(|s| s.to_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut mount = mount_command();
        mount.build();
        for arg in mount.get_arguments().filter(|a| !a.is_positional()) {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            let flag = format!("--{long}");
            assert!(
                written
                    .iter()
                    .any(|w| *w == flag || w.starts_with(&format!("{flag}="))),
                "no spec writes {flag}: ViewSpec::to_args does not know it"
            );
        }
    }

    #[test]
    fn reverse_only_options_on_a_forward_view_are_a_usage_error() {
        let e = parse_mount(["mount", "--exclude=*.tmp", "/a", "/b"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(
            e.to_string()
                .contains("--exclude is for reverse views only"),
            "{e}"
        );
        assert!(parse_mount(["mount", "--lock-fd=5", "/a", "/b"]).is_err());
        assert!(parse_mount(["mount", "--fuse-threads=17", "/a", "/b"]).is_err());
        assert!(parse_mount(["mount", "--crypto-threads=0", "/a", "/b"]).is_err());
    }

    #[test]
    fn the_old_threads_flag_still_sets_the_crypto_workers() {
        let spec = parse_mount(["mount", "--threads", "8", "/a", "/b"]).unwrap();
        assert_eq!(spec.crypto_threads, Some(8));
    }
}
