//! `encmount check`, deployment part (design §8, §9): what must be true of
//! the machine, beyond the yaml and the views, for the backup user's pull
//! through `sudo encmount-rsync` to be both possible and confined.
//!
//! - the sudoers drop-in exists, is 0440 root:root, passes `visudo -cf` and
//!   names the installed shim;
//! - the shim and every directory above it are root-owned and writable by
//!   nobody else (else whoever can write them owns root through sudo);
//! - the yaml's rsync supports `--confine-root` (a note when it does not:
//!   the shim's Landlock ruleset still confines it);
//! - each directory the views mount in is root-owned, mode 0700 or 0710,
//!   with an ACL entry `user:READER:--x` for each of its views' readers;
//! - where AppArmor is enabled, both profiles are loaded.
//!
//! Every finding is one line that says how to fix it. The locations are in
//! [`Deployment`] so that tests can point them at files of their own.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::config::ManagerConfig;
use super::paths::Paths;

/// Where the sudoers drop-in is installed.
pub const SUDOERS_DROPIN: &str = "/etc/sudoers.d/encmount";
/// The name of the shim binary, installed next to `encmount`.
pub const SHIM_NAME: &str = "encmount-rsync";
/// The AppArmor profiles the package ships, by profile name.
pub const APPARMOR_PROFILES: [(&str, &str); 2] = [
    ("encmount", "/etc/apparmor.d/usr.bin.encmount"),
    ("encmount-rsync", "/etc/apparmor.d/usr.bin.encmount-rsync"),
];

/// The files and programs the deployment check looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The sudoers drop-in.
    pub sudoers: PathBuf,
    /// The shim the drop-in must name.
    pub shim: PathBuf,
    /// `visudo`, to validate the drop-in.
    pub visudo: PathBuf,
    /// securityfs' AppArmor directory (its `profiles` lists what is loaded).
    pub apparmor_fs: PathBuf,
    /// The kernel's "is AppArmor enabled" flag (`Y`/`N`).
    pub apparmor_enabled: PathBuf,
}

impl Deployment {
    /// The system locations; the shim is the one next to `encmount`.
    pub fn system(paths: &Paths) -> Deployment {
        Deployment {
            sudoers: PathBuf::from(SUDOERS_DROPIN),
            shim: paths.encmount_bin.with_file_name(SHIM_NAME),
            visudo: PathBuf::from("/usr/sbin/visudo"),
            apparmor_fs: PathBuf::from("/sys/kernel/security/apparmor"),
            apparmor_enabled: PathBuf::from("/sys/module/apparmor/parameters/enabled"),
        }
    }
}

/// One deployment finding: a problem (check fails) or a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployFinding {
    /// A problem, or just a note.
    pub problem: bool,
    /// What is wrong and how to fix it, on one line.
    pub message: String,
}

/// Runs every deployment check against `config`.
pub fn check_deployment(config: &ManagerConfig, d: &Deployment) -> Vec<DeployFinding> {
    let mut out = Vec::new();
    check_sudoers(d, &mut out);
    check_shim(&d.shim, &mut out);
    check_rsync(&config.shim.rsync, &mut out);
    for (dir, readers) in gates(config) {
        check_gate(&dir, &readers, &mut out);
    }
    check_apparmor(d, &mut out);
    out
}

fn problem(out: &mut Vec<DeployFinding>, message: String) {
    out.push(DeployFinding {
        problem: true,
        message,
    });
}

fn note(out: &mut Vec<DeployFinding>, message: String) {
    out.push(DeployFinding {
        problem: false,
        message,
    });
}

