//! Safety of a live reverse view (design §4): every write operation fails with EROFS and
//! leaves the source untouched (also when an admin remounts the view rw, so the daemon's
//! own EROFS block answers); reading leaves source atimes alone; a symlink swapped into
//! the source while the view is read never leads outside the source, nor does an
//! encrypted link target used as a name; a killed daemon leaves a dead mount that
//! `encmount umount` cleans up. Access control is in `reverse_access.rs`.

use crate::common;
use crate::rview;

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirEntryExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::tree::{self, TreeOptions, generate, tree_digest};
use common::{encmount_bin, require, show, tempdir};
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use rview::{SLOW, encode, init_volume, mkdirs, mount_view, run_with_timeout, with_timeout};

const TOOLS: &[&str] = &["fusermount3", "fuse", "root"];

fn p(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn last_errno() -> io::Result<()> {
    Err(io::Error::last_os_error())
}

fn setxattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (p, n) = (cstr(path), CString::new(name).unwrap());
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 { Ok(()) } else { last_errno() }
}

fn removexattr(path: &Path, name: &str) -> io::Result<()> {
    let (p, n) = (cstr(path), CString::new(name).unwrap());
    // SAFETY: valid NUL-terminated strings.
    let r = unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) };
    if r == 0 { Ok(()) } else { last_errno() }
}

fn nix_io<T>(r: nix::Result<T>) -> io::Result<()> {
    r.map(|_| ())
        .map_err(|e| io::Error::from_raw_os_error(e as i32))
}

/// Every write operation against the view at `mnt`: (what, result).
fn write_ops(
    mnt: &Path,
    file: &Path,
    dir: &Path,
    link: &Path,
) -> Vec<(&'static str, io::Result<()>)> {
    let open = |o: &mut fs::OpenOptions, p: &Path| o.open(p).map(drop);
    let now = TimeSpec::UTIME_NOW;
    vec![
        (
            "open O_WRONLY",
            open(fs::OpenOptions::new().write(true), file),
        ),
        (
            "open O_RDWR",
            open(fs::OpenOptions::new().read(true).write(true), file),
        ),
        (
            "open O_APPEND",
            open(fs::OpenOptions::new().append(true), file),
        ),
        (
            "open O_TRUNC",
            open(fs::OpenOptions::new().write(true).truncate(true), file),
        ),
        (
            "open O_CREAT (new name)",
            open(
                fs::OpenOptions::new().write(true).create(true),
                &mnt.join("new-file"),
            ),
        ),
        (
            "open O_CREAT (existing)",
            open(fs::OpenOptions::new().write(true).create(true), file),
        ),
        ("mkdir", fs::create_dir(mnt.join("new-dir"))),
        ("unlink", fs::remove_file(file)),
        ("unlink symlink", fs::remove_file(link)),
        ("rmdir", fs::remove_dir(dir)),
        ("rename file", fs::rename(file, mnt.join("renamed"))),
        ("rename dir", fs::rename(dir, mnt.join("renamed-dir"))),
        ("rename over", fs::rename(file, link)),
        (
            "symlink",
            std::os::unix::fs::symlink("x", mnt.join("new-link")),
        ),
        ("link", fs::hard_link(file, mnt.join("new-hard"))),
        (
            "chmod",
            fs::set_permissions(file, fs::Permissions::from_mode(0o777)),
        ),
        (
            "chmod dir",
            fs::set_permissions(dir, fs::Permissions::from_mode(0o777)),
        ),
        ("chown", std::os::unix::fs::chown(file, Some(1), Some(1))),
        (
            "lchown symlink",
            std::os::unix::fs::lchown(link, Some(1), Some(1)),
        ),
        ("truncate", nix_io(nix::unistd::truncate(file, 0))),
        (
            "utimes",
            nix_io(utimensat(
                AT_FDCWD,
                file,
                &now,
                &now,
                UtimensatFlags::FollowSymlink,
            )),
        ),
        (
            "utimes symlink",
            nix_io(utimensat(
                AT_FDCWD,
                link,
                &now,
                &now,
                UtimensatFlags::NoFollowSymlink,
            )),
        ),
        ("setxattr", setxattr(file, "user.test", b"x")),
        ("removexattr", removexattr(file, "user.test")),
        (
            "mknod fifo",
            nix_io(mknod(
                &mnt.join("new-fifo"),
                SFlag::S_IFIFO,
                Mode::from_bits_truncate(0o644),
                0,
            )),
        ),
        (
            "mknod regular",
            nix_io(mknod(
                &mnt.join("new-reg"),
                SFlag::S_IFREG,
                Mode::from_bits_truncate(0o644),
                0,
            )),
        ),
    ]
}

