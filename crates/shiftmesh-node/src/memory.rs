//! Giving the memory a large pass freed back to the system. Loading a schedule, taking in a
//! whole document and a full validation each free tens of megabytes; the C allocator keeps
//! freed pages for reuse, so a node that had one such moment would hold them while idle. Once
//! the node has been quiet for a while after a change, it asks the allocator to return them.

/// How long after the last change (made here or received) the node gives freed memory back:
/// long enough that a run of edits is not slowed by it, short enough that an idle node is lean.
pub const TRIM_AFTER_QUIET_MS: i64 = 5_000;

/// When to give freed memory back: once after each burst of activity, when it has settled.
#[derive(Debug)]
pub struct Trim {
    /// When the last change was, if memory has not been given back since.
    last_activity_ms: Option<i64>,
}

impl Trim {
    /// Starting counts as activity: the load and the first validation freed a good deal.
    pub fn new(now_ms: i64) -> Trim {
        Trim {
            last_activity_ms: Some(now_ms),
        }
    }

    /// A change was made or received.
    pub fn activity(&mut self, now_ms: i64) {
        self.last_activity_ms = Some(now_ms);
    }

    /// Whether to give memory back now; true once per burst of activity.
    pub fn due(&mut self, now_ms: i64) -> bool {
        match self.last_activity_ms {
            Some(last) if now_ms.saturating_sub(last) >= TRIM_AFTER_QUIET_MS => {
                self.last_activity_ms = None;
                true
            }
            _ => false,
        }
    }
}

/// Asks the allocator to return the freed memory at the top of every heap and the free pages
/// inside them (glibc's `malloc_trim`); elsewhere there is nothing to ask.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn give_back() {
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's own free lists,
    // under its locks; it may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_given_back_once_after_each_quiet_spell() {
        let mut trim = Trim::new(0);
        assert!(!trim.due(TRIM_AFTER_QUIET_MS - 1), "not while starting");
        assert!(trim.due(TRIM_AFTER_QUIET_MS));
        assert!(
            !trim.due(10 * TRIM_AFTER_QUIET_MS),
            "once, not on every tick"
        );
        trim.activity(100_000);
        trim.activity(103_000);
        assert!(
            !trim.due(100_000 + TRIM_AFTER_QUIET_MS),
            "a later change restarts the wait"
        );
        assert!(trim.due(103_000 + TRIM_AFTER_QUIET_MS));
    }
}