fn check_sudoers(d: &Deployment, out: &mut Vec<DeployFinding>) {
    let path = &d.sudoers;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            problem(
                out,
                format!(
                    "sudoers drop-in {}: {e}; install the encmount package, or copy its \
                     sudoers.d/encmount there with mode 0440",
                    path.display()
                ),
            );
            return;
        }
    };
    if !meta.file_type().is_file() {
        problem(
            out,
            format!(
                "sudoers drop-in {} is not a regular file (sudo ignores it); replace it with \
                 the packaged file",
                path.display()
            ),
        );
        return;
    }
    let mode = meta.mode() & 0o7777;
    if mode != 0o440 || meta.uid() != 0 || meta.gid() != 0 {
        problem(
            out,
            format!(
                "sudoers drop-in {} is mode {mode:04o}, owner {}:{} (expected 0440 root:root); \
                 fix: chown root:root {0} && chmod 0440 {0}",
                path.display(),
                meta.uid(),
                meta.gid()
            ),
        );
    }
    match Command::new(&d.visudo)
        .arg("-cf")
        .arg(path)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            let why = why.lines().next().unwrap_or("").trim();
            problem(
                out,
                format!(
                    "sudoers drop-in {} does not pass `visudo -cf` ({why}); sudo then refuses \
                     every command: fix the file and run `visudo -cf {0}`",
                    path.display()
                ),
            );
        }
        Err(e) => problem(
            out,
            format!(
                "cannot run {} to validate {}: {e}; install sudo",
                d.visudo.display(),
                path.display()
            ),
        ),
    }
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            problem(out, format!("cannot read {}: {e}", path.display()));
            return;
        }
    };
    if !names_shim(&String::from_utf8_lossy(&text), &d.shim) {
        problem(
            out,
            format!(
                "sudoers drop-in {} has no NOPASSWD rule for {} --server --sender; the backup \
                 user cannot run the shim: add `backuppc ALL=(root) NOPASSWD: {1} --server \
                 --sender *`",
                path.display(),
                d.shim.display()
            ),
        );
    }
}

/// Whether some uncommented rule of `text` lets a user run `shim` as a
/// sender without a password.
fn names_shim(text: &str, shim: &Path) -> bool {
    let shim = shim.to_string_lossy();
    let wanted = format!("{shim} --server --sender");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with("Defaults"))
        .any(|l| l.contains("NOPASSWD:") && l.contains(&wanted))
}

fn check_shim(shim: &Path, out: &mut Vec<DeployFinding>) {
    let meta = match fs::metadata(shim) {
        Ok(m) => m,
        Err(e) => {
            problem(
                out,
                format!(
                    "shim {}: {e}; install the encmount package (it installs the shim next to \
                     encmount)",
                    shim.display()
                ),
            );
            return;
        }
    };
    if meta.mode() & 0o111 == 0 {
        problem(
            out,
            format!(
                "shim {} is not executable; fix: chmod 0755 {0}",
                shim.display()
            ),
        );
    }
    // sudo runs the shim as root: whoever can replace it, or any directory
    // above it, runs code as root. A sticky directory (/tmp) lets nobody
    // rename what root owns in it.
    let mut cur = Some(shim);
    while let Some(p) = cur {
        match fs::metadata(p) {
            Ok(m) if m.uid() != 0 || (m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0) => problem(
                out,
                format!(
                    "{} is owner uid {}, mode {:04o}: the shim run as root through sudo must \
                     not be replaceable by anyone but root; fix: chown root:root {0} && \
                     chmod go-w {0}",
                    p.display(),
                    m.uid(),
                    m.mode() & 0o7777
                ),
            ),
            Ok(_) => {}
            Err(e) => problem(out, format!("{}: {e}", p.display())),
        }
        cur = p.parent().filter(|q| !q.as_os_str().is_empty());
    }
}

fn check_rsync(rsync: &Path, out: &mut Vec<DeployFinding>) {
    let help = Command::new(rsync)
        .arg("--help")
        .env_clear()
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match help {
        Ok(o) => {
            if !String::from_utf8_lossy(&o.stdout).contains("--confine-root") {
                note(
                    out,
                    format!(
                        "{} has no --confine-root (rsync 3.5.0 and later): the shim relies on \
                         its Landlock ruleset and the AppArmor profile alone to keep rsync in \
                         the view; to add that layer, install rsync >= 3.5.0 and set \
                         `shim: rsync:` to it",
                        rsync.display()
                    ),
                );
            }
        }
        Err(e) => problem(
            out,
            format!(
                "the shim's rsync {}: {e}; install rsync or fix `shim: rsync:` in the yaml",
                rsync.display()
            ),
        ),
    }
}

/// The directories the views mount in, each with the readers of the views
/// below it (uid, name).
fn gates(config: &ManagerConfig) -> BTreeMap<PathBuf, BTreeMap<u32, String>> {
    let mut gates: BTreeMap<PathBuf, BTreeMap<u32, String>> = BTreeMap::new();
    for v in &config.views {
        let Some(parent) = v.mountpoint.parent() else {
            continue;
        };
        let readers = gates.entry(parent.to_path_buf()).or_default();
        for r in &v.readers {
            readers.insert(r.uid, r.name.clone());
        }
    }
    gates
}

