//! Directory listings both views serve the same way: a snapshot taken at
//! opendir, handed out by offset to readdir and readdirplus.

use fuser::{Errno, FileAttr, FileType};

use crate::view::fuse::{AddEntry, AddEntryPlus};

/// A directory's entries as of opendir, served by offset: offsets count
/// from 0 without the dot entries, and an entry's next offset is its index
/// plus one, so a listing resumed at any offset neither skips nor repeats.
pub(crate) struct Snapshot<E> {
    /// The directory's node id.
    pub dir: u64,
    /// Its entries, in the order listed.
    pub entries: Vec<E>,
}

impl<E> Snapshot<E> {
    /// The entries from `offset` on, each with its next offset.
    fn entries_from(&self, offset: u64) -> impl Iterator<Item = (u64, &E)> {
        (1..).zip(&self.entries).skip(offset as usize)
    }

    /// Serves `readdir` from `offset` until `add` says the buffer is full;
    /// `shown` gives an entry's inode number, type and name.
    pub fn readdir<'a>(
        &'a self,
        offset: u64,
        add: AddEntry<'_>,
        mut shown: impl FnMut(&'a E) -> Result<(u64, FileType, &'a [u8]), Errno>,
    ) -> Result<(), Errno> {
        for (next, e) in self.entries_from(offset) {
            let (ino, kind, name) = shown(e)?;
            if add(ino, next, kind, name) {
                break;
            }
        }
        Ok(())
    }

    /// Serves `readdirplus` from `offset` until `add` says the buffer is
    /// full. `found` records a kernel lookup of an entry and gives its name
    /// and attributes (`None`: left out, e.g. gone since opendir); `unfound`
    /// takes back the lookup of the entry the buffer had no room for.
    pub fn readdirplus<'a>(
        &'a self,
        offset: u64,
        add: AddEntryPlus<'_>,
        mut found: impl FnMut(&'a E) -> Option<(&'a [u8], FileAttr)>,
        unfound: impl FnOnce(&'a E, &FileAttr),
    ) -> Result<(), Errno> {
        for (next, e) in self.entries_from(offset) {
            let Some((name, attr)) = found(e) else {
                continue;
            };
            if add(next, name, &attr) {
                unfound(e, &attr);
                break;
            }
        }
        Ok(())
    }
}
