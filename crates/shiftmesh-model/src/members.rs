//! The site's members: the machines trusted with the schedule. Adding and revoking a member
//! are ordinary changes of the document, so they sync, show in `history` with their author,
//! and every node enforces the same list.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, ChangeHash, ObjId, ReadDoc, ScalarValue, Value};

use crate::entity::{check_peer_key, Collection, Member};
use crate::{Edit, Index, ModelError, Result, Schedule, Written};

/// Bytes drawn afresh by each process after a machine's peer id in its Automerge actor.
pub const ACTOR_NONCE_BYTES: usize = 8;
const ACTOR_SEPARATOR: u8 = b'~';

/// The Automerge actor a machine writes with: its peer id, then `nonce` (drawn by each process
/// that opens the store), so that no two processes, and no copy restored from a backup, ever
/// reuse an actor's sequence numbers.
pub fn machine_actor(peer: &str, nonce: [u8; ACTOR_NONCE_BYTES]) -> ActorId {
    let mut bytes = peer.as_bytes().to_vec();
    bytes.push(ACTOR_SEPARATOR);
    bytes.extend_from_slice(&nonce);
    ActorId::from(bytes)
}

/// The machine an actor names (one [`machine_actor`] made); None for any other actor (the
/// genesis, schema steps, changes of releases before machines were named).
pub fn machine_of(actor: &ActorId) -> Option<&str> {
    let bytes = actor.to_bytes();
    let split = bytes.len().checked_sub(ACTOR_NONCE_BYTES + 1)?;
    if bytes[split] != ACTOR_SEPARATOR {
        return None;
    }
    let peer = std::str::from_utf8(&bytes[..split]).ok()?;
    check_peer_key(peer).ok().map(|()| peer)
}

/// How the membership rule judges a machine's record.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Standing {
    Member,
    /// Revoked by these changes.
    Revoked(Vec<ChangeHash>),
    /// No write that made it a member counts.
    Void,
}

/// One write of a member's `revoked` field that the document still holds (concurrent writes
/// are all held).
#[derive(Debug)]
struct RevokedWrite {
    revoked: bool,
    /// The machine whose actor made it, if the actor names one.
    writer: Option<String>,
    change: Option<ChangeHash>,
}

impl Index {
    /// Whether `peer` is a member that has not been revoked.
    pub fn is_trusted(&self, peer: &str) -> bool {
        self.members.get(peer).is_some_and(Member::is_trusted)
    }

    /// Whether `peer` was a member and has been revoked.
    pub fn is_revoked(&self, peer: &str) -> bool {
        self.members.get(peer).is_some_and(|m| m.revoked)
    }
}

impl Schedule {
    /// Makes `peer` a member (or trusts a revoked member again). `how` says why, for the
    /// change's message ("by invite", "by hand").
    pub fn trust_member(
        &mut self,
        edit: &Edit,
        peer: &str,
        name: &str,
        how: &str,
    ) -> Result<Written> {
        let member = Member {
            peer: peer.to_owned(),
            name: name.to_owned(),
            added_by: edit.author.clone(),
            added_at_ms: edit.now_ms,
            revoked: false,
            revoked_by: String::new(),
            revoked_at_ms: 0,
            void: None,
            revocations: Vec::new(),
        };
        member.check()?;
        let message = format!("trust machine '{name}' ({peer}) {how}");
        match self.index().members.get(peer) {
            None => self.add(edit, &member, message),
            Some(existing) if !existing.is_trusted() => self.update_fields(
                edit,
                &member,
                &[
                    "name",
                    "added_by",
                    "added_at",
                    "revoked",
                    "revoked_by",
                    "revoked_at",
                ],
                message,
                true,
            ),
            Some(_) => Err(ModelError::AlreadyExists {
                kind: Collection::Members.noun(),
                id: peer.to_owned(),
            }),
        }
    }

    /// Marks the member `peer` revoked: from then on no node gives it the schedule or takes
    /// anything from it.
    pub fn revoke_member(&mut self, edit: &Edit, peer: &str) -> Result<Written> {
        let Some(existing) = self.index().members.get(peer).cloned() else {
            return Err(ModelError::NotFound {
                kind: Collection::Members.noun(),
                id: peer.to_owned(),
            });
        };
        if existing.revoked {
            return Err(ModelError::Refused(format!(
                "machine '{}' ({peer}) is already revoked",
                existing.name
            )));
        }
        let revoked = Member {
            revoked: true,
            revoked_by: edit.author.clone(),
            revoked_at_ms: edit.now_ms,
            ..existing
        };
        let message = format!("revoke machine '{}' ({peer})", revoked.name);
        self.update(
            edit,
            &revoked,
            &["revoked", "revoked_by", "revoked_at"],
            message,
        )
    }
}

