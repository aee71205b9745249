//! The forward view (`encmount mount CIPHERDIR MNT`), through real FUSE
//! mounts of the `encmount` binary: every shared vector volume and every
//! tree stock encfs writes reads back as its plaintext; damage gives EIO,
//! never wrong bytes; writes are refused; the daemon and CLI behave.

use crate::common;
mod damage;

use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::encfs::forward_mount;
use common::mount::{Mount, is_mounted, wait_unmounted};
use common::tree::{CompareOptions, TreeOptions, assert_same_tree, generate, tree_digest};
use common::vectors::{VectorCopy, copy_vector};
use common::{encmount_bin, output, require, run, tempdir};

const MAC_VOLUME: &str = "g-forward-mac8-uniqueiv-nochain";
const TIMEOUT: Duration = Duration::from_secs(20);

/// `encmount mount --config C --password-file P [extra…] CIPHER MNT`.
fn mount_cmd(v: &VectorCopy, mnt: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(encmount_bin());
    c.env_remove("ENCFS6_CONFIG")
        .env_remove("ENCFS5_CONFIG")
        .arg("mount")
        .arg("--config")
        .arg(&v.config)
        .arg("--password-file")
        .arg(&v.password_file)
        .args(extra)
        .arg(&v.cipher)
        .arg(mnt);
    c
}

/// Mounts a forward view as a daemon; the command returns once it is live.
fn mount_view(v: &VectorCopy, mnt: &Path) -> Mount {
    let guard = Mount::adopt(mnt);
    run(&mut mount_cmd(v, mnt, &[]));
    assert!(
        is_mounted(mnt),
        "the daemon returned before the mount was live"
    );
    guard
}

fn mkdir(p: &Path) -> PathBuf {
    fs::create_dir_all(p).unwrap();
    p.to_path_buf()
}

/// The cipher path of `plain` in the manifest of vector `name`.
fn cipher_of(name: &str, v: &VectorCopy, plain: &str) -> PathBuf {
    let manifest =
        fs::read_to_string(common::vectors_dir().join(name).join("manifest.tsv")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.split('\t').next() == Some(plain))
        .unwrap_or_else(|| panic!("{plain} not in the manifest of {name}"));
    v.cipher.join(line.split('\t').nth(1).unwrap())
}

