//! Holds and approvals: what a held operation is, who may decide it, and when a retry
//! may pass.
//!
//! Everything here is pure: an [`Approval`] is a plain value, and every change to it
//! ([`Approval::vote`], [`Approval::take`], [`Approval::expire`], [`Approval::revoke`])
//! is a function of the value, the actor and the time. The store
//! ([`crate::store`]) persists approvals and runs these functions inside its
//! transactions; the gate ([`gate`]) asks the store at request time.
//!
//! # Lifecycle
//!
//! ```text
//!             vote (N of M approvers)            retry of the same operation
//!  pending ─────────────────────────────▶ approved ───────────────────────────▶ used
//!     │  ╲ vote deny                          │  ╲ valid_until passes
//!     │   ╲─────────▶ denied                   │   ╲────────▶ expired
//!     │ expires_at passes                     │ revoke (grants and unused approvals)
//!     ╰──────────────▶ expired                 ╰──────────▶ revoked
//! ```
//!
//! An approval is bound to the requester's identity and to a [`Fingerprint`] of the
//! operation: a different operation, another identity, or a second use is held again.
//! A *grant* ([`Scope::Grant`]) instead covers every request of that identity that the
//! same hold scope would stop, until it ends or is revoked.

pub mod fingerprint;
pub mod gate;
pub mod hold;
mod time;

use serde::{Deserialize, Serialize};

pub use fingerprint::{fold_header_pattern, Fingerprint};
pub use hold::{HoldCheck, APPROVAL_HEADER};
pub use time::{parse_duration, Timestamp};

/// Identifier of one approval request (`apr-` + a UUIDv7, sortable by creation).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApprovalId(pub String);

impl ApprovalId {
    /// A new, unique id.
    pub fn generate() -> ApprovalId {
        ApprovalId(format!("apr-{}", uuid::Uuid::now_v7().simple()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for approvers.
    Pending,
    /// Approved: the retry may pass (once), or the grant is active, until `valid_until`.
    Approved,
    /// An approver denied it.
    Denied,
    /// Nobody decided in time, or an approval was not used in time.
    Expired,
    /// The approved operation passed (single use).
    Used,
    /// Revoked by an approver before it was used or before the grant ended.
    Revoked,
}

impl Status {
    /// The lowercase name (`pending`, `approved`, ...), as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Expired => "expired",
            Status::Used => "used",
            Status::Revoked => "revoked",
        }
    }

    /// Parses a name as given by [`Status::name`].
    pub fn parse(name: &str) -> Option<Status> {
        Some(match name {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "denied" => Status::Denied,
            "expired" => Status::Expired,
            "used" => Status::Used,
            "revoked" => Status::Revoked,
            _ => return None,
        })
    }

    /// True once nothing can change it any more.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Pending | Status::Approved)
    }
}

/// Who asked: the identity the held request carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// Subject (`sub` or SPIFFE id); `anonymous` when the request carried none.
    pub subject: String,
    /// Issuer (`spiffe://<trust domain>` for mesh identities); empty when anonymous.
    #[serde(default)]
    pub issuer: String,
    /// Groups at the time of the request.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `agent` or `human`.
    #[serde(default)]
    pub kind: String,
    /// The parties the requester acts for (its token's `act` chain): a person an
    /// agent acts for is a requester too, and may not approve the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acting_for: Vec<String>,
}

/// Who decides: an authenticated approver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// Subject.
    pub subject: String,
    /// Issuer.
    #[serde(default)]
    pub issuer: String,
    /// Groups (checked against [`ApprovalRules::approver_groups`]).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// What was held, for people: shown in the CLI, console, webhooks and the reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Effective method (an override header counts).
    pub method: String,
    /// Host the request was for.
    pub host: String,
    /// Normalised path.
    pub path: String,
    /// One line describing the operation, e.g. `kubernetes delete pods/web-1 in prod`.
    pub summary: String,
    /// The fingerprint the retry must match.
    pub fingerprint: Fingerprint,
}

/// What an approval covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scope {
    /// One retry of the same operation by the same identity.
    Operation,
    /// Time-bound access: every request of the identity that this hold scope would
    /// stop passes until the grant ends.
    Grant {
        /// The hold scope (a rule's `approval.scope`, by default the rule id).
        scope: String,
        /// How long the grant lasts once approved, in seconds.
        duration_seconds: u64,
    },
}

