//! Membership first: a node back from being away learns the membership from the members it
//! can reach before it exchanges schedule data with any of them.
//!
//! A machine revoked while this node was away may still believe itself a member and be the
//! first this node meets; syncing with it would hand it what this node wrote meanwhile and
//! take in what it wrote (and whom it admitted) after its revocation. So:
//!
//! - For a short grace after the node starts, and after it has been alone (no member
//!   connected), it holds every connection: no session runs either way until every other
//!   member it knows of has connected and announced, or the grace is over.
//! - Members announce the machines they judge revoked. A machine that a connected member says
//!   is revoked is held until this node holds every change that member had when it said so
//!   (the heads of that announcement; for a member that announced none, until a sync with it
//!   completes): then the revocation, if real, is in this node's schedule and its own
//!   judgement cuts the machine off; if not, the hold ends and nothing was lost but a moment.
//!
//! A claim only ever delays, never cuts off: the member set is the schedule's alone. Two
//! machines that claim each other revoked are both let through (this node cannot tell which
//! is honest), and a member that is unreachable cannot be learned from: "where it can".

use std::collections::{BTreeMap, BTreeSet};

use automerge::ChangeHash;
use shiftmesh_net::PeerId;

/// How long a node holds its connections after it starts or has been alone, waiting for the
/// members it knows of to connect and tell it whom they judge revoked.
pub const MEMBERSHIP_GRACE_MS: i64 = 2_000;

/// The most machines one member's claim holds; beyond it the rest are taken as not claimed
/// (an announcement carries at most `shiftmesh_sync::MAX_SHARED_REVOKED` anyway).
pub const MAX_CLAIMED_PER_MEMBER: usize = shiftmesh_sync::MAX_SHARED_REVOKED;

/// Which peers the node holds back from syncing with, and why. Times are milliseconds of a
/// monotonic clock (a wall clock stepped back would stretch the grace).
#[derive(Debug)]
pub struct MembershipFirst {
    /// Until when every connection is held; None once the grace is over.
    grace_until_ms: Option<i64>,
    /// Connected members, and the heads each last announced (None: it has not yet).
    connected: BTreeMap<PeerId, Option<Vec<ChangeHash>>>,
    /// Each connected member's claim: the machines it judges revoked, and the heads it
    /// announced with the claim (what this node must hold to know what it knew).
    claims: BTreeMap<PeerId, Claim>,
    /// Claimers whose claim this node has caught up with: what they knew, we know.
    learned_from: BTreeSet<PeerId>,
    /// Connections held back from the sync engine, with whether we start the first session
    /// when they are let go (we dialed, or we turned a session of theirs away meanwhile).
    deferred: BTreeMap<PeerId, bool>,
}

