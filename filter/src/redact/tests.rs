//! Behaviour tests of the public API (accuracy on the labelled corpus lives in
//! `filter/tests/redact_corpus.rs`; streaming equivalence is property-tested there too).

use super::*;

fn redactor() -> Redactor {
    Redactor::with_defaults().expect("default pack compiles")
}

fn mask(r: &Redactor, text: &str, kind: ContentKind) -> String {
    let out = r.redact(text.as_bytes(), kind, Direction::Response);
    String::from_utf8(out.body).expect("utf8 in, utf8 out")
}

#[test]
fn masks_provider_tokens_in_text() {
    let r = redactor();
    let out = mask(
        &r,
        "export GITHUB_TOKEN=ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1 done",
        ContentKind::Text,
    );
    assert_eq!(out, "export GITHUB_TOKEN=[REDACTED:github-token] done");
}

#[test]
fn json_stays_valid_and_key_rules_apply() {
    let r = redactor();
    let body = r#"{"user":"bob","password":"hunter2","max_tokens":512,"pin_token":12345,"note":"line\nAKIAZ7QJ3MX5TRV2WQ4N"}"#;
    let out = mask(&r, body, ContentKind::Json);
    let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(v["password"], "[REDACTED:json-sensitive-key]");
    assert_eq!(v["max_tokens"], 512);
    assert_eq!(v["user"], "bob");
    assert_eq!(v["note"], "line\n[REDACTED:aws-access-token]");
}

