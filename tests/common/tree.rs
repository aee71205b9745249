//! A deterministic test-tree generator ([`generate`]), a tree comparer ([`compare`],
//! [`assert_same_tree`]) and a per-entry digest ([`tree_digest`]).
//!
//! Same [`TreeOptions`] (seed included) → byte-identical names, contents, modes and mtimes.
//!
//! Layout made by [`generate`] (B = `block_size`):
//! * `files/`: sizes 0, 1, B-1, B, B+1, 2B-1, 2B, 2B+1, `big-NMiB`, `zeros-dense` (zeros
//!   written as data), `sparse-hole` (a hole then 100 bytes), `sparse-tail` (100 bytes then a
//!   hole), `hard-a`; modes 0600/0644/0755/0444.
//! * `names/d0..d2/`: one entry for every name length 1..=`max_name_len` bytes (mostly
//!   files; every tenth a directory, some symlinks), in five flavours: ASCII, multi-byte
//!   UTF-8, non-UTF-8 bytes (0xff, 0x01, 0x80, tab, DEL…), a leading dot, spaces.
//! * `odd/`: hand-picked names (`...`, `.hidden`, `-dash`, `\xff`, `CAPS`/`caps`, …).
//! * `deep/l1/l2/l3/l4/l5/leaf.txt` (dirs 0700/0755/0750) and `deep/empty/`.
//! * `links/`: `../x`, into a subdir, `/etc/hostname`, dangling, a dir, a loop, a non-UTF-8
//!   and a long target; `links/sub/hard-b` = `files/hard-a`; a 3-name hard-link group.
//! * `special/fifo` when `fifo`.
//! * Fixed mtimes (2020 and later, with nanoseconds) on every entry except the root,
//!   set after writing: non-directories first, then directories deepest first.

mod compare;

#[allow(unused_imports)]
pub use compare::{CompareOptions, assert_same_tree, compare, tree_digest};

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata, Permissions};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

use super::show;

/// What [`generate`] makes.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    /// Names of every byte length 1..=this are created (at most 255, the ext4 limit). The
    /// fixed names of the layout (up to 13 bytes, e.g. `same-name.txt`) exist regardless.
    pub max_name_len: usize,
    /// Files around 1 and 2 times this size are created (the volume's block size).
    pub block_size: usize,
    /// Size of `files/big-NMiB`; 0 = no big file.
    pub big_file_mib: usize,
    /// Create hard links (`files/hard-a` = `links/sub/hard-b`, and a 3-name group).
    pub hard_links: bool,
    /// Create `special/fifo`.
    pub fifo: bool,
    /// Create `files/sparse-hole` and `files/sparse-tail`.
    pub sparse: bool,
    /// Seed of all data and mtimes.
    pub seed: u64,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            max_name_len: 175,
            block_size: 1024,
            big_file_mib: 3,
            hard_links: true,
            fifo: true,
            sparse: true,
            seed: 0x656e_636d_6f75_6e74,
        }
    }
}

/// Counts of what [`generate`] made (the root not included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSummary {
    /// Regular files, each inode once.
    pub files: usize,
    /// Directories.
    pub dirs: usize,
    /// Symbolic links.
    pub symlinks: usize,
    /// Extra names of hard-linked files (a file with 3 names counts 2 here).
    pub hard_links: usize,
    /// FIFOs.
    pub fifos: usize,
    /// Total size of the regular files, each inode once.
    pub bytes: u64,
    /// Byte length of the longest name.
    pub longest_name: usize,
}

/// Hand-picked names for `odd/` (each a regular file unless listed in `ODD_DIRS`).
const ODD_NAMES: &[&[u8]] = &[
    b"...",
    b".hidden",
    b"..double-dot-prefix",
    b" leading space",
    b"trailing space ",
    b"two  spaces",
    b"-dash",
    b"--double-dash",
    "ünïcödé-名前-😀.txt".as_bytes(),
    b"\xff",
    b"\x01ctrl-a",
    b"latin1-\xe9t\xe9",
    b"lone-lead-\xc3",
    b"tab\tname",
    b"back\\slash",
    b"quote\"'`$(x)",
    b"star*?[glob]",
    b"\x7fdel",
    b"~tilde",
    b"#hash;semi",
    b"%percent:colon",
    b"lt<gt>|pipe&amp",
    b"CAPS",
    b"caps",
    b"same-name.txt",
    b"a",
];
const ODD_DIRS: &[&[u8]] = &[b"...", b"CAPS"];

