//! Streaming equals one-shot for any chunking (bodies, findings), for every content kind.

use std::sync::OnceLock;

use proptest::prelude::*;
use warden::redact::{ContentKind, Direction, KnownSecret, Redactor};

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| {
        let r = Redactor::with_defaults().expect("compiles");
        r.set_known_secrets(&[KnownSecret::new("up", "inj3cted-Cred")])
            .expect("known");
        r
    })
}

/// Fragments that exercise every detector, glued in random order with random noise.
const PIECES: &[&str] = &[
    "ghp_Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0Ls2Q",
    "{\"password\":\"hunter2\",\"n\":1}",
    "\"api_key\": 918273645,",
    "-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA7bq0fE3dPz9wYc8Qm1L2xKfT0vR6nH5sJ4gU3yB2aZ1cV0dW\\n-----END RSA PRIVATE KEY-----",
    "postgres://app:Tr0ub4dor-3x@db.internal/app",
    "jane.doe@acme-corp.io",
    "4242 4242 4242 4242",
    "+44 20 7946 0958",
    "078-05-1120",
    "FR14 2004 1010 0505 0001 3M02 606",
    "inj3cted-Cred",
    "AKIAZ7QJ3MX5TRV2WQ4N",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl",
    "token = \"Kd8f2Lq9Zx7Vb3Nm5Hj1Tg6Rw4Ey0Uc\"",
    "data: {\"d\":\"x\"}\n\n",
    "\n",
    " ",
    "\\",
    "\"",
    "12345",
    // The structure layer: escapes (whole, split, broken), Kubernetes Secrets with
    // `kind` before and after `data`, lists, forms with percent-escapes.
    "\"t\": \"\\u0067hp_Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0Ls2Q\"",
    "{\"pass\\u0077ord\": \"hunter2-Correct\"}",
    "\\ud83d\\ude00",
    "\\ud83d",
    "\\u00",
    "\\/",
    "{\"kind\":\"Secret\",\"data\":{\"k\":\"c2VjcmV0LXZhbHVl\"}}",
    "{\"data\":{\"k\":\"c2VjcmV0LXZhbHVl\",\"j\":\"eA==\"},\"metadata\":{},",
    "\"kind\":\"Secret\"}",
    "{\"kind\":\"SecretList\",\"items\":[",
    "{\"stringData\":{\"pw\":\"plain\"}}",
    "]}",
    "{\"auths\":{\"r.io\":{\"auth\":\"dTpwYXNz\"}}}",
    "key=sk%5Flive%5F4eC39HqLyjWDarjtT1zdp7dc&",
    // Secrets written as text: YAML (raw and inside a JSON string), JSON text escaped.
    "kind: Secret\ndata:\n  DB_URL: cG9zdGdyZXM6Ly91OnBAaC9k\n  cert: |\n    QUJD\n",
    "- apiVersion: v1\n  stringData:\n    PASS: plain words\n  kind: Secret\n",
    "apiVersion: v1\\nkind: Secret\\ndata:\\n  K: c2VjcmV0\\n",
    "{\\\"kind\\\":\\\"Secret\\\",\\\"data\\\":{\\\"k\\\":\\\"dmFs\\\"}}",
    "---\n",
    "  ",
    "%4",
    "%2",
    "{",
    "[",
    "}",
    ":",
    ",",
    // Base64 payloads: a key that names one, line breaks, data URLs (whole and cut).
    "{\"content\":\"R0lUSFVCX1RPS0VOPWdocF9acTN2TjhrTG0yUHc1UnQ3WXgxQ2I0RGY2R2g5SmswTHMyUQo=\"}",
    "\"blob\":\"",
    "R0lUSFVCX1RP\\nS0VOPWdocF9a",
    "cTN2TjhrTG0yUHc1UnQ3WXgxQ2I0RGY2R2g5SmswTHMyUQo=",
    "\"data:text/plain;base64,",
    "\"\\u0064ata:;base64,",
    "{\"binaryData\":{\"f\":\"",
];

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(PIECES).prop_map(|s| s.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
            "[a-z0-9 =:\"{},]{0,12}".prop_map(String::into_bytes),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

fn kind_strategy() -> impl Strategy<Value = ContentKind> {
    prop::sample::select(vec![
        ContentKind::Json,
        ContentKind::Ndjson,
        ContentKind::EventStream,
        ContentKind::Form,
        ContentKind::Text,
    ])
}

fn streamed(
    r: &Redactor,
    body: &[u8],
    cuts: &[usize],
    kind: ContentKind,
) -> (Vec<u8>, Vec<warden::redact::Finding>) {
    let mut s = r.stream(kind, Direction::Response);
    let mut out = Vec::new();
    let mut findings = Vec::new();
    let mut prev = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        out.extend(s.push(&body[prev..c]));
        findings.extend(s.take_findings());
        prev = c;
    }
    out.extend(s.push(&body[prev..]));
    let end = s.finish();
    out.extend(end.tail);
    findings.extend(end.findings);
    (out, findings)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn stream_equals_one_shot(body in body_strategy(), cuts in prop::collection::vec(any::<usize>(), 0..12), kind in kind_strategy()) {
        let r = redactor();
        let one = r.redact(&body, kind, Direction::Response);
        let (out, findings) = streamed(r, &body, &cuts, kind);
        prop_assert_eq!(&out, &one.body);
        prop_assert_eq!(findings, one.findings);
    }
}