fn assert_all_erofs(ops: Vec<(&'static str, io::Result<()>)>, when: &str) {
    let bad: Vec<String> = ops
        .into_iter()
        .filter(|(_, r)| r.as_ref().err().and_then(io::Error::raw_os_error) != Some(libc::EROFS))
        .map(|(what, r)| format!("{what}: {r:?}"))
        .collect();
    assert!(bad.is_empty(), "{when}: not EROFS:\n{}", bad.join("\n"));
}

/// What must not change in the source: contents, modes, mtimes (the digest) and inode
/// numbers, link counts, owners, ctimes.
fn source_state(src: &Path) -> (BTreeMap<OsString, String>, BTreeMap<OsString, String>) {
    let meta = tree::walk(src)
        .into_iter()
        .map(|(k, m)| {
            let v = format!(
                "ino={} nlink={} uid={} gid={} ctime={}.{}",
                m.ino(),
                m.nlink(),
                m.uid(),
                m.gid(),
                m.ctime(),
                m.ctime_nsec()
            );
            (k, v)
        })
        .collect();
    (tree_digest(src), meta)
}

#[test]
fn every_write_operation_is_erofs_and_the_source_is_untouched() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&mnt]);
    let vol = init_volume(t.path(), "hardened");
    generate(
        &src,
        &TreeOptions {
            max_name_len: 20,
            big_file_mib: 0,
            ..TreeOptions::default()
        },
    );
    setxattr(&src.join("files/one"), "user.test", b"kept").unwrap();
    let before = source_state(&src);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let enc = encode(&vol, &[b"files/one", b"deep/empty", b"links/rel-up"]);
    let (file, dir, link) = (
        p(&view.mnt, &enc[0]),
        p(&view.mnt, &enc[1]),
        p(&view.mnt, &enc[2]),
    );
    assert!(file.is_file() && dir.is_dir() && link.is_symlink());
    let all_ops = || {
        let (m, f, d, l) = (view.mnt.clone(), file.clone(), dir.clone(), link.clone());
        with_timeout("write operations", SLOW, move || write_ops(&m, &f, &d, &l))
    };
    assert_all_erofs(all_ops(), "on the ro mount");

    // An admin remounts it rw: now the requests reach the daemon, which refuses them.
    let out = run_with_timeout(
        Command::new("mount")
            .args(["-i", "-o", "remount,rw"])
            .arg(&view.mnt),
        SLOW,
    );
    assert!(out.status.success(), "mount -o remount,rw: {out:?}");
    assert!(
        view_entry(&view.mnt).has_option("rw"),
        "the remount did not take"
    );
    assert_all_erofs(all_ops(), "after remount,rw");
    let access_w = nix::unistd::access(&file, nix::unistd::AccessFlags::W_OK);
    assert_eq!(access_w, Err(nix::errno::Errno::EROFS), "access(W_OK)");

    // Everything is still readable, and the source is as it was.
    assert!(!fs::read(&file).unwrap().is_empty());
    view.unmount();
    let after = source_state(&src);
    assert!(
        before.0 == after.0,
        "the source's contents, modes or mtimes changed"
    );
    assert!(
        before.1 == after.1,
        "the source's inodes, owners or ctimes changed"
    );
}

fn view_entry(mnt: &Path) -> common::mount::MountEntry {
    common::mount::mount_entry(mnt).expect("the view is mounted")
}

#[test]
fn reading_the_view_leaves_source_atimes_alone() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&mnt]);
    let vol = init_volume(t.path(), "hardened");
    generate(
        &src,
        &TreeOptions {
            max_name_len: 20,
            big_file_mib: 0,
            ..TreeOptions::default()
        },
    );
    // Listing the source (here) touches directory atimes: list once, then set every
    // atime far back, so that relatime would update any entry the view reads without
    // O_NOATIME. Symlinks are left out: readlink(2) always updates their atime.
    let paths: Vec<PathBuf> = tree::walk(&src)
        .into_iter()
        .filter(|(_, m)| !m.is_symlink())
        .map(|(k, _)| src.join(k))
        .collect();
    let old = TimeSpec::new(1_000_000_000, 0);
    for p in &paths {
        utimensat(
            AT_FDCWD,
            p,
            &old,
            &TimeSpec::UTIME_OMIT,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
    let atimes = || -> BTreeMap<PathBuf, (i64, i64)> {
        paths
            .iter()
            .map(|p| {
                let m = fs::symlink_metadata(p).unwrap();
                (p.clone(), (m.atime(), m.atime_nsec()))
            })
            .collect()
    };
    let before = atimes();
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let m = view.mnt.clone();
    with_timeout("reading the view", SLOW, move || tree_digest(&m));
    view.unmount();
    let after = atimes();
    let changed: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| show(k.strip_prefix(&src).unwrap().as_os_str().as_bytes()))
        .collect();
    assert!(
        changed.is_empty(),
        "reading the view changed source atimes (design §4: O_NOATIME): {} entries, e.g. {:?}",
        changed.len(),
        &changed[..changed.len().min(8)]
    );
}

