//! The audit trail: one record per exchange, chained and signed, kept as a log, a
//! replayable session and an OpenTelemetry span.
//!
//! ```text
//! Exchange ─► FinishedExchange ─► AuditSink (bounded queue, slot reserved at the
//!   request headers) ─► writer task: AuditRecord::from_exchange, chain (seq + hash) ─► log segment,
//!   session store, OTLP span; signed checkpoints on a timer
//! ```
//!
//! The data path only builds the record and puts it in a slot it reserved when the
//! request began; everything else happens on the writer task. When the queue is full
//! a new request is refused (fail closed, the default) or its record is dropped and
//! counted — never silently.

mod capture;
mod chain;
mod keys;
mod log;
pub mod otel;
mod output;
mod record;
pub mod replay;
mod trust;
mod verify;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

pub use capture::{
    captured_headers, is_credential_header, sse_events, BodyCapture, BodyRecorder, CaptureSettings,
    ChunkTiming, ExchangeCapture, ReplyCapture, SseEvent, CREDENTIAL_HEADERS,
    UNMASKED_HEADER_VALUE,
};
pub use chain::{
    checkpoint_message, key_id, line_hash, sha256_hex, Chain, ChainBreak, ChainError,
    ChainedPolicy, ChainedRecord, Checkpoint, CheckpointReason, KeyRing, Link, LogLine, PolicyFile,
    PolicyVersion, SegmentHeader, GENESIS_HASH,
};
pub use keys::{
    generate_key_pair, load_key_ring, load_or_create_demo_key, load_signing_key,
    load_verifying_key, public_key_path, KeyError, DEFAULT_KEY_FILE, DEFAULT_PUBLIC_KEY_FILE,
};
pub use log::{Appendable, Appended, AuditLog, LogError, LogSettings, Resumed};
pub use otel::{OtlpSetupError, SpanExporter};
pub use output::{AuditOutput, Chained, OutputError, OutputFuture};
pub use record::{
    facts_summary, parse_traceparent, rfc3339_micros, session_id, ApprovalRecord, AuditRecord,
    DecisionRecord, IdentityRecord, MaskingRecord, RecordSource, ReplyNote, RequestRecord,
    ResponseRecord, TraceRecord, RECORD_VERSION,
};
pub use trust::{
    is_inside, is_key_id, signing_key_path, KeyPlacementError, TrustAnchors, TrustError,
    TrustedKeys,
};
pub use verify::{
    head_file_name, verify_paths, verify_segments, Broken, ChainReport, ChainVerifier,
    ExpectedPosition, HeadStatus, RecordedBreak, Report, SegmentInput, VerifyError, VerifyOptions,
};
pub use writer::{
    capture_sha256, spawn_writer, IntoAuditEntry, PolicyRecorder, WriterError, WriterHandle,
    WriterSettings, WriterStats, WriterStopped, WriterSummary,
};

use crate::pipeline::{FinishedExchange, LocalReply, DECISION_HEADER};

/// Why the audit trail could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditStartError {
    /// The signing key could not be read or created.
    #[error("audit.signing_key: {0}")]
    Key(#[from] KeyError),
    /// The signing key is not configured, or is inside the log directory.
    #[error(transparent)]
    Placement(#[from] KeyPlacementError),
    /// The log could not be opened.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Opens the log `config` describes: the directory (created, and checked writable),
/// the signing key (`audit.signing_key`, which must be outside the directory; only
/// `audit.demo_key_in_log_dir` keeps one inside it), and the chain resumed from the
/// newest segment (a new chain begins with a signed checkpoint at seq 0, so a head file
/// exists from the start).
pub fn open_log(config: &crate::config::AuditConfig) -> Result<AuditLog, AuditStartError> {
    // Checked before anything is created, and again once the directory exists (its
    // real path and identity are known then).
    signing_key_path(config)?;
    log::prepare_dir(&config.log_dir)?;
    let key_path = signing_key_path(config)?;
    let key = if config.demo_key_in_log_dir {
        tracing::warn!(
            log_dir = %config.log_dir.display(),
            key = %key_path.display(),
            "AUDIT DEMO MODE (audit.demo_key_in_log_dir): the checkpoint signing key may live \
             in the log directory, so anyone who can write the log can re-sign a rewritten \
             history. Never use this outside a demo: create a key with `warden audit keygen \
             --out /etc/warden/audit-key.pem` and set audit.signing_key"
        );
        match &config.signing_key {
            Some(path) => load_signing_key(path)?,
            None => load_or_create_demo_key(&config.log_dir)?,
        }
    } else {
        load_signing_key(&key_path)?
    };
    let settings = LogSettings {
        dir: config.log_dir.clone(),
        instance: config.instance_name(),
        segment_max_bytes: config.segment_max_bytes,
    };
    Ok(AuditLog::open(settings, key)?)
}

/// One exchange's audit output: its record and, when sessions are recorded, the
/// masked capture the replay shows.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    /// The record (chained by the writer).
    pub record: AuditRecord,
    /// Masked headers and bodies, when session recording is on.
    pub capture: Option<ExchangeCapture>,
}

/// What to do when the audit queue has no room for a new request's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueFullPolicy {
    /// Refuse the request (503): nothing happens that is not recorded.
    #[default]
    FailClosed,
    /// Let the request through without a record, and count it
    /// (`warden_audit_records_dropped_total`).
    Drop,
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct AuditStats {
    /// Requests refused because the queue was full (fail closed).
    pub refused: AtomicU64,
    /// Records dropped because the queue was full (`drop` policy).
    pub dropped: AtomicU64,
    /// Records handed to the writer.
    pub queued: AtomicU64,
}

/// The data path's end of the audit queue.
#[derive(Clone, Debug)]
pub struct AuditSink {
    sender: mpsc::Sender<PendingEntry>,
    on_full: QueueFullPolicy,
    stats: Arc<AuditStats>,
    builder: Arc<EntryBuilder>,
}

/// A finished exchange waiting for the writer, which builds its [`AuditEntry`] off the
/// data path (the record, and the masked capture, cost more than the request's own
/// Warden time would allow; moving the exchange costs nothing).
pub struct PendingEntry {
    exchange: Box<FinishedExchange>,
    source: RecordSource,
    builder: Arc<EntryBuilder>,
}

impl std::fmt::Debug for PendingEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEntry")
            .field("request_id", &self.exchange.id())
            .field("source", &self.source)
            .finish()
    }
}

