//! Volume config files on disk: where to find one (format §2.1), loading
//! it, unlocking it with a password, describing it for people, and writing
//! one atomically.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::volume::config::MAX_CONFIG_LEN;
use crate::volume::{self, Config, ConfigFormat, Kdf, Volume};

/// The V6 config name inside a volume root.
pub const V6_NAME: &str = ".encfs6.xml";

/// Errors about config files; every one names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// No config where encfs would look.
    #[error("no volume config found: tried {tried}")]
    NotFound {
        /// The places looked at, in order.
        tried: String,
    },
    /// An explicitly named config that cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A config that does not parse.
    #[error("{path}: {source}")]
    Parse {
        /// The config path.
        path: PathBuf,
        /// The cause.
        source: volume::Error,
    },
    /// The password does not unwrap the key.
    #[error("wrong password for {path}")]
    WrongPassword {
        /// The config path.
        path: PathBuf,
    },
    /// Any other failure to load the key.
    #[error("cannot open volume {path}: {source}")]
    Unlock {
        /// The config path.
        path: PathBuf,
        /// The cause.
        source: volume::Error,
    },
    /// Writing the config failed.
    #[error("cannot write config {path}: {source}")]
    Write {
        /// The config path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `init` never overwrites.
    #[error("{path} already exists; refusing to overwrite it")]
    Exists {
        /// The config path.
        path: PathBuf,
    },
}

/// A config found on disk.
pub struct Located {
    /// Where it is.
    pub path: PathBuf,
    /// Its format.
    pub format: ConfigFormat,
}

/// Finds the config as encfs does (format §2.1): `explicit` (`--config`),
/// else `$ENCFS6_CONFIG`, else `ROOT/.encfs6.xml`, then `$ENCFS5_CONFIG`,
/// `ROOT/.encfs5`, `ROOT/.encfs4`. An explicit or environment path must
/// exist.
pub fn locate(explicit: Option<&Path>, root: Option<&Path>) -> Result<Located, ConfigFileError> {
    locate_with_env(explicit, root, |k| std::env::var_os(k))
}

