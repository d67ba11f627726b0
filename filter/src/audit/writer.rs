//! The writer task: the one place records are chained.
//!
//! It drains the audit queue in batches and, for each batch:
//! 1. puts `capture_sha256` (SHA-256 of the capture's canonical JSON) in each record
//!    that has a session capture, so the chain covers what the replay shows;
//! 2. chains the records and appends them to the log with one write and one sync;
//! 3. hands the chained batch to each output (session store, OTLP) in order, retrying
//!    a failing output with backoff.
//!
//! Then it signs a checkpoint after `checkpoint_every_records` chained lines, or every
//! `checkpoint_interval_seconds` when lines were added, seals the segment when it is
//! full, and signs a `shutdown` checkpoint on a graceful stop.
//!
//! **Failing closed, by design.** While an output keeps failing the writer waits on it;
//! the queue fills, and new requests are refused (`audit.on_queue_full: fail_closed`)
//! rather than let through unrecorded. A failed log write stops the writer for good
//! (see [`super::log`]): the queue's receiver is dropped and every new request is
//! refused until Warden is restarted.
//!
//! Policy versions go in through a [`PolicyRecorder`] (a second, unbounded channel:
//! policy changes are rare); a pending policy version is chained before pending
//! records.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::chain::{sha256_hex, ChainError, Checkpoint, CheckpointReason, PolicyVersion};
use super::log::{Appendable, Appended, AuditLog, LogError};
use super::output::{AuditOutput, Chained, OutputFuture};
use super::{AuditEntry, ExchangeCapture};

/// How the writer batches, checkpoints and retries.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// A checkpoint after this many chained lines (0: never by count).
    pub checkpoint_every_records: u64,
    /// A checkpoint this often when lines were added (zero: never by time).
    pub checkpoint_interval: Duration,
    /// The most records written in one batch (one write, one sync).
    pub batch_max: usize,
    /// After a batch smaller than `batch_max`, how long the writer waits before taking
    /// the next one. While it waits it is not registered on the queue, so a request
    /// handing over its exchange signals no one: the data path pays no wake-up, and
    /// records are written in fewer, larger batches (fewer syncs).
    pub batch_linger: Duration,
    /// First wait before retrying a failed output; doubles up to `retry_max`.
    pub retry_initial: Duration,
    /// Longest wait between retries.
    pub retry_max: Duration,
    /// Attempts an output still gets once shutdown began, before its batch is given up
    /// (the records stay in the log).
    pub shutdown_attempts: u32,
}

impl WriterSettings {
    /// The settings `audit` asks for.
    pub fn from_config(config: &crate::config::AuditConfig) -> WriterSettings {
        WriterSettings {
            checkpoint_every_records: config.checkpoint_every_records,
            checkpoint_interval: Duration::from_secs(config.checkpoint_interval_seconds),
            batch_linger: Duration::from_millis(config.batch_linger_ms),
            ..WriterSettings::default()
        }
    }
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            checkpoint_every_records: 1000,
            checkpoint_interval: Duration::from_secs(30),
            batch_max: 512,
            batch_linger: Duration::from_millis(2),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(30),
            shutdown_attempts: 3,
        }
    }
}

/// The writer's counters, for the metrics endpoint.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Exchange records chained and synced to the log.
    pub records_written: AtomicU64,
    /// Policy versions chained.
    pub policy_versions_written: AtomicU64,
    /// The last chained line's seq.
    pub last_seq: AtomicU64,
    /// Checkpoints signed and written.
    pub checkpoints_written: AtomicU64,
    /// The seq the last checkpoint covers.
    pub last_checkpoint_seq: AtomicU64,
    /// Failed attempts to hand a batch or checkpoint to an output.
    pub output_failures: AtomicU64,
    /// True once the writer stopped (shutdown or a log write failure).
    pub stopped: AtomicBool,
}

