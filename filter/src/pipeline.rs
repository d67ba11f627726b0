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
//! Later layers plug in here: identity and policy in [`Pipeline::decide`], masking in
//! the body phases, holds as another [`Verdict`], audit from the finished exchange.

use crate::config::{BodyInspection, Config};
use crate::http::{RequestHead, ResponseHead};

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
    fn pass() -> Outcome {
        Outcome {
            step: Step::Continue(Mutation::default()),
            metadata: Vec::new(),
        }
    }

    fn reply(reply: LocalReply) -> Outcome {
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

/// Which way a body travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client → upstream.
    Request,
    /// Upstream → client.
    Response,
}

impl Direction {
    fn body_phase(self) -> &'static str {
        match self {
            Direction::Request => "request body",
            Direction::Response => "response body",
        }
    }
}

/// Progress through one body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyProgress {
    /// Bytes seen so far.
    pub bytes: u64,
    /// Messages (chunks) seen so far.
    pub messages: u32,
    /// True once the last chunk arrived.
    pub ended: bool,
}

/// Per-stream state of one HTTP exchange.
#[derive(Clone, Debug)]
pub struct Exchange {
    id: String,
    request: Option<RequestHead>,
    decision: Option<Decision>,
    response: Option<ResponseHead>,
    request_body: BodyProgress,
    response_body: BodyProgress,
}

impl Exchange {
    /// A new exchange with the id Warden gives this request (unique per request).
    pub fn new(id: impl Into<String>) -> Exchange {
        Exchange {
            id: id.into(),
            request: None,
            decision: None,
            response: None,
            request_body: BodyProgress::default(),
            response_body: BodyProgress::default(),
        }
    }

