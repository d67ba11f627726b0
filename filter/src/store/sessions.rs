//! Recorded sessions: every audited exchange (its chained record and masked capture)
//! and the chain's signed checkpoints, in the same database as the approvals.
//!
//! Written by the audit writer's session output ([`super::recorder::SessionRecorder`]),
//! one batch per transaction and idempotent on `(instance, seq)`, so a writer that
//! retries a batch does not duplicate it. Read by the admin API (`/v1/sessions`) and
//! later evidence exports. Retention deletes exchanges by age and by total size
//! ([`ApprovalStore::apply_session_retention`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Sqlite};

use super::db::{bind_all, Db, Param, Tx};
use super::{ApprovalStore, StoreError};
use crate::approval::Timestamp;
use crate::audit::{Chained, ChainedRecord, Checkpoint, ExchangeCapture};

/// Which sessions [`ApprovalStore::list_sessions`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only exchanges of this identity (token subject or SPIFFE id; `""` for
    /// anonymous ones) are counted, and only sessions that have some.
    pub subject: Option<String>,
    /// Only exchanges that started at or after this time.
    pub since: Option<Timestamp>,
    /// Only exchanges that started before this time.
    pub until: Option<Timestamp>,
    /// At most this many sessions (the most recently active); all when `None`.
    pub limit: Option<u32>,
}

/// One session, summarised over the exchanges the filter selected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// The session id (see [`crate::audit::session_id`]).
    pub session_id: String,
    /// When its first exchange started.
    pub first_at: Timestamp,
    /// When its last exchange started.
    pub last_at: Timestamp,
    /// How many exchanges it has.
    pub exchanges: u64,
    /// The identities that made them (`anonymous` for requests without one), sorted.
    pub identities: Vec<String>,
    /// How many exchanges ended in each outcome (`allow`, `deny`, `hold`, …).
    pub outcomes: BTreeMap<String, u64>,
}

/// One recorded exchange: the chained record and, when recorded, its masked capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionExchange {
    /// The record, with its place in the chain.
    pub record: ChainedRecord,
    /// Masked headers and bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<ExchangeCapture>,
}

/// How long recorded exchanges are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionRetention {
    /// Exchanges older than this many days are deleted (0: no age limit).
    pub max_age_days: u64,
    /// The oldest exchanges are deleted while all of them take more than this many
    /// bytes (0: no size limit).
    pub max_bytes: u64,
}

/// What one retention pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Exchanges deleted for their age.
    pub expired: u64,
    /// Exchanges deleted to bring the total size under the limit.
    pub over_size: u64,
}

/// The identity shown for an exchange without one.
pub const ANONYMOUS: &str = "anonymous";

const EXCHANGE_COLUMNS: &str = "instance, seq, record, capture";

/// A stored exchange as read: instance, seq, record JSON, capture JSON.
type ExchangeRow = (String, i64, String, Option<String>);

/// The row of one exchange: its lookup columns and documents.
struct ExchangeColumns {
    instance: String,
    seq: i64,
    request_id: String,
    session_id: String,
    subject: String,
    started_at: i64,
    outcome: String,
    rule: String,
    record: String,
    capture: Option<String>,
    size: i64,
}

impl ExchangeColumns {
    fn of(chained: &Chained) -> Result<ExchangeColumns, StoreError> {
        let record = &chained.record;
        let corrupt = |reason: String| StoreError::CorruptSession {
            instance: record.instance.clone(),
            seq: record.seq,
            reason,
        };
        let seq = i64::try_from(record.seq)
            .map_err(|_| corrupt("its seq does not fit a 64-bit column".into()))?;
        let doc = serde_json::to_string(record)
            .map_err(|e| corrupt(format!("cannot be written as JSON: {e}")))?;
        let capture = chained.capture.as_ref().map(ExchangeCapture::to_json);
        let size = doc.len() + capture.as_ref().map_or(0, String::len);
        let inner = &record.record;
        // The record's own time; one that does not parse (never written by Warden) is
        // filed under now rather than refused, so the writer is not stuck on it.
        let started_at = Timestamp::parse_rfc3339(&inner.started_at).unwrap_or_else(Timestamp::now);
        Ok(ExchangeColumns {
            instance: record.instance.clone(),
            seq,
            request_id: inner.request_id.clone(),
            session_id: inner.session_id.clone(),
            subject: inner
                .identity
                .as_ref()
                .map(|i| i.subject.clone())
                .unwrap_or_default(),
            started_at: started_at.0,
            outcome: inner.decision.outcome.clone(),
            rule: inner.decision.rule.clone().unwrap_or_default(),
            record: doc,
            capture,
            size: i64::try_from(size).unwrap_or(i64::MAX),
        })
    }

