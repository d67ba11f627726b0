//! Audit records as OpenTelemetry spans: the `SpanExporter` output sends chained
//! records and checkpoints to a real OTLP receiver over gRPC and HTTP/protobuf, and
//! reports every failure to deliver as an error (the audit writer retries and Warden
//! fails closed; a span is never dropped silently).
//!
//! The exporter is driven directly with records here; the audit writer wiring that
//! feeds it from live traffic is tested with the writer.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use warden::audit::otel::{record_span_id, CHECKPOINT_SPAN_NAME, SCOPE_NAME};
use warden::audit::{
    AuditOutput, AuditRecord, Chained, ChainedRecord, Checkpoint, DecisionRecord, IdentityRecord,
    MaskingRecord, RecordSource, RequestRecord, ResponseRecord, SpanExporter, TraceRecord,
};
use warden::config::{OtlpConfig, OtlpProtocol};
use warden_integration_tests::otlp::{OtlpReceiver, Protocol, ReceivedSpan, Reply};

const WAIT: Duration = Duration::from_secs(10);
const INSTANCE: &str = "warden-test-1";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// `started_at` of record `seq`: 2026-11-30T08:00:00.000123Z plus `seq` seconds.
fn started(seq: u64) -> (String, SystemTime) {
    let at = UNIX_EPOCH + Duration::from_secs(1_796_025_600 + seq) + Duration::from_micros(123);
    (format!("2026-11-30T08:00:{seq:02}.000123Z"), at)
}

fn chained(seq: u64, traced: bool) -> Chained {
    let record = AuditRecord {
        request_id: format!("req-{seq}"),
        session_id: "agent-7/2026-11-30".into(),
        source: RecordSource::ExtProc,
        started_at: started(seq).0,
        duration_us: 1_500 + seq,
        identity: Some(IdentityRecord {
            subject: "agent-7".into(),
            issuer: "https://issuer.test".into(),
            groups: vec!["ops".into()],
            kind: "agent".into(),
            source: "jwt".into(),
        }),
        request: Some(RequestRecord {
            method: "DELETE".into(),
            scheme: "http".into(),
            authority: "api.test:8080".into(),
            path: "/things/1".into(),
            query: "api_key=[REDACTED:api_key]".into(),
            body_bytes: 0,
        }),
        decision: DecisionRecord {
            outcome: if seq % 2 == 0 { "error" } else { "deny" }.into(),
            status: Some(403),
            rule: Some("no-deletes".into()),
            reason: "deletes are not allowed".into(),
            policy_hash: "sha256:policy".into(),
            observed: vec![],
            details: "warden_policy_deny".into(),
        },
        facts: BTreeMap::from([("protocols".to_string(), "http".to_string())]),
        masking: MaskingRecord {
            request: BTreeMap::from([("api_key".to_string(), 1)]),
            response: BTreeMap::new(),
            passed_unread: vec![],
        },
        response: Some(ResponseRecord {
            status: 403,
            body_bytes: 0,
            from_warden: true,
        }),
        trace: traced.then(|| TraceRecord {
            trace_id: TRACE_ID.into(),
            parent_span_id: PARENT.into(),
        }),
        capture_sha256: Some("sha256:capture".into()),
        ..AuditRecord::default()
    };
    Chained {
        record: ChainedRecord {
            instance: INSTANCE.into(),
            seq,
            prev_hash: format!("sha256:{:064x}", seq - 1),
            hash: format!("sha256:{seq:064x}"),
            record,
        },
        capture: None,
    }
}

fn config(endpoint: String, protocol: OtlpProtocol) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        protocol,
        service_name: "warden-audit-test".into(),
        headers: BTreeMap::from([("x-api-key".to_string(), "collector-key".to_string())]),
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

