//! Tree comparison and digests. The two roots themselves are not compared (their modes and
//! mtimes belong to the test's temporary directories and mount points), only what is below.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::super::show;
use super::walk;

const CHUNK: usize = 1 << 16;

/// What [`compare`] checks besides names, types, contents and symlink targets (always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompareOptions {
    /// Permission bits (`mode & 0o7777`) of everything but symlinks.
    pub modes: bool,
    /// mtimes in nanoseconds, of every entry including symlinks.
    pub mtimes: bool,
    /// uid and gid.
    pub owners: bool,
    /// The same names are grouped by inode on both sides (hard links).
    pub hard_links: bool,
    /// mtimes are compared truncated to this many nanoseconds (1 = exact;
    /// 1000 where a writer keeps only microseconds, as encfs does).
    pub mtime_granularity_ns: u32,
}

impl CompareOptions {
    /// Everything.
    pub const ALL: CompareOptions = CompareOptions {
        modes: true,
        mtimes: true,
        owners: true,
        hard_links: true,
        mtime_granularity_ns: 1,
    };
    /// Names, types, contents and symlink targets only.
    pub const CONTENT: CompareOptions = CompareOptions {
        modes: false,
        mtimes: false,
        owners: false,
        hard_links: false,
        mtime_granularity_ns: 1,
    };
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions::ALL
    }
}

/// Every difference between the trees below `a` and `b`, one line each, in path order.
/// Lines start with the relative path (escaped by [`show`]), or with `missing in b:`,
/// `extra in b:` or `hard links:`. Entries under a missing directory are not listed again.
pub fn compare(a: &Path, b: &Path, opts: &CompareOptions) -> Vec<String> {
    let ea = walk(a);
    let eb = walk(b);
    let mut diffs = Vec::new();
    let mut only_a: HashSet<&OsStr> = HashSet::new();
    let mut only_b: HashSet<&OsStr> = HashSet::new();
    for (rel, ma) in &ea {
        match eb.get(rel) {
            None => {
                if !under(rel, &only_a) {
                    diffs.push(format!("missing in b: {}", show(rel.as_bytes())));
                }
                only_a.insert(rel);
            }
            Some(mb) if kind(&ma.file_type()) != kind(&mb.file_type()) => {
                diffs.push(format!(
                    "{}: type {} vs {}",
                    show(rel.as_bytes()),
                    kind(&ma.file_type()),
                    kind(&mb.file_type())
                ));
                only_a.insert(rel);
                only_b.insert(rel);
            }
            Some(mb) => entry(a, b, rel, ma, mb, opts, &mut diffs),
        }
    }
    for rel in eb.keys().filter(|rel| !ea.contains_key(*rel)) {
        if !under(rel, &only_b) {
            diffs.push(format!("extra in b: {}", show(rel.as_bytes())));
        }
        only_b.insert(rel);
    }
    if opts.hard_links {
        let (ga, gb) = (link_groups(&ea), link_groups(&eb));
        for (group, side, other) in ga
            .difference(&gb)
            .map(|g| (g, "a", "b"))
            .chain(gb.difference(&ga).map(|g| (g, "b", "a")))
        {
            let names: Vec<String> = group.iter().map(|n| show(n.as_bytes())).collect();
            diffs.push(format!(
                "hard links: [{}] are one inode in {side}, not in {other}",
                names.join(", ")
            ));
        }
    }
    diffs
}

/// Panics, listing the first 20 differences, unless the trees are the same.
pub fn assert_same_tree(a: &Path, b: &Path, opts: &CompareOptions) {
    let diffs = compare(a, b, opts);
    if diffs.is_empty() {
        return;
    }
    let mut msg = format!(
        "trees differ ({} differences)\n  a: {}\n  b: {}\n",
        diffs.len(),
        show(a.as_os_str().as_bytes()),
        show(b.as_os_str().as_bytes())
    );
    for d in diffs.iter().take(20) {
        let _ = writeln!(msg, "  {d}");
    }
    if diffs.len() > 20 {
        let _ = writeln!(msg, "  … and {} more", diffs.len() - 20);
    }
    panic!("{msg}");
}

/// One line per entry below `root`: type, size, sha256 of the contents (or the symlink
/// target), mode and mtime (ns). Equal digests = equal trees for determinism checks.
pub fn tree_digest(root: &Path) -> BTreeMap<OsString, String> {
    walk(root)
        .into_iter()
        .map(|(rel, m)| {
            let ft = m.file_type();
            let mut line = kind(&ft).to_owned();
            if ft.is_file() {
                let _ = write!(
                    line,
                    " size={} sha256={}",
                    m.len(),
                    sha256(&root.join(&rel))
                );
            } else if ft.is_symlink() {
                let _ = write!(line, " target={}", show(&target(&root.join(&rel))));
            } else if ft.is_char_device() || ft.is_block_device() {
                let _ = write!(line, " rdev={:#x}", m.rdev());
            }
            if !ft.is_symlink() {
                let _ = write!(line, " mode={:04o}", m.mode() & 0o7777);
            }
            let _ = write!(line, " mtime={}.{:09}", m.mtime(), m.mtime_nsec());
            (rel, line)
        })
        .collect()
}

