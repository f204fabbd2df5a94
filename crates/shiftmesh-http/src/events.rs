//! The node's event stream, for every follower: the control socket's `events`, and each page's
//! Server-Sent Events stream. Every event gets an id, one more than the last; the newest
//! [`EVENT_REPLAY_LEN`] are kept, so a follower that drops and comes back with the last id it
//! saw (`Last-Event-ID`) gets exactly what it missed, and one that missed more than is kept is
//! told to fetch everything again (`resync`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// Events kept for followers that come back (and for slow ones, before they lose some).
pub const EVENT_REPLAY_LEN: usize = 4096;

/// One event: its id and its JSON text (one line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: u64,
    pub json: Arc<str>,
}

#[derive(Debug)]
struct Kept {
    next_id: u64,
    recent: VecDeque<Event>,
}

/// Where the node sends its events and followers take them.
#[derive(Clone, Debug)]
pub struct Hub {
    kept: Arc<Mutex<Kept>>,
    live: broadcast::Sender<Event>,
}

/// What a follower gets when it (re)joins: what it missed, then the live stream.
pub struct Follow {
    /// Events after the one it last saw, when they are all still kept.
    pub missed: Vec<Event>,
    /// It missed more than is kept (or came from another run of the node): it must fetch
    /// everything again.
    pub resync: bool,
    pub live: broadcast::Receiver<Event>,
}

impl Hub {
    /// A hub whose ids start at `first_id` (the node uses its start time, so that an id from
    /// an earlier run of the node is never mistaken for one of this run).
    pub fn new(first_id: u64) -> Hub {
        let (live, _) = broadcast::channel(EVENT_REPLAY_LEN);
        Hub {
            kept: Arc::new(Mutex::new(Kept {
                next_id: first_id,
                recent: VecDeque::with_capacity(EVENT_REPLAY_LEN),
            })),
            live,
        }
    }

    /// Sends an event (JSON, one line) to every follower.
    pub fn send(&self, json: String) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let event = Event {
            id: kept.next_id,
            json: Arc::from(json),
        };
        kept.next_id += 1;
        if kept.recent.len() == EVENT_REPLAY_LEN {
            kept.recent.pop_front();
        }
        kept.recent.push_back(event.clone());
        // Sent under the lock, so a follower joining meanwhile sees each event once: either
        // among the kept ones or live.
        let _ = self.live.send(event);
    }

    /// Follows the stream, having last seen `last_seen` (None: from now on).
    pub fn follow(&self, last_seen: Option<u64>) -> Follow {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live.subscribe();
        let Some(last) = last_seen else {
            return Follow {
                missed: Vec::new(),
                resync: false,
                live,
            };
        };
        let newest = kept.next_id.saturating_sub(1);
        let oldest = kept.recent.front().map_or(kept.next_id, |e| e.id);
        if last > newest || last.saturating_add(1) < oldest {
            return Follow {
                missed: Vec::new(),
                resync: true,
                live,
            };
        }
        let missed = kept
            .recent
            .iter()
            .filter(|e| e.id > last)
            .cloned()
            .collect();
        Follow {
            missed,
            resync: false,
            live,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_gets_what_it_missed_or_is_told_to_resync() {
        let hub = Hub::new(100);
        for i in 0..5 {
            hub.send(format!("{{\"n\":{i}}}"));
        }
        let f = hub.follow(Some(102));
        assert!(!f.resync);
        assert_eq!(
            f.missed.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![103, 104]
        );
        assert!(hub.follow(Some(104)).missed.is_empty());
        assert!(hub.follow(Some(10_000)).resync, "an id from another run");
        for i in 0..EVENT_REPLAY_LEN {
            hub.send(format!("{{\"m\":{i}}}"));
        }
        assert!(hub.follow(Some(102)).resync, "too much was missed");
    }
}
