//! The smaller promises of a live reverse view (design §4): special files, xattrs, names
//! too long to encrypt, the exposed config, excludes, mount options, other file systems,
//! files changing while mounted, the idle timer, and a wrong password.

use crate::common;
use crate::rview;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::encfs::forward_mount;
use common::mount::{is_mounted, mount_entry};
use common::tree::{self, CompareOptions, assert_same_tree};
use common::{encmount_bin, require, show, tempdir};
use rview::{
    PASSWORD, SLOW, Volume, encode, init_volume, mkdirs, mount_foreground, mount_view, names,
    rsync, run_with_timeout,
};

const TOOLS: &[&str] = &["fusermount3", "fuse", "root"];

fn p(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

/// Every path below `root` (raw bytes, sorted).
fn all_paths(root: &Path) -> Vec<Vec<u8>> {
    tree::walk(root)
        .into_keys()
        .map(|k| k.as_bytes().to_vec())
        .collect()
}

#[test]
fn special_files_are_listed_but_never_opened_through() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    nix::unistd::mkfifo(
        &src.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    // A device node as /dev/null (1:3).
    nix::sys::stat::mknod(
        &src.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"fifo", b"null", b"sock"]);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let listed = names(&view.mnt);
    for n in &enc {
        assert!(listed.contains(n), "{} is not listed", show(n));
    }
    let (fifo, null, sock) = (
        p(&view.mnt, &enc[0]),
        p(&view.mnt, &enc[1]),
        p(&view.mnt, &enc[2]),
    );
    let m = fs::symlink_metadata(&fifo).unwrap();
    assert!(
        m.file_type().is_fifo() && m.mode() & 0o7777 == 0o640,
        "{m:?}"
    );
    let m = fs::symlink_metadata(&null).unwrap();
    assert!(m.file_type().is_char_device() && m.rdev() == nix::sys::stat::makedev(1, 3));
    assert!(fs::symlink_metadata(&sock).unwrap().file_type().is_socket());

    // Design §4 says open → EACCES. FUSE cannot do that for a FIFO: the kernel opens FIFOs
    // itself and never asks the daemon, so the open gives a pipe of the view's own. What
    // matters: it never reaches the source FIFO (no hang, no data from a source writer).
    let nonblock = |p: &Path| {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(p)
    };
    match nonblock(&fifo) {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EACCES), "open fifo: {e}"),
        Ok(mut f) => {
            let w = fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(src.join("fifo"));
            assert_eq!(
                w.err().and_then(|e| e.raw_os_error()),
                Some(libc::ENXIO),
                "the view's open reached the source FIFO"
            );
            let mut buf = [0u8; 16];
            assert_eq!(io::Read::read(&mut f, &mut buf).unwrap(), 0);
        }
    }
    // The mount is nodev: a device node in the source cannot be opened through the view.
    let e = nonblock(&null).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "open device: {e}");
    let e = nonblock(&sock).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENXIO), "open socket: {e}");
}

#[test]
fn source_xattrs_are_not_exposed() {
    require(&["getfattr", "setfattr", "fusermount3", "fuse", "root"]);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src.join("dir"), &mnt]);
    fs::write(src.join("dir/file"), b"x").unwrap();
    for target in [src.join("dir"), src.join("dir/file")] {
        common::run(
            Command::new("setfattr")
                .args(["-n", "user.secret", "-v", "plaintext-secret"])
                .arg(&target),
        );
    }
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"dir/file"]).remove(0);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let out = run_with_timeout(
        Command::new("getfattr")
            .args(["-R", "-d", "-m", "-"])
            .arg(&view.mnt),
        SLOW,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "xattrs shown: {}", show(&out.stdout));
    let out = run_with_timeout(
        Command::new("getfattr")
            .args(["-n", "user.secret"])
            .arg(p(&view.mnt, &enc)),
        SLOW,
    );
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such attribute"),
        "{out:?}"
    );
}

