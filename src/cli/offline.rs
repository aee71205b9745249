//! Options of the offline subcommands: init, info, passwd, encode, decode.

use std::path::PathBuf;

use clap::Args;

use super::options::{ConfigArgs, PasswordArgs};
use super::volume::VolumeArgs;
use crate::init::MIN_KDF_ITERATIONS;

/// `encmount init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub volume: VolumeArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Where to write the config (a directory means DIR/.encfs6.xml)
    #[arg(allow_hyphen_values = true)]
    pub config: PathBuf,
}

/// `encmount info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A config file, or a volume root to look up as encfs does
    #[arg(allow_hyphen_values = true)]
    pub config: PathBuf,
}

/// `encmount passwd`.
#[derive(Args, Debug)]
pub struct PasswdArgs {
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Read the new password from the first line of FILE
    #[arg(
        long,
        value_name = "FILE",
        group = "new_password",
        allow_hyphen_values = true
    )]
    pub new_password_file: Option<PathBuf>,
    /// Read the new password as one line from standard input (after the old one, if --stdinpass)
    #[arg(long, group = "new_password")]
    pub new_stdinpass: bool,
    /// Run COMMAND with `sh -c`; the first line it prints is the new password
    #[arg(long, value_name = "COMMAND", group = "new_password")]
    pub new_extpass: Option<String>,
    /// Re-time PBKDF2 to MS milliseconds (default: the config's desiredKDFDuration)
    #[arg(long, value_name = "MS", conflicts_with = "kdf_iterations")]
    pub kdf_ms: Option<u32>,
    /// Use exactly N PBKDF2 iterations
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(i64::from(MIN_KDF_ITERATIONS)..))]
    pub kdf_iterations: Option<u32>,
    /// The config file, or a volume root holding .encfs6.xml
    #[arg(allow_hyphen_values = true)]
    pub config: PathBuf,
}

/// `encmount encode` and `decode`.
#[derive(Args, Debug)]
pub struct CodecArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// The volume root (where .encfs6.xml is looked up; default: current directory)
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub root: Option<PathBuf>,
    /// Separate paths by NUL, not newline, on standard input and output, unescaped
    #[arg(
        short = '0',
        long = "null",
        long_help = "Separate the paths by NUL bytes instead of newlines, on \
            standard input and on standard output, and print names exactly as \
            they are. Without it, each output path is one line, with control \
            characters, backslashes and bytes that are not UTF-8 escaped \
            (\\n, \\t, \\\\, \\xNN), so that a name holding a newline or \
            an escape sequence cannot break lines or the terminal."
    )]
    pub null: bool,
    /// Paths relative to the volume root (default: one per line on standard input)
    #[arg(
        value_name = "PATH",
        allow_hyphen_values = true,
        long_help = "Paths relative to the volume root (default: read from \
            standard input, one per line, or NUL-separated with -0). A path \
            may begin with `-` (cipher names do): it is still a path, unless \
            it is one of the options above."
    )]
    pub paths: Vec<PathBuf>,
}
