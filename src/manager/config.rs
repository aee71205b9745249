//! The manager's configuration as the rest of the program sees it: checked,
//! absolute, with defaults filled in ([`super::yaml`] makes it).

use std::path::PathBuf;
use std::time::Duration;

use super::error::ManagerError;
use crate::volume::FileIv;

/// The yaml read when no other is named.
pub const DEFAULT_PATH: &str = "/etc/encmount/encmount.yaml";
/// Where views mount unless the yaml says otherwise.
pub const DEFAULT_MOUNT_ROOT: &str = "/srv/encmount";
/// How long an on-demand view stays up without requests, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The rsync the shim runs by default.
pub const DEFAULT_RSYNC: &str = "/usr/bin/rsync";

/// The manager's configuration, checked and with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerConfig {
    /// The yaml it came from.
    pub file: PathBuf,
    /// `defaults.mount_root`.
    pub mount_root: PathBuf,
    /// The views, in file order.
    pub views: Vec<View>,
    /// The `shim:` section.
    pub shim: Shim,
}

impl ManagerConfig {
    /// The view called `name`.
    pub fn view(&self, name: &str) -> Option<&View> {
        self.views.iter().find(|v| v.name == name)
    }

    /// The views called `names`, in the order given, or every view when
    /// `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<&View>, ManagerError> {
        if names.is_empty() {
            return Ok(self.views.iter().collect());
        }
        names
            .iter()
            .map(|n| {
                self.view(n).ok_or_else(|| ManagerError::UnknownView {
                    file: self.file.clone(),
                    name: n.clone(),
                })
            })
            .collect()
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
    /// Threads taking FUSE requests (yaml `fuse_threads`).
    pub fuse_threads: u16,
    /// Threads encrypting large reads (yaml `crypto_threads`; one per CPU
    /// when `None`).
    pub crypto_threads: Option<u16>,
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
