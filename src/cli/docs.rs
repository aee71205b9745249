//! `encmount generate-docs DIR` (hidden): the man pages and the bash
//! completion, generated from the clap definitions, for the Debian package.
//! The generated files are committed under `packaging/`;
//! `tests/package.rs` regenerates them and fails if they differ.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, Command};
use clap_complete::Shell;

/// Arguments of the hidden `generate-docs` subcommand.
#[derive(Args, Debug)]
pub struct DocsArgs {
    /// Directory to write man/*.8 and completion/encmount into
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The man page section (system administration commands).
const SECTION: &str = "8";

/// Writes `DIR/man/encmount.8`, `DIR/man/encmount-SUB.8` for each visible
/// subcommand, and `DIR/completion/encmount` (bash).
pub fn generate(a: &DocsArgs) -> Result<(), DocsError> {
    let mut cmd = super::command();
    cmd.build();
    let man = a.dir.join("man");
    let completion = a.dir.join("completion");
    for d in [&man, &completion] {
        fs::create_dir_all(d).map_err(|e| DocsError::new("create", d, e))?;
    }
    write_page(&man.join("encmount.8"), cmd.clone())?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("encmount-{}", sub.get_name());
        let page = sub.clone().display_name(&name);
        write_page(&man.join(format!("{name}.8")), page)?;
    }
    let mut bash = Vec::new();
    clap_complete::generate(Shell::Bash, &mut cmd, "encmount", &mut bash);
    let file = completion.join("encmount");
    fs::write(&file, bash).map_err(|e| DocsError::new("write", &file, e))
}

fn write_page(file: &Path, cmd: Command) -> Result<(), DocsError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section(SECTION)
        .manual("System Administration")
        .source(concat!("encmount ", env!("CARGO_PKG_VERSION")))
        .render(&mut out)
        .map_err(|e| DocsError::new("render", file, e))?;
    fs::write(file, out).map_err(|e| DocsError::new("write", file, e))
}

/// A file of the docs that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what} {}", path.display())]
pub struct DocsError {
    what: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl DocsError {
    fn new(what: &'static str, path: &Path, source: io::Error) -> Self {
        Self {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}
