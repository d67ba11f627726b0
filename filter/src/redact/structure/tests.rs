//! The structure layer through the whole redactor: what a client decodes is what is
//! masked, output stays valid, streamed equals one-shot.

use std::sync::Arc;

use base64::Engine as _;

use super::{FieldAction, FieldPath, FieldRules, PathSegment, StructureOptions};
use crate::redact::{
    ContentKind, Direction, FindingKind, RedactOptions, Redacted, Redactor, RulePack, Strategy,
};

const GHP: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";
const STRIPE: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dcQx8rNbVm";

fn redactor() -> Redactor {
    Redactor::with_defaults().expect("default pack compiles")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Masks `body` one-shot, then streamed in chunks of several sizes; all must agree.
fn masked(r: &Redactor, body: &[u8], kind: ContentKind) -> Redacted {
    let one = r.redact(body, kind, Direction::Response);
    for size in [1usize, 2, 3, 5, 7, 64, 4096] {
        let mut s = r.stream(kind, Direction::Response);
        let mut out = Vec::new();
        let mut findings = Vec::new();
        for chunk in body.chunks(size) {
            out.extend(s.push(chunk));
            findings.extend(s.take_findings());
        }
        let end = s.finish();
        out.extend(end.tail);
        findings.extend(end.findings);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&one.body),
            "{size}-byte chunks"
        );
        assert_eq!(findings, one.findings, "{size}-byte chunks");
    }
    one
}

fn json(r: &Redactor, body: &str) -> String {
    let out = masked(r, body.as_bytes(), ContentKind::Json);
    let text = String::from_utf8(out.body).expect("utf-8");
    if serde_json::from_str::<serde_json::Value>(body).is_ok() {
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("output is not JSON ({e}): {text}"));
    }
    text
}

/// Spells every character of `s` as `\uXXXX`.
fn all_escaped(s: &str) -> String {
    s.chars().map(|c| format!("\\u{:04x}", c as u32)).collect()
}

#[test]
fn json_escapes_do_not_hide_secrets() {
    let r = redactor();
    let spellings = [
        all_escaped(GHP),
        GHP.replacen('_', "\\u005f", 1),
        GHP.replacen('9', "\\u0039", 1),
        format!(
            "{}\\u00{:02X}{}",
            &GHP[..10],
            GHP.as_bytes()[10],
            &GHP[11..]
        ),
    ];
    for spelled in &spellings {
        let body = format!("{{\"note\": \"deploy with {spelled} today\"}}");
        let out = json(&r, &body);
        assert!(out.contains("[REDACTED:"), "{spelled}: {out}");
        assert!(!out.contains(&spelled[spelled.len() - 8..]), "{out}");
        assert!(
            out.contains("deploy with ") && out.contains(" today"),
            "{out}"
        );
    }
    // A URL with a password, spelled the way PHP and Go write JSON.
    let body = r#"{"dsn": "postgres:\/\/app:Tr0ub4dor-3x@db.internal\/app\u0026x=1"}"#;
    let out = json(&r, body);
    assert!(!out.contains("Tr0ub4dor"), "{out}");
    // Unmasked escapes pass on as they came.
    assert!(out.contains("\\u0026x=1"), "{out}");
}

#[test]
fn key_rules_see_the_decoded_key() {
    let r = redactor();
    for key in [
        "pass\\u0077ord",
        "\\u0070assword",
        "api\\u005fkey",
        "pass\\/word",
    ] {
        let body = format!("{{\"{key}\": \"Hunter2-Correct-Horse\", \"n\": 1}}");
        let out = json(&r, &body);
        if key.contains("\\/") {
            // `pass/word` is not a secret key name: kept.
            continue;
        }
        assert!(!out.contains("Hunter2"), "{key}: {out}");
        assert!(
            out.contains(key),
            "the key is kept as it was spelled: {out}"
        );
    }
}

