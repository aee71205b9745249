//! Long names in the forward view (`volume::names::long`, design §5): a
//! short name whose side entry holds a matching full name is shown under
//! the full name, and the side entry is hidden. Anything that does not
//! match (a side entry that does not decrypt, or holds another name) stays
//! as stock encfs shows it.

use std::os::fd::BorrowedFd;

use super::super::content::OpenFile;
use super::ForwardTree;
use super::listing::Listed;
use crate::view::source;
use crate::volume::names::long;

/// The most a side entry is read: a name is at most a few hundred bytes.
const SIDE_MAX: usize = 4096;

impl ForwardTree {
    /// The plaintext of the side entry `cname` (chain IV `name_iv`) in
    /// `dir`, if it decrypts.
    fn read_side(&self, dir: BorrowedFd, cname: &[u8], name_iv: u64) -> Option<Vec<u8>> {
        let file = source::open_file_at(dir, cname).ok()?;
        let f = OpenFile::new(file, 0, &self.vol, self.vol.external_iv(name_iv)).ok()?;
        f.read(&self.vol, 0, SIDE_MAX).ok()
    }

    /// Gives a directory snapshot its long names: short names with a
    /// matching side entry take the full name; those side entries go.
    pub(super) fn resolve_long_names(&self, dir: BorrowedFd, entries: &mut Vec<Listed>) {
        if !entries.iter().any(|e| long::is_short(&e.plain)) {
            return;
        }
        let resolution = long::resolve(
            entries.iter().map(|e| &e.plain[..]),
            |side| {
                let e = entries.iter().find(|e| *e.plain == *side)?;
                self.read_side(dir, &e.cname, e.name_iv)
            },
            |s, f| self.vol.is_short_name_of(s, f),
        );
        if resolution.is_empty() {
            return;
        }
        entries.retain(|e| !resolution.is_side(&e.plain));
        for e in entries.iter_mut() {
            if let Some(full) = resolution.full_name(&e.plain) {
                e.plain = full.into();
            }
        }
    }

    /// The cipher name and chain IV to look up for plaintext `name` in a
    /// directory with chain IV `dir_iv`: a long name's short name when its
    /// side entry matches; `None` for a name that is not shown (a resolved
    /// short or side name, or a long name without its side entry).
    pub(super) fn lookup_name(
        &self,
        dir: BorrowedFd,
        dir_iv: u64,
        name: &[u8],
    ) -> Option<(Vec<u8>, u64)> {
        let side_matches = |short: &[u8]| {
            let (cside, side_iv) = self.vol.encode_name(&long::side_of(short), dir_iv);
            self.read_side(dir, &cside, side_iv)
                .filter(|full| self.vol.is_short_name_of(short, full))
        };
        if let Some(ln) = self.vol.long_name(name) {
            side_matches(&ln.short)?;
            return Some(self.vol.encode_name(&ln.short, dir_iv));
        }
        let short = long::side_target(name).or(long::is_short(name).then_some(name));
        if let Some(short) = short
            && side_matches(short).is_some()
        {
            return None;
        }
        Some(self.vol.encode_name(name, dir_iv))
    }
}
