//! Durable approvals, shared by one or several Warden replicas.
//!
//! [`ApprovalStore`] keeps every [`Approval`] in SQLite (one replica) or PostgreSQL (any
//! number of replicas) and runs the pure functions of [`crate::approval`] inside its
//! transactions, so two replicas deciding, using or expiring the same approval at once
//! cannot both succeed.
//!
//! Each row holds the approval as a JSON document (`doc`, the source of truth) and
//! copies of the fields the lookups need (status, requester subject, fingerprint,
//! kind and scope, times); both are written together from one function, and a row
//! whose columns disagree with its document is reported as [`StoreError::Corrupt`].
//!
//! The schema comes from the migrations in `filter/migrations/{sqlite,postgres}/`,
//! compiled into the binary and applied by [`ApprovalStore::open`].
//!
//! Writes are announced as [`Change`]s: in-process to [`ApprovalStore::subscribe`]rs,
//! and with PostgreSQL to the other replicas through `NOTIFY warden_approvals`.
//!
//! The same database keeps the recorded sessions (`sessions`: every audited
//! exchange with its masked capture, and the chain's checkpoints), written by the
//! audit writer through [`SessionRecorder`] and trimmed by [`spawn_retention`].

mod db;
mod listen;
mod recorder;
mod sessions;

pub use recorder::{spawn_retention, RetentionSettings, SessionRecorder};
pub use sessions::{
    RetentionReport, SessionExchange, SessionFilter, SessionRetention, SessionSummary, ANONYMOUS,
};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use tokio::sync::broadcast;

use crate::approval::{Approval, ApprovalId, Fingerprint, NewHold, Status, Timestamp};
use db::{id_param, kind_and_scope, Db, Param, COLUMNS, KIND_GRANT, KIND_OPERATION};

/// How many changes a slow subscriber may fall behind before it misses some (it then
/// gets [`broadcast::error::RecvError::Lagged`] and should re-read what it shows).
const CHANGES_BUFFER: usize = 1024;

/// How long an SQLite writer waits for another one (another process on the same
/// file) before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the store could not do what was asked. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not one Warden understands.
    #[error(
        "approval store URL {0:?} is not supported: use sqlite:///path/to/warden.db, \
         sqlite::memory: (tests only: nothing survives a restart) or \
         postgres://user@host:port/database"
    )]
    UnsupportedUrl(String),
    /// The database could not be opened or reached at start.
    #[error(
        "cannot open the approval store at {url}: {source}. For SQLite, the directory must \
         exist and be writable by Warden; for PostgreSQL, check that the server is up, that \
         the database exists and that the user may connect and create tables"
    )]
    Open {
        /// The URL, without its password.
        url: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error(
        "cannot migrate the approval store's schema: {0}. If a newer Warden already ran on \
         this database, run that version (or restore a backup taken before the upgrade); \
         otherwise check that the user may create and alter tables"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed (the database went away, a disk is full, a lock wait timed out).
    #[error(
        "the approval store failed: {0}. Check that the database is reachable and not out \
         of space; Warden keeps holding requests it cannot check, and the request can be retried"
    )]
    Database(#[from] sqlx::Error),
    /// Other replicas kept changing what this one tried to change.
    #[error(
        "the approval store is contended: {0} kept conflicting with other replicas' \
         changes; retry the request"
    )]
    Contended(String),
    /// No approval has this id.
    #[error("there is no approval {0}: check the id (warden approvals list shows them)")]
    NotFound(ApprovalId),
    /// A stored approval cannot be read back.
    #[error(
        "stored approval {id} is unreadable: {reason}. Inspect its row in the approvals \
         table (the doc column holds the approval as JSON); fix or delete it"
    )]
    Corrupt {
        /// The approval's id (the row's `id` column).
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A recorded exchange or checkpoint cannot be written or read back.
    #[error(
        "recorded exchange {instance} #{seq} is unreadable: {reason}. Inspect its row in the          session_exchanges (or session_checkpoints) table; fix or delete it"
    )]
    CorruptSession {
        /// The instance whose chain it belongs to.
        instance: String,
        /// Its place in that chain.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// A change to an approval, made by this or (with PostgreSQL) another replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The approval that changed (read it with [`ApprovalStore::get`]).
    pub id: ApprovalId,
    /// Its status after the change.
    pub status: Status,
}

