//! A token bucket per peer: how many requests a peer may make in a burst, and how fast the
//! allowance comes back. A peer over its allowance has its requests dropped (its sessions
//! fail and retry later), so one busy or hostile peer cannot crowd out the others.

use std::time::Instant;

/// Requests (of any protocol) a peer may make per second, sustained. A member relaying a
/// scripted burst of edits sends an announcement and two or three sync requests per edit, a
/// few hundred a second; the allowance sits well above that and well below a flood.
pub const REQUESTS_PER_PEER_PER_SEC: f64 = 1000.0;
/// Requests a peer may make at once after a quiet spell.
pub const REQUEST_BURST_PER_PEER: f64 = 2000.0;

#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    pub fn new(now: Instant) -> Bucket {
        Bucket {
            tokens: REQUEST_BURST_PER_PEER,
            refilled_at: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * REQUESTS_PER_PEER_PER_SEC).min(REQUEST_BURST_PER_PEER);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let attempts = 10 * REQUEST_BURST_PER_PEER as usize;
        let burst = (0..attempts).filter(|_| bucket.take(start)).count();
        assert_eq!(burst, REQUEST_BURST_PER_PEER as usize);
        let later = start + Duration::from_millis(100);
        let refilled = (0..attempts).filter(|_| bucket.take(later)).count();
        assert_eq!(refilled, (REQUESTS_PER_PEER_PER_SEC / 10.0) as usize);
    }
}
