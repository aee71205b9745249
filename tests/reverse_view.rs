//! Live reverse views (design §3, §4) against the real tools: a generated tree shown by
//! `encmount mount --reverse`, copied out with rsync and decrypted by stock encfs 1.9.5
//! (every preset); byte-identical to stock `encfs --reverse` with the same config; the
//! same bytes and inode numbers on every mount.
//!
//! Observed and relied on: stock encfs (forward) passes the backing mtimes through with
//! nanoseconds, and rsync 3.5 copies them with nanoseconds, so trees compare exactly
//! (`mtime_granularity_ns: 1`).

use crate::common;
use crate::rview;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::encfs::{self, EXPERT_AES192_BS1024_BLOCK_UNIQUEIV, forward_mount};
use common::tree::{self, CompareOptions, TreeOptions, assert_same_tree, generate, tree_digest};
use common::{require, run, show, tempdir};
use rview::{PASSWORD, SLOW, Volume, encode, init_volume, mkdirs, mount_view, rsync, with_timeout};

const TOOLS: &[&str] = &["encfs", "rsync", "fusermount3", "fuse", "root"];

/// Per entry below `root`: (inode, link count, size, ctime), for what `tree_digest`
/// leaves out.
fn inodes(root: &Path) -> BTreeMap<OsString, (u64, u64, u64, (i64, i64))> {
    tree::walk(root)
        .into_iter()
        .map(|(rel, m)| {
            (
                rel,
                (m.ino(), m.nlink(), m.len(), (m.ctime(), m.ctime_nsec())),
            )
        })
        .collect()
}

/// Gives a file, a directory and a symlink of a generated tree other owners (the
/// generator makes everything root's), so that owners are compared for real.
fn chown_some(src: &Path) {
    for (rel, id) in [("files/one", 1234), ("deep/l1", 4321), ("links/abs", 1111)] {
        std::os::unix::fs::lchown(src.join(rel), Some(id), Some(id + 1)).unwrap();
    }
}

/// Plain → our view → `rsync -aH` → stock encfs (forward) gives the plain tree back.
fn stock_encfs_reads_a_copy_of_the_view(preset: &str) {
    require(TOOLS);
    let t = tempdir();
    let [src, mnt, copy, plain] = ["src", "mnt", "copy", "plain"].map(|d| t.path().join(d));
    mkdirs(&[&mnt, &copy, &plain]);
    let vol = init_volume(t.path(), preset);
    generate(&src, &TreeOptions::default());
    chown_some(&src);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    rsync(&["-aH"], &view.mnt, &copy);
    view.unmount();
    assert_eq!(
        fs::read(copy.join(".encfs6.xml")).unwrap(),
        fs::read(&vol.config).unwrap(),
        "the copy holds the volume config"
    );
    let m = forward_mount(&copy, &vol.config, PASSWORD.as_bytes(), &plain, true);
    // paranoia (external IV chaining) shows each name of a hard link as a file of its own
    // (design §3), so the copy has no hard links to give back.
    let opts = CompareOptions {
        hard_links: preset != "paranoia",
        ..CompareOptions::ALL
    };
    let fwd = m.mnt.clone();
    with_timeout("comparing the trees", SLOW, move || {
        assert_same_tree(&src, &fwd, &opts)
    });
}

#[test]
fn stock_encfs_reads_a_copy_of_the_view_hardened() {
    stock_encfs_reads_a_copy_of_the_view("hardened");
}

#[test]
fn stock_encfs_reads_a_copy_of_the_view_standard() {
    stock_encfs_reads_a_copy_of_the_view("standard");
}

#[test]
fn stock_encfs_reads_a_copy_of_the_view_paranoia() {
    stock_encfs_reads_a_copy_of_the_view("paranoia");
}

