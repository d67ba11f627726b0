//! The audit record of one exchange: who did what, what Warden decided and why.
//!
//! Built from a [`FinishedExchange`] by a pure function ([`AuditRecord::from_exchange`]),
//! so what goes into the record is tested without gRPC. A record never carries a
//! secret: no header values, no bodies, the query string masked, classifier facts
//! reduced to names (methods, resources, tables, tools — never literals or arguments),
//! masking findings as rule ids and counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classify::RequestFacts;
use crate::pipeline::{FindingTally, FinishedExchange};
use crate::redact::{ContentKind, Direction, Redactor};

/// Version of the record layout; bumped when a field changes meaning.
pub const RECORD_VERSION: u32 = 1;

/// Where the exchange was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    /// An ext_proc stream (headers, bodies, response).
    #[default]
    ExtProc,
    /// An ext_authz check (request head only).
    ExtAuthz,
}

/// One audit record: one HTTP exchange through Warden.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Layout version ([`RECORD_VERSION`]).
    pub version: u32,
    /// Warden's id for the request (`x-warden-request-id`).
    pub request_id: String,
    /// The session the exchange belongs to (see [`session_id`]).
    pub session_id: String,
    /// ext_proc or ext_authz.
    pub source: RecordSource,
    /// When the request headers reached Warden (RFC 3339, UTC, microseconds).
    pub started_at: String,
    /// Microseconds from the request headers to the end of the exchange.
    pub duration_us: u64,
    /// The verified caller; `None` for an anonymous request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityRecord>,
    /// The request, without header values or body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestRecord>,
    /// What Warden decided.
    pub decision: DecisionRecord,
    /// The approval that held, passed or denied the request, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRecord>,
    /// Classifier facts, reduced to names (`kubernetes.verb`, `sql.kinds`, `mcp.tools`…).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    /// Masking findings, by direction and rule (counts only).
    #[serde(default)]
    pub masking: MaskingRecord,
    /// The response, when one came back (or Warden answered itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseRecord>,
    /// The trace this exchange belongs to (from the `traceparent` Envoy sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceRecord>,
    /// SHA-256 of the session capture (masked headers and bodies) stored for this
    /// exchange, so the chain also covers what the session replay shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_sha256: Option<String>,
}

impl Default for AuditRecord {
    /// An empty record of the current layout (for building records field by field).
    fn default() -> Self {
        AuditRecord {
            version: RECORD_VERSION,
            request_id: String::new(),
            session_id: String::new(),
            source: RecordSource::default(),
            started_at: String::new(),
            duration_us: 0,
            identity: None,
            request: None,
            decision: DecisionRecord::default(),
            approval: None,
            facts: BTreeMap::new(),
            masking: MaskingRecord::default(),
            response: None,
            trace: None,
            capture_sha256: None,
        }
    }
}

/// The caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// Token subject or SPIFFE id.
    pub subject: String,
    /// Token issuer or `spiffe://<trust domain>`.
    pub issuer: String,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `agent` or `human`.
    pub kind: String,
    /// `jwt` or `spiffe`.
    pub source: String,
}

/// The request, as the audit shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// `:method`.
    pub method: String,
    /// `:scheme`.
    pub scheme: String,
    /// `:authority`.
    pub authority: String,
    /// The path without the query string.
    pub path: String,
    /// The query string, masked (empty when there is none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
    /// Request body bytes seen.
    #[serde(default)]
    pub body_bytes: u64,
}

/// What Warden decided.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The outcome: `allow` (went upstream), `deny`, `hold` (answered as held),
    /// `error` (Warden failed closed) or `incomplete` (the stream ended before a
    /// decision).
    pub outcome: String,
    /// The status Warden answered with itself, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The deciding policy rule (`None`: the default, or no policy decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The reason given to the agent (or the policy's reason for an allow).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Content hash of the policy that decided (`sha256:…`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_hash: String,
    /// Rules that matched in observe mode, with the action they would have taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<String>,
    /// Envoy's `details` for a reply Warden gave (`warden_policy_deny`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

