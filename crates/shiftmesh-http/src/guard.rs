//! What every request passes before a handler sees it: a `Host` this node answers to (a page
//! on another site cannot reach it through a name that resolves here: DNS rebinding), and the
//! security headers on every response.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The host names the page answers to. IP literals always pass: a request naming an address
/// went through no DNS, so it cannot be a rebinding.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    names: BTreeSet<String>,
}

impl AllowedHosts {
    /// `localhost`, the machine's host name (and `NAME.local`), and any names given.
    pub fn new(host_name: &str, extra: &[String]) -> AllowedHosts {
        let mut names: BTreeSet<String> = ["localhost".to_owned()].into();
        let host = host_name.to_ascii_lowercase();
        if !host.is_empty() {
            names.insert(format!("{host}.local"));
            names.insert(host);
        }
        names.extend(extra.iter().map(|n| n.to_ascii_lowercase()));
        AllowedHosts { names }
    }

    /// Whether a `Host` header value names this node.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        // "[::1]:4781", "127.0.0.1:4781", "name:4781", "name".
        let name = if let Some(rest) = host.strip_prefix('[') {
            match rest.split_once(']') {
                Some((ip, _)) => return ip.parse::<IpAddr>().is_ok(),
                None => return false,
            }
        } else {
            host.rsplit_once(':')
                .map_or(host.as_str(), |(name, _)| name)
        };
        name.parse::<IpAddr>().is_ok() || self.names.contains(name)
    }
}

pub async fn check_host(
    State(hosts): State<std::sync::Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| hosts.allows(h));
    if !allowed {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "error": "this node does not answer to that host name (open it by its address, localhost, or its machine name)",
                "kind": "forbidden"
            })),
        )
            .into_response();
    }
    next.run(request).await
}

/// The security headers every response carries: no script, style or frame from anywhere but
/// this node, no inline script, no framing, no type sniffing, no referrer sent elsewhere.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if let Ok(value) = HeaderValue::from_str(value) {
            // A static asset sets its own caching.
            if name == "cache-control" && headers.contains_key(header::CACHE_CONTROL) {
                continue;
            }
            headers.insert(name, value);
        }
    }
    response
}

/// Whether an address only this machine can reach.
pub fn is_loopback(address: &SocketAddr) -> bool {
    address.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machines_names_and_ip_literals_pass() {
        let hosts = AllowedHosts::new("front-desk", &["schedule.museum.lan".into()]);
        for ok in [
            "127.0.0.1:4781",
            "[::1]:4781",
            "192.168.1.20:4781",
            "localhost:4781",
            "front-desk:4781",
            "FRONT-DESK.local",
            "schedule.museum.lan:80",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:4781",
            "localhost.evil.example",
            "[nonsense]",
            "",
        ] {
            assert!(!hosts.allows(bad), "{bad}");
        }
    }
}
