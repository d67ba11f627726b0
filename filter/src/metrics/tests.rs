use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::BodyInspection;
use crate::http::{Headers, RequestHead, ResponseHead};
use crate::pipeline::{MaskingSettings, Pipeline, PipelineSettings, Step};
use crate::policy::watch::PolicyStore;
use crate::policy::Policy;

/// One sample of the exposition: its name and labels.
type Sample = (String, BTreeMap<String, String>);

/// Parses OpenMetrics text into samples (comments skipped). Label values are read
/// with their escapes, so a value holding `,` or `}` cannot confuse it.
fn parse(text: &str) -> Vec<(Sample, f64)> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("sample without a value: {line}"),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let end = loop {
                let (i, c) = chars.next().expect("unterminated labels");
                match c {
                    '}' => break i,
                    ',' => {}
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                        let mut value = String::new();
                        loop {
                            match chars.next().expect("unterminated value").1 {
                                '"' => break,
                                '\\' => value.push(chars.next().expect("escape").1),
                                c => value.push(c),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    c => key.push(c),
                }
            };
            rest = &body[end + 1..];
        }
        let value = rest.split_whitespace().next().expect("a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        samples.push(((name.to_string(), labels), value));
    }
    samples
}

/// The value of the sample `name` whose labels include `labels`; panics unless
/// exactly one matches.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = parse(text)
        .into_iter()
        .filter(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in\n{text}");
    found[0]
}

fn pipeline(metrics: &Metrics) -> Pipeline {
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
        Some(redactor),
    )
    .with_policy(PolicyStore::fixed(policy))
    .with_metrics(metrics.clone())
}

fn head(path: &str) -> RequestHead {
    RequestHead {
        method: "GET".into(),
        scheme: "https".into(),
        authority: "api.example.com".into(),
        path: path.into(),
        headers: Headers::default(),
    }
}

fn render_metrics(metrics: &Metrics) -> String {
    render(&registry(metrics, None, None)).unwrap()
}

#[test]
fn every_metric_has_the_prefix_a_help_line_and_a_type() {
    let metrics = Metrics::new();
    // A family shows up once it has a series.
    metrics.count_exchange(Shell::ExtProc, &Exchange::new("req-0"));
    metrics.count_approval(ApprovalOutcome::Requested);
    metrics.count_jwks_refresh("https://idp.example.com", true);
    let text = render_metrics(&metrics);
    for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
        let name = line["# HELP ".len()..].split(' ').next().unwrap();
        assert!(name.starts_with("warden_"), "{line}");
        assert!(line.len() > "# HELP ".len() + name.len() + 10, "{line}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}: no TYPE");
    }
    assert!(text.contains("# TYPE warden_phase_duration_seconds histogram"));
    assert!(text.contains("# UNIT warden_phase_duration_seconds seconds"));
    for counter in ["requests", "approvals", "jwks_refreshes"] {
        assert!(
            text.contains(&format!("# TYPE warden_{counter} counter")),
            "{counter}"
        );
    }
    assert!(text.contains("# TYPE warden_holds_pending gauge"));
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn decisions_and_findings_are_counted_once_per_exchange_with_bounded_labels() {
    let metrics = Metrics::new();
    let pipeline = pipeline(&metrics);

    // Denied by a rule.
    let mut denied = Exchange::new("req-1");
    let outcome = pipeline
        .on_request_headers(&mut denied, head("/admin/users"), true, Ok(None))
        .unwrap();
    denied.note_step(&outcome.step);
    pipeline.finish_audit(denied, RecordSource::ExtProc);

    // Allowed, with a secret masked in the response.
    let mut allowed = Exchange::new("req-2");
    let outcome = pipeline
        .on_request_headers(&mut allowed, head("/repos"), true, Ok(None))
        .unwrap();
    assert!(matches!(outcome.step, Step::Continue(_)));
    let body = "{\"token\":\"ghp_R2d2C3poX4wingY5tieZ6falconQ7sithK8\"}";
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
        .on_response_headers(&mut allowed, response, false)
        .unwrap();
    let outcome = pipeline
        .on_response_body(&mut allowed, body.as_bytes(), true)
        .unwrap();
    allowed.note_step(&outcome.step);
    let masked: Vec<String> = allowed
        .findings(Direction::Response)
        .by_rule
        .keys()
        .cloned()
        .collect();
    assert_eq!(masked.len(), 1, "one rule finds the token: {masked:?}");
    pipeline.finish_audit(allowed, RecordSource::ExtProc);

    // Failed closed after the decision, through ext_authz; and one that never decided.
    let mut failed = Exchange::new("req-3");
    pipeline
        .on_request_headers(&mut failed, head("/repos"), true, Ok(None))
        .unwrap();
    failed.note_failure();
    pipeline.finish_audit(failed, RecordSource::ExtAuthz);
    pipeline.finish_audit(Exchange::new("req-4"), RecordSource::ExtProc);

    let text = render_metrics(&metrics);
    let requests = |shell, decision, rule| {
        value(
            &text,
            "warden_requests_total",
            &[("shell", shell), ("decision", decision), ("rule", rule)],
        )
    };
    assert_eq!(requests("ext_proc", "deny", "no-admin"), 1.0);
    assert_eq!(requests("ext_proc", "allow", ""), 1.0);
    assert_eq!(requests("ext_authz", "error", ""), 1.0);
    assert_eq!(requests("ext_proc", "incomplete", ""), 1.0);
    let total: f64 = parse(&text)
        .iter()
        .filter(|((name, _), _)| name == "warden_requests_total")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 4.0, "each exchange once:\n{text}");
    assert_eq!(
        value(
            &text,
            "warden_masking_findings_total",
            &[("rule", &masked[0]), ("direction", "response")]
        ),
        1.0
    );
    // No request id, path or authority leaks into a label.
    for needle in ["req-1", "/admin", "/repos", "api.example.com"] {
        assert!(!text.contains(needle), "{needle} in\n{text}");
    }
}

