//! The session replay as a person reads it: a timeline of one session's exchanges
//! (`warden sessions show`). Pure: it renders what the store returned, which is
//! already masked.
//!
//! Per exchange: time, who (subject and groups), method, host and path, the decision
//! (outcome, rule, reason), the approval behind a hold, masking findings, the status,
//! then the masked request and response headers and bodies — JSON pretty-printed,
//! event streams as their events — and Warden's own reply when it gave one.

use std::fmt::Write as _;

use super::capture::{BodyCapture, ExchangeCapture, ReplyCapture};
use super::record::AuditRecord;
use crate::store::{SessionExchange, SessionSummary, ANONYMOUS};

/// Indentation of an exchange's details.
const INDENT: &str = "    ";

/// The timeline of one session.
pub fn render_session(session_id: &str, exchanges: &[SessionExchange]) -> String {
    let mut out = String::new();
    let (first, last) = match (exchanges.first(), exchanges.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => {
            let _ = writeln!(out, "session {session_id}: no recorded exchanges");
            return out;
        }
    };
    let _ = writeln!(
        out,
        "session {session_id}: {} exchange{}, {} .. {}",
        exchanges.len(),
        plural(exchanges.len()),
        first.record.record.started_at,
        last.record.record.started_at
    );
    for (n, exchange) in exchanges.iter().enumerate() {
        out.push('\n');
        render_exchange(&mut out, n + 1, exchange);
    }
    out
}

