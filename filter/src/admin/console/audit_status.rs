//! `GET /console/api/audit`: is the audit trail being written, and does it verify?
//!
//! The writer's counters ([`WriterStats`]) are read as they are. Verifying the local
//! log reads every segment, so it runs at most once per [`VERIFY_EVERY`] (and only
//! when new lines were chained since), on a blocking thread, and the last result is
//! served in between: the answer says which seq it covers.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;

use super::super::{caller, AdminError, AdminState};
use crate::approval::Timestamp;
use crate::audit::WriterStats;

/// The shortest time between two verifications of the local log.
pub const VERIFY_EVERY: Duration = Duration::from_secs(30);

/// Where the audit status comes from.
#[derive(Debug)]
pub struct AuditStatusSource {
    stats: Arc<WriterStats>,
    log_dir: PathBuf,
    public_key: PathBuf,
    /// Whether exchanges are recorded per session (`audit.sessions.record`).
    sessions_recorded: bool,
    last: Mutex<Option<(Instant, Verification)>>,
}

/// The last verification of the local log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The writer's last seq when it ran (lines after it were not checked).
    pub checked_seq: u64,
    /// When it ran.
    pub checked_at: Timestamp,
    /// Every chain intact and every signature good.
    pub intact: bool,
    /// Exchange records verified.
    pub records: u64,
    /// Checkpoints verified.
    pub checkpoints: u64,
    /// The first problem, when not intact (or why it could not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What `GET /console/api/audit` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditStatus {
    /// False when `audit.enabled` is off (nothing else is then filled in).
    pub enabled: bool,
    /// Exchange records chained by this process.
    pub records_written: u64,
    /// The last chained line's seq.
    pub last_seq: u64,
    /// The seq the last signed checkpoint covers.
    pub last_checkpoint_seq: u64,
    /// Checkpoints signed by this process.
    pub checkpoints_written: u64,
    /// Failed hand-offs to outputs (session store, OTLP).
    pub output_failures: u64,
    /// The writer stopped: nothing more is recorded (see Warden's log).
    pub stopped: bool,
    /// The last verification of the local log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

impl AuditStatusSource {
    /// Status over the writer's `stats` and the log in `log_dir`, whose checkpoints are
    /// checked with the public key in `public_key`.
    pub fn new(
        stats: Arc<WriterStats>,
        log_dir: PathBuf,
        public_key: PathBuf,
    ) -> AuditStatusSource {
        AuditStatusSource {
            stats,
            log_dir,
            public_key,
            sessions_recorded: true,
            last: Mutex::new(None),
        }
    }

    /// Status for the log of `config` (`audit.log_dir`), checked with the key Warden
    /// signs with (`audit.signing_key`: its public half; the demo key in the log
    /// directory under `audit.demo_key_in_log_dir`).
    pub fn for_config(
        stats: Arc<WriterStats>,
        config: &crate::config::AuditConfig,
    ) -> AuditStatusSource {
        let public_key = match &config.signing_key {
            Some(private) => private.clone(),
            None => config.log_dir.join(crate::audit::DEFAULT_KEY_FILE),
        };
        AuditStatusSource::new(stats, config.log_dir.clone(), public_key)
            .with_sessions_recorded(config.sessions.record)
    }

    /// Says whether exchanges are recorded per session (on unless told otherwise).
    pub fn with_sessions_recorded(mut self, recorded: bool) -> AuditStatusSource {
        self.sessions_recorded = recorded;
        self
    }

    /// Whether exchanges are recorded per session, so a held request's masked body
    /// can be previewed.
    pub fn sessions_recorded(&self) -> bool {
        self.sessions_recorded
    }

    /// The counters now, without a verification.
    pub fn counters(&self) -> AuditStatus {
        let s = &self.stats;
        AuditStatus {
            enabled: true,
            records_written: s.records_written.load(Ordering::Relaxed),
            last_seq: s.last_seq.load(Ordering::Relaxed),
            last_checkpoint_seq: s.last_checkpoint_seq.load(Ordering::Relaxed),
            checkpoints_written: s.checkpoints_written.load(Ordering::Relaxed),
            output_failures: s.output_failures.load(Ordering::Relaxed),
            stopped: s.stopped.load(Ordering::Relaxed),
            verification: None,
        }
    }

    /// The cached verification, or `None` when a new one is due.
    fn cached(&self, last_seq: u64, now: Instant) -> Option<Verification> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(at, v)| v.checked_seq == last_seq || now.duration_since(*at) < VERIFY_EVERY)
            .map(|(_, v)| v.clone())
    }

    /// Verifies the whole local log now (blocking).
    pub fn verify_now(&self, last_seq: u64) -> Verification {
        let mut verification = verify_dir(&self.log_dir, &self.public_key, last_seq);
        if !verification.intact {
            // The writer may have been mid-line: a second look tells a torn tail from
            // a real break.
            std::thread::sleep(Duration::from_millis(200));
            verification = verify_dir(&self.log_dir, &self.public_key, last_seq);
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), verification.clone()));
        verification
    }
}

fn verify_dir(
    log_dir: &std::path::Path,
    public_key: &std::path::Path,
    last_seq: u64,
) -> Verification {
    let mut verification = Verification {
        checked_seq: last_seq,
        checked_at: Timestamp::now(),
        intact: false,
        records: 0,
        checkpoints: 0,
        problem: None,
    };
    let keys = match crate::audit::load_key_ring(&[public_key.to_path_buf()]) {
        Ok(keys) => keys,
        Err(e) => {
            verification.problem = Some(format!("cannot load the checkpoint public key: {e}"));
            return verification;
        }
    };
    match crate::audit::verify_paths(
        &[log_dir.to_path_buf()],
        &keys,
        &crate::audit::VerifyOptions::default(),
    ) {
        Ok(report) => {
            verification.intact = report.intact();
            verification.records = report.chains.iter().map(|c| c.records).sum();
            verification.checkpoints = report.chains.iter().map(|c| c.checkpoints).sum();
            verification.problem = report.first_broken().map(|b| b.to_string());
        }
        Err(e) => verification.problem = Some(e.to_string()),
    }
    verification
}

pub(crate) async fn status(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<AuditStatus>, AdminError> {
    caller(&state, &headers, "/console/api/audit").await?;
    let Some(source) = state.audit_status.clone() else {
        return Ok(Json(AuditStatus {
            enabled: false,
            records_written: 0,
            last_seq: 0,
            last_checkpoint_seq: 0,
            checkpoints_written: 0,
            output_failures: 0,
            stopped: false,
            verification: None,
        }));
    };
    let mut status = source.counters();
    let last_seq = status.last_seq;
    status.verification = match source.cached(last_seq, Instant::now()) {
        Some(v) => Some(v),
        None => tokio::task::spawn_blocking(move || source.verify_now(last_seq))
            .await
            .ok(),
    };
    Ok(Json(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_log_is_reported_not_intact_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let source = AuditStatusSource::new(
            Arc::new(WriterStats::default()),
            dir.path().join("audit"),
            dir.path().join("audit/checkpoint-key.pub.pem"),
        );
        assert_eq!(source.cached(0, Instant::now()), None);
        let v = source.verify_now(0);
        assert!(!v.intact);
        assert!(v.problem.unwrap_or_default().contains("public key"));
        assert!(source.cached(0, Instant::now()).is_some());
        // New lines and time passed: due again.
        assert!(source
            .cached(5, Instant::now() + VERIFY_EVERY + Duration::from_secs(1))
            .is_none());
        assert!(source.counters().enabled);
    }
}