/// The actor `machine` writes `author`'s changes with. Automerge keeps one author per actor,
/// so each author gets an actor of their own, drawn from the process's nonce and the author.
pub(crate) fn author_actor(machine: &(String, [u8; ACTOR_NONCE_BYTES]), author: &str) -> ActorId {
    use sha2::{Digest, Sha256};
    let (peer, nonce) = machine;
    let digest = Sha256::new()
        .chain_update(nonce)
        .chain_update(author.as_bytes())
        .finalize();
    let mut derived = [0; ACTOR_NONCE_BYTES];
    derived.copy_from_slice(&digest[..ACTOR_NONCE_BYTES]);
    machine_actor(peer, derived)
}

impl Schedule {
    /// Applies the membership rule to every member of `index`. A write of a machine's
    /// `revoked` field counts only if the machine that made it was a member when it made it:
    ///
    /// - a write by another machine, if that machine is a member, or a revoked member whose
    ///   revocation had seen the write;
    /// - and in either case only if the change is signed by the machine its actor names (see
    ///   [`crate::signatures`]), so that no member can write as another;
    /// - a machine's write on its own record, if it was a member just before (by the writes it
    ///   overwrote), or if it founded the site (no member record existed before it);
    /// - a write whose actor names no machine (older releases wrote with anonymous actors),
    ///   if no signed change is among those it depends on: it was written before the site's
    ///   machines began to sign.
    ///
    /// A write that does not count gives way to the writes it overwrote. Among the writes that
    /// count, a revocation wins over any concurrent trust. So a revoked machine that has not
    /// heard of its revocation cannot admit another machine, nor trust itself again, whatever
    /// order the changes reach a node in; and every node computes the same members from the
    /// same changes.
    pub(crate) fn judge_members(&mut self, index: &mut Index) {
        self.settle_signatures();
        let peers: Vec<String> = index.members.keys().cloned().collect();
        let mut walk = Walk::default();
        let mut standing: BTreeMap<String, Standing> = BTreeMap::new();
        for peer in &peers {
            let writes = self.revoked_writes(peer, None);
            standing.insert(peer.clone(), judged(writes.iter()));
        }
        // Each round settles at least the machines whose writers are settled, so as many rounds
        // as machines settle any record that can be settled; records still changing then judge
        // each other in a circle, and none of them counts.
        let mut before = BTreeMap::new();
        let mut settled = false;
        for _ in 0..=peers.len() {
            let mut next = BTreeMap::new();
            for peer in &peers {
                let start = self.revoked_writes(peer, None);
                let counting = self.counting(peer, start, &standing, &mut walk);
                next.insert(peer.clone(), judged(counting.iter()));
            }
            if next == standing {
                settled = true;
                break;
            }
            before = std::mem::replace(&mut standing, next);
        }
        if !settled {
            for (peer, s) in &mut standing {
                if before.get(peer) != Some(s) {
                    *s = Standing::Void;
                }
            }
        }
        for (peer, member) in &mut index.members {
            match standing.get(peer) {
                Some(Standing::Member) => {
                    member.revoked = false;
                    member.void = None;
                    member.revocations.clear();
                }
                Some(Standing::Revoked(revocations)) => {
                    member.revoked = true;
                    member.void = None;
                    member.revocations.clone_from(revocations);
                }
                Some(Standing::Void) | None => {
                    // Cut off like a revoked machine, whatever the winning value says.
                    member.revoked = true;
                    member.revocations.clear();
                    member.void = Some(
                        "it was admitted, or trusted again, only by machines that were no \
                         members then (revoked by a revocation that had not seen it)"
                            .into(),
                    );
                }
            }
        }
    }

    /// Judges every member again (signatures of their records' writes arrived or were read
    /// back); members whose standing changes count as touched.
    pub(crate) fn rejudge_members(&mut self) {
        let mut dirty: crate::Dirty = self
            .index()
            .members
            .keys()
            .map(|peer| (Collection::Members, peer.clone()))
            .collect();
        if !dirty.is_empty() {
            self.refresh(&mut dirty);
        }
    }

    /// The changes `peer` made while it was no member, oldest first: all of them when its
    /// admission is void, those no revocation of it had seen when it is revoked, none else.
    /// (A revoked machine that has not heard goes on writing; `revert --after-revocation`
    /// undoes what it wrote.)
    pub fn changes_after_revocation(&mut self, peer: &str) -> Vec<ChangeHash> {
        let Some(member) = self.index().members.get(peer) else {
            return Vec::new();
        };
        let (void, revocations) = (member.void.is_some(), member.revocations.clone());
        if !void && revocations.is_empty() {
            return Vec::new();
        }
        let made: Vec<ChangeHash> = self
            .doc
            .get_changes_meta(&[])
            .iter()
            .filter(|meta| machine_of(&meta.actor) == Some(peer))
            .map(|meta| meta.hash)
            .collect();
        let mut walk = Walk::default();
        made.into_iter()
            .filter(|change| {
                void || !revocations
                    .iter()
                    .any(|revocation| self.saw(*revocation, *change, &mut walk))
            })
            .collect()
    }

