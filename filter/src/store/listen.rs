//! Changes made by other replicas: PostgreSQL `LISTEN`/`NOTIFY` on
//! [`CHANNEL`](super::db::CHANNEL).
//!
//! Every write transaction queues `NOTIFY warden_approvals, '<id> <status> <origin>'`
//! (delivered at commit, not at all on rollback). Each store listens on its own
//! connection and forwards what other stores wrote to its subscribers; its own writes
//! reach them directly (the `origin`, unique per open store, tells them apart).

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

use super::{Change, StoreError};
use crate::approval::{ApprovalId, Status};

/// The longest wait between two attempts to get the listening connection back.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The notification text for a change made by the store with tag `origin`.
pub(crate) fn payload(id: &ApprovalId, status: Status, origin: &str) -> String {
    format!("{id} {} {origin}", status.name())
}

/// A new origin tag for an open store: the changes it announces are also broadcast
/// in-process, so its own listener skips them.
pub(crate) fn new_origin() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Reads a notification: `Some` for a change another process made.
pub(crate) fn parse(payload: &str, own_origin: &str) -> Option<Change> {
    let mut parts = payload.split(' ');
    let id = parts.next().filter(|id| !id.is_empty())?;
    let status = Status::parse(parts.next()?)?;
    if parts.next() == Some(own_origin) {
        return None;
    }
    Some(Change {
        id: ApprovalId(id.to_string()),
        status,
    })
}

/// Starts listening (so that once `open` returns, no later change is missed), then
/// forwards notifications to `changes` from a background task until it is aborted.
pub(crate) async fn start(
    pool: &PgPool,
    origin: String,
    changes: broadcast::Sender<Change>,
) -> Result<tokio::task::JoinHandle<()>, StoreError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(super::db::CHANNEL).await?;
    Ok(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            // `recv` reconnects (and listens again) by itself after the connection
            // drops; it fails when it cannot, and is simply called again later.
            match listener.recv().await {
                Ok(notification) => {
                    backoff = Duration::from_millis(100);
                    if let Some(change) = parse(notification.payload(), &origin) {
                        // No subscriber is not an error.
                        let _ = changes.send(change);
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                        "approval store: lost the PostgreSQL LISTEN connection; changes made by \
                         other replicas are not seen until it is back (check the database)"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }))
}
