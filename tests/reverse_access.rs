//! Who may use a live reverse view (design §4): root and the `--allow-user` readers,
//! who may read every entry whatever its mode (it is ciphertext); everyone else gets
//! EACCES. Uses a throw-away system user (`useradd -r`, removed again).

use crate::common;
use crate::rview;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{require, tempdir};
use rview::{SLOW, encode, init_volume, mkdirs, mount_view, run_with_timeout};

fn p(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

/// A throw-away system user, deleted on drop.
struct TempUser {
    name: String,
}

impl TempUser {
    fn new() -> TempUser {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "encmt{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let _ = Command::new("userdel").arg(&name).output();
        common::run(
            Command::new("useradd")
                .args(["-r", "-M", "-s", "/usr/sbin/nologin"])
                .arg(&name),
        );
        TempUser { name }
    }

    /// `runuser -u USER -- ARGS…`
    fn run(&self, args: &[&OsStr]) -> std::process::Output {
        run_with_timeout(
            Command::new("runuser")
                .args(["-u", &self.name, "--"])
                .args(args),
            SLOW,
        )
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// A source with a root-only directory, file and symlink, reachable by other users up to
/// the mount point; its volume and the cipher paths of the file and the symlink.
fn access_fixture() -> (
    tempfile::TempDir,
    PathBuf,
    PathBuf,
    rview::Volume,
    [Vec<u8>; 2],
) {
    require(&[
        "useradd",
        "userdel",
        "runuser",
        "fusermount3",
        "fuse",
        "root",
    ]);
    let t = tempdir();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let (src, mnt) = (t.path().join("src"), t.path().join("mnt"));
    mkdirs(&[&src.join("private"), &mnt]);
    fs::set_permissions(src.join("private"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(src.join("private/secret.txt"), b"root only\n").unwrap();
    fs::set_permissions(
        src.join("private/secret.txt"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("secret.txt", src.join("private/link")).unwrap();
    let vol = init_volume(t.path(), "hardened");
    let enc = encode(&vol, &[b"private/secret.txt", b"private/link"]);
    let [file, link] = <[Vec<u8>; 2]>::try_from(enc).unwrap();
    (t, src, mnt, vol, [file, link])
}

/// Asserts that `args` run as `user` fail with "Permission denied".
fn denied(user: &TempUser, args: &[&OsStr]) {
    let out = user.run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Permission denied"),
        "{args:?} as {}, not an allowed user: {out:?}",
        user.name
    );
}

#[test]
fn only_root_and_allowed_users_get_in() {
    let (_t, src, mnt, vol, [file, link]) = access_fixture();
    let user = TempUser::new();

    // A fresh mount: nothing is in the kernel's caches yet (see the test below).
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let (file, link) = (p(&view.mnt, &file), p(&view.mnt, &link));
    let os = OsStr::new;
    denied(&user, &[os("ls"), view.mnt.as_os_str()]);
    denied(&user, &[os("stat"), file.as_os_str()]);
    denied(&user, &[os("cat"), file.as_os_str()]);
    denied(&user, &[os("readlink"), os("-v"), link.as_os_str()]);
    denied(&user, &[os("ls"), view.mnt.join(".encfs6.xml").as_os_str()]);
    let as_root = fs::read(&file).unwrap();
    view.unmount();

    let view = mount_view(&src, &mnt, Some(&vol), &["--allow-user", &user.name]);
    let out = user.run(&[os("ls"), os("-a"), view.mnt.as_os_str()]);
    assert!(out.status.success(), "ls as an allowed user: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(".encfs6.xml"));
    // Readers may read every entry, whatever its mode: it is ciphertext (design §4).
    let out = user.run(&[os("cat"), file.as_os_str()]);
    assert!(out.status.success(), "cat as an allowed user: {out:?}");
    assert_eq!(out.stdout, as_root);
    let out = user.run(&[os("readlink"), os("-v"), link.as_os_str()]);
    assert!(out.status.success(), "readlink as an allowed user: {out:?}");
    let out = user.run(&[os("touch"), view.mnt.join("x").as_os_str()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
}

// The kernel keeps entries, attributes and symlink targets for 1 s
// (src/view/fuse.rs `TTL`): without that cache a 30,000-file tree lists
// four times slower. So right after root or a reader used an entry, a user
// who already knows its encrypted path may get its `stat` or `readlink`
// from the cache (see the module doc of view::fuse). What must hold even
// then, and is tested here: such a user cannot list a directory, learn a
// name, or read a byte of content.
#[test]
fn a_user_not_allowed_gets_nothing_from_the_kernel_caches() {
    let (_t, src, mnt, vol, [file, _link]) = access_fixture();
    let user = TempUser::new();
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    let file = p(&view.mnt, &file);
    let os = OsStr::new;
    // Root, e.g. a backup run, has just been here.
    fs::read(&file).unwrap();
    fs::read_dir(&view.mnt).unwrap().for_each(drop);
    denied(&user, &[os("ls"), view.mnt.as_os_str()]);
    denied(&user, &[os("cat"), file.as_os_str()]);
    denied(&user, &[os("head"), os("-c1"), file.as_os_str()]);
}
