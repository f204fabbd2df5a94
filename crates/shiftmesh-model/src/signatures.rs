//! Proof of which machine made each change. A machine signs the hash of every change it makes
//! with its node key (the ed25519 key its peer id is made from), and the signatures travel
//! beside the changes. A change's hash covers its actor, its operations and, through its
//! dependencies, everything before it; the actor names the machine ([`crate::machine_actor`]),
//! and the machine's peer id holds its public key. So any node verifies a signature with
//! nothing but the change and the signature, and a member cannot write a change that passes
//! for another machine's.
//!
//! Only signatures that verify are kept; a change without one is shown as unverified, and the
//! membership rule does not count it (see [`Schedule::judge_members`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use automerge::ChangeHash;
use libp2p_identity::{Keypair, PeerId, PublicKey};

use crate::members::machine_of;
use crate::Schedule;

/// The length of an ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// The most signatures held for changes that have not arrived yet (their changes wait in
/// Automerge for their dependencies): far more than one sync message's changes, and a bound
/// on what a peer can make this node keep.
pub const MAX_PENDING_SIGNATURES: usize = 65_536;
/// The most changes a node asks a peer for the signatures of at once (see
/// [`Schedule::wanted_signatures`]).
pub const MAX_WANTED_SIGNATURES: usize = 1024;
/// The multihash code of a peer id that holds its public key inline (every ed25519 key).
const IDENTITY_MULTIHASH_CODE: u8 = 0;

/// One machine's signature of one change, as it travels and is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSignature {
    pub change: ChangeHash,
    /// The peer id of the machine that signed.
    pub machine: String,
    pub signature: [u8; SIGNATURE_BYTES],
}

/// What became of the signatures a peer sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Verified and kept (or already held).
    pub kept: usize,
    /// Kept until their changes arrive.
    pub pending: usize,
    /// Did not verify, or named another machine than their change's: dropped.
    pub refused: usize,
    /// Of those kept, the ones that newly prove a change already held (they must be made
    /// durable, and may change how the members are judged, though no change arrived).
    pub proving_held: usize,
}

/// The signatures a schedule holds.
#[derive(Debug, Default)]
pub(crate) struct Signatures {
    /// Signatures of changes the document holds, each checked against its change's machine.
    verified: HashMap<ChangeHash, Signed>,
    /// Signatures that verify against the machine they name, for changes not yet held.
    pending: HashMap<ChangeHash, Vec<Signed>>,
    pending_count: usize,
    /// Kept since the store last took them (see [`Schedule::take_unsaved_signatures`]).
    unsaved: Vec<ChangeSignature>,
    /// Machines' names, shared by their signatures, and their public keys.
    machines: HashMap<String, (Arc<str>, Option<PublicKey>)>,
    /// The key this process signs its changes with.
    signer: Option<Keypair>,
    /// Changes held whose actor names a machine but whose signature is not held: worked out on
    /// first use, then kept up to date as changes and signatures arrive.
    unsigned: Option<BTreeSet<ChangeHash>>,
    /// The last of them asked of a peer: the next ask goes on from there.
    last_wanted: Option<ChangeHash>,
}

#[derive(Clone, Debug)]
struct Signed {
    machine: Arc<str>,
    signature: [u8; SIGNATURE_BYTES],
}

/// The public key a peer id holds inline; None for a peer id that holds only a hash of it.
pub fn public_key_of(machine: &str) -> Option<PublicKey> {
    let bytes = machine.parse::<PeerId>().ok()?.to_bytes();
    // A multihash: its code, the digest's length, the digest (both varints, one byte each for
    // an inline key).
    match bytes.as_slice() {
        [IDENTITY_MULTIHASH_CODE, len, digest @ ..] if usize::from(*len) == digest.len() => {
            PublicKey::try_decode_protobuf(digest).ok()
        }
        _ => None,
    }
}

impl Signatures {
    fn machine(&mut self, machine: &str) -> (Arc<str>, Option<PublicKey>) {
        self.machines
            .entry(machine.to_owned())
            .or_insert_with(|| (Arc::from(machine), public_key_of(machine)))
            .clone()
    }

    fn keep(&mut self, change: ChangeHash, signed: Signed, save: bool) {
        if let Some(unsigned) = &mut self.unsigned {
            unsigned.remove(&change);
        }
        if save {
            self.unsaved.push(ChangeSignature {
                change,
                machine: signed.machine.to_string(),
                signature: signed.signature,
            });
        }
        self.verified.insert(change, signed);
    }
}

