//! The admin API's session replay: `GET /v1/sessions` and `GET /v1/sessions/{id}`.
//!
//! Same JWT authentication as the approvals endpoints. A caller sees their own
//! exchanges (by token subject); members of `audit.sessions.reader_groups` see every
//! identity's. What is served is what was recorded: already masked.
//!
//! | query | meaning |
//! |---|---|
//! | `identity=S` | only the exchanges of subject `S` (`anonymous` for requests without one) |
//! | `since=T`, `until=T` | RFC 3339, or a duration back from now (`2h`, `7d`); since inclusive, until exclusive |
//! | `limit=N` | at most N sessions, most recently active first (default 100, at most 1000) |

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{caller, AdminError, AdminState};
use crate::approval::{parse_duration, Timestamp};
use crate::identity::Identity;
use crate::store::{SessionExchange, SessionFilter, SessionSummary, ANONYMOUS};

/// Sessions listed when the query names no limit.
const DEFAULT_LIMIT: u32 = 100;
/// Most sessions one listing returns.
const MAX_LIMIT: u32 = 1000;

/// The groups whose members may read every identity's sessions, by default.
pub fn default_reader_groups() -> Vec<String> {
    vec!["auditors".into()]
}

/// `GET /v1/sessions` answers this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// The sessions, most recently active first.
    pub sessions: Vec<SessionSummary>,
}

/// `GET /v1/sessions/{id}` answers this.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// The session id.
    pub session_id: String,
    /// Its exchanges (those the caller may see), in time order.
    pub exchanges: Vec<SessionExchange>,
}

/// Query of `GET /v1/sessions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    identity: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
}

/// Reads a time bound: RFC 3339, or a duration (`90s`, `2h`, `7d`) back from `now`.
pub fn parse_time_bound(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    match parse_duration(text) {
        Ok(seconds) => {
            let millis = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
            Ok(Timestamp(now.0.saturating_sub(millis)))
        }
        Err(_) => Err(format!(
            "{text:?} is not a time: write RFC 3339 (2026-11-30T08:00:00Z) or a duration \
             back from now (90s, 15m, 2h, 7d)"
        )),
    }
}

/// True when `identity` may read every identity's sessions.
pub(crate) fn reads_all(state: &AdminState, identity: &Identity) -> bool {
    identity
        .groups
        .iter()
        .any(|g| state.session_readers.iter().any(|r| r == g))
}

/// The subject column's value for an `identity=` query (`anonymous` → `""`).
fn subject_of(identity: &str) -> String {
    if identity == ANONYMOUS {
        String::new()
    } else {
        identity.to_string()
    }
}

fn bad_time(message: String) -> AdminError {
    AdminError::new(StatusCode::BAD_REQUEST, "bad_time", message)
}

pub(crate) async fn list(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<SessionList>, AdminError> {
    let identity = caller(&state, &headers, "/v1/sessions").await?;
    let now = Timestamp::now();
    let bound = |text: &Option<String>| {
        text.as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| parse_time_bound(t, now).map_err(bad_time))
            .transpose()
    };
    let requested = query.identity.filter(|i| !i.is_empty());
    let subject = if reads_all(&state, &identity) {
        requested.map(|i| subject_of(&i))
    } else {
        match requested {
            Some(other) if other != identity.subject => {
                return Err(AdminError::new(
                    StatusCode::FORBIDDEN,
                    "not_a_session_reader",
                    format!(
                        "you may only read your own sessions ({}); reading {other:?}'s needs \
                         membership in one of audit.sessions.reader_groups ({})",
                        identity.subject,
                        state.session_readers.join(", ")
                    ),
                ))
            }
            _ => Some(identity.subject.clone()),
        }
    };
    let filter = SessionFilter {
        subject,
        since: bound(&query.since)?,
        until: bound(&query.until)?,
        limit: Some(
            query
                .limit
                .filter(|l| *l > 0)
                .unwrap_or(DEFAULT_LIMIT)
                .min(MAX_LIMIT),
        ),
    };
    let sessions = state.store.list_sessions(&filter).await?;
    Ok(Json(SessionList { sessions }))
}

pub(crate) async fn show(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, AdminError> {
    let identity = caller(&state, &headers, "/v1/sessions/{id}").await?;
    let only = (!reads_all(&state, &identity)).then_some(identity.subject.as_str());
    let exchanges = state.store.session_exchanges(&id, only).await?;
    if exchanges.is_empty() {
        return Err(AdminError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no recorded session {id:?} that you may read; list them with `warden sessions list`"
            ),
        ));
    }
    Ok(Json(SessionView {
        session_id: id,
        exchanges,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_are_rfc3339_or_durations_back_from_now() {
        let now = Timestamp(1_796_000_000_000);
        assert_eq!(
            parse_time_bound("2026-11-30T00:53:20Z", now),
            Ok(Timestamp(1_796_000_000_000))
        );
        assert_eq!(
            parse_time_bound("2h", now),
            Ok(Timestamp(1_796_000_000_000 - 7_200_000))
        );
        assert_eq!(
            parse_time_bound("7d", now),
            Ok(Timestamp(1_796_000_000_000 - 7 * 86_400_000))
        );
        let error = parse_time_bound("yesterday", now).unwrap_err();
        assert!(
            error.contains("RFC 3339") && error.contains("7d"),
            "{error}"
        );
    }
}
