//! Directory listings of the forward view: snapshots taken at opendir,
//! with every cipher name decoded (format §6.7).

use std::io;
use std::os::fd::AsFd;

use fuser::{Errno, FileAttr, FileType};
use nix::sys::stat::FileStat;

use super::{CONFIG_NAMES, ForwardTree};
use crate::view::shared::{errno, file_type};
use crate::view::source::{self, kind_of};
use crate::view::table::ROOT_ID;

/// One entry of a directory snapshot.
pub(super) struct Listed {
    /// The decrypted name.
    pub plain: Box<[u8]>,
    /// The name in the cipher directory.
    pub cname: Box<[u8]>,
    /// The cipher entry's `lstat`.
    pub st: FileStat,
    /// The chain IV after the name.
    pub name_iv: u64,
}

/// A directory snapshot taken at opendir.
pub(super) struct Listing {
    dir: u64,
    entries: Vec<Listed>,
}

impl ForwardTree {
    /// `opendir`: snapshots the directory, decoding every name; returns a
    /// handle number.
    pub fn opendir(&self, id: u64) -> Result<u64, Errno> {
        let node = self.nodes.node(id)?;
        let dfd = self.nodes.dir_fd(id)?;
        let names = source::list_dir(dfd.as_fd()).map_err(errno)?;
        let dir_path = self.nodes.path(id).ok_or(Errno::ESTALE)?;
        let mut entries = Vec::with_capacity(names.len());
        for e in names {
            if id == ROOT_ID && CONFIG_NAMES.contains(&&e.name[..]) {
                continue;
            }
            let (plain, name_iv) = match self.vol.decode_name(&e.name, node.name_iv) {
                Ok(d) => d,
                Err(err) => {
                    self.report_hidden(&dir_path, &e.name, &err.to_string());
                    continue;
                }
            };
            // Only the canonical encoding: lookups encode the plaintext
            // name, and two cipher names must not show as one.
            if self.vol.encode_name(&plain, node.name_iv).0 != e.name {
                self.report_hidden(&dir_path, &e.name, "not the canonical encoding of its name");
                continue;
            }
            let st = match source::stat_at(dfd.as_fd(), &e.name) {
                Ok(st) => st,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    self.report_hidden(&dir_path, &e.name, &format!("cannot stat it: {err}"));
                    continue;
                }
            };
            if st.st_dev != self.root_dev {
                continue;
            }
            entries.push(Listed {
                plain: plain.into(),
                cname: e.name.into(),
                st,
                name_iv,
            });
        }
        self.resolve_long_names(dfd.as_fd(), &mut entries);
        Ok(self.dirs.insert(Listing { dir: id, entries }))
    }

    /// `releasedir`.
    pub fn releasedir(&self, fh: u64) {
        self.dirs.remove(fh);
    }

    /// `readdir`: calls `add(ino, next offset, type, name)` for entries from
    /// `offset` on until it returns true (buffer full).
    pub fn readdir(
        &self,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(u64, u64, FileType, &[u8]) -> bool,
    ) -> Result<(), Errno> {
        let listing = self.dirs.get(fh).ok_or(Errno::EBADF)?;
        let dir_path = self.nodes.path(listing.dir).ok_or(Errno::ESTALE)?;
        for (i, e) in listing.entries.iter().enumerate().skip(offset as usize) {
            let ino = self.entry_id(&e.st, &dir_path, &e.plain);
            if add(ino, i as u64 + 1, file_type(kind_of(&e.st)), &e.plain) {
                break;
            }
        }
        Ok(())
    }

    /// `readdirplus`: like [`ForwardTree::readdir`] with attributes; every
    /// entry handed to `add` counts as a kernel lookup unless `add` says the
    /// buffer was full.
    pub fn readdirplus(
        &self,
        fh: u64,
        offset: u64,
        mut add: impl FnMut(u64, &[u8], &FileAttr) -> bool,
    ) -> Result<(), Errno> {
        let listing = self.dirs.get(fh).ok_or(Errno::EBADF)?;
        let dir = listing.dir;
        let dir_path = self.nodes.path(dir).ok_or(Errno::ESTALE)?;
        let dfd = self.nodes.dir_fd(dir)?;
        for (i, e) in listing.entries.iter().enumerate().skip(offset as usize) {
            let attr = self.found(dir, &dir_path, e, dfd.as_fd());
            if add(i as u64 + 1, &e.plain, &attr) {
                self.nodes.forget(attr.ino.0, 1);
                break;
            }
        }
        Ok(())
    }
}
