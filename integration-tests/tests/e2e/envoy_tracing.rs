//! Envoy's trace reaches Warden: with `envoy/tracing.yaml` merged into the shipped
//! configs, Envoy puts a W3C `traceparent` in the gRPC metadata of its ext_proc stream
//! and of its ext_authz check, naming the span it opened for that call, in the trace
//! the client started.
//!
//! The first two tests put a recording ext_proc / ext_authz server where Warden would
//! be, so they check exactly what Envoy sends, and Envoy's own spans (exported to a
//! test OTLP receiver) to check which span the `traceparent` names. The last one runs
//! real Warden with `audit.otlp` and checks that Warden's audit span is the child of
//! Envoy's call span; it waits for the audit writer to be wired into `server.rs`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use envoy_types::pb::envoy::extensions::filters::http::ext_proc::v3::{
    processing_mode::{BodySendMode, HeaderSendMode},
    ProcessingMode,
};
use envoy_types::pb::envoy::service::auth::v3::{
    authorization_server::{Authorization, AuthorizationServer},
    check_response::HttpResponse,
    CheckRequest, CheckResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::service::ext_proc::v3::{
    common_response::ResponseStatus,
    external_processor_server::{ExternalProcessor, ExternalProcessorServer},
    processing_request::Request,
    processing_response::Response,
    BodyResponse, CommonResponse, HeadersResponse, ProcessingRequest, ProcessingResponse,
    TrailersResponse,
};
use envoy_types::pb::google::rpc;
use futures::{Stream, StreamExt};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_yaml_ng::Value;
use tokio::sync::watch;
use tonic::{Status, Streaming};
use warden_integration_tests::otlp::{OtlpReceiver, ReceivedSpan};
use warden_integration_tests::paths;
use warden_integration_tests::stack::{http1_client, named_mut, Envoy, Flavor, WardenAddress};
use warden_integration_tests::upstream::Upstream;

const WAIT: Duration = Duration::from_secs(20);
const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "b7ad6b7169203331";

/// A W3C trace context, split.
#[derive(Debug, PartialEq, Eq)]
struct TraceParent {
    trace_id: String,
    span_id: String,
    flags: String,
}

fn parse_traceparent(value: &str) -> anyhow::Result<TraceParent> {
    let parts: Vec<&str> = value.split('-').collect();
    ensure!(
        parts.len() == 4 && parts[0] == "00" && parts[1].len() == 32 && parts[2].len() == 16,
        "not a W3C traceparent: {value:?}"
    );
    ensure!(
        parts[1].bytes().any(|b| b != b'0') && parts[2].bytes().any(|b| b != b'0'),
        "all-zero ids: {value:?}"
    );
    Ok(TraceParent {
        trace_id: parts[1].to_string(),
        span_id: parts[2].to_string(),
        flags: parts[3].to_string(),
    })
}

/// What the stand-in for Warden saw: the `traceparent` metadata of each call.
#[derive(Clone)]
struct Calls {
    traceparents: Arc<Mutex<Vec<Option<String>>>>,
    count: watch::Sender<usize>,
}

impl Calls {
    fn new() -> Calls {
        Calls {
            traceparents: Arc::new(Mutex::new(Vec::new())),
            count: watch::channel(0).0,
        }
    }

    fn record(&self, metadata: &tonic::metadata::MetadataMap) {
        let traceparent = metadata
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Ok(mut seen) = self.traceparents.lock() {
            seen.push(traceparent);
        }
        self.count.send_modify(|n| *n += 1);
    }

    /// The `traceparent` of call number `n` (0-based), once it was made.
    async fn traceparent(&self, n: usize) -> anyhow::Result<Option<String>> {
        let mut count = self.count.subscribe();
        tokio::time::timeout(WAIT, count.wait_for(|c| *c > n))
            .await
            .map_err(|_| anyhow!("call {n} never reached the ext_proc/ext_authz server"))??;
        let seen = self.traceparents.lock().map_err(|_| anyhow!("poisoned"))?;
        Ok(seen.get(n).cloned().flatten())
    }
}

/// ext_proc: continue on every message, and skip the bodies.
struct RecordingProcessor(Calls);

fn continue_common() -> Option<CommonResponse> {
    Some(CommonResponse {
        status: ResponseStatus::Continue as i32,
        ..Default::default()
    })
}

fn respond(request: ProcessingRequest) -> Result<ProcessingResponse, Status> {
    let headers = || HeadersResponse {
        response: continue_common(),
    };
    let body = || BodyResponse {
        response: continue_common(),
    };
    let trailers = TrailersResponse {
        header_mutation: None,
    };
    let (response, mode_override) = match request.request {
        Some(Request::RequestHeaders(_)) => (
            Response::RequestHeaders(headers()),
            Some(ProcessingMode {
                request_header_mode: HeaderSendMode::Send as i32,
                response_header_mode: HeaderSendMode::Skip as i32,
                request_body_mode: BodySendMode::None as i32,
                response_body_mode: BodySendMode::None as i32,
                request_trailer_mode: HeaderSendMode::Skip as i32,
                response_trailer_mode: HeaderSendMode::Skip as i32,
            }),
        ),
        Some(Request::ResponseHeaders(_)) => (Response::ResponseHeaders(headers()), None),
        Some(Request::RequestBody(_)) => (Response::RequestBody(body()), None),
        Some(Request::ResponseBody(_)) => (Response::ResponseBody(body()), None),
        Some(Request::RequestTrailers(_)) => (Response::RequestTrailers(trailers), None),
        Some(Request::ResponseTrailers(_)) => (Response::ResponseTrailers(trailers), None),
        None => return Err(Status::invalid_argument("empty ProcessingRequest")),
    };
    Ok(ProcessingResponse {
        response: Some(response),
        mode_override,
        ..Default::default()
    })
}

#[tonic::async_trait]
impl ExternalProcessor for RecordingProcessor {
    type ProcessStream = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

    async fn process(
        &self,
        request: tonic::Request<Streaming<ProcessingRequest>>,
    ) -> Result<tonic::Response<Self::ProcessStream>, Status> {
        self.0.record(request.metadata());
        let outbound = request
            .into_inner()
            .map(|message| message.and_then(respond));
        Ok(tonic::Response::new(Box::pin(outbound)))
    }
}

/// ext_authz: allow everything.
struct RecordingAuthz(Calls);

#[tonic::async_trait]
impl Authorization for RecordingAuthz {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, Status> {
        self.0.record(request.metadata());
        Ok(tonic::Response::new(CheckResponse {
            status: Some(rpc::Status::default()),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse::default())),
            dynamic_metadata: None,
        }))
    }
}

