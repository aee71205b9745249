//! Directory listings of the forward view: snapshots taken at opendir,
//! with every cipher name decoded (format §6.7).

use std::io;
use std::os::fd::AsFd;

use fuser::Errno;
use nix::sys::stat::FileStat;

use super::{CONFIG_NAMES, ForwardTree};
use crate::view::shared::errno;
use crate::view::snapshot::Snapshot;
use crate::view::source;
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
pub(super) type Listing = Snapshot<Listed>;

impl ForwardTree {
    /// Snapshots directory `id` for opendir, decoding every name.
    pub(super) fn snapshot(&self, id: u64) -> Result<Listing, Errno> {
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
        Ok(Listing { dir: id, entries })
    }
}