/// What [`ApprovalStore::list`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only approvals with this status.
    pub status: Option<Status>,
    /// Only approvals requested by this subject.
    pub subject: Option<String>,
    /// At most this many (the newest); all when `None`.
    pub limit: Option<u32>,
}

/// The approvals of one Warden deployment. Cloning is cheap: clones share the
/// connection pool, the change feed and (PostgreSQL) the listener task, which stops
/// when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct ApprovalStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    backend: &'static str,
    changes: broadcast::Sender<Change>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

impl ApprovalStore {
    /// Opens the store at `url`: `sqlite:///var/lib/warden/warden.db`, `sqlite::memory:`
    /// (tests) or `postgres://user@host:port/db`. Creates the SQLite file if it is
    /// missing and applies the schema migrations that have not run yet (several
    /// replicas starting at once take turns). With PostgreSQL it also starts listening
    /// for other replicas' changes before it returns.
    pub async fn open(url: &str) -> Result<ApprovalStore, StoreError> {
        let (changes, _) = broadcast::channel(CHANGES_BUFFER);
        let opening = |source: sqlx::Error| StoreError::Open {
            url: without_password(url),
            source,
        };
        let (db, backend, listener) = if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let mut options = SqliteConnectOptions::from_str(url)
                .map_err(opening)?
                .create_if_missing(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            // An in-memory database lives as long as its one connection: keep exactly
            // one, forever.
            let pool = if in_memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                options = options.journal_mode(SqliteJournalMode::Wal);
                SqlitePoolOptions::new().max_connections(4)
            };
            let pool = pool.connect_with(options).await.map_err(opening)?;
            (Db::Sqlite(pool), "sqlite", None)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(opening)?
                .application_name("warden");
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(opening)?;
            let origin = listen::new_origin();
            let listener = listen::start(&pool, origin.clone(), changes.clone())
                .await
                .map_err(|e| match e {
                    StoreError::Database(source) => opening(source),
                    other => other,
                })?;
            (Db::Postgres(pool, origin), "postgres", Some(listener))
        } else {
            return Err(StoreError::UnsupportedUrl(without_password(url)));
        };
        let store = ApprovalStore {
            inner: Arc::new(Inner {
                db,
                backend,
                changes,
                listener,
            }),
        };
        store.inner.db.migrate().await?;
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.inner.backend
    }

    /// Every change from now on (inserts and updates, by this or another replica).
    /// Changes are hints to re-read: a subscriber that falls more than 1024 behind
    /// gets `Lagged`, and changes made by other replicas while the PostgreSQL listening
    /// connection was down are not replayed.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Opens an approval for a held request, or returns the pending one already open
    /// for the same requester subject, operation fingerprint and scope (an agent that
    /// retries before anybody decided gets the same approval id). `created` tells which.
    ///
    /// Race-free across replicas: a unique index allows one pending approval per
    /// requester and operation, and the loser of a race reads the winner's. A pending
    /// approval that ran out of time is marked expired and a new one opened.
    pub async fn open_hold(
        &self,
        hold: NewHold,
        now: Timestamp,
    ) -> Result<(Approval, bool), StoreError> {
        let subject = hold.requester.subject.clone();
        let fingerprint = hold.operation.fingerprint.clone();
        let (kind, scope) = kind_and_scope(&hold.scope);
        let scope = scope.to_string();
        let params = [
            Param::Text(&subject),
            Param::Text(fingerprint.as_str()),
            Param::Text(kind),
            Param::Text(&scope),
        ];
        // Another attempt only if a competing pending approval vanished between our
        // insert and our read (it was decided or expired right then).
        for _ in 0..3 {
            let mut tx = self.inner.db.begin_write().await?;
            let select = format!(
                "SELECT {COLUMNS} FROM approvals WHERE subject = $1 AND fingerprint = $2 \
                 AND kind = $3 AND scope = $4 AND status = 'pending' ORDER BY id{}",
                tx.lock()
            );
            let mut changed = Vec::new();
            for mut pending in tx.approvals(&select, &params).await? {
                if pending.expire(now) {
                    tx.update(&pending).await?;
                    changed.push(pending);
                } else {
                    tx.commit().await?;
                    self.announce(&changed);
                    return Ok((pending, false));
                }
            }
            let approval = Approval::open(hold.clone(), ApprovalId::generate(), now);
            if tx.insert(&approval).await? {
                tx.commit().await?;
                changed.push(approval.clone());
                self.announce(&changed);
                return Ok((approval, true));
            }
            // Another replica inserted one since our select; PostgreSQL made our insert
            // wait for its commit, so reading again finds it.
            let existing = tx.approvals(&select, &params).await?;
            tx.commit().await?;
            self.announce(&changed);
            if let Some(pending) = existing.into_iter().next() {
                return Ok((pending, false));
            }
        }
        Err(StoreError::Contended(format!(
            "opening an approval for {subject} ({fingerprint})"
        )))
    }

    /// The approval with this id.
    pub async fn get(&self, id: &ApprovalId) -> Result<Option<Approval>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM approvals WHERE id = $1");
        Ok(self
            .inner
            .db
            .approvals(&sql, &[id_param(id)])
            .await?
            .into_iter()
            .next())
    }

    /// Approvals, newest first, optionally only those with a status and/or from one
    /// requester subject, at most `limit`.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<Approval>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM approvals WHERE 1 = 1");
        let mut params = Vec::new();
        if let Some(status) = filter.status {
            params.push(Param::Text(status.name()));
            sql.push_str(&format!(" AND status = ${}", params.len()));
        }
        if let Some(subject) = &filter.subject {
            params.push(Param::Text(subject));
            sql.push_str(&format!(" AND subject = ${}", params.len()));
        }
        params.push(Param::Int(filter.limit.map_or(i64::MAX, i64::from)));
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ${}",
            params.len()
        ));
        self.inner.db.approvals(&sql, &params).await
    }

    /// Reads, changes and writes one approval in a transaction that keeps it locked
    /// (PostgreSQL: `SELECT .. FOR UPDATE`; SQLite: one writer at a time), so changes
    /// by several replicas apply one after the other.
    ///
    /// `change` runs on the current value. What it returns is passed through; the new
    /// value is written (and announced) only if it returned `Ok` and changed the
    /// approval. Its id cannot be changed. [`StoreError::NotFound`] for an unknown id.
    pub async fn update<T, E>(
        &self,
        id: &ApprovalId,
        change: impl FnOnce(&mut Approval) -> Result<T, E> + Send,
    ) -> Result<Result<T, E>, StoreError> {
        let mut tx = self.inner.db.begin_write().await?;
        let sql = format!("SELECT {COLUMNS} FROM approvals WHERE id = $1{}", tx.lock());
        let Some(current) = tx
            .approvals(&sql, &[id_param(id)])
            .await?
            .into_iter()
            .next()
        else {
            return Err(StoreError::NotFound(id.clone()));
        };
        let mut changed = current.clone();
        let outcome = change(&mut changed);
        changed.id = current.id.clone();
        if outcome.is_ok() && changed != current {
            tx.update(&changed).await?;
            tx.commit().await?;
            self.announce(std::slice::from_ref(&changed));
        }
        Ok(outcome)
    }

    /// Uses an approved operation approval of `subject` for the operation
    /// `fingerprint` now, for the request `request_id` ([`Approval::take`]): single
    /// use, so of two replicas racing for the same approval exactly one gets it.
    pub async fn take_approved(
        &self,
        subject: &str,
        fingerprint: &Fingerprint,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Option<Approval>, StoreError> {
        let mut tx = self.inner.db.begin_write().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals WHERE subject = $1 AND kind = $2 \
             AND fingerprint = $3 AND status = 'approved' AND valid_until > $4 ORDER BY id{}",
            tx.lock()
        );
        let params = [
            Param::Text(subject),
            Param::Text(KIND_OPERATION),
            Param::Text(fingerprint.as_str()),
            Param::Int(now.0),
        ];
        for mut approval in tx.approvals(&sql, &params).await? {
            if approval.take(subject, fingerprint, request_id, now) {
                tx.update(&approval).await?;
                tx.commit().await?;
                self.announce(std::slice::from_ref(&approval));
                return Ok(Some(approval));
            }
        }
        Ok(None)
    }

    /// Uses the approval `id` that the client quoted (header `x-warden-approval`), as
    /// [`ApprovalStore::take_approved`] does; `None` when it does not cover this
    /// operation by `subject` now (another subject or operation, not approved, already
    /// used, expired), or does not exist.
    pub async fn take_by_id(
        &self,
        id: &ApprovalId,
        subject: &str,
        fingerprint: &Fingerprint,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Option<Approval>, StoreError> {
        let mut tx = self.inner.db.begin_write().await?;
        let sql = format!("SELECT {COLUMNS} FROM approvals WHERE id = $1{}", tx.lock());
        for mut approval in tx.approvals(&sql, &[id_param(id)]).await? {
            if approval.take(subject, fingerprint, request_id, now) {
                tx.update(&approval).await?;
                tx.commit().await?;
                self.announce(std::slice::from_ref(&approval));
                return Ok(Some(approval));
            }
        }
        Ok(None)
    }

    /// An active grant for `subject` over the hold scope `scope` at `now`
    /// ([`Approval::grants`]); the one lasting longest when there are several.
    pub async fn active_grant(
        &self,
        subject: &str,
        scope: &str,
        now: Timestamp,
    ) -> Result<Option<Approval>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals WHERE subject = $1 AND kind = $2 AND scope = $3 \
             AND status = 'approved' AND valid_until > $4 ORDER BY valid_until DESC, id"
        );
        let params = [
            Param::Text(subject),
            Param::Text(KIND_GRANT),
            Param::Text(scope),
            Param::Int(now.0),
        ];
        Ok(self
            .inner
            .db
            .approvals(&sql, &params)
            .await?
            .into_iter()
            .find(|approval| approval.grants(subject, scope, now)))
    }

    /// Marks every pending approval past its `expires_at` and every approved one past
    /// its `valid_until` as expired ([`Approval::expire`]), and returns those it
    /// changed so the caller can record and notify.
    pub async fn expire_due(&self, now: Timestamp) -> Result<Vec<Approval>, StoreError> {
        let mut tx = self.inner.db.begin_write().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM approvals WHERE (status = 'pending' AND expires_at <= $1) \
             OR (status = 'approved' AND valid_until <= $1) ORDER BY id{}",
            tx.lock()
        );
        let mut expired = Vec::new();
        for mut approval in tx.approvals(&sql, &[Param::Int(now.0)]).await? {
            if approval.expire(now) {
                tx.update(&approval).await?;
                expired.push(approval);
            }
        }
        if !expired.is_empty() {
            tx.commit().await?;
            self.announce(&expired);
        }
        Ok(expired)
    }

    /// Tells this process's subscribers about committed changes.
    fn announce(&self, approvals: &[Approval]) {
        for approval in approvals {
            // No subscriber is not an error.
            let _ = self.inner.changes.send(Change {
                id: approval.id.clone(),
                status: approval.status,
            });
        }
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests;