fn os_err(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[test]
fn every_vector_volume_reads_as_its_plain_tree() {
    require(&["fusermount3", "fuse", "root"]);
    let mut names: Vec<String> = fs::read_dir(common::vectors_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 7, "{names:?}");
    for name in names {
        let v = copy_vector(&name);
        let mnt = mkdir(&v.dir.path().join("mnt"));
        let m = mount_view(&v, &mnt);
        let e = m.entry();
        assert_eq!(e.fstype, "fuse.encmount", "{name}");
        assert!(e.has_option("ro"), "{name}: {}", e.mount_options);
        assert_same_tree(&v.plain, &mnt, &CompareOptions::CONTENT);
        // Inode numbers are the cipher files' (a hard-link-free volume).
        let cipher = fs::symlink_metadata(cipher_of(&name, &v, "dir1/dir2/deep.txt")).unwrap();
        let shown = fs::symlink_metadata(mnt.join("dir1/dir2/deep.txt")).unwrap();
        assert_eq!(shown.ino(), cipher.ino(), "{name}");
        assert_eq!(shown.mode(), cipher.mode(), "{name}");
        assert_eq!(shown.mtime_nsec(), cipher.mtime_nsec(), "{name}");
        // A name that is not there, and a name that is too long.
        assert_eq!(os_err(fs::metadata(mnt.join("no-such-name"))), Some(2));
        let long = "x".repeat(255);
        assert!(fs::metadata(mnt.join(long)).is_err(), "{name}");
        m.unmount();
    }
}

#[test]
fn trees_written_by_stock_encfs_read_back_for_every_preset() {
    require(&["encfs", "fusermount3", "fuse", "root"]);
    for preset in ["standard", "hardened", "paranoia"] {
        let t = tempdir();
        let (src, raw) = (t.path().join("src"), mkdir(&t.path().join("raw")));
        let (emnt, mnt) = (mkdir(&t.path().join("emnt")), mkdir(&t.path().join("mnt")));
        let pw = t.path().join("pw");
        fs::write(&pw, "correct horse").unwrap();
        fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
        let config = t.path().join("volume.xml");
        run(Command::new(encmount_bin())
            .args(["init", "--kdf-iterations", "1000", "--preset", preset])
            .arg("--password-file")
            .arg(&pw)
            .arg(&config));
        // encfs refuses hard links with external IV chaining (format §7.1).
        let hard_links = preset != "paranoia";
        generate(
            &src,
            &TreeOptions {
                hard_links,
                ..TreeOptions::default()
            },
        );
        {
            let m = forward_mount(&raw, &config, b"correct horse", &emnt, false);
            run(Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", src.display()))
                .arg(&m.mnt));
        }
        let guard = Mount::adopt(&mnt);
        run(Command::new(encmount_bin())
            .env_remove("ENCFS6_CONFIG")
            .args(["mount", "--threads", "8", "--config"])
            .arg(&config)
            .arg("--password-file")
            .arg(&pw)
            .arg(&raw)
            .arg(&mnt));
        // encfs keeps only microseconds of the times it is given.
        let cmp = CompareOptions {
            hard_links,
            mtime_granularity_ns: 1000,
            ..CompareOptions::ALL
        };
        assert_same_tree(&src, &mnt, &cmp);
        guard.unmount();
    }
}

#[test]
fn every_write_is_refused_and_the_cipher_dir_stays_unchanged() {
    require(&["fusermount3", "fuse", "root"]);
    let v = copy_vector("e-forward-paranoia");
    let before = tree_digest(&v.cipher);
    let mnt = mkdir(&v.dir.path().join("mnt"));
    let m = mount_view(&v, &mnt);
    let (file, dir) = (mnt.join("a"), mnt.join("dir1"));
    let cfile = std::ffi::CString::new(file.as_os_str().as_bytes()).unwrap();
    let nix = |r: nix::Result<()>| r.err().map(|e| e as i32);
    let now = nix::sys::time::TimeSpec::new(1, 0);
    let fifo = nix::sys::stat::SFlag::S_IFIFO;
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o644);
    let at = nix::fcntl::AT_FDCWD;
    let follow = nix::sys::stat::UtimensatFlags::FollowSymlink;
    // SAFETY: NUL-terminated strings and a 1-byte value.
    let setxattr = || unsafe {
        libc::setxattr(
            cfile.as_ptr(),
            c"user.x".as_ptr(),
            c"1".as_ptr().cast(),
            1,
            0,
        )
    };
    let results = [
        ("write", os_err(File::options().write(true).open(&file))),
        ("append", os_err(File::options().append(true).open(&file))),
        ("create", os_err(File::create(mnt.join("new")))),
        ("mkdir", os_err(fs::create_dir(mnt.join("newdir")))),
        ("unlink", os_err(fs::remove_file(&file))),
        ("rmdir", os_err(fs::remove_dir(dir.join("dir2")))),
        ("rename", os_err(fs::rename(&file, mnt.join("b")))),
        (
            "symlink",
            os_err(std::os::unix::fs::symlink("a", mnt.join("ln"))),
        ),
        ("link", os_err(fs::hard_link(&file, mnt.join("hl")))),
        (
            "chmod",
            os_err(fs::set_permissions(
                &file,
                fs::Permissions::from_mode(0o777),
            )),
        ),
        (
            "chown",
            os_err(std::os::unix::fs::chown(&file, Some(1), Some(1))),
        ),
        ("truncate", nix(nix::unistd::truncate(&file, 0))),
        (
            "utimes",
            nix(nix::sys::stat::utimensat(at, &file, &now, &now, follow)),
        ),
        (
            "mknod",
            nix(nix::sys::stat::mknod(&mnt.join("fifo"), fifo, mode, 0)),
        ),
        (
            "setxattr",
            (setxattr() != 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap()),
        ),
    ];
    for (op, r) in results {
        assert_eq!(r, Some(libc::EROFS), "{op}");
    }
    // Reads still work; no xattrs are shown.
    assert_eq!(
        fs::read(mnt.join("dir1/dir2/deep.txt")).unwrap(),
        fs::read(v.plain.join("dir1/dir2/deep.txt")).unwrap()
    );
    // SAFETY: a NUL-terminated path and no buffer (size query).
    let listed = unsafe { libc::listxattr(cfile.as_ptr(), std::ptr::null_mut(), 0) };
    assert_eq!(listed, 0);
    m.unmount();
    assert_eq!(before, tree_digest(&v.cipher), "the cipher dir changed");
}

