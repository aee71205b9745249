//! Per-mount tables: FUSE node ids and open handles.
//!
//! fuser 0.18 answers lookups with `attr.ino` as the node id, so a node id
//! is the inode number `stat` shows: the source's inode number (design §4),
//! or a synthetic one for virtual entries. The caller picks the id; the
//! table counts the kernel's lookups per id and keeps the latest data for
//! it (an entry may be renamed, or an inode number reused, while cached).
//!
//! Directory handles are a cache, not a copy of the kernel's: at most a
//! budget of them stay open (see `view::fdlimit`), the least recently used
//! are closed (CLOCK: one second chance for a handle used since the last
//! sweep), and an evicted one is re-opened by the same checked walk from
//! its nearest open ancestor that opened it first.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use fuser::Errno;
use nix::sys::stat::{FileStat, SFlag};

use crate::view::fdlimit;
use crate::view::shared::errno;
use crate::view::source::{self, kind_of};

/// The FUSE root node id.
pub const ROOT_ID: u64 = 1;

/// Node data that knows its place in the tree.
pub trait TreeNode {
    /// The parent's node id (the root's is itself).
    fn parent(&self) -> u64;
    /// The name in the parent (empty for the root).
    fn name(&self) -> &[u8];
}

/// What both views keep for a node: where its entry is on disk and what
/// the kernel was told about it.
pub struct DiskNode {
    /// The parent's node id (the root's is itself).
    pub parent: u64,
    /// The plaintext name (paths of these derive file IVs and name entries
    /// in messages).
    pub name: Box<[u8]>,
    /// The entry's name on disk when it is not `name` (a forward view's
    /// cipher name).
    pub cipher_name: Option<Box<[u8]>>,
    /// The entry's type (`S_IFMT` bits).
    pub kind: SFlag,
    /// Its inode number on disk.
    pub disk_ino: u64,
    /// The chain IV after this node's name: a directory's IV for the names
    /// in it, a file's external IV (format §6.2, §7.1).
    pub name_iv: u64,
    /// A directory's `O_PATH` handle while it is cached (the root's
    /// always).
    pub dirfd: DirFd,
    /// A regular file's plaintext size as last told to the kernel (a
    /// reverse view pins an opened file's size to it, see its `open`).
    pub shown_size: AtomicU64,
}

/// A directory node's cached `O_PATH` handle.
#[derive(Default)]
pub struct DirFd {
    fd: Mutex<Option<Arc<OwnedFd>>>,
    /// Used since the last eviction sweep passed it.
    used: AtomicBool,
}

