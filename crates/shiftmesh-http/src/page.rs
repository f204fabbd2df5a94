//! The page: static files compiled into the binary (no CDN; the LAN may have no internet), plain
//! ES modules with no build step.

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

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the page, compiled in.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_str!("../page/index.html"),
    },
    Asset {
        path: "/style.css",
        content_type: CSS,
        body: include_str!("../page/style.css"),
    },
    Asset {
        path: "/app.js",
        content_type: JS,
        body: include_str!("../page/app.js"),
    },
    Asset {
        path: "/api.js",
        content_type: JS,
        body: include_str!("../page/api.js"),
    },
    Asset {
        path: "/dates.js",
        content_type: JS,
        body: include_str!("../page/dates.js"),
    },
    Asset {
        path: "/views.js",
        content_type: JS,
        body: include_str!("../page/views.js"),
    },
    Asset {
        path: "/dialogs.js",
        content_type: JS,
        body: include_str!("../page/dialogs.js"),
    },
];

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
