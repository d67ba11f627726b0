//! The span of a chained record, and of a checkpoint: a pure mapping, tested without a
//! collector.
//!
//! The schema (every attribute, its type and meaning) is in `docs/audit-schema.md`,
//! section "Spans". Attributes come from the record only, and the record holds no
//! secret: no header values, no bodies, the query string already masked, facts reduced
//! to names, masking findings as rule ids and counts. The session capture (masked
//! headers) and its hash are not put on spans.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use sha2::{Digest, Sha256};

use crate::audit::{AuditRecord, ChainedRecord, Checkpoint, RecordSource};

/// Name of the span that carries a signed checkpoint.
pub const CHECKPOINT_SPAN_NAME: &str = "warden.audit.checkpoint";

/// Name of the instrumentation scope of Warden's audit spans.
pub const SCOPE_NAME: &str = "warden.audit";

/// HTTP methods the OpenTelemetry semantic conventions know; any other goes in
/// `http.request.method` as `_OTHER` (the original in `http.request.method_original`).
const KNOWN_METHODS: [&str; 10] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
];

/// The instrumentation scope of Warden's audit spans (`warden.audit`, Warden's version).
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The span name of a record: `warden <outcome> <METHOD>` (`warden deny POST`), or
/// `warden <outcome>` when the request head never arrived. An unknown method shows as
/// `HTTP`, so names stay few.
pub fn span_name(record: &AuditRecord) -> String {
    match &record.request {
        Some(request) => {
            let method = if KNOWN_METHODS.contains(&request.method.as_str()) {
                request.method.as_str()
            } else {
                "HTTP"
            };
            format!("warden {} {method}", record.decision.outcome)
        }
        None => format!("warden {}", record.decision.outcome),
    }
}

