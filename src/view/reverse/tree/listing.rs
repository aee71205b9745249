//! Directory listings of the reverse view: a snapshot of the source
//! directory at opendir (names encrypted, hidden entries left out, long
//! names shown as their short and side names), served by offset to readdir
//! and readdirplus.

use std::collections::HashSet;
use std::io;
use std::os::fd::AsFd;

use fuser::Errno;
use nix::sys::stat::FileStat;

use super::{CONFIG_NAME, ReverseTree};
use crate::log;
use crate::view::shared::{errno, join};
use crate::view::snapshot::Snapshot;
use crate::view::source;
use crate::view::table::ROOT_ID;

/// One entry of a directory listing.
pub(super) struct Listed {
    /// The encrypted name.
    pub name: Box<[u8]>,
    pub plain: Box<[u8]>,
    pub st: Option<FileStat>,
    pub name_iv: u64,
    /// The side entry of the long entry `plain` (see `long`).
    pub side: bool,
}

/// A directory snapshot taken at opendir.
pub(super) type Listing = Snapshot<Listed>;

impl ReverseTree {
    /// Snapshots directory `id` for opendir.
    pub(super) fn snapshot(&self, id: u64) -> Result<Listing, Errno> {
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
        Ok(Listing { dir: id, entries })
    }
}
