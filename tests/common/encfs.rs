//! Drive the stock encfs 1.9.5 (format §2.1, §10.2, §11).
//!
//! Stock encfs behaviour these helpers rely on (observed with 1.9.5 on Debian 12):
//! * `ENCFS6_CONFIG` must name an existing file, so a new volume cannot be created with an
//!   external config: [`create_reverse_config`] creates it inside an empty directory and
//!   moves it out. The variable is removed from the environment of every other call.
//! * encfs daemonizes after the mount is live; in daemon mode it wants absolute paths.
//! * `--stdinpass` reads one line; `encfsctl` has no `--stdinpass`, so
//!   [`encfsctl`] passes `--extpass="cat FILE"` with a 0600 temporary file.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

// Re-exported for tests that only `use common::encfs`; not every test uses each.
#[allow(unused_imports)]
pub use super::mount::{Mount, MountEntry, is_mounted, mount_entry, wait_mounted, wait_unmounted};
use super::{failure_report, run_with_stdin, show, show_os};

/// How long encfs may take to derive the key (500 ms by default) and mount.
const ENCFS_TIMEOUT: Duration = Duration::from_secs(60);
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// Expert answers (format §10.2) for a reverse volume with AES-192, 1024-byte blocks,
/// block name encoding and per-file IVs (uniqueIV=1).
pub const EXPERT_AES192_BS1024_BLOCK_UNIQUEIV: &str = "x\n1\n192\n1024\n1\ny\n";

/// Mounts the cipher directory `cipher_dir` (forward, decrypting) at `mnt` with stock encfs:
/// `ENCFS6_CONFIG=config encfs --stdinpass [-o ro] cipher_dir mnt`. Returns once the mount
/// is live; panics with encfs's output if it fails.
pub fn forward_mount(
    cipher_dir: &Path,
    config: &Path,
    password: &[u8],
    mnt: &Path,
    read_only: bool,
) -> Mount {
    let mut args: Vec<OsString> = vec!["--stdinpass".into()];
    if read_only {
        args.extend(["-o".into(), "ro".into()]);
    }
    args.extend([abs(cipher_dir).into(), abs(mnt).into()]);
    mount_with(&args, Some(config), &password_line(password), mnt)
}

/// Mounts a read-only encrypted view of the plaintext directory `src` at `mnt` with stock
/// encfs: `ENCFS6_CONFIG=config encfs --reverse --stdinpass -o ro src mnt`.
pub fn reverse_mount(src: &Path, config: &Path, password: &[u8], mnt: &Path) -> Mount {
    let args: Vec<OsString> = vec![
        "--reverse".into(),
        "--stdinpass".into(),
        "-o".into(),
        "ro".into(),
        abs(src).into(),
        abs(mnt).into(),
    ];
    mount_with(&args, Some(config), &password_line(password), mnt)
}

/// Creates a new reverse-mode config with stock encfs (format §10.2) and returns the
/// directory holding it and its path (`DIR/encfs6.xml`, outside any source tree).
///
/// `expert_answers`: `None` = `--standard` (AES-192, 1024, block names, uniqueIV=0);
/// `Some(answers)` = expert mode, one answer per line starting with the `?>` answer `x`,
/// e.g. [`EXPERT_AES192_BS1024_BLOCK_UNIQUEIV`]. The password line is appended.
pub fn create_reverse_config(password: &[u8], expert_answers: Option<&str>) -> (TempDir, PathBuf) {
    let dir = super::tempdir();
    let empty = dir.path().join("empty");
    let mnt = dir.path().join("mnt");
    for d in [&empty, &mnt] {
        std::fs::create_dir(d).expect("cannot create a directory for encfs");
    }
    let mut args: Vec<OsString> = vec!["--reverse".into()];
    let mut input = Vec::new();
    match expert_answers {
        None => args.push("--standard".into()),
        Some(answers) => {
            assert!(
                answers.ends_with('\n'),
                "expert answers must end with a newline: {answers:?}"
            );
            input.extend_from_slice(answers.as_bytes());
        }
    }
    input.extend_from_slice(&password_line(password));
    args.extend([
        "--stdinpass".into(),
        empty.clone().into(),
        mnt.clone().into(),
    ]);
    // Creation needs no ENCFS6_CONFIG (it would have to exist already, §2.1).
    let mount = mount_with(&args, None, &input, &mnt);
    mount.unmount();
    let created = empty.join(".encfs6.xml");
    let config = dir.path().join("encfs6.xml");
    std::fs::rename(&created, &config)
        .unwrap_or_else(|e| panic!("encfs created no config at {}: {e}", show_os(&created)));
    (dir, config)
}

/// Runs `encfsctl COMMAND --extpass="cat PWFILE" ARGS…` with `ENCFS6_CONFIG=config` and
/// `stdin` as its standard input, the password in a 0600 temporary file. Panics unless it
/// exits 0 (note: `decode`/`encode` exit 0 even when a name fails; they print an empty line).
pub fn encfsctl<S: AsRef<OsStr>>(
    config: &Path,
    password: &[u8],
    command: &str,
    args: &[S],
    stdin: &[u8],
) -> Output {
    let dir = super::tempdir();
    let pwfile = dir.path().join("password");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&pwfile)
        .expect("cannot create the password file");
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .expect("cannot chmod the password file");
    // --extpass takes the program's whole stdout, one trailing newline removed (§11.1).
    f.write_all(password)
        .expect("cannot write the password file");
    drop(f);
    let mut extpass = OsString::from("--extpass=cat ");
    extpass.push(shell_quote(pwfile.as_os_str()));
    let mut cmd = Command::new("encfsctl");
    cmd.arg(command)
        .arg(extpass)
        .args(args)
        .env("ENCFS6_CONFIG", abs(config))
        .env_remove("ENCFS5_CONFIG");
    run_with_stdin(&mut cmd, stdin)
}