/// Creates the test tree under `root` (created if missing; must not contain the entries).
pub fn generate(root: &Path, opts: &TreeOptions) -> TreeSummary {
    assert!(
        (1..=255).contains(&opts.max_name_len),
        "max_name_len must be 1..=255 (the file system's limit)"
    );
    assert!(opts.block_size >= 1, "block_size must be at least 1");
    std::fs::create_dir_all(root).expect("cannot create the tree root");
    let mut g = Gen {
        root,
        rng: Rng::new(opts.seed),
        sum: TreeSummary::default(),
    };
    g.files(opts);
    g.names(opts);
    g.odd(opts);
    g.deep();
    g.links(opts);
    g.dir(b"special", 0o755);
    if opts.fifo {
        g.fifo(b"special/fifo", 0o644);
    }
    set_times(root, opts.seed);
    g.sum
}

struct Gen<'a> {
    root: &'a Path,
    rng: Rng,
    sum: TreeSummary,
}

impl Gen<'_> {
    fn files(&mut self, opts: &TreeOptions) {
        let b = opts.block_size as u64;
        self.dir(b"files", 0o755);
        let sizes = [
            ("empty", 0),
            ("one", 1),
            ("bs-1", b - 1),
            ("bs", b),
            ("bs+1", b + 1),
            ("2bs-1", 2 * b - 1),
            ("2bs", 2 * b),
            ("2bs+1", 2 * b + 1),
        ];
        const MODES: [u32; 4] = [0o644, 0o600, 0o755, 0o444];
        for (i, (name, size)) in sizes.iter().enumerate() {
            self.file(format!("files/{name}").as_bytes(), *size, MODES[i % 4]);
        }
        if opts.big_file_mib > 0 {
            let name = format!("files/big-{}MiB", opts.big_file_mib);
            self.file(name.as_bytes(), (opts.big_file_mib as u64) << 20, 0o644);
        }
        self.file_with(b"files/zeros-dense", &vec![0; 4 * opts.block_size], 0o644);
        self.file(b"files/same-name.txt", 17, 0o644);
        if opts.sparse {
            // A hole of whole file-system pages and whole volume blocks, then data.
            let hole = (4 * b).div_ceil(4096) * 4096;
            let data = self.bytes(100);
            let f = self.create(b"files/sparse-hole", 0o644);
            f.set_len(hole).expect("set_len");
            f.write_all_at(&data, hole).expect("write after the hole");
            self.count_file(hole + 100);
            let f = self.create(b"files/sparse-tail", 0o600);
            f.write_all_at(&data, 0).expect("write before the hole");
            f.set_len(100 + 8 * b).expect("set_len");
            self.count_file(100 + 8 * b);
        }
        if opts.hard_links {
            self.file(b"files/hard-a", b + 7, 0o640);
        }
    }

    /// Every name length 1..=max, spread over three dirs and five flavours.
    fn names(&mut self, opts: &TreeOptions) {
        self.dir(b"names", 0o755);
        for (i, mode) in [0o755, 0o750, 0o700].into_iter().enumerate() {
            self.dir(format!("names/d{i}").as_bytes(), mode);
        }
        for len in 1..=opts.max_name_len {
            let name = name_of_len(len, len % 5);
            let path = [format!("names/d{}/", len % 3).as_bytes(), &name].concat();
            if len % 10 == 4 {
                self.dir(&path, 0o755);
                self.file(&[&path[..], b"/f"].concat(), len as u64, 0o644);
            } else if len % 13 == 6 {
                self.symlink(&path, b"../../files/one");
            } else {
                let mode = [0o644, 0o600, 0o755][len % 3];
                self.file(&path, (len as u64 * 37) % 300, mode);
            }
        }
    }

    fn odd(&mut self, opts: &TreeOptions) {
        self.dir(b"odd", 0o700);
        for &name in ODD_NAMES.iter().filter(|n| n.len() <= opts.max_name_len) {
            let path = [b"odd/", name].concat();
            if ODD_DIRS.contains(&name) {
                self.dir(&path, 0o755);
                self.file(&[&path[..], b"/", name].concat(), 3, 0o644);
            } else {
                self.file(&path, name.len() as u64, 0o644);
            }
        }
    }

    fn deep(&mut self) {
        self.dir(b"deep", 0o755);
        self.dir(b"deep/empty", 0o755);
        let mut path = b"deep".to_vec();
        for (level, mode) in [0o700, 0o755, 0o750, 0o755, 0o700].into_iter().enumerate() {
            path.extend_from_slice(format!("/l{}", level + 1).as_bytes());
            self.dir(&path, mode);
            self.file(&[&path[..], b"/file"].concat(), 10 + level as u64, 0o644);
        }
        self.file(&[&path[..], b"/leaf.txt"].concat(), 33, 0o600);
        self.file(b"deep/l1/l2/same-name.txt", 17, 0o644);
    }

    fn links(&mut self, opts: &TreeOptions) {
        self.dir(b"links", 0o755);
        self.dir(b"links/sub", 0o755);
        self.file(b"links/sub/target.txt", 12, 0o644);
        self.symlink(b"links/rel-up", b"../files/one");
        self.symlink(b"links/into-sub", b"sub/target.txt");
        self.symlink(b"links/abs", b"/etc/hostname");
        self.symlink(b"links/dangling", b"no/such/../target");
        self.symlink(b"links/dir-link", b"../deep/l1");
        self.symlink(b"links/sub/up2", b"../../files/bs");
        self.symlink(b"links/loop", b"loop");
        self.symlink(b"links/odd-target", b"../odd/\xff");
        let long = [b"long-target/".as_slice(), &vec![b'x'; opts.max_name_len]].concat();
        self.symlink(b"links/long-target", &long);
        if opts.hard_links {
            self.hard_link(b"files/hard-a", b"links/sub/hard-b");
            self.file(b"deep/l1/hl3-1", 99, 0o600);
            self.hard_link(b"deep/l1/hl3-1", b"odd/hl3-2");
            self.hard_link(b"deep/l1/hl3-1", b"links/hl3-3");
        }
    }

    fn path(&self, rel: &[u8]) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel))
    }

    fn note_name(&mut self, rel: &[u8]) {
        let leaf = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
        self.sum.longest_name = self.sum.longest_name.max(leaf.len());
    }

    fn dir(&mut self, rel: &[u8], mode: u32) {
        let p = self.path(rel);
        std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", show(rel)));
        chmod(&p, mode);
        self.note_name(rel);
        self.sum.dirs += 1;
    }

    fn create(&mut self, rel: &[u8], mode: u32) -> File {
        let p = self.path(rel);
        let f = File::options()
            .write(true)
            .create_new(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("create {}: {e}", show(rel)));
        chmod(&p, mode);
        self.note_name(rel);
        f
    }

    fn count_file(&mut self, size: u64) {
        self.sum.files += 1;
        self.sum.bytes += size;
    }

    /// A file of `size` pseudo-random bytes, written in chunks.
    fn file(&mut self, rel: &[u8], size: u64, mode: u32) {
        let mut f = self.create(rel, mode);
        let mut left = size;
        while left > 0 {
            let n = left.min(1 << 16) as usize;
            let chunk = self.bytes(n);
            f.write_all(&chunk)
                .unwrap_or_else(|e| panic!("write {}: {e}", show(rel)));
            left -= n as u64;
        }
        self.count_file(size);
    }

    fn file_with(&mut self, rel: &[u8], data: &[u8], mode: u32) {
        let mut f = self.create(rel, mode);
        f.write_all(data)
            .unwrap_or_else(|e| panic!("write {}: {e}", show(rel)));
        self.count_file(data.len() as u64);
    }

    fn symlink(&mut self, rel: &[u8], target: &[u8]) {
        std::os::unix::fs::symlink(OsStr::from_bytes(target), self.path(rel))
            .unwrap_or_else(|e| panic!("symlink {}: {e}", show(rel)));
        self.note_name(rel);
        self.sum.symlinks += 1;
    }

    fn hard_link(&mut self, existing: &[u8], rel: &[u8]) {
        std::fs::hard_link(self.path(existing), self.path(rel))
            .unwrap_or_else(|e| panic!("link {}: {e}", show(rel)));
        self.note_name(rel);
        self.sum.hard_links += 1;
    }

    fn fifo(&mut self, rel: &[u8], mode: u32) {
        let p = self.path(rel);
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(mode))
            .unwrap_or_else(|e| panic!("mkfifo {}: {e}", show(rel)));
        chmod(&p, mode);
        self.note_name(rel);
        self.sum.fifos += 1;
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.rng.fill(&mut v);
        v
    }
}