/// The approval behind a hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Its id (`apr-…`).
    pub id: String,
    /// Its status after this exchange (`pending`, `used`, `denied`, `approved` for a
    /// grant, …).
    pub status: String,
    /// Who asked (the requester's subject).
    pub requested_by: String,
    /// Who approved (subjects, in vote order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Who denied, when it was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<String>,
}

/// Masking findings of one exchange (rule ids and counts, never values).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskingRecord {
    /// Findings in the request body, by rule id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request: BTreeMap<String, u64>,
    /// Findings in the response body, by rule id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response: BTreeMap<String, u64>,
    /// Directions whose binary body passed unread under the `pass` policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed_unread: Vec<Direction>,
}

impl MaskingRecord {
    /// Findings in all, both directions.
    pub fn total(&self) -> u64 {
        self.request.values().chain(self.response.values()).sum()
    }
}

/// The response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseRecord {
    /// HTTP status.
    pub status: u16,
    /// Response body bytes seen.
    #[serde(default)]
    pub body_bytes: u64,
    /// True when Warden answered the client itself (the upstream never saw it).
    #[serde(default)]
    pub from_warden: bool,
}

/// The trace context the exchange ran in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// 32 hex digits.
    pub trace_id: String,
    /// The parent span (Envoy's), 16 hex digits.
    pub parent_span_id: String,
}

/// What an exchange remembers of the reply Warden gave, for its record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyNote {
    /// HTTP status.
    pub status: u16,
    /// `deny`, `hold` or `error`.
    pub outcome: &'static str,
    /// Envoy's details string.
    pub details: String,
}

/// Where an exchange's session id comes from: the identity's session (the
/// `x-agent-session` / `mcp-session-id` header, else the token's `jti`), else one
/// session per subject per UTC day, else `anonymous/<day>`.
pub fn session_id(exchange: &FinishedExchange, started_at: &time::OffsetDateTime) -> String {
    let day = format!(
        "{:04}-{:02}-{:02}",
        started_at.year(),
        u8::from(started_at.month()),
        started_at.day()
    );
    match exchange.identity() {
        Some(identity) => match &identity.session_id {
            Some(session) => session.clone(),
            None => format!("{}/{day}", identity.subject),
        },
        None => format!("anonymous/{day}"),
    }
}

impl AuditRecord {
    /// The record of a finished (or abandoned) exchange. `redactor` masks the query
    /// string; without it the query is dropped rather than recorded unmasked.
    pub fn from_exchange(
        exchange: &FinishedExchange,
        source: RecordSource,
        redactor: Option<&Redactor>,
    ) -> AuditRecord {
        let started = exchange.started_at();
        let started_at = rfc3339_micros(&started);
        let identity = exchange.identity().map(|id| IdentityRecord {
            subject: id.subject.clone(),
            issuer: id.issuer.clone(),
            groups: id.groups.clone(),
            kind: id.kind.name().to_string(),
            source: id.source.name().to_string(),
        });
        let request = exchange.request().map(|head| {
            let (path, query) = match head.path.split_once('?') {
                Some((path, query)) => (path.to_string(), mask_query(query, redactor)),
                None => (head.path.clone(), String::new()),
            };
            RequestRecord {
                method: head.method.clone(),
                scheme: head.scheme.clone(),
                authority: head.authority.clone(),
                path,
                query,
                body_bytes: exchange.body(Direction::Request).progress.bytes,
            }
        });
        let policy = exchange.policy_decision();
        let reply = exchange.reply_note();
        let decision = DecisionRecord {
            outcome: exchange.outcome().to_string(),
            status: reply.map(|r| r.status),
            rule: policy.and_then(|p| p.rule.clone()),
            reason: policy.map(|p| p.reason.clone()).unwrap_or_default(),
            policy_hash: policy.map(|p| p.policy_hash.clone()).unwrap_or_default(),
            observed: policy
                .map(|p| {
                    p.observed
                        .iter()
                        .map(|o| format!("{}:{}", o.rule, o.action.name()))
                        .collect()
                })
                .unwrap_or_default(),
            details: reply.map(|r| r.details.clone()).unwrap_or_default(),
        };
        let response = match (reply, exchange.response()) {
            (Some(reply), _) => Some(ResponseRecord {
                status: reply.status,
                body_bytes: 0,
                from_warden: true,
            }),
            (None, Some(head)) => Some(ResponseRecord {
                status: head.status,
                body_bytes: exchange.body(Direction::Response).progress.bytes,
                from_warden: false,
            }),
            (None, None) => None,
        };
        let mut passed_unread = Vec::new();
        for direction in [Direction::Request, Direction::Response] {
            if exchange.body(direction).choice.passed_unread {
                passed_unread.push(direction);
            }
        }
        AuditRecord {
            version: RECORD_VERSION,
            request_id: exchange.id().to_string(),
            session_id: session_id(exchange, &started),
            source,
            started_at,
            duration_us: exchange.duration_us(),
            identity,
            request,
            decision,
            approval: exchange.approval_note().cloned(),
            facts: exchange.facts().map(facts_summary).unwrap_or_default(),
            masking: MaskingRecord {
                request: tally(exchange.findings(Direction::Request)),
                response: tally(exchange.findings(Direction::Response)),
                passed_unread,
            },
            response,
            trace: exchange.trace_parent().and_then(parse_traceparent),
            capture_sha256: None,
        }
    }
}

