//! encmount-rsync end to end, through real sudo as unprivileged test
//! users with their own sudoers drop-in: real rsync pulls (with and
//! without --protect-args) that stock encfs decrypts, a refused pull of
//! /etc, an on-demand view brought up, a probe in rsync's place that
//! reports what the exec'd process may do, and a non-reader refused.
//!
//! The shim reads only /etc/encmount/encmount.yaml and keeps state in
//! /run/encmount, whatever its environment says. So the outer test runs
//! the real work in a private mount namespace (`unshare -m`) where the
//! test's own directories are bind-mounted over those two paths: nothing
//! on the host is configured, and no override exists for sudo to abuse.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crate::common::encfs::forward_mount;
use crate::common::mount::{is_mounted, mount_path};
use crate::common::tree::{CompareOptions, compare};
use crate::common::{encmount_bin, output, require, run};

const NS_VAR: &str = "ENCMOUNT_SHIM_LIVE_NS";
const SHIM: &str = env!("CARGO_BIN_EXE_encmount-rsync");
const PW: &str = "shim test password";
/// rsync's protocol bytes a client sends after the protected args.
const TAIL: &[u8] = b"\x20\0\0\0more protocol";

#[test]
fn pulls_through_real_sudo() {
    require(&[
        "root",
        "fuse",
        "fusermount3",
        "encfs",
        "rsync",
        "sudo",
        "visudo",
        "unshare",
        "useradd",
        "userdel",
        "runuser",
        "mount",
    ]);
    // Bind mounts need their targets; made only if missing, removed after.
    let made: Vec<&str> = ["/etc/encmount", "/run/encmount"]
        .into_iter()
        .filter(|d| !Path::new(d).exists())
        .inspect(|d| fs::create_dir(d).unwrap())
        .collect();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "shim_live::in_namespace",
            "--include-ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(NS_VAR, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    for d in made {
        let _ = fs::remove_dir(d);
    }
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the namespace run failed:\n{text}");
    assert!(
        text.contains("test shim_live::in_namespace ... ok"),
        "{text}"
    );
}

/// Users, sudoers drop-in and mounts of one run; all removed on drop.
struct Fx {
    t: tempfile::TempDir,
    /// What the syslog collector received from encmount-rsync so far.
    log: Arc<Mutex<Vec<String>>>,
    /// /dev/log was ours to create (the machine has no syslog), so remove it.
    log_created: bool,
    reader: String,
    other: String,
    sudoers: PathBuf,
}

impl Fx {
    fn p(&self, s: &str) -> PathBuf {
        self.t.path().join(s)
    }

    fn mnt(&self, view: &str) -> PathBuf {
        mount_path(&self.p("srv").join(view))
    }

    fn manager(&self, args: &[&str]) -> Command {
        let mut c = Command::new(encmount_bin());
        c.args(args)
            .arg("--yaml")
            .arg(self.p("etc/encmount.yaml"))
            .env("ENCMOUNT_RUN_DIR", self.p("run"))
            .env_remove("SUDO_UID");
        c
    }

    fn uid(&self, user: &str) -> u32 {
        nix::unistd::User::from_name(user)
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    }

    /// `rsync ARGS` as the reader, through the launcher.
    fn pull(&self, args: &[&str]) -> Output {
        let mut c = Command::new("runuser");
        c.args(["-u", &self.reader, "--", "rsync", "-e"])
            .arg(self.p("bin/launch"))
            .args(args)
            .current_dir("/")
            .stdin(Stdio::null());
        output(&mut c)
    }

    fn dest(&self, name: &str) -> PathBuf {
        let d = self.p(name);
        fs::create_dir(&d).unwrap();
        chown(&d, Some(self.uid(&self.reader)), None).unwrap();
        d
    }

