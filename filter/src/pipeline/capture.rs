//! The pipeline's session capture: what an exchange notes while it runs (header
//! changes, Warden's own reply) and how its [`ExchangeCapture`] is assembled when it
//! ends.
//!
//! Only exchanges of a pipeline whose audit sink records sessions carry notes
//! ([`Exchange::start_capture`]); without them every hook is one `None` check. Bodies
//! are kept by the body phases themselves, after masking ([`super::body`]).

use super::finished::{FinishedBody, FinishedExchange};
use super::{BodyMode, Exchange, LocalReply, Mutation, Pipeline, Step};
use crate::audit::{
    captured_headers, BodyCapture, BodyRecorder, CaptureSettings, ExchangeCapture, ReplyCapture,
};
use crate::http::Headers;
use crate::policy::RecordLevel;
use crate::redact::{ContentKind, Direction, Redactor};

/// What an exchange notes for its session capture besides its heads and bodies.
#[derive(Debug, Default)]
pub(crate) struct CaptureNotes {
    max_body_bytes: usize,
    /// Request headers Warden removed and set (the changes it let through with).
    request_removed: Vec<String>,
    request_set: Vec<(String, String)>,
    /// Response headers Warden removed.
    response_removed: Vec<String>,
    /// The reply Warden gave the client itself (masked when the capture is built).
    reply: Option<LocalReply>,
}

impl CaptureNotes {
    /// Notes the header changes of the request headers' step.
    pub(crate) fn note_request_step(&mut self, step: &Step) {
        let mutation: &Mutation = match step {
            Step::Continue(mutation) => mutation,
            Step::Hold(held) => &held.if_approved,
            Step::Reply(_) => return,
        };
        self.request_removed.clone_from(&mutation.remove_headers);
        self.request_set.clone_from(&mutation.set_headers);
    }

    /// Notes the response headers Warden removed.
    pub(crate) fn note_response_removals(&mut self, removed: &[String]) {
        self.response_removed = removed.to_vec();
    }

    /// Notes the reply Warden gave (the first one).
    pub(crate) fn note_reply(&mut self, reply: &LocalReply) {
        if self.reply.is_none() {
            self.reply = Some(reply.clone());
        }
    }
}

impl Exchange {
    /// Records this exchange for the session replay (masked headers and bodies, each
    /// body up to `settings.max_body_bytes`).
    pub fn start_capture(&mut self, settings: &CaptureSettings) {
        self.capture = Some(Box::new(CaptureNotes {
            max_body_bytes: settings.max_body_bytes,
            ..CaptureNotes::default()
        }));
        self.request_body.capture = Some(BodyRecorder::new(settings.max_body_bytes));
        self.response_body.capture = Some(BodyRecorder::new(settings.max_body_bytes));
    }

    /// True when this exchange is recorded for the session replay.
    pub fn is_captured(&self) -> bool {
        self.capture.is_some()
    }
}

impl Pipeline {
    /// The session capture of a finished exchange (`None` when it is not recorded).
    /// Header values are masked with the audit sink's redactor (else the pipeline's);
    /// without either they are not recorded.
    pub fn capture_of(&self, exchange: &FinishedExchange) -> Option<ExchangeCapture> {
        let redactor = self
            .audit
            .as_ref()
            .and_then(|sink| sink.redactor())
            .or(self.redactor.as_deref());
        capture_of(exchange, redactor, &self.credential_headers)
    }
}

/// The session capture of a finished exchange (`None` when it is not recorded):
/// header values masked with `redactor` (without one they are not recorded), the
/// `credentials` headers left out. Runs on the audit writer, off the data path.
///
/// The deciding policy rule's `record` level applies: `none` keeps no capture (the
/// audit record only), `metadata` keeps headers but no bodies.
pub fn capture_of(
    exchange: &FinishedExchange,
    redactor: Option<&Redactor>,
    credentials: &[String],
) -> Option<ExchangeCapture> {
    let notes = exchange.capture.as_deref()?;
    let level = exchange
        .policy_decision()
        .and_then(|decision| decision.effects.record)
        .unwrap_or(RecordLevel::Full);
    let mut capture = match level {
        RecordLevel::None => return None,
        RecordLevel::Metadata | RecordLevel::Full => {
            full_capture(exchange, notes, redactor, credentials)
        }
    };
    if level == RecordLevel::Metadata {
        let why = "the policy rule records metadata only (record: metadata)";
        capture.request_body = BodyCapture::not_captured(why);
        capture.response_body = BodyCapture::not_captured(why);
        if let Some(reply) = &mut capture.reply {
            reply.body = BodyCapture::not_captured(why);
        }
    }
    Some(capture)
}

