//! What travels between nodes. Byte payloads are `serde_bytes`, so a CBOR codec writes them
//! as one byte string (a plain `Vec<u8>` would become an array of integers, twice the size).

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use shiftmesh_model::ChangeSignature;

/// One step of a sync session, from the side that started it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// True on a session's first request: the responder resets its state for this peer.
    pub start: bool,
    /// An encoded Automerge sync message.
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
    /// The signatures of the changes it carries (older nodes send none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<WireSignature>,
    /// Changes the sender holds without their signatures, asked for on a session's first
    /// request (at most `shiftmesh_model::MAX_WANTED_SIGNATURES`); the answer carries those the
    /// responder holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub want_signatures: Vec<serde_bytes::ByteBuf>,
}

impl SyncRequest {
    /// The changes whose signatures the sender asks for, well-formed ones only, bounded.
    pub fn wanted(&self) -> Vec<ChangeHash> {
        self.want_signatures
            .iter()
            .take(shiftmesh_model::MAX_WANTED_SIGNATURES)
            .filter_map(|hash| ChangeHash::try_from(hash.as_slice()).ok())
            .collect()
    }
}

/// The responder's answer: its next sync message, or none when it has nothing to say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    #[serde(with = "serde_bytes")]
    pub message: Option<Vec<u8>>,
    /// The signatures of the changes it carries (older nodes send none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<WireSignature>,
    /// The responder does not sync with us yet (it is learning the membership from other
    /// members first) and will start a session itself when it is ready. Older nodes never set
    /// it, and read it as an answer of nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_yet: bool,
}

impl SyncResponse {
    /// An answer of nothing.
    pub fn nothing() -> SyncResponse {
        SyncResponse {
            message: None,
            signatures: Vec::new(),
            not_yet: false,
        }
    }

    /// "Not yet": the responder holds sessions with us for now.
    pub fn not_yet() -> SyncResponse {
        SyncResponse {
            not_yet: true,
            ..SyncResponse::nothing()
        }
    }
}

/// The most signatures one sync message carries: those of a whole schedule's changes for a new
/// member come in parts of this many. 16,384 signatures take at most 3 MiB on the wire, which
/// the network layer allows beside the largest sync message.
pub const MAX_SIGNATURES_PER_MESSAGE: usize = 16_384;
/// The longest peer id accepted as a signature's machine (an ed25519 peer id is 52 characters).
pub const MAX_SIGNATURE_MACHINE_BYTES: usize = 128;

/// A machine's signature of one change (see `shiftmesh_model::ChangeSignature`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSignature {
    pub change: serde_bytes::ByteBuf,
    /// The signing machine's peer id, as text.
    pub machine: serde_bytes::ByteBuf,
    pub signature: serde_bytes::ByteBuf,
}

impl From<ChangeSignature> for WireSignature {
    fn from(signature: ChangeSignature) -> WireSignature {
        WireSignature {
            change: serde_bytes::ByteBuf::from(signature.change.0.to_vec()),
            machine: serde_bytes::ByteBuf::from(signature.machine.into_bytes()),
            signature: serde_bytes::ByteBuf::from(signature.signature.to_vec()),
        }
    }
}

impl WireSignature {
    /// The signature, if it is well-formed (whether it verifies is the model's to check).
    pub fn parse(&self) -> Option<ChangeSignature> {
        if self.machine.len() > MAX_SIGNATURE_MACHINE_BYTES {
            return None;
        }
        Some(ChangeSignature {
            change: ChangeHash::try_from(self.change.as_slice()).ok()?,
            machine: String::from_utf8(self.machine.to_vec()).ok()?,
            signature: self.signature.as_slice().try_into().ok()?,
        })
    }
}

/// "My heads are now these", sent to each connected member. Small, and only a trigger to sync.
/// It also carries where the sender reaches other members, so that every two members can
/// connect directly and the site does not hang on the machine that invited them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub heads: Vec<serde_bytes::ByteBuf>,
    /// Other members and their addresses, as the sender knows them (older nodes send none).
    #[serde(default)]
    pub members: Vec<MemberAddresses>,
    /// The sender's clock when it sent this (ms since the epoch; older nodes send none), so
    /// that `doctor` can tell a machine whose clock is off: a wrong clock makes history lie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at_ms: Option<i64>,
    /// The machines the sender judges revoked (peer ids as bytes; older nodes send none). A
    /// node back from being away holds these until it has synced with the sender, so that it
    /// learns the membership before it exchanges schedule data with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<serde_bytes::ByteBuf>,
}