/// A table of sessions (`warden sessions list`).
pub fn render_session_list(sessions: &[SessionSummary]) -> String {
    if sessions.is_empty() {
        return "no recorded sessions\n".to_string();
    }
    let mut out = format!(
        "{:<40} {:<24} {:<24} {:>5}  {:<30} OUTCOMES\n",
        "SESSION", "FIRST", "LAST", "N", "IDENTITIES"
    );
    for s in sessions {
        let outcomes: Vec<String> = s.outcomes.iter().map(|(o, n)| format!("{o}:{n}")).collect();
        let _ = writeln!(
            out,
            "{:<40} {:<24} {:<24} {:>5}  {:<30} {}",
            s.session_id,
            s.first_at.rfc3339(),
            s.last_at.rfc3339(),
            s.exchanges,
            s.identities.join(","),
            outcomes.join(" ")
        );
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn render_exchange(out: &mut String, n: usize, exchange: &SessionExchange) {
    let chained = &exchange.record;
    let record = &chained.record;
    let _ = writeln!(
        out,
        "#{n} {}  ({} ms)  [{} #{}, request {}]",
        record.started_at,
        record.duration_us / 1000,
        chained.instance,
        chained.seq,
        record.request_id
    );
    render_summary(out, record);
    match &exchange.capture {
        Some(capture) => render_capture(out, capture),
        None => {
            let _ = writeln!(out, "{INDENT}(headers and bodies not recorded)");
        }
    }
}

fn render_summary(out: &mut String, record: &AuditRecord) {
    let who = match &record.identity {
        Some(identity) if identity.groups.is_empty() => {
            format!("{} ({})", identity.subject, identity.kind)
        }
        Some(identity) => format!(
            "{} ({}) groups: {}",
            identity.subject,
            identity.kind,
            identity.groups.join(", ")
        ),
        None => ANONYMOUS.to_string(),
    };
    let _ = writeln!(out, "{INDENT}who:      {who}");
    if let Some(request) = &record.request {
        let query = if request.query.is_empty() {
            String::new()
        } else {
            format!("?{}", request.query)
        };
        let _ = writeln!(
            out,
            "{INDENT}request:  {} {}{}{query}",
            request.method, request.authority, request.path
        );
    }
    let decision = &record.decision;
    let mut line = decision.outcome.clone();
    if let Some(rule) = &decision.rule {
        let _ = write!(line, "  rule {rule}");
    }
    if !decision.reason.is_empty() {
        let _ = write!(line, ": {}", decision.reason);
    }
    let _ = writeln!(out, "{INDENT}decision: {line}");
    if !decision.observed.is_empty() {
        let _ = writeln!(out, "{INDENT}observed: {}", decision.observed.join(", "));
    }
    if let Some(approval) = &record.approval {
        let mut line = format!("{} ({})", approval.id, approval.status);
        if !approval.approvers.is_empty() {
            let _ = write!(line, " approved by {}", approval.approvers.join(", "));
        }
        if let Some(denier) = &approval.denied_by {
            let _ = write!(line, " denied by {denier}");
        }
        let _ = writeln!(out, "{INDENT}approval: {line}");
    }
    let findings = |label: &str, map: &std::collections::BTreeMap<String, u64>| {
        map.iter()
            .map(|(rule, count)| format!("{label} {rule} x{count}"))
            .collect::<Vec<_>>()
    };
    let mut masking = findings("request", &record.masking.request);
    masking.extend(findings("response", &record.masking.response));
    for direction in &record.masking.passed_unread {
        masking.push(format!("{direction:?} body passed unread").to_lowercase());
    }
    if !masking.is_empty() {
        let _ = writeln!(out, "{INDENT}masking:  {}", masking.join("; "));
    }
    if let Some(response) = &record.response {
        let from = if response.from_warden {
            " (answered by Warden)"
        } else {
            ""
        };
        let _ = writeln!(out, "{INDENT}status:   {}{from}", response.status);
    }
}

fn render_capture(out: &mut String, capture: &ExchangeCapture) {
    render_headers(out, "request headers", &capture.request_headers);
    render_body(out, "request body", &capture.request_body);
    if let Some(reply) = &capture.reply {
        render_reply(out, reply);
        // Warden answered: a response body "not captured" says nothing more.
        if capture.response_headers.is_empty() {
            return;
        }
    }
    render_headers(out, "response headers", &capture.response_headers);
    render_body(out, "response body", &capture.response_body);
}

fn render_reply(out: &mut String, reply: &ReplyCapture) {
    let _ = writeln!(out, "{INDENT}-- Warden's reply: {}", reply.status);
    render_headers(out, "reply headers", &reply.headers);
    render_body(out, "reply body", &reply.body);
}

fn render_headers(out: &mut String, title: &str, headers: &[(String, String)]) {
    if headers.is_empty() {
        return;
    }
    let _ = writeln!(out, "{INDENT}-- {title}");
    for (name, value) in headers {
        let _ = writeln!(out, "{INDENT}  {name}: {value}");
    }
}

fn render_body(out: &mut String, title: &str, body: &BodyCapture) {
    if !body.captured {
        let _ = writeln!(out, "{INDENT}-- {title}: {}", body.note);
        return;
    }
    if body.bytes == 0 && body.text.as_deref().unwrap_or("").is_empty() {
        if !body.note.is_empty() {
            let _ = writeln!(out, "{INDENT}-- {title}: {}", body.note);
        }
        return;
    }
    let mut about = vec![];
    if !body.content_type.is_empty() {
        about.push(body.content_type.clone());
    }
    about.push(format!("{} bytes", body.bytes));
    if body.truncated {
        about.push("truncated: only the first part was kept".into());
    }
    let _ = writeln!(out, "{INDENT}-- {title} ({})", about.join(", "));
    if !body.events.is_empty() {
        for event in &body.events {
            let name = event.event.as_deref().unwrap_or("message");
            let _ = writeln!(out, "{INDENT}  [+{} ms] {name}:", event.at_ms);
            indent_lines(out, &pretty(&event.data), "    ");
        }
        return;
    }
    match (&body.text, &body.base64) {
        (Some(text), _) => indent_lines(out, &pretty(text), "  "),
        (None, Some(base64)) => {
            let _ = writeln!(out, "{INDENT}  (not text; base64) {base64}");
        }
        (None, None) => {}
    }
}

/// JSON pretty-printed; anything else as it is.
fn pretty(text: &str) -> String {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            if let Ok(pretty) = serde_json::to_string_pretty(&value) {
                return pretty;
            }
        }
    }
    text.to_string()
}

