//! Holds between the pure pipeline and the shells: a [`Step::Hold`] goes to the
//! approval gate, and comes back as the allowed changes or a hold reply.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::reply::{self, ApprovalNotice, Notice, NoticeKind};
use super::{Exchange, LocalReply, Outcome, Pipeline, Step};
use crate::approval::gate::{ApprovalGate, Resolution};
use crate::approval::{Approval, HoldCheck, Scope, Timestamp, Verdict};
use crate::audit::ApprovalRecord;

impl Pipeline {
    /// Adds the approval gate: held requests pass when an approval or grant covers
    /// them. Without it every hold is answered as held, with no way to approve it.
    pub fn with_approvals(mut self, gate: Arc<ApprovalGate>) -> Pipeline {
        self.approvals = Some(gate);
        self
    }

    /// Resolves a held outcome: `Step::Hold` becomes the allowed changes (an approval
    /// or grant covers the request) or a reply. Other outcomes are returned as they
    /// are. `extend_deadline` asks Envoy to wait longer (wait mode).
    pub async fn resolve_hold<F, Fut>(
        &self,
        exchange: &mut Exchange,
        outcome: Outcome,
        extend_deadline: &F,
    ) -> Outcome
    where
        F: Fn(Duration) -> Fut + Sync,
        Fut: Future<Output = bool> + Send,
    {
        let Step::Hold(held) = outcome.step else {
            return outcome;
        };
        let mut metadata = outcome.metadata;
        let resolution = match &self.approvals {
            Some(gate) => gate.resolve(&held.check, extend_deadline).await,
            None => Resolution::Unavailable(
                "no approval store is configured (approvals.store), so holds cannot be approved"
                    .into(),
            ),
        };
        if let Some(record) = approval_record(&resolution) {
            exchange.note_approval(record);
        }
        let step = match resolution {
            Resolution::Pass(approval) => {
                tracing::info!(
                    request_id = exchange.id(),
                    approval_id = %approval.id,
                    "held request passes: approved"
                );
                set_metadata(&mut metadata, "decision", "allow".into());
                set_metadata(&mut metadata, "approval_id", approval.id.to_string());
                set_metadata(&mut metadata, "approved_by", approvers(&approval));
                Step::Continue(held.if_approved)
            }
            Resolution::Held { approval, note } => {
                set_metadata(&mut metadata, "approval_id", approval.id.to_string());
                let waited = held.check.spec.rules.wait_seconds;
                Step::Reply(notice_reply(
                    &held.check,
                    &approval,
                    NoticeKind::Hold,
                    note.as_deref(),
                    waited,
                    exchange.id(),
                ))
            }
            Resolution::Denied(approval) => {
                set_metadata(&mut metadata, "decision", "deny".into());
                set_metadata(&mut metadata, "approval_id", approval.id.to_string());
                Step::Reply(notice_reply(
                    &held.check,
                    &approval,
                    NoticeKind::Deny,
                    None,
                    None,
                    exchange.id(),
                ))
            }
            Resolution::Unavailable(why) => Step::Reply(LocalReply::json_error(
                503,
                "approvals_unavailable",
                &format!(
                    "this request is held for approval ({}), but Warden cannot record \
                     approvals right now: {why}. Retry later",
                    held.check.decision.reason
                ),
                exchange.id(),
            )),
        };
        exchange.note_step(&step);
        Outcome { step, metadata }
    }
}

/// The audit's view of the approval a resolution quotes.
fn approval_record(resolution: &Resolution) -> Option<ApprovalRecord> {
    let approval = match resolution {
        Resolution::Pass(a) | Resolution::Held { approval: a, .. } | Resolution::Denied(a) => a,
        Resolution::Unavailable(_) => return None,
    };
    Some(ApprovalRecord {
        id: approval.id.to_string(),
        status: approval.status.name().to_string(),
        requested_by: approval.requester.subject.clone(),
        approvers: approval
            .votes
            .iter()
            .filter(|v| v.verdict == Verdict::Approve)
            .map(|v| v.by.subject.clone())
            .collect(),
        denied_by: approval
            .votes
            .iter()
            .find(|v| v.verdict == Verdict::Deny)
            .map(|v| v.by.subject.clone()),
    })
}

fn set_metadata(metadata: &mut Vec<(&'static str, String)>, key: &'static str, value: String) {
    match metadata.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => metadata.push((key, value)),
    }
}

/// The approvers of an approval, comma-separated.
fn approvers(approval: &Approval) -> String {
    approval
        .votes
        .iter()
        .map(|v| v.by.subject.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The reply for a held or denied request, quoting its approval.
fn notice_reply(
    check: &HoldCheck,
    approval: &Approval,
    kind: NoticeKind,
    note: Option<&str>,
    waited_seconds: Option<u64>,
    request_id: &str,
) -> LocalReply {
    let now = Timestamp::now();
    let mut notice = Notice::policy(&check.decision, request_id, &check.facts);
    notice.decision = kind;
    if let Some(note) = note {
        notice.reason = format!("{} ({note})", notice.reason);
    }
    if kind == NoticeKind::Deny {
        // Say who denied it and why, with the approval to quote.
        if let Some(vote) = approval
            .votes
            .iter()
            .rev()
            .find(|v| v.verdict == Verdict::Deny)
        {
            let why = vote
                .justification
                .as_deref()
                .map(|j| format!(": {j}"))
                .unwrap_or_default();
            notice.reason = format!(
                "{} (approval {} was denied by {}{why})",
                notice.reason, approval.id, vote.by.subject
            );
        }
    }
    notice.approval = Some(ApprovalNotice {
        id: approval.id.to_string(),
        status: approval.status.name().to_string(),
        expires_at: approval.expires_at.rfc3339(),
        approver_groups: approval.rules.approver_groups.clone(),
        required: approval.rules.required,
        // Agents that poll: often enough to catch a quick approval, never hammering.
        retry_after_seconds: now.seconds_until(approval.expires_at).clamp(1, 30),
        grant_seconds: match &approval.scope {
            Scope::Grant {
                duration_seconds, ..
            } => Some(*duration_seconds),
            Scope::Operation => None,
        },
        waited_seconds,
    });
    reply::render(&notice, &check.facts, check.body.as_deref())
}
