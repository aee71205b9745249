//! `encmount check` (design §7): everything that would stop a view from
//! working, found before it is mounted: its volume config, its password
//! source (and that the password opens the config), and the source files
//! that cannot be shown because their encrypted names would be too long.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::config::{PasswordSpec, View};
use super::health::{Health, probe};
use super::paths::Paths;
use crate::configfile::{self, V6_NAME};
use crate::excludes::Excludes;
use crate::password::{self, PasswordSource};
use crate::volume::names::NAME_MAX;

/// The most unrepresentable names listed per view.
pub const MAX_LISTED: usize = 1000;

/// One thing `check` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The view.
    pub view: String,
    /// A problem (check fails) or just a note.
    pub problem: bool,
    /// What was found.
    pub message: String,
}

/// Checks one view; an empty list or notes only means it is fine.
pub fn check_view(view: &View, paths: &Paths) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut say = |problem: bool, message: String| {
        out.push(Finding {
            view: view.name.clone(),
            problem,
            message,
        })
    };
    let config = configfile::locate(Some(&view.config), None).and_then(|l| configfile::load(&l));
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            say(true, e.to_string());
            return out;
        }
    };
    let pw = match &view.password {
        PasswordSpec::File(f) => password::read_password_file(f, true),
        PasswordSpec::Command(c) => password::read_password(
            &PasswordSource::Command {
                command: c.clone(),
                root: Some(view.source.clone()),
            },
            "",
        ),
    };
    let volume = match pw {
        Ok(pw) => match configfile::unlock(&view.config, &config, pw.expose()) {
            Ok(v) => Some(v),
            Err(e) => {
                say(true, e.to_string());
                None
            }
        },
        Err(e) => {
            say(true, e.to_string());
            None
        }
    };
    let scheme = config.params.name_scheme();
    let fits = |len: usize| match &volume {
        Some(v) => v.name_fits(len),
        None => scheme.encoded_len(len) <= NAME_MAX,
    };
    let max = scheme.max_plain_name_len();
    match long_names(view, fits) {
        Ok((names, more)) => {
            for n in &names {
                say(
                    true,
                    format!(
                        "cannot be shown: {} (the name is {} bytes; encrypted it would \
                         exceed {NAME_MAX}; rename it to at most {max} bytes or exclude it)",
                        view.source.join(n).display(),
                        n.file_name().map_or(0, |f| f.len()),
                    ),
                );
            }
            if more {
                say(
                    true,
                    format!("… and more names that cannot be shown (only {MAX_LISTED} listed)"),
                );
            }
        }
        Err(e) => say(true, e),
    }
    match probe(view, paths) {
        Health::Stale { reason } => say(
            false,
            format!(
                "mount is stale ({reason}); `encmount up {}` cleans it",
                view.name
            ),
        ),
        Health::Foreign { fs_type } => say(
            true,
            format!(
                "{} has a {fs_type} mount that is not an encmount view",
                view.mountpoint.display()
            ),
        ),
        Health::Down | Health::Healthy { .. } => {}
    }
    out
}

/// Source entries (relative paths) whose names do not `fit`, as the view
/// walks the source: excluded entries and other file systems are skipped,
/// symlinks are not followed, and below a name that does not fit nothing is
/// shown. The flag says the list was cut at [`MAX_LISTED`].
pub fn long_names(
    view: &View,
    fits: impl Fn(usize) -> bool,
) -> Result<(Vec<PathBuf>, bool), String> {
    let excludes = Excludes::new(&view.exclude).map_err(|e| e.to_string())?;
    let root_dev = fs::metadata(&view.source)
        .map_err(|e| format!("source {}: {e}", view.source.display()))?
        .dev();
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = view.source.join(&rel);
        let Ok(entries) = fs::read_dir(&dir) else {
            // The view shows an unreadable directory as empty too.
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if rel.as_os_str().is_empty() && name == V6_NAME {
                continue;
            }
            let child = rel.join(&name);
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != root_dev
                || excludes.is_excluded(child.as_os_str().as_bytes(), meta.is_dir())
            {
                continue;
            }
            if !fits(name.len()) {
                if found.len() == MAX_LISTED {
                    return Ok((found, true));
                }
                found.push(child);
            } else if meta.is_dir() {
                stack.push(child);
            }
        }
    }
    found.sort();
    Ok((found, false))
}