/// Decodes cipher paths (relative to `cipherdir`) with `encfsctl decode`; one plaintext path
/// per input name, in order. Panics (with encfsctl's stderr) if a name does not decode.
pub fn encfsctl_decode<S: AsRef<OsStr>>(
    config: &Path,
    password: &[u8],
    cipherdir: &Path,
    names: &[S],
) -> Vec<OsString> {
    encfsctl_names("decode", config, password, cipherdir, names)
}

/// Encodes plaintext paths with `encfsctl encode`; one cipher path per input name.
pub fn encfsctl_encode<S: AsRef<OsStr>>(
    config: &Path,
    password: &[u8],
    root: &Path,
    names: &[S],
) -> Vec<OsString> {
    encfsctl_names("encode", config, password, root, names)
}

/// Names go in on stdin, one per line: on the command line a cipher name starting with `-`
/// (the EncFS base64 alphabet has `-` and `,`) would be taken for an option.
fn encfsctl_names<S: AsRef<OsStr>>(
    command: &str,
    config: &Path,
    password: &[u8],
    root: &Path,
    names: &[S],
) -> Vec<OsString> {
    let mut input = Vec::new();
    for n in names {
        let n = n.as_ref().as_bytes();
        assert!(
            !n.is_empty() && !n.contains(&b'\n'),
            "encfsctl {command} reads one non-empty name per line: {}",
            show(n)
        );
        input.extend_from_slice(n);
        input.push(b'\n');
    }
    let out = encfsctl(config, password, command, &[abs(root)], &input);
    let mut lines: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').collect();
    if lines.last() == Some(&&b""[..]) {
        lines.pop();
    }
    let report = || super::failure_report(&Command::new(format!("encfsctl {command}")), &out);
    assert_eq!(
        lines.len(),
        names.len(),
        "{} names in, {} lines out\n{}",
        names.len(),
        lines.len(),
        report()
    );
    if let Some(i) = lines.iter().position(|l| l.is_empty()) {
        panic!(
            "encfsctl {command} failed on {}\n{}",
            show_os(&names[i]),
            report()
        );
    }
    lines
        .into_iter()
        .map(|l| OsString::from_vec(l.to_vec()))
        .collect()
}

/// Runs encfs with `args` and `stdin`, waits until it has daemonized and `mnt` is mounted.
fn mount_with(args: &[OsString], config: Option<&Path>, stdin: &[u8], mnt: &Path) -> Mount {
    // Output goes to files, not pipes: the encfs daemon must not keep our pipe open.
    let mut out = tempfile::tempfile().expect("cannot create a temporary file");
    let mut err = tempfile::tempfile().expect("cannot create a temporary file");
    let mut cmd = Command::new("encfs");
    cmd.args(args)
        .env_remove("ENCFS6_CONFIG")
        .env_remove("ENCFS5_CONFIG")
        .stdin(Stdio::piped())
        .stdout(out.try_clone().expect("cannot dup a file"))
        .stderr(err.try_clone().expect("cannot dup a file"));
    if let Some(config) = config {
        assert!(
            config.is_file(),
            "encfs config {} does not exist",
            show_os(config)
        );
        cmd.env("ENCFS6_CONFIG", abs(config));
    }
    // Guard first: whatever happens below, a mount that appears is removed again.
    let guard = Mount::adopt(mnt);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run encfs (apt-get install encfs): {e}"));
    {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // encfs may exit before reading everything (EPIPE): its status tells.
        let _ = pipe.write_all(stdin);
    }
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for encfs") {
            break status;
        }
        if start.elapsed() > ENCFS_TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("cannot wait for encfs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    };
    if timed_out {
        panic!(
            "encfs timed out after {ENCFS_TIMEOUT:?}\n{}",
            failure_report(&cmd, &output)
        );
    }
    if !status.success() {
        panic!("{}", failure_report(&cmd, &output));
    }
    wait_mounted(mnt, MOUNT_TIMEOUT);
    guard
}

fn read_all(f: &mut File) -> Vec<u8> {
    let mut v = Vec::new();
    f.rewind().expect("cannot rewind a temporary file");
    f.read_to_end(&mut v).expect("cannot read a temporary file");
    v
}

/// The password as one `--stdinpass` line.
fn password_line(password: &[u8]) -> Vec<u8> {
    assert!(
        !password.contains(&b'\n') && password.len() <= 511,
        "encfs --stdinpass reads one line of at most 511 bytes"
    );
    let mut line = password.to_vec();
    line.push(b'\n');
    line
}

/// An absolute path (encfs in daemon mode needs them), symlinks of the parent resolved.
fn abs(p: &Path) -> PathBuf {
    super::mount::mount_path(p)
}

/// `'…'` quoting for `sh -c`.
fn shell_quote(s: &OsStr) -> OsString {
    let mut q = b"'".to_vec();
    for &b in s.as_bytes() {
        if b == b'\'' {
            q.extend_from_slice(b"'\\''");
        } else {
            q.push(b);
        }
    }
    q.push(b'\'');
    OsString::from_vec(q)
}
