//! Starting the page and the HTTP API beside the node: where it listens (this machine only,
//! unless the site has a manager account with a password), and the owner's login links.

use std::net::SocketAddr;

use shiftmesh_app::Session;
use shiftmesh_http::{AllowedHosts, Hub, Sessions, Web};
use shiftmesh_model::Role;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::node::ControlMessage;
use crate::NodeError;

/// How long a stopping node waits for the page's server to finish its requests.
pub const UI_STOP_WAIT_MS: u64 = 5_000;

pub struct Setup<'a> {
    pub address: SocketAddr,
    /// Whether the address was asked for (else: the default, which may move to a free port).
    pub explicit: bool,
    pub session: &'a Session,
    pub calls: mpsc::Sender<ControlMessage>,
    pub hub: Hub,
    pub stopping: watch::Receiver<bool>,
    pub owner: String,
}

/// The owner's login links, for `shiftmesh ui`.
#[derive(Clone)]
pub struct Links {
    sessions: Sessions,
    /// The page's address as this machine's owner opens it.
    pub base: String,
}

impl Links {
    /// A new one-time link and when it expires (RFC 3339).
    pub fn new_link(&self) -> (String, String) {
        let secret = self.sessions.new_link();
        let expires = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(
                shiftmesh_http::sessions::LOGIN_LINK_SECS as i64,
            ))
            .map(|t| t.to_string())
            .unwrap_or_default();
        (format!("{}login/owner?token={secret}", self.base), expires)
    }
}

pub struct Ui {
    pub links: Links,
    server: tokio::task::JoinHandle<()>,
}

impl Ui {
    /// Waits (a bounded time) for the server to finish after the node asked it to stop.
    pub async fn stopped(self) {
        let wait = std::time::Duration::from_millis(UI_STOP_WAIT_MS);
        if tokio::time::timeout(wait, self.server).await.is_err() {
            tracing::warn!("the page's server did not stop within {wait:?}");
        }
    }
}

/// Whether the site has a manager account that can sign in with a password.
fn has_manager_with_password(session: &Session) -> bool {
    session
        .schedule
        .index()
        .accounts
        .values()
        .any(|a| a.role == Role::Manager && !a.disabled && !a.password_hash.is_empty())
}

pub async fn start(setup: Setup<'_>) -> Result<Ui, NodeError> {
    let address = setup.address;
    if !shiftmesh_http::guard::is_loopback(&address) && !has_manager_with_password(setup.session) {
        return Err(NodeError::UiRefused(format!(
            "refusing to serve the page on {address}, which other machines can reach: the site has no manager account with a password yet. Add one with 'shiftmesh account add LOGIN --role manager' (then start the node again), or leave --ui-listen out to serve this machine only"
        )));
    }
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) if !setup.explicit => {
            let fallback = SocketAddr::new(address.ip(), 0);
            tracing::warn!("cannot listen for the page on {address} ({e}); using a free port");
            tokio::net::TcpListener::bind(fallback)
                .await
                .map_err(|e| NodeError::Ui(fallback, e))?
        }
        Err(e) => return Err(NodeError::Ui(address, e)),
    };
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::Ui(address, e))?;
    let identity = &setup.session.identity;
    let sessions = Sessions::default();
    let web = Web {
        calls: setup.calls,
        hub: setup.hub,
        sessions: sessions.clone(),
        owner: setup.owner,
        node_name: identity.config.node_name.clone(),
        site_id: identity.site_key.site_id(),
        streams: std::sync::Arc::new(Semaphore::new(shiftmesh_http::MAX_EVENT_STREAMS)),
        stopping: setup.stopping,
    };
    let hosts = AllowedHosts::new(&shiftmesh_app::host_name(), &[]);
    // The owner opens the page on this machine: through loopback when it listens everywhere.
    let local = if bound.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), bound.port())
    } else {
        bound
    };
    let base = format!("http://{local}/");
    tracing::info!(
        "the page is at {base} (on {bound}); 'shiftmesh ui' prints a link that signs the owner in"
    );
    let server = tokio::spawn(async move {
        if let Err(e) = shiftmesh_http::serve(listener, web, hosts).await {
            tracing::error!("the page's server stopped: {e}");
        }
    });
    Ok(Ui {
        links: Links { sessions, base },
        server,
    })
}
