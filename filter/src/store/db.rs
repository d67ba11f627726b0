//! The two backends behind one small interface: queries that return stored approvals,
//! write transactions, and the one place that turns an [`Approval`] into its row.
//!
//! The SQL is shared: both SQLite and PostgreSQL take `$1`-style parameters,
//! `ON CONFLICT DO NOTHING` and `RETURNING`. What differs is how a write transaction
//! locks: PostgreSQL locks the rows it reads (`SELECT .. FOR UPDATE`, see
//! [`Tx::lock`]); SQLite takes the database's write lock when the transaction begins
//! (`BEGIN IMMEDIATE`), so writers run one at a time.

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{Postgres, Sqlite, Transaction};

use super::StoreError;
use crate::approval::{Approval, ApprovalId, Scope, Status};

/// The PostgreSQL channel changes are announced on.
pub(crate) const CHANNEL: &str = "warden_approvals";

/// The columns every query that returns approvals selects, in [`RawRow`] order.
pub(crate) const COLUMNS: &str = "id, status, doc";

/// One stored approval as read: id, status column, document.
type RawRow = (String, String, String);

/// A value bound to a `$n` parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
}

/// Binds every parameter of `$params` to `$query`, in order.
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params.iter() {
            query = match *param {
                Param::Text(v) => query.bind(v),
                Param::OptText(v) => query.bind(v),
                Param::Int(v) => query.bind(v),
                Param::OptInt(v) => query.bind(v),
            };
        }
        query
    }};
}

pub(crate) use bind_all;

/// A connection pool to one of the backends.
#[derive(Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    /// The pool, and this store's origin tag for its notifications.
    Postgres(PgPool, String),
}

