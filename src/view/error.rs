//! What can go wrong while a view is set up: every error names the path
//! or step concerned and keeps its cause. (Requests fail with an errno
//! instead, see `shared::errno`.)
//!
//! A message holds no cause text: the cause is the error's `source()`,
//! which `report::error_line` appends once, so a caller's context ("source
//! /srv/a") and this message never repeat each other.

use std::io;
use std::path::PathBuf;

/// Why a view could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// A reverse view's plaintext source cannot be opened.
    #[error("source {}", path.display())]
    Source {
        /// The source as given.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A forward view's cipher directory cannot be opened.
    #[error("cipher directory {}", path.display())]
    CipherDir {
        /// The cipher directory as given.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The mountpoint cannot be reached.
    #[error("mountpoint {}", path.display())]
    Mountpoint {
        /// The mountpoint as given.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A dead mount left by a killed daemon.
    #[error(
        "{} is a dead mount (transport endpoint is not connected); clean it up with \
         `encmount umount {}`",
        path.display(),
        path.display()
    )]
    DeadMount {
        /// The mountpoint as given.
        path: PathBuf,
    },
    /// The mountpoint is not a directory.
    #[error("mountpoint {} is not a directory", path.display())]
    NotADirectory {
        /// The mountpoint as given.
        path: PathBuf,
    },
    /// Something is mounted there already.
    #[error("{} is already a mountpoint", path.display())]
    AlreadyMounted {
        /// The mountpoint as given.
        path: PathBuf,
    },
    /// An unmount of a view in use, without `--lazy`.
    #[error(
        "{} is busy (files or directories in use); use --lazy to detach it anyway",
        path.display()
    )]
    Busy {
        /// The mountpoint.
        path: PathBuf,
    },
    /// A view needs a thread to take requests.
    #[error("at least one FUSE thread is needed")]
    NoThreads,
    /// Another step failed with an I/O error.
    #[error("{what}")]
    Io {
        /// What was being done, naming its path.
        what: String,
        /// The cause.
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::error_line;

    #[test]
    fn the_line_names_the_path_and_the_cause_once() {
        let e = ViewError::Source {
            path: "/srv/a".into(),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            error_line(&e),
            "source /srv/a: No such file or directory (os error 2)"
        );
        // With the caller's own context the path is not repeated.
        let wrapped = anyhow::Error::new(e).context("source /srv/a");
        assert_eq!(
            error_line(wrapped.as_ref()),
            "source /srv/a: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_cipher_directory_is_named_as_one() {
        let e = ViewError::CipherDir {
            path: "/backup/x".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(
            error_line(&e),
            "cipher directory /backup/x: Permission denied (os error 13)"
        );
    }
}
