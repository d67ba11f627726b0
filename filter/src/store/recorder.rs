//! The audit writer's session output and the retention task.
//!
//! [`SessionRecorder`] is an [`AuditOutput`]: the writer hands it each batch of
//! chained records (with their masked captures) and each signed checkpoint, and it
//! stores them with [`ApprovalStore::record_exchanges`] and
//! [`ApprovalStore::record_checkpoint`]. [`spawn_retention`] deletes old exchanges
//! on a timer.

use std::time::Duration;

use super::sessions::SessionRetention;
use super::ApprovalStore;
use crate::approval::Timestamp;
use crate::audit::{AuditOutput, Chained, Checkpoint, OutputError, OutputFuture};
use crate::config::SessionsConfig;

/// The output name in logs and errors.
const OUTPUT_NAME: &str = "sessions";

/// Stores chained records, their captures and checkpoints for the session replay.
/// Checkpoints are stored even when sessions are not recorded: they are the copy of the
/// chain's head an auditor compares the log with (`warden audit verify --store`).
#[derive(Clone, Debug)]
pub struct SessionRecorder {
    store: ApprovalStore,
    exchanges: bool,
}

impl SessionRecorder {
    /// A recorder of exchanges and checkpoints into `store` (the approvals database).
    pub fn new(store: ApprovalStore) -> SessionRecorder {
        SessionRecorder {
            store,
            exchanges: true,
        }
    }

    /// A recorder of checkpoints only (sessions are not recorded).
    pub fn checkpoints_only(store: ApprovalStore) -> SessionRecorder {
        SessionRecorder {
            store,
            exchanges: false,
        }
    }
}

fn output_error(err: super::StoreError) -> OutputError {
    OutputError {
        output: OUTPUT_NAME,
        message: err.to_string(),
    }
}

impl AuditOutput for SessionRecorder {
    fn name(&self) -> &'static str {
        OUTPUT_NAME
    }

    fn write<'a>(&'a self, batch: &'a [Chained]) -> OutputFuture<'a> {
        Box::pin(async move {
            if !self.exchanges {
                return Ok(());
            }
            self.store
                .record_exchanges(batch)
                .await
                .map(|_| ())
                .map_err(output_error)
        })
    }

    fn checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> OutputFuture<'a> {
        Box::pin(async move {
            self.store
                .record_checkpoint(checkpoint)
                .await
                .map(|_| ())
                .map_err(output_error)
        })
    }
}

/// When and how much retention deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionSettings {
    /// What to keep.
    pub retention: SessionRetention,
    /// Time between passes.
    pub interval: Duration,
}

impl From<&SessionsConfig> for RetentionSettings {
    fn from(config: &SessionsConfig) -> Self {
        RetentionSettings {
            retention: SessionRetention {
                max_age_days: config.retention_days,
                max_bytes: config.retention_max_bytes,
            },
            interval: Duration::from_secs(config.retention_interval_seconds.max(1)),
        }
    }
}

/// Runs a retention pass now and then every `settings.interval`, until the returned
/// task is aborted. A failed pass is logged and retried at the next interval.
pub fn spawn_retention(
    store: ApprovalStore,
    settings: RetentionSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if settings.retention == SessionRetention::default() {
            tracing::info!("session retention: keeping recorded exchanges forever");
            return;
        }
        let mut timer = tokio::time::interval(settings.interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            match store
                .apply_session_retention(Timestamp::now(), &settings.retention)
                .await
            {
                Ok(report) if report.expired + report.over_size > 0 => tracing::info!(
                    expired = report.expired,
                    over_size = report.over_size,
                    "session retention deleted recorded exchanges"
                ),
                Ok(_) => {}
                Err(err) => tracing::warn!(
                    error = %err,
                    "session retention failed; retrying at the next interval"
                ),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditRecord, ChainedRecord, DecisionRecord, RecordSource};

    fn chained(seq: u64) -> Chained {
        let record = AuditRecord {
            request_id: format!("req-{seq}"),
            session_id: "s-1".into(),
            source: RecordSource::ExtAuthz,
            started_at: Timestamp(1_796_000_000_000 + seq as i64).rfc3339(),
            duration_us: 1,
            decision: DecisionRecord {
                outcome: "allow".into(),
                ..DecisionRecord::default()
            },
            ..AuditRecord::default()
        };
        Chained {
            record: ChainedRecord {
                instance: "i-1".into(),
                seq,
                prev_hash: String::new(),
                hash: format!("h{seq}"),
                record,
            },
            capture: None,
        }
    }

    #[tokio::test]
    async fn the_recorder_stores_batches_once_and_checkpoints() {
        let store = ApprovalStore::open("sqlite::memory:").await.unwrap();
        let recorder = SessionRecorder::new(store.clone());
        assert_eq!(recorder.name(), "sessions");
        let batch = [chained(1), chained(2)];
        recorder.write(&batch).await.unwrap();
        recorder.write(&batch).await.unwrap(); // a writer retry
        let stored = store.session_exchanges("s-1", None).await.unwrap();
        assert_eq!(
            stored.iter().map(|e| e.record.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(stored[0].capture, None);
        let checkpoint = Checkpoint {
            instance: "i-1".into(),
            seq: 2,
            hash: "h2".into(),
            signed_at: Timestamp(1_796_000_000_002).rfc3339(),
            reason: "count".into(),
            key_id: "ed25519:k".into(),
            signature: "sig".into(),
        };
        recorder.checkpoint(&checkpoint).await.unwrap();
        assert_eq!(store.checkpoints(None).await.unwrap(), vec![checkpoint]);
    }

    #[test]
    fn retention_settings_come_from_the_config() {
        let config = SessionsConfig {
            retention_days: 7,
            retention_max_bytes: 1000,
            retention_interval_seconds: 0,
            ..SessionsConfig::default()
        };
        let settings = RetentionSettings::from(&config);
        assert_eq!(
            settings.retention,
            SessionRetention {
                max_age_days: 7,
                max_bytes: 1000
            }
        );
        assert_eq!(settings.interval, Duration::from_secs(1));
    }
}