impl DirFd {
    /// A handle that is never evicted (the root's).
    pub fn held(fd: Arc<OwnedFd>) -> Self {
        Self {
            fd: Mutex::new(Some(fd)),
            used: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<OwnedFd>>> {
        self.fd.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The handle if it is open; marks it used.
    fn get(&self) -> Option<Arc<OwnedFd>> {
        let fd = self.lock().clone();
        if fd.is_some() {
            self.used.store(true, Ordering::Relaxed);
        }
        fd
    }

    /// Stores `fd` unless another thread got there first; returns the
    /// handle in force and whether it is `fd`.
    fn set(&self, fd: Arc<OwnedFd>) -> (Arc<OwnedFd>, bool) {
        let mut g = self.lock();
        match &*g {
            Some(old) => (old.clone(), false),
            None => {
                *g = Some(fd.clone());
                (fd, true)
            }
        }
    }

    /// Closes the cached handle (requests that hold it keep it until they
    /// are done).
    fn evict(&self) {
        self.lock().take();
    }

    /// Whether a handle is cached.
    pub fn is_open(&self) -> bool {
        self.lock().is_some()
    }
}

impl DiskNode {
    /// The root node: the view's top directory, opened as `fd`.
    pub fn root(disk_ino: u64, fd: Arc<OwnedFd>) -> Self {
        Self {
            parent: ROOT_ID,
            name: Box::new([]),
            cipher_name: None,
            kind: SFlag::S_IFDIR,
            disk_ino,
            name_iv: 0,
            dirfd: DirFd::held(fd),
            shown_size: AtomicU64::new(0),
        }
    }

    /// The entry's name in its directory on disk.
    pub fn disk_name(&self) -> &[u8] {
        self.cipher_name.as_deref().unwrap_or(&self.name)
    }
}

impl TreeNode for DiskNode {
    fn parent(&self) -> u64 {
        self.parent
    }
    fn name(&self) -> &[u8] {
        &self.name
    }
}

struct Slot<T> {
    lookups: u64,
    node: Arc<T>,
}

/// Node id -> node data, with kernel lookup counts.
pub struct NodeTable<T> {
    slots: Mutex<HashMap<u64, Slot<T>>>,
    /// The nodes whose directory handle was cached, oldest first (some
    /// since evicted or dropped); at most `dir_budget` long.
    open_dirs: Mutex<VecDeque<Weak<T>>>,
    dir_budget: usize,
}

impl<T: TreeNode> NodeTable<T> {
    /// A table holding only the root, caching as many directory handles
    /// as the open-file limit allows (`fdlimit::dir_fd_budget`).
    pub fn new(root: T) -> Self {
        Self::with_dir_budget(root, fdlimit::dir_fd_budget())
    }

    /// A table holding only the root that caches at most `dir_budget`
    /// directory handles besides the root's.
    pub fn with_dir_budget(root: T, dir_budget: usize) -> Self {
        let mut slots = HashMap::new();
        slots.insert(
            ROOT_ID,
            Slot {
                lookups: 1,
                node: Arc::new(root),
            },
        );
        Self {
            slots: Mutex::new(slots),
            open_dirs: Mutex::new(VecDeque::new()),
            dir_budget: dir_budget.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Slot<T>>> {
        // A panic elsewhere must not take the whole mount down.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node with this id.
    pub fn get(&self, id: u64) -> Option<Arc<T>> {
        self.lock().get(&id).map(|s| s.node.clone())
    }

    /// Records one kernel lookup of `id`. The existing data is kept when
    /// `same` says it still describes the entry; otherwise `make` replaces
    /// it (the lookup count carries on: it belongs to the id).
    pub fn lookup(
        &self,
        id: u64,
        same: impl FnOnce(&T) -> bool,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut g = self.lock();
        match g.get_mut(&id) {
            Some(slot) => {
                slot.lookups += 1;
                if !same(&slot.node) {
                    slot.node = Arc::new(make());
                }
                slot.node.clone()
            }
            None => {
                let node = Arc::new(make());
                g.insert(
                    id,
                    Slot {
                        lookups: 1,
                        node: node.clone(),
                    },
                );
                node
            }
        }
    }

    /// The kernel dropped `n` lookups of `id`.
    pub fn forget(&self, id: u64, n: u64) {
        if id == ROOT_ID {
            return;
        }
        let mut g = self.lock();
        if let Some(slot) = g.get_mut(&id) {
            slot.lookups = slot.lookups.saturating_sub(n);
            if slot.lookups == 0 {
                g.remove(&id);
            }
        }
    }

    /// The path of `id` from the root, names joined by `/` (empty for the
    /// root). `None` if a node on the way is gone.
    pub fn path(&self, id: u64) -> Option<Vec<u8>> {
        let g = self.lock();
        let mut parts = Vec::new();
        let mut cur = id;
        // Bounded, in case a renamed directory made a cycle.
        for _ in 0..4096 {
            if cur == ROOT_ID {
                parts.reverse();
                return Some(parts.join(&b'/'));
            }
            let node = &g.get(&cur)?.node;
            parts.push(node.name().to_vec());
            cur = node.parent();
        }
        None
    }

    /// Number of live nodes (the root included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether only the root is left.
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }
}

impl NodeTable<DiskNode> {
    /// The node `id`; ESTALE when the kernel names one the view forgot.
    pub fn node(&self, id: u64) -> Result<Arc<DiskNode>, Errno> {
        self.get(id).ok_or(Errno::ESTALE)
    }

    /// An `O_PATH` handle to the directory behind node `id`, opened from
    /// its parent's handle by name without following links, and checked to
    /// be the same object the node describes (design §4). An evicted
    /// parent is re-opened the same way, up to the nearest cached ancestor.
    pub fn dir_fd(&self, id: u64) -> Result<Arc<OwnedFd>, Errno> {
        let node = self.get(id).ok_or(Errno::ESTALE)?;
        if node.kind != SFlag::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if let Some(fd) = node.dirfd.get() {
            return Ok(fd);
        }
        let pfd = self.dir_fd(node.parent)?;
        let st = source::stat_at(pfd.as_fd(), node.disk_name()).map_err(errno)?;
        if st.st_ino != node.disk_ino || kind_of(&st) != SFlag::S_IFDIR {
            return Err(Errno::ESTALE);
        }
        let fd = Arc::new(source::open_dir_at(pfd.as_fd(), node.disk_name(), &st).map_err(errno)?);
        let (fd, fresh) = node.dirfd.set(fd);
        if fresh {
            self.cache_dir(&node);
        }
        Ok(fd)
    }

    /// Node `id` and the current `lstat` of its entry, checked to be the
    /// object the node was found as (ESTALE if it was replaced).
    pub fn stat(&self, id: u64) -> Result<(Arc<DiskNode>, FileStat), Errno> {
        let node = self.node(id)?;
        if id == ROOT_ID {
            let st = source::stat_fd(self.dir_fd(ROOT_ID)?.as_fd()).map_err(errno)?;
            return Ok((node, st));
        }
        let pfd = self.dir_fd(node.parent)?;
        let st = source::stat_at(pfd.as_fd(), node.disk_name()).map_err(errno)?;
        if st.st_ino != node.disk_ino || kind_of(&st) != node.kind {
            return Err(Errno::ESTALE);
        }
        Ok((node, st))
    }

    /// Opens the regular file of node `id` for reading, checked to be the
    /// object the node was found as; returns the node, the file and its
    /// `fstat`. A directory is EISDIR, any other entry EACCES (design §4).
    pub fn open_file(&self, id: u64) -> Result<(Arc<DiskNode>, File, FileStat), Errno> {
        let node = self.node(id)?;
        match node.kind {
            SFlag::S_IFREG => {}
            SFlag::S_IFDIR => return Err(Errno::EISDIR),
            _ => return Err(Errno::EACCES),
        }
        let pfd = self.dir_fd(node.parent)?;
        let file = source::open_file_at(pfd.as_fd(), node.disk_name()).map_err(errno)?;
        let st = source::stat_fd(file.as_fd()).map_err(errno)?;
        if st.st_ino != node.disk_ino {
            return Err(Errno::ESTALE);
        }
        Ok((node, file, st))
    }

    /// Notes that `node` now caches a handle, and evicts the least recently
    /// used handles beyond the budget.
    fn cache_dir(&self, node: &Arc<DiskNode>) {
        let mut ring = self.open_dirs.lock().unwrap_or_else(|p| p.into_inner());
        ring.push_back(Arc::downgrade(node));
        // Each pass clears the `used` marks it skips, so two passes at most.
        let mut budget = 2 * ring.len();
        while ring.len() > self.dir_budget && budget > 0 {
            budget -= 1;
            let Some(weak) = ring.pop_front() else { break };
            let Some(n) = weak.upgrade() else { continue };
            if n.dirfd.used.swap(false, Ordering::Relaxed) {
                ring.push_back(weak);
            } else {
                n.dirfd.evict();
            }
        }
    }

    /// Directory handles cached now (the root's not counted).
    pub fn cached_dir_fds(&self) -> usize {
        let ring = self.open_dirs.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter()
            .filter_map(Weak::upgrade)
            .filter(|n| n.dirfd.is_open())
            .count()
    }
}

/// Open file or directory handles.
pub struct Handles<T> {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<T>>>,
}

impl<T> Default for Handles<T> {
    fn default() -> Self {
        Self {
            next: AtomicU64::new(1),
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Handles<T> {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<T>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a handle and returns its number.
    pub fn insert(&self, value: T) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(fh, Arc::new(value));
        fh
    }

    /// The handle `fh`.
    pub fn get(&self, fh: u64) -> Option<Arc<T>> {
        self.lock().get(&fh).cloned()
    }

    /// Drops the handle `fh`.
    pub fn remove(&self, fh: u64) {
        self.lock().remove(&fh);
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no handle is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct N(u64, Vec<u8>, u32);
    impl TreeNode for N {
        fn parent(&self) -> u64 {
            self.0
        }
        fn name(&self) -> &[u8] {
            &self.1
        }
    }

    #[test]
    fn lookups_count_per_id_and_data_follows_the_entry() {
        let t = NodeTable::new(N(ROOT_ID, vec![], 0));
        let a = t.lookup(100, |_| true, || N(ROOT_ID, b"a".to_vec(), 1));
        assert_eq!(a.2, 1);
        let b = t.lookup(200, |_| true, || N(100, b"b".to_vec(), 1));
        assert_eq!(b.1, b"b");
        assert_eq!(t.path(200).unwrap(), b"a/b");
        assert_eq!(t.path(ROOT_ID).unwrap(), b"");
        // the same inode under a new name (rename): data replaced, count kept
        let a2 = t.lookup(100, |n| n.1 == b"a2", || N(ROOT_ID, b"a2".to_vec(), 1));
        assert_eq!(a2.1, b"a2");
        assert_eq!(t.path(200).unwrap(), b"a2/b");
        t.forget(100, 1);
        assert!(t.get(100).is_some());
        t.forget(100, 1);
        assert!(t.get(100).is_none());
        assert!(
            t.path(200).is_none(),
            "a node whose parent is gone has no path"
        );
        t.forget(ROOT_ID, 100);
        assert!(t.get(ROOT_ID).is_some());
    }

    fn dir_node(parent: u64, name: &str, st: &nix::sys::stat::FileStat) -> DiskNode {
        DiskNode {
            parent,
            name: name.as_bytes().into(),
            cipher_name: None,
            kind: SFlag::S_IFDIR,
            disk_ino: st.st_ino,
            name_iv: 0,
            dirfd: DirFd::default(),
            shown_size: AtomicU64::new(0),
        }
    }

    #[test]
    fn directory_handles_are_bounded_and_reopened_with_the_same_checks() {
        let d = tempfile::tempdir().unwrap();
        let (fd, st) = source::open_root(d.path()).unwrap();
        let t = NodeTable::with_dir_budget(DiskNode::root(st.st_ino, Arc::new(fd)), 2);
        let mut ids = Vec::new();
        for i in 0..6 {
            let name = format!("d{i}");
            std::fs::create_dir(d.path().join(&name)).unwrap();
            let st = source::stat_at(t.dir_fd(ROOT_ID).unwrap().as_fd(), name.as_bytes()).unwrap();
            t.lookup(st.st_ino, |_| true, || dir_node(ROOT_ID, &name, &st));
            ids.push((st.st_ino, name));
        }
        for (id, _) in &ids {
            t.dir_fd(*id).unwrap();
            assert!(t.cached_dir_fds() <= 2);
        }
        // an evicted directory is re-opened, and checked: one replaced meanwhile is stale
        let (first, name) = &ids[0];
        assert!(!t.get(*first).unwrap().dirfd.is_open());
        t.dir_fd(*first).unwrap();
        let (second, name2) = &ids[1];
        assert!(!t.get(*second).unwrap().dirfd.is_open());
        std::fs::rename(d.path().join(name2), d.path().join("moved")).unwrap();
        std::fs::create_dir(d.path().join(name2)).unwrap();
        assert_eq!(t.dir_fd(*second).unwrap_err(), Errno::ESTALE);
        assert!(
            t.get(*first).unwrap().dirfd.is_open(),
            "{name} still cached"
        );
    }

    #[test]
    fn handles_count() {
        let h = Handles::default();
        let a = h.insert(5);
        let b = h.insert(6);
        assert_ne!(a, b);
        assert_eq!(*h.get(a).unwrap(), 5);
        h.remove(a);
        assert!(h.get(a).is_none());
        assert_eq!(h.len(), 1);
    }
}