    fn params(&self) -> [Param<'_>; 11] {
        [
            Param::Text(&self.instance),
            Param::Int(self.seq),
            Param::Text(&self.request_id),
            Param::Text(&self.session_id),
            Param::Text(&self.subject),
            Param::Int(self.started_at),
            Param::Text(&self.outcome),
            Param::Text(&self.rule),
            Param::Text(&self.record),
            Param::OptText(self.capture.as_deref()),
            Param::Int(self.size),
        ]
    }
}

/// Rows selected by `sql` outside a transaction.
async fn fetch<R>(db: &Db, sql: &str, params: &[Param<'_>]) -> Result<Vec<R>, StoreError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    Ok(match db {
        Db::Sqlite(pool) => {
            bind_all!(sqlx::query_as::<Sqlite, R>(sql), params)
                .fetch_all(pool)
                .await?
        }
        Db::Postgres(pool, _) => {
            bind_all!(sqlx::query_as::<Postgres, R>(sql), params)
                .fetch_all(pool)
                .await?
        }
    })
}

/// Runs `sql` in `tx`; the number of rows it changed.
async fn execute(tx: &mut Tx, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
    Ok(match tx {
        Tx::Sqlite(tx) => bind_all!(sqlx::query::<Sqlite>(sql), params)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
        Tx::Postgres(tx, _) => bind_all!(sqlx::query::<Postgres>(sql), params)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    })
}

/// Reads a stored exchange back.
fn decode_exchange(
    (instance, seq, record, capture): ExchangeRow,
) -> Result<SessionExchange, StoreError> {
    let corrupt = |reason: String| StoreError::CorruptSession {
        instance: instance.clone(),
        seq: u64::try_from(seq).unwrap_or(0),
        reason,
    };
    let record: ChainedRecord = serde_json::from_str(&record)
        .map_err(|e| corrupt(format!("its record is not a valid chained record: {e}")))?;
    if record.instance != instance || i64::try_from(record.seq) != Ok(seq) {
        return Err(corrupt(format!(
            "its record belongs to {} #{}",
            record.instance, record.seq
        )));
    }
    let capture = match capture {
        Some(json) => Some(
            serde_json::from_str(&json)
                .map_err(|e| corrupt(format!("its capture is not valid: {e}")))?,
        ),
        None => None,
    };
    Ok(SessionExchange { record, capture })
}

/// Appends the time conditions of a filter to `sql`.
fn time_conditions<'a>(
    sql: &mut String,
    params: &mut Vec<Param<'a>>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) {
    if let Some(since) = since {
        params.push(Param::Int(since.0));
        sql.push_str(&format!(" AND started_at >= ${}", params.len()));
    }
    if let Some(until) = until {
        params.push(Param::Int(until.0));
        sql.push_str(&format!(" AND started_at < ${}", params.len()));
    }
}

