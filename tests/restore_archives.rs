//! `encmount restore`/`verify`/`ls` from real archives of a real reverse view (issue 11):
//! a generated tree (hard links, symlinks, sparse and empty files, odd names) → a view
//! mounted through the encmount binary → `cp -a` copy → GNU tar / Info-ZIP zip → restore
//! from a file and from standard input → identical to the source. Then selection by
//! plaintext path, `ls`, each kind of bad input, progress on a pty, good prefixes of
//! damaged files, and DEST/CIPHERDIR overlap.

use crate::common;
use crate::rview;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::tree::{self, TreeOptions};
use common::{encmount_bin, failure_report, require, show, tempdir};
use rview::{Volume, init_volume, mount_view};

/// A source tree, its volume and a `cp -a` copy of its reverse view (the backup).
struct Fixture {
    dir: tempfile::TempDir,
    src: PathBuf,
    copy: PathBuf,
    vol: Volume,
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn fixture(preset: &str) -> Fixture {
    require(&["fusermount3", "fuse", "root", "cp", "tar"]);
    let dir = tempdir();
    let (src, mnt, copy) = (
        dir.path().join("src"),
        dir.path().join("mnt"),
        dir.path().join("copy"),
    );
    let opts = TreeOptions {
        fifo: false,
        big_file_mib: 2,
        ..Default::default()
    };
    tree::generate(&src, &opts);
    fs::create_dir(&mnt).unwrap();
    let vol = init_volume(dir.path(), preset);
    let view = mount_view(&src, &mnt, Some(&vol), &[]);
    common::run(Command::new("cp").arg("-a").arg(&view.mnt).arg(&copy));
    view.unmount();
    Fixture {
        dir,
        src,
        copy,
        vol,
    }
}

/// `tar -C DIR -cf OUT .` with extra options (GNU tar).
fn tar_of(dir: &Path, out: &Path, extra: &[&str]) {
    common::run(
        Command::new("tar")
            .args(extra)
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(out)
            .arg("."),
    );
}

fn encmount(args: &[&OsStr]) -> Output {
    common::output(Command::new(encmount_bin()).args(args).stdin(Stdio::null()))
}

fn encmount_stdin(args: &[&OsStr], input: &Path) -> Output {
    common::output(
        Command::new(encmount_bin())
            .args(args)
            .stdin(File::open(input).unwrap()),
    )
}

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&OsStr], o: Output) -> Output {
    if !o.status.success() {
        let mut cmd = Command::new(encmount_bin());
        cmd.args(args);
        panic!("{}", failure_report(&cmd, &o));
    }
    o
}

/// `--password-file F -q` for `fx`'s volume.
fn pw(fx: &Fixture) -> Vec<OsString> {
    vec![
        "--password-file".into(),
        fx.vol.password_file.clone().into(),
        "-q".into(),
    ]
}

/// `SUBCOMMAND PW… OPTIONS… TAIL…` from `head` = `[SUBCOMMAND, OPTIONS…]`.
fn args<'a>(head: &[&'a str], pw: &'a [OsString], tail: &[&'a OsStr]) -> Vec<&'a OsStr> {
    let os_str = |s: &&'a str| OsStr::new(*s);
    head[..1]
        .iter()
        .map(os_str)
        .chain(pw.iter().map(OsString::as_os_str))
        .chain(head[1..].iter().map(os_str))
        .chain(tail.iter().copied())
        .collect()
}

/// What must survive a round trip.
struct Compare {
    ns_mtimes: bool,
    owners: bool,
    hard_links: bool,
}

