//! What is mounted where: the mount table (`/proc/self/mountinfo`) as the
//! manager and the rsync shim need it, without any FUSE code. Is a path a
//! live encmount view, what is its source, which options has it?
//!
//! Paths are compared as the kernel lists them: absolute, symlinks
//! resolved ([`resolved`]).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The file system type the views mount as (`fuse.` + subtype).
pub const FS_TYPE: &str = "fuse.encmount";

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// `major:minor` of the mount.
    pub device: String,
    /// The mountpoint, unescaped.
    pub mountpoint: PathBuf,
    /// Per-mount options, e.g. `ro,nosuid,nodev,relatime`.
    pub options: String,
    /// The fs type, e.g. `fuse.encmount`.
    pub fs_type: String,
    /// The mount source (for views: the source directory).
    pub source: String,
    /// Super-block options, e.g. `ro,user_id=0,group_id=0,allow_other`.
    pub super_options: String,
}

impl MountEntry {
    /// Whether this is an encmount view.
    pub fn is_view(&self) -> bool {
        self.fs_type == FS_TYPE
    }

    /// Whether the per-mount or super-block options hold `opt` (e.g. `ro`).
    pub fn has_option(&self, opt: &str) -> bool {
        self.options
            .split(',')
            .chain(self.super_options.split(','))
            .any(|o| o == opt)
    }
}

/// The mount at exactly `mnt` (the last one, if stacked). `mnt` must be
/// in the kernel's form; see [`resolved`].
pub fn mount_entry(mnt: &Path) -> Option<MountEntry> {
    let f = File::open("/proc/self/mountinfo").ok()?;
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| parse_mountinfo(&l))
        .filter(|e| e.mountpoint == mnt)
        .last()
}

/// The encmount view mounted at `path` (any form: it is resolved first),
/// if there is one. Reads only the mount table, so a dead view (daemon
/// gone) counts too; the manager's health probe tells the two apart.
pub fn view_at(path: &Path) -> Option<MountEntry> {
    mount_entry(&resolved(path)).filter(MountEntry::is_view)
}

/// `p` made absolute with symlinks resolved as far as it exists: a
/// mountpoint still to be created, or a dead FUSE mount (which cannot be
/// stat'ed), resolves through its parent.
pub fn resolved(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = p;
    loop {
        if let Ok(c) = cur.canonicalize() {
            return rest.iter().rev().fold(c, |acc: PathBuf, n| acc.join(n));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return p.to_path_buf(),
        }
    }
}

fn parse_mountinfo(line: &str) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    Some(MountEntry {
        device: l.get(2)?.to_string(),
        mountpoint: PathBuf::from(unescape(l.get(4)?)),
        options: l.get(5)?.to_string(),
        fs_type: r.first()?.to_string(),
        source: unescape(r.get(1)?),
        super_options: r.get(2).map_or_else(String::new, |s| s.to_string()),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse() {
        let l = "42 27 0:39 / /tmp/my\\040mnt ro,nosuid,nodev,relatime - fuse.encmount /srv/plain\\040dir ro,user_id=0,group_id=0,allow_other";
        let e = parse_mountinfo(l).unwrap();
        assert_eq!(e.device, "0:39");
        assert_eq!(e.mountpoint, PathBuf::from("/tmp/my mnt"));
        assert_eq!(e.fs_type, FS_TYPE);
        assert!(e.is_view());
        assert_eq!(e.source, "/srv/plain dir");
        assert!(e.has_option("nosuid") && e.has_option("allow_other"));
        assert!(!e.has_option("rw") && !e.has_option("allow"));
        let opt = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        let e = parse_mountinfo(opt).unwrap();
        assert_eq!(e.fs_type, "ext3");
        assert!(!e.is_view());
        assert_eq!(e.options, "rw,noatime");
        assert!(parse_mountinfo("garbage").is_none());
    }

    #[test]
    fn root_is_a_mount() {
        assert!(mount_entry(Path::new("/")).is_some());
        assert!(mount_entry(Path::new("/definitely/not/mounted")).is_none());
        assert!(view_at(Path::new("/")).is_none());
    }

    #[test]
    fn resolved_goes_through_missing_parts() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().canonicalize().unwrap();
        assert_eq!(resolved(&d.path().join("a/b")), real.join("a/b"));
        assert_eq!(resolved(d.path()), real);
    }

    #[test]
    fn resolution_follows_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        assert_eq!(resolved(&real.join("link/not/yet")), real.join("not/yet"));
        assert_eq!(resolved(&real.join("link")), real);
    }
}
