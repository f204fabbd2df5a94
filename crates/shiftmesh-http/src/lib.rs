//! The node's web surface: the HTTP API over the application layer, who is signed in, the live
//! event stream, and the page. It listens on loopback unless the site has a manager account
//! with a password; every request is checked for its `Host`, every change for its origin, and
//! every answer carries security headers. The document task stays the only owner of the
//! schedule: handlers send it typed requests over a bounded channel and await the reply.

pub mod api;
pub mod events;
pub mod guard;
mod page;
pub mod sessions;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use axum::Router;
use shiftmesh_app::{AppError, Caller, Reply, Request};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

pub use events::{Event, Hub};
pub use guard::AllowedHosts;
pub use sessions::Sessions;

/// A request for the document task: who asks, what, and where the answer goes.
pub type Call = (Caller, Request, oneshot::Sender<Result<Reply, AppError>>);

/// The largest request body accepted, in bytes (an import of a large roster as CSV text).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The most event streams open at once (each page keeps one).
pub const MAX_EVENT_STREAMS: usize = 256;

/// What every handler shares.
#[derive(Clone)]
pub struct Web {
    pub calls: mpsc::Sender<Call>,
    pub hub: Hub,
    pub sessions: Sessions,
    /// The data directory's owner: who the owner's login link signs in as.
    pub owner: String,
    pub node_name: String,
    /// The site's public id (for the page: which site it shows).
    pub site_id: String,
    pub streams: Arc<Semaphore>,
    /// Becomes true when the node stops: open event streams end.
    pub stopping: watch::Receiver<bool>,
}

pub fn router(web: Web, hosts: AllowedHosts) -> Router {
    let api = Router::new()
        .route("/login", post(api::sign_in))
        .route("/logout", post(api::sign_out))
        .route("/me", get(api::me))
        .route("/status", get(api::status))
        .route("/peers", get(api::peers))
        .route("/schedule", get(api::schedule))
        .route("/now", get(api::now))
        .route(
            "/departments",
            get(api::departments).post(api::department_add),
        )
        .route(
            "/departments/{id}",
            patch(api::department_update).delete(api::department_remove),
        )
        .route("/staff", get(api::staff_list).post(api::staff_add))
        .route(
            "/staff/{id}",
            get(api::staff_show)
                .patch(api::staff_update)
                .delete(api::staff_remove),
        )
        .route("/shifts", get(api::shift_list).post(api::shift_add))
        .route(
            "/shifts/{id}",
            get(api::shift_show)
                .patch(api::shift_update)
                .delete(api::shift_remove),
        )
        .route("/shifts/copy", post(api::shift_copy))
        .route("/shifts/repeat", post(api::shift_repeat))
        .route("/shifts/{id}/cover", get(api::cover))
        .route("/assignments", post(api::assign))
        .route("/assignments/{shift}/{staff}", delete(api::unassign))
        .route(
            "/availability",
            get(api::availability_list).post(api::availability_add),
        )
        .route("/availability/{id}", delete(api::availability_remove))
        .route("/conflicts", get(api::conflicts))
        .route("/conflicts/{id}", get(api::conflict_show))
        .route("/conflicts/{id}/resolve", post(api::resolve))
        .route("/conflicts/{id}/ack", post(api::ack))
        .route("/history", get(api::history))
        .route("/history/{change}/revert", post(api::revert))
        .route("/export", get(api::export))
        .route("/backup", get(api::backup))
        .route("/import", post(api::import))
        .route("/merge", post(api::merge))
        .route("/merge/last/revert", post(api::revert_last_merge))
        .route("/events", get(stream::events))
        .fallback(api::not_found);
    Router::new()
        .nest("/api", api)
        .route("/login/owner", get(api::owner_link))
        .merge(page::routes())
        .with_state(web)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::csrf::CsrfLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(hosts),
            guard::check_host,
        ))
        .layer(axum::middleware::from_fn(guard::security_headers))
}

/// Serves the page and the API on `listener` until `stopping` becomes true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    web: Web,
    hosts: AllowedHosts,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let mut stopping = web.stopping.clone();
    let app = router(web, hosts).into_make_service_with_connect_info::<SocketAddr>();
    // Small writes go out at once: an event, or a response sent in parts, must not wait for
    // the browser's delayed acknowledgement of the previous one (Nagle's algorithm).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
}
