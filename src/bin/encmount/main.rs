//! `encmount`: encrypted views for pull backups, and the tools to restore
//! them. The clap definitions are the library's (`encmount::cli`); the
//! subcommands live in their own modules; this file is dispatch and exit
//! codes.

mod manager;
mod mount;
mod offline;
mod out;
mod restore;

use std::process::ExitCode;

use clap::Parser;
use encmount::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Init(a) => offline::init(a),
        Command::Info(a) => offline::info(a),
        Command::Passwd(a) => offline::passwd(a),
        Command::Encode(a) => offline::codec(a, true),
        Command::Decode(a) => offline::codec(a, false),
        Command::Cat(a) => restore::cat(a),
        Command::Restore(a) => restore::restore_cmd(a),
        Command::Verify(a) => restore::verify(a),
        Command::Ls(a) => restore::ls(a),
        Command::Mount(a) => mount::mount(a),
        Command::Umount(a) => mount::umount(a),
        Command::Up(a) => manager::up(a),
        Command::Down(a) => manager::down(a),
        Command::Status(a) => manager::status(a),
        Command::Check(a) => manager::check(a),
        Command::GenerateDocs(a) => encmount::cli::docs::generate(a).map_err(Into::into),
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
            let line = encmount::report::error_line(e.as_ref());
            encmount::report::print_error("encmount", &line);
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
