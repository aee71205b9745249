//! Becoming the invoking user before rsync runs (design §8.4): sudo's
//! `SUDO_UID`/`SUDO_GID`, no supplementary groups, no capabilities in any
//! set (bounding and ambient too), no_new_privs, a clean environment.

use std::ffi::OsString;

use caps::CapSet;
use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

use super::Refusal;
use crate::manager::config::IoClass;

/// The invoking user, from sudo's variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `SUDO_UID`.
    pub uid: u32,
    /// `SUDO_GID`.
    pub gid: u32,
    /// `SUDO_USER` (for the log only).
    pub name: String,
}

/// Reads sudo's variables through `env`; refuses root callers and a
/// missing or malformed variable (we must know whom to become).
pub fn caller(env: impl Fn(&str) -> Option<OsString>) -> Result<Caller, Refusal> {
    let num = |k: &str| -> Result<u32, Refusal> {
        let v = env(k).ok_or_else(|| Refusal(format!("not run through sudo (no {k})")))?;
        v.to_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Refusal(format!("malformed {k}")))
    };
    let (uid, gid) = (num("SUDO_UID")?, num("SUDO_GID")?);
    if uid == 0 || gid == 0 {
        return Err(Refusal(
            "the invoking user is root: run rsync directly".into(),
        ));
    }
    let name = env("SUDO_USER")
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| uid.to_string());
    Ok(Caller { uid, gid, name })
}

/// io class and nice, while still root (a negative nice needs it).
pub fn apply_scheduling(class: IoClass, nice: i8) -> Result<(), Refusal> {
    // ioprio_set(IOPRIO_WHO_PROCESS, self): class << 13 | level.
    let prio = match class {
        IoClass::None => None,
        IoClass::Idle => Some(3 << 13),
        IoClass::BestEffort(level) => Some((2 << 13) | i32::from(level)),
    };
    if let Some(prio) = prio {
        // SAFETY: a plain syscall with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, prio) };
        if r != 0 {
            return Err(Refusal(format!(
                "ioprio_set: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    // SAFETY: setpriority with integer arguments.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, i32::from(nice)) } != 0 {
        return Err(Refusal(format!(
            "setpriority: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Drops to `caller` for good and sets no_new_privs.
pub fn drop_to(caller: &Caller) -> Result<(), Refusal> {
    let fail = |what: &str, e: String| Refusal(format!("cannot drop privileges: {what}: {e}"));
    // The bounding set can only shrink while we hold CAP_SETPCAP: first.
    for cap in caps::all() {
        caps::drop(None, CapSet::Bounding, cap).map_err(|e| fail("bounding set", e.to_string()))?;
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("ambient set", e.to_string()))?;
    setgroups(&[]).map_err(|e| fail("setgroups", e.to_string()))?;
    let (uid, gid) = (Uid::from_raw(caller.uid), Gid::from_raw(caller.gid));
    setresgid(gid, gid, gid).map_err(|e| fail("setresgid", e.to_string()))?;
    setresuid(uid, uid, uid).map_err(|e| fail("setresuid", e.to_string()))?;
    for set in [CapSet::Effective, CapSet::Permitted, CapSet::Inheritable] {
        caps::clear(None, set).map_err(|e| fail("capabilities", e.to_string()))?;
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(fail(
            "no_new_privs",
            std::io::Error::last_os_error().to_string(),
        ));
    }
    // Check, do not trust: the real, effective and saved ids.
    if setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_ok()
        || nix::unistd::geteuid().as_raw() != caller.uid
    {
        return Err(fail("verify", "root is still reachable".into()));
    }
    Ok(())
}

/// The environment rsync gets: nothing from the caller.
pub fn clean_env() -> Vec<(OsString, OsString)> {
    vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("LC_ALL".into(), "C".into()),
    ]
}