/// Serves the recording ext_proc or ext_authz server on a free loopback port.
async fn serve_recorder(
    flavor: Flavor,
    calls: Calls,
) -> anyhow::Result<(u16, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let router = match flavor {
        Flavor::ExtProc => tonic::transport::Server::builder()
            .add_service(ExternalProcessorServer::new(RecordingProcessor(calls))),
        Flavor::ExtAuthz => tonic::transport::Server::builder()
            .add_service(AuthorizationServer::new(RecordingAuthz(calls))),
    };
    let task = tokio::spawn(async move {
        let _ = router.serve_with_incoming(incoming).await;
    });
    Ok((port, task))
}

/// Merges `envoy/tracing.yaml` into a rewritten shipped config, with the collector
/// cluster pointed at `collector`. Envoy's spans are flushed one at a time (a test
/// runtime setting; Envoy's default batches 5 spans or 5 seconds).
fn merge_tracing(config: &mut Value, collector: SocketAddr) -> anyhow::Result<()> {
    let path = paths::repo_root().join("envoy/tracing.yaml");
    let snippet: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    let tracing = snippet["http_connection_manager"]["tracing"].clone();
    ensure!(
        tracing.is_mapping(),
        "envoy/tracing.yaml has no http_connection_manager.tracing"
    );

    let listener = named_mut(&mut config["static_resources"]["listeners"], "ingress")?;
    let filters = &mut listener["filter_chains"][0]["filters"];
    let hcm = named_mut(filters, "envoy.filters.network.http_connection_manager")?;
    hcm["typed_config"]["tracing"] = tracing;

    let clusters = snippet["clusters"]
        .as_sequence()
        .ok_or_else(|| anyhow!("envoy/tracing.yaml has no clusters list"))?;
    for cluster in clusters {
        let mut cluster = cluster.clone();
        let socket = &mut cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
            ["address"]["socket_address"];
        ensure!(
            socket.is_mapping(),
            "the collector cluster has no socket_address"
        );
        socket["port_value"] = Value::from(collector.port());
        config["static_resources"]["clusters"]
            .as_sequence_mut()
            .ok_or_else(|| anyhow!("the config has no clusters list"))?
            .push(cluster);
    }
    ensure!(
        config["layered_runtime"].is_null(),
        "the shipped config has a layered_runtime: merge the test layer into it"
    );
    config["layered_runtime"] = serde_yaml_ng::from_str(
        "layers:\n  - name: test\n    static_layer:\n      tracing.opentelemetry.min_flush_spans: 1\n",
    )?;
    Ok(())
}

