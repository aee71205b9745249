//! What can go wrong in the manager: [`YamlError`] (the yaml, with file,
//! line and view) and [`ManagerError`] (everything else, naming the view).
//! The volume's own XML config has [`ConfigFileError`].

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::configfile::ConfigFileError;
use crate::password::PasswordError;

/// A problem with the yaml, located as precisely as possible.
#[derive(Debug, thiserror::Error)]
pub struct YamlError {
    /// The yaml file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The view concerned, if any.
    pub view: Option<String>,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(v) = &self.view {
            write!(f, ": view {v}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What can go wrong in the manager. Every message names the view or file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The yaml is unreadable or wrong.
    #[error(transparent)]
    Yaml(#[from] YamlError),
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
