//! The manager (design §7): the yaml of views, bringing views up and down,
//! their health and status, and `check`.
//!
//! Each view runs as its own `encmount mount --reverse` daemon, started
//! with the binary next to the running one. State lives in `/run/encmount/`:
//! `NAME.pid` and `NAME.json`, written by the daemon, and `NAME.lock`, held
//! by whoever checks or changes the view, so callers that race (two
//! `encmount-rsync` sessions asking for the same on-demand view) end with
//! exactly one mount.

pub mod check;
pub mod config;
pub mod deploy;
pub mod health;
pub mod launch;
mod locate;
pub mod paths;
pub mod status;
mod validate;

use std::io;
use std::path::PathBuf;

pub use config::{Config, ConfigError, PasswordSpec, View};
pub use health::Health;
pub use launch::{DownOutcome, UpOutcome, down, ensure_up};
pub use paths::Paths;
pub use validate::valid_view_name;

use crate::configfile::ConfigFileError;
use crate::password::PasswordError;

/// What can go wrong in the manager. Every message names the view or file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The yaml is unreadable or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A request the manager will not carry out.
    #[error("{0}")]
    Refused(String),
    /// A file-system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the path and view.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// A view name the yaml does not define.
    #[error("{}: no view named {name:?}", file.display())]
    UnknownView {
        /// The yaml.
        file: PathBuf,
        /// The name asked for.
        name: String,
    },
    /// Unmounting failed because the view is in use.
    #[error(
        "view {view}: {} is busy (files or directories in use); stop their users, \
         or use --lazy to detach it now",
        mountpoint.display()
    )]
    Busy {
        /// The view.
        view: String,
        /// Its mountpoint.
        mountpoint: PathBuf,
    },
    /// Something else than an encmount view is mounted at the mountpoint.
    #[error(
        "view {view}: {} has a {fs_type} mount that is not an encmount view; unmount it first",
        mountpoint.display()
    )]
    Foreign {
        /// The view.
        view: String,
        /// Its mountpoint.
        mountpoint: PathBuf,
        /// The type of what is mounted there.
        fs_type: String,
    },
    /// The view daemon did not come up.
    #[error("view {view}: cannot mount: {reason}")]
    Mount {
        /// The view.
        view: String,
        /// Why, as the daemon said.
        reason: String,
    },
    /// Any other problem with a view.
    #[error("view {view}: {message}")]
    View {
        /// The view.
        view: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The view's password source is unusable.
    #[error("view {view}: {source}")]
    Password {
        /// The view.
        view: String,
        /// The cause.
        source: PasswordError,
    },
    /// The view's volume config is unusable.
    #[error("view {view}: {source}")]
    Volume {
        /// The view.
        view: String,
        /// The cause.
        source: ConfigFileError,
    },
}

impl Config {
    /// The views called `names`, in the order given, or every view when
    /// `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<&View>, ManagerError> {
        if names.is_empty() {
            return Ok(self.views.iter().collect());
        }
        names
            .iter()
            .map(|n| {
                self.view(n).ok_or_else(|| ManagerError::UnknownView {
                    file: self.file.clone(),
                    name: n.clone(),
                })
            })
            .collect()
    }
}