async fn records_and_checkpoint_reach_the_collector(protocol: OtlpProtocol) -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    let (endpoint, want) = match protocol {
        OtlpProtocol::Grpc => (receiver.grpc_endpoint(), Protocol::Grpc),
        OtlpProtocol::Http => (receiver.http_endpoint(), Protocol::Http),
    };
    let exporter = SpanExporter::new(&config(endpoint, protocol), INSTANCE)?;
    let batch = [chained(1, true), chained(2, false)];
    exporter.write(&batch).await?;
    let spans = receiver.wait_for_spans(2, WAIT).await?;
    ensure!(spans.len() == 2, "one span per record: {spans:#?}");

    for (span, chained) in spans.iter().zip(&batch) {
        let seq = chained.record.seq;
        ensure!(span.protocol == want);
        ensure!(
            span.header("x-api-key") == Some("collector-key"),
            "the configured header is sent: {:?}",
            span.headers
        );
        ensure!(span.resource_str("service.name") == Some("warden-audit-test"));
        ensure!(span.resource_str("service.instance.id") == Some(INSTANCE));
        ensure!(span.scope == SCOPE_NAME);
        ensure!(span.span.kind == SpanKind::Server as i32);
        ensure!(
            span.span_id() == record_span_id(INSTANCE, seq, &chained.record.hash).to_string(),
            "span id derived from the chain position"
        );
        let (_, start) = started(seq);
        ensure!(
            span.span.start_time_unix_nano == nanos(start),
            "start {seq}"
        );
        ensure!(
            span.span.end_time_unix_nano
                == nanos(start + Duration::from_micros(chained.record.record.duration_us)),
            "end {seq}"
        );
        ensure!(span.int_attribute("warden.audit.seq") == Some(seq as i64));
        ensure!(span.str_attribute("warden.audit.instance") == Some(INSTANCE));
        ensure!(span.str_attribute("warden.audit.hash") == Some(chained.record.hash.as_str()));
        ensure!(
            span.str_attribute("warden.audit.prev_hash") == Some(chained.record.prev_hash.as_str())
        );
        ensure!(span.str_attribute("http.request.method") == Some("DELETE"));
        ensure!(span.str_attribute("url.path") == Some("/things/1"));
        ensure!(span.str_attribute("url.query") == Some("api_key=[REDACTED:api_key]"));
        ensure!(span.str_attribute("server.address") == Some("api.test"));
        ensure!(span.int_attribute("server.port") == Some(8080));
        ensure!(span.int_attribute("http.response.status_code") == Some(403));
        ensure!(span.str_attribute("enduser.id") == Some("agent-7"));
        ensure!(span.str_attribute("session.id") == Some("agent-7/2026-11-30"));
        ensure!(span.str_attribute("warden.decision.rule") == Some("no-deletes"));
        ensure!(span.int_attribute("warden.masking.request.rule.api_key") == Some(1));
        ensure!(span.str_attribute("warden.facts.protocols") == Some("http"));
        ensure!(
            matches!(
                span.attribute("warden.identity.groups"),
                Some(any_value::Value::ArrayValue(a)) if a.values.len() == 1
            ),
            "groups as a string array"
        );
        ensure!(
            span.span
                .attributes
                .iter()
                .all(|kv| !kv.key.contains("capture")),
            "the capture stays out of spans"
        );
    }

    // Record 1 joins Envoy's trace; record 2 (no traceparent) is a root of its own.
    let traced = &spans[0];
    ensure!(traced.trace_id() == TRACE_ID, "{}", traced.trace_id());
    ensure!(traced.parent_span_id() == PARENT);
    ensure!(traced.span.name == "warden deny DELETE");
    let status = traced.span.status.clone().unwrap_or_default();
    ensure!(
        status.code == StatusCode::Unset as i32,
        "a deny is no error"
    );
    let root = &spans[1];
    ensure!(root.trace_id() != TRACE_ID && root.trace_id().len() == 32);
    ensure!(root.parent_span_id().is_empty(), "a root span");
    ensure!(root.span.name == "warden error DELETE");
    let status = root.span.status.clone().unwrap_or_default();
    ensure!(
        status.code == StatusCode::Error as i32,
        "an error outcome is an error"
    );

    // The checkpoint: its own span with the signed head.
    let checkpoint = Checkpoint {
        instance: INSTANCE.into(),
        seq: 2,
        hash: batch[1].record.hash.clone(),
        signed_at: "2026-11-30T08:00:05Z".into(),
        reason: "interval".into(),
        key_id: "ed25519:test".into(),
        signature: "c2lnbmVk".into(),
    };
    exporter.checkpoint(&checkpoint).await?;
    let span = receiver
        .wait_for_span(WAIT, |s| s.span.name == CHECKPOINT_SPAN_NAME)
        .await?;
    ensure!(span.span.kind == SpanKind::Internal as i32);
    ensure!(
        span.span.start_time_unix_nano == nanos(UNIX_EPOCH + Duration::from_secs(1_796_025_605))
    );
    ensure!(span.int_attribute("warden.audit.seq") == Some(2));
    ensure!(span.str_attribute("warden.audit.hash") == Some(checkpoint.hash.as_str()));
    ensure!(span.str_attribute("warden.checkpoint.key_id") == Some("ed25519:test"));
    ensure!(span.str_attribute("warden.checkpoint.signature") == Some("c2lnbmVk"));
    ensure!(span.str_attribute("warden.checkpoint.reason") == Some("interval"));
    Ok(())
}

