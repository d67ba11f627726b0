//! Adversarial bodies (issue 16, item 5): shapes built to make a pattern engine work per
//! byte — one letter repeated, one keyword repeated, every keyword of the pack repeated,
//! deep JSON, a very long string, digit runs, base64 runs, `@`-dense text — each masked in
//! one shot as the data path masks a buffered body (`Redactor::redact_listing`: the first
//! findings listed, the rest counted per rule), in a process of its own so its peak RSS is
//! its own.
//!
//! `cargo bench -p warden --bench redact_adversarial` prints one table row per shape: MB/s,
//! time relative to clean JSON of the same size, and peak RSS minus the body's size.
//! `REDACT_ADV_BYTES=...` changes the size (default 8 MiB); `REDACT_ADV_ONLY=name` runs
//! one shape.

use std::process::Command;
use std::time::Instant;

use warden::redact::{ContentKind, Direction, Redactor, RulePack};

/// Findings listed in full, as on the data path (`pipeline::body::LISTED_FINDINGS`).
const LISTED: usize = 64;

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `len` bytes of `unit` repeated, in a buffer with room for a short suffix (so the
/// shapes that append one leave no reallocated copy behind).
fn repeat(unit: &[u8], len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 64);
    v.extend(unit.iter().copied().cycle().take(len));
    v
}

/// Each unit repeated to its length, one after another, in a buffer of the total size.
fn runs(parts: &[(&[u8], usize)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.1).sum());
    for (unit, len) in parts {
        v.extend(unit.iter().copied().cycle().take(*len));
    }
    v
}

/// A small xorshift: the same "random" bodies on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn clean_json(target: usize) -> Vec<u8> {
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

/// `{"blob":"<base64 of len bytes>"}`: a payload the structure layer decodes and masks.
/// The bytes come from `fill`, a chunk at a time, encoded straight into a buffer of the
/// body's size: no temporary copy of the payload is left in the allocator to inflate the
/// peak RSS measured after it.
fn blob_body(len: usize, mut fill: impl FnMut(&mut [u8])) -> Vec<u8> {
    use base64::Engine as _;
    let mut v = Vec::with_capacity(len.div_ceil(3) * 4 + 16);
    v.extend_from_slice(b"{\"blob\":\"");
    // A multiple of 3: the chunks' encodings concatenate to the whole payload's.
    let mut chunk = [0u8; 3 * 1024];
    let mut left = len;
    while left > 0 {
        let k = left.min(chunk.len());
        fill(&mut chunk[..k]);
        let at = v.len();
        v.resize(at + k.div_ceil(3) * 4, 0);
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(&chunk[..k], &mut v[at..])
            .expect("sized for the chunk");
        v.truncate(at + n);
        left -= k;
    }
    v.extend_from_slice(b"\"}");
    v
}

fn keywords() -> Vec<String> {
    let pack = RulePack::default_pack().expect("pack");
    let mut kws: Vec<String> = Vec::new();
    for r in &pack.rules {
        kws.extend(r.keywords.iter().cloned());
        kws.extend(r.prefixes.iter().cloned());
    }
    for r in &pack.context_rules {
        kws.extend(r.keywords.iter().cloned());
    }
    kws.sort();
    kws.dedup();
    kws
}

