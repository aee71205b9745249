//! Options several subcommands share: where the password comes from and
//! where the volume config is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::configfile::{self, ConfigFileError, Located, OpenError, Opened};
use crate::password::{self, Password, PasswordError, PasswordSource};
use crate::viewspec::PasswordFrom;
use crate::volume::Config;

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
    /// The password source these options name, as given.
    pub fn from(&self) -> PasswordFrom {
        if let Some(f) = &self.password_file {
            PasswordFrom::File(f.clone())
        } else if self.stdinpass {
            PasswordFrom::Stdin
        } else if let Some(c) = &self.extpass {
            PasswordFrom::Command {
                command: c.clone(),
                timeout: self.extpass_timeout,
            }
        } else {
            PasswordFrom::Prompt
        }
    }

    /// The source to read; `root` is passed to `--extpass` programs as
    /// `encfs_root`, `confirm` asks a prompt twice.
    pub fn source(&self, root: Option<&Path>, confirm: bool) -> PasswordSource {
        self.from().source(root, confirm)
    }

    /// Reads the password.
    pub fn read(
        &self,
        root: Option<&Path>,
        what: &str,
        confirm: bool,
    ) -> Result<Password, PasswordError> {
        password::read_password(&self.source(root, confirm), what)
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

impl ConfigArgs {
    /// Finds and parses the config for a volume rooted at `root`.
    pub fn load(&self, root: Option<&Path>) -> Result<(Located, Config), ConfigFileError> {
        let located = configfile::locate(self.config.as_deref(), root)?;
        let config = configfile::load(&located)?;
        Ok((located, config))
    }

    /// Finds, parses and unlocks the config for `root`.
    pub fn open(&self, root: Option<&Path>, pw: &PasswordArgs) -> Result<Opened, OpenError> {
        configfile::open(self.config.as_deref(), root, &pw.source(root, false))
    }
}
