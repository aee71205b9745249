//! Self-test of the integration-test toolkit (`tests/common/`): the tree generator and
//! comparer, the mount guards, and the stock-encfs helpers, with a real
//! plain → `encfs --reverse` → `rsync -aH` → `encfs` (forward) round trip.
//!
//! Stock encfs 1.9.5 behaviour observed here (and relied on):
//! * The reverse view passes modes, owners, mtimes (ns), inode numbers and link counts
//!   through, so `rsync -aH` of the view keeps hard links; the forward mount shows the
//!   backing inode numbers too, so the hard links come back.
//! * FIFOs are shown with encrypted names in the reverse view; `rsync -a` (-D) copies them
//!   and the forward mount shows them again.
//! * Relative symlink targets keep their `..` components (`../x` → `../<cipher name>`).
//!
//! rsync 3.x quirk (not encfs): `rsync -a` does not correct the mtime of a directory,
//! symlink or FIFO that differs only in nanoseconds from the source (same second). The
//! generated tree uses fixed old mtimes, so a fresh copy always gets them exactly.

use crate::common;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::Permissions;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::encfs::{self, EXPERT_AES192_BS1024_BLOCK_UNIQUEIV};
use common::tree::{self, CompareOptions, TreeOptions};
use common::{require, run};
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

const PASSWORD: &[u8] = "correct horse ünïcödé".as_bytes();

fn cp_a(src: &Path, dst: &Path) {
    run(Command::new("cp").arg("-a").arg(src.join(".")).arg(dst));
}

fn set_times(p: &Path, atime: &TimeSpec, mtime: &TimeSpec) {
    utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        atime,
        mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .expect("utimensat");
}

/// Copies atime/mtime of `src/rel` to `dst/rel` if both exist (without following symlinks).
fn copy_times(src: &Path, dst: &Path, rel: &str) {
    let (Ok(m), true) = (
        std::fs::symlink_metadata(src.join(rel)),
        dst.join(rel).symlink_metadata().is_ok(),
    ) else {
        return;
    };
    let atime = TimeSpec::new(m.atime(), m.atime_nsec());
    let mtime = TimeSpec::new(m.mtime(), m.mtime_nsec());
    set_times(&dst.join(rel), &atime, &mtime);
}

fn leaf_lengths(root: &Path) -> BTreeSet<usize> {
    tree::walk(root)
        .keys()
        .map(|p| p.as_bytes().rsplit(|&b| b == b'/').next().unwrap().len())
        .collect()
}

#[test]
fn generated_tree_is_complete_deterministic_and_copies_equal() {
    require(&["cp"]);
    let tmp = common::tempdir();
    let (src, again, other, copy) = (
        tmp.path().join("src"),
        tmp.path().join("again"),
        tmp.path().join("other"),
        tmp.path().join("copy"),
    );
    let opts = TreeOptions::default();
    let sum = tree::generate(&src, &opts);
    assert_eq!(sum.longest_name, 175);
    assert_eq!(sum.hard_links, 3);
    assert_eq!(sum.fifos, 1);
    assert!(
        sum.files > 150 && sum.dirs > 20 && sum.symlinks > 10,
        "{sum:?}"
    );
    assert!(sum.bytes > 3 << 20, "{sum:?}");

    // Every name length 1..=175, multi-byte UTF-8 and non-UTF-8 names.
    let lengths = leaf_lengths(&src);
    assert!((1..=175).all(|l| lengths.contains(&l)), "{lengths:?}");
    let entries = tree::walk(&src);
    let names: Vec<&[u8]> = entries.keys().map(|p| p.as_bytes()).collect();
    assert!(names.iter().any(|n| std::str::from_utf8(n).is_err()));
    assert!(names.iter().any(|n| n.ends_with("😀".as_bytes())));
    // Depth ≥ 4, a FIFO, a sparse file.
    assert!(
        names
            .iter()
            .any(|n| n.iter().filter(|&&b| b == b'/').count() >= 5)
    );
    assert!(entries[OsStr::new("special/fifo")].file_type().is_fifo());
    let sparse = &entries[OsStr::new("files/sparse-hole")];
    assert!(
        sparse.blocks() * 512 < sparse.len(),
        "files/sparse-hole is not sparse"
    );
    assert_eq!(
        std::fs::read_link(src.join("links/abs")).unwrap(),
        Path::new("/etc/hostname")
    );

    // Same seed → same tree; another seed → other data and mtimes.
    let again_sum = tree::generate(&again, &opts);
    assert_eq!(sum, again_sum);
    assert_eq!(tree::tree_digest(&src), tree::tree_digest(&again));
    tree::generate(
        &other,
        &TreeOptions {
            seed: 7,
            ..opts.clone()
        },
    );
    let (d1, d2) = (tree::tree_digest(&src), tree::tree_digest(&other));
    assert_eq!(d1.keys().collect::<Vec<_>>(), d2.keys().collect::<Vec<_>>());
    assert_ne!(d1, d2);

    // The extremes of max_name_len work too.
    for max in [1, 255] {
        let small = TreeOptions {
            max_name_len: max,
            big_file_mib: 0,
            ..opts.clone()
        };
        let sum = tree::generate(&tmp.path().join(format!("max{max}")), &small);
        assert_eq!(sum.longest_name, max.max("same-name.txt".len()));
    }

    cp_a(&src, &copy);
    tree::assert_same_tree(&src, &copy, &CompareOptions::ALL);
    assert_eq!(tree::tree_digest(&src), tree::tree_digest(&copy));
}

