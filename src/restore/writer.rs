//! Writing plaintext into DEST by file descriptor: every path is walked
//! from DEST's own fd with `openat(O_NOFOLLOW | O_DIRECTORY)`, entries are
//! made with `mkdirat`/`openat(O_EXCL)`/`symlinkat`/`linkat`/`mknodat`, so
//! a symlink in DEST (restored a moment ago from a hostile archive, or
//! planted there) is never followed out of it.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmodat, fstatat, mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, linkat, symlinkat, unlinkat};

use super::source::Meta;

/// Why one entry could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A directory on the way is a symlink (or not a directory).
    #[error("refused: {0} in the destination is not a directory (symlinks are never followed)")]
    NotADir(String),
    /// Something is in the way and `--force` was not given.
    #[error("already exists (use --force to replace it)")]
    Exists,
    /// A directory is where a non-directory goes.
    #[error("a directory is in the way")]
    DirInTheWay,
    /// A system call failed.
    #[error("{op}: {errno}")]
    Sys {
        /// What was done.
        op: &'static str,
        /// The error.
        errno: Errno,
    },
}

fn sys(op: &'static str) -> impl Fn(Errno) -> WriteError {
    move |errno| WriteError::Sys { op, errno }
}

/// The destination directory, held open.
pub struct Writer {
    root: OwnedFd,
    path: PathBuf,
    force: bool,
    owners: bool,
    /// The last parent directory opened, by its path below DEST.
    parent: Option<(Vec<u8>, OwnedFd)>,
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// `rel` split into its parent and its last name.
fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (b"", rel),
    }
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

impl Writer {
    /// Opens `dest` (which must exist).
    pub fn open(dest: &Path, force: bool, owners: bool) -> io::Result<Self> {
        let root = nix::fcntl::open(dest, DIR_FLAGS, Mode::empty()).map_err(io::Error::from)?;
        Ok(Writer {
            root,
            path: dest.to_path_buf(),
            force,
            owners,
            parent: None,
        })
    }

    /// `rel` as a path under DEST, for messages.
    pub fn show(&self, rel: &[u8]) -> PathBuf {
        self.path.join(os(rel))
    }

    /// Opens (creating missing ones) the directories leading to `dir`.
    fn open_dir(&self, dir: &[u8]) -> Result<OwnedFd, WriteError> {
        let mut fd = self.root.try_clone().map_err(|e| WriteError::Sys {
            op: "dup",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        if dir.is_empty() {
            return Ok(fd);
        }
        let mut done = 0;
        for comp in dir.split(|&b| b == b'/') {
            done += comp.len() + 1;
            let here = &dir[..(done - 1).min(dir.len())];
            let next = match openat(&fd, os(comp), DIR_FLAGS, Mode::empty()) {
                Ok(f) => f,
                Err(Errno::ENOENT) => {
                    match mkdirat(&fd, os(comp), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(sys("mkdir")(e)),
                    }
                    openat(&fd, os(comp), DIR_FLAGS, Mode::empty()).map_err(|e| match e {
                        Errno::ENOTDIR | Errno::ELOOP => {
                            WriteError::NotADir(String::from_utf8_lossy(here).into())
                        }
                        e => sys("open directory")(e),
                    })?
                }
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    return Err(WriteError::NotADir(String::from_utf8_lossy(here).into()));
                }
                Err(e) => return Err(sys("open directory")(e)),
            };
            fd = next;
        }
        Ok(fd)
    }

    /// The parent of `rel`, opened, and `rel`'s last name.
    fn parent<'r>(&mut self, rel: &'r [u8]) -> Result<(BorrowedFd<'_>, &'r [u8]), WriteError> {
        let (dir, name) = split(rel);
        if self.parent.as_ref().is_none_or(|(p, _)| p != dir) {
            let fd = self.open_dir(dir)?;
            self.parent = Some((dir.to_vec(), fd));
        }
        let fd = self
            .parent
            .as_ref()
            .map(|(_, f)| f.as_fd())
            .expect("just set");
        Ok((fd, name))
    }

