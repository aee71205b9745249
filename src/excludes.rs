//! `--exclude` / yaml `exclude:` patterns, with gitignore semantics (design
//! §4): `*.tmp` matches at any depth, a leading `/` anchors at the source
//! root, a trailing `/` matches directories only, `!` re-includes.
//!
//! Entries are checked as the view reaches them, so an excluded directory
//! hides everything below it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// A compiled exclude list (empty = nothing excluded).
#[derive(Clone, Debug)]
pub struct Excludes {
    matcher: Option<Gitignore>,
}

/// A pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("bad exclude pattern {pattern:?}: {reason}")]
pub struct ExcludeError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it was refused.
    pub reason: String,
}

impl Excludes {
    /// Compiles the patterns.
    pub fn new(patterns: &[String]) -> Result<Self, ExcludeError> {
        if patterns.is_empty() {
            return Ok(Self { matcher: None });
        }
        let mut b = GitignoreBuilder::new("/");
        for p in patterns {
            if p.trim().is_empty() || p.contains('\n') {
                return Err(ExcludeError {
                    pattern: p.clone(),
                    reason: "empty or multi-line".into(),
                });
            }
            b.add_line(None, p).map_err(|e| ExcludeError {
                pattern: p.clone(),
                reason: e.to_string(),
            })?;
        }
        let matcher = b.build().map_err(|e| ExcludeError {
            pattern: patterns.join(", "),
            reason: e.to_string(),
        })?;
        Ok(Self {
            matcher: Some(matcher),
        })
    }

    /// Whether nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Whether the entry at `rel_path` (relative to the source root, no
    /// leading `/`) is excluded.
    pub fn is_excluded(&self, rel_path: &[u8], is_dir: bool) -> bool {
        let Some(m) = &self.matcher else {
            return false;
        };
        let mut abs = Vec::with_capacity(rel_path.len() + 1);
        abs.push(b'/');
        abs.extend_from_slice(rel_path);
        m.matched(Path::new(OsStr::from_bytes(&abs)), is_dir)
            .is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(p: &[&str]) -> Excludes {
        Excludes::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn gitignore_semantics() {
        let e = ex(&["*.tmp", "/.cache/", "build/", "!keep.tmp"]);
        assert!(e.is_excluded(b"a.tmp", false));
        assert!(e.is_excluded(b"deep/dir/a.tmp", false));
        assert!(!e.is_excluded(b"deep/keep.tmp", false));
        assert!(e.is_excluded(b".cache", true));
        assert!(
            !e.is_excluded(b".cache", false),
            "trailing / matches dirs only"
        );
        assert!(!e.is_excluded(b"sub/.cache", true), "leading / anchors");
        assert!(e.is_excluded(b"sub/build", true));
        assert!(!e.is_excluded(b"a.txt", false));
        assert!(e.is_excluded(b"\xff\xfe.tmp", false), "non-UTF-8 names");
        assert!(ex(&[]).is_empty());
        assert!(!ex(&[]).is_excluded(b"x", false));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Excludes::new(&["".into()]).is_err());
        assert!(Excludes::new(&["a\nb".into()]).is_err());
        assert!(Excludes::new(&["[z-a]".into()]).is_err());
    }
}
