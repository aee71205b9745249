//! Which members a restore, verify or ls takes: plaintext paths and
//! gitignore-style patterns relative to the view's root (the default), or
//! cipher paths (`--cipher-paths`, the old way). A selected directory
//! brings its whole subtree.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::volume::names::long;

/// A bad selection argument.
#[derive(Debug, thiserror::Error)]
#[error("bad pattern {pattern:?}: {reason}")]
pub struct SelectError {
    /// The argument.
    pub pattern: String,
    /// Why.
    pub reason: String,
}

/// What to take from a source.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    /// Plaintext paths as given (matched literally, byte for byte), then
    /// the long-name forms of some of them.
    plain: Vec<Vec<u8>>,
    /// For each of `plain`, the argument it stands for.
    arg_of: Vec<usize>,
    /// The same arguments as gitignore patterns (UTF-8 ones only).
    patterns: Option<Gitignore>,
    /// Cipher paths (`--cipher-paths`).
    cipher: Vec<Vec<u8>>,
    /// The arguments as given, and whether each has taken anything.
    args: Vec<(Vec<u8>, bool)>,
}

fn trim(p: &[u8]) -> Vec<u8> {
    let mut v = p;
    while let Some(rest) = v.strip_prefix(b"./") {
        v = rest;
    }
    while v.len() > 1 && v.ends_with(b"/") {
        v = &v[..v.len() - 1];
    }
    v.to_vec()
}

/// `path` is `sel` or below it.
fn under(path: &[u8], sel: &[u8]) -> bool {
    sel.is_empty()
        || path == sel
        || (path.len() > sel.len() && path.starts_with(sel) && path[sel.len()] == b'/')
}

impl Selector {
    /// Everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Plaintext paths or gitignore-style patterns (`docs/report.txt`,
    /// `*.pdf`, `photos/2024/`, `/top-level-only`). A name that is not
    /// UTF-8 is matched literally.
    pub fn plain<S: AsRef<OsStr>>(args: &[S]) -> Result<Self, SelectError> {
        let mut sel = Selector::default();
        let mut builder = GitignoreBuilder::new("");
        let mut any = false;
        for (i, a) in args.iter().enumerate() {
            let bytes = a.as_ref().as_bytes();
            sel.plain
                .push(trim(bytes.strip_prefix(b"/").unwrap_or(bytes)));
            sel.arg_of.push(i);
            sel.args.push((bytes.to_vec(), false));
            if let Ok(s) = std::str::from_utf8(bytes) {
                builder.add_line(None, s).map_err(|e| SelectError {
                    pattern: s.to_string(),
                    reason: e.to_string(),
                })?;
                any = true;
            }
        }
        if any {
            sel.patterns = Some(builder.build().map_err(|e| SelectError {
                pattern: String::new(),
                reason: e.to_string(),
            })?);
        }
        Ok(sel)
    }

    /// Cipher paths relative to the volume root.
    pub fn cipher<S: AsRef<OsStr>>(args: &[S]) -> Self {
        Selector {
            cipher: args.iter().map(|a| trim(a.as_ref().as_bytes())).collect(),
            args: args
                .iter()
                .map(|a| (a.as_ref().as_bytes().to_vec(), false))
                .collect(),
            ..Default::default()
        }
    }

    /// Lets a literal path name a long name as `ls` shows it (design §4,
    /// "Long names"): each path with a component too long for the volume
    /// also selects that path under the short names (`short_of` gives a
    /// too-long name's short name) and the side entries that hold the full
    /// names, so the restore can put it back under its full name.
    pub fn add_long_names(&mut self, short_of: impl Fn(&[u8]) -> Option<Vec<u8>>) {
        let mut extra = Vec::new();
        for (path, &arg) in self.plain.iter().zip(&self.arg_of) {
            let mut short_path: Vec<u8> = Vec::new();
            let mut changed = false;
            for name in path.split(|&b| b == b'/') {
                let dir_len = short_path.len();
                if dir_len > 0 {
                    short_path.push(b'/');
                }
                match short_of(name) {
                    Some(short) => {
                        let mut side = short_path.clone();
                        side.extend_from_slice(&long::side_of(&short));
                        extra.push((side, arg));
                        short_path.extend_from_slice(&short);
                        changed = true;
                    }
                    None => short_path.extend_from_slice(name),
                }
            }
            if changed {
                extra.push((short_path, arg));
            }
        }
        for (path, arg) in extra {
            self.plain.push(path);
            self.arg_of.push(arg);
        }
    }

    /// Whether nothing was given (take everything).
    pub fn is_all(&self) -> bool {
        self.plain.is_empty() && self.cipher.is_empty()
    }

    /// Whether the member at `plain` (decoded) / `cipher` is taken.
    pub fn takes(&self, plain: &[u8], cipher: &[u8], is_dir: bool) -> bool {
        self.is_all() || !self.takers(plain, cipher, is_dir).is_empty()
    }

