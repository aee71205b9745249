//! `encmount check` (design §7): everything that would stop a view from
//! working, found before it is mounted: its volume config, its password
//! source (and that the password opens the config), and the source files
//! a backup would miss: long names whose short name is taken, and cipher
//! paths longer than rsync takes. Long names themselves are listed as
//! notes (they are stored under a short name, `volume::names::long`).

use std::collections::HashSet;
use std::ffi::OsString;
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
use crate::volume::Volume;
use crate::volume::names::long::{self, TAG_LEN};
use crate::volume::names::{NAME_MAX, NameScheme};

/// The most names listed per view and kind.
pub const MAX_LISTED: usize = 1000;
/// The longest path rsync copies (`MAXPATHLEN`).
pub const RSYNC_PATH_MAX: usize = 4096;

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
    match scan(view, scheme, volume.as_ref()) {
        Ok(found) => {
            let listed = |n: usize| {
                (n == MAX_LISTED).then(|| format!("… and possibly more (only {MAX_LISTED} listed)"))
            };
            for n in &found.long {
                say(
                    false,
                    format!(
                        "long name: {} (the name is {} bytes, longer than EncFS names can be; \
                         it is stored under a short name with its full name in a side entry, \
                         which `encmount restore` and forward views read back)",
                        view.source.join(n).display(),
                        n.file_name().map_or(0, |f| f.len()),
                    ),
                );
            }
            if let Some(more) = listed(found.long.len()) {
                say(false, more);
            }
            for n in &found.clashes {
                say(
                    true,
                    format!(
                        "cannot be shown: {} (its name is too long for EncFS and the short \
                         name it would be stored under is taken by another entry)",
                        view.source.join(n).display()
                    ),
                );
            }
            for (n, len) in &found.deep {
                say(
                    true,
                    format!(
                        "not copied by rsync: {} (its cipher path is {len} bytes; rsync \
                         takes at most {RSYNC_PATH_MAX})",
                        view.source.join(n).display()
                    ),
                );
            }
            if let Some(more) = listed(found.deep.len()).or(listed(found.clashes.len())) {
                say(true, more);
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

/// What [`scan`] found (relative paths, each list cut at [`MAX_LISTED`]).
#[derive(Debug, Default)]
pub struct Scan {
    /// Entries stored under a short name.
    pub long: Vec<PathBuf>,
    /// Long entries whose short or side name is taken (left out of views).
    pub clashes: Vec<PathBuf>,
    /// Entries whose cipher path is longer than rsync takes, with its length.
    pub deep: Vec<(PathBuf, usize)>,
}

/// Walks the source as the view does (excluded entries and other file
/// systems skipped, symlinks not followed) and finds long names, their
/// clashes (only with the `volume` unlocked: short names are keyed) and
/// cipher paths over [`RSYNC_PATH_MAX`] bytes (counted for a long entry's
/// side entry too, whose name is longer).
pub fn scan(view: &View, scheme: NameScheme, volume: Option<&Volume>) -> Result<Scan, String> {
    let excludes = Excludes::new(&view.exclude).map_err(|e| e.to_string())?;
    let root_dev = fs::metadata(&view.source)
        .map_err(|e| format!("source {}: {e}", view.source.display()))?
        .dev();
    let max_plain = scheme.max_plain_name_len();
    let encoded = |len: usize| scheme.encoded_len(len);
    let mut found = Scan::default();
    // (relative path, length of its cipher path)
    let mut stack = vec![(PathBuf::new(), 0usize)];
    while let Some((rel, cipher_len)) = stack.pop() {
        let dir = view.source.join(&rel);
        let Ok(entries) = fs::read_dir(&dir) else {
            // The view shows an unreadable directory as empty too.
            continue;
        };
        let entries: Vec<_> = entries.flatten().collect();
        let names: HashSet<OsString> = entries.iter().map(|e| e.file_name()).collect();
        for entry in entries {
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
            let bytes = name.as_bytes();
            let sep = usize::from(cipher_len > 0);
            let (shown_len, longest) = if encoded(bytes.len()) <= NAME_MAX {
                let n = encoded(bytes.len());
                (n, n)
            } else {
                if let Some(ln) = volume.and_then(|v| v.long_name(bytes)) {
                    let taken = |n: &[u8]| names.contains(std::ffi::OsStr::from_bytes(n));
                    if taken(&ln.short) || taken(&ln.side) {
                        if found.clashes.len() < MAX_LISTED {
                            found.clashes.push(child);
                        }
                        continue;
                    }
                }
                if found.long.len() < MAX_LISTED {
                    found.long.push(child.clone());
                }
                // The cut (and so the length) does not depend on the key.
                let short = long::shorten(bytes, &[0; TAG_LEN], max_plain).short;
                (
                    encoded(short.len()),
                    encoded(short.len() + long::SIDE_SUFFIX.len()),
                )
            };
            let path_len = cipher_len + sep + shown_len;
            if cipher_len + sep + longest > RSYNC_PATH_MAX && found.deep.len() < MAX_LISTED {
                found.deep.push((child.clone(), cipher_len + sep + longest));
            }
            if meta.is_dir() {
                stack.push((child, path_len));
            }
        }
    }
    found.long.sort();
    found.clashes.sort();
    found.deep.sort();
    Ok(found)
}