#[tokio::test]
async fn grpc_records_and_checkpoints_reach_the_collector() -> anyhow::Result<()> {
    records_and_checkpoint_reach_the_collector(OtlpProtocol::Grpc).await
}

#[tokio::test]
async fn http_records_and_checkpoints_reach_the_collector() -> anyhow::Result<()> {
    records_and_checkpoint_reach_the_collector(OtlpProtocol::Http).await
}

/// A loopback address nothing listens on.
async fn closed_port() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}"))
}

#[tokio::test]
async fn an_unreachable_collector_is_an_error() -> anyhow::Result<()> {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::Http] {
        let exporter = SpanExporter::new(&config(closed_port().await?, protocol), INSTANCE)?;
        let err = exporter
            .write(&[chained(1, true)])
            .await
            .err()
            .with_context(|| format!("{protocol:?}: write to a closed port succeeded"))?;
        ensure!(err.output == "otlp");
        ensure!(
            err.message.contains("could not export 1 span(s)")
                && err.message.contains("Check that the collector is up"),
            "{protocol:?}: {err}"
        );
        ensure!(
            exporter
                .checkpoint(&Checkpoint {
                    instance: INSTANCE.into(),
                    seq: 1,
                    hash: "sha256:x".into(),
                    signed_at: "2026-11-30T08:00:05Z".into(),
                    reason: "count".into(),
                    key_id: "k".into(),
                    signature: "s".into(),
                })
                .await
                .is_err(),
            "{protocol:?}: a checkpoint to a closed port succeeded"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_collector_that_never_answers_times_out_as_an_error() -> anyhow::Result<()> {
    // The kernel completes the handshake (backlog) but nobody ever reads or answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", silent.local_addr()?);
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::Http] {
        let exporter = SpanExporter::new(&config(endpoint.clone(), protocol), INSTANCE)?
            .with_timeout(Duration::from_millis(300));
        let err = exporter
            .write(&[chained(1, true)])
            .await
            .err()
            .with_context(|| format!("{protocol:?}: write to a silent collector succeeded"))?;
        // Our bound, or the gRPC deadline the call carries (the same 300 ms).
        ensure!(
            err.message.contains("no answer within 300 ms")
                || err.message.contains("Timeout expired"),
            "{protocol:?}: {err}"
        );
    }
    drop(silent);
    Ok(())
}

#[tokio::test]
async fn a_collector_that_refuses_or_rejects_spans_is_an_error() -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::Http] {
        let endpoint = match protocol {
            OtlpProtocol::Grpc => receiver.grpc_endpoint(),
            OtlpProtocol::Http => receiver.http_endpoint(),
        };
        let exporter = SpanExporter::new(&config(endpoint, protocol), INSTANCE)?;

        receiver.set_reply(Reply::Unavailable);
        let err = exporter
            .write(&[chained(1, true)])
            .await
            .err()
            .with_context(|| format!("{protocol:?}: a refused export succeeded"))?;
        ensure!(
            err.message.contains("Unavailable") || err.message.contains("503"),
            "{protocol:?}: {err}"
        );

        receiver.set_reply(Reply::RejectSpans(1));
        let err = exporter
            .write(&[chained(1, true), chained(2, true)])
            .await
            .err()
            .with_context(|| format!("{protocol:?}: a partly rejected export succeeded"))?;
        ensure!(
            err.message.contains("rejected 1 span(s)")
                && err.message.contains("the test receiver rejects spans"),
            "{protocol:?}: {err}"
        );

        receiver.set_reply(Reply::Accept);
        exporter.write(&[chained(3, true)]).await?;
    }
    let spans: Vec<ReceivedSpan> = receiver.wait_for_spans(2, WAIT).await?;
    ensure!(
        spans.len() == 2
            && spans
                .iter()
                .all(|s| s.int_attribute("warden.audit.seq") == Some(3)),
        "only the accepted exports were kept: {spans:#?}"
    );
    Ok(())
}