fn indent_lines(out: &mut String, text: &str, extra: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{INDENT}{extra}{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{
        ApprovalRecord, ChainedRecord, ChunkTiming, DecisionRecord, IdentityRecord, MaskingRecord,
        RecordSource, RequestRecord, ResponseRecord, SseEvent,
    };

    fn exchange() -> SessionExchange {
        let record = AuditRecord {
            version: 1,
            request_id: "req-1".into(),
            session_id: "s-1".into(),
            source: RecordSource::ExtProc,
            started_at: "2026-11-30T08:00:00.000000Z".into(),
            duration_us: 12_000,
            identity: Some(IdentityRecord {
                subject: "agent-7".into(),
                issuer: "https://idp".into(),
                groups: vec!["agents".into()],
                kind: "agent".into(),
                source: "jwt".into(),
            }),
            request: Some(RequestRecord {
                method: "POST".into(),
                scheme: "https".into(),
                authority: "api.test".into(),
                path: "/v1/chat".into(),
                query: String::new(),
                body_bytes: 20,
            }),
            decision: DecisionRecord {
                outcome: "allow".into(),
                rule: Some("chat".into()),
                reason: "approved chat".into(),
                ..DecisionRecord::default()
            },
            approval: Some(ApprovalRecord {
                id: "apr-1".into(),
                status: "used".into(),
                requested_by: "agent-7".into(),
                approvers: vec!["alice".into()],
                denied_by: None,
            }),
            masking: MaskingRecord {
                request: [("github-pat".to_string(), 1)].into(),
                ..MaskingRecord::default()
            },
            response: Some(ResponseRecord {
                status: 200,
                body_bytes: 40,
                from_warden: false,
            }),
            ..AuditRecord::default()
        };
        let capture = ExchangeCapture {
            request_headers: vec![("content-type".into(), "application/json".into())],
            response_headers: vec![("content-type".into(), "text/event-stream".into())],
            request_body: BodyCapture {
                captured: true,
                content_type: "application/json".into(),
                text: Some("{\"token\":\"[REDACTED:github-pat]\"}".into()),
                bytes: 33,
                ..BodyCapture::default()
            },
            response_body: BodyCapture {
                captured: true,
                content_type: "text/event-stream".into(),
                text: Some("data: {\"a\":1}\n\n".into()),
                bytes: 15,
                chunks: vec![ChunkTiming {
                    at_ms: 7,
                    bytes: 15,
                }],
                events: vec![SseEvent {
                    at_ms: 7,
                    event: None,
                    id: None,
                    data: "{\"a\":1}".into(),
                }],
                ..BodyCapture::default()
            },
            reply: None,
        };
        SessionExchange {
            record: ChainedRecord {
                instance: "w-1".into(),
                seq: 4,
                prev_hash: String::new(),
                hash: String::new(),
                record,
            },
            capture: Some(capture),
        }
    }

    #[test]
    fn the_timeline_shows_who_what_decision_approval_masking_and_bodies() {
        let text = render_session("s-1", &[exchange()]);
        for expected in [
            "session s-1: 1 exchange, 2026-11-30T08:00:00.000000Z",
            "#1 2026-11-30T08:00:00.000000Z  (12 ms)  [w-1 #4, request req-1]",
            "who:      agent-7 (agent) groups: agents",
            "request:  POST api.test/v1/chat",
            "decision: allow  rule chat: approved chat",
            "approval: apr-1 (used) approved by alice",
            "masking:  request github-pat x1",
            "status:   200",
            "content-type: application/json",
            "-- request body (application/json, 33 bytes)",
            "  \"token\": \"[REDACTED:github-pat]\"",
            "[+7 ms] message:",
            "  \"a\": 1",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn replies_and_uncaptured_bodies_are_explained() {
        let mut exchange = exchange();
        let capture = exchange.capture.as_mut().unwrap();
        capture.response_headers.clear();
        capture.request_body = BodyCapture::not_captured("masking is off");
        capture.reply = Some(ReplyCapture {
            status: 403,
            headers: vec![("x-warden-decision".into(), "deny".into())],
            body: BodyCapture {
                captured: true,
                text: Some("{\"error\":{\"code\":\"denied\"}}".into()),
                bytes: 27,
                truncated: true,
                ..BodyCapture::default()
            },
        });
        let text = render_session("s-1", &[exchange]);
        for expected in [
            "-- request body: not captured: masking is off",
            "-- Warden's reply: 403",
            "x-warden-decision: deny",
            "truncated",
            "\"code\": \"denied\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("response body"), "{text}");
        assert_eq!(
            render_session("s-2", &[]),
            "session s-2: no recorded exchanges\n"
        );
    }
}
