//! The one FUSE adapter both views share: each request is checked against
//! the reader policy, handed to one [`ViewTree`] call and answered once.
//! Write-path requests get EROFS (`readonly_write_methods!`).
//!
//! Caching (design §4): entries and attributes may be cached for one
//! second (without it, listing a large tree takes four times as long);
//! symlink targets are not cached at all (see `shared::tune_kernel`: the
//! kernel's link cache outlives a replaced link). Listing a directory,
//! opening a file and reading a link always reach the reader check. What a
//! non-reader could get from the cache: `stat` of an entry whose encrypted
//! path it already knows, within a second of root or a reader using it;
//! encrypted names cannot be derived without the key.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Duration;

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo,
    KernelConfig, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};
use nix::sys::statvfs::Statvfs;

use crate::view::Gate;
use crate::view::pool::Pool;
use crate::view::readonly::readonly_write_methods;
use crate::view::shared::{reply_statfs, tune_kernel};

/// How long the kernel may keep a name -> node answer and attributes.
const TTL: Duration = Duration::from_secs(1);
/// Reads at least this large go to the worker pool (see `view::pool`);
/// smaller ones are answered on the request thread.
const POOL_READ_MIN: u32 = 128 * 1024;

/// `add(ino, next offset, type, name)` of a listing; true = buffer full.
pub type AddEntry<'a> = &'a mut dyn FnMut(u64, u64, FileType, &[u8]) -> bool;
/// `add(next offset, name, attributes)` of a listing with attributes.
pub type AddEntryPlus<'a> = &'a mut dyn FnMut(u64, &[u8], &FileAttr) -> bool;