fn tally(findings: &FindingTally) -> BTreeMap<String, u64> {
    findings.by_rule.clone()
}

/// Masks a query string with the form rules; without a redactor nothing of it is kept.
fn mask_query(query: &str, redactor: Option<&Redactor>) -> String {
    match redactor {
        Some(redactor) => {
            let masked = redactor.redact(query.as_bytes(), ContentKind::Form, Direction::Request);
            String::from_utf8_lossy(&masked.body).into_owned()
        }
        None => "[not recorded: masking is off]".to_string(),
    }
}

/// RFC 3339 in UTC with microseconds.
pub fn rfc3339_micros(t: &time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Parses a W3C `traceparent` (`00-<trace id>-<parent id>-<flags>`). `None` when it is
/// malformed or all-zero (the spec says to ignore such a header).
pub fn parse_traceparent(value: &str) -> Option<TraceRecord> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(version, 2) || version == "ff" || !hex(trace_id, 32) || !hex(parent, 16) {
        return None;
    }
    if !hex(flags, 2) || (version == "00" && parts.next().is_some()) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    Some(TraceRecord {
        trace_id: trace_id.to_ascii_lowercase(),
        parent_span_id: parent.to_ascii_lowercase(),
    })
}

/// The classifier facts an auditor needs, as names only: never SQL text, tool
/// arguments, prompts or other literals a secret could hide in.
pub fn facts_summary(facts: &RequestFacts) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, values: Vec<String>| {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        values.dedup();
        if !values.is_empty() {
            out.insert(key.to_string(), values.join(","));
        }
    };
    put(
        "protocols",
        facts
            .protocols
            .iter()
            .map(|p| serde_name(p).unwrap_or_default())
            .collect(),
    );
    put("http.method_overrides", facts.method_overrides.clone());
    for (i, k8s) in facts.kubernetes.iter().enumerate().take(1) {
        let _ = i;
        put(
            "kubernetes.verb",
            vec![serde_name(&k8s.verb).unwrap_or_default()],
        );
        put("kubernetes.api_group", vec![k8s.api_group.clone()]);
        put(
            "kubernetes.resource",
            vec![match (&k8s.resource, &k8s.subresource) {
                (Some(r), Some(s)) => format!("{r}/{s}"),
                (Some(r), None) => r.clone(),
                _ => String::new(),
            }],
        );
        put(
            "kubernetes.namespace",
            k8s.namespace.clone().into_iter().collect(),
        );
        put("kubernetes.name", k8s.name.clone().into_iter().collect());
        if k8s.dry_run {
            put("kubernetes.dry_run", vec!["true".into()]);
        }
    }
    if let Some(git) = &facts.git {
        put(
            "git.service",
            vec![serde_name(&git.request).unwrap_or_default()],
        );
        put(
            "git.refs",
            git.ref_updates
                .iter()
                .map(|u| {
                    format!(
                        "{}:{}",
                        u.ref_name,
                        serde_name(&u.action).unwrap_or_default()
                    )
                })
                .collect(),
        );
    }
    if !facts.sql.is_empty() {
        let mut kinds = Vec::new();
        let mut tables = Vec::new();
        for found in &facts.sql {
            kinds.extend(
                found
                    .facts
                    .kinds()
                    .iter()
                    .map(|k| serde_name(k).unwrap_or_default()),
            );
            for statement in &found.facts.statements {
                tables.extend(statement.tables.iter().cloned());
            }
        }
        kinds.sort();
        tables.sort();
        put("sql.kinds", kinds);
        put("sql.tables", tables);
    }
    if let Some(mcp) = &facts.mcp {
        put(
            "mcp.methods",
            mcp.messages.iter().map(|m| m.method.clone()).collect(),
        );
        put(
            "mcp.tools",
            mcp.messages.iter().filter_map(|m| m.tool.clone()).collect(),
        );
    }
    if !facts.graphql.is_empty() {
        put(
            "graphql.operations",
            facts
                .graphql
                .iter()
                .flat_map(|g| g.operations.iter())
                .map(|op| {
                    let kind = serde_name(&op.kind).unwrap_or_default();
                    match &op.name {
                        Some(name) => format!("{kind}:{name}"),
                        None => kind,
                    }
                })
                .collect(),
        );
    }
    if let Some(llm) = &facts.llm {
        put("llm.api", vec![serde_name(&llm.api).unwrap_or_default()]);
        put("llm.model", llm.model.clone().into_iter().collect());
        put("llm.tools", llm.tools.clone());
    }
    out
}

