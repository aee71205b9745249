//! `encmount ls`: the plaintext listing of a backup without restoring it,
//! like `tar -tv`: short (one path a line), long (type and mode, owner,
//! size, mtime, path, link target) or JSON lines for scripts.

use std::fmt::Write as _;

use super::source::{Kind, Meta};

/// One entry as `ls` shows it.
#[derive(Clone, Debug)]
pub struct Listed {
    /// Plaintext path below the root.
    pub path: Vec<u8>,
    /// Its type.
    pub kind: Kind,
    /// Its metadata (size is the ciphertext's).
    pub meta: Meta,
    /// Plaintext size (files) or target length (symlinks).
    pub size: u64,
    /// Decoded symlink target, or the first name of a hard link.
    pub target: Option<Vec<u8>>,
}

/// Bytes as text, one entry per line: the escaping of `decode`
/// ([`crate::escape::escape_name`]; its output is always UTF-8).
pub fn escape(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&crate::escape::escape_name(bytes)).into_owned()
}

fn type_char(k: &Kind) -> char {
    match k {
        Kind::Dir => 'd',
        Kind::File => '-',
        Kind::Symlink(_) => 'l',
        Kind::HardLink(_) => 'h',
        Kind::Fifo => 'p',
        Kind::Socket => 's',
        Kind::Char(_) => 'c',
        Kind::Block(_) => 'b',
        Kind::Refused(_) => '?',
    }
}

fn type_name(k: &Kind) -> &'static str {
    match k {
        Kind::Dir => "dir",
        Kind::File => "file",
        Kind::Symlink(_) => "symlink",
        Kind::HardLink(_) => "hardlink",
        Kind::Fifo => "fifo",
        Kind::Socket => "socket",
        Kind::Char(_) => "char",
        Kind::Block(_) => "block",
        Kind::Refused(_) => "refused",
    }
}

/// `rwxr-xr-x` with set-id and sticky bits as `ls -l` shows them.
pub fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for (i, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> i) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of Unix seconds.
pub fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (proleptic Gregorian), after H. Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The path, as `ls` prints it without `--long`.
pub fn short(e: &Listed) -> String {
    escape(&e.path)
}

/// `drwxr-xr-x 0/0 4096 2024-01-01 12:00:00 path -> target`.
pub fn long(e: &Listed) -> String {
    let owner = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    let mut s = format!(
        "{}{} {}/{} {:>10} {} {}",
        type_char(&e.kind),
        mode_string(e.meta.mode),
        owner(e.meta.uid),
        owner(e.meta.gid),
        e.size,
        e.meta.mtime.map_or("-".to_string(), |(t, _)| utc(t)),
        escape(&e.path)
    );
    match (&e.kind, &e.target) {
        (Kind::Symlink(_), Some(t)) => {
            let _ = write!(s, " -> {}", escape(t));
        }
        (Kind::HardLink(_), Some(t)) => {
            let _ = write!(s, " link to {}", escape(t));
        }
        _ => {}
    }
    s
}

/// One JSON object (one line): path, type, size, mode, uid, gid, mtime
/// (seconds, with `mtime_nsec`), target. Names that are not UTF-8 are
/// escaped as in the text output.
pub fn json(e: &Listed) -> String {
    let mut v = serde_json::json!({
        "path": escape(&e.path),
        "type": type_name(&e.kind),
        "size": e.size,
        "mode": format!("{:04o}", e.meta.mode),
        "uid": e.meta.uid,
        "gid": e.meta.gid,
        "mtime": e.meta.mtime.map(|(t, _)| t),
        "mtime_nsec": e.meta.mtime.map(|(_, n)| n),
    });
    if let Some(t) = &e.target {
        v["target"] = serde_json::Value::String(escape(t));
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(mode_string(0o4755), "rwsr-xr-x");
        assert_eq!(mode_string(0o1644), "rw-r--r-T");
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(escape(b"a\nb\xff\\"), "a\\nb\\xff\\\\");
    }
}
