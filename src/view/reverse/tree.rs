//! The reverse view's logic (design §4), free of FUSE replies so it can be
//! tested and benchmarked directly: a plaintext source tree presented as
//! the cipher tree stock encfs would decrypt.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};
use nix::sys::stat::{FileStat, SFlag};
use nix::sys::statvfs::Statvfs;

use crate::excludes::Excludes;
use crate::view::error::ViewError;
use crate::view::fuse::{AddEntry, AddEntryPlus, ViewTree};
use crate::view::problems::ProblemLog;
use crate::view::shared::{entry_attr, errno, file_type, join, read_at_full, statfs_of};
use crate::view::source::{self, kind_of};
use crate::view::table::{DirFd, DiskNode, Handles, NodeTable, ROOT_ID};
use crate::volume::derive::file_iv_from_inode;
use crate::volume::{CipherOff, FileIv, Layout, PlainSize, Volume};

mod listing;
mod long;
use listing::{Listed, Listing};
use long::{LongLookup, ShortCache, SideNode};

/// The config's name at the view root (format §6.7).
pub const CONFIG_NAME: &[u8] = b".encfs6.xml";
/// Node id / inode number of the exposed config.
pub const CONFIG_INO: u64 = u64::MAX - 1;
thread_local! {
    /// Each FUSE thread reuses one read buffer (up to 1 MiB plus MAC
    /// headers) instead of allocating and faulting in a new one per read.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The volume config shown read-only at the view root.
#[derive(Clone, Debug)]
pub struct ExposedConfig {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its modification time.
    pub mtime: SystemTime,
}

/// Behaviour of one reverse view.
pub struct ReverseOptions {
    /// File IV derivation.
    pub file_iv: FileIv,
    /// Entries to hide.
    pub excludes: Excludes,
    /// The config to show at the root, if any.
    pub config: Option<ExposedConfig>,
}

struct OpenFile {
    /// The node it was opened as.
    id: u64,
    file: File,
    /// The plaintext size this handle serves, fixed at open (see
    /// [`ReverseTree::open`]).
    size: u64,
    file_iv: u64,
    header: [u8; 8],
}

/// The size pinned for a node while handles to it are open.
struct Pin {
    size: u64,
    handles: u32,
}

enum Handle {
    File(OpenFile),
    Config,
    /// A long name's side entry: its whole ciphertext.
    Side(Box<[u8]>),
}

/// A reverse view.
pub struct ReverseTree {
    vol: Volume,
    layout: Layout,
    src: PathBuf,
    root_fd: Arc<OwnedFd>,
    root_dev: u64,
    opts: ReverseOptions,
    nodes: NodeTable<DiskNode>,
    files: Handles<Handle>,
    dirs: Handles<Listing>,
    /// Node id -> the plaintext size its open handles serve.
    pins: Mutex<HashMap<u64, Pin>>,
    /// Names left out (a long name whose short name is taken, design §4).
    skipped: ProblemLog,
    /// Long names seen (each logged once).
    long_names: ProblemLog,
    /// Side entries of long names the kernel knows.
    sides: NodeTable<SideNode>,
    /// Full names of short names listed lately.
    short_cache: ShortCache,
}

impl ReverseTree {
    /// Opens the source `src` for a view of volume `vol`.
    pub fn new(vol: Volume, src: &Path, opts: ReverseOptions) -> Result<Self, ViewError> {
        let (fd, st) = source::open_root(src).map_err(|source| ViewError::Source {
            path: src.to_path_buf(),
            source,
        })?;
        let fd = Arc::new(fd);
        let root = DiskNode::root(st.st_ino, fd.clone());
        Ok(Self {
            layout: *vol.layout(),
            vol,
            src: src.to_path_buf(),
            root_fd: fd,
            root_dev: st.st_dev,
            opts,
            nodes: NodeTable::new(root),
            files: Handles::default(),
            dirs: Handles::default(),
            pins: Mutex::new(HashMap::new()),
            skipped: ProblemLog::default(),
            long_names: ProblemLog::default(),
            sides: NodeTable::new(SideNode::root()),
            short_cache: ShortCache::default(),
        })
    }

    /// Names left out so far.
    pub fn skipped(&self) -> &ProblemLog {
        &self.skipped
    }

    /// Open files and directories (for the idle timer).
    pub fn open_handles(&self) -> usize {
        self.files.len() + self.dirs.len()
    }

    /// The node id (= inode number shown) of an entry.
    fn entry_id(&self, st: &FileStat, rel: &[u8]) -> u64 {
        let paranoid_link = self.vol.params().external_iv_chaining
            && kind_of(st) == SFlag::S_IFREG
            && st.st_nlink > 1;
        if paranoid_link || st.st_ino == ROOT_ID || st.st_ino == CONFIG_INO || st.st_ino == 0 {
            self.vol.view_ino(rel)
        } else {
            st.st_ino
        }
    }

    /// The view's attributes of a source entry.
    fn attr(&self, id: u64, st: &FileStat, link_len: Option<u64>) -> FileAttr {
        let (size, blocks) = match kind_of(st) {
            SFlag::S_IFREG => {
                let c = self.layout.cipher_size(PlainSize(st.st_size as u64)).0;
                (c, c.div_ceil(512))
            }
            SFlag::S_IFLNK => (link_len.unwrap_or(st.st_size as u64), st.st_blocks as u64),
            _ => (st.st_size as u64, st.st_blocks as u64),
        };
        entry_attr(id, st, size, blocks)
    }

    fn config_attr(&self) -> Option<FileAttr> {
        let c = self.opts.config.as_ref()?;
        Some(FileAttr {
            ino: INodeNo(CONFIG_INO),
            size: c.bytes.len() as u64,
            blocks: (c.bytes.len() as u64).div_ceil(512),
            atime: c.mtime,
            mtime: c.mtime,
            ctime: c.mtime,
            crtime: UNIX_EPOCH,
            kind: FileType::RegularFile,
            perm: 0o444,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    /// The encrypted length of a symlink's target.
    fn link_len(&self, dir: BorrowedFd, name: &[u8]) -> Result<u64, Errno> {
        let target = source::read_link_at(dir, name).map_err(errno)?;
        Ok(self.vol.encode_link(&target).len() as u64)
    }

    /// Whether a source entry is hidden from the view.
    pub(super) fn is_hidden(&self, parent: u64, plain: &[u8], st: &FileStat, rel: &[u8]) -> bool {
        st.st_dev != self.root_dev
            || (parent == ROOT_ID && plain == CONFIG_NAME)
            || self
                .opts
                .excludes
                .is_excluded(rel, kind_of(st) == SFlag::S_IFDIR)
    }

    /// Records a kernel lookup of a visible entry and returns its attributes.
    fn found(
        &self,
        parent: u64,
        plain: &[u8],
        name_iv: u64,
        st: &FileStat,
        rel: &[u8],
        dir: BorrowedFd,
    ) -> Result<FileAttr, Errno> {
        let id = self.entry_id(st, rel);
        let kind = kind_of(st);
        let link_len = if kind == SFlag::S_IFLNK {
            Some(self.link_len(dir, plain)?)
        } else {
            None
        };
        // The chain IV too: when a directory above was renamed, the same
        // parent id and name sit under another path and need another IV.
        let node = self.nodes.lookup(
            id,
            |n| {
                n.parent == parent
                    && *n.name == *plain
                    && n.kind == kind
                    && n.disk_ino == st.st_ino
                    && n.name_iv == name_iv
            },
            || DiskNode {
                parent,
                name: plain.into(),
                cipher_name: None,
                kind,
                disk_ino: st.st_ino,
                name_iv,
                dirfd: DirFd::default(),
                shown_size: AtomicU64::new(0),
            },
        );
        let st = self.shown(id, &node, st);
        Ok(self.attr(id, &st, link_len))
    }

    fn pins(&self) -> MutexGuard<'_, HashMap<u64, Pin>> {
        self.pins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `st` as the kernel is told it: a regular file with open handles has
    /// their pinned size, so that `fstat` after `open` agrees with what
    /// reads serve. Records the size told.
    fn shown(&self, id: u64, node: &DiskNode, st: &FileStat) -> FileStat {
        let mut st = *st;
        if kind_of(&st) == SFlag::S_IFREG {
            if let Some(pin) = self.pins().get(&id) {
                st.st_size = pin.size as i64;
            }
            node.shown_size.store(st.st_size as u64, Ordering::Relaxed);
        }
        st
    }

    /// The per-file IV for a regular file (design §3, format §7.1).
    fn file_iv(&self, id: u64, st: &FileStat) -> Result<u64, Errno> {
        if !self.layout.has_header() {
            return Ok(0);
        }
        let by_inode = self.opts.file_iv == FileIv::Inode
            || (st.st_nlink > 1 && !self.vol.params().external_iv_chaining);
        if by_inode {
            return Ok(file_iv_from_inode(st.st_ino));
        }
        let path = self.nodes.path(id).ok_or(Errno::ESTALE)?;
        Ok(self.vol.file_iv_from_path(&path))
    }

    /// Encrypts the blocks a read needs into `buf`, behind the header bytes
    /// it needs; returns the part of `buf` to answer with.
    fn read_file(
        &self,
        f: &OpenFile,
        offset: u64,
        size: usize,
        buf: &mut Vec<u8>,
    ) -> Result<Range<usize>, Errno> {
        let plan = self
            .layout
            .plan_read(CipherOff(offset), size, PlainSize(f.size));
        let hdr = plan.header.len();
        let plain_len = (plan.plain.end - plan.plain.start) as usize;
        let cipher_len = self.layout.blocks_cipher_len(plain_len as u64) as usize;
        buf.clear();
        buf.resize(hdr + cipher_len, 0);
        buf[..hdr].copy_from_slice(&f.header[plan.header.clone()]);
        if plan.blocks.is_empty() {
            return Ok(0..hdr);
        }
        let blocks = &mut buf[hdr..];
        let got =
            read_at_full(&f.file, &mut blocks[..plain_len], plan.plain.start).map_err(errno)?;
        if got < plain_len {
            // Shrunk below the size this handle serves: a short block would
            // not be the one the size promised (its MAC, its length).
            return Err(Errno::EIO);
        }
        let cipher_len = self
            .vol
            .reverse_encrypt_in_place(f.file_iv, plan.blocks.start, blocks, got)
            .map_err(|_| Errno::EIO)?;
        // Header bytes are only wanted by reads from block 0, which skip
        // nothing: what to answer is one contiguous run.
        debug_assert!(hdr == 0 || plan.skip == 0);
        let start = hdr + plan.skip.min(cipher_len);
        let end = (hdr + plan.skip + (plan.len - hdr)).min(hdr + cipher_len);
        Ok(if hdr > 0 { 0..end } else { start..end })
    }

    /// The source directory.
    pub fn source_path(&self) -> &Path {
        &self.src
    }

    /// Live nodes (for tests and status).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

impl ViewTree for ReverseTree {
    /// `lookup`: the entry with encrypted name `name` in directory `parent`.
    fn lookup(&self, parent: u64, name: &[u8]) -> Result<FileAttr, Errno> {
        if parent == ROOT_ID && name == CONFIG_NAME {
            return self.config_attr().ok_or(Errno::ENOENT);
        }
        let pnode = self.nodes.node(parent)?;
        let (plain, name_iv) = self
            .vol
            .decode_name(name, pnode.name_iv)
            .map_err(|_| Errno::ENOENT)?;
        let pfd = self.nodes.dir_fd(parent)?;
        let dir_path = self.nodes.path(parent).ok_or(Errno::ESTALE)?;
        let (plain, st) = match source::stat_at(pfd.as_fd(), &plain) {
            Ok(st) => (plain, st),
            // No such source entry: maybe a long name's short or side name.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match self.find_long(parent, pfd.as_fd(), &dir_path, &plain)? {
                    LongLookup::Short { full, st } => (full, st),
                    LongLookup::Side { full, st } => {
                        let rel = join(&dir_path, &full);
                        if self.is_hidden(parent, &full, &st, &rel) {
                            return Err(Errno::ENOENT);
                        }
                        return self.side_found(parent, &dir_path, &full, name_iv, &st);
                    }
                }
            }
            Err(e) => return Err(errno(e)),
        };
        let rel = join(&dir_path, &plain);
        if self.is_hidden(parent, &plain, &st, &rel) {
            return Err(Errno::ENOENT);
        }
        self.found(parent, &plain, name_iv, &st, &rel, pfd.as_fd())
    }

    fn forget(&self, id: u64, n: u64) {
        self.nodes.forget(id, n);
        self.sides.forget(id, n);
    }

    /// `getattr`.
    fn getattr(&self, id: u64) -> Result<FileAttr, Errno> {
        if id == CONFIG_INO {
            return self.config_attr().ok_or(Errno::ENOENT);
        }
        if let Some(attr) = self.side_getattr(id) {
            return attr;
        }
        let (node, st) = self.nodes.stat(id)?;
        let link_len = if node.kind == SFlag::S_IFLNK {
            Some(self.link_len(self.nodes.dir_fd(node.parent)?.as_fd(), &node.name)?)
        } else {
            None
        };
        let st = self.shown(id, &node, &st);
        let mut attr = self.attr(id, &st, link_len);
        if id == ROOT_ID {
            attr.ino = INodeNo(st.st_ino);
        }
        Ok(attr)
    }

    /// `readlink`: the encrypted target (format §6.8).
    fn readlink(&self, id: u64) -> Result<Vec<u8>, Errno> {
        let node = self.nodes.node(id)?;
        if node.kind != SFlag::S_IFLNK {
            return Err(Errno::EINVAL);
        }
        let pfd = self.nodes.dir_fd(node.parent)?;
        let target = source::read_link_at(pfd.as_fd(), &node.name).map_err(errno)?;
        Ok(self.vol.encode_link(&target))
    }

    /// `open` (read-only): returns a handle number.
    ///
    /// The handle serves a size fixed now (README, "files that change
    /// during a pull"): the size the kernel was last told (it may answer
    /// `fstat` from its cache), or the file's size if it shrank below that;
    /// while handles are open, every stat of the node answers that size and
    /// the last block is encrypted from exactly the bytes up to it, so a
    /// copy is a prefix of the file as it was and its MACs hold. A file
    /// that shrinks below it reads EIO, which the reader reports.
    fn open(&self, id: u64) -> Result<u64, Errno> {
        if id == CONFIG_INO {
            self.opts.config.as_ref().ok_or(Errno::ENOENT)?;
            return Ok(self.files.insert(Handle::Config));
        }
        if let Some(fh) = self.side_open(id) {
            return fh;
        }
        let (node, file, st) = self.nodes.open_file(id)?;
        let file_iv = self.file_iv(id, &st)?;
        let header = self
            .vol
            .encode_header(file_iv, self.vol.external_iv(node.name_iv));
        let now = st.st_size as u64;
        let size = {
            let mut pins = self.pins();
            let pin = pins.entry(id).or_insert_with(|| Pin {
                size: now.min(node.shown_size.load(Ordering::Relaxed)),
                handles: 0,
            });
            pin.handles += 1;
            pin.size
        };
        Ok(self.files.insert(Handle::File(OpenFile {
            id,
            file,
            size,
            file_iv,
            header,
        })))
    }

    fn release(&self, fh: u64) {
        if let Some(h) = self.files.get(fh)
            && let Handle::File(f) = &*h
        {
            let mut pins = self.pins();
            if let Some(pin) = pins.get_mut(&f.id) {
                pin.handles -= 1;
                if pin.handles == 0 {
                    pins.remove(&f.id);
                }
            }
        }
        self.files.remove(fh);
    }

    /// `read`: hands `size` bytes of ciphertext at `offset` to `reply`.
    fn read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        reply: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Errno> {
        let h = self.files.get(fh).ok_or(Errno::EBADF)?;
        match &*h {
            Handle::Config | Handle::Side(_) => {
                let bytes = match &*h {
                    Handle::Side(bytes) => bytes,
                    _ => &self.opts.config.as_ref().ok_or(Errno::EBADF)?.bytes[..],
                };
                let start = (offset as usize).min(bytes.len());
                let end = start.saturating_add(size as usize).min(bytes.len());
                reply(&bytes[start..end]);
                Ok(())
            }
            Handle::File(f) => READ_BUF.with_borrow_mut(|buf| {
                let range = self.read_file(f, offset, size as usize, buf)?;
                reply(&buf[range]);
                Ok(())
            }),
        }
    }

    /// `opendir`: snapshots the directory; returns a handle number.
    fn opendir(&self, id: u64) -> Result<u64, Errno> {
        Ok(self.dirs.insert(self.snapshot(id)?))
    }

    fn readdir(&self, fh: u64, offset: u64, add: AddEntry<'_>) -> Result<(), Errno> {
        let listing = self.dirs.get(fh).ok_or(Errno::EBADF)?;
        let dir_path = self.nodes.path(listing.dir).ok_or(Errno::ESTALE)?;
        listing.readdir(offset, add, |e| {
            let (ino, kind) = match &e.st {
                Some(_) if e.side => (
                    self.side_id_of(&dir_path, &e.plain).ok_or(Errno::EIO)?,
                    FileType::RegularFile,
                ),
                Some(st) => (
                    self.entry_id(st, &join(&dir_path, &e.plain)),
                    file_type(kind_of(st)),
                ),
                None => (CONFIG_INO, FileType::RegularFile),
            };
            Ok((ino, kind, &e.name))
        })
    }

    /// `readdirplus`: like [`ReverseTree::readdir`] with attributes; every
    /// entry handed to `add` counts as a kernel lookup unless `add` says the
    /// buffer was full.
    fn readdirplus(&self, fh: u64, offset: u64, add: AddEntryPlus<'_>) -> Result<(), Errno> {
        let listing = self.dirs.get(fh).ok_or(Errno::EBADF)?;
        let dir = listing.dir;
        let dir_path = self.nodes.path(dir).ok_or(Errno::ESTALE)?;
        let dfd = self.nodes.dir_fd(dir)?;
        // An entry that fails here vanished since opendir (a symlink that
        // cannot be read, a side entry whose long entry went): left out.
        let found = |e: &Listed| match &e.st {
            Some(st) if e.side => self
                .side_found(dir, &dir_path, &e.plain, e.name_iv, st)
                .ok(),
            Some(st) => {
                let rel = join(&dir_path, &e.plain);
                self.found(dir, &e.plain, e.name_iv, st, &rel, dfd.as_fd())
                    .ok()
            }
            None => self.config_attr(),
        };
        listing.readdirplus(
            offset,
            add,
            |e| Some((&e.name, found(e)?)),
            // The exposed config is no node.
            |e, attr| {
                if e.st.is_some() {
                    self.forget(attr.ino.0, 1);
                }
            },
        )
    }

    fn releasedir(&self, fh: u64) {
        self.dirs.remove(fh);
    }

    /// `statfs` of the source file system.
    fn statfs(&self) -> Result<Statvfs, Errno> {
        statfs_of(self.root_fd.as_fd())
    }
}
