//! The allow-list (design §8): which short letters and long options a
//! read-only server sender may get. The policy is data, as in rrsync:
//! everything not listed here is refused, and the options known to be
//! dangerous are refused with their own reason.

/// What a long option may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// No value (`--numeric-ids`).
    Flag,
    /// A value that is not a path (`--timeout=600`); any printable bytes.
    Value,
    /// Only `-` (the list comes over the protocol from the client).
    Dash,
}

/// Letters allowed in the option cluster (before its `e` tail): rrsync
/// 3.5.0's table less `s` (handled as protected args) and `L k K`.
pub const SHORT_ALLOWED: &[u8] = b"ACDEHIJNORSUWXbcdglmnopqrtuvxyz";

/// Why a short letter is refused.
pub fn short_refusal(letter: u8) -> String {
    match letter {
        b'L' => "-L (--copy-links) follows symlinks out of the view".into(),
        b'k' => "-k (--copy-dirlinks) follows symlinks out of the view".into(),
        b'K' => "-K (--keep-dirlinks) follows symlinks out of the view".into(),
        b'T' => "-T (--temp-dir) is a receiver option".into(),
        b'f' => "-f (--filter) on the command line can read server files".into(),
        b'M' => "-M (--remote-option) passes options the shim cannot see".into(),
        b'B' | b'@' => format!("-{} belongs in its own argument", letter as char),
        c if c.is_ascii_graphic() => format!("unknown short option -{}", c as char),
        c => format!("byte 0x{c:02x} in the option cluster"),
    }
}

/// The long options a read-only sender may get.
pub const LONG_ALLOWED: &[(&str, Rule)] = &[
    ("numeric-ids", Rule::Flag),
    ("ignore-errors", Rule::Flag),
    ("safe-links", Rule::Flag),
    ("munge-links", Rule::Flag),
    ("list-only", Rule::Flag),
    ("size-only", Rule::Flag),
    ("ignore-times", Rule::Flag),
    ("ignore-existing", Rule::Flag),
    ("existing", Rule::Flag),
    ("inplace", Rule::Flag),
    ("append", Rule::Flag),
    ("append-verify", Rule::Flag),
    ("no-implied-dirs", Rule::Flag),
    ("open-noatime", Rule::Flag),
    ("from0", Rule::Flag),
    ("timeout", Rule::Value),
    ("contimeout", Rule::Value),
    ("bwlimit", Rule::Value),
    ("block-size", Rule::Value),
    ("checksum-seed", Rule::Value),
    ("checksum-choice", Rule::Value),
    ("compress-choice", Rule::Value),
    ("compress-level", Rule::Value),
    ("skip-compress", Rule::Value),
    ("iconv", Rule::Value),
    ("info", Rule::Value),
    ("max-size", Rule::Value),
    ("min-size", Rule::Value),
    ("max-alloc", Rule::Value),
    ("modify-window", Rule::Value),
    ("files-from", Rule::Dash),
];

/// The known-dangerous long options (exact names) and why.
const LONG_REFUSED: &[(&str, &str)] = &[
    ("server", "a second --server"),
    ("sender", "a second --sender"),
    (
        "copy-links",
        "--copy-links follows symlinks out of the view",
    ),
    (
        "copy-unsafe-links",
        "--copy-unsafe-links follows symlinks out of the view",
    ),
    (
        "copy-dirlinks",
        "--copy-dirlinks follows symlinks out of the view",
    ),
    (
        "keep-dirlinks",
        "--keep-dirlinks follows symlinks out of the view",
    ),
    ("temp-dir", "--temp-dir is a receiver option (writes)"),
    ("partial-dir", "--partial-dir is a receiver option (writes)"),
    ("backup-dir", "--backup-dir is a receiver option (writes)"),
    ("link-dest", "--link-dest is a receiver option"),
    ("copy-dest", "--copy-dest is a receiver option"),
    ("compare-dest", "--compare-dest is a receiver option"),
    ("debug", "--debug can leak server-side rule text"),
    ("copy-devices", "--copy-devices reads device contents"),
    ("write-devices", "--write-devices writes to devices"),
    ("rsync-path", "--rsync-path runs another program"),
    ("daemon", "--daemon is not a pull"),
    ("config", "--config reads a server-side file"),
    (
        "insecure-links",
        "--insecure-links weakens rsync's path walk",
    ),
    (
        "confine-root",
        "a caller's --confine-root (the shim sets its own)",
    ),
    ("rsh", "a second -e/--rsh"),
    (
        "protect-args",
        "--protect-args is only accepted as s in the cluster",
    ),
    (
        "secluded-args",
        "--secluded-args is only accepted as s in the cluster",
    ),
    ("old-args", "--old-args changes how arguments are split"),
    ("exclude-from", "--exclude-from reads a server-side file"),
    ("include-from", "--include-from reads a server-side file"),
    (
        "filter",
        "--filter on the command line can read server files",
    ),
    (
        "exclude",
        "filter rules belong in the protocol, not on the command line",
    ),
    (
        "include",
        "filter rules belong in the protocol, not on the command line",
    ),
    ("super", "--super is a receiver option"),
    ("fake-super", "--fake-super is a receiver option"),
    (
        "remote-option",
        "--remote-option passes options the shim cannot see",
    ),
];

/// The rule for `--NAME`, or why it is refused.
pub fn long_rule(name: &str) -> Result<Rule, String> {
    if let Some((_, r)) = LONG_ALLOWED.iter().find(|(n, _)| *n == name) {
        return Ok(*r);
    }
    if let Some((_, why)) = LONG_REFUSED.iter().find(|(n, _)| *n == name) {
        return Err((*why).into());
    }
    let family = if name.starts_with("delete") || name == "del" {
        Some("deletes on the server")
    } else if name.starts_with("remove-") {
        Some("removes source files")
    } else if name.starts_with("log-file") {
        Some("writes a server-side log file")
    } else if name.ends_with("-batch") {
        Some("reads or writes a batch file")
    } else {
        None
    };
    Err(match family {
        Some(why) => format!("--{name} {why}"),
        None => format!("unknown option --{name}"),
    })
}
