//! The site's machines: listing them (members, pending, revoked), trusting and revoking them,
//! and inviting a new one.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::json;
use shiftmesh_node::membership::parse_peer_id;
use shiftmesh_node::Status;
use shiftmesh_store::{new_join_secret, InviteRecord};

use crate::cli::{InviteArgs, PeersCommand};
use crate::context::Context;
use crate::invite::Invite;
use crate::output;
use crate::views::table;
use crate::UsageError;

pub fn run(ctx: &mut Context, command: Option<PeersCommand>) -> anyhow::Result<()> {
    match command {
        None | Some(PeersCommand::List) => list(ctx),
        Some(PeersCommand::Trust { peer_id, name }) => trust(ctx, &peer_id, name),
        Some(PeersCommand::Revoke { peer_id }) => revoke(ctx, &peer_id),
    }
}

fn list(ctx: &mut Context) -> anyhow::Result<()> {
    let live = ctx.db.node_status();
    let r = ctx.db.read()?;
    let node = live.unwrap_or_else(|| Status::offline(r.identity(), r.store(), r.view().index()));
    output::either(ctx.json, &node.peers, || {
        let mut text = table(
            &[
                "PEER",
                "NAME",
                "STATE",
                "CONNECTED",
                "LAST SYNC",
                "BEHIND",
                "AHEAD",
                "ADDRESS",
            ],
            node.peers.iter().map(|p| {
                let count = |n: Option<usize>| n.map_or("-".to_owned(), |n| n.to_string());
                vec![
                    p.peer_id.clone(),
                    p.name.clone().unwrap_or_else(|| "-".to_owned()),
                    p.state.to_owned(),
                    if p.connected { "yes" } else { "no" }.to_owned(),
                    p.last_sync.clone().unwrap_or_else(|| "-".to_owned()),
                    count(p.behind),
                    count(p.ahead),
                    p.addresses.last().cloned().unwrap_or_default(),
                ]
            }),
        );
        for p in node.peers.iter().filter(|p| p.state == "pending") {
            let _ = write!(
                text,
                "\n{} has the site key but is not a member; if it is one of this site's machines, let it in with:\n  shiftmesh peers trust {}",
                p.peer_id, p.peer_id
            );
        }
        if !node.running {
            text.push_str(
                "\n(no node is running: connections and pending machines are known only while it runs)",
            );
        }
        text
    })
}

fn trust(ctx: &mut Context, peer: &str, name: Option<String>) -> anyhow::Result<()> {
    let peer = parse_peer_id(peer).map_err(UsageError)?;
    let s = ctx.db.open()?;
    if peer == s.identity.peer_id().to_string() {
        return Err(UsageError("that is this machine's own peer id".into()).into());
    }
    let name = name.unwrap_or_else(|| "machine".to_owned());
    let edit = s.edit();
    s.schedule.trust_member(&edit, &peer, &name, "by hand")?;
    s.persist()?;
    output::either(ctx.json, &json!({"trusted": peer, "name": name}), || {
        format!("trusted {peer} ('{name}'): every node of the site will sync with it")
    })
}

fn revoke(ctx: &mut Context, peer: &str) -> anyhow::Result<()> {
    let peer = parse_peer_id(peer).map_err(UsageError)?;
    let s = ctx.db.open()?;
    if peer == s.identity.peer_id().to_string() {
        anyhow::bail!(
            "this is this machine's own peer id; revoke a lost or retired machine from another member"
        );
    }
    let edit = s.edit();
    s.schedule.revoke_member(&edit, &peer)?;
    s.persist()?;
    output::either(ctx.json, &json!({"revoked": peer}), || {
        format!("revoked {peer}: every node that learns this closes its connections and refuses it from now on")
    })
}

pub fn invite(ctx: &mut Context, args: InviteArgs) -> anyhow::Result<()> {
    let Some(node) = ctx.db.node_status() else {
        anyhow::bail!(
            "an invite carries the address the node listens on; start the node first ('shiftmesh node'), then run 'shiftmesh invite' beside it"
        );
    };
    let s = ctx.db.open()?;
    let key = s.identity.site_key.to_hex();
    // Addresses other machines can reach first; loopback last (it reaches only this machine).
    let mut addresses: Vec<String> = node.listen.clone();
    addresses.sort_by_key(|a| a.starts_with("/ip4/127.") || a.starts_with("/ip6/::1"));
    let edit = s.edit();
    let expires_at_ms = edit.now_ms.saturating_add(args.expires.as_millis());
    let secret = new_join_secret();
    let record = InviteRecord {
        created_by: edit.author,
        created_at_ms: edit.now_ms,
        expires_at_ms,
        used_by: None,
        used_at_ms: None,
    };
    s.store
        .add_invite(&secret, &record)
        .context("recording the invite's join secret")?;
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
    let text = invite.encode();
    output::either(
        ctx.json,
        &json!({"invite": text, "peer_id": node.peer_id, "addresses": invite.addresses, "expires": expires}),
        || {
            format!(
                "{text}\n\nOn the new machine run:\n  shiftmesh init --join {text}\n  shiftmesh node\nIt can be used once, until {expires}. It holds the site key: pass it only to machines of this site."
            )
        },
    )
}