    /// The writes of `peer`'s record that count, walking back from `start`: a write that does
    /// not count gives way to the writes it overwrote.
    fn counting(
        &mut self,
        peer: &str,
        start: Vec<RevokedWrite>,
        standing: &BTreeMap<String, Standing>,
        walk: &mut Walk,
    ) -> Vec<RevokedWrite> {
        let mut todo = start;
        let mut visited = BTreeSet::new();
        let mut counting = Vec::new();
        while let Some(write) = todo.pop() {
            let Some(change) = write.change else {
                continue;
            };
            if !visited.insert(change) {
                continue;
            }
            if self.counts(peer, &write, standing, walk) {
                counting.push(write);
            } else {
                let deps = self.deps_of(change);
                todo.extend(self.revoked_writes(peer, Some(&deps)));
            }
        }
        counting
    }

    /// Whether one write of `peer`'s record counts (see [`Schedule::judge_members`]).
    fn counts(
        &mut self,
        peer: &str,
        write: &RevokedWrite,
        standing: &BTreeMap<String, Standing>,
        walk: &mut Walk,
    ) -> bool {
        let Some(change) = write.change else {
            return false;
        };
        let Some(writer) = &write.writer else {
            return !self.written_after_signing_began(change, walk);
        };
        if !self.is_signed(&change) {
            return false;
        }
        if writer == peer {
            let deps = self.deps_of(change);
            let overwritten = self.revoked_writes(peer, Some(&deps));
            if overwritten.is_empty() {
                let members = self.collection(Collection::Members).clone();
                return self.doc.keys_at(&members, &deps).next().is_none();
            }
            let counting = self.counting(peer, overwritten, standing, walk);
            return judged(counting.iter()) == Standing::Member;
        }
        match standing.get(writer) {
            Some(Standing::Member) => true,
            Some(Standing::Revoked(revocations)) => revocations
                .clone()
                .into_iter()
                .any(|revocation| self.saw(revocation, change, walk)),
            Some(Standing::Void) | None => false,
        }
    }

    /// Whether a signed change is among those `change` depends on, directly or not: a write
    /// with an anonymous actor made then is not an older release's, whatever it claims.
    fn written_after_signing_began(&mut self, change: ChangeHash, walk: &mut Walk) -> bool {
        if let Some(after) = walk.after_signing.get(&change) {
            return *after;
        }
        self.saw(change, change, walk);
        let unseen = &walk.not_seen[&change];
        let after = self
            .signed_changes()
            .any(|signed| *signed != change && !unseen.contains(signed));
        walk.after_signing.insert(change, after);
        after
    }

    /// The changes `change` depends on directly.
    fn deps_of(&mut self, change: ChangeHash) -> Vec<ChangeHash> {
        self.doc
            .get_change_meta_by_hash(&change)
            .map(|meta| meta.deps)
            .unwrap_or_default()
    }

    /// Whether `change` is `revocation` or one of the changes it depends on, directly or not.
    fn saw(&mut self, revocation: ChangeHash, change: ChangeHash, walk: &mut Walk) -> bool {
        let unseen = walk.not_seen.entry(revocation).or_insert_with(|| {
            self.doc
                .get_changes_meta(&[revocation])
                .iter()
                .map(|meta| meta.hash)
                .collect()
        });
        !unseen.contains(&change)
    }

    /// The writes of `peer`'s `revoked` field the document holds (concurrent ones all), now or
    /// at `heads`.
    fn revoked_writes(&self, peer: &str, heads: Option<&[ChangeHash]>) -> Vec<RevokedWrite> {
        let Some(obj) = self.entity_object(Collection::Members, peer) else {
            return Vec::new();
        };
        let values = match heads {
            None => self.doc.get_all(&obj, "revoked"),
            Some(heads) => self.doc.get_all_at(&obj, "revoked", heads),
        };
        values
            .unwrap_or_default()
            .into_iter()
            .map(|(value, id)| RevokedWrite {
                // Anything but a plain false counts as revoked, as the record's reader has it.
                revoked: !matches!(value, Value::Scalar(ref v) if **v == ScalarValue::Boolean(false)),
                writer: match &id {
                    ObjId::Id(_, actor, _) => machine_of(actor).map(str::to_owned),
                    ObjId::Root => None,
                },
                change: self.doc.hash_for_opid(&id),
            })
            .collect()
    }
}

/// What the membership rule has worked out of the causal graph, kept while it judges.
#[derive(Default)]
struct Walk {
    /// For a change, the changes that are neither it nor among those it depends on.
    not_seen: BTreeMap<ChangeHash, BTreeSet<ChangeHash>>,
    /// For a change, whether a signed change is among those it depends on.
    after_signing: BTreeMap<ChangeHash, bool>,
}

/// The standing the writes that count give: none, void; a revocation among them, revoked (by
/// those revocations); else a member.
fn judged<'w>(writes: impl Iterator<Item = &'w RevokedWrite>) -> Standing {
    let writes: Vec<&RevokedWrite> = writes.collect();
    if writes.is_empty() {
        Standing::Void
    } else if writes.iter().any(|w| w.revoked) {
        Standing::Revoked(
            writes
                .iter()
                .filter(|w| w.revoked)
                .filter_map(|w| w.change)
                .collect(),
        )
    } else {
        Standing::Member
    }
}
