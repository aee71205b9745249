//! A view mounted over a directory hides what is in it; encfs and
//! gocryptfs refuse a non-empty mountpoint, and so do we unless asked
//! (`--nonempty`, yaml `nonempty: true`).
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a directory cannot be mounted over.
#[derive(Debug, thiserror::Error)]
pub enum MountpointError {
    /// It cannot be listed.
    #[error("mountpoint {}", path.display())]
    Unreadable {
        /// The mountpoint.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// It holds entries a mount would hide.
    #[error(
        "mountpoint {} is not empty (it holds {first}{others}); mounting would hide \
         its contents: empty it, or use --nonempty (yaml: nonempty: true)",
        path.display()
    )]
    NotEmpty {
        /// The mountpoint.
        path: PathBuf,
        /// One of its entries, escaped for a terminal.
        first: String,
        /// How many more there are, as words ("" for none).
        others: String,
    },
}

/// Fails unless the directory `mnt` is empty. The error names the
/// mountpoint, one of its entries, and the way out.
pub fn ensure_empty(mnt: &Path) -> Result<(), MountpointError> {
    let unreadable = |source| MountpointError::Unreadable {
        path: mnt.to_path_buf(),
        source,
    };
    let mut entries = fs::read_dir(mnt).map_err(unreadable)?;
    let Some(first) = entries.next() else {
        return Ok(());
    };
    let first = first.map_err(unreadable)?;
    let others = match entries.count() {
        0 => String::new(),
        1 => " and 1 other entry".to_string(),
        n => format!(" and {n} other entries"),
    };
    let name = crate::escape::escape_name(first.file_name().as_bytes());
    Err(MountpointError::NotEmpty {
        path: mnt.to_path_buf(),
        first: String::from_utf8_lossy(&name).into_owned(),
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_fine() {
        let d = tempfile::tempdir().unwrap();
        ensure_empty(d.path()).unwrap();
    }

    #[test]
    fn non_empty_is_refused_with_the_way_out() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("precious"), "data").unwrap();
        let e = ensure_empty(d.path()).unwrap_err().to_string();
        assert!(e.contains("is not empty (it holds precious)"), "{e}");
        assert!(e.contains("--nonempty"), "{e}");
        fs::create_dir(d.path().join(".hidden")).unwrap();
        let e = ensure_empty(d.path()).unwrap_err().to_string();
        assert!(e.contains("and 1 other entry"), "{e}");
    }

    #[test]
    fn missing_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let e = ensure_empty(&d.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