#[test]
fn pem_inside_json_string_is_masked() {
    let r = redactor();
    let key = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA7bq0fE3dPz9wYc8Qm1L2xKfT0vR6nH5sJ4gU3yB2aZ1cV0dW\\n9eX8fY7gZ6hA5iB4jC3kD2lE1mF0nG9oH8pI7qJ6rK5sL4tM3uN2vO1wP0xQ9yR8\\n-----END RSA PRIVATE KEY-----";
    let body = format!(r#"{{"key":"{key}","ok":true}}"#);
    let out = mask(&r, &body, ContentKind::Json);
    assert!(!out.contains("MIIEpAIBAAKCAQEA"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(v["ok"], true);
}

#[test]
fn placeholders_hashes_and_uuids_are_kept() {
    let r = redactor();
    for text in [
        "password = \"${DB_PASSWORD}\"",
        "api_key: d41d8cd98f00b204e9800998ecf8427e",
        "commit_sha = 9a038989604e8da62ecddbe2094b16ce1b778be1",
        "request_id: 123e4567-e89b-12d3-a456-426614174000",
        "\"integrity\": \"sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==\"",
        "token: xxxxxxxxxxxxxxxxxxxxxxxx",
    ] {
        assert_eq!(mask(&r, text, ContentKind::Text), text);
    }
}

#[test]
fn strategies_partial_hash_drop() {
    let pack = RulePack::default_pack().expect("pack");
    let opts = RedactOptions {
        strategies: vec![
            ("github-token".into(), Strategy::Partial),
            ("pii-email".into(), Strategy::Hash),
            ("json-sensitive-key".into(), Strategy::Drop),
        ],
        hash_key: Some(b"k1".to_vec()),
        ..RedactOptions::default()
    };
    let r = Redactor::new(&pack, &opts).expect("compiles");
    let body = r#"{"a":"ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1","password":"x1y2z3w4","b":"bob@corp.io","c":"bob@corp.io"}"#;
    let out = mask(&r, body, ContentKind::Json);
    let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(
        v["a"],
        "[REDACTED:github-token:...sA1]".replace("...sA1", "...2sA1")
    );
    assert!(v.get("password").is_none(), "{out}");
    assert_eq!(v["b"], v["c"], "hash pseudonyms are stable");
    assert!(v["b"]
        .as_str()
        .is_some_and(|s| s.starts_with("[HASH:pii-email:")));
    let other = Redactor::new(
        &pack,
        &RedactOptions {
            hash_key: Some(b"k2".to_vec()),
            ..opts.clone()
        },
    )
    .expect("compiles");
    let out2 = mask(&other, body, ContentKind::Json);
    assert_ne!(out, out2, "a different key gives different pseudonyms");
}

#[test]
fn drop_last_member_keeps_json_valid() {
    let pack = RulePack::default_pack().expect("pack");
    let opts = RedactOptions {
        strategies: vec![("json-sensitive-key".into(), Strategy::Drop)],
        ..RedactOptions::default()
    };
    let r = Redactor::new(&pack, &opts).expect("compiles");
    for body in [
        r#"{"a":1,"secret":"s3cr3t-v4lue"}"#,
        r#"{"secret":"s3cr3t-v4lue"}"#,
        r#"{"secret":"s3cr3t-v4lue", "a":1}"#,
    ] {
        let out = mask(&r, body, ContentKind::Json);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
        assert!(v.get("secret").is_none());
    }
}

#[test]
fn known_secrets_update_without_rebuild() {
    let r = redactor();
    let text = "upstream said: my-injected-cred-42 and again my-injected-cred-42";
    assert_eq!(mask(&r, text, ContentKind::Text), text);
    r.set_known_secrets(&[KnownSecret::new("upstream", "my-injected-cred-42")])
        .expect("set");
    let out = r.redact(text.as_bytes(), ContentKind::Text, Direction::Request);
    assert_eq!(
        String::from_utf8_lossy(&out.body),
        "upstream said: [REDACTED:known:upstream] and again [REDACTED:known:upstream]"
    );
    assert_eq!(out.findings.len(), 2);
    assert_eq!(out.findings[0].kind, FindingKind::KnownSecret);
    assert_eq!(out.findings[0].direction, Direction::Request);
    assert_eq!(out.findings[0].offset, 15);
    assert_eq!(out.findings[0].len, 19);
    assert!(r
        .set_known_secrets(&[KnownSecret::new("short", "abc")])
        .is_err());
}

#[test]
fn pii_can_be_switched_off() {
    let pack = RulePack::default_pack().expect("pack");
    let text = "mail alice@example.org card 4111-1111-1111-1111";
    let on = Redactor::new(&pack, &RedactOptions::default()).expect("on");
    assert_eq!(
        mask(&on, text, ContentKind::Text),
        "mail [REDACTED:pii-email] card [REDACTED:pii-card]"
    );
    let off = Redactor::new(
        &pack,
        &RedactOptions {
            pii: Some(PiiSpec {
                email: false,
                ..PiiSpec::default()
            }),
            ..RedactOptions::default()
        },
    )
    .expect("off");
    assert_eq!(
        mask(&off, text, ContentKind::Text),
        "mail alice@example.org card [REDACTED:pii-card]"
    );
}

#[test]
fn binary_is_not_scanned_but_said_so() {
    let r = redactor();
    let out = r.redact(
        b"ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1",
        ContentKind::Binary,
        Direction::Response,
    );
    assert!(!out.scanned);
    assert!(out.findings.is_empty());
}

#[test]
fn content_types() {
    use ContentKind::*;
    for (ct, k) in [
        ("application/json; charset=utf-8", Json),
        ("application/vnd.api+json", Json),
        ("application/x-ndjson", Ndjson),
        ("text/event-stream", EventStream),
        ("application/x-www-form-urlencoded", Form),
        ("text/plain", Text),
        ("", Text),
        ("application/xml", Text),
        ("image/png", Binary),
        ("application/octet-stream", Binary),
        ("application/x-json", Json),
        ("application/json-rpc", Json),
        ("Application/JSONRequest", Json),
        ("application/geo+json", Json),
        ("application/jsonl", Ndjson),
        ("application/json-seq", Ndjson),
        ("application/x-yaml", Text),
        ("image/svg+xml", Text),
        ("application/sql", Text),
        ("multipart/form-data; boundary=x", Binary),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Binary,
        ),
        ("application/grpc", Binary),
    ] {
        assert_eq!(ContentKind::from_content_type(ct), k, "{ct}");
    }
}

#[test]
fn sse_events_flush_as_soon_as_complete() {
    let r = redactor();
    let mut s = r.stream(ContentKind::EventStream, Direction::Response);
    let out = s.push(b"data: {\"delta\":\"hi ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1\"}\n\n");
    assert_eq!(out, b"data: {\"delta\":\"hi [REDACTED:github-token]\"}\n\n");
    let out = s.push(b"data: {\"delta\":\"partial");
    assert!(out.is_empty(), "an incomplete event is held");
    let end = s.finish();
    assert_eq!(end.tail, b"data: {\"delta\":\"partial");
}

#[test]
fn secret_split_across_chunks() {
    let r = redactor();
    let body = "{\"t\":\"ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1\"}";
    for cut in 1..body.len() {
        let mut s = r.stream(ContentKind::Json, Direction::Response);
        let mut out = s.push(&body.as_bytes()[..cut]);
        out.extend(s.push(&body.as_bytes()[cut..]));
        out.extend(s.finish().tail);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"t\":\"[REDACTED:github-token]\"}",
            "cut {cut}"
        );
    }
}

#[test]
fn form_bodies() {
    let r = redactor();
    let out = mask(&r, "user=bob&password=hunter2&x=1", ContentKind::Form);
    assert_eq!(out, "user=bob&password=[REDACTED:form-sensitive-key]&x=1");
}

#[test]
fn unknown_override_is_an_error() {
    let pack = RulePack::default_pack().expect("pack");
    let opts = RedactOptions {
        disabled_rules: vec!["no-such-rule".into()],
        ..RedactOptions::default()
    };
    assert!(matches!(
        Redactor::new(&pack, &opts),
        Err(RedactError::UnknownRule(_))
    ));
}

#[test]
fn redactor_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Redactor>();
    check::<RedactStream>();
}

