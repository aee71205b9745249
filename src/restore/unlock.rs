//! Finding and unlocking a backup's volume: `--config` (or
//! `$ENCFS6_CONFIG`), else the cipher directory's own config, else the
//! `.encfs6.xml` at the root of a tar or zip archive, unlocked when the
//! stream brings it.

use std::path::{Path, PathBuf};

use super::source::Source;
use super::{Key, RestoreError};
use crate::configfile::{self, OpenError, V6_NAME};
use crate::password::{self, PasswordSource};
use crate::volume::{Config, ConfigFormat, Volume};

/// An unlocked volume, or the means to unlock the one a stream carries.
pub enum Unlocker {
    /// Unlocked before the first member.
    Ready(Box<Volume>),
    /// The archive named here carries its config further on.
    Later(String),
}

/// Why a backup's volume could not be unlocked.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    /// The config named, or the cipher directory's.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The archive's own config.
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// Finds and unlocks the volume of `src` (`dir` is its cipher directory,
/// if it is one); `password(root)` is where the password comes from for
/// the volume at `root`.
pub fn unlock(
    explicit: Option<&Path>,
    password: &dyn Fn(Option<&Path>) -> PasswordSource,
    src: &mut dyn Source,
    dir: Option<&Path>,
) -> Result<Unlocker, UnlockError> {
    let from_env = std::env::var_os("ENCFS6_CONFIG").is_some_and(|v| !v.is_empty());
    if dir.is_some() || explicit.is_some() || from_env {
        let opened = configfile::open(explicit, dir, &password(dir))?;
        return Ok(Unlocker::Ready(Box::new(opened.volume)));
    }
    match src.root_config().map_err(RestoreError::from)? {
        Some(bytes) => Ok(Unlocker::Ready(Box::new(unlock_bytes(
            &bytes,
            &src.name(),
            &password(None),
        )?))),
        None => Ok(Unlocker::Later(src.name())),
    }
}

/// Unlocks the config `bytes` found in the archive `source`.
fn unlock_bytes(
    bytes: &[u8],
    source: &str,
    password: &PasswordSource,
) -> Result<Volume, RestoreError> {
    let fail = |reason: String| RestoreError::Unlock {
        source_name: source.to_string(),
        reason,
    };
    let config = Config::parse(bytes, ConfigFormat::V6).map_err(|e| fail(e.to_string()))?;
    let what = format!("Password for {V6_NAME} in {source}: ");
    let password = password::read_password(password, &what)
        .map_err(|e| fail(crate::report::error_line(&e)))?;
    let shown = PathBuf::from(format!("{source}:{V6_NAME}"));
    configfile::unlock(&shown, &config, password.expose()).map_err(|e| fail(e.to_string()))
}

/// Runs `f` with the engine's key for `u`.
pub fn with_key<T>(
    u: &Unlocker,
    password: &PasswordSource,
    f: impl FnOnce(Key<'_>) -> Result<T, RestoreError>,
) -> Result<T, RestoreError> {
    match u {
        Unlocker::Ready(v) => f(Key::Volume(v)),
        Unlocker::Later(name) => {
            let mut later = |bytes: &[u8]| unlock_bytes(bytes, name, password);
            f(Key::FromSource(&mut later))
        }
    }
}