/// Every shape: name, content kind, body of `n` bytes.
/// One adversarial shape: its name, how it is masked, and a generator of `n` bytes of it.
type Shape = (&'static str, ContentKind, fn(usize) -> Vec<u8>);

fn shapes() -> Vec<Shape> {
    vec![
        ("clean JSON (reference)", ContentKind::Json, clean_json),
        ("`A` repeated", ContentKind::Text, |n| repeat(b"A", n)),
        ("`a` repeated", ContentKind::Text, |n| repeat(b"a", n)),
        ("`A` repeated, as JSON", ContentKind::Json, |n| {
            repeat(b"A", n)
        }),
        ("`.ey` (JWT keyword) repeated", ContentKind::Text, |n| {
            repeat(b".ey", n)
        }),
        ("`kind:` repeated", ContentKind::Text, |n| {
            repeat(b"kind:=", n)
        }),
        ("`password=` repeated", ContentKind::Text, |n| {
            repeat(b"password=", n)
        }),
        ("`\"token\":\"` repeated", ContentKind::Json, |n| {
            repeat(b"\"token\":\"", n)
        }),
        ("`secret` repeated", ContentKind::Text, |n| {
            repeat(b"secret", n)
        }),
        ("`ghp_` repeated", ContentKind::Text, |n| repeat(b"ghp_", n)),
        ("`ZXlK` repeated", ContentKind::Text, |n| repeat(b"ZXlK", n)),
        ("`uid=` repeated", ContentKind::Text, |n| repeat(b"uid=", n)),
        ("`://` repeated", ContentKind::Text, |n| repeat(b"a://", n)),
        ("every keyword, one after another", ContentKind::Text, |n| {
            let all = keywords().join(" ");
            repeat(all.as_bytes(), n)
        }),
        (
            "keywords in random order (not periodic)",
            ContentKind::Text,
            |n| {
                let kws = keywords();
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
                let mut out = Vec::with_capacity(n + 64);
                while out.len() < n {
                    let k = &kws[(rng.next() % kws.len() as u64) as usize];
                    out.extend_from_slice(k.as_bytes());
                    out.extend_from_slice(&b"= :\"x1"[..(rng.next() % 6) as usize]);
                }
                out.truncate(n);
                out
            },
        ),
        (
            "JSON nested 4M deep (`[[[…]]]`)",
            ContentKind::Json,
            |n| runs(&[(b"[", n / 2), (b"]", n / 2)]),
        ),
        (
            "JSON objects nested (`{\"a\":{\"a\":…`)",
            ContentKind::Json,
            |n| runs(&[(b"{\"a\":", n - n / 6), (b"}", n / 6)]),
        ),
        ("one JSON string of 8 MiB", ContentKind::Json, |n| {
            runs(&[
                (b"{\"s\":\"", 6),
                (b"lorem ipsum dolor sit amet ", n - 8),
                (b"\"}", 2),
            ])
        }),
        (
            "base64 `blob` of 8 MiB (random bytes)",
            ContentKind::Json,
            |n| {
                let mut rng = Rng(0x5851_f42d_4c95_7f2d);
                blob_body((n - 16) / 4 * 3, |chunk| {
                    chunk.iter_mut().for_each(|b| *b = rng.next() as u8)
                })
            },
        ),
        ("base64 `blob` of 8 MiB (text)", ContentKind::Json, |n| {
            let text = b"lorem ipsum dolor sit amet ";
            let mut at = 0;
            blob_body((n - 16) / 4 * 3, |chunk| {
                for b in chunk {
                    *b = text[at % text.len()];
                    at += 1;
                }
            })
        }),
        ("digits `1 ` repeated", ContentKind::Text, |n| {
            repeat(b"1 ", n)
        }),
        ("digits `0123456789`", ContentKind::Text, |n| {
            repeat(b"0123456789", n)
        }),
        ("card-like `4111 ` repeated", ContentKind::Text, |n| {
            repeat(b"4111 ", n)
        }),
        ("random base64", ContentKind::Text, |n| {
            const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut rng = Rng(0x2545_f491_4f6c_dd1d);
            (0..n).map(|_| B64[(rng.next() % 64) as usize]).collect()
        }),
        ("base64 alphabet repeated", ContentKind::Text, |n| {
            repeat(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                n,
            )
        }),
        ("`@` repeated", ContentKind::Text, |n| repeat(b"@", n)),
        ("emails `a@b.co ` repeated", ContentKind::Text, |n| {
            repeat(b"a@b.co ", n)
        }),
        ("backslashes", ContentKind::Json, |n| repeat(b"\\", n)),
    ]
}

fn child(name: &str, n: usize) {
    let Some((_, kind, make)) = shapes().into_iter().find(|s| s.0 == name) else {
        eprintln!("unknown shape {name}");
        std::process::exit(2);
    };
    // The memory settings the `warden` binary runs with, so the peak RSS is the binary's.
    warden::configure_process_memory();
    let r = Redactor::with_defaults().expect("compiles");
    let body = make(n);
    // Warm the lazily built automata on a small piece, as a long-running service has.
    let _ = r.redact_listing(
        &body[..body.len().min(64 << 10)],
        kind,
        Direction::Response,
        LISTED,
    );
    let before = status_kib("VmRSS:");
    let t = Instant::now();
    let out = r.redact_listing(&body, kind, Direction::Response, LISTED);
    let secs = t.elapsed().as_secs_f64();
    let hwm = status_kib("VmHWM:");
    println!(
        "RESULT {secs} {} {before} {hwm} {}",
        body.len(),
        out.finding_count()
    );
}

fn main() {
    let n: usize = std::env::var("REDACT_ADV_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8 << 20);
    if let Ok(name) = std::env::var("REDACT_ADV_SHAPE") {
        child(&name, n);
        return;
    }
    let only = std::env::var("REDACT_ADV_ONLY").ok();
    let exe = std::env::current_exe().expect("own path");
    println!(
        "| shape ({} MiB each) | MB/s | × clean JSON time | peak RSS | peak RSS − body | findings |",
        n >> 20
    );
    println!("|---|---|---|---|---|---|");
    let mut clean_secs = None;
    for (name, _, _) in shapes() {
        if only.as_deref().is_some_and(|o| o != name) && clean_secs.is_some() {
            continue;
        }
        let out = Command::new(&exe)
            .env("REDACT_ADV_SHAPE", name)
            .env("REDACT_ADV_BYTES", n.to_string())
            .output()
            .expect("runs the shape in a child process");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("RESULT ")) else {
            println!(
                "| {name} | failed: {} |",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        let f: Vec<f64> = line[7..]
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let (secs, len, hwm, findings) = (f[0], f[1], f[3], f[4]);
        let clean = *clean_secs.get_or_insert(secs);
        println!(
            "| {name} | {:.0} | {:.2} | {:.0} MiB | {:.0} MiB | {findings} |",
            len / secs / 1e6,
            secs / clean,
            hwm / 1024.0,
            (hwm * 1024.0 - len) / (1 << 20) as f64,
        );
    }
}