/// What a view does, free of FUSE replies. Node ids are the inode numbers
/// the view shows; handles are the tree's own numbers.
pub trait ViewTree: Send + Sync + 'static {
    /// The entry named `name` in directory `parent`; counts a lookup.
    fn lookup(&self, parent: u64, name: &[u8]) -> Result<FileAttr, Errno>;
    /// The kernel dropped `n` lookups of `id`.
    fn forget(&self, id: u64, n: u64);
    /// Attributes of `id`.
    fn getattr(&self, id: u64) -> Result<FileAttr, Errno>;
    /// The target of symlink `id`.
    fn readlink(&self, id: u64) -> Result<Vec<u8>, Errno>;
    /// Opens file `id` for reading; returns a handle.
    fn open(&self, id: u64) -> Result<u64, Errno>;
    /// Closes a file handle.
    fn release(&self, fh: u64);
    /// Hands `size` bytes at `offset` of handle `fh` to `reply`.
    fn read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        reply: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Errno>;
    /// Snapshots directory `id`; returns a handle.
    fn opendir(&self, id: u64) -> Result<u64, Errno>;
    /// Lists entries from `offset` (0-based, dot entries excluded) through
    /// `add(ino, next offset, type, name)` until it returns true (full).
    fn readdir(&self, fh: u64, offset: u64, add: AddEntry<'_>) -> Result<(), Errno>;
    /// Like `readdir` with attributes; each entry handed to `add` counts as
    /// a lookup unless `add` returns true (full: the entry was not taken).
    fn readdirplus(&self, fh: u64, offset: u64, add: AddEntryPlus<'_>) -> Result<(), Errno>;
    /// Drops a directory handle.
    fn releasedir(&self, fh: u64);
    /// The file system figures behind the view.
    fn statfs(&self) -> Result<Statvfs, Errno>;
    /// The longest name the view shows: by default the longest a file
    /// system takes (a longer plaintext name is stored as a long name,
    /// `volume::names::long`).
    fn name_max(&self) -> usize {
        crate::volume::names::NAME_MAX
    }
}

/// A view served over FUSE.
pub struct ViewFs<T> {
    tree: Arc<T>,
    gate: Arc<Gate>,
    workers: usize,
    /// Started in `init`, in the process that serves: a daemon forks after
    /// the view is built, and threads do not survive a fork.
    pool: Option<Pool>,
}

impl<T: ViewTree> ViewFs<T> {
    /// Serves `tree`, admitting root and the uids of `gate`; large reads
    /// are encrypted by `workers` threads.
    pub fn new(tree: Arc<T>, gate: Arc<Gate>, workers: usize) -> Self {
        Self {
            tree,
            gate,
            workers,
            pool: None,
        }
    }
}

/// Answers a read from `tree`, in place from its buffer.
fn answer_read<T: ViewTree>(tree: &T, fh: u64, offset: u64, size: u32, reply: ReplyData) {
    let mut reply = Some(reply);
    let sent = tree.read(fh, offset, size, &mut |data| {
        if let Some(r) = reply.take() {
            r.data(data);
        }
    });
    if let (Err(e), Some(r)) = (sent, reply) {
        r.error(e);
    }
}

/// Replies EACCES and returns when the caller is not admitted (design §4:
/// root and the configured readers only).
macro_rules! admit {
    ($self:ident, $req:ident, $reply:ident) => {
        if !$self.gate.admit($req.uid()) {
            $reply.error(Errno::EACCES);
            return;
        }
    };
}

/// Replies with a result or its error.
macro_rules! answer {
    ($reply:ident, $result:expr, |$v:ident| $ok:expr) => {
        match $result {
            Ok($v) => $ok,
            Err(e) => $reply.error(e),
        }
    };
}

/// `.` and `..` lead every listing; the tree's offsets follow them.
const DOTS: [&[u8]; 2] = [b".", b".."];

impl<T: ViewTree> fuser::Filesystem for ViewFs<T> {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        tune_kernel(config);
        self.pool = Some(Pool::new(self.workers)?);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        admit!(self, req, reply);
        answer!(reply, self.tree.lookup(parent.0, name.as_bytes()), |attr| {
            reply.entry(&TTL, &attr, Generation(0))
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.tree.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        admit!(self, req, reply);
        answer!(reply, self.tree.getattr(ino.0), |attr| reply
            .attr(&TTL, &attr));
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        admit!(self, req, reply);
        answer!(reply, self.tree.readlink(ino.0), |target| reply
            .data(&target));
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        admit!(self, req, reply);
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            reply.error(Errno::EROFS);
            return;
        }
        // A read-only file has nothing to flush: no FLUSH round trip at
        // each close (rsync and tar close every file they read).
        answer!(reply, self.tree.open(ino.0), |fh| {
            reply.opened(FileHandle(fh), FopenFlags::FOPEN_NOFLUSH)
        });
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        admit!(self, req, reply);
        match &self.pool {
            Some(pool) if size >= POOL_READ_MIN => {
                let tree = self.tree.clone();
                pool.run(move || answer_read(&*tree, fh.0, offset, size, reply));
            }
            _ => answer_read(&*self.tree, fh.0, offset, size, reply),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lo: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.tree.release(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        admit!(self, req, reply);
        answer!(reply, self.tree.opendir(ino.0), |fh| {
            reply.opened(FileHandle(fh), FopenFlags::empty())
        });
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        admit!(self, req, reply);
        for (i, dot) in DOTS.iter().enumerate().skip(offset as usize) {
            if reply.add(
                ino,
                i as u64 + 1,
                FileType::Directory,
                OsStr::from_bytes(dot),
            ) {
                return reply.ok();
            }
        }
        let skip = offset.saturating_sub(DOTS.len() as u64);
        let r = self.tree.readdir(fh.0, skip, &mut |ino, off, kind, name| {
            reply.add(
                INodeNo(ino),
                off + DOTS.len() as u64,
                kind,
                OsStr::from_bytes(name),
            )
        });
        answer!(reply, r, |_done| reply.ok());
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        admit!(self, req, reply);
        if offset < DOTS.len() as u64 {
            // The kernel takes no lookup for dot entries and ignores their
            // attributes; they carry the directory's own.
            let dir = match self.tree.getattr(ino.0) {
                Ok(a) => a,
                Err(e) => return reply.error(e),
            };
            for (i, dot) in DOTS.iter().enumerate().skip(offset as usize) {
                if reply.add(
                    dir.ino,
                    i as u64 + 1,
                    OsStr::from_bytes(dot),
                    &TTL,
                    &dir,
                    Generation(0),
                ) {
                    return reply.ok();
                }
            }
        }
        let skip = offset.saturating_sub(DOTS.len() as u64);
        let r = self.tree.readdirplus(fh.0, skip, &mut |off, name, attr| {
            reply.add(
                attr.ino,
                off + DOTS.len() as u64,
                OsStr::from_bytes(name),
                &TTL,
                attr,
                Generation(0),
            )
        });
        answer!(reply, r, |_done| reply.ok());
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.tree.releasedir(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // Not an access (see `Gate::allows`).
        if !self.gate.allows(req.uid()) {
            reply.error(Errno::EACCES);
            return;
        }
        reply_statfs(reply, self.tree.statfs(), self.tree.name_max());
    }

    fn access(&self, req: &Request, _ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        admit!(self, req, reply);
        if mask.contains(AccessFlags::W_OK) {
            reply.error(Errno::EROFS);
        } else {
            reply.ok();
        }
    }

    // No xattrs: stock encfs passes them through in clear (design §4).
    fn getxattr(&self, req: &Request, _ino: INodeNo, _name: &OsStr, _size: u32, reply: ReplyXattr) {
        admit!(self, req, reply);
        reply.error(Errno::NO_XATTR);
    }

    fn listxattr(&self, req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        admit!(self, req, reply);
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    readonly_write_methods!();
}