/// Our view and stock `encfs --reverse`'s view of one source, with one config made by
/// stock encfs, are the same: names, contents, sizes, symlink targets, modes, owners,
/// mtimes, inode numbers and link counts. Returns the temp dir, source and volume.
fn same_as_stock_reverse(expert: Option<&str>, extra: &[&str]) -> (tempfile::TempDir, Volume) {
    require(TOOLS);
    let (cdir, config) = encfs::create_reverse_config(PASSWORD.as_bytes(), expert);
    let t = tempdir();
    let (src, m_stock, m_ours) = (
        t.path().join("src"),
        t.path().join("stock"),
        t.path().join("ours"),
    );
    mkdirs(&[&m_stock, &m_ours]);
    // Stock encfs lists names over 175 bytes with too-long cipher names: stay within.
    generate(
        &src,
        &TreeOptions {
            max_name_len: 175,
            ..TreeOptions::default()
        },
    );
    chown_some(&src);
    let vol = Volume {
        config: t.path().join("encfs6.xml"),
        password_file: t.path().join("pw"),
    };
    fs::copy(&config, &vol.config).unwrap();
    drop(cdir);
    rview::write_password(&vol.password_file, PASSWORD);

    let stock = encfs::reverse_mount(&src, &vol.config, PASSWORD.as_bytes(), &m_stock);
    let mut args = vec!["--no-expose-config"];
    args.extend_from_slice(extra);
    let ours = mount_view(&src, &m_ours, Some(&vol), &args);
    let (a, b) = (stock.mnt.clone(), ours.mnt.clone());
    with_timeout("comparing stock encfs and our view", SLOW, move || {
        assert_same_tree(&a, &b, &CompareOptions::ALL);
        let (ia, ib) = (inodes(&a), inodes(&b));
        let diff: Vec<String> = ia
            .iter()
            .filter(|(k, v)| ib.get(*k) != Some(v))
            .map(|(k, v)| format!("{}: {v:?} vs {:?}", show(k.as_bytes()), ib.get(k)))
            .take(10)
            .collect();
        assert!(
            diff.is_empty(),
            "(inode, nlink, size, ctime) differ:\n{diff:#?}"
        );
    });
    (t, vol)
}

#[test]
fn view_equals_stock_encfs_reverse_standard() {
    same_as_stock_reverse(None, &[]);
}

#[test]
fn view_equals_stock_encfs_reverse_unique_iv_with_file_iv_inode() {
    let (t, vol) = same_as_stock_reverse(
        Some(EXPERT_AES192_BS1024_BLOCK_UNIQUEIV),
        &["--file-iv", "inode"],
    );
    // The default (path IVs) keeps names and sizes but not the contents, except for
    // hard-linked files, which take the inode IV (design §3).
    let src = t.path().join("src");
    let (a, b) = (t.path().join("inode-iv"), t.path().join("path-iv"));
    mkdirs(&[&a, &b]);
    let by_inode = mount_view(&src, &a, Some(&vol), &["--file-iv", "inode"]);
    let by_path = mount_view(&src, &b, Some(&vol), &[]);
    let enc = encode(&vol, &[b"files/bs+1", b"files/hard-a", b"links/sub/hard-b"]);
    let read =
        |root: &Path, rel: &[u8]| fs::read(root.join(std::ffi::OsStr::from_bytes(rel))).unwrap();
    assert_ne!(
        read(&by_inode.mnt, &enc[0]),
        read(&by_path.mnt, &enc[0]),
        "a single-link file: path IV, unlike encfs"
    );
    assert_eq!(read(&by_path.mnt, &enc[0]).len(), 1024 + 1 + 8);
    for hard in &enc[1..] {
        assert_eq!(
            read(&by_inode.mnt, hard),
            read(&by_path.mnt, hard),
            "{}: a hard-linked file takes the inode IV",
            show(hard)
        );
    }
}

