//! `encmount`: encrypted views for pull backups, and the tools to restore
//! them. The subcommands live in their own modules; this file is the clap
//! tree, dispatch and exit codes.

mod args;
mod manager;
mod mount;
mod offline;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
EXIT STATUS:
    0  success
    1  failure (wrong password, bad config, entries that could not be
       restored or verified, ...); the reason is printed on stderr
    2  usage error (bad options, or an option the mode does not take)

ENVIRONMENT:
    ENCFS6_CONFIG   volume config to use when --config is not given
    ENCFS5_CONFIG   old V5 config, looked up after ROOT/.encfs6.xml
    ENCMOUNT_CONFIG, ENCMOUNT_RUN_DIR
                    the manager's yaml and state directory (default
                    /etc/encmount/encmount.yaml, /run/encmount); ignored
                    under sudo

The on-disk format is EncFS V6: stock encfs/encfsctl 1.9.5 read every
volume encmount makes, and encmount reads every AES volume encfs makes.";

/// Encrypted views of directories for pull backups (EncFS V6 format).
#[derive(Parser, Debug)]
#[command(
    name = "encmount",
    version,
    about,
    long_about = "encmount shows a plaintext directory as a read-only, encrypted \
        view (names and contents encrypted, EncFS V6 format), so that a backup \
        server pulling it with rsync only ever sees ciphertext. It also restores \
        such backups, with or without FUSE.",
    after_long_help = AFTER_HELP,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new volume config (.encfs6.xml) with a fresh random key
    #[command(
        long_about = "Create a new volume config with a fresh random key, wrapped \
            under a password. The config is what `mount --reverse` and the \
            manager use, and what a restore needs: keep a copy apart from the \
            backups. An existing file is never overwritten.",
        after_long_help = "EXAMPLES:\n    encmount init --password-file /etc/encmount/docs.pass /etc/encmount/docs.encfs6.xml\n    encmount init --preset standard --kdf-ms 500 /srv/plain/.encfs6.xml"
    )]
    Init(offline::InitArgs),
    /// Show the parameters of a volume config (no password needed)
    Info(offline::InfoArgs),
    /// Change the password of a volume config (the key and data stay the same)
    #[command(
        long_about = "Re-wrap the volume key under a new password, with a new salt \
            and re-timed PBKDF2, and replace the config file atomically. The \
            volume key, and so every encrypted byte, stays the same.",
        after_long_help = "EXAMPLE:\n    printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | encmount passwd --stdinpass --new-stdinpass CONFIG"
    )]
    Passwd(offline::PasswdArgs),
    /// Encrypt plaintext paths into cipher paths (like encfsctl encode)
    Encode(offline::CodecArgs),
    /// Decrypt cipher paths into plaintext paths (like encfsctl decode)
    #[command(
        long_about = "Decrypt cipher paths, relative to the volume root, into \
            plaintext paths. With chained name IVs give full paths from the root. \
            A path starting with `+` is an encrypted absolute symlink target."
    )]
    Decode(offline::CodecArgs),
    /// Print the plaintext of one cipher file
    Cat(offline::CatArgs),
    /// Decrypt a cipher tree (a backup) into a directory, without FUSE
    #[command(
        long_about = "Decrypt a cipher tree — a backup of an encrypted view, or an \
            encfs directory — into DEST, with modes, owners (as root), times, \
            symlinks, hard links and special files. Every entry that cannot be \
            decrypted (bad name, MAC failure, truncated file) is reported and \
            the exit status is 1; such a file is not written at all.",
        after_long_help = "EXAMPLES:\n    encmount restore --config docs.encfs6.xml /backup/docs /tmp/docs\n    encmount restore -c docs.encfs6.xml /backup/docs /tmp/one 'm,ugBgnCkbzCUpx-ud3nwzIF'"
    )]
    Restore(offline::RestoreArgs),
    /// Check a cipher tree: decrypt everything to nowhere and report problems
    Verify(offline::VerifyArgs),
    /// Mount a read-only view: encrypted (--reverse) or decrypted
    #[command(
        long_about = "Mount a read-only view. With --reverse, SOURCE is a plaintext \
            directory shown encrypted (EncFS V6: stock encfs decrypts a copy of \
            it); the volume config is looked up as encfs does and created at \
            SOURCE/.encfs6.xml if there is none. Without --reverse, SOURCE is a \
            cipher directory (for instance a restored backup) shown decrypted. \
            The command returns once the view is live, unless --foreground.",
        after_long_help = "EXAMPLES:\n    encmount mount --reverse --config /etc/encmount/docs.encfs6.xml \\\n        --password-file /etc/encmount/docs.pass --allow-user backuppc /home/walter/Documents /srv/encmount/docs\n    encmount umount /srv/encmount/docs"
    )]
    Mount(mount::MountArgs),
    /// Unmount a view
    Umount(mount::UmountArgs),
    /// Mount the views of /etc/encmount/encmount.yaml (detached daemons)
    #[command(
        long_about = "Mount views defined in the manager's yaml, each served by \
            its own detached daemon, and wait until each is live. A healthy view \
            is left alone; a stale one (its daemon is gone: \"transport endpoint \
            is not connected\") is cleaned and remounted. Safe to run \
            concurrently. State is kept in /run/encmount/.",
        after_long_help = "EXAMPLES:\n    encmount up --all\n    encmount up documents\n    encmount up documents --foreground    # in encmount@documents.service"
    )]
    Up(manager::UpArgs),
    /// Unmount views of the manager's yaml
    #[command(
        long_about = "Unmount views defined in the manager's yaml and wait for \
            their daemons to end. A view in use is an error naming it, unless \
            --lazy. A stale view is cleaned.",
        after_long_help = "EXAMPLES:\n    encmount down --all\n    encmount down --lazy documents"
    )]
    Down(manager::DownArgs),
    /// Show the views of the manager's yaml: mounted, healthy, last access
    Status(manager::StatusArgs),
    /// Validate the manager's yaml, volume configs, passwords and sources
    #[command(
        long_about = "Validate the manager's yaml and, for each view, its volume \
            config, its password source (a password_file must be root-owned and \
            mode 0600; a password_command must print a line) and that the \
            password opens the config. Then walk each source as its view \
            would: names longer than EncFS allows (stored under a short name \
            plus a side entry, see the README's Long names) are listed as \
            notes; a long name whose short name another entry has, and a \
            cipher path longer than 4096 bytes (rsync cannot copy it), are \
            problems. Exit status 0 only when there are no problems."
    )]
    Check(manager::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Init(a) => offline::init(a),
        Command::Info(a) => offline::info(a),
        Command::Passwd(a) => offline::passwd(a),
        Command::Encode(a) => offline::codec(a, true),
        Command::Decode(a) => offline::codec(a, false),
        Command::Cat(a) => offline::cat(a),
        Command::Restore(a) => offline::restore_cmd(a),
        Command::Verify(a) => offline::verify(a),
        Command::Mount(a) => mount::mount(a),
        Command::Umount(a) => mount::umount(a),
        Command::Up(a) => manager::up(a),
        Command::Down(a) => manager::down(a),
        Command::Status(a) => manager::status(a),
        Command::Check(a) => manager::check(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            if let Some(usage) = e.downcast_ref::<clap::Error>() {
                // Found after parsing (an option that needs another): exit 2.
                usage.exit();
            }
            eprintln!("encmount: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `encmount cat … | head` ends quietly, as ripgrep does.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
