//! Helpers for the live reverse-view tests (`tests/reverse_*.rs`): volumes made by
//! `encmount init`, views mounted through the real `encmount` binary (as a daemon or in the
//! foreground), finding and killing the view daemon, and timeouts so that a hung FUSE
//! request fails the test instead of hanging it.
//!
//! A [`View`] unmounts on drop (also on panic); if the daemon does not go away, it is
//! killed, which also wakes any thread stuck in a request to it.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::common::mount::{Mount, is_mounted, mount_path};
use crate::common::{encmount_bin, failure_report, show_os};

/// The password of every volume the tests create.
pub const PASSWORD: &str = "correct horse ünïcödé";
/// How long a mount command, a copy or a walk of a view may take before the test fails.
pub const SLOW: Duration = Duration::from_secs(60);
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// A volume config and its password file.
#[derive(Debug, Clone)]
pub struct Volume {
    /// The `.encfs6.xml`.
    pub config: PathBuf,
    /// A 0600 file holding [`PASSWORD`].
    pub password_file: PathBuf,
}

impl Volume {
    /// `encmount SUB --config CONFIG --password-file FILE`.
    pub fn command(&self, sub: &str) -> Command {
        let mut c = Command::new(encmount_bin());
        c.arg(sub)
            .arg("--config")
            .arg(&self.config)
            .arg("--password-file")
            .arg(&self.password_file);
        c
    }
}

