//! Making a new volume config: parameters from a preset and overrides, a
//! fresh random key and salt, PBKDF2 timed as encfs times it (format §3),
//! written without ever replacing a file. Used by `init`, by `mount
//! --reverse` when a source has no config yet, and (the key derivation) by
//! `passwd`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::configfile::{self, ConfigFileError, WriteMode};
use crate::password::{self, PasswordError, PasswordSource};
use crate::volume::kdf::{self, calibrate_iterations};
use crate::volume::{self, Kdf, NameCodec, Params, Preset, Volume};

/// Default PBKDF2 target for new configs and password changes.
pub const DEFAULT_KDF_MS: u32 = 1000;
/// The least PBKDF2 iteration count accepted when it is given exactly.
pub const MIN_KDF_ITERATIONS: u32 = 1000;
/// Salt length of new configs (what encfs 1.9.5 writes).
const SALT_LEN: usize = 20;
/// Written as the config's `creator`.
pub const CREATOR: &str = concat!("encmount ", env!("CARGO_PKG_VERSION"));

/// The presets by the names `--preset` takes (the first is the default).
pub const PRESETS: [(&str, Preset); 3] = [
    ("hardened", Preset::Hardened),
    ("standard", Preset::Standard),
    ("paranoia", Preset::Paranoia),
];

/// The name codecs by the names `--names` takes.
pub const NAME_CODECS: [(&str, NameCodec); 4] = [
    ("block", NameCodec::Block),
    ("block32", NameCodec::Block32),
    ("stream", NameCodec::Stream),
    ("null", NameCodec::Null),
];

/// The name `--preset` gives `preset`.
pub fn preset_name(preset: Preset) -> &'static str {
    PRESETS
        .iter()
        .find(|(_, p)| *p == preset)
        .map_or("", |p| p.0)
}

/// The name `--names` gives `codec`.
pub fn name_codec_name(codec: NameCodec) -> &'static str {
    NAME_CODECS
        .iter()
        .find(|(_, c)| *c == codec)
        .map_or("", |c| c.0)
}

/// Why a volume config could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The parameters do not make a valid volume.
    #[error("bad volume parameters")]
    Params(#[source] volume::Error),
    /// The kernel's random source failed.
    #[error("cannot get random bytes: {0}")]
    Random(getrandom::Error),
    /// The password could not be read.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The volume could not be made or wrapped.
    #[error(transparent)]
    Volume(#[from] volume::Error),
    /// The config exists, or could not be written.
    #[error(transparent)]
    File(#[from] ConfigFileError),
}

/// What a new volume is made of, as given (unset: the preset's choice).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewVolume {
    /// The preset (default: hardened).
    pub preset: Option<Preset>,
    /// Key size in bits.
    pub key_bits: Option<u32>,
    /// Block size in bytes, MAC header included.
    pub block_size: Option<u32>,
    /// File-name codec.
    pub names: Option<NameCodec>,
    /// PBKDF2 target duration.
    pub kdf_ms: Option<u32>,
    /// Exact PBKDF2 iteration count (instead of timing).
    pub kdf_iterations: Option<u32>,
}

impl NewVolume {
    /// The volume parameters: the preset's, with the overrides.
    pub fn params(&self) -> Result<Params, InitError> {
        let mut p = self.preset.unwrap_or(PRESETS[0].1).params();
        if let Some(k) = self.key_bits {
            p.key_bits = k;
        }
        if let Some(b) = self.block_size {
            p.block_size = b;
        }
        if let Some(n) = self.names {
            p.name_codec = n;
            p.name_version = n.current_version();
        }
        p.validate().map_err(InitError::Params)?;
        Ok(p)
    }

    /// Whether anything was given (it only applies to a new config).
    pub fn any_given(&self) -> bool {
        *self != Self::default()
    }

    /// The key derivation for the new config's password.
    pub fn kdf(&self) -> Result<Kdf, InitError> {
        new_kdf(self.kdf_ms, self.kdf_iterations, DEFAULT_KDF_MS)
    }
}

/// Fills `buf` from the kernel's random source.
pub fn random_fill(buf: &mut [u8]) -> Result<(), InitError> {
    getrandom::fill(buf).map_err(InitError::Random)
}

/// A fresh salt and an iteration count: exactly `iterations`, or timed so
/// that unlocking takes about `ms` (else `default_ms`) on this machine.
pub fn new_kdf(
    ms: Option<u32>,
    iterations: Option<u32>,
    default_ms: u32,
) -> Result<Kdf, InitError> {
    let mut salt = vec![0u8; SALT_LEN];
    random_fill(&mut salt)?;
    let desired_ms = ms.unwrap_or(default_ms);
    let iterations = match iterations {
        Some(n) => n,
        None => calibrate_iterations(Duration::from_millis(desired_ms.into()), |n| {
            let t = Instant::now();
            // Time the same work a real unlock does (a 256-bit key + IV).
            let _ = kdf::derive_user_key(b"timing", &[0; SALT_LEN], n, 32);
            t.elapsed()
        }),
    };
    Ok(Kdf::Pbkdf2 {
        salt,
        iterations,
        desired_ms,
    })
}

/// Creates a new config at `path`, never replacing anything there, with
/// the password from `password` (asked twice when it is a prompt);
/// returns the new volume.
pub fn create_config(
    path: &Path,
    new: &NewVolume,
    password: &PasswordSource,
) -> Result<Volume, InitError> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(ConfigFileError::Exists {
            path: path.to_path_buf(),
        }
        .into());
    }
    let params = new.params()?;
    let password = password::read_password(password, &path.display().to_string())?;
    let kdf = new.kdf()?;
    let mut rng_err = None;
    let volume = Volume::generate(params, |buf| rng_err = random_fill(buf).err())?;
    if let Some(e) = rng_err {
        return Err(e);
    }
    let config = volume.to_config(CREATOR, password.expose(), kdf)?;
    configfile::write(path, &config, WriteMode::CreateNew)?;
    Ok(volume)
}

