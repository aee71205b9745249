//! encmount: encrypted pull backups.
//!
//! Layers, bottom up (design §2): [`volume`] is the EncFS V6 format as pure
//! functions; the restore tools, FUSE views, manager and rsync shim stand on
//! it.

pub mod cli;
pub mod configfile;
mod daemon;
pub mod escape;
pub mod excludes;
pub mod init;
pub mod log;
mod logfile;
pub mod manager;
mod mountpoint;
pub mod mounts;
mod password;
mod probe;
pub mod report;
pub mod restore;
pub mod shim;
pub mod state;
pub mod view;
mod viewspec;
pub mod volume;