/// Panics unless `out` holds the same entries as `src`: types, contents, modes,
/// mtimes, symlink targets; owners, hard-link groups and holes as asked.
fn assert_same(src: &Path, out: &Path, c: &Compare) {
    let a = tree::walk(src);
    let b = tree::walk(out);
    let names = |m: &BTreeMap<OsString, fs::Metadata>| -> Vec<String> {
        m.keys().map(|k| show(k.as_bytes())).collect()
    };
    assert_eq!(names(&a), names(&b), "different names");
    let mut groups: BTreeMap<u64, u64> = BTreeMap::new();
    for (rel, ma) in &a {
        let mb = &b[rel];
        let what = show(rel.as_bytes());
        assert_eq!(ma.file_type(), mb.file_type(), "{what}: type");
        if !ma.file_type().is_symlink() {
            assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "{what}: mode");
        }
        if c.owners {
            assert_eq!((ma.uid(), ma.gid()), (mb.uid(), mb.gid()), "{what}: owner");
        }
        if !ma.is_dir() {
            assert_eq!(ma.mtime(), mb.mtime(), "{what}: mtime");
            if c.ns_mtimes {
                assert_eq!(ma.mtime_nsec(), mb.mtime_nsec(), "{what}: mtime ns");
            }
        }
        if ma.file_type().is_symlink() {
            assert_eq!(
                fs::read_link(src.join(rel)).unwrap(),
                fs::read_link(out.join(rel)).unwrap(),
                "{what}: target"
            );
        } else if ma.is_file() {
            assert!(
                fs::read(src.join(rel)).unwrap() == fs::read(out.join(rel)).unwrap(),
                "{what}: contents differ"
            );
            if ma.blocks() * 512 < ma.size() / 2 {
                assert!(
                    mb.blocks() * 512 < mb.size(),
                    "{what}: sparse in the source, {} blocks restored",
                    mb.blocks()
                );
            }
            if c.hard_links && ma.nlink() > 1 {
                assert_eq!(ma.nlink(), mb.nlink(), "{what}: link count");
                let first = *groups.entry(ma.ino()).or_insert(mb.ino());
                assert_eq!(first, mb.ino(), "{what}: not the same inode as its links");
            }
        }
    }
}

#[test]
fn tar_round_trips_from_a_file_and_from_stdin_are_identical() {
    let fx = fixture("hardened");
    let pw = pw(&fx);
    // pax (POSIX) format: ns mtimes; GNU format: whole seconds.
    let (pax, gnu) = (fx.path("pax.tar"), fx.path("gnu.tar"));
    tar_of(&fx.copy, &pax, &["--format=posix"]);
    tar_of(&fx.copy, &gnu, &["--format=gnu", "--sparse"]);
    let all = Compare {
        ns_mtimes: true,
        owners: true,
        hard_links: true,
    };

    let out = fx.path("from-file");
    let a = args(
        &["restore", "--tar"],
        &pw,
        &[pax.as_os_str(), out.as_os_str()],
    );
    ok(&a, encmount(&a));
    assert_same(&fx.src, &out, &all);

    let out = fx.path("from-stdin");
    let a = args(&["restore", "--tar", "-"], &pw, &[out.as_os_str()]);
    let o = ok(&a, encmount_stdin(&a, &pax));
    assert!(stderr(&o).contains("0 problems"), "{}", stderr(&o));
    assert_same(&fx.src, &out, &all);

    let out = fx.path("from-gnu");
    let a = args(&["restore", "--tar", "-"], &pw, &[out.as_os_str()]);
    ok(&a, encmount_stdin(&a, &gnu));
    assert_same(
        &fx.src,
        &out,
        &Compare {
            ns_mtimes: false,
            ..all
        },
    );

    // verify takes the same sources.
    let a = args(&["verify", "--tar", "-"], &pw, &[]);
    let o = ok(&a, encmount_stdin(&a, &gnu));
    assert!(stderr(&o).contains("verified"), "{}", stderr(&o));
}

#[test]
fn zip_round_trip_is_identical_but_for_hard_links() {
    require(&["zip"]);
    let fx = fixture("hardened");
    let pw = pw(&fx);
    let z = fx.path("view.zip");
    common::run(
        Command::new("zip")
            .args(["-q", "-r", "-y"])
            .arg(&z)
            .arg(".")
            .current_dir(&fx.copy),
    );
    let out = fx.path("out");
    let a = args(
        &["restore", "--zip"],
        &pw,
        &[z.as_os_str(), out.as_os_str()],
    );
    ok(&a, encmount(&a));
    // Zip keeps no owners, no hard links and whole-second times.
    assert_same(
        &fx.src,
        &out,
        &Compare {
            ns_mtimes: false,
            owners: false,
            hard_links: false,
        },
    );
}

