//! A log file for a detached daemon when there is no syslog (design §7):
//! `RUN_DIR/NAME.log`, appended to, and rotated to `NAME.log.1` once it
//! would pass [`MAX_BYTES`], so it never grows without bound.
#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A log file is rotated before it passes this size.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// An append-only log file with one older generation.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    max: u64,
    file: File,
    len: u64,
}

impl LogFile {
    /// Opens (creates, mode 0600, never through a symlink) `path`.
    pub fn open(path: &Path) -> io::Result<LogFile> {
        Self::with_limit(path, MAX_BYTES)
    }

    fn with_limit(path: &Path, max: u64) -> io::Result<LogFile> {
        let file = open_append(path)?;
        let len = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            max,
            file,
            len,
        })
    }

    /// Appends `line` (which ends in `\n`), first rotating the file if the
    /// line would take it past the limit.
    pub fn append(&mut self, line: &str) -> io::Result<()> {
        let add = line.len() as u64;
        if self.len > 0 && self.len + add > self.max {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.len += add;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        fs::rename(&self.path, &old)?;
        self.file = open_append(&self.path)?;
        self.len = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("log file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appends_and_is_private() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.log");
        let mut f = LogFile::open(&p).unwrap();
        f.append("one\n").unwrap();
        drop(f);
        let mut f = LogFile::open(&p).unwrap();
        f.append("two\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "one\ntwo\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn rotates_at_the_limit_and_keeps_one_generation() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.log");
        let mut f = LogFile::with_limit(&p, 10).unwrap();
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n"] {
            f.append(line).unwrap();
        }
        assert_eq!(fs::read_to_string(&p).unwrap(), "eeee\n");
        assert_eq!(
            fs::read_to_string(d.path().join("v.log.1")).unwrap(),
            "cccc\ndddd\n"
        );
        assert!(fs::metadata(&p).unwrap().len() <= 10);
    }

    #[test]
    fn refuses_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("elsewhere");
        fs::write(&target, "").unwrap();
        let p = d.path().join("v.log");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let e = LogFile::open(&p).unwrap_err();
        assert!(e.to_string().contains("v.log"), "{e}");
    }
}
