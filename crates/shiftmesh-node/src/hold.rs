//! Membership first: a node back from being away learns the membership from the members it
//! can reach before it exchanges schedule data with any of them.
//!
//! A machine revoked while this node was away may still believe itself a member and be the
//! first this node meets; syncing with it would hand it what this node wrote meanwhile and
//! take in what it wrote (and whom it admitted) after its revocation. So:
//!
//! - For a short grace after the node starts, and after it has been alone (no member
//!   connected), it holds every connection: no session runs either way until every member it
//!   knows of has connected and announced, or the grace is over.
//! - Members announce the machines they judge revoked. A machine that a connected member says
//!   is revoked is held until this node has completed a sync with that member: then the
//!   revocation, if real, is in this node's schedule and its own judgement cuts the machine
//!   off; if not, the hold ends and nothing was lost but a moment.
//!
//! A claim only ever delays, never cuts off: the member set is the schedule's alone. Two
//! machines that claim each other revoked are both let through (this node cannot tell which
//! is honest), and a member that is unreachable cannot be learned from: "where it can".

use std::collections::{BTreeMap, BTreeSet};

use shiftmesh_net::PeerId;

/// How long a node holds its connections after it starts or has been alone, waiting for the
/// members it knows of to connect and tell it whom they judge revoked.
pub const MEMBERSHIP_GRACE_MS: i64 = 2_000;

/// The most machines one member's claim holds; beyond it the rest are taken as not claimed
/// (an announcement carries at most `shiftmesh_sync::MAX_SHARED_REVOKED` anyway).
pub const MAX_CLAIMED_PER_MEMBER: usize = shiftmesh_sync::MAX_SHARED_REVOKED;

/// Which peers the node holds back from syncing with, and why.
#[derive(Debug)]
pub struct MembershipFirst {
    /// Until when every connection is held (ms since the epoch); None once the grace is over.
    grace_until_ms: Option<i64>,
    /// Connected members, and whether each has announced since it connected.
    connected: BTreeMap<PeerId, bool>,
    /// Each connected member's claim: the machines it judges revoked.
    claims: BTreeMap<PeerId, BTreeSet<PeerId>>,
    /// Members a sync has completed with since their last claim: what they know, we know.
    learned_from: BTreeSet<PeerId>,
    /// Connections held back from the sync engine, with whether we start the first session
    /// when they are let go (we dialed, or we turned a session of theirs away meanwhile).
    deferred: BTreeMap<PeerId, bool>,
}

/// What the node is to do about a connection that was held and no longer is.
#[derive(Debug, PartialEq, Eq)]
pub struct Released {
    pub peer: PeerId,
    /// Whether this node starts the first session.
    pub initiate: bool,
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
        self.connected.insert(peer, false);
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

    /// A member announced, naming the machines it judges revoked. Returns the peers this
    /// newly holds that the sync engine has now: the node takes them from the engine.
    pub fn announced(
        &mut self,
        peer: PeerId,
        revoked: impl IntoIterator<Item = PeerId>,
        now_ms: i64,
        members: &BTreeSet<PeerId>,
    ) -> Vec<PeerId> {
        if let Some(announced) = self.connected.get_mut(&peer) {
            *announced = true;
        }
        let claim: BTreeSet<PeerId> = revoked
            .into_iter()
            .filter(|p| *p != peer)
            .take(MAX_CLAIMED_PER_MEMBER)
            .collect();
        let before: BTreeSet<PeerId> = self.held_live(now_ms, members);
        let old = self.claims.get(&peer);
        if old.is_none_or(|old| !claim.is_subset(old)) {
            // Something new is claimed: it is to be learned from this member again.
            self.learned_from.remove(&peer);
        }
        if claim.is_empty() {
            self.claims.remove(&peer);
        } else {
            self.claims.insert(peer, claim);
        }
        let after = self.held_live(now_ms, members);
        let taken: Vec<PeerId> = after.difference(&before).copied().collect();
        for peer in &taken {
            // Taken back from the engine: on release we start the session again.
            self.deferred.insert(*peer, true);
        }
        taken
    }