/// Where `init CONFIG` writes: CONFIG, or CONFIG/.encfs6.xml for a
/// directory.
pub fn config_path(given: &Path) -> PathBuf {
    if given.is_dir() {
        given.join(configfile::V6_NAME)
    } else {
        given.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configfile::Located;
    use crate::volume::ConfigFormat;

    fn password_file(dir: &Path, password: &str) -> PasswordSource {
        use std::os::unix::fs::PermissionsExt;
        let f = dir.join("pw");
        std::fs::write(&f, format!("{password}\n")).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        PasswordSource::File(f)
    }

    fn quick() -> NewVolume {
        NewVolume {
            kdf_iterations: Some(MIN_KDF_ITERATIONS),
            ..NewVolume::default()
        }
    }

    #[test]
    fn a_created_config_opens_with_its_password_and_has_the_asked_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.xml");
        let new = NewVolume {
            preset: Some(Preset::Standard),
            block_size: Some(4096),
            names: Some(NameCodec::Stream),
            ..quick()
        };
        let made = create_config(&path, &new, &password_file(dir.path(), "s3cret")).unwrap();
        let located = Located {
            path: path.clone(),
            format: ConfigFormat::V6,
        };
        let config = configfile::load(&located).unwrap();
        assert_eq!(config.creator, CREATOR);
        assert_eq!(config.params.block_size, 4096);
        assert_eq!(config.params.key_bits, Preset::Standard.params().key_bits);
        assert_eq!(config.params.name_codec, NameCodec::Stream);
        match &config.kdf {
            Kdf::Pbkdf2 {
                salt, iterations, ..
            } => assert_eq!((salt.len(), *iterations), (SALT_LEN, MIN_KDF_ITERATIONS)),
            Kdf::Legacy => panic!("a new config uses PBKDF2"),
        }
        let opened = configfile::unlock(&path, &config, b"s3cret").unwrap();
        assert_eq!(opened.encode_path(b"a/b").0, made.encode_path(b"a/b").0);
        assert!(configfile::unlock(&path, &config, b"wrong").is_err());
    }

    #[test]
    fn an_existing_file_or_symlink_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let pw = password_file(dir.path(), "x");
        let path = dir.path().join("v.xml");
        std::fs::write(&path, "keep").unwrap();
        let Err(e) = create_config(&path, &quick(), &pw) else {
            panic!("an existing file was replaced");
        };
        assert!(
            matches!(e, InitError::File(ConfigFileError::Exists { .. })),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
        let link = dir.path().join("link.xml");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        assert!(create_config(&link, &quick(), &pw).is_err());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn bad_parameters_are_refused_before_the_password_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let new = NewVolume {
            block_size: Some(100),
            ..quick()
        };
        // A missing password file would be the error if it were read first.
        let pw = PasswordSource::File(dir.path().join("missing"));
        let Err(e) = create_config(&dir.path().join("v.xml"), &new, &pw) else {
            panic!("a 100-byte block size was taken");
        };
        assert!(matches!(e, InitError::Params(_)), "{e}");
        assert!(!dir.path().join("v.xml").exists());
    }

    #[test]
    fn only_given_values_count_as_given_and_the_names_tables_are_complete() {
        assert!(!NewVolume::default().any_given());
        assert!(quick().any_given());
        for p in [Preset::Hardened, Preset::Standard, Preset::Paranoia] {
            assert!(!preset_name(p).is_empty(), "{p:?}");
        }
        for c in [
            NameCodec::Block,
            NameCodec::Block32,
            NameCodec::Stream,
            NameCodec::Null,
        ] {
            assert!(!name_codec_name(c).is_empty(), "{c:?}");
        }
    }

    #[test]
    fn a_timed_kdf_records_its_target() {
        let Kdf::Pbkdf2 {
            iterations,
            desired_ms,
            ..
        } = new_kdf(Some(5), None, DEFAULT_KDF_MS).unwrap()
        else {
            panic!("PBKDF2 expected");
        };
        assert_eq!(desired_ms, 5);
        assert!(iterations >= 1, "{iterations}");
    }
}
