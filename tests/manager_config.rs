//! The manager's yaml (design §7): every kind of mistake is refused with a
//! message naming the file, the line and the view. Table-driven: one row per
//! mistake; `{T}` in the yaml is a temporary directory holding the sources
//! `a/` and `b/`, a plain file `file` and the mount root `mnt/`.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use encmount::cli::mount::parse_mount;
use encmount::manager::config::{self, IoClass, PasswordSpec};
use encmount::manager::{Paths, launch, yaml};
use encmount::volume::FileIv;

/// (what, yaml, line, view, message part)
type Case = (
    &'static str,
    &'static str,
    usize,
    Option<&'static str>,
    &'static str,
);

const CASES: &[Case] = &[
    (
        "unknown top-level key",
        "defaults:\n  mount_root: {T}/mnt\ndefualts: {}\nviews: {}\n",
        3,
        None,
        "unknown field `defualts`",
    ),
    (
        "unknown key in defaults",
        "defaults:\n  mount_root: {T}/mnt\n  reader: [root]\nviews: {}\n",
        3,
        None,
        "unknown field `reader`",
    ),
    (
        "unknown key in a view",
        "views:\n  docs:\n    source: {T}/a\n    sorce: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n",
        4,
        Some("docs"),
        "unknown field `sorce`",
    ),
    (
        "unknown key in shim",
        "views: {}\nshim:\n  rsync: /usr/bin/rsync\n  ionice: idle\n",
        4,
        None,
        "unknown field `ionice`",
    ),
    (
        "missing field",
        "views:\n  docs:\n    source: {T}/a\n    password_file: {T}/pw\n",
        3,
        Some("docs"),
        "missing field `config`",
    ),
    (
        "wrong type",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    on_demand: sometimes\n",
        6,
        Some("docs"),
        "on_demand",
    ),
    (
        "bad file_iv",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    file_iv: random\n",
        6,
        Some("docs"),
        "unknown variant `random`",
    ),
    (
        "view defined twice",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n  docs:\n    source: {T}/b\n",
        2,
        None,
        "view docs is defined twice",
    ),
    (
        "yaml syntax",
        "views:\n  docs:\n    source: \"{T}/a\n    config: x\n",
        5,
        None,
        "",
    ),
    (
        "source missing",
        "views:\n  docs:\n    source: {T}/nope\n    config: {T}/c.xml\n    password_file: {T}/pw\n",
        3,
        Some("docs"),
        "/nope: No such file or directory",
    ),
    (
        "source not a directory",
        "views:\n  docs:\n    config: {T}/c.xml\n    source: {T}/file\n    password_file: {T}/pw\n",
        4,
        Some("docs"),
        "is not a directory",
    ),
    (
        "relative source",
        "views:\n  docs:\n    source: a\n    config: {T}/c.xml\n    password_file: {T}/pw\n",
        3,
        Some("docs"),
        "source \"a\" must be an absolute path",
    ),
    (
        "relative config",
        "views:\n  docs:\n    source: {T}/a\n    config: c.xml\n    password_file: {T}/pw\n",
        4,
        Some("docs"),
        "config \"c.xml\" must be an absolute path",
    ),
    (
        "relative password file",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: ./pw\n",
        5,
        Some("docs"),
        "password_file \"./pw\" must be an absolute path",
    ),
    (
        "dot-dot in mountpoint",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    mountpoint: {T}/mnt/../x\n",
        6,
        Some("docs"),
        "without `..`",
    ),
    (
        "relative mount root",
        "defaults:\n  mount_root: srv/encmount\nviews: {}\n",
        2,
        None,
        "mount_root \"srv/encmount\" must be an absolute path",
    ),
    (
        "both password sources",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    password_command: cat {T}/pw\n",
        6,
        Some("docs"),
        "not both",
    ),
    (
        "no password source",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n",
        2,
        Some("docs"),
        "no password source",
    ),
    (
        "empty password command",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_command: '  '\n",
        5,
        Some("docs"),
        "password_command is empty",
    ),
    (
        "duplicate mountpoints",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    mountpoint: {T}/m\n  pics:\n    source: {T}/b\n    config: {T}/c.xml\n    password_file: {T}/pw\n    mountpoint: {T}/m/\n",
        11,
        Some("pics"),
        "also the mountpoint of view docs",
    ),
    (
        "mountpoint inside its own source",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    mountpoint: {T}/a/view\n",
        6,
        Some("docs"),
        "inside the source",
    ),
    (
        "mountpoint inside another view's source",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n  pics:\n    source: {T}/b\n    config: {T}/c.xml\n    password_file: {T}/pw\n    mountpoint: {T}/a/sub\n",
        12,
        Some("pics"),
        "of view docs",
    ),
    (
        "source inside the mount root",
        "defaults:\n  mount_root: {T}\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n",
        5,
        Some("docs"),
        "inside the mount root",
    ),
    (
        "source inside another view's mountpoint",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    mountpoint: {T}/b\n  pics:\n    source: {T}/b\n    config: {T}/c.xml\n    password_file: {T}/pw\n",
        8,
        Some("docs"),
        "inside the source",
    ),
    (
        "bad view duration",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    idle_timeout: 15 fortnights\n",
        6,
        Some("docs"),
        "idle_timeout \"15 fortnights\" is not a duration",
    ),
    (
        "duration without unit",
        "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    idle_timeout: 30\n",
        6,
        Some("docs"),
        "is not a duration",
    ),
    (
        "zero duration",
        "defaults:\n  idle_timeout: 0s\nviews: {}\n",
        2,
        None,
        "idle_timeout must be more than 0",
    ),
    (
        "bad view name",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  my docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n",
        4,
        None,
        "bad view name \"my docs\"",
    ),
    (
        "dot-dot view name",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  '..':\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n",
        4,
        None,
        "bad view name \"..\"",
    ),
    (
        "unknown reader",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    readers: [root, no-such-user-xyz]\n",
        8,
        Some("docs"),
        "reader \"no-such-user-xyz\": no such user",
    ),
    (
        "unknown default reader",
        "defaults:\n  readers:\n    - no-such-user-xyz\nviews: {}\n",
        2,
        None,
        "no such user",
    ),
    (
        "bad exclude pattern",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    exclude: ['*.tmp', '[z-a]']\n",
        8,
        Some("docs"),
        "bad exclude pattern",
    ),
    (
        "too few FUSE threads",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    fuse_threads: 0\n",
        8,
        Some("docs"),
        "fuse_threads 0: must be 1 to 16",
    ),
    (
        "too many crypto threads",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    crypto_threads: 65\n",
        8,
        Some("docs"),
        "crypto_threads 65: must be 1 to 64",
    ),
    (
        "the old threads key",
        "defaults:\n  mount_root: {T}/mnt\nviews:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    threads: 8\n",
        8,
        Some("docs"),
        "`threads` is no longer a key: say `fuse_threads`",
    ),
    (
        "dotted view name, unknown key",
        "views:\n  a.b:\n    source: {T}/a\n    config: {T}/c.xml\n    password_file: {T}/pw\n    exclude:\n      - x\n    bogus: 1\n",
        8,
        Some("a.b"),
        "unknown field `bogus`",
    ),
    (
        "bad io class",
        "views: {}\nshim:\n  io_class: realtime\n",
        3,
        None,
        "io_class \"realtime\"",
    ),
    (
        "bad nice",
        "views: {}\nshim:\n  nice: 40\n",
        3,
        None,
        "nice 40: must be -20 to 19",
    ),
    (
        "relative rsync",
        "views: {}\nshim:\n  rsync: rsync\n",
        3,
        None,
        "rsync \"rsync\" must be an absolute path",
    ),
];