#[test]
fn findings_point_at_raw_bytes() {
    let r = redactor();
    let body = format!(
        "{{\"a\":\"\\u00e9\\u00e9\",\"t\":\"{}\"}}",
        all_escaped(GHP)
    );
    let out = masked(&r, body.as_bytes(), ContentKind::Json);
    assert_eq!(out.findings.len(), 1);
    let f = &out.findings[0];
    let start = body.find("\\u0067").unwrap();
    assert_eq!(f.offset as usize, start);
    assert_eq!(f.len as usize, all_escaped(GHP).len());
}

#[test]
fn surrogate_pairs_and_control_escapes_stay_valid() {
    let r = redactor();
    let body = format!("{{\"x\": \"\\ud83d\\ude00 {GHP} \\u0000\\u001f \\ud800\"}}");
    let out = json(&r, &body);
    assert!(!out.contains(GHP), "{out}");
    assert!(
        out.starts_with("{\"x\": \"\\ud83d\\ude00 [REDACTED:"),
        "{out}"
    );
}

#[test]
fn forms_and_queries_are_percent_decoded() {
    let r = redactor();
    let encoded: String = STRIPE.bytes().map(|b| format!("%{b:02X}")).collect();
    for body in [
        format!("a=1&key={encoded}&b=2"),
        format!("a=1&key={}&b=2", STRIPE.replace('_', "%5f")),
        "password=hunter2%21horse%40x&b=2".to_string(),
    ] {
        let out = masked(&r, body.as_bytes(), ContentKind::Form);
        let text = String::from_utf8(out.body).unwrap();
        assert!(text.contains("[REDACTED:"), "{body}: {text}");
        assert!(
            text.starts_with(&body[..2]) && text.ends_with("&b=2"),
            "{text}"
        );
        assert!(
            !text.contains("4eC39Hq") && !text.contains("hunter2"),
            "{text}"
        );
    }
    // Separators spelled as escapes stay escapes: the pairs do not change.
    let body = "q=a%26b%3Dc&n=%2B1";
    let out = masked(&r, body.as_bytes(), ContentKind::Form);
    assert_eq!(out.body, body.as_bytes());
}

fn secret(kind_first: bool, extra: &str) -> String {
    let data = format!(
        "\"data\": {{\"DATABASE_URL\": \"{}\", \"STRIPE\": \"{}\", \".dockerconfigjson\": \"{}\", \"plain\": \"{}\"}}",
        b64("postgres://app:s3cr3t-pw@db/app"),
        b64(STRIPE),
        b64("{\"auths\":{\"r.io\":{\"auth\":\"dTpw\"}}}"),
        b64("hello"),
    );
    let meta = "\"metadata\": {\"name\": \"app\", \"namespace\": \"prod\"}";
    if kind_first {
        format!("{{\"kind\": \"Secret\", \"apiVersion\": \"v1\", {meta}, {data}, \"stringData\": {{\"pw\": \"plain-pw-1\"}}{extra}, \"type\": \"Opaque\"}}")
    } else {
        format!("{{\"apiVersion\": \"v1\", {data}, \"stringData\": {{\"pw\": \"plain-pw-1\"}}, {meta}{extra}, \"kind\": \"Secret\", \"type\": \"Opaque\"}}")
    }
}