impl ApprovalStore {
    /// Records a batch of chained exchanges in one transaction. An exchange already
    /// recorded (same instance and seq: a retried batch) is left as it is. Returns how
    /// many were new.
    pub async fn record_exchanges(&self, batch: &[Chained]) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let rows = batch
            .iter()
            .map(ExchangeColumns::of)
            .collect::<Result<Vec<_>, _>>()?;
        let sql = "INSERT INTO session_exchanges (instance, seq, request_id, session_id, \
                   subject, started_at, outcome, rule, record, capture, size) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                   ON CONFLICT (instance, seq) DO NOTHING";
        let mut tx = self.inner.db.begin_write().await?;
        let mut inserted = 0;
        for row in &rows {
            inserted += execute(&mut tx, sql, &row.params()).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Records a signed checkpoint (once: the same instance, seq and reason again is
    /// left as it is). True when it was new.
    pub async fn record_checkpoint(&self, checkpoint: &Checkpoint) -> Result<bool, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptSession {
            instance: checkpoint.instance.clone(),
            seq: checkpoint.seq,
            reason,
        };
        let seq = i64::try_from(checkpoint.seq)
            .map_err(|_| corrupt("its seq does not fit a 64-bit column".into()))?;
        let doc = serde_json::to_string(checkpoint)
            .map_err(|e| corrupt(format!("the checkpoint cannot be written as JSON: {e}")))?;
        let sql = "INSERT INTO session_checkpoints (instance, seq, reason, signed_at, doc) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance, seq, reason) DO NOTHING";
        let params = [
            Param::Text(&checkpoint.instance),
            Param::Int(seq),
            Param::Text(&checkpoint.reason),
            Param::Text(&checkpoint.signed_at),
            Param::Text(&doc),
        ];
        let mut tx = self.inner.db.begin_write().await?;
        let inserted = execute(&mut tx, sql, &params).await?;
        tx.commit().await?;
        Ok(inserted > 0)
    }

    /// Sessions, the most recently active first, summarised over the exchanges that
    /// `filter` selects.
    pub async fn list_sessions(
        &self,
        filter: &SessionFilter,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let mut conditions = String::new();
        let mut params = Vec::new();
        if let Some(subject) = &filter.subject {
            params.push(Param::Text(subject));
            conditions.push_str(&format!(" AND subject = ${}", params.len()));
        }
        time_conditions(&mut conditions, &mut params, filter.since, filter.until);
        let mut sql = format!(
            "SELECT session_id, MIN(started_at), MAX(started_at), COUNT(*) \
             FROM session_exchanges WHERE 1 = 1{conditions} GROUP BY session_id"
        );
        let mut summary_params = params.clone();
        summary_params.push(Param::Int(filter.limit.map_or(i64::MAX, i64::from)));
        sql.push_str(&format!(
            " ORDER BY MAX(started_at) DESC, session_id LIMIT ${}",
            summary_params.len()
        ));
        let rows: Vec<(String, i64, i64, i64)> =
            fetch(&self.inner.db, &sql, &summary_params).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Who and what, per session, over the same exchanges.
        let first_id = params.len() + 1;
        let placeholders: Vec<String> = (first_id..first_id + rows.len())
            .map(|n| format!("${n}"))
            .collect();
        let detail_sql = format!(
            "SELECT session_id, subject, outcome, COUNT(*) FROM session_exchanges \
             WHERE session_id IN ({}){conditions} GROUP BY session_id, subject, outcome",
            placeholders.join(", ")
        );
        let mut detail_params = params;
        detail_params.extend(rows.iter().map(|(id, ..)| Param::Text(id)));
        let details: Vec<(String, String, String, i64)> =
            fetch(&self.inner.db, &detail_sql, &detail_params).await?;
        Ok(rows
            .iter()
            .map(|(session_id, first, last, count)| {
                let mut identities = Vec::new();
                let mut outcomes = BTreeMap::new();
                for (_, subject, outcome, n) in details.iter().filter(|d| &d.0 == session_id) {
                    let who = if subject.is_empty() {
                        ANONYMOUS
                    } else {
                        subject
                    };
                    if !identities.iter().any(|i: &String| i == who) {
                        identities.push(who.to_string());
                    }
                    *outcomes.entry(outcome.clone()).or_insert(0) += u64::try_from(*n).unwrap_or(0);
                }
                identities.sort();
                SessionSummary {
                    session_id: session_id.clone(),
                    first_at: Timestamp(*first),
                    last_at: Timestamp(*last),
                    exchanges: u64::try_from(*count).unwrap_or(0),
                    identities,
                    outcomes,
                }
            })
            .collect())
    }

    /// One session's exchanges in time order; only those of `subject` when given.
    pub async fn session_exchanges(
        &self,
        session_id: &str,
        subject: Option<&str>,
    ) -> Result<Vec<SessionExchange>, StoreError> {
        let mut sql =
            format!("SELECT {EXCHANGE_COLUMNS} FROM session_exchanges WHERE session_id = $1");
        let mut params = vec![Param::Text(session_id)];
        if let Some(subject) = subject {
            params.push(Param::Text(subject));
            sql.push_str(" AND subject = $2");
        }
        sql.push_str(" ORDER BY started_at, instance, seq");
        let rows: Vec<ExchangeRow> = fetch(&self.inner.db, &sql, &params).await?;
        rows.into_iter().map(decode_exchange).collect()
    }

    /// The recorded exchange of one request (by the request id Warden gave it, as an
    /// approval's `request_id` names it), or `None` when none is recorded (yet). Should
    /// two instances have recorded the same id, the latest is returned.
    pub async fn exchange_by_request_id(
        &self,
        request_id: &str,
    ) -> Result<Option<SessionExchange>, StoreError> {
        let sql = format!(
            "SELECT {EXCHANGE_COLUMNS} FROM session_exchanges WHERE request_id = $1 \
             ORDER BY started_at DESC, instance DESC, seq DESC LIMIT 1"
        );
        let rows: Vec<ExchangeRow> =
            fetch(&self.inner.db, &sql, &[Param::Text(request_id)]).await?;
        rows.into_iter().next().map(decode_exchange).transpose()
    }

    /// Every exchange that started at or after `since` and before `until`, in time
    /// order (for evidence exports).
    pub async fn exchanges_between(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<SessionExchange>, StoreError> {
        let sql = format!(
            "SELECT {EXCHANGE_COLUMNS} FROM session_exchanges \
             WHERE started_at >= $1 AND started_at < $2 ORDER BY started_at, instance, seq"
        );
        let rows: Vec<ExchangeRow> = fetch(
            &self.inner.db,
            &sql,
            &[Param::Int(since.0), Param::Int(until.0)],
        )
        .await?;
        rows.into_iter().map(decode_exchange).collect()
    }

    /// The recorded checkpoints (of one instance when given), by instance and seq.
    pub async fn checkpoints(&self, instance: Option<&str>) -> Result<Vec<Checkpoint>, StoreError> {
        let mut sql = "SELECT instance, seq, doc FROM session_checkpoints".to_string();
        let mut params = Vec::new();
        if let Some(instance) = instance {
            params.push(Param::Text(instance));
            sql.push_str(" WHERE instance = $1");
        }
        sql.push_str(" ORDER BY instance, seq, signed_at");
        let rows: Vec<(String, i64, String)> = fetch(&self.inner.db, &sql, &params).await?;
        rows.into_iter()
            .map(|(instance, seq, doc)| {
                serde_json::from_str(&doc).map_err(|e| StoreError::CorruptSession {
                    instance,
                    seq: u64::try_from(seq).unwrap_or(0),
                    reason: format!("its checkpoint is not valid: {e}"),
                })
            })
            .collect()
    }

    /// The newest recorded checkpoint of `instance` (highest seq), if any.
    pub async fn latest_checkpoint(
        &self,
        instance: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let rows: Vec<(String, i64, String)> = fetch(
            &self.inner.db,
            "SELECT instance, seq, doc FROM session_checkpoints WHERE instance = $1 \
             ORDER BY seq DESC, signed_at DESC LIMIT 1",
            &[Param::Text(instance)],
        )
        .await?;
        rows.into_iter()
            .next()
            .map(|(instance, seq, doc)| {
                serde_json::from_str(&doc).map_err(|e| StoreError::CorruptSession {
                    instance,
                    seq: u64::try_from(seq).unwrap_or(0),
                    reason: format!("its checkpoint is not valid: {e}"),
                })
            })
            .transpose()
    }

    /// Deletes the exchanges that started before `cutoff`; how many.
    pub async fn delete_exchanges_before(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.inner.db.begin_write().await?;
        let deleted = execute(
            &mut tx,
            "DELETE FROM session_exchanges WHERE started_at < $1",
            &[Param::Int(cutoff.0)],
        )
        .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Deletes the oldest exchanges until the rest take at most `max_bytes`; how many.
    pub async fn trim_exchanges_to(&self, max_bytes: u64) -> Result<u64, StoreError> {
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        // Keep the newest exchanges whose sizes, with all newer ones, fit.
        let sql = "DELETE FROM session_exchanges WHERE (instance, seq) IN ( \
                     SELECT instance, seq FROM ( \
                       SELECT instance, seq, SUM(size) OVER ( \
                         ORDER BY started_at DESC, instance DESC, seq DESC \
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS kept \
                       FROM session_exchanges) AS ranked \
                     WHERE kept > $1)";
        let mut tx = self.inner.db.begin_write().await?;
        let deleted = execute(&mut tx, sql, &[Param::Int(max)]).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// One retention pass at `now`: by age, then by size.
    pub async fn apply_session_retention(
        &self,
        now: Timestamp,
        retention: &SessionRetention,
    ) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        if retention.max_age_days > 0 {
            let age_ms = i64::try_from(retention.max_age_days.saturating_mul(86_400_000))
                .unwrap_or(i64::MAX);
            report.expired = self
                .delete_exchanges_before(Timestamp(now.0.saturating_sub(age_ms)))
                .await?;
        }
        if retention.max_bytes > 0 {
            report.over_size = self.trim_exchanges_to(retention.max_bytes).await?;
        }
        Ok(report)
    }
}
