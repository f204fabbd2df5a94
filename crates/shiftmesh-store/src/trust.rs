//! What one machine keeps about joining, outside the replicated schedule: the one-time join
//! secrets it handed out (only their digests), and, on a machine that is joining, the inviter
//! it trusts and the secret it will present. Membership itself lives in the document.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Store, StoreError};

/// At most this many join secrets are kept; expired and used ones are dropped first.
pub const MAX_INVITES: usize = 64;
/// Used or expired secrets are kept this long after they stop being valid, so a late attempt
/// gets a precise reason ("used", "expired") rather than "unknown".
pub const SPENT_INVITE_KEEP_MS: i64 = 7 * 24 * 3600 * 1000;
/// Random bytes in a join secret.
pub const JOIN_SECRET_BYTES: usize = 32;
const JOIN_TICKET_KEY: &[u8] = b"join-ticket";

/// A join secret as the inviter keeps it (the secret itself is never stored, only its digest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRecord {
    /// Who made the invite, as `user@node`.
    pub created_by: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// The peer that used it, once used.
    pub used_by: Option<String>,
    pub used_at_ms: Option<i64>,
}

/// Why a join secret was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InviteRefused {
    #[error("the join secret is not one this machine handed out")]
    Unknown,
    #[error("the join secret was already used (by {by})")]
    Used { by: String },
    #[error("the join secret expired")]
    Expired,
}

/// On a joining machine: whom it was invited by, the secret to present to them, and how the
/// join went. Kept after the join is accepted: until the site's membership list arrives, the
/// acceptance is what makes this machine trust its inviter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTicket {
    pub inviter: String,
    pub secret: String,
    #[serde(default)]
    pub accepted: bool,
    /// Why the inviter refused (then the join is not tried again).
    #[serde(default)]
    pub refused: Option<String>,
}