fn assert_secret_masked(out: &str) {
    for value in [
        b64("postgres://app:s3cr3t-pw@db/app"),
        b64(STRIPE),
        b64("hello"),
        "plain-pw-1".into(),
    ] {
        assert!(!out.contains(&value[..8]), "{value} leaked: {out}");
    }
    for kept in [
        "DATABASE_URL",
        "STRIPE",
        ".dockerconfigjson",
        "plain",
        "\"pw\"",
        "prod",
    ] {
        assert!(out.contains(kept), "{kept} lost: {out}");
    }
    let v: serde_json::Value = serde_json::from_str(out).expect("JSON");
    let find =
        |v: &serde_json::Value| -> Option<serde_json::Value> { v.pointer("/data/plain").cloned() };
    // Data stays base64 (the object stays a valid Secret) of the marker.
    let mut stack = vec![v];
    let mut seen = false;
    while let Some(v) = stack.pop() {
        if let Some(plain) = find(&v) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(plain.as_str().unwrap())
                .unwrap();
            assert_eq!(decoded, b"[REDACTED:k8s-secret]");
            seen = true;
        }
        match v {
            serde_json::Value::Array(a) => stack.extend(a),
            serde_json::Value::Object(o) => stack.extend(o.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    assert!(seen, "{out}");
}

#[test]
fn kubernetes_secret_values_are_masked_whatever_the_member_order() {
    let r = redactor();
    for kind_first in [true, false] {
        let out = json(&r, &secret(kind_first, ""));
        assert_secret_masked(&out);
        assert!(out.contains("[REDACTED:k8s-secret]"), "stringData: {out}");
    }
}

#[test]
fn kubernetes_lists_watch_events_and_nested_documents() {
    let r = redactor();
    let item = secret(true, "");
    // SecretList items carry no kind of their own.
    let bare = item.replacen("\"kind\": \"Secret\", \"apiVersion\": \"v1\", ", "", 1);
    let bodies = [
        format!("{{\"kind\": \"SecretList\", \"apiVersion\": \"v1\", \"metadata\": {{}}, \"items\": [{bare}, {bare}]}}"),
        format!("{{\"apiVersion\": \"v1\", \"items\": [{bare}], \"kind\": \"SecretList\", \"metadata\": {{}}}}"),
        format!("{{\"kind\": \"List\", \"items\": [{item}, {}]}}", secret(false, "")),
        format!("{{\"type\": \"ADDED\", \"object\": {item}}}\n{{\"type\": \"MODIFIED\", \"object\": {}}}\n", secret(false, "")),
        format!("{{\"jsonrpc\": \"2.0\", \"result\": {{\"objects\": [{}]}}}}", secret(false, "")),
    ];
    for body in &bodies {
        let out = String::from_utf8(masked(&r, body.as_bytes(), ContentKind::Json).body).unwrap();
        for line in out.lines() {
            assert_secret_masked(line);
        }
    }
}

#[test]
fn data_of_other_objects_is_not_masked_wholesale() {
    let r = redactor();
    for body in [
        r#"{"kind": "ConfigMap", "data": {"color": "blue", "size": "large"}}"#,
        r#"{"data": {"color": "blue", "size": "large"}, "kind": "ConfigMap"}"#,
        r#"{"data": {"color": "blue", "size": "large"}}"#,
        r#"{"data": {"type": "users", "attributes": {"color": "blue"}}, "kind": "Secret"}"#,
        r#"{"kind": "ConfigMapList", "items": [{"metadata": {}, "data": {"color": "blue"}}]}"#,
    ] {
        let out = json(&r, body);
        assert!(out.contains("blue"), "{body}: {out}");
    }
}

#[test]
fn kubernetes_masking_strategy_and_switch() {
    let pack = RulePack::default_pack().unwrap();
    let hashed = Redactor::new(
        &pack,
        &RedactOptions {
            structure: StructureOptions {
                kubernetes_secrets: Some(Strategy::Hash),
                ..StructureOptions::default()
            },
            ..RedactOptions::default()
        },
    )
    .unwrap();
    let out = json(&hashed, &secret(false, ""));
    assert!(out.contains("\"pw\": \"[HASH:k8s-secret:"), "{out}");
    let off = Redactor::new(
        &pack,
        &RedactOptions {
            structure: StructureOptions {
                kubernetes_secrets: None,
                ..StructureOptions::default()
            },
            ..RedactOptions::default()
        },
    )
    .unwrap();
    let out = json(&off, &secret(false, ""));
    assert!(out.contains(&b64("hello")), "{out}");
}

#[test]
fn docker_config_auth_is_masked() {
    let r = redactor();
    let auth = b64("robot:Zx9-very-secret");
    let body = format!(
        "{{\"auths\": {{\"registry.example.com\": {{\"auth\": \"{auth}\", \"email\": \"x\"}}}}}}"
    );
    let out = json(&r, &body);
    assert!(!out.contains(&auth), "{out}");
    assert!(out.contains("registry.example.com"), "{out}");
}

#[derive(Debug)]
struct Flag;

impl FieldRules for Flag {
    fn decide(&self, path: &FieldPath<'_>) -> FieldAction {
        let segs: Vec<PathSegment<'_>> = path.segments().collect();
        let hit = path.key() == Some(b"ssn".as_slice())
            || matches!(
                segs.as_slice(),
                [
                    PathSegment::Key(b"rows"),
                    PathSegment::Index(_),
                    PathSegment::Index(1)
                ]
            );
        if hit {
            FieldAction::Mask {
                strategy: Strategy::Redact,
                label: Arc::from("field"),
            }
        } else {
            FieldAction::Scan
        }
    }
}

#[test]
fn field_rules_mask_values_by_path() {
    let r = Redactor::new(
        &RulePack::default_pack().unwrap(),
        &RedactOptions {
            structure: StructureOptions {
                field_rules: Some(Arc::new(Flag)),
                ..StructureOptions::default()
            },
            ..RedactOptions::default()
        },
    )
    .unwrap();
    let body = r#"{"people": [{"name": "Ann", "s\u0073n": "078-05-1120x"}, {"ssn": 12345, "name": "Bo"}],
        "rows": [[1, "salary-a", "x"], [2, {"v": 9}, "y"]], "ssn": {"a": [1, "b"]}}"#;
    let out = masked(&r, body.as_bytes(), ContentKind::Json);
    let text = String::from_utf8(out.body).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["people"][0]["ssn"], "[REDACTED:field]", "{text}");
    assert_eq!(v["people"][1]["ssn"], "[REDACTED:field]");
    assert_eq!(v["people"][1]["name"], "Bo");
    assert_eq!(v["rows"][0][1], "[REDACTED:field]");
    assert_eq!(v["rows"][1][1]["v"], "[REDACTED:field]");
    assert_eq!(v["rows"][1][2], "y");
    assert_eq!(v["ssn"]["a"][1], "[REDACTED:field]");
    assert!(out.findings.iter().all(|f| f.kind == FindingKind::Field));
}