/// Two mounts of one source show the same bytes, modes, mtimes and inode numbers; hard
/// links keep their inode numbers and bytes. A `cp -a` copy of the source shows the same
/// bytes too, except for hard-linked files (inode IV).
fn same_bytes_on_every_mount(preset: &str) {
    require(TOOLS);
    let t = tempdir();
    let [src, copy, m1, m2] = ["src", "copy", "m1", "m2"].map(|d| t.path().join(d));
    mkdirs(&[&m1, &m2]);
    let vol = init_volume(t.path(), preset);
    generate(
        &src,
        &TreeOptions {
            big_file_mib: 1,
            ..TreeOptions::default()
        },
    );
    run(Command::new("cp").arg("-a").arg(&src).arg(&copy));
    let snapshot = |root: &Path| {
        let root = root.to_path_buf();
        with_timeout("digesting the view", SLOW, move || {
            (tree_digest(&root), inodes(&root))
        })
    };
    let first = {
        let v = mount_view(&src, &m1, Some(&vol), &[]);
        snapshot(&v.mnt)
    };
    let second = {
        let v = mount_view(&src, &m1, Some(&vol), &[]);
        snapshot(&v.mnt)
    };
    assert!(first.0 == second.0, "a remount shows other bytes");
    assert!(first.1 == second.1, "a remount shows other inode numbers");

    // Hard links: one inode with the same bytes, or (paranoia) one file per name.
    let hard = encode(
        &vol,
        &[
            b"files/hard-a",
            b"links/sub/hard-b",
            b"deep/l1/hl3-1",
            b"odd/hl3-2",
            b"links/hl3-3",
        ],
    );
    let key = |p: &Vec<u8>| OsString::from(std::ffi::OsStr::from_bytes(p));
    let digest_of = |p| first.0[&key(p)].clone();
    let ino_of = |p| first.1[&key(p)];
    for group in [&hard[..2], &hard[2..]] {
        for p in &group[1..] {
            if preset == "paranoia" {
                assert_ne!(ino_of(p).0, ino_of(&group[0]).0, "{}: own inode", show(p));
                assert_eq!(ino_of(p).1, 1, "{}: nlink 1", show(p));
                assert_ne!(digest_of(p), digest_of(&group[0]), "{}: own bytes", show(p));
            } else {
                assert_eq!(ino_of(p), ino_of(&group[0]), "{}: same inode", show(p));
                assert_eq!(ino_of(p).1, group.len() as u64);
                assert_eq!(
                    digest_of(p),
                    digest_of(&group[0]),
                    "{}: same bytes",
                    show(p)
                );
            }
        }
    }

    // A copy of the source (new inode numbers): the same view but for hard links.
    let copied = {
        let v = mount_view(&copy, &m2, Some(&vol), &[]);
        snapshot(&v.mnt)
    };
    let strip = |mut d: BTreeMap<OsString, String>| {
        if preset != "paranoia" {
            for p in &hard {
                d.remove(&key(p));
            }
        }
        d
    };
    let (a, b) = (strip(first.0.clone()), strip(copied.0));
    let diff: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| show(k.as_bytes()))
        .take(10)
        .collect();
    assert!(
        diff.is_empty() && a.len() == b.len(),
        "a copy of the source shows other bytes: {diff:?}"
    );
}

#[test]
fn same_bytes_on_every_mount_hardened() {
    same_bytes_on_every_mount("hardened");
}

#[test]
fn same_bytes_on_every_mount_paranoia() {
    same_bytes_on_every_mount("paranoia");
}

/// A view that was walked, then saw the source change under it (a directory renamed, a
/// file renamed, hard links made and removed, a file replaced, one grown), shows the same
/// as a fresh mount of the changed source once its 1 s caches expired.
fn a_long_running_view_follows_changes(preset: &str) {
    require(TOOLS);
    let t = tempdir();
    let (src, m1, m2) = (
        t.path().join("src"),
        t.path().join("m1"),
        t.path().join("m2"),
    );
    mkdirs(&[&m1, &m2]);
    let vol = init_volume(t.path(), preset);
    generate(
        &src,
        &TreeOptions {
            max_name_len: 40,
            big_file_mib: 0,
            ..TreeOptions::default()
        },
    );
    let digest = |root: &Path| {
        let root = root.to_path_buf();
        with_timeout("digesting the view", SLOW, move || {
            (tree_digest(&root), inodes(&root))
        })
    };
    let old = mount_view(&src, &m1, Some(&vol), &[]);
    digest(&old.mnt);

    fs::rename(src.join("deep/l1"), src.join("deep/L1")).unwrap();
    fs::rename(src.join("names"), src.join("renamed-names")).unwrap();
    fs::rename(src.join("files/one"), src.join("files/one-renamed")).unwrap();
    fs::hard_link(src.join("files/bs"), src.join("odd/new-hard-link")).unwrap();
    fs::remove_file(src.join("links/sub/hard-b")).unwrap();
    fs::remove_file(src.join("files/2bs")).unwrap();
    fs::write(src.join("files/2bs"), b"a new inode").unwrap();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(src.join("files/bs+1"))
        .unwrap();
    std::io::Write::write_all(&mut f, &[7; 3000]).unwrap();
    drop(f);
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let fresh = mount_view(&src, &m2, Some(&vol), &[]);
    let (a, b) = (digest(&old.mnt), digest(&fresh.mnt));
    let diff: Vec<String> =
        a.0.iter()
            .filter(|(k, v)| b.0.get(*k) != Some(v))
            .map(|(k, _)| format!("only in the long-running view: {}", show(k.as_bytes())))
            .chain(
                b.0.keys()
                    .filter(|k| !a.0.contains_key(*k))
                    .map(|k| format!("only in the fresh view: {}", show(k.as_bytes()))),
            )
            .take(10)
            .collect();
    assert!(diff.is_empty(), "views differ:\n{}", diff.join("\n"));
    assert!(a.1 == b.1, "inode numbers, link counts or sizes differ");
}