fn fixture() -> tempfile::TempDir {
    let t = common::tempdir();
    for d in ["a", "b", "mnt"] {
        fs::create_dir(t.path().join(d)).unwrap();
    }
    fs::write(t.path().join("file"), "x").unwrap();
    t
}

fn fill(yaml: &str, t: &Path) -> String {
    yaml.replace("{T}", t.to_str().unwrap())
}

#[test]
fn every_mistake_names_file_line_and_view() {
    let t = fixture();
    let file = t.path().join("encmount.yaml");
    let mut failures = Vec::new();
    for &(what, yaml, line, view, part) in CASES {
        let text = fill(yaml, t.path());
        let err = match yaml::parse(&file, &text) {
            Ok(_) => {
                failures.push(format!("{what}: accepted"));
                continue;
            }
            Err(e) => e,
        };
        let shown = err.to_string();
        let want_prefix = match view {
            Some(v) => format!("{}:{line}: view {v}: ", file.display()),
            None => format!("{}:{line}: ", file.display()),
        };
        let ok = err.file == file
            && err.line == Some(line)
            && err.view.as_deref() == view
            && shown.starts_with(&want_prefix)
            && shown.contains(part);
        if !ok {
            failures.push(format!(
                "{what}:\n    got  {shown}\n    want {want_prefix}…{part}…"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_good_file_resolves_defaults() {
    let t = fixture();
    let text = fill(
        "\
defaults:
  mount_root: {T}/mnt
  readers: [nobody]
  idle_timeout: 90s
views:
  docs:
    source: {T}/a
    config: {T}/c.xml
    password_file: {T}/pw
    on_demand: true
    exclude: ['*.tmp', /.cache/]
  pics.2024:
    source: {T}/b
    config: {T}/d.xml
    password_command: cat /etc/pics.pass
    expose_config: false
    mountpoint: {T}/elsewhere
    readers: [root]
    idle_timeout: 1h
    fuse_threads: 8
    crypto_threads: 12
    file_iv: inode
shim:
  io_class: best-effort:7
  nice: 10
",
        t.path(),
    );
    let c = yaml::parse(Path::new("/x.yaml"), &text).unwrap();
    assert_eq!(c.mount_root, t.path().join("mnt"));
    let [docs, pics] = c.views.as_slice() else {
        panic!("two views expected: {c:?}")
    };
    assert_eq!(docs.name, "docs");
    assert_eq!(docs.mountpoint, t.path().join("mnt/docs"));
    assert_eq!(docs.password, PasswordSpec::File(t.path().join("pw")));
    assert!(docs.on_demand && docs.expose_config);
    assert_eq!(docs.idle_timeout, Duration::from_secs(90));
    assert_eq!(docs.readers.len(), 1);
    assert_eq!(docs.readers[0].name, "nobody");
    assert_eq!(docs.readers[0].uid, 65534);
    assert_eq!(docs.exclude, ["*.tmp", "/.cache/"]);
    assert_eq!(
        (docs.fuse_threads, docs.crypto_threads, docs.file_iv),
        (4, None, FileIv::Path)
    );
    assert_eq!(pics.name, "pics.2024");
    assert_eq!(pics.mountpoint, t.path().join("elsewhere"));
    assert_eq!(
        pics.password,
        PasswordSpec::Command("cat /etc/pics.pass".into())
    );
    assert!(!pics.on_demand && !pics.expose_config);
    assert_eq!(pics.readers[0].uid, 0);
    assert_eq!(pics.idle_timeout, Duration::from_secs(3600));
    assert_eq!(
        (pics.fuse_threads, pics.crypto_threads, pics.file_iv),
        (8, Some(12), FileIv::Inode)
    );
    assert_eq!(c.shim.rsync, Path::new("/usr/bin/rsync"));
    assert_eq!((c.shim.io_class, c.shim.nice), (IoClass::BestEffort(7), 10));

    // What the manager hands to `encmount mount` parses back, through the
    // clap definitions `mount` uses, into the same view.
    let paths = Paths {
        yaml: "/x.yaml".into(),
        run_dir: t.path().join("run"),
        encmount_bin: "/usr/bin/encmount".into(),
    };
    for view in [docs, pics] {
        for foreground in [false, true] {
            let spec = launch::mount_spec(view, &paths, foreground);
            let back = parse_mount(spec.to_args()).unwrap();
            assert_eq!(back, spec, "view {}", view.name);
        }
    }

    let minimal = yaml::parse(Path::new("/x.yaml"), "views:\n").unwrap();
    assert!(minimal.views.is_empty());
    assert_eq!(minimal.mount_root, Path::new(config::DEFAULT_MOUNT_ROOT));
    assert_eq!(minimal.shim.io_class, IoClass::None);
}

#[test]
fn the_cli_reports_config_errors_with_location() {
    let t = fixture();
    let file = t.path().join("bad.yaml");
    fs::write(
        &file,
        fill(
            "views:\n  docs:\n    source: {T}/a\n    config: {T}/c.xml\n    pasword_file: {T}/pw\n",
            t.path(),
        ),
    )
    .unwrap();
    for sub in ["check", "status", "up", "down"] {
        let mut cmd = Command::new(common::encmount_bin());
        cmd.arg(sub).arg("--yaml").arg(&file);
        if matches!(sub, "up" | "down") {
            cmd.arg("--all");
        }
        let out = common::output(&mut cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{sub}: {err}");
        let want = format!(
            "encmount: {}:5: view docs: unknown field `pasword_file`",
            file.display()
        );
        assert!(err.contains(&want), "{sub}: {err}");
    }
    let missing = t.path().join("missing.yaml");
    let out = common::output(
        Command::new(common::encmount_bin())
            .args(["check", "--yaml"])
            .arg(&missing),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: cannot read", missing.display())),
        "{err}"
    );
}
