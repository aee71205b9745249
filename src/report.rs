//! Printing an error for the user: its chain of causes on one line, each
//! cause once. Many messages already end with their cause ("cannot read
//! config X: No such file"), which `anyhow`'s `{:#}` would print again.
//! Writes never panic (a closed stderr is not worth a panic).
#![forbid(unsafe_code)]

use std::io::Write;

/// The error and its causes as one line: "a: b: c", leaving out a cause
/// whose text the line already holds.
pub fn error_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

/// Writes "encmount: LINE\n" to stderr, ignoring failures.
pub fn print_error(prefix: &str, line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{prefix}: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read config {path}: {source}")]
    struct Wrapping {
        path: String,
        source: io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let e = Wrapping {
            path: "/x".into(),
            source: io::Error::from_raw_os_error(libc::ENOTDIR),
        };
        let line = error_line(&e);
        assert_eq!(line, "cannot read config /x: Not a directory (os error 20)");
    }

    #[test]
    fn context_chains_keep_every_new_cause() {
        let inner = io::Error::from_raw_os_error(libc::ENOENT);
        let e = anyhow::Error::new(inner).context("source /srv/a");
        let line = error_line(e.as_ref());
        assert_eq!(
            line,
            "source /srv/a: No such file or directory (os error 2)"
        );
        let e = anyhow::Error::new(Wrapping {
            path: "/y".into(),
            source: io::Error::from_raw_os_error(libc::ENOTDIR),
        })
        .context("view docs");
        assert_eq!(
            error_line(e.as_ref()),
            "view docs: cannot read config /y: Not a directory (os error 20)"
        );
    }
}