/// Why the writer stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The log could not be written.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The writer task (or a blocking write it ran) panicked or was cancelled.
    #[error("the audit writer task failed: {0} (this is a Warden bug; please report it)")]
    Task(String),
}

/// The policy version channel's sending end: cheap to clone.
#[derive(Clone, Debug)]
pub struct PolicyRecorder {
    sender: mpsc::UnboundedSender<PolicyVersion>,
}

/// The writer has stopped; nothing more can be chained.
#[derive(Debug, thiserror::Error)]
#[error("the audit writer has stopped")]
pub struct WriterStopped;

impl PolicyRecorder {
    /// Chains a policy version (ahead of records still waiting).
    pub fn record(&self, version: PolicyVersion) -> Result<(), WriterStopped> {
        self.sender.send(version).map_err(|_| WriterStopped)
    }
}

/// What the writer did, once it stopped gracefully.
#[derive(Clone, Debug)]
pub struct WriterSummary {
    /// The last chained line's seq.
    pub last_seq: u64,
    /// Records written by this writer.
    pub records_written: u64,
    /// The checkpoint signed at the stop.
    pub shutdown_checkpoint: Checkpoint,
}

/// The running writer.
#[derive(Debug)]
pub struct WriterHandle {
    policy: PolicyRecorder,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<WriterSummary, WriterError>>,
    stats: Arc<WriterStats>,
}

impl WriterHandle {
    /// Where policy versions go.
    pub fn policy_recorder(&self) -> PolicyRecorder {
        self.policy.clone()
    }

    /// The counters.
    pub fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.stats)
    }

    /// Stops the writer: writes what is queued, hands it to the outputs, signs a
    /// `shutdown` checkpoint, and returns. Call it after the gRPC server stopped (no
    /// new records).
    pub async fn shutdown(self) -> Result<WriterSummary, WriterError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(WriterError::Task(e.to_string())),
        }
    }
}

/// Starts the writer on `log`, draining `receiver`, handing batches to `outputs` in
/// order.
pub fn spawn_writer<E: IntoAuditEntry>(
    receiver: mpsc::Receiver<E>,
    log: AuditLog,
    settings: WriterSettings,
    outputs: Vec<Arc<dyn AuditOutput>>,
) -> WriterHandle {
    let (policy_sender, policy_receiver) = mpsc::unbounded_channel();
    let (stop, stop_receiver) = watch::channel(false);
    let stats = Arc::new(WriterStats::default());
    stats.last_seq.store(log.chain().seq(), Ordering::Relaxed);
    if let Some(checkpoint) = log.last_checkpoint() {
        stats
            .last_checkpoint_seq
            .store(checkpoint.seq, Ordering::Relaxed);
    }
    let writer = Writer {
        log: Some(log),
        settings,
        outputs,
        stats: Arc::clone(&stats),
        stop: stop_receiver,
        since_checkpoint: 0,
    };
    let task_stats = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        let result = writer.run(receiver, policy_receiver).await;
        task_stats.stopped.store(true, Ordering::Relaxed);
        if let Err(error) = &result {
            tracing::error!(
                %error,
                "AUDIT WRITER STOPPED: no more records can be written; Warden refuses new \
                 requests until it is restarted"
            );
        }
        result
    });
    WriterHandle {
        policy: PolicyRecorder {
            sender: policy_sender,
        },
        stop,
        task,
        stats,
    }
}

struct Writer {
    /// `None` only while a blocking write holds it.
    log: Option<AuditLog>,
    settings: WriterSettings,
    outputs: Vec<Arc<dyn AuditOutput>>,
    stats: Arc<WriterStats>,
    stop: watch::Receiver<bool>,
    since_checkpoint: u64,
}

