//! The kernel's own confinement for rsync (design §8.4): a Landlock
//! ruleset, inherited across exec, that allows reading beneath the view's
//! mountpoint and the few system files an rsync needs to start, executing
//! only rsync and the loader, and no write, create or TCP at all.

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};

use super::Refusal;

/// The newest ABI we ask for; older kernels get what they support.
const ABI_WANTED: ABI = ABI::V5;

/// What rsync needs to start: shared libraries and their cache, locale,
/// name service (uid/gid names) and time zone files.
const SYSTEM_READ: &[&str] = &[
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/usr/share/locale",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
];

/// Restricts this thread (the shim is single-threaded) and what it execs.
/// Returns how much the kernel enforces, for the log line.
pub fn confine(mountpoint: &Path, rsync: &Path) -> Result<&'static str, Refusal> {
    let fail = |e: landlock::RulesetError| Refusal(format!("landlock: {e}"));
    let read = AccessFs::from_read(ABI_WANTED);
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .map_err(fail)?
        .handle_access(AccessNet::from_all(ABI_WANTED))
        .map_err(fail)?
        .create()
        .map_err(fail)?
        .add_rules(path_beneath_rules(
            [mountpoint],
            AccessFs::ReadFile | AccessFs::ReadDir,
        ))
        .map_err(fail)?
        .add_rules(path_beneath_rules(SYSTEM_READ, read))
        .map_err(fail)?
        .add_rules(path_beneath_rules([rsync], read))
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => "landlock enforced",
        RulesetStatus::PartiallyEnforced => "landlock partly enforced (old kernel)",
        RulesetStatus::NotEnforced => "landlock NOT enforced (kernel without Landlock)",
    })
}