    fn yaml(&self, rsync: &Path) {
        let text = format!(
            "defaults:\n  mount_root: {T}/srv\n  readers: [{r}]\nviews:\n  docs:\n    source: {T}/src/docs\n    config: {T}/docs.xml\n    password_file: {T}/pass\n  od:\n    source: {T}/src/od\n    config: {T}/od.xml\n    password_file: {T}/pass\n    on_demand: true\nshim:\n  rsync: {rsync}\n",
            T = self.t.path().display(),
            r = self.reader,
            rsync = rsync.display()
        );
        fs::write(self.p("etc/encmount.yaml"), text).unwrap();
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = self.manager(&["down", "--all", "--lazy"]).output();
        let _ = fs::remove_file(&self.sudoers);
        if self.log_created {
            let _ = fs::remove_file("/dev/log");
        }
        for u in [&self.reader, &self.other] {
            let _ = Command::new("userdel").arg(u).output();
        }
    }
}

fn setup() -> Fx {
    let t = crate::common::tempdir();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let id = std::process::id();
    let (reader, other) = (format!("esr{id}r"), format!("esr{id}n"));
    let (log, log_created) = syslog_collector(t.path());
    let fx = Fx {
        log,
        log_created,
        sudoers: PathBuf::from(format!("/etc/sudoers.d/encmount-test-{id}")),
        t,
        reader,
        other,
    };
    for u in [&fx.reader, &fx.other] {
        run(Command::new("useradd")
            .args(["-M", "-U", "-d", "/nonexistent", "-s", "/bin/sh"])
            .arg(u));
    }
    // A supplementary group, which the shim must drop.
    run(Command::new("usermod").args(["-aG", "users", &fx.reader]));
    let rule = format!(
        "Defaults:{r} !requiretty\n{r} ALL=(root) NOPASSWD: {SHIM} --server --sender *\n",
        r = fx.reader
    );
    let staged = fx.p("sudoers");
    fs::write(&staged, rule).unwrap();
    fs::set_permissions(&staged, fs::Permissions::from_mode(0o440)).unwrap();
    run(Command::new("visudo").arg("-cf").arg(&staged));
    fs::copy(&staged, &fx.sudoers).unwrap();
    fs::set_permissions(&fx.sudoers, fs::Permissions::from_mode(0o440)).unwrap();

    for d in ["etc", "run", "bin", "src/docs/sub", "src/od"] {
        fs::create_dir_all(fx.p(d)).unwrap();
    }
    fs::write(fx.p("pass"), format!("{PW}\n")).unwrap();
    fs::set_permissions(fx.p("pass"), fs::Permissions::from_mode(0o600)).unwrap();
    for (f, body) in [
        ("src/docs/a.txt", "hello\n".repeat(3)),
        ("src/docs/sub/b.txt", "b".repeat(70_000)),
        ("src/docs/my file", "spaces\n".into()),
        ("src/od/c.txt", "on demand\n".into()),
        ("outside", "not for the backup user\n".into()),
    ] {
        fs::write(fx.p(f), body).unwrap();
    }
    fs::set_permissions(fx.p("outside"), fs::Permissions::from_mode(0o644)).unwrap();
    for v in ["docs", "od"] {
        run(Command::new(encmount_bin())
            .args(["init", "--kdf-iterations", "1000", "--password-file"])
            .arg(fx.p("pass"))
            .arg(fx.p(&format!("{v}.xml"))));
    }
    let launch = fx.p("bin/launch");
    fs::write(
        &launch,
        format!(
            "#!/bin/sh\n# rsync -e runs: launch HOST rsync --server --sender ...\nshift\n[ \"$1\" = rsync ] && shift\nexec sudo -n {SHIM} \"$@\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&launch, fs::Permissions::from_mode(0o755)).unwrap();
    let probe = Path::new(SHIM).with_file_name("examples/shim_probe");
    fs::copy(&probe, fx.p("bin/probe")).unwrap_or_else(|e| panic!("{}: {e}", probe.display()));
    fx.yaml(Path::new("/usr/bin/rsync"));
    for (what, on) in [("etc", "/etc/encmount"), ("run", "/run/encmount")] {
        run(Command::new("mount").arg("--bind").arg(fx.p(what)).arg(on));
    }
    fx
}

/// A datagram socket that receives what is sent to /dev/log in this
/// namespace: bound there when the machine has no syslog (removed on
/// drop), else bound in `dir` and bind-mounted over the real one. A
/// thread drains it all the time: a full queue would block every sender.
fn syslog_collector(dir: &Path) -> (Arc<Mutex<Vec<String>>>, bool) {
    let dev_log = Path::new("/dev/log");
    let (sock, created) = if dev_log.exists() {
        let p = dir.join("log.sock");
        let s = UnixDatagram::bind(&p).unwrap();
        run(Command::new("mount").arg("--bind").arg(&p).arg(dev_log));
        (s, false)
    } else {
        (UnixDatagram::bind(dev_log).unwrap(), true)
    };
    fs::set_permissions(dev_log, fs::Permissions::from_mode(0o666)).unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&lines);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            let line = String::from_utf8_lossy(&buf[..n]).into_owned();
            if line.contains("encmount-rsync[") {
                keep.lock().unwrap().push(line);
            }
        }
    });
    (lines, created)
}