#[test]
fn a_long_running_view_follows_changes_hardened() {
    a_long_running_view_follows_changes("hardened");
}

#[test]
fn a_long_running_view_follows_changes_paranoia() {
    a_long_running_view_follows_changes("paranoia");
}

/// A directory too big for one readdir reply lists every entry exactly once, with
/// `ls`-style readdir and with readdirplus alike; every name decrypts to a source name.
#[test]
fn a_big_directory_lists_every_entry_once() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src.join("big"), &mnt]);
    let plain: Vec<Vec<u8>> = (0..3000)
        .map(|i| format!("big/entry-{i:05}-{}", "x".repeat(i % 120)).into_bytes())
        .collect();
    for p in &plain {
        fs::write(src.join(std::ffi::OsStr::from_bytes(p)), b"").unwrap();
    }
    let vol = init_volume(t.path(), "hardened");
    let refs: Vec<&[u8]> = plain.iter().map(Vec::as_slice).collect();
    let mut want: Vec<Vec<u8>> = encode(&vol, &refs)
        .into_iter()
        .map(|c| c.rsplit(|&b| b == b'/').next().unwrap().to_vec())
        .collect();
    want.sort();
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let dir = view
        .mnt
        .join(std::ffi::OsStr::from_bytes(&encode(&vol, &[b"big"])[0]));
    for round in 0..2 {
        // The first listing is readdirplus; the second may be plain readdir.
        let d = dir.clone();
        let got = with_timeout("listing", SLOW, move || rview::names(&d));
        assert!(
            got == want,
            "round {round}: {} entries listed, {} expected",
            got.len(),
            want.len()
        );
    }
}

/// The kernel forgets nodes (here: `drop_caches`) while other threads walk the view; the
/// walks never fail and always see the same tree.
#[test]
fn nodes_forgotten_by_the_kernel_come_back() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&mnt]);
    let vol = init_volume(t.path(), "hardened");
    generate(
        &src,
        &TreeOptions {
            big_file_mib: 0,
            ..TreeOptions::default()
        },
    );
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let reference = tree_digest(&view.mnt);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dropper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // 2 = dentries and inodes: the kernel sends FORGETs for the view's nodes.
                fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    let walkers: Vec<_> = (0..2)
        .map(|_| {
            let m = view.mnt.clone();
            std::thread::spawn(move || (0..4).map(|_| tree_digest(&m)).collect::<Vec<_>>())
        })
        .collect();
    let m = view.mnt.clone();
    let results = with_timeout("walking while the kernel forgets", SLOW, move || {
        walkers.into_iter().map(|w| w.join()).collect::<Vec<_>>()
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    dropper.join().unwrap();
    for r in results {
        let digests = r.unwrap_or_else(|e| std::panic::resume_unwind(e));
        for d in digests {
            assert!(d == reference, "a walk saw another tree");
        }
    }
    assert!(tree_digest(&m) == reference);
}

/// Reads at any offset and length (O_DIRECT: past the page cache, straight to the
/// daemon) return the bytes of one sequential read, across the file header, block
/// boundaries and the end of the file.
#[test]
fn unaligned_direct_reads_agree_with_a_sequential_read() {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    let data: Vec<u8> = (0..(2u32 << 20) + 333)
        .map(|i| (i * 7 + i / 1016) as u8)
        .collect();
    fs::write(src.join("file"), &data).unwrap();
    for preset in ["hardened", "standard"] {
        let vol = init_volume(t.path(), preset);
        let view = mount_view(&src, &mnt, Some(&vol), &[]);
        let path = view
            .mnt
            .join(std::ffi::OsStr::from_bytes(&encode(&vol, &[b"file"])[0]));
        with_timeout("random reads", SLOW, move || {
            let full = fs::read(&path).unwrap();
            let f = fs::File::options()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&path)
                .unwrap();
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            for _ in 0..1500 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let off = (x % (full.len() as u64 + 3000)) as usize;
                let len = [
                    1,
                    7,
                    8,
                    9,
                    1015,
                    1016,
                    1017,
                    1024,
                    1025,
                    4096,
                    70_000,
                    1 << 20,
                ][(x >> 40) as usize % 12];
                let mut buf = vec![0u8; len];
                let mut n = 0;
                while n < len {
                    match f.read_at(&mut buf[n..], (off + n) as u64).unwrap() {
                        0 => break,
                        k => n += k,
                    }
                }
                let want = &full[off.min(full.len())..(off + len).min(full.len())];
                assert!(&buf[..n] == want, "{preset}: {len} bytes at {off}");
            }
        });
        view.unmount();
    }
}
