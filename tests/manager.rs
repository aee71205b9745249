//! The manager, live (design §7): `up`, `down`, `status`, `check` and
//! `ensure_up` on real mounts, in a temporary run dir (`ENCMOUNT_RUN_DIR`)
//! and mount root. Every view's ciphertext is checked with stock encfs.
//!
//! The fixture has three views: `docs` (standard preset, password file,
//! excludes), `mail` (hardened, password_command) and `media` (hardened,
//! on_demand, idle_timeout 2s).

use crate::common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::encfs::forward_mount;
use common::mount::{mount_entries, mount_path, wait_unmounted};
use common::tree::{CompareOptions, compare};
use common::{encmount_bin, output, require, run};
use encmount::manager::{self, Paths, UpOutcome};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

const VIEWS: [&str; 3] = ["docs", "mail", "media"];
const PW_DOCS: &str = "docs password";
const PW_MAIL: &str = "mail password";

/// A temporary manager setup; everything still mounted is taken down on
/// drop (also when a test fails).
struct Fx {
    t: tempfile::TempDir,
    yaml: PathBuf,
    run_dir: PathBuf,
    root: PathBuf,
}

impl Fx {
    fn new() -> Fx {
        require(&["encfs", "fusermount3", "fuse", "root", "cp"]);
        let t = common::tempdir();
        let p = |s: &str| t.path().join(s);
        let (run_dir, root) = (p("run"), p("srv"));
        write_secret(&p("docs.pass"), PW_DOCS);
        write_secret(&p("mail.pass"), PW_MAIL);
        write_secret(&p("media.pass"), PW_DOCS);
        for (view, preset) in [
            ("docs", "standard"),
            ("mail", "hardened"),
            ("media", "hardened"),
        ] {
            init(
                &p(&format!("{view}.xml")),
                preset,
                &p(&format!("{view}.pass")),
            );
            write_tree(&p(view), &source_files(view));
        }
        let yaml = p("encmount.yaml");
        let text = format!(
            "\
defaults:
  mount_root: {root}
  readers: [nobody]
  idle_timeout: 15m
views:
  docs:
    source: {T}/docs
    config: {T}/docs.xml
    password_file: {T}/docs.pass
    exclude: ['*.tmp', /.cache/]
  mail:
    source: {T}/mail
    config: {T}/mail.xml
    password_command: cat {T}/mail.pass
  media:
    source: {T}/media
    config: {T}/media.xml
    password_file: {T}/media.pass
    on_demand: true
    idle_timeout: 2s
",
            root = root.display(),
            T = t.path().display()
        );
        fs::write(&yaml, text).unwrap();
        Fx {
            t,
            yaml,
            run_dir,
            root,
        }
    }

    fn path(&self, s: &str) -> PathBuf {
        self.t.path().join(s)
    }

    fn mnt(&self, view: &str) -> PathBuf {
        mount_path(&self.root.join(view))
    }

    /// `encmount SUB --yaml YAML ARGS…` with the fixture's run dir.
    fn cmd(&self, sub: &str, args: &[&str]) -> Command {
        let mut c = Command::new(encmount_bin());
        c.arg(sub)
            .arg("--yaml")
            .arg(&self.yaml)
            .args(args)
            // The deployment part of `check` looks at the real system.
            .args(if sub == "check" {
                &["--views-only"][..]
            } else {
                &[]
            })
            .env("ENCMOUNT_RUN_DIR", &self.run_dir)
            .env_remove("ENCMOUNT_YAML")
            .env_remove("SUDO_UID");
        c
    }

    fn ok(&self, sub: &str, args: &[&str]) -> Output {
        run(&mut self.cmd(sub, args))
    }