    /// A sync with the peer completed: what it knew of the membership, we know.
    pub fn synced(&mut self, peer: PeerId) {
        if self.connected.contains_key(&peer) {
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
        self.in_grace(now_ms, members) || self.is_claimed(peer)
    }

    /// The held connections that may go to the sync engine now.
    pub fn released(&mut self, now_ms: i64, members: &BTreeSet<PeerId>) -> Vec<Released> {
        if self.grace_until_ms.is_some() && !self.in_grace(now_ms, members) {
            self.grace_until_ms = None;
        }
        let free: Vec<Released> = self
            .deferred
            .iter()
            .filter(|(peer, _)| !self.is_held(peer, now_ms, members))
            .map(|(peer, initiate)| Released {
                peer: *peer,
                initiate: *initiate,
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
    /// connected and announced, whichever comes first.
    fn in_grace(&self, now_ms: i64, members: &BTreeSet<PeerId>) -> bool {
        self.grace_until_ms.is_some_and(|until| now_ms < until)
            && members
                .iter()
                .any(|m| !self.connected.get(m).copied().unwrap_or(false))
    }

    /// Connected members not yet learned from that say the peer is revoked, leaving out
    /// those that are themselves said to be revoked (two machines that claim each other
    /// cancel out: there is no telling which is honest).
    fn claimers_of<'a>(&'a self, peer: &'a PeerId) -> impl Iterator<Item = PeerId> + 'a {
        self.claims
            .iter()
            .filter(move |(claimer, claim)| {
                claim.contains(peer)
                    && self.connected.contains_key(claimer)
                    && !self.learned_from.contains(claimer)
                    && !self.claims.values().any(|c| c.contains(claimer))
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
        assert!(first.announced(c, [], 20, &members).is_empty());
        assert!(first.released(30, &members).is_empty(), "a has not spoken");
        assert!(!first.connected(a, true, 40, &members));
        first.announced(a, [], 50, &members);
        let released = first.released(60, &members);
        assert_eq!(released.len(), 2, "everyone spoke: the grace ends early");
        assert!(first.connected(PeerId::random(), false, 70, &members));
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
                initiate: false
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
        first.announced(c, [], 3, &members);
        first.announced(a, [c], 4, &members);
        let released = first.released(5, &members);
        assert_eq!(released.iter().map(|r| r.peer).collect::<Vec<_>>(), [a]);
        assert!(first.is_held(&c, 6, &members));
        assert_eq!(first.held().collect::<Vec<_>>(), [(c, vec![a])]);
        first.synced(a);
        assert_eq!(
            first.released(7, &members),
            [Released {
                peer: c,
                initiate: true
            }]
        );
    }

    #[test]
    fn a_new_claim_takes_a_live_peer_back_and_a_departed_claimer_lets_it_go() {
        let p = peers(2);
        let (a, c) = (p[0], p[1]);
        let members: BTreeSet<PeerId> = p.iter().copied().collect();
        let mut first = MembershipFirst::new(0);
        first.connected(a, false, 1, &members);
        first.connected(c, false, 2, &members);
        first.announced(a, [], 3, &members);
        first.announced(c, [], 4, &members);
        assert_eq!(first.released(5, &members).len(), 2);
        assert_eq!(first.announced(a, [c], 6, &members), [c]);
        assert!(first.released(7, &members).is_empty());
        first.disconnected(&a);
        assert_eq!(
            first.released(8, &members),
            [Released {
                peer: c,
                initiate: true
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
        first.announced(p[0], [p[1]], 2, &members);
        first.announced(p[1], [p[0]], 3, &members);
        first.announced(p[2], [], 4, &members);
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
        first.announced(p[0], [], later + 1, &members);
        assert!(!first.connected(p[1], true, later + 2, &members));
        first.announced(p[1], [], later + 3, &members);
        assert_eq!(first.released(later + 4, &members).len(), 2);
        assert!(
            first.connected(PeerId::random(), true, later + 5, &members),
            "not alone: no new grace"
        );
    }
}
