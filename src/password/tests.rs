use super::*;

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

fn write_file(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn file_pw(path: &Path) -> Result<Password, PasswordError> {
    read_password(&PasswordSource::File(path.to_path_buf()), "x")
}

fn cmd(command: &str, root: Option<&str>) -> Result<Password, PasswordError> {
    let source = PasswordSource::Command {
        command: command.to_string(),
        root: root.map(PathBuf::from),
        timeout: DEFAULT_COMMAND_TIMEOUT,
    };
    read_password(&source, "x")
}

fn cmd_within(command: &str, timeout: Duration) -> Result<Password, PasswordError> {
    let source = PasswordSource::Command {
        command: command.to_string(),
        root: None,
        timeout,
    };
    read_password(&source, "x")
}

#[test]
fn hung_command_times_out_and_its_group_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("sleep.pid");
    // The shell forks the sleep (`&` then `wait`), so killing the shell
    // alone would leave the sleep holding the pipe.
    let command = format!("sleep 1000 & echo $! > {}; wait", pidfile.display());
    let err = cmd_within(&command, Duration::from_millis(300))
        .err()
        .expect("a hung command must fail");
    assert!(matches!(err, PasswordError::CommandTimeout { .. }), "{err}");
    assert!(
        err.to_string().contains("did not finish within 300ms"),
        "{err}"
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    // Killed: gone, or at worst a zombie awaiting its (killed) parent's reaper.
    for _ in 0..200 {
        match std::fs::read_to_string(&stat) {
            Err(_) => return,
            Ok(s) if s.contains(") Z") => return,
            Ok(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("the sleep started by the password command still runs");
}

#[test]
fn command_that_prints_then_hangs_times_out() {
    // The line is there, but the command never exits: still a timeout
    // (a password command must end).
    let err = cmd_within("echo pw; exec sleep 1000", Duration::from_millis(300))
        .err()
        .expect("must fail");
    assert!(matches!(err, PasswordError::CommandTimeout { .. }), "{err}");
}

#[test]
fn quick_command_within_timeout() {
    let pw = cmd_within("echo quick", Duration::from_secs(5)).unwrap();
    assert_eq!(pw.expose(), b"quick");
}

#[test]
fn from_bytes_refuses_empty() {
    assert!(matches!(
        Password::from_bytes(Vec::new()),
        Err(PasswordError::Empty)
    ));
    assert_eq!(
        Password::from_bytes(b"pw".to_vec()).unwrap().expose(),
        b"pw"
    );
}

#[test]
fn file_first_line_is_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for (content, want) in [
        (&b"secret\nsecond line\n"[..], &b"secret"[..]),
        (b"secret", b"secret"),
        (b"secret\r\n", b"secret\r"),
        (b" sp ace \n", b" sp ace "),
    ] {
        let path = write_file(dir.path(), "pw", content, 0o600);
        assert_eq!(file_pw(&path).unwrap().expose(), want);
    }
    let path = write_file(dir.path(), "max", &[b'a'; MAX_PASSWORD_LEN], 0o400);
    assert_eq!(file_pw(&path).unwrap().expose().len(), MAX_PASSWORD_LEN);
}

#[test]
fn file_refuses_group_or_world_access() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o640, 0o604, 0o620, 0o644, 0o666] {
        let path = write_file(dir.path(), "pw", b"topsecret\n", mode);
        let err = file_pw(&path).err().unwrap();
        assert!(matches!(err, PasswordError::Insecure { mode: m, .. } if m == mode));
        let msg = err.to_string();
        assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
        assert!(
            msg.contains(&format!("chmod 600 {}", path.display())),
            "{msg}"
        );
        assert!(!msg.contains("topsecret"));
        assert!(check_password_file(&path, false).is_err());
    }
    let path = write_file(dir.path(), "pw", b"topsecret\n", 0o600);
    check_password_file(&path, false).unwrap();
}

#[test]
fn file_refuses_symlinks_dirs_and_fifos() {
    let dir = tempfile::tempdir().unwrap();
    let target = write_file(dir.path(), "pw", b"secret\n", 0o600);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(matches!(file_pw(&link), Err(PasswordError::Symlink { .. })));

    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(matches!(
        file_pw(&sub),
        Err(PasswordError::NotRegular { .. })
    ));

    // A FIFO must be refused, not block the open.
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert!(matches!(
        file_pw(&fifo),
        Err(PasswordError::NotRegular { .. })
    ));

    let missing = dir.path().join("missing");
    let err = file_pw(&missing).err().unwrap();
    assert!(matches!(err, PasswordError::FileRead { .. }));
    assert!(err.to_string().contains(&*missing.to_string_lossy()));
}

#[test]
fn file_owner_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "pw", b"secret\n", 0o600);
    if nix::unistd::geteuid().is_root() {
        check_password_file(&path, true).unwrap();
        assert_eq!(read_password_file(&path, true).unwrap().expose(), b"secret");
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
    }
    let err = read_password_file(&path, true).err().unwrap();
    assert!(matches!(err, PasswordError::NotRootOwned { .. }));
    assert!(err.to_string().contains("chown root:"));
    check_password_file(&path, false).unwrap();
}

