//! Source paths (design §8.3): first as strings (absolute, normalised, no
//! `..`, no glob or control characters, inside one view's mountpoint),
//! then on the live system: the mountpoint must be a `fuse.encmount`
//! mount of that view's source, and each path must resolve beneath it by
//! fd (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV),
//! not by string, so a symlink or a mount cannot lead out.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::{Mode, fstat};
use nix::sys::statfs::{FUSE_SUPER_MAGIC, fstatfs};

use super::Refusal;
use crate::manager::View;
use crate::mounts::{FS_TYPE, mount_entry, resolved};

/// Characters rsync or a shell could expand.
const GLOB: &[u8] = b"*?[]{}\\";

/// Checks every path as text and returns the one view they all lie in.
pub fn view_of<'v>(paths: &[Vec<u8>], views: &'v [View]) -> Result<&'v View, Refusal> {
    let mounts: Vec<&Path> = views.iter().map(|v| v.mountpoint.as_path()).collect();
    let i = mount_index(paths, &mounts)?;
    Ok(&views[i])
}

/// Checks every path as text; the index of the one mountpoint they all
/// lie beneath.
pub fn mount_index(paths: &[Vec<u8>], mounts: &[&Path]) -> Result<usize, Refusal> {
    let mut found: Option<usize> = None;
    for p in paths {
        check_syntax(p)?;
        let i = mounts
            .iter()
            .position(|m| relative_in(p, m).is_some())
            .ok_or_else(|| Refusal(format!("{} is not inside a configured view", show(p))))?;
        match found {
            Some(f) if f != i => {
                return Err(Refusal(format!(
                    "paths in two views ({} and {}): one view per pull",
                    mounts[f].display(),
                    mounts[i].display()
                )));
            }
            _ => found = Some(i),
        }
    }
    found.ok_or_else(|| Refusal("no source path".into()))
}

/// Absolute, no empty, `.` or `..` component (a single trailing `/` is
/// allowed: it means "the contents"), no glob or control character.
pub fn check_syntax(p: &[u8]) -> Result<(), Refusal> {
    let bad = |why: &str| Err(Refusal(format!("{}: {why}", show(p))));
    if !p.starts_with(b"/") {
        return bad("not an absolute path");
    }
    if let Some(c) = p.iter().find(|&&c| c < 0x20 || c == 0x7f) {
        return bad(&format!("control character 0x{c:02x}"));
    }
    if p.iter().any(|c| GLOB.contains(c)) {
        return bad("glob or escape character");
    }
    let body = p[1..].strip_suffix(b"/").unwrap_or(&p[1..]);
    for part in body.split(|&c| c == b'/') {
        match part {
            b".." => return bad("a .. component"),
            b"." => return bad("a . component (not normalised)"),
            b"" if !body.is_empty() => return bad("an empty component (not normalised)"),
            _ => {}
        }
    }
    Ok(())
}

/// `p` relative to `mnt` if it is `mnt` or beneath it ("" for `mnt`).
fn relative_in<'p>(p: &'p [u8], mnt: &Path) -> Option<&'p [u8]> {
    let m = mnt.as_os_str().as_bytes();
    let m = m.strip_suffix(b"/").unwrap_or(m);
    let rest = p.strip_prefix(m)?;
    match rest {
        [] => Some(rest),
        [b'/', tail @ ..] => Some(tail),
        _ => None,
    }
}

/// The view's mountpoint, opened, once it is confirmed to be a live
/// `fuse.encmount` mount of the view's source.
pub fn open_mountpoint(view: &View) -> Result<OwnedFd, Refusal> {
    let mnt = &view.mountpoint;
    let fail = |why: String| Refusal(format!("view {}: {}: {why}", view.name, mnt.display()));
    let real = resolved(mnt);
    let entry = mount_entry(&real).ok_or_else(|| fail("not mounted".into()))?;
    if entry.fs_type != FS_TYPE {
        return Err(fail(format!(
            "a {} mount, not an encmount view",
            entry.fs_type
        )));
    }
    let source = Path::new(&entry.source);
    if source != view.source && source != resolved(&view.source) {
        return Err(fail(format!(
            "mounted from {}, not from the view's source {}",
            entry.source,
            view.source.display()
        )));
    }
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = open(real.as_path(), flags, Mode::empty()).map_err(|e| fail(e.to_string()))?;
    // The fd, not the path, is what we check: same device as the entry.
    let st = fstat(&fd).map_err(|e| fail(e.to_string()))?;
    let dev = format!("{}:{}", libc::major(st.st_dev), libc::minor(st.st_dev));
    let fs = fstatfs(&fd).map_err(|e| fail(e.to_string()))?;
    if dev != entry.device || fs.filesystem_type() != FUSE_SUPER_MAGIC {
        return Err(fail("the mount changed while it was checked".into()));
    }
    Ok(fd)
}

/// Resolves each path beneath the opened mountpoint.
pub fn pin(view: &View, mnt: impl AsFd, paths: &[Vec<u8>]) -> Result<(), Refusal> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
    for p in paths {
        let rel = relative_in(p, &view.mountpoint).unwrap_or_default();
        let rel = rel.strip_suffix(b"/").unwrap_or(rel);
        let rel = if rel.is_empty() { b"." as &[u8] } else { rel };
        openat2(mnt.as_fd(), OsStr::from_bytes(rel), how).map_err(|e| {
            Refusal(format!(
                "{}: does not resolve inside view {}: {e}",
                show(p),
                view.name
            ))
        })?;
    }
    Ok(())
}

/// A path for messages, with control characters escaped.
pub fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).escape_debug().to_string()
}
