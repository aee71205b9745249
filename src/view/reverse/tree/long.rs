//! Long names in the reverse view (`volume::names::long`, design §4): a
//! source entry whose encrypted name would pass 255 bytes is shown under
//! its short name, and beside it a virtual regular file, its side entry,
//! whose plaintext is the full name.
//!
//! The long entry itself is an ordinary node (its name on disk is the full
//! name; its chain IV is the short name's). Side entries live in a table of
//! their own; their ids are synthetic (`Volume::view_ino` of their path).
//! A real source entry that has the short or the side name wins: the long
//! entry is then left out and reported.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use fuser::{Errno, FileAttr, FileType, INodeNo};
use nix::sys::stat::FileStat;

use super::{Handle, ReverseTree};
use crate::log;
use crate::view::shared::{errno, join, time};
use crate::view::source;
use crate::view::table::{ROOT_ID, TreeNode};
use crate::volume::names::long::{self, LongName};
use crate::volume::{PlainSize, Volume};

/// A side entry the kernel knows.
pub(super) struct SideNode {
    /// The directory it is in.
    parent: u64,
    /// The long entry's name on disk (the full name it holds).
    full: Box<[u8]>,
    /// The side entry's plaintext name in the view.
    side: Box<[u8]>,
    /// The long entry's inode number, to notice a replaced entry.
    disk_ino: u64,
    /// The chain IV after the side name (its external IV, format §7.1).
    name_iv: u64,
}

impl SideNode {
    /// The table's placeholder root (side entries are never directories).
    pub(super) fn root() -> Self {
        Self {
            parent: ROOT_ID,
            full: Box::new([]),
            side: Box::new([]),
            disk_ino: 0,
            name_iv: 0,
        }
    }
}

impl TreeNode for SideNode {
    fn parent(&self) -> u64 {
        self.parent
    }
    fn name(&self) -> &[u8] {
        &self.side
    }
}

/// What a name decoded in a lookup stands for, when no source entry has it.
pub(super) enum LongLookup {
    /// The short name of the long entry `full`.
    Short { full: Vec<u8>, st: FileStat },
    /// The side entry of the long entry `full`.
    Side { full: Vec<u8>, st: FileStat },
}

impl ReverseTree {
    /// Notes, once per entry, how a long name is shown; `None` (and a
    /// warning) when a real entry has its short or side name.
    pub(super) fn show_long(
        &self,
        rel: &[u8],
        full: &[u8],
        taken: impl Fn(&[u8]) -> bool,
    ) -> Option<LongName> {
        let ln = self.vol.long_name(full)?;
        let clash = [&ln.short, &ln.side].into_iter().find(|n| taken(n));
        if self.long_names.first(rel) {
            let shown = String::from_utf8_lossy(&ln.short);
            match clash {
                Some(n) => log::warn(&format!(
                    "view of {}: left out {}: its name is too long for EncFS and the \
                     name it would be stored under, {}, is taken by another entry",
                    self.src.display(),
                    String::from_utf8_lossy(rel),
                    String::from_utf8_lossy(n)
                )),
                None => log::info(&format!(
                    "view of {}: {} is too long for EncFS names; stored as {shown} \
                     with its full name in {shown}{}",
                    self.src.display(),
                    String::from_utf8_lossy(rel),
                    String::from_utf8_lossy(long::SIDE_SUFFIX)
                )),
            }
        }
        if clash.is_some() {
            self.skipped.first(rel);
            return None;
        }
        Some(ln)
    }

    /// Resolves a decoded name that no source entry has: the short or side
    /// name of a long entry in `dir` (`dir_path`), if one matches.
    pub(super) fn find_long(
        &self,
        dir: BorrowedFd,
        dir_path: &[u8],
        plain: &[u8],
    ) -> Result<LongLookup, Errno> {
        let (short, is_side) = match long::side_target(plain) {
            Some(short) => (short, true),
            None if long::is_short(plain) => (plain, false),
            None => return Err(Errno::ENOENT),
        };
        let prefix = &short[..short.len() - 1 - long::TAG_CHARS];
        let names = source::list_dir(dir).map_err(errno)?;
        let full = names
            .into_iter()
            .map(|e| e.name)
            .find(|n| n.starts_with(prefix) && self.vol.is_short_name_of(short, n))
            .ok_or(Errno::ENOENT)?;
        let st = source::stat_at(dir, &full).map_err(errno)?;
        let rel = join(dir_path, &full);
        let exists = |n: &[u8]| !matches!(source::stat_at(dir, n), Err(e) if e.kind() == io::ErrorKind::NotFound);
        self.show_long(&rel, &full, exists).ok_or(Errno::ENOENT)?;
        Ok(if is_side {
            LongLookup::Side { full, st }
        } else {
            LongLookup::Short { full, st }
        })
    }