#[test]
fn azure_storage_connection_string() {
    let r = redactor();
    let t = "DefaultEndpointsProtocol=http;AccountName=testacc1;\nAccountKey=1gy3lpE7Du1j5ljKiupgKzywSw2isjsa69sfsdfsdsgfsgfdgfdgfd/YThisv/OVVLfIOv9kQ==;\nBlobEndpoint=http://127.0.0.1:8440/testacc1;";
    let out = mask(&r, t, ContentKind::Text);
    assert!(!out.contains("1gy3lpE7Du1j5ljKiupgKzyw"), "{out}");
}

/// Tools for engine work, run by hand (`--ignored`): a byte-exact dump of the engine's output
/// over every corpus/fixture text and the benchmark bodies (diff two dumps to prove a speed-up
/// changed nothing), and a fixed workload for `valgrind --tool=callgrind`.
mod engine_work {
    use std::fmt::Write as _;
    use std::path::PathBuf;

    use super::*;

    /// The benchmark's secret-dense JSON (kept in step with `benches/redact.rs`).
    pub(super) fn dense_json(target: usize) -> Vec<u8> {
        let secrets = [
            "\"token\":\"ghp_Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0Ls2Q\"",
            "\"password\":\"c0rrect-h0rse-battery\"",
            "\"email\":\"jane.doe@acme-corp.io\"",
            "\"aws\":\"AKIAZ7QJ3MX5TRV2WQ4N\"",
            "\"card\":\"4242 4242 4242 4242\"",
            "\"auth\":\"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlMTIz\"",
            "\"slack\":\"xoxb-2384756102-9384756102-Qz8Wx7Ec6Rv5Tb4Yn3Um2Ik1\"",
            "\"db\":\"postgres://app:Tr0ub4dor-3x@db.internal/app\"",
        ];
        let mut out = Vec::with_capacity(target + 512);
        out.push(b'[');
        let mut i = 0usize;
        while out.len() < target {
            let rec = format!(
                "{{\"id\":{i},\"name\":\"service {i}\",{},\"region\":\"eu-west-1\",\"enabled\":true}},",
                secrets[i % secrets.len()]
            );
            out.extend_from_slice(rec.as_bytes());
            i += 1;
        }
        out.pop();
        out.push(b']');
        out
    }

    /// The bench's clean JSON (`benches/redact.rs`): ids, timestamps, prose, URLs, numbers.
    pub(super) fn clean_json(target: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(target + 512);
        out.push(b'[');
        let mut i = 0u64;
        while out.len() < target {
            let rec = format!(
                "{{\"id\":\"{:08x}-4a1b-4c2d-9e3f-{:012x}\",\"created_at\":\"2024-05-{:02}T10:{:02}:00Z\",\"type\":\"issue\",\"title\":\"Fix flaky retry in the upload worker #{i}\",\"body\":\"When the upstream returns 503 we retry with backoff; the counter was not reset between attempts so the third retry waited far too long.\",\"labels\":[\"bug\",\"worker\",\"p{}\"],\"url\":\"https://example.com/org/repo/issues/{i}\",\"comments\":{},\"score\":{}.{},\"author\":{{\"login\":\"dev{}\",\"site_admin\":false}}}},",
                i * 2654435761 % 0xffff_ffff,
                i * 40503,
                i % 28 + 1,
                i % 60,
                i % 4,
                i % 17,
                i % 100,
                i % 10,
                i % 50
            );
            out.extend_from_slice(rec.as_bytes());
            i += 1;
        }
        out.pop();
        out.push(b']');
        out
    }

