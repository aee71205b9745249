//! `restore`, `verify`, `ls` and `cat`: a backup (cipher directory, tar
//! stream or zip file) back to plaintext. The work is in the library's
//! `restore` module; this file parses, unlocks and prints.

use std::ffi::OsStr;
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use encmount::configfile;
use encmount::restore::select::Selector;
use encmount::restore::source::{DirSource, Source, TarSource, ZipSource};
use encmount::restore::unlock::{UnlockError, Unlocker};
use encmount::restore::{self, Key, Options, Report, RestoreError, list};

use encmount::cli::restore::{BackupArgs, CatArgs, LsArgs, RestoreArgs, VerifyArgs};

/// A source opened: the source, its cipher directory (if one), the other arguments.
type Opened<'p> = (Box<dyn Source>, Option<PathBuf>, &'p [PathBuf]);

/// Opens the source; `args` are the positionals, of which the first is
/// the cipher directory unless an archive was named. Returns the source,
/// the cipher directory (if any) and the rest.
fn open_source<'p>(b: &BackupArgs, args: &'p [PathBuf], progress: bool) -> Result<Opened<'p>> {
    let src = &b.source;
    if let Some(t) = &src.tar {
        return Ok((Box::new(TarSource::open(t)?), None, args));
    }
    if let Some(z) = &src.zip {
        return Ok((Box::new(ZipSource::open(z)?), None, args));
    }
    let Some((dir, rest)) = args.split_first() else {
        bail!(clap_usage("give the cipher directory, or --tar/--zip"));
    };
    Ok((
        Box::new(DirSource::new(dir, progress)),
        Some(dir.clone()),
        rest,
    ))
}

fn selector(b: &BackupArgs, paths: &[PathBuf]) -> Result<Selector> {
    Ok(if b.source.cipher_paths {
        Selector::cipher(paths)
    } else {
        Selector::plain(paths)?
    })
}

fn clap_usage(msg: &str) -> clap::Error {
    let kind = clap::error::ErrorKind::MissingRequiredArgument;
    encmount::cli::usage_error("", kind, msg.into())
}

/// Finds and unlocks the volume of a source (see `restore::unlock`).
fn unlock(
    b: &BackupArgs,
    src: &mut dyn Source,
    dir: Option<&Path>,
) -> Result<Unlocker, UnlockError> {
    let password = |root: Option<&Path>| b.password.source(root, false);
    restore::unlock::unlock(b.config.config.as_deref(), &password, src, dir)
}

