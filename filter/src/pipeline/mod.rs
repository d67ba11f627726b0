//! The per-request decision pipeline: pure functions over per-stream state.
//!
//! One [`Exchange`] lives for one HTTP request/response pair (one ext_proc stream).
//! Each phase Envoy sends becomes one call here, in order:
//!
//! ```text
//! request headers ─► decide ─► [request body] ─► [response headers] ─► [response body]
//! ```
//!
//! Every phase returns an [`Outcome`]: either let the message continue (with header or
//! body changes and, after headers, the [`PhasePlan`] for the phases still to come), or
//! answer the client directly with a [`LocalReply`]. Nothing here does I/O, so the
//! whole flow is tested without gRPC; [`crate::extproc`] and [`crate::extauthz`] only
//! translate to and from Envoy's messages.
//!
//! Masking happens in the body phases ([`body`]). Later layers plug in here too:
//! identity and policy in [`Pipeline::decide`], holds as another [`Verdict`], audit from
//! the finished exchange.

mod audit;
mod body;
mod capture;
pub use capture::capture_of;
mod finished;
pub use finished::FinishedExchange;
mod hold;
pub mod reply;

use std::sync::Arc;

pub use crate::redact::Direction;
pub use body::{BodyChoice, BodyProgress, FindingTally};

/// Envoy `details` of a body refused because its inspection ran out of time.
pub const INSPECTION_TIMEOUT_DETAILS: &str = "warden_inspection_timeout";

use crate::approval::gate::ApprovalGate;
use crate::approval::HoldCheck;
use crate::audit::{ApprovalRecord, AuditSink, AuditSlot, ReplyNote};
use crate::classify::{self, IdentityFacts, RequestFacts};
use crate::config::{BodyInspection, Config};
use crate::content::{self, Declared};
use crate::http::{RequestHead, ResponseHead};
use crate::identity::{AuthError, Authenticator, CredentialInjector, Identity, PeerAttributes};
use crate::masking::BinaryPolicy;
use crate::policy::watch::PolicyStore;
use crate::policy::{Action, Policy, PolicyDecision};
use crate::redact::Redactor;
use body::BodyState;

/// Header Warden sets on every request it lets through, so the upstream (and a test)
/// can tell a request Warden saw from one that bypassed it.
pub const REQUEST_ID_HEADER: &str = "x-warden-request-id";

/// Header on every reply Warden answers itself, naming the decision.
pub const DECISION_HEADER: &str = "x-warden-decision";

/// Prefix of the headers Warden owns; clients may not set them.
const WARDEN_HEADER_PREFIX: &str = "x-warden-";

/// How Warden wants to see one body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyMode {
    /// Not at all: the phase is skipped and costs nothing.
    Skip,
    /// Chunk by chunk as it streams (bounded memory, any size).
    Streamed,
    /// Whole, in one message, up to the buffered-body limit.
    Buffered,
}

/// Which of the remaining phases one exchange needs. Sent to Envoy as `mode_override`,
/// so a request pays only for the round trips its decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhasePlan {
    /// The request body phase.
    pub request_body: BodyMode,
    /// Whether Warden needs the response headers at all.
    pub response_headers: bool,
    /// The response body phase. Provisional until the response headers arrive:
    /// only then are the content type and length known.
    pub response_body: BodyMode,
}

impl PhasePlan {
    /// The plan for an exchange that needs nothing after the request headers.
    pub const HEADERS_ONLY: PhasePlan = PhasePlan {
        request_body: BodyMode::Skip,
        response_headers: false,
        response_body: BodyMode::Skip,
    };
}

/// What Warden decided about a request from its headers.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Let it through, or answer it here.
    pub verdict: Verdict,
    /// Which later phases Warden must see (meaningful when allowed).
    pub plan: PhasePlan,
    /// How the request body is handled (mode, masking, decoding).
    pub request_body: BodyChoice,
}

/// The verdict on one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Forward to the upstream.
    Allow,
    /// Answer the client with this reply; the upstream never sees the request.
    Deny(LocalReply),
    /// Stopped for a human's approval: the approval gate decides whether it passes
    /// (an approval or grant covers it) or is answered with a hold reply.
    Hold(Box<HoldCheck>),
}

impl Verdict {
    /// The short name used in logs, metadata and audit: `allow` or `deny`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny(_) => "deny",
            Verdict::Hold(_) => "hold",
        }
    }
}

/// A response Warden gives the client itself.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalReply {
    /// HTTP status code.
    pub status: u16,
    /// Headers to send (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Short reason for Envoy's logs (`details`), e.g. `warden_body_too_large`.
    pub details: String,
}

impl LocalReply {
    /// A JSON error reply an agent (often an LLM) can read:
    /// `{"error": {"code": ..., "message": ..., "request_id": ...}}`.
    pub fn json_error(status: u16, code: &str, message: &str, request_id: &str) -> LocalReply {
        let body = serde_json::json!({
            "error": { "code": code, "message": message, "request_id": request_id }
        });
        LocalReply {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (DECISION_HEADER.into(), "deny".into()),
                (REQUEST_ID_HEADER.into(), request_id.into()),
            ],
            body: body.to_string().into_bytes(),
            details: format!("warden_{code}"),
        }
    }
}

impl LocalReply {
    /// The reply for a policy `deny` or `hold`, in the shape the client speaks
    /// ([`reply::render`]): the rule and its reason, and the decision in
    /// `x-warden-decision`. `request_body` is the decoded request body when the
    /// decision read it (`None` for decisions taken on the headers).
    pub fn policy(
        decision: &PolicyDecision,
        request_id: &str,
        facts: &RequestFacts,
        request_body: Option<&[u8]>,
    ) -> LocalReply {
        let notice = reply::Notice::policy(decision, request_id, facts);
        reply::render(&notice, facts, request_body)
    }
}

/// Header on a policy reply naming the deciding rule.
pub const RULE_HEADER: &str = "x-warden-rule";

/// Changes to the message that continues on its way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mutation {
    /// Headers to set, replacing any existing value.
    pub set_headers: Vec<(String, String)>,
    /// Headers to add after `set_headers`, keeping the values already there: the
    /// second and later values of a header with several values, one of them masked
    /// (its first value is in `set_headers`, which replaces them all).
    pub append_headers: Vec<(String, String)>,
    /// Headers to remove.
    pub remove_headers: Vec<String>,
    /// Replacement for the body (or for this chunk, when streamed).
    pub body: Option<Vec<u8>>,
    /// The plan for the remaining phases; sent as `mode_override` after headers.
    pub plan: Option<PhasePlan>,
}

/// The result of one phase.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Let the message continue, with these changes.
    Continue(Mutation),
    /// Stop here and answer the client.
    Reply(LocalReply),
    /// Held for approval: the shell asks the approval gate, then continues with
    /// `if_approved` or answers with the gate's reply.
    Hold(Box<Held>),
}

/// A phase whose message the policy held.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    /// What the gate needs to decide.
    pub check: HoldCheck,
    /// The changes to apply when an approval or grant lets the request pass.
    pub if_approved: Mutation,
}

/// One phase's result plus what Envoy should record about the request.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Continue or reply.
    pub step: Step,
    /// Key/value pairs for Envoy's dynamic metadata (namespace `warden`), shown in
    /// access logs. Only set by the first phase.
    pub metadata: Vec<(&'static str, String)>,
}

impl Outcome {
    pub(crate) fn pass() -> Outcome {
        Outcome {
            step: Step::Continue(Mutation::default()),
            metadata: Vec::new(),
        }
    }

    pub(crate) fn reply(reply: LocalReply) -> Outcome {
        Outcome {
            step: Step::Reply(reply),
            metadata: Vec::new(),
        }
    }
}

/// A message that does not fit the exchange's state: Envoy and Warden disagree about
/// where the stream is. The shell turns it into an error status (fail closed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PipelineError {
    /// A phase arrived before the request headers.
    #[error("{0} arrived before the request headers")]
    BeforeRequestHeaders(&'static str),
    /// A phase arrived twice.
    #[error("{0} arrived twice on one stream")]
    Repeated(&'static str),
    /// A body chunk arrived after that body had ended.
    #[error("{0} chunk arrived after the body ended")]
    AfterEndOfBody(&'static str),
    /// Something the phase needs is gone (Warden is shutting down).
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
}

fn body_phase(direction: Direction) -> &'static str {
    match direction {
        Direction::Request => "request body",
        Direction::Response => "response body",
    }
}

/// Per-stream state of one HTTP exchange.
#[derive(Debug)]
pub struct Exchange {
    id: String,
    identity: Option<Identity>,
    request: Option<RequestHead>,
    decision: Option<Decision>,
    response: Option<ResponseHead>,
    request_body: BodyState,
    response_body: BodyState,
    /// What the request does, as the policy saw it.
    facts: Option<RequestFacts>,
    /// The policy that decides this request, while the decision waits for the body.
    pending_policy: Option<Arc<Policy>>,
    /// The policy's decision, once taken.
    policy_decision: Option<PolicyDecision>,
    /// Metadata of a decision taken in the request body phase, sent with that phase.
    pending_metadata: Vec<(&'static str, String)>,
    /// A streamed request body held back while the policy waits for enough of it (the
    /// command section of a git push, or the first bytes of a body whose label says
    /// little).
    withheld: Option<Withheld>,
    /// A hold decided in the request body phase, waiting to wrap that phase's outcome.
    held: Option<Box<HoldCheck>>,
    /// Wall-clock time the exchange began (for the audit record).
    started_at: time::OffsetDateTime,
    /// Monotonic start, for the exchange's duration.
    started: std::time::Instant,
    /// The `traceparent` Envoy sent with the stream, when tracing is on.
    trace_parent: Option<String>,
    /// The reply Warden gave the client itself, once it gave one.
    reply_note: Option<ReplyNote>,
    /// The approval behind a hold, once the gate resolved it.
    approval_note: Option<ApprovalRecord>,
    /// The audit queue slot this exchange's record goes into (reserved when the
    /// request headers arrive, so a record is never dropped for want of room).
    audit_slot: Option<AuditSlot>,
    /// What the session capture needs besides the heads and bodies (only when
    /// sessions are recorded).
    capture: Option<Box<capture::CaptureNotes>>,
    /// Warden failed the stream closed with an error status (a protocol error, a
    /// panic) instead of answering.
    failed: bool,
    /// When work on the current message must give up (set by the shell from Envoy's
    /// message timeout and the exchange's CPU budget; `None`: no limit).
    deadline: Option<std::time::Instant>,
    /// Time spent on this exchange's body work so far (for its CPU budget).
    body_work: std::time::Duration,
}

impl Exchange {
    /// A new exchange with the id Warden gives this request (unique per request).
    pub fn new(id: impl Into<String>) -> Exchange {
        Exchange {
            id: id.into(),
            identity: None,
            request: None,
            decision: None,
            response: None,
            request_body: BodyState::default(),
            response_body: BodyState::default(),
            facts: None,
            pending_policy: None,
            policy_decision: None,
            pending_metadata: Vec::new(),
            withheld: None,
            held: None,
            started_at: time::OffsetDateTime::now_utc(),
            started: std::time::Instant::now(),
            trace_parent: None,
            reply_note: None,
            approval_note: None,
            audit_slot: None,
            capture: None,
            failed: false,
            deadline: None,
            body_work: std::time::Duration::ZERO,
        }
    }

    /// Sets when work on the next message must give up (`None`: no limit). Masking
    /// stops at it and the message is refused (fail closed).
    pub fn set_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.deadline = deadline;
    }

    /// Adds time spent on this exchange's body work (its CPU budget).
    pub fn add_body_work(&mut self, spent: std::time::Duration) {
        self.body_work = self.body_work.saturating_add(spent);
    }

    /// Time spent on this exchange's body work so far.
    pub fn body_work(&self) -> std::time::Duration {
        self.body_work
    }

    /// True when a body message in `direction` costs more than passing it on: it is
    /// masked, or (request) the policy decision waits to classify it.
    pub fn body_needs_work(&self, direction: Direction) -> bool {
        self.body_state(direction).choice.mask
            || (direction == Direction::Request && self.pending_policy.is_some())
    }

    /// Notes that Warden failed this exchange closed with an error status (Envoy
    /// answers the client with a 5xx) rather than with a reply of its own.
    pub fn note_failure(&mut self) {
        self.failed = true;
    }

    /// How the exchange ended, as audit records and metrics name it: the reply Warden
    /// gave (`deny`, `hold`, `error`), else `error` when Warden failed it closed, else
    /// `allow` once decided (it went upstream), else `incomplete`.
    pub fn outcome(&self) -> &'static str {
        match (&self.reply_note, self.failed, &self.decision) {
            (Some(reply), _, _) => reply.outcome,
            (None, true, _) => "error",
            (None, false, Some(_)) => "allow",
            (None, false, None) => "incomplete",
        }
    }

    /// When the exchange began (wall clock, UTC).
    pub fn started_at(&self) -> time::OffsetDateTime {
        self.started_at
    }

    /// Microseconds since the exchange began.
    pub fn elapsed_micros(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Milliseconds since the exchange began.
    pub fn elapsed_millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The `traceparent` Envoy sent with the stream, if any.
    pub fn trace_parent(&self) -> Option<&str> {
        self.trace_parent.as_deref()
    }

    /// Records the `traceparent` Envoy sent with the stream.
    pub fn set_trace_parent(&mut self, value: Option<String>) {
        self.trace_parent = value;
    }

    /// The reply Warden gave the client itself, if it gave one.
    pub fn reply_note(&self) -> Option<&ReplyNote> {
        self.reply_note.as_ref()
    }

    /// The approval behind a hold, once resolved.
    pub fn approval_note(&self) -> Option<&ApprovalRecord> {
        self.approval_note.as_ref()
    }

    /// Notes what a phase's final step means for the record: a reply Warden gave.
    pub fn note_step(&mut self, step: &Step) {
        if let Step::Reply(reply) = step {
            if self.reply_note.is_none() {
                self.reply_note = Some(ReplyNote::of(reply));
                if let Some(capture) = &mut self.capture {
                    capture.note_reply(reply);
                }
            }
        }
    }

    /// Notes the approval that decided a hold.
    pub fn note_approval(&mut self, approval: ApprovalRecord) {
        self.approval_note = Some(approval);
    }

    /// Keeps the audit queue slot for this exchange's record.
    pub fn set_audit_slot(&mut self, slot: AuditSlot) {
        self.audit_slot = Some(slot);
    }

    /// Takes the audit queue slot (once: the record is sent into it).
    pub fn take_audit_slot(&mut self) -> Option<AuditSlot> {
        self.audit_slot.take()
    }

    /// What the request does (its classified facts), once known.
    pub fn facts(&self) -> Option<&RequestFacts> {
        self.facts.as_ref()
    }

    /// The policy's decision, once taken (after the request headers, or after the
    /// request body when a rule needs it).
    pub fn policy_decision(&self) -> Option<&PolicyDecision> {
        self.policy_decision.as_ref()
    }

    /// Warden's id for this request.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The verified identity behind the request, when there is one.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The request head, once it arrived.
    pub fn request(&self) -> Option<&RequestHead> {
        self.request.as_ref()
    }

    /// The decision taken at the request headers.
    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// The response head, once it arrived.
    pub fn response(&self) -> Option<&ResponseHead> {
        self.response.as_ref()
    }

    /// Progress through the body in one direction.
    pub fn body(&self, direction: Direction) -> &BodyProgress {
        &self.body_state(direction).progress
    }

    /// What masking found in the body in one direction (rule ids and counts only).
    pub fn findings(&self, direction: Direction) -> &FindingTally {
        &self.body_state(direction).findings
    }

    /// How the body in one direction is handled, once decided.
    pub fn body_choice(&self, direction: Direction) -> &BodyChoice {
        &self.body_state(direction).choice
    }

    pub(crate) fn body_state(&self, direction: Direction) -> &BodyState {
        match direction {
            Direction::Request => &self.request_body,
            Direction::Response => &self.response_body,
        }
    }

    pub(crate) fn body_state_mut(&mut self, direction: Direction) -> &mut BodyState {
        match direction {
            Direction::Request => &mut self.request_body,
            Direction::Response => &mut self.response_body,
        }
    }
}

/// Settings the pipeline needs, taken from [`Config`].
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineSettings {
    /// Default request body inspection.
    pub request_body: BodyInspection,
    /// Default response body inspection.
    pub response_body: BodyInspection,
    /// Largest body accepted in one buffered message.
    pub max_buffered_body_bytes: u64,
    /// Which bodies are masked.
    pub masking: MaskingSettings,
}

/// Which bodies are masked (only in effect when the pipeline has a [`Redactor`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskingSettings {
    /// Mask request bodies.
    pub request: bool,
    /// Mask response bodies.
    pub response: bool,
    /// Bodies that are not text.
    pub binary: BinaryPolicy,
}

