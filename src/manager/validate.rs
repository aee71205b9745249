//! The checks serde cannot do (design §7): names, absolute paths, sources
//! that exist, one password source per view, users, durations, and no view
//! overlapping another's source or mountpoint. Defaults are resolved here.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::config::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MOUNT_ROOT, DEFAULT_RSYNC, IoClass, ManagerConfig, PasswordSpec,
    Reader, Shim, View,
};
use super::error::YamlError;
use super::locate::line_of;
use super::raw::{RawFile, RawShim, RawView};
use crate::excludes::Excludes;
use crate::mounts::resolved;
use crate::viewspec::{CRYPTO_THREADS, DEFAULT_FUSE_THREADS, FUSE_THREADS};

/// Where errors point: the file, its text (for line numbers).
struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn fail(&self, path: &[&str], view: Option<&str>, message: String) -> YamlError {
        YamlError {
            file: self.file.to_path_buf(),
            line: line_of(self.text, path),
            view: view.map(str::to_string),
            message,
        }
    }

    /// An absolute path without `..`.
    fn absolute(&self, p: PathBuf, at: &[&str], view: Option<&str>) -> Result<PathBuf, YamlError> {
        let key = at.last().copied().unwrap_or("path");
        if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
            return Err(self.fail(
                at,
                view,
                format!(
                    "{key} {:?} must be an absolute path without `..`",
                    p.display().to_string()
                ),
            ));
        }
        Ok(p)
    }

    fn duration(&self, s: &str, at: &[&str], view: Option<&str>) -> Result<Duration, YamlError> {
        let key = at.last().copied().unwrap_or("duration");
        match humantime::parse_duration(s.trim()) {
            Ok(d) if d.is_zero() => Err(self.fail(at, view, format!("{key} must be more than 0"))),
            Ok(d) => Ok(d),
            Err(e) => Err(self.fail(
                at,
                view,
                format!("{key} {s:?} is not a duration ({e}); write it like 90s, 15m or 1h"),
            )),
        }
    }

    fn readers(
        &self,
        names: &[String],
        at: &[&str],
        view: Option<&str>,
    ) -> Result<Vec<Reader>, YamlError> {
        names
            .iter()
            .map(|name| match nix::unistd::User::from_name(name) {
                Ok(Some(u)) => Ok(Reader {
                    name: name.clone(),
                    uid: u.uid.as_raw(),
                }),
                Ok(None) => Err(self.fail(at, view, format!("reader {name:?}: no such user"))),
                Err(e) => Err(self.fail(at, view, format!("reader {name:?}: cannot look up: {e}"))),
            })
            .collect()
    }
}

/// The defaults every view starts from.
struct Defaults {
    mount_root: PathBuf,
    readers: Vec<Reader>,
    idle_timeout: Duration,
    password_timeout: Duration,
}

/// Checks `raw` (parsed from `text`, read from `file`) and fills in defaults.
pub(super) fn resolve(file: &Path, text: &str, raw: RawFile) -> Result<ManagerConfig, YamlError> {
    let cx = Cx { file, text };
    let d = raw.defaults;
    let mount_root = match d.mount_root {
        Some(p) => cx.absolute(p, &["defaults", "mount_root"], None)?,
        None => PathBuf::from(DEFAULT_MOUNT_ROOT),
    };
    let defaults = Defaults {
        readers: cx.readers(
            &d.readers.unwrap_or_default(),
            &["defaults", "readers"],
            None,
        )?,
        idle_timeout: match d.idle_timeout {
            Some(s) => cx.duration(&s, &["defaults", "idle_timeout"], None)?,
            None => DEFAULT_IDLE_TIMEOUT,
        },
        password_timeout: match d.password_timeout {
            Some(s) => cx.duration(&s, &["defaults", "password_timeout"], None)?,
            None => crate::password::DEFAULT_COMMAND_TIMEOUT,
        },
        mount_root,
    };
    let views = raw
        .views
        .0
        .into_iter()
        .map(|(name, v)| view(&cx, name, v, &defaults))
        .collect::<Result<Vec<_>, _>>()?;
    overlaps(&cx, &defaults.mount_root, &views)?;
    Ok(ManagerConfig {
        file: file.to_path_buf(),
        mount_root: defaults.mount_root,
        views,
        shim: shim(&cx, raw.shim)?,
    })
}

