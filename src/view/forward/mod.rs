//! The forward view: a cipher directory shown as the read-only plaintext
//! tree it holds (design §5). The logic is in [`tree`]; this file plugs it
//! into the shared FUSE adapter.

pub mod content;
pub mod tree;

use fuser::{Errno, FileAttr};
use nix::sys::statvfs::Statvfs;

use crate::view::fuse::{AddEntry, AddEntryPlus, ViewFs, ViewTree};
use tree::ForwardTree;

/// The FUSE filesystem of a forward view.
pub type ForwardFs = ViewFs<ForwardTree>;

impl ViewTree for ForwardTree {
    fn lookup(&self, parent: u64, name: &[u8]) -> Result<FileAttr, Errno> {
        ForwardTree::lookup(self, parent, name)
    }
    fn forget(&self, id: u64, n: u64) {
        ForwardTree::forget(self, id, n)
    }
    fn getattr(&self, id: u64) -> Result<FileAttr, Errno> {
        ForwardTree::getattr(self, id)
    }
    fn readlink(&self, id: u64) -> Result<Vec<u8>, Errno> {
        ForwardTree::readlink(self, id)
    }
    fn open(&self, id: u64) -> Result<u64, Errno> {
        ForwardTree::open(self, id)
    }
    fn release(&self, fh: u64) {
        ForwardTree::release(self, fh)
    }
    fn read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        reply: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Errno> {
        reply(&ForwardTree::read(self, fh, offset, size)?);
        Ok(())
    }
    fn opendir(&self, id: u64) -> Result<u64, Errno> {
        ForwardTree::opendir(self, id)
    }
    fn readdir(&self, fh: u64, offset: u64, add: AddEntry<'_>) -> Result<(), Errno> {
        ForwardTree::readdir(self, fh, offset, add)
    }
    fn readdirplus(&self, fh: u64, offset: u64, add: AddEntryPlus<'_>) -> Result<(), Errno> {
        ForwardTree::readdirplus(self, fh, offset, add)
    }
    fn releasedir(&self, fh: u64) {
        ForwardTree::releasedir(self, fh)
    }
    fn statfs(&self) -> Result<Statvfs, Errno> {
        ForwardTree::statfs(self)
    }
    fn name_max(&self) -> usize {
        ForwardTree::name_max(self)
    }
}
