//! The manager (design §7): the yaml of views, bringing views up and down,
//! their health and status, and `check`.
//!
//! Each view runs as its own `encmount mount --reverse` daemon, started
//! with the binary next to the running one. State lives in `/run/encmount/`:
//! `NAME.pid` and `NAME.json`, written by the daemon, and `NAME.lock`, held
//! by whoever checks or changes the view, so callers that race (two
//! `encmount-rsync` sessions asking for the same on-demand view) end with
//! exactly one mount.

// In dependency order: each module uses only those above it.
pub mod check;
pub mod config;
pub mod deploy;
mod error;
mod gate;
pub mod health;
pub mod launch;
mod locate;
mod paths;
mod raw;
pub mod status;
mod validate;
pub mod yaml;

pub use config::{ManagerConfig, PasswordSpec, View};
pub use error::{ManagerError, YamlError};
pub use health::Health;
pub use launch::{DownOutcome, UpOutcome, down, ensure_up};
pub use paths::Paths;
pub use validate::valid_view_name;