/// The attributes of a record's span: OpenTelemetry semantic conventions where one
/// exists (`http.request.method`, `url.path`, `url.query`, `url.scheme`,
/// `server.address`, `server.port`, `http.request.body.size`,
/// `http.response.status_code`, `http.response.body.size`, `enduser.id`, `session.id`,
/// `error.type`), `warden.*` for the rest. Only what the record has is set.
pub fn span_attributes(chained: &ChainedRecord) -> Vec<KeyValue> {
    let record = &chained.record;
    let mut out = Vec::with_capacity(32);

    out.push(KeyValue::new(
        "warden.request.id",
        record.request_id.clone(),
    ));
    out.push(KeyValue::new("session.id", record.session_id.clone()));
    out.push(KeyValue::new(
        "warden.record.source",
        match record.source {
            RecordSource::ExtProc => "ext_proc",
            RecordSource::ExtAuthz => "ext_authz",
        },
    ));
    out.push(KeyValue::new(
        "warden.record.version",
        i64::from(record.version),
    ));

    if let Some(request) = &record.request {
        if KNOWN_METHODS.contains(&request.method.as_str()) {
            out.push(KeyValue::new("http.request.method", request.method.clone()));
        } else {
            out.push(KeyValue::new("http.request.method", "_OTHER"));
            out.push(KeyValue::new(
                "http.request.method_original",
                request.method.clone(),
            ));
        }
        if !request.scheme.is_empty() {
            out.push(KeyValue::new("url.scheme", request.scheme.clone()));
        }
        let (host, port) = split_authority(&request.authority);
        if !host.is_empty() {
            out.push(KeyValue::new("server.address", host.to_string()));
        }
        if let Some(port) = port {
            out.push(KeyValue::new("server.port", i64::from(port)));
        }
        out.push(KeyValue::new("url.path", request.path.clone()));
        if !request.query.is_empty() {
            out.push(KeyValue::new("url.query", request.query.clone()));
        }
        out.push(KeyValue::new(
            "http.request.body.size",
            saturating_i64(request.body_bytes),
        ));
    }

    if let Some(response) = &record.response {
        out.push(KeyValue::new(
            "http.response.status_code",
            i64::from(response.status),
        ));
        out.push(KeyValue::new(
            "http.response.body.size",
            saturating_i64(response.body_bytes),
        ));
        out.push(KeyValue::new(
            "warden.response.from_warden",
            response.from_warden,
        ));
    }

    if let Some(identity) = &record.identity {
        out.push(KeyValue::new("enduser.id", identity.subject.clone()));
        out.push(KeyValue::new(
            "warden.identity.issuer",
            identity.issuer.clone(),
        ));
        if !identity.groups.is_empty() {
            out.push(KeyValue::new(
                "warden.identity.groups",
                string_array(&identity.groups),
            ));
        }
        out.push(KeyValue::new("warden.identity.kind", identity.kind.clone()));
        out.push(KeyValue::new(
            "warden.identity.source",
            identity.source.clone(),
        ));
    }

    let decision = &record.decision;
    out.push(KeyValue::new(
        "warden.decision.outcome",
        decision.outcome.clone(),
    ));
    if let Some(status) = decision.status {
        out.push(KeyValue::new("warden.decision.status", i64::from(status)));
    }
    if let Some(rule) = &decision.rule {
        out.push(KeyValue::new("warden.decision.rule", rule.clone()));
    }
    if !decision.reason.is_empty() {
        out.push(KeyValue::new(
            "warden.decision.reason",
            decision.reason.clone(),
        ));
    }
    if !decision.policy_hash.is_empty() {
        out.push(KeyValue::new(
            "warden.decision.policy_hash",
            decision.policy_hash.clone(),
        ));
    }
    if !decision.observed.is_empty() {
        out.push(KeyValue::new(
            "warden.decision.observed",
            string_array(&decision.observed),
        ));
    }
    if !decision.details.is_empty() {
        out.push(KeyValue::new(
            "warden.decision.details",
            decision.details.clone(),
        ));
    }
    if let Some(error_type) = error_type(record) {
        out.push(KeyValue::new("error.type", error_type));
    }

    if let Some(approval) = &record.approval {
        out.push(KeyValue::new("warden.approval.id", approval.id.clone()));
        out.push(KeyValue::new(
            "warden.approval.status",
            approval.status.clone(),
        ));
        out.push(KeyValue::new(
            "warden.approval.requested_by",
            approval.requested_by.clone(),
        ));
        if !approval.approvers.is_empty() {
            out.push(KeyValue::new(
                "warden.approval.approvers",
                string_array(&approval.approvers),
            ));
        }
        if let Some(denied_by) = &approval.denied_by {
            out.push(KeyValue::new(
                "warden.approval.denied_by",
                denied_by.clone(),
            ));
        }
    }

    for (name, value) in &record.facts {
        out.push(KeyValue::new(format!("warden.facts.{name}"), value.clone()));
    }

    let masking = &record.masking;
    for (direction, findings) in [
        ("request", &masking.request),
        ("response", &masking.response),
    ] {
        if findings.is_empty() {
            continue;
        }
        for (rule, count) in findings {
            out.push(KeyValue::new(
                format!("warden.masking.{direction}.rule.{rule}"),
                saturating_i64(*count),
            ));
        }
        out.push(KeyValue::new(
            format!("warden.masking.{direction}.total"),
            saturating_i64(findings.values().sum()),
        ));
    }
    out.push(KeyValue::new(
        "warden.masking.total",
        saturating_i64(masking.total()),
    ));
    if !masking.passed_unread.is_empty() {
        let directions: Vec<String> = masking
            .passed_unread
            .iter()
            .map(|d| match d {
                crate::redact::Direction::Request => "request".to_string(),
                crate::redact::Direction::Response => "response".to_string(),
            })
            .collect();
        out.push(KeyValue::new(
            "warden.masking.passed_unread",
            string_array(&directions),
        ));
    }

    out.push(KeyValue::new(
        "warden.audit.instance",
        chained.instance.clone(),
    ));
    out.push(KeyValue::new(
        "warden.audit.seq",
        saturating_i64(chained.seq),
    ));
    out.push(KeyValue::new("warden.audit.hash", chained.hash.clone()));
    out.push(KeyValue::new(
        "warden.audit.prev_hash",
        chained.prev_hash.clone(),
    ));
    out
}