impl Signatures {
    /// Holds a signature until its change arrives, if there is room; whether there was.
    fn wait(&mut self, change: ChangeHash, signed: Signed) -> bool {
        if self.pending_count >= MAX_PENDING_SIGNATURES {
            return false;
        }
        self.pending.entry(change).or_default().push(signed);
        self.pending_count += 1;
        true
    }

    /// Notes changes just taken in: those a machine made whose signature is not held yet.
    pub(crate) fn note_unsigned(&mut self, metas: &[automerge::ChangeMetadata<'_>]) {
        let Some(unsigned) = &mut self.unsigned else {
            return;
        };
        for meta in metas {
            if machine_of(&meta.actor).is_some() && !self.verified.contains_key(&meta.hash) {
                unsigned.insert(meta.hash);
            }
        }
    }
}

impl Schedule {
    /// From now on, every change this process writes is this machine's: written with an actor
    /// naming it (see [`crate::machine_actor`]) and signed with `keypair`. `nonce` is drawn
    /// afresh by each process.
    pub fn sign_as(&mut self, keypair: Keypair, nonce: [u8; crate::ACTOR_NONCE_BYTES]) {
        self.machine = Some((keypair.public().to_peer_id().to_string(), nonce));
        self.signatures.signer = Some(keypair);
    }

    /// Signs a change this process just made.
    pub(crate) fn sign(&mut self, change: ChangeHash) {
        let Some(keypair) = &self.signatures.signer else {
            return;
        };
        let Ok(bytes) = keypair.sign(&change.0) else {
            return;
        };
        let Ok(signature) = <[u8; SIGNATURE_BYTES]>::try_from(bytes.as_slice()) else {
            return;
        };
        // The peer id was worked out once, in `sign_as`.
        let Some((machine, _)) = &self.machine else {
            return;
        };
        let (machine, _) = self.signatures.machine(machine);
        self.signatures
            .keep(change, Signed { machine, signature }, true);
    }

    /// Whether `change` carries a valid signature of the machine its actor names.
    pub fn is_signed(&self, change: &ChangeHash) -> bool {
        self.signatures.verified.contains_key(change)
    }

    /// How many changes carry a valid signature.
    pub fn signed_count(&self) -> usize {
        self.signatures.verified.len()
    }

    /// The changes that carry a valid signature.
    pub(crate) fn signed_changes(&self) -> impl Iterator<Item = &ChangeHash> {
        self.signatures.verified.keys()
    }

    /// Every signature held (for a backup, or another copy of the schedule).
    pub fn signatures(&self) -> Vec<ChangeSignature> {
        self.signatures_for(self.signatures.verified.keys())
    }

    /// The signatures held for `changes` (those without one are left out).
    pub fn signatures_for<'c>(
        &self,
        changes: impl IntoIterator<Item = &'c ChangeHash>,
    ) -> Vec<ChangeSignature> {
        changes
            .into_iter()
            .filter_map(|change| {
                self.signatures
                    .verified
                    .get(change)
                    .map(|signed| ChangeSignature {
                        change: *change,
                        machine: signed.machine.to_string(),
                        signature: signed.signature,
                    })
            })
            .collect()
    }

    /// Takes signatures a peer sent: each is kept only if it verifies against the machine it
    /// names and that machine is the one its change's actor names. Signatures of changes not
    /// held yet wait (bounded) for their changes, and are placed as those arrive.
    pub fn accept_signatures(&mut self, signatures: Vec<ChangeSignature>) -> Accepted {
        let mut accepted = Accepted::default();
        for ChangeSignature {
            change,
            machine,
            signature,
        } in signatures
        {
            if self.signatures.verified.contains_key(&change) {
                accepted.kept += 1;
                continue;
            }
            let (machine, key) = self.signatures.machine(&machine);
            if !key.is_some_and(|key| key.verify(&change.0, &signature)) {
                accepted.refused += 1;
                continue;
            }
            let signed = Signed { machine, signature };
            match self.doc.get_change_meta_by_hash(&change) {
                Some(meta) => {
                    if machine_of(&meta.actor) == Some(&*signed.machine) {
                        self.signatures.keep(change, signed, true);
                        accepted.kept += 1;
                        accepted.proving_held += 1;
                    } else {
                        accepted.refused += 1;
                    }
                }
                None if self.signatures.wait(change, signed) => accepted.pending += 1,
                None => accepted.refused += 1,
            }
        }
        // Signatures nearly always arrive with their changes, which judge the members as they
        // are applied; one that comes later may make a member's record count.
        if accepted.proving_held > 0 {
            self.rejudge_members();
        }
        accepted
    }