/// A name of exactly `len` bytes (never `.` or `..`, never `/` or NUL) in one of five
/// flavours; names of different lengths always differ.
fn name_of_len(len: usize, flavour: usize) -> Vec<u8> {
    const ASCII: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.ABCDEFGHIJKLMNOPQRSTUVWXYZ+=,";
    const ODD: &[u8] = &[
        0xff, 0x01, b' ', 0x80, 0xfe, b'\t', 0x7f, b'x', 0xc3, b'.', b'%',
    ];
    const WIDE: [&str; 5] = ["ü", "名", "😀", "é", "ж"];
    let mut name = Vec::with_capacity(len);
    match flavour {
        1 => {
            let mut i = 0;
            while name.len() < len {
                let c = WIDE[i % WIDE.len()].as_bytes();
                if name.len() + c.len() <= len {
                    name.extend_from_slice(c);
                } else {
                    name.push(b'u');
                }
                i += 1;
            }
        }
        2 => name.extend(ODD.iter().cycle().take(len)),
        3 if len >= 3 => {
            name.push(b'.');
            name.extend(ASCII.iter().take(26).cycle().take(len - 1));
        }
        4 if len >= 3 => {
            name.push(b's');
            name.extend(b"p  ace ".iter().cycle().take(len - 1));
        }
        _ => {
            name.push(b'n');
            name.extend(ASCII.iter().cycle().take(len - 1));
        }
    }
    debug_assert_eq!(name.len(), len);
    name
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", show(p.as_os_str().as_bytes())));
}

