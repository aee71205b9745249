//! Options shared by several subcommands, and turning them into a config
//! path, a password and an unlocked volume.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use encmount::configfile::{self, Located};
use encmount::password::{self, Password, PasswordSource};
use encmount::volume::{Config, Volume};

/// Where the password comes from (at most one; default: ask on the tty).
#[derive(Args, Debug, Clone)]
pub struct PasswordArgs {
    /// Read the password from the first line of FILE
    #[arg(
        long,
        value_name = "FILE",
        allow_hyphen_values = true,
        conflicts_with_all = ["stdinpass", "extpass"],
        long_help = "Read the password from the first line of FILE (the line \
            ends at the first newline; the newline is not part of the password). \
            FILE must not be readable by group or others (chmod 600)."
    )]
    pub password_file: Option<PathBuf>,

    /// Read the password as one line from standard input
    #[arg(
        short = 'S',
        long,
        conflicts_with = "extpass",
        long_help = "Read the password as one line from standard input, as \
            `encfs --stdinpass` does. Only that line is consumed."
    )]
    pub stdinpass: bool,

    /// Run COMMAND with `sh -c`; the first line it prints is the password
    #[arg(
        long,
        value_name = "COMMAND",
        long_help = "Run COMMAND with `/bin/sh -c`; the first line of its \
            standard output is the password. The environment variable \
            `encfs_root` holds the volume root, as with `encfs --extpass`."
    )]
    pub extpass: Option<String>,

    /// Kill the --extpass COMMAND if it has not finished after DURATION
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = humantime::parse_duration,
        long_help = "Kill the --extpass COMMAND (and every process it \
            started) if it has not printed its line and exited after DURATION \
            (default 30s; e.g. 500ms, 2m), and fail with a message naming \
            it, so that a hung password program cannot hang the mount."
    )]
    pub extpass_timeout: Duration,
}

impl PasswordArgs {
    /// The password source these options name; `root` is passed to
    /// `--extpass` programs as `encfs_root`.
    pub fn source(&self, root: Option<&Path>, confirm: bool) -> PasswordSource {
        if let Some(f) = &self.password_file {
            PasswordSource::File(f.clone())
        } else if self.stdinpass {
            PasswordSource::Stdin
        } else if let Some(c) = &self.extpass {
            PasswordSource::Command {
                command: c.clone(),
                root: root.map(Path::to_path_buf),
                timeout: self.extpass_timeout,
            }
        } else {
            PasswordSource::Prompt { confirm }
        }
    }

    /// Reads the password.
    pub fn read(&self, root: Option<&Path>, what: &str, confirm: bool) -> Result<Password> {
        Ok(password::read_password(&self.source(root, confirm), what)?)
    }
}

/// `--config`: where the volume config is, when not in the root.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Use the volume config at CONFIG (default: $ENCFS6_CONFIG, else ROOT/.encfs6.xml)
    #[arg(
        short = 'c',
        long,
        value_name = "CONFIG",
        allow_hyphen_values = true,
        long_help = "Use the volume config at CONFIG. Without it the config \
            is looked up as encfs does: $ENCFS6_CONFIG, else ROOT/.encfs6.xml, \
            then $ENCFS5_CONFIG, ROOT/.encfs5 and ROOT/.encfs4 (old formats \
            are read for restores)."
    )]
    pub config: Option<PathBuf>,
}

/// A config found, parsed and unlocked.
pub struct Opened {
    pub path: PathBuf,
    pub config: Config,
    pub volume: Volume,
}

impl ConfigArgs {
    /// Finds and parses the config for a volume rooted at `root`.
    pub fn load(&self, root: Option<&Path>) -> Result<(Located, Config)> {
        let located = configfile::locate(self.config.as_deref(), root)?;
        let config = configfile::load(&located)?;
        Ok((located, config))
    }

    /// Finds, parses and unlocks the config for `root`.
    pub fn open(&self, root: Option<&Path>, pw: &PasswordArgs) -> Result<Opened> {
        let (located, config) = self.load(root)?;
        let what = located.path.display().to_string();
        let password = pw.read(root, &what, false)?;
        let volume = configfile::unlock(&located.path, &config, password.expose())?;
        Ok(Opened {
            path: located.path,
            config,
            volume,
        })
    }
}

/// Fills `buf` from the kernel's random source.
pub fn random_fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| anyhow::anyhow!("cannot get random bytes: {e}"))
}

/// `path` made absolute against the current directory (not resolved).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
}
