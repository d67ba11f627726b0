//! `GET /console/api/events`: the caller's approvals as server-sent events.
//!
//! Decisions happen in many places (this console, the CLI, gRPC, a Slack webhook,
//! another replica sharing the store), so the stream is driven by the store: every
//! [`POLL_INTERVAL`] it reads what the caller may see and sends an `approvals` event
//! when that differs from what it last sent (the first read is always sent). Each poll
//! verifies the caller's token again; once it no longer verifies (expired, signed
//! out) the stream sends `signed-out` and ends.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::super::{caller, list_visible, AdminError, AdminState};
use crate::identity::Identity;

/// How often the store is read for each open stream.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Approvals one event carries at most (newest first).
pub const SNAPSHOT_LIMIT: u32 = 200;

/// The `approvals` event's data: `{"approvals": [...]}`, newest first.
pub(crate) async fn snapshot(
    state: &AdminState,
    identity: &Identity,
) -> Result<String, AdminError> {
    let approvals = list_visible(state, identity, None, None, Some(SNAPSHOT_LIMIT)).await?;
    Ok(serde_json::json!({ "approvals": approvals }).to_string())
}

/// What one poll yields: an event to send, or nothing new.
pub(crate) fn next_event(last: &mut Option<String>, current: String) -> Option<Event> {
    if last.as_deref() == Some(current.as_str()) {
        return None;
    }
    let event = Event::default().event("approvals").data(&current);
    *last = Some(current);
    Some(event)
}

struct Poll {
    state: AdminState,
    headers: HeaderMap,
    last: Option<String>,
    ticks: tokio::time::Interval,
    done: bool,
}

pub(crate) async fn events(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AdminError> {
    // Refuse an unauthenticated stream with a plain 401 rather than an event.
    caller(&state, &headers, "/console/api/events").await?;
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let poll = Poll {
        state,
        headers,
        last: None,
        ticks,
        done: false,
    };
    let stream = futures::stream::unfold(poll, |mut poll| async move {
        if poll.done {
            return None;
        }
        loop {
            poll.ticks.tick().await;
            let identity = match caller(&poll.state, &poll.headers, "/console/api/events").await {
                Ok(identity) => identity,
                Err(err) => {
                    poll.done = true;
                    let event = Event::default().event("signed-out").data(err.message);
                    return Some((Ok(event), poll));
                }
            };
            match snapshot(&poll.state, &identity).await {
                Ok(current) => {
                    if let Some(event) = next_event(&mut poll.last, current) {
                        return Some((Ok(event), poll));
                    }
                }
                // The store recovers or not; the console keeps its last view meanwhile.
                Err(err) => tracing::warn!(error = %err.message, "console: event poll failed"),
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_sent() {
        let mut last = None;
        assert!(next_event(&mut last, "{\"approvals\":[]}".into()).is_some());
        assert!(next_event(&mut last, "{\"approvals\":[]}".into()).is_none());
        assert!(next_event(&mut last, "{\"approvals\":[1]}".into()).is_some());
        assert_eq!(last.as_deref(), Some("{\"approvals\":[1]}"));
    }
}
