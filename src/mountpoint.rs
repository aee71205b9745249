//! A view mounted over a directory hides what is in it; encfs and
//! gocryptfs refuse a non-empty mountpoint, and so do we unless asked
//! (`--nonempty`, yaml `nonempty: true`).
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Fails unless the directory `mnt` is empty. The error names the
/// mountpoint, one of its entries, and the way out.
pub fn ensure_empty(mnt: &Path) -> io::Result<()> {
    let mut entries = fs::read_dir(mnt)
        .map_err(|e| io::Error::new(e.kind(), format!("mountpoint {}: {e}", mnt.display())))?;
    let Some(first) = entries.next() else {
        return Ok(());
    };
    let first = first
        .map_err(|e| io::Error::new(e.kind(), format!("mountpoint {}: {e}", mnt.display())))?;
    let more = entries.count();
    let name = crate::escape::escape_name(first.file_name().as_bytes());
    let others = match more {
        0 => String::new(),
        1 => " and 1 other entry".to_string(),
        n => format!(" and {n} other entries"),
    };
    Err(io::Error::other(format!(
        "mountpoint {} is not empty (it holds {}{others}); mounting would hide \
         its contents: empty it, or use --nonempty (yaml: nonempty: true)",
        mnt.display(),
        String::from_utf8_lossy(&name),
    )))
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
