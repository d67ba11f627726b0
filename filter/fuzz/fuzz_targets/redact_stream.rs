//! Streaming output and findings equal one-shot for any body and any chunking (JSON
//! and forms go through the structure layer: escapes, Kubernetes Secrets, percent-escapes).
//! Run: `cd filter/fuzz && cargo +nightly fuzz run redact_stream -- -dict=redact_stream.dict`
//! (the dictionary holds the tokens the structure layer reacts to: payload keys, data URLs,
//! escapes, Secrets).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden::redact::{ContentKind, Direction, Redactor};

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| Redactor::with_defaults().expect("default pack compiles"))
}

fuzz_target!(|data: &[u8]| {
    // First byte picks the content kind, the next 4 the chunk sizes, the rest is the body.
    if data.len() < 5 {
        return;
    }
    let kind = match data[0] % 5 {
        0 => ContentKind::Json,
        1 => ContentKind::Ndjson,
        2 => ContentKind::EventStream,
        3 => ContentKind::Form,
        _ => ContentKind::Text,
    };
    let sizes: Vec<usize> = data[1..5].iter().map(|&b| usize::from(b) + 1).collect();
    let body = &data[5..];
    let r = redactor();
    let one = r.redact(body, kind, Direction::Response);
    let mut s = r.stream(kind, Direction::Response);
    let mut out = Vec::new();
    let mut findings = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < body.len() {
        let end = (pos + sizes[i % sizes.len()]).min(body.len());
        out.extend(s.push(&body[pos..end]));
        findings.extend(s.take_findings());
        pos = end;
        i += 1;
    }
    let end = s.finish();
    out.extend(end.tail);
    findings.extend(end.findings);
    assert_eq!(out, one.body);
    assert_eq!(findings, one.findings);
});