#[test]
fn phase_latencies_and_hold_waits_land_in_separate_histograms() {
    let metrics = Metrics::new();
    metrics.observe_phase(Phase::RequestHeaders, Duration::from_micros(40));
    metrics.observe_phase(Phase::RequestHeaders, Duration::from_millis(3));
    metrics.observe_phase(Phase::Check, Duration::from_micros(70));
    metrics.observe_hold_wait(Shell::ExtProc, Duration::from_secs(42));
    let text = render_metrics(&metrics);
    let phase = |phase, name, extra: &[(&str, &str)]| {
        let mut labels = vec![("phase", phase)];
        labels.extend_from_slice(extra);
        value(&text, name, &labels)
    };
    let count = "warden_phase_duration_seconds_count";
    assert_eq!(phase("request_headers", count, &[]), 2.0);
    assert_eq!(phase("check", count, &[("shell", "ext_authz")]), 1.0);
    assert_eq!(
        phase("response_body", count, &[]),
        0.0,
        "every phase is there"
    );
    let bucket = "warden_phase_duration_seconds_bucket";
    assert_eq!(phase("request_headers", bucket, &[("le", "0.00005")]), 1.0);
    assert_eq!(phase("request_headers", bucket, &[("le", "0.005")]), 2.0);
    let sum = phase("request_headers", "warden_phase_duration_seconds_sum", &[]);
    assert!((sum - 0.00304).abs() < 1e-9, "{sum}");
    // The 42 s wait is in the hold histogram only.
    assert_eq!(
        value(
            &text,
            "warden_hold_wait_duration_seconds_count",
            &[("shell", "ext_proc")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "warden_hold_wait_duration_seconds_bucket",
            &[("shell", "ext_proc"), ("le", "30.0")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "warden_hold_wait_duration_seconds_bucket",
            &[("shell", "ext_proc"), ("le", "60.0")]
        ),
        1.0
    );
}

#[test]
fn approvals_jwks_refreshes_and_pending_holds_are_reported() {
    use crate::webhook::Event;
    let metrics = Metrics::new();
    let notifier = crate::webhook::Notifier::disabled().with_metrics(metrics.clone());
    let approval = held();
    for event in [
        Event::HoldCreated,
        Event::Approved,
        Event::Used,
        Event::HoldCreated,
    ] {
        notifier.notify(event, &approval);
    }
    metrics.count_jwks_refresh("https://idp.example.com", true);
    metrics.count_jwks_refresh("https://idp.example.com", false);
    metrics.count_jwks_refresh("https://idp.example.com", true);
    metrics.set_holds_pending(3);
    let text = render_metrics(&metrics);
    let approvals = |outcome| value(&text, "warden_approvals_total", &[("outcome", outcome)]);
    assert_eq!(approvals("requested"), 2.0);
    assert_eq!(approvals("approved"), 1.0);
    assert_eq!(approvals("used"), 1.0);
    let jwks = |outcome| {
        value(
            &text,
            "warden_jwks_refreshes_total",
            &[("issuer", "https://idp.example.com"), ("outcome", outcome)],
        )
    };
    assert_eq!(jwks("success"), 2.0);
    assert_eq!(jwks("failure"), 1.0);
    assert_eq!(value(&text, "warden_holds_pending", &[]), 3.0);
}

fn held() -> crate::approval::Approval {
    use crate::approval::{
        Approval, ApprovalId, ApprovalRules, Fingerprint, NewHold, Operation, Requester, Scope,
        Timestamp,
    };
    let hold = NewHold {
        requester: Requester {
            subject: "agent-7".into(),
            issuer: "https://idp".into(),
            groups: vec!["agents".into()],
            kind: "agent".into(),
            acting_for: Vec::new(),
        },
        operation: Operation {
            method: "DELETE".into(),
            host: "k8s.internal".into(),
            path: "/api/v1/namespaces/prod/pods/web-1".into(),
            summary: "kubernetes delete pods/web-1 in prod".into(),
            fingerprint: Fingerprint("sha256:aa".into()),
        },
        scope: Scope::Operation,
        rule: "hold-prod-deletes".into(),
        reason: "deletes in prod need a human".into(),
        policy_hash: "sha256:p".into(),
        rules: ApprovalRules::default(),
        request_id: "req-1".into(),
    };
    Approval::open(
        hold,
        ApprovalId("apr-0123".into()),
        Timestamp(1_796_000_000_000),
    )
}

#[tokio::test]
async fn the_pending_gauge_follows_the_approval_store() {
    let store = crate::store::ApprovalStore::open("sqlite::memory:")
        .await
        .unwrap();
    let metrics = Metrics::new();
    metrics.set_holds_pending(7);
    let task = spawn_pending_holds(metrics.clone(), store, Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = render_metrics(&metrics);
        if value(&text, "warden_holds_pending", &[]) == 0.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never refreshed:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
}

#[tokio::test]
async fn the_policy_in_force_and_its_reload_failures_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "rules:\n  - id: a\n    when: { path: \"/a\" }\n    action: deny\n    reason: no\n",
    )
    .unwrap();
    let store = PolicyStore::open(dir.path().to_path_buf()).unwrap();
    let first_hash = store.current().hash().to_string();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let policy = PolicyMetrics::start(Arc::clone(&store));
    std::fs::write(&file, "rules: [ this is not a rule").unwrap();
    assert!(store.reload().is_err());
    let text = render(&registry(&Metrics::new(), None, Some(policy))).unwrap();
    assert_eq!(
        value(&text, "warden_policy_info", &[("hash", &first_hash)]),
        1.0
    );
    assert_eq!(value(&text, "warden_policy_rules", &[]), 1.0);
    assert_eq!(
        value(&text, "warden_policy_reload_failures_total", &[]),
        1.0
    );
    assert_eq!(value(&text, "warden_policy_reloads_total", &[]), 0.0);
    let loaded = value(&text, "warden_policy_loaded_timestamp_seconds", &[]);
    assert!(
        loaded >= before.floor() && loaded < before + 60.0,
        "{loaded}"
    );
}