#[test]
fn deep_nesting_and_long_values_stay_bounded() {
    let r = redactor();
    let depth = 10_000;
    let mut body = "[".repeat(depth);
    body.push_str(&format!("\"{}\"", all_escaped(GHP)));
    body.push_str(&"]".repeat(depth));
    let out = masked(&r, body.as_bytes(), ContentKind::Json);
    assert_eq!(out.findings.len(), 1);
    // A long Secret value streams through without being held.
    let long = "A".repeat(3 << 20);
    let body = format!("{{\"kind\":\"Secret\",\"data\":{{\"k\":\"{long}\"}}}}");
    let mut s = r.stream(ContentKind::Json, Direction::Response);
    let mut max = 0;
    for chunk in body.as_bytes().chunks(8192) {
        s.push(chunk);
        max = max.max(s.buffered());
    }
    assert!(max < 1 << 20, "held {max}");
    let end = s.finish();
    assert!(!String::from_utf8_lossy(&end.tail).contains("AAAA"));
}

#[test]
fn each_document_of_a_json_sequence_passes_on_as_soon_as_it_is_complete() {
    let r = redactor();
    let event = |i: usize| {
        format!(
            "{{\"type\":\"ADDED\",\"object\":{}}}\n",
            secret(i % 2 == 0, "")
        )
    };
    let mut s = r.stream(ContentKind::Json, Direction::Response);
    for i in 0..3 {
        let out = String::from_utf8(s.push(event(i).as_bytes())).unwrap();
        assert!(out.ends_with('}'), "event {i} held back: {out:?}");
        assert_secret_masked(&out);
    }
}

/// Whether the one-shot plain path (the engine over the body itself) reads `body`.
fn reads_as_itself(body: &[u8]) -> bool {
    super::json::JsonNormalizer::new(Arc::new(StructureOptions::default()), Arc::from(&[][..]))
        .plain_document_ends(body)
        .is_some()
}