/// The span of a chained record.
///
/// Kind SERVER: its parent is the span Envoy opened for the ext_proc / ext_authz gRPC
/// call to Warden (a CLIENT span in another process), and this span is the server side
/// of that call, lasting from the request headers to the end of the exchange.
///
/// Ids: the trace id and parent span id come from the `traceparent` Envoy sent (the
/// record's `trace`), so the span joins Envoy's trace; without one the trace id is
/// derived from the record's chain position. The span id is always derived from the
/// chain position (`instance`, `seq`, `hash`), so a batch the writer exports again
/// after a failure carries the same ids, and an auditor can recompute a record's span
/// id from the log (see [`record_span_id`]).
pub fn record_span(chained: &ChainedRecord, scope: &InstrumentationScope) -> SpanData {
    let record = &chained.record;
    let digest = chain_digest("record", &chained.instance, chained.seq, &chained.hash);
    let span_id = span_id_from(&digest);
    let parent = record.trace.as_ref().and_then(|trace| {
        let trace_id = TraceId::from_hex(&trace.trace_id).ok()?;
        let parent = SpanId::from_hex(&trace.parent_span_id).ok()?;
        (trace_id != TraceId::INVALID && parent != SpanId::INVALID).then_some((trace_id, parent))
    });
    let (trace_id, parent_span_id, parent_span_is_remote) = match parent {
        Some((trace_id, parent)) => (trace_id, parent, true),
        None => (trace_id_from(&digest), SpanId::INVALID, false),
    };
    let start_time = parse_time(&record.started_at);
    let end_time = start_time
        .checked_add(Duration::from_micros(record.duration_us))
        .unwrap_or(start_time);
    SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id,
        parent_span_is_remote,
        span_kind: SpanKind::Server,
        name: Cow::Owned(span_name(record)),
        start_time,
        end_time,
        attributes: span_attributes(chained),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: status(record),
        instrumentation_scope: scope.clone(),
    }
}

/// The span id [`record_span`] gives the record at `seq` with `hash` in the chain of
/// `instance`: the first 8 bytes of SHA-256 over `warden-span`, `record`, the instance,
/// the seq (big-endian) and the hash, each field followed by a 0 byte.
pub fn record_span_id(instance: &str, seq: u64, hash: &str) -> SpanId {
    span_id_from(&chain_digest("record", instance, seq, hash))
}

