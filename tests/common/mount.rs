//! Mount guards and `/proc/self/mountinfo` polling, for any FUSE mount (stock encfs or ours).
//!
//! Keep a [`Mount`] alive for as long as the mount is used: its `Drop` unmounts, also when
//! the test panics. Declare it *after* the `TempDir`s it lives in, so that it is dropped (and
//! the mount gone) before they are removed; otherwise `TempDir` would recurse into a live,
//! possibly writable mount.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::show_os;

/// How long [`Mount`]'s drop keeps retrying a busy `fusermount3 -u` before `-z`.
const UNMOUNT_RETRIES: u32 = 20;
const UNMOUNT_PAUSE: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_millis(20);

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone)]
pub struct MountEntry {
    /// Mount point (octal escapes decoded).
    pub mount_point: PathBuf,
    /// File system type, e.g. `fuse.encfs`, `fuse.encmount`.
    pub fstype: String,
    /// Mount source (for FUSE, the fsname), e.g. `encfs`.
    pub source: String,
    /// Per-mount options, e.g. `ro,nosuid,nodev,relatime`.
    pub mount_options: String,
}

impl MountEntry {
    /// Whether the per-mount options contain `opt` (e.g. `"ro"`).
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.split(',').any(|o| o == opt)
    }
}

/// All current mounts of this process's mount namespace.
pub fn mount_entries() -> Vec<MountEntry> {
    let text = std::fs::read("/proc/self/mountinfo").expect("cannot read /proc/self/mountinfo");
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &[u8]) -> Option<MountEntry> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let sep = fields.iter().position(|f| *f == b"-")?;
    let text = |f: &[u8]| String::from_utf8_lossy(&unescape(f)).into_owned();
    Some(MountEntry {
        mount_point: PathBuf::from(OsString::from_vec(unescape(fields.get(4)?))),
        mount_options: text(fields.get(5)?),
        fstype: text(fields.get(sep + 1)?),
        source: text(fields.get(sep + 2)?),
    })
}

/// Decodes the `\ooo` octal escapes the kernel uses for space, tab, newline and backslash.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// `mnt` as the kernel lists it: absolute, with symlinks of its parent resolved. The last
/// component is not resolved, so this works on a dead ("transport endpoint is not
/// connected") mount point too.
pub fn mount_path(mnt: &Path) -> PathBuf {
    let abs = std::path::absolute(mnt)
        .unwrap_or_else(|e| panic!("cannot make {} absolute: {e}", show_os(mnt)));
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", show_os(parent)))
            .join(name),
        _ => abs,
    }
}

/// The topmost mount at `mnt`, if any.
pub fn mount_entry(mnt: &Path) -> Option<MountEntry> {
    let want = mount_path(mnt);
    mount_entries()
        .into_iter()
        .rev()
        .find(|e| e.mount_point == want)
}

/// Whether something is mounted at `mnt`.
pub fn is_mounted(mnt: &Path) -> bool {
    mount_entry(mnt).is_some()
}

/// Polls mountinfo until something is mounted at `mnt`; returns its entry. Panics after
/// `timeout`.
pub fn wait_mounted(mnt: &Path, timeout: Duration) -> MountEntry {
    let start = Instant::now();
    loop {
        if let Some(e) = mount_entry(mnt) {
            return e;
        }
        if start.elapsed() > timeout {
            panic!("{} was not mounted within {timeout:?}", show_os(mnt));
        }
        std::thread::sleep(POLL);
    }
}

/// Polls mountinfo until nothing is mounted at `mnt`. Panics after `timeout`.
pub fn wait_unmounted(mnt: &Path, timeout: Duration) {
    let start = Instant::now();
    while is_mounted(mnt) {
        if start.elapsed() > timeout {
            panic!("{} was still mounted after {timeout:?}", show_os(mnt));
        }
        std::thread::sleep(POLL);
    }
}

/// Unmounts the FUSE mount at `mnt`: `fusermount3 -u`, retried while busy, then a lazy
/// `fusermount3 -u -z`. Ok if nothing is (or remains) mounted there.
pub fn unmount(mnt: &Path) -> Result<(), String> {
    let mut last_err = String::new();
    for _ in 0..UNMOUNT_RETRIES {
        if !is_mounted(mnt) {
            return Ok(());
        }
        match Command::new("fusermount3").arg("-u").arg(mnt).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => last_err = String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => last_err = format!("cannot run fusermount3 (apt-get install fuse3): {e}"),
        }
        if !is_mounted(mnt) {
            return Ok(());
        }
        std::thread::sleep(UNMOUNT_PAUSE);
    }
    let lazy = Command::new("fusermount3")
        .args(["-u", "-z"])
        .arg(mnt)
        .output();
    if !is_mounted(mnt) {
        return Ok(());
    }
    let lazy = match lazy {
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => e.to_string(),
    };
    Err(format!(
        "cannot unmount {}: {last_err}; lazy unmount: {lazy}",
        show_os(mnt)
    ))
}

/// A live mount that is unmounted when this guard is dropped (also on panic).
#[derive(Debug)]
pub struct Mount {
    /// The mount point, as the kernel lists it (see [`mount_path`]).
    pub mnt: PathBuf,
    armed: bool,
}

impl Mount {
    /// Guards the mount point `mnt`, mounted (or about to be mounted) by anyone, e.g. by an
    /// `encmount up` under test. Dropping it unmounts whatever is mounted there then.
    pub fn adopt(mnt: &Path) -> Mount {
        Mount {
            mnt: mount_path(mnt),
            armed: true,
        }
    }

    /// The mount's entry in mountinfo (panics if it is gone).
    pub fn entry(&self) -> MountEntry {
        mount_entry(&self.mnt)
            .unwrap_or_else(|| panic!("{} is no longer mounted", show_os(&self.mnt)))
    }

    /// Unmounts now, and panics if that fails.
    pub fn unmount(mut self) {
        self.armed = false;
        if let Err(e) = unmount(&self.mnt) {
            panic!("{e}");
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = unmount(&self.mnt)
        {
            // Never panic in drop: it may run while unwinding.
            eprintln!("warning: {e}");
        }
    }
}
