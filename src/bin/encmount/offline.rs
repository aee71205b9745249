//! The offline subcommands: init, info, passwd, encode, decode (restore,
//! verify, ls and cat are in restore.rs). None of them needs FUSE.

use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::out::out;
use anyhow::{Result, bail};
use encmount::cli::offline::{CodecArgs, InfoArgs, InitArgs, PasswdArgs};
use encmount::cli::options::{ConfigArgs, PasswordArgs};
use encmount::configfile::{self, WriteMode, describe};
use encmount::escape::escape_name;
use encmount::init::{self, DEFAULT_KDF_MS, new_kdf};
use encmount::volume::{ConfigFormat, Kdf};

pub fn init(a: &InitArgs) -> Result<()> {
    let path = init::config_path(&a.config);
    let password = a.password.source(path.parent(), true);
    init::create_config(&path, &a.volume.new_volume(), &password)?;
    let config = configfile::load(&configfile::Located {
        path: path.clone(),
        format: ConfigFormat::V6,
    })?;
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "encmount: created {}", path.display());
    let _ = write!(err, "{}", describe(&path, &config));
    let _ = writeln!(
        err,
        "encmount: keep a copy of this config and its password apart from the \
         backups; without both, the backups cannot be decrypted."
    );
    Ok(())
}

pub fn info(a: &InfoArgs) -> Result<()> {
    let cfg_args = ConfigArgs {
        config: (!a.config.is_dir()).then(|| a.config.clone()),
    };
    let root = a.config.is_dir().then_some(a.config.as_path());
    let (located, config) = cfg_args.load(root)?;
    out!("{}", describe(&located.path, &config))?;
    Ok(())
}

pub fn passwd(a: &PasswdArgs) -> Result<()> {
    let (cfg_args, root) = if a.config.is_dir() {
        (ConfigArgs::default(), Some(a.config.as_path()))
    } else {
        (
            ConfigArgs {
                config: Some(a.config.clone()),
            },
            None,
        )
    };
    let opened = cfg_args.open(root, &a.password)?;
    if opened.config.format != ConfigFormat::V6 {
        bail!(
            "{} is an old {:?} config; encmount changes passwords of V6 configs only",
            opened.path.display(),
            opened.config.format
        );
    }
    let new = PasswordArgs {
        password_file: a.new_password_file.clone(),
        stdinpass: a.new_stdinpass,
        extpass: a.new_extpass.clone(),
        extpass_timeout: a.password.extpass_timeout,
    };
    let what = opened.path.display().to_string();
    let new_password = new.read(opened.path.parent(), &what, true)?;
    let default_ms = match &opened.config.kdf {
        Kdf::Pbkdf2 { desired_ms, .. } => *desired_ms,
        Kdf::Legacy => DEFAULT_KDF_MS,
    };
    let kdf = new_kdf(a.kdf_ms, a.kdf_iterations, default_ms)?;
    let mut config = opened
        .volume
        .to_config(&opened.config.creator, new_password.expose(), kdf)?;
    config.creator = opened.config.creator.clone();
    configfile::write(&opened.path, &config, WriteMode::Replace)?;
    encmount::report::print_error(
        "encmount",
        &format!("password of {} changed", opened.path.display()),
    );
    Ok(())
}

/// `encode` (plain -> cipher) or `decode` (cipher -> plain).
pub fn codec(a: &CodecArgs, encode: bool) -> Result<()> {
    let root = a.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let opened = a.config.open(Some(&root), &a.password)?;
    let vol = &opened.volume;
    let mut paths: Vec<Vec<u8>> = a
        .paths
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    let sep = if a.null { b'\0' } else { b'\n' };
    if a.paths.is_empty() {
        for line in io::stdin().lock().split(sep) {
            paths.push(line?);
        }
    }
    let mut out = io::stdout().lock();
    let mut failed = 0;
    for p in paths {
        let result = if encode {
            Ok(match p.strip_prefix(b"/") {
                // An absolute path is a symlink target (format §6.8).
                Some(_) => vol.encode_link(&p),
                None => vol.encode_path(&p).0,
            })
        } else if p.starts_with(b"+") {
            vol.decode_link(&p)
        } else {
            vol.decode_path(&p).map(|(d, _)| d)
        };
        match result {
            Ok(text) if a.null => {
                out.write_all(&text)?;
                out.write_all(b"\0")?;
            }
            Ok(text) => {
                out.write_all(&escape_name(&text))?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                failed += 1;
                encmount::report::print_error(
                    "encmount",
                    &format!(
                        "cannot {} {}: {e}",
                        if encode { "encode" } else { "decode" },
                        String::from_utf8_lossy(&escape_name(&p))
                    ),
                );
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!(
            "{failed} path(s) did not decode (wrong password, or not a full path from the root?)"
        );
    }
    Ok(())
}
