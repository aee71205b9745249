//! Shared integration-test toolkit. Every test file includes it with `mod common;`.
//!
//! All tests are real: real FUSE mounts, the real `encfs` binary, real `rsync`. A missing
//! prerequisite is never a silent skip: [`require`] panics and names the Debian package.
//!
//! * [`tree`]: a deterministic test-tree generator, a tree comparer and a tree digest.
//! * [`mount`]: mount guards that unmount on drop (also on panic), mountinfo polling.
//! * [`encfs`]: drive the stock encfs 1.9.5 (create reverse configs, forward/reverse mounts,
//!   `encfsctl decode/encode`).

pub mod encfs;
pub mod mount;
pub mod tree;
pub mod vectors;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Debian packages of the tools tests use (tool name -> package).
const PACKAGES: &[(&str, &str)] = &[
    ("encfs", "encfs"),
    ("encfsctl", "encfs"),
    ("fusermount3", "fuse3"),
    ("fusermount", "fuse"),
    ("rsync", "rsync"),
    ("cp", "coreutils"),
    ("mkfifo", "coreutils"),
    ("sha256sum", "coreutils"),
    ("diff", "diffutils"),
    ("cmp", "diffutils"),
    ("sudo", "sudo"),
    ("visudo", "sudo"),
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("apparmor_parser", "apparmor"),
    ("dpkg-deb", "dpkg"),
    ("mountpoint", "util-linux"),
    ("findmnt", "util-linux"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("setpriv", "util-linux"),
    ("tar", "tar"),
    ("setfattr", "attr"),
    ("getfattr", "attr"),
    ("getfacl", "acl"),
    ("setfacl", "acl"),
    ("logger", "bsdutils"),
    ("script", "bsdutils"),
    ("tar", "tar"),
    ("zip", "zip"),
];

/// Panics unless every named prerequisite is present.
///
/// A plain name is looked up in `PATH`. Two names are special: `"fuse"` needs a usable
/// `/dev/fuse`, `"root"` needs an effective uid of 0. The panic message has the form
/// `missing prerequisite: encfs (apt-get install encfs)`.
pub fn require(tools: &[&str]) {
    for &tool in tools {
        match tool {
            "root" => {
                if !nix::unistd::geteuid().is_root() {
                    panic!(
                        "missing prerequisite: root (these tests mount FUSE file systems and \
                         change owners; run them as root, e.g. `sudo -E cargo test`)"
                    );
                }
            }
            "fuse" => {
                let dev = Path::new("/dev/fuse");
                let is_char = std::fs::metadata(dev)
                    .map(|m| m.file_type().is_char_device())
                    .unwrap_or(false);
                let opens = is_char
                    && std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(dev)
                        .is_ok();
                if !opens {
                    panic!(
                        "missing prerequisite: fuse (/dev/fuse is missing or cannot be opened; \
                         apt-get install fuse3 and `modprobe fuse`, or give the container \
                         --device /dev/fuse)"
                    );
                }
            }
            name => {
                if find_in_path(name).is_none() {
                    let package = PACKAGES
                        .iter()
                        .find(|(t, _)| *t == name)
                        .map_or(name, |(_, p)| p);
                    panic!("missing prerequisite: {name} (apt-get install {package})");
                }
            }
        }
    }
}

/// The first executable called `name` in `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The `encmount` binary built by cargo for this test run.
pub fn encmount_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_encmount"))
}

/// The shared EncFS 1.9.5 test vectors (`../shared/vectors` beside the crate).
pub fn vectors_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    assert!(
        dir.join("README.md").is_file(),
        "missing prerequisite: the shared test vectors ({} does not exist)",
        dir.display()
    );
    dir
}

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("encmount-test-")
        .tempdir()
        .expect("cannot create a temporary directory")
}

/// Runs `cmd` to completion (stdin: /dev/null) and returns its output; panics with the
/// command, its status, stdout and stderr unless it exits 0.
pub fn run(cmd: &mut Command) -> Output {
    let out = output(cmd.stdin(Stdio::null()));
    check(cmd, out)
}

/// Like [`run`], with `input` written to the command's stdin.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let out = output_with_stdin(cmd, input);
    check(cmd, out)
}

/// Runs `cmd` to completion and returns its output whatever its status (for tests that
/// expect a failure). Panics only if the program cannot be started.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", describe(cmd)))
}

/// Like [`output`], with `input` written to the command's stdin.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", describe(cmd)));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    // A writer thread: the child may fill its stdout pipe before it reads all of stdin.
    let writer = std::thread::spawn(move || {
        // The child may exit without reading everything (EPIPE): its status tells.
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for {}: {e}", describe(cmd)));
    writer.join().expect("stdin writer thread panicked");
    out
}

fn check(cmd: &Command, out: Output) -> Output {
    if !out.status.success() {
        panic!("{}", failure_report(cmd, &out));
    }
    out
}

/// A multi-line report of a finished command, for panic messages.
pub fn failure_report(cmd: &Command, out: &Output) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "command failed: {}", describe(cmd));
    let _ = writeln!(s, "status: {}", out.status);
    let _ = writeln!(s, "stdout:\n{}", String::from_utf8_lossy(&out.stdout));
    let _ = write!(s, "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    s
}

/// `env [-u VAR] VAR=… program arg…` of a command (escaped by [`show`]), for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    if cmd.get_envs().next().is_some() {
        s.push_str("env ");
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => {
                let _ = write!(s, "{}={} ", show_os(k), show_os(v));
            }
            None => {
                let _ = write!(s, "-u {} ", show_os(k));
            }
        }
    }
    s.push_str(&show(cmd.get_program().as_bytes()));
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&show(a.as_bytes()));
    }
    s
}

/// Bytes (a name, a path, a link target) as readable text: valid UTF-8 is kept, control
/// characters, backslashes and invalid bytes are escaped (`\xff`, `\t`). Injective, so it is
/// also usable as a key in digests.
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '\t' => s.push_str("\\t"),
                '\n' => s.push_str("\\n"),
                c if c.is_control() => {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// [`show`] for an `OsStr` or a `Path`.
pub fn show_os(s: impl AsRef<OsStr>) -> String {
    show(s.as_ref().as_bytes())
}
