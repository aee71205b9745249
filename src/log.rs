//! Logging to syslog and stderr (design §7): facility daemon for the
//! manager and the views, auth for the shim.
//!
//! [`init`] opens the local syslog socket; without one, messages go to
//! stderr only, or, for a detached daemon, to the log file that
//! [`set_fallback_file`] names. The socket is non-blocking: a syslogd that
//! stopped reading costs a message, never a stuck daemon. Nothing here panics or reports a failure: a message that
//! cannot be written is dropped. The logger below is the crate's only
//! mutable `static` (style rule 7).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use syslog::{Formatter3164, Logger, LoggerBackend};

use crate::logfile::LogFile;

/// The syslog facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    /// The manager and the view daemons.
    Daemon,
    /// The rsync shim (an authorization decision).
    Auth,
    /// Interactive tools.
    User,
}

impl Facility {
    fn syslog(self) -> syslog::Facility {
        match self {
            Facility::Daemon => syslog::Facility::LOG_DAEMON,
            Facility::Auth => syslog::Facility::LOG_AUTH,
            Facility::User => syslog::Facility::LOG_USER,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Info,
    Warn,
    Error,
}

type Syslog = Logger<LoggerBackend, Formatter3164>;

struct State {
    ident: String,
    to_stderr: bool,
    syslog: Option<Syslog>,
    /// `None`: the system's usual sockets.
    socket: Option<PathBuf>,
    /// Where messages go when there is no syslog.
    file: Option<LogFile>,
}

impl State {
    /// Before [`init`]: stderr only, as "encmount: ...".
    const fn new() -> State {
        State {
            ident: String::new(),
            to_stderr: true,
            syslog: None,
            socket: None,
            file: None,
        }
    }

    fn ident(&self) -> &str {
        if self.ident.is_empty() {
            "encmount"
        } else {
            &self.ident
        }
    }

    fn emit(&mut self, level: Level, msg: &str) {
        if let Some(logger) = &mut self.syslog {
            // The pid as of now: daemons initialise before they fork.
            logger.formatter.pid = std::process::id();
            let text = escape_controls(msg);
            if send(logger, level, &text).is_err() {
                // syslogd restarted: reconnect once, else drop the message.
                let socket = self.socket.as_deref();
                if let Some(mut fresh) = connect(logger.formatter.clone(), socket) {
                    let _ = send(&mut fresh, level, &text);
                    *logger = fresh;
                }
            }
        } else if self.file.is_some() {
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            let ident = format!("{now} {}[{}]", self.ident(), std::process::id());
            if let Some(file) = &mut self.file {
                let _ = file.append(&format_line(&ident, msg));
            }
        }
        if self.to_stderr {
            let line = format_line(self.ident(), msg);
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

static LOGGER: Mutex<State> = Mutex::new(State::new());

/// The logger, even if a thread panicked while holding it.
fn state() -> MutexGuard<'static, State> {
    LOGGER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn send(logger: &mut Syslog, level: Level, text: &str) -> syslog::Result<()> {
    match level {
        Level::Info => logger.info(text),
        Level::Warn => logger.warning(text),
        Level::Error => logger.err(text),
    }
}

/// Connects to `socket`, or to the system's usual sockets (`/dev/log`, …).
fn connect(formatter: Formatter3164, socket: Option<&Path>) -> Option<Syslog> {
    let logger = match socket {
        Some(path) => syslog::unix_custom(formatter, path).ok(),
        None => syslog::unix(formatter).ok(),
    }?;
    let nonblocking = match &logger.backend {
        LoggerBackend::Unix(s) => s.set_nonblocking(true),
        LoggerBackend::UnixStream(s) => s.get_ref().set_nonblocking(true),
        _ => Ok(()),
    };
    nonblocking.ok().map(|()| logger)
}

fn formatter(ident: &str, facility: Facility) -> Formatter3164 {
    Formatter3164 {
        facility: facility.syslog(),
        // Local syslog adds the host name itself.
        hostname: None,
        process: ident.to_string(),
        pid: std::process::id(),
    }
}

/// Sets the program name and facility and opens syslog. A later call
/// replaces the earlier settings.
pub fn init(ident: &str, facility: Facility, to_stderr: bool) {
    init_at(ident, facility, to_stderr, None);
}

fn init_at(ident: &str, facility: Facility, to_stderr: bool, socket: Option<&Path>) {
    let syslog = connect(formatter(ident, facility), socket);
    let mut state = state();
    state.ident = ident.to_string();
    state.to_stderr = to_stderr;
    state.syslog = syslog;
    state.socket = socket.map(Path::to_path_buf);
}

/// Sends messages to the log file at `path` (rotated, see [`LogFile`]) if
/// there is no syslog; with syslog this does nothing. Returns the file
/// used, if any. Errors opening it are returned (the caller reports them
/// while it still has a stderr).
pub fn set_fallback_file(path: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut state = state();
    if state.syslog.is_some() {
        return Ok(None);
    }
    state.file = Some(LogFile::open(path)?);
    Ok(Some(path.to_path_buf()))
}

/// Whether messages reach syslog.
pub fn syslog_connected() -> bool {
    state().syslog.is_some()
}

/// Turns the stderr copy on or off (daemons turn it off after detaching).
pub fn set_stderr(on: bool) {
    state().to_stderr = on;
}

/// Logs at severity info.
pub fn info(msg: &str) {
    state().emit(Level::Info, msg);
}

/// Logs at severity warning.
pub fn warn(msg: &str) {
    state().emit(Level::Warn, msg);
}

/// Logs at severity err.
pub fn error(msg: &str) {
    state().emit(Level::Error, msg);
}

/// The stderr line for `msg`: "IDENT: msg\n", with control characters
/// escaped so a file name cannot forge or erase log lines.
pub fn format_line(ident: &str, msg: &str) -> String {
    format!("{ident}: {}\n", escape_controls(msg))
}

/// `msg` with control characters other than tab written as Rust escapes
/// (`\n`, `\u{1b}`).
fn escape_controls(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn format_line_prefixes_and_escapes() {
        assert_eq!(
            format_line("encmount", "mounted x"),
            "encmount: mounted x\n"
        );
        assert_eq!(
            format_line(
                "encmount-rsync",
                "refused: a\nencmount: forged\r\u{1b}[2K\tend"
            ),
            "encmount-rsync: refused: a\\nencmount: forged\\r\\u{1b}[2K\tend\n"
        );
        assert_eq!(format_line("e", "ünïcode ok"), "e: ünïcode ok\n");
    }

    #[test]
    fn no_syslog_socket_is_silent() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-log");
        assert!(connect(formatter("t", Facility::Daemon), Some(&missing)).is_none());
        let mut state = State {
            ident: "t".to_string(),
            to_stderr: false,
            syslog: None,
            socket: None,
            file: None,
        };
        state.emit(Level::Error, "nowhere to go");
    }

    #[test]
    fn syslog_gets_priority_ident_pid_and_escaped_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let syslog = connect(formatter("encmount-rsync", Facility::Auth), Some(&path));
        assert!(syslog.is_some());
        let mut state = State {
            ident: "encmount-rsync".to_string(),
            to_stderr: false,
            syslog,
            socket: Some(path.clone()),
            file: None,
        };
        state.emit(Level::Warn, "refused\nline");
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        // auth (4) * 8 + warning (4) = 36
        assert!(got.starts_with("<36>"), "{got}");
        let tail = format!(" encmount-rsync[{}]: refused\\nline", std::process::id());
        assert!(got.ends_with(&tail), "{got}");

        // The server goes away: the message is dropped, nothing panics.
        drop(server);
        state.emit(Level::Info, "lost");
        state.emit(Level::Error, "lost");
    }

    #[test]
    fn without_syslog_lines_go_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.log");
        let mut state = State {
            ident: "encmount".to_string(),
            to_stderr: false,
            syslog: None,
            socket: None,
            file: Some(LogFile::open(&path).unwrap()),
        };
        state.emit(Level::Warn, "3 names were left out\nforged");
        let text = std::fs::read_to_string(&path).unwrap();
        let tail = format!(
            " encmount[{}]: 3 names were left out\\nforged\n",
            std::process::id()
        );
        assert!(text.ends_with(&tail), "{text}");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn a_full_syslog_socket_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        // A server that never reads: its queue fills up.
        let _server = UnixDatagram::bind(&path).unwrap();
        let syslog = connect(formatter("t", Facility::Daemon), Some(&path));
        let mut state = State {
            ident: "t".to_string(),
            to_stderr: false,
            syslog,
            socket: Some(path.clone()),
            file: None,
        };
        let big = "x".repeat(4000);
        for _ in 0..2000 {
            state.emit(Level::Info, &big);
        }
    }

    #[test]
    fn global_logger_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        init_at("t", Facility::User, false, Some(&dir.path().join("none")));
        info("i");
        warn("w");
        error("e");
        set_stderr(false);
        init_at("t", Facility::Daemon, false, Some(&dir.path().join("none")));
        info("i");
    }
}