    fn texts() -> Vec<(String, String, Option<String>)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for (name, path) in [
            (
                "gitleaks",
                root.join("../../shared/corpus/gitleaks_samples.jsonl"),
            ),
            (
                "noseyparker",
                root.join("../../shared/corpus/noseyparker_examples.jsonl"),
            ),
            (
                "positives",
                root.join("tests/fixtures/redact/positives.jsonl"),
            ),
            (
                "negatives",
                root.join("tests/fixtures/redact/negatives.jsonl"),
            ),
        ] {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for line in text.lines().filter(|l| l.starts_with('{')) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if let Some(t) = v["text"].as_str() {
                    let ct = v["content_type"].as_str().map(str::to_string);
                    out.push((name.to_string(), t.to_string(), ct));
                }
            }
        }
        out
    }

    fn record(out: &mut String, label: &str, r: &Redacted) {
        let _ = writeln!(out, "== {label}");
        out.push_str(&String::from_utf8_lossy(&r.body));
        out.push('\n');
        for f in &r.findings {
            let _ = writeln!(out, "  {} {:?} {}+{}", f.rule_id, f.kind, f.offset, f.len);
        }
    }

    fn form_escape(s: &str) -> String {
        let mut o = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                o.push(char::from(b));
            } else {
                let _ = write!(o, "%{b:02X}");
            }
        }
        o
    }

    /// A long body masked in one call is detected a step at a time (bounded working
    /// memory, issue 16 item 5): the same body and findings as one step over all of it,
    /// with findings and secrets on and around every step boundary.
    #[test]
    fn whole_body_in_steps_equals_one_step() {
        let r = Redactor::with_defaults().expect("compiles");
        let units: [&[u8]; 4] = [
            b"a@b.co ",
            b"token=ghp_Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0Ls2Q ",
            b"x eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlMTIz lorem ipsum ",
            b"postgres://app:Tr0ub4dor-3x@db.internal/app and some prose between ",
        ];
        let mut body = Vec::new();
        let mut i = 0usize;
        while body.len() < (3 << 20) + 12_345 {
            body.extend_from_slice(units[i % 7 % units.len()]);
            i += 1;
        }
        for step in [64 << 10, 200_000, 1 << 20] {
            let mut stepped = r.stream(ContentKind::Text, Direction::Response);
            stepped.whole_step = step;
            let mut a = Vec::new();
            let fa = stepped.whole_into(&body, &mut a);
            let mut whole = r.stream(ContentKind::Text, Direction::Response);
            whole.whole_step = usize::MAX;
            let mut b = Vec::new();
            let fb = whole.whole_into(&body, &mut b);
            assert!(fa.len() > 50_000, "{} findings", fa.len());
            assert!(a == b, "step {step}: bodies differ");
            assert!(fa == fb, "step {step}: findings differ");
        }
    }

    /// `REDACT_DUMP=/path cargo test --release -p warden --lib dump_outputs -- --ignored`
    #[test]
    #[ignore]
    fn dump_outputs() {
        let Some(path) = std::env::var_os("REDACT_DUMP") else {
            return;
        };
        let pack = RulePack::default_pack().expect("pack");
        let all_on = RedactOptions {
            enabled_rules: ["aws-arn", "aws-account-id", "s3-bucket", "gcs-bucket"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..RedactOptions::default()
        };
        let no_pii = RedactOptions {
            pii: Some(PiiSpec {
                email: false,
                phone: false,
                card: false,
                iban: false,
                ssn: false,
            }),
            ..all_on.clone()
        };
        let texts = texts();
        let mut out = String::new();
        for (oname, opts) in [("pii", &all_on), ("nopii", &no_pii)] {
            let r = Redactor::new(&pack, opts).expect("compiles");
            for (i, (src, t, ct)) in texts.iter().enumerate() {
                let kind = ct
                    .as_deref()
                    .map_or(ContentKind::Text, ContentKind::from_content_type);
                for k in [kind, ContentKind::Json] {
                    let red = r.redact(t.as_bytes(), k, Direction::Response);
                    record(&mut out, &format!("{oname} {src} {i} {k:?}"), &red);
                }
            }
            let glued_text: String = texts
                .iter()
                .map(|t| t.1.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let glued_json =
                serde_json::to_string(&texts.iter().map(|t| t.1.as_str()).collect::<Vec<_>>())
                    .expect("json");
            let glued_form: String = texts
                .iter()
                .enumerate()
                .map(|(i, t)| format!("k{i}={}", form_escape(&t.1)))
                .collect::<Vec<_>>()
                .join("&");
            let glued_nd: String = texts
                .iter()
                .map(|t| serde_json::json!({ "t": t.1 }).to_string() + "\n")
                .collect();
            for (label, body, k) in [
                ("glued text", glued_text.as_bytes(), ContentKind::Text),
                (
                    "glued text-as-json",
                    glued_text.as_bytes(),
                    ContentKind::Json,
                ),
                ("glued json", glued_json.as_bytes(), ContentKind::Json),
                ("glued form", glued_form.as_bytes(), ContentKind::Form),
                ("glued ndjson", glued_nd.as_bytes(), ContentKind::Ndjson),
            ] {
                let red = r.redact(body, k, Direction::Response);
                record(&mut out, &format!("{oname} {label}"), &red);
            }
            let dense = dense_json(1 << 20);
            let red = r.redact(&dense, ContentKind::Json, Direction::Response);
            record(&mut out, &format!("{oname} dense"), &red);
        }
        std::fs::write(path, out).expect("write dump");
    }

    /// A fixed dense workload for callgrind:
    /// `valgrind --tool=callgrind <test binary> --ignored --exact redact::tests::engine_work::time_dense`
    #[test]
    #[ignore]
    fn time_dense() {
        time_body(&dense_json(1 << 20));
    }

    /// [`time_dense`] on the bench's clean JSON (the prefilter path, no findings).
    #[test]
    #[ignore]
    fn time_clean() {
        time_body(&clean_json(1 << 20));
    }

    fn time_body(body: &[u8]) {
        let r = Redactor::with_defaults().expect("compiles");
        // Warm-up through the stream API (not `Redactor::redact`, which callgrind collects):
        // lazily built automata are then not counted.
        let mut s = r.stream(ContentKind::Json, Direction::Response);
        s.push(&body[..64 << 10]);
        s.finish();
        // `REDACT_ITERS=n` repeats the measured call (for `perf record`).
        let iters: usize = std::env::var("REDACT_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        for _ in 1..iters {
            r.redact(body, ContentKind::Json, Direction::Response);
        }
        let t = std::time::Instant::now();
        let red = r.redact(body, ContentKind::Json, Direction::Response);
        println!(
            "{} findings, {:.0} MB/s",
            red.findings.len(),
            body.len() as f64 / t.elapsed().as_secs_f64() / 1e6
        );
    }
}

#[test]
fn masking_gives_up_at_its_deadline_and_says_so() {
    let r = redactor();
    // Many anchors (one letter repeated hits keyword literals at every offset).
    let body = vec![b'A'; 1 << 20];
    let past = Some(std::time::Instant::now());
    assert_eq!(
        r.redact_within(&body, ContentKind::Text, Direction::Request, past),
        Err(DeadlinePassed)
    );
    let far = Some(std::time::Instant::now() + std::time::Duration::from_secs(600));
    let small = b"token ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1";
    let done = r
        .redact_within(small, ContentKind::Text, Direction::Request, far)
        .expect("in time");
    assert_eq!(done, r.redact(small, ContentKind::Text, Direction::Request));

    // A stream that passed its deadline says so and emits nothing more.
    let mut stream = r.stream(ContentKind::Text, Direction::Response);
    stream.set_deadline(past);
    let out = stream.push(&body);
    assert!(stream.deadline_passed());
    assert!(
        out.is_empty(),
        "an expired stream emitted {} bytes",
        out.len()
    );
}

/// Issue 16 (corpus): a quoted letters-only value under a password key is a (weak) password
/// unless it is made of placeholder words; labels, selectors and templates stay readable.
#[test]
fn weak_passwords_masked_placeholder_phrases_kept() {
    let r = redactor();
    for (text, secret) in [
        ("smtp_password = \"letmeinplease\"", "letmeinplease"),
        ("password: 'THEPASWORDZ'", "THEPASWORDZ"),
        (
            "\"RootPassword\" : \"correcthorsebattery\"",
            "correcthorsebattery",
        ),
    ] {
        let out = mask(&r, text, ContentKind::Text);
        assert!(!out.contains(secret), "{out}");
    }
    for text in [
        "password = \"your_password_here\"",
        "password = \"YourPasswordHere\"",
        "password = \"changeme\"",
        "db_password: \"MySecretPassword\"",
        "this.addPassword = \"#add-password\";",
        "passwordLabel:\"Password:\"",
        "password_encoder = bcrypt",
    ] {
        assert_eq!(mask(&r, text, ContentKind::Text), text);
    }
}

/// Issue 16 (corpus): credentials the provider defines as one string are masked whole, and
/// strict formats are masked even when they look low-entropy.
#[test]
fn whole_credentials_and_strict_formats() {
    let r = redactor();
    let key88 = format!("{}==", &"Xk9q2ZbT7vR4mW1s".repeat(6)[..86]);
    let azdo = format!("{}aQ1bAZDOx9Z2", "aQ1bW2cE3dR4".repeat(6));
    let pypi = format!(
        "pypi-AgEIcHlwaS5vcmc{}",
        "CJGQ2ZjE4NDk5LTk4MmUtNDdkZS04ZWM2".repeat(2)
    );
    for (text, gone) in [
        (
            format!("DefaultEndpointsProtocol=https;AccountName=acmestore42;AccountKey={key88};\nBlobEndpoint=https://acmestore42.blob.core.windows.net/;\n"),
            "acmestore42",
        ),
        (
            format!("HostName=hub1.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={}", &key88[..44]),
            "iothubowner",
        ),
        (format!("ado_pat: {azdo}\n"), azdo.as_str()),
        (format!("password: ${{{{ secrets.{pypi}}}}}\n"), pypi.as_str()),
        (
            "conn = \"Server=db1;User ID=svc_report; \" & \"Password =svc_report;Database=r\"".to_string(),
            "svc_report",
        ),
        (
            "const app = {\n  clientId: '8a61f9b3a7aba766c0de',\n  clientSecret: 'f3c1e9a7b2d4c6e8a0b1c3d5e7f9a2b4c6d8e0f1',\n};".to_string(),
            "8a61f9b3a7aba766c0de",
        ),
    ] {
        let out = mask(&r, &text, ContentKind::Text);
        assert!(!out.contains(gone), "{out}");
    }
    // A client id without its secret stays readable.
    let text = "GITHUB_CLIENT_ID=8a61f9b3a7aba766c0de\nREDIRECT=https://app.test/cb\n";
    assert_eq!(mask(&r, text, ContentKind::Text), text);
    // Aligned PHPMailer assignments (the host goes with the credentials, as before).
    let text = "$mail->Host       = 'smtp.corp.test';        //server\n$mail->Password   = 'Zq9!vT4wL2';   //pass\n";
    assert!(!mask(&r, text, ContentKind::Text).contains("Zq9!vT4wL2"));
}

#[test]
fn strict_provider_formats_are_masked_unless_marked() {
    let r = redactor();
    // A provider's documented layout (distinctive prefix, fixed length and charset) is a
    // credential even with digit or alphabet runs in it: only explicit markers keep it.
    let anthropic = format!(
        "sk-ant-api03-{}AA",
        &"abcdefghij0123456789-_".repeat(5)[..93]
    );
    for token in [
        anthropic.as_str(),
        "ghp_1234567890abcdefghijklmnopqrstuvwxyz",
        "npm_0123456789abcdefghijABCDEFGHIJ012345",
        "xoxb-123456789012-Xw9q7tWSXJbs1lFqKe",
        "xoxs-123456-234567-345678-0a1b2c3d4e5f6a7b8c9d",
        "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let text = format!("token = \"{token}\"\n");
        let out = mask(&r, &text, ContentKind::Text);
        assert!(!out.contains(token), "{out}");
        let out = mask(&r, token, ContentKind::Text);
        assert!(!out.contains(token), "bare: {out}");
    }
    for text in [
        "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "xoxb-0000000000-0000000000000-xxxxxxxxxxxxxxxxxxxxxxxx",
        "npm_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "sk_live_EXAMPLEabcdefghijklmnopqrstuvwxyz",
    ] {
        assert_eq!(mask(&r, text, ContentKind::Text), text);
    }
}