/// Writes `pw` and a newline to a new 0600 file.
pub fn write_password(path: &Path, pw: &str) {
    fs::write(path, format!("{pw}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// A new volume (`encmount init --kdf-iterations 1000 --preset PRESET`) in `dir`.
pub fn init_volume(dir: &Path, preset: &str) -> Volume {
    let password_file = dir.join(format!("{preset}.pw"));
    write_password(&password_file, PASSWORD);
    let config = dir.join(format!("{preset}.xml"));
    crate::common::run(
        Command::new(encmount_bin())
            .args(["init", "--kdf-iterations", "1000", "--preset", preset])
            .arg("--password-file")
            .arg(&password_file)
            .arg(&config),
    );
    Volume {
        config,
        password_file,
    }
}

/// A view mounted by `encmount mount --reverse`, unmounted on drop.
#[derive(Debug)]
pub struct View {
    /// The mount point (as the kernel lists it).
    pub mnt: PathBuf,
    /// The process serving it.
    pub pid: i32,
    guard: Option<Mount>,
    /// `--foreground` views: the child and the file holding its stderr.
    child: Option<(Child, PathBuf)>,
    /// Set when the view is dropped: stops its watchdog.
    done: Arc<AtomicBool>,
}

/// No test keeps a view this long; one that does is stuck in a FUSE request.
const WATCHDOG: Duration = Duration::from_secs(150);

/// Kills the daemon `pid` serving `mnt` if `done` is not set within [`WATCHDOG`]: every
/// request stuck in it then fails with ENOTCONN, so a hung test fails instead.
fn watchdog(pid: i32, mnt: PathBuf, done: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let start = Instant::now();
        while !done.load(Ordering::Relaxed) {
            if start.elapsed() > WATCHDOG {
                if daemon_pid(&mnt) == Some(pid) {
                    eprintln!("watchdog: killing the view daemon of {}", show_os(&mnt));
                    kill9(pid);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

fn kill9(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

impl View {
    fn new(guard: Mount, pid: i32, child: Option<(Child, PathBuf)>) -> View {
        let done = Arc::new(AtomicBool::new(false));
        watchdog(pid, guard.mnt.clone(), done.clone());
        View {
            mnt: guard.mnt.clone(),
            pid,
            guard: Some(guard),
            child,
            done,
        }
    }
}

/// `encmount mount --reverse [--config C --password-file F] EXTRA… SRC MNT` with absolute
/// paths, as a daemon. Panics with the command's output unless it exits 0 with `mnt`
/// mounted.
pub fn mount_view(src: &Path, mnt: &Path, vol: Option<&Volume>, extra: &[&str]) -> View {
    let guard = Mount::adopt(mnt);
    let mut cmd = mount_command(src, &guard.mnt, vol, extra);
    let out = run_with_timeout(&mut cmd, SLOW);
    if !out.status.success() {
        panic!("{}", failure_report(&cmd, &out));
    }
    assert!(
        is_mounted(&guard.mnt),
        "encmount mount exited 0 but {} is not mounted",
        show_os(mnt)
    );
    let pid = daemon_pid(&guard.mnt)
        .unwrap_or_else(|| panic!("no encmount daemon serves {}", show_os(mnt)));
    View::new(guard, pid, None)
}

/// Like [`mount_view`], with the command (and so the daemon) started under an open-file
/// limit of `nofile` (soft and hard), as `ulimit -n NOFILE` in a shell would.
pub fn mount_view_with_nofile(
    src: &Path,
    mnt: &Path,
    vol: Option<&Volume>,
    extra: &[&str],
    nofile: u64,
) -> View {
    use std::os::unix::process::CommandExt;
    let guard = Mount::adopt(mnt);
    let mut cmd = mount_command(src, &guard.mnt, vol, extra);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_NOFILE,
                nofile,
                nofile,
            )
            .map_err(std::io::Error::from)
        });
    }
    let out = run_with_timeout(&mut cmd, SLOW);
    if !out.status.success() {
        panic!("{}", failure_report(&cmd, &out));
    }
    let pid = daemon_pid(&guard.mnt)
        .unwrap_or_else(|| panic!("no encmount daemon serves {}", show_os(mnt)));
    View::new(guard, pid, None)
}

/// Like [`mount_view`] with `--foreground`: the view runs as our child, its stderr (the
/// log) goes to `log`. Returns once the mount is live.
pub fn mount_foreground(
    src: &Path,
    mnt: &Path,
    vol: Option<&Volume>,
    extra: &[&str],
    log: &Path,
) -> View {
    let guard = Mount::adopt(mnt);
    let mut cmd = mount_command(src, &guard.mnt, vol, extra);
    cmd.arg("--foreground")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).unwrap());
    let mut child = cmd.spawn().expect("cannot run encmount");
    let start = Instant::now();
    while !is_mounted(&guard.mnt) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "encmount mount --foreground exited ({status}) before mounting:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        if start.elapsed() > MOUNT_TIMEOUT {
            let _ = child.kill();
            panic!("encmount mount --foreground did not mount within {MOUNT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id() as i32;
    View::new(guard, pid, Some((child, log.to_path_buf())))
}

fn mount_command(src: &Path, mnt: &Path, vol: Option<&Volume>, extra: &[&str]) -> Command {
    let mut cmd = Command::new(encmount_bin());
    cmd.args(["mount", "--reverse"]);
    if let Some(v) = vol {
        cmd.arg("--config")
            .arg(&v.config)
            .arg("--password-file")
            .arg(&v.password_file);
    }
    cmd.args(extra)
        .arg(std::path::absolute(src).unwrap())
        .arg(mnt)
        .env_remove("ENCFS6_CONFIG")
        .env_remove("ENCFS5_CONFIG");
    cmd
}

impl View {
    /// The stderr of a `--foreground` view so far.
    pub fn log(&self) -> String {
        let (_, log) = self.child.as_ref().expect("not a --foreground view");
        fs::read_to_string(log).unwrap_or_default()
    }

    /// Unmounts now (panics if that fails) and waits for the serving process to end.
    /// Returns the exit status of a `--foreground` view.
    pub fn unmount(mut self) -> Option<ExitStatus> {
        if let Some(g) = self.guard.take() {
            g.unmount();
        }
        self.reap()
    }

    /// Waits (bounded) for the serving process to end; kills it if it does not.
    fn reap(&mut self) -> Option<ExitStatus> {
        self.done.store(true, Ordering::Relaxed);
        if let Some((mut child, _)) = self.child.take() {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Some(s) = child.try_wait().unwrap() {
                    return Some(s);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            return Some(child.wait().unwrap());
        }
        if !wait_gone(self.pid, Duration::from_secs(10)) && daemon_pid(&self.mnt) == Some(self.pid)
        {
            kill9(self.pid);
        }
        None
    }
}

impl Drop for View {
    fn drop(&mut self) {
        // Unmount; a daemon that does not exit then is killed, and the dead mount it
        // leaves is removed too.
        drop(self.guard.take());
        self.reap();
        if is_mounted(&self.mnt) {
            let _ = crate::common::mount::unmount(&self.mnt);
        }
    }
}

/// Whether process `pid` is gone (or a zombie) within `timeout`.
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s) => {
                // "pid (comm) S …": the state follows the last ')'.
                let state = s.rsplit_once(") ").map(|(_, r)| r.chars().next());
                if state == Some(Some('Z')) {
                    return true;
                }
            }
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The encmount process serving the view at `mnt`: its command line is `… mount … MNT`
/// (as [`mount_command`] passes it) and it holds `/dev/fuse` open.
pub fn daemon_pid(mnt: &Path) -> Option<i32> {
    let want = mount_path(mnt);
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .collect();
        let is_ours = args.first().is_some_and(|a| a.ends_with(b"encmount"))
            && args.contains(&&b"mount"[..])
            && args.last() == Some(&want.as_os_str().as_bytes());
        if !is_ours {
            continue;
        }
        let holds_fuse = fs::read_dir(e.path().join("fd")).is_ok_and(|fds| {
            fds.flatten()
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == Path::new("/dev/fuse")))
        });
        if holds_fuse {
            return Some(pid);
        }
    }
    None
}

