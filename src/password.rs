//! Where passwords come from (design §6): a password file, one line of
//! stdin, an external command, or a prompt on the terminal.
//!
//! Passwords are exact bytes: only the line's `\n` is removed, never a `\r`
//! or blanks. Every intermediate buffer is a [`Zeroizing`] vector, and the
//! result is a [`Password`], which has no `Debug`, `Display` or `Clone`.
//! Errors name the file or command, never the password or command output.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use secrecy::{ExposeSecret, SecretSlice};
use zeroize::Zeroizing;

/// The longest password accepted, in bytes (a line of a file or of stdin).
pub const MAX_PASSWORD_LEN: usize = 4096;

/// The most output read from a password command before giving up.
const MAX_COMMAND_OUTPUT: usize = 64 * 1024;

/// How long a password command may run by default (design §6): a hung
/// program must not block `up --all` or `check`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The terminal the prompt uses.
const TTY: &str = "/dev/tty";

/// A password: exact bytes, never empty, zeroized on drop.
pub struct Password(SecretSlice<u8>);

impl Password {
    /// Wraps `v`, which is zeroized; refuses an empty password.
    pub fn from_bytes(v: Vec<u8>) -> Result<Password, PasswordError> {
        let v = Zeroizing::new(v);
        if v.is_empty() {
            return Err(PasswordError::Empty);
        }
        // Copy into an exact-size box: `into_boxed_slice` could reallocate
        // and leave an unzeroized copy behind.
        let boxed: Box<[u8]> = Box::from(v.as_slice());
        Ok(Password(SecretSlice::from(boxed)))
    }

    /// The password bytes; call only where they are consumed (the KDF).
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

/// Where to get a password from. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `--password-file FILE`: the first line of a file only its owner can read.
    File(PathBuf),
    /// `--stdinpass`: one line of stdin; nothing after it is consumed.
    Stdin,
    /// `--extpass CMD` / yaml `password_command`: the first line of the
    /// output of `/bin/sh -c CMD`, with `encfs_root` set to `root` if given.
    Command {
        /// The shell command.
        command: String,
        /// Exported to the command as `encfs_root`, as encfs does.
        root: Option<PathBuf>,
        /// The command (its whole process group) is killed after this long.
        timeout: Duration,
    },
    /// A prompt on `/dev/tty`, asked twice when `confirm` (init, new password).
    Prompt {
        /// Ask a second time and require the same answer.
        confirm: bool,
    },
}

impl PasswordSource {
    /// The source as error messages name it.
    fn describe(&self) -> String {
        match self {
            PasswordSource::File(path) => format!("password file {}", path.display()),
            PasswordSource::Stdin => "stdin".to_string(),
            PasswordSource::Command { command, .. } => format!("password command `{command}`"),
            PasswordSource::Prompt { .. } => "the terminal".to_string(),
        }
    }
}

