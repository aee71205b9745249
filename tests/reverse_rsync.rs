//! rsync deltas through a live reverse view (design §3, §4, §10): after a full copy, a
//! 1-byte in-place edit of a 64 MiB source file costs at most two volume blocks of
//! literal data, and an unchanged rerun transfers nothing.
//!
//! Why `--block-size=1024`: rsync picks about sqrt(size) as its block (8 KiB for 64 MiB),
//! so by default one changed 1024-byte cipher block costs one or two whole 8 KiB rsync
//! blocks. With rsync's block equal to the volume's, the changed cipher block (it starts
//! after the 8-byte file header, so it straddles two rsync blocks) costs exactly two.

use crate::common;
use crate::rview;

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

use common::{require, tempdir};
use rview::{encode, init_volume, mkdirs, mount_view, rsync, with_timeout};

const BIG: u64 = 64 << 20;

/// `N` from rsync's `--stats` line `LABEL: N bytes` / `LABEL: N` (commas allowed).
fn stat(stats: &str, label: &str) -> u64 {
    let line = stats
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in rsync --stats:\n{stats}"));
    let digits: String = line
        .trim_start_matches(':')
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("bad {label:?} line in rsync --stats:\n{stats}"))
}

/// A file of `size` bytes of cheap pseudo-random data.
fn write_big(path: &Path, size: u64) {
    let mut f = File::create(path).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..size / buf.len() as u64 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
}

#[test]
fn one_byte_edit_sends_at_most_two_blocks_and_a_rerun_nothing() {
    require(&["rsync", "fusermount3", "fuse", "root"]);
    let t = tempdir();
    let (src, mnt, dest) = (
        t.path().join("src"),
        t.path().join("mnt"),
        t.path().join("dest"),
    );
    mkdirs(&[&src, &mnt, &dest]);
    let vol = init_volume(t.path(), "hardened");
    let big = src.join("big.bin");
    write_big(&big, BIG);
    // rsync's quick check compares whole seconds: an old mtime makes sure the edit below
    // changes it.
    let old = nix::sys::time::TimeSpec::new(1_600_000_000, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &big,
        &old,
        &old,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    fs::write(src.join("small.txt"), b"unchanged\n").unwrap();
    let view = mount_view(&src, &mnt, Some(&vol), &[]);

    let stats = |extra: &[&str]| {
        let mut args = vec!["-a", "--stats"];
        args.extend_from_slice(extra);
        String::from_utf8(rsync(&args, &view.mnt, &dest).stdout).unwrap()
    };
    let first = stats(&[]);
    assert_eq!(
        stat(&first, "Number of regular files transferred"),
        3,
        "{first}"
    );
    let rerun = stats(&["--no-whole-file"]);
    assert_eq!(
        stat(&rerun, "Number of regular files transferred"),
        0,
        "an unchanged rerun:\n{rerun}"
    );

    // One byte in the middle, in place: same inode, same size, same path.
    let ino = fs::metadata(&big).unwrap().ino();
    {
        let f = File::options().write(true).open(&big).unwrap();
        let at = 40_000_003;
        let mut b = [0u8; 1];
        File::open(&big).unwrap().read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x5a], at).unwrap();
    }
    assert_eq!(fs::metadata(&big).unwrap().ino(), ino);
    // The view's attributes are cached for 1 s (design §4).
    std::thread::sleep(Duration::from_millis(1100));

    let delta = stats(&["--no-whole-file", "--block-size=1024"]);
    assert_eq!(
        stat(&delta, "Number of regular files transferred"),
        1,
        "{delta}"
    );
    let literal = stat(&delta, "Literal data");
    assert!(
        (1..=2048).contains(&literal),
        "a 1-byte edit sent {literal} bytes of literal data (at most 2 blocks = 2048):\n{delta}"
    );

    // What arrived is what the view shows now.
    let cipher = encode(&vol, &[b"big.bin"]).remove(0);
    let (a, b) = (
        view.mnt.join(std::str::from_utf8(&cipher).unwrap()),
        dest.join(std::str::from_utf8(&cipher).unwrap()),
    );
    with_timeout("comparing the copy", rview::SLOW, move || {
        assert!(
            fs::read(&a).unwrap() == fs::read(&b).unwrap(),
            "the copy differs from the view"
        );
    });
}