#[test]
fn daemon_wrong_password_umount_and_readers() {
    require(&["fusermount3", "fuse", "root", "setpriv"]);
    let v = copy_vector("f-forward-standard");
    // Let other users reach the mountpoint: the view decides who reads.
    fs::set_permissions(v.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mnt = mkdir(&v.dir.path().join("mnt"));

    fs::write(&v.password_file, "not the password").unwrap();
    let o = output(&mut mount_cmd(&v, &mnt, &[]));
    fs::write(&v.password_file, &v.password).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("wrong password for {}", v.config.display())),
        "{err}"
    );
    assert!(!is_mounted(&mnt));

    let _guard = Mount::adopt(&mnt);
    run(&mut mount_cmd(&v, &mnt, &["--allow-user", "daemon"]));
    assert!(
        is_mounted(&mnt),
        "the daemon returned before the mount was live"
    );
    let as_user = |uid: &str| {
        output(
            Command::new("setpriv")
                .args(["--reuid", uid, "--regid", uid, "--clear-groups", "cat"])
                .arg(mnt.join("private.txt")),
        )
    };
    let nobody = as_user("65534");
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("Permission denied"));
    let daemon = as_user("1");
    assert!(daemon.status.success(), "{daemon:?}");
    assert_eq!(
        daemon.stdout,
        fs::read(v.plain.join("private.txt")).unwrap()
    );
    // Busy (an open file): refused without --lazy.
    let open = File::open(mnt.join("a")).unwrap();
    let busy = output(Command::new(encmount_bin()).arg("umount").arg(&mnt));
    assert_eq!(busy.status.code(), Some(1));
    drop(open);
    // The kernel sends the file's release asynchronously: the view may be
    // busy for a moment after the close, so try until it is not.
    let start = std::time::Instant::now();
    loop {
        let o = output(Command::new(encmount_bin()).arg("umount").arg(&mnt));
        if o.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("is busy") && start.elapsed() < TIMEOUT,
            "umount after the close: {err}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_unmounted(&mnt, TIMEOUT);
}

#[test]
fn reverse_only_options_and_a_missing_config_are_refused() {
    let v = copy_vector("f-forward-standard");
    let mnt = mkdir(&v.dir.path().join("mnt"));
    for extra in [
        &["--exclude", "*.tmp"][..],
        &["--preset", "standard"],
        &["--file-iv", "inode"],
        &["--no-expose-config"],
    ] {
        let o = output(&mut mount_cmd(&v, &mnt, extra));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("reverse views only"), "{err}");
        assert!(err.contains(extra[0]) || extra[0] == "--preset", "{err}");
    }
    let o = output(
        Command::new(encmount_bin())
            .env_remove("ENCFS6_CONFIG")
            .env_remove("ENCFS5_CONFIG")
            .args(["mount", "--password-file"])
            .arg(&v.password_file)
            .arg(&v.cipher)
            .arg(&mnt),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no volume config found") && err.contains("--config"),
        "{err}"
    );
    assert!(
        !v.cipher.join(".encfs6.xml").exists(),
        "a config was created"
    );
    assert!(!is_mounted(&mnt));
}
