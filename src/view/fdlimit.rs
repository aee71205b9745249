//! The daemon's open-file budget (issue: a view must serve any tree size
//! under the default soft limit of 1024, which systemd services and ssh
//! logins get).
//!
//! The daemon raises its soft `RLIMIT_NOFILE` to the hard limit at start,
//! and a view keeps at most [`dir_fd_budget`] directory handles open (the
//! node table evicts the least recently used, see `view::table`). The rest
//! of the limit is for what a request holds for its duration: open files,
//! the listing being read, the FUSE channels.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The most directory handles a view keeps, whatever the limit allows:
/// past this, more handles save too few re-opens to be worth the fds.
pub const MAX_DIR_FDS: usize = 512;
/// The fewest: below this, walks would re-open ancestors all the time.
const MIN_DIR_FDS: usize = 16;
/// Descriptors left for everything but cached directory handles.
const RESERVED: u64 = 64;

/// Raises the soft open-file limit to the hard one; returns the soft limit
/// now in force. Failure leaves the limit as it was (it only costs
/// re-opens).
pub fn raise_to_hard() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// How many directory handles a view may keep under the current soft
/// limit: half of what is left after [`RESERVED`], between 16 and
/// [`MAX_DIR_FDS`] (the other half is for the files and listings that
/// concurrent requests hold).
pub fn dir_fd_budget() -> usize {
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(s, _)| s);
    budget_for(soft)
}

fn budget_for(soft: u64) -> usize {
    let half = soft.saturating_sub(RESERVED) / 2;
    (half.min(MAX_DIR_FDS as u64) as usize).max(MIN_DIR_FDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_room_under_small_limits_and_is_capped() {
        assert_eq!(budget_for(256), 96);
        assert_eq!(budget_for(1024), 480);
        assert_eq!(budget_for(1 << 20), MAX_DIR_FDS);
        assert_eq!(budget_for(20), MIN_DIR_FDS);
        assert!(dir_fd_budget() >= MIN_DIR_FDS);
    }
}