    /// Warden's id for this request.
    pub fn id(&self) -> &str {
        &self.id
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
        match direction {
            Direction::Request => &self.request_body,
            Direction::Response => &self.response_body,
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
}

impl From<&Config> for PipelineSettings {
    fn from(config: &Config) -> Self {
        PipelineSettings {
            request_body: config.inspection.request_body,
            response_body: config.inspection.response_body,
            max_buffered_body_bytes: config.limits.max_buffered_body_bytes,
        }
    }
}

/// The decision pipeline. Immutable and shared by every stream.
#[derive(Clone, Debug)]
pub struct Pipeline {
    settings: PipelineSettings,
}

impl Pipeline {
    /// A pipeline with these settings.
    pub fn new(settings: PipelineSettings) -> Pipeline {
        Pipeline { settings }
    }

    /// The settings in force.
    pub fn settings(&self) -> &PipelineSettings {
        &self.settings
    }

    /// Decides about a request from its head alone. Shared by ext_proc and ext_authz
    /// so both give the same answer.
    pub fn decide(&self, request_id: &str, head: &RequestHead, end_of_stream: bool) -> Decision {
        let has_body = !end_of_stream && head.may_have_body();
        let request_body = if has_body {
            body_mode(self.settings.request_body)
        } else {
            BodyMode::Skip
        };
        let response_body = body_mode(self.settings.response_body);
        let plan = PhasePlan {
            request_body,
            response_headers: response_body != BodyMode::Skip,
            response_body,
        };

        // A buffered body that announces a size over the limit is refused now,
        // before anything is read: it could never be inspected whole.
        if request_body == BodyMode::Buffered {
            if let Some(len) = content_length(head) {
                if len > self.settings.max_buffered_body_bytes {
                    return Decision {
                        verdict: Verdict::Deny(self.too_large(Direction::Request, request_id)),
                        plan: PhasePlan::HEADERS_ONLY,
                    };
                }
            }
        }
        Decision {
            verdict: Verdict::Allow,
            plan,
        }
    }

    /// Request headers: decide, strip headers only Warden may set, tag the request.
    pub fn on_request_headers(
        &self,
        exchange: &mut Exchange,
        head: RequestHead,
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        if exchange.request.is_some() {
            return Err(PipelineError::Repeated("request headers"));
        }
        let decision = self.decide(&exchange.id, &head, end_of_stream);
        let metadata = vec![
            ("request_id", exchange.id.clone()),
            ("decision", decision.verdict.name().to_string()),
        ];
        let step = match &decision.verdict {
            Verdict::Deny(reply) => Step::Reply(reply.clone()),
            Verdict::Allow => Step::Continue(Mutation {
                set_headers: vec![(REQUEST_ID_HEADER.into(), exchange.id.clone())],
                remove_headers: spoofed_warden_headers(&head),
                body: None,
                plan: Some(decision.plan),
            }),
        };
        if end_of_stream {
            exchange.request_body.ended = true;
        }
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
        let mode = match &exchange.decision {
            Some(d) => d.plan.request_body,
            None => return Err(PipelineError::BeforeRequestHeaders("request body")),
        };
        self.on_body(exchange, Direction::Request, mode, chunk, end_of_stream)
    }

    /// Response headers: settle how the response body is inspected, now that its
    /// type and length are known.
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
        let mode = if end_of_stream {
            BodyMode::Skip
        } else {
            response_body_mode(
                decision.plan.response_body,
                &head,
                self.settings.max_buffered_body_bytes,
            )
        };
        decision.plan.response_body = mode;
        let plan = decision.plan;
        if end_of_stream {
            exchange.response_body.ended = true;
        }
        exchange.response = Some(head);
        Ok(Outcome {
            step: Step::Continue(Mutation {
                plan: Some(plan),
                ..Mutation::default()
            }),
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
        let mode = match &exchange.decision {
            Some(d) => d.plan.response_body,
            None => return Err(PipelineError::BeforeRequestHeaders("response body")),
        };
        self.on_body(exchange, Direction::Response, mode, chunk, end_of_stream)
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
        mode: BodyMode,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Outcome, PipelineError> {
        let progress = match direction {
            Direction::Request => &mut exchange.request_body,
            Direction::Response => &mut exchange.response_body,
        };
        if progress.ended {
            return Err(PipelineError::AfterEndOfBody(direction.body_phase()));
        }
        progress.bytes = progress.bytes.saturating_add(chunk.len() as u64);
        progress.messages = progress.messages.saturating_add(1);
        progress.ended = end_of_stream;

        // A buffered body arrives whole. Streamed chunks never accumulate here, so
        // only buffered bodies can exceed the limit. A body that arrives although its
        // phase was skipped (an Envoy that ignored our mode override) is inspected
        // like a streamed one rather than passed unseen.
        if mode == BodyMode::Buffered && progress.bytes > self.settings.max_buffered_body_bytes {
            return Ok(Outcome::reply(self.too_large(direction, &exchange.id)));
        }
        Ok(Outcome::pass())
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

/// Picks the response body mode once the response head is known. Buffering is only
/// safe for a body of known, acceptable size that is not an event stream: buffering
/// a stream would hold every event back until the end.
fn response_body_mode(planned: BodyMode, head: &ResponseHead, max_buffered: u64) -> BodyMode {
    if planned != BodyMode::Buffered {
        return planned;
    }
    let streaming_type = matches!(
        head.media_type().as_deref(),
        Some("text/event-stream" | "application/x-ndjson" | "application/jsonl")
    );
    let length = head
        .headers
        .get_str("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(len) if !streaming_type && len <= max_buffered => BodyMode::Buffered,
        _ => BodyMode::Streamed,
    }
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
        Pipeline::new(PipelineSettings {
            request_body,
            response_body,
            max_buffered_body_bytes: 100,
        })
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
            p.on_request_headers(&mut ex, request("GET", &[]), true)
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
        let outcome = p.on_request_headers(&mut ex, head, true).unwrap();
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
            p.on_request_headers(&mut ex, request("POST", &[("content-length", "5")]), false)
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
        mutation(p.on_request_headers(&mut ex, head, false).unwrap());
        let r = reply(p.on_request_body(&mut ex, &[b'a'; 101], true).unwrap());
        assert_eq!(r.status, 413);
    }

    #[test]
    fn streamed_bodies_have_no_size_limit() {
        let p = pipeline(BodyInspection::Streamed, BodyInspection::None);
        let mut ex = Exchange::new("r6");
        let head = request("POST", &[("transfer-encoding", "chunked")]);
        mutation(p.on_request_headers(&mut ex, head, false).unwrap());
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
                p.on_request_headers(&mut ex, request("GET", &[]), true)
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
            p.on_request_headers(&mut ex, request("GET", &[]), true)
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
            p.on_request_headers(&mut ex, request("POST", &[("content-length", "1")]), false)
                .unwrap(),
        );
        assert_eq!(
            p.on_request_headers(&mut ex, request("POST", &[]), false),
            Err(PipelineError::Repeated("request headers"))
        );
        mutation(p.on_request_body(&mut ex, b"x", true).unwrap());
        assert_eq!(
            p.on_request_body(&mut ex, b"y", true),
            Err(PipelineError::AfterEndOfBody("request body"))
        );
    }
}