#[test]
fn phpmailer_docs_layout_is_one_credential() {
    let r = redactor();
    // PHPMailer's documented layout: every assignment aligned, a comment after each.
    let text = "$mail->Host       = 'smtp.corp.test';                 //Set the SMTP server\n\
                $mail->SMTPAuth   = true;                             //Enable SMTP authentication\n\
                $mail->Username   = 'svc_relay';                       //SMTP username\n\
                $mail->Password   = 'Zq9!vT4wL2';                     //SMTP password\n";
    let out = mask(&r, text, ContentKind::Text);
    for gone in ["smtp.corp.test", "svc_relay", "Zq9!vT4wL2"] {
        assert!(!out.contains(gone), "{gone}: {out}");
    }
    // A password that names where the secret lives keeps the block readable.
    for password in ["${SMTP_PASSWORD}", "<smtp password>", "********"] {
        let text = text.replace("Zq9!vT4wL2", password);
        assert_eq!(mask(&r, &text, ContentKind::Text), text);
    }
}

/// A body with findings of several rules in every 1 MiB step of the one-shot path.
fn finding_dense_body(len: usize) -> String {
    let mut body = String::with_capacity(len + 64);
    let mut i = 0usize;
    while body.len() < len {
        if i % 1000 == 999 {
            body.push_str("token ghp_9fK2lQ0xYv7TzR1mN8bC4dE6gH3jK5pW2sA1 ");
        } else {
            body.push_str(&format!("u{}@b.co ", i % 7));
        }
        i += 1;
    }
    body
}