/// How an approval is decided: from the hold rule's `approval` settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRules {
    /// Groups whose members may approve or deny. Empty: nobody can (a configuration
    /// error the policy loader refuses, kept here as "deny by default").
    pub approver_groups: Vec<String>,
    /// Distinct approvals needed (N of M).
    pub required: u32,
    /// Approvers must say why.
    pub justification_required: bool,
    /// A pending request not decided within this many seconds expires.
    pub pending_seconds: u64,
    /// An approved operation must be retried within this many seconds.
    pub use_within_seconds: u64,
    /// Wait mode: keep the request paused up to this many seconds for a decision.
    pub wait_seconds: Option<u64>,
    /// Request headers that are part of the operation: the approved retry must send
    /// them with the same values (names compared folded, `*` a wildcard). Always
    /// includes [`DEFAULT_BOUND_HEADERS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind_headers: Vec<String>,
}

/// Headers that commonly choose what an operation acts on or how its body is read, so
/// an approval binds them whatever the policy says: the database, schema or tenant a
/// request addresses (`x-database: staging` approved must not pass as `prod`), a
/// Kubernetes impersonation, a WebDAV destination, an RPC action named in a header,
/// PostgREST's schema profiles and transaction preferences, the body's media type.
pub const DEFAULT_BOUND_HEADERS: &[&str] = &[
    "content-type",
    "prefer",
    "destination",
    "overwrite",
    "depth",
    "soapaction",
    "x-amz-target",
    "accept-profile",
    "content-profile",
    "impersonate-*",
    "*database*",
    "*schema*",
    "*tenant*",
    "*namespace*",
    "*catalog*",
    "*warehouse*",
    "*-db",
];

impl Default for ApprovalRules {
    fn default() -> Self {
        ApprovalRules {
            approver_groups: vec!["approvers".into()],
            required: 1,
            justification_required: false,
            pending_seconds: 3600,
            use_within_seconds: 900,
            wait_seconds: None,
            bind_headers: DEFAULT_BOUND_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
        }
    }
}

/// An approver's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Let it pass.
    Approve,
    /// Refuse it.
    Deny,
}

/// One recorded decision: who, when, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Approve or deny (a revocation is recorded as a deny in [`Approval::revoked`]).
    pub verdict: Verdict,
    /// Who.
    pub by: Approver,
    /// When.
    pub at: Timestamp,
    /// Why (required when the rule says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
}

/// One approval request and everything that happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Its id (what the agent, the approver and the audit record quote).
    pub id: ApprovalId,
    /// Where it stands.
    pub status: Status,
    /// Who asked.
    pub requester: Requester,
    /// What was held.
    pub operation: Operation,
    /// One operation or a grant.
    pub scope: Scope,
    /// The hold rule.
    pub rule: String,
    /// The rule's reason.
    pub reason: String,
    /// Content hash of the policy that held it.
    pub policy_hash: String,
    /// How it is decided.
    pub rules: ApprovalRules,
    /// The request that was first held (Warden's request id).
    pub request_id: String,
    /// When it was first held.
    pub created_at: Timestamp,
    /// When a pending request expires.
    pub expires_at: Timestamp,
    /// Decisions so far, in order.
    #[serde(default)]
    pub votes: Vec<Vote>,
    /// When it was approved or denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// Once approved: the retry (or the grant) is valid until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    /// When the approved operation passed, and as which request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<Use>,
    /// Who revoked it, when, why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Vote>,
    /// When it expired (undecided in time, or approved and not used in time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<Timestamp>,
}

/// The single use of an approved operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Use {
    /// When.
    pub at: Timestamp,
    /// Warden's id of the request that passed.
    pub request_id: String,
}

/// Everything needed to open an approval for a held request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHold {
    /// Who asked.
    pub requester: Requester,
    /// What was held.
    pub operation: Operation,
    /// One operation or a grant.
    pub scope: Scope,
    /// The hold rule.
    pub rule: String,
    /// The rule's reason.
    pub reason: String,
    /// Content hash of the policy.
    pub policy_hash: String,
    /// How it is decided.
    pub rules: ApprovalRules,
    /// The held request's id.
    pub request_id: String,
}

