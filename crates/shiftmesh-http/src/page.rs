//! The page: static files compiled into the binary (no CDN; the LAN may have no internet).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::Web;

/// One static file: its path, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[Asset {
    path: "/",
    content_type: "text/html; charset=utf-8",
    body: include_str!("../page/index.html"),
}];

pub fn routes() -> Router<Web> {
    let mut router = Router::new();
    for asset in ASSETS {
        router = router.route(
            asset.path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, asset.content_type),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    asset.body,
                )
                    .into_response()
            }),
        );
    }
    router
}