    /// Places the waiting signatures whose changes have arrived (and drops those that name
    /// another machine than their change's).
    pub(crate) fn settle_signatures(&mut self) {
        if self.signatures.pending.is_empty() {
            return;
        }
        let arrived: Vec<ChangeHash> = self
            .signatures
            .pending
            .keys()
            .filter(|change| self.doc.get_change_meta_by_hash(change).is_some())
            .copied()
            .collect();
        for change in arrived {
            let candidates = self.signatures.pending.remove(&change).unwrap_or_default();
            self.signatures.pending_count -= candidates.len();
            let Some(meta) = self.doc.get_change_meta_by_hash(&change) else {
                continue;
            };
            let machine = machine_of(&meta.actor).map(str::to_owned);
            if let Some(signed) = candidates
                .into_iter()
                .find(|s| Some(&*s.machine) == machine.as_deref())
            {
                self.signatures.keep(change, signed, true);
            }
        }
    }

    /// Up to [`MAX_WANTED_SIGNATURES`] changes a machine made that this copy holds without their
    /// signatures (they came by file, from an older release, or in a catch-up whose signatures
    /// did not all arrive), to ask a peer for. Each call goes on where the last left off, so
    /// changes nobody can prove (a forgery) do not keep the others from being asked.
    pub fn wanted_signatures(&mut self) -> Vec<ChangeHash> {
        let after = self.signatures.last_wanted;
        let unsigned = self.unsigned_changes();
        let mut wanted: Vec<ChangeHash> = match after {
            Some(after) => unsigned
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .take(MAX_WANTED_SIGNATURES)
                .copied()
                .collect(),
            None => Vec::new(),
        };
        let room = MAX_WANTED_SIGNATURES - wanted.len();
        wanted.extend(
            unsigned
                .iter()
                .take(room)
                .filter(|hash| after.is_none_or(|after| **hash <= after))
                .copied(),
        );
        self.signatures.last_wanted = wanted.last().copied();
        wanted
    }

    /// The changes held whose actor names a machine but whose signature is not held.
    pub fn unsigned_changes(&mut self) -> &BTreeSet<ChangeHash> {
        let signatures = &mut self.signatures;
        signatures.unsigned.get_or_insert_with(|| {
            self.doc
                .get_changes_meta(&[])
                .iter()
                .filter(|meta| machine_of(&meta.actor).is_some())
                .map(|meta| meta.hash)
                .filter(|hash| !signatures.verified.contains_key(hash))
                .collect()
        })
    }

    /// Puts back signatures read from this machine's own store (checked when they were kept).
    /// The store records a signature before its change, so one whose change was lost in a
    /// crash waits like a peer's for the change to arrive again.
    pub fn restore_signatures(&mut self, signatures: impl IntoIterator<Item = ChangeSignature>) {
        let before = self.signatures.verified.len();
        for ChangeSignature {
            change,
            machine,
            signature,
        } in signatures
        {
            let (machine, _) = self.signatures.machine(&machine);
            let signed = Signed { machine, signature };
            if self.doc.get_change_meta_by_hash(&change).is_some() {
                self.signatures.keep(change, signed, false);
            } else {
                self.signatures.wait(change, signed);
            }
        }
        if self.signatures.verified.len() > before {
            self.rejudge_members();
        }
    }

    /// The signatures kept since the last call, for the store to make durable.
    pub fn take_unsaved_signatures(&mut self) -> Vec<ChangeSignature> {
        std::mem::take(&mut self.signatures.unsaved)
    }

    /// Moves the signatures (and the signing key) to `other`, a copy replacing this one, which
    /// judges its members again with them (it was built without).
    pub(crate) fn hand_signatures_to(&mut self, other: &mut Schedule) {
        other.signatures = std::mem::take(&mut self.signatures);
        // What the old copy held unsigned says nothing of the new one's changes.
        other.signatures.unsigned = None;
        other.settle_signatures();
        if !other.signatures.verified.is_empty() {
            other.rejudge_members();
        }
    }
}