/// The findings past the first `listed`, counted per rule as [`UnlistedFindings`] is.
fn counted(findings: &[Finding]) -> UnlistedFindings {
    let mut counts = UnlistedFindings::default();
    for f in findings {
        counts.count(&f.rule_id, 1);
    }
    counts
}

#[test]
fn limited_listing_masks_the_same_and_counts_the_rest() {
    let r = redactor();
    let text = finding_dense_body(2_500_000);
    let json = serde_json::to_string(&serde_json::json!({ "log": text })).expect("json");
    for (body, kind) in [(&text, ContentKind::Text), (&json, ContentKind::Json)] {
        let full = r.redact(body.as_bytes(), kind, Direction::Response);
        assert!(full.findings.len() > 300_000, "{kind:?}: too few findings");
        assert!(full.unlisted.is_empty());
        for limit in [0, 7, 1000] {
            let short = r.redact_listing(body.as_bytes(), kind, Direction::Response, limit);
            assert!(short.body == full.body, "{kind:?} {limit}: bodies differ");
            assert_eq!(short.findings, full.findings[..limit], "{kind:?} {limit}");
            assert_eq!(short.unlisted, counted(&full.findings[limit..]));
            assert_eq!(short.finding_count(), full.findings.len() as u64);
            assert!(short.changed());
        }
    }
}