    /// Makes room for a non-directory named `name` in `dir`.
    fn clear(dir: BorrowedFd<'_>, name: &[u8], force: bool) -> Result<(), WriteError> {
        match fstatat(dir, os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(_) => Ok(()),
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR => {
                Err(WriteError::DirInTheWay)
            }
            Ok(_) if force => {
                unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir).map_err(sys("unlink"))
            }
            Ok(_) => Err(WriteError::Exists),
        }
    }

    /// A directory (an existing one is taken as it is).
    pub fn mkdir(&mut self, rel: &[u8]) -> Result<(), WriteError> {
        if rel.is_empty() {
            return Ok(());
        }
        let force = self.force;
        let (dir, name) = self.parent(rel)?;
        match mkdirat(dir, os(name), Mode::from_bits_truncate(0o700)) {
            Ok(()) => Ok(()),
            Err(Errno::EEXIST) => match fstatat(dir, os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st)
                    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR =>
                {
                    Ok(())
                }
                _ if force => {
                    unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir).map_err(sys("unlink"))?;
                    mkdirat(dir, os(name), Mode::from_bits_truncate(0o700)).map_err(sys("mkdir"))
                }
                _ => Err(WriteError::Exists),
            },
            Err(e) => Err(sys("mkdir")(e)),
        }
    }

    /// A new regular file, open for writing.
    pub fn create(&mut self, rel: &[u8]) -> Result<File, WriteError> {
        let force = self.force;
        let (dir, name) = self.parent(rel)?;
        Self::clear(dir, name, force)?;
        let fd = openat(
            dir,
            os(name),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(sys("create"))?;
        Ok(File::from(fd))
    }

    /// Removes a file just made (a strict restore's failed file).
    pub fn remove(&mut self, rel: &[u8]) -> Result<(), WriteError> {
        let (dir, name) = self.parent(rel)?;
        unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir).map_err(sys("unlink"))
    }

    /// Renames `rel` to `new_name` in the same directory.
    pub fn rename(&mut self, rel: &[u8], new_name: &[u8]) -> Result<(), WriteError> {
        let force = self.force;
        let (dir, name) = self.parent(rel)?;
        Self::clear(dir, new_name, force)?;
        renameat(dir, os(name), dir, os(new_name)).map_err(sys("rename"))
    }

    /// A symbolic link (its target is never looked at).
    pub fn symlink(&mut self, rel: &[u8], target: &[u8]) -> Result<(), WriteError> {
        let force = self.force;
        let (dir, name) = self.parent(rel)?;
        Self::clear(dir, name, force)?;
        symlinkat(os(target), dir, os(name)).map_err(sys("symlink"))
    }

    /// A second name for the file at `first` (both below DEST).
    pub fn hard_link(&mut self, first: &[u8], rel: &[u8]) -> Result<(), WriteError> {
        let (fdir, fname) = split(first);
        let from = self.open_dir(fdir)?;
        let force = self.force;
        let (dir, name) = self.parent(rel)?;
        Self::clear(dir, name, force)?;
        linkat(&from, os(fname), dir, os(name), AtFlags::empty()).map_err(sys("link"))
    }

    /// A FIFO, socket or device node.
    pub fn special(&mut self, rel: &[u8], kind: SFlag, rdev: u64) -> Result<(), WriteError> {
        let force = self.force;
        let (dir, name) = self.parent(rel)?;
        Self::clear(dir, name, force)?;
        mknodat(dir, os(name), kind, Mode::from_bits_truncate(0o600), rdev).map_err(sys("mknod"))
    }

    /// Owner, mode and times of `rel` (a symlink's own, never its target's).
    /// `file`: the entry's open fd, when there is one.
    pub fn apply(
        &mut self,
        rel: &[u8],
        meta: &Meta,
        symlink: bool,
        file: Option<&File>,
    ) -> Result<(), WriteError> {
        let owners = self.owners;
        let dir_fd;
        let (dir, name): (BorrowedFd<'_>, &[u8]) = if rel.is_empty() {
            dir_fd = self.root.as_fd();
            (dir_fd, b".")
        } else {
            self.parent(rel)?
        };
        if owners && (meta.uid.is_some() || meta.gid.is_some()) {
            fchownat(
                dir,
                os(name),
                meta.uid.map(Uid::from_raw),
                meta.gid.map(Gid::from_raw),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(sys("chown"))?;
        }
        if !symlink {
            // After chown, which clears set-id bits.
            let mode = Mode::from_bits_truncate(meta.mode & 0o7777);
            match file {
                Some(f) => nix::sys::stat::fchmod(f, mode).map_err(sys("chmod"))?,
                None => fchmodat(dir, os(name), mode, FchmodatFlags::FollowSymlink)
                    .map_err(sys("chmod"))?,
            }
        }
        if let Some((s, ns)) = meta.mtime {
            let mtime = TimeSpec::new(s, ns.into());
            let atime = meta
                .atime
                .map_or(mtime, |(s, ns)| TimeSpec::new(s, ns.into()));
            utimensat(
                dir,
                os(name),
                &atime,
                &mtime,
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(sys("set times"))?;
        }
        Ok(())
    }
}