impl From<&Config> for PipelineSettings {
    fn from(config: &Config) -> Self {
        PipelineSettings {
            request_body: config.inspection.request_body,
            response_body: config.inspection.response_body,
            max_buffered_body_bytes: config.limits.max_buffered_body_bytes,
            masking: MaskingSettings {
                request: config.masking.request,
                response: config.masking.response,
                binary: config.masking.binary,
            },
        }
    }
}

/// Most of a streamed git push held back while its commands are read; a command
/// section longer than this is refused as unreadable.
const MAX_WITHHELD_BYTES: usize = 1 << 20;

/// Bytes of a streamed request body held back until the policy can decide.
#[derive(Debug)]
struct Withheld {
    reason: WithholdReason,
    bytes: Vec<u8>,
}

/// Why a streamed request body is held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WithholdReason {
    /// A git push, until its ref-update commands are read.
    GitCommands,
    /// A body whose label says little (an unknown or binary type) and whose length does
    /// not let it be buffered: until its first bytes show it is binary (it then passes
    /// as `masking.binary` says, unread), else to its end (text is read whole).
    Sniff,
}

impl Withheld {
    fn new(reason: WithholdReason) -> Withheld {
        Withheld {
            reason,
            bytes: Vec::new(),
        }
    }
}

/// A git push whose body can be streamed (not compressed: a partial gzip stream
/// cannot be read, so compressed pushes are read whole).
fn is_streamable_git_push(facts: &RequestFacts, head: &RequestHead) -> bool {
    let push = facts.git.as_ref().is_some_and(|git| {
        git.request.service == classify::git::GitService::ReceivePack
            && git.request.phase == classify::git::GitPhase::Rpc
    });
    push && content::content_encoding(&head.headers).is_none()
}

/// A policy's say on masking, per direction (`None`: as configured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskOverride {
    /// Request bodies.
    pub request: Option<bool>,
    /// Response bodies.
    pub response: Option<bool>,
    /// The policy flags fields in the request body.
    pub request_fields: bool,
    /// The policy flags (or may flag) fields in the response body.
    pub response_fields: bool,
}

/// Most a compressed body may grow to when decoded, as a multiple of the buffered
/// limit: beyond it the body is refused rather than risk a decompression bomb.
const MAX_DECODE_FACTOR: u64 = 8;

/// The decision pipeline. Immutable and shared by every stream.
#[derive(Clone, Debug)]
pub struct Pipeline {
    settings: PipelineSettings,
    redactor: Option<Arc<Redactor>>,
    identity: Option<Authenticator>,
    injector: Option<Arc<CredentialInjector>>,
    policy: Option<Arc<PolicyStore>>,
    approvals: Option<Arc<ApprovalGate>>,
    audit: Option<AuditSink>,
    /// Fingerprint of the injected credentials the masker knows, so a credential file
    /// that changed is masked from the first request that injects the new value.
    known_credentials: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
    /// Headers that carry credentials in this deployment besides the usual ones (the
    /// token header, the headers upstream credentials are injected into): never
    /// captured.
    credential_headers: Arc<[String]>,
    /// Counters and histograms of the data path.
    metrics: crate::metrics::Metrics,
    /// Time limits on body work.
    body_limits: BodyWorkLimits,
    /// Where large body messages are worked on (`None`: inline, on the caller's thread).
    body_workers: Option<Arc<crate::body_workers::BodyWorkers>>,
}

/// Default [`BodyWorkLimits::event_hold`], in milliseconds: longer than the gap between
/// an LLM's tokens, far below Envoy's message timeout.
pub const DEFAULT_EVENT_HOLD_MS: u64 = 50;

/// Time limits on the work one body costs (decoding, classifying, masking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyWorkLimits {
    /// Envoy's ext_proc `message_timeout`: work on one message stops when it passes
    /// (Envoy has failed the request by then).
    pub message_timeout: std::time::Duration,
    /// Most time one exchange may spend on body work over all its messages.
    pub per_exchange: std::time::Duration,
    /// Longest a streamed body message's reply waits for the next message while
    /// events are held back because a secret may continue in the next one
    /// ([`crate::redact::BodyMasker::holds_events`]); then they go anyway.
    pub event_hold: std::time::Duration,
}

impl Default for BodyWorkLimits {
    fn default() -> Self {
        BodyWorkLimits {
            message_timeout: std::time::Duration::from_secs(2),
            per_exchange: std::time::Duration::from_secs(30),
            event_hold: std::time::Duration::from_millis(DEFAULT_EVENT_HOLD_MS),
        }
    }
}

impl Pipeline {
    /// A pipeline with these settings. Without a `redactor` nothing is masked,
    /// whatever `settings.masking` says.
    pub fn new(settings: PipelineSettings, redactor: Option<Arc<Redactor>>) -> Pipeline {
        Pipeline {
            settings,
            redactor,
            identity: None,
            injector: None,
            policy: None,
            approvals: None,
            audit: None,
            known_credentials: Arc::default(),
            credential_headers: Arc::from(Vec::new()),
            metrics: crate::metrics::Metrics::new(),
            body_limits: BodyWorkLimits::default(),
            body_workers: None,
        }
    }

    /// Sets the time limits on body work and the pool large body messages run on.
    pub fn with_body_work(
        mut self,
        limits: BodyWorkLimits,
        workers: Option<Arc<crate::body_workers::BodyWorkers>>,
    ) -> Pipeline {
        self.body_limits = limits;
        self.body_workers = workers;
        self
    }

    /// How long the reply to the body message just handled in `direction` may wait
    /// for the next message, because masking holds events back that a secret may
    /// continue from ([`Self::flush_events`]). `None`: reply now.
    pub fn events_held(
        &self,
        exchange: &Exchange,
        direction: Direction,
    ) -> Option<std::time::Duration> {
        exchange
            .body_state(direction)
            .masker
            .as_ref()
            .filter(|m| m.holds_events())
            .map(|_| self.body_limits.event_hold)
    }

    /// Masks and returns the events held back in `direction` (see
    /// [`Self::events_held`]), to go on with the reply to the last body message; they
    /// are recorded like any masked chunk. `Err`: they could not be masked in time, and
    /// the exchange must fail closed.
    pub fn flush_events(
        &self,
        exchange: &mut Exchange,
        direction: Direction,
    ) -> Result<Vec<u8>, crate::redact::DeadlinePassed> {
        let at_ms = exchange.elapsed_millis();
        let deadline = std::time::Instant::now() + self.body_limits.message_timeout;
        let state = exchange.body_state_mut(direction);
        let Some(masker) = state.masker.as_mut() else {
            return Ok(Vec::new());
        };
        masker.set_deadline(Some(deadline));
        let out = masker.flush_events();
        if masker.deadline_passed() {
            state.masker = None;
            return Err(crate::redact::DeadlinePassed);
        }
        let findings = masker.take_findings();
        state.findings.add(&findings);
        if let Some(capture) = &mut state.capture {
            capture.push(&out, Some(at_ms));
        }
        Ok(out)
    }

    /// The time limits on body work.
    pub fn body_limits(&self) -> BodyWorkLimits {
        self.body_limits
    }

    /// The pool large body messages run on, if any.
    pub fn body_workers(&self) -> Option<&Arc<crate::body_workers::BodyWorkers>> {
        self.body_workers.as_ref()
    }

