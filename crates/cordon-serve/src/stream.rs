//! `GET /v1/findings/stream`: one Server-Sent Event per finding.
//!
//! Each client reads from a broadcast channel of bounded capacity: a client
//! that falls behind loses the oldest messages (and is told how many), and
//! checking never waits for it.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;

pub(crate) async fn findings(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.inner.findings.subscribe();
    let stop = state.inner.stop.clone();
    let events = stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        loop {
            if *stop.borrow() {
                return None;
            }
            let event = tokio::select! {
                msg = rx.recv() => match msg {
                    Ok(text) => Event::default().event("finding").data(&*text),
                    Err(RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
                    Err(RecvError::Closed) => return None,
                },
                // Shutdown, or the service dropped the sender: end the stream.
                changed = stop.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return None,
                },
            };
            return Some((Ok(event), (rx, stop)));
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
