//! What the audit writer needs of an exchange once it ended, and nothing more.
//!
//! A finished exchange waits in the audit queue until the writer takes it. Whatever
//! waits there is memory the data path cannot reuse for the next request (it is freed
//! later, on the writer's core), so the exchange is cut down first: the fields the
//! record and the session capture read are *moved* (no copies) into this smaller
//! value, and the rest — the masking streams, the held-back bytes, the policy handle,
//! the header copies the capture does not read — is freed right away on the data path,
//! while it is still hot in the cache.

use crate::audit::{ApprovalRecord, BodyRecorder, ReplyNote};
use crate::classify::RequestFacts;
use crate::http::{Headers, RequestHead, ResponseHead};
use crate::identity::Identity;
use crate::policy::PolicyDecision;

use super::body::{BodyChoice, BodyProgress, BodyState, FindingTally};
use super::capture::CaptureNotes;
use super::{Direction, Exchange};

/// One direction's body as the record and the capture see it.
#[derive(Debug)]
pub(crate) struct FinishedBody {
    pub(crate) progress: BodyProgress,
    pub(crate) choice: BodyChoice,
    pub(crate) findings: FindingTally,
    pub(crate) capture: Option<BodyRecorder>,
}

impl From<BodyState> for FinishedBody {
    fn from(state: BodyState) -> Self {
        FinishedBody {
            progress: state.progress,
            choice: state.choice,
            findings: state.findings,
            capture: state.capture,
        }
    }
}

/// An exchange that ended, reduced to what its audit record and session capture read
/// ([`Exchange::into_finished`]).
#[derive(Debug)]
pub struct FinishedExchange {
    pub(crate) id: String,
    pub(crate) identity: Option<Identity>,
    pub(crate) request: Option<RequestHead>,
    /// How it ended ([`Exchange::outcome`]).
    pub(crate) outcome: &'static str,
    pub(crate) response: Option<ResponseHead>,
    pub(crate) request_body: FinishedBody,
    pub(crate) response_body: FinishedBody,
    pub(crate) facts: Option<RequestFacts>,
    pub(crate) policy_decision: Option<PolicyDecision>,
    pub(crate) started_at: time::OffsetDateTime,
    /// Measured when the exchange ended, not when the writer got to it.
    pub(crate) duration_us: u64,
    pub(crate) trace_parent: Option<String>,
    pub(crate) reply_note: Option<ReplyNote>,
    pub(crate) approval_note: Option<ApprovalRecord>,
    pub(crate) capture: Option<Box<CaptureNotes>>,
}

impl Exchange {
    /// Ends the exchange: keeps what the audit record and the session capture read
    /// and frees the rest now. Header values are kept only when the session capture
    /// is on (nothing else reads them).
    pub fn into_finished(self) -> FinishedExchange {
        let duration_us = self.elapsed_micros();
        let outcome = self.outcome();
        let capturing = self.capture.is_some();
        let strip = |mut head: RequestHead| {
            if !capturing {
                head.headers = Headers::default();
            }
            head
        };
        let facts = self.facts.map(|mut facts| {
            facts.headers = Headers::default();
            facts
        });
        FinishedExchange {
            id: self.id,
            identity: self.identity,
            request: self.request.map(strip),
            outcome,
            response: self.response.map(|mut head| {
                if !capturing {
                    head.headers = Headers::default();
                }
                head
            }),
            request_body: self.request_body.into(),
            response_body: self.response_body.into(),
            facts,
            policy_decision: self.policy_decision,
            started_at: self.started_at,
            duration_us,
            trace_parent: self.trace_parent,
            reply_note: self.reply_note,
            approval_note: self.approval_note,
            capture: self.capture,
        }
    }
}

impl FinishedExchange {
    /// Warden's id for the request.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The verified identity behind the request, when there was one.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The request head, when it arrived (header values only when captured).
    pub fn request(&self) -> Option<&RequestHead> {
        self.request.as_ref()
    }

    /// How it ended: the reply Warden gave (deny, hold, ...), `error`, `allow` or
    /// `incomplete` ([`Exchange::outcome`]).
    pub fn outcome(&self) -> &'static str {
        self.outcome
    }

    /// The response head, when one arrived.
    pub fn response(&self) -> Option<&ResponseHead> {
        self.response.as_ref()
    }

    /// The body in one direction.
    pub(crate) fn body(&self, direction: Direction) -> &FinishedBody {
        match direction {
            Direction::Request => &self.request_body,
            Direction::Response => &self.response_body,
        }
    }

    /// What masking found in one direction (rule ids and counts only).
    pub fn findings(&self, direction: Direction) -> &FindingTally {
        &self.body(direction).findings
    }

    /// What the classifiers found the request does.
    pub fn facts(&self) -> Option<&RequestFacts> {
        self.facts.as_ref()
    }

    /// The policy's decision, when the policy was consulted.
    pub fn policy_decision(&self) -> Option<&PolicyDecision> {
        self.policy_decision.as_ref()
    }

    /// When the exchange began.
    pub fn started_at(&self) -> time::OffsetDateTime {
        self.started_at
    }

    /// How long the exchange took, begin to end, in microseconds.
    pub fn duration_us(&self) -> u64 {
        self.duration_us
    }

    /// The `traceparent` Envoy sent, if any.
    pub fn trace_parent(&self) -> Option<&str> {
        self.trace_parent.as_deref()
    }

    /// The reply Warden gave instead of passing the request on, if it did.
    pub fn reply_note(&self) -> Option<&ReplyNote> {
        self.reply_note.as_ref()
    }

    /// The approval behind a hold, once resolved.
    pub fn approval_note(&self) -> Option<&ApprovalRecord> {
        self.approval_note.as_ref()
    }
}