/// Runs `f` with the key `u` gives.
fn with_key<T>(
    u: &Unlocker,
    b: &BackupArgs,
    f: impl FnOnce(Key<'_>) -> Result<T, RestoreError>,
) -> Result<T, RestoreError> {
    restore::unlock::with_key(u, &b.password.source(None, false), f)
}

fn check_stdin(b: &BackupArgs) -> Result<()> {
    if b.source.tar.as_deref() == Some(Path::new("-")) && b.password.stdinpass {
        bail!(clap_usage(
            "--tar - reads the archive from standard input: give the password with --password-file or --extpass"
        ));
    }
    Ok(())
}

pub fn restore_cmd(a: &RestoreArgs) -> Result<()> {
    check_stdin(&a.backup)?;
    let progress = !a.quiet && io::stderr().is_terminal();
    let (mut src, dir, rest) = open_source(&a.backup, &a.args, progress)?;
    let Some((dest, paths)) = rest.split_first() else {
        bail!(clap_usage("give DEST, the directory to restore into"));
    };
    let dest = std::path::absolute(dest).with_context(|| format!("bad path {}", dest.display()))?;
    if let Some(d) = &dir {
        restore::check_not_nested(d, &dest)?;
    }
    let opts = Options {
        force: a.force,
        owners: nix::unistd::geteuid().is_root(),
        strict: a.strict,
        progress,
        select: selector(&a.backup, paths)?,
    };
    let key = unlock(&a.backup, src.as_mut(), dir.as_deref())?;
    let report = with_key(&key, &a.backup, |k| {
        restore::run(src.as_mut(), k, Some(&dest), &opts)
    })?;
    summarize("restored", &report, Some(&dest))
}

pub fn verify(a: &VerifyArgs) -> Result<()> {
    check_stdin(&a.backup)?;
    let progress = !a.quiet && io::stderr().is_terminal();
    let (mut src, dir, paths) = open_source(&a.backup, &a.args, progress)?;
    let opts = Options {
        progress,
        select: selector(&a.backup, paths)?,
        ..Default::default()
    };
    let key = unlock(&a.backup, src.as_mut(), dir.as_deref())?;
    let report = with_key(&key, &a.backup, |k| {
        restore::run(src.as_mut(), k, None, &opts)
    })?;
    summarize("verified", &report, None)
}

pub fn ls(a: &LsArgs) -> Result<()> {
    check_stdin(&a.backup)?;
    let (mut src, dir, paths) = open_source(&a.backup, &a.args, false)?;
    let select = selector(&a.backup, paths)?;
    let key = unlock(&a.backup, src.as_mut(), dir.as_deref())?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let format: fn(&list::Listed) -> String = if a.json {
        list::json
    } else if a.long {
        list::long
    } else {
        list::short
    };
    let report = with_key(&key, &a.backup, |k| {
        restore::list(src.as_mut(), k, &select, &mut |e| {
            writeln!(out, "{}", format(&e))
        })
    })?;
    out.flush()?;
    for p in &report.problems {
        encmount::report::print_error("encmount", &p.to_string());
    }
    if !report.problems.is_empty() {
        bail!(
            "{} entries could not be listed (above)",
            report.problems.len()
        );
    }
    Ok(())
}

pub fn cat(a: &CatArgs) -> Result<()> {
    let opened = a.config.open(Some(&a.root), &a.password)?;
    let vol = &opened.volume;
    let given = a.path.as_os_str().as_bytes();
    let (cipher_rel, name_iv) = match vol.decode_path(given) {
        Ok((_, iv)) => (given.to_vec(), iv),
        Err(e) => {
            let (enc, iv) = vol.encode_path(given);
            if !a.root.join(OsStr::from_bytes(&enc)).exists() {
                bail!(
                    "{}: not a cipher path of this volume ({e})",
                    a.path.display()
                );
            }
            (enc, iv)
        }
    };
    let path = a.root.join(std::ffi::OsString::from_vec(cipher_rel));
    let open = || {
        configfile::open_nofollow(&path).with_context(|| format!("cannot open {}", path.display()))
    };
    let mut file = open()?;
    let len = file.metadata()?.len();
    let mut buf = restore::decrypt_buffer(vol);
    if a.strict {
        restore::decrypt_stream(vol, &mut file, len, name_iv, &mut buf, &mut |_, _| Ok(()))
            .map_err(|e| anyhow::anyhow!("{}: {e} (nothing printed)", a.path.display()))?;
        file = open()?;
    }
    let mut out = io::stdout().lock();
    let result = restore::decrypt_stream(vol, &mut file, len, name_iv, &mut buf, &mut |data, _| {
        out.write_all(data)
    });
    out.flush()?;
    match result {
        Ok(_) => Ok(()),
        Err(restore::DecryptError::Write(e)) => Err(e.into()),
        Err(e) => bail!(
            "{}: {e}; the first {} bytes were printed",
            a.path.display(),
            e.good()
        ),
    }
}

fn summarize(verb: &str, r: &Report, dest: Option<&Path>) -> Result<()> {
    for p in &r.problems {
        encmount::report::print_error("encmount", &p.to_string());
    }
    let _ = writeln!(
        io::stderr().lock(),
        "encmount: {verb} {} files ({:.1} MiB), {} directories, {} symlinks, {} special files, {} hard links{} in {:.1} s{}, {} problems",
        r.files,
        r.bytes as f64 / 1048576.0,
        r.dirs,
        r.symlinks,
        r.specials,
        r.hard_links,
        if r.partial > 0 {
            format!(", {} kept in part", r.partial)
        } else {
            String::new()
        },
        r.elapsed.as_secs_f64(),
        dest.map(|d| format!(" into {}", d.display()))
            .unwrap_or_default(),
        r.problems.len()
    );
    if !r.problems.is_empty() {
        bail!("{} entries failed (listed above)", r.problems.len());
    }
    Ok(())
}