fn full_capture(
    exchange: &FinishedExchange,
    notes: &CaptureNotes,
    redactor: Option<&Redactor>,
    credentials: &[String],
) -> ExchangeCapture {
    let mut capture = ExchangeCapture::default();
    // Headers as they went on (Warden's changes applied), then the masked body.
    let one_direction =
        |headers: &Headers, removed: &[String], set: &[(String, String)], direction: Direction| {
            let passed = changed_headers(headers, removed, set);
            let captured = captured_headers(
                passed.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
                credentials,
                redactor,
                direction,
            );
            let body = body_capture(
                exchange.body(direction),
                headers.get_str("content-type").unwrap_or(""),
                direction,
            );
            (captured, body)
        };
    if let Some(head) = exchange.request() {
        (capture.request_headers, capture.request_body) = one_direction(
            &head.headers,
            &notes.request_removed,
            &notes.request_set,
            Direction::Request,
        );
    }
    if let Some(head) = exchange.response() {
        (capture.response_headers, capture.response_body) = one_direction(
            &head.headers,
            &notes.response_removed,
            &[],
            Direction::Response,
        );
    } else {
        capture.response_body = BodyCapture::not_captured("no response from the upstream");
    }
    capture.reply = notes
        .reply
        .as_ref()
        .map(|reply| reply_capture(reply, credentials, redactor, notes.max_body_bytes));
    capture
}

/// `headers` with `removed` taken out and `set` put in (replacing), as they went on.
fn changed_headers(
    headers: &Headers,
    removed: &[String],
    set: &[(String, String)],
) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = headers
        .iter()
        .filter(|(name, _)| {
            !removed.iter().any(|r| r.eq_ignore_ascii_case(name))
                && !set.iter().any(|(s, _)| s.eq_ignore_ascii_case(name))
        })
        .map(|(name, value)| (name.to_string(), value.to_vec()))
        .collect();
    out.extend(
        set.iter()
            .map(|(name, value)| (name.clone(), value.as_bytes().to_vec())),
    );
    out
}

/// The capture of one body: what masking passed on, or why nothing is kept.
fn body_capture(state: &FinishedBody, content_type: &str, direction: Direction) -> BodyCapture {
    if let Some(recorder) = state.capture.as_ref().filter(|r| r.seen()) {
        return recorder.finish(content_type);
    }
    let what = match direction {
        Direction::Request => "request",
        Direction::Response => "response",
    };
    if state.choice.passed_unread {
        return BodyCapture::not_captured(
            "binary body passed unread (masking.binary: pass), so it was not masked",
        );
    }
    if state.progress.ended && state.progress.messages == 0 {
        return BodyCapture::empty();
    }
    if !state.choice.mask {
        return if state.choice.mode == BodyMode::Skip && state.progress.messages == 0 {
            BodyCapture::not_captured("Warden did not read this body")
        } else {
            BodyCapture::not_captured(&format!(
                "masking is off for {what} bodies here, and nothing unmasked is recorded"
            ))
        };
    }
    BodyCapture::not_captured(
        "Warden did not pass this body on (it answered first, or the stream ended)",
    )
}

