//! The reverse view: a plaintext directory shown as a read-only encrypted
//! tree (design §4). This file only maps FUSE requests to [`tree`].

pub mod tree;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use fuser::{
    AccessFlags, Errno, FileHandle, FopenFlags, Generation, INodeNo, KernelConfig, OpenAccMode,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};

use crate::view::shared::{admit, reply_statfs, tune_kernel};
use crate::view::{Gate, TTL};
use tree::ReverseTree;

/// The FUSE filesystem of a reverse view.
pub struct ReverseFs {
    tree: Arc<ReverseTree>,
    gate: Arc<Gate>,
}

impl ReverseFs {
    /// Serves `tree`, admitting root and the uids of `gate`.
    pub fn new(tree: Arc<ReverseTree>, gate: Arc<Gate>) -> Self {
        Self { tree, gate }
    }
}

impl fuser::Filesystem for ReverseFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        tune_kernel(config);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        admit!(self, req, reply);
        match self.tree.lookup(parent.0, name.as_bytes()) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.tree.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        admit!(self, req, reply);
        match self.tree.getattr(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        admit!(self, req, reply);
        match self.tree.readlink(ino.0) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        admit!(self, req, reply);
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            reply.error(Errno::EROFS);
            return;
        }
        match self.tree.open(ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
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
        // The data is answered from the reading thread's buffer, in place.
        let mut reply = Some(reply);
        let sent = self.tree.read(fh.0, offset, size, |data| {
            if let Some(r) = reply.take() {
                r.data(data);
            }
        });
        if let (Err(e), Some(r)) = (sent, reply) {
            r.error(e);
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
        match self.tree.opendir(ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        admit!(self, req, reply);
        let r = self.tree.readdir(fh.0, offset, |ino, off, kind, name| {
            reply.add(INodeNo(ino), off, kind, OsStr::from_bytes(name))
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdirplus(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        admit!(self, req, reply);
        let r = self.tree.readdirplus(fh.0, offset, |off, name, attr| {
            reply.add(
                attr.ino,
                off,
                OsStr::from_bytes(name),
                &TTL,
                attr,
                Generation(0),
            )
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
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
        admit!(self, req, reply);
        reply_statfs(reply, self.tree.statfs(), crate::volume::names::NAME_MAX);
    }

    fn access(&self, req: &Request, _ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        admit!(self, req, reply);
        if mask.contains(AccessFlags::W_OK) {
            reply.error(Errno::EROFS);
        } else {
            reply.ok();
        }
    }

    // No xattrs: stock encfs shows them in clear (design §4).
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

    crate::readonly_write_methods!();
}
