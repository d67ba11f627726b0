//! The policy in force, and its hot reload.
//!
//! [`PolicyStore`] holds the current [`Policy`]; each request takes an `Arc` to it
//! once, so a reload never changes the rules under a request that is being decided.
//! [`PolicyStore::reload`] swaps in a new policy only when it loads completely: a bad
//! edit keeps the last good policy, is logged with its file/line/column, and counted
//! ([`PolicyStore::reload_failures`]) once per distinct bad content.
//!
//! Reload polls the directory (default every 2 s) and compares the content hash.
//! Polling, unlike inotify, also sees Kubernetes ConfigMap updates (an atomic symlink
//! swap) and edits on network file systems.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::{hash_sources, read_sources, Policy, PolicyError};

/// The policy in force, shared by every stream.
#[derive(Debug)]
pub struct PolicyStore {
    current: RwLock<Arc<Policy>>,
    dir: Option<PathBuf>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    /// Hash of the last content that failed, so the same bad edit is reported once.
    last_failed: Mutex<Option<String>>,
    /// Announces each policy put in force (the audit chain records it).
    changes: tokio::sync::watch::Sender<Arc<Policy>>,
}

impl PolicyStore {
    /// A store for a policy that never changes (the built-in pack, tests).
    pub fn fixed(policy: Policy) -> Arc<PolicyStore> {
        let policy = Arc::new(policy);
        Arc::new(PolicyStore {
            changes: tokio::sync::watch::Sender::new(Arc::clone(&policy)),
            current: RwLock::new(policy),
            dir: None,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            last_failed: Mutex::new(None),
        })
    }

    /// Loads the policy in `dir`; later [`PolicyStore::reload`]s re-read it.
    pub fn open(dir: PathBuf) -> Result<Arc<PolicyStore>, PolicyError> {
        let policy = Arc::new(Policy::load_dir(&dir)?);
        Ok(Arc::new(PolicyStore {
            changes: tokio::sync::watch::Sender::new(Arc::clone(&policy)),
            current: RwLock::new(policy),
            dir: Some(dir),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            last_failed: Mutex::new(None),
        }))
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            // A panic while swapping cannot leave a half-written Arc: use it.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// A receiver that sees each policy put in force from now on (the current one
    /// counts as seen).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<Policy>> {
        self.changes.subscribe()
    }

    /// Successful reloads that changed the policy.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Reloads that failed (each distinct bad content counted once).
    pub fn reload_failures(&self) -> u64 {
        self.reload_failures.load(Ordering::Relaxed)
    }

    /// Re-reads the directory. `Ok(true)` when a new policy is now in force,
    /// `Ok(false)` when nothing changed; on error the previous policy stays.
    pub fn reload(&self) -> Result<bool, PolicyError> {
        let Some(dir) = &self.dir else {
            return Ok(false);
        };
        let sources = match read_sources(dir) {
            Ok(sources) => sources,
            Err(err) => return self.failed(None, err),
        };
        let hash = hash_sources(&sources);
        if hash == self.current().hash() {
            if let Ok(mut last) = self.last_failed.lock() {
                *last = None;
            }
            return Ok(false);
        }
        let policy = match Policy::from_sources(sources) {
            Ok(policy) => policy,
            Err(err) => return self.failed(Some(hash), err),
        };
        tracing::info!(
            hash = policy.hash(),
            rules = policy.rule_count(),
            files = policy.source(),
            "policy reloaded"
        );
        let policy = Arc::new(policy);
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::clone(&policy),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&policy),
        }
        self.changes.send_replace(policy);
        if let Ok(mut last) = self.last_failed.lock() {
            *last = None;
        }
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Records a failed reload (once per distinct content) and returns the error.
    fn failed<T>(&self, content_hash: Option<String>, err: PolicyError) -> Result<T, PolicyError> {
        let key = content_hash.unwrap_or_else(|| err.to_string());
        let new = match self.last_failed.lock() {
            Ok(last) if last.as_deref() == Some(key.as_str()) => false,
            Ok(mut last) => {
                *last = Some(key);
                true
            }
            Err(_) => true,
        };
        if new {
            let failures = self.reload_failures.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                error = %err,
                policy_reload_failures_total = failures,
                keeping = self.current().hash(),
                "policy reload failed; the last good policy stays in force"
            );
        }
        Err(err)
    }

    /// Polls for changes every `interval` until the task is dropped.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        if self.dir.is_none() {
            return;
        }
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let store = Arc::clone(&self);
            // Reading files is blocking I/O: keep it off the request threads.
            let _ = tokio::task::spawn_blocking(move || store.reload()).await;
        }
    }
}