    fn status(&self) -> Vec<Value> {
        let out = self.ok("status", &["--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["version"], 1);
        v["views"].as_array().unwrap().clone()
    }

    fn view_status(&self, view: &str) -> Value {
        self.status()
            .into_iter()
            .find(|v| v["name"] == view)
            .unwrap()
    }

    fn paths(&self) -> Paths {
        Paths {
            yaml: self.yaml.clone(),
            run_dir: self.run_dir.clone(),
            encmount_bin: encmount_bin(),
        }
    }

    fn pid(&self, view: &str) -> u32 {
        let text = fs::read_to_string(self.run_dir.join(format!("{view}.pid"))).unwrap();
        text.trim().parse().unwrap()
    }

    /// How many mounts sit at the view's mountpoint.
    fn mounts(&self, view: &str) -> usize {
        let m = self.mnt(view);
        mount_entries()
            .iter()
            .filter(|e| e.mount_point == m)
            .count()
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = self.cmd("down", &["--all", "--lazy"]).output();
        if !self.root.exists() {
            return;
        }
        for v in VIEWS {
            let _ = common::mount::unmount(&self.mnt(v));
        }
    }
}

fn write_secret(path: &Path, text: &str) {
    fs::write(path, format!("{text}\n")).unwrap();
    run(Command::new("chmod").arg("600").arg(path));
}

fn init(config: &Path, preset: &str, password_file: &Path) {
    run(Command::new(encmount_bin())
        .args(["init", "--kdf-iterations", "1000", "--preset", preset])
        .arg("--password-file")
        .arg(password_file)
        .arg(config));
}

/// (relative path, contents; `None` for a directory, `Some("->T")` for a
/// symlink to T), and whether the view shows it.
fn source_files(view: &str) -> Vec<(&'static str, Option<Vec<u8>>, bool)> {
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let s = |t: &str| Some(t.as_bytes().to_vec());
    match view {
        "docs" => vec![
            ("a.txt", s("hello\n"), true),
            ("big.bin", Some(big), true),
            ("sub", None, true),
            ("sub/b.txt", s("b\n"), true),
            ("sub/.cache", None, true),
            (
                "sub/.cache/kept",
                s("anchored patterns match the root only\n"),
                true,
            ),
            ("link", s("->a.txt"), true),
            ("x.tmp", s("excluded\n"), false),
            ("sub/y.tmp", s("excluded\n"), false),
            (".cache", None, false),
            (".cache/c", s("excluded\n"), false),
        ],
        "mail" => vec![
            ("inbox", None, true),
            ("inbox/1.eml", s("From: a\n\nhi\n"), true),
            ("inbox/2.eml", Some(big), true),
        ],
        _ => vec![("photo.jpg", Some(big), true), ("empty", s(""), true)],
    }
}

fn write_tree(root: &Path, files: &[(&str, Option<Vec<u8>>, bool)]) {
    fs::create_dir_all(root).unwrap();
    for (rel, data, _) in files {
        let p = root.join(rel);
        match data {
            None => fs::create_dir_all(&p).unwrap(),
            Some(d) if d.starts_with(b"->") => {
                symlink(String::from_utf8_lossy(&d[2..]).as_ref(), &p).unwrap()
            }
            Some(d) => fs::write(&p, d).unwrap(),
        }
    }
}

/// Copies the view out (as a backup would), decrypts the copy with stock
/// encfs and compares it with what the view should show.
fn assert_stock_encfs_decrypts(fx: &Fx, view: &str, password: &str) {
    let t = common::tempdir();
    let (copy, fwd, want) = (
        t.path().join("copy"),
        t.path().join("fwd"),
        t.path().join("want"),
    );
    fs::create_dir(&fwd).unwrap();
    run(Command::new("cp").arg("-a").arg(fx.mnt(view)).arg(&copy));
    let config = fx.path(&format!("{view}.xml"));
    assert_eq!(
        fs::read(copy.join(".encfs6.xml")).unwrap(),
        fs::read(&config).unwrap(),
        "{view}: the exposed config is the volume config"
    );
    fs::remove_file(copy.join(".encfs6.xml")).unwrap();
    let shown: Vec<_> = source_files(view).into_iter().filter(|f| f.2).collect();
    write_tree(&want, &shown);
    let m = forward_mount(&copy, &config, password.as_bytes(), &fwd, true);
    let diffs = compare(&fwd, &want, &CompareOptions::CONTENT);
    drop(m);
    assert!(diffs.is_empty(), "{view}: {diffs:#?}");
    // And the copy is ciphertext: no plaintext name survives.
    let names = common::tree::walk(&copy);
    assert!(
        names.keys().all(|n| !n.to_string_lossy().contains(".txt")),
        "{view}: {names:?}"
    );
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u32) -> bool {
    encmount::manager::health::daemon_alive(pid)
}

#[test]
fn up_status_read_idempotent_down() {
    let fx = Fx::new();
    let start = Instant::now();
    fx.ok("up", &["--all"]);
    eprintln!("up --all: {:?}", start.elapsed());
    assert_eq!(
        (fx.mounts("docs"), fx.mounts("mail"), fx.mounts("media")),
        (1, 1, 0)
    );
    assert!(fx.run_dir.join("docs.pid").is_file() && fx.run_dir.join("mail.json").is_file());

    let st = fx.status();
    assert_eq!(st.len(), 3);
    for (v, name) in st.iter().zip(VIEWS) {
        assert_eq!(v["name"], name);
        assert_eq!(v["readers"], serde_json::json!(["nobody"]));
        assert_eq!(v["source"], fx.path(name).to_str().unwrap());
        assert_eq!(v["mountpoint"], fx.root.join(name).to_str().unwrap());
    }
    for v in &st[..2] {
        assert_eq!(v["health"], "healthy", "{v}");
        assert_eq!(
            (v["mounted"].as_bool(), v["healthy"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(
            v["pid"].as_u64(),
            Some(u64::from(fx.pid(v["name"].as_str().unwrap())))
        );
        assert_eq!(
            (v["on_demand"].as_bool(), v["idle_timeout_secs"].is_null()),
            (Some(false), true)
        );
        assert_eq!(v["skipped_names"], 0);
        assert!(v["last_access"].as_u64().is_some() && v["started"].as_u64().is_some());
    }
    let media = &st[2];
    assert_eq!(
        (media["health"].as_str(), media["mounted"].as_bool()),
        (Some("down"), Some(false))
    );
    assert_eq!(
        (
            media["on_demand"].as_bool(),
            media["idle_timeout_secs"].as_u64()
        ),
        (Some(true), Some(2))
    );
    assert!(media["pid"].is_null() && media["last_access"].is_null());
    let table = String::from_utf8(fx.ok("status", &[]).stdout).unwrap();
    assert!(
        table.starts_with("VIEW") && table.contains("healthy") && table.contains("idle 2s"),
        "{table}"
    );

    // Idempotent: the same daemons stay.
    let pids = (fx.pid("docs"), fx.pid("mail"));
    let again = fx.ok("up", &["--all"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("view docs: already up"));
    fx.ok("up", &["docs", "mail"]);
    assert_eq!((fx.pid("docs"), fx.pid("mail")), pids);
    assert_eq!((fx.mounts("docs"), fx.mounts("mail")), (1, 1));

    assert_stock_encfs_decrypts(&fx, "docs", PW_DOCS);
    assert_stock_encfs_decrypts(&fx, "mail", PW_MAIL);
    fx.ok("up", &["media"]);
    assert_stock_encfs_decrypts(&fx, "media", PW_DOCS);

    fx.ok("down", &["--all"]);
    for v in VIEWS {
        assert_eq!(fx.mounts(v), 0, "{v}");
        assert!(!fx.run_dir.join(format!("{v}.pid")).exists(), "{v}");
        assert!(!fx.run_dir.join(format!("{v}.json")).exists(), "{v}");
    }
    assert!(
        !alive(pids.0) && !alive(pids.1),
        "down waits for the daemons"
    );
    assert!(fx.status().iter().all(|v| v["health"] == "down"));
    // down of a view that is down is fine.
    fx.ok("down", &["docs"]);
}

#[test]
fn a_killed_daemon_is_cleaned_and_remounted() {
    let fx = Fx::new();
    fx.ok("up", &["mail"]);
    let old = fx.pid("mail");
    kill(Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
    wait_for("the daemon to die", Duration::from_secs(5), || !alive(old));
    // The first access after the abort may say ECONNABORTED, later ones
    // "transport endpoint is not connected".
    let err = fs::read_dir(fx.mnt("mail")).unwrap_err();
    let dead = [Some(libc::ENOTCONN), Some(libc::ECONNABORTED)];
    assert!(dead.contains(&err.raw_os_error()), "{err}");
    let v = fx.view_status("mail");
    assert_eq!(
        (v["health"].as_str(), v["mounted"].as_bool()),
        (Some("stale"), Some(true))
    );
    assert!(
        v["reason"].as_str().unwrap().contains("not connected"),
        "{v}"
    );

    let out = fx.ok("up", &["mail"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("stale"));
    let new = fx.pid("mail");
    assert_ne!(new, old);
    assert_eq!(
        fx.mounts("mail"),
        1,
        "the dead mount is gone, one live mount"
    );
    assert_eq!(fx.view_status("mail")["health"], "healthy");
    assert_stock_encfs_decrypts(&fx, "mail", PW_MAIL);

    // down cleans a stale view too.
    kill(Pid::from_raw(new as i32), Signal::SIGKILL).unwrap();
    wait_for("the daemon to die", Duration::from_secs(5), || !alive(new));
    fx.ok("down", &["mail"]);
    assert_eq!(fx.mounts("mail"), 0);
    assert!(!fx.run_dir.join("mail.pid").exists());
}

#[test]
fn racing_callers_get_one_mount_and_all_succeed() {
    let fx = Fx::new();
    // Threads calling the library, as concurrent encmount-rsync sessions would.
    let config = manager::yaml::load(&fx.yaml).unwrap();
    let view = config.view("media").unwrap();
    let paths = fx.paths();
    let outcomes: Vec<UpOutcome> = thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| manager::ensure_up(view, &paths)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    let mounted = outcomes
        .iter()
        .filter(|o| matches!(o, UpOutcome::Mounted { .. }))
        .count();
    assert_eq!(mounted, 1, "{outcomes:?}");
    let pid = fx.pid("media");
    for o in &outcomes {
        let p = match o {
            UpOutcome::Mounted { pid, .. } | UpOutcome::AlreadyUp { pid } => *pid,
        };
        assert_eq!(p, pid);
    }
    assert_eq!(fx.mounts("media"), 1);

    // Processes: several `encmount up NAME` at once.
    fx.ok("down", &["media"]);
    let children: Vec<_> = (0..3)
        .map(|_| {
            fx.cmd("up", &["media"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(fx.mounts("media"), 1);
    assert_eq!(fx.view_status("media")["health"], "healthy");
}

#[test]
fn an_idle_on_demand_view_unmounts_but_not_while_a_file_is_open() {
    let fx = Fx::new();
    fx.ok("up", &["media"]);
    let pid = fx.pid("media");
    let name = fs::read_dir(fx.mnt("media"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap() != ".encfs6.xml" && p.metadata().unwrap().len() > 1000)
        .unwrap();
    let held = fs::File::open(&name).unwrap();
    thread::sleep(Duration::from_secs(5));
    assert_eq!(fx.mounts("media"), 1, "an open file keeps the view up");
    let v = fx.view_status("media");
    assert_eq!(
        (v["health"].as_str(), v["open_handles"].as_u64()),
        (Some("healthy"), Some(1))
    );
    assert!(v["idle_secs"].as_u64().unwrap() >= 2, "{v}");
    drop(held);
    let start = Instant::now();
    wait_unmounted(&fx.mnt("media"), Duration::from_secs(10));
    eprintln!("unmounted {:?} after the file was closed", start.elapsed());
    // A generous bound: the machine may be loaded (no timing assertion).
    wait_for("the daemon to exit", Duration::from_secs(30), || {
        !alive(pid)
    });
    assert!(!fx.run_dir.join("media.pid").exists());
    assert_eq!(fx.view_status("media")["health"], "down");
    // And it comes back on demand.
    fx.ok("up", &["media"]);
    assert_eq!(fx.view_status("media")["health"], "healthy");
}

#[test]
fn down_of_a_busy_view_names_it_and_lazy_detaches() {
    let fx = Fx::new();
    fx.ok("up", &["docs"]);
    let pid = fx.pid("docs");
    let held = fs::File::open(fx.mnt("docs").join(".encfs6.xml")).unwrap();
    let out = output(&mut fx.cmd("down", &["docs"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("view docs:") && err.contains("busy") && err.contains("--lazy"),
        "{err}"
    );
    assert_eq!(fx.mounts("docs"), 1);
    fx.ok("down", &["--lazy", "docs"]);
    assert_eq!(fx.mounts("docs"), 0);
    // The detached daemon serves the open file until it is closed; a new
    // view can come up meanwhile and keeps its files.
    assert!(alive(pid));
    fx.ok("up", &["docs"]);
    let new = fx.pid("docs");
    assert_ne!(new, pid);
    drop(held);
    wait_for(
        "the detached daemon to exit",
        Duration::from_secs(10),
        || !alive(pid),
    );
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fx.pid("docs"),
        new,
        "the old daemon left the new pid file alone"
    );
    assert_eq!(fx.view_status("docs")["health"], "healthy");
}

#[test]
fn foreground_up_serves_until_sigterm() {
    let fx = Fx::new();
    let mut child = fx
        .cmd("up", &["mail", "--foreground"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the foreground view", Duration::from_secs(10), || {
        fx.view_status("mail")["health"] == "healthy"
    });
    assert_eq!(
        fx.pid("mail"),
        child.id(),
        "exec'd in place: systemd's main pid"
    );
    let out = output(&mut fx.cmd("up", &["mail", "--foreground"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already mounted"));
    let out = output(&mut fx.cmd("up", &["--all", "--foreground"]));
    assert_eq!(out.status.code(), Some(2), "--foreground needs one NAME");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(fx.mounts("mail"), 0);

    // A detached daemon unmounts on SIGTERM too (no stale mount left).
    fx.ok("up", &["mail"]);
    let pid = fx.pid("mail");
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    wait_for("the daemon to exit", Duration::from_secs(10), || {
        !alive(pid)
    });
    assert_eq!(fx.mounts("mail"), 0);
    assert_eq!(fx.view_status("mail")["health"], "down");
}

/// `up --foreground` (a systemd unit starting) racing a plain `up` (the
/// shim): the foreground run keeps the view's lock until its mount is
/// live, so each round ends with exactly one mount, `up` always succeeds,
/// and the loser of the race is the foreground run, saying why.
#[test]
fn a_foreground_start_racing_up_gives_one_mount() {
    let fx = Fx::new();
    for round in 0..6 {
        let quiet = |mut c: Command| {
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            c
        };
        let mut foreground = quiet(fx.cmd("up", &["mail", "--foreground"]))
            .spawn()
            .unwrap();
        let up = quiet(fx.cmd("up", &["mail"])).output().unwrap();
        assert!(
            up.status.success(),
            "round {round}: up failed: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        // The foreground run either serves the view or has given up.
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        let served_by_foreground = loop {
            assert!(fx.mounts("mail") <= 1, "round {round}: two mounts");
            assert!(
                std::time::Instant::now() < give_up,
                "round {round}: the foreground run neither serves the view nor gave up"
            );
            if let Some(status) = foreground.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(foreground.stderr.as_mut().unwrap(), &mut err)
                    .unwrap();
                assert!(!status.success(), "round {round}: {err}");
                assert!(err.contains("already mounted"), "round {round}: {err}");
                break false;
            }
            if fx.view_status("mail")["health"] == "healthy" && fx.pid("mail") == foreground.id() {
                break true;
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(fx.mounts("mail"), 1, "round {round}");
        assert_eq!(fx.view_status("mail")["health"], "healthy", "round {round}");
        fx.ok("down", &["mail"]);
        if served_by_foreground {
            assert!(foreground.wait().unwrap().success(), "round {round}");
        }
        assert_eq!(fx.mounts("mail"), 0, "round {round}");
    }
}

#[test]
fn check_validates_configs_passwords_and_long_names() {
    let fx = Fx::new();
    let out = fx.ok("check", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    for v in VIEWS {
        assert!(text.contains(&format!("view {v}: ok")), "{text}");
    }
    let fails = |args: &[&str], want: &[&str]| {
        let out = output(&mut fx.cmd("check", args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        for w in want {
            assert!(err.contains(w), "want {w:?} in:\n{err}");
        }
    };
    // A name whose encrypted form is too long (standard: 175 bytes at most) is a note
    // (it is stored under a short name); excluded ones are not listed.
    let long = "n".repeat(200);
    fs::write(fx.path("docs/sub").join(&long), "x").unwrap();
    fs::write(fx.path("docs").join(format!("{long}.tmp")), "x").unwrap();
    let out = fx.ok("check", &["docs"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("view docs: note: long name: ")
            && text.contains(&format!("docs/sub/{long} (the name is 200 bytes")),
        "{text}"
    );
    assert!(!text.contains(".tmp"), "{text}");
    assert!(text.contains("view docs: ok"), "{text}");
    fs::remove_file(fx.path("docs/sub").join(&long)).unwrap();

    // A cipher path over rsync's 4,096 bytes: 28 directories of 100-byte names (each
    // 152 bytes encrypted) is a problem, each entry past the limit named.
    let mut deep = fx.path("docs/deep");
    for _ in 0..28 {
        deep = deep.join("d".repeat(100));
    }
    fs::create_dir_all(&deep).unwrap();
    fails(
        &["docs"],
        &[
            "view docs: not copied by rsync: ",
            "rsync takes at most 4096",
        ],
    );
    fs::remove_dir_all(fx.path("docs/deep")).unwrap();
    fx.ok("check", &["docs"]);

    // A mounted view shows it: nothing is skipped.
    fs::write(fx.path("mail/inbox").join(&long), "x").unwrap();
    fx.ok("up", &["mail"]);
    let mut listed = 0;
    fs::read_dir(fx.mnt("mail")).unwrap().for_each(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            listed += fs::read_dir(p).unwrap().count();
        }
    });
    assert!(listed >= 2, "the long name and its side entry are listed");
    assert_eq!(fx.view_status("mail")["skipped_names"], 0);
    fs::remove_file(fx.path("mail/inbox").join(&long)).unwrap();

    // Password files: root-owned, not readable by others.
    run(Command::new("chmod").arg("640").arg(fx.path("docs.pass")));
    fails(
        &["docs"],
        &["view docs: password file", "accessible by group or others"],
    );
    run(Command::new("chmod").arg("600").arg(fx.path("docs.pass")));
    // A password that does not open the config.
    write_secret(&fx.path("mail.pass"), "wrong");
    fails(&["mail"], &["view mail: wrong password for", "mail.xml"]);
    // A command that prints nothing.
    write_secret(&fx.path("mail.pass"), "");
    fails(&[], &["view mail: empty password from password command"]);
    write_secret(&fx.path("mail.pass"), PW_MAIL);
    // A broken volume config.
    fs::write(fx.path("media.xml"), "<nope/>").unwrap();
    fails(&["media"], &["view media: ", "media.xml"]);
    fs::remove_file(fx.path("media.xml")).unwrap();
    fails(&["media"], &["view media: cannot read config"]);
    // up refuses what check refuses, naming the view.
    let out = output(&mut fx.cmd("up", &["media"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("view media: volume config") && err.contains("encmount init"),
        "{err}"
    );
    assert_eq!(fx.mounts("media"), 0);
}

#[test]
fn unknown_views_are_errors() {
    let fx = Fx::new();
    for sub in ["up", "down", "status", "check"] {
        let out = output(&mut fx.cmd(sub, &["nosuch"]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{sub}: {err}");
        assert!(err.contains("no view named \"nosuch\""), "{sub}: {err}");
    }
    let out = output(&mut fx.cmd("up", &[]));
    assert_eq!(out.status.code(), Some(2), "up needs NAME or --all");
}

/// `systemd-analyze verify` on the shipped units. They name
/// /usr/bin/encmount, which only a package installs: the check runs on a
/// copy naming the binary under test.
#[test]
fn systemd_units_verify() {
    let Some(analyze) = common::find_in_path("systemd-analyze") else {
        eprintln!("SKIPPED: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    let dir = common::tempdir();
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    for unit in ["encmount.service", "encmount@.service"] {
        let text = fs::read_to_string(pkg.join(unit)).unwrap();
        assert!(text.contains("ExecStart=/usr/bin/encmount "), "{unit}");
        let copy = dir.path().join(unit);
        fs::write(
            &copy,
            text.replace("/usr/bin/encmount", encmount_bin().to_str().unwrap()),
        )
        .unwrap();
        let target = if unit.contains('@') {
            dir.path().join("encmount@docs.service")
        } else {
            copy.clone()
        };
        if target != copy {
            symlink(&copy, &target).unwrap();
        }
        let out = output(Command::new(&analyze).arg("verify").arg(&target));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{unit}:\n{err}"
        );
    }
}