/// Whether `name` may name a view: `[A-Za-z0-9._-]+`, not `.` or `..`.
pub fn valid_view_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn view(cx: &Cx, name: String, v: RawView, d: &Defaults) -> Result<View, YamlError> {
    let n = name.as_str();
    let at = |key: &'static str| ["views", n, key];
    let some = Some(n);
    if !valid_view_name(n) {
        return Err(cx.fail(
            &["views", n],
            None,
            format!(
                "bad view name {n:?}: use letters, digits, `.`, `_` and `-` \
                 (not `.` or `..`); the name is part of paths"
            ),
        ));
    }
    let source = cx.absolute(v.source, &at("source"), some)?;
    match fs::metadata(&source) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(cx.fail(
                &at("source"),
                some,
                format!("source {} is not a directory", source.display()),
            ));
        }
        Err(e) => {
            return Err(cx.fail(
                &at("source"),
                some,
                format!("source {}: {e}", source.display()),
            ));
        }
    }
    let config = cx.absolute(v.config, &at("config"), some)?;
    let password = match (v.password_file, v.password_command) {
        (Some(_), Some(_)) => {
            return Err(cx.fail(
                &at("password_command"),
                some,
                "give password_file or password_command, not both".into(),
            ));
        }
        (None, None) => {
            return Err(cx.fail(
                &["views", n],
                some,
                "no password source: add password_file (a root-owned file, mode 0600) \
                 or password_command"
                    .into(),
            ));
        }
        (Some(p), None) => PasswordSpec::File(cx.absolute(p, &at("password_file"), some)?),
        (None, Some(c)) if c.trim().is_empty() => {
            return Err(cx.fail(
                &at("password_command"),
                some,
                "password_command is empty".into(),
            ));
        }
        (None, Some(c)) => PasswordSpec::Command(c),
    };
    if let Err(e) = Excludes::new(&v.exclude) {
        return Err(cx.fail(&at("exclude"), some, e.to_string()));
    }
    let mountpoint = match v.mountpoint {
        Some(p) => cx.absolute(p, &at("mountpoint"), some)?,
        None => d.mount_root.join(n),
    };
    let readers = match &v.readers {
        Some(r) => cx.readers(r, &at("readers"), some)?,
        None => d.readers.clone(),
    };
    let idle_timeout = match &v.idle_timeout {
        Some(s) => cx.duration(s, &at("idle_timeout"), some)?,
        None => d.idle_timeout,
    };
    let password_timeout = match &v.password_timeout {
        Some(s) => cx.duration(s, &at("password_timeout"), some)?,
        None => d.password_timeout,
    };
    if v.threads.is_some() {
        return Err(cx.fail(
            &at("threads"),
            some,
            "`threads` is no longer a key: say `fuse_threads` (threads taking FUSE \
             requests, default 4) or `crypto_threads` (threads encrypting large \
             reads, default one per CPU; what `threads` set)"
                .into(),
        ));
    }
    let threads =
        |key: &'static str, value: Option<u16>, range: std::ops::RangeInclusive<u16>| match value {
            Some(t) if !range.contains(&t) => Err(cx.fail(
                &at(key),
                some,
                format!("{key} {t}: must be {} to {}", range.start(), range.end()),
            )),
            _ => Ok(value),
        };
    let fuse_threads = threads("fuse_threads", v.fuse_threads, FUSE_THREADS)?;
    let crypto_threads = threads("crypto_threads", v.crypto_threads, CRYPTO_THREADS)?;
    Ok(View {
        name,
        source,
        config,
        password,
        on_demand: v.on_demand,
        exclude: v.exclude,
        expose_config: v.expose_config,
        mountpoint,
        readers,
        idle_timeout,
        fuse_threads: fuse_threads.unwrap_or(DEFAULT_FUSE_THREADS),
        crypto_threads,
        file_iv: v.file_iv.unwrap_or_default(),
        nonempty: v.nonempty,
        password_timeout,
    })
}

/// No two views share a mountpoint; no mountpoint lies in a source; no
/// source lies in a mountpoint or the mount root.
fn overlaps(cx: &Cx, mount_root: &Path, views: &[View]) -> Result<(), YamlError> {
    let root = resolved(mount_root);
    let norm: Vec<(PathBuf, PathBuf)> = views
        .iter()
        .map(|v| (resolved(&v.source), resolved(&v.mountpoint)))
        .collect();
    for (i, v) in views.iter().enumerate() {
        let (src, mnt) = &norm[i];
        let n = v.name.as_str();
        if src.starts_with(&root) {
            return Err(cx.fail(
                &["views", n, "source"],
                Some(n),
                format!(
                    "source {} is inside the mount root {}",
                    v.source.display(),
                    mount_root.display()
                ),
            ));
        }
        for (j, w) in views.iter().enumerate() {
            let (wsrc, wmnt) = &norm[j];
            if j < i && mnt == wmnt {
                return Err(cx.fail(
                    &["views", n, "mountpoint"],
                    Some(n),
                    format!(
                        "mountpoint {} is also the mountpoint of view {}",
                        v.mountpoint.display(),
                        w.name
                    ),
                ));
            }
            if mnt.starts_with(wsrc) {
                return Err(cx.fail(
                    &["views", n, "mountpoint"],
                    Some(n),
                    format!(
                        "mountpoint {} is inside the source {} of view {}",
                        v.mountpoint.display(),
                        w.source.display(),
                        w.name
                    ),
                ));
            }
            if i != j && src.starts_with(wmnt) {
                return Err(cx.fail(
                    &["views", n, "source"],
                    Some(n),
                    format!(
                        "source {} is inside the mountpoint {} of view {}",
                        v.source.display(),
                        w.mountpoint.display(),
                        w.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn shim(cx: &Cx, s: RawShim) -> Result<Shim, YamlError> {
    let rsync = match s.rsync {
        Some(p) => cx.absolute(p, &["shim", "rsync"], None)?,
        None => PathBuf::from(DEFAULT_RSYNC),
    };
    let io_class = match s.io_class.as_deref().map(str::trim) {
        None | Some("none") => IoClass::None,
        Some("idle") => IoClass::Idle,
        Some("best-effort") => IoClass::BestEffort(4),
        Some(other) => match other
            .strip_prefix("best-effort:")
            .and_then(|l| l.parse::<u8>().ok())
        {
            Some(level) if level <= 7 => IoClass::BestEffort(level),
            _ => {
                return Err(cx.fail(
                    &["shim", "io_class"],
                    None,
                    format!("io_class {other:?}: use idle, best-effort, best-effort:0 … best-effort:7 or none"),
                ));
            }
        },
    };
    let nice = s.nice.unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(cx.fail(
            &["shim", "nice"],
            None,
            format!("nice {nice}: must be -20 to 19"),
        ));
    }
    Ok(Shim {
        rsync,
        io_class,
        nice,
    })
}