/// Fixed atime = mtime for every entry below `root`: non-directories first, then
/// directories deepest first (so that setting a child does not touch a parent afterwards).
fn set_times(root: &Path, seed: u64) {
    let entries = walk(root);
    let mut order: Vec<(&OsString, bool)> = entries.iter().map(|(p, m)| (p, m.is_dir())).collect();
    // Stable sort: non-dirs (in path order), then dirs by depth descending.
    let depth = |p: &OsString| p.as_bytes().iter().filter(|&&b| b == b'/').count();
    order
        .sort_by_key(|&(p, is_dir)| (is_dir, std::cmp::Reverse(if is_dir { depth(p) } else { 0 })));
    let base = 1_577_934_245 + (seed % 1_000_000) as i64; // 2020-01-02T03:04:05Z + seed
    for (i, (rel, _)) in order.into_iter().enumerate() {
        let nsec = match i {
            0 => 0,
            1 => 999_999_999,
            _ => (splitmix(seed ^ i as u64) % 1_000_000_000) as i64,
        };
        let ts = TimeSpec::new(base + i as i64 * 3_607, nsec);
        utimensat(
            nix::fcntl::AT_FDCWD,
            &root.join(rel),
            &ts,
            &ts,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap_or_else(|e| panic!("utimensat {}: {e}", show(rel.as_bytes())));
    }
}

/// Every entry below `root` (not the root itself), keyed by its relative path, with its
/// `lstat` metadata. Symlinks are not followed. Keys sort by bytes.
pub fn walk(root: &Path) -> BTreeMap<OsString, Metadata> {
    let mut out = BTreeMap::new();
    let mut stack = vec![OsString::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let rd = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", show(dir.as_os_str().as_bytes())));
        for entry in rd {
            let entry =
                entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", show(rel.as_bytes())));
            let child = if rel.is_empty() {
                entry.file_name()
            } else {
                let mut v = rel.clone().into_vec();
                v.push(b'/');
                v.extend_from_slice(entry.file_name().as_bytes());
                OsString::from_vec(v)
            };
            let meta = std::fs::symlink_metadata(root.join(&child))
                .unwrap_or_else(|e| panic!("cannot lstat {}: {e}", show(child.as_bytes())));
            if meta.is_dir() {
                stack.push(child.clone());
            }
            out.insert(child, meta);
        }
    }
    out
}

/// xorshift64* seeded through splitmix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
