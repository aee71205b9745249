//! Race-safe access to a plaintext source tree (design §4): every entry is
//! reached from a directory fd and one name, never by path, and nothing is
//! followed: a symlink swapped in during a walk makes the operation fail
//! instead of leading outside the source.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

/// One entry of a source directory, as `getdents` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEntry {
    /// The name bytes (never `.` or `..`).
    pub name: Vec<u8>,
    /// Inode number.
    pub ino: u64,
    /// The type, when the file system reports it.
    pub kind: Option<Type>,
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens the source root itself (following symlinks in the path the admin
/// configured, as any tool would).
pub fn open_root(path: &Path) -> io::Result<(OwnedFd, FileStat)> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err)?;
    let st = fstat(&fd).map_err(io_err)?;
    Ok((fd, st))
}

/// `lstat` of `name` inside `dir`.
pub fn stat_at(dir: BorrowedFd, name: &[u8]) -> io::Result<FileStat> {
    fstatat(dir, OsStr::from_bytes(name), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io_err)
}

/// `fstat` of an open fd.
pub fn stat_fd(fd: BorrowedFd) -> io::Result<FileStat> {
    fstat(fd).map_err(io_err)
}

/// Whether two stats name the same object.
pub fn same_object(a: &FileStat, b: &FileStat) -> bool {
    a.st_ino == b.st_ino && a.st_dev == b.st_dev
}

/// Opens the directory `name` inside `dir` as an `O_PATH` handle, refusing
/// symlinks, and checks it is still the object `expect` described.
pub fn open_dir_at(dir: BorrowedFd, name: &[u8], expect: &FileStat) -> io::Result<OwnedFd> {
    let fd = openat(
        dir,
        OsStr::from_bytes(name),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err)?;
    let st = fstat(&fd).map_err(io_err)?;
    if !same_object(&st, expect) {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    Ok(fd)
}

/// Opens the regular file `name` inside `dir` read-only, without following
/// a symlink and (where allowed) without touching its atime. The opened
/// object must be a regular file.
pub fn open_file_at(dir: BorrowedFd, name: &[u8]) -> io::Result<File> {
    let base = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let path = OsStr::from_bytes(name);
    let fd = match openat(dir, path, base | OFlag::O_NOATIME, Mode::empty()) {
        // O_NOATIME needs ownership or CAP_FOWNER.
        Err(Errno::EPERM) => openat(dir, path, base, Mode::empty()),
        other => other,
    }
    .map_err(io_err)?;
    let st = fstat(&fd).map_err(io_err)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    Ok(File::from(fd))
}

/// The target of the symlink `name` inside `dir`.
pub fn read_link_at(dir: BorrowedFd, name: &[u8]) -> io::Result<Vec<u8>> {
    let target = readlinkat(dir, OsStr::from_bytes(name)).map_err(io_err)?;
    Ok(target.into_encoded_bytes())
}

/// Lists a directory given an `O_PATH` handle to it.
pub fn list_dir(dir: BorrowedFd) -> io::Result<Vec<SourceEntry>> {
    // Like files, directories are read without touching their atime.
    let base = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut d = match Dir::openat(dir, ".", base | OFlag::O_NOATIME, Mode::empty()) {
        // O_NOATIME needs ownership or CAP_FOWNER.
        Err(Errno::EPERM) => Dir::openat(dir, ".", base, Mode::empty()),
        other => other,
    }
    .map_err(io_err)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e.map_err(io_err)?;
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        out.push(SourceEntry {
            name: name.to_vec(),
            ino: e.ino(),
            kind: e.file_type(),
        });
    }
    Ok(out)
}

/// The file type bits of a stat.
pub fn kind_of(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_are_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir(root.join("dir")).unwrap();
        std::fs::write(root.join("dir/f"), b"x").unwrap();
        symlink("/etc", root.join("link-dir")).unwrap();
        symlink("/etc/hostname", root.join("link-file")).unwrap();
        let (fd, _) = open_root(root).unwrap();
        let st = stat_at(fd.as_fd(), b"link-dir").unwrap();
        assert_eq!(kind_of(&st), SFlag::S_IFLNK);
        assert!(open_dir_at(fd.as_fd(), b"link-dir", &st).is_err());
        assert!(open_file_at(fd.as_fd(), b"link-file").is_err());
        assert_eq!(read_link_at(fd.as_fd(), b"link-dir").unwrap(), b"/etc");

        let dst = stat_at(fd.as_fd(), b"dir").unwrap();
        let dir = open_dir_at(fd.as_fd(), b"dir", &dst).unwrap();
        let mut names: Vec<_> = list_dir(fd.as_fd())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, [&b"dir"[..], b"link-dir", b"link-file"]);
        assert_eq!(
            std::io::read_to_string(open_file_at(dir.as_fd(), b"f").unwrap()).unwrap(),
            "x"
        );
        // a directory replaced after its stat is detected
        let other = stat_at(fd.as_fd(), b"link-file").unwrap();
        assert!(open_dir_at(fd.as_fd(), b"dir", &other).is_err());
    }
}
