//! Names too long for EncFS (design §4, "Long names"), through real FUSE, rsync and stock
//! encfs: a reverse view shows each under a short name plus a side entry; an rsync copy
//! restores with `encmount restore` and reads through encmount's forward view under the
//! full names, and through stock encfs under the short names with the side entries beside
//! them; `check` lists them.

use crate::common;
use crate::rview;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use common::encfs::forward_mount;
use common::mount::{Mount, is_mounted};
use common::{encmount_bin, require, run, run_with_stdin, show, tempdir};
use rview::{PASSWORD, SLOW, Volume, init_volume, mkdirs, mount_foreground, rsync, with_timeout};

const TOOLS: &[&str] = &["encfs", "rsync", "fusermount3", "fuse", "root"];
const SIDE_SUFFIX: &[u8] = b".encmount-name";

/// Relative path -> contents (`None` for a directory), raw bytes, of a whole tree.
fn tree(root: &Path) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
                out.insert(rel, None);
            } else {
                out.insert(rel, Some(fs::read(e.path()).unwrap()));
            }
        }
    }
    out
}

/// Panics, naming the differing paths, unless the trees are equal.
fn assert_same(
    got: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    want: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    what: &str,
) {
    let diff: Vec<String> = got
        .iter()
        .filter(|(k, v)| want.get(*k) != Some(v))
        .map(|(k, _)| format!("extra or different: {}", show(k)))
        .chain(
            want.keys()
                .filter(|k| !got.contains_key(*k))
                .map(|k| format!("missing: {}", show(k))),
        )
        .collect();
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
}

fn p(root: &Path, rel: &[u8]) -> std::path::PathBuf {
    root.join(OsStr::from_bytes(rel))
}

/// The long names of the test tree (relative paths) and the whole tree they are in.
struct Fixture {
    long: Vec<Vec<u8>>,
}

fn make_source(src: &Path) -> Fixture {
    let utf8_200 = "é".repeat(100).into_bytes();
    let raw_250: Vec<u8> = (0..250).map(|i| 0x80 + (i % 97) as u8).collect();
    let twin_a = [vec![b'x'; 190], b"-one".to_vec()].concat();
    let twin_b = [vec![b'x'; 190], b"-two".to_vec()].concat();
    let deep_dir = b"d0/d1/d2/d3/d4/d5/d6/d7".to_vec();
    let deep = [&deep_dir[..], b"/", &[b'y'; 230]].concat();
    let long_dir = vec![b'z'; 180];
    let in_long_dir = [&long_dir[..], b"/inside.txt"].concat();
    let long_in_long = [&long_dir[..], b"/", &[b'w'; 210]].concat();
    fs::create_dir_all(p(src, &deep_dir)).unwrap();
    fs::create_dir(p(src, &long_dir)).unwrap();
    fs::write(src.join("short.txt"), b"an ordinary name").unwrap();
    for (rel, data) in [
        (&utf8_200, &b"two hundred bytes of name"[..]),
        (&raw_250, b"not UTF-8"),
        (&twin_a, b"twin one"),
        (&twin_b, b"twin two"),
        (&deep, b"deep down"),
        (&in_long_dir, b"in a directory with a long name"),
        (&long_in_long, b"long in long"),
    ] {
        fs::write(p(src, rel), data).unwrap();
    }
    Fixture {
        long: vec![
            utf8_200,
            raw_250,
            twin_a,
            twin_b,
            deep,
            long_dir,
            long_in_long,
        ],
    }
}

/// `encmount restore --quiet` with `vol`'s config and password.
fn restore_cmd(vol: &Volume) -> Command {
    let mut cmd = vol.command("restore");
    cmd.arg("--quiet");
    cmd
}

/// `encmount restore` (or `verify` with no `dest`) of `copy`.
fn restore(vol: &Volume, copy: &Path, dest: &Path) {
    run(restore_cmd(vol).arg(copy).arg(dest));
}