/// Each change to a fresh copy is reported as exactly one difference naming it.
#[test]
fn compare_reports_exactly_the_change() {
    require(&["cp", "root"]);
    let tmp = common::tempdir();
    let src = tmp.path().join("src");
    let opts = TreeOptions {
        big_file_mib: 1,
        max_name_len: 40,
        ..TreeOptions::default()
    };
    tree::generate(&src, &opts);

    type Change = fn(&Path);
    let cases: &[(&str, Change, &[&str])] = &[
        (
            "flip a byte",
            |c| {
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(c.join("files/big-1MiB"))
                    .unwrap();
                let mut byte = [0];
                f.read_exact_at(&mut byte, 700_000).unwrap();
                f.write_all_at(&[byte[0] ^ 0x10], 700_000).unwrap();
            },
            &["files/big-1MiB: content differs at byte 700000"],
        ),
        (
            "append a byte",
            |c| {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(c.join("files/bs"))
                    .unwrap();
                f.write_all(b"!").unwrap();
            },
            &["files/bs: size 1024 vs 1025 (same bytes up to 1024)"],
        ),
        (
            "chmod",
            |c| {
                std::fs::set_permissions(c.join("files/one"), Permissions::from_mode(0o640))
                    .unwrap()
            },
            &["files/one: mode 0600 vs 0640"],
        ),
        (
            "touch a dir",
            |c| {
                let m = std::fs::metadata(c.join("deep/l1/l2")).unwrap();
                let t = TimeSpec::new(m.mtime(), (m.mtime_nsec() + 1) % 1_000_000_000);
                set_times(&c.join("deep/l1/l2"), &t, &t);
            },
            &["deep/l1/l2: mtime "],
        ),
        (
            "retarget a symlink",
            |c| {
                std::fs::remove_file(c.join("links/abs")).unwrap();
                std::os::unix::fs::symlink("/etc/hosts", c.join("links/abs")).unwrap();
            },
            &["links/abs: link target /etc/hostname vs /etc/hosts"],
        ),
        (
            "chown a symlink",
            |c| std::os::unix::fs::lchown(c.join("links/rel-up"), Some(1234), Some(1234)).unwrap(),
            &["links/rel-up: owner 0:0 vs 1234:1234"],
        ),
        (
            "break a hard link",
            |c| {
                std::fs::remove_file(c.join("links/sub/hard-b")).unwrap();
                std::fs::copy(c.join("files/hard-a"), c.join("links/sub/hard-b")).unwrap();
            },
            &["hard links: [files/hard-a, links/sub/hard-b] are one inode in a, not in b"],
        ),
        (
            "remove a dir",
            |c| std::fs::remove_dir_all(c.join("odd/CAPS")).unwrap(),
            &["missing in b: odd/CAPS"],
        ),
        (
            "add a file",
            |c| std::fs::write(c.join("names/d0/new"), b"x").unwrap(),
            &["extra in b: names/d0/new"],
        ),
        (
            "symlink becomes a file",
            |c| {
                std::fs::remove_file(c.join("links/loop")).unwrap();
                std::fs::write(c.join("links/loop"), b"loop").unwrap();
            },
            &["links/loop: type symlink vs file"],
        ),
        (
            "rename a non-UTF-8 name",
            |c| {
                let (from, to) = (
                    OsStr::from_bytes(b"odd/\xff"),
                    OsStr::from_bytes(b"odd/\xfe"),
                );
                std::fs::rename(c.join(from), c.join(to)).unwrap();
            },
            &["missing in b: odd/\\xff", "extra in b: odd/\\xfe"],
        ),
    ];
    // Entries whose times the changes above touch as a side effect; reset after each.
    const TOUCHED: &[&str] = &[
        "files/big-1MiB",
        "files/bs",
        "links/abs",
        "links/loop",
        "links/sub/hard-b",
        "files",
        "links",
        "links/sub",
        "odd",
        "names/d0",
    ];
    for (i, (what, change, expected)) in cases.iter().enumerate() {
        let copy = tmp.path().join(format!("copy{i}"));
        cp_a(&src, &copy);
        change(&copy);
        for rel in TOUCHED {
            copy_times(&src, &copy, rel);
        }
        let diffs = tree::compare(&src, &copy, &CompareOptions::ALL);
        let ok = diffs.len() == expected.len()
            && diffs
                .iter()
                .zip(expected.iter())
                .all(|(d, e)| d.starts_with(e));
        assert!(ok, "{what}: expected {expected:#?}, got {diffs:#?}");
    }

    // Metadata-only changes are invisible to CompareOptions::CONTENT.
    let copy = tmp.path().join("meta");
    cp_a(&src, &copy);
    std::fs::set_permissions(copy.join("files/one"), Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::lchown(copy.join("files/one"), Some(1), Some(1)).unwrap();
    let t = TimeSpec::new(1, 0);
    set_times(&copy.join("files/one"), &t, &t);
    assert_eq!(
        tree::compare(&src, &copy, &CompareOptions::CONTENT),
        Vec::<String>::new()
    );
    assert_eq!(tree::compare(&src, &copy, &CompareOptions::ALL).len(), 3);
}

/// What a round trip leaves for further checks.
struct RoundTrip {
    _config_dir: tempfile::TempDir,
    config: PathBuf,
    /// Holds `src/` (plain) and `cipher/` (the rsync copy of the reverse view).
    tmp: tempfile::TempDir,
}

/// plain → stock `encfs --reverse` → `rsync -aH` → stock `encfs` forward == plain.
fn round_trip(expert_answers: Option<&str>, opts: &TreeOptions) -> RoundTrip {
    require(&["encfs", "encfsctl", "fusermount3", "rsync", "fuse", "root"]);
    let (config_dir, config) = encfs::create_reverse_config(PASSWORD, expert_answers);
    let tmp = common::tempdir();
    let p = |n: &str| tmp.path().join(n);
    let (src, cipher, rmnt, fmnt) = (p("src"), p("cipher"), p("rmnt"), p("fmnt"));
    for d in [&rmnt, &fmnt] {
        std::fs::create_dir(d).unwrap();
    }
    tree::generate(&src, opts);

    let reverse = encfs::reverse_mount(&src, &config, PASSWORD, &rmnt);
    let entry = reverse.entry();
    assert_eq!(entry.fstype, "fuse.encfs");
    assert!(entry.has_option("ro"), "{entry:?}");
    // The view shows cipher names only, as many as the source has.
    let view_names: BTreeSet<OsString> = std::fs::read_dir(&rmnt)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let plain_names: BTreeSet<OsString> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(view_names.len(), plain_names.len());
    assert!(view_names.is_disjoint(&plain_names), "{view_names:?}");

    let mut view = rmnt.clone().into_os_string();
    view.push("/");
    run(Command::new("rsync").arg("-aH").arg(view).arg(&cipher));
    // rsync copied the view faithfully (hard links, FIFO, mtimes included).
    tree::assert_same_tree(&rmnt, &cipher, &CompareOptions::ALL);
    reverse.unmount();
    assert!(!encfs::is_mounted(&rmnt));

    let decoded = encfs::encfsctl_decode(
        &config,
        PASSWORD,
        &cipher,
        &view_names.iter().collect::<Vec<_>>(),
    );
    assert_eq!(decoded.into_iter().collect::<BTreeSet<_>>(), plain_names);

    {
        let forward = encfs::forward_mount(&cipher, &config, PASSWORD, &fmnt, true);
        assert!(forward.entry().has_option("ro"));
        tree::assert_same_tree(&src, &forward.mnt, &CompareOptions::ALL);
    }
    assert!(!encfs::is_mounted(&fmnt));

    // A remount shows the same bytes (names, contents, links, modes, mtimes).
    let again = encfs::reverse_mount(&src, &config, PASSWORD, &rmnt);
    assert_eq!(tree::tree_digest(&again.mnt), tree::tree_digest(&cipher));
    drop(again);
    RoundTrip {
        _config_dir: config_dir,
        config,
        tmp,
    }
}

#[test]
fn stock_encfs_standard_reverse_round_trip() {
    let RoundTrip {
        config,
        tmp,
        _config_dir: _keep,
    } = round_trip(None, &TreeOptions::default());
    let xml = std::fs::read_to_string(&config).unwrap();
    for field in [
        "<keySize>192</keySize>",
        "<blockSize>1024</blockSize>",
        "<uniqueIV>0</uniqueIV>",
        "<name>nameio/block</name>",
    ] {
        assert!(xml.contains(field), "{field} not in {xml}");
    }
    // uniqueIV=0: cipher sizes equal plain sizes.
    let cipher_bs =
        encfs::encfsctl_encode(&config, PASSWORD, &tmp.path().join("cipher"), &["files/bs"]);
    let len = std::fs::metadata(tmp.path().join("cipher").join(&cipher_bs[0]))
        .unwrap()
        .len();
    assert_eq!(len, 1024);
}

#[test]
fn stock_encfs_expert_uniqueiv_reverse_round_trip() {
    let opts = TreeOptions {
        big_file_mib: 1,
        seed: 42,
        ..TreeOptions::default()
    };
    let RoundTrip {
        config,
        tmp,
        _config_dir: _keep,
    } = round_trip(Some(EXPERT_AES192_BS1024_BLOCK_UNIQUEIV), &opts);
    let xml = std::fs::read_to_string(&config).unwrap();
    for field in [
        "<keySize>192</keySize>",
        "<blockSize>1024</blockSize>",
        "<uniqueIV>1</uniqueIV>",
        "<name>nameio/block</name>",
    ] {
        assert!(xml.contains(field), "{field} not in {xml}");
    }
    // uniqueIV=1: an 8-byte header on every non-empty file, none on empty ones.
    let cipher = tmp.path().join("cipher");
    let names = encfs::encfsctl_encode(&config, PASSWORD, &cipher, &["files/bs", "files/empty"]);
    assert_eq!(
        std::fs::metadata(cipher.join(&names[0])).unwrap().len(),
        1024 + 8
    );
    assert_eq!(std::fs::metadata(cipher.join(&names[1])).unwrap().len(), 0);
}

/// A panicking test still leaves no mount behind.
#[test]
fn mount_guard_unmounts_on_panic() {
    require(&["encfs", "fusermount3", "fuse", "root"]);
    let (_cfg_dir, config) = encfs::create_reverse_config(PASSWORD, None);
    let tmp = common::tempdir();
    let (src, mnt) = (tmp.path().join("src"), tmp.path().join("mnt"));
    std::fs::create_dir(&src).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(src.join("file"), b"data").unwrap();
    let result = std::panic::catch_unwind(|| {
        let m = encfs::reverse_mount(&src, &config, PASSWORD, &mnt);
        assert!(encfs::is_mounted(&m.mnt));
        // A file left open keeps the mount busy: the guard falls back to a lazy unmount.
        let name = std::fs::read_dir(&m.mnt)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::mem::forget(std::fs::File::open(name).unwrap());
        panic!("deliberate");
    });
    assert!(result.is_err());
    assert!(!encfs::is_mounted(&mnt), "the guard left {mnt:?} mounted");

    // A wrong password is a clear failure, and leaves nothing mounted.
    let err = std::panic::catch_unwind(|| encfs::reverse_mount(&src, &config, b"wrong", &mnt))
        .expect_err("a wrong password must fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("encfs") && msg.contains("stderr"), "{msg}");
    assert!(!encfs::is_mounted(&mnt));
}

/// A missing tool is a loud failure naming the Debian package, never a skip.
#[test]
fn require_panics_naming_the_package() {
    require(&["sh"]);
    let err = std::panic::catch_unwind(|| require(&["encmount-no-such-tool"])).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(
        msg,
        "missing prerequisite: encmount-no-such-tool (apt-get install encmount-no-such-tool)"
    );
}