/// Why no password could be had. Messages never contain the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// [`Password::from_bytes`] got no bytes.
    #[error("empty password")]
    Empty,
    /// A source gave an empty password.
    #[error("empty password from {from}")]
    EmptyFrom {
        /// The source, e.g. "password file /etc/encmount/x.pass".
        from: String,
    },
    /// A line longer than [`MAX_PASSWORD_LEN`].
    #[error("the password from {from} is longer than {max} bytes")]
    TooLong {
        /// The source.
        from: String,
        /// The limit.
        max: usize,
    },
    /// The password file could not be opened or read.
    #[error("cannot read password file {}: {cause}", path.display())]
    FileRead {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not a `source()`).
        cause: io::Error,
    },
    /// The password file is a symbolic link (opened with `O_NOFOLLOW`).
    #[error("password file {} is a symbolic link; name the file itself", path.display())]
    Symlink {
        /// The file.
        path: PathBuf,
    },
    /// The password file is a directory, FIFO, device or socket.
    #[error("password file {} is not a regular file", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// The password file is readable or writable by group or others.
    #[error(
        "password file {} is accessible by group or others (mode {mode:04o}); fix: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The manager requires root-owned password files.
    #[error(
        "password file {} is owned by uid {uid}, not root; fix: chown root: {}",
        path.display(),
        path.display()
    )]
    NotRootOwned {
        /// The file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
    },
    /// Reading stdin failed.
    #[error("cannot read the password from stdin: {0}")]
    Stdin(io::Error),
    /// The password command could not be started or read.
    #[error("cannot run password command `{command}`: {cause}")]
    CommandRun {
        /// The command.
        command: String,
        /// The cause (in the message, so not a `source()`).
        cause: io::Error,
    },
    /// The password command exited unsuccessfully.
    #[error("password command `{command}` failed ({status})")]
    CommandFailed {
        /// The command.
        command: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// The password command did not finish in time; it was killed.
    #[error(
        "password command `{command}` did not finish within {}; it was killed",
        humantime::format_duration(*timeout)
    )]
    CommandTimeout {
        /// The command.
        command: String,
        /// The limit.
        timeout: Duration,
    },
    /// The password command printed more than 64 KiB; it was killed.
    #[error("password command `{command}` printed more than {max} bytes")]
    CommandOutputTooLong {
        /// The command.
        command: String,
        /// The limit.
        max: usize,
    },
    /// No controlling terminal (or `/dev/tty` is not a terminal).
    #[error("no terminal to ask for the password; use --password-file, --stdinpass or --extpass")]
    NoTerminal,
    /// Reading or setting up the terminal failed.
    #[error("cannot read the password from the terminal: {0}")]
    Terminal(io::Error),
    /// Ctrl-C at the prompt.
    #[error("password prompt interrupted")]
    Interrupted,
    /// The two answers of a confirmed prompt differ.
    #[error("passwords do not match")]
    Mismatch,
}

/// Reads a password from `source`. `what` names what it unlocks in the
/// prompt: "Password for {what}: " ("Password: " when empty), or "New
/// password for {what}: " when the prompt is confirmed (a new password).
pub fn read_password(source: &PasswordSource, what: &str) -> Result<Password, PasswordError> {
    let bytes = match source {
        PasswordSource::File(path) => file_line(path, false)?,
        PasswordSource::Stdin => stdin_line()?,
        PasswordSource::Command {
            command,
            root,
            timeout,
        } => command_line(command, root.as_deref(), *timeout)?,
        PasswordSource::Prompt { confirm } => prompt(Path::new(TTY), what, *confirm)?,
    };
    into_password(bytes, source)
}

/// Reads the first line of a password file, refusing it as
/// [`check_password_file`] does, on the same open file (no race between
/// check and read). The manager uses this with `require_root_owner`.
pub fn read_password_file(
    path: &Path,
    require_root_owner: bool,
) -> Result<Password, PasswordError> {
    let bytes = file_line(path, require_root_owner)?;
    into_password(bytes, &PasswordSource::File(path.to_path_buf()))
}

fn into_password(
    mut bytes: Zeroizing<Vec<u8>>,
    source: &PasswordSource,
) -> Result<Password, PasswordError> {
    if bytes.is_empty() {
        return Err(PasswordError::EmptyFrom {
            from: source.describe(),
        });
    }
    Password::from_bytes(std::mem::take(&mut *bytes))
}

/// Checks a password file without reading it: a regular file, not a
/// symlink, no permission bits for group or others, and owned by root when
/// `require_root_owner`.
pub fn check_password_file(path: &Path, require_root_owner: bool) -> Result<(), PasswordError> {
    open_checked(path, require_root_owner).map(drop)
}

/// Opens `path` without following a final symlink and without blocking on
/// a FIFO, then checks the opened file via fstat.
fn open_checked(path: &Path, require_root_owner: bool) -> Result<File, PasswordError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => PasswordError::Symlink {
                path: path.to_path_buf(),
            },
            _ => PasswordError::FileRead {
                path: path.to_path_buf(),
                cause: source,
            },
        })?;
    let meta = file.metadata().map_err(|cause| PasswordError::FileRead {
        path: path.to_path_buf(),
        cause,
    })?;
    if !meta.file_type().is_file() {
        return Err(PasswordError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PasswordError::Insecure {
            path: path.to_path_buf(),
            mode,
        });
    }
    if require_root_owner && meta.uid() != 0 {
        return Err(PasswordError::NotRootOwned {
            path: path.to_path_buf(),
            uid: meta.uid(),
        });
    }
    Ok(file)
}

