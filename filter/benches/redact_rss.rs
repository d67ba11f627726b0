//! Streams 1 GiB of JSON (with secrets sprinkled in) through one `RedactStream` in 64 KiB
//! chunks and reports resident memory growth from /proc/self/status (target < 32 MiB).
//!
//! `cargo bench -p warden --bench redact_rss` (size override: `REDACT_RSS_BYTES=...`).

use std::time::Instant;

use warden::redact::{ContentKind, Direction, Redactor};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let total: u64 = std::env::var("REDACT_RSS_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let r = Redactor::with_defaults().expect("compiles");
    let mut chunk = Vec::with_capacity(64 * 1024);
    let mut i = 0u64;
    while chunk.len() < 64 * 1024 - 256 {
        let rec = if i % 50 == 0 {
            format!("{{\"i\":{i},\"token\":\"ghp_Zq3vN8kLm2Pw5Rt7Yx1Cb4Df6Gh9Jk0Ls2Q\"}},")
        } else {
            format!("{{\"i\":{i},\"msg\":\"streaming body record number {i} with some text\"}},")
        };
        chunk.extend_from_slice(rec.as_bytes());
        i += 1;
    }
    let mut s = r.stream(ContentKind::Json, Direction::Response);
    // Warm up so allocator and automaton caches are in the baseline.
    let _ = s.push(&chunk);
    let rss0 = status_kib("VmRSS:");
    let start = Instant::now();
    let mut fed = chunk.len() as u64;
    let mut out_bytes = 0u64;
    let mut max_buffered = 0usize;
    let mut findings = 0usize;
    while fed < total {
        let out = s.push(&chunk);
        out_bytes += out.len() as u64;
        // The pipeline drains findings into the audit log as it goes; so does this.
        findings += s.take_findings().len();
        max_buffered = max_buffered.max(s.buffered());
        fed += chunk.len() as u64;
    }
    let end = s.finish();
    out_bytes += end.tail.len() as u64;
    let secs = start.elapsed().as_secs_f64();
    let rss1 = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    println!(
        "streamed {} MiB in {:.1}s ({:.0} MB/s), out {} MiB, findings {}, max carried {} KiB",
        fed >> 20,
        secs,
        fed as f64 / secs / 1e6,
        out_bytes >> 20,
        findings + end.findings.len(),
        max_buffered / 1024
    );
    println!(
        "VmRSS before {} KiB, after {} KiB, growth {} KiB; VmHWM {} KiB",
        rss0,
        rss1,
        rss1.saturating_sub(rss0),
        hwm
    );
}
