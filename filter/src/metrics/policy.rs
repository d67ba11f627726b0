//! The policy in force and its hot reload: which policy decides (its content hash),
//! how many rules it has, when it was put in force, and how many reloads succeeded or
//! failed. Read from the [`PolicyStore`] at each scrape; only the load time needs a
//! task of its own (it follows the store's change feed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;

use super::audit::{counter, gauge};
use crate::policy::watch::PolicyStore;

/// The policy store's metrics.
#[derive(Debug)]
pub struct PolicyMetrics {
    store: Arc<PolicyStore>,
    /// When the policy in force was put in force: Unix seconds, as `f64` bits (an
    /// atomic, so a scrape never waits for the watcher).
    loaded_at: Arc<AtomicU64>,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl PolicyMetrics {
    /// Metrics of `store`. The policy in force now counts as loaded now; a task
    /// (spawned here, so call this inside the runtime) notes the time of each reload
    /// that puts a new policy in force, until the store is dropped.
    pub fn start(store: Arc<PolicyStore>) -> PolicyMetrics {
        // Subscribe first, so no reload falls between reading the time and watching.
        let mut changes = store.subscribe();
        let loaded_at = Arc::new(AtomicU64::new(unix_now().to_bits()));
        let watched = Arc::clone(&loaded_at);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                changes.borrow_and_update();
                watched.store(unix_now().to_bits(), Ordering::Relaxed);
            }
        });
        PolicyMetrics { store, loaded_at }
    }
}

impl Collector for PolicyMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let policy = self.store.current();
        let info = Info::new([("hash", policy.hash().to_string())]);
        info.encode(encoder.encode_descriptor(
            "warden_policy",
            "The policy in force, by content hash (the hash audit records name)",
            None,
            info.metric_type(),
        )?)?;
        gauge(
            &mut encoder,
            "warden_policy_rules",
            "Rules in the policy in force",
            i64::try_from(policy.rule_count()).unwrap_or(i64::MAX),
        )?;
        let loaded = ConstGauge::new(f64::from_bits(self.loaded_at.load(Ordering::Relaxed)));
        loaded.encode(encoder.encode_descriptor(
            "warden_policy_loaded_timestamp_seconds",
            "When the policy in force was loaded (Unix time): at start, or by the last reload that changed it",
            None,
            loaded.metric_type(),
        )?)?;
        counter(
            &mut encoder,
            "warden_policy_reloads",
            "Reloads that put a changed policy in force",
            self.store.reloads(),
        )?;
        counter(
            &mut encoder,
            "warden_policy_reload_failures",
            "Reloads that failed (each distinct bad content once); the last good policy stays in force",
            self.store.reload_failures(),
        )?;
        Ok(())
    }
}