/// `encmount decode` of cipher names at the volume root (plaintext names without
/// newlines), one plaintext name each.
fn decode_root(vol: &Volume, names: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let out = rview::run_ok(
        vol.command("decode")
            .arg("--")
            .args(names.iter().map(|n| OsStr::from_bytes(n))),
    );
    out.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn too_long_names_are_shown_short_and_a_taken_short_name_is_reported() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt, log) = (
        t.path().join("src"),
        t.path().join("mnt"),
        t.path().join("log"),
    );
    mkdirs(&[&src, &mnt]);
    let name = |c: u8, n: usize| vec![c; n];
    let ok = name(b'a', 175);
    let long: Vec<Vec<u8>> = vec![name(b'b', 176), name(b'c', 200), name(b'd', 255)];
    fs::write(p(&src, &ok), b"fits").unwrap();
    for n in &long {
        fs::write(p(&src, n), b"too long").unwrap();
    }
    let vol = init_volume(t.path(), "hardened");
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let listed = names(&view.mnt);
    view.unmount();
    // the config, the short name, and a short and a side name per long name
    assert_eq!(listed.len(), 2 + 2 * long.len(), "listed");
    // (cipher names may sort before ".encfs6.xml": ',' and '-' are in EncFS base64)
    let cipher: Vec<Vec<u8>> = listed.into_iter().filter(|n| n != b".encfs6.xml").collect();
    let plain = decode_root(&vol, &cipher);
    let short_of_c = plain
        .iter()
        .find(|n| n.starts_with(b"ccc") && !n.ends_with(b".encmount-name"))
        .expect("a short name for the 200-byte name")
        .clone();
    assert!(plain.contains(&[&short_of_c[..], b".encmount-name"].concat()));

    // A real file under that short name wins; the long one is left out, reported once.
    fs::write(p(&src, &short_of_c), b"a real file").unwrap();
    let view = mount_foreground(&src, &mnt, Some(&vol), &[], &log);
    for _ in 0..2 {
        assert_eq!(names(&view.mnt).len(), 2 + 2 * long.len() - 1, "listed");
    }
    let text = view.log();
    let mentions = text
        .lines()
        .filter(|l| l.contains("left out") && l.contains(std::str::from_utf8(&long[1]).unwrap()))
        .count();
    assert_eq!(mentions, 1, "reported once:\n{text}");
    let status = view.unmount().expect("a foreground view");
    assert!(status.success(), "{status}");
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("1 names were left out of the view"),
        "no count at exit:\n{text}"
    );
}

#[test]
fn the_config_is_exposed_and_a_plaintext_one_never_shown() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src.join("sub"), &mnt]);
    fs::write(src.join("sub/.encfs6.xml"), b"only the root one is special").unwrap();

    // No --config and none in SRC: mount creates SRC/.encfs6.xml and shows it as is.
    let pw = t.path().join("pw");
    rview::write_password(&pw, PASSWORD);
    let pw_arg = pw.to_str().unwrap();
    let in_src = Volume {
        config: src.join(".encfs6.xml"),
        password_file: pw.clone(),
    };
    let args = ["--password-file", pw_arg, "--kdf-iterations", "1000"];
    let view = mount_view(&src, &mnt, None, &args);
    assert!(in_src.config.is_file(), "no config was created in SRC");
    let exposed = view.mnt.join(".encfs6.xml");
    assert_eq!(
        fs::read(&exposed).unwrap(),
        fs::read(&in_src.config).unwrap()
    );
    assert_eq!(fs::metadata(&exposed).unwrap().mode() & 0o7777, 0o444);
    let enc = encode(&in_src, &[b".encfs6.xml", b"sub/.encfs6.xml"]);
    let listed = names(&view.mnt);
    assert_eq!(
        listed
            .iter()
            .filter(|n| n[..] == b".encfs6.xml"[..])
            .count(),
        1
    );
    assert!(
        !listed.contains(&enc[0]),
        "the config is also shown encrypted"
    );
    assert!(
        p(&view.mnt, &enc[1]).is_file(),
        "sub/.encfs6.xml is an ordinary file"
    );
    drop(view);

    // --config elsewhere and a decoy in SRC: the volume's config is shown, never the decoy.
    fs::write(src.join(".encfs6.xml"), b"<decoy/>").unwrap();
    let vol = init_volume(t.path(), "standard");
    let enc = encode(&vol, &[b".encfs6.xml"]).remove(0);
    for (extra, shown) in [(&[][..], true), (&["--no-expose-config"][..], false)] {
        let view = mount_view(&src, &mnt, Some(&vol), extra);
        let listed = names(&view.mnt);
        assert!(!listed.contains(&enc), "the decoy is shown encrypted");
        assert_eq!(
            listed.contains(&b".encfs6.xml".to_vec()),
            shown,
            "{extra:?}"
        );
        let exposed = fs::read(view.mnt.join(".encfs6.xml"));
        if shown {
            assert_eq!(exposed.unwrap(), fs::read(&vol.config).unwrap());
        } else {
            let e = exposed.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
        }
        let e = fs::metadata(p(&view.mnt, &enc)).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::ENOENT),
            "lookup of the decoy: {e}"
        );
    }
}

