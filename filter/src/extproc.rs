//! The ext_proc gRPC shell: Envoy's `ExternalProcessor` service over the pipeline.
//!
//! One gRPC stream carries one HTTP exchange. This module only translates Envoy's
//! messages into [`crate::pipeline`] calls and the outcomes back; every decision is made
//! there.
//!
//! Failing closed is this module's one real job. When a stream ends cleanly Envoy
//! continues the request *unprocessed*, so Warden only ends a stream cleanly after
//! Envoy has closed its side. Any error, and any panic while handling a message, ends
//! the stream with an error [`Status`]; with `failure_mode_allow: false` Envoy then
//! answers the client with a 5xx and the upstream never sees the request.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{
    header_value_option::HeaderAppendAction, HeaderMap, HeaderValue, HeaderValueOption,
};
use envoy_types::pb::envoy::extensions::filters::http::ext_proc::v3::{
    processing_mode::{BodySendMode, HeaderSendMode},
    ProcessingMode,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    body_mutation, common_response::ResponseStatus, external_processor_server::ExternalProcessor,
    processing_request, processing_response, BodyMutation, BodyResponse, CommonResponse,
    HeaderMutation, HeadersResponse, HttpBody, HttpHeaders, ImmediateResponse, ProcessingRequest,
    ProcessingResponse, TrailersResponse,
};
use envoy_types::pb::google::protobuf::{value, Struct, Value};
use futures::{FutureExt, Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessorServer;

use crate::audit::RecordSource;
use crate::http::{RequestHead, ResponseHead};
use crate::metrics::{Phase, Shell};
use crate::pipeline::{
    BodyMode, Direction, Exchange, LocalReply, Mutation, Outcome, PhasePlan, Pipeline,
    PipelineError, Step,
};

/// Dynamic metadata namespace Warden writes into (Envoy's `metadata_options`
/// must list it in `receiving_namespaces`).
pub const METADATA_NAMESPACE: &str = "warden";

/// Handles the messages of one ext_proc stream. The production handler is
/// [`Pipeline`]; tests plug in others (for example one that panics).
pub trait StreamHandler: Send + Sync + 'static {
    /// Per-stream state, created when the stream opens.
    type State: Send + 'static;

    /// State for a new stream. `metadata` is the gRPC metadata Envoy opened the
    /// stream with (`traceparent` when Envoy traces).
    fn open(&self, metadata: &tonic::metadata::MetadataMap) -> Self::State;

    /// Called once when the stream is over (however it ended), with its state.
    fn close(&self, state: Self::State) {
        drop(state);
    }

    /// Called when handling a message failed (an error status or a panic): the
    /// stream ends with that error, and Envoy fails the request closed.
    fn fail(&self, state: &mut Self::State) {
        let _ = state;
    }

    /// How long `reply`, the reply to the message just handled, may wait for the next
    /// message (see [`StreamHandler::flush_reply`]). `None` (the default): send it now.
    fn reply_may_wait(
        &self,
        state: &Self::State,
        reply: &ProcessingResponse,
    ) -> Option<std::time::Duration> {
        let _ = (state, reply);
        None
    }

    /// Completes a reply that waited ([`StreamHandler::reply_may_wait`]) when no next
    /// message came in time. An error ends the stream with that status.
    fn flush_reply(
        &self,
        state: &mut Self::State,
        reply: &mut ProcessingResponse,
    ) -> Result<(), Status> {
        let _ = (state, reply);
        Ok(())
    }

    /// The reply to one message. An error ends the stream with that status.
    /// `interim` sends messages ahead of the reply (a longer deadline while a hold
    /// waits for its approver).
    fn handle(
        &self,
        state: &mut Self::State,
        message: ProcessingRequest,
        interim: &Interim,
    ) -> impl Future<Output = Result<ProcessingResponse, Status>> + Send;
}

/// Sends messages on an ext_proc stream ahead of the reply to the current message.
#[derive(Clone, Debug)]
pub struct Interim {
    sender: tokio::sync::mpsc::Sender<Result<ProcessingResponse, Status>>,
}

impl Interim {
    /// Asks Envoy to wait up to `timeout` for the reply to the current message
    /// (`override_message_timeout`; Envoy caps it at the filter's `max_message_timeout`
    /// and ignores it when that is unset). False when the stream is gone.
    pub async fn extend_deadline(&self, timeout: std::time::Duration) -> bool {
        let message = ProcessingResponse {
            override_message_timeout: Some(envoy_types::pb::google::protobuf::Duration {
                seconds: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(timeout.subsec_nanos()).unwrap_or(0),
            }),
            ..ProcessingResponse::default()
        };
        self.sender.send(Ok(message)).await.is_ok()
    }
}

/// Envoy's `envoy.service.ext_proc.v3.ExternalProcessor`, backed by a [`StreamHandler`].
#[derive(Debug)]
pub struct ExtProcService<H> {
    handler: Arc<H>,
}