impl PendingEntry {
    /// The exchange's record (and capture). Runs on the writer.
    pub fn build(self) -> AuditEntry {
        self.builder.build(&self.exchange, self.source)
    }
}

/// What building an entry needs besides the exchange: the redactor for query strings
/// and captured header values, and the names of the headers that carry credentials
/// (never captured).
#[derive(Debug)]
pub struct EntryBuilder {
    redactor: Option<Arc<crate::redact::Redactor>>,
    credentials: Arc<[String]>,
    capture: Option<CaptureSettings>,
}

impl EntryBuilder {
    /// The entry of an exchange as it stands: its record and, when sessions are
    /// recorded, its masked capture (whose SHA-256 the record carries, so the chain
    /// covers what the replay shows).
    pub fn build(&self, exchange: &FinishedExchange, source: RecordSource) -> AuditEntry {
        let redactor = self.redactor.as_deref();
        let mut record = AuditRecord::from_exchange(exchange, source, redactor);
        let capture = crate::pipeline::capture_of(exchange, redactor, &self.credentials);
        record.capture_sha256 = capture.as_ref().map(ExchangeCapture::sha256);
        AuditEntry { record, capture }
    }

    /// Capture settings, when sessions record headers and bodies.
    pub fn capture_settings(&self) -> Option<&CaptureSettings> {
        self.capture.as_ref()
    }

    /// The redactor used for query strings and captured header values.
    pub fn redactor(&self) -> Option<&crate::redact::Redactor> {
        self.redactor.as_deref()
    }
}

/// A reserved place in the audit queue for one exchange's record.
pub struct AuditSlot {
    permit: mpsc::OwnedPermit<PendingEntry>,
    stats: Arc<AuditStats>,
    builder: Arc<EntryBuilder>,
}

impl std::fmt::Debug for AuditSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditSlot")
    }
}

impl AuditSlot {
    /// Puts the finished exchange in the queue (never waits: the room was reserved).
    pub fn send(self, exchange: FinishedExchange, source: RecordSource) {
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        self.permit.send(PendingEntry {
            exchange: Box::new(exchange),
            source,
            builder: self.builder,
        });
    }
}

/// Why no slot was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoSlot {
    /// The queue is full and the policy is to refuse the request.
    Refuse,
    /// The queue is full and the policy is to go on without a record (counted).
    Dropped,
    /// The writer has stopped (shutting down or crashed): refuse.
    Closed,
}

impl AuditSink {
    /// A sink with room for `capacity` records (in flight and queued), and the queue's
    /// receiving end for the writer.
    pub fn new(
        capacity: usize,
        on_full: QueueFullPolicy,
        redactor: Option<Arc<crate::redact::Redactor>>,
    ) -> (AuditSink, mpsc::Receiver<PendingEntry>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let sink = AuditSink {
            sender,
            on_full,
            stats: Arc::new(AuditStats::default()),
            builder: Arc::new(EntryBuilder {
                redactor,
                credentials: Arc::from(Vec::new()),
                capture: None,
            }),
        };
        (sink, receiver)
    }