#[test]
fn excluded_entries_vanish() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    for d in ["sub/skipdir", "skipdir/deeper"] {
        mkdirs(&[&src.join(d)]);
    }
    mkdirs(&[&mnt]);
    for f in [
        "a.tmp",
        "keep.txt",
        "sub/b.tmp",
        "sub/c.txt",
        "sub/skipdir/y",
        "skipdir/x",
        "skipdir/deeper/z",
    ] {
        fs::write(src.join(f), f).unwrap();
    }
    let vol = init_volume(t.path(), "hardened");
    let visible: [&[u8]; 5] = [
        b"keep.txt",
        b"sub",
        b"sub/c.txt",
        b"sub/skipdir",
        b"sub/skipdir/y",
    ];
    let mut want = encode(&vol, &visible);
    want.push(b".encfs6.xml".to_vec());
    want.sort();
    let hidden = encode(&vol, &[b"a.tmp", b"sub/b.tmp", b"skipdir", b"skipdir/x"]);
    let view = mount_view(
        &src,
        &mnt,
        Some(&vol),
        &["--exclude", "*.tmp", "--exclude", "/skipdir/"],
    );
    assert_eq!(all_paths(&view.mnt), want);
    for h in &hidden {
        let e = fs::symlink_metadata(p(&view.mnt, h)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{}: {e}", show(h));
    }
}

#[test]
fn mount_options_type_and_source() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("my src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    let vol = init_volume(t.path(), "hardened");
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let e = mount_entry(&view.mnt).unwrap();
    for opt in ["ro", "nosuid", "nodev"] {
        assert!(e.has_option(opt), "{opt} missing: {e:?}");
    }
    assert_eq!(e.fstype, "fuse.encmount");
    assert_eq!(e.source, src.canonicalize().unwrap().to_str().unwrap());
}

/// Unmounts (`umount`) a non-FUSE mount on drop.
struct KernelMount(PathBuf);

impl Drop for KernelMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn entries_on_other_file_systems_are_hidden() {
    require(&["mount", "umount", "fusermount3", "fuse", "root"]);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src.join("other"), &src.join("same"), &mnt]);
    common::run(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(src.join("other")),
    );
    let _tmpfs = KernelMount(src.join("other"));
    fs::write(src.join("other/on-tmpfs"), b"x").unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"other", b"same"]);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let listed = names(&view.mnt);
    assert!(listed.contains(&enc[1]));
    assert!(
        !listed.contains(&enc[0]),
        "a mount inside the source is shown"
    );
    let e = fs::symlink_metadata(p(&view.mnt, &enc[0])).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
}

