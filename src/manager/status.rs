//! `encmount status`: what each view is doing, from mountinfo, `/proc` and
//! the state file its daemon keeps.
//!
//! The JSON form is an interface for scripts; its field names are stable
//! (new fields may be added, none renamed or removed):
//!
//! ```text
//! { "version": 1, "config": "/etc/encmount/encmount.yaml", "views": [ {
//!     "name": "documents",
//!     "health": "healthy",      // healthy | stale | down | foreign
//!     "mounted": true,          // a fuse.encmount mount is at the mountpoint
//!     "healthy": true,          // mounted and its daemon is alive
//!     "reason": null,           // why it is stale or foreign, else null
//!     "pid": 1234,              // the daemon, when healthy
//!     "source": "/home/walter/Documents",
//!     "mountpoint": "/srv/encmount/documents",
//!     "readers": ["backuppc"],
//!     "on_demand": true,
//!     "idle_timeout_secs": 900, // on-demand views only, else null
//!     "started": 1767225600,    // epoch seconds, from the daemon (else null)
//!     "last_access": 1767229200,// epoch seconds of the last request
//!     "idle_secs": 42,          // seconds since then
//!     "open_handles": 0,
//!     "skipped_names": 0        // names left out: a long name whose short name is taken
//! } ] }
//! ```

use std::time::SystemTime;

use serde::Serialize;

use super::health::{Health, probe};
use super::{Config, Paths, View};
use crate::state::{epoch_secs, read_state};

/// The JSON format version.
pub const VERSION: u32 = 1;

/// Every view asked about.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// [`VERSION`].
    pub version: u32,
    /// The yaml.
    pub config: String,
    /// One entry per view, in the order asked (file order for all).
    pub views: Vec<ViewStatus>,
}

/// One view's status (see the module docs for the JSON).
#[derive(Clone, Debug, Serialize)]
pub struct ViewStatus {
    /// The view's name.
    pub name: String,
    /// healthy, stale, down or foreign.
    pub health: &'static str,
    /// A `fuse.encmount` mount is at the mountpoint.
    pub mounted: bool,
    /// Mounted, with a live daemon.
    pub healthy: bool,
    /// Why it is stale or foreign.
    pub reason: Option<String>,
    /// The daemon's pid, when healthy.
    pub pid: Option<u32>,
    /// The plaintext directory.
    pub source: String,
    /// The mountpoint.
    pub mountpoint: String,
    /// Users who may read the view, besides root.
    pub readers: Vec<String>,
    /// Mounted on demand, unmounted when idle.
    pub on_demand: bool,
    /// For on-demand views: seconds without requests before unmounting.
    pub idle_timeout_secs: Option<u64>,
    /// When the daemon mounted the view (epoch seconds).
    pub started: Option<u64>,
    /// When it last served a request (epoch seconds).
    pub last_access: Option<u64>,
    /// Seconds since the last request.
    pub idle_secs: Option<u64>,
    /// Open files and directories.
    pub open_handles: Option<u64>,
    /// Names left out of the view: long names whose short name is taken
    /// (`volume::names::long`).
    pub skipped_names: Option<u64>,
}

/// The status of `views` of `config`.
pub fn report(config: &Config, views: &[&View], paths: &Paths) -> StatusReport {
    StatusReport {
        version: VERSION,
        config: config.file.display().to_string(),
        views: views.iter().map(|v| view_status(v, paths)).collect(),
    }
}

/// The status of one view.
pub fn view_status(view: &View, paths: &Paths) -> ViewStatus {
    let health = probe(view, paths);
    let (pid, reason) = match &health {
        Health::Healthy { pid } => (Some(*pid), None),
        Health::Stale { reason } => (None, Some(reason.clone())),
        Health::Foreign { fs_type } => (None, Some(format!("a {fs_type} mount is there"))),
        Health::Down => (None, None),
    };
    // Only a state file written by the live daemon counts.
    let state = pid.and_then(|p| {
        read_state(&paths.state_file(&view.name))
            .ok()
            .filter(|s| s.pid == p)
    });
    let now = epoch_secs(SystemTime::now());
    ViewStatus {
        name: view.name.clone(),
        health: health.word(),
        mounted: matches!(health, Health::Healthy { .. } | Health::Stale { .. }),
        healthy: pid.is_some(),
        reason,
        pid,
        source: view.source.display().to_string(),
        mountpoint: view.mountpoint.display().to_string(),
        readers: view.readers.iter().map(|r| r.name.clone()).collect(),
        on_demand: view.on_demand,
        idle_timeout_secs: view.on_demand.then_some(view.idle_timeout.as_secs()),
        started: state.as_ref().map(|s| s.started),
        last_access: state.as_ref().map(|s| s.last_access),
        idle_secs: state.as_ref().map(|s| now.saturating_sub(s.last_access)),
        open_handles: state.as_ref().map(|s| s.open_handles),
        skipped_names: state.as_ref().map(|s| s.skipped_names),
    }
}
