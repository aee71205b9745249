//! Distinct problems a view meets (names left out, entries that do not
//! decrypt), counted, and remembered so that each is logged once.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many distinct problems a [`ProblemLog`] remembers; past that, new
/// ones are neither counted nor logged (memory stays bounded).
const PROBLEM_MEMORY: usize = 65_536;

/// Distinct problems (hidden names, files that do not decrypt), counted and
/// remembered so that each is logged once; bounded.
#[derive(Default)]
pub struct ProblemLog {
    count: AtomicU64,
    seen: Mutex<HashSet<Vec<u8>>>,
}

impl ProblemLog {
    /// Distinct problems so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Notes the problem `key`; true the first time it is seen (log it).
    pub fn first(&self, key: &[u8]) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= PROBLEM_MEMORY || !seen.insert(key.to_vec()) {
            return false;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_counted_and_logged_once() {
        let log = ProblemLog::default();
        assert!(log.first(b"a"));
        assert!(!log.first(b"a"));
        assert!(log.first(b"b"));
        assert_eq!(log.count(), 2);
    }
}