    /// Counts into `metrics` (the handle the admin port's registry reads) instead of
    /// metrics nobody reads.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Pipeline {
        self.metrics = metrics;
        self
    }

    /// The data path's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Adds a policy: requests are classified and decided by it.
    pub fn with_policy(mut self, policy: Arc<PolicyStore>) -> Pipeline {
        self.policy = Some(policy);
        self
    }

    /// Adds identity verification and credential injection.
    pub fn with_identity(
        mut self,
        authenticator: Authenticator,
        injector: Option<Arc<CredentialInjector>>,
    ) -> Pipeline {
        let mut credentials = vec![authenticator.config().token.header.clone()];
        if let Some(injector) = &injector {
            credentials.extend(injector.credential_header_names());
        }
        credentials.sort();
        credentials.dedup();
        self.credential_headers = Arc::from(credentials);
        self.identity = Some(authenticator);
        self.injector = injector;
        self.refresh_audit_context();
        self
    }

    /// Keeps the masker's known secrets in step with the credentials being injected
    /// (their files are re-read when they change).
    fn remember_injected(&self, rule: &str, secrets: &[Vec<u8>]) {
        use std::hash::{Hash, Hasher};
        let (Some(redactor), Some(injector)) = (&self.redactor, &self.injector) else {
            return;
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        secrets.hash(&mut hasher);
        let fingerprint = hasher.finish();
        let Ok(mut known) = self.known_credentials.lock() else {
            return;
        };
        if known.get(rule) == Some(&fingerprint) {
            return;
        }
        known.insert(rule.to_string(), fingerprint);
        if let Err(err) = redactor.set_known_secrets(&injector.known_secrets()) {
            tracing::warn!(error = %err, "injected credentials could not be added to masking");
        }
    }

    /// Verifies the caller's identity (JWT or mesh identity). This is the one step
    /// that may do I/O — a JWKS fetch on first use or key rotation — so the shells
    /// call it before [`Pipeline::on_request_headers`], which stays pure. Without an
    /// identity configuration every request is anonymous (`Ok(None)`).
    pub async fn authenticate(
        &self,
        head: &RequestHead,
        peer: &PeerAttributes,
    ) -> Result<Option<Identity>, AuthError> {
        match &self.identity {
            Some(authenticator) => authenticator.authenticate(head, peer).await,
            None => Ok(None),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &PipelineSettings {
        &self.settings
    }

    fn masks(&self, direction: Direction) -> bool {
        self.masks_with(direction, MaskOverride::default())
    }

    /// Whether `direction` is masked, with a policy's override applied.
    fn masks_with(&self, direction: Direction, mask: MaskOverride) -> bool {
        self.redactor.is_some()
            && match direction {
                Direction::Request => mask.request.unwrap_or(self.settings.masking.request),
                Direction::Response => mask.response.unwrap_or(self.settings.masking.response),
            }
    }

    /// Decides about a request from its head alone. Shared by ext_proc and ext_authz
    /// so both give the same answer.
    ///
    /// `read_request_body` is the request body mode the policy needs before it can
    /// decide (`None`: as configured); `mask` overrides the configured masking per direction (policy effects).
    pub fn decide(
        &self,
        request_id: &str,
        head: &RequestHead,
        end_of_stream: bool,
        read_request_body: Option<BodyMode>,
        mask: MaskOverride,
    ) -> Decision {
        // Only Envoy's end-of-stream on the headers proves there is no body: HTTP/2 (and
        // chunked HTTP/1.1) requests of any method can carry one without a length.
        let has_body = !end_of_stream;
        let max = self.settings.max_buffered_body_bytes;
        let request_body = if has_body {
            let base = read_request_body.unwrap_or_else(|| body_mode(self.settings.request_body));
            let fields = mask.request_fields;
            let mask = self.masks_with(Direction::Request, mask);
            let base = if (mask || fields) && base == BodyMode::Skip {
                BodyMode::Streamed
            } else {
                base
            };
            match body::choose(
                Direction::Request,
                &head.headers,
                base,
                mask,
                fields,
                self.settings.masking.binary,
                max,
            ) {
                Ok(choice) => choice,
                Err(refusal) => {
                    return self.deny(
                        LocalReply::json_error(
                            refusal.status,
                            refusal.code,
                            &refusal.message,
                            request_id,
                        ),
                        BodyChoice::unmasked(BodyMode::Skip),
                    )
                }
            }
        } else {
            BodyChoice::unmasked(BodyMode::Skip)
        };

        let mut response_body = body_mode(self.settings.response_body);
        if (self.masks_with(Direction::Response, mask) || mask.response_fields)
            && response_body == BodyMode::Skip
        {
            response_body = BodyMode::Streamed;
        }
        let plan = PhasePlan {
            request_body: request_body.mode,
            response_headers: response_body != BodyMode::Skip,
            response_body,
        };

        // A buffered body that announces a size over the limit is refused now,
        // before anything is read: it could never be inspected whole.
        if request_body.mode == BodyMode::Buffered
            && content_length(head).is_some_and(|len| len > max)
        {
            return self.deny(self.too_large(Direction::Request, request_id), request_body);
        }
        Decision {
            verdict: Verdict::Allow,
            plan,
            request_body,
        }
    }

    /// Classifies the request and lets the policy decide, from the head alone when it
    /// can; otherwise the decision waits for the whole request body
    /// ([`Exchange::pending_policy`]) and the body is asked for buffered.
    fn decide_with_policy(
        &self,
        exchange: &mut Exchange,
        head: &RequestHead,
        end_of_stream: bool,
        identity: Option<&Identity>,
    ) -> Decision {
        let Some(store) = &self.policy else {
            return self.decide(
                &exchange.id,
                head,
                end_of_stream,
                None,
                MaskOverride::default(),
            );
        };
        let policy = store.current();
        let facts = classify::classify_head(
            head,
            identity.map(IdentityFacts::from),
            policy.sql_settings(),
        );
        let has_body = !end_of_stream;
        if has_body && policy.needs_body(&facts) {
            if is_streamable_git_push(&facts, head) {
                // A push carries its ref updates first and then a packfile of any size:
                // stream it, holding the bytes back until the commands are read.
                let decision = self.decide_after_body(
                    exchange,
                    facts,
                    policy,
                    head,
                    end_of_stream,
                    BodyMode::Streamed,
                );
                // (A push small enough to buffer is read whole instead.)
                if decision.verdict == Verdict::Allow
                    && decision.request_body.mode == BodyMode::Streamed
                {
                    exchange.withheld = Some(Withheld::new(WithholdReason::GitCommands));
                }
                return decision;
            }
            return self.read_for_policy(exchange, facts, policy, head, end_of_stream);
        }
        let verdict = policy.evaluate(&facts);
        if verdict.decision == Action::Hold && has_body {
            // An approval is bound to the body too: read it, then decide again, so the
            // fingerprint covers what the upstream would receive.
            return self.read_for_policy(exchange, facts, policy, head, end_of_stream);
        }
        exchange.request_body.fields = verdict.effects.field_set(Direction::Request);
        exchange.response_body.fields = policy.response_fields(&verdict, &facts);
        let mask = MaskOverride {
            request: verdict.effects.mask_request,
            response: verdict.effects.mask_response,
            request_fields: exchange.request_body.fields.is_some(),
            response_fields: exchange.response_body.fields.is_some(),
        };
        log_policy(&verdict, &exchange.id);
        let decision = match verdict.decision {
            Action::Deny => Decision {
                verdict: Verdict::Deny(LocalReply::policy(&verdict, &exchange.id, &facts, None)),
                plan: PhasePlan::HEADERS_ONLY,
                request_body: BodyChoice::unmasked(BodyMode::Skip),
            },
            Action::Allow => self.decide(&exchange.id, head, end_of_stream, None, mask),
            Action::Hold => {
                // Decided as if allowed, so that an approval lets it continue as such.
                let mut decision = self.decide(&exchange.id, head, end_of_stream, None, mask);
                if decision.verdict == Verdict::Allow {
                    decision.verdict = Verdict::Hold(Box::new(HoldCheck::new(
                        &verdict,
                        &facts,
                        identity,
                        None,
                        &exchange.id,
                    )));
                }
                decision
            }
        };
        exchange.facts = Some(facts);
        exchange.policy_decision = Some(verdict);
        decision
    }

    /// Leaves the decision to the request body phase ([`Exchange::pending_policy`]):
    /// the body is asked for in `mode`, and the policy decides once it is read.
    fn decide_after_body(
        &self,
        exchange: &mut Exchange,
        facts: RequestFacts,
        policy: Arc<Policy>,
        head: &RequestHead,
        end_of_stream: bool,
        mode: BodyMode,
    ) -> Decision {
        exchange.facts = Some(facts);
        // The response phases are planned now: when some rule flags response fields,
        // they are asked for whatever the body's decision will be.
        let mask = MaskOverride {
            response_fields: policy.flags_fields(Direction::Response),
            ..MaskOverride::default()
        };
        exchange.pending_policy = Some(policy);
        self.decide(&exchange.id, head, end_of_stream, Some(mode), mask)
    }

    /// Leaves the decision to the request body, read the way its label and length
    /// allow: whole (buffered) in general; streamed and held back while its first bytes
    /// are sniffed when its label says little and it cannot be buffered
    /// ([`Pipeline::sniff_stream`]).
    fn read_for_policy(
        &self,
        exchange: &mut Exchange,
        facts: RequestFacts,
        policy: Arc<Policy>,
        head: &RequestHead,
        end_of_stream: bool,
    ) -> Decision {
        if !self.sniff_stream(head) {
            return self.decide_after_body(
                exchange,
                facts,
                policy,
                head,
                end_of_stream,
                BodyMode::Buffered,
            );
        }
        let decision = self.decide_after_body(
            exchange,
            facts,
            policy,
            head,
            end_of_stream,
            BodyMode::Streamed,
        );
        if decision.verdict == Verdict::Allow && decision.request_body.mode == BodyMode::Streamed {
            exchange.withheld = Some(Withheld::new(WithholdReason::Sniff));
        }
        decision
    }

    /// True when the request body's label says little — an unknown or binary type, not
    /// multipart, not compressed — and no length lets it be buffered whole (gRPC
    /// streams, large uploads). Its bytes decide: binary passes as `masking.binary`
    /// says, text is read whole. A label is never a reason to pass a body unread.
    fn sniff_stream(&self, head: &RequestHead) -> bool {
        let declared = Declared::from_headers(&head.headers);
        let is_git_push = declared.media == "application/x-git-receive-pack-request";
        crate::redact::ContentKind::from_content_type(&declared.media)
            == crate::redact::ContentKind::Binary
            && !declared.is_multipart()
            && !is_git_push
            && content::content_encoding(&head.headers).is_none()
            && content_length(head).is_none_or(|len| len > self.settings.max_buffered_body_bytes)
    }

    /// Finishes a decision that waited for the request body: classifies `body` (the
    /// whole body as received) and evaluates the policy. `Some(reply)` when refused.
    fn decide_pending(&self, exchange: &mut Exchange, body: &[u8]) -> Option<Outcome> {
        self.decide_pending_on(exchange, Some(body))
    }

    /// [`Pipeline::decide_pending`] for a body that is binary and passes unread
    /// (`body` is `None`): the policy decides on everything but its content.
    fn decide_pending_on(&self, exchange: &mut Exchange, body: Option<&[u8]>) -> Option<Outcome> {
        let policy = exchange.pending_policy.take()?;
        let mut facts = exchange.facts.take().unwrap_or_default();
        let headers = exchange.request.as_ref().map(|r| &r.headers);
        let empty = crate::http::Headers::new();
        let headers = headers.unwrap_or(&empty);
        let max = usize::try_from(
            self.settings
                .max_buffered_body_bytes
                .saturating_mul(MAX_DECODE_FACTOR),
        )
        .unwrap_or(usize::MAX);
        match body {
            Some(body) => classify::classify_received_body(
                &mut facts,
                headers,
                body,
                max,
                policy.sql_settings(),
            ),
            None => {
                facts.body.inspected = true;
                facts.body.format = Some("binary-unread".into());
                // A Kubernetes object in it could be anything.
                classify::body_not_read(&mut facts);
            }
        }
        // A body passed unread is not part of the reply or of an approval's binding.
        let decoded = body.and_then(|body| classify::decoded_body(headers, body, max).ok());
        let verdict = policy.evaluate(&facts);
        log_policy(&verdict, &exchange.id);
        let mut metadata = vec![("decision", verdict.decision.name().to_string())];
        metadata.extend(policy_metadata(&verdict));
        let choice = &mut exchange.request_body.choice;
        if let Some(mask) = verdict.effects.mask_request {
            choice.patterns &= mask;
        }
        let request_fields = verdict.effects.field_set(Direction::Request);
        choice.mask = choice.patterns || request_fields.is_some();
        exchange.request_body.fields = request_fields;
        exchange.response_body.fields = policy.response_fields(&verdict, &facts);
        let outcome = match verdict.decision {
            Action::Deny => {
                if let Some(decision) = exchange.decision.as_mut() {
                    decision.plan = PhasePlan::HEADERS_ONLY;
                }
                // The reply may echo the body (JSON-RPC ids, git capabilities): read it
                // as the upstream would, decoded.
                Some(Outcome {
                    step: Step::Reply(LocalReply::policy(
                        &verdict,
                        &exchange.id,
                        &facts,
                        decoded.as_deref(),
                    )),
                    metadata,
                })
            }
            action => {
                if action == Action::Hold {
                    // A push's ref updates already name its commits; its pack bytes
                    // are not part of the operation. Any other body is, as decoded.
                    let is_push = facts
                        .git
                        .as_ref()
                        .is_some_and(|g| !g.ref_updates.is_empty());
                    let bound = if is_push { None } else { decoded.as_deref() };
                    let mut check = HoldCheck::new(
                        &verdict,
                        &facts,
                        exchange.identity.as_ref(),
                        bound,
                        &exchange.id,
                    );
                    // The reply echoes the body (JSON-RPC ids, git capabilities).
                    check.body = decoded.map(|b| b.into_owned());
                    exchange.held = Some(Box::new(check));
                }
                // The body phase goes on (masking) and carries this metadata; a hold
                // wraps that phase's outcome (see `on_body`).
                exchange.pending_metadata = metadata;
                None
            }
        };
        exchange.facts = Some(facts);
        exchange.policy_decision = Some(verdict);
        outcome
    }

    fn deny(&self, reply: LocalReply, request_body: BodyChoice) -> Decision {
        Decision {
            verdict: Verdict::Deny(reply),
            plan: PhasePlan::HEADERS_ONLY,
            request_body,
        }
    }

    /// Request headers: decide, strip headers only Warden may set, tag the request,
    /// pass the identity on and inject the upstream's credentials. `auth` is the
    /// result of [`Pipeline::authenticate`] for this request.
    pub fn on_request_headers(
        &self,
        exchange: &mut Exchange,
        head: RequestHead,
        end_of_stream: bool,
        auth: Result<Option<Identity>, AuthError>,
    ) -> Result<Outcome, PipelineError> {
        if exchange.request.is_some() {
            return Err(PipelineError::Repeated("request headers"));
        }
        let (decision, identity) = match auth {
            Ok(identity) => {
                let decision =
                    self.decide_with_policy(exchange, &head, end_of_stream, identity.as_ref());
                (decision, identity)
            }
            Err(err) => {
                tracing::info!(request_id = %exchange.id, reason = err.code(), "authentication failed");
                let reply = err.reply(&exchange.id);
                (self.deny(reply, BodyChoice::unmasked(BodyMode::Skip)), None)
            }
        };
        let inject = exchange
            .policy_decision
            .as_ref()
            .and_then(|d| d.effects.inject)
            .unwrap_or(true);
        let mut decision = decision;
        let mut injected = None;
        if let (Some(injector), false) = (
            self.injector.as_deref().filter(|_| inject),
            matches!(decision.verdict, Verdict::Deny(_)),
        ) {
            match injector.apply(&head) {
                Ok(found) => injected = found,
                Err(ambiguous) => {
                    tracing::info!(request_id = %exchange.id, rule = %ambiguous.rule, "ambiguous path refused");
                    let reply = LocalReply::json_error(
                        400,
                        "ambiguous_path",
                        &ambiguous.to_string(),
                        &exchange.id,
                    );
                    decision = self.deny(reply, BodyChoice::unmasked(BodyMode::Skip));
                }
            }
        }
        let mut metadata = vec![
            ("request_id", exchange.id.clone()),
            ("decision", decision.verdict.name().to_string()),
        ];
        if let Some(identity) = &identity {
            metadata.extend(identity.metadata());
        }
        if let Some(policy) = &exchange.policy_decision {
            metadata.extend(policy_metadata(policy));
        } else if exchange.pending_policy.is_some() {
            // Decided once the body is read; until then nothing has been allowed.
            metadata[1].1 = "pending".into();
        }
        let step = match &decision.verdict {
            Verdict::Deny(reply) => Step::Reply(reply.clone()),
            Verdict::Allow | Verdict::Hold(_) => {
                let mut remove_headers = spoofed_warden_headers(&head);
                if decision.request_body.drop_content_length {
                    remove_headers.push("content-length".into());
                }
                // Ask the upstream for an uncompressed response: it can then be
                // masked as it streams instead of being buffered and decoded.
                let response_fields = exchange.response_body.fields.is_some()
                    || exchange
                        .pending_policy
                        .as_ref()
                        .is_some_and(|p| p.flags_fields(Direction::Response));
                if decision.plan.response_headers
                    && (self.masks(Direction::Response) || response_fields)
                    && head.headers.get("accept-encoding").is_some()
                {
                    remove_headers.push("accept-encoding".into());
                }
                let mut set_headers = vec![(REQUEST_ID_HEADER.into(), exchange.id.clone())];
                // Kubernetes clients may ask for protobuf, which cannot be masked: the
                // upstream is asked for JSON instead (protobuf that still comes is refused).
                if decision.plan.response_headers && self.masks(Direction::Response) {
                    if let Some(accept) = head.headers.get_str("accept").and_then(body::json_accept)
                    {
                        set_headers.push(("accept".into(), accept));
                    }
                }
                let mut changes = Vec::new();
                if let Some(authenticator) = &self.identity {
                    // Also strips identity headers a client forged.
                    changes.push(authenticator.upstream_headers(identity.as_ref()));
                }
                if let Some(injected) = injected {
                    tracing::debug!(request_id = %exchange.id, rule = %injected.rule, "credential injected");
                    self.remember_injected(&injected.rule, &injected.secrets);
                    changes.push(injected.changes);
                }
                for change in changes {
                    for name in change.remove_headers {
                        if !remove_headers.contains(&name) {
                            remove_headers.push(name);
                        }
                    }
                    for (name, value) in change.set_headers {
                        remove_headers.retain(|n| *n != name);
                        set_headers.retain(|(n, _)| *n != name);
                        set_headers.push((name, value));
                    }
                }
                for name in folded_spellings(
                    &head,
                    &set_headers,
                    &remove_headers,
                    &self.credential_headers,
                ) {
                    remove_headers.push(name);
                }
                let mut mutation = Mutation {
                    set_headers,
                    append_headers: Vec::new(),
                    remove_headers,
                    body: None,
                    plan: Some(decision.plan),
                };
                let mask_request = exchange
                    .policy_decision
                    .as_ref()
                    .and_then(|d| d.effects.mask_request);
                if let Some(redactor) = self.redactor.as_deref().filter(|_| {
                    self.masks_with(
                        Direction::Request,
                        MaskOverride {
                            request: mask_request,
                            ..MaskOverride::default()
                        },
                    )
                }) {
                    // Warden's own headers (the agent's token, what it sets or removes,
                    // the deployment's credential headers) are not the agent's data.
                    let token_header = self
                        .identity
                        .as_ref()
                        .map(|a| a.config().token.header.clone());
                    let changed: Vec<String> = mutation
                        .set_headers
                        .iter()
                        .map(|(n, _)| n)
                        .chain(&mutation.remove_headers)
                        .cloned()
                        .collect();
                    let managed = |name: &str| {
                        token_header.as_deref() == Some(name)
                            || self.credential_headers.iter().any(|c| c == name)
                            || changed.iter().any(|n| n == name)
                    };
                    let findings = mask_headers(
                        redactor,
                        &head.headers,
                        Direction::Request,
                        &managed,
                        &mut mutation,
                    );
                    exchange.request_body.findings.add(&findings);
                }
                match &decision.verdict {
                    Verdict::Hold(check) => Step::Hold(Box::new(Held {
                        check: (**check).clone(),
                        if_approved: mutation,
                    })),
                    _ => Step::Continue(mutation),
                }
            }
        };
        if end_of_stream {
            exchange.request_body.progress.ended = true;
        }
        if let Some(capture) = &mut exchange.capture {
            capture.note_request_step(&step);
        }
        exchange.request_body.choice = decision.request_body.clone();
        exchange.identity = identity;
        exchange.request = Some(head);
        exchange.decision = Some(decision);
        Ok(Outcome { step, metadata })
    }

    /// One request body message (the whole body when buffered, a chunk when streamed).
    pub fn on_request_body(
        &self,
        exchange: &mut Exchange,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        self.on_body(exchange, Direction::Request, chunk, end_of_stream)
    }

    /// Response headers: settle how the response body is inspected, now that its
    /// type, encoding and length are known.
    pub fn on_response_headers(
        &self,
        exchange: &mut Exchange,
        head: ResponseHead,
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        let mask_override = MaskOverride {
            response: exchange
                .policy_decision
                .as_ref()
                .and_then(|d| d.effects.mask_response),
            response_fields: exchange.response_body.fields.is_some(),
            ..MaskOverride::default()
        };
        let Some(decision) = exchange.decision.as_mut() else {
            return Err(PipelineError::BeforeRequestHeaders("response headers"));
        };
        if exchange.response.is_some() {
            return Err(PipelineError::Repeated("response headers"));
        }
        let is_head = exchange
            .request
            .as_ref()
            .is_some_and(|r| r.method.eq_ignore_ascii_case("HEAD"));
        let bodiless = end_of_stream || is_head || matches!(head.status, 204 | 304);
        let choice = if bodiless {
            Ok(BodyChoice::unmasked(BodyMode::Skip))
        } else {
            body::choose(
                Direction::Response,
                &head.headers,
                decision.plan.response_body,
                self.masks_with(Direction::Response, mask_override),
                mask_override.response_fields,
                self.settings.masking.binary,
                self.settings.max_buffered_body_bytes,
            )
        };
        let choice = match choice {
            Ok(choice) => choice,
            Err(refusal) => {
                exchange.response = Some(head);
                return Ok(Outcome::reply(LocalReply::json_error(
                    refusal.status,
                    refusal.code,
                    &refusal.message,
                    &exchange.id,
                )));
            }
        };
        decision.plan.response_body = choice.mode;
        let plan = decision.plan;
        let mut mutation = Mutation {
            plan: Some(plan),
            ..Mutation::default()
        };
        if choice.drop_content_length {
            mutation.remove_headers.push("content-length".into());
        }
        if let Some(redactor) = self
            .redactor
            .as_deref()
            .filter(|_| self.masks_with(Direction::Response, mask_override))
        {
            // An upstream can echo a secret (or the credential Warden injected) in a
            // header as easily as in its body.
            let removed = mutation.remove_headers.clone();
            let managed = |name: &str| removed.iter().any(|n| n == name);
            let findings = mask_headers(
                redactor,
                &head.headers,
                Direction::Response,
                &managed,
                &mut mutation,
            );
            exchange.response_body.findings.add(&findings);
        }
        if bodiless {
            exchange.response_body.progress.ended = true;
        }
        if let Some(capture) = &mut exchange.capture {
            capture.note_response_removals(&mutation.remove_headers);
        }
        exchange.response_body.choice = choice;
        exchange.response = Some(head);
        Ok(Outcome {
            step: Step::Continue(mutation),
            metadata: Vec::new(),
        })
    }

    /// One response body message.
    pub fn on_response_body(
        &self,
        exchange: &mut Exchange,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        self.on_body(exchange, Direction::Response, chunk, end_of_stream)
    }

    /// Trailers, in either direction: passed on unchanged.
    pub fn on_trailers(
        &self,
        exchange: &mut Exchange,
        direction: Direction,
    ) -> Result<Outcome, PipelineError> {
        if exchange.decision.is_none() {
            return Err(PipelineError::BeforeRequestHeaders(match direction {
                Direction::Request => "request trailers",
                Direction::Response => "response trailers",
            }));
        }
        if direction == Direction::Request && exchange.withheld.is_some() {
            // Bytes held back can only be let go in a body message: never drop them
            // silently, never let the rest through unread.
            exchange.withheld = None;
            exchange.pending_policy = None;
            return Ok(Outcome::reply(LocalReply::json_error(
                413,
                "body_not_inspectable",
                "the request body ended in trailers while Warden held part of it back to \
                 inspect; send the request without trailers",
                &exchange.id,
            )));
        }
        if direction == Direction::Request && exchange.pending_policy.is_some() {
            // Trailers without a body message: the body was empty.
            if let Some(refused) = self.decide_pending(exchange, &[]) {
                return Ok(refused);
            }
            let outcome = Outcome {
                step: Step::Continue(Mutation::default()),
                metadata: std::mem::take(&mut exchange.pending_metadata),
            };
            return Ok(wrap_hold(exchange, outcome));
        }
        Ok(Outcome::pass())
    }

    fn on_body(
        &self,
        exchange: &mut Exchange,
        direction: Direction,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        let outcome = self.on_body_decided(exchange, direction, chunk, end_of_stream)?;
        Ok(wrap_hold(exchange, outcome))
    }

    fn on_body_decided(
        &self,
        exchange: &mut Exchange,
        direction: Direction,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        if exchange.decision.is_none() {
            return Err(PipelineError::BeforeRequestHeaders(body_phase(direction)));
        }
        let deadline = exchange.deadline;
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            // It waited for a worker past its deadline: Envoy has given up on it.
            return Ok(body::out_of_time(direction, &exchange.id));
        }
        exchange.body_state_mut(direction).deadline = deadline;
        let max = self.settings.max_buffered_body_bytes;
        let id = exchange.id.clone();
        let at_ms = exchange
            .capture
            .as_ref()
            .map_or(0, |_| exchange.elapsed_millis());
        let state = exchange.body_state_mut(direction);
        let progress = &mut state.progress;
        if progress.ended {
            return Err(PipelineError::AfterEndOfBody(body_phase(direction)));
        }
        progress.bytes = progress.bytes.saturating_add(chunk.len() as u64);
        progress.messages = progress.messages.saturating_add(1);
        progress.ended = end_of_stream;

        // A buffered body arrives whole. Streamed chunks never accumulate here, so
        // only buffered bodies can exceed the limit. A body that arrives although its
        // phase was skipped (an Envoy that ignored our mode override) is inspected
        // like a streamed one rather than passed unseen.
        let buffered = state.choice.mode == BodyMode::Buffered;
        if buffered && progress.bytes > max {
            return Ok(Outcome::reply(self.too_large(direction, &id)));
        }
        let mut decided_metadata = Vec::new();
        // Bytes held back and now let go: they take this chunk's place.
        let mut released: Option<Vec<u8>> = None;
        if direction == Direction::Request && exchange.pending_policy.is_some() {
            if let Some(withheld) = exchange.withheld.take() {
                match withheld.reason {
                    WithholdReason::GitCommands => {
                        match self.withhold_git_commands(exchange, withheld, chunk, end_of_stream) {
                            Ok(bytes) => released = Some(bytes),
                            Err(outcome) => return Ok(*outcome),
                        }
                    }
                    WithholdReason::Sniff => {
                        match self.withhold_until_sniffed(exchange, withheld, chunk, end_of_stream)
                        {
                            Ok(bytes) => released = Some(bytes),
                            Err(outcome) => return Ok(*outcome),
                        }
                    }
                }
                decided_metadata = std::mem::take(&mut exchange.pending_metadata);
            } else {
                if !buffered || !end_of_stream {
                    // The policy needs the whole body but it is arriving in pieces: never
                    // allow what could not be read whole.
                    exchange.pending_policy = None;
                    return Ok(Outcome::reply(LocalReply::json_error(
                        413,
                        "body_not_inspectable",
                        "Warden's policy must read this request body whole, but it arrived in \
                         pieces; check that the ext_proc filter allows mode_override",
                        &id,
                    )));
                }
                if let Some(refused) = self.decide_pending(exchange, chunk) {
                    return Ok(refused);
                }
                decided_metadata = std::mem::take(&mut exchange.pending_metadata);
            }
        }
        let outcome = self.mask_body(
            exchange,
            direction,
            released.as_deref().unwrap_or(chunk),
            end_of_stream,
            decided_metadata,
            at_ms,
        );
        Ok(match (released, outcome) {
            (
                Some(bytes),
                Outcome {
                    step: Step::Continue(mut mutation),
                    metadata,
                },
            ) => {
                // Unmasked, the held-back bytes still replace this chunk (unless they
                // are just this chunk).
                if mutation.body.is_none() && bytes != chunk {
                    mutation.body = Some(bytes);
                }
                Outcome {
                    step: Step::Continue(mutation),
                    metadata,
                }
            }
            (_, outcome) => outcome,
        })
    }

    /// Masks one body message (the whole body when buffered) as its state says.
    fn mask_body(
        &self,
        exchange: &mut Exchange,
        direction: Direction,
        chunk: &[u8],
        end_of_stream: bool,
        decided_metadata: Vec<(&'static str, String)>,
        at_ms: u64,
    ) -> Outcome {
        let max = self.settings.max_buffered_body_bytes;
        let id = exchange.id.clone();
        let state = exchange.body_state_mut(direction);
        let buffered = state.choice.mode == BodyMode::Buffered;
        if !state.choice.mask {
            return Outcome {
                step: Step::Continue(Mutation::default()),
                metadata: decided_metadata,
            };
        }
        let redactor = self.redactor.as_deref();
        let mut outcome = if buffered {
            let max_decoded =
                usize::try_from(max.saturating_mul(MAX_DECODE_FACTOR)).unwrap_or(usize::MAX);
            body::mask_whole(redactor, state, direction, chunk, &id, max_decoded)
        } else {
            let max_document = usize::try_from(max).unwrap_or(usize::MAX);
            body::mask_chunk(
                redactor,
                state,
                direction,
                chunk,
                end_of_stream,
                &id,
                at_ms,
                max_document,
            )
        };
        outcome.metadata.extend(decided_metadata);
        if state.progress.ended && state.findings.total > 0 {
            tracing::debug!(
                request_id = %id,
                ?direction,
                findings = state.findings.total,
                rules = %state.findings.rules(),
                "masked"
            );
            let key = match direction {
                Direction::Request => "masked_request",
                Direction::Response => "masked_response",
            };
            outcome
                .metadata
                .push((key, state.findings.total.to_string()));
        }
        outcome
    }

    /// A git push held back until its ref-update commands are read
    /// ([`WithholdReason::GitCommands`]). `Ok` carries the bytes to let go once the
    /// policy allowed them; `Err` the outcome of this chunk otherwise.
    fn withhold_git_commands(
        &self,
        exchange: &mut Exchange,
        mut withheld: Withheld,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Vec<u8>, Box<Outcome>> {
        withheld.bytes.extend_from_slice(chunk);
        let complete = !matches!(
            classify::git::parse_receive_pack_commands(&withheld.bytes),
            Err(classify::git::GitParseError::Incomplete)
        );
        if !complete && !end_of_stream && withheld.bytes.len() <= MAX_WITHHELD_BYTES {
            // Hold these bytes back (the chunk is replaced by nothing) until the
            // commands are complete.
            exchange.withheld = Some(withheld);
            return Err(Box::new(Outcome {
                step: Step::Continue(Mutation {
                    body: Some(Vec::new()),
                    ..Mutation::default()
                }),
                metadata: Vec::new(),
            }));
        }
        if let Some(refused) = self.decide_pending(exchange, &withheld.bytes) {
            return Err(Box::new(refused));
        }
        Ok(withheld.bytes)
    }

    /// A body held back until its first bytes show what it is
    /// ([`WithholdReason::Sniff`]). Binary: the policy decides without its content, and
    /// (unless `masking.binary` blocks it) it passes unread from here on. Text: held to
    /// its end (at most the buffered limit), then classified whole. `Ok` carries the
    /// bytes to let go once decided; `Err` the outcome of this chunk otherwise.
    fn withhold_until_sniffed(
        &self,
        exchange: &mut Exchange,
        mut withheld: Withheld,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Vec<u8>, Box<Outcome>> {
        let window_open = withheld.bytes.len() < content::sniff::WINDOW;
        withheld.bytes.extend_from_slice(chunk);
        let binary = window_open
            && content::sniff::sniff(&withheld.bytes, end_of_stream, None)
                == Some(content::sniff::Sniffed::Binary);
        if binary {
            if self.settings.masking.binary == BinaryPolicy::Block {
                exchange.pending_policy = None;
                return Err(Box::new(Outcome::reply(body::binary_blocked(
                    Direction::Request,
                    &exchange.id,
                ))));
            }
            if let Some(refused) = self.decide_pending_on(exchange, None) {
                return Err(Box::new(refused));
            }
            tracing::info!(
                request_id = %exchange.id,
                "request body is binary: not classified, passed unread (masking.binary: pass)"
            );
            let state = &mut exchange.request_body;
            state.choice.mask = false;
            state.choice.passed_unread = true;
            return Ok(withheld.bytes);
        }
        if withheld.bytes.len() as u64 > self.settings.max_buffered_body_bytes {
            exchange.pending_policy = None;
            return Err(Box::new(Outcome::reply(
                self.too_large(Direction::Request, &exchange.id),
            )));
        }
        if !end_of_stream {
            exchange.withheld = Some(withheld);
            return Err(Box::new(Outcome {
                step: Step::Continue(Mutation {
                    body: Some(Vec::new()),
                    ..Mutation::default()
                }),
                metadata: Vec::new(),
            }));
        }
        if let Some(refused) = self.decide_pending(exchange, &withheld.bytes) {
            return Err(Box::new(refused));
        }
        Ok(withheld.bytes)
    }

    fn too_large(&self, direction: Direction, request_id: &str) -> LocalReply {
        let limit = self.settings.max_buffered_body_bytes;
        match direction {
            Direction::Request => LocalReply::json_error(
                413,
                "body_too_large",
                &format!(
                    "the request body is larger than the {limit} bytes Warden can inspect; \
                     send a smaller body"
                ),
                request_id,
            ),
            Direction::Response => LocalReply::json_error(
                502,
                "response_too_large",
                &format!(
                    "the upstream's response body is larger than the {limit} bytes Warden can \
                     inspect, so it was not passed on"
                ),
                request_id,
            ),
        }
    }
}

/// Logs a policy decision: observed matches, and any `deny`/`hold`.
fn log_policy(decision: &PolicyDecision, request_id: &str) {
    if !decision.observed.is_empty() {
        tracing::info!(
            request_id,
            observed = ?decision.observed,
            "policy (observe only): these rules matched and were not enforced"
        );
    }
    if decision.decision != Action::Allow {
        tracing::info!(
            request_id,
            decision = decision.decision.name(),
            rule = decision.rule.as_deref().unwrap_or("default"),
            reason = %decision.reason,
            "policy"
        );
    }
}

/// Wraps a body phase's outcome in the hold decided during that phase, if any: the
/// gate then chooses between the outcome and a hold reply.
fn wrap_hold(exchange: &mut Exchange, outcome: Outcome) -> Outcome {
    let Some(check) = exchange.held.take() else {
        return outcome;
    };
    match outcome.step {
        Step::Continue(mutation) => Outcome {
            step: Step::Hold(Box::new(Held {
                check: *check,
                if_approved: mutation,
            })),
            metadata: outcome.metadata,
        },
        // A refusal (a body too large, unreadable) stands whatever an approver says.
        other => Outcome {
            step: other,
            metadata: outcome.metadata,
        },
    }
}

/// Dynamic metadata describing a policy decision (for the access log and audit).
fn policy_metadata(decision: &PolicyDecision) -> Vec<(&'static str, String)> {
    let mut metadata = vec![
        (
            "policy_rule",
            decision.rule.clone().unwrap_or_else(|| "default".into()),
        ),
        ("policy_hash", decision.policy_hash.clone()),
    ];
    if let Some(record) = decision.effects.record {
        let level = match record {
            crate::policy::RecordLevel::None => "none",
            crate::policy::RecordLevel::Metadata => "metadata",
            crate::policy::RecordLevel::Full => "full",
        };
        metadata.push(("policy_record", level.to_string()));
    }
    if !decision.observed.is_empty() {
        let observed: Vec<String> = decision
            .observed
            .iter()
            .map(|o| format!("{}:{}", o.rule, o.action.name()))
            .collect();
        metadata.push(("policy_observed", observed.join(",")));
    }
    metadata
}

fn body_mode(inspection: BodyInspection) -> BodyMode {
    match inspection {
        BodyInspection::None => BodyMode::Skip,
        BodyInspection::Streamed => BodyMode::Streamed,
        BodyInspection::Buffered => BodyMode::Buffered,
    }
}

fn content_length(head: &RequestHead) -> Option<u64> {
    head.headers.get_str("content-length")?.trim().parse().ok()
}

/// A header name as servers that fold spellings read it: lowercase, with every
/// character other than a letter or digit read as `-`. CGI, WSGI, PHP and Rack map
/// `x-warden-subject` and `x_warden_subject` to the same `HTTP_X_WARDEN_SUBJECT`.
fn folded_header_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Client headers that are another spelling of a header Warden manages: its own
/// (`x-warden-*`), the ones it sets or removes on this request (identity, injected
/// credentials), and every credential header of the deployment. An upstream that folds
/// `_` and `-` would otherwise read the client's `x_warden_subject: alice` as Warden's
/// `x-warden-subject`, or a client's `x_api_key` next to the injected `x-api-key`.
fn folded_spellings(
    head: &RequestHead,
    set_headers: &[(String, String)],
    remove_headers: &[String],
    credential_headers: &[String],
) -> Vec<String> {
    let managed: Vec<String> = set_headers
        .iter()
        .map(|(name, _)| name.as_str())
        .chain(remove_headers.iter().map(String::as_str))
        .chain(credential_headers.iter().map(String::as_str))
        .map(folded_header_name)
        .collect();
    let warden_prefix = folded_header_name(WARDEN_HEADER_PREFIX);
    let mut out: Vec<String> = Vec::new();
    for (name, _) in head.headers.iter() {
        let exact =
            set_headers.iter().any(|(n, _)| n == name) || remove_headers.iter().any(|n| n == name);
        if exact || out.iter().any(|n| n == name) {
            continue;
        }
        let folded = folded_header_name(name);
        if folded.starts_with(&warden_prefix) || managed.contains(&folded) {
            out.push(name.to_string());
        }
    }
    out
}

/// Masks every header value of `headers` except pseudo-headers and the names `managed`
/// says are Warden's own; a changed header goes into `mutation` (its first value set,
/// the others appended, so a header with several values keeps them all). Returns what
/// was masked.
fn mask_headers(
    redactor: &Redactor,
    headers: &crate::http::Headers,
    direction: Direction,
    managed: &dyn Fn(&str) -> bool,
    mutation: &mut Mutation,
) -> Vec<crate::redact::Finding> {
    let mut findings = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    for (name, _) in headers.iter() {
        if name.starts_with(':') || done.contains(&name) || managed(name) {
            continue;
        }
        done.push(name);
        let mut values = Vec::new();
        let mut changed = false;
        for value in headers.get_all(name) {
            match redactor.redact_header(name, value, direction) {
                Some(masked) => {
                    changed = true;
                    findings.extend(masked.findings);
                    values.push(masked.value);
                }
                None => values.push(String::from_utf8_lossy(value).into_owned()),
            }
        }
        if !changed {
            continue;
        }
        let mut values = values.into_iter();
        if let Some(first) = values.next() {
            mutation.set_headers.push((name.to_string(), first));
        }
        mutation
            .append_headers
            .extend(values.map(|v| (name.to_string(), v)));
    }
    findings
}

/// Names of `x-warden-*` headers the client sent: only Warden may set those, so a
/// client cannot forge a request id (or, later, an identity or approval).
fn spoofed_warden_headers(head: &RequestHead) -> Vec<String> {
    let mut names: Vec<String> = head
        .headers
        .iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with(WARDEN_HEADER_PREFIX))
        .map(str::to_string)
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Headers;

    fn pipeline(request_body: BodyInspection, response_body: BodyInspection) -> Pipeline {
        Pipeline::new(
            PipelineSettings {
                request_body,
                response_body,
                max_buffered_body_bytes: 100,
                masking: MaskingSettings::default(),
            },
            None,
        )
    }

    mod policy {
        use super::*;
        use crate::policy::watch::PolicyStore;

        fn with_default_pack() -> Pipeline {
            pipeline(BodyInspection::Streamed, BodyInspection::None)
                .with_policy(PolicyStore::fixed(Policy::builtin().unwrap()))
        }

        fn push(refname: &str) -> (RequestHead, Vec<u8>) {
            let line = format!(
                "{} {} {refname}\0 report-status",
                "a".repeat(40),
                "b".repeat(40)
            );
            let mut body = format!("{:04x}{line}0000", line.len() + 4).into_bytes();
            body.extend_from_slice(b"PACK....packfile bytes");
            let mut head = request(
                "POST",
                &[("content-type", "application/x-git-receive-pack-request")],
            );
            head.path = "/repo.git/git-receive-pack".into();
            head.headers.push("content-length", body.len().to_string());
            (head, body)
        }

        #[test]
        fn a_body_is_read_whatever_the_method_unless_envoy_ended_the_stream() {
            let pipeline = with_default_pack();
            for method in ["GET", "DELETE", "HEAD", "OPTIONS"] {
                let head = request(method, &[("content-type", "application/json")]);
                let mut exchange = Exchange::new("m");
                let outcome = pipeline
                    .on_request_headers(&mut exchange, head.clone(), false, Ok(None))
                    .unwrap();
                let Step::Continue(mutation) = outcome.step else {
                    panic!("{method}: decided before the body was read")
                };
                assert_ne!(
                    mutation.plan.unwrap().request_body,
                    BodyMode::Skip,
                    "{method}"
                );
                let outcome = pipeline
                    .on_request_body(&mut exchange, br#"{"sql": "DROP TABLE t"}"#, true)
                    .unwrap();
                assert!(
                    matches!(outcome.step, Step::Hold(_)),
                    "{method}: {:?}",
                    outcome.step
                );

                // End of stream on the headers: no body phase at all.
                let mut exchange = Exchange::new("m");
                let outcome = pipeline
                    .on_request_headers(&mut exchange, head, true, Ok(None))
                    .unwrap();
                let Step::Continue(mutation) = outcome.step else {
                    panic!("{method}: a bodiless request was stopped")
                };
                assert_eq!(
                    mutation.plan.unwrap().request_body,
                    BodyMode::Skip,
                    "{method}"
                );
            }
        }

        #[test]
        fn an_unlabelled_stream_is_held_back_until_its_bytes_tell() {
            let pipeline = with_default_pack();
            let octets = [("content-type", "application/octet-stream")];
            // Text: held back to its end, then read whole and decided.
            let mut exchange = Exchange::new("s");
            let outcome = pipeline
                .on_request_headers(&mut exchange, request("POST", &octets), false, Ok(None))
                .unwrap();
            let Step::Continue(mutation) = outcome.step else {
                panic!("decided before the body was read")
            };
            assert_eq!(mutation.plan.unwrap().request_body, BodyMode::Streamed);
            let body = br#"{"sql": "DROP TABLE t"}"#;
            let (first, rest) = body.split_at(10);
            let held = mutation_of(
                pipeline
                    .on_request_body(&mut exchange, first, false)
                    .unwrap(),
            );
            assert_eq!(held.body, Some(Vec::new()), "nothing may go upstream yet");
            let outcome = pipeline.on_request_body(&mut exchange, rest, true).unwrap();
            assert!(matches!(outcome.step, Step::Hold(_)), "{:?}", outcome.step);

            // Binary: let go at once, the policy deciding without its content.
            let mut exchange = Exchange::new("b");
            pipeline
                .on_request_headers(&mut exchange, request("POST", &octets), false, Ok(None))
                .unwrap();
            // Two bytes tell nothing yet: held back.
            let held = mutation_of(
                pipeline
                    .on_request_body(&mut exchange, b"\0\0", false)
                    .unwrap(),
            );
            assert_eq!(held.body, Some(Vec::new()));
            let released = mutation_of(
                pipeline
                    .on_request_body(&mut exchange, b"\0\0\x05hello", false)
                    .unwrap(),
            );
            assert_eq!(
                released.body.as_deref(),
                Some(b"\0\0\0\0\x05hello".as_slice())
            );
            let next = mutation_of(
                pipeline
                    .on_request_body(&mut exchange, b"more", true)
                    .unwrap(),
            );
            assert_eq!(next.body, None, "the rest passes as it is");
            assert_eq!(
                exchange.facts().and_then(|f| f.body.format.as_deref()),
                Some("binary-unread")
            );
        }

        fn mutation_of(outcome: Outcome) -> Mutation {
            match outcome.step {
                Step::Continue(m) => m,
                other => panic!("expected continue, got {other:?}"),
            }
        }

        #[test]
        fn a_git_push_is_held_back_until_its_commands_are_read() {
            let pipeline = with_default_pack();
            for (refname, allowed) in [("refs/heads/topic", true), ("refs/heads/main", false)] {
                let (head, body) = push(refname);
                let mut exchange = Exchange::new("git");
                let outcome = pipeline
                    .on_request_headers(&mut exchange, head, false, Ok(None))
                    .unwrap();
                let Step::Continue(mutation) = outcome.step else {
                    panic!("decided before the commands were read")
                };
                assert_eq!(mutation.plan.unwrap().request_body, BodyMode::Streamed);
                assert_eq!(outcome.metadata[1], ("decision", "pending".to_string()));

                // The command line split in the middle: nothing may go upstream yet.
                let (first, rest) = body.split_at(30);
                let outcome = pipeline
                    .on_request_body(&mut exchange, first, false)
                    .unwrap();
                assert_eq!(
                    outcome.step,
                    Step::Continue(Mutation {
                        body: Some(Vec::new()),
                        ..Mutation::default()
                    })
                );
                let outcome = pipeline
                    .on_request_body(&mut exchange, rest, false)
                    .unwrap();
                match (allowed, outcome.step) {
                    (true, Step::Continue(mutation)) => {
                        assert_eq!(
                            mutation.body.as_deref(),
                            Some(&body[..]),
                            "held bytes released"
                        );
                        // Later chunks pass as they are.
                        let later = pipeline
                            .on_request_body(&mut exchange, b"more", true)
                            .unwrap();
                        assert_eq!(later.step, Step::Continue(Mutation::default()));
                    }
                    (false, Step::Hold(held)) => {
                        assert_eq!(
                            held.check.decision.rule.as_deref(),
                            Some("git-push-protected")
                        );
                        // Approved, the held bytes are released as they would have been.
                        assert_eq!(held.if_approved.body.as_deref(), Some(&body[..]));
                        // The push is bound by its ref updates, not its pack bytes.
                        assert!(held
                            .check
                            .hold
                            .operation
                            .summary
                            .contains("refs/heads/main"));
                        // Refused in git's own reply shape: report-status with `ng`.
                        let reply = LocalReply::policy(
                            &held.check.decision,
                            "git",
                            &held.check.facts,
                            held.check.body.as_deref(),
                        );
                        assert_eq!(reply.status, 200);
                        let body = String::from_utf8_lossy(&reply.body);
                        assert!(
                            body.contains("ng refs/heads/main held for approval"),
                            "{body}"
                        );
                        assert!(body.contains("git-push-protected"), "{body}");
                    }
                    (_, step) => panic!("{refname}: {step:?}"),
                }
            }
        }

        #[test]
        fn a_git_push_whose_commands_never_end_is_refused() {
            let pipeline = with_default_pack();
            let (head, _) = push("refs/heads/topic");
            let mut exchange = Exchange::new("git");
            pipeline
                .on_request_headers(&mut exchange, head, false, Ok(None))
                .unwrap();
            let endless = format!("{:04x}{}", 0xfff0, "x".repeat(0xfff0 - 4));
            let mut refused = None;
            for _ in 0..40 {
                let outcome = pipeline
                    .on_request_body(&mut exchange, endless.as_bytes(), false)
                    .unwrap();
                if let Step::Reply(reply) = outcome.step {
                    refused = Some(reply);
                    break;
                }
            }
            let reply = refused.expect("held back more than the limit without deciding");
            assert_eq!(reply.status, 403);
            assert!(String::from_utf8_lossy(&reply.body).contains("unreadable-body"));
        }
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: method.into(),
            scheme: "http".into(),
            authority: "api.test".into(),
            path: "/x".into(),
            headers: headers.iter().map(|(n, v)| (*n, *v)).collect(),
        }
    }

    fn response(headers: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            status: 200,
            headers: headers.iter().map(|(n, v)| (*n, *v)).collect::<Headers>(),
        }
    }

    fn mutation(outcome: Outcome) -> Mutation {
        match outcome.step {
            Step::Continue(m) => m,
            Step::Reply(r) => panic!("expected continue, got reply {r:?}"),
            Step::Hold(h) => panic!("expected continue, got hold {:?}", h.check.decision),
        }
    }

    fn reply(outcome: Outcome) -> LocalReply {
        match outcome.step {
            Step::Reply(r) => r,
            Step::Continue(m) => panic!("expected reply, got continue {m:?}"),
            Step::Hold(h) => panic!("expected reply, got hold {:?}", h.check.decision),
        }
    }

    #[test]
    fn get_without_response_inspection_needs_one_round_trip() {
        let p = pipeline(BodyInspection::Streamed, BodyInspection::None);
        let mut ex = Exchange::new("r1");
        let m = mutation(
            p.on_request_headers(&mut ex, request("GET", &[]), true, Ok(None))
                .unwrap(),
        );
        assert_eq!(m.plan, Some(PhasePlan::HEADERS_ONLY));
    }

    #[test]
    fn request_is_tagged_and_spoofed_warden_headers_removed() {
        let p = pipeline(BodyInspection::None, BodyInspection::None);
        let mut ex = Exchange::new("r2");
        let head = request(
            "GET",
            &[
                ("x-warden-request-id", "forged"),
                ("x-warden-subject", "root"),
            ],
        );
        let outcome = p.on_request_headers(&mut ex, head, true, Ok(None)).unwrap();
        assert_eq!(
            outcome.metadata,
            vec![
                ("request_id", "r2".to_string()),
                ("decision", "allow".into())
            ]
        );
        let m = mutation(outcome);
        assert_eq!(
            m.set_headers,
            vec![(REQUEST_ID_HEADER.to_string(), "r2".into())]
        );
        assert_eq!(
            m.remove_headers,
            vec!["x-warden-request-id".to_string(), "x-warden-subject".into()]
        );
    }

    #[test]
    fn bodies_follow_configured_modes() {
        let p = pipeline(BodyInspection::Buffered, BodyInspection::Streamed);
        let mut ex = Exchange::new("r3");
        let m = mutation(
            p.on_request_headers(
                &mut ex,
                request("POST", &[("content-length", "5")]),
                false,
                Ok(None),
            )
            .unwrap(),
        );
        assert_eq!(
            m.plan,
            Some(PhasePlan {
                request_body: BodyMode::Buffered,
                response_headers: true,
                response_body: BodyMode::Streamed,
            })
        );
        mutation(p.on_request_body(&mut ex, b"hello", true).unwrap());
        assert_eq!(ex.body(Direction::Request).bytes, 5);
        assert!(ex.body(Direction::Request).ended);
    }

    #[test]
    fn announced_oversized_buffered_body_is_refused_before_reading() {
        let p = pipeline(BodyInspection::Buffered, BodyInspection::None);
        let mut ex = Exchange::new("r4");
        let outcome = p
            .on_request_headers(
                &mut ex,
                request("POST", &[("content-length", "101")]),
                false,
                Ok(None),
            )
            .unwrap();
        assert_eq!(outcome.metadata[1], ("decision", "deny".to_string()));
        let r = reply(outcome);
        assert_eq!(r.status, 413);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"]["code"], "body_too_large");
        assert_eq!(body["error"]["request_id"], "r4");
    }

    #[test]
    fn chunked_buffered_body_over_the_limit_is_refused() {
        let p = pipeline(BodyInspection::Buffered, BodyInspection::None);
        let mut ex = Exchange::new("r5");
        let head = request("POST", &[("transfer-encoding", "chunked")]);
        mutation(
            p.on_request_headers(&mut ex, head, false, Ok(None))
                .unwrap(),
        );
        let r = reply(p.on_request_body(&mut ex, &[b'a'; 101], true).unwrap());
        assert_eq!(r.status, 413);
    }

    #[test]
    fn streamed_bodies_have_no_size_limit() {
        let p = pipeline(BodyInspection::Streamed, BodyInspection::None);
        let mut ex = Exchange::new("r6");
        let head = request("POST", &[("transfer-encoding", "chunked")]);
        mutation(
            p.on_request_headers(&mut ex, head, false, Ok(None))
                .unwrap(),
        );
        for _ in 0..10 {
            mutation(p.on_request_body(&mut ex, &[b'a'; 100], false).unwrap());
        }
        mutation(p.on_request_body(&mut ex, b"", true).unwrap());
        assert_eq!(ex.body(Direction::Request).bytes, 1000);
        assert_eq!(ex.body(Direction::Request).messages, 11);
    }

    #[test]
    fn event_streams_and_unknown_lengths_are_never_buffered() {
        let p = pipeline(BodyInspection::None, BodyInspection::Buffered);
        let cases = [
            (
                vec![("content-type", "text/event-stream")],
                BodyMode::Streamed,
            ),
            (
                vec![
                    ("content-type", "text/event-stream"),
                    ("content-length", "5"),
                ],
                BodyMode::Streamed,
            ),
            (
                vec![("content-type", "application/json")],
                BodyMode::Streamed,
            ),
            (
                vec![
                    ("content-type", "application/json"),
                    ("content-length", "100"),
                ],
                BodyMode::Buffered,
            ),
            (vec![("content-length", "101")], BodyMode::Streamed),
        ];
        for (headers, expected) in cases {
            let mut ex = Exchange::new("r7");
            mutation(
                p.on_request_headers(&mut ex, request("GET", &[]), true, Ok(None))
                    .unwrap(),
            );
            let m = mutation(
                p.on_response_headers(&mut ex, response(&headers), false)
                    .unwrap(),
            );
            assert_eq!(m.plan.unwrap().response_body, expected, "{headers:?}");
        }
    }

    #[test]
    fn oversized_buffered_response_is_replaced_by_an_error() {
        let p = pipeline(BodyInspection::None, BodyInspection::Buffered);
        let mut ex = Exchange::new("r8");
        mutation(
            p.on_request_headers(&mut ex, request("GET", &[]), true, Ok(None))
                .unwrap(),
        );
        mutation(
            p.on_response_headers(&mut ex, response(&[("content-length", "50")]), false)
                .unwrap(),
        );
        let r = reply(p.on_response_body(&mut ex, &[0; 150], true).unwrap());
        assert_eq!(r.status, 502);
    }

    #[test]
    fn out_of_order_messages_are_errors() {
        let p = pipeline(BodyInspection::Streamed, BodyInspection::Streamed);
        let mut ex = Exchange::new("r9");
        assert_eq!(
            p.on_request_body(&mut ex, b"x", true),
            Err(PipelineError::BeforeRequestHeaders("request body"))
        );
        assert_eq!(
            p.on_response_headers(&mut ex, response(&[]), true),
            Err(PipelineError::BeforeRequestHeaders("response headers"))
        );
        mutation(
            p.on_request_headers(
                &mut ex,
                request("POST", &[("content-length", "1")]),
                false,
                Ok(None),
            )
            .unwrap(),
        );
        assert_eq!(
            p.on_request_headers(&mut ex, request("POST", &[]), false, Ok(None)),
            Err(PipelineError::Repeated("request headers"))
        );
        mutation(p.on_request_body(&mut ex, b"x", true).unwrap());
        assert_eq!(
            p.on_request_body(&mut ex, b"y", true),
            Err(PipelineError::AfterEndOfBody("request body"))
        );
    }

    mod masking {
        use super::*;
        use std::io::Write;

        /// A GitHub-token-shaped fake: the default pack masks it.
        const TOKEN: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

        fn masking_pipeline(binary: BinaryPolicy) -> Pipeline {
            let redactor = Redactor::with_defaults().expect("default pack compiles");
            Pipeline::new(
                PipelineSettings {
                    request_body: BodyInspection::Streamed,
                    response_body: BodyInspection::Streamed,
                    max_buffered_body_bytes: 1 << 20,
                    masking: MaskingSettings {
                        request: true,
                        response: true,
                        binary,
                    },
                },
                Some(Arc::new(redactor)),
            )
        }

        fn started(p: &Pipeline, request_headers: &[(&str, &str)]) -> (Exchange, Mutation) {
            let mut ex = Exchange::new("m");
            let m = mutation(
                p.on_request_headers(&mut ex, request("GET", request_headers), true, Ok(None))
                    .unwrap(),
            );
            (ex, m)
        }

        #[test]
        fn secrets_in_response_headers_are_masked_every_value_kept() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            let head = response(&[
                ("content-type", "text/plain"),
                ("x-echo", &format!("you sent {TOKEN}")),
                ("set-cookie", "theme=dark"),
                ("set-cookie", &format!("gh={TOKEN}; Path=/")),
                ("x-plain", "nothing here"),
            ]);
            let m = mutation(p.on_response_headers(&mut ex, head, false).unwrap());
            let all: Vec<_> = m.set_headers.iter().chain(&m.append_headers).collect();
            assert!(all.iter().all(|(_, v)| !v.contains(TOKEN)), "{all:?}");
            assert!(m
                .set_headers
                .iter()
                .any(|(n, v)| n == "x-echo" && v.starts_with("you sent [REDACTED")));
            // Both cookies go on: the first replaces, the second is appended.
            assert_eq!(
                m.set_headers
                    .iter()
                    .filter(|(n, _)| n == "set-cookie")
                    .count(),
                1
            );
            assert_eq!(
                m.set_headers
                    .iter()
                    .find(|(n, _)| n == "set-cookie")
                    .unwrap()
                    .1,
                "theme=dark"
            );
            assert!(m
                .append_headers
                .iter()
                .any(|(n, v)| n == "set-cookie" && v.contains("[REDACTED")));
            assert!(!all
                .iter()
                .any(|(n, _)| n == "x-plain" || n == "content-type"));
            assert_eq!(ex.findings(Direction::Response).total, 2);
        }

        #[test]
        fn secrets_in_request_headers_are_masked_but_not_warden_s_own() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (ex, m) = started(
                &p,
                &[
                    ("x-debug", &format!("token={TOKEN}")),
                    ("x-warden-subject", TOKEN),
                ],
            );
            assert!(
                m.set_headers
                    .iter()
                    .any(|(n, v)| n == "x-debug" && v.starts_with("token=[REDACTED")),
                "{m:?}"
            );
            // A spoofed Warden header is removed, not masked.
            assert!(m.remove_headers.contains(&"x-warden-subject".to_string()));
            assert!(!m.set_headers.iter().any(|(n, _)| n == "x-warden-subject"));
            assert_eq!(ex.findings(Direction::Request).total, 1);
        }

        #[test]
        fn the_injected_credential_echoed_in_a_header_is_masked_in_any_spelling() {
            use base64::Engine as _;
            let redactor = Redactor::with_defaults().expect("default pack compiles");
            let secret = "upstream-cred-7f3a9c21e5";
            redactor
                .set_known_secrets(&[crate::redact::KnownSecret::new("credential:api", secret)])
                .expect("known secret");
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("x:{secret}"));
            for echoed in [
                secret.to_string(),
                format!("Bearer {secret}"),
                format!("Basic {b64}"),
                secret.replace('-', "%2d"),
            ] {
                let masked = redactor
                    .redact_header("x-upstream-saw", echoed.as_bytes(), Direction::Response)
                    .unwrap_or_else(|| panic!("{echoed} not masked"));
                assert!(masked.value.contains("[REDACTED:"), "{masked:?}");
                assert!(!masked.value.contains("7f3a9c21"), "{masked:?}");
            }
        }

        #[test]
        fn accept_encoding_is_removed_when_responses_are_masked() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (_, m) = started(&p, &[("accept-encoding", "gzip, br")]);
            assert!(m.remove_headers.contains(&"accept-encoding".to_string()));
            assert!(m.plan.unwrap().response_headers);
        }

        #[test]
        fn protobuf_is_not_asked_for_when_responses_are_masked() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let kubectl = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
            let (_, m) = started(&p, &[("accept", kubectl)]);
            let accept = m.set_headers.iter().find(|(n, _)| n == "accept");
            assert_eq!(
                accept.map(|(_, v)| v.as_str()),
                Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
            );
            let (_, m) = started(&p, &[("accept", "application/vnd.kubernetes.protobuf")]);
            let accept = m.set_headers.iter().find(|(n, _)| n == "accept");
            assert_eq!(accept.map(|(_, v)| v.as_str()), Some("application/json"));
            let (_, m) = started(&p, &[("accept", "application/json")]);
            assert!(!m.set_headers.iter().any(|(n, _)| n == "accept"));
        }

        #[test]
        fn a_body_whose_deadline_passed_is_refused_not_passed() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            let body = format!("{{\"token\": \"{TOKEN}\", \"n\": 1}}");
            let len = body.len().to_string();
            p.on_response_headers(
                &mut ex,
                response(&[
                    ("content-type", "application/json"),
                    ("content-length", &len),
                ]),
                false,
            )
            .unwrap();
            ex.set_deadline(Some(std::time::Instant::now()));
            let out = p.on_response_body(&mut ex, body.as_bytes(), true).unwrap();
            let Step::Reply(reply) = out.step else {
                panic!("passed a body that was not inspected in time: {out:?}");
            };
            assert_eq!(reply.status, 502);
            assert_eq!(reply.details, INSPECTION_TIMEOUT_DETAILS);
        }

        #[test]
        fn a_buffered_json_response_is_masked_and_its_length_fixed() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            let body = format!("{{\"token\": \"{TOKEN}\", \"n\": 1}}");
            let len = body.len().to_string();
            let m = mutation(
                p.on_response_headers(
                    &mut ex,
                    response(&[
                        ("content-type", "application/json"),
                        ("content-length", &len),
                    ]),
                    false,
                )
                .unwrap(),
            );
            assert_eq!(m.plan.unwrap().response_body, BodyMode::Buffered);
            let out = p.on_response_body(&mut ex, body.as_bytes(), true).unwrap();
            assert!(out.metadata.contains(&("masked_response", "1".to_string())));
            let m = mutation(out);
            let masked = String::from_utf8(m.body.clone().unwrap()).unwrap();
            assert!(!masked.contains(TOKEN), "{masked}");
            serde_json::from_str::<serde_json::Value>(&masked).expect("still JSON");
            assert_eq!(
                m.set_headers,
                vec![("content-length".to_string(), masked.len().to_string())]
            );
            assert_eq!(ex.findings(Direction::Response).total, 1);
        }

        #[test]
        fn a_secret_split_across_streamed_chunks_is_masked() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            let m = mutation(
                p.on_response_headers(&mut ex, response(&[("content-type", "text/plain")]), false)
                    .unwrap(),
            );
            assert_eq!(m.plan.unwrap().response_body, BodyMode::Streamed);
            let body = format!("first line\ntoken={TOKEN}\nlast line\n");
            let (a, b) = body.split_at(body.find("ghp_").unwrap() + 10);
            let mut out = Vec::new();
            for (chunk, end) in [(a, false), (b, true)] {
                let m = mutation(p.on_response_body(&mut ex, chunk.as_bytes(), end).unwrap());
                out.extend(m.body.unwrap_or_else(|| chunk.as_bytes().to_vec()));
            }
            let out = String::from_utf8(out).unwrap();
            assert!(!out.contains(TOKEN) && !out.contains("ghp_9xQ2"), "{out}");
            assert!(out.starts_with("first line\n") && out.ends_with("last line\n"));
        }

        #[test]
        fn a_streamed_body_of_known_length_loses_its_content_length() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            let m = mutation(
                p.on_response_headers(
                    &mut ex,
                    response(&[
                        ("content-type", "text/event-stream"),
                        ("content-length", "9"),
                    ]),
                    false,
                )
                .unwrap(),
            );
            assert_eq!(m.plan.unwrap().response_body, BodyMode::Streamed);
            assert_eq!(m.remove_headers, vec!["content-length".to_string()]);
        }

        #[test]
        fn a_gzip_response_is_decoded_masked_and_sent_plain() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            let body = format!("{{\"token\": \"{TOKEN}\"}}");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(body.as_bytes()).unwrap();
            let gz = gz.finish().unwrap();
            let m = mutation(
                p.on_response_headers(
                    &mut ex,
                    response(&[
                        ("content-type", "application/json"),
                        ("content-encoding", "gzip"),
                    ]),
                    false,
                )
                .unwrap(),
            );
            assert_eq!(m.plan.unwrap().response_body, BodyMode::Buffered);
            let m = mutation(p.on_response_body(&mut ex, &gz, true).unwrap());
            let masked = String::from_utf8(m.body.unwrap()).unwrap();
            assert!(
                !masked.contains(TOKEN) && masked.contains("REDACTED"),
                "{masked}"
            );
            assert_eq!(m.remove_headers, vec!["content-encoding".to_string()]);
        }

        #[test]
        fn a_clean_gzip_response_passes_untouched_and_garbage_is_refused() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(b"{\"ok\": true}").unwrap();
            let gz = gz.finish().unwrap();
            let gzip = [
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ];
            mutation(
                p.on_response_headers(&mut ex, response(&gzip), false)
                    .unwrap(),
            );
            assert_eq!(
                mutation(p.on_response_body(&mut ex, &gz, true).unwrap()),
                Mutation::default()
            );

            let (mut ex, _) = started(&p, &[]);
            mutation(
                p.on_response_headers(&mut ex, response(&gzip), false)
                    .unwrap(),
            );
            let r = reply(
                p.on_response_body(&mut ex, b"not gzip at all", true)
                    .unwrap(),
            );
            assert_eq!(r.status, 502);
            assert!(String::from_utf8_lossy(&r.body).contains("could not be decoded"));

            let (mut ex, _) = started(&p, &[]);
            let odd = [
                ("content-type", "text/plain"),
                ("content-encoding", "x-unknown"),
            ];
            mutation(
                p.on_response_headers(&mut ex, response(&odd), false)
                    .unwrap(),
            );
            assert_eq!(
                reply(p.on_response_body(&mut ex, b"??", true).unwrap()).status,
                502
            );
        }

        #[test]
        fn binary_bodies_follow_the_binary_policy() {
            let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
            let image = [("content-type", "image/png")];
            let p = masking_pipeline(BinaryPolicy::Block);
            let (mut ex, _) = started(&p, &[]);
            // Nothing is refused on a label: the bytes decide.
            mutation(
                p.on_response_headers(&mut ex, response(&image), false)
                    .unwrap(),
            );
            let r = reply(p.on_response_body(&mut ex, png, true).unwrap());
            assert_eq!(r.status, 502);

            let mut ex = Exchange::new("b");
            let head = request(
                "POST",
                &[("content-type", "application/zip"), ("content-length", "4")],
            );
            let m = mutation(
                p.on_request_headers(&mut ex, head, false, Ok(None))
                    .unwrap(),
            );
            assert_eq!(m.plan.unwrap().request_body, BodyMode::Buffered);
            let r = reply(p.on_request_body(&mut ex, b"PK\x03\x04", true).unwrap());
            assert_eq!(r.status, 415);

            // Text under a binary label is masked, not refused.
            let (mut ex, _) = started(&p, &[]);
            mutation(
                p.on_response_headers(&mut ex, response(&image), false)
                    .unwrap(),
            );
            let text = format!("{{\"note\": \"{TOKEN}\"}}");
            let m = mutation(p.on_response_body(&mut ex, text.as_bytes(), true).unwrap());
            let out = String::from_utf8(m.body.expect("masked")).unwrap();
            assert!(!out.contains(TOKEN), "{out}");
            assert!(!ex.body_choice(Direction::Response).passed_unread);

            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            mutation(
                p.on_response_headers(&mut ex, response(&image), false)
                    .unwrap(),
            );
            let m = mutation(p.on_response_body(&mut ex, png, true).unwrap());
            assert_eq!(m.body, None, "passed as it is");
            assert!(ex.body_choice(Direction::Response).passed_unread);
        }

        #[test]
        fn a_streamed_unknown_body_is_decided_by_its_bytes() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            mutation(
                p.on_response_headers(
                    &mut ex,
                    response(&[("content-type", "application/octet-stream")]),
                    false,
                )
                .unwrap(),
            );
            let text = format!("{{\"a\": 1, \"token\": \"{TOKEN}\"}}");
            let mut out = Vec::new();
            for (i, chunk) in text.as_bytes().chunks(5).enumerate() {
                let end = (i + 1) * 5 >= text.len();
                let m = mutation(p.on_response_body(&mut ex, chunk, end).unwrap());
                out.extend(m.body.unwrap_or_else(|| chunk.to_vec()));
            }
            let out = String::from_utf8(out).unwrap();
            assert!(
                !out.contains(TOKEN) && out.starts_with("{\"a\": 1"),
                "{out}"
            );
        }

        #[test]
        fn outbound_request_bodies_are_masked() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let body = format!("{{\"prompt\": \"deploy with {TOKEN}\"}}");
            let len = body.len().to_string();
            let mut ex = Exchange::new("o");
            let head = request(
                "POST",
                &[
                    ("content-type", "application/json"),
                    ("content-length", &len),
                ],
            );
            let m = mutation(
                p.on_request_headers(&mut ex, head, false, Ok(None))
                    .unwrap(),
            );
            assert_eq!(m.plan.unwrap().request_body, BodyMode::Buffered);
            let m = mutation(p.on_request_body(&mut ex, body.as_bytes(), true).unwrap());
            assert!(!String::from_utf8(m.body.unwrap()).unwrap().contains(TOKEN));
        }
    }

    mod fields {
        use super::*;
        use crate::identity::{IdentityKind, IdentitySource};
        use crate::policy::watch::PolicyStore;

        const POLICY: &str = r#"
rules:
  - id: agent-fields
    when: { host: api.test, identity: { group: agents } }
    action: allow
    mask:
      fields:
        - { key: ssn }
        - { path: "$.rows[*][0]" }
        - { column: salary, direction: both }
  - id: sql-needs-body
    when: { sql: { kind: drop } }
    action: deny
"#;

        /// Pattern masking off: only the fields a policy flags are masked.
        fn fields_pipeline() -> Pipeline {
            let policy = Policy::from_sources(vec![("p.yaml".into(), POLICY.into())]).unwrap();
            Pipeline::new(
                PipelineSettings {
                    request_body: BodyInspection::None,
                    response_body: BodyInspection::None,
                    max_buffered_body_bytes: 256,
                    masking: MaskingSettings {
                        request: false,
                        response: false,
                        binary: BinaryPolicy::Pass,
                    },
                },
                None,
            )
            .with_policy(PolicyStore::fixed(policy))
        }

        fn caller(group: &str) -> Identity {
            Identity {
                subject: format!("{group}-1"),
                issuer: "https://idp.test".into(),
                groups: vec![group.into()],
                kind: IdentityKind::Agent,
                session_id: None,
                source: IdentitySource::Jwt,
                acting_for: Vec::new(),
            }
        }

        const BODY: &str = r#"{"ssn": "123-45-6789", "rows": [["r0", 1]], "columns": ["name", "salary"], "data": [["bob", 90000]]}"#;

        fn respond(
            group: &str,
            headers: &[(&str, &str)],
            chunks: &[&[u8]],
        ) -> Result<String, LocalReply> {
            let p = fields_pipeline();
            let mut ex = Exchange::new("f");
            let m = mutation(
                p.on_request_headers(&mut ex, request("GET", &[]), true, Ok(Some(caller(group))))
                    .unwrap(),
            );
            let plan = m.plan.expect("plan");
            if group == "agents" {
                assert_ne!(
                    plan.response_body,
                    BodyMode::Skip,
                    "flagged fields need the body"
                );
            }
            let head = p
                .on_response_headers(&mut ex, response(headers), false)
                .unwrap();
            if let Step::Reply(r) = head.step {
                return Err(r);
            }
            let mut out = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                let outcome = p
                    .on_response_body(&mut ex, chunk, i + 1 == chunks.len())
                    .unwrap();
                match outcome.step {
                    Step::Continue(m) => out.extend(m.body.unwrap_or_else(|| chunk.to_vec())),
                    Step::Reply(r) => return Err(r),
                    Step::Hold(_) => panic!("hold"),
                }
            }
            Ok(String::from_utf8(out).unwrap())
        }

        #[test]
        fn flagged_fields_are_masked_for_the_identity_the_rule_names_only() {
            let len = BODY.len().to_string();
            let buffered = [
                ("content-type", "application/json"),
                ("content-length", len.as_str()),
            ];
            let streamed = [("content-type", "application/json")];
            let chunks: Vec<&[u8]> = BODY.as_bytes().chunks(7).collect();
            for (headers, chunks) in [
                (&buffered[..], vec![BODY.as_bytes()]),
                (&streamed[..], chunks),
            ] {
                let out = respond("agents", headers, &chunks).unwrap();
                let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
                assert_eq!(v["ssn"], "[REDACTED:agent-fields]", "{out}");
                assert_eq!(v["rows"][0][0], "[REDACTED:agent-fields]", "{out}");
                assert_eq!(
                    v["data"][0],
                    serde_json::json!(["bob", "[REDACTED:agent-fields]"])
                );
                let out = respond("humans", headers, &chunks).unwrap();
                assert_eq!(out, BODY, "another identity sees the body as sent");
            }
        }

        #[test]
        fn a_streamed_document_larger_than_the_limit_is_refused() {
            let big = format!(
                "{{\"pad\": \"{}\", \"ssn\": \"123-45-6789\"}}",
                "x".repeat(400)
            );
            let chunks: Vec<&[u8]> = big.as_bytes().chunks(100).collect();
            let r =
                respond("agents", &[("content-type", "application/json")], &chunks).unwrap_err();
            assert_eq!(r.status, 502);
            assert!(String::from_utf8_lossy(&r.body).contains("fields_not_maskable"));
            // NDJSON of small lines streams line by line.
            let lines = "{\"ssn\": \"123-45-6789\"}\n".repeat(40);
            let chunks: Vec<&[u8]> = lines.as_bytes().chunks(100).collect();
            let out = respond(
                "agents",
                &[("content-type", "application/x-ndjson")],
                &chunks,
            )
            .unwrap();
            assert!(!out.contains("123-45-6789"));
            assert_eq!(out.lines().count(), 40);
        }

        #[test]
        fn malformed_json_with_flagged_fields_is_refused() {
            let body = b"{\"ssn\": \"123-45-6789\",}";
            let len = body.len().to_string();
            let r = respond(
                "agents",
                &[
                    ("content-type", "application/json"),
                    ("content-length", &len),
                ],
                &[body],
            )
            .unwrap_err();
            assert_eq!(r.status, 502);
        }

        #[test]
        fn request_fields_are_masked_and_a_pending_decision_plans_the_response() {
            let p = fields_pipeline();
            let mut ex = Exchange::new("f");
            let body = br#"{"sql": "SELECT 1", "salary": 5}"#;
            let len = body.len().to_string();
            let m = mutation(
                p.on_request_headers(
                    &mut ex,
                    request(
                        "POST",
                        &[
                            ("content-type", "application/json"),
                            ("content-length", &len),
                        ],
                    ),
                    false,
                    Ok(Some(caller("agents"))),
                )
                .unwrap(),
            );
            let plan = m.plan.expect("plan");
            assert_eq!(
                plan.request_body,
                BodyMode::Buffered,
                "the policy reads SQL"
            );
            assert_ne!(
                plan.response_body,
                BodyMode::Skip,
                "response fields may apply"
            );
            let m = mutation(p.on_request_body(&mut ex, body, true).unwrap());
            let sent = String::from_utf8(m.body.expect("masked")).unwrap();
            assert_eq!(
                sent,
                r#"{"sql": "SELECT 1", "salary": "[REDACTED:agent-fields]"}"#
            );
        }
    }
}
