//! A private mount namespace for one end-to-end run.
//!
//! BackupPC hard-codes `/etc/backuppc`, and `encmount-rsync` under sudo reads only the fixed
//! `/etc/encmount/encmount.yaml` and `/run/encmount/`. So the run gets its own view of `/etc`
//! and `/run`: a holder process (`unshare --mount`) mounts an overlay on each, with the upper
//! layer in the run's temporary directory, then bind-mounts the run's own directories over
//! `/etc/backuppc` and `/etc/encmount`. Everything the run starts (sshd, BackupPC, the views)
//! is entered into that namespace with `nsenter`, so nothing on the machine's real `/etc` or
//! `/run` changes, and other tests running at the same time see none of it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::common::{require, show_os};

/// `PATH` of every command run in the namespace (the environment is cleared).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The holder of the namespace. Dropping it ends the holder; the namespace goes away once
/// every process in it has ended (the owners of sshd, BackupPC and the views stop theirs).
pub struct Sandbox {
    holder: Child,
    // Kept open: the holder ends when it reads EOF, also when this test process dies.
    _holder_stdin: ChildStdin,
    ns: Ns,
}

/// A handle on the namespace, to build commands that run inside it.
#[derive(Clone, Copy, Debug)]
pub struct Ns {
    pid: u32,
}

impl Sandbox {
    /// Creates the namespace. `dir` holds the overlay layers; `binds` are (host directory,
    /// path inside the namespace) pairs, bind-mounted after the overlays (the target is
    /// created in the overlay if missing).
    pub fn new(dir: &Path, binds: &[(&Path, &str)]) -> Sandbox {
        require(&["unshare", "nsenter", "setpriv"]);
        let mut script = String::from("set -eu\nmount --make-rprivate /\n");
        for top in ["etc", "run"] {
            let upper = dir.join(format!("{top}-upper"));
            let work = dir.join(format!("{top}-work"));
            for d in [&upper, &work] {
                std::fs::create_dir_all(d).unwrap();
            }
            script.push_str(&format!(
                "mount -t overlay overlay -o lowerdir=/{top},upperdir={},workdir={} /{top}\n",
                upper.display(),
                work.display()
            ));
        }
        // sshd's privilege-separation directory.
        script.push_str("mkdir -p -m 0755 /run/sshd\n");
        for (host, target) in binds {
            script.push_str(&format!(
                "mkdir -p {target}\nmount --bind {} {target}\n",
                host.display()
            ));
        }
        script.push_str("echo ready\nread -r _ || true\n");
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run unshare (apt-get install util-linux)");
        let mut line = String::new();
        let stdout = holder.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if line.trim() != "ready" {
            let status = holder.wait().unwrap();
            panic!("cannot set up the private mount namespace ({status}); script:\n{script}");
        }
        let stdin = holder.stdin.take().unwrap();
        let ns = Ns { pid: holder.id() };
        Sandbox {
            holder,
            _holder_stdin: stdin,
            ns,
        }
    }

    /// The handle for commands inside the namespace.
    pub fn ns(&self) -> Ns {
        self.ns
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Ns {
    /// `program` run as root inside the namespace, in `/`, with a clean environment.
    pub fn cmd(&self, program: impl AsRef<Path>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.pid))
            .arg("--mount")
            .arg("--")
            .arg(program.as_ref())
            .env_clear()
            .env("PATH", PATH)
            .current_dir("/");
        c
    }

    /// `program` run as `user` (its uid, gid and groups, and the environment `setpriv
    /// --reset-env` gives: HOME, SHELL, USER, LOGNAME, PATH) inside the namespace.
    pub fn as_user(&self, user: &str, program: impl AsRef<Path>) -> Command {
        let mut c = self.cmd("setpriv");
        c.args([
            format!("--reuid={user}"),
            format!("--regid={user}"),
            "--init-groups".into(),
            "--reset-env".into(),
        ])
        .arg(program.as_ref());
        c
    }

    /// Whether `path` is a mount point inside the namespace, and of which type.
    pub fn mount_type(&self, path: &Path) -> Option<String> {
        let info = std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid))
            .expect("cannot read the namespace's mountinfo");
        let want = show_os(path);
        info.lines().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            (f.get(4)? == &want).then(|| f[sep + 1].to_string())
        })
    }
}

/// A path inside the namespace's `/run` overlay as the host sees it (its upper layer), for
/// reading state files the namespace wrote (only files created there, never lower ones).
pub fn run_upper(dir: &Path, rel: &str) -> PathBuf {
    dir.join("run-upper").join(rel)
}