fn long_names_round_trip(preset: &str) {
    require(TOOLS);
    let t = tempdir();
    let [src, mnt, copy, restored, stock, fwd] =
        ["src", "mnt", "copy", "restored", "stock", "fwd"].map(|d| t.path().join(d));
    mkdirs(&[&src, &mnt, &copy, &stock, &fwd]);
    let fx = make_source(&src);
    let vol = init_volume(t.path(), preset);
    let want = tree(&src);

    // The view: every long entry is there (as two), every cipher name fits.
    let view = mount_foreground(&src, &mnt, Some(&vol), &[], &t.path().join("log"));
    let vmnt = view.mnt.clone();
    let shown = with_timeout("listing the view", SLOW, move || tree(&vmnt));
    for rel in shown.keys() {
        for c in rel.split(|&b| b == b'/') {
            assert!(c.len() <= 255, "cipher name of {} bytes", c.len());
        }
    }
    // each long entry adds a side entry; the config is shown at the root
    assert_eq!(
        shown.len(),
        want.len() + fx.long.len() + 1,
        "entries in the view"
    );
    rsync(&["-a"], &view.mnt, &copy);
    let log = view.log();
    view.unmount();
    for rel in &fx.long {
        let name = rel.rsplit(|&b| b == b'/').next().unwrap();
        let lossy = String::from_utf8_lossy(name).into_owned();
        assert!(
            log.lines()
                .any(|l| l.contains("too long for EncFS") && l.contains(&lossy)),
            "{} not reported:\n{log}",
            show(&name[..20])
        );
    }
    assert!(!log.contains("left out"), "{log}");

    // A fresh mount finds every copied entry by its cipher path, without a listing
    // first (lookups of short and side names go back to the source directory).
    let view = mount_foreground(&src, &mnt, Some(&vol), &[], &t.path().join("log2"));
    let copied = tree(&copy);
    let vmnt = view.mnt.clone();
    let direct = with_timeout("looking up every cipher path", SLOW, move || {
        copied
            .keys()
            .map(|rel| (rel.clone(), fs::read(p(&vmnt, rel)).ok()))
            .collect::<BTreeMap<_, _>>()
    });
    view.unmount();
    assert_same(&direct, &tree(&copy), "the view looked up path by path");

    // encmount restore gives the full names back.
    restore(&vol, &copy, &restored);
    assert_same(&tree(&restored), &want, "restored tree");

    // Stock encfs: short names with the same contents, side entries holding the full names.
    let m = forward_mount(&copy, &vol.config, PASSWORD.as_bytes(), &stock, true);
    let plain = tree(&m.mnt);
    drop(m);
    // full path -> path under stock encfs (parents first in `fx.long`)
    let mut shown_as: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for rel in &fx.long {
        let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i + 1], &rel[i + 1..]),
            None => (&b""[..], &rel[..]),
        };
        let dir_full = dir.strip_suffix(b"/").unwrap_or(dir);
        let dir = match shown_as.get(dir_full) {
            Some(d) => [&d[..], b"/"].concat(),
            None => dir.to_vec(),
        };
        let dir = &dir[..];
        // The one side entry in the same directory that holds this name.
        let side = plain
            .iter()
            .find(|(k, v)| {
                k.starts_with(dir)
                    && !k[dir.len()..].contains(&b'/')
                    && k.ends_with(SIDE_SUFFIX)
                    && v.as_deref() == Some(name)
            })
            .unwrap_or_else(|| panic!("no side entry for {}", show(&rel[..20])))
            .0;
        let short = &side[..side.len() - SIDE_SUFFIX.len()];
        let short_name = &short[dir.len()..];
        assert!(short_name.len() <= 175 - SIDE_SUFFIX.len());
        assert!(
            name.starts_with(&short_name[..short_name.len() - 17]),
            "a prefix is kept"
        );
        assert_eq!(
            plain.get(short),
            want.get(rel),
            "{} under its short name",
            show(&rel[..20])
        );
        shown_as.insert(rel.clone(), short.to_vec());
    }
    let mut shorts: Vec<_> = shown_as.values().collect();
    shorts.sort();
    shorts.dedup();
    assert_eq!(
        shorts.len(),
        fx.long.len(),
        "distinct short names (twins too)"
    );
    assert_eq!(
        plain.len(),
        want.len() + fx.long.len(),
        "stock encfs entries"
    );

    // encmount's forward view of the copy: the full names.
    let guard = Mount::adopt(&fwd);
    run(Command::new(encmount_bin())
        .env_remove("ENCFS6_CONFIG")
        .args(["mount", "--config"])
        .arg(&vol.config)
        .arg("--password-file")
        .arg(&vol.password_file)
        .arg(&copy)
        .arg(&guard.mnt));
    assert!(is_mounted(&guard.mnt));
    let fmnt = guard.mnt.clone();
    let seen = with_timeout("listing the forward view", SLOW, move || tree(&fmnt));
    assert_same(&seen, &want, "forward view");
    for rel in &fx.long {
        let direct = fs::read(p(&guard.mnt, rel));
        assert_eq!(
            direct.ok(),
            want[rel].clone(),
            "{} by its full path",
            show(&rel[..20])
        );
    }
    guard.unmount();
}

#[test]
fn long_names_round_trip_paranoia() {
    long_names_round_trip("paranoia");
}

#[test]
fn long_names_round_trip_standard() {
    long_names_round_trip("standard");
}