/// The span of a signed checkpoint: `warden.audit.checkpoint`, kind INTERNAL, zero
/// length at `signed_at`, in a trace of its own, with the chain position it covers
/// (`warden.audit.instance`, `warden.audit.seq`, `warden.audit.hash`) and the signature
/// (`warden.checkpoint.*`), so the chain's signed heads also live outside the log.
pub fn checkpoint_span(checkpoint: &Checkpoint, scope: &InstrumentationScope) -> SpanData {
    let digest = chain_digest(
        "checkpoint",
        &checkpoint.instance,
        checkpoint.seq,
        &checkpoint.hash,
    );
    let at = parse_time(&checkpoint.signed_at);
    SpanData {
        span_context: SpanContext::new(
            trace_id_from(&digest),
            span_id_from(&digest),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(CHECKPOINT_SPAN_NAME),
        start_time: at,
        end_time: at,
        attributes: checkpoint_attributes(checkpoint),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

/// The attributes of a checkpoint's span.
pub fn checkpoint_attributes(checkpoint: &Checkpoint) -> Vec<KeyValue> {
    vec![
        KeyValue::new("warden.audit.instance", checkpoint.instance.clone()),
        KeyValue::new("warden.audit.seq", saturating_i64(checkpoint.seq)),
        KeyValue::new("warden.audit.hash", checkpoint.hash.clone()),
        KeyValue::new("warden.checkpoint.signed_at", checkpoint.signed_at.clone()),
        KeyValue::new("warden.checkpoint.reason", checkpoint.reason.clone()),
        KeyValue::new("warden.checkpoint.key_id", checkpoint.key_id.clone()),
        KeyValue::new("warden.checkpoint.signature", checkpoint.signature.clone()),
    ]
}

/// ERROR when Warden failed closed (`error`) or the exchange ended before a decision
/// (`incomplete`); unset otherwise (a deny or a hold is Warden working, not failing).
fn status(record: &AuditRecord) -> Status {
    match record.decision.outcome.as_str() {
        "error" => Status::error(if record.decision.details.is_empty() {
            "Warden failed closed".to_string()
        } else {
            format!("Warden failed closed: {}", record.decision.details)
        }),
        "incomplete" => Status::error("the exchange ended before Warden decided"),
        _ => Status::Unset,
    }
}

/// `error.type` for the error outcomes: Envoy's details string of the reply, else the
/// outcome.
fn error_type(record: &AuditRecord) -> Option<String> {
    match record.decision.outcome.as_str() {
        "error" | "incomplete" if !record.decision.details.is_empty() => {
            Some(record.decision.details.clone())
        }
        outcome @ ("error" | "incomplete") => Some(outcome.to_string()),
        _ => None,
    }
}

/// Host and port of an `:authority`, without any user info (`user:pw@` never goes on
/// a span), IPv6 brackets removed.
fn split_authority(authority: &str) -> (&str, Option<u16>) {
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => (host, Some(port)),
            Err(_) => (authority, None),
        },
        None => (authority, None),
    }
}

/// An RFC 3339 timestamp as a `SystemTime`. A record's times are written by Warden, so
/// a bad one is a bug: the span gets the export time rather than blocking the audit
/// trail, and the log says so.
fn parse_time(value: &str) -> SystemTime {
    match time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        Ok(t) => SystemTime::from(t),
        Err(e) => {
            tracing::warn!(
                timestamp = value,
                error = %e,
                "audit timestamp is not RFC 3339; the span gets the export time"
            );
            SystemTime::now()
        }
    }
}

fn chain_digest(what: &str, instance: &str, seq: u64, hash: &str) -> [u8; 32] {
    let mut sha = Sha256::new();
    for field in [
        b"warden-span".as_slice(),
        what.as_bytes(),
        instance.as_bytes(),
    ] {
        sha.update(field);
        sha.update([0]);
    }
    sha.update(seq.to_be_bytes());
    sha.update([0]);
    sha.update(hash.as_bytes());
    sha.update([0]);
    sha.finalize().into()
}

fn span_id_from(digest: &[u8; 32]) -> SpanId {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    if bytes == [0; 8] {
        bytes[7] = 1;
    }
    SpanId::from_bytes(bytes)
}

