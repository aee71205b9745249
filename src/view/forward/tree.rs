//! The forward view's logic (design §5), free of FUSE replies so it can be
//! tested directly: a cipher directory (a raw encfs directory, or a backup
//! of a reverse view) presented as the plaintext tree it holds.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use fuser::{Errno, FileAttr, INodeNo};
use nix::sys::stat::{FileStat, SFlag};
use nix::sys::statvfs::Statvfs;

use super::content::{OpenFile, ReadError};
use crate::log;
use crate::view::error::ViewError;
use crate::view::fuse::{AddEntry, AddEntryPlus, ViewTree};
use crate::view::problems::ProblemLog;
use crate::view::shared::{entry_attr, errno, file_type, join, statfs_of};
use crate::view::source::{self, kind_of};
use crate::view::table::{DirFd, DiskNode, Handles, NodeTable, ROOT_ID};
use crate::volume::{CipherSize, Volume};
use listing::{Listed, Listing};

mod listing;
mod long;

/// Config files never shown from the cipher root (format §6.7).
pub const CONFIG_NAMES: [&[u8]; 3] = [b".encfs6.xml", b".encfs5", b".encfs4"];

/// A forward view.
pub struct ForwardTree {
    vol: Volume,
    src: PathBuf,
    root_fd: Arc<OwnedFd>,
    root_dev: u64,
    nodes: NodeTable<DiskNode>,
    files: Handles<OpenFile>,
    dirs: Handles<Listing>,
    hidden: ProblemLog,
    broken: ProblemLog,
}

impl ForwardTree {
    /// Opens the cipher directory `src` of volume `vol`.
    pub fn new(vol: Volume, src: &Path) -> Result<Self, ViewError> {
        let (fd, st) = source::open_root(src).map_err(|source| ViewError::CipherDir {
            path: src.to_path_buf(),
            source,
        })?;
        let fd = Arc::new(fd);
        let root = DiskNode::root(st.st_ino, fd.clone());
        Ok(Self {
            vol,
            src: src.to_path_buf(),
            root_fd: fd,
            root_dev: st.st_dev,
            nodes: NodeTable::new(root),
            files: Handles::default(),
            dirs: Handles::default(),
            hidden: ProblemLog::default(),
            broken: ProblemLog::default(),
        })
    }

    /// Cipher entries hidden because their names do not decode.
    pub fn hidden(&self) -> &ProblemLog {
        &self.hidden
    }

    /// Files and links that failed to decrypt.
    pub fn broken(&self) -> &ProblemLog {
        &self.broken
    }

    /// Open files and directories (for the idle timer).
    pub fn open_handles(&self) -> usize {
        self.files.len() + self.dirs.len()
    }

    /// The cipher path of node `id`, for messages.
    fn cipher_path(&self, id: u64) -> String {
        let mut parts = Vec::new();
        let mut cur = id;
        while cur != ROOT_ID && parts.len() < 4096 {
            let Some(n) = self.nodes.get(cur) else { break };
            parts.push(n.disk_name().to_vec());
            cur = n.parent;
        }
        parts.reverse();
        String::from_utf8_lossy(&parts.join(&b'/')).into_owned()
    }

    /// Logs, once per entry, that node `id` does not decrypt.
    fn report_broken(&self, id: u64, reason: &str) {
        let path = self.nodes.path(id).unwrap_or_default();
        if self.broken.first(&path) {
            log::error(&format!(
                "forward view of {}: cannot decrypt {} (cipher path {}): {reason}; \
                 reading it fails with EIO",
                self.src.display(),
                String::from_utf8_lossy(&path),
                self.cipher_path(id)
            ));
        }
    }

    /// Logs, once per entry, a cipher name that is left out.
    fn report_hidden(&self, dir_path: &[u8], cname: &[u8], reason: &str) {
        if self.hidden.first(&join(dir_path, cname)) {
            log::warn(&format!(
                "forward view of {}: left out {} in /{}: {reason}",
                self.src.display(),
                String::from_utf8_lossy(cname),
                String::from_utf8_lossy(dir_path)
            ));
        }
    }