fn locate_with_env(
    explicit: Option<&Path>,
    root: Option<&Path>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Located, ConfigFileError> {
    let must_exist = |path: PathBuf, format| {
        if path.exists() {
            Ok(Located { path, format })
        } else {
            Err(ConfigFileError::Read {
                source: io::Error::from(io::ErrorKind::NotFound),
                path,
            })
        }
    };
    if let Some(p) = explicit {
        return must_exist(p.to_path_buf(), ConfigFormat::V6);
    }
    if let Some(p) = env("ENCFS6_CONFIG").filter(|p| !p.is_empty()) {
        return must_exist(PathBuf::from(p), ConfigFormat::V6);
    }
    let mut tried = Vec::new();
    let mut candidates: Vec<(PathBuf, ConfigFormat)> = Vec::new();
    if let Some(r) = root {
        candidates.push((r.join(V6_NAME), ConfigFormat::V6));
    }
    if let Some(p) = env("ENCFS5_CONFIG").filter(|p| !p.is_empty()) {
        candidates.push((PathBuf::from(p), ConfigFormat::V5));
    }
    if let Some(r) = root {
        candidates.push((r.join(".encfs5"), ConfigFormat::V5));
        candidates.push((r.join(".encfs4"), ConfigFormat::V4));
    }
    for (path, format) in candidates {
        if path.exists() {
            return Ok(Located { path, format });
        }
        tried.push(path.display().to_string());
    }
    if tried.is_empty() {
        tried.push("--config, $ENCFS6_CONFIG (neither given)".into());
    }
    Err(ConfigFileError::NotFound {
        tried: tried.join(", "),
    })
}

/// Reads and parses a config.
pub fn load(located: &Located) -> Result<Config, ConfigFileError> {
    let path = &located.path;
    let read_err = |source| ConfigFileError::Read {
        path: path.clone(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    // Read one byte more than any config may have, to detect oversize files.
    file.take(MAX_CONFIG_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Config::parse(&bytes, located.format).map_err(|source| ConfigFileError::Parse {
        path: path.clone(),
        source,
    })
}

/// Unlocks a loaded config; a bad password names the config.
pub fn unlock(path: &Path, config: &Config, password: &[u8]) -> Result<Volume, ConfigFileError> {
    Volume::unlock(config, password).map_err(|e| match e {
        volume::Error::WrongPassword => ConfigFileError::WrongPassword {
            path: path.to_path_buf(),
        },
        source => ConfigFileError::Unlock {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// A config found, parsed and unlocked.
pub struct Opened {
    /// Where the config is.
    pub path: PathBuf,
    /// The config as parsed.
    pub config: Config,
    /// The unlocked volume.
    pub volume: Volume,
}

/// Why [`open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Finding, reading, parsing or unlocking the config.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// Reading the password.
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
}

/// Finds the config of the volume at `root` as [`locate`] does, parses it
/// and unlocks it with the password from `password`.
pub fn open(
    explicit: Option<&Path>,
    root: Option<&Path>,
    password: &crate::password::PasswordSource,
) -> Result<Opened, OpenError> {
    let located = locate(explicit, root)?;
    let config = load(&located)?;
    let password = crate::password::read_password(password, &located.path.display().to_string())?;
    let volume = unlock(&located.path, &config, password.expose())?;
    Ok(Opened {
        path: located.path,
        config,
        volume,
    })
}

/// The human description of a config, as `info` prints it.
pub fn describe(path: &Path, c: &Config) -> String {
    let p = &c.params;
    let layout = p.layout().expect("validated on load");
    let yes = |b: bool| if b { "yes" } else { "no" };
    let kdf = match &c.kdf {
        Kdf::Pbkdf2 {
            salt,
            iterations,
            desired_ms,
        } => format!(
            "PBKDF2-HMAC-SHA1, {iterations} iterations, {}-byte salt (target {desired_ms} ms)",
            salt.len()
        ),
        Kdf::Legacy => "legacy unsalted SHA-1 (old config)".into(),
    };
    let reverse = if p.stock_reverse_compatible() {
        "encmount and stock encfs --reverse".to_string()
    } else {
        "encmount only (stock encfs --reverse refuses MACs and chained IVs)".to_string()
    };
    format!(
        "Config:            {} ({:?}, version {}, created by {})\n\
         Cipher:            AES, {}-bit key (ssl/aes {}:{})\n\
         Block size:        {} bytes ({} data + {} MAC header)\n\
         File names:        {} {}:{}, chained IVs: {}\n\
         Per-file IV:       {}, external IV chaining: {}\n\
         Block MAC:         {} bytes + {} random bytes\n\
         File holes:        {}\n\
         Key derivation:    {kdf}\n\
         Reverse views:     {reverse}\n",
        path.display(),
        c.format,
        c.sub_version,
        if c.creator.is_empty() {
            "?"
        } else {
            &c.creator
        },
        p.key_bits,
        p.cipher_version.0,
        p.cipher_version.1,
        p.block_size,
        layout.data_per_block(),
        layout.overhead(),
        p.name_codec.interface_name(),
        p.name_version.0,
        p.name_version.1,
        yes(p.chained_name_iv),
        yes(p.unique_iv),
        yes(p.external_iv_chaining),
        p.block_mac_bytes,
        p.block_mac_rand_bytes,
        if p.allow_holes {
            "passed through"
        } else {
            "encrypted"
        },
    )
}

/// How [`write`] treats an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail if the file exists (init).
    CreateNew,
    /// Replace the file atomically, keeping its permissions (passwd).
    Replace,
}

/// Writes `config` as V6 XML through a temporary file in the same
/// directory, fsynced, then renamed (or hard-linked for
/// [`WriteMode::CreateNew`], which cannot clobber). New files are 0600.
pub fn write(path: &Path, config: &Config, mode: WriteMode) -> Result<(), ConfigFileError> {
    let werr = |source| ConfigFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    if mode == WriteMode::CreateNew && fs::symlink_metadata(path).is_ok() {
        return Err(ConfigFileError::Exists {
            path: path.to_path_buf(),
        });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let perm = match mode {
        WriteMode::Replace => fs::metadata(path).map_err(werr)?.permissions().mode() & 0o7777,
        WriteMode::CreateNew => 0o600,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(path.file_name().unwrap_or(OsStr::new("config")))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(perm))
        .tempfile_in(dir)
        .map_err(werr)?;
    tmp.write_all(config.to_xml().as_bytes()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    match mode {
        WriteMode::Replace => {
            tmp.persist(path).map_err(|e| werr(e.error))?;
        }
        WriteMode::CreateNew => {
            tmp.persist_noclobber(path).map_err(|e| {
                if e.error.kind() == io::ErrorKind::AlreadyExists {
                    ConfigFileError::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    werr(e.error)
                }
            })?;
        }
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Opens a file for reading without following a final symlink.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &Path)]) -> impl Fn(&str) -> Option<std::ffi::OsString> + use<> {
        let m: HashMap<String, PathBuf> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_path_buf()))
            .collect();
        move |k| m.get(k).map(|p| p.clone().into_os_string())
    }

    #[test]
    fn lookup_order_is_encfs_order() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let explicit = root.join("explicit.xml");
        let envpath = root.join("env.xml");
        for p in [
            &explicit,
            &envpath,
            &root.join(".encfs6.xml"),
            &root.join(".encfs4"),
        ] {
            fs::write(p, "x").unwrap();
        }
        let e = env(&[("ENCFS6_CONFIG", &envpath)]);
        let got = locate_with_env(Some(&explicit), Some(root), &e).unwrap();
        assert_eq!(got.path, explicit);
        let got = locate_with_env(None, Some(root), &e).unwrap();
        assert_eq!(got.path, envpath);
        let got = locate_with_env(None, Some(root), env(&[])).unwrap();
        assert_eq!(
            (got.path, got.format),
            (root.join(".encfs6.xml"), ConfigFormat::V6)
        );
        fs::remove_file(root.join(".encfs6.xml")).unwrap();
        let got = locate_with_env(None, Some(root), env(&[])).unwrap();
        assert_eq!(got.format, ConfigFormat::V4);
        // a named config must exist, even when the root has one
        let missing = root.join("missing.xml");
        assert!(locate_with_env(Some(&missing), Some(root), env(&[])).is_err());
        let empty = tempfile::tempdir().unwrap();
        let err = locate_with_env(None, Some(empty.path()), env(&[]))
            .err()
            .unwrap();
        assert!(err.to_string().contains(".encfs6.xml"), "{err}");
    }

    #[test]
    fn create_new_never_clobbers_and_replace_keeps_mode() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("v.xml");
        let vol = Volume::generate(volume::Preset::Standard.params(), |b| b.fill(1)).unwrap();
        let kdf = volume::Kdf::Pbkdf2 {
            salt: vec![2; 20],
            iterations: 1000,
            desired_ms: 500,
        };
        let cfg = vol.to_config("t", b"pw", kdf).unwrap();
        write(&path, &cfg, WriteMode::CreateNew).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(
            write(&path, &cfg, WriteMode::CreateNew),
            Err(ConfigFileError::Exists { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, &cfg, WriteMode::Replace).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let loaded = load(&Located {
            path: path.clone(),
            format: ConfigFormat::V6,
        })
        .unwrap();
        assert_eq!(loaded, cfg);
        assert!(matches!(
            unlock(&path, &loaded, b"nope"),
            Err(ConfigFileError::WrongPassword { .. })
        ));
        // no temporary files are left behind
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
