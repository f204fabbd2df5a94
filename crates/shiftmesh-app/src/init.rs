//! Setting up a machine: a new data directory, founding a site or joining one with an invite.
//! Not a request: it runs before there is a schedule to send requests to.

use std::path::Path;

use serde::{Deserialize, Serialize};
use shiftmesh_model::entity::check_name;
use shiftmesh_model::{Edit, Id, Schedule, SiteZone};
use shiftmesh_store::{JoinTicket, NodeConfig, Store};

use crate::invite::Invite;
use crate::session::{now_ms, Session};
use crate::{AppError, Result};

/// How to set a machine up.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// The site's name (founding only) [default: "shiftmesh site"].
    pub name: Option<String>,
    /// The site's zone (founding only) [default: the machine's].
    pub time_zone: Option<SiteZone>,
    /// This node's name [default: the host name].
    pub node_name: Option<String>,
    /// An invite from a machine of the site to join.
    pub join: Option<String>,
    /// Who is setting it up (the author of the founding changes).
    pub user: String,
}

/// What setting up did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Initialised {
    pub initialised: bool,
    pub data_dir: std::path::PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inviter: Option<String>,
}

/// Creates the data directory (a no-op, said so, when it exists).
pub fn init(data_dir: &Path, setup: Setup) -> Result<Initialised> {
    let node_name = setup.node_name.unwrap_or_else(host_name);
    Id::parse(&node_name).map_err(|e| AppError::Usage(format!("node name: {e}")))?;
    let joining = match &setup.join {
        Some(text) => Some(Invite::decode(text).map_err(AppError::Usage)?),
        None => None,
    };
    let zone = setup.time_zone.unwrap_or_else(SiteZone::of_machine);
    let name = setup.name.unwrap_or_else(|| "shiftmesh site".to_owned());
    check_name("site name", &name).map_err(|e| AppError::Usage(e.message))?;
    let mut schedule = Schedule::new();
    let config = NodeConfig {
        node_name: node_name.clone(),
    };
    let site_key = joining.as_ref().map(|(_, key)| key.clone());
    let nothing = Initialised {
        initialised: false,
        data_dir: data_dir.to_owned(),
        joined: None,
        peer_id: None,
        name: None,
        site: None,
        time_zone: None,
        inviter: None,
    };
    let Some(opened) = Store::init(data_dir, config, site_key, schedule.doc_mut())? else {
        return Ok(nothing);
    };
    let mut s = Session {
        store: opened.store,
        schedule,
        identity: opened.identity,
        write_index_on_persist: true,
        record_history_on_persist: true,
    };
    crate::session::write_as_this_machine(&mut s.schedule, &s.identity);
    let peer_id = s.identity.peer_id().to_string();
    let edit = Edit {
        author: format!("{}@{node_name}", setup.user),
        now_ms: now_ms(),
    };
    if let Some((invite, _)) = &joining {
        // The site's name and time zone arrive with its schedule; writing our own here would
        // only make them conflict. What we keep is where to find the inviting machine.
        for address in &invite.addresses {
            s.store.remember_address(&invite.peer, address)?;
        }
        s.store.set_join_ticket(&JoinTicket {
            inviter: invite.peer.clone(),
            secret: invite.secret.clone(),
            accepted: false,
            refused: None,
        })?;
        s.persist()?;
        return Ok(Initialised {
            initialised: true,
            joined: Some(true),
            peer_id: Some(peer_id),
            name: Some(node_name),
            inviter: Some(invite.peer.clone()),
            ..nothing
        });
    }
    s.schedule.set_site(&edit, &name, &zone)?;
    // The founding machine is the site's first member; every other joins through a member.
    s.schedule
        .trust_member(&edit, &peer_id, &node_name, "founding the site")?;
    s.persist()?;
    Ok(Initialised {
        initialised: true,
        peer_id: Some(peer_id),
        name: Some(node_name),
        site: Some(name),
        time_zone: Some(zone.name().to_owned()),
        ..nothing
    })
}

/// The machine's host name, the default node name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}
