//! Options of restore, verify, ls and cat.

use std::path::PathBuf;

use clap::Args;

use super::options::{ConfigArgs, PasswordArgs};

/// Where the backup comes from.
#[derive(Args, Debug, Clone, Default)]
#[group(id = "archive", multiple = false)]
pub struct SourceArgs {
    /// Read the ciphertext from a tar archive (`-`: standard input)
    #[arg(
        long,
        value_name = "FILE",
        long_help = "Read the ciphertext from a POSIX/GNU tar archive (pax \
            headers, long names and GNU sparse members are understood), such \
            as `BackupPC_tarCreate` writes; `-` reads standard input, so \
            `ssh backup BackupPC_tarCreate … | encmount restore --tar - DEST` \
            needs no space for the ciphertext. The volume config is the \
            archive's own .encfs6.xml unless --config (or $ENCFS6_CONFIG) \
            is given. Without --tar and --zip the first argument is the \
            cipher directory."
    )]
    pub tar: Option<PathBuf>,
    /// Read the ciphertext from a zip file (BackupPC's zip download)
    #[arg(long, value_name = "FILE")]
    pub zip: Option<PathBuf>,
    /// PATHs are cipher paths (relative to the cipher root), not plaintext
    #[arg(long)]
    pub cipher_paths: bool,
}

/// What restore, verify and ls read: the backup, its volume config and
/// the password.
#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// `encmount restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub backup: BackupArgs,
    /// Restore into a non-empty DEST, replacing files in the way
    #[arg(long)]
    pub force: bool,
    /// A file that goes bad part way is not kept at all (no NAME.partial-BYTES)
    #[arg(long)]
    pub strict: bool,
    /// No progress display on a terminal
    #[arg(short, long)]
    pub quiet: bool,
    /// [CIPHERDIR] DEST [PATH…]: PATHs are plaintext paths or gitignore-style patterns
    #[arg(value_name = "ARGS", required = true, num_args = 1.., allow_hyphen_values = true)]
    pub args: Vec<PathBuf>,
}

/// `encmount verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub backup: BackupArgs,
    /// No progress display on a terminal
    #[arg(short, long)]
    pub quiet: bool,
    /// [CIPHERDIR] [PATH…]: the cipher directory (unless --tar/--zip), then what to check
    #[arg(value_name = "ARGS", allow_hyphen_values = true)]
    pub args: Vec<PathBuf>,
}

/// `encmount ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    #[command(flatten)]
    pub backup: BackupArgs,
    /// Type, mode, owner, size, mtime (UTC) and link target, like `tar -tv`
    #[arg(short, long)]
    pub long: bool,
    /// One JSON object a line: path, type, size, mode, uid, gid, mtime, target
    #[arg(long, conflicts_with = "long")]
    pub json: bool,
    /// [CIPHERDIR] [PATH…]: the cipher directory (unless --tar/--zip), then what to list
    #[arg(value_name = "ARGS", allow_hyphen_values = true)]
    pub args: Vec<PathBuf>,
}

/// `encmount cat`.
#[derive(Args, Debug)]
pub struct CatArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Print nothing unless the whole file decrypts (two passes)
    #[arg(
        long,
        long_help = "Print nothing unless the whole file decrypts: the file \
            is checked first, then printed. Without it, the good prefix of a \
            file that goes bad part way is printed, the offset is named and \
            the exit status is 1."
    )]
    pub strict: bool,
    /// The cipher directory (volume root)
    #[arg(allow_hyphen_values = true)]
    pub root: PathBuf,
    /// The file's cipher path, relative to ROOT (a plaintext path works too)
    #[arg(allow_hyphen_values = true)]
    pub path: PathBuf,
}
