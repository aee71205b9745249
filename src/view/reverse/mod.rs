//! The reverse view: a plaintext directory shown as a read-only encrypted
//! tree (design §4). The logic is in [`tree`]; this file plugs it into the
//! shared FUSE adapter.

pub mod tree;

use fuser::{Errno, FileAttr};
use nix::sys::statvfs::Statvfs;

use crate::view::fuse::{AddEntry, AddEntryPlus, ViewFs, ViewTree};
use tree::ReverseTree;

/// The FUSE filesystem of a reverse view.
pub type ReverseFs = ViewFs<ReverseTree>;

impl ViewTree for ReverseTree {
    fn lookup(&self, parent: u64, name: &[u8]) -> Result<FileAttr, Errno> {
        ReverseTree::lookup(self, parent, name)
    }
    fn forget(&self, id: u64, n: u64) {
        ReverseTree::forget(self, id, n)
    }
    fn getattr(&self, id: u64) -> Result<FileAttr, Errno> {
        ReverseTree::getattr(self, id)
    }
    fn readlink(&self, id: u64) -> Result<Vec<u8>, Errno> {
        ReverseTree::readlink(self, id)
    }
    fn open(&self, id: u64) -> Result<u64, Errno> {
        ReverseTree::open(self, id)
    }
    fn release(&self, fh: u64) {
        ReverseTree::release(self, fh)
    }
    fn read(
        &self,
        fh: u64,
        offset: u64,
        size: u32,
        reply: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Errno> {
        ReverseTree::read(self, fh, offset, size, reply)
    }
    fn opendir(&self, id: u64) -> Result<u64, Errno> {
        ReverseTree::opendir(self, id)
    }
    fn readdir(&self, fh: u64, offset: u64, add: AddEntry<'_>) -> Result<(), Errno> {
        ReverseTree::readdir(self, fh, offset, add)
    }
    fn readdirplus(&self, fh: u64, offset: u64, add: AddEntryPlus<'_>) -> Result<(), Errno> {
        ReverseTree::readdirplus(self, fh, offset, add)
    }
    fn releasedir(&self, fh: u64) {
        ReverseTree::releasedir(self, fh)
    }
    fn statfs(&self) -> Result<Statvfs, Errno> {
        ReverseTree::statfs(self)
    }
    fn name_max(&self) -> usize {
        crate::volume::names::NAME_MAX
    }
}