    /// Records a kernel lookup of the side entry of `full` in `parent`.
    pub(super) fn side_found(
        &self,
        parent: u64,
        dir_path: &[u8],
        full: &[u8],
        name_iv: u64,
        st: &FileStat,
    ) -> Result<FileAttr, Errno> {
        let ln = self.vol.long_name(full).ok_or(Errno::ENOENT)?;
        let id = side_id(&self.vol, dir_path, &ln.side);
        self.sides.lookup(
            id,
            |n| {
                n.parent == parent
                    && *n.full == *full
                    && n.disk_ino == st.st_ino
                    && n.name_iv == name_iv
            },
            || SideNode {
                parent,
                full: full.into(),
                side: ln.side.clone().into(),
                disk_ino: st.st_ino,
                name_iv,
            },
        );
        Ok(self.side_attr(id, full, st))
    }

    /// The inode number of the side entry of `full` in `dir_path`.
    pub(super) fn side_id_of(&self, dir_path: &[u8], full: &[u8]) -> Option<u64> {
        let ln = self.vol.long_name(full)?;
        Some(side_id(&self.vol, dir_path, &ln.side))
    }

    /// The attributes of a side entry: a read-only regular file with the
    /// long entry's owner and times.
    fn side_attr(&self, id: u64, full: &[u8], st: &FileStat) -> FileAttr {
        let size = self.layout.cipher_size(PlainSize(full.len() as u64)).0;
        FileAttr {
            ino: INodeNo(id),
            size,
            blocks: size.div_ceil(512),
            atime: time(st.st_atime, st.st_atime_nsec),
            mtime: time(st.st_mtime, st.st_mtime_nsec),
            ctime: time(st.st_ctime, st.st_ctime_nsec),
            crtime: UNIX_EPOCH,
            kind: FileType::RegularFile,
            perm: (st.st_mode & 0o444) as u16 | 0o400,
            nlink: 1,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// The side entry `id`, if it is one, with its long entry's current
    /// stat.
    fn side_stat(&self, id: u64) -> Option<Result<(Arc<SideNode>, FileStat), Errno>> {
        if id == ROOT_ID {
            return None; // the placeholder
        }
        let side = self.sides.get(id)?;
        Some((|| {
            let pfd = self.nodes.dir_fd(side.parent)?;
            let st = source::stat_at(pfd.as_fd(), &side.full).map_err(errno)?;
            if st.st_ino != side.disk_ino {
                return Err(Errno::ESTALE);
            }
            Ok((side, st))
        })())
    }

    /// `getattr` of a side entry; `None` if `id` is not one.
    pub(super) fn side_getattr(&self, id: u64) -> Option<Result<FileAttr, Errno>> {
        Some(
            self.side_stat(id)?
                .map(|(side, st)| self.side_attr(id, &side.full, &st)),
        )
    }

    /// `open` of a side entry: its whole ciphertext, made now (a few
    /// hundred bytes); `None` if `id` is not one.
    pub(super) fn side_open(&self, id: u64) -> Option<Result<u64, Errno>> {
        Some(self.side_stat(id)?.and_then(|(side, _)| {
            let dir_path = self.nodes.path(side.parent).ok_or(Errno::ESTALE)?;
            let rel = join(&dir_path, &side.side);
            let file_iv = if self.layout.has_header() {
                self.vol.file_iv_from_path(&rel)
            } else {
                0
            };
            let header = self
                .vol
                .encode_header(file_iv, self.vol.external_iv(side.name_iv));
            let plain_len = side.full.len();
            let mut blocks = vec![0u8; self.layout.blocks_cipher_len(plain_len as u64) as usize];
            blocks[..plain_len].copy_from_slice(&side.full);
            let n = self
                .vol
                .reverse_encrypt_in_place(file_iv, 0, &mut blocks, plain_len)
                .map_err(|_| Errno::EIO)?;
            blocks.truncate(n);
            let bytes = if self.layout.has_header() {
                [&header[..], &blocks].concat()
            } else {
                blocks
            };
            Ok(self.files.insert(Handle::Side(bytes.into())))
        }))
    }
}

/// A side entry's inode number: synthetic, from its path in the view.
fn side_id(vol: &Volume, dir_path: &[u8], side: &[u8]) -> u64 {
    vol.view_ino(&join(dir_path, side))
}
