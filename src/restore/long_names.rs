//! Long names on restore (design §4, "Long names"): a name too long for
//! EncFS is backed up as a short name `S` plus a side entry
//! `S.encmount-name` holding the full name. The engine restores `S` as it
//! comes and keeps side entries in memory; at the end, when every
//! directory's members are known whatever order the source gave them in
//! (a tar stream may have the side entry before or after `S`), each
//! resolved `S` is renamed to its full name and each side entry that did
//! not resolve is written as the ordinary file it then is.

use std::collections::{BTreeMap, HashMap};

use super::source::Meta;
use crate::volume::names::long;

/// Side entries larger than this cannot hold a name: restored as files.
pub const MAX_SIDE: u64 = 64 * 1024;

/// A side entry held back until the end.
pub struct Side {
    /// Its plaintext path (short-name space).
    pub path: Vec<u8>,
    /// Its decrypted contents.
    pub contents: Vec<u8>,
    /// Its metadata, should it be written as a file.
    pub meta: Meta,
}

/// Short names and side entries seen so far.
#[derive(Default)]
pub struct LongNames {
    /// Directory -> names in it that have the form of a short name.
    shorts: HashMap<Vec<u8>, Vec<Vec<u8>>>,
    sides: Vec<Side>,
}

/// What to do at the end.
#[derive(Default)]
pub struct Plan {
    /// (short path, full name), deepest first, so that every short path
    /// is still valid when its turn comes.
    pub renames: Vec<(Vec<u8>, Vec<u8>)>,
    /// Side entries that did not resolve: ordinary files.
    pub files: Vec<Side>,
    /// Short path -> full name, to map later paths (directory metadata).
    full: HashMap<Vec<u8>, Vec<u8>>,
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b""[..], path),
    }
}

/// Whether a regular file at `path` of `size` cipher bytes may be a side
/// entry, to be held back.
pub fn may_be_side(path: &[u8], size: u64) -> bool {
    size <= MAX_SIDE && long::side_target(split(path).1).is_some()
}

/// Whether any component of `path` has the form of a short name (its
/// full path is known only at the end).
pub fn below_short(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(long::is_short)
}

impl LongNames {
    /// Notes an entry restored under `path`, and every short name on the
    /// way to it (a selected file below a short-named directory brings the
    /// directory, which must get its full name too).
    pub fn saw(&mut self, path: &[u8]) {
        let mut end = 0;
        while end < path.len() {
            end = path[end..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(path.len(), |i| end + i);
            let (dir, name) = split(&path[..end]);
            if long::is_short(name) {
                let names = self.shorts.entry(dir.to_vec()).or_default();
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_vec());
                }
            }
            end += 1;
        }
    }

    /// Holds back a side entry.
    pub fn hold(&mut self, side: Side) {
        self.sides.push(side);
    }

    /// Resolves every directory; `matches(short, full)` is
    /// [`Volume::is_short_name_of`](crate::volume::Volume::is_short_name_of).
    pub fn plan(self, matches: impl Fn(&[u8], &[u8]) -> bool) -> Plan {
        let mut by_dir: BTreeMap<Vec<u8>, Vec<Side>> = BTreeMap::new();
        for s in self.sides {
            by_dir.entry(split(&s.path).0.to_vec()).or_default().push(s);
        }
        let mut plan = Plan::default();
        for (dir, sides) in by_dir {
            let shorts = self.shorts.get(&dir).map(Vec::as_slice).unwrap_or(&[]);
            let names = shorts
                .iter()
                .map(Vec::as_slice)
                .chain(sides.iter().map(|s| split(&s.path).1));
            let contents: HashMap<&[u8], &[u8]> = sides
                .iter()
                .map(|s| (split(&s.path).1, &s.contents[..]))
                .collect();
            let res = long::resolve(names, |n| contents.get(n).map(|c| c.to_vec()), &matches);
            for short in shorts {
                if let Some(full) = res.full_name(short) {
                    let path = join(&dir, short);
                    plan.full.insert(path.clone(), full.to_vec());
                    plan.renames.push((path, full.to_vec()));
                }
            }
            plan.files
                .extend(sides.into_iter().filter(|s| !res.is_side(split(&s.path).1)));
        }
        let depth = |p: &[u8]| p.iter().filter(|&&b| b == b'/').count();
        plan.renames
            .sort_by_key(|(p, _)| std::cmp::Reverse(depth(p)));
        plan
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

impl Plan {
    /// `path` (short-name space) after the renames.
    pub fn map(&self, path: &[u8]) -> Vec<u8> {
        if self.full.is_empty() || path.is_empty() {
            return path.to_vec();
        }
        let (mut short, mut out) = (Vec::new(), Vec::new());
        for c in path.split(|&b| b == b'/') {
            short = join(&short, c);
            let name = self.full.get(&short).map_or(c, Vec::as_slice);
            out = join(&out, name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(path: &[u8], full: &[u8]) -> Side {
        Side {
            path: path.to_vec(),
            contents: full.to_vec(),
            meta: Meta::default(),
        }
    }

    #[test]
    fn resolves_per_directory_renames_deepest_first_and_keeps_strays() {
        let s = b"abc~AAAAAAAAAAAAAAAA".to_vec();
        let t = b"def~BBBBBBBBBBBBBBBB".to_vec();
        let st = [&s[..], b"/", &t].concat();
        let mut ln = LongNames::default();
        // side entries before and after their short names
        ln.hold(side(&long::side_of(&st), b"defLONG"));
        ln.saw(&s);
        ln.saw(&st);
        ln.hold(side(&long::side_of(&s), b"abcLONG"));
        // a look-alike whose contents do not match, and one without its short name
        let u = b"ghi~CCCCCCCCCCCCCCCC".to_vec();
        ln.saw(&u);
        ln.hold(side(&long::side_of(&u), b"nope"));
        ln.hold(side(&long::side_of(b"x/zzz~DDDDDDDDDDDDDDDD"), b"zzzLONG"));
        let plan = ln.plan(|short, full| short[..3] == full[..3] && full.ends_with(b"LONG"));
        assert_eq!(
            plan.renames,
            vec![
                (st.clone(), b"defLONG".to_vec()),
                (s.clone(), b"abcLONG".to_vec())
            ]
        );
        let mut strays: Vec<_> = plan.files.iter().map(|s| s.path.clone()).collect();
        strays.sort();
        assert_eq!(
            strays,
            vec![long::side_of(&u), long::side_of(b"x/zzz~DDDDDDDDDDDDDDDD")]
        );
        assert_eq!(plan.map(&st), b"abcLONG/defLONG");
        assert_eq!(plan.map(&[&st[..], b"/f"].concat()), b"abcLONG/defLONG/f");
        assert_eq!(plan.map(b"other/f"), b"other/f");
    }
}
