//! The site's machines: trusting and revoking them, and inviting a new one.

use serde_json::json;
use shiftmesh_store::{new_join_secret, InviteRecord};

use crate::conflicts::{changed, write};
use crate::context::Context;
use crate::invite::Invite;
use crate::reply::{InviteIssued, Reply};
use crate::{AppError, Result};

/// The longest an invite may stay valid.
pub const MAX_INVITE_MINUTES: i64 = 30 * 24 * 60;

/// A peer id as text, checked (they look like 12D3KooW…).
pub fn parse_peer_id(text: &str) -> Result<String> {
    text.trim()
        .parse::<libp2p_identity::PeerId>()
        .map(|p| p.to_string())
        .map_err(|_| {
            AppError::Usage(format!(
                "'{}' is not a peer id (they look like 12D3KooW…; 'shiftmesh peers' lists them)",
                text.chars().take(80).collect::<String>()
            ))
        })
}

/// The fewest characters a peer id prefix must have: every id starts with the same eight
/// (`12D3KooW`), so four more are needed before a prefix tells machines apart.
pub const PEER_PREFIX_MIN_CHARS: usize = 12;

/// The member a user means: a whole peer id, a unique prefix of a member's id (as
/// `shiftmesh peers` shows them), or a member's name. Only members are matched (a pending
/// machine's id can be chosen to share a prefix), and a text that is one member's name and
/// another's prefix is refused rather than guessed.
pub fn resolve_member(ctx: &mut Context, text: &str) -> Result<String> {
    resolve_machine(ctx, text, &["member"])
}

/// The peer id of the machine `text` names among those in one of `states` (see
/// [`resolve_member`]).
pub fn resolve_machine(ctx: &mut Context, text: &str, states: &[&str]) -> Result<String> {
    if let Ok(id) = parse_peer_id(text) {
        return Ok(id);
    }
    let text = text.trim();
    let known = crate::views::node_status(ctx)?.peers;
    let members = || known.iter().filter(|p| states.contains(&p.state.as_str()));
    let mut matches: Vec<&str> = members()
        .filter(|p| p.name.as_deref() == Some(text))
        .chain(
            members()
                .filter(|p| text.len() >= PEER_PREFIX_MIN_CHARS && p.peer_id.starts_with(text)),
        )
        .map(|p| p.peer_id.as_str())
        .collect();
    matches.sort_unstable();
    matches.dedup();
    the_one(&matches, text, || {
        format!(
            "no member of this site is named or starts with '{}' ('shiftmesh peers' lists them; a prefix needs at least {PEER_PREFIX_MIN_CHARS} characters)",
            text.chars().take(80).collect::<String>()
        )
    })
}

/// The one peer id `text` matched, or why there is not exactly one.
fn the_one(matches: &[&str], text: &str, none: impl FnOnce() -> String) -> Result<String> {
    match matches {
        [one] => Ok((*one).to_owned()),
        [] => Err(AppError::NotFound(none())),
        many => Err(AppError::Usage(format!(
            "'{text}' could be any of {}; give the whole peer id",
            many.join(", ")
        ))),
    }
}

/// Dismisses a pending machine (one with the site key that is not a member, as a reused
/// invite leaves): the running node forgets it, until it connects again. Forgetting is
/// harmless, so a unique prefix of its id will do.
pub fn forget(ctx: &mut Context, text: &str) -> Result<Reply> {
    let Some(status) = ctx.db.node_status() else {
        return Err(AppError::Refused(
            "pending machines are known only while the node runs; with no node running there is nothing to forget".into(),
        ));
    };
    let text = text.trim();
    let pending: Vec<&str> = status
        .peers
        .iter()
        .filter(|p| p.state == "pending" && p.peer_id.starts_with(text))
        .map(|p| p.peer_id.as_str())
        .collect();
    let peer = the_one(&pending, text, || {
        format!(
            "no pending machine's id starts with '{}' ('shiftmesh peers' lists them; 'peers revoke' removes a member)",
            text.chars().take(80).collect::<String>()
        )
    })?;
    if ctx.db.forget_pending(&peer) != Some(true) {
        return Err(AppError::NotFound(format!(
            "{peer} is no longer pending ('shiftmesh peers' lists the machines as they are now)"
        )));
    }
    Ok(changed(
        json!({"forgotten": peer}),
        format!("forgot the pending machine {peer}; it is listed again if it connects again"),
        Default::default(),
    ))
}

fn own_id(ctx: &mut Context) -> Result<String> {
    Ok(ctx.db.open()?.identity.peer_id().to_string())
}

/// Trusting takes the whole peer id: a machine with the site key can choose an identity that
/// shares any short prefix with the one meant.
pub fn trust(ctx: &mut Context, peer: &str, name: Option<String>) -> Result<Reply> {
    let peer = parse_peer_id(peer)?;
    if peer == own_id(ctx)? {
        return Err(AppError::Usage("that is this machine's own peer id".into()));
    }
    let name = name.unwrap_or_else(|| "machine".to_owned());
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s.schedule.trust_member(edit, &peer, &name, "by hand")?;
        Ok(((), written))
    })?;
    Ok(changed(
        json!({"trusted": peer, "name": name}),
        format!("trusted {peer} ('{name}'): every node of the site will sync with it"),
        caused,
    ))
}

pub fn revoke(ctx: &mut Context, peer: &str) -> Result<Reply> {
    let peer = resolve_member(ctx, peer)?;
    if peer == own_id(ctx)? {
        return Err(AppError::Refused(
            "this is this machine's own peer id; revoke a lost or retired machine from another member".into(),
        ));
    }
    let (_, _, caused) = write(ctx, |s, edit| {
        let written = s.schedule.revoke_member(edit, &peer)?;
        Ok(((), written))
    })?;
    Ok(changed(
        json!({"revoked": peer}),
        format!("revoked {peer}: every node that learns this closes its connections and refuses it from now on"),
        caused,
    ))
}

pub fn invite(ctx: &mut Context, expires_minutes: i64) -> Result<Reply> {
    if !(1..=MAX_INVITE_MINUTES).contains(&expires_minutes) {
        return Err(AppError::Usage(format!(
            "an invite stays valid between 1 minute and 30 days, not {expires_minutes} minutes"
        )));
    }
    let Some(node) = ctx.db.node_status() else {
        return Err(AppError::Refused(
            "an invite carries the address the node listens on; start the node first ('shiftmesh node'), then run 'shiftmesh invite' beside it".into(),
        ));
    };
    let edit = ctx.edit()?;
    let s = ctx.db.open()?;
    let key = s.identity.site_key.to_hex();
    // Addresses other machines can reach first; loopback last (it reaches only this machine).
    let mut addresses: Vec<String> = node.listen.clone();
    addresses.sort_by_key(|a| a.starts_with("/ip4/127.") || a.starts_with("/ip6/::1"));
    let expires_at_ms = edit.now_ms.saturating_add(expires_minutes * 60_000);
    let secret = new_join_secret();
    let record = InviteRecord {
        created_by: edit.author,
        created_at_ms: edit.now_ms,
        expires_at_ms,
        used_by: None,
        used_at_ms: None,
    };
    s.store.add_invite(&secret, &record)?;
    let expires = jiff::Timestamp::from_millisecond(expires_at_ms)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let invite = Invite {
        key,
        peer: node.peer_id.clone(),
        addresses,
        secret,
        expires: expires.clone(),
    };
    Ok(Reply::Invite(InviteIssued {
        invite: invite.encode(),
        peer_id: node.peer_id,
        addresses: invite.addresses,
        expires,
    }))
}