/// The serde name of a unit-like enum value (`"get"`, `"receive_pack"`…).
fn serde_name<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value).ok()? {
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    use crate::config::BodyInspection;
    use crate::http::{Headers, RequestHead, ResponseHead};
    use crate::pipeline::{Exchange, MaskingSettings, Pipeline, PipelineSettings, Step};
    use crate::policy::watch::PolicyStore;
    use crate::policy::Policy;

    const TOKEN: &str = "ghp_R2d2C3poX4wingY5tieZ6falconQ7sithK8";

    fn pipeline() -> Pipeline {
        let policy = Policy::from_sources(vec![(
            PathBuf::from("p.yaml"),
            "rules:\n  - id: no-admin\n    when: { path: \"/admin/**\" }\n    action: deny\n    reason: admin is off limits\n"
                .to_string(),
        )])
        .unwrap();
        let redactor = Arc::new(crate::redact::Redactor::with_defaults().unwrap());
        Pipeline::new(
            PipelineSettings {
                request_body: BodyInspection::Streamed,
                response_body: BodyInspection::Buffered,
                max_buffered_body_bytes: 1 << 20,
                masking: MaskingSettings {
                    request: true,
                    response: true,
                    binary: crate::masking::BinaryPolicy::Pass,
                },
            },
            Some(Arc::clone(&redactor)),
        )
        .with_policy(PolicyStore::fixed(policy))
    }

    fn head(method: &str, path: &str) -> RequestHead {
        RequestHead {
            method: method.into(),
            scheme: "https".into(),
            authority: "api.example.com".into(),
            path: path.into(),
            headers: [("authorization", format!("Bearer {TOKEN}"))]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn a_denied_request_records_the_rule_reason_policy_and_reply() {
        let pipeline = pipeline();
        let mut exchange = Exchange::new("req-1");
        let outcome = pipeline
            .on_request_headers(&mut exchange, head("GET", "/admin/users"), true, Ok(None))
            .unwrap();
        assert!(matches!(outcome.step, Step::Reply(_)));
        exchange.note_step(&outcome.step);
        let record =
            AuditRecord::from_exchange(&exchange.into_finished(), RecordSource::ExtProc, None);
        assert_eq!(record.request_id, "req-1");
        assert_eq!(record.decision.outcome, "deny");
        assert_eq!(record.decision.status, Some(403));
        assert_eq!(record.decision.rule.as_deref(), Some("no-admin"));
        assert!(record.decision.reason.contains("off limits"));
        assert!(record.decision.policy_hash.starts_with("sha256:"));
        let response = record.response.expect("warden answered");
        assert!(response.from_warden);
        assert!(record.identity.is_none());
        assert!(record.session_id.starts_with("anonymous/"));
    }

    #[test]
    fn an_allowed_masked_exchange_records_findings_but_no_secret() {
        let pipeline = pipeline();
        let mut exchange = Exchange::new("req-2");
        exchange.set_trace_parent(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        ));
        let path = format!("/repos?access_token={TOKEN}&page=2");
        let outcome = pipeline
            .on_request_headers(&mut exchange, head("GET", &path), true, Ok(None))
            .unwrap();
        assert!(matches!(outcome.step, Step::Continue(_)));
        let body = format!("{{\"token\":\"{TOKEN}\",\"name\":\"ok\"}}");
        let response = ResponseHead {
            status: 200,
            headers: [
                ("content-type", "application/json".to_string()),
                ("content-length", body.len().to_string()),
            ]
            .into_iter()
            .collect::<Headers>(),
        };
        pipeline
            .on_response_headers(&mut exchange, response, false)
            .unwrap();
        let outcome = pipeline
            .on_response_body(&mut exchange, body.as_bytes(), true)
            .unwrap();
        exchange.note_step(&outcome.step);
        let redactor = crate::redact::Redactor::with_defaults().unwrap();
        let record = AuditRecord::from_exchange(
            &exchange.into_finished(),
            RecordSource::ExtProc,
            Some(&redactor),
        );
        assert_eq!(record.decision.outcome, "allow");
        assert_eq!(record.decision.status, None);
        let response = record.response.as_ref().expect("response seen");
        assert_eq!((response.status, response.from_warden), (200, false));
        assert_eq!(response.body_bytes, body.len() as u64);
        assert!(record.masking.total() >= 1, "{:?}", record.masking);
        let request = record.request.as_ref().unwrap();
        assert_eq!(request.path, "/repos");
        assert!(request.query.contains("page=2"), "{}", request.query);
        assert_eq!(
            record.trace.as_ref().map(|t| t.trace_id.as_str()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains(TOKEN), "{json}");
        assert!(!json.contains("R2d2C3po"), "{json}");
        // And it reads back as it was written.
        let back: AuditRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn without_a_redactor_the_query_is_not_recorded() {
        let pipeline = pipeline();
        let mut exchange = Exchange::new("req-3");
        pipeline
            .on_request_headers(
                &mut exchange,
                head("GET", &format!("/x?k={TOKEN}")),
                true,
                Ok(None),
            )
            .unwrap();
        let record =
            AuditRecord::from_exchange(&exchange.into_finished(), RecordSource::ExtAuthz, None);
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains(TOKEN), "{json}");
        assert_eq!(record.source, RecordSource::ExtAuthz);
    }

    #[test]
    fn an_exchange_that_never_decided_is_incomplete() {
        let exchange = Exchange::new("req-4");
        let record =
            AuditRecord::from_exchange(&exchange.into_finished(), RecordSource::ExtProc, None);
        assert_eq!(record.decision.outcome, "incomplete");
        assert!(record.request.is_none());
    }

    #[test]
    fn traceparent_is_parsed_and_bad_ones_are_ignored() {
        let t = parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")
            .expect("valid");
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_span_id, "00f067aa0ba902b7");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn micros_timestamp_is_rfc3339_utc() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_764_480_000_123_456_789)
            .expect("in range");
        assert_eq!(rfc3339_micros(&t), "2025-11-30T05:20:00.123456Z");
    }
}