/// Milliseconds of a monotonic clock, counted from the first call in this process.
pub fn monotonic_ms() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    i64::try_from(
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

#[derive(Debug)]
struct Claim {
    revoked: BTreeSet<PeerId>,
    heads: Vec<ChangeHash>,
}

/// What the node is to do about a connection that was held and no longer is.
#[derive(Debug, PartialEq, Eq)]
pub struct Released {
    pub peer: PeerId,
    /// Whether this node starts the first session.
    pub initiate: bool,
    /// The heads it last announced while held, for the sync engine to see what it lacks.
    pub heads: Option<Vec<ChangeHash>>,
}

impl MembershipFirst {
    pub fn new(now_ms: i64) -> MembershipFirst {
        MembershipFirst {
            grace_until_ms: Some(now_ms + MEMBERSHIP_GRACE_MS),
            connected: BTreeMap::new(),
            claims: BTreeMap::new(),
            learned_from: BTreeSet::new(),
            deferred: BTreeMap::new(),
        }
    }

    /// A member connected. Whether the sync engine may have it now; if not, it is held until
    /// [`MembershipFirst::released`] lets it go.
    pub fn connected(
        &mut self,
        peer: PeerId,
        dialer: bool,
        now_ms: i64,
        members: &BTreeSet<PeerId>,
    ) -> bool {
        let grace_over = self.grace_until_ms.is_none_or(|until| now_ms >= until);
        if self.connected.is_empty() && grace_over {
            // Alone until now: whatever happened meanwhile is learned first again.
            self.grace_until_ms = Some(now_ms + MEMBERSHIP_GRACE_MS);
        }
        self.connected.insert(peer, None);
        if self.is_held(&peer, now_ms, members) {
            self.deferred.insert(peer, dialer);
            false
        } else {
            true
        }
    }

    /// A member went away: its claim goes with it (it cannot be learned from now).
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.connected.remove(peer);
        self.claims.remove(peer);
        self.learned_from.remove(peer);
        self.deferred.remove(peer);
    }

    /// A member announced its heads, naming the machines it judges revoked. Returns the
    /// peers this newly holds that the sync engine has now: the node takes them from the
    /// engine. `holds` says whether this node holds every one of some heads.
    pub fn announced(
        &mut self,
        peer: PeerId,
        heads: Vec<ChangeHash>,
        revoked: impl IntoIterator<Item = PeerId>,
        now_ms: i64,
        members: &BTreeSet<PeerId>,
        holds: impl Fn(&[ChangeHash]) -> bool,
    ) -> Vec<PeerId> {
        if let Some(announced) = self.connected.get_mut(&peer) {
            *announced = Some(heads.clone());
        }
        let claim: BTreeSet<PeerId> = revoked
            .into_iter()
            .filter(|p| *p != peer)
            .take(MAX_CLAIMED_PER_MEMBER)
            .collect();
        let before: BTreeSet<PeerId> = self.held_live(now_ms, members);
        let old = self.claims.get(&peer);
        if old.is_none_or(|old| !claim.is_subset(&old.revoked)) {
            // Something new is claimed: it is to be learned from this member again.
            self.learned_from.remove(&peer);
        }
        if claim.is_empty() {
            self.claims.remove(&peer);
        } else {
            if !heads.is_empty() && holds(&heads) {
                self.learned_from.insert(peer);
            }
            self.claims.insert(
                peer,
                Claim {
                    revoked: claim,
                    heads,
                },
            );
        }
        let after = self.held_live(now_ms, members);
        let taken: Vec<PeerId> = after.difference(&before).copied().collect();
        for peer in &taken {
            // Taken back from the engine: on release we start the session again.
            self.deferred.insert(*peer, true);
        }
        taken
    }

    /// This node took in changes: a claim whose heads it now holds is learned.
    pub fn caught_up(&mut self, holds: impl Fn(&[ChangeHash]) -> bool) {
        for (claimer, claim) in &self.claims {
            if !claim.heads.is_empty() && holds(&claim.heads) {
                self.learned_from.insert(*claimer);
            }
        }
    }

    /// A sync with the peer completed: a claim it made without heads is taken as learned.
    pub fn synced(&mut self, peer: PeerId) {
        if self.claims.get(&peer).is_some_and(|c| c.heads.is_empty()) {
            self.learned_from.insert(peer);
        }
    }

    /// Whether the peer's connection is held back from the sync engine.
    pub fn is_deferred(&self, peer: &PeerId) -> bool {
        self.deferred.contains_key(peer)
    }

    /// A held peer's session was turned away: we start the first one when it is let go.
    pub fn turned_away(&mut self, peer: &PeerId) {
        if let Some(initiate) = self.deferred.get_mut(peer) {
            *initiate = true;
        }
    }

    /// Whether the node holds the peer now.
    pub fn is_held(&self, peer: &PeerId, now_ms: i64, members: &BTreeSet<PeerId>) -> bool {
        self.in_grace(now_ms, members, Some(peer)) || self.is_claimed(peer)
    }

    /// The held connections that may go to the sync engine now.
    pub fn released(&mut self, now_ms: i64, members: &BTreeSet<PeerId>) -> Vec<Released> {
        if self.grace_until_ms.is_some() && !self.in_grace(now_ms, members, None) {
            self.grace_until_ms = None;
        }
        let free: Vec<Released> = self
            .deferred
            .iter()
            .filter(|(peer, _)| !self.is_held(peer, now_ms, members))
            .map(|(peer, initiate)| Released {
                peer: *peer,
                initiate: *initiate,
                heads: self.connected.get(peer).cloned().flatten(),
            })
            .collect();
        for r in &free {
            self.deferred.remove(&r.peer);
        }
        free
    }

    /// The held connections, each with the members whose word it waits for (none while the
    /// start-up grace holds everything), for `peers`.
    pub fn held(&self) -> impl Iterator<Item = (PeerId, Vec<PeerId>)> + '_ {
        self.deferred
            .keys()
            .map(|peer| (*peer, self.claimers_of(peer).collect()))
    }

    /// Connected peers the engine has (not deferred) that are held now.
    fn held_live(&self, now_ms: i64, members: &BTreeSet<PeerId>) -> BTreeSet<PeerId> {
        self.connected
            .keys()
            .filter(|p| !self.deferred.contains_key(p) && self.is_held(p, now_ms, members))
            .copied()
            .collect()
    }

    /// The grace lasts until its time is up or every member we know of (but us) has
    /// connected and announced, whichever comes first. A peer waits only for the others' word:
    /// its own tells nothing about itself (so a site's second machine, joining a founder that
    /// is alone, is not held at all).
    fn in_grace(&self, now_ms: i64, members: &BTreeSet<PeerId>, peer: Option<&PeerId>) -> bool {
        self.grace_until_ms.is_some_and(|until| now_ms < until)
            && members
                .iter()
                .filter(|m| Some(*m) != peer)
                .any(|m| self.connected.get(m).is_none_or(Option::is_none))
    }

    /// Connected members not yet learned from that say the peer is revoked, leaving out
    /// those that are themselves said to be revoked (two machines that claim each other
    /// cancel out: there is no telling which is honest).
    fn claimers_of<'a>(&'a self, peer: &'a PeerId) -> impl Iterator<Item = PeerId> + 'a {
        self.claims
            .iter()
            .filter(move |(claimer, claim)| {
                claim.revoked.contains(peer)
                    && self.connected.contains_key(claimer)
                    && !self.learned_from.contains(claimer)
                    && !self.claims.values().any(|c| c.revoked.contains(claimer))
            })
            .map(|(claimer, _)| *claimer)
    }

    fn is_claimed(&self, peer: &PeerId) -> bool {
        self.claimers_of(peer).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn connections_wait_for_every_known_member_to_announce_within_the_grace() {
        let p = peers(2);
        let (a, c) = (p[0], p[1]);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let mut first = MembershipFirst::new(0);
        assert!(!first.connected(c, true, 10, &members), "held in the grace");
        assert!(first
            .announced(c, vec![], [], 20, &members, |_| false)
            .is_empty());
        assert!(first.released(30, &members).is_empty(), "a has not spoken");
        assert!(
            first.connected(a, true, 40, &members),
            "every other member spoke: a waits for no one"
        );
        assert!(
            first.released(45, &members).is_empty(),
            "a has still not spoken"
        );
        first.announced(a, vec![], [], 50, &members, |_| false);
        let released = first.released(60, &members);
        assert_eq!(released.len(), 1, "everyone spoke: the grace ends early");
        assert!(first.connected(PeerId::random(), false, 70, &members));
    }

    #[test]
    fn a_lone_member_is_not_held_for_its_own_word() {
        let e = PeerId::random();
        let members: BTreeSet<PeerId> = [e].into();
        let mut first = MembershipFirst::new(0);
        assert!(first.connected(e, false, 10, &members));
    }

    #[test]
    fn the_grace_ends_by_itself_when_a_member_never_comes() {
        let p = peers(2);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let mut first = MembershipFirst::new(0);
        assert!(!first.connected(p[0], false, 10, &members));
        assert!(first.released(MEMBERSHIP_GRACE_MS - 1, &members).is_empty());
        assert_eq!(
            first.released(MEMBERSHIP_GRACE_MS, &members),
            vec![Released {
                peer: p[0],
                initiate: false,
                heads: None
            }]
        );
    }

    #[test]
    fn a_machine_a_member_says_is_revoked_waits_until_that_member_was_synced_with() {
        let p = peers(2);
        let (a, c) = (p[0], p[1]);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let mut first = MembershipFirst::new(0);
        first.connected(c, true, 1, &members);
        first.connected(a, true, 2, &members);
        first.announced(c, vec![], [], 3, &members, |_| false);
        first.announced(a, vec![], [c], 4, &members, |_| false);
        let released = first.released(5, &members);
        assert_eq!(released.iter().map(|r| r.peer).collect::<Vec<_>>(), [a]);
        assert!(first.is_held(&c, 6, &members));
        assert_eq!(first.held().collect::<Vec<_>>(), [(c, vec![a])]);
        first.synced(a);
        assert_eq!(
            first.released(7, &members),
            [Released {
                peer: c,
                initiate: true,
                heads: Some(vec![])
            }]
        );
    }

    #[test]
    fn a_claim_with_heads_is_learned_once_they_are_held_not_by_any_sync() {
        let p = peers(2);
        let (a, c) = (p[0], p[1]);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let revocation = ChangeHash([7; 32]);
        let mut first = MembershipFirst::new(0);
        first.connected(c, true, 1, &members);
        first.connected(a, true, 2, &members);
        first.announced(c, vec![ChangeHash([1; 32])], [], 3, &members, |_| true);
        first.announced(a, vec![revocation], [c], 4, &members, |_| false);
        assert_eq!(first.released(5, &members).len(), 1, "a goes, c waits");
        // A session with a that began before its claim completes: not enough.
        first.synced(a);
        assert!(first.released(6, &members).is_empty());
        first.caught_up(|heads| heads != [revocation]);
        assert!(first.released(7, &members).is_empty());
        first.caught_up(|_| true);
        let released = first.released(8, &members);
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].peer, c);
        assert_eq!(released[0].heads, Some(vec![ChangeHash([1; 32])]));
    }

    #[test]
    fn a_new_claim_takes_a_live_peer_back_and_a_departed_claimer_lets_it_go() {
        let p = peers(2);
        let (a, c) = (p[0], p[1]);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let mut first = MembershipFirst::new(0);
        first.connected(a, false, 1, &members);
        first.connected(c, false, 2, &members);
        first.announced(a, vec![], [], 3, &members, |_| false);
        first.announced(c, vec![], [], 4, &members, |_| false);
        assert_eq!(first.released(5, &members).len(), 2);
        assert_eq!(first.announced(a, vec![], [c], 6, &members, |_| false), [c]);
        assert!(first.released(7, &members).is_empty());
        first.disconnected(&a);
        assert_eq!(
            first.released(8, &members),
            [Released {
                peer: c,
                initiate: true,
                heads: Some(vec![])
            }]
        );
    }

    #[test]
    fn machines_that_claim_each_other_revoked_are_both_let_through() {
        let p = peers(3);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let mut first = MembershipFirst::new(0);
        for peer in &p {
            first.connected(*peer, true, 1, &members);
        }
        first.announced(p[0], vec![], [p[1]], 2, &members, |_| false);
        first.announced(p[1], vec![], [p[0]], 3, &members, |_| false);
        first.announced(p[2], vec![], [], 4, &members, |_| false);
        assert_eq!(first.released(5, &members).len(), 3);
    }

    #[test]
    fn being_alone_starts_a_new_grace() {
        let p = peers(2);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let mut first = MembershipFirst::new(0);
        assert!(first.released(MEMBERSHIP_GRACE_MS, &members).is_empty());
        let later = 10 * MEMBERSHIP_GRACE_MS;
        assert!(
            !first.connected(p[0], true, later, &members),
            "alone until now: held again"
        );
        first.announced(p[0], vec![], [], later + 1, &members, |_| false);
        assert!(
            first.connected(p[1], true, later + 2, &members),
            "the other has spoken"
        );
        assert!(first.released(later + 3, &members).is_empty());
        first.announced(p[1], vec![], [], later + 4, &members, |_| false);
        assert_eq!(first.released(later + 5, &members).len(), 1);
        assert!(
            first.connected(PeerId::random(), true, later + 6, &members),
            "not alone: no new grace"
        );
    }
}