fn trace_id_from(digest: &[u8; 32]) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[8..24]);
    if bytes == [0; 16] {
        bytes[15] = 1;
    }
    TraceId::from_bytes(bytes)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn string_array(values: &[String]) -> Value {
    Value::Array(Array::String(
        values.iter().cloned().map(StringValue::from).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::audit::{
        ApprovalRecord, DecisionRecord, IdentityRecord, MaskingRecord, RequestRecord,
        ResponseRecord, TraceRecord,
    };
    use crate::redact::Direction;

    fn record() -> ChainedRecord {
        ChainedRecord {
            instance: "warden-a".into(),
            seq: 42,
            prev_hash: "sha256:prev".into(),
            hash: "sha256:this".into(),
            record: AuditRecord {
                request_id: "req-1".into(),
                session_id: "sess-1".into(),
                source: RecordSource::ExtProc,
                started_at: "2026-11-30T08:00:00.123456Z".into(),
                duration_us: 2_500,
                identity: Some(IdentityRecord {
                    subject: "agent-7".into(),
                    issuer: "https://issuer.example".into(),
                    groups: vec!["ops".into(), "dev".into()],
                    kind: "agent".into(),
                    source: "jwt".into(),
                }),
                request: Some(RequestRecord {
                    method: "POST".into(),
                    scheme: "https".into(),
                    authority: "user:hunter2@api.example:8443".into(),
                    path: "/v1/things".into(),
                    query: "token=[REDACTED:generic_token]&a=1".into(),
                    body_bytes: 120,
                }),
                decision: DecisionRecord {
                    outcome: "hold".into(),
                    status: Some(403),
                    rule: Some("hold-deletes".into()),
                    reason: "needs an approver".into(),
                    policy_hash: "sha256:policy".into(),
                    observed: vec!["audit-all:deny".into()],
                    details: "warden_hold".into(),
                },
                approval: Some(ApprovalRecord {
                    id: "apr-1".into(),
                    status: "pending".into(),
                    requested_by: "agent-7".into(),
                    approvers: vec!["alice".into()],
                    denied_by: Some("bob".into()),
                }),
                facts: BTreeMap::from([
                    ("kubernetes.verb".to_string(), "delete".to_string()),
                    ("protocols".to_string(), "kubernetes".to_string()),
                ]),
                masking: MaskingRecord {
                    request: BTreeMap::from([("aws_key".to_string(), 2)]),
                    response: BTreeMap::from([("email".to_string(), 3), ("jwt".to_string(), 1)]),
                    passed_unread: vec![Direction::Response],
                },
                response: Some(ResponseRecord {
                    status: 403,
                    body_bytes: 0,
                    from_warden: true,
                }),
                trace: Some(TraceRecord {
                    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                    parent_span_id: "00f067aa0ba902b7".into(),
                }),
                capture_sha256: Some("sha256:capturehash".into()),
                ..AuditRecord::default()
            },
        }
    }

    fn attrs(chained: &ChainedRecord) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for kv in span_attributes(chained) {
            let key = kv.key.as_str().to_string();
            assert!(
                out.insert(key.clone(), kv.value).is_none(),
                "attribute {key} set twice"
            );
        }
        out
    }

    fn s(value: &str) -> Value {
        Value::from(value.to_string())
    }

    #[test]
    fn semantic_convention_keys_are_set_from_the_record() {
        let a = attrs(&record());
        assert_eq!(a["http.request.method"], s("POST"));
        assert_eq!(a["url.scheme"], s("https"));
        assert_eq!(a["url.path"], s("/v1/things"));
        assert_eq!(a["url.query"], s("token=[REDACTED:generic_token]&a=1"));
        assert_eq!(a["server.address"], s("api.example"));
        assert_eq!(a["server.port"], Value::I64(8443));
        assert_eq!(a["http.request.body.size"], Value::I64(120));
        assert_eq!(a["http.response.status_code"], Value::I64(403));
        assert_eq!(a["http.response.body.size"], Value::I64(0));
        assert_eq!(a["enduser.id"], s("agent-7"));
        assert_eq!(a["session.id"], s("sess-1"));
        assert!(!a.contains_key("error.type"), "a hold is not an error");
    }

    #[test]
    fn warden_keys_carry_decision_identity_approval_facts_masking_and_chain() {
        let a = attrs(&record());
        assert_eq!(a["warden.request.id"], s("req-1"));
        assert_eq!(a["warden.record.source"], s("ext_proc"));
        assert_eq!(a["warden.record.version"], Value::I64(1));
        assert_eq!(a["warden.identity.issuer"], s("https://issuer.example"));
        assert_eq!(
            a["warden.identity.groups"],
            string_array(&["ops".into(), "dev".into()])
        );
        assert_eq!(a["warden.identity.kind"], s("agent"));
        assert_eq!(a["warden.identity.source"], s("jwt"));
        assert_eq!(a["warden.decision.outcome"], s("hold"));
        assert_eq!(a["warden.decision.status"], Value::I64(403));
        assert_eq!(a["warden.decision.rule"], s("hold-deletes"));
        assert_eq!(a["warden.decision.reason"], s("needs an approver"));
        assert_eq!(a["warden.decision.policy_hash"], s("sha256:policy"));
        assert_eq!(
            a["warden.decision.observed"],
            string_array(&["audit-all:deny".into()])
        );
        assert_eq!(a["warden.decision.details"], s("warden_hold"));
        assert_eq!(a["warden.response.from_warden"], Value::Bool(true));
        assert_eq!(a["warden.approval.id"], s("apr-1"));
        assert_eq!(a["warden.approval.status"], s("pending"));
        assert_eq!(a["warden.approval.requested_by"], s("agent-7"));
        assert_eq!(
            a["warden.approval.approvers"],
            string_array(&["alice".into()])
        );
        assert_eq!(a["warden.approval.denied_by"], s("bob"));
        assert_eq!(a["warden.facts.kubernetes.verb"], s("delete"));
        assert_eq!(a["warden.facts.protocols"], s("kubernetes"));
        assert_eq!(a["warden.masking.request.rule.aws_key"], Value::I64(2));
        assert_eq!(a["warden.masking.request.total"], Value::I64(2));
        assert_eq!(a["warden.masking.response.rule.email"], Value::I64(3));
        assert_eq!(a["warden.masking.response.rule.jwt"], Value::I64(1));
        assert_eq!(a["warden.masking.response.total"], Value::I64(4));
        assert_eq!(a["warden.masking.total"], Value::I64(6));
        assert_eq!(
            a["warden.masking.passed_unread"],
            string_array(&["response".into()])
        );
        assert_eq!(a["warden.audit.instance"], s("warden-a"));
        assert_eq!(a["warden.audit.seq"], Value::I64(42));
        assert_eq!(a["warden.audit.hash"], s("sha256:this"));
        assert_eq!(a["warden.audit.prev_hash"], s("sha256:prev"));
    }

    #[test]
    fn no_secret_or_capture_reaches_the_span() {
        let chained = record();
        let a = attrs(&chained);
        for (key, value) in &a {
            let text = value.as_str();
            assert!(
                !text.contains("hunter2"),
                "{key} carries the authority's user info"
            );
            assert!(
                !text.contains("capturehash"),
                "{key} carries the capture hash"
            );
            assert!(
                !key.contains("capture"),
                "{key}: the capture is not on spans"
            );
            assert!(!key.contains("body") || key.ends_with(".size"), "{key}");
        }
        // The query is the record's (masked) one, verbatim.
        let query = chained.record.request.as_ref().map(|r| r.query.as_str());
        assert_eq!(a["url.query"].as_str(), query.unwrap_or_default());
        let span = record_span(&chained, &scope());
        assert!(!format!("{span:?}").contains("hunter2"));
        assert!(!format!("{span:?}").contains("capturehash"));
    }

    #[test]
    fn a_minimal_record_sets_only_what_it_has() {
        let mut chained = record();
        let r = &mut chained.record;
        r.identity = None;
        r.request = None;
        r.response = None;
        r.approval = None;
        r.facts.clear();
        r.masking = MaskingRecord::default();
        r.decision = DecisionRecord {
            outcome: "incomplete".into(),
            observed: vec![],
            ..DecisionRecord::default()
        };
        let a = attrs(&chained);
        let keys: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "error.type",
                "session.id",
                "warden.audit.hash",
                "warden.audit.instance",
                "warden.audit.prev_hash",
                "warden.audit.seq",
                "warden.decision.outcome",
                "warden.masking.total",
                "warden.record.source",
                "warden.record.version",
                "warden.request.id",
            ]
        );
        assert_eq!(a["error.type"], s("incomplete"));
        assert_eq!(span_name(&chained.record), "warden incomplete");
        assert!(matches!(
            record_span(&chained, &scope()).status,
            Status::Error { .. }
        ));
    }

    #[test]
    fn unknown_methods_are_other_and_error_outcomes_are_errors() {
        let mut chained = record();
        if let Some(request) = chained.record.request.as_mut() {
            request.method = "PROPFIND".into();
        }
        chained.record.decision.outcome = "error".into();
        chained.record.decision.details = "warden_internal_error".into();
        let a = attrs(&chained);
        assert_eq!(a["http.request.method"], s("_OTHER"));
        assert_eq!(a["http.request.method_original"], s("PROPFIND"));
        assert_eq!(a["error.type"], s("warden_internal_error"));
        assert_eq!(span_name(&chained.record), "warden error HTTP");
        let span = record_span(&chained, &scope());
        assert_eq!(
            span.status,
            Status::error("Warden failed closed: warden_internal_error")
        );
    }

    #[test]
    fn the_span_joins_envoys_trace_with_the_records_times() {
        let chained = record();
        let span = record_span(&chained, &scope());
        assert_eq!(span.name, "warden hold POST");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(
            span.span_context.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex")
        );
        assert_eq!(
            span.parent_span_id,
            SpanId::from_hex("00f067aa0ba902b7").expect("hex")
        );
        assert!(span.parent_span_is_remote);
        assert!(span.span_context.is_sampled());
        assert_eq!(
            span.span_context.span_id(),
            record_span_id("warden-a", 42, "sha256:this")
        );
        assert_eq!(span.status, Status::Unset);
        let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_025_600_123_456);
        assert_eq!(span.start_time, start);
        assert_eq!(span.end_time, start + Duration::from_micros(2_500));
        assert_eq!(span.instrumentation_scope.name(), SCOPE_NAME);
    }

    #[test]
    fn without_a_trace_the_ids_come_from_the_chain_position() {
        let mut chained = record();
        chained.record.trace = None;
        let a = record_span(&chained, &scope());
        let b = record_span(&chained, &scope());
        assert_eq!(a.span_context, b.span_context, "stable across retries");
        assert_ne!(a.span_context.trace_id(), TraceId::INVALID);
        assert_eq!(a.parent_span_id, SpanId::INVALID);
        assert!(!a.parent_span_is_remote);
        chained.seq += 1;
        let c = record_span(&chained, &scope());
        assert_ne!(a.span_context.trace_id(), c.span_context.trace_id());
        assert_ne!(a.span_context.span_id(), c.span_context.span_id());
    }

    #[test]
    fn checkpoint_span_carries_the_signed_head() {
        let checkpoint = Checkpoint {
            instance: "warden-a".into(),
            seq: 1000,
            hash: "sha256:head".into(),
            signed_at: "2026-11-30T08:00:30Z".into(),
            reason: "count".into(),
            key_id: "ed25519:abcd".into(),
            signature: "c2lnbmF0dXJl".into(),
        };
        let span = checkpoint_span(&checkpoint, &scope());
        assert_eq!(span.name, CHECKPOINT_SPAN_NAME);
        assert_eq!(span.span_kind, SpanKind::Internal);
        assert_eq!(span.start_time, span.end_time);
        assert_eq!(
            span.start_time,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_025_630)
        );
        let a: BTreeMap<String, Value> = span
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str().to_string(), kv.value.clone()))
            .collect();
        assert_eq!(a["warden.audit.seq"], Value::I64(1000));
        assert_eq!(a["warden.audit.hash"], s("sha256:head"));
        assert_eq!(a["warden.checkpoint.key_id"], s("ed25519:abcd"));
        assert_eq!(a["warden.checkpoint.signature"], s("c2lnbmF0dXJl"));
        assert_eq!(a["warden.checkpoint.reason"], s("count"));
        assert_eq!(a["warden.checkpoint.signed_at"], s("2026-11-30T08:00:30Z"));
    }

    #[test]
    fn authority_is_split_without_user_info() {
        assert_eq!(split_authority("api.example"), ("api.example", None));
        assert_eq!(split_authority("api.example:80"), ("api.example", Some(80)));
        assert_eq!(split_authority("[::1]:8080"), ("::1", Some(8080)));
        assert_eq!(split_authority("[::1]"), ("::1", None));
        assert_eq!(split_authority("u:p@h:1"), ("h", Some(1)));
        assert_eq!(split_authority("h:notaport"), ("h:notaport", None));
    }
}