impl<H> ExtProcService<H> {
    /// A service that runs every stream through `handler`.
    pub fn new(handler: Arc<H>) -> Self {
        ExtProcService { handler }
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

#[tonic::async_trait]
impl<H: StreamHandler> ExternalProcessor for ExtProcService<H> {
    type ProcessStream = ResponseStream;

    async fn process(
        &self,
        request: Request<Streaming<ProcessingRequest>>,
    ) -> Result<Response<Self::ProcessStream>, Status> {
        let mut state = self.handler.open(request.metadata());
        let mut inbound = request.into_inner();
        let handler = Arc::clone(&self.handler);
        // One task per stream reads Envoy's messages and answers each in order; the
        // channel also carries interim messages sent while a reply is being worked out.
        let (sender, replies) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let interim = Interim {
                sender: sender.clone(),
            };
            // A reply that may wait for the next message (events held back while a
            // secret may continue): sent when that message arrives, or completed and
            // sent when its time is up.
            let mut waiting: Option<(ProcessingResponse, tokio::time::Instant)> = None;
            loop {
                let next = match &waiting {
                    None => Some(inbound.next().await),
                    Some((_, until)) => tokio::select! {
                        message = inbound.next() => Some(message),
                        () = tokio::time::sleep_until(*until) => None,
                    },
                };
                let Some(next) = next else {
                    // Nothing came in time: the held events go with the waiting reply.
                    let Some((mut reply, _)) = waiting.take() else {
                        continue;
                    };
                    match handler.flush_reply(&mut state, &mut reply) {
                        Ok(()) => {
                            if sender.send(Ok(reply)).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        Err(status) => {
                            handler.fail(&mut state);
                            let _ = sender.send(Err(status)).await;
                            break;
                        }
                    }
                };
                if let Some((reply, _)) = waiting.take() {
                    // The next message is here: the reply goes as it is; what it held
                    // back goes with a later one.
                    if sender.send(Ok(reply)).await.is_err() {
                        break;
                    }
                }
                match next {
                    Some(Ok(message)) => {
                        match handle_guarded(&*handler, &mut state, message, &interim).await {
                            Ok(reply) => {
                                if let Some(wait) = handler.reply_may_wait(&state, &reply) {
                                    waiting = Some((reply, tokio::time::Instant::now() + wait));
                                    continue;
                                }
                                if sender.send(Ok(reply)).await.is_err() {
                                    break;
                                }
                            }
                            // After an error nothing more is read or sent.
                            Err(status) => {
                                handler.fail(&mut state);
                                let _ = sender.send(Err(status)).await;
                                break;
                            }
                        }
                    }
                    // Envoy closed its side: the exchange is over, a clean end is right.
                    None => break,
                    // A message could not be read: Envoy reset the stream, or (worse) a
                    // message was undecodable or over the size limit. A clean end would
                    // let Envoy continue unprocessed, so always end with an error; if
                    // Envoy is gone, nobody reads it.
                    Some(Err(status)) => {
                        tracing::warn!(%status, "ext_proc message could not be read; failing closed");
                        let message = format!(
                            "warden: cannot read the ext_proc message: {}",
                            status.message()
                        );
                        let _ = sender.send(Err(Status::new(status.code(), message))).await;
                        break;
                    }
                }
            }
            handler.close(state);
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(replies);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Runs the handler, turning a panic into an error status instead of unwinding into
/// the connection (which would take every other stream on it down too).
async fn handle_guarded<H: StreamHandler>(
    handler: &H,
    state: &mut H::State,
    message: ProcessingRequest,
    interim: &Interim,
) -> Result<ProcessingResponse, Status> {
    match AssertUnwindSafe(handler.handle(state, message, interim))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            tracing::error!(panic = %what, "ext_proc handler panicked; failing the request closed");
            Err(Status::internal(
                "warden: internal error while processing the request",
            ))
        }
    }
}

/// Attribute Envoy sends (when listed in `request_attributes`) with the mTLS peer's
/// URI SAN — the SPIFFE id in a mesh.
const PEER_URI_SAN_ATTRIBUTE: &str = "connection.uri_san_peer_certificate";

/// The mesh identity Envoy reports for the connection, from the ext_proc attributes.
fn peer_attributes(
    attributes: &std::collections::HashMap<String, Struct>,
) -> crate::identity::PeerAttributes {
    let uri_san = attributes.values().find_map(|fields| {
        match fields.fields.get(PEER_URI_SAN_ATTRIBUTE)?.kind.as_ref()? {
            value::Kind::StringValue(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    });
    crate::identity::PeerAttributes {
        uri_san_peer_certificate: uri_san,
    }
}

impl StreamHandler for Pipeline {
    type State = Exchange;

    fn open(&self, metadata: &tonic::metadata::MetadataMap) -> Exchange {
        let mut exchange = Exchange::new(uuid::Uuid::now_v7().to_string());
        let trace_parent = metadata
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        exchange.set_trace_parent(trace_parent);
        exchange
    }

    fn close(&self, exchange: Exchange) {
        self.finish_audit(exchange, RecordSource::ExtProc);
    }

    fn fail(&self, exchange: &mut Exchange) {
        exchange.note_failure();
    }

    fn reply_may_wait(
        &self,
        exchange: &Exchange,
        reply: &ProcessingResponse,
    ) -> Option<std::time::Duration> {
        let (direction, _) = streamed_body_reply(reply)?;
        self.events_held(exchange, direction)
    }

    fn flush_reply(
        &self,
        exchange: &mut Exchange,
        reply: &mut ProcessingResponse,
    ) -> Result<(), Status> {
        let Some((direction, _)) = streamed_body_reply(reply) else {
            return Ok(());
        };
        let held = self.flush_events(exchange, direction).map_err(|_| {
            Status::deadline_exceeded(
                "warden: events held back for masking could not be masked in time",
            )
        })?;
        if let Some((_, body)) = streamed_body_reply_mut(reply) {
            body.extend_from_slice(&held);
        }
        Ok(())
    }

    async fn handle(
        &self,
        exchange: &mut Exchange,
        message: ProcessingRequest,
        interim: &Interim,
    ) -> Result<ProcessingResponse, Status> {
        use processing_request::Request as In;
        let started = std::time::Instant::now();
        let phase = message.request.ok_or_else(|| {
            Status::invalid_argument("warden: ext_proc message carries no request phase")
        })?;
        let (outcome, kind) = match phase {
            In::RequestHeaders(h) => {
                if let Err(reply) = self.begin_audit(exchange) {
                    return Ok(to_processing_response(
                        Kind::RequestHeaders,
                        Outcome::reply(reply),
                    ));
                }
                let head = RequestHead::from_header_list(header_list(h.headers.as_ref()));
                let peer = peer_attributes(&message.attributes);
                let auth = self.authenticate(&head, &peer).await;
                let outcome = self.on_request_headers(exchange, head, h.end_of_stream, auth);
                if let Ok(outcome) = &outcome {
                    log_decision(exchange, &outcome.step);
                }
                (outcome, Kind::RequestHeaders)
            }
            In::RequestBody(HttpBody {
                body,
                end_of_stream,
                ..
            }) => (
                body_phase(self, exchange, Direction::Request, body, end_of_stream).await,
                Kind::RequestBody,
            ),
            In::ResponseHeaders(HttpHeaders {
                headers,
                end_of_stream,
                ..
            }) => {
                let head = ResponseHead::from_header_list(header_list(headers.as_ref()));
                (
                    self.on_response_headers(exchange, head, end_of_stream),
                    Kind::ResponseHeaders,
                )
            }
            In::ResponseBody(HttpBody {
                body,
                end_of_stream,
                ..
            }) => (
                body_phase(self, exchange, Direction::Response, body, end_of_stream).await,
                Kind::ResponseBody,
            ),
            In::RequestTrailers(_) => (
                self.on_trailers(exchange, Direction::Request),
                Kind::RequestTrailers,
            ),
            In::ResponseTrailers(_) => (
                self.on_trailers(exchange, Direction::Response),
                Kind::ResponseTrailers,
            ),
        };
        let outcome = outcome.map_err(|err| protocol_error(exchange, err))?;
        let mut waited = std::time::Duration::ZERO;
        let outcome = match outcome.step {
            Step::Hold(_) => {
                let extend = |wait: std::time::Duration| {
                    let interim = interim.clone();
                    async move { interim.extend_deadline(wait).await }
                };
                let hold_started = std::time::Instant::now();
                let outcome = self.resolve_hold(exchange, outcome, &extend).await;
                waited = hold_started.elapsed();
                self.metrics().observe_hold_wait(Shell::ExtProc, waited);
                log_decision(exchange, &outcome.step);
                outcome
            }
            _ => {
                exchange.note_step(&outcome.step);
                outcome
            }
        };
        // The hold's wait (a human's pace) has its own histogram: keep it out of the
        // phase's, which shows Warden's own cost.
        self.metrics()
            .observe_phase(kind.phase(), started.elapsed().saturating_sub(waited));
        Ok(to_processing_response(kind, outcome))
    }
}

/// The direction and replacement body of a reply that continues a body message with
/// a replaced chunk (what a masked streamed chunk gets).
fn streamed_body_reply(reply: &ProcessingResponse) -> Option<(Direction, &Vec<u8>)> {
    use processing_response::Response as Out;
    let (direction, body) = match reply.response.as_ref()? {
        Out::RequestBody(b) => (Direction::Request, b),
        Out::ResponseBody(b) => (Direction::Response, b),
        _ => return None,
    };
    let common = body.response.as_ref()?;
    if common.status != ResponseStatus::Continue as i32 {
        return None;
    }
    match common.body_mutation.as_ref()?.mutation.as_ref()? {
        body_mutation::Mutation::Body(bytes) => Some((direction, bytes)),
        _ => None,
    }
}

/// [`streamed_body_reply`], to append to the body.
fn streamed_body_reply_mut(reply: &mut ProcessingResponse) -> Option<(Direction, &mut Vec<u8>)> {
    use processing_response::Response as Out;
    let (direction, body) = match reply.response.as_mut()? {
        Out::RequestBody(b) => (Direction::Request, b),
        Out::ResponseBody(b) => (Direction::Response, b),
        _ => return None,
    };
    let common = body.response.as_mut()?;
    match common.body_mutation.as_mut()?.mutation.as_mut()? {
        body_mutation::Mutation::Body(bytes) => Some((direction, bytes)),
        _ => None,
    }
}

/// One body message through the pipeline, within its deadline: Envoy's message timeout,
/// or what is left of the exchange's budget for body work, whichever comes first.
///
/// A large message runs on the body worker pool ([`crate::body_workers`]), so a body that
/// is slow to decode, classify or mask never stalls the runtime's threads (and with them
/// every other stream); the exchange moves to the worker and back.
pub(crate) async fn body_phase(
    pipeline: &Pipeline,
    exchange: &mut Exchange,
    direction: Direction,
    body: Vec<u8>,
    end_of_stream: bool,
) -> Result<Outcome, PipelineError> {
    let limits = pipeline.body_limits();
    let started = std::time::Instant::now();
    let budget_left = limits.per_exchange.saturating_sub(exchange.body_work());
    exchange.set_deadline(Some(started + limits.message_timeout.min(budget_left)));
    let workers = pipeline.body_workers().filter(|_| {
        body.len() >= crate::body_workers::OFFLOAD_MIN_BYTES && exchange.body_needs_work(direction)
    });
    let result = match workers {
        None => on_body_message(pipeline, exchange, direction, &body, end_of_stream),
        Some(workers) => {
            let worker_pipeline = pipeline.clone();
            let mut moved = std::mem::replace(exchange, Exchange::new(String::new()));
            let job = move || {
                // The exchange comes back whatever happens, panics included: its audit
                // record must still be written.
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    on_body_message(
                        &worker_pipeline,
                        &mut moved,
                        direction,
                        &body,
                        end_of_stream,
                    )
                }));
                (moved, result)
            };
            pipeline.metrics().body_job(true);
            let ran = workers.run(job).await;
            pipeline.metrics().body_job(false);
            match ran {
                Ok((back, result)) => {
                    *exchange = back;
                    match result {
                        Ok(result) => result,
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                Err(gone) => {
                    // Only while shutting down; the stream fails closed.
                    tracing::error!(error = %gone, "body message not processed");
                    exchange.set_deadline(None);
                    return Err(PipelineError::Unavailable("the body worker pool"));
                }
            }
        }
    };
    exchange.add_body_work(started.elapsed());
    exchange.set_deadline(None);
    if let Ok(Outcome {
        step: Step::Reply(reply),
        ..
    }) = &result
    {
        if reply.details == crate::pipeline::INSPECTION_TIMEOUT_DETAILS {
            pipeline.metrics().count_body_timeout();
        }
    }
    result
}

fn on_body_message(
    pipeline: &Pipeline,
    exchange: &mut Exchange,
    direction: Direction,
    body: &[u8],
    end_of_stream: bool,
) -> Result<Outcome, PipelineError> {
    match direction {
        Direction::Request => pipeline.on_request_body(exchange, body, end_of_stream),
        Direction::Response => pipeline.on_response_body(exchange, body, end_of_stream),
    }
}

/// One log line per decided request: debug for allowed ones (the hot path), info
/// when Warden answers the client itself.
pub(crate) fn log_decision(exchange: &Exchange, step: &Step) {
    let Some(request) = exchange.request() else {
        return;
    };
    // Never the query string: it can carry a secret (`?api_key=…`), and logs are not
    // masked. The audit record has it, masked.
    let path = request.path.split('?').next().unwrap_or_default();
    if let Step::Reply(reply) = step {
        tracing::info!(
            request_id = exchange.id(),
            method = %request.method,
            authority = %request.authority,
            path = %path,
            status = reply.status,
            details = %reply.details,
            "request answered by warden"
        );
    } else {
        tracing::debug!(
            request_id = exchange.id(),
            method = %request.method,
            authority = %request.authority,
            path = %path,
            "request allowed"
        );
    }
}

fn protocol_error(exchange: &Exchange, err: PipelineError) -> Status {
    tracing::error!(request_id = exchange.id(), error = %err, "ext_proc protocol error; failing closed");
    Status::failed_precondition(format!("warden: {err}"))
}

/// Which message the reply answers.
#[derive(Clone, Copy)]
enum Kind {
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    ResponseBody,
    RequestTrailers,
    ResponseTrailers,
}

impl Kind {
    /// The phase the metrics time this message under.
    fn phase(self) -> Phase {
        match self {
            Kind::RequestHeaders => Phase::RequestHeaders,
            Kind::RequestBody => Phase::RequestBody,
            Kind::ResponseHeaders => Phase::ResponseHeaders,
            Kind::ResponseBody => Phase::ResponseBody,
            Kind::RequestTrailers => Phase::RequestTrailers,
            Kind::ResponseTrailers => Phase::ResponseTrailers,
        }
    }
}

/// Envoy's header map as `(name, value)` pairs. Envoy sends values in `raw_value`;
/// older versions used `value`.
fn header_list(map: Option<&HeaderMap>) -> impl Iterator<Item = (&str, &[u8])> {
    map.into_iter().flat_map(|m| m.headers.iter()).map(|h| {
        let value = if h.raw_value.is_empty() {
            h.value.as_bytes()
        } else {
            h.raw_value.as_slice()
        };
        (h.key.as_str(), value)
    })
}

fn to_processing_response(kind: Kind, outcome: Outcome) -> ProcessingResponse {
    use processing_response::Response as Out;
    let dynamic_metadata = metadata_struct(&outcome.metadata);
    let (response, mode_override) = match outcome.step {
        Step::Reply(reply) => (Out::ImmediateResponse(immediate_response(reply)), None),
        // Holds are resolved before this point; one that was not is refused.
        Step::Hold(held) => (
            Out::ImmediateResponse(immediate_response(LocalReply::json_error(
                503,
                "approvals_unavailable",
                "this request is held for approval and its hold was not resolved",
                &held.check.hold.request_id,
            ))),
            None,
        ),
        Step::Continue(mutation) => {
            let mode = match kind {
                Kind::RequestHeaders | Kind::ResponseHeaders => mutation.plan.map(processing_mode),
                _ => None,
            };
            let common = common_response(mutation);
            let response = match kind {
                Kind::RequestHeaders => Out::RequestHeaders(HeadersResponse {
                    response: Some(common),
                }),
                Kind::ResponseHeaders => Out::ResponseHeaders(HeadersResponse {
                    response: Some(common),
                }),
                Kind::RequestBody => Out::RequestBody(BodyResponse {
                    response: Some(common),
                }),
                Kind::ResponseBody => Out::ResponseBody(BodyResponse {
                    response: Some(common),
                }),
                Kind::RequestTrailers => Out::RequestTrailers(TrailersResponse {
                    header_mutation: common.header_mutation,
                }),
                Kind::ResponseTrailers => Out::ResponseTrailers(TrailersResponse {
                    header_mutation: common.header_mutation,
                }),
            };
            (response, mode)
        }
    };
    ProcessingResponse {
        response: Some(response),
        mode_override,
        dynamic_metadata,
        ..ProcessingResponse::default()
    }
}

fn common_response(mutation: Mutation) -> CommonResponse {
    let header_mutation = if mutation.set_headers.is_empty()
        && mutation.append_headers.is_empty()
        && mutation.remove_headers.is_empty()
    {
        None
    } else {
        let mut set_headers = header_options(mutation.set_headers);
        set_headers.extend(appended_header_options(mutation.append_headers));
        Some(HeaderMutation {
            set_headers,
            remove_headers: mutation.remove_headers,
        })
    };
    CommonResponse {
        status: ResponseStatus::Continue as i32,
        header_mutation,
        body_mutation: mutation.body.map(|body| BodyMutation {
            mutation: Some(body_mutation::Mutation::Body(body)),
        }),
        ..CommonResponse::default()
    }
}

/// Header mutations that replace whatever the client sent.
fn header_mutation(set: Vec<(String, String)>, remove: Vec<String>) -> HeaderMutation {
    HeaderMutation {
        set_headers: header_options(set),
        remove_headers: remove,
    }
}

/// Headers to set, with values in `raw_value` (Envoy ignores `value` when the raw
/// form is expected) and overwrite semantics.
fn header_options(set: Vec<(String, String)>) -> Vec<HeaderValueOption> {
    set.into_iter()
        .map(|(key, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key,
                raw_value: value.into_bytes(),
                ..HeaderValue::default()
            }),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..HeaderValueOption::default()
        })
        .collect()
}

/// Headers added next to the values already there (`raw_value`, like [`header_options`]).
fn appended_header_options(add: Vec<(String, String)>) -> Vec<HeaderValueOption> {
    add.into_iter()
        .map(|(key, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key,
                raw_value: value.into_bytes(),
                ..HeaderValue::default()
            }),
            append_action: HeaderAppendAction::AppendIfExistsOrAdd as i32,
            ..HeaderValueOption::default()
        })
        .collect()
}