/// The capture of a reply Warden gave: its body masked like a response body (it can
/// quote the request), kept only when there is a redactor.
fn reply_capture(
    reply: &LocalReply,
    credentials: &[String],
    redactor: Option<&Redactor>,
    max_body_bytes: usize,
) -> ReplyCapture {
    let content_type = reply
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.as_str())
        .unwrap_or("");
    let headers = captured_headers(
        reply
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
        credentials,
        redactor,
        Direction::Response,
    );
    let body = match redactor {
        _ if reply.body.is_empty() => BodyCapture::empty(),
        _ if ContentKind::from_content_type(content_type) == ContentKind::Binary => {
            BodyCapture::not_captured("the reply is binary and cannot be masked")
        }
        Some(redactor) => {
            let kind = ContentKind::from_content_type(content_type);
            let masked = redactor.redact(&reply.body, kind, Direction::Response);
            let mut recorder = BodyRecorder::new(max_body_bytes);
            recorder.push(&masked.body, None);
            recorder.finish(content_type)
        }
        None => BodyCapture::not_captured("masking is off, and nothing unmasked is recorded"),
    };
    ReplyCapture {
        status: reply.status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::{AuditSink, QueueFullPolicy, RecordSource};
    use crate::config::BodyInspection;
    use crate::http::{RequestHead, ResponseHead};
    use crate::masking::BinaryPolicy;
    use crate::pipeline::{MaskingSettings, Outcome, PipelineSettings};

    /// A GitHub-token-shaped fake: the default pack masks it.
    const TOKEN: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

    /// The queue's receiving end, kept open for the test's length (entries are built
    /// with `audit_entry`, not read from it).
    static RECEIVERS: std::sync::Mutex<
        Vec<tokio::sync::mpsc::Receiver<crate::audit::PendingEntry>>,
    > = std::sync::Mutex::new(Vec::new());

    fn pipeline(mask: bool, binary: BinaryPolicy, max_body_bytes: Option<usize>) -> Pipeline {
        let redactor = Arc::new(Redactor::with_defaults().expect("default pack compiles"));
        let (sink, receiver) =
            AuditSink::new(16, QueueFullPolicy::FailClosed, Some(Arc::clone(&redactor)));
        RECEIVERS.lock().unwrap().push(receiver);
        let sink = match max_body_bytes {
            Some(max) => sink.with_capture(max),
            None => sink,
        };
        Pipeline::new(
            PipelineSettings {
                request_body: BodyInspection::Streamed,
                response_body: BodyInspection::Streamed,
                max_buffered_body_bytes: 1 << 20,
                masking: MaskingSettings {
                    request: mask,
                    response: mask,
                    binary,
                },
            },
            Some(redactor),
        )
        .with_audit(sink)
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

    fn continued(outcome: Outcome) -> Mutation {
        match outcome.step {
            Step::Continue(m) => m,
            other => panic!("expected continue, got {other:?}"),
        }
    }

    fn started(p: &Pipeline, head: RequestHead, end_of_stream: bool) -> (Exchange, Outcome) {
        let mut ex = Exchange::new("cap");
        p.begin_audit(&mut ex).expect("room in the queue");
        let outcome = p
            .on_request_headers(&mut ex, head, end_of_stream, Ok(None))
            .unwrap();
        (ex, outcome)
    }

    fn capture_json(p: &Pipeline, ex: Exchange) -> (ExchangeCapture, String) {
        let entry = p.audit_entry(&ex.into_finished(), RecordSource::ExtProc);
        let capture = entry.capture.expect("sessions are recorded");
        let json = capture.to_json();
        assert_eq!(entry.record.capture_sha256, Some(capture.sha256()));
        (capture, json)
    }

    #[test]
    fn json_bodies_and_headers_are_captured_masked() {
        let p = pipeline(true, BinaryPolicy::Pass, Some(1 << 16));
        let body = format!("{{\"prompt\": \"deploy with {TOKEN}\"}}");
        let len = body.len().to_string();
        let bearer = format!("Bearer {TOKEN}");
        let note = format!("t={TOKEN}");
        let (mut ex, outcome) = started(
            &p,
            request(
                "POST",
                &[
                    ("content-type", "application/json"),
                    ("content-length", &len),
                    ("authorization", &bearer),
                    ("cookie", "sid=1"),
                    ("x-note", &note),
                ],
            ),
            false,
        );
        continued(outcome);
        let masked = continued(p.on_request_body(&mut ex, body.as_bytes(), true).unwrap());
        let sent = String::from_utf8(masked.body.expect("masked")).unwrap();

        let answer = format!("{{\"token\": \"{TOKEN}\", \"n\": 1}}");
        let len = answer.len().to_string();
        continued(
            p.on_response_headers(
                &mut ex,
                response(&[
                    ("content-type", "application/json"),
                    ("content-length", &len),
                    ("set-cookie", "sid=2"),
                ]),
                false,
            )
            .unwrap(),
        );
        continued(
            p.on_response_body(&mut ex, answer.as_bytes(), true)
                .unwrap(),
        );

        let (capture, json) = capture_json(&p, ex);
        assert!(
            !json.contains(TOKEN) && !json.contains("ghp_9xQ2"),
            "{json}"
        );
        assert_eq!(capture.request_body.text.as_deref(), Some(sent.as_str()));
        assert!(capture.request_body.captured && !capture.request_body.truncated);
        let response_text = capture.response_body.text.as_deref().unwrap();
        assert!(response_text.contains("REDACTED"), "{response_text}");
        serde_json::from_str::<serde_json::Value>(response_text).expect("still JSON");
        let names = |headers: &[(String, String)]| -> Vec<String> {
            headers.iter().map(|(n, _)| n.clone()).collect()
        };
        let request_names = names(&capture.request_headers);
        assert!(!request_names.contains(&"authorization".to_string()));
        assert!(!request_names.contains(&"cookie".to_string()));
        assert!(request_names.contains(&"x-note".to_string()));
        assert!(request_names.contains(&"x-warden-request-id".to_string()));
        assert!(!names(&capture.response_headers).contains(&"set-cookie".to_string()));
        assert_eq!(capture.reply, None);
    }

    #[test]
    fn an_event_stream_split_mid_secret_replays_as_masked_events() {
        let p = pipeline(true, BinaryPolicy::Pass, Some(1 << 16));
        let (mut ex, _) = started(&p, request("GET", &[]), true);
        continued(
            p.on_response_headers(
                &mut ex,
                response(&[("content-type", "text/event-stream")]),
                false,
            )
            .unwrap(),
        );
        let stream = format!(
            "event: delta\ndata: {{\"text\": \"hello\"}}\n\ndata: {{\"text\": \"key {TOKEN}\"}}\n\ndata: [DONE]\n\n"
        );
        let cut = stream.find("ghp_").unwrap() + 7;
        let (a, rest) = stream.split_at(cut);
        let (b, c) = rest.split_at(10);
        let mut passed = Vec::new();
        for (chunk, end) in [(a, false), (b, false), (c, true)] {
            let m = continued(p.on_response_body(&mut ex, chunk.as_bytes(), end).unwrap());
            passed.extend(m.body.unwrap_or_default());
        }
        let (capture, json) = capture_json(&p, ex);
        assert!(
            !json.contains(TOKEN) && !json.contains("ghp_9xQ2"),
            "{json}"
        );
        let body = &capture.response_body;
        assert_eq!(
            body.text.as_deref().map(str::as_bytes),
            Some(passed.as_slice())
        );
        assert!(!body.chunks.is_empty());
        let data: Vec<&str> = body.events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data.len(), 3, "{data:?}");
        assert_eq!(data[0], "{\"text\": \"hello\"}");
        assert!(data[1].contains("REDACTED"), "{}", data[1]);
        assert_eq!(data[2], "[DONE]");
        assert_eq!(body.events[0].event.as_deref(), Some("delta"));
        assert!(body.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert_eq!(capture.request_body, BodyCapture::empty());
    }

    #[test]
    fn bodies_past_the_limit_are_counted_and_flagged() {
        let p = pipeline(true, BinaryPolicy::Pass, Some(8));
        let (mut ex, _) = started(&p, request("GET", &[]), true);
        continued(
            p.on_response_headers(&mut ex, response(&[("content-type", "text/plain")]), false)
                .unwrap(),
        );
        for (chunk, end) in [("0123456789", false), ("abcdef", true)] {
            continued(p.on_response_body(&mut ex, chunk.as_bytes(), end).unwrap());
        }
        let (capture, _) = capture_json(&p, ex);
        assert_eq!(capture.response_body.text.as_deref(), Some("01234567"));
        assert_eq!(capture.response_body.bytes, 16);
        assert!(capture.response_body.truncated);
    }

    #[test]
    fn unmasked_bodies_are_not_captured_only_explained() {
        // Binary passed unread.
        let p = pipeline(true, BinaryPolicy::Pass, Some(1 << 16));
        let (mut ex, _) = started(&p, request("GET", &[]), true);
        continued(
            p.on_response_headers(&mut ex, response(&[("content-type", "image/png")]), false)
                .unwrap(),
        );
        let png = [
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice(),
            TOKEN.as_bytes(),
        ]
        .concat();
        continued(p.on_response_body(&mut ex, &png, true).unwrap());
        let (capture, json) = capture_json(&p, ex);
        assert!(!json.contains(TOKEN), "{json}");
        assert!(!capture.response_body.captured);
        assert!(
            capture
                .response_body
                .note
                .starts_with("not captured: binary"),
            "{}",
            capture.response_body.note
        );

        // Masking off for both directions.
        let p = pipeline(false, BinaryPolicy::Pass, Some(1 << 16));
        let (mut ex, _) = started(
            &p,
            request(
                "POST",
                &[("content-type", "text/plain"), ("content-length", "40")],
            ),
            false,
        );
        continued(p.on_request_body(&mut ex, TOKEN.as_bytes(), true).unwrap());
        continued(
            p.on_response_headers(&mut ex, response(&[("content-type", "text/plain")]), false)
                .unwrap(),
        );
        continued(p.on_response_body(&mut ex, TOKEN.as_bytes(), true).unwrap());
        let (capture, json) = capture_json(&p, ex);
        assert!(!json.contains(TOKEN), "{json}");
        for body in [&capture.request_body, &capture.response_body] {
            assert!(!body.captured && body.text.is_none(), "{body:?}");
            assert!(body.note.contains("masking is off"), "{}", body.note);
        }
    }

    #[test]
    fn replies_warden_gave_are_captured() {
        let p = pipeline(true, BinaryPolicy::Block, Some(1 << 16));
        let (mut ex, _) = started(
            &p,
            request(
                "POST",
                &[("content-type", "application/zip"), ("content-length", "4")],
            ),
            false,
        );
        // What the body is, its bytes say: a zip is refused once seen.
        let outcome = p.on_request_body(&mut ex, b"PK\x03\x04", true).unwrap();
        assert!(matches!(outcome.step, Step::Reply(_)));
        ex.note_step(&outcome.step);
        let (capture, _) = capture_json(&p, ex);
        let reply = capture.reply.expect("the reply is captured");
        assert_eq!(reply.status, 415);
        assert!(reply
            .headers
            .iter()
            .any(|(n, v)| n == "x-warden-decision" && v == "deny"));
        let body: serde_json::Value =
            serde_json::from_str(reply.body.text.as_deref().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "binary_body_blocked");
        // The request headers as received; no response came.
        assert!(capture
            .request_headers
            .iter()
            .any(|(n, v)| n == "content-type" && v == "application/zip"));
        assert!(!capture.response_body.captured);
    }

    #[test]
    fn without_session_recording_nothing_is_captured() {
        let p = pipeline(true, BinaryPolicy::Pass, None);
        let (mut ex, _) = started(&p, request("GET", &[]), true);
        assert!(!ex.is_captured());
        continued(
            p.on_response_headers(&mut ex, response(&[("content-type", "text/plain")]), false)
                .unwrap(),
        );
        continued(p.on_response_body(&mut ex, b"hello", true).unwrap());
        let entry = p.audit_entry(&ex.into_finished(), RecordSource::ExtProc);
        assert_eq!(entry.capture, None);
        assert_eq!(entry.record.capture_sha256, None);
    }
}

#[cfg(test)]
mod record_level_tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::audit::{AuditSink, QueueFullPolicy, RecordSource};
    use crate::config::BodyInspection;
    use crate::http::{RequestHead, ResponseHead};
    use crate::masking::BinaryPolicy;
    use crate::pipeline::{MaskingSettings, PipelineSettings};
    use crate::policy::watch::PolicyStore;
    use crate::policy::Policy;

    const POLICY: &str = r#"
settings: { default: allow }
rules:
  - id: quiet
    when: { path: "/quiet/**" }
    action: allow
    record: none
  - id: heads-only
    when: { path: "/heads/**" }
    action: allow
    record: metadata
"#;

    fn exchange_at(path: &str) -> Option<ExchangeCapture> {
        let redactor = Arc::new(Redactor::with_defaults().unwrap());
        let (sink, _receiver) =
            AuditSink::new(4, QueueFullPolicy::FailClosed, Some(Arc::clone(&redactor)));
        let policy =
            Policy::from_sources(vec![(PathBuf::from("p.yaml"), POLICY.to_string())]).unwrap();
        let p = Pipeline::new(
            PipelineSettings {
                request_body: BodyInspection::Streamed,
                response_body: BodyInspection::Streamed,
                max_buffered_body_bytes: 1 << 20,
                masking: MaskingSettings {
                    request: true,
                    response: true,
                    binary: BinaryPolicy::Pass,
                },
            },
            Some(redactor),
        )
        .with_policy(PolicyStore::fixed(policy))
        .with_audit(sink.with_capture(1024));
        let mut ex = Exchange::new("lvl");
        p.begin_audit(&mut ex).unwrap();
        let head = RequestHead {
            method: "GET".into(),
            scheme: "http".into(),
            authority: "api.test".into(),
            path: path.into(),
            headers: [("accept", "text/plain")].into_iter().collect(),
        };
        p.on_request_headers(&mut ex, head, true, Ok(None)).unwrap();
        let response = ResponseHead {
            status: 200,
            headers: [("content-type", "text/plain")].into_iter().collect(),
        };
        p.on_response_headers(&mut ex, response, false).unwrap();
        p.on_response_body(&mut ex, b"the answer", true).unwrap();
        let entry = p.audit_entry(&ex.into_finished(), RecordSource::ExtProc);
        assert_eq!(
            entry.record.capture_sha256,
            entry.capture.as_ref().map(ExchangeCapture::sha256)
        );
        entry.capture
    }

    #[test]
    fn the_policy_record_level_limits_the_capture() {
        let full = exchange_at("/other").expect("recorded");
        assert_eq!(full.response_body.text.as_deref(), Some("the answer"));

        let heads = exchange_at("/heads/x").expect("recorded");
        assert!(heads.request_headers.iter().any(|(n, _)| n == "accept"));
        assert!(!heads.response_body.captured);
        assert!(heads.response_body.note.contains("metadata"), "{heads:?}");

        assert_eq!(exchange_at("/quiet/x"), None);
    }
}