    /// The node id (= inode number shown) of an entry.
    fn entry_id(&self, st: &FileStat, dir_path: &[u8], plain: &[u8]) -> u64 {
        // With external IV chaining each name of a hard link decrypts with
        // its own header seed: one inode number must not show two contents.
        let paranoid_link = self.vol.params().external_iv_chaining
            && kind_of(st) == SFlag::S_IFREG
            && st.st_nlink > 1;
        if paranoid_link || st.st_ino == ROOT_ID || st.st_ino == 0 {
            self.vol.view_ino(&join(dir_path, plain))
        } else {
            st.st_ino
        }
    }

    /// The size shown: plaintext size of files, decrypted length of link
    /// targets; 0 where they do not decrypt (reading says EIO).
    fn shown_size(&self, st: &FileStat, dir: BorrowedFd, cname: &[u8]) -> u64 {
        match kind_of(st) {
            SFlag::S_IFREG => {
                let raw = CipherSize(st.st_size as u64);
                self.vol.layout().plain_size(raw).map_or(0, |p| p.0)
            }
            SFlag::S_IFLNK => source::read_link_at(dir, cname)
                .ok()
                .and_then(|t| self.vol.decode_link(&t).ok())
                .map_or(0, |t| t.len() as u64),
            _ => st.st_size as u64,
        }
    }

    /// The attributes of a cipher entry shown with `size`; the blocks are
    /// the cipher file's.
    fn attr(&self, id: u64, st: &FileStat, size: u64) -> FileAttr {
        entry_attr(id, st, size, st.st_blocks as u64)
    }

    /// Records a kernel lookup of a visible entry and returns its attributes.
    fn found(&self, parent: u64, dir_path: &[u8], e: &Listed, dir: BorrowedFd) -> FileAttr {
        let id = self.entry_id(&e.st, dir_path, &e.plain);
        let kind = kind_of(&e.st);
        let ino = e.st.st_ino;
        self.nodes.lookup(
            id,
            |n| {
                n.parent == parent
                    && n.disk_name() == &*e.cname
                    && n.kind == kind
                    && n.disk_ino == ino
            },
            || DiskNode {
                parent,
                name: e.plain.clone(),
                cipher_name: Some(e.cname.clone()),
                kind,
                disk_ino: ino,
                name_iv: e.name_iv,
                dirfd: DirFd::default(),
                shown_size: AtomicU64::new(0),
            },
        );
        self.attr(id, &e.st, self.shown_size(&e.st, dir, &e.cname))
    }

    /// The errno for a failed open or read of node `id`; a file that does
    /// not decrypt is logged.
    fn failed(&self, id: u64, e: ReadError) -> Errno {
        match e {
            ReadError::Io(e) => errno(e),
            ReadError::Unsettled => Errno::EIO,
            ReadError::Corrupt(reason) => {
                self.report_broken(id, &reason);
                Errno::EIO
            }
        }
    }
}

impl ViewTree for ForwardTree {
    /// `lookup`: the entry with plaintext name `name` in directory `parent`.
    fn lookup(&self, parent: u64, name: &[u8]) -> Result<FileAttr, Errno> {
        let pnode = self.nodes.node(parent)?;
        let pfd = self.nodes.dir_fd(parent)?;
        let (cname, name_iv) = self
            .lookup_name(pfd.as_fd(), pnode.name_iv, name)
            .ok_or(Errno::ENOENT)?;
        if parent == ROOT_ID && CONFIG_NAMES.contains(&&cname[..]) {
            return Err(Errno::ENOENT);
        }
        let st = source::stat_at(pfd.as_fd(), &cname).map_err(errno)?;
        if st.st_dev != self.root_dev {
            return Err(Errno::ENOENT);
        }
        let dir_path = self.nodes.path(parent).ok_or(Errno::ESTALE)?;
        let e = Listed {
            plain: name.into(),
            cname: cname.into(),
            st,
            name_iv,
        };
        Ok(self.found(parent, &dir_path, &e, pfd.as_fd()))
    }