#[test]
fn files_that_grow_or_shrink_while_mounted_read_correctly() {
    require(&["encfs", "rsync", "fusermount3", "fuse", "root"]);
    let t = tempdir();
    let [src, mnt, copy, plain] = ["src", "mnt", "copy", "plain"].map(|d| t.path().join(d));
    mkdirs(&[&src, &mnt, &copy, &plain]);
    let data = |n: usize, seed: u8| -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    };
    fs::write(src.join("grow"), data(3000, 1)).unwrap();
    fs::write(src.join("shrink"), data(50_000, 2)).unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"grow", b"shrink"]);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let (vgrow, vshrink) = (p(&view.mnt, &enc[0]), p(&view.mnt, &enc[1]));
    // Read both through the view (caches warm), and keep one open.
    let old_grow = fs::read(&vgrow).unwrap();
    fs::read(&vshrink).unwrap();
    let mut held = fs::File::open(&vgrow).unwrap();

    // In place: the same inodes.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(src.join("grow"))
        .unwrap();
    io::Write::write_all(&mut f, &data(10_000, 3)).unwrap();
    drop(f);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(src.join("shrink"))
        .unwrap();
    f.set_len(2500).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"changed", 100).unwrap();
    drop(f);
    // The view's attributes may be 1 s old (design §4).
    std::thread::sleep(Duration::from_millis(1100));

    // While a handle is open, the file keeps the size it had when opened
    // (README, "files that change during a pull"): every reader sees that
    // version, whose last block is encrypted from exactly those bytes.
    let mut again = Vec::new();
    io::Read::read_to_end(&mut held, &mut again).unwrap();
    assert!(again == old_grow, "the open fd reads the version it opened");
    assert_eq!(fs::metadata(&vgrow).unwrap().len(), old_grow.len() as u64);
    assert!(
        fs::read(&vgrow).unwrap() == old_grow,
        "a second reader shares the pinned version"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(1100));

    let now_grow = fs::read(&vgrow).unwrap();
    let m = fs::metadata(&vgrow).unwrap();
    assert_eq!(now_grow.len() as u64, m.len());
    assert_eq!(
        m.blocks(),
        m.len().div_ceil(512),
        "st_blocks follows the cipher size"
    );
    assert_eq!(now_grow.len(), 8 + 13_000 + 8 * 13_000usize.div_ceil(1016));
    assert_ne!(
        now_grow[..old_grow.len()],
        old_grow[..],
        "block 2 is now full: new bytes"
    );

    rsync(&["-a"], &view.mnt, &copy);
    drop(view);
    let fwd = forward_mount(&copy, &vol.config, PASSWORD.as_bytes(), &plain, true);
    assert_same_tree(&src, &fwd.mnt, &CompareOptions::CONTENT);
}

#[test]
fn an_idle_view_unmounts_itself_but_not_while_a_file_is_open() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    fs::write(src.join("file"), b"held open").unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"file"]).remove(0);
    let idle = ["--idle", "2s"];

    // Held open: stays mounted well past the idle time, goes soon after the close.
    let view = mount_view(&src, &mnt, Some(&vol), &idle);
    let held = fs::File::open(p(&view.mnt, &enc)).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert!(is_mounted(&view.mnt), "unmounted while a file was open");
    let mut buf = Vec::new();
    io::Read::read_to_end(&mut &held, &mut buf).unwrap();
    assert_eq!(buf.len(), 8 + 9 + 8);
    // A listing always reaches the daemon: the idle time starts now.
    names(&view.mnt);
    drop(held);
    let closed = Instant::now();
    // Generous bounds for a loaded machine: only "not before the idle
    // time" is asserted, never how soon after.
    wait_unmounted(&view.mnt, Duration::from_secs(30));
    let after = closed.elapsed();
    assert!(
        after >= Duration::from_millis(1500),
        "unmounted {after:?} after the close"
    );
    assert!(
        // A generous bound: the machine may be loaded (no timing assertion).
        rview::wait_gone(view.pid, Duration::from_secs(30)),
        "the daemon is still running"
    );
    drop(view);

    // Untouched: gone once the idle time is over, not before.
    let started = Instant::now();
    let view = mount_view(&src, &mnt, Some(&vol), &idle);
    wait_unmounted(&view.mnt, Duration::from_secs(30));
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(1900),
        "an idle view unmounted after {after:?}, before its idle time"
    );
}

fn wait_unmounted(mnt: &Path, timeout: Duration) {
    common::mount::wait_unmounted(mnt, timeout);
}