#[test]
fn symlinks_swapped_into_the_source_never_lead_outside() {
    require(TOOLS);
    let t = tempdir();
    let (src, out, mnt) = (
        t.path().join("src"),
        t.path().join("outside"),
        t.path().join("mnt"),
    );
    mkdirs(&[&src.join("d"), &src.join("e"), &out.join("d"), &mnt]);
    // Same names inside and outside; the outside file has its own size.
    fs::write(src.join("d/f"), vec![b'i'; 1000]).unwrap();
    fs::write(src.join("d/g"), b"inside g").unwrap();
    fs::write(src.join("e/h"), vec![b'h'; 500]).unwrap();
    fs::write(out.join("d/f"), vec![b'S'; 77_777]).unwrap();
    fs::write(out.join("d/secret-marker"), b"secret").unwrap();
    std::os::unix::fs::symlink(out.join("d"), src.join("swap")).unwrap();
    std::os::unix::fs::symlink(out.join("d/f"), src.join("e/hlink")).unwrap();
    let outside_before = tree_digest(&out);
    let outside_inos: Vec<u64> = tree::walk(&out).values().map(|m| m.ino()).collect();

    let vol = init_volume(t.path(), "hardened");
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let enc = encode(&vol, &[b"d", b"d/f", b"e/h"]);
    let (vd, vf, vh) = (
        p(&view.mnt, &enc[0]),
        p(&view.mnt, &enc[1]),
        p(&view.mnt, &enc[2]),
    );
    // What the view legitimately shows.
    let legit_dir: Vec<(OsString, u64)> = list(&vd).unwrap();
    let legit = [
        (
            vf.clone(),
            fs::read(&vf).unwrap(),
            fs::metadata(&vf).unwrap().ino(),
        ),
        (
            vh.clone(),
            fs::read(&vh).unwrap(),
            fs::metadata(&vh).unwrap().ino(),
        ),
    ];
    assert_eq!(legit[0].1.len(), 8 + 1000 + 8 * 1000usize.div_ceil(1016));

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (stop, swaps, src) = (stop.clone(), swaps.clone(), src.clone());
        std::thread::spawn(move || {
            let e = src.join("e");
            while !stop.load(Ordering::Relaxed) {
                let x = RenameFlags::RENAME_EXCHANGE;
                renameat2(AT_FDCWD, &src.join("d"), AT_FDCWD, &src.join("swap"), x).unwrap();
                renameat2(AT_FDCWD, &e.join("h"), AT_FDCWD, &e.join("hlink"), x).unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (legit, legit_dir, vd) = (legit.clone(), legit_dir.clone(), vd.clone());
            let outside_inos = outside_inos.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0u64, 0u64);
                let mut bad = Vec::new();
                while Instant::now() < deadline {
                    for (path, bytes, ino) in &legit {
                        match fs::symlink_metadata(path) {
                            Ok(m)
                                if m.is_file()
                                    && (m.ino(), m.len()) != (*ino, bytes.len() as u64) =>
                            {
                                bad.push(format!("stat: ino {} size {}", m.ino(), m.len()))
                            }
                            Ok(m) if outside_inos.contains(&m.ino()) => {
                                bad.push(format!("stat: an outside inode {}", m.ino()))
                            }
                            _ => {}
                        }
                        match fs::read(path) {
                            Ok(got) if got != *bytes => {
                                bad.push(format!("read {} bytes, not the file's", got.len()))
                            }
                            Ok(_) => ok += 1,
                            Err(_) => failed += 1,
                        }
                    }
                    if let Ok(entries) = list(&vd) {
                        for e in entries.iter().filter(|e| !legit_dir.contains(e)) {
                            bad.push(format!("listed {e:?}, not in the directory"));
                        }
                    }
                }
                (ok, failed, bad)
            })
        })
        .collect();
    let mut bad = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for r in readers {
        let (o, f, b) = r.join().unwrap();
        ok += o;
        failed += f;
        bad.extend(b);
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    eprintln!(
        "{} swaps; through the view {ok} reads succeeded, {failed} failed",
        swaps.load(Ordering::Relaxed)
    );
    bad.dedup();
    assert!(
        bad.is_empty(),
        "the view showed what is outside the source:\n{}",
        bad.join("\n")
    );
    assert!(
        tree_digest(&out) == outside_before,
        "the outside tree changed"
    );
    // Back in place, the view works as before.
    if src.join("d").is_symlink() {
        fs::rename(src.join("d"), src.join("tmp")).unwrap();
        fs::rename(src.join("swap"), src.join("d")).unwrap();
        fs::rename(src.join("tmp"), src.join("swap")).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(fs::read(&vf).unwrap(), legit[0].1);
}

/// (name, inode) of each entry of `dir`.
fn list(dir: &Path) -> io::Result<Vec<(OsString, u64)>> {
    fs::read_dir(dir)?
        .map(|e| e.map(|e| (e.file_name(), e.ino())))
        .collect()
}

#[test]
fn a_killed_daemon_leaves_a_dead_mount_that_umount_cleans() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    fs::write(src.join("file"), b"still here\n").unwrap();
    let vol = init_volume(t.path(), "hardened");
    let cipher = encode(&vol, &[b"file"]).remove(0);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let file = p(&view.mnt, &cipher);
    let bytes = fs::read(&file).unwrap();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(view.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        rview::wait_gone(view.pid, Duration::from_secs(10)),
        "the daemon survived kill -9"
    );
    assert!(
        common::mount::is_mounted(&view.mnt),
        "the dead mount is still listed"
    );
    // A read cannot succeed: the kernel reports the dead connection as
    // ENOTCONN, or ECONNABORTED when it revalidates the file first.
    let err = fs::read(&file).unwrap_err();
    assert!(
        [Some(libc::ENOTCONN), Some(libc::ECONNABORTED)].contains(&err.raw_os_error()),
        "{err}"
    );

    // Mounting over the dead mount is refused with the way out.
    let again = |extra: &[&str]| {
        let mut cmd = Command::new(encmount_bin());
        cmd.args(["mount", "--reverse", "--config"])
            .arg(&vol.config)
            .arg("--password-file")
            .arg(&vol.password_file)
            .args(extra)
            .arg(&src)
            .arg(&view.mnt);
        run_with_timeout(&mut cmd, SLOW)
    };
    let out = again(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains("encmount umount"), "{stderr}");

    let out = run_with_timeout(
        Command::new(encmount_bin()).arg("umount").arg(&view.mnt),
        SLOW,
    );
    assert!(
        out.status.success(),
        "encmount umount of a dead mount: {out:?}"
    );
    assert!(!common::mount::is_mounted(&view.mnt));
    drop(view);

    let fresh = mount_view(&src, &mnt, Some(&vol), &[]);
    assert_eq!(fs::read(p(&fresh.mnt, &cipher)).unwrap(), bytes);
}

