//! Which members a restore, verify or ls takes: plaintext paths and
//! gitignore-style patterns relative to the view's root (the default), or
//! cipher paths (`--cipher-paths`, the old way). A selected directory
//! brings its whole subtree.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

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
    /// Plaintext paths as given (matched literally, byte for byte).
    plain: Vec<Vec<u8>>,
    /// The same arguments as gitignore patterns (UTF-8 ones only).
    patterns: Option<Gitignore>,
    /// Cipher paths (`--cipher-paths`).
    cipher: Vec<Vec<u8>>,
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
        for a in args {
            let bytes = a.as_ref().as_bytes();
            sel.plain
                .push(trim(bytes.strip_prefix(b"/").unwrap_or(bytes)));
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
            ..Default::default()
        }
    }

    /// Whether nothing was given (take everything).
    pub fn is_all(&self) -> bool {
        self.plain.is_empty() && self.cipher.is_empty()
    }

    /// Whether the member at `plain` (decoded) / `cipher` is taken.
    pub fn takes(&self, plain: &[u8], cipher: &[u8], is_dir: bool) -> bool {
        if self.is_all() {
            return true;
        }
        if !self.cipher.is_empty() {
            return self.cipher.iter().any(|c| under(cipher, c));
        }
        if self.plain.iter().any(|p| under(plain, p)) {
            return true;
        }
        match &self.patterns {
            Some(g) if !plain.is_empty() => g
                .matched_path_or_any_parents(Path::new(OsStr::from_bytes(plain)), is_dir)
                .is_ignore(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
