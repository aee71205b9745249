//! What a running view tells the manager (design §7): its pid, and a small
//! JSON status file (last access, open files, names left out), rewritten
//! atomically while the view runs and removed when it ends.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::SigSet;
use serde::{Deserialize, Serialize};

/// How often a running view refreshes its status file.
const REFRESH: Duration = Duration::from_secs(2);

/// The status of a running view, as written to its state file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewState {
    /// The daemon's pid.
    pub pid: u32,
    /// "reverse" or "forward".
    pub kind: String,
    /// The source directory.
    pub source: PathBuf,
    /// The mountpoint.
    pub mountpoint: PathBuf,
    /// When the view was mounted (seconds since the epoch).
    pub started: u64,
    /// When it last served a request (seconds since the epoch).
    pub last_access: u64,
    /// Open files and directories.
    pub open_handles: u64,
    /// Names left out: long names whose short name is taken.
    pub skipped_names: u64,
}

/// Seconds since the epoch of a time.
pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".encmount-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a state file.
pub fn read_state(path: &Path) -> io::Result<ViewState> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Keeps a view's pid and state files while it runs.
pub struct StateWriter {
    pid_file: Option<PathBuf>,
    state_file: Option<PathBuf>,
    stop: Arc<AtomicBool>,
}

impl StateWriter {
    /// Writes the pid file now and starts refreshing the state file from
    /// `snapshot` every few seconds.
    pub fn start(
        pid_file: Option<PathBuf>,
        state_file: Option<PathBuf>,
        snapshot: impl Fn() -> ViewState + Send + 'static,
    ) -> io::Result<Self> {
        if let Some(p) = &pid_file {
            write_atomic(p, format!("{}\n", std::process::id()).as_bytes())?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(path) = state_file.clone() {
            let stop = stop.clone();
            let own = pid_file.clone();
            let write = move || {
                // A newer daemon for the same view (this one was detached
                // while busy) owns the files now.
                if !still_ours(own.as_deref()) {
                    return;
                }
                let json = serde_json::to_vec_pretty(&snapshot()).expect("plain data serializes");
                let _ = write_atomic(&path, &json);
            };
            write();
            thread::Builder::new()
                .name("encmount-state".into())
                .spawn(move || {
                    // Started before the view blocks SIGTERM/SIGINT/SIGHUP
                    // for its signal thread: without this, the kernel may
                    // deliver them here, and their default action kills the
                    // daemon without unmounting.
                    let _ = SigSet::all().thread_block();
                    while !stop.load(Ordering::Relaxed) {
                        thread::sleep(REFRESH);
                        if !stop.load(Ordering::Relaxed) {
                            write();
                        }
                    }
                })?;
        }
        Ok(Self {
            pid_file,
            state_file,
            stop,
        })
    }
}

impl Drop for StateWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if !still_ours(self.pid_file.as_deref()) {
            return;
        }
        for p in [&self.state_file, &self.pid_file].into_iter().flatten() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Whether the pid file (if any) still names this process.
fn still_ours(pid_file: Option<&Path>) -> bool {
    pid_file.is_none_or(|p| {
        fs::read_to_string(p).is_ok_and(|s| s.trim() == std::process::id().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_files_go_away() {
        let d = tempfile::tempdir().unwrap();
        let (pid, state) = (d.path().join("v.pid"), d.path().join("v.json"));
        let w = StateWriter::start(Some(pid.clone()), Some(state.clone()), || ViewState {
            pid: 7,
            kind: "reverse".into(),
            skipped_names: 3,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(&pid).unwrap().trim(),
            std::process::id().to_string()
        );
        let s = read_state(&state).unwrap();
        assert_eq!((s.pid, s.skipped_names, s.kind.as_str()), (7, 3, "reverse"));
        drop(w);
        assert!(!pid.exists() && !state.exists());

        // Files taken over by a newer daemon are left alone.
        let w =
            StateWriter::start(Some(pid.clone()), Some(state.clone()), ViewState::default).unwrap();
        fs::write(&pid, "999999999\n").unwrap();
        drop(w);
        assert!(pid.exists() && state.exists());
    }
}