#[test]
fn a_wrong_password_mounts_nothing() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    fs::write(src.join("file"), b"x").unwrap();
    let vol = init_volume(t.path(), "hardened");
    let wrong = Volume {
        config: vol.config.clone(),
        password_file: t.path().join("wrong.pw"),
    };
    rview::write_password(&wrong.password_file, "not the password");
    fs::set_permissions(&wrong.password_file, fs::Permissions::from_mode(0o600)).unwrap();
    for foreground in [false, true] {
        let mut cmd = Command::new(encmount_bin());
        cmd.args(["mount", "--reverse", "--config"])
            .arg(&wrong.config)
            .arg("--password-file")
            .arg(&wrong.password_file);
        if foreground {
            cmd.arg("--foreground");
        }
        let out = run_with_timeout(cmd.arg(&src).arg(&mnt), SLOW);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(
            stderr.contains(&format!("wrong password for {}", vol.config.display())),
            "{stderr}"
        );
        assert!(!is_mounted(&mnt), "mounted with a wrong password");
        assert!(rview::daemon_pid(&mnt).is_none(), "a daemon is left");
    }
    assert!(fs::read_dir(&mnt).unwrap().next().is_none());
}

#[test]
fn umount_of_a_busy_view_needs_lazy() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    fs::write(src.join("file"), b"x").unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"file"]).remove(0);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let held = fs::File::open(p(&view.mnt, &enc)).unwrap();
    let umount = |lazy: bool| {
        let mut cmd = Command::new(encmount_bin());
        cmd.arg("umount");
        if lazy {
            cmd.arg("--lazy");
        }
        run_with_timeout(cmd.arg(&view.mnt), SLOW)
    };
    let out = umount(false);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--lazy"),
        "{out:?}"
    );
    assert!(is_mounted(&view.mnt));
    let out = umount(true);
    assert!(out.status.success(), "{out:?}");
    assert!(!is_mounted(&view.mnt), "still listed after a lazy unmount");
    // The open file still reads; the daemon ends once it is closed.
    let mut buf = Vec::new();
    io::Read::read_to_end(&mut &held, &mut buf).unwrap();
    assert_eq!(buf.len(), 8 + 1 + 8);
    drop(held);
    assert!(
        rview::wait_gone(view.pid, Duration::from_secs(10)),
        "the daemon is still running"
    );
}

#[test]
fn mount_takes_the_password_from_stdin_or_a_command() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    fs::write(src.join("file"), b"x").unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"file"]).remove(0);
    let base = || {
        let mut cmd = Command::new(encmount_bin());
        cmd.args(["mount", "--reverse", "--config"])
            .arg(&vol.config);
        cmd
    };
    let extpass = format!("cat '{}'", vol.password_file.display());
    let mut by_command = base();
    by_command.args(["--extpass", &extpass]);
    let mut by_stdin = base();
    by_stdin.arg("--stdinpass");
    for (what, mut cmd) in [("--extpass", by_command), ("--stdinpass", by_stdin)] {
        let guard = common::mount::Mount::adopt(&mnt);
        cmd.arg(&src).arg(&guard.mnt);
        let out = common::output_with_stdin(&mut cmd, format!("{PASSWORD}\n").as_bytes());
        assert!(
            out.status.success(),
            "{what}: {}",
            common::failure_report(&cmd, &out)
        );
        assert!(
            p(&guard.mnt, &enc).is_file(),
            "{what}: the view shows nothing"
        );
        let pid = rview::daemon_pid(&guard.mnt).expect("a daemon");
        guard.unmount();
        assert!(
            rview::wait_gone(pid, Duration::from_secs(10)),
            "{what}: daemon left"
        );
    }
}

/// How often the inode-reuse tests replace an entry before giving up (other
/// tests creating files at the same time can take the freed number).
const REUSE_TRIES: usize = 1000;

/// Replaces the symlink `link` by one to `target`; the new link's inode number.
fn replace_link(link: &Path, target: &str) -> u64 {
    fs::remove_file(link).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
    fs::symlink_metadata(link).unwrap().ino()
}