impl Writer {
    async fn run<E: IntoAuditEntry>(
        mut self,
        mut receiver: mpsc::Receiver<E>,
        mut policies: mpsc::UnboundedReceiver<PolicyVersion>,
    ) -> Result<WriterSummary, WriterError> {
        let period = self.settings.checkpoint_interval;
        let timed = !period.is_zero();
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + period,
            period.max(Duration::from_millis(1)),
        );
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = self.stop.clone();
        let mut entries = Vec::with_capacity(self.settings.batch_max);
        let linger = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(linger);
        let mut lingering = false;
        let records_start = self.stats.records_written.load(Ordering::Relaxed);
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                Some(policy) = policies.recv() => {
                    let mut versions = vec![policy];
                    while let Ok(more) = policies.try_recv() {
                        versions.push(more);
                    }
                    self.write_policies(versions).await?;
                }
                () = &mut linger, if lingering => lingering = false,
                received = receiver.recv_many(&mut entries, self.settings.batch_max), if !lingering => {
                    if received == 0 {
                        // Every sink is gone: nothing more will come.
                        break;
                    }
                    self.write_records(std::mem::take(&mut entries)).await?;
                    if received < self.settings.batch_max && !self.settings.batch_linger.is_zero() {
                        linger
                            .as_mut()
                            .reset(tokio::time::Instant::now() + self.settings.batch_linger);
                        lingering = true;
                    }
                }
                _ = ticker.tick(), if timed => {
                    if self.since_checkpoint > 0 {
                        self.checkpoint(CheckpointReason::Interval).await?;
                    }
                }
            }
        }
        // Graceful stop: what is queued now is written, then the shutdown checkpoint.
        let mut versions = Vec::new();
        while let Ok(version) = policies.try_recv() {
            versions.push(version);
        }
        if !versions.is_empty() {
            self.write_policies(versions).await?;
        }
        loop {
            let mut batch = Vec::new();
            while batch.len() < self.settings.batch_max {
                match receiver.try_recv() {
                    Ok(entry) => batch.push(entry),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            self.write_records(batch).await?;
        }
        let checkpoint = self.checkpoint(CheckpointReason::Shutdown).await?;
        let records_written = self.stats.records_written.load(Ordering::Relaxed) - records_start;
        tracing::info!(
            seq = checkpoint.seq,
            records_written,
            "audit writer stopped; shutdown checkpoint signed"
        );
        Ok(WriterSummary {
            last_seq: checkpoint.seq,
            records_written,
            shutdown_checkpoint: checkpoint,
        })
    }

    /// Runs `f` on the log on a blocking thread (writes and syncs block).
    async fn with_log<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut AuditLog) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, WriterError> {
        let mut log = self
            .log
            .take()
            .ok_or_else(|| WriterError::Task("the log was lost by an earlier failure".into()))?;
        let (log, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut log);
            (log, result)
        })
        .await
        .map_err(|e| WriterError::Task(e.to_string()))?;
        self.log = Some(log);
        Ok(result?)
    }

    async fn write_policies(&mut self, versions: Vec<PolicyVersion>) -> Result<(), WriterError> {
        let items = versions.into_iter().map(Appendable::Policy).collect();
        let appended = self.with_log(move |log| log.append(items)).await?;
        for line in &appended {
            if let Appended::Policy(policy) = line {
                tracing::info!(
                    seq = policy.seq,
                    policy_hash = %policy.policy.policy_hash,
                    "policy version recorded in the audit chain"
                );
                self.stats.last_seq.store(policy.seq, Ordering::Relaxed);
            }
        }
        self.stats
            .policy_versions_written
            .fetch_add(appended.len() as u64, Ordering::Relaxed);
        self.lines_added(appended.len() as u64).await
    }

    async fn write_records<E: IntoAuditEntry>(
        &mut self,
        entries: Vec<E>,
    ) -> Result<(), WriterError> {
        // Records are built here, on a blocking thread with the log write, not on the
        // data path: the queue carries finished exchanges.
        let (appended, captures) = self
            .with_log(move |log| {
                let mut items = Vec::with_capacity(entries.len());
                let mut captures = Vec::with_capacity(entries.len());
                for entry in entries {
                    let entry = entry.into_audit_entry();
                    let mut record = entry.record;
                    if let Some(capture) = &entry.capture {
                        record.capture_sha256 = Some(capture_sha256(capture)?);
                    }
                    items.push(Appendable::Record(record));
                    captures.push(entry.capture);
                }
                Ok((log.append(items)?, captures))
            })
            .await?;
        let batch: Vec<Chained> = appended
            .into_iter()
            .zip(captures)
            .filter_map(|(line, capture)| match line {
                Appended::Record(record) => Some(Chained { record, capture }),
                Appended::Policy(_) => None,
            })
            .collect();
        if let Some(last) = batch.last() {
            self.stats
                .last_seq
                .store(last.record.seq, Ordering::Relaxed);
        }
        self.stats
            .records_written
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for output in &self.outputs {
            let output = Arc::clone(output);
            deliver(
                output.name(),
                &self.settings,
                &self.stats,
                &self.stop,
                || output.write(&batch),
            )
            .await;
        }
        self.lines_added(batch.len() as u64).await
    }

    /// Counts chained lines and checkpoints / seals when due.
    async fn lines_added(&mut self, lines: u64) -> Result<(), WriterError> {
        self.since_checkpoint += lines;
        let every = self.settings.checkpoint_every_records;
        if every > 0 && self.since_checkpoint >= every {
            self.checkpoint(CheckpointReason::Count).await?;
        }
        if let Some(seal) = self.with_log(AuditLog::rotate_if_full).await? {
            self.signed(&seal).await;
        }
        Ok(())
    }

    async fn checkpoint(&mut self, reason: CheckpointReason) -> Result<Checkpoint, WriterError> {
        let checkpoint = self.with_log(move |log| log.checkpoint(reason)).await?;
        self.signed(&checkpoint).await;
        Ok(checkpoint)
    }

    /// Counts a checkpoint written and hands it to the outputs.
    async fn signed(&mut self, checkpoint: &Checkpoint) {
        self.since_checkpoint = 0;
        self.stats
            .checkpoints_written
            .fetch_add(1, Ordering::Relaxed);
        self.stats
            .last_checkpoint_seq
            .store(checkpoint.seq, Ordering::Relaxed);
        for output in &self.outputs {
            let output = Arc::clone(output);
            deliver(
                output.name(),
                &self.settings,
                &self.stats,
                &self.stop,
                || output.checkpoint(checkpoint),
            )
            .await;
        }
    }
}

