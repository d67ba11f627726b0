//! OpenTelemetry spans as an audit output: one span per chained record and one per
//! signed checkpoint, sent to an OTLP collector over gRPC or HTTP/protobuf.
//!
//! There is no batch span processor here: the audit writer is the batcher, and
//! [`SpanExporter::write`](AuditOutput::write) sends the batch it is given in one OTLP
//! request and returns an error when the collector did not take all of it (unreachable,
//! timed out, an error status, or a partial success that rejected spans). The writer
//! then retries, and while it cannot deliver, the audit queue fills and Warden fails
//! closed: a span is never dropped silently.
//!
//! Spans are built with the OpenTelemetry SDK's [`SpanData`] and turned into an
//! `ExportTraceServiceRequest` by `opentelemetry-proto` (the conversion the
//! `opentelemetry-otlp` exporter uses), then sent with our own tonic client or reqwest
//! client: `opentelemetry-otlp` logs a partial success and reports it as a success,
//! and hides the collector's error message, which an audit output cannot afford.

mod span;

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::trace::v1::{
    trace_service_client::TraceServiceClient, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::Message;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

pub use span::{
    checkpoint_attributes, checkpoint_span, record_span, record_span_id, scope, span_attributes,
    span_name, CHECKPOINT_SPAN_NAME, SCOPE_NAME,
};

use super::output::{AuditOutput, Chained, OutputError, OutputFuture};
use super::Checkpoint;
use crate::config::{OtlpConfig, OtlpProtocol};

/// How long one export (one OTLP request, connecting included) may take by default.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting to the collector may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The path OTLP/HTTP collectors take traces on.
const HTTP_TRACES_PATH: &str = "/v1/traces";

/// Name of this output in logs and errors.
const OUTPUT_NAME: &str = "otlp";

/// Why the OTLP exporter could not be set up from `audit.otlp`.
#[derive(Debug, thiserror::Error)]
pub enum OtlpSetupError {
    /// The endpoint is not an `http://` or `https://` URL with a host.
    #[error(
        "audit.otlp.endpoint {endpoint:?} is not usable ({reason}): write it as \
         http://host:4317 for grpc or http://host:4318 for http (https:// for TLS)"
    )]
    Endpoint {
        /// The configured endpoint.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured header cannot be sent.
    #[error(
        "audit.otlp.headers: {name:?} cannot be sent as {what} ({reason}): use an ASCII \
         header name (letters, digits, '-') and a printable ASCII value"
    )]
    Header {
        /// The header name as configured.
        name: String,
        /// `a gRPC metadata entry` or `an HTTP header`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS for an `https://` gRPC endpoint could not be set up.
    #[error("audit.otlp: TLS for {endpoint} could not be set up ({reason})")]
    Tls {
        /// The configured endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("audit.otlp: the HTTP client could not be built ({0})")]
    HttpClient(String),
    /// Called outside a Tokio runtime.
    #[error(
        "audit.otlp: the span exporter must be created inside the Tokio runtime \
         (it opens its gRPC channel there)"
    )]
    NoRuntime,
}

/// Sends audit records and checkpoints as OTLP spans. Create it with
/// [`SpanExporter::new`] and hand it to the audit writer as an [`AuditOutput`].
#[derive(Debug)]
pub struct SpanExporter {
    transport: Transport,
    resource: ResourceAttributesWithSchema,
    scope: opentelemetry::InstrumentationScope,
    endpoint: String,
    timeout: Duration,
}

#[derive(Clone, Debug)]
enum Transport {
    Grpc {
        client: TraceServiceClient<Channel>,
        metadata: MetadataMap,
    },
    Http {
        client: reqwest::Client,
        url: reqwest::Url,
        headers: http::HeaderMap,
    },
}

impl SpanExporter {
    /// An exporter for `config`, with `service.name` from the config and
    /// `service.instance.id` = `instance` (the audit chain's instance) on the resource.
    ///
    /// Does not connect: the gRPC channel connects on the first export, so Warden
    /// starts while the collector is down (the first write then fails and is retried).
    /// Must be called inside the Tokio runtime.
    ///
    /// # Errors
    /// [`OtlpSetupError`] when the endpoint or a header is invalid, TLS or the HTTP
    /// client cannot be set up, or there is no runtime.
    pub fn new(config: &OtlpConfig, instance: &str) -> Result<SpanExporter, OtlpSetupError> {
        let resource = Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .with_attributes([
                KeyValue::new("service.instance.id", instance.to_string()),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            ])
            .build();
        let uri = parse_endpoint(&config.endpoint)?;
        let transport = match config.protocol {
            OtlpProtocol::Grpc => grpc_transport(&config.endpoint, &uri, &config.headers)?,
            OtlpProtocol::Http => http_transport(&config.endpoint, &config.headers)?,
        };
        Ok(SpanExporter {
            transport,
            resource: ResourceAttributesWithSchema::from(&resource),
            scope: scope(),
            endpoint: config.endpoint.clone(),
            timeout: DEFAULT_EXPORT_TIMEOUT,
        })
    }