/// Why a change to an approval was refused. The messages are shown to approvers as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// The approval is no longer pending.
    #[error("approval {id} is {status}, not pending: nothing left to decide")]
    NotPending {
        /// The approval.
        id: ApprovalId,
        /// Its status.
        status: &'static str,
    },
    /// The pending request ran out of time (it is now expired).
    #[error("approval {0} expired before it was decided; the agent must ask again")]
    Expired(ApprovalId),
    /// The requester, or a person the requester acts for, tried to decide the request.
    #[error(
        "{subject} is a party to approval {id} (the requester, or the person the requester \
         acts for) and cannot decide it: another approver must"
    )]
    SelfApproval {
        /// The approval.
        id: ApprovalId,
        /// The requester.
        subject: String,
    },
    /// The approver is in none of the approver groups.
    #[error("{subject} is not in an approver group for approval {id} (needs one of: {groups})")]
    NotAnApprover {
        /// The approval.
        id: ApprovalId,
        /// The approver.
        subject: String,
        /// The groups that may decide, comma-separated.
        groups: String,
    },
    /// The rule requires a justification and none was given.
    #[error("approval {0} requires a justification: say why (--reason)")]
    JustificationRequired(ApprovalId),
    /// The approver already approved.
    #[error(
        "{subject} already approved {id}; it needs {needed} more approval(s) from other approvers"
    )]
    AlreadyVoted {
        /// The approval.
        id: ApprovalId,
        /// The approver.
        subject: String,
        /// Approvals still needed.
        needed: u32,
    },
    /// Only approved or pending approvals can be revoked.
    #[error("approval {id} is {status}: only pending or approved ones can be revoked")]
    NotRevocable {
        /// The approval.
        id: ApprovalId,
        /// Its status.
        status: &'static str,
    },
}

impl Approval {
    /// A new pending approval for a held request.
    pub fn open(hold: NewHold, id: ApprovalId, now: Timestamp) -> Approval {
        let expires_at = now.plus_seconds(hold.rules.pending_seconds);
        Approval {
            id,
            status: Status::Pending,
            requester: hold.requester,
            operation: hold.operation,
            scope: hold.scope,
            rule: hold.rule,
            reason: hold.reason,
            policy_hash: hold.policy_hash,
            rules: hold.rules,
            request_id: hold.request_id,
            created_at: now,
            expires_at,
            votes: Vec::new(),
            decided_at: None,
            valid_until: None,
            used: None,
            revoked: None,
            expired_at: None,
        }
    }

    /// Distinct approvers who approved so far.
    pub fn approvals(&self) -> u32 {
        let mut seen: Vec<&str> = Vec::new();
        for vote in &self.votes {
            if vote.verdict == Verdict::Approve && !seen.contains(&vote.by.subject.as_str()) {
                seen.push(&vote.by.subject);
            }
        }
        u32::try_from(seen.len()).unwrap_or(u32::MAX)
    }