    fn forget(&self, id: u64, n: u64) {
        self.nodes.forget(id, n);
    }

    /// `getattr`: the current attributes of node `id`.
    fn getattr(&self, id: u64) -> Result<FileAttr, Errno> {
        let (node, st) = self.nodes.stat(id)?;
        if id == ROOT_ID {
            let mut attr = self.attr(id, &st, st.st_size as u64);
            attr.ino = INodeNo(st.st_ino);
            return Ok(attr);
        }
        let pfd = self.nodes.dir_fd(node.parent)?;
        Ok(self.attr(id, &st, self.shown_size(&st, pfd.as_fd(), node.disk_name())))
    }

    /// `readlink`: the decrypted target (format §6.8).
    fn readlink(&self, id: u64) -> Result<Vec<u8>, Errno> {
        let node = self.nodes.node(id)?;
        if node.kind != SFlag::S_IFLNK {
            return Err(Errno::EINVAL);
        }
        let pfd = self.nodes.dir_fd(node.parent)?;
        let target = source::read_link_at(pfd.as_fd(), node.disk_name()).map_err(errno)?;
        self.vol.decode_link(&target).map_err(|e| {
            self.report_broken(id, &format!("link target: {e}"));
            Errno::EIO
        })
    }

    /// `open` (read-only): returns a handle number. A file that does not
    /// decrypt (bad header or size) fails with EIO.
    fn open(&self, id: u64) -> Result<u64, Errno> {
        let (node, file, _) = self.nodes.open_file(id)?;
        let external_iv = self.vol.external_iv(node.name_iv);
        let f = OpenFile::new(file, id, &self.vol, external_iv).map_err(|e| self.failed(id, e))?;
        Ok(self.files.insert(f))
    }

    fn release(&self, fh: u64) {
        self.files.remove(fh);
    }

    /// `read`: `size` bytes of plaintext at `offset`. A file that does not
    /// decrypt gives EIO (and one log line), never wrong bytes.
    fn read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        reply: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Errno> {
        let f = self.files.get(fh).ok_or(Errno::EBADF)?;
        let data = f
            .read(&self.vol, offset, size as usize)
            .map_err(|e| self.failed(f.id, e))?;
        reply(&data);
        Ok(())
    }

    /// `opendir`: snapshots the directory, decoding every name; returns a
    /// handle number.
    fn opendir(&self, id: u64) -> Result<u64, Errno> {
        Ok(self.dirs.insert(self.snapshot(id)?))
    }

    fn readdir(&self, fh: u64, offset: u64, add: AddEntry<'_>) -> Result<(), Errno> {
        let listing = self.dirs.get(fh).ok_or(Errno::EBADF)?;
        let dir_path = self.nodes.path(listing.dir).ok_or(Errno::ESTALE)?;
        listing.readdir(offset, add, |e| {
            let ino = self.entry_id(&e.st, &dir_path, &e.plain);
            Ok((ino, file_type(kind_of(&e.st)), &e.plain))
        })
    }

    /// `readdirplus`: like [`ForwardTree::readdir`] with attributes; every
    /// entry handed to `add` counts as a kernel lookup unless `add` says the
    /// buffer was full.
    fn readdirplus(&self, fh: u64, offset: u64, add: AddEntryPlus<'_>) -> Result<(), Errno> {
        let listing = self.dirs.get(fh).ok_or(Errno::EBADF)?;
        let dir_path = self.nodes.path(listing.dir).ok_or(Errno::ESTALE)?;
        let dfd = self.nodes.dir_fd(listing.dir)?;
        listing.readdirplus(
            offset,
            add,
            |e| Some((&e.plain, self.found(listing.dir, &dir_path, e, dfd.as_fd()))),
            |_, attr| self.forget(attr.ino.0, 1),
        )
    }

    fn releasedir(&self, fh: u64) {
        self.dirs.remove(fh);
    }

    /// `statfs` of the cipher directory's file system.
    fn statfs(&self) -> Result<Statvfs, Errno> {
        statfs_of(self.root_fd.as_fd())
    }
}