fn file_line(path: &Path, require_root_owner: bool) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let mut file = open_checked(path, require_root_owner)?;
    let mut buf =
        read_bounded(&mut file, MAX_PASSWORD_LEN + 1).map_err(|cause| PasswordError::FileRead {
            path: path.to_path_buf(),
            cause,
        })?;
    first_line(&mut buf);
    if buf.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong {
            from: PasswordSource::File(path.to_path_buf()).describe(),
            max: MAX_PASSWORD_LEN,
        });
    }
    Ok(buf)
}

fn stdin_line() -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    // A dup of fd 0, read unbuffered: std's `Stdin` would buffer (and keep,
    // unzeroized) whatever follows the line.
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(PasswordError::Stdin)?;
    let mut stdin = File::from(fd);
    match read_line_bytes(&mut stdin, MAX_PASSWORD_LEN) {
        Ok(line) => Ok(line),
        Err(LineError::Io(e)) => Err(PasswordError::Stdin(e)),
        Err(LineError::TooLong) => Err(PasswordError::TooLong {
            from: PasswordSource::Stdin.describe(),
            max: MAX_PASSWORD_LEN,
        }),
    }
}

/// Why [`read_line_bytes`] stopped.
#[derive(Debug)]
pub(crate) enum LineError {
    Io(io::Error),
    /// More than `max` bytes before the newline.
    TooLong,
}

/// Reads one line byte by byte, so nothing after its `\n` is consumed.
/// The `\n` is removed (only it); EOF also ends the line.
pub(crate) fn read_line_bytes(
    r: &mut impl Read,
    max: usize,
) -> Result<Zeroizing<Vec<u8>>, LineError> {
    let mut line = Zeroizing::new(Vec::with_capacity(max));
    let mut byte = Zeroizing::new([0u8; 1]);
    loop {
        match r.read(&mut byte[..]) {
            Ok(0) => return Ok(line),
            Ok(_) if byte[0] == b'\n' => return Ok(line),
            Ok(_) if line.len() == max => return Err(LineError::TooLong),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LineError::Io(e)),
        }
    }
}

/// Reads until EOF or `limit` bytes, into one zeroized allocation.
fn read_bounded(r: &mut impl Read, limit: usize) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; limit]);
    let mut n = 0;
    while n < limit {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Cuts `buf` at its first `\n` (the rest stays in the zeroized capacity).
fn first_line(buf: &mut Zeroizing<Vec<u8>>) {
    if let Some(end) = buf.iter().position(|&b| b == b'\n') {
        buf.truncate(end);
    }
}

fn command_line(
    command: &str,
    root: Option<&Path>,
    timeout: Duration,
) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let run_err = |cause| PasswordError::CommandRun {
        command: command.to_string(),
        cause,
    };
    let deadline = Instant::now() + timeout;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group, so a timeout kills whatever it started
        // too (`sh -c 'sleep 1000'` may fork the sleep).
        .process_group(0);
    if let Some(root) = root {
        cmd.env("encfs_root", root);
    }
    let mut child = cmd.spawn().map_err(run_err)?;
    let out = match child.stdout.take() {
        Some(stdout) => read_until(stdout, MAX_COMMAND_OUTPUT + 1, deadline),
        None => Err(io::Error::other("no pipe to its stdout")),
    };
    let timed_out = || PasswordError::CommandTimeout {
        command: command.to_string(),
        timeout,
    };
    let out = match out {
        Ok(Some(out)) if out.len() <= MAX_COMMAND_OUTPUT => out,
        other => {
            kill_group(&mut child);
            return Err(match other {
                Err(e) => run_err(e),
                Ok(None) => timed_out(),
                Ok(Some(_)) => PasswordError::CommandOutputTooLong {
                    command: command.to_string(),
                    max: MAX_COMMAND_OUTPUT,
                },
            });
        }
    };
    let Some(status) = wait_until(&mut child, deadline).map_err(run_err)? else {
        kill_group(&mut child);
        return Err(timed_out());
    };
    if !status.success() {
        return Err(PasswordError::CommandFailed {
            command: command.to_string(),
            status,
        });
    }
    let mut line = out;
    first_line(&mut line);
    if line.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong {
            from: format!("password command `{command}`"),
            max: MAX_PASSWORD_LEN,
        });
    }
    Ok(line)
}