    /// Marks a request that ran out of time as expired. Returns true when it changed:
    /// a pending one past `expires_at`, or an approved one not used by `valid_until`.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        let due = match self.status {
            Status::Pending => now >= self.expires_at,
            Status::Approved => self.valid_until.is_some_and(|until| now >= until),
            _ => false,
        };
        if due {
            self.status = Status::Expired;
            self.expired_at = Some(now);
        }
        due
    }

    /// Records an approver's decision. One deny decides; `required` distinct approvals
    /// approve. The requester can never decide their own request.
    pub fn vote(
        &mut self,
        by: &Approver,
        verdict: Verdict,
        justification: Option<&str>,
        now: Timestamp,
    ) -> Result<(), ApprovalError> {
        if self.expire(now) {
            return Err(ApprovalError::Expired(self.id.clone()));
        }
        if self.status != Status::Pending {
            return Err(ApprovalError::NotPending {
                id: self.id.clone(),
                status: self.status.name(),
            });
        }
        if same_person(&self.requester, by) {
            return Err(ApprovalError::SelfApproval {
                id: self.id.clone(),
                subject: by.subject.clone(),
            });
        }
        self.check_approver(by)?;
        let justification = justification.map(str::trim).filter(|j| !j.is_empty());
        if self.rules.justification_required && justification.is_none() {
            return Err(ApprovalError::JustificationRequired(self.id.clone()));
        }
        if verdict == Verdict::Approve
            && self
                .votes
                .iter()
                .any(|v| v.verdict == Verdict::Approve && v.by.subject == by.subject)
        {
            return Err(ApprovalError::AlreadyVoted {
                id: self.id.clone(),
                subject: by.subject.clone(),
                needed: self.rules.required.saturating_sub(self.approvals()),
            });
        }
        self.votes.push(Vote {
            verdict,
            by: by.clone(),
            at: now,
            justification: justification.map(str::to_string),
        });
        match verdict {
            Verdict::Deny => {
                self.status = Status::Denied;
                self.decided_at = Some(now);
            }
            Verdict::Approve if self.approvals() >= self.rules.required.max(1) => {
                self.status = Status::Approved;
                self.decided_at = Some(now);
                let lasts = match &self.scope {
                    Scope::Operation => self.rules.use_within_seconds,
                    Scope::Grant {
                        duration_seconds, ..
                    } => *duration_seconds,
                };
                self.valid_until = Some(now.plus_seconds(lasts));
            }
            Verdict::Approve => {}
        }
        Ok(())
    }

    /// Refuses an approver in none of the approver groups.
    fn check_approver(&self, by: &Approver) -> Result<(), ApprovalError> {
        if by
            .groups
            .iter()
            .any(|g| self.rules.approver_groups.contains(g))
        {
            return Ok(());
        }
        Err(ApprovalError::NotAnApprover {
            id: self.id.clone(),
            subject: by.subject.clone(),
            groups: self.rules.approver_groups.join(", "),
        })
    }

    /// True when this approval lets `subject` perform the operation with `fingerprint`
    /// now, without using it up.
    pub fn covers(&self, subject: &str, fingerprint: &Fingerprint, now: Timestamp) -> bool {
        self.status == Status::Approved
            && self.scope == Scope::Operation
            && self.requester.subject == subject
            && &self.operation.fingerprint == fingerprint
            && self.valid_until.is_some_and(|until| now < until)
    }

    /// Uses an approved operation for the retry `request_id` (single use). False when
    /// it does not cover this operation by this identity now.
    pub fn take(
        &mut self,
        subject: &str,
        fingerprint: &Fingerprint,
        request_id: &str,
        now: Timestamp,
    ) -> bool {
        if !self.covers(subject, fingerprint, now) {
            return false;
        }
        self.status = Status::Used;
        self.used = Some(Use {
            at: now,
            request_id: request_id.to_string(),
        });
        true
    }

    /// True when this is an active grant for `subject` over the hold scope `scope`.
    pub fn grants(&self, subject: &str, scope: &str, now: Timestamp) -> bool {
        self.status == Status::Approved
            && self.requester.subject == subject
            && matches!(&self.scope, Scope::Grant { scope: s, .. } if s == scope)
            && self.valid_until.is_some_and(|until| now < until)
    }

    /// Revokes a pending request, an unused approval or an active grant.
    pub fn revoke(
        &mut self,
        by: &Approver,
        justification: Option<&str>,
        now: Timestamp,
    ) -> Result<(), ApprovalError> {
        self.expire(now);
        if self.status.is_final() {
            return Err(ApprovalError::NotRevocable {
                id: self.id.clone(),
                status: self.status.name(),
            });
        }
        self.check_approver(by)?;
        self.status = Status::Revoked;
        self.revoked = Some(Vote {
            verdict: Verdict::Deny,
            by: by.clone(),
            at: now,
            justification: justification.map(str::to_string),
        });
        Ok(())
    }
}

/// The approver is a party to the request when their subject is the requester's, or
/// one the requester acts for (an agent acting for alice cannot have alice approve
/// it), whatever the issuer: one person can hold tokens from the mesh and from the
/// IdP, and refusing a namesake is the safe mistake.
fn same_person(requester: &Requester, approver: &Approver) -> bool {
    requester.subject == approver.subject
        || requester.acting_for.iter().any(|s| *s == approver.subject)
}

#[cfg(test)]
mod tests;