#[test]
fn plaintext_selection_of_a_file_a_directory_and_a_pattern() {
    let fx = fixture("hardened");
    let pw = pw(&fx);
    let t = fx.path("view.tar");
    tar_of(&fx.copy, &t, &[]);
    let restore = |name: &str, sel: &[&OsStr]| -> BTreeMap<OsString, fs::Metadata> {
        let out = fx.path(name);
        let mut tail = vec![t.as_os_str(), out.as_os_str()];
        tail.extend_from_slice(sel);
        let a = args(&["restore", "--tar"], &pw, &tail);
        ok(&a, encmount(&a));
        tree::walk(&out)
    };
    let keys = |m: &BTreeMap<OsString, fs::Metadata>| -> Vec<String> {
        m.keys().map(|k| show(k.as_bytes())).collect()
    };

    let one = restore("one", &[os("links/sub/target.txt")]);
    assert_eq!(keys(&one), ["links", "links/sub", "links/sub/target.txt"]);
    assert_eq!(
        fs::read(fx.path("one/links/sub/target.txt")).unwrap(),
        fs::read(fx.src.join("links/sub/target.txt")).unwrap()
    );

    let dir = restore("dir", &[os("deep/l1/l2")]);
    let want: Vec<String> = tree::walk(&fx.src)
        .keys()
        .map(|k| show(k.as_bytes()))
        .filter(|k| k == "deep" || k == "deep/l1" || k.starts_with("deep/l1/l2"))
        .collect();
    assert_eq!(keys(&dir), want);

    let pat = restore("pat", &[os("same-name.txt")]);
    let files: Vec<String> = keys(&pat)
        .into_iter()
        .filter(|k| pat[&OsString::from(k.as_str())].is_file())
        .collect();
    assert_eq!(
        files,
        [
            "deep/l1/l2/same-name.txt",
            "files/same-name.txt",
            "odd/same-name.txt"
        ]
    );

    let glob = restore("glob", &[os("/files/bs*")]);
    let files: Vec<String> = keys(&glob).into_iter().filter(|k| k != "files").collect();
    assert_eq!(files, ["files/bs", "files/bs+1", "files/bs-1"]);

    // A non-UTF-8 name, selected literally.
    let odd = restore("odd", &[OsStr::from_bytes(b"odd/latin1-\xe9t\xe9")]);
    assert_eq!(keys(&odd), ["odd", "odd/latin1-\\xe9t\\xe9"]);

    // A PATH that takes nothing is named and fails the run (as tar's "Not
    // found in archive"); what the others select is restored all the same.
    let out = fx.path("partly");
    let tail = [
        t.as_os_str(),
        out.as_os_str(),
        os("files/bs"),
        os("no/such/file"),
        os("*.nothing"),
    ];
    let a = args(&["restore", "--tar"], &pw, &tail);
    let r = encmount(&a);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let err = stderr(&r);
    assert!(err.contains("no/such/file: not in the backup"), "{err}");
    assert!(err.contains("*.nothing: not in the backup"), "{err}");
    assert!(!err.contains("files/bs: not in"), "{err}");
    assert!(out.join("files/bs").is_file());
}

