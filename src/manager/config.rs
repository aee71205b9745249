//! The manager's yaml (design §7): what it may say, parsed strictly.
//!
//! Two steps: serde reads the text into the `Raw*` structs below
//! (`deny_unknown_fields` everywhere, so a misspelt key is an error with its
//! line), then [`super::validate`] checks what serde cannot (paths, users,
//! durations, overlaps) and resolves defaults into [`Config`]. Every error is
//! a [`ConfigError`] naming the file, the line and the view.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{locate, validate};

/// The yaml read when no other is named.
pub const DEFAULT_PATH: &str = "/etc/encmount/encmount.yaml";
/// Where views mount unless the yaml says otherwise.
pub const DEFAULT_MOUNT_ROOT: &str = "/srv/encmount";
/// How long an on-demand view stays up without requests, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The rsync the shim runs by default.
pub const DEFAULT_RSYNC: &str = "/usr/bin/rsync";
/// The largest yaml read (it is a short hand-written file).
const MAX_LEN: u64 = 1 << 20;

/// The manager's configuration, checked and with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The yaml it came from.
    pub file: PathBuf,
    /// `defaults.mount_root`.
    pub mount_root: PathBuf,
    /// The views, in file order.
    pub views: Vec<View>,
    /// The `shim:` section.
    pub shim: Shim,
}

impl Config {
    /// The view called `name`.
    pub fn view(&self, name: &str) -> Option<&View> {
        self.views.iter().find(|v| v.name == name)
    }
}

/// One view: a plaintext directory shown encrypted at a mountpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The name (`[A-Za-z0-9._-]+`).
    pub name: String,
    /// The plaintext directory (absolute).
    pub source: PathBuf,
    /// The volume config (`.encfs6.xml`, absolute).
    pub config: PathBuf,
    /// Where the password comes from.
    pub password: PasswordSpec,
    /// Mounted only when the shim asks, unmounted after `idle_timeout`.
    pub on_demand: bool,
    /// gitignore-style patterns hidden from the view.
    pub exclude: Vec<String>,
    /// Show `.encfs6.xml` at the view root.
    pub expose_config: bool,
    /// Where the view mounts (absolute).
    pub mountpoint: PathBuf,
    /// Who besides root may read the view.
    pub readers: Vec<Reader>,
    /// How long an on-demand view stays up without requests.
    pub idle_timeout: Duration,
    /// FUSE worker threads (the view's default when `None`).
    pub threads: Option<u16>,
    /// How per-file IVs are derived.
    pub file_iv: FileIv,
    /// Mount even over a non-empty mountpoint (hiding what is there).
    pub nonempty: bool,
    /// How long `password_command` may run before it is killed.
    pub password_timeout: Duration,
}

/// `password_file` or `password_command`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSpec {
    /// A root-owned file, mode 0600; its first line is the password.
    File(PathBuf),
    /// A command run with `sh -c`; the first line it prints is the password.
    Command(String),
}

/// A reader: a user name and its uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reader {
    /// The name as written in the yaml.
    pub name: String,
    /// Its uid.
    pub uid: u32,
}

/// `file_iv:` (design §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileIv {
    /// From the relative path (the default).
    #[default]
    Path,
    /// From the inode number, as stock `encfs --reverse`.
    Inode,
}

/// The `shim:` section (used by `encmount-rsync`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shim {
    /// The rsync to exec (absolute).
    pub rsync: PathBuf,
    /// The I/O scheduling class for rsync.
    pub io_class: IoClass,
    /// The nice value for rsync (-20..=19).
    pub nice: i8,
}

/// An I/O scheduling class (ionice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoClass {
    /// Leave it as it is.
    None,
    /// Only when the disk is otherwise idle.
    Idle,
    /// Best effort with a priority level 0 (high) ..= 7 (low).
    BestEffort(u8),
}

/// A problem with the yaml, located as precisely as possible.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The yaml file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The view concerned, if any.
    pub view: Option<String>,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(v) = &self.view {
            write!(f, ": view {v}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The file as serde sees it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub defaults: RawDefaults,
    pub views: RawViews,
    #[serde(default)]
    pub shim: RawShim,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub mount_root: Option<PathBuf>,
    pub readers: Option<Vec<String>>,
    pub idle_timeout: Option<String>,
    pub password_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawView {
    pub source: PathBuf,
    pub config: PathBuf,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    #[serde(default)]
    pub on_demand: bool,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default = "yes")]
    pub expose_config: bool,
    pub mountpoint: Option<PathBuf>,
    pub readers: Option<Vec<String>>,
    pub idle_timeout: Option<String>,
    pub threads: Option<u16>,
    pub file_iv: Option<FileIv>,
    #[serde(default)]
    pub nonempty: bool,
    pub password_timeout: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShim {
    pub rsync: Option<PathBuf>,
    pub io_class: Option<String>,
    pub nice: Option<i8>,
}

/// `views:` in file order; a name given twice is an error.
#[derive(Debug, Default)]
pub(super) struct RawViews(pub Vec<(String, RawView)>);

impl<'de> Deserialize<'de> for RawViews {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawViews;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of view names to views")
            }
            fn visit_unit<E>(self) -> Result<RawViews, E> {
                Ok(RawViews::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawViews, A::Error> {
                let mut out: Vec<(String, RawView)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!("view {name} is defined twice")));
                    }
                    let view = map.next_value()?;
                    out.push((name, view));
                }
                Ok(RawViews(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads, parses and checks the yaml at `file`.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let err = |message: String| ConfigError {
        file: file.to_path_buf(),
        line: None,
        view: None,
        message,
    };
    let f = File::open(file).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut text = String::new();
    f.take(MAX_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if text.len() as u64 > MAX_LEN {
        return Err(err(format!("larger than {MAX_LEN} bytes")));
    }
    parse(file, &text)
}

/// Parses and checks yaml `text` read from `file` (named in errors).
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| serde_error(file, text, &e))?;
    validate::resolve(file, text, raw)
}

/// A serde error as a [`ConfigError`]: the line from its location, the view
/// from its path (`views.NAME.field: message at line L column C`).
fn serde_error(file: &Path, text: &str, e: &serde_yaml_ng::Error) -> ConfigError {
    let line = e.location().map(|l| l.line());
    let mut message = e.to_string();
    if let Some(l) = e.location() {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(m) = message.strip_suffix(&suffix) {
            message = m.to_string();
        }
    }
    let mut view = None;
    if let Some(rest) = message.strip_prefix("views.") {
        // View names may hold dots: take the longest name the file defines
        // that the path starts with.
        let names = view_names(text);
        let best = names
            .iter()
            .filter(|n| {
                rest.strip_prefix(n.as_str())
                    .is_some_and(|t| t.starts_with(['.', ':', '[']))
            })
            .max_by_key(|n| n.len());
        if let Some(n) = best {
            let tail = &rest[n.len()..];
            message = tail
                .strip_prefix('.')
                .or_else(|| tail.strip_prefix(": "))
                .unwrap_or(tail)
                .to_string();
            view = Some(n.clone());
        }
    }
    ConfigError {
        file: file.to_path_buf(),
        line,
        view,
        message,
    }
}

/// The view names in `text`, as far as the document can be read.
fn view_names(text: &str) -> Vec<String> {
    let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else {
        return Vec::new();
    };
    doc.get("views")
        .and_then(|v| v.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The line of the yaml node at `path` (see [`locate::line_of`]).
pub(super) fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    locate::line_of(text, path)
}