#[test]
fn file_empty_and_too_long() {
    let dir = tempfile::tempdir().unwrap();
    for content in [&b""[..], b"\n", b"\nsecond\n"] {
        let path = write_file(dir.path(), "pw", content, 0o600);
        let err = file_pw(&path).err().unwrap();
        assert!(matches!(err, PasswordError::EmptyFrom { .. }));
        assert!(
            err.to_string()
                .starts_with("empty password from password file")
        );
    }
    let path = write_file(dir.path(), "long", &[b'a'; MAX_PASSWORD_LEN + 1], 0o600);
    assert!(matches!(file_pw(&path), Err(PasswordError::TooLong { .. })));
}

#[test]
fn line_reading_stops_at_the_newline() {
    let mut r = Cursor::new(b"secret\nnext data".to_vec());
    assert_eq!(&*read_line_bytes(&mut r, 100).unwrap(), b"secret");
    assert_eq!(r.position(), 7, "nothing after the newline is consumed");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"next data");

    for (input, want) in [
        (&b"no newline"[..], &b"no newline"[..]),
        (b"cr\r\n", b"cr\r"),
        (b"\n", b""),
        (b"", b""),
        (b"two\n\n", b"two"),
    ] {
        let got = read_line_bytes(&mut Cursor::new(input), 100).unwrap();
        assert_eq!(&*got, want);
    }
}

#[test]
fn line_reading_is_bounded() {
    let mut exact = vec![b'a'; 16];
    exact.push(b'\n');
    assert_eq!(
        read_line_bytes(&mut Cursor::new(&exact), 16).unwrap().len(),
        16
    );
    assert_eq!(
        read_line_bytes(&mut Cursor::new(&exact[..16]), 16)
            .unwrap()
            .len(),
        16
    );
    let long = vec![b'a'; 17];
    assert!(matches!(
        read_line_bytes(&mut Cursor::new(&long), 16),
        Err(LineError::TooLong)
    ));
}

#[test]
fn command_first_line_and_encfs_root() {
    assert_eq!(
        cmd("printf 'pw one\\nsecond\\n'", None).unwrap().expose(),
        b"pw one"
    );
    assert_eq!(cmd("printf 'cr\\r\\n'", None).unwrap().expose(), b"cr\r");
    let pw = cmd("printf %s \"$encfs_root\"", Some("/srv/plain dir")).unwrap();
    assert_eq!(pw.expose(), b"/srv/plain dir");
    // Without a root the variable is not invented (the test process has none).
    if std::env::var_os("encfs_root").is_none() {
        let err = cmd("printf %s \"$encfs_root\"", None).err().unwrap();
        assert!(matches!(err, PasswordError::EmptyFrom { .. }));
    }
    // stdin is /dev/null: a command reading it ends instead of hanging.
    assert!(matches!(
        cmd("cat", None),
        Err(PasswordError::EmptyFrom { .. })
    ));
}