#[test]
fn ls_lists_plaintext_names_sizes_modes_and_targets() {
    let fx = fixture("hardened");
    let pw = pw(&fx);
    let t = fx.path("view.tar");
    tar_of(&fx.copy, &t, &["--format=posix"]);
    let a = args(&["ls", "--tar"], &pw[..2], &[t.as_os_str()]);
    let short = String::from_utf8(ok(&a, encmount(&a)).stdout).unwrap();
    let source = tree::walk(&fx.src);
    assert_eq!(short.lines().count(), source.len(), "{short}");
    for name in ["files/big-2MiB", "odd/tab\\tname", "odd/\\xff", "links/abs"] {
        assert!(short.lines().any(|l| l == name), "{name} missing:\n{short}");
    }

    let a = args(
        &["ls", "--long", "--tar"],
        &pw[..2],
        &[t.as_os_str(), os("links")],
    );
    let long = String::from_utf8(ok(&a, encmount(&a)).stdout).unwrap();
    let abs = long
        .lines()
        .find(|l| l.ends_with(" links/abs -> /etc/hostname"));
    assert!(
        abs.is_some_and(|l| l.starts_with("lrwxrwxrwx 0/0 ")),
        "{long}"
    );
    assert!(
        long.lines()
            .any(|l| l.starts_with("-rw-r--r-- 0/0         12 ")
                && l.ends_with(" links/sub/target.txt")),
        "{long}"
    );
    assert!(long.lines().all(|l| l.contains(" links")), "{long}");

    let a = args(
        &["ls", "--json"],
        &pw[..2],
        &[fx.copy.as_os_str(), os("files/big-2MiB")],
    );
    let json = String::from_utf8(ok(&a, encmount(&a)).stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let m = fs::metadata(fx.src.join("files/big-2MiB")).unwrap();
    assert_eq!(v["path"], "files/big-2MiB");
    assert_eq!(v["type"], "file");
    assert_eq!(v["size"], m.size());
    assert_eq!(v["mtime"], m.mtime());
    assert_eq!(v["mtime_nsec"], m.mtime_nsec());
    assert_eq!(v["mode"], format!("{:04o}", m.mode() & 0o7777));
}

/// The cipher path (from the copy's root) of plaintext `plain`.
fn cipher_path(fx: &Fixture, plain: &str) -> PathBuf {
    let o = common::run(
        Command::new(encmount_bin())
            .args(["encode", "--password-file"])
            .arg(&fx.vol.password_file)
            .arg("--config")
            .arg(&fx.vol.config)
            .arg(plain),
    );
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

/// Offset of `member`'s data in the tar `t` (by `tar -tv --block-number`).
fn data_offset(t: &Path, member: &Path) -> u64 {
    let o = common::run(Command::new("tar").arg("-tRf").arg(t));
    let want = format!("./{}", member.display());
    let line = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .find(|l| l.ends_with(&want))
        .unwrap_or_else(|| panic!("{want} not in {}", t.display()))
        .to_string();
    let block: u64 = line
        .trim_start_matches("block ")
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (block + 1) * 512
}

#[test]
fn bad_archives_are_named_and_everything_good_restored() {
    let fx = fixture("hardened");
    let pw = pw(&fx);
    let t = fx.path("view.tar");
    tar_of(&fx.copy, &t, &["--format=gnu", "--sort=name"]);
    let bytes = fs::read(&t).unwrap();
    let big = cipher_path(&fx, "files/big-2MiB");
    let off = data_offset(&t, &big);
    let restore = |name: &str, archive: &Path, extra: &[&str]| -> (Output, PathBuf) {
        let out = fx.path(name);
        let mut head = vec!["restore"];
        head.extend_from_slice(extra);
        head.push("--tar");
        let a = args(&head, &pw, &[archive.as_os_str(), out.as_os_str()]);
        (encmount(&a), out)
    };
    let good = fs::read(fx.src.join("files/big-2MiB")).unwrap();

    // A tampered block (MAC preset): the good prefix is kept beside the name.
    let tampered = fx.path("tampered.tar");
    let mut b = bytes.clone();
    b[off as usize + 8 + 1024 * 100 + 5] ^= 0x40;
    fs::write(&tampered, &b).unwrap();
    let (o, out) = restore("tampered", &tampered, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let kept = 100 * 1016;
    let line = err
        .lines()
        .find(|l| l.contains("files/big-2MiB"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("MAC mismatch in block 100")
            && line.contains(&format!("big-2MiB.partial-{kept}")),
        "{err}"
    );
    assert!(!out.join("files/big-2MiB").exists());
    let partial = fs::read(out.join(format!("files/big-2MiB.partial-{kept}"))).unwrap();
    assert!(
        partial == good[..kept],
        "the kept prefix differs from the source"
    );
    assert!(out.join("files/bs").is_file(), "the rest is restored");
    // --strict keeps nothing of it.
    let (o, out) = restore("strict", &tampered, &["--strict"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !fs::read_dir(out.join("files")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .as_bytes()
            .starts_with(b"big-2MiB")),
        "--strict left part of the file"
    );

    // Truncated in the middle of a member, and at a member boundary. The
    // config is given: by name order the archive's own may come after the
    // cut (cipher names can start with `,` or `-`, before `.encfs6.xml`).
    let config = fx.vol.config.to_str().unwrap();
    let cut = fx.path("cut.tar");
    fs::write(&cut, &bytes[..off as usize + 4096]).unwrap();
    let (o, out) = restore("cut", &cut, &["--config", config]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("files/big-2MiB") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("archive truncated or corrupt"), "{err}");
    assert!(!out.join("files/big-2MiB").exists());
    // An empty archive (a failed BackupPC_tarCreate) is an error, not an
    // empty backup.
    let empty = fx.path("empty.tar");
    fs::write(&empty, b"").unwrap();
    let (o, _) = restore("empty", &empty, &["--config", config]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
    // Cut before the archive's own config came: that is what is said.
    let late = fx.path("late.tar");
    tar_of(
        &fx.copy,
        &late,
        &["--format=gnu", "--exclude=./.encfs6.xml"],
    );
    common::run(
        Command::new("tar")
            .arg("-C")
            .arg(&fx.copy)
            .arg("-rf")
            .arg(&late)
            .arg("./.encfs6.xml"),
    );
    let late_bytes = fs::read(&late).unwrap();
    let late_off = data_offset(&late, &big);
    let late_cut = fx.path("late-cut.tar");
    fs::write(&late_cut, &late_bytes[..late_off as usize + 4096]).unwrap();
    let (o, _) = restore("late-cut", &late_cut, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the stream ended before its .encfs6.xml came; give --config"),
        "{err}"
    );
    let boundary = fx.path("boundary.tar");
    fs::write(&boundary, &bytes[..off as usize - 512]).unwrap();
    let (o, _) = restore("boundary", &boundary, &["--config", config]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no end-of-archive marker"),
        "{}",
        stderr(&o)
    );

    // A member whose name does not decode.
    let odd = fx.path("odd-name.tar");
    fs::copy(&t, &odd).unwrap();
    let junk = fx.path("junk");
    fs::create_dir(&junk).unwrap();
    fs::write(junk.join("AAAAAAAAAAAAAAAAAAAAAAAA"), b"x").unwrap();
    common::run(
        Command::new("tar")
            .arg("-C")
            .arg(&junk)
            .arg("-rf")
            .arg(&odd)
            .arg("AAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    let (o, out) = restore("odd-name", &odd, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("encmount: AAAAAAAAAAAAAAAAAAAAAAAA: cannot decode name")),
        "{err}"
    );
    assert_same(
        &fx.src,
        &out,
        &Compare {
            ns_mtimes: false,
            owners: true,
            hard_links: true,
        },
    );

    // The archive of a different volume (here: a config that is not its own).
    let other = init_volume(&fx.path("."), "standard");
    let out = fx.path("other");
    let a: Vec<&OsStr> = vec![
        os("restore"),
        os("--config"),
        other.config.as_os_str(),
        os("--password-file"),
        other.password_file.as_os_str(),
        os("--tar"),
        t.as_os_str(),
        out.as_os_str(),
    ];
    let o = encmount(&a);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the archive is of another volume"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn members_escaping_dest_are_refused_never_followed() {
    let fx = fixture("hardened");
    let pw = pw(&fx);
    let outside = fx.path("outside");
    fs::create_dir(&outside).unwrap();
    // The archive: a symlink `escape` -> OUTSIDE (made in the source, so it is encrypted
    // like any other), then a member below it, then `..` and absolute members.
    std::os::unix::fs::symlink(&outside, fx.src.join("escape")).unwrap();
    let esc = cipher_path(&fx, "escape");
    let below = cipher_path(&fx, "escape/pwned");
    let some_file = cipher_path(&fx, "files/bs");
    // The encrypted target of `escape`, as the view shows it.
    let view_target = {
        let view = mount_view(&fx.src, &fx.path("mnt"), Some(&fx.vol), &[]);
        let t = fs::read_link(view.mnt.join(&esc)).unwrap();
        view.unmount();
        t
    };
    let t = fx.path("evil.tar");
    let mut b = tar::Builder::new(File::create(&t).unwrap());
    b.append_path_with_name(fx.copy.join(".encfs6.xml"), ".encfs6.xml")
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, &esc, &view_target).unwrap();
    let data = fs::read(fx.copy.join(&some_file)).unwrap();
    let mut raw = |name: &[u8]| {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    };
    raw(below.as_os_str().as_bytes());
    raw(b"../escaped");
    raw(b"/tmp/encmount-absolute-escape");
    b.finish().unwrap();
    drop(b);

    let out = fx.path("out");
    let a = args(
        &["restore", "--tar"],
        &pw,
        &[t.as_os_str(), out.as_os_str()],
    );
    let o = encmount(&a);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("escape/pwned")
            && err.contains("refused: escape in the destination is not a directory"),
        "{err}"
    );
    assert!(
        err.contains("\"../escaped\"") && err.contains("refused"),
        "{err}"
    );
    assert!(err.contains("/tmp/encmount-absolute-escape"), "{err}");
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "wrote outside DEST"
    );
    assert!(!fx.path("escaped").exists());
    assert!(!Path::new("/tmp/encmount-absolute-escape").exists());
    assert!(
        fs::symlink_metadata(out.join("escape"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn progress_is_drawn_on_a_terminal_and_not_through_a_pipe() {
    require(&["script"]);
    let fx = fixture("hardened");
    let t = fx.path("view.tar");
    tar_of(&fx.copy, &t, &[]);
    let out = fx.path("tty");
    let cmd = format!(
        "{} restore --password-file '{}' --tar '{}' '{}'",
        encmount_bin().display(),
        fx.vol.password_file.display(),
        t.display(),
        out.display()
    );
    let o = common::run(Command::new("script").args(["-qec", &cmd, "/dev/null"]));
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(tty.contains("ETA"), "no progress on a terminal:\n{tty}");
    assert!(tty.contains("restored"), "no summary:\n{tty}");

    let out = fx.path("pipe");
    let o = common::run(
        Command::new(encmount_bin())
            .arg("restore")
            .arg("--password-file")
            .arg(&fx.vol.password_file)
            .arg("--tar")
            .arg(&t)
            .arg(&out),
    );
    let err = stderr(&o);
    assert_eq!(
        err.lines().count(),
        1,
        "more than the summary through a pipe:\n{err}"
    );
    assert!(
        err.starts_with("encmount: restored ") && !err.contains("ETA"),
        "{err}"
    );
}

#[test]
fn a_damaged_copy_keeps_its_good_prefix_and_names_the_file() {
    let fx = fixture("hardened");
    let pw = pw(&fx);
    let big = cipher_path(&fx, "files/big-2MiB");
    let victim = fx.copy.join(&big);
    let mut b = fs::read(&victim).unwrap();
    b[8 + 1024 * 7 + 100] ^= 1;
    fs::write(&victim, &b).unwrap();
    let out = fx.path("out");
    let a = args(&["restore"], &pw, &[fx.copy.as_os_str(), out.as_os_str()]);
    let o = encmount(&a);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let kept = 7 * 1016;
    assert!(
        err.contains("files/big-2MiB")
            && err.contains("MAC mismatch in block 7")
            && err.contains(&format!("the first {kept} bytes are in")),
        "{err}"
    );
    let good = fs::read(fx.src.join("files/big-2MiB")).unwrap();
    let partial = fs::read(out.join(format!("files/big-2MiB.partial-{kept}"))).unwrap();
    assert!(partial == good[..kept]);
    assert!(!out.join("files/big-2MiB").exists());

    // cat: the good prefix, the offset named, exit 1; --strict: nothing.
    let a = args(
        &["cat"],
        &pw[..2],
        &[fx.copy.as_os_str(), os("files/big-2MiB")],
    );
    let o = encmount(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout == good[..kept],
        "cat printed {} bytes",
        o.stdout.len()
    );
    assert!(stderr(&o).contains(&format!("the first {kept} bytes were printed")));
    let a = args(
        &["cat", "--strict"],
        &pw[..2],
        &[fx.copy.as_os_str(), os("files/big-2MiB")],
    );
    let o = encmount(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

#[test]
fn dest_and_cipherdir_may_not_nest() {
    let fx = fixture("standard");
    let pw = pw(&fx);
    let inside = fx.copy.join("restored");
    let a = args(
        &["restore"],
        &pw,
        &[fx.copy.as_os_str(), inside.as_os_str()],
    );
    let o = encmount(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the destination is inside the cipher directory"),
        "{}",
        stderr(&o)
    );
    assert!(!inside.exists());
    let a = args(
        &["restore", "--force"],
        &pw,
        &[fx.copy.as_os_str(), fx.copy.as_os_str()],
    );
    assert!(stderr(&encmount(&a)).contains("inside the cipher directory"));
    let parent = fx.dir.path();
    let before = fs::read_dir(parent).unwrap().count();
    let a = args(
        &["restore", "--force"],
        &pw,
        &[fx.copy.as_os_str(), parent.as_os_str()],
    );
    let o = encmount(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the cipher directory is inside the destination"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_dir(parent).unwrap().count(), before);
}