/// The span `span_id` among Envoy's exported spans, once it arrives.
async fn envoy_span(receiver: &OtlpReceiver, span_id: &str) -> anyhow::Result<ReceivedSpan> {
    receiver
        .wait_for_span(WAIT, |s| s.span_id() == span_id)
        .await
        .with_context(|| format!("Envoy never exported span {span_id}"))
}

async fn traceparent_reaches_the_server(flavor: Flavor) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let receiver = OtlpReceiver::start().await?;
    let upstream = Upstream::start().await?;
    let calls = Calls::new();
    let (port, server) = serve_recorder(flavor, calls.clone()).await?;
    let collector = receiver.grpc_addr();
    let envoy = Envoy::start_edited(
        dir.path(),
        flavor,
        WardenAddress::Tcp(port),
        upstream.addr(),
        None,
        |config| merge_tracing(config, collector),
    )
    .await?;
    let client = http1_client();

    // 1. The client is traced: Envoy continues its trace.
    let response = client
        .get(envoy.url("/echo"))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await?;
    ensure!(response.status() == 200, "status {}", response.status());
    let sent = calls
        .traceparent(0)
        .await?
        .with_context(|| format!("{flavor:?}: Envoy sent no traceparent to the server"))?;
    let sent = parse_traceparent(&sent)?;
    ensure!(
        sent.trace_id == CLIENT_TRACE,
        "{flavor:?}: the server got trace {} instead of the client's {CLIENT_TRACE}",
        sent.trace_id
    );
    ensure!(
        sent.span_id != CLIENT_SPAN,
        "the parent is Envoy's span, not the client's"
    );
    ensure!(sent.flags == "01", "sampled: {sent:?}");

    // The traceparent names Envoy's span for the gRPC call, a child of Envoy's span for
    // the request, itself the child of the client's span.
    let call = envoy_span(&receiver, &sent.span_id).await?;
    ensure!(call.trace_id() == CLIENT_TRACE);
    ensure!(call.resource_str("service.name") == Some("envoy"));
    let service = match flavor {
        Flavor::ExtProc => "envoy.service.ext_proc.v3.ExternalProcessor",
        Flavor::ExtAuthz => "envoy.service.auth.v3.Authorization",
    };
    ensure!(
        call.span.name.contains(service),
        "{flavor:?}: the traceparent names span {:?}, not the call to {service}",
        call.span.name
    );
    ensure!(
        call.span.kind == SpanKind::Client as i32,
        "{flavor:?}: Envoy's call span {:?} has kind {}",
        call.span.name,
        call.span.kind
    );
    let request = envoy_span(&receiver, &call.parent_span_id()).await?;
    ensure!(
        request.parent_span_id() == CLIENT_SPAN,
        "Envoy's request span {:?} has parent {}",
        request.span.name,
        request.parent_span_id()
    );

    // 2. The client is not traced: Envoy starts a trace, and still tells the server.
    let response = client.get(envoy.url("/echo")).send().await?;
    ensure!(response.status() == 200, "status {}", response.status());
    let sent = calls
        .traceparent(1)
        .await?
        .with_context(|| format!("{flavor:?}: no traceparent without a client trace"))?;
    let sent = parse_traceparent(&sent)?;
    ensure!(sent.trace_id != CLIENT_TRACE, "a new trace");
    let call = envoy_span(&receiver, &sent.span_id).await?;
    ensure!(call.trace_id() == sent.trace_id);

    // 3. The client's trace is not sampled: Envoy keeps its trace id and its decision
    // (flags 00, and no spans of its own), and still tells the server.
    let response = client
        .get(envoy.url("/echo"))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"))
        .send()
        .await?;
    ensure!(response.status() == 200, "status {}", response.status());
    let sent = calls
        .traceparent(2)
        .await?
        .with_context(|| format!("{flavor:?}: no traceparent for an unsampled client trace"))?;
    let sent = parse_traceparent(&sent)?;
    ensure!(
        sent.trace_id == CLIENT_TRACE && sent.flags == "00",
        "{sent:?}"
    );

    drop(envoy);
    server.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_sends_traceparent_on_the_ext_proc_stream() -> anyhow::Result<()> {
    traceparent_reaches_the_server(Flavor::ExtProc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_sends_traceparent_on_the_ext_authz_check() -> anyhow::Result<()> {
    traceparent_reaches_the_server(Flavor::ExtAuthz).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tracing_envoy_sends_no_traceparent() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let upstream = Upstream::start().await?;
    let calls = Calls::new();
    let (port, server) = serve_recorder(Flavor::ExtProc, calls.clone()).await?;
    let envoy = Envoy::start(
        dir.path(),
        Flavor::ExtProc,
        WardenAddress::Tcp(port),
        upstream.addr(),
    )
    .await?;
    let response = http1_client()
        .get(envoy.url("/echo"))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await?;
    ensure!(response.status() == 200, "status {}", response.status());
    let sent = calls.traceparent(0).await?;
    ensure!(
        sent.is_none(),
        "the shipped config has no tracing, yet Envoy sent {sent:?}: update envoy/tracing.yaml \
         and docs/audit-schema.md"
    );
    drop(envoy);
    server.abort();
    Ok(())
}

/// Real Warden with `audit.otlp`: its span for the request is the child of Envoy's
/// ext_proc call span, in the client's trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wardens_audit_span_joins_envoys_trace() -> anyhow::Result<()> {
    use warden_integration_tests::stack::Warden;

    let dir = tempfile::tempdir()?;
    let receiver = OtlpReceiver::start().await?;
    let upstream = Upstream::start().await?;
    let audit = format!(
        "audit:\n  log_dir: {}\n  signing_key: {}\n  otlp:\n    endpoint: {}\n    service_name: warden\n",
        dir.path().join("audit").display(),
        warden_integration_tests::stack::audit_signing_key(dir.path())?.display(),
        receiver.grpc_endpoint()
    );
    let warden = Warden::start(dir.path(), &audit).await?;
    let collector = receiver.grpc_addr();
    let envoy = Envoy::start_edited(
        dir.path(),
        Flavor::ExtProc,
        WardenAddress::Tcp(warden.port),
        upstream.addr(),
        None,
        |config| merge_tracing(config, collector),
    )
    .await?;
    let response = http1_client()
        .get(envoy.url("/echo"))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await?;
    ensure!(response.status() == 200, "status {}", response.status());

    let audit_span = receiver
        .wait_for_span(WAIT, |s| s.scope == warden::audit::otel::SCOPE_NAME)
        .await
        .with_context(|| warden.process.log_tail())?;
    ensure!(
        audit_span.trace_id() == CLIENT_TRACE,
        "Warden's span joins the client's trace"
    );
    ensure!(audit_span.span.kind == SpanKind::Server as i32);
    let call = envoy_span(&receiver, &audit_span.parent_span_id()).await?;
    ensure!(
        call.span
            .name
            .contains("envoy.service.ext_proc.v3.ExternalProcessor"),
        "Warden's parent is Envoy's ext_proc call span, not {:?}",
        call.span.name
    );
    Ok(())
}
