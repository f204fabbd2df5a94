//! Who is signed in: session cookies, the owner's one-time login links, and the throttle on
//! failed sign-ins. All in memory and bounded: a node that restarts asks everyone to sign in
//! again, which is the safe way round.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shiftmesh_app::Caller;

/// The most sessions kept at once; past it the one used least recently ends.
pub const MAX_SESSIONS: usize = 256;
/// How long a session lasts without being used.
pub const SESSION_IDLE_SECS: u64 = 7 * 24 * 3600;
/// How long the owner's login link stays good.
pub const LOGIN_LINK_SECS: u64 = 10 * 60;
/// The most unused login links kept at once.
pub const MAX_LOGIN_LINKS: usize = 16;
/// Failed sign-ins allowed per login and per address within the window…
pub const SIGN_IN_FAILURES_MAX: u32 = 5;
/// …of this many seconds; past them, sign-ins are refused until the window ends.
pub const SIGN_IN_WINDOW_SECS: u64 = 300;
/// The most logins and addresses whose failures are counted at once.
pub const MAX_THROTTLED: usize = 1024;

/// The cookie that carries a session.
pub const SESSION_COOKIE: &str = "shiftmesh_session";

/// 32 random bytes as hex: a session token or a login link's secret.
fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug)]
struct Session {
    caller: Caller,
    last_used: Instant,
}

#[derive(Default, Debug)]
struct State {
    sessions: HashMap<String, Session>,
    links: HashMap<String, Instant>,
    failures: HashMap<String, (Instant, u32)>,
}

/// Sessions, links and the throttle, shared by every request.
#[derive(Clone, Debug, Default)]
pub struct Sessions {
    state: Arc<Mutex<State>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session for `caller`; returns its token.
    pub fn start(&self, caller: Caller) -> String {
        let mut state = self.lock();
        let idle = Duration::from_secs(SESSION_IDLE_SECS);
        state.sessions.retain(|_, s| s.last_used.elapsed() < idle);
        if state.sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = state
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(t, _)| t.clone())
            {
                state.sessions.remove(&oldest);
            }
        }
        let token = secret();
        state.sessions.insert(
            token.clone(),
            Session {
                caller,
                last_used: Instant::now(),
            },
        );
        token
    }

    /// Who a session token belongs to, if it is a live session.
    pub fn caller(&self, token: &str) -> Option<Caller> {
        let mut state = self.lock();
        let session = state.sessions.get_mut(token)?;
        if session.last_used.elapsed() >= Duration::from_secs(SESSION_IDLE_SECS) {
            state.sessions.remove(token);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.caller.clone())
    }

    pub fn end(&self, token: &str) {
        self.lock().sessions.remove(token);
    }

    /// Ends every session of a login (an account disabled or changed elsewhere).
    pub fn end_all_of(&self, name: &str) {
        self.lock().sessions.retain(|_, s| s.caller.name != name);
    }

    /// A new one-time login link's secret.
    pub fn new_link(&self) -> String {
        let mut state = self.lock();
        let valid = Duration::from_secs(LOGIN_LINK_SECS);
        state.links.retain(|_, made| made.elapsed() < valid);
        if state.links.len() >= MAX_LOGIN_LINKS {
            if let Some(oldest) = state
                .links
                .iter()
                .min_by_key(|(_, made)| **made)
                .map(|(s, _)| s.clone())
            {
                state.links.remove(&oldest);
            }
        }
        let link = secret();
        state.links.insert(link.clone(), Instant::now());
        link
    }

    /// Spends a login link: true once, for a link that was made and has not expired.
    pub fn spend_link(&self, link: &str) -> bool {
        let made = self.lock().links.remove(link);
        made.is_some_and(|made| made.elapsed() < Duration::from_secs(LOGIN_LINK_SECS))
    }

    /// Whether sign-ins for `login` from `address` are refused for now (too many failures);
    /// how long until they are not.
    pub fn throttled(&self, login: &str, address: IpAddr) -> Option<Duration> {
        let state = self.lock();
        let window = Duration::from_secs(SIGN_IN_WINDOW_SECS);
        [format!("login:{login}"), format!("address:{address}")]
            .iter()
            .filter_map(|key| state.failures.get(key))
            .filter(|(since, count)| *count >= SIGN_IN_FAILURES_MAX && since.elapsed() < window)
            .map(|(since, _)| window.saturating_sub(since.elapsed()))
            .max()
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, login: &str, address: IpAddr) {
        let mut state = self.lock();
        let window = Duration::from_secs(SIGN_IN_WINDOW_SECS);
        state
            .failures
            .retain(|_, (since, _)| since.elapsed() < window);
        for key in [format!("login:{login}"), format!("address:{address}")] {
            if state.failures.len() >= MAX_THROTTLED && !state.failures.contains_key(&key) {
                continue;
            }
            let entry = state.failures.entry(key).or_insert((Instant::now(), 0));
            entry.1 += 1;
        }
    }

    /// Forgets the failures of a login after it signed in.
    pub fn succeeded(&self, login: &str) {
        self.lock().failures.remove(&format!("login:{login}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_link_works_once() {
        let sessions = Sessions::default();
        let link = sessions.new_link();
        assert!(sessions.spend_link(&link));
        assert!(!sessions.spend_link(&link));
        assert!(!sessions.spend_link("not-a-link"));
    }

    #[test]
    fn repeated_failures_throttle_the_login_and_the_address() {
        let sessions = Sessions::default();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..SIGN_IN_FAILURES_MAX {
            assert!(sessions.throttled("ana", here).is_none());
            sessions.failed("ana", here);
        }
        assert!(sessions.throttled("ana", here).is_some());
        assert!(sessions.throttled("ana", there).is_some(), "by login");
        assert!(sessions.throttled("bo", here).is_some(), "by address");
        assert!(sessions.throttled("bo", there).is_none());
    }
}
