//! encmount: encrypted pull backups.
//!
//! Layers, bottom up (design §2): [`volume`] is the EncFS V6 format as pure
//! functions; the restore tools, FUSE views, manager and rsync shim stand on
//! it.

pub mod configfile;
pub mod daemon;
pub mod excludes;
pub mod log;
pub mod manager;
pub mod mounts;
pub mod password;
pub mod restore;
pub mod shim;
pub mod state;
pub mod view;
pub mod volume;