#[test]
fn encrypted_link_targets_never_work_as_names() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src.join("sub"), &mnt]);
    fs::write(src.join("sub/file"), b"inside").unwrap();
    // An absolute target is encrypted as one unchained name with its slashes inside
    // (format §6.8). In an unchained volume such a name decrypts at the view root, to a
    // name with '/' that would walk the source (or, with "..", leave it).
    let targets: [&[u8]; 3] = [
        b"/sub/file",
        b"/../../../../../../../../../../etc/hostname",
        b"/etc/hostname",
    ];
    for (i, target) in targets.iter().enumerate() {
        std::os::unix::fs::symlink(OsStr::from_bytes(target), src.join(format!("link{i}")))
            .unwrap();
    }
    let vol = init_volume(t.path(), "standard");
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    for (i, target) in targets.iter().enumerate() {
        let link = encode(&vol, &[format!("link{i}").as_bytes()]).remove(0);
        let cipher = fs::read_link(p(&view.mnt, &link)).unwrap();
        let cipher = cipher.as_os_str().as_bytes();
        assert_eq!(cipher[0], b'+', "{}", show(cipher));
        for dir in [&view.mnt, &p(&view.mnt, &encode(&vol, &[b"sub"]).remove(0))] {
            let e = fs::symlink_metadata(p(dir, &cipher[1..]));
            assert_eq!(
                e.as_ref().err().and_then(io::Error::raw_os_error),
                Some(libc::ENOENT),
                "the target of {} looked up as a name: {e:?}",
                show(target)
            );
        }
    }
}

#[test]
fn sigterm_unmounts_cleanly() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    let vol = init_volume(t.path(), "hardened");
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(view.pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    common::mount::wait_unmounted(&view.mnt, Duration::from_secs(10));
    assert!(
        rview::wait_gone(view.pid, Duration::from_secs(10)),
        "the daemon did not exit after SIGTERM"
    );
}