    /// The same exporter with another bound on one export (connecting included).
    pub fn with_timeout(mut self, timeout: Duration) -> SpanExporter {
        self.timeout = timeout;
        self
    }

    /// Sends `spans` in one OTLP request.
    async fn export(&self, spans: Vec<SpanData>) -> Result<(), OutputError> {
        let count = spans.len();
        if count == 0 {
            return Ok(());
        }
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &self.resource),
        };
        let sent = tokio::time::timeout(self.timeout, self.send(request)).await;
        let result = match sent {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        result.map_err(|cause| OutputError {
            output: OUTPUT_NAME,
            message: format!(
                "could not export {count} span(s) to the OTLP collector at {} over {}: {cause}. \
                 Check that the collector is up, reachable from Warden (audit.otlp.endpoint) \
                 and accepts the configured headers; Warden retries the batch and refuses \
                 new requests once the audit queue is full",
                self.endpoint,
                self.protocol_name()
            ),
        })
    }

    async fn send(&self, request: ExportTraceServiceRequest) -> Result<(), String> {
        let response = match &self.transport {
            Transport::Grpc { client, metadata } => {
                let mut call = tonic::Request::new(request);
                *call.metadata_mut() = metadata.clone();
                call.set_timeout(self.timeout);
                client
                    .clone()
                    .export(call)
                    .await
                    .map_err(|status| grpc_error(&status))?
                    .into_inner()
            }
            Transport::Http {
                client,
                url,
                headers,
            } => {
                let reply = client
                    .post(url.clone())
                    .headers(headers.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(request.encode_to_vec())
                    .send()
                    .await
                    .map_err(|e| format!("HTTP request failed: {}", e.without_url()))?;
                let status = reply.status();
                if !status.is_success() {
                    return Err(format!("the collector answered HTTP {status}"));
                }
                let body = reply
                    .bytes()
                    .await
                    .map_err(|e| format!("reading the answer failed: {}", e.without_url()))?;
                ExportTraceServiceResponse::decode(body).map_err(|e| {
                    format!("the answer is not an OTLP ExportTraceServiceResponse ({e})")
                })?
            }
        };
        match response.partial_success {
            Some(partial) if partial.rejected_spans > 0 => Err(format!(
                "the collector rejected {} span(s): {}",
                partial.rejected_spans,
                if partial.error_message.is_empty() {
                    "no reason given"
                } else {
                    partial.error_message.as_str()
                }
            )),
            Some(partial) if !partial.error_message.is_empty() => {
                tracing::warn!(
                    endpoint = %self.endpoint,
                    message = %partial.error_message,
                    "the OTLP collector took all spans with a warning"
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn protocol_name(&self) -> &'static str {
        match self.transport {
            Transport::Grpc { .. } => "grpc",
            Transport::Http { .. } => "http",
        }
    }
}

impl AuditOutput for SpanExporter {
    fn name(&self) -> &'static str {
        OUTPUT_NAME
    }

    fn write<'a>(&'a self, batch: &'a [Chained]) -> OutputFuture<'a> {
        let spans = batch
            .iter()
            .map(|chained| record_span(&chained.record, &self.scope))
            .collect();
        Box::pin(self.export(spans))
    }

    fn checkpoint<'a>(&'a self, checkpoint: &'a Checkpoint) -> OutputFuture<'a> {
        Box::pin(self.export(vec![checkpoint_span(checkpoint, &self.scope)]))
    }
}

/// A gRPC failure as text: the code and the message (the collector's, or tonic's for
/// a transport failure, with its cause).
fn grpc_error(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut text = format!("gRPC {:?}: {}", status.code(), status.message());
    let mut source = status.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn parse_endpoint(endpoint: &str) -> Result<http::Uri, OtlpSetupError> {
    let invalid = |reason: String| OtlpSetupError::Endpoint {
        endpoint: endpoint.to_string(),
        reason,
    };
    let uri: http::Uri = endpoint.parse().map_err(|e| invalid(format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(invalid(format!("scheme {other:?}"))),
        None => return Err(invalid("no scheme".into())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(uri)
}

fn grpc_transport(
    endpoint: &str,
    uri: &http::Uri,
    headers: &BTreeMap<String, String>,
) -> Result<Transport, OtlpSetupError> {
    tokio::runtime::Handle::try_current().map_err(|_| OtlpSetupError::NoRuntime)?;
    let mut metadata = MetadataMap::new();
    for (name, value) in headers {
        let header = |reason: String| OtlpSetupError::Header {
            name: name.clone(),
            what: "a gRPC metadata entry",
            reason,
        };
        let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|e| header(e.to_string()))?;
        let value = MetadataValue::try_from(value.as_str()).map_err(|e| header(e.to_string()))?;
        metadata.insert(key, value);
    }
    let invalid = |reason: String| OtlpSetupError::Endpoint {
        endpoint: endpoint.to_string(),
        reason,
    };
    let mut channel = Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| invalid(e.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT);
    if uri.scheme_str() == Some("https") {
        channel = channel
            .tls_config(ClientTlsConfig::new().with_native_roots())
            .map_err(|e| OtlpSetupError::Tls {
                endpoint: endpoint.to_string(),
                reason: e.to_string(),
            })?;
    }
    Ok(Transport::Grpc {
        client: TraceServiceClient::new(channel.connect_lazy()),
        metadata,
    })
}

fn http_transport(
    endpoint: &str,
    headers: &BTreeMap<String, String>,
) -> Result<Transport, OtlpSetupError> {
    let mut url = reqwest::Url::parse(endpoint).map_err(|e| OtlpSetupError::Endpoint {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })?;
    if !url.path().ends_with(HTTP_TRACES_PATH) {
        let path = format!("{}{HTTP_TRACES_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    let mut header_map = http::HeaderMap::new();
    for (name, value) in headers {
        let header = |reason: String| OtlpSetupError::Header {
            name: name.clone(),
            what: "an HTTP header",
            reason,
        };
        let key =
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| header(e.to_string()))?;
        let mut value = http::HeaderValue::from_str(value).map_err(|e| header(e.to_string()))?;
        value.set_sensitive(true);
        header_map.insert(key, value);
    }
    crate::identity::ensure_tls_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("warden-audit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OtlpSetupError::HttpClient(e.without_url().to_string()))?;
    Ok(Transport::Http {
        client,
        url,
        headers: header_map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str, protocol: OtlpProtocol) -> OtlpConfig {
        OtlpConfig {
            endpoint: endpoint.into(),
            protocol,
            service_name: "warden".into(),
            headers: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn http_endpoint_gets_the_traces_path_once() {
        for (endpoint, want) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            ("http://c:4318/otlp", "http://c:4318/otlp/v1/traces"),
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
        ] {
            let exporter =
                SpanExporter::new(&config(endpoint, OtlpProtocol::Http), "i").expect("valid");
            match exporter.transport {
                Transport::Http { url, .. } => assert_eq!(url.as_str(), want),
                Transport::Grpc { .. } => panic!("http expected"),
            }
        }
    }

    #[tokio::test]
    async fn bad_endpoints_and_headers_are_refused_with_advice() {
        for endpoint in ["collector:4317", "ftp://c:21", "http://", "not a url"] {
            for protocol in [OtlpProtocol::Grpc, OtlpProtocol::Http] {
                let err = SpanExporter::new(&config(endpoint, protocol), "i").expect_err(endpoint);
                assert!(
                    err.to_string().contains("http://host:4317"),
                    "{endpoint}: {err}"
                );
            }
        }
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::Http] {
            let mut c = config("http://c:4317", protocol);
            c.headers.insert("bad header".into(), "v".into());
            let err = SpanExporter::new(&c, "i").expect_err("bad header name");
            assert!(matches!(err, OtlpSetupError::Header { .. }), "{err}");
            let mut c = config("http://c:4317", protocol);
            c.headers.insert("x-api-key".into(), "line\nbreak".into());
            let err = SpanExporter::new(&c, "i").expect_err("bad header value");
            assert!(matches!(err, OtlpSetupError::Header { .. }), "{err}");
        }
    }

    #[test]
    fn grpc_needs_a_runtime() {
        let err = SpanExporter::new(&config("http://c:4317", OtlpProtocol::Grpc), "i")
            .expect_err("no runtime");
        assert!(matches!(err, OtlpSetupError::NoRuntime), "{err}");
    }

    #[tokio::test]
    async fn headers_are_kept_for_each_transport() {
        let mut c = config("https://c:4317", OtlpProtocol::Grpc);
        c.headers.insert("X-Api-Key".into(), "k1".into());
        match SpanExporter::new(&c, "i").expect("valid").transport {
            Transport::Grpc { metadata, .. } => {
                assert_eq!(
                    metadata.get("x-api-key").and_then(|v| v.to_str().ok()),
                    Some("k1")
                );
            }
            Transport::Http { .. } => panic!("grpc expected"),
        }
        c.protocol = OtlpProtocol::Http;
        match SpanExporter::new(&c, "i").expect("valid").transport {
            Transport::Http { headers, .. } => {
                assert_eq!(
                    headers.get("x-api-key").and_then(|v| v.to_str().ok()),
                    Some("k1")
                );
            }
            Transport::Grpc { .. } => panic!("http expected"),
        }
    }

    #[tokio::test]
    async fn an_empty_batch_sends_nothing() {
        // Port 9 (discard) on loopback has no listener: any send would fail.
        let exporter = SpanExporter::new(&config("http://127.0.0.1:9", OtlpProtocol::Http), "i")
            .expect("valid");
        assert!(exporter.write(&[]).await.is_ok());
    }
}