#[test]
fn bodies_read_as_they_are_mask_as_when_read_token_by_token() {
    let r = redactor();
    let bodies = [
        // Two documents, a secret in each; a secret cut by a document's end is two halves.
        format!(r#"{{"token":"{GHP}"}}{{"note":"x {STRIPE}"}}"#),
        format!(r#"{{"x":"{}"}}{{"y":"{}"}}"#, &GHP[..14], &GHP[14..]),
        // A stray closer ends a document too; an unterminated string runs to the end.
        format!(r#"[1,2]] {{"a":"{GHP}"  "#),
        format!(r#"{{"a":"unterminated {GHP}"#),
        "{\"password\":\"hunter2hunter2\"}\n{\"email\":\"jane.doe@acme-corp.io\"}\n".to_string(),
        // Brackets inside strings are not structure.
        format!(r#"{{"a":"}}]{{[","b":"{STRIPE}"}} ["{GHP}"]"#),
        // A backslash outside strings is a scalar byte, not an escape.
        format!(r#"[1,\ "{GHP}"]"#),
        // Secrets spelled with a quote right after, scalars, nesting.
        format!(r#"[{{"k":[true,null,-1.5e3,{{"d":"{GHP}"}}]}},"{STRIPE}"]"#),
    ];
    for (i, body) in bodies.iter().enumerate() {
        assert!(reads_as_itself(body.as_bytes()), "{body}");
        let out = masked(&r, body.as_bytes(), ContentKind::Json);
        // The halves of a secret cut by a document's end are no secret (as when read
        // token by token, which `masked` compares with); every other body has one.
        assert_eq!(out.findings.is_empty(), i == 1, "{body}");
    }
    // Longer than a step: stepped detection within one document and across many.
    let mut long = String::from("[");
    let mut i = 0;
    while long.len() < (3 << 20) + 777 {
        long.push_str(&format!(
            r#"{{"id":{i},"token":"{GHP}","note":"card 4242 4242 4242 4242 and {STRIPE}"}},"#
        ));
        i += 1;
    }
    long.push_str("{}]\n");
    let many = long.replace("},{", "}\n{");
    for body in [&long, &many] {
        assert!(reads_as_itself(body.as_bytes()));
        let one = r.redact(body.as_bytes(), ContentKind::Json, Direction::Response);
        assert!(
            one.findings.len() >= 3 * i,
            "{} findings",
            one.findings.len()
        );
        for size in [4096usize, 65_536, 1_000_003] {
            let mut s = r.stream(ContentKind::Json, Direction::Response);
            let mut out = Vec::new();
            let mut findings = Vec::new();
            for chunk in body.as_bytes().chunks(size) {
                out.extend(s.push(chunk));
                findings.extend(s.take_findings());
            }
            let end = s.finish();
            out.extend(end.tail);
            findings.extend(end.findings);
            assert!(out == one.body, "{size}-byte chunks: bodies differ");
            assert!(
                findings == one.findings,
                "{size}-byte chunks: findings differ"
            );
        }
    }
    // What must be read token by token.
    for body in [
        r#"{"a":"\u0041"}"#,
        r#"{"a":"\/"}"#,
        r#"{"kind":"Secret","data":{"a":"eA=="}}"#,
        r#"{"stringData":{"a":"b"}}"#,
        r#"{"auths":{"r":{"auth":"eDp5"}}}"#,
        r#"{"blob":"QUJDREVGR0g="}"#,
        r#"{"binaryData":{"f":"x"}}"#,
    ] {
        assert!(!reads_as_itself(body.as_bytes()), "{body}");
    }
    // A payload key whose value cannot be base64 (too short, or prose) keeps the fast path.
    for body in [
        r#"{"content":"hello world, how are you"}"#,
        r#"{"blob":"QUJD"}"#,
    ] {
        assert!(reads_as_itself(body.as_bytes()), "{body}");
    }
}

/// `s` base64-encoded with line breaks every `width` characters, as JSON string content
/// (the breaks escaped, `/` escaped as PHP writes it).
fn b64_lines(s: &[u8], width: usize) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(s);
    enc.as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap().replace('/', "\\/"))
        .collect::<Vec<_>>()
        .join("\\n")
}

/// The decoded payload at `key` of the first object that has it, anywhere in `json`.
fn payload_at(json: &str, key: &str) -> Vec<u8> {
    fn find<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
        match v {
            serde_json::Value::Object(m) => m
                .get(key)
                .and_then(|x| x.as_str())
                .or_else(|| m.values().find_map(|x| find(x, key))),
            serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, key)),
            _ => None,
        }
    }
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let text = find(&v, key).expect("key present").replace('\n', "");
    let alphabet = if text.contains(['-', '_']) {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    base64::engine::GeneralPurpose::new(alphabet, config)
        .decode(&text)
        .expect("valid base64")
}

#[test]
fn base64_payloads_are_decoded_masked_and_encoded_again() {
    let r = redactor();
    let file = format!("# deploy\nSTRIPE_KEY={STRIPE}\nGITHUB_TOKEN={GHP}\nREGION=eu-west-1\n");
    let bodies = [
        // GitHub / GitLab / Gitea contents API: line breaks escaped every 60 characters.
        (
            format!(
                r#"{{"type":"file","encoding":"base64","size":{},"name":".env","content":"{}","sha":"3d21ec53a331a6f037a91c368710b99387d012c1"}}"#,
                file.len(),
                b64_lines(file.as_bytes(), 60)
            ),
            "content",
        ),
        // MCP resources/read: a blob resource.
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":3,"result":{{"contents":[{{"uri":"file:///app/.env","mimeType":"application/octet-stream","blob":"{}"}}]}}}}"#,
                b64(&file)
            ),
            "blob",
        ),
        // URL-safe, unpadded (Gmail's `raw`, JWT-style payloads).
        (
            format!(
                r#"{{"id":"18c","raw":"{}"}}"#,
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode([file.as_bytes(), &[0xfb, 0xff, 0xbf, 0x3f, 0x3e]].concat())
            ),
            "raw",
        ),
        // A suffix names it; the payload is a JSON document with a Kubernetes Secret.
        (
            format!(
                r#"{{"event":{{"data_base64":"{}"}}}}"#,
                b64(&format!(
                    r#"{{"kind":"Secret","apiVersion":"v1","metadata":{{"name":"db"}},"data":{{"url":"{}"}}}}"#,
                    b64("postgres://app:Pl4inS3cret!@db:5432/app")
                ))
            ),
            "data_base64",
        ),
        // ConfigMap binaryData: every value is a payload, whatever its key.
        (
            format!(
                r#"{{"kind":"ConfigMap","binaryData":{{"settings.bin":"{}"}}}}"#,
                b64(&file)
            ),
            "settings.bin",
        ),
    ];
    for (body, key) in &bodies {
        let out = json(&r, body);
        let decoded = payload_at(&out, key);
        let text = String::from_utf8_lossy(&decoded);
        assert!(
            !text.contains(STRIPE) && !text.contains(GHP) && !text.contains("Pl4inS3cret"),
            "{key}: {text}"
        );
        assert!(
            !out.contains(&b64(STRIPE)[..16]),
            "{key}: raw base64 of the secret left: {out}"
        );
        // A Secret's data stays base64: its marker is encoded too.
        let marker = if *key == "data_base64" {
            b64("[REDACTED:k8s-secret]")
        } else {
            "[REDACTED:".to_string()
        };
        assert!(text.contains(&marker), "{key}: {text}");
        if *key != "data_base64" {
            assert!(
                text.contains("REGION=eu-west-1"),
                "{key}: the rest of the file is kept: {text}"
            );
        }
        let one = r.redact(body.as_bytes(), ContentKind::Json, Direction::Response);
        assert!(!one.findings.is_empty(), "{key}: findings reported");
        for f in &one.findings {
            assert!(
                f.offset as usize + f.len as usize <= body.len(),
                "{key}: {f:?}"
            );
        }
    }
}

/// An AWS access key id: every character is also a base64 character.
const AKIA: &str = "AKIAZ3MSJV4WWNKWW5FQ";

#[test]
fn base64_payloads_without_secrets_and_strings_that_are_not_base64_pass_as_they_came() {
    let r = redactor();
    let clean = "just a README\nwith two lines\n";
    for body in [
        format!(
            r#"{{"content":"{}","encoding":"base64"}}"#,
            b64_lines(clean.as_bytes(), 8)
        ),
        format!(r#"{{"blob":"{}"}}"#, b64(clean)),
        r#"{"data":"aGVsbG8=","content":"ok"}"#.to_string(),
        r#"{"content":"Plain prose, not base64: QUJD / x"}"#.to_string(),
    ] {
        assert_eq!(json(&r, &body), body);
    }
    // Under a payload key but in the clear (not base64, or base64 and clear at once): read
    // as a string, so the secret is still found.
    for body in [
        format!(r#"{{"data":"{STRIPE}"}}"#),
        format!(r#"{{"content":"token {GHP} here"}}"#),
        format!(r#"{{"blob":"{AKIA}"}}"#),
        format!(r#"{{"content":"\u0020{STRIPE}"}}"#),
        format!(r#"{{"content":"QUJD\n\u0020{STRIPE}"}}"#),
        format!(r#"{{"content":"QUJD\/\t{STRIPE}"}}"#),
    ] {
        let out = json(&r, &body);
        assert!(
            !out.contains(&STRIPE[8..]) && !out.contains(&GHP[4..]) && !out.contains(AKIA),
            "{body}: {out}"
        );
    }
}

#[test]
fn a_base64_payload_longer_than_the_hold_limit_is_masked_wholesale() {
    let r = redactor();
    let big = "A".repeat(super::PAYLOAD_HOLD_LIMIT + 4);
    let body = format!(r#"{{"name":"x.bin","blob":"{big}","after":"{GHP}"}}"#);
    let one = r.redact(body.as_bytes(), ContentKind::Json, Direction::Response);
    let out = String::from_utf8(one.body.clone()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let blob = v["blob"].as_str().unwrap();
    let marker = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .expect("base64 marker");
    assert_eq!(
        marker,
        format!("[REDACTED:{}]", super::PAYLOAD_OVER_LIMIT_ID).as_bytes()
    );
    assert!(!out.contains(GHP), "what follows is still scanned");
    let mut s = r.stream(ContentKind::Json, Direction::Response);
    let mut streamed = Vec::new();
    for chunk in body.as_bytes().chunks(65_537) {
        streamed.extend(s.push(chunk));
    }
    streamed.extend(s.finish().tail);
    assert!(streamed == one.body, "streamed equals one-shot");
}

#[test]
fn data_urls_are_decoded_under_any_key_and_keep_their_header() {
    let r = redactor();
    let file = format!("API_KEY={STRIPE}\nDEBUG=false\n");
    let enc = b64(&file);
    for (url, header) in [
        (
            format!("data:text/plain;base64,{enc}"),
            "data:text/plain;base64,",
        ),
        // PHP's `\/`, an escaped first letter (a client reads `data:`), upper case.
        (
            format!("\\u0064ata:text\\/plain;charset=utf-8;base64,{enc}"),
            "data:text/plain;charset=utf-8;base64,",
        ),
        (format!("DATA:;BASE64,{enc}"), "DATA:;BASE64,"),
    ] {
        // An OpenAI input file, and a bare string in an array.
        for body in [
            format!(
                r#"{{"input":[{{"type":"input_file","filename":"a.env","file_data":"{url}"}}]}}"#
            ),
            format!(r#"["{url}", 1]"#),
        ] {
            let out = json(&r, &body);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let s = v
                .pointer("/input/0/file_data")
                .or_else(|| v.pointer("/0"))
                .and_then(|s| s.as_str())
                .expect("the URL");
            let payload = s
                .strip_prefix(header)
                .unwrap_or_else(|| panic!("{header}: {s}"));
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .expect("base64");
            let text = String::from_utf8(decoded).unwrap();
            assert!(!text.contains(STRIPE), "{text}");
            assert!(
                text.starts_with("API_KEY=[REDACTED:") && text.ends_with("DEBUG=false\n"),
                "{text}"
            );
        }
    }
    // Not base64, or nothing to mask: as they came.
    for body in [
        r#"{"u":"data:text/plain,sk_live_not_base64"}"#.to_string(),
        r#"{"u":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}"#.to_string(),
        r#"{"u":"database: primary","v":"dat","w":""}"#.to_string(),
    ] {
        assert_eq!(json(&r, &body), body);
    }
    assert!(!reads_as_itself(br#"{"u":"data:;base64,QUJD"}"#));
    assert!(reads_as_itself(br#"{"u":"database: primary"}"#));
}

#[test]
fn binary_payloads_are_searched_for_secrets_only() {
    let r = redactor();
    // A PNG whose bytes happen to spell an address and a card-like digit run: PII
    // patterns are not looked for in binary, so the image passes as it came.
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    png.extend_from_slice(b"\x00\x01jo@acme.io\x00 4242 4242 4242 4242 \x00\xff\xfe");
    let body = format!(
        r#"{{"type":"image","mimeType":"image/png","data":"{}"}}"#,
        b64_bytes(&png)
    );
    assert_eq!(json(&r, &body), body);
    // A secret inside a binary file is still masked.
    let mut elf = b"\x7fELF\x02\x01\x01\x00\x00\x00".to_vec();
    elf.extend_from_slice(format!("\x00token={GHP}\x00").as_bytes());
    let body = format!(r#"{{"blob":"{}"}}"#, b64_bytes(&elf));
    let out = json(&r, &body);
    let decoded = payload_at(&out, "blob");
    assert!(
        !String::from_utf8_lossy(&decoded).contains(&GHP[4..]),
        "{out}"
    );
}

/// Pseudo-random bytes (xorshift), the same on every run.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn long_binary_payloads_pass_as_they_came_unless_a_known_secret_is_spelled_in_them() {
    let r = redactor();
    // Random bytes whose base64 text happens to hold a token-shaped run (`EAAM` and 84
    // letters and digits: a Facebook page token's shape, as 6 MiB of random bytes spelled
    // once, between two `+`): the file decodes to bytes that hold nothing, and a marker in its base64 would
    // break it. It passes byte for byte.
    let run: String = "EAAM"
        .chars()
        .chain("Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0".chars().cycle().take(84))
        .collect();
    let mut raw = b64_bytes(&random_bytes(3 * 1024, 7));
    // Between `+`s (as base64 text has them), the run reads as a token of its own.
    raw.insert_str(2048, &format!("+{run}+++"));
    let alone = format!(r#"{{"note":"{run}"}}"#);
    assert!(
        !json(&r, &alone).contains(&run),
        "the run is a token as a string"
    );
    let body = format!(r#"{{"blob":"{raw}","mimeType":"application/octet-stream"}}"#);
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(&raw)
            .is_ok(),
        "the spliced run keeps the value base64"
    );
    assert_eq!(json(&r, &body), body);
    // Short binary payloads are still read as strings too: a token under a payload key
    // may be one.
    let short = r#"{"blob":"AKIAZ7QJ3MX5TRV2WQ4N"}"#;
    assert!(!json(&r, short).contains("AKIAZ7QJ3MX5TRV2WQ4N"), "{short}");
    // A known secret spelled in the base64 text is masked, wherever it sits.
    let known = "Zk3qWv9TnB2xLm8RpC4sYd7H";
    r.set_known_secrets(&[crate::redact::KnownSecret::new("upstream", known)])
        .expect("known secret");
    let mut raw = b64_bytes(&random_bytes(3 * 1024, 11));
    raw.insert_str(1000, known);
    let body = format!(r#"{{"blob":"{raw}"}}"#);
    let out = json(&r, &body);
    assert!(!out.contains(known), "{out}");
}

fn b64_bytes(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Found by the fuzz target: a body that ends inside a payload string (an unterminated
/// value, a cut-off response) was read by the one-shot plain walk as plain JSON, while the
/// streamed normaliser decoded the payload at the body's end and masked it.
#[test]
fn a_body_ending_inside_a_payload_is_decoded_one_shot_as_streamed() {
    let r = redactor();
    let secret = b64(&format!("STRIPE_KEY={STRIPE}\n"));
    for body in [
        format!(r#"{{"blob":"{secret}"#),
        format!(r#"[1,{{"image":"data:text/plain;base64,{secret}"#),
    ] {
        let out = masked(&r, body.as_bytes(), ContentKind::Json);
        let text = String::from_utf8_lossy(&out.body);
        assert!(!text.contains(&secret), "{text}");
        assert!(!out.findings.is_empty(), "{text}");
    }
}
