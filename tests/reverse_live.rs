//! Reverse views on real-shaped servers (issue 10): trees with more directories than the
//! open-file limit allows handles, and files that change while rsync copies them.

use crate::common;
use crate::rview;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::tree::{CompareOptions, assert_same_tree};
use common::{encmount_bin, require, tempdir};
use rview::{Volume, init_volume, mkdirs, mount_view_with_nofile, with_timeout};

/// What a walk or copy may take here: these tests run beside all others on a loaded
/// 2-core CI, where a 6,000-directory walk can take minutes.
const LONG: Duration = Duration::from_secs(400);

/// Open descriptors of process `pid` now.
fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Samples `fd_count(pid)` every few milliseconds until `stop`; returns the highest seen.
fn watch_fds(pid: i32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut max = 0;
        while !stop.load(Ordering::Relaxed) {
            max = max.max(fd_count(pid));
            std::thread::sleep(Duration::from_millis(2));
        }
        max
    })
}

/// The soft "Max open files" of process `pid`.
fn nofile_of(pid: i32) -> u64 {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("no open-file limit in /proc/PID/limits");
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// `encmount restore` of the cipher tree `cipher` into `out`; the command's output.
fn restore(vol: &Volume, cipher: &Path, out: &Path) -> std::process::Output {
    Command::new(encmount_bin())
        .args(["restore", "--quiet", "--password-file"])
        .arg(&vol.password_file)
        .arg("--config")
        .arg(&vol.config)
        .arg(cipher)
        .arg(out)
        .output()
        .expect("cannot run encmount restore")
}

/// Every path below `root` (relative), as `find` lists them.
fn find(root: &Path) -> BTreeSet<PathBuf> {
    let mut cmd = Command::new("find");
    cmd.arg(root).arg("-mindepth").arg("1");
    let out = rview::run_with_timeout(&mut cmd, LONG);
    assert!(
        out.status.success(),
        "{}",
        common::failure_report(&cmd, &out)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| Path::new(l).strip_prefix(root).unwrap().to_path_buf())
        .collect()
}

/// 6,000 directories: 60 × 99 in two levels and a 60-deep chain, a file in every tenth.
fn many_dirs(src: &Path) -> usize {
    let mut dirs = 0;
    for a in 0..60 {
        for b in 0..99 {
            let d = src.join(format!("d{a:02}/s{b:02}"));
            fs::create_dir_all(&d).unwrap();
            if b % 10 == 0 {
                fs::write(d.join("f"), format!("{a} {b}\n")).unwrap();
            }
        }
        dirs += 100;
    }
    let mut deep = src.join("deep");
    for i in 0..60 {
        deep = deep.join(format!("level{i}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("bottom"), b"bottom\n").unwrap();
    dirs + 61
}

#[test]
fn six_thousand_directories_under_an_open_file_limit_of_256() {
    require(&["rsync", "find", "fuse", "root"]);
    let t = tempdir();
    let [src, mnt, copy, out] = ["src", "mnt", "copy", "out"].map(|d| t.path().join(d));
    mkdirs(&[&src, &mnt, &copy]);
    let dirs = many_dirs(&src);
    assert!(dirs >= 6000);
    let vol = init_volume(t.path(), "hardened");
    let view = mount_view_with_nofile(&src, &mnt, Some(&vol), &[], 256);
    assert_eq!(
        nofile_of(view.pid),
        256,
        "the daemon must run under the limit"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_fds(view.pid, stop.clone());
    let m = view.mnt.clone();
    let listed = with_timeout("find", LONG, move || find(&m));
    // every source entry, plus the exposed config
    assert_eq!(listed.len(), find(&src).len() + 1, "find through the view");
    let m = view.mnt.clone();
    let c = copy.clone();
    with_timeout("rsync -a", LONG, move || {
        let mut cmd = Command::new("rsync");
        cmd.arg("-a")
            .arg(format!("{}/", m.display()))
            .arg(format!("{}/", c.display()));
        let out = rview::run_with_timeout(&mut cmd, LONG);
        assert!(
            out.status.success(),
            "{}",
            common::failure_report(&cmd, &out)
        );
    });
    // a second walk, after the first evicted most handles
    let m = view.mnt.clone();
    let again = with_timeout("find", LONG, move || find(&m));
    assert_eq!(again, listed);
    stop.store(true, Ordering::Relaxed);
    let max_fds = watcher.join().unwrap();
    eprintln!("daemon's open fds: at most {max_fds} during the walks");
    // 96 cached directory handles under this limit, plus the FUSE channels, the root,
    // stdio, the listing and the file being read.
    assert!(
        max_fds <= 140,
        "the daemon held {max_fds} fds (the cache allows 96 directories)"
    );
    drop(view);

    let o = restore(&vol, &copy, &out);
    assert!(
        o.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_same_tree(&src, &out, &CompareOptions::CONTENT);
}

/// `len` bytes of a pattern that differs per `seed` and per position.
fn pattern(seed: u8, start: usize, len: usize) -> Vec<u8> {
    (start..start + len)
        .map(|i| (i as u64).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// How a file changes while rsync copies it.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// Appended to, 64 KiB every few milliseconds, until rsync is done (at most 8 MiB).
    Append,
    /// Truncated to 1 MiB soon after rsync starts.
    Truncate,
    /// Replaced by another file (rename over it) soon after rsync starts.
    Replace,
}

const START_LEN: usize = 8 << 20;

/// Copies a view of one file that changes as `change` says with rsync (slowed, so that the
/// change falls inside the read), and checks the promise: rsync reports a problem, or the
/// copy restores to a version of the file that existed.
fn copy_while_changing(preset: &str, change: Change) {
    let t = tempdir();
    let [src, mnt, copy, out] = ["src", "mnt", "copy", "out"].map(|d| t.path().join(d));
    mkdirs(&[&src, &mnt, &copy]);
    let file = src.join("live");
    let original = pattern(1, 0, START_LEN);
    fs::write(&file, &original).unwrap();
    let replacement = pattern(2, 0, START_LEN / 2 + 777);
    let vol = init_volume(t.path(), preset);
    let view = mount_view_with_nofile(&src, &mnt, Some(&vol), &[], 1024);

    let stop = Arc::new(AtomicBool::new(false));
    let (f, s, r) = (file.clone(), stop.clone(), replacement.clone());
    let mutator = std::thread::spawn(move || {
        use std::io::Write;
        match change {
            Change::Append => {
                let mut h = fs::OpenOptions::new().append(true).open(&f).unwrap();
                let mut len = START_LEN;
                while !s.load(Ordering::Relaxed) && len < 2 * START_LEN {
                    h.write_all(&pattern(1, len, 65536)).unwrap();
                    len += 65536;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            Change::Truncate => {
                std::thread::sleep(Duration::from_millis(400));
                fs::OpenOptions::new()
                    .write(true)
                    .open(&f)
                    .unwrap()
                    .set_len(1 << 20)
                    .unwrap();
            }
            Change::Replace => {
                std::thread::sleep(Duration::from_millis(400));
                let tmp = f.with_extension("new");
                fs::write(&tmp, &r).unwrap();
                fs::rename(&tmp, &f).unwrap();
            }
        }
    });
    // 4 MB/s: the 8 MiB file takes about two seconds to read.
    let mut cmd = Command::new("rsync");
    cmd.args(["-a", "--bwlimit=4000"])
        .arg(format!("{}/", view.mnt.display()))
        .arg(format!("{}/", copy.display()));
    let o = rview::run_with_timeout(&mut cmd, LONG);
    stop.store(true, Ordering::Relaxed);
    mutator.join().unwrap();
    drop(view);
    let rsync_err = String::from_utf8_lossy(&o.stderr).into_owned();
    if !o.status.success() {
        // Reported: the admin sees the file was not copied consistently.
        assert!(
            !rsync_err.is_empty(),
            "{preset} {change:?}: rsync failed silently"
        );
        eprintln!("{preset} {change:?}: rsync reported: {}", rsync_err.trim());
        return;
    }
    let r = restore(&vol, &copy, &out);
    assert!(
        r.status.success(),
        "{preset} {change:?}: rsync exited 0 but the copy does not restore: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let got = fs::read(out.join("live")).expect("the restored file");
    let now = fs::read(&file).unwrap();
    let ok = match change {
        // the file only grew: every version is a prefix of the last, at least the first
        Change::Append => got.len() >= START_LEN && now.starts_with(&got),
        Change::Truncate => got == original || got == original[..1 << 20],
        Change::Replace => got == original || got == replacement,
    };
    assert!(
        ok,
        "{preset} {change:?}: restored {} bytes that are no version of the file",
        got.len()
    );
    eprintln!(
        "{preset} {change:?}: copied a version of {} bytes",
        got.len()
    );
}

#[test]
fn files_appended_to_while_copied_restore_to_a_prefix() {
    require(&["rsync", "fuse", "root"]);
    for preset in ["hardened", "standard"] {
        for _ in 0..3 {
            copy_while_changing(preset, Change::Append);
        }
    }
}

#[test]
fn files_truncated_or_replaced_while_copied_restore_or_are_reported() {
    require(&["rsync", "fuse", "root"]);
    for preset in ["hardened", "standard"] {
        copy_while_changing(preset, Change::Truncate);
        copy_while_changing(preset, Change::Replace);
    }
}