#[test]
fn command_failures_name_the_command_not_its_output() {
    let err = cmd("printf topsecret; exit 3", None).err().unwrap();
    assert!(matches!(err, PasswordError::CommandFailed { .. }));
    let msg = err.to_string();
    assert!(msg.contains("`printf topsecret; exit 3`"), "{msg}");
    assert!(msg.contains('3'), "{msg}");

    let err = cmd("true", None).err().unwrap();
    assert_eq!(
        err.to_string(),
        "empty password from password command `true`"
    );

    let err = cmd("yes", None).err().unwrap();
    assert!(
        matches!(err, PasswordError::CommandOutputTooLong { .. }),
        "{err}"
    );
}

#[test]
fn prompt_without_a_terminal() {
    let err = prompt(Path::new("/nonexistent/tty"), "x", false)
        .err()
        .unwrap();
    assert!(matches!(err, PasswordError::NoTerminal));
    assert!(
        err.to_string()
            .contains("--password-file, --stdinpass or --extpass")
    );
    // Not a terminal at all.
    let err = prompt(Path::new("/dev/null"), "x", false).err().unwrap();
    assert!(matches!(err, PasswordError::NoTerminal));
}

/// A pseudo-terminal: the test types on the master side while `prompt`
/// runs on the slave path.
struct Pty {
    master: File,
    slave_path: PathBuf,
    slave: File,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
    all: Vec<u8>,
}

impl Pty {
    fn new() -> Pty {
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            pty.slave.as_raw_fd()
        }))
        .unwrap();
        let master = File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, output) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            master,
            slave_path,
            slave: File::from(pty.slave),
            output,
            seen: Vec::new(),
            all: Vec::new(),
        }
    }

    /// Waits until the terminal has printed `text` (after the last wait).
    fn wait_for(&mut self, text: &str) {
        loop {
            if let Some(i) = self
                .seen
                .windows(text.len())
                .position(|w| w == text.as_bytes())
            {
                self.seen.drain(..i + text.len());
                return;
            }
            let chunk = self.output.recv_timeout(Duration::from_secs(10));
            let chunk = chunk.expect("terminal output");
            self.all.extend_from_slice(&chunk);
            self.seen.extend(chunk);
        }
    }

    fn type_text(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    fn echo_is_on(&self) -> bool {
        let t = termios::tcgetattr(self.slave.as_fd()).unwrap();
        t.local_flags.contains(LocalFlags::ECHO | LocalFlags::ISIG)
    }
}

fn prompt_in_thread(
    pty: &Pty,
    confirm: bool,
) -> mpsc::Receiver<Result<Zeroizing<Vec<u8>>, PasswordError>> {
    let path = pty.slave_path.clone();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(prompt(&path, "/etc/x.encfs6.xml", confirm));
    });
    rx
}

#[test]
fn prompt_on_a_pty_hides_the_password_and_restores_echo() {
    let mut pty = Pty::new();
    assert!(pty.echo_is_on());
    let result = prompt_in_thread(&pty, true);
    // A confirmed prompt asks for a new password, in one sane line.
    pty.wait_for("New password for /etc/x.encfs6.xml: ");
    pty.type_text(b"s3cret\n");
    pty.wait_for("Verify password: ");
    pty.type_text(b"s3cret\n");
    let got = result
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(&*got, b"s3cret");
    pty.wait_for("\n");
    assert!(
        !pty.all.windows(6).any(|w| w == b"s3cret"),
        "password echoed"
    );
    assert!(pty.echo_is_on());

    let result = prompt_in_thread(&pty, true);
    pty.wait_for("New password for");
    pty.type_text(b"one\n");
    pty.wait_for("Verify password: ");
    pty.type_text(b"two\n");
    let got = result.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(got, Err(PasswordError::Mismatch)));
    assert!(pty.echo_is_on());
}

#[test]
fn prompt_ctrl_c_cancels_and_restores_echo() {
    let mut pty = Pty::new();
    let result = prompt_in_thread(&pty, false);
    pty.wait_for("Password for");
    pty.type_text(b"half\x03");
    let got = result.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(got, Err(PasswordError::Interrupted)));
    assert!(pty.echo_is_on());
}
