//! `GET /api/events`: the node's events as Server-Sent Events. Each event carries its id, so a
//! page that reconnects with `Last-Event-ID` receives exactly what it missed, once; a page that
//! missed more than the node keeps gets a `resync` event and fetches again. Streams end when the
//! node stops; their number is bounded.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::api::{Failure, Signed};
use crate::events::Event;
use crate::Web;

#[derive(Deserialize)]
pub struct Resume {
    /// For clients that cannot set the header (a reconnect by hand): the last id seen.
    last_event_id: Option<u64>,
}

fn sse(event: &Event) -> SseEvent {
    SseEvent::default()
        .id(event.id.to_string())
        .data(event.json.as_ref())
}

fn resync() -> SseEvent {
    SseEvent::default()
        .event("resync")
        .data("{\"type\":\"resync\",\"reason\":\"events were missed; fetch the schedule again\"}")
}

pub async fn events(
    State(web): State<Web>,
    Signed(_caller): Signed,
    headers: HeaderMap,
    Query(resume): Query<Resume>,
) -> Response {
    let Ok(permit) = web.streams.clone().try_acquire_owned() else {
        return Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "too many event streams are open on this node; close a page and try again",
        )
        .into_response();
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(resume.last_event_id);
    let follow = web.hub.follow(last);
    let first: Vec<SseEvent> = follow
        .resync
        .then(resync)
        .into_iter()
        .chain(follow.missed.iter().map(sse))
        .collect();
    let live = stream::unfold(follow.live, |mut live| async move {
        let next = match live.recv().await {
            Ok(event) => sse(&event),
            // This page fell behind what the node keeps for it: it must fetch again.
            Err(RecvError::Lagged(_)) => resync(),
            Err(RecvError::Closed) => return None,
        };
        Some((next, live))
    });
    let mut stopping = web.stopping.clone();
    let stop = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let all: std::pin::Pin<Box<dyn Stream<Item = Result<SseEvent, Infallible>> + Send>> = Box::pin(
        stream::iter(first)
            .chain(live)
            .take_until(stop)
            .map(move |event| {
                // The permit lives as long as the stream.
                let _held = &permit;
                Ok(event)
            }),
    );
    Sse::new(all)
        .keep_alive(KeepAlive::default())
        .into_response()
}
