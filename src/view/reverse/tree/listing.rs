//! Directory listings of the reverse view: a snapshot of the source
//! directory at opendir (names encrypted, hidden entries left out, long
//! names shown as their short and side names), served by offset to readdir
//! and readdirplus.

use std::collections::HashSet;
use std::io;
use std::os::fd::AsFd;

use fuser::{Errno, FileAttr, FileType};
use nix::sys::stat::FileStat;

use super::{CONFIG_INO, CONFIG_NAME, ReverseTree};
use crate::log;
use crate::view::shared::{errno, file_type, join};
use crate::view::source::{self, kind_of};
use crate::view::table::ROOT_ID;

/// One entry of a directory listing.
pub(super) struct Listed {
    /// The encrypted name.
    pub name: Box<[u8]>,
    plain: Box<[u8]>,
    st: Option<FileStat>,
    name_iv: u64,
    /// The side entry of the long entry `plain` (see `long`).
    side: bool,
}

/// A directory snapshot taken at opendir.
pub(super) struct Listing {
    dir: u64,
    entries: Vec<Listed>,
}

impl ReverseTree {
    /// `opendir`: snapshots the directory; returns a handle number.
    pub fn opendir(&self, id: u64) -> Result<u64, Errno> {
        let node = self.nodes.node(id)?;
        let dfd = self.nodes.dir_fd(id)?;
        let names = source::list_dir(dfd.as_fd()).map_err(errno)?;
        let dir_path = self.nodes.path(id).ok_or(Errno::ESTALE)?;
        // Only where a long name needs it: the names its own could clash with.
        let taken: HashSet<Vec<u8>> = if names.iter().any(|e| !self.vol.name_fits(e.name.len())) {
            names.iter().map(|e| e.name.clone()).collect()
        } else {
            HashSet::new()
        };
        let mut entries = Vec::with_capacity(names.len() + 1);
        for e in names {
            let st = match source::stat_at(dfd.as_fd(), &e.name) {
                Ok(st) => st,
                // Removed since getdents: gone, nothing to show.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    // Never silent: the admin learns what the backup lacks.
                    log::warn(&format!(
                        "view of {}: left out {}: cannot stat it: {err}",
                        self.src.display(),
                        String::from_utf8_lossy(&join(&dir_path, &e.name))
                    ));
                    continue;
                }
            };
            let rel = join(&dir_path, &e.name);
            if self.is_hidden(id, &e.name, &st, &rel) {
                continue;
            }
            // A long name is shown under its short name, with its side entry.
            let short;
            let shown = if self.vol.name_fits(e.name.len()) {
                &e.name
            } else {
                let Some(ln) = self.show_long(&rel, &e.name, |n| taken.contains(n)) else {
                    continue;
                };
                self.short_cache.put(id, &ln.short, &e.name);
                let (side, side_iv) = self.vol.encode_name(&ln.side, node.name_iv);
                entries.push(Listed {
                    name: side.into(),
                    plain: e.name.clone().into(),
                    st: Some(st),
                    name_iv: side_iv,
                    side: true,
                });
                short = ln.short;
                &short
            };
            let (name, name_iv) = self.vol.encode_name(shown, node.name_iv);
            entries.push(Listed {
                name: name.into(),
                plain: e.name.into(),
                st: Some(st),
                name_iv,
                side: false,
            });
        }
        if id == ROOT_ID && self.opts.config.is_some() {
            entries.push(Listed {
                name: CONFIG_NAME.into(),
                plain: CONFIG_NAME.into(),
                st: None,
                name_iv: 0,
                side: false,
            });
        }
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
            if add(ino, i as u64 + 1, kind, &e.name) {
                break;
            }
        }
        Ok(())
    }

    /// `readdirplus`: like [`ReverseTree::readdir`] with attributes; every
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
            let attr = match &e.st {
                Some(st) if e.side => {
                    match self.side_found(dir, &dir_path, &e.plain, e.name_iv, st) {
                        Ok(a) => a,
                        Err(_) => continue,
                    }
                }
                Some(st) => {
                    let rel = join(&dir_path, &e.plain);
                    match self.found(dir, &e.plain, e.name_iv, st, &rel, dfd.as_fd()) {
                        Ok(a) => a,
                        // Vanished since opendir (a symlink we cannot read).
                        Err(_) => continue,
                    }
                }
                None => match self.config_attr() {
                    Some(a) => a,
                    None => continue,
                },
            };
            if add(i as u64 + 1, &e.name, &attr) {
                if e.st.is_some() {
                    self.forget(attr.ino.0, 1);
                }
                break;
            }
        }
        Ok(())
    }
}