/// A fresh join secret: random, in hex, never stored in the clear by the inviter.
pub fn new_join_secret() -> String {
    let mut bytes = [0u8; JOIN_SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl InviteRecord {
    fn spent_since(&self) -> Option<i64> {
        self.used_at_ms.or(Some(self.expires_at_ms))
    }
}

impl Store {
    /// Records a join secret handed out in an invite, dropping secrets that stopped being
    /// valid long ago and, beyond [`MAX_INVITES`], the oldest.
    pub fn add_invite(&mut self, secret: &str, record: &InviteRecord) -> Result<(), StoreError> {
        let now = record.created_at_ms;
        let mut kept = Vec::new();
        for entry in self.invites.iter() {
            let (key, value) = entry?;
            match serde_json::from_slice::<InviteRecord>(&value) {
                Ok(r)
                    if r.spent_since()
                        .is_some_and(|t| t + SPENT_INVITE_KEEP_MS >= now) =>
                {
                    kept.push((r.created_at_ms, key))
                }
                _ => {
                    self.invites.remove(key)?;
                }
            }
        }
        kept.sort();
        let excess = (kept.len() + 1).saturating_sub(MAX_INVITES);
        for (_, key) in kept.into_iter().take(excess) {
            self.invites.remove(key)?;
        }
        let bytes = serde_json::to_vec(record).expect("an invite record serialises");
        self.invites.insert(digest(secret), bytes)?;
        self.flush()
    }

    /// Uses a join secret for `peer` at `now_ms`: valid once, before it expires. A used secret
    /// is recorded as used (durably) before this returns.
    pub fn redeem_invite(
        &mut self,
        secret: &str,
        peer: &str,
        now_ms: i64,
    ) -> Result<Result<InviteRecord, InviteRefused>, StoreError> {
        let key = digest(secret);
        let Some(bytes) = self.invites.get(&key)? else {
            return Ok(Err(InviteRefused::Unknown));
        };
        let Ok(mut record) = serde_json::from_slice::<InviteRecord>(&bytes) else {
            return Ok(Err(InviteRefused::Unknown));
        };
        if let Some(by) = &record.used_by {
            return Ok(Err(InviteRefused::Used { by: by.clone() }));
        }
        if now_ms >= record.expires_at_ms {
            return Ok(Err(InviteRefused::Expired));
        }
        record.used_by = Some(peer.to_owned());
        record.used_at_ms = Some(now_ms);
        let bytes = serde_json::to_vec(&record).expect("an invite record serialises");
        self.invites.insert(key, bytes)?;
        self.flush()?;
        Ok(Ok(record))
    }

    /// The join this machine is waiting to complete, if any.
    pub fn join_ticket(&self) -> Result<Option<JoinTicket>, StoreError> {
        Ok(self
            .meta
            .get(JOIN_TICKET_KEY)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    pub fn set_join_ticket(&mut self, ticket: &JoinTicket) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(ticket).expect("a join ticket serialises");
        self.meta.insert(JOIN_TICKET_KEY, bytes)?;
        self.flush()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn record(now: i64, ttl: i64) -> InviteRecord {
        InviteRecord {
            created_by: "ana@front".into(),
            created_at_ms: now,
            expires_at_ms: now + ttl,
            used_by: None,
            used_at_ms: None,
        }
    }

    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut doc = automerge::AutoCommit::new();
        let opened = Store::init(
            dir.path(),
            crate::NodeConfig {
                node_name: "t".into(),
            },
            None,
            &mut doc,
        )
        .unwrap()
        .unwrap();
        (dir, opened.store)
    }

    #[test]
    fn a_secret_is_good_once_and_only_before_it_expires() {
        let (_dir, mut store) = store();
        let secret = new_join_secret();
        store.add_invite(&secret, &record(1000, 500)).unwrap();
        assert_eq!(
            store.redeem_invite("nope", "p1", 1100).unwrap(),
            Err(InviteRefused::Unknown)
        );
        assert!(store.redeem_invite(&secret, "p1", 1100).unwrap().is_ok());
        assert_eq!(
            store.redeem_invite(&secret, "p2", 1200).unwrap(),
            Err(InviteRefused::Used { by: "p1".into() })
        );
        let late = new_join_secret();
        store.add_invite(&late, &record(1000, 500)).unwrap();
        assert_eq!(
            store.redeem_invite(&late, "p3", 1500).unwrap(),
            Err(InviteRefused::Expired)
        );
    }

    #[test]
    fn invites_are_bounded_and_survive_reopening() {
        let (dir, mut store) = store();
        let secrets: Vec<String> = (0..MAX_INVITES + 10).map(|_| new_join_secret()).collect();
        for (i, s) in secrets.iter().enumerate() {
            store
                .add_invite(s, &record(1000 + i as i64, 3_600_000))
                .unwrap();
        }
        assert_eq!(store.invites.len(), MAX_INVITES);
        drop(store);
        let mut store = Store::open(dir.path()).unwrap().store;
        // The oldest went first; the newest is still good.
        assert_eq!(
            store.redeem_invite(&secrets[0], "p", 2000).unwrap(),
            Err(InviteRefused::Unknown)
        );
        assert!(store
            .redeem_invite(secrets.last().unwrap(), "p", 2000)
            .unwrap()
            .is_ok());
    }

    #[test]
    fn a_join_ticket_records_how_the_join_went() {
        let (_dir, mut store) = store();
        assert_eq!(store.join_ticket().unwrap(), None);
        let ticket = JoinTicket {
            inviter: "12D3KooW".into(),
            secret: new_join_secret(),
            accepted: false,
            refused: None,
        };
        store.set_join_ticket(&ticket).unwrap();
        assert_eq!(store.join_ticket().unwrap(), Some(ticket.clone()));
        let accepted = JoinTicket {
            accepted: true,
            ..ticket
        };
        store.set_join_ticket(&accepted).unwrap();
        assert_eq!(store.join_ticket().unwrap(), Some(accepted));
    }
}