    /// Also records masked headers and bodies (up to `max_body_bytes` each) for the
    /// session replay. Call before the sink is cloned or used.
    pub fn with_capture(mut self, max_body_bytes: usize) -> AuditSink {
        self.builder = Arc::new(EntryBuilder {
            redactor: self.builder.redactor.clone(),
            credentials: Arc::clone(&self.builder.credentials),
            capture: Some(CaptureSettings { max_body_bytes }),
        });
        self
    }

    /// Reserves room for one record. Called when a request begins.
    pub fn reserve(&self) -> Result<AuditSlot, NoSlot> {
        match self.sender.clone().try_reserve_owned() {
            Ok(permit) => Ok(AuditSlot {
                permit,
                stats: Arc::clone(&self.stats),
                builder: Arc::clone(&self.builder),
            }),
            Err(mpsc::error::TrySendError::Full(_)) => match self.on_full {
                QueueFullPolicy::FailClosed => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    Err(NoSlot::Refuse)
                }
                QueueFullPolicy::Drop => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    Err(NoSlot::Dropped)
                }
            },
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                Err(NoSlot::Closed)
            }
        }
    }

    /// Room in the queue (`audit.queue_capacity`).
    pub fn capacity(&self) -> usize {
        self.sender.max_capacity()
    }

    /// Records waiting or reserved (the queue depth the metrics show).
    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<AuditStats> {
        &self.stats
    }

    /// How entries are built (redactor, capture settings).
    pub fn builder(&self) -> &EntryBuilder {
        &self.builder
    }

    /// The redactor used for query strings and captured header values.
    pub fn redactor(&self) -> Option<&crate::redact::Redactor> {
        self.builder.redactor()
    }

    /// Tells the builder which headers carry credentials (never captured), and the
    /// redactor to use when the sink has none. Call before the sink is cloned or used.
    pub fn with_entry_context(
        mut self,
        credentials: Arc<[String]>,
        fallback_redactor: Option<Arc<crate::redact::Redactor>>,
    ) -> AuditSink {
        self.builder = Arc::new(EntryBuilder {
            redactor: self.builder.redactor.clone().or(fallback_redactor),
            credentials,
            capture: self.builder.capture.clone(),
        });
        self
    }

    /// Capture settings, when sessions record headers and bodies.
    pub fn capture_settings(&self) -> Option<&CaptureSettings> {
        self.builder.capture_settings()
    }

    /// The reply for a request refused because no record could be kept.
    pub fn refusal(request_id: &str) -> LocalReply {
        LocalReply::json_error(
            503,
            "audit_unavailable",
            "Warden cannot record this request in the audit trail right now (its queue is \
             full or its writer stopped), so it is refused. Retry later",
            request_id,
        )
    }
}

impl ReplyNote {
    /// What a reply Warden gave means for the record.
    pub fn of(reply: &LocalReply) -> ReplyNote {
        let decision = reply
            .headers
            .iter()
            .find(|(name, _)| name == DECISION_HEADER)
            .map(|(_, value)| value.as_str());
        let outcome = match decision {
            Some("hold") => "hold",
            _ if reply.status >= 500 => "error",
            _ => "deny",
        };
        ReplyNote {
            status: reply.status,
            outcome,
            details: reply.details.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_or_drops_as_configured() {
        let (sink, _rx) = AuditSink::new(1, QueueFullPolicy::FailClosed, None);
        let slot = sink.reserve().expect("room for one");
        assert_eq!(sink.depth(), 1);
        assert_eq!(sink.reserve().err(), Some(NoSlot::Refuse));
        assert_eq!(sink.stats().refused.load(Ordering::Relaxed), 1);
        drop(slot);
        assert!(sink.reserve().is_ok(), "a released slot is free again");

        let (sink, _rx) = AuditSink::new(1, QueueFullPolicy::Drop, None);
        let _slot = sink.reserve().expect("room for one");
        assert_eq!(sink.reserve().err(), Some(NoSlot::Dropped));
        assert_eq!(sink.stats().dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_stopped_writer_refuses() {
        let (sink, rx) = AuditSink::new(4, QueueFullPolicy::Drop, None);
        drop(rx);
        assert_eq!(sink.reserve().err(), Some(NoSlot::Closed));
    }

    #[test]
    fn reply_outcomes_follow_the_decision_header_and_status() {
        let deny = LocalReply::json_error(403, "denied", "no", "r1");
        assert_eq!(ReplyNote::of(&deny).outcome, "deny");
        let unavailable = LocalReply::json_error(503, "x", "y", "r1");
        assert_eq!(ReplyNote::of(&unavailable).outcome, "error");
        let mut hold = LocalReply::json_error(403, "held", "wait", "r1");
        for (name, value) in &mut hold.headers {
            if name == DECISION_HEADER {
                *value = "hold".into();
            }
        }
        assert_eq!(ReplyNote::of(&hold).outcome, "hold");
    }
}