fn check_gate(dir: &Path, readers: &BTreeMap<u32, String>, out: &mut Vec<DeployFinding>) {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            note(
                out,
                format!(
                    "mount root {} does not exist yet; `encmount up` creates it (root-owned, \
                     0700, one ACL entry per reader)",
                    dir.display()
                ),
            );
            return;
        }
        Err(e) => {
            problem(out, format!("mount root {}: {e}", dir.display()));
            return;
        }
    };
    let mode = meta.mode() & 0o7777;
    if meta.uid() != 0 || (mode != 0o700 && mode != 0o710) {
        problem(
            out,
            format!(
                "mount root {} is owner uid {}, mode {mode:04o}: other local users can reach \
                 the views; fix: chown root {0} && chmod 0700 {0} (`encmount up` sets it)",
                dir.display(),
                meta.uid()
            ),
        );
    }
    let entries = match access_acl(dir) {
        Ok(e) => e,
        Err(e) => {
            problem(
                out,
                format!("cannot read the ACL of mount root {}: {e}", dir.display()),
            );
            return;
        }
    };
    for (uid, name) in readers {
        let perm = entries.get(uid).copied();
        if perm.is_none_or(|p| p & 1 == 0) {
            problem(
                out,
                format!(
                    "mount root {} lacks the ACL entry user:{name}:--x, so reader {name} cannot \
                     reach the views; fix: setfacl -m u:{name}:--x {0} (`encmount up` sets it)",
                    dir.display()
                ),
            );
        } else if perm.is_some_and(|p| p & 0o6 != 0) {
            problem(
                out,
                format!(
                    "mount root {} gives reader {name} more than --x (it may list or change \
                     the mount root); fix: setfacl -m u:{name}:--x {0}",
                    dir.display()
                ),
            );
        }
    }
}

/// The named-user entries (uid -> rwx bits) of `dir`'s access ACL, read
/// from the `system.posix_acl_access` xattr (Linux's
/// `posix_acl_xattr_header` v2: a u32 version, then {u16 tag, u16 perm,
/// u32 id} entries, little-endian). No ACL means no entries.
fn access_acl(dir: &Path) -> std::io::Result<BTreeMap<u32, u8>> {
    const ACL_USER: u16 = 0x02;
    let c = CString::new(dir.as_os_str().as_bytes())?;
    let name = c"system.posix_acl_access";
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated and `buf` is writable for its
    // length.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => Ok(BTreeMap::new()),
            _ => Err(e),
        };
    }
    let buf = &buf[..n as usize];
    if buf.len() < 4 || u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) != 2 {
        return Err(std::io::Error::other("unknown ACL xattr version"));
    }
    let mut out = BTreeMap::new();
    for e in buf[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        if tag == ACL_USER {
            out.insert(id, (perm & 0o7) as u8);
        }
    }
    Ok(out)
}

fn check_apparmor(d: &Deployment, out: &mut Vec<DeployFinding>) {
    let enabled = fs::read_to_string(&d.apparmor_enabled)
        .map(|s| s.trim() == "Y")
        .unwrap_or(false);
    if !enabled {
        return;
    }
    let loaded = match fs::read_to_string(d.apparmor_fs.join("profiles")) {
        Ok(s) => s,
        Err(e) => {
            problem(
                out,
                format!(
                    "AppArmor is enabled but {} is unreadable ({e}); mount securityfs, then \
                     check with aa-status",
                    d.apparmor_fs.join("profiles").display()
                ),
            );
            return;
        }
    };
    for (name, file) in APPARMOR_PROFILES {
        // Lines read "NAME (enforce)"; child profiles "NAME//CHILD (...)".
        let mode = loaded.lines().find_map(|l| {
            let (n, m) = l.rsplit_once(' ')?;
            (n == name).then(|| m.trim_matches(|c| c == '(' || c == ')').to_string())
        });
        match mode {
            None => problem(
                out,
                format!(
                    "AppArmor is enabled but profile {name} is not loaded; fix: \
                     apparmor_parser -r {file}"
                ),
            ),
            Some(m) if m != "enforce" => note(
                out,
                format!(
                    "AppArmor profile {name} is in {m} mode, not enforce; fix: aa-enforce {file}"
                ),
            ),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
