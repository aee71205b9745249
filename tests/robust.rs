//! Robustness on real servers (issue 10, items 3–7), with real mounts and
//! the real binary: a non-empty mountpoint is refused, a hung password
//! program times out without holding up the other views, a stopped daemon
//! is "unresponsive", a detached daemon without syslog writes a log file,
//! a closed stdout/stderr is no panic, names are printed escaped, and a
//! cipher name starting with `-` is a path, not an option.

use crate::common;

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::mount::{is_mounted, mount_path};
use common::{encmount_bin, output, require, run};
use encmount::configfile;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

const PW: &str = "robust password";

/// A volume config with its password file, and a place for views.
struct Fx {
    t: tempfile::TempDir,
    config: PathBuf,
    pass: PathBuf,
    yaml: PathBuf,
    run_dir: PathBuf,
    root: PathBuf,
    /// Mountpoints to clean up on drop.
    mounts: Vec<PathBuf>,
}

impl Fx {
    fn new() -> Fx {
        require(&["fuse", "root", "cp"]);
        let t = common::tempdir();
        let pass = t.path().join("pw");
        fs::write(&pass, format!("{PW}\n")).unwrap();
        run(Command::new("chmod").arg("600").arg(&pass));
        let config = t.path().join("vol.xml");
        run(Command::new(encmount_bin())
            .args(["init", "--kdf-iterations", "1000", "--preset", "standard"])
            .arg("--password-file")
            .arg(&pass)
            .arg(&config));
        let (yaml, run_dir, root) = (
            t.path().join("encmount.yaml"),
            t.path().join("run"),
            t.path().join("srv"),
        );
        Fx {
            t,
            config,
            pass,
            yaml,
            run_dir,
            root,
            mounts: Vec::new(),
        }
    }

    fn path(&self, s: &str) -> PathBuf {
        self.t.path().join(s)
    }