/// Reads `r` to EOF or `limit` bytes, like [`read_bounded`], but gives up
/// at `deadline` (`Ok(None)`).
fn read_until(
    r: impl Into<std::os::fd::OwnedFd>,
    limit: usize,
    deadline: Instant,
) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut file = File::from(r.into());
    let mut buf = Zeroizing::new(vec![0u8; limit]);
    let mut n = 0;
    while n < limit {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(Some(buf))
}

/// Waits for `child` until `deadline`; `None` if it is still running.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the command's process group and reaps the command.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Asks on the terminal at `tty` (`/dev/tty` outside tests).
fn prompt(tty: &Path, what: &str, confirm: bool) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(tty)
        .map_err(|_| PasswordError::NoTerminal)?;
    let text = match (what.is_empty(), confirm) {
        (true, false) => "Password: ".to_string(),
        (true, true) => "New password: ".to_string(),
        (false, false) => format!("Password for {what}: "),
        (false, true) => format!("New password for {what}: "),
    };
    let first = ask(&tty, &text)?;
    if confirm && !first.is_empty() {
        let second = ask(&tty, "Verify password: ")?;
        if *first != *second {
            return Err(PasswordError::Mismatch);
        }
    }
    Ok(first)
}

/// Prints `text` and reads one line with echo off. The terminal state is
/// restored on every return path (and on unwinding).
fn ask(tty: &File, text: &str) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let guard = EchoOff::new(tty.as_fd())?;
    let mut out = tty;
    out.write_all(text.as_bytes())
        .map_err(PasswordError::Terminal)?;
    // Canonical mode: one read returns one line, ended by `\n`, by the
    // interrupt character (made a line end by `EchoOff`) or by EOF.
    let mut line = Zeroizing::new(vec![0u8; MAX_PASSWORD_LEN + 2]);
    let mut input = tty;
    let n = loop {
        match input.read(&mut line[..]) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PasswordError::Terminal(e)),
        }
    };
    line.truncate(n);
    let interrupted = guard.intr.is_some() && line.last().copied() == guard.intr;
    drop(guard);
    let _ = out.write_all(b"\n");
    if interrupted {
        return Err(PasswordError::Interrupted);
    }
    match line.last() {
        Some(b'\n') => {
            line.pop();
        }
        Some(_) if n == MAX_PASSWORD_LEN + 2 => {
            return Err(PasswordError::TooLong {
                from: "the terminal".to_string(),
                max: MAX_PASSWORD_LEN,
            });
        }
        _ => {}
    }
    Ok(line)
}

/// Echo off for the lifetime of the value. Signals from the keyboard are
/// off too, so ctrl-c cannot kill the process with echo still off; the
/// interrupt character instead ends the line and cancels the prompt.
struct EchoOff<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
    intr: Option<u8>,
}

impl<'a> EchoOff<'a> {
    fn new(fd: BorrowedFd<'a>) -> Result<Self, PasswordError> {
        let saved = termios::tcgetattr(fd).map_err(|e| match e {
            nix::errno::Errno::ENOTTY => PasswordError::NoTerminal,
            e => PasswordError::Terminal(e.into()),
        })?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(
            LocalFlags::ECHO
                | LocalFlags::ECHOE
                | LocalFlags::ECHOK
                | LocalFlags::ECHONL
                | LocalFlags::ISIG,
        );
        quiet.local_flags.insert(LocalFlags::ICANON);
        let intr = quiet.control_chars[SpecialCharacterIndices::VINTR as usize];
        let intr = (intr != termios::_POSIX_VDISABLE).then_some(intr);
        if let Some(c) = intr {
            quiet.control_chars[SpecialCharacterIndices::VEOL as usize] = c;
        }
        termios::tcsetattr(fd, SetArg::TCSAFLUSH, &quiet)
            .map_err(|e| PasswordError::Terminal(e.into()))?;
        Ok(EchoOff { fd, saved, intr })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSAFLUSH, &self.saved);
    }
}

#[cfg(test)]
mod tests;
