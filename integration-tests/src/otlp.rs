//! A test OTLP trace receiver: OTLP/gRPC (`TraceService/Export`) and OTLP/HTTP
//! (`POST /v1/traces`, protobuf) on two loopback ports.
//!
//! Every export request is kept with the headers (gRPC metadata) it came with, and a
//! test waits for a number of spans with [`OtlpReceiver::wait_for_spans`], which wakes
//! on each arrival (no polling, no sleeps). [`OtlpReceiver::set_reply`] makes the
//! receiver refuse or partly reject exports, to test that an exporter reports it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::sync::watch;

/// How an export reached the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with a protobuf body.
    Http,
}

/// How the receiver answers exports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Reply {
    /// Takes every span (the default).
    #[default]
    Accept,
    /// Answers with a partial success rejecting this many spans (nothing is kept).
    RejectSpans(i64),
    /// Fails the call: gRPC `UNAVAILABLE`, HTTP 503 (nothing is kept).
    Unavailable,
}

/// One export request as received.
#[derive(Clone, Debug)]
pub struct Export {
    /// gRPC or HTTP.
    pub protocol: Protocol,
    /// Request headers (gRPC metadata for gRPC), names lower-case.
    pub headers: Vec<(String, String)>,
    /// The request.
    pub request: ExportTraceServiceRequest,
}

/// One received span with what it came with.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// gRPC or HTTP.
    pub protocol: Protocol,
    /// Headers of the export request that carried it.
    pub headers: Vec<(String, String)>,
    /// Resource attributes.
    pub resource: Vec<KeyValue>,
    /// Instrumentation scope name.
    pub scope: String,
    /// The span.
    pub span: Span,
}

impl ReceivedSpan {
    /// The span's attribute `key`, if set.
    pub fn attribute(&self, key: &str) -> Option<&any_value::Value> {
        find(&self.span.attributes, key)
    }