/// Completes when a stop is requested (or the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

/// What the writer's queue carries: an entry, or what becomes one.
pub trait IntoAuditEntry: Send + 'static {
    /// The entry to chain.
    fn into_audit_entry(self) -> AuditEntry;
}

impl IntoAuditEntry for AuditEntry {
    fn into_audit_entry(self) -> AuditEntry {
        self
    }
}

impl IntoAuditEntry for super::PendingEntry {
    fn into_audit_entry(self) -> AuditEntry {
        self.build()
    }
}

/// SHA-256 (hex) of a capture's canonical JSON.
pub fn capture_sha256(capture: &ExchangeCapture) -> Result<String, ChainError> {
    Ok(sha256_hex(&serde_json::to_vec(capture)?))
}

/// Hands something to one output until it takes it, waiting longer after each failure.
/// Once shutdown began, an output gets `shutdown_attempts` more tries, then the item is
/// given up (it is in the log either way).
async fn deliver<'a>(
    name: &'static str,
    settings: &WriterSettings,
    stats: &WriterStats,
    stop: &watch::Receiver<bool>,
    mut attempt: impl FnMut() -> OutputFuture<'a>,
) {
    let mut delay = settings.retry_initial;
    let mut attempts_while_stopping = 0u32;
    let mut stop = stop.clone();
    loop {
        let Err(error) = attempt().await else {
            return;
        };
        stats.output_failures.fetch_add(1, Ordering::Relaxed);
        if *stop.borrow() {
            attempts_while_stopping += 1;
            if attempts_while_stopping >= settings.shutdown_attempts {
                tracing::error!(
                    output = name,
                    %error,
                    "audit output still failing at shutdown: giving up on this batch (it is \
                     in the audit log)"
                );
                return;
            }
        }
        tracing::warn!(
            output = name,
            %error,
            retry_in_ms = delay.as_millis() as u64,
            "audit output failed; retrying. Meanwhile the audit queue backs up and, when \
             full, Warden refuses new requests (fail closed)"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            // A stop request cuts the wait short so shutdown is not held up.
            () = stopped(&mut stop), if !*stop.borrow() => {}
        }
        delay = (delay * 2).min(settings.retry_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::tests::{sample_record, test_key};
    use crate::audit::log::LogSettings;
    use crate::audit::verify::{verify_paths, VerifyOptions};
    use crate::audit::{AuditSink, KeyRing, LogLine, PolicyFile, QueueFullPolicy};
    use std::sync::Mutex;

    /// An output that keeps what it gets, failing its first `fail_first` writes.
    #[derive(Default)]
    struct Recording {
        fail_first: AtomicU64,
        batches: Mutex<Vec<Vec<Chained>>>,
        checkpoints: Mutex<Vec<Checkpoint>>,
    }

    impl AuditOutput for Recording {
        fn name(&self) -> &'static str {
            "recording"
        }

        fn write<'a>(&'a self, batch: &'a [Chained]) -> OutputFuture<'a> {
            Box::pin(async move {
                let failing = self
                    .fail_first
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok();
                if failing {
                    return Err(super::super::OutputError {
                        output: "recording",
                        message: "down for the test".into(),
                    });
                }
                self.batches.lock().unwrap().push(batch.to_vec());
                Ok(())
            })
        }

        fn checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> OutputFuture<'a> {
            Box::pin(async move {
                self.checkpoints.lock().unwrap().push(checkpoint.clone());
                Ok(())
            })
        }
    }

    fn open(dir: &std::path::Path, segment_max_bytes: u64) -> AuditLog {
        AuditLog::open(
            LogSettings {
                dir: dir.to_path_buf(),
                instance: "w1".into(),
                segment_max_bytes,
            },
            test_key(1),
        )
        .unwrap()
    }

    fn settings() -> WriterSettings {
        WriterSettings {
            checkpoint_every_records: 3,
            checkpoint_interval: Duration::ZERO,
            batch_max: 2,
            batch_linger: Duration::ZERO,
            retry_initial: Duration::from_millis(1),
            retry_max: Duration::from_millis(4),
            shutdown_attempts: 3,
        }
    }

    fn policy() -> PolicyVersion {
        let version = PolicyVersion {
            policy_hash: String::new(),
            source: "policies/a.yaml".into(),
            loaded_at: "2026-11-30T08:00:00Z".into(),
            files: vec![PolicyFile {
                name: "a.yaml".into(),
                sha256: sha256_hex(b"rules: []\n"),
                content: "rules: []\n".into(),
            }],
        };
        PolicyVersion {
            policy_hash: version.recomputed_hash(),
            ..version
        }
    }

    fn lines(dir: &std::path::Path) -> Vec<LogLine> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| LogLine::parse(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The log's checkpoints as `reason@seq`, in order.
    fn checkpoints_in_log(dir: &std::path::Path) -> Vec<String> {
        lines(dir)
            .iter()
            .filter_map(|l| match l {
                LogLine::Checkpoint(c) => Some(format!("{}@{}", c.reason, c.seq)),
                _ => None,
            })
            .collect()
    }

    /// Polls `done` until it holds, failing after ten seconds.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lingering_writer_batches_what_arrived_meanwhile_and_a_stop_cuts_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, receiver) = mpsc::channel::<AuditEntry>(16);
        let output = Arc::new(Recording::default());
        let outputs: Vec<Arc<dyn AuditOutput>> = vec![output.clone()];
        let settings = WriterSettings {
            batch_max: 64,
            checkpoint_every_records: 0,
            // Far longer than the test: only the stop can end this wait.
            batch_linger: Duration::from_secs(3600),
            ..settings()
        };
        let writer = spawn_writer(receiver, open(dir.path(), 1 << 20), settings, outputs);
        let stats = writer.stats();
        sink.try_send(AuditEntry {
            record: sample_record(1),
            capture: None,
        })
        .unwrap();
        eventually("the first record is written", || {
            stats.records_written.load(Ordering::Relaxed) == 1
        })
        .await;
        for n in 2..=4 {
            sink.try_send(AuditEntry {
                record: sample_record(n),
                capture: None,
            })
            .unwrap();
        }
        let summary = tokio::time::timeout(Duration::from_secs(10), writer.shutdown())
            .await
            .expect("a stop ends the linger at once")
            .unwrap();
        assert_eq!(summary.records_written, 4, "nothing queued is lost");
        let batches: Vec<Vec<u64>> = output
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(|batch| batch.iter().map(|c| c.record.seq).collect())
            .collect();
        assert_eq!(
            batches,
            [vec![1], vec![2, 3, 4]],
            "records that arrived while the writer lingered went in one batch"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interval_checkpoint_follows_new_records_and_an_idle_chain_gets_none() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, receiver) = mpsc::channel::<AuditEntry>(16);
        let output = Arc::new(Recording::default());
        let outputs: Vec<Arc<dyn AuditOutput>> = vec![output.clone()];
        let period = Duration::from_millis(20);
        let settings = WriterSettings {
            // Only the clock signs here: no count checkpoints.
            checkpoint_every_records: 0,
            checkpoint_interval: period,
            ..settings()
        };
        let writer = spawn_writer(receiver, open(dir.path(), 1 << 20), settings, outputs);
        let checkpoints = || -> Vec<String> {
            output
                .checkpoints
                .lock()
                .unwrap()
                .iter()
                .map(|c| format!("{}@{}", c.reason, c.seq))
                .collect()
        };
        for round in 1..=2u64 {
            sink.try_send(AuditEntry {
                record: sample_record(round),
                capture: None,
            })
            .unwrap();
            eventually("an interval checkpoint covers the new record", || {
                checkpoints().last() == Some(&format!("interval@{round}"))
            })
            .await;
            // Idle: five more periods pass with nothing to sign, and nothing is signed.
            let idle = tokio::time::timeout(period * 5, async {
                while checkpoints().len() == round as usize {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            assert!(
                idle.is_err(),
                "an idle chain was signed: {:?}",
                checkpoints()
            );
        }
        let summary = writer.shutdown().await.unwrap();
        assert_eq!(summary.shutdown_checkpoint.reason, "shutdown");
        let reasons = checkpoints_in_log(dir.path());
        assert_eq!(
            reasons,
            ["start@0", "interval@1", "interval@2", "shutdown@2"]
        );
    }

    #[tokio::test]
    async fn records_are_chained_logged_handed_on_and_signed_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, receiver) = mpsc::channel::<AuditEntry>(16);
        let output = Arc::new(Recording::default());
        output.fail_first.store(2, Ordering::Relaxed);
        let outputs: Vec<Arc<dyn AuditOutput>> = vec![output.clone()];
        let writer = spawn_writer(receiver, open(dir.path(), 1 << 20), settings(), outputs);
        writer.policy_recorder().record(policy()).unwrap();
        for n in 1..=7 {
            let capture = (n == 2).then(|| ExchangeCapture {
                request_headers: vec![("content-type".into(), "application/json".into())],
                response_headers: Vec::new(),
                ..ExchangeCapture::default()
            });
            sink.try_send(AuditEntry {
                record: sample_record(n),
                capture,
            })
            .unwrap();
        }
        let stats = writer.stats();
        let summary = writer.shutdown().await.unwrap();
        assert_eq!(summary.last_seq, 8, "a policy line and seven records");
        assert_eq!(summary.records_written, 7);
        assert_eq!(summary.shutdown_checkpoint.reason, "shutdown");

        // The output got every record once, in order, with its capture.
        let delivered: Vec<Chained> = output.batches.lock().unwrap().concat();
        let seqs: Vec<u64> = delivered.iter().map(|c| c.record.seq).collect();
        assert_eq!(seqs, (2..=8).collect::<Vec<_>>());
        let with_capture = &delivered[1];
        let expected = capture_sha256(with_capture.capture.as_ref().unwrap()).unwrap();
        assert_eq!(
            with_capture.record.record.capture_sha256.as_deref(),
            Some(expected.as_str())
        );
        assert_eq!(stats.output_failures.load(Ordering::Relaxed), 2);
        assert_eq!(stats.records_written.load(Ordering::Relaxed), 7);
        assert_eq!(stats.policy_versions_written.load(Ordering::Relaxed), 1);
        assert_eq!(stats.last_seq.load(Ordering::Relaxed), 8);
        assert_eq!(stats.last_checkpoint_seq.load(Ordering::Relaxed), 8);
        assert!(stats.stopped.load(Ordering::Relaxed));

        // The chain's start checkpoint (signed when the log was opened, before the
        // writer); policy first; a count checkpoint every 3 chained lines (batches of
        // 2); the shutdown checkpoint last; outputs saw every checkpoint the writer
        // signed.
        let reasons = checkpoints_in_log(dir.path());
        assert_eq!(reasons, ["start@0", "count@3", "count@7", "shutdown@8"]);
        assert!(matches!(lines(dir.path())[2], LogLine::Policy(_)));
        assert_eq!(output.checkpoints.lock().unwrap().len(), 3);

        let mut keys = KeyRing::new();
        keys.add(test_key(1).verifying_key());
        let report = verify_paths(
            &[dir.path().to_path_buf()],
            &keys,
            &VerifyOptions::default(),
        )
        .unwrap();
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].policy_versions, 1);
        assert_eq!(report.chains[0].unsigned, 0);
    }

    #[tokio::test]
    async fn the_writer_seals_full_segments_and_the_result_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, receiver) = mpsc::channel::<AuditEntry>(64);
        let writer = spawn_writer(receiver, open(dir.path(), 2000), settings(), Vec::new());
        for n in 1..=20 {
            sink.try_send(AuditEntry {
                record: sample_record(n),
                capture: None,
            })
            .unwrap();
        }
        writer.shutdown().await.unwrap();
        let seals = lines(dir.path())
            .iter()
            .filter(|l| matches!(l, LogLine::Checkpoint(c) if c.reason == "seal"))
            .count();
        assert!(seals >= 2, "{seals} seals");
        let mut keys = KeyRing::new();
        keys.add(test_key(1).verifying_key());
        let report = verify_paths(
            &[dir.path().to_path_buf()],
            &keys,
            &VerifyOptions::default(),
        )
        .unwrap();
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].segments as usize, seals + 1);
        assert_eq!(report.chains[0].records, 20);
    }

    #[tokio::test]
    async fn a_failed_log_write_stops_the_writer_and_the_sink_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), 1 << 20);
        log.poison_for_test();
        let (sink, receiver) = AuditSink::new(4, QueueFullPolicy::Drop, None);
        let writer = spawn_writer(receiver, log, settings(), Vec::new());
        sink.reserve().unwrap().send(
            crate::pipeline::Exchange::new("req-1").into_finished(),
            super::super::RecordSource::ExtProc,
        );
        let error = writer.shutdown().await.unwrap_err();
        assert!(
            matches!(error, WriterError::Log(LogError::Poisoned)),
            "{error}"
        );
        assert_eq!(sink.reserve().err(), Some(super::super::NoSlot::Closed));
    }
}