fn immediate_response(reply: LocalReply) -> ImmediateResponse {
    ImmediateResponse {
        status: Some(HttpStatus {
            code: i32::from(reply.status),
        }),
        headers: Some(header_mutation(reply.headers, Vec::new())),
        body: reply.body,
        details: reply.details,
        ..ImmediateResponse::default()
    }
}

/// The plan as Envoy's `mode_override`. Trailers are never needed; a skipped
/// response-headers phase also skips the response body.
fn processing_mode(plan: PhasePlan) -> ProcessingMode {
    let body = |mode: BodyMode| match mode {
        BodyMode::Skip => BodySendMode::None,
        BodyMode::Streamed => BodySendMode::Streamed,
        BodyMode::Buffered => BodySendMode::Buffered,
    } as i32;
    let (response_header_mode, response_body_mode) = if plan.response_headers {
        (HeaderSendMode::Send, body(plan.response_body))
    } else {
        (HeaderSendMode::Skip, BodySendMode::None as i32)
    };
    ProcessingMode {
        request_header_mode: HeaderSendMode::Send as i32,
        response_header_mode: response_header_mode as i32,
        request_body_mode: body(plan.request_body),
        response_body_mode,
        request_trailer_mode: HeaderSendMode::Skip as i32,
        response_trailer_mode: HeaderSendMode::Skip as i32,
    }
}