impl Db {
    /// Approvals selected by `sql` (which selects [`COLUMNS`]), outside a transaction.
    pub(crate) async fn approvals(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Approval>, StoreError> {
        let rows = match self {
            Db::Sqlite(pool) => {
                bind_all!(sqlx::query_as::<Sqlite, RawRow>(sql), params)
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool, _) => {
                bind_all!(sqlx::query_as::<Postgres, RawRow>(sql), params)
                    .fetch_all(pool)
                    .await?
            }
        };
        rows.into_iter().map(decode).collect()
    }

    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE`, the database write lock).
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool, origin) => Tx::Postgres(pool.begin().await?, origin.clone()),
        })
    }

    /// Applies the embedded migrations that have not run yet.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(pool) => {
                Migrator::new(Embedded(SQLITE_MIGRATIONS))
                    .await?
                    .run(pool)
                    .await?
            }
            Db::Postgres(pool, _) => {
                Migrator::new(Embedded(POSTGRES_MIGRATIONS))
                    .await?
                    .run(pool)
                    .await?
            }
        }
        Ok(())
    }
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls it back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    /// The transaction, and the origin tag for its notifications.
    Postgres(Transaction<'static, Postgres>, String),
}

impl Tx {
    /// What to append to a `SELECT` so the rows it returns stay locked until commit:
    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite, whose write transactions hold
    /// the database's write lock from their start.
    pub(crate) fn lock(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "",
            Tx::Postgres(..) => " FOR UPDATE",
        }
    }

    /// Approvals selected by `sql` (which selects [`COLUMNS`]).
    pub(crate) async fn approvals(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Approval>, StoreError> {
        let rows = match self {
            Tx::Sqlite(tx) => {
                bind_all!(sqlx::query_as::<Sqlite, RawRow>(sql), params)
                    .fetch_all(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx, _) => {
                bind_all!(sqlx::query_as::<Postgres, RawRow>(sql), params)
                    .fetch_all(&mut **tx)
                    .await?
            }
        };
        rows.into_iter().map(decode).collect()
    }

    /// Inserts a new approval unless a row conflicts (same id, or a pending request
    /// for the same requester and operation). True when it was inserted.
    pub(crate) async fn insert(&mut self, approval: &Approval) -> Result<bool, StoreError> {
        let row = Columns::of(approval)?;
        let params = row.params();
        let sql = "INSERT INTO approvals \
                   (id, status, subject, fingerprint, kind, scope, created_at, expires_at, valid_until, doc) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                   ON CONFLICT DO NOTHING RETURNING id";
        let inserted = match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query_scalar::<Sqlite, String>(sql), params)
                .fetch_optional(&mut **tx)
                .await?
                .is_some(),
            Tx::Postgres(tx, _) => bind_all!(sqlx::query_scalar::<Postgres, String>(sql), params)
                .fetch_optional(&mut **tx)
                .await?
                .is_some(),
        };
        if inserted {
            self.announce(approval).await?;
        }
        Ok(inserted)
    }

    /// Writes a changed approval over its row.
    pub(crate) async fn update(&mut self, approval: &Approval) -> Result<(), StoreError> {
        let row = Columns::of(approval)?;
        let params = row.params();
        let sql = "UPDATE approvals SET status = $2, subject = $3, fingerprint = $4, kind = $5, \
                   scope = $6, created_at = $7, expires_at = $8, valid_until = $9, doc = $10 \
                   WHERE id = $1";
        match self {
            Tx::Sqlite(tx) => {
                bind_all!(sqlx::query::<Sqlite>(sql), params)
                    .execute(&mut **tx)
                    .await?;
            }
            Tx::Postgres(tx, _) => {
                bind_all!(sqlx::query::<Postgres>(sql), params)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        self.announce(approval).await
    }

    /// PostgreSQL: queues the change for the other replicas (`NOTIFY`, delivered when
    /// the transaction commits). SQLite has a single replica: nothing to do.
    async fn announce(&mut self, approval: &Approval) -> Result<(), StoreError> {
        if let Tx::Postgres(tx, origin) = self {
            let payload = super::listen::payload(&approval.id, approval.status, origin);
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx, _) => tx.commit().await?,
        }
        Ok(())
    }
}

/// The row of an approval: the indexed copies of its fields and the document. The
/// only place that derives columns from an approval, so they cannot drift from `doc`.
struct Columns {
    id: String,
    status: &'static str,
    subject: String,
    fingerprint: String,
    kind: &'static str,
    scope: String,
    created_at: i64,
    expires_at: i64,
    valid_until: Option<i64>,
    doc: String,
}

impl Columns {
    fn of(approval: &Approval) -> Result<Columns, StoreError> {
        let (kind, scope) = kind_and_scope(&approval.scope);
        let doc = serde_json::to_string(approval).map_err(|e| StoreError::Corrupt {
            id: approval.id.to_string(),
            reason: format!("cannot be written as JSON: {e}"),
        })?;
        Ok(Columns {
            id: approval.id.to_string(),
            status: approval.status.name(),
            subject: approval.requester.subject.clone(),
            fingerprint: approval.operation.fingerprint.to_string(),
            kind,
            scope: scope.to_string(),
            created_at: approval.created_at.0,
            expires_at: approval.expires_at.0,
            valid_until: approval.valid_until.map(|t| t.0),
            doc,
        })
    }

    /// `$1`..`$10` in the order of the `INSERT` and `UPDATE` statements above.
    fn params(&self) -> [Param<'_>; 10] {
        [
            Param::Text(&self.id),
            Param::Text(self.status),
            Param::Text(&self.subject),
            Param::Text(&self.fingerprint),
            Param::Text(self.kind),
            Param::Text(&self.scope),
            Param::Int(self.created_at),
            Param::Int(self.expires_at),
            Param::OptInt(self.valid_until),
            Param::Text(&self.doc),
        ]
    }
}

/// The kind column's value for an operation approval.
pub(crate) const KIND_OPERATION: &str = "operation";
/// The kind column's value for a grant.
pub(crate) const KIND_GRANT: &str = "grant";

/// The kind and scope columns for a scope (see [`Columns`]).
pub(crate) fn kind_and_scope(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Operation => (KIND_OPERATION, ""),
        Scope::Grant { scope, .. } => (KIND_GRANT, scope),
    }
}

/// Reads a stored row, refusing one whose document does not match its columns (the
/// lookups trust the columns, the callers the document).
fn decode((id, status, doc): RawRow) -> Result<Approval, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        id: id.clone(),
        reason,
    };
    let approval: Approval = serde_json::from_str(&doc)
        .map_err(|e| corrupt(format!("its document is not a valid approval: {e}")))?;
    if approval.id.as_str() != id {
        return Err(corrupt(format!(
            "its document belongs to approval {}",
            approval.id
        )));
    }
    if Status::parse(&status) != Some(approval.status) {
        return Err(corrupt(format!(
            "its status column says {status:?} but its document says {:?}",
            approval.status.name()
        )));
    }
    Ok(approval)
}

/// The id of an approval as a bound parameter.
pub(crate) fn id_param(id: &ApprovalId) -> Param<'_> {
    Param::Text(id.as_str())
}

/// One migration compiled into the binary: version, description, SQL.
type EmbeddedMigration = (i64, &'static str, &'static str);

/// The SQLite migrations (`filter/migrations/sqlite/<version>_<description>.sql`).
pub(crate) const SQLITE_MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "approvals",
        include_str!("../../migrations/sqlite/0001_approvals.sql"),
    ),
    (
        2,
        "sessions",
        include_str!("../../migrations/sqlite/0002_sessions.sql"),
    ),
    (
        3,
        "exchange_request_id",
        include_str!("../../migrations/sqlite/0003_exchange_request_id.sql"),
    ),
];

/// The PostgreSQL migrations (`filter/migrations/postgres/<version>_<description>.sql`).
pub(crate) const POSTGRES_MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "approvals",
        include_str!("../../migrations/postgres/0001_approvals.sql"),
    ),
    (
        2,
        "sessions",
        include_str!("../../migrations/postgres/0002_sessions.sql"),
    ),
    (
        3,
        "exchange_request_id",
        include_str!("../../migrations/postgres/0003_exchange_request_id.sql"),
    ),
];

/// Migrations embedded with `include_str!` (so the binary needs no migration files,
/// and cargo rebuilds when one changes). Checksums are computed as sqlx computes
/// them for a migrations directory, so `sqlx migrate` agrees with Warden about what
/// ran.
#[derive(Debug)]
struct Embedded(&'static [EmbeddedMigration]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}