#[cfg(test)]
mod credential_tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::{AuditSink, QueueFullPolicy, RecordSource};
    use crate::config::BodyInspection;
    use crate::http::RequestHead;
    use crate::identity::{
        Authenticator, CredentialInjector, CredentialRule, IdentityConfig, Injection,
    };
    use crate::masking::BinaryPolicy;
    use crate::pipeline::{MaskingSettings, PipelineSettings};

    #[test]
    fn injected_and_agent_credential_headers_are_never_captured() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("upstream-key");
        std::fs::write(&secret_file, "upstream-secret-value-123\n").unwrap();
        let rules = vec![CredentialRule {
            name: "upstream".into(),
            hosts: vec!["api.test".into()],
            path_prefix: None,
            remove_headers: vec!["x-agent-key".into()],
            inject: Injection::Header {
                name: "x-upstream-key".into(),
                value: crate::identity::SecretSource::File(secret_file),
                prefix: String::new(),
            },
        }];
        let injector = CredentialInjector::new(&rules, "x-agent-token", 0).unwrap();
        assert_eq!(
            injector.credential_header_names(),
            vec![
                "authorization",
                "proxy-authorization",
                "x-agent-key",
                "x-agent-token",
                "x-upstream-key"
            ]
        );
        let mut config = IdentityConfig::default();
        config.token.header = "x-agent-token".into();
        config.required = false;
        let authenticator = Authenticator::new(&config).unwrap();
        let redactor = Arc::new(Redactor::with_defaults().unwrap());
        let (sink, _receiver) =
            AuditSink::new(4, QueueFullPolicy::FailClosed, Some(Arc::clone(&redactor)));
        let p = Pipeline::new(
            PipelineSettings {
                request_body: BodyInspection::None,
                response_body: BodyInspection::None,
                max_buffered_body_bytes: 1 << 20,
                masking: MaskingSettings {
                    request: true,
                    response: true,
                    binary: BinaryPolicy::Pass,
                },
            },
            Some(redactor),
        )
        .with_identity(authenticator, Some(Arc::new(injector)))
        .with_audit(sink.with_capture(1024));
        let mut ex = Exchange::new("cred");
        p.begin_audit(&mut ex).unwrap();
        let head = RequestHead {
            method: "GET".into(),
            scheme: "https".into(),
            authority: "api.test".into(),
            path: "/v1/items".into(),
            headers: [
                ("x-agent-token", "agent-token-value"),
                ("x-agent-key", "agent-key-value"),
                ("accept", "application/json"),
            ]
            .into_iter()
            .collect(),
        };
        let outcome = p.on_request_headers(&mut ex, head, true, Ok(None)).unwrap();
        let Step::Continue(mutation) = outcome.step else {
            panic!("allowed")
        };
        assert!(
            mutation
                .set_headers
                .iter()
                .any(|(n, _)| n == "x-upstream-key"),
            "the credential was injected: {:?}",
            mutation
                .set_headers
                .iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>()
        );
        let capture = p
            .audit_entry(&ex.into_finished(), RecordSource::ExtProc)
            .capture
            .expect("recorded");
        let json = capture.to_json();
        for secret in [
            "upstream-secret-value-123",
            "agent-token-value",
            "agent-key-value",
        ] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        let names: Vec<&str> = capture
            .request_headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(names.contains(&"accept"), "{names:?}");
        assert!(!names.contains(&"x-upstream-key"), "{names:?}");
    }
}