    /// [`Self::takes`], noting which arguments took the member.
    pub fn take(&mut self, plain: &[u8], cipher: &[u8], is_dir: bool) -> bool {
        if self.is_all() {
            return true;
        }
        let takers = self.takers(plain, cipher, is_dir);
        for &i in &takers {
            if let Some(a) = self.args.get_mut(i) {
                a.1 = true;
            }
        }
        !takers.is_empty()
    }

    /// The arguments that took nothing (after a whole run): each is worth
    /// a word, as tar's "Not found in archive".
    pub fn unmatched(&self) -> impl Iterator<Item = &[u8]> {
        self.args
            .iter()
            .filter(|(_, hit)| !hit)
            .map(|(a, _)| a.as_slice())
    }

    /// The indices of the arguments that take the member (with some
    /// arguments given).
    fn takers(&self, plain: &[u8], cipher: &[u8], is_dir: bool) -> Vec<usize> {
        if !self.cipher.is_empty() {
            return (0..self.cipher.len())
                .filter(|&i| under(cipher, &self.cipher[i]))
                .collect();
        }
        let mut takers: Vec<usize> = (0..self.plain.len())
            .filter(|&i| under(plain, &self.plain[i]))
            .map(|i| self.arg_of[i])
            .collect();
        if let Some(g) = &self.patterns
            && !plain.is_empty()
            && let ignore::Match::Ignore(glob) =
                g.matched_path_or_any_parents(Path::new(OsStr::from_bytes(plain)), is_dir)
        {
            let original = glob.original().as_bytes();
            takers.extend(self.args.iter().position(|(a, _)| a == original));
            if takers.is_empty() {
                // A pattern this crate's trimming changed: taken all the same.
                takers.push(usize::MAX);
            }
        }
        takers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_selects_its_short_path_and_side_entries() {
        let long_dir = vec![b'd'; 300];
        let long_file = vec![b'f'; 300];
        let mut arg = long_dir.clone();
        arg.push(b'/');
        arg.extend_from_slice(&long_file);
        let mut s = Selector::plain(&[OsStr::from_bytes(&arg), OsStr::new("short/x")]).unwrap();
        s.add_long_names(|n| (n.len() > 255).then(|| [&n[..3], b"~TAG"].concat()));
        for taken in [
            &b"ddd~TAG/fff~TAG"[..],
            b"ddd~TAG.encmount-name",
            b"ddd~TAG/fff~TAG.encmount-name",
            b"short/x",
        ] {
            assert!(
                s.takes(taken, b"c", false),
                "{}",
                String::from_utf8_lossy(taken)
            );
        }
        assert!(!s.takes(b"ddd~TAG/other", b"c", false));
        assert!(!s.takes(b"short/y", b"c", false));
    }

    #[test]
    fn arguments_that_take_nothing_are_named() {
        let mut s = Selector::plain(&["docs", "*.pdf", "missing", "nope*"]).unwrap();
        assert!(s.take(b"docs/a", b"c", false));
        assert!(s.take(b"x/y.pdf", b"c", false));
        assert!(!s.take(b"other", b"c", false));
        let left: Vec<&[u8]> = s.unmatched().collect();
        assert_eq!(left, [&b"missing"[..], b"nope*"]);
        let mut c = Selector::cipher(&["AbC", "XyZ"]);
        assert!(c.take(b"", b"AbC/dEf", false));
        assert_eq!(c.unmatched().collect::<Vec<_>>(), [&b"XyZ"[..]]);
        assert_eq!(Selector::all().unmatched().count(), 0);
    }

    #[test]
    fn literal_paths_take_their_subtree_only() {
        let s = Selector::plain(&["docs/a", "./b/"]).unwrap();
        assert!(s.takes(b"docs/a", b"x", false));
        assert!(s.takes(b"docs/a/deep", b"x", false));
        assert!(s.takes(b"b/c", b"x", false));
        assert!(!s.takes(b"docs/ab", b"x", false));
        assert!(!s.takes(b"docs", b"x", true));
    }

    #[test]
    fn patterns_match_as_gitignore_does() {
        let s = Selector::plain(&["*.pdf", "/top"]).unwrap();
        assert!(s.takes(b"x/y/z.pdf", b"c", false));
        assert!(s.takes(b"top/inner", b"c", false));
        assert!(!s.takes(b"x/top", b"c", false));
        assert!(!s.takes(b"z.txt", b"c", false));
    }

    #[test]
    fn non_utf8_names_match_literally_and_cipher_paths_by_cipher() {
        let s = Selector::plain(&[OsStr::from_bytes(b"odd/\xff")]).unwrap();
        assert!(s.takes(b"odd/\xff", b"c", false));
        assert!(!s.takes(b"odd/\xfe", b"c", false));
        let c = Selector::cipher(&["AbC"]);
        assert!(c.takes(b"whatever", b"AbC/d", false));
        assert!(!c.takes(b"whatever", b"AbCd", false));
    }
}
