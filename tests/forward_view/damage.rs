//! Damaged and odd cipher trees in the forward view: a file that does
//! not decrypt gives EIO and one log line, never wrong bytes; names that
//! do not decode are left out; hard links follow the volume's IV rules.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{MAC_VOLUME, TIMEOUT, cipher_of, mkdir, mount_cmd, mount_view, os_err};
use crate::common::mount::{Mount, wait_mounted};
use crate::common::tree::{CompareOptions, assert_same_tree, walk};
use crate::common::vectors::{VectorCopy, copy_vector};
use crate::common::{encmount_bin, require, run};

/// A view served in the foreground, its log (stderr) kept in a file.
struct Foreground {
    mount: Option<Mount>,
    child: Child,
    log: PathBuf,
}

impl Foreground {
    fn start(mut cmd: Command, mnt: &Path, log: PathBuf) -> Self {
        let guard = Mount::adopt(mnt);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_mounted(mnt, TIMEOUT);
        Foreground {
            mount: Some(guard),
            child,
            log,
        }
    }

    /// Unmounts, waits for the server to exit 0, returns its log.
    fn finish(mut self) -> String {
        self.mount.take().unwrap().unmount();
        let status = self.child.wait().unwrap();
        let log = fs::read_to_string(&self.log).unwrap();
        assert!(status.success(), "{status}: {log}");
        log
    }
}

#[test]
fn a_damaged_file_gives_eio_and_one_log_line_never_wrong_bytes() {
    require(&["fusermount3", "fuse", "root"]);
    let v = copy_vector(MAC_VOLUME);
    // A flipped byte in block 50 of a MAC volume.
    let bad = cipher_of(MAC_VOLUME, &v, "size-70000.bin");
    let mut bytes = fs::read(&bad).unwrap();
    bytes[8 + 50 * 512 + 100] ^= 0x20;
    fs::write(&bad, &bytes).unwrap();
    // A raw size no encfs file can have (1..7 bytes with uniqueIV).
    let short = cipher_of(MAC_VOLUME, &v, "a");
    File::options()
        .write(true)
        .open(&short)
        .unwrap()
        .set_len(5)
        .unwrap();
    // A link target that does not decode.
    let link = cipher_of(MAC_VOLUME, &v, "link-rel");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("garbage!", &link).unwrap();
    let mnt = mkdir(&v.dir.path().join("mnt"));
    let view = Foreground::start(
        mount_cmd(&v, &mnt, &["--foreground"]),
        &mnt,
        v.dir.path().join("log"),
    );
    for _ in 0..2 {
        let r = fs::read(mnt.join("size-70000.bin"));
        assert_eq!(os_err(r), Some(libc::EIO));
    }
    assert_eq!(fs::metadata(mnt.join("a")).unwrap().len(), 0);
    assert_eq!(os_err(fs::read(mnt.join("a"))), Some(libc::EIO));
    assert_eq!(fs::symlink_metadata(mnt.join("link-rel")).unwrap().len(), 0);
    assert_eq!(os_err(fs::read_link(mnt.join("link-rel"))), Some(libc::EIO));
    // Everything else reads fine.
    for (rel, meta) in walk(&v.plain) {
        let name = rel.to_string_lossy();
        if !meta.is_file() || ["size-70000.bin", "a", "link-rel"].contains(&&*name) {
            continue;
        }
        let got = fs::read(mnt.join(&rel)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == fs::read(v.plain.join(&rel)).unwrap(), "{name}");
    }
    let log = view.finish();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("size-70000.bin"))
        .collect();
    assert_eq!(lines.len(), 1, "one line per damaged file:\n{log}");
    assert!(lines[0].contains("MAC mismatch"), "{log}");
    assert!(
        lines[0].contains(&*bad.file_name().unwrap().to_string_lossy()),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("cannot decrypt a ")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("cannot decrypt link-rel ")),
        "{log}"
    );
}

/// `encmount encode` of one plaintext path of a vector volume.
fn encode(v: &VectorCopy, plain: &str) -> String {
    let o = run(Command::new(encmount_bin())
        .arg("encode")
        .arg("--config")
        .arg(&v.config)
        .arg("--password-file")
        .arg(&v.password_file)
        .arg("--root")
        .arg(&v.cipher)
        .arg(plain));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn hard_links_show_one_inode_except_with_external_iv_chaining() {
    require(&["fusermount3", "fuse", "root"]);
    // Without external IV chaining both names decrypt alike: one inode.
    let v = copy_vector(MAC_VOLUME);
    let second = v.cipher.join(encode(&v, "second-name"));
    fs::hard_link(cipher_of(MAC_VOLUME, &v, "private.txt"), &second).unwrap();
    let mnt = mkdir(&v.dir.path().join("mnt"));
    let m = mount_view(&v, &mnt);
    let (a, b) = (
        fs::metadata(mnt.join("private.txt")).unwrap(),
        fs::metadata(mnt.join("second-name")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(
        fs::read(mnt.join("second-name")).unwrap(),
        fs::read(v.plain.join("private.txt")).unwrap()
    );
    m.unmount();

    // With it each name has its own header seed: separate inodes, nlink 1,
    // and the name the data was not written for does not decrypt.
    let name = "e-forward-paranoia";
    let v = copy_vector(name);
    let second = v.cipher.join(encode(&v, "second-name"));
    fs::hard_link(cipher_of(name, &v, "private.txt"), &second).unwrap();
    let mnt = mkdir(&v.dir.path().join("mnt"));
    let m = mount_view(&v, &mnt);
    let (a, b) = (
        fs::metadata(mnt.join("private.txt")).unwrap(),
        fs::metadata(mnt.join("second-name")).unwrap(),
    );
    assert_ne!(a.ino(), b.ino());
    assert_eq!((a.nlink(), b.nlink()), (1, 1));
    assert_eq!(
        fs::read(mnt.join("private.txt")).unwrap(),
        fs::read(v.plain.join("private.txt")).unwrap()
    );
    assert_eq!(os_err(fs::read(mnt.join("second-name"))), Some(libc::EIO));
    m.unmount();
}

#[test]
fn undecodable_names_and_config_files_are_hidden() {
    require(&["fusermount3", "fuse", "root"]);
    let v = copy_vector("f-forward-standard");
    // The config in the cipher root is found there, and not shown.
    fs::copy(&v.config, v.cipher.join(".encfs6.xml")).unwrap();
    fs::write(v.cipher.join("not-an-encfs-name"), b"x").unwrap();
    fs::write(v.cipher.join(".encfs5"), b"x").unwrap();
    let mnt = mkdir(&v.dir.path().join("mnt"));
    let mut cmd = Command::new(encmount_bin());
    cmd.env_remove("ENCFS6_CONFIG")
        .args(["mount", "--foreground", "--password-file"])
        .arg(&v.password_file)
        .arg(&v.cipher)
        .arg(&mnt);
    let view = Foreground::start(cmd, &mnt, v.dir.path().join("log"));
    assert_same_tree(&v.plain, &mnt, &CompareOptions::CONTENT);
    // Listed twice, logged once.
    fs::read_dir(&mnt).unwrap().for_each(drop);
    let log = view.finish();
    let hidden: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("not-an-encfs-name"))
        .collect();
    assert_eq!(hidden.len(), 1, "{log}");
    assert!(
        !log.contains(".encfs5"),
        "config files are not problems: {log}"
    );
}
