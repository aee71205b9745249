//! FUSE frontends (design §4, §5): thin maps from requests to the volume
//! and to the source tree.

mod error;
mod fdlimit;
mod forward;
pub mod fuse;
pub mod mount;
mod pool;
mod problems;
mod readonly;
pub mod reverse;
pub mod run;
mod shared;
mod snapshot;
mod source;
pub mod table;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Who may use a view, and when it was last used.
pub struct Gate {
    readers: Vec<u32>,
    start: Instant,
    started: SystemTime,
    last_ms: AtomicU64,
}

impl Gate {
    /// Root and the uids in `readers` are admitted.
    pub fn new(readers: Vec<u32>) -> Self {
        Self {
            readers,
            start: Instant::now(),
            started: SystemTime::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Notes a request by `uid`; says whether it is admitted.
    pub fn admit(&self, uid: u32) -> bool {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
        self.allows(uid)
    }

    /// Whether `uid` is admitted, without noting a request: for statfs,
    /// which `df` and the manager's health probe send, and which must not
    /// keep an on-demand view from idling out.
    pub fn allows(&self, uid: u32) -> bool {
        uid == 0 || self.readers.contains(&uid)
    }

    /// When the view was set up.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Wall-clock time of the last request (the start if none yet).
    pub fn last_access(&self) -> SystemTime {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Time since the last request.
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}