/// Relative paths of a tree, parents before children, siblings in name order
/// (`reverse`: in reverse name order).
fn member_list(root: &Path, reverse: bool) -> Vec<Vec<u8>> {
    fn walk(root: &Path, rel: &[u8], reverse: bool, out: &mut Vec<Vec<u8>>) {
        let mut names: Vec<Vec<u8>> = fs::read_dir(p(root, rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().as_bytes().to_vec())
            .collect();
        names.sort();
        if reverse {
            names.reverse();
        }
        for n in names {
            let child = if rel.is_empty() {
                n
            } else {
                [rel, b"/", &n].concat()
            };
            out.push(child.clone());
            if fs::symlink_metadata(p(root, &child)).unwrap().is_dir() {
                walk(root, &child, reverse, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, b"", reverse, &mut out);
    out
}

/// A GNU tar of a copy of the view, its members in both sibling orders (so
/// that each side entry comes once before and once after its short name),
/// restores with `restore --tar` (from a file and from standard input) under
/// the full names, and `ls` lists them so; so does an Info-ZIP zip of it.
#[test]
fn long_names_tar_and_zip_round_trips_in_any_member_order() {
    require(&["rsync", "tar", "zip", "fusermount3", "fuse", "root"]);
    let t = tempdir();
    let [src, mnt, copy] = ["src", "mnt", "copy"].map(|d| t.path().join(d));
    mkdirs(&[&src, &mnt, &copy]);
    let fx = make_source(&src);
    let vol = init_volume(t.path(), "standard");
    let want = tree(&src);
    let view = mount_foreground(&src, &mnt, Some(&vol), &[], &t.path().join("log"));
    rsync(&["-a"], &view.mnt, &copy);
    view.unmount();
    assert_eq!(
        tree(&copy).len(),
        want.len() + fx.long.len() + 1,
        "entries in the copy (side entries and the config)"
    );
    for (reverse, from_stdin) in [(false, false), (true, true), (true, false)] {
        let tag = format!("rev{reverse}-stdin{from_stdin}");
        let list = t.path().join(format!("{tag}.list"));
        let members = member_list(&copy, reverse);
        fs::write(&list, members.join(&0u8)).unwrap();
        let archive = t.path().join(format!("{tag}.tar"));
        run(Command::new("tar")
            .args(["--format=gnu", "--no-recursion", "--null", "-C"])
            .arg(&copy)
            .arg("-cf")
            .arg(&archive)
            .arg("-T")
            .arg(&list));
        let dest = t.path().join(format!("{tag}.restored"));
        let mut cmd = restore_cmd(&vol);
        cmd.arg("--tar");
        if from_stdin {
            let input = fs::read(&archive).unwrap();
            run_with_stdin(cmd.arg("-").arg(&dest), &input);
        } else {
            run(cmd.arg(&archive).arg(&dest));
        }
        assert_same(&tree(&dest), &want, &format!("restored from {tag}.tar"));
        // One long name, as `ls` shows it, selects just that entry; a long
        // directory on the way gets its full name too.
        for rel in [&fx.long[1], &fx.long[4], &fx.long[6]] {
            let dest = t.path().join(format!("{tag}.one"));
            let _ = fs::remove_dir_all(&dest);
            run(restore_cmd(&vol)
                .arg("--tar")
                .arg(&archive)
                .arg(&dest)
                .arg(OsStr::from_bytes(rel)));
            let only: BTreeMap<_, _> = want
                .iter()
                .filter(|(k, _)| {
                    rel.starts_with(k) && (k.len() == rel.len() || rel[k.len()] == b'/')
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_same(
                &tree(&dest),
                &only,
                &format!("{} from {tag}.tar", show(rel)),
            );
        }
        // `ls` names them by their full names too, and not the side entries.
        let listing = run(Command::new(encmount_bin())
            .args(["ls", "--config"])
            .arg(&vol.config)
            .arg("--password-file")
            .arg(&vol.password_file)
            .arg("--tar")
            .arg(&archive));
        let listing = String::from_utf8(listing.stdout).unwrap();
        assert_eq!(
            listing.lines().count(),
            want.len(),
            "ls of {tag}.tar:\n{listing}"
        );
        for rel in want.keys().filter_map(|k| std::str::from_utf8(k).ok()) {
            assert!(
                listing.lines().any(|l| l == rel),
                "ls of {tag}.tar: {rel} missing:\n{listing}"
            );
        }
    }
    // Info-ZIP, in its own (directory) order.
    let archive = t.path().join("copy.zip");
    run(Command::new("zip")
        .args(["-r", "-y", "-q"])
        .arg(&archive)
        .arg(".")
        .current_dir(&copy));
    let dest = t.path().join("zip.restored");
    run(restore_cmd(&vol).arg("--zip").arg(&archive).arg(&dest));
    assert_same(&tree(&dest), &want, "restored from copy.zip");
}
