//! Everything the commands print on stdout goes through here, so that a
//! closed pipe (`encmount … | head`) is an `io::Error` of kind
//! `BrokenPipe`, which `main` ends quietly with exit 0, instead of the
//! panic of `println!`.

use std::fmt;
use std::io::{self, Write};

/// Writes `args` to stdout and flushes.
pub fn print(args: fmt::Arguments) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()
}

/// `println!` that returns the write's `io::Result`.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::out::print(format_args!("{}\n", format_args!($($t)*)))
    };
}

/// `print!` that returns the write's `io::Result`.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::out::print(format_args!($($t)*))
    };
}

pub(crate) use {out, outln};