/// Bodies far larger than the carried tail, cut in many places, including byte by byte
/// around a secret.
#[test]
fn large_body_any_chunk_size() {
    let r = redactor();
    let mut body = Vec::new();
    for i in 0..4000 {
        body.extend_from_slice(format!("{{\"i\":{i},\"note\":\"filler text {i}\"}}\n").as_bytes());
        if i % 83 == 0 {
            body.extend_from_slice(PIECES[i % PIECES.len()].as_bytes());
        }
    }
    for kind in [ContentKind::Json, ContentKind::Ndjson, ContentKind::Text] {
        let one = r.redact(&body, kind, Direction::Response);
        assert!(one.findings.len() > 10, "{kind:?}: {}", one.findings.len());
        for chunk in [1usize, 7, 4096, 65_537] {
            let cuts: Vec<usize> = (chunk..body.len()).step_by(chunk).collect();
            let (out, findings) = streamed(r, &body, &cuts, kind);
            assert!(out == one.body, "kind {kind:?} chunk {chunk}");
            assert_eq!(findings, one.findings, "kind {kind:?} chunk {chunk}");
        }
    }
}

/// A body several times the carried tail pushed in one piece (the one-shot path scans such a
/// first chunk in place) equals the same body streamed in pieces of various sizes.
#[test]
fn huge_first_push_equals_chunked() {
    let r = redactor();
    let mut body = Vec::new();
    let mut i = 0usize;
    while body.len() < 1 << 20 {
        body.extend_from_slice(format!("{{\"i\":{i},\"t\":\"word {i} token=x\"}}\n").as_bytes());
        if i % 31 == 0 {
            body.extend_from_slice(PIECES[i % PIECES.len()].as_bytes());
        }
        i += 1;
    }
    for kind in [ContentKind::Json, ContentKind::Text, ContentKind::Form] {
        let one = r.redact(&body, kind, Direction::Response);
        assert!(one.findings.len() > 100, "{}", one.findings.len());
        for chunk in [999usize, 65_536, 300_001] {
            let cuts: Vec<usize> = (chunk..body.len()).step_by(chunk).collect();
            let (out, findings) = streamed(r, &body, &cuts, kind);
            if out != one.body {
                let d = out
                    .iter()
                    .zip(&one.body)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                let lo = d.saturating_sub(60);
                panic!(
                    "kind {kind:?} chunk {chunk} at {d}:\n{}\n----\n{}",
                    String::from_utf8_lossy(&out[lo..(d + 60).min(out.len())]),
                    String::from_utf8_lossy(&one.body[lo..(d + 60).min(one.body.len())])
                );
            }
            assert_eq!(findings, one.findings, "kind {kind:?} chunk {chunk}");
        }
    }
}