    /// The span's string attribute `key`, if set and a string.
    pub fn str_attribute(&self, key: &str) -> Option<&str> {
        match self.attribute(key)? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    /// The span's integer attribute `key`, if set and an integer.
    pub fn int_attribute(&self, key: &str) -> Option<i64> {
        match self.attribute(key)? {
            any_value::Value::IntValue(i) => Some(*i),
            _ => None,
        }
    }

    /// The resource's string attribute `key`, if set and a string.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        match find(&self.resource, key)? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    /// The header `name` (lower-case) of the export request.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trace id, lower-case hex.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// The span id, lower-case hex.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// The parent span id, lower-case hex (empty for a root span).
    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Shared {
    exports: Mutex<Vec<Export>>,
    reply: Mutex<Reply>,
    /// Spans received so far; bumped on every kept export.
    spans: watch::Sender<usize>,
}

impl Shared {
    /// Keeps the export, or not, as the reply says; returns the reply.
    fn take(
        &self,
        protocol: Protocol,
        headers: Vec<(String, String)>,
        request: ExportTraceServiceRequest,
    ) -> Reply {
        let reply = self.reply.lock().map(|r| r.clone()).unwrap_or_default();
        if reply == Reply::Accept {
            let count: usize = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            if let Ok(mut exports) = self.exports.lock() {
                exports.push(Export {
                    protocol,
                    headers,
                    request,
                });
            }
            self.spans.send_modify(|n| *n += count);
        }
        reply
    }
}

/// A running receiver; stops when dropped.
pub struct OtlpReceiver {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Starts the gRPC and HTTP receivers on free loopback ports.
    pub async fn start() -> anyhow::Result<OtlpReceiver> {
        let shared = Arc::new(Shared {
            exports: Mutex::new(Vec::new()),
            reply: Mutex::new(Reply::Accept),
            spans: watch::channel(0).0,
        });

        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let grpc_addr = grpc_listener.local_addr()?;
        let service = TraceServiceServer::new(GrpcReceiver {
            shared: Arc::clone(&shared),
        });
        let grpc = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                    grpc_listener,
                ))
                .await;
        });

        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = http_listener.local_addr()?;
        let app = Router::new()
            .route("/v1/traces", post(http_export))
            .with_state(Arc::clone(&shared));
        let http = tokio::spawn(async move {
            let _ = axum::serve(http_listener, app).await;
        });

        Ok(OtlpReceiver {
            grpc_addr,
            http_addr,
            shared,
            tasks: vec![grpc, http],
        })
    }

    /// The OTLP/gRPC endpoint, `http://127.0.0.1:<port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The gRPC listener's address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The OTLP/HTTP endpoint, `http://127.0.0.1:<port>` (exports go to `/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// How later exports are answered.
    pub fn set_reply(&self, reply: Reply) {
        if let Ok(mut r) = self.shared.reply.lock() {
            *r = reply;
        }
    }

    /// Every kept export request, in arrival order.
    pub fn exports(&self) -> Vec<Export> {
        self.shared
            .exports
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Every kept span, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let mut out = Vec::new();
        for export in self.exports() {
            for resource_spans in export.request.resource_spans {
                let resource = resource_spans
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default();
                for scope_spans in resource_spans.scope_spans {
                    let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                    for span in scope_spans.spans {
                        out.push(ReceivedSpan {
                            protocol: export.protocol,
                            headers: export.headers.clone(),
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span,
                        });
                    }
                }
            }
        }
        out
    }

    /// Waits until at least `count` spans have been kept, and returns all kept spans;
    /// an error after `within` (woken by each arrival, not by polling).
    pub async fn wait_for_spans(
        &self,
        count: usize,
        within: Duration,
    ) -> anyhow::Result<Vec<ReceivedSpan>> {
        let mut seen = self.shared.spans.subscribe();
        let waited = tokio::time::timeout(within, seen.wait_for(|n| *n >= count))
            .await
            .map(|r| r.map(|_| ()));
        match waited {
            Ok(Ok(())) => Ok(self.spans()),
            Ok(Err(_)) => anyhow::bail!("the OTLP receiver stopped"),
            Err(_) => anyhow::bail!(
                "{} span(s) received within {within:?}, {count} expected: {:#?}",
                *self.shared.spans.borrow(),
                self.spans()
                    .iter()
                    .map(|s| s.span.name.clone())
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Waits until a kept span satisfies `matches`, and returns it; an error after
    /// `within` (woken by each arrival, not by polling).
    pub async fn wait_for_span(
        &self,
        within: Duration,
        matches: impl Fn(&ReceivedSpan) -> bool,
    ) -> anyhow::Result<ReceivedSpan> {
        let mut seen = self.shared.spans.subscribe();
        let search = async {
            loop {
                if let Some(span) = self.spans().into_iter().find(|s| matches(s)) {
                    return Ok(span);
                }
                if seen.changed().await.is_err() {
                    anyhow::bail!("the OTLP receiver stopped");
                }
            }
        };
        match tokio::time::timeout(within, search).await {
            Ok(found) => found,
            Err(_) => anyhow::bail!(
                "no matching span within {within:?}; received: {:#?}",
                self.spans()
                    .iter()
                    .map(|s| s.span.name.clone())
                    .collect::<Vec<_>>()
            ),
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct GrpcReceiver {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        match self
            .shared
            .take(Protocol::Grpc, headers, request.into_inner())
        {
            Reply::Accept => Ok(tonic::Response::new(ExportTraceServiceResponse::default())),
            Reply::RejectSpans(n) => Ok(tonic::Response::new(rejection(n))),
            Reply::Unavailable => Err(tonic::Status::unavailable("the test receiver is down")),
        }
    }
}

async fn http_export(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-protobuf") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "protobuf only").into_response();
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let protobuf = [("content-type", "application/x-protobuf")];
    match shared.take(Protocol::Http, headers, request) {
        Reply::Accept => (
            protobuf,
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
            .into_response(),
        Reply::RejectSpans(n) => (protobuf, rejection(n).encode_to_vec()).into_response(),
        Reply::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
    }
}

fn rejection(rejected_spans: i64) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans,
            error_message: "the test receiver rejects spans".into(),
        }),
    }
}