#[test]
fn a_symlink_replaced_under_the_same_inode_number_shows_its_new_target() {
    require(TOOLS);
    let t = tempdir();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src, &mnt]);
    // Link targets are encrypted without a per-entry IV (format §6.8): `ref-*`
    // show what each target encrypts to.
    let (old, new) = ("old/target/aaaa", "new/target/bbbbbbbb");
    let link = src.join("link");
    std::os::unix::fs::symlink(old, &link).unwrap();
    std::os::unix::fs::symlink(old, src.join("ref-old")).unwrap();
    std::os::unix::fs::symlink(new, src.join("ref-new")).unwrap();
    let vol = init_volume(t.path(), "standard");
    let enc = encode(&vol, &[b"link", b"ref-old", b"ref-new"]);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let vlink = p(&view.mnt, &enc[0]);
    let enc_old = fs::read_link(p(&view.mnt, &enc[1])).unwrap();
    let enc_new = fs::read_link(p(&view.mnt, &enc[2])).unwrap();
    assert_ne!(enc_old, enc_new);

    // ext4 hands a freed inode number to the next file created at once; try until
    // it does (a change to another number is a new node, which no cache confuses).
    let mut reused = 0;
    for _ in 0..REUSE_TRIES {
        let ino = replace_link(&link, old);
        assert_eq!(fs::read_link(&vlink).unwrap(), enc_old, "old target shown");
        if replace_link(&link, new) != ino {
            continue;
        }
        reused += 1;
        // No wait: the view must not serve a cached target even within its TTL.
        assert_eq!(
            fs::read_link(&vlink).unwrap(),
            enc_new,
            "after `rm link; ln -s {new} link` (same inode number {ino}) the view \
             still shows the old target"
        );
        // And past the TTL, after the kernel looked the entry up again.
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(fs::read_link(&vlink).unwrap(), enc_new);
        if reused == 3 {
            break;
        }
    }
    assert_inode_numbers_reused(reused, &src);
}

/// The inode-reuse tests need a source file system that hands a freed inode
/// number to the next file (ext4 does).
fn assert_inode_numbers_reused(reused: usize, src: &Path) {
    assert!(
        reused > 0,
        "the source file system ({}) never reused a freed inode number in {REUSE_TRIES} \
         tries: this test needs one that does (ext4)",
        src.display()
    );
}

#[test]
fn a_file_replaced_under_the_same_inode_number_shows_its_new_content() {
    require(&["encfs", "rsync", "fusermount3", "fuse", "root"]);
    let t = tempdir();
    let [src, mnt, copy, plain] = ["src", "mnt", "copy", "plain"].map(|d| t.path().join(d));
    mkdirs(&[&src, &mnt, &copy, &plain]);
    let file = src.join("file");
    let content = |seed: u8| -> Vec<u8> { (0..5000u32).map(|i| (i as u8) ^ seed).collect() };
    fs::write(&file, content(0)).unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"file"]);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let vfile = p(&view.mnt, &enc[0]);

    // Same size, same inode number (ext4 reuses a freed one at once; try until it
    // does), new bytes: the file IV is the same, so only a stale cache could show
    // the old ciphertext.
    let mut reused = 0;
    for i in 0..REUSE_TRIES {
        let seed = (i % 250 + 1) as u8;
        let ino = fs::metadata(&file).unwrap().ino();
        let before = fs::read(&vfile).unwrap();
        // The kernel sends RELEASE after read returns: give the daemon a moment
        // to close the old file, or its inode (and number) is not free yet.
        std::thread::sleep(Duration::from_millis(10));
        fs::remove_file(&file).unwrap();
        fs::write(&file, content(seed)).unwrap();
        if fs::metadata(&file).unwrap().ino() != ino {
            continue;
        }
        reused += 1;
        let after = fs::read(&vfile).unwrap();
        assert_eq!(after.len(), before.len());
        assert!(
            after != before,
            "after replacing the file (same inode number {ino}, same size) the view \
             still serves the old ciphertext"
        );
        if reused == 3 {
            break;
        }
    }
    assert_inode_numbers_reused(reused, &src);
    rsync(&["-a"], &view.mnt, &copy);
    drop(view);
    let fwd = forward_mount(&copy, &vol.config, PASSWORD.as_bytes(), &plain, true);
    assert_same_tree(&src, &fwd.mnt, &CompareOptions::CONTENT);
}