    /// A source directory with a file in it.
    fn source(&self, name: &str) -> PathBuf {
        let src = self.path(name);
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("file.txt"), format!("{name}\n")).unwrap();
        src
    }

    /// `encmount SUB -c CONFIG --password-file PASS`.
    fn volume_cmd(&self, sub: &str) -> Command {
        let mut c = Command::new(encmount_bin());
        c.arg(sub)
            .arg("-c")
            .arg(&self.config)
            .arg("--password-file")
            .arg(&self.pass);
        c
    }

    /// `encmount mount --reverse` of `src` on `mnt` with the fixture's volume.
    fn mount_cmd(&self, src: &Path, mnt: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(encmount_bin());
        c.args(["mount", "--reverse", "--config"])
            .arg(&self.config)
            .arg("--password-file")
            .arg(&self.pass)
            .args(extra)
            .arg(src)
            .arg(mnt)
            .env("ENCMOUNT_RUN_DIR", &self.run_dir)
            .env_remove("SUDO_UID")
            .stdin(Stdio::null());
        c
    }

    /// Writes the manager's yaml: `views` is the text under `views:`.
    fn yaml(&self, views: &str) {
        let text = format!(
            "defaults:\n  mount_root: {}\nviews:\n{views}",
            self.root.display()
        );
        fs::write(&self.yaml, text).unwrap();
    }

    /// A yaml view entry for `src` using the fixture's volume.
    fn view(&self, name: &str, src: &Path, extra: &str) -> String {
        format!(
            "  {name}:\n    source: {}\n    config: {}\n{extra}",
            src.display(),
            self.config.display()
        )
    }

    fn pw_file(&self) -> String {
        format!("    password_file: {}\n", self.pass.display())
    }

    /// `encmount SUB --yaml YAML ARGS…` with the fixture's run dir.
    fn manager(&self, sub: &str, args: &[&str]) -> Command {
        let mut c = Command::new(encmount_bin());
        c.arg(sub)
            .arg("--yaml")
            .arg(&self.yaml)
            .args(args)
            .env("ENCMOUNT_RUN_DIR", &self.run_dir)
            .env_remove("ENCMOUNT_YAML")
            .env_remove("SUDO_UID")
            .stdin(Stdio::null());
        c
    }

    fn mnt(&self, view: &str) -> PathBuf {
        mount_path(&self.root.join(view))
    }

    fn status(&self, view: &str) -> Value {
        let out = output(&mut self.manager("status", &["--json"]));
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}: {}", common::show(&out.stdout)));
        v["views"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == view)
            .cloned()
            .unwrap()
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        if self.yaml.exists() {
            let _ = self.manager("down", &["--all", "--lazy"]).output();
        }
        for m in &self.mounts {
            if is_mounted(m) {
                let _ = common::mount::unmount(m);
            }
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ---- item 3: mounting over data ----

#[test]
fn mount_refuses_a_nonempty_mountpoint_unless_nonempty() {
    let mut fx = Fx::new();
    let src = fx.source("src");
    let mnt = fx.path("mnt");
    fs::create_dir(&mnt).unwrap();
    fs::write(mnt.join("precious"), "do not hide me\n").unwrap();
    fx.mounts.push(mount_path(&mnt));

    let o = output(&mut fx.mount_cmd(&src, &mnt, &[]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("is not empty (it holds precious)"), "{e}");
    assert!(e.contains("--nonempty"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    assert!(!is_mounted(&mnt));
    assert_eq!(
        fs::read_to_string(mnt.join("precious")).unwrap(),
        "do not hide me\n"
    );

    run(&mut fx.mount_cmd(&src, &mnt, &["--nonempty"]));
    assert!(is_mounted(&mnt));
    assert!(!mnt.join("precious").exists(), "the view is on top");
    run(Command::new(encmount_bin()).arg("umount").arg(&mnt));
    assert_eq!(
        fs::read_to_string(mnt.join("precious")).unwrap(),
        "do not hide me\n"
    );
}

#[test]
fn up_refuses_a_nonempty_mountpoint_unless_nonempty_in_yaml() {
    let fx = Fx::new();
    let src = fx.source("src");
    fs::create_dir_all(fx.root.join("v")).unwrap();
    fs::write(fx.root.join("v/precious"), "x").unwrap();
    fx.yaml(&fx.view("v", &src, &fx.pw_file()));

    let o = output(&mut fx.manager("up", &["v"]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("view v") && e.contains("is not empty"), "{e}");
    assert!(e.contains("nonempty: true"), "{e}");
    assert!(!is_mounted(&fx.mnt("v")));

    fx.yaml(&fx.view("v", &src, &format!("{}    nonempty: true\n", fx.pw_file())));
    run(&mut fx.manager("up", &["v"]));
    assert!(is_mounted(&fx.mnt("v")));
    assert_eq!(fx.status("v")["health"], "healthy");
    run(&mut fx.manager("down", &["v"]));
    assert!(fx.root.join("v/precious").exists());
}

// ---- item 4: a hung password program ----

#[test]
fn hung_password_command_times_out_and_the_other_views_come_up() {
    let fx = Fx::new();
    let (a, b) = (fx.source("a"), fx.source("b"));
    let stuck = "    password_command: sleep 1000\n    password_timeout: 1s\n";
    fx.yaml(&format!(
        "{}{}{}",
        fx.view("first", &a, &fx.pw_file()),
        fx.view("stuck", &a, stuck),
        fx.view("last", &b, &fx.pw_file()),
    ));

    let o = output(&mut fx.manager("up", &["--all"]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("view stuck") && e.contains("did not finish within 1s"),
        "{e}"
    );
    assert!(
        !e.contains("view first: cannot") && !e.contains("view last: cannot"),
        "{e}"
    );
    assert_eq!(e.matches("did not finish").count(), 1, "once: {e}");
    for v in ["first", "last"] {
        assert_eq!(fx.status(v)["health"], "healthy", "{v}: {e}");
        assert_eq!(
            fs::read_dir(fx.mnt(v)).unwrap().count(),
            2,
            "{v}: file.txt and .encfs6.xml"
        );
    }
    assert!(!is_mounted(&fx.mnt("stuck")));

    // `check` returns too, naming the view.
    let o = output(&mut fx.manager("check", &[]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("view stuck") && e.contains("did not finish within 1s"),
        "{e}"
    );
    run(&mut fx.manager("down", &["--all"]));
}

#[test]
fn extpass_timeout_ends_a_hung_extpass() {
    let fx = Fx::new();
    let src = fx.source("src");
    let mnt = fx.path("mnt");
    fs::create_dir(&mnt).unwrap();
    let mut c = Command::new(encmount_bin());
    c.args(["mount", "--reverse", "--config"])
        .arg(&fx.config)
        .args(["--extpass", "sleep 1000", "--extpass-timeout", "500ms"])
        .arg(&src)
        .arg(&mnt)
        .stdin(Stdio::null());
    let o = output(&mut c);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("did not finish within 500ms"),
        "{}",
        stderr(&o)
    );
    assert!(!is_mounted(&mnt));
}

// ---- item 5: health asks the daemon ----

/// SIGCONTs the daemon on drop, so a failing test leaves nothing stopped.
struct Continue(Pid);

impl Drop for Continue {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// Waits until every thread of `pid` is in state T (a group stop is
/// asynchronous: kill(2) returns before the threads have stopped).
fn wait_all_threads_stopped(pid: Pid) {
    let tasks = format!("/proc/{pid}/task");
    for _ in 0..1000 {
        let stopped = fs::read_dir(&tasks).unwrap().all(|t| {
            let stat = fs::read_to_string(t.unwrap().path().join("stat")).unwrap_or_default();
            stat.rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with('T'))
        });
        if stopped {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("daemon {pid} did not stop");
}

#[test]
fn a_stopped_daemon_is_unresponsive() {
    let fx = Fx::new();
    let src = fx.source("src");
    fx.yaml(&fx.view("v", &src, &fx.pw_file()));
    run(&mut fx.manager("up", &["v"]));
    let st = fx.status("v");
    assert_eq!(st["health"], "healthy", "{st}");
    let pid = Pid::from_raw(st["pid"].as_i64().unwrap() as i32);
    // Detached cleanly: the daemon has no children (no `<defunct>` of
    // ours), and the process that started it has been reaped.
    let children: String = fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| fs::read_to_string(t.unwrap().path().join("children")).unwrap())
        .collect();
    assert_eq!(children.trim(), "", "daemon {pid} has children");

    kill(pid, Signal::SIGSTOP).unwrap();
    let cont = Continue(pid);
    wait_all_threads_stopped(pid);
    let st = fx.status("v");
    assert_eq!(st["health"], "unresponsive", "{st}");
    assert_eq!(st["healthy"], false, "{st}");
    assert!(
        st["reason"].as_str().unwrap().contains("did not answer"),
        "{st}"
    );
    let text = output(&mut fx.manager("status", &[]));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("unresponsive"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let o = output(&mut fx.manager("check", &[]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("unresponsive"), "{}", stderr(&o));

    drop(cont);
    assert_eq!(fx.status("v")["health"], "healthy");
    run(&mut fx.manager("down", &["v"]));
}

// ---- item 6: reports of a detached daemon without syslog ----

#[test]
fn detached_mount_without_syslog_writes_a_log_file() {
    // No syslog for the daemon, whatever this machine has: in a private
    // mount namespace, /dev/log (if any) is covered by an empty file, so a
    // connect to it is refused. The view lives and ends in that namespace.
    require(&["unshare", "sh", "ls"]);
    let fx = Fx::new();
    let src = fx.source("src");
    let mnt = fx.path("mnt");
    fs::create_dir(&mnt).unwrap();
    let empty = fx.path("empty");
    fs::write(&empty, "").unwrap();
    let script = r#"set -e
if [ -e /dev/log ]; then mount --bind "$EMPTY" /dev/log; fi
"$BIN" mount --reverse --config "$CONFIG" --password-file "$PASS" "$SRC" "$MNT"
ls -a "$MNT"
"$BIN" umount "$MNT"
"#;
    let o = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .env("EMPTY", &empty)
        .env("BIN", encmount_bin())
        .env("CONFIG", &fx.config)
        .env("PASS", &fx.pass)
        .env("SRC", &src)
        .env("MNT", &mnt)
        .env("ENCMOUNT_RUN_DIR", &fx.run_dir)
        .env_remove("SUDO_UID")
        .stdin(Stdio::null()));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(".encfs6.xml"),
        "{}",
        common::failure_report(&Command::new("unshare"), &o)
    );
    let logs: Vec<PathBuf> = fs::read_dir(&fx.run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    // The daemon logs its last lines as it ends, after the umount returned.
    let mut text = String::new();
    for _ in 0..1000 {
        text = fs::read_to_string(&logs[0]).unwrap();
        if text.contains("unmounted reverse view") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (s, m) = (src.display(), mnt.display());
    assert!(
        text.contains(&format!("mounted reverse view of {s} on {m}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("unmounted reverse view of {s} on {m}")),
        "{text}"
    );
    for line in text.lines() {
        assert!(line.contains(" encmount["), "timestamp and ident: {line}");
    }
}

// ---- item 7: panics and noise ----

/// A pipe whose read end is already closed: every write gets EPIPE.
fn closed_pipe() -> OwnedFd {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    w
}

/// Runs `cmd` with stdout or stderr on a closed pipe, the other captured.
fn with_closed(cmd: &mut Command, close_stderr: bool) -> (std::process::ExitStatus, String) {
    let mut child = if close_stderr {
        cmd.stdout(Stdio::piped()).stderr(closed_pipe())
    } else {
        cmd.stdout(closed_pipe()).stderr(Stdio::piped())
    }
    .stdin(Stdio::null())
    .spawn()
    .unwrap();
    let mut seen = String::new();
    let pipe: Option<Box<dyn Read>> = if close_stderr {
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read>)
    } else {
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read>)
    };
    pipe.unwrap().read_to_string(&mut seen).unwrap();
    (child.wait().unwrap(), seen)
}

fn assert_no_panic(what: &str, status: std::process::ExitStatus, seen: &str) {
    assert_ne!(status.code(), Some(101), "{what} panicked: {seen}");
    assert!(!seen.contains("panicked"), "{what}: {seen}");
    assert!(
        status.code().is_some() || status.signal() == Some(libc::SIGPIPE),
        "{what}: {status}"
    );
}

#[test]
fn closed_stdout_or_stderr_is_no_panic() {
    let fx = Fx::new();
    let src = fx.source("src");
    fx.yaml(&format!(
        "{}{}",
        fx.view("good", &src, &fx.pw_file()),
        fx.view("bad", &src, "    password_file: /nonexistent/pw\n"),
    ));
    let cipher = fx.path("cipher");
    fs::create_dir(&cipher).unwrap();
    fs::write(cipher.join("NotACipherName"), "x").unwrap();
    let verify = || {
        let mut c = fx.volume_cmd("verify");
        c.arg(&cipher);
        c
    };
    let restore = || {
        let mut c = fx.volume_cmd("restore");
        c.arg(&cipher).arg(fx.path("dest"));
        c
    };
    for close_stderr in [false, true] {
        let (s, seen) = with_closed(&mut fx.manager("check", &[]), close_stderr);
        assert_no_panic("check", s, &seen);
        let (s, seen) = with_closed(&mut verify(), close_stderr);
        assert_no_panic("verify", s, &seen);
        let _ = fs::remove_dir_all(fx.path("dest"));
        let (s, seen) = with_closed(&mut restore(), close_stderr);
        assert_no_panic("restore", s, &seen);
    }

    // And the shell form of the report: `check … 2>&1 | head -1`.
    require(&["bash", "head"]);
    let o = run(Command::new("bash")
        .arg("-c")
        .arg(r#""$0" check --yaml "$1" 2>&1 | head -1; echo "status=${PIPESTATUS[0]}""#)
        .arg(encmount_bin())
        .arg(&fx.yaml)
        .env("ENCMOUNT_RUN_DIR", &fx.run_dir)
        .env_remove("SUDO_UID"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        !text.contains("panicked") && !text.contains("status=101"),
        "{text}"
    );
}

#[test]
fn each_cause_is_printed_once() {
    let fx = Fx::new();
    let file = fx.path("plainfile");
    fs::write(&file, "").unwrap();
    let o = output(
        Command::new(encmount_bin())
            .arg("info")
            .arg(file.join("sub/.encfs6.xml"))
            .stdin(Stdio::null()),
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    let parts: Vec<&str> = e.trim_end().split(": ").collect();
    assert!(
        parts.windows(2).all(|w| w[0] != w[1]),
        "a cause printed twice: {e}"
    );
}

/// A name at the volume root whose cipher name starts with `-`.
fn dash_name(fx: &Fx) -> (String, String) {
    let located = configfile::locate(Some(&fx.config), None).unwrap();
    let config = configfile::load(&located).unwrap();
    let vol = configfile::unlock(&located.path, &config, PW.as_bytes()).unwrap();
    for i in 0..10_000 {
        let plain = format!("f{i}");
        let cipher = vol.encode_path(plain.as_bytes()).0;
        if cipher.starts_with(b"-") {
            return (plain, String::from_utf8(cipher).unwrap());
        }
    }
    panic!("no cipher name starting with '-' among 10,000 names");
}

#[test]
fn decode_escapes_names_and_minus_zero_prints_them_raw() {
    let fx = Fx::new();
    let codec = |sub: &str, args: &[&[u8]]| {
        let mut c = fx.volume_cmd(sub);
        c.args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)));
        run(&mut c).stdout
    };
    let cipher = codec("encode", &[b"a\nb\x1b[2K"]);
    let cipher = cipher.strip_suffix(b"\n").unwrap().to_vec();
    assert!(!cipher.contains(&b'\n'));
    assert_eq!(codec("decode", &[&cipher]), b"a\\nb\\x1b[2K\n");
    let mut raw = b"a\nb\x1b[2K\0".to_vec();
    assert_eq!(codec("decode", &[b"-0", &cipher]), raw);
    // -0 also reads NUL-separated paths on stdin.
    let mut c = Command::new(encmount_bin());
    c.args(["decode", "-0", "-c"])
        .arg(&fx.config)
        .arg("--password-file")
        .arg(&fx.pass);
    let mut input = cipher.clone();
    input.push(0);
    input.extend_from_slice(&cipher);
    input.push(0);
    raw.extend_from_slice(b"a\nb\x1b[2K\0");
    assert_eq!(common::run_with_stdin(&mut c, &input).stdout, raw);
}

#[test]
fn cipher_names_starting_with_dash_are_paths() {
    let mut fx = Fx::new();
    let (plain, cipher) = dash_name(&fx);
    // encode and decode, without `--`.
    let mut c = fx.volume_cmd("decode");
    c.arg(&cipher);
    assert_eq!(run(&mut c).stdout, format!("{plain}\n").as_bytes());
    let mut c = fx.volume_cmd("encode");
    c.arg(format!("-{plain}"));
    let o = run(&mut c);
    assert_eq!(o.stdout.iter().filter(|&&b| b == b'\n').count(), 1);

    // A backup holding that cipher name: cat and restore take it.
    let src = fx.path("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join(&plain), "dash contents\n").unwrap();
    let mnt = fx.path("mnt");
    fs::create_dir(&mnt).unwrap();
    fx.mounts.push(mount_path(&mnt));
    run(&mut fx.mount_cmd(&src, &mnt, &[]));
    let backup = fx.path("-backup");
    run(Command::new("cp").arg("-a").arg(&mnt).arg(&backup));
    run(Command::new(encmount_bin()).arg("umount").arg(&mnt));
    assert!(backup.join(&cipher).exists());

    let mut c = fx.volume_cmd("cat");
    c.current_dir(fx.t.path()).arg("-backup").arg(&cipher);
    assert_eq!(run(&mut c).stdout, b"dash contents\n");

    let mut c = fx.volume_cmd("restore");
    c.current_dir(fx.t.path()).arg("-backup").arg("-dest");
    run(&mut c);
    assert_eq!(
        fs::read_to_string(fx.path("-dest").join(&plain)).unwrap(),
        "dash contents\n"
    );
}