/// Runs `f` on another thread; panics if it takes longer than `timeout` (a FUSE request
/// that never returns). The stuck thread is woken later when the view guard kills the
/// daemon.
pub fn with_timeout<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(timeout) {
        Ok(v) => {
            let _ = h.join();
            v
        }
        // The closure panicked: re-raise its panic here.
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("the sender is dropped only after sending"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} took longer than {timeout:?}"),
    }
}

/// Runs `cmd` (stdin /dev/null) and returns its output; kills it and panics after
/// `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    // Drain both pipes on threads so a chatty child cannot block.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let te = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within {timeout:?}",
                crate::common::describe(cmd)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: to.join().unwrap(),
        stderr: te.join().unwrap(),
    }
}

/// Like [`run_with_timeout`], and panics unless the command exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run_with_timeout(cmd, SLOW);
    if !out.status.success() {
        panic!("{}", failure_report(cmd, &out));
    }
    out
}

/// `rsync ARGS… FROM/ TO/` (a trailing slash on both), checked, with a timeout.
pub fn rsync(args: &[&str], from: &Path, to: &Path) -> Output {
    let slash = |p: &Path| {
        let mut s = p.as_os_str().to_owned();
        s.push("/");
        s
    };
    run_ok(
        Command::new("rsync")
            .args(args)
            .arg(slash(from))
            .arg(slash(to)),
    )
}

/// Creates the directories (and parents).
pub fn mkdirs(dirs: &[&Path]) {
    for d in dirs {
        fs::create_dir_all(d).unwrap();
    }
}

/// The names in directory `dir`, raw bytes, sorted.
pub fn names(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", show_os(dir)))
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    v.sort();
    v
}

/// `encmount encode --config C --password-file F PATH…`: the cipher path of each
/// plaintext path (relative to the volume root).
pub fn encode(vol: &Volume, paths: &[&[u8]]) -> Vec<Vec<u8>> {
    let out = run_ok(
        vol.command("encode")
            .arg("--")
            .args(paths.iter().map(|p| OsStr::from_bytes(p))),
    );
    let lines: Vec<Vec<u8>> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(
        lines.len(),
        paths.len(),
        "encmount encode: one line per path"
    );
    lines
}