/// The shim's decision lines received so far.
fn decisions(fx: &Fx) -> Vec<String> {
    let user = format!("user={}(", fx.reader);
    let lines = fx.log.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains(&user))
        .cloned()
        .collect()
}

/// The copy, decrypted by stock encfs, equals the source.
fn assert_decrypts(fx: &Fx, copy: &Path, view: &str) {
    let _ = fs::remove_file(copy.join(".encfs6.xml"));
    let fwd = fx.p(&format!(
        "fwd-{}",
        copy.file_name().unwrap().to_string_lossy()
    ));
    fs::create_dir(&fwd).unwrap();
    let config = fx.p(&format!("{view}.xml"));
    let m = forward_mount(copy, &config, PW.as_bytes(), &fwd, true);
    let diffs = compare(
        &fwd,
        &fx.p(&format!("src/{view}")),
        &CompareOptions::CONTENT,
    );
    drop(m);
    assert!(diffs.is_empty(), "{}: {diffs:#?}", copy.display());
}

#[test]
#[ignore = "run by pulls_through_real_sudo inside its own mount namespace"]
fn in_namespace() {
    assert!(
        std::env::var_os(NS_VAR).is_some(),
        "run only by pulls_through_real_sudo (it bind-mounts over /etc/encmount)"
    );
    let fx = setup();
    run(&mut fx.manager(&["up", "docs"]));
    let docs = format!("x:{}/", fx.mnt("docs").display());

    // Plain pull and a --protect-args pull; stock encfs decrypts both.
    for (name, extra) in [("plain", None), ("protected", Some("--protect-args"))] {
        let d = fx.dest(name);
        let mut args = vec!["-a"];
        args.extend(extra);
        let out = fx.pull(&[&args[..], &[&docs, &format!("{}/", d.display())]].concat());
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_decrypts(&fx, &d, "docs");
    }

    // /etc: refused, nothing copied.
    let d = fx.dest("etc-pull");
    let out = fx.pull(&["-a", "x:/etc/", &format!("{}/", d.display())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("encmount-rsync: refused: /etc/ is not inside a configured view"),
        "{err}"
    );
    assert_eq!(fs::read_dir(&d).unwrap().count(), 0);

    // The on-demand view is down, and a pull brings it up.
    assert!(!is_mounted(&fx.mnt("od")));
    let d = fx.dest("od-pull");
    let out = fx.pull(&[
        "-a",
        &format!("x:{}/", fx.mnt("od").display()),
        &format!("{}/", d.display()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(is_mounted(&fx.mnt("od")));
    assert_decrypts(&fx, &d, "od");

    // A non-reader is refused by the kernel or the view.
    let out = output(
        Command::new("runuser")
            .args(["-u", &fx.other, "--", "stat"])
            .arg(fx.mnt("docs").join(".")),
    );
    assert!(!out.status.success(), "a non-reader could stat the view");

    probe(&fx);

    // One line per decision, facility auth: info (38) when allowed,
    // warning (36) when refused, with user, verdict, view, cluster, paths.
    let lines = decisions(&fx);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let docs_mnt = fx.mnt("docs").display().to_string();
    let want = [
        (
            "<38>",
            "verdict=allowed view=docs cluster=-logDtpre.",
            docs_mnt.as_str(),
        ),
        (
            "<38>",
            "verdict=allowed view=docs cluster=-slogDtpre.",
            docs_mnt.as_str(),
        ),
        (
            "<36>",
            "verdict=refused reason=\"/etc/ is not inside a configured view\" view=- cluster=-logDtpre.",
            "paths=[/etc/]",
        ),
        (
            "<38>",
            "verdict=allowed view=od cluster=-logDtpre.",
            "/od/]",
        ),
        (
            "<38>",
            "verdict=allowed view=docs cluster=-slogDtpre.iLsfxC",
            "note=\"landlock enforced\"",
        ),
    ];
    for (line, (pri, fields, more)) in lines.iter().zip(want) {
        assert!(line.starts_with(pri), "{line}");
        assert!(
            line.contains(fields) && line.contains(more),
            "{line}\nwants {fields} and {more}"
        );
    }
}

/// The probe in rsync's place, reached with protected args.
fn probe(fx: &Fx) {
    fx.yaml(&fx.p("bin/probe"));
    let w = fx.p("writable");
    fs::create_dir(&w).unwrap();
    chown(&w, Some(fx.uid(&fx.reader)), None).unwrap();
    // Without the shim, the reader may read `outside` and write `writable`.
    run(Command::new("runuser")
        .args(["-u", &fx.reader, "--", "cat"])
        .arg(fx.p("outside")));
    run(Command::new("runuser")
        .args(["-u", &fx.reader, "--", "touch"])
        .arg(w.join("y")));

    let mut input = Vec::new();
    for a in [
        "rsync",
        "--numeric-ids",
        ".",
        &format!("{}/", fx.mnt("docs").display()),
    ] {
        input.extend_from_slice(a.as_bytes());
        input.push(0);
    }
    input.push(0);
    input.extend_from_slice(TAIL);
    let out = crate::common::run_with_stdin(
        Command::new("runuser")
            .args(["-u", &fx.reader, "--"])
            .arg(fx.p("bin/launch"))
            .args(["x", "rsync", "--server", "--sender", "-slogDtpre.iLsfxC"]),
        &input,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in the probe's report:\n{text}"))
            .to_string()
    };
    let (uid, gid) = (
        fx.uid(&fx.reader),
        nix::unistd::User::from_name(&fx.reader)
            .unwrap()
            .unwrap()
            .gid
            .as_raw(),
    );
    assert_eq!(
        text.lines().next().unwrap(),
        format!("uid={uid} gid={gid}"),
        "{text}"
    );
    assert_eq!(field("euid"), format!("{uid} egid={gid}"));
    assert_eq!(field("groups"), "0", "supplementary groups kept");
    assert_eq!(field("cap_eff"), "0 cap_prm=0 cap_bnd=0");
    assert_eq!(field("no_new_privs"), "1");
    assert_eq!(
        field("args"),
        format!(
            "--server --sender -logDtpre.iLsfxC --numeric-ids . {}/",
            fx.mnt("docs").display()
        )
    );
    let mut env: Vec<String> = field("env").split(',').map(String::from).collect();
    env.sort();
    assert_eq!(env, ["LC_ALL", "PATH"], "the environment is not clean");
    assert!(field("outside").starts_with("denied"), "{text}");
    assert!(field("write").starts_with("denied"), "{text}");
    assert!(!w.join("x").exists());
    let hex: String = TAIL.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        field("stdin"),
        hex,
        "protocol bytes after the terminator were consumed"
    );
}

/// The shipped sudoers drop-in parses (design §9).
#[test]
fn shipped_sudoers_drop_in_parses() {
    require(&["visudo"]);
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("sudoers.d/encmount");
    let text = fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("backuppc ALL=(root) NOPASSWD: /usr/bin/encmount-rsync --server --sender *")
    );
    assert!(text.contains("Defaults!/usr/bin/encmount-rsync !requiretty"));
    // visudo insists on a file that is not writable by others.
    let t = crate::common::tempdir();
    let copy = t.path().join("encmount");
    fs::copy(&f, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o440)).unwrap();
    run(Command::new("visudo").arg("-cf").arg(&copy));
}