/// Compares two entries of the same type.
fn entry(
    a: &Path,
    b: &Path,
    rel: &OsStr,
    ma: &Metadata,
    mb: &Metadata,
    opts: &CompareOptions,
    diffs: &mut Vec<String>,
) {
    let name = show(rel.as_bytes());
    let ft = ma.file_type();
    if ft.is_file() {
        if let Some(d) = contents(&a.join(rel), &b.join(rel)) {
            diffs.push(format!("{name}: {d}"));
        }
    } else if ft.is_symlink() {
        let (ta, tb) = (target(&a.join(rel)), target(&b.join(rel)));
        if ta != tb {
            diffs.push(format!(
                "{name}: link target {} vs {}",
                show(&ta),
                show(&tb)
            ));
        }
    } else if (ft.is_char_device() || ft.is_block_device()) && ma.rdev() != mb.rdev() {
        diffs.push(format!("{name}: rdev {:#x} vs {:#x}", ma.rdev(), mb.rdev()));
    }
    if opts.modes && !ft.is_symlink() && ma.mode() & 0o7777 != mb.mode() & 0o7777 {
        diffs.push(format!(
            "{name}: mode {:04o} vs {:04o}",
            ma.mode() & 0o7777,
            mb.mode() & 0o7777
        ));
    }
    let g = i64::from(opts.mtime_granularity_ns.max(1));
    if opts.mtimes && (ma.mtime(), ma.mtime_nsec() / g) != (mb.mtime(), mb.mtime_nsec() / g) {
        diffs.push(format!(
            "{name}: mtime {}.{:09} vs {}.{:09}",
            ma.mtime(),
            ma.mtime_nsec(),
            mb.mtime(),
            mb.mtime_nsec()
        ));
    }
    if opts.owners && (ma.uid(), ma.gid()) != (mb.uid(), mb.gid()) {
        diffs.push(format!(
            "{name}: owner {}:{} vs {}:{}",
            ma.uid(),
            ma.gid(),
            mb.uid(),
            mb.gid()
        ));
    }
}

/// `None` if both files hold the same bytes, else what differs. Streams both files.
fn contents(pa: &Path, pb: &Path) -> Option<String> {
    let open = |p: &Path| {
        File::open(p).map_err(|e| format!("cannot open {}: {e}", show(p.as_os_str().as_bytes())))
    };
    let (mut fa, mut fb) = match (open(pa), open(pb)) {
        (Ok(fa), Ok(fb)) => (fa, fb),
        (Err(e), _) | (_, Err(e)) => return Some(e),
    };
    let (mut ba, mut bb) = (vec![0; CHUNK], vec![0; CHUNK]);
    let mut offset = 0u64;
    loop {
        let na = match read_full(&mut fa, &mut ba) {
            Ok(n) => n,
            Err(e) => return Some(format!("read error in a at byte {offset}: {e}")),
        };
        let nb = match read_full(&mut fb, &mut bb) {
            Ok(n) => n,
            Err(e) => return Some(format!("read error in b at byte {offset}: {e}")),
        };
        let common = na.min(nb);
        if let Some(i) = (0..common).find(|&i| ba[i] != bb[i]) {
            return Some(format!("content differs at byte {}", offset + i as u64));
        }
        if na != nb {
            let rest = |f: &mut File, n: usize| {
                n as u64 + std::io::copy(f, &mut std::io::sink()).unwrap_or(0)
            };
            let (sa, sb) = (offset + rest(&mut fa, na), offset + rest(&mut fb, nb));
            return Some(format!(
                "size {sa} vs {sb} (same bytes up to {})",
                offset + common as u64
            ));
        }
        if na == 0 {
            return None;
        }
        offset += na as u64;
    }
}

/// Reads until `buf` is full or EOF.
fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn sha256(p: &Path) -> String {
    let mut f = File::open(p)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", show(p.as_os_str().as_bytes())));
    let mut h = Sha256::new();
    let mut buf = vec![0; CHUNK];
    loop {
        let n = read_full(&mut f, &mut buf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", show(p.as_os_str().as_bytes())));
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn target(p: &Path) -> Vec<u8> {
    std::fs::read_link(p)
        .unwrap_or_else(|e| panic!("cannot readlink {}: {e}", show(p.as_os_str().as_bytes())))
        .into_os_string()
        .into_encoded_bytes()
}

/// Whether an ancestor of `rel` is in `set`.
fn under(rel: &OsStr, set: &HashSet<&OsStr>) -> bool {
    Path::new(rel)
        .ancestors()
        .skip(1)
        .any(|p| set.contains(p.as_os_str()))
}

/// Names of non-directories grouped by (device, inode), groups of two or more.
fn link_groups(entries: &BTreeMap<OsString, Metadata>) -> BTreeSet<Vec<OsString>> {
    let mut by_inode: HashMap<(u64, u64), Vec<OsString>> = HashMap::new();
    for (rel, m) in entries.iter().filter(|(_, m)| !m.is_dir()) {
        by_inode
            .entry((m.dev(), m.ino()))
            .or_default()
            .push(rel.clone());
    }
    by_inode
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect()
}

fn kind(ft: &FileType) -> &'static str {
    if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "char-device"
    } else if ft.is_block_device() {
        "block-device"
    } else {
        "unknown"
    }
}