#[test]
fn limited_body_listing_masks_the_same_and_counts_the_rest() {
    use crate::content::Declared;
    let r = redactor();
    let text = finding_dense_body(1_200_000);
    let multipart = format!(
        "--XyZ\r\ncontent-type: text/plain\r\n\r\n{}\r\n--XyZ\r\ncontent-type: text/plain\r\n\
         content-transfer-encoding: base64\r\n\r\n{}\r\n--XyZ--\r\n",
        &text[..40_000],
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &text[..30_000]),
    );
    let bodies = [
        (text.clone(), "text/plain"),
        (text.clone(), "application/octet-stream"),
        (multipart, "multipart/form-data; boundary=XyZ"),
    ];
    for (body, content_type) in &bodies {
        let declared = Declared::parse(content_type);
        let full = r.redact_body(body.as_bytes(), &declared, Direction::Response);
        assert!(
            full.findings.len() > 5000,
            "{content_type}: too few findings"
        );
        for limit in [0, 7, 1000] {
            let short = r
                .redact_body_listing_within(
                    body.as_bytes(),
                    &declared,
                    Direction::Response,
                    None,
                    limit,
                )
                .expect("no deadline");
            assert!(
                short.body == full.body,
                "{content_type} {limit}: bodies differ"
            );
            assert_eq!(short.findings, full.findings[..limit], "{content_type}");
            assert_eq!(short.unlisted, counted(&full.findings[limit..]));
            assert!(short.changed());
        }
    }
}
