//! Invites: what a new machine needs to join a site — the site key, where and who the
//! inviting node is, and a one-time join secret — as one line that survives copy and paste.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shiftmesh_store::SiteKey;

/// How every invite begins.
pub const INVITE_PREFIX: &str = "shiftmesh-invite-1.";
/// An invite longer than this is refused before decoding.
const INVITE_MAX_BYTES: usize = 8 * 1024;
/// The most addresses an invite may name (a machine lists a few per network interface).
const INVITE_MAX_ADDRESSES: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The site key, 64 hex digits.
    pub key: String,
    /// The inviting node's peer id.
    pub peer: String,
    /// Multiaddresses the inviting node listens on, best first.
    pub addresses: Vec<String>,
    /// The one-time secret the new machine presents to the inviter to become a member.
    pub secret: String,
    /// When the secret stops being accepted (RFC 3339).
    pub expires: String,
}

impl Invite {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("an invite serialises");
        format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Reads an invite; the error says what is wrong with it.
    pub fn decode(text: &str) -> Result<(Invite, SiteKey), String> {
        let text = text.trim();
        if text.len() > INVITE_MAX_BYTES {
            return Err("the invite is too long to be one".into());
        }
        let body = text
            .strip_prefix(INVITE_PREFIX)
            .ok_or("an invite starts with 'shiftmesh-invite-1.'; copy the whole line 'shiftmesh invite' printed")?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| "the invite is damaged (not base64); copy it again")?;
        let invite: Invite = serde_json::from_slice(&json)
            .map_err(|_| "the invite is damaged (unreadable); copy it again")?;
        let key = SiteKey::from_hex(&invite.key).ok_or("the invite's site key is damaged")?;
        if invite.secret.is_empty() || invite.secret.len() > shiftmesh_store::JOIN_SECRET_BYTES * 2
        {
            return Err("the invite's join secret is damaged; copy it again".into());
        }
        if invite.addresses.is_empty() {
            return Err("the invite names no address to reach the site at".into());
        }
        if invite.peer.parse::<libp2p_identity::PeerId>().is_err() {
            return Err("the invite's peer id is damaged; copy it again".into());
        }
        if invite.addresses.len() > INVITE_MAX_ADDRESSES
            || invite
                .addresses
                .iter()
                .any(|a| a.parse::<multiaddr::Multiaddr>().is_err())
        {
            return Err("the invite's addresses are damaged; copy it again".into());
        }
        if invite.expires.parse::<jiff::Timestamp>().is_err() {
            return Err("the invite's expiry is damaged; copy it again".into());
        }
        Ok((invite, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Invite {
        Invite {
            key: "ab".repeat(32),
            peer: libp2p_identity::PeerId::random().to_string(),
            addresses: vec!["/ip4/127.0.0.1/tcp/4780".into()],
            secret: "00ff".repeat(16),
            expires: "2026-11-23T10:00:00Z".into(),
        }
    }

    #[test]
    fn an_invite_reads_back_and_damage_is_named() {
        let invite = sample();
        let text = invite.encode();
        let (back, key) = Invite::decode(&format!("  {text}\n")).unwrap();
        assert_eq!(back, invite);
        assert_eq!(key.to_hex(), invite.key);
        assert!(Invite::decode("hello").unwrap_err().contains("starts with"));
        assert!(Invite::decode(&text[..text.len() - 5]).is_err());
    }

    /// An invite whose peer id, addresses or expiry are garbage was once accepted by
    /// `init --join`, leaving a machine that could never join.
    #[test]
    fn an_invite_with_a_garbage_peer_or_address_is_refused() {
        let good = sample();
        let damaged = [
            Invite {
                peer: "12D3KooWgarbage".into(),
                ..good.clone()
            },
            Invite {
                addresses: vec!["not an address".into()],
                ..good.clone()
            },
            Invite {
                expires: "soon".into(),
                ..good.clone()
            },
        ];
        for (invite, what) in damaged.iter().zip(["peer id", "addresses", "expiry"]) {
            let error = Invite::decode(&invite.encode()).unwrap_err();
            assert!(error.contains(what), "{error}");
        }
    }
}