/// `{"warden": {key: value, ...}}` for Envoy's dynamic metadata, or nothing.
fn metadata_struct(pairs: &[(&'static str, String)]) -> Option<Struct> {
    if pairs.is_empty() {
        return None;
    }
    Some(Struct {
        fields: [(
            METADATA_NAMESPACE.to_string(),
            Value {
                kind: Some(value::Kind::StructValue(string_struct(pairs))),
            },
        )]
        .into_iter()
        .collect(),
    })
}

/// A protobuf `Struct` of string values.
pub(crate) fn string_struct(pairs: &[(&'static str, String)]) -> Struct {
    Struct {
        fields: pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_string(),
                    Value {
                        kind: Some(value::Kind::StringValue(v.clone())),
                    },
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BodyInspection;
    use crate::pipeline::PipelineSettings;
    use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_client::ExternalProcessorClient;
    use tokio_stream::wrappers::TcpListenerStream;

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        HeaderMap {
            headers: list
                .iter()
                .map(|(k, v)| HeaderValue {
                    key: k.to_string(),
                    raw_value: v.as_bytes().to_vec(),
                    ..HeaderValue::default()
                })
                .collect(),
        }
    }

    fn request_headers(list: &[(&str, &str)], end_of_stream: bool) -> ProcessingRequest {
        ProcessingRequest {
            request: Some(processing_request::Request::RequestHeaders(HttpHeaders {
                headers: Some(headers(list)),
                end_of_stream,
                ..HttpHeaders::default()
            })),
            ..ProcessingRequest::default()
        }
    }

    fn request_body(body: Vec<u8>, end_of_stream: bool) -> ProcessingRequest {
        ProcessingRequest {
            request: Some(processing_request::Request::RequestBody(HttpBody {
                body,
                end_of_stream,
                ..HttpBody::default()
            })),
            ..ProcessingRequest::default()
        }
    }

    fn pipeline(response_body: BodyInspection) -> Pipeline {
        Pipeline::new(
            PipelineSettings {
                request_body: BodyInspection::Streamed,
                response_body,
                max_buffered_body_bytes: 1024,
                masking: Default::default(),
            },
            None,
        )
    }

    mod held_events {
        use super::*;
        use crate::pipeline::{BodyWorkLimits, MaskingSettings};
        use crate::redact::Redactor;

        const TOKEN: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

        fn masking(event_hold: std::time::Duration) -> Pipeline {
            Pipeline::new(
                PipelineSettings {
                    request_body: BodyInspection::None,
                    response_body: BodyInspection::Streamed,
                    max_buffered_body_bytes: 1024,
                    masking: MaskingSettings {
                        request: true,
                        response: true,
                        binary: Default::default(),
                    },
                },
                Some(Arc::new(Redactor::with_defaults().expect("default pack"))),
            )
            .with_body_work(
                BodyWorkLimits {
                    event_hold,
                    ..BodyWorkLimits::default()
                },
                None,
            )
        }

        fn delta(text: &str) -> Vec<u8> {
            let data = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]});
            format!("data: {data}\n\n").into_bytes()
        }

        fn response_body(body: Vec<u8>, end_of_stream: bool) -> ProcessingRequest {
            ProcessingRequest {
                request: Some(processing_request::Request::ResponseBody(HttpBody {
                    body,
                    end_of_stream,
                    ..HttpBody::default()
                })),
                ..ProcessingRequest::default()
            }
        }

        fn response_headers() -> ProcessingRequest {
            ProcessingRequest {
                request: Some(processing_request::Request::ResponseHeaders(HttpHeaders {
                    headers: Some(headers(&[
                        (":status", "200"),
                        ("content-type", "text/event-stream"),
                    ])),
                    ..HttpHeaders::default()
                })),
                ..ProcessingRequest::default()
            }
        }

        fn body_of(reply: &ProcessingResponse) -> String {
            match streamed_body_reply(reply) {
                Some((_, body)) => String::from_utf8_lossy(body).into_owned(),
                None => panic!("not a replaced body chunk: {reply:?}"),
            }
        }

        /// Opens a stream through request and response headers; returns the sender
        /// for the body messages and the replies.
        async fn opened(
            pipeline: Pipeline,
        ) -> (
            tokio::sync::mpsc::Sender<ProcessingRequest>,
            tonic::Streaming<ProcessingResponse>,
        ) {
            let mut client = client_for(pipeline).await;
            let (tx, rx) = tokio::sync::mpsc::channel(8);
            let mut replies = client
                .process(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .expect("stream opens")
                .into_inner();
            tx.send(request_headers(
                &[(":method", "POST"), (":path", "/v1/chat")],
                true,
            ))
            .await
            .expect("send");
            replies.message().await.expect("reply").expect("one");
            tx.send(response_headers()).await.expect("send");
            replies.message().await.expect("reply").expect("one");
            (tx, replies)
        }

        async fn next(replies: &mut tonic::Streaming<ProcessingResponse>) -> ProcessingResponse {
            tokio::time::timeout(std::time::Duration::from_secs(20), replies.message())
                .await
                .expect("a reply comes (a held one at its deadline)")
                .expect("reply")
                .expect("one")
        }

        #[tokio::test]
        async fn a_held_event_goes_at_its_deadline_when_nothing_follows() {
            let (tx, mut replies) = opened(masking(std::time::Duration::from_millis(20))).await;
            tx.send(response_body(delta("your key is ghp_9xQ2"), false))
                .await
                .expect("send");
            // Nothing follows: without the deadline this reply would never come.
            let body = body_of(&next(&mut replies).await);
            assert!(body.contains("your key is ghp_9xQ2"), "{body}");
            drop(tx);
        }

        #[tokio::test]
        async fn a_secret_split_over_messages_is_masked_in_the_replies() {
            // A deadline that never passes in the test: replies wait for the next message.
            let (tx, mut replies) = opened(masking(std::time::Duration::from_secs(600))).await;
            let text = format!("token {TOKEN} is live");
            let cuts = [0, 10, 25, text.len()];
            let mut seen = String::new();
            for (i, w) in cuts.windows(2).enumerate() {
                let last = i == cuts.len() - 2;
                tx.send(response_body(delta(&text[w[0]..w[1]]), last))
                    .await
                    .expect("send");
                if i > 0 {
                    // The previous reply went when this message arrived.
                    seen.push_str(&body_of(&next(&mut replies).await));
                }
            }
            seen.push_str(&body_of(&next(&mut replies).await));
            assert!(seen.contains("[REDACTED:"), "{seen}");
            for w in TOKEN.as_bytes()[4..].windows(6) {
                let w = std::str::from_utf8(w).expect("ascii");
                assert!(!seen.contains(w), "{w} leaked: {seen}");
            }
            assert!(seen.contains(" is live"), "{seen}");
        }
    }

    /// An interim sender whose stream nobody reads.
    fn detached() -> Interim {
        Interim {
            sender: tokio::sync::mpsc::channel(1).0,
        }
    }

    #[tokio::test]
    async fn get_reply_sets_request_id_raw_value_metadata_and_mode_override() {
        let p = pipeline(BodyInspection::None);
        let mut ex = p.open(&tonic::metadata::MetadataMap::new());
        let reply = p
            .handle(
                &mut ex,
                request_headers(
                    &[
                        (":method", "GET"),
                        (":path", "/"),
                        ("x-warden-request-id", "f"),
                    ],
                    true,
                ),
                &detached(),
            )
            .await
            .expect("reply");
        let Some(processing_response::Response::RequestHeaders(h)) = reply.response else {
            panic!("wrong reply kind: {reply:?}");
        };
        let common = h.response.expect("common response");
        let mutation = common.header_mutation.expect("header mutation");
        assert_eq!(mutation.remove_headers, vec!["x-warden-request-id"]);
        let set = mutation.set_headers[0].header.as_ref().expect("header");
        assert_eq!(set.key, "x-warden-request-id");
        assert_eq!(set.raw_value, ex.id().as_bytes());
        assert!(set.value.is_empty(), "values go in raw_value only");
        let mode = reply.mode_override.expect("mode override");
        assert_eq!(mode.response_header_mode, HeaderSendMode::Skip as i32);
        assert_eq!(mode.request_body_mode, BodySendMode::None as i32);
        assert_eq!(mode.response_body_mode, BodySendMode::None as i32);
        let meta = reply.dynamic_metadata.expect("metadata");
        let Some(value::Kind::StructValue(warden)) = &meta.fields["warden"].kind else {
            panic!("metadata not under the warden namespace");
        };
        assert_eq!(
            warden.fields["decision"].kind,
            Some(value::Kind::StringValue("allow".into()))
        );
    }

    #[test]
    fn the_mesh_peer_identity_is_read_from_envoys_attributes() {
        let attributes: std::collections::HashMap<String, Struct> = [(
            "envoy.filters.http.ext_proc".to_string(),
            string_struct(&[(
                PEER_URI_SAN_ATTRIBUTE,
                "spiffe://mesh.example/ns/agents/sa/bot".to_string(),
            )]),
        )]
        .into_iter()
        .collect();
        assert_eq!(
            peer_attributes(&attributes)
                .uri_san_peer_certificate
                .as_deref(),
            Some("spiffe://mesh.example/ns/agents/sa/bot")
        );
        assert_eq!(
            peer_attributes(&Default::default()).uri_san_peer_certificate,
            None
        );
    }

    #[tokio::test]
    async fn message_without_phase_is_an_error() {
        let p = pipeline(BodyInspection::None);
        let mut ex = p.open(&tonic::metadata::MetadataMap::new());
        let err = p
            .handle(&mut ex, ProcessingRequest::default(), &detached())
            .await
            .expect_err("must fail");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    /// A handler that panics on its second message.
    struct PanicsOnBody;

    impl StreamHandler for PanicsOnBody {
        type State = u32;
        fn open(&self, _metadata: &tonic::metadata::MetadataMap) -> u32 {
            0
        }
        async fn handle(
            &self,
            seen: &mut u32,
            _message: ProcessingRequest,
            _interim: &Interim,
        ) -> Result<ProcessingResponse, Status> {
            *seen += 1;
            if *seen > 1 {
                panic!("boom");
            }
            Ok(ProcessingResponse::default())
        }
    }

    async fn client_for<H: StreamHandler>(
        handler: H,
    ) -> ExternalProcessorClient<tonic::transport::Channel> {
        client_with_limit(handler, 4 << 20).await
    }

    async fn client_with_limit<H: StreamHandler>(
        handler: H,
        max_message: usize,
    ) -> ExternalProcessorClient<tonic::transport::Channel> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let service = ExternalProcessorServer::new(ExtProcService::new(Arc::new(handler)))
            .max_decoding_message_size(max_message);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        ExternalProcessorClient::connect(format!("http://{addr}"))
            .await
            .expect("connect")
    }

    #[tokio::test]
    async fn a_panic_ends_the_stream_with_an_error_status_not_a_clean_close() {
        let mut client = client_for(PanicsOnBody).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut replies = client
            .process(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("stream opens")
            .into_inner();
        tx.send(request_headers(&[(":method", "GET")], false))
            .await
            .expect("send");
        assert!(replies.message().await.expect("first reply").is_some());
        tx.send(request_headers(&[(":method", "GET")], false))
            .await
            .expect("send");
        let err = replies
            .message()
            .await
            .expect_err("the panic must surface as a status");
        assert_eq!(err.code(), tonic::Code::Internal);
    }

    #[tokio::test]
    async fn an_unreadable_message_fails_the_stream_instead_of_ending_it() {
        let mut client = client_with_limit(pipeline(BodyInspection::Streamed), 1024).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut replies = client
            .process(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("stream opens")
            .into_inner();
        tx.send(request_headers(
            &[
                (":method", "POST"),
                (":path", "/"),
                ("content-length", "4096"),
            ],
            false,
        ))
        .await
        .expect("send");
        assert!(replies.message().await.expect("headers reply").is_some());
        tx.send(request_body(vec![b'x'; 4096], true))
            .await
            .expect("send");
        let err = replies
            .message()
            .await
            .expect_err("an over-limit message must fail closed, not end the stream");
        assert_eq!(err.code(), tonic::Code::OutOfRange);
    }

    #[tokio::test]
    async fn out_of_order_message_fails_the_stream() {
        let mut client = client_for(pipeline(BodyInspection::Streamed)).await;
        let body = request_body(b"x".to_vec(), true);
        let mut replies = client
            .process(tokio_stream::iter(vec![body]))
            .await
            .expect("stream opens")
            .into_inner();
        let err = replies.message().await.expect_err("must fail closed");
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    }

    #[tokio::test]
    async fn stream_ends_cleanly_only_after_envoy_closes_its_side() {
        let mut client = client_for(pipeline(BodyInspection::None)).await;
        let mut replies = client
            .process(tokio_stream::iter(vec![request_headers(
                &[(":method", "GET"), (":path", "/")],
                true,
            )]))
            .await
            .expect("stream opens")
            .into_inner();
        assert!(replies.message().await.expect("reply").is_some());
        assert!(replies.message().await.expect("clean end").is_none());
    }
}
