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

mod body;

use std::sync::Arc;

pub use crate::redact::Direction;
pub use body::{BodyChoice, BodyProgress, FindingTally};

use crate::config::{BodyInspection, Config};
use crate::http::{RequestHead, ResponseHead};
use crate::identity::{AuthError, Authenticator, CredentialInjector, Identity, PeerAttributes};
use crate::masking::BinaryPolicy;
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
}

impl Verdict {
    /// The short name used in logs, metadata and audit: `allow` or `deny`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny(_) => "deny",
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

/// Changes to the message that continues on its way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mutation {
    /// Headers to set, replacing any existing value.
    pub set_headers: Vec<(String, String)>,
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
        }
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

    fn body_state(&self, direction: Direction) -> &BodyState {
        match direction {
            Direction::Request => &self.request_body,
            Direction::Response => &self.response_body,
        }
    }

    fn body_state_mut(&mut self, direction: Direction) -> &mut BodyState {
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
    /// Fingerprint of the injected credentials the masker knows, so a credential file
    /// that changed is masked from the first request that injects the new value.
    known_credentials: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
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
            known_credentials: Arc::default(),
        }
    }

    /// Adds identity verification and credential injection.
    pub fn with_identity(
        mut self,
        authenticator: Authenticator,
        injector: Option<Arc<CredentialInjector>>,
    ) -> Pipeline {
        self.identity = Some(authenticator);
        self.injector = injector;
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
        self.redactor.is_some()
            && match direction {
                Direction::Request => self.settings.masking.request,
                Direction::Response => self.settings.masking.response,
            }
    }

    /// Decides about a request from its head alone. Shared by ext_proc and ext_authz
    /// so both give the same answer.
    pub fn decide(&self, request_id: &str, head: &RequestHead, end_of_stream: bool) -> Decision {
        let has_body = !end_of_stream && head.may_have_body();
        let max = self.settings.max_buffered_body_bytes;
        let request_body = if has_body {
            let base = body_mode(self.settings.request_body);
            let mask = self.masks(Direction::Request);
            let base = if mask && base == BodyMode::Skip {
                BodyMode::Streamed
            } else {
                base
            };
            match body::choose(
                Direction::Request,
                &head.headers,
                base,
                mask,
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
        if self.masks(Direction::Response) && response_body == BodyMode::Skip {
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
            Ok(identity) => (self.decide(&exchange.id, &head, end_of_stream), identity),
            Err(err) => {
                tracing::info!(request_id = %exchange.id, reason = err.code(), "authentication failed");
                let reply = err.reply(&exchange.id);
                (self.deny(reply, BodyChoice::unmasked(BodyMode::Skip)), None)
            }
        };
        let mut metadata = vec![
            ("request_id", exchange.id.clone()),
            ("decision", decision.verdict.name().to_string()),
        ];
        if let Some(identity) = &identity {
            metadata.extend(identity.metadata());
        }
        let step = match &decision.verdict {
            Verdict::Deny(reply) => Step::Reply(reply.clone()),
            Verdict::Allow => {
                let mut remove_headers = spoofed_warden_headers(&head);
                if decision.request_body.drop_content_length {
                    remove_headers.push("content-length".into());
                }
                // Ask the upstream for an uncompressed response: it can then be
                // masked as it streams instead of being buffered and decoded.
                if decision.plan.response_headers
                    && self.masks(Direction::Response)
                    && head.headers.get("accept-encoding").is_some()
                {
                    remove_headers.push("accept-encoding".into());
                }
                let mut set_headers = vec![(REQUEST_ID_HEADER.into(), exchange.id.clone())];
                let mut changes = Vec::new();
                if let Some(authenticator) = &self.identity {
                    // Also strips identity headers a client forged.
                    changes.push(authenticator.upstream_headers(identity.as_ref()));
                }
                if let Some(injected) = self.injector.as_deref().and_then(|i| i.apply(&head)) {
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
                Step::Continue(Mutation {
                    set_headers,
                    remove_headers,
                    body: None,
                    plan: Some(decision.plan),
                })
            }
        };
        if decision.request_body.passed_unread {
            tracing::info!(
                request_id = %exchange.id,
                content_type = head.headers.get_str("content-type").unwrap_or(""),
                "request body is binary: passed unread (masking.binary: pass)"
            );
        }
        if end_of_stream {
            exchange.request_body.progress.ended = true;
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
                self.masks(Direction::Response),
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
        if choice.passed_unread {
            tracing::info!(
                request_id = %exchange.id,
                content_type = head.headers.get_str("content-type").unwrap_or(""),
                "response body is binary: passed unread (masking.binary: pass)"
            );
        }
        if bodiless {
            exchange.response_body.progress.ended = true;
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
        Ok(Outcome::pass())
    }

    fn on_body(
        &self,
        exchange: &mut Exchange,
        direction: Direction,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        if exchange.decision.is_none() {
            return Err(PipelineError::BeforeRequestHeaders(body_phase(direction)));
        }
        let max = self.settings.max_buffered_body_bytes;
        let id = exchange.id.clone();
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
        let Some(redactor) = self.redactor.as_deref().filter(|_| state.choice.mask) else {
            return Ok(Outcome::pass());
        };
        let mut outcome = if buffered {
            let max_decoded =
                usize::try_from(max.saturating_mul(MAX_DECODE_FACTOR)).unwrap_or(usize::MAX);
            body::mask_whole(redactor, state, direction, chunk, &id, max_decoded)
        } else {
            body::mask_chunk(redactor, state, direction, chunk, end_of_stream, &id)
        };
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
        Ok(outcome)
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
        }
    }

    fn reply(outcome: Outcome) -> LocalReply {
        match outcome.step {
            Step::Reply(r) => r,
            Step::Continue(m) => panic!("expected reply, got continue {m:?}"),
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
        fn accept_encoding_is_removed_when_responses_are_masked() {
            let p = masking_pipeline(BinaryPolicy::Pass);
            let (_, m) = started(&p, &[("accept-encoding", "gzip, br")]);
            assert!(m.remove_headers.contains(&"accept-encoding".to_string()));
            assert!(m.plan.unwrap().response_headers);
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
                out.extend(m.body.expect("streamed chunks are always replaced"));
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
            let image = [("content-type", "image/png")];
            let p = masking_pipeline(BinaryPolicy::Block);
            let (mut ex, _) = started(&p, &[]);
            let r = reply(
                p.on_response_headers(&mut ex, response(&image), false)
                    .unwrap(),
            );
            assert_eq!(r.status, 502);

            let mut ex = Exchange::new("b");
            let head = request(
                "POST",
                &[("content-type", "application/zip"), ("content-length", "4")],
            );
            assert_eq!(
                reply(
                    p.on_request_headers(&mut ex, head, false, Ok(None))
                        .unwrap()
                )
                .status,
                415
            );

            let p = masking_pipeline(BinaryPolicy::Pass);
            let (mut ex, _) = started(&p, &[]);
            mutation(
                p.on_response_headers(&mut ex, response(&image), false)
                    .unwrap(),
            );
            assert!(ex.body_choice(Direction::Response).passed_unread);
            assert_eq!(
                mutation(p.on_response_body(&mut ex, b"\x89PNG", true).unwrap()),
                Mutation::default()
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
}