/// A member's peer id and the addresses it was reached at, as encoded bytes: the network layer
/// parses them and drops what does not parse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAddresses {
    pub peer: serde_bytes::ByteBuf,
    pub addresses: Vec<serde_bytes::ByteBuf>,
}

/// The most members one announcement tells of, and the most addresses of each: a site of a
/// few machines needs far fewer, and the whole stays within the 8 KiB of a small message.
pub const MAX_SHARED_MEMBERS: usize = 16;
pub const MAX_SHARED_ADDRESSES_PER_MEMBER: usize = 4;
/// The most revoked machines one announcement names (a site revokes few; 64 peer ids are
/// under 3 KiB).
pub const MAX_SHARED_REVOKED: usize = 64;

/// The most heads an announcement may carry. Concurrent edits on every node of a site give at
/// most one head per node, so this is far above any real site.
pub const MAX_ANNOUNCED_HEADS: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("the announcement carries {count} heads, more than the {max} allowed")]
    TooManyHeads { count: usize, max: usize },
    #[error("the announcement carries a head that is not a 32-byte hash")]
    BadHead,
    #[error("the announcement tells of more members, addresses or revoked machines than allowed")]
    TooManyMembers,
    #[error("the join request is malformed (secret or name too long, or not text)")]
    BadJoinRequest,
}

impl Announcement {
    pub fn new(heads: &[ChangeHash]) -> Announcement {
        Announcement {
            heads: heads
                .iter()
                .map(|h| serde_bytes::ByteBuf::from(h.0.to_vec()))
                .collect(),
            members: Vec::new(),
            sent_at_ms: None,
            revoked: Vec::new(),
        }
    }

    /// The members it tells of, checked for number; each entry is parsed by whoever uses it.
    pub fn members(&self) -> Result<&[MemberAddresses], WireError> {
        if self.members.len() > MAX_SHARED_MEMBERS
            || self.revoked.len() > MAX_SHARED_REVOKED
            || self
                .members
                .iter()
                .any(|m| m.addresses.len() > MAX_SHARED_ADDRESSES_PER_MEMBER)
        {
            return Err(WireError::TooManyMembers);
        }
        Ok(&self.members)
    }

    /// The heads, checked: a bounded number of well-formed hashes.
    pub fn heads(&self) -> Result<Vec<ChangeHash>, WireError> {
        if self.heads.len() > MAX_ANNOUNCED_HEADS {
            return Err(WireError::TooManyHeads {
                count: self.heads.len(),
                max: MAX_ANNOUNCED_HEADS,
            });
        }
        self.heads
            .iter()
            .map(|h| ChangeHash::try_from(h.as_slice()).map_err(|_| WireError::BadHead))
            .collect()
    }
}

/// The answer to an announcement: nothing but "received" (the pull that follows is a sync
/// session).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncementAck {}

/// The longest join secret accepted on the wire (ours are 64 hex digits).
pub const MAX_JOIN_SECRET_BYTES: usize = 128;
/// The longest machine name accepted in a join request.
pub const MAX_JOIN_NAME_BYTES: usize = 256;

/// A machine that holds the site key asks the machine that invited it to become a member,
/// presenting the one-time secret from its invite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub secret: String,
    /// The name the new machine goes by (shown in `peers`; it proves nothing).
    pub name: String,
}

/// The inviter's answer to a join request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinResponse {
    /// The new machine is now a member; sync may begin.
    Accepted,
    /// Refused, with the reason (the secret is unknown, used or expired).
    Refused { reason: String },
}

impl JoinRequest {
    /// Checks the sizes and the characters before anything else looks at the request.
    pub fn check(&self) -> Result<(), WireError> {
        let printable = |s: &str| s.chars().all(|c| !c.is_control());
        if self.secret.is_empty()
            || self.secret.len() > MAX_JOIN_SECRET_BYTES
            || !self.secret.chars().all(|c| c.is_ascii_alphanumeric())
            || self.name.len() > MAX_JOIN_NAME_BYTES
            || !printable(&self.name)
        {
            return Err(WireError::BadJoinRequest);
        }
        Ok(())
    }
}
