//! The yaml as serde reads it: `deny_unknown_fields` everywhere, so a
//! misspelt key is an error with its line. [`super::validate`] turns this
//! into a [`super::ManagerConfig`].

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::volume::FileIv;

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
    pub fuse_threads: Option<u16>,
    pub crypto_threads: Option<u16>,
    /// The old name of `crypto_threads` (documented as FUSE threads):
    /// refused with a message saying which key to use.
    pub threads: Option<de::IgnoredAny>,
    #[serde(default, deserialize_with = "file_iv")]
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

/// `file_iv: path|inode`, by the names [`FileIv::CHOICES`] gives. (A
/// visitor, so that an error carries the value's line.)
fn file_iv<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FileIv>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = FileIv;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "one of {}", FileIv::NAMES.join(", "))
        }
        fn visit_str<E: de::Error>(self, name: &str) -> Result<FileIv, E> {
            FileIv::from_name(name).ok_or_else(|| E::unknown_variant(name, &FileIv::NAMES))
        }
    }
    d.deserialize_str(V).map(Some)
}
