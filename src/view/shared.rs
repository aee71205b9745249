//! Small pieces both views use: attribute conversions, the statfs figures
//! and reply, kernel tuning.

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo, InitFlags, KernelConfig, ReplyStatfs};
use nix::sys::stat::{FileStat, SFlag};
use nix::sys::statvfs::{Statvfs, fstatvfs};

use crate::view::source::kind_of;

/// The errno for a source I/O error; EIO for one without an errno (fuser
/// would turn that into 0, a success).
pub fn errno(e: io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_i32)
}

/// A `stat` time (seconds and nanoseconds, possibly before 1970).
pub fn time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

/// The FUSE file type of `S_IFMT` bits.
pub fn file_type(kind: SFlag) -> FileType {
    match kind {
        SFlag::S_IFDIR => FileType::Directory,
        SFlag::S_IFLNK => FileType::Symlink,
        SFlag::S_IFIFO => FileType::NamedPipe,
        SFlag::S_IFCHR => FileType::CharDevice,
        SFlag::S_IFBLK => FileType::BlockDevice,
        SFlag::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

/// `parent/name` as a relative path (`name` alone at the root).
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        name.to_vec()
    } else {
        [parent, b"/", name].concat()
    }
}

/// `pread` until `buf` is full or end of file.
pub fn read_at_full(f: &File, buf: &mut [u8], mut offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                offset += k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Asks the kernel for large reads and readdirplus; tolerates kernels that
/// lack a capability.
///
/// Not `FUSE_CACHE_SYMLINKS`: the kernel keeps a cached target in the
/// inode's page cache, keyed by node id (= the source inode number), and
/// never drops it on attribute refresh. `rm link; ln -s new link` on ext4
/// reuses the freed inode number at once, so the view went on serving the
/// old target for as long as the kernel kept the inode (BackupPC missed the
/// change). Every `readlink` is answered from the source instead.
pub(crate) fn tune_kernel(config: &mut KernelConfig) {
    let _ = config.add_capabilities(
        InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_ASYNC_READ
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_MAX_PAGES,
    );
    let _ = config.set_max_readahead(1 << 20);
    let _ = config.set_max_background(64);
    let _ = config.set_congestion_threshold(48);
}

/// Answers `statfs` with the source file system's figures and the view's
/// longest name.
pub(crate) fn reply_statfs(reply: ReplyStatfs, s: Result<Statvfs, Errno>, name_max: usize) {
    match s {
        Ok(s) => reply.statfs(
            s.blocks(),
            s.blocks_free(),
            s.blocks_available(),
            s.files(),
            s.files_free(),
            s.block_size() as u32,
            name_max as u32,
            s.fragment_size() as u32,
        ),
        Err(e) => reply.error(e),
    }
}

/// `statfs` of the file system behind `fd`.
pub(crate) fn statfs_of(fd: BorrowedFd) -> Result<Statvfs, Errno> {
    fstatvfs(fd).map_err(|e| Errno::from_i32(e as i32))
}

/// The attributes a view shows for the source entry `st` as node `id`,
/// with the size and block count the view gives it. A regular file shown
/// under an id of its own (one name of a hard link given separate
/// contents) has one link.
pub(crate) fn entry_attr(id: u64, st: &FileStat, size: u64, blocks: u64) -> FileAttr {
    let kind = kind_of(st);
    let nlink = if id != st.st_ino && kind == SFlag::S_IFREG {
        1
    } else {
        st.st_nlink as u32
    };
    FileAttr {
        ino: INodeNo(id),
        size,
        blocks,
        atime: time(st.st_atime, st.st_atime_nsec),
        mtime: time(st.st_mtime, st.st_mtime_nsec),
        ctime: time(st.st_ctime, st.st_ctime_nsec),
        crtime: UNIX_EPOCH,
        kind: file_type(kind),
        perm: (st.st_mode & 0o7777) as u16,
        nlink,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}
