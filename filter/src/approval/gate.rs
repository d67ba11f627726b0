//! The approval gate: decides at request time whether a held request passes.
//!
//! In order: an active grant for the identity over the hold's scope lets it pass; an
//! approval the client quoted (`x-warden-approval`) or any approved, unused approval
//! for the same identity and operation is used (once) and lets it pass; otherwise the
//! pending approval for this identity and operation is found or opened, and the
//! request is held. In wait mode the gate then keeps the request paused until an
//! approver decides (on any replica: the store's change feed wakes it) or the wait
//! ends.
//!
//! The gate fails closed: when the store cannot be reached the request is refused.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Approval, HoldCheck, Scope, Status, Timestamp};
use crate::store::{ApprovalStore, StoreError};
use crate::webhook::{Event, Notifier};

/// How long past a hold's wait Envoy is asked to wait for the reply, so the gate's
/// own answer (not Envoy's timeout) ends the wait.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// What the gate decided about one held request.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    /// An approval (now used) or an active grant lets the request pass.
    Pass(Approval),
    /// Held: the pending approval to quote. `note` says why a quoted approval did not
    /// apply.
    Held {
        /// The approval an approver decides.
        approval: Approval,
        /// Why the client's `x-warden-approval` did not let it pass, if it sent one.
        note: Option<String>,
    },
    /// An approver denied it while it waited.
    Denied(Approval),
    /// The approval store failed; the request is refused (fail closed).
    Unavailable(String),
}

/// The gate over the shared approval store.
#[derive(Clone)]
pub struct ApprovalGate {
    store: ApprovalStore,
    notifier: Arc<Notifier>,
}

impl std::fmt::Debug for ApprovalGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalGate")
            .field("store", &self.store.backend())
            .finish()
    }
}

impl ApprovalGate {
    /// A gate over `store` that announces new holds through `notifier`.
    pub fn new(store: ApprovalStore, notifier: Arc<Notifier>) -> ApprovalGate {
        ApprovalGate { store, notifier }
    }

    /// The store.
    pub fn store(&self) -> &ApprovalStore {
        &self.store
    }

    /// Decides about a held request. `extend_deadline` asks Envoy to wait longer for
    /// the reply (called before a wait-mode pause; it returns false when the stream
    /// is gone).
    pub async fn resolve<F, Fut>(&self, check: &HoldCheck, extend_deadline: &F) -> Resolution
    where
        F: Fn(Duration) -> Fut + Sync,
        Fut: Future<Output = bool> + Send,
    {
        match self.try_resolve(check, extend_deadline).await {
            Ok(resolution) => resolution,
            Err(err) => {
                tracing::error!(
                    request_id = %check.hold.request_id,
                    error = %err,
                    "approval store failed; refusing the held request"
                );
                Resolution::Unavailable(err.to_string())
            }
        }
    }

    async fn try_resolve<F, Fut>(
        &self,
        check: &HoldCheck,
        extend_deadline: &F,
    ) -> Result<Resolution, StoreError>
    where
        F: Fn(Duration) -> Fut + Sync,
        Fut: Future<Output = bool> + Send,
    {
        let now = Timestamp::now();
        let subject = check.hold.requester.subject.as_str();
        let fingerprint = &check.hold.operation.fingerprint;
        let request_id = check.hold.request_id.as_str();

        if let Some(grant) = self
            .store
            .active_grant(subject, &check.spec.scope, now)
            .await?
        {
            return Ok(Resolution::Pass(grant));
        }
        let mut note = None;
        if let Some(quoted) = &check.quoted_approval {
            let id = super::ApprovalId(quoted.clone());
            match self
                .store
                .take_by_id(&id, subject, fingerprint, request_id, now)
                .await?
            {
                Some(approval) => {
                    self.notifier.notify(Event::Used, &approval);
                    return Ok(Resolution::Pass(approval));
                }
                None => note = Some(quoted_note(self.store.get(&id).await?, quoted, subject)),
            }
        }
        if let Some(approval) = self
            .store
            .take_approved(subject, fingerprint, request_id, now)
            .await?
        {
            self.notifier.notify(Event::Used, &approval);
            return Ok(Resolution::Pass(approval));
        }

        // Subscribe before opening, so a decision made right after cannot be missed.
        let mut changes = self.store.subscribe();
        let (approval, created) = self.store.open_hold(check.hold.clone(), now).await?;
        if created {
            tracing::info!(
                request_id,
                approval_id = %approval.id,
                rule = %approval.rule,
                subject,
                operation = %approval.operation.summary,
                "held for approval"
            );
            self.notifier.notify(Event::HoldCreated, &approval);
        }
        let Some(wait_seconds) = check.spec.rules.wait_seconds else {
            return Ok(Resolution::Held { approval, note });
        };

        let wait = Duration::from_secs(wait_seconds);
        if !extend_deadline(wait + DEADLINE_MARGIN).await {
            return Ok(Resolution::Held { approval, note });
        }
        let deadline = tokio::time::Instant::now() + wait;
        let id = approval.id.clone();
        loop {
            let current = match self.store.get(&id).await? {
                Some(current) => current,
                None => return Ok(Resolution::Held { approval, note }),
            };
            match current.status {
                Status::Approved => {
                    let taken = match current.scope {
                        Scope::Grant { .. } => Some(current),
                        Scope::Operation => {
                            self.store
                                .take_by_id(&id, subject, fingerprint, request_id, Timestamp::now())
                                .await?
                        }
                    };
                    if let Some(taken) = taken {
                        if taken.scope == Scope::Operation {
                            self.notifier.notify(Event::Used, &taken);
                        }
                        return Ok(Resolution::Pass(taken));
                    }
                    // Another request used it first: held again.
                    return Ok(Resolution::Held {
                        approval: self.store.get(&id).await?.unwrap_or(approval),
                        note,
                    });
                }
                Status::Denied => return Ok(Resolution::Denied(current)),
                Status::Pending => {}
                _ => {
                    return Ok(Resolution::Held {
                        approval: current,
                        note,
                    })
                }
            }
            // Wait for any change to this approval, or the end of the wait.
            loop {
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Err(_elapsed) => {
                        let approval = self.store.get(&id).await?.unwrap_or(current);
                        return Ok(Resolution::Held { approval, note });
                    }
                    Ok(Ok(change)) if change.id == id => break,
                    Ok(Ok(_other)) => continue,
                    // Missed some changes: look again.
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => break,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                        return Ok(Resolution::Held {
                            approval: current,
                            note,
                        })
                    }
                }
            }
        }
    }
}

/// Why a quoted approval did not let the request pass, in words for the agent.
fn quoted_note(found: Option<Approval>, quoted: &str, subject: &str) -> String {
    match found {
        None => format!("approval {quoted} does not exist"),
        Some(a) if a.requester.subject != subject => {
            format!("approval {quoted} was asked for by another identity")
        }
        Some(a) if a.status == Status::Approved => format!(
            "approval {quoted} covers a different operation; retry exactly the request that was held"
        ),
        Some(a) => format!("approval {quoted} is {}", a.status.name()),
    }
}
