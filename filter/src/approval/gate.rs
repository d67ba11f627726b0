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
use crate::store::{ApprovalStore, ListFilter, StoreError};
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
    /// An approver denied it (while it waited, or recently enough that the denial
    /// still stands).
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

        // A denial stands for the rule's pending lifetime: retrying the same operation
        // then is answered as denied instead of asking the approvers again.
        let denials = ListFilter {
            status: Some(Status::Denied),
            subject: Some(subject.to_string()),
            limit: Some(50),
        };
        if let Some(denied) = self.store.list(&denials).await?.into_iter().find(|a| {
            &a.operation.fingerprint == fingerprint
                && a.decided_at
                    .is_some_and(|at| now < at.plus_seconds(a.rules.pending_seconds))
        }) {
            return Ok(Resolution::Denied(denied));
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::approval::{
        ApprovalId, ApprovalRules, Approver, Fingerprint, NewHold, Operation, Requester, Verdict,
    };
    use crate::policy::{Action, HoldSpec, PolicyDecision};

    fn check(
        subject: &str,
        fingerprint: &str,
        rules: ApprovalRules,
        grant: Option<u64>,
    ) -> HoldCheck {
        let spec = HoldSpec {
            rules: rules.clone(),
            scope: "hold-deletes".into(),
            grant_seconds: grant,
        };
        HoldCheck {
            decision: PolicyDecision {
                decision: Action::Hold,
                rule: Some("hold-deletes".into()),
                reason: "deletes need a human".into(),
                status: 403,
                observed: Vec::new(),
                effects: Default::default(),
                policy_hash: "sha256:p".into(),
                hold: Some(spec.clone()),
            },
            hold: NewHold {
                requester: Requester {
                    subject: subject.into(),
                    issuer: "https://idp".into(),
                    groups: vec!["agents".into()],
                    kind: "agent".into(),
                    acting_for: Vec::new(),
                },
                operation: Operation {
                    method: "DELETE".into(),
                    host: "api".into(),
                    path: "/items/7".into(),
                    summary: "DELETE api/items/7".into(),
                    fingerprint: Fingerprint(fingerprint.into()),
                },
                scope: match grant {
                    Some(duration_seconds) => Scope::Grant {
                        scope: "hold-deletes".into(),
                        duration_seconds,
                    },
                    None => Scope::Operation,
                },
                rule: "hold-deletes".into(),
                reason: "deletes need a human".into(),
                policy_hash: "sha256:p".into(),
                rules,
                request_id: "req".into(),
            },
            spec,
            quoted_approval: None,
            facts: Default::default(),
            body: None,
        }
    }

    fn alice() -> Approver {
        Approver {
            subject: "alice".into(),
            issuer: String::new(),
            groups: vec!["approvers".into()],
        }
    }

    async fn gate() -> ApprovalGate {
        let store = ApprovalStore::open("sqlite::memory:").await.unwrap();
        ApprovalGate::new(store, Arc::new(Notifier::disabled()))
    }

    async fn no_extension(_: Duration) -> bool {
        panic!("only wait mode extends the deadline")
    }

    async fn approve(gate: &ApprovalGate, id: &ApprovalId) {
        gate.store()
            .update(id, |a| {
                a.vote(&alice(), Verdict::Approve, None, Timestamp::now())
            })
            .await
            .unwrap()
            .unwrap();
    }

    fn held_id(resolution: &Resolution) -> ApprovalId {
        match resolution {
            Resolution::Held { approval, .. } => approval.id.clone(),
            other => panic!("expected held, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_approval_lets_the_same_operation_pass_once() {
        let gate = gate().await;
        let held = check("agent-1", "sha256:a", ApprovalRules::default(), None);
        let first = held_id(&gate.resolve(&held, &no_extension).await);
        let again = held_id(&gate.resolve(&held, &no_extension).await);
        assert_eq!(
            first, again,
            "one pending approval per identity and operation"
        );

        approve(&gate, &first).await;
        let other_op = check("agent-1", "sha256:b", ApprovalRules::default(), None);
        let other_id = held_id(&gate.resolve(&other_op, &no_extension).await);
        assert_ne!(other_id, first, "another operation is not covered");
        let other_agent = check("agent-2", "sha256:a", ApprovalRules::default(), None);
        held_id(&gate.resolve(&other_agent, &no_extension).await);

        match gate.resolve(&held, &no_extension).await {
            Resolution::Pass(a) => assert_eq!(a.id, first),
            other => panic!("expected pass, got {other:?}"),
        }
        let next = held_id(&gate.resolve(&held, &no_extension).await);
        assert_ne!(next, first, "a second use is held again, as a new request");
    }

    #[tokio::test]
    async fn a_quoted_approval_for_another_operation_is_explained() {
        let gate = gate().await;
        let first = check("agent-1", "sha256:a", ApprovalRules::default(), None);
        let id = held_id(&gate.resolve(&first, &no_extension).await);
        approve(&gate, &id).await;
        let mut other = check("agent-1", "sha256:b", ApprovalRules::default(), None);
        other.quoted_approval = Some(id.to_string());
        match gate.resolve(&other, &no_extension).await {
            Resolution::Held {
                note: Some(note), ..
            } => {
                assert!(note.contains("different operation"), "{note}")
            }
            other => panic!("expected held with a note, got {other:?}"),
        }
        // The quoted approval was not used up by the mismatch.
        let mut right = check("agent-1", "sha256:a", ApprovalRules::default(), None);
        right.quoted_approval = Some(id.to_string());
        assert!(matches!(
            gate.resolve(&right, &no_extension).await,
            Resolution::Pass(_)
        ));
    }

    #[tokio::test]
    async fn a_grant_lets_every_request_in_its_scope_pass_until_revoked() {
        let gate = gate().await;
        let held = check("agent-1", "sha256:a", ApprovalRules::default(), Some(1800));
        let id = held_id(&gate.resolve(&held, &no_extension).await);
        approve(&gate, &id).await;
        let other_op = check(
            "agent-1",
            "sha256:other",
            ApprovalRules::default(),
            Some(1800),
        );
        for c in [&held, &other_op, &held] {
            assert!(matches!(
                gate.resolve(c, &no_extension).await,
                Resolution::Pass(_)
            ));
        }
        gate.store()
            .update(&id, |a| a.revoke(&alice(), Some("done"), Timestamp::now()))
            .await
            .unwrap()
            .unwrap();
        held_id(&gate.resolve(&held, &no_extension).await);
    }

    #[tokio::test]
    async fn wait_mode_continues_when_an_approver_decides() {
        let gate = gate().await;
        let rules = ApprovalRules {
            wait_seconds: Some(60),
            ..ApprovalRules::default()
        };
        let held = check("agent-1", "sha256:a", rules.clone(), None);
        let extended = Arc::new(AtomicU32::new(0));
        let mut changes = gate.store().subscribe();
        let waiting = {
            let gate = gate.clone();
            let extended = Arc::clone(&extended);
            tokio::spawn(async move {
                let extend = |wait: Duration| {
                    let extended = Arc::clone(&extended);
                    async move {
                        extended
                            .store(u32::try_from(wait.as_secs()).unwrap_or(0), Ordering::SeqCst);
                        true
                    }
                };
                gate.resolve(&held, &extend).await
            })
        };
        // The pending approval appears; an approver approves it.
        let change = changes.recv().await.unwrap();
        assert_eq!(change.status, Status::Pending);
        approve(&gate, &change.id).await;
        match waiting.await.unwrap() {
            Resolution::Pass(a) => {
                assert_eq!(a.id, change.id);
                assert_eq!(a.status, Status::Used, "the paused request used it");
            }
            other => panic!("expected pass, got {other:?}"),
        }
        assert_eq!(
            extended.load(Ordering::SeqCst),
            62,
            "Envoy asked to wait past the hold's wait"
        );

        // A denial ends the wait with a denial.
        let held = check("agent-1", "sha256:b", rules, None);
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.resolve(&held, &|_| async { true }).await })
        };
        let change = loop {
            let change = changes.recv().await.unwrap();
            if change.status == Status::Pending {
                break change;
            }
        };
        gate.store()
            .update(&change.id, |a| {
                a.vote(&alice(), Verdict::Deny, Some("no"), Timestamp::now())
            })
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(waiting.await.unwrap(), Resolution::Denied(_)));
        // The denial stands: the same operation is answered as denied, at once.
        let retry = check("agent-1", "sha256:b", ApprovalRules::default(), None);
        match gate.resolve(&retry, &no_extension).await {
            Resolution::Denied(a) => assert_eq!(a.id, change.id),
            other => panic!("expected the standing denial, got {other:?}"),
        }
        // Another operation is not affected.
        let other = check("agent-1", "sha256:c", ApprovalRules::default(), None);
        held_id(&gate.resolve(&other, &no_extension).await);
    }
}
