//! The command line of `encmount`: the clap definitions of every
//! subcommand, in the library so that the manager's argv
//! ([`crate::viewspec`]), the man pages ([`docs`]) and tests read the same
//! definitions the binary parses. `src/bin/encmount` parses with these and
//! runs the subcommands.

pub mod docs;
pub mod manager;
pub mod mount;
pub mod offline;
pub mod options;
pub mod restore;
pub mod volume;

use clap::{CommandFactory, Parser, Subcommand};

const AFTER_HELP: &str = "\
EXIT STATUS:
    0  success
    1  failure (wrong password, bad config, entries that could not be
       restored or verified, ...); the reason is printed on stderr
    2  usage error (bad options, or an option the mode does not take)

ENVIRONMENT:
    ENCFS6_CONFIG   volume config to use when --config is not given
    ENCFS5_CONFIG   old V5 config, looked up after ROOT/.encfs6.xml
    ENCMOUNT_YAML, ENCMOUNT_RUN_DIR
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
pub struct Cli {
    /// The subcommand and its options.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
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
    #[command(
        long_about = "Print the plaintext of one cipher file. A file that goes bad \
            part way (a block failing its MAC, a truncated copy) has its good \
            prefix printed, then the offset is named and the exit status is 1; \
            --strict prints nothing unless the whole file is good."
    )]
    Cat(restore::CatArgs),
    /// Decrypt a backup (cipher directory, tar stream or zip) into a directory
    #[command(
        long_about = "Decrypt a backup into DEST without FUSE: a cipher directory \
            (a backup of an encrypted view, or an encfs directory), a tar archive \
            (--tar FILE, or --tar - for a stream such as BackupPC_tarCreate's) or \
            a zip file (--zip). Modes, owners (as root), times (ns where the \
            source has them), symlinks, hard links, special files and holes are \
            restored.\n\n\
            PATHs select what to restore, as plaintext paths relative to the \
            view's root or gitignore-style patterns (`docs/report.txt`, `*.pdf`, \
            `/top-level-only`, `photos/2024/`); a selected directory brings its \
            subtree, and a long name is selected by its full name, as `ls` \
            shows it. A PATH that selects nothing is named, and the exit \
            status is 1. With --cipher-paths they are cipher paths, as \
            before.\n\n\
            Every entry that cannot be restored (undecodable name, MAC failure, \
            truncated member, a member path with `..` or a leading `/`, a symlink \
            in the way in DEST) is named on one line and the exit status is 1; \
            everything good is still restored, and nothing is ever written \
            outside DEST (paths in DEST are walked without following symlinks). \
            A file that goes bad part way keeps its good prefix beside it as \
            NAME.partial-BYTES, BYTES being the number of good bytes; nothing \
            wrong is left under NAME itself. --strict keeps no partial files. \
            A DEST inside the cipher directory, or the other way round, is \
            refused.",
        after_long_help = "EXAMPLES:\n    encmount restore --config docs.encfs6.xml /backup/docs /tmp/docs\n    ssh backup 'BackupPC_tarCreate -h host -n -1 -s /srv/encmount/docs .' |\n        encmount restore --password-file docs.pass --tar - /tmp/docs\n    encmount restore --zip docs.zip /tmp/one 'reports/2024/*.pdf'\n    encmount restore --cipher-paths -c docs.encfs6.xml /backup/docs /tmp/one 'm,ugBgnCkbzCUpx-ud3nwzIF'"
    )]
    Restore(restore::RestoreArgs),
    /// Check a backup: decrypt everything to nowhere and report problems
    #[command(
        long_about = "Check a backup (a cipher directory, --tar FILE|- or --zip \
            FILE) by decrypting every name, link and block to nowhere. Exit \
            status 0 only when everything decrypts; each problem is named on \
            one line. PATHs select as for restore.",
        after_long_help = "EXAMPLE:\n    ssh backup 'BackupPC_tarCreate -h host -n -1 -s /srv/encmount/docs .' |\n        encmount verify --password-file docs.pass --tar -"
    )]
    Verify(restore::VerifyArgs),
    /// List a backup's plaintext names without restoring it (like tar -tv)
    #[command(
        long_about = "List the plaintext names of a backup (a cipher directory, \
            --tar FILE|- or --zip FILE) without restoring it: one path a line, \
            --long for type, mode, owner, size, mtime (UTC) and link targets, \
            --json for one JSON object a line. Control characters and bytes \
            that are not UTF-8 are escaped (\\n, \\xff). PATHs select as \
            for restore."
    )]
    Ls(restore::LsArgs),
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
    /// Write the man pages and the bash completion into DIR (packaging)
    #[command(hide = true)]
    GenerateDocs(docs::DocsArgs),
}

/// The whole `encmount` command, as clap builds it.
pub fn command() -> clap::Command {
    Cli::command()
}

/// A usage error of subcommand `sub`, in clap's format and with its exit
/// status (2).
pub fn usage_error(sub: &str, kind: clap::error::ErrorKind, msg: String) -> clap::Error {
    let mut cli = command();
    cli.build();
    match cli.find_subcommand_mut(sub) {
        Some(s) => s.error(kind, msg),
        None => cli.error(kind, msg),
    }
}
