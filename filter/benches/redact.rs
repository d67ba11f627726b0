//! Masking engine throughput (issue 4, item 9).
//!
//! `cargo bench -p warden --bench redact` measures, on one core:
//! - clean JSON (no secrets) through `Redactor::redact_listing`, listing 64 findings in full
//!   and counting the rest, as the data path does;
//! - secret-dense JSON (a secret every ~200 bytes);
//! - the baseline: every rule's regex run over the whole body, one rule after another, as a
//!   naive scanner would; the run prints the speed-up ratio.
//!
//! RSS while streaming 1 GiB: `cargo bench -p warden --bench redact_rss`.
//! `REDACT_BENCH_PROFILE=clean|dense|clean-alone|dense-alone` masks one body 50 times and prints only its speed (for
//! `perf record`).

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use warden::redact::{ContentKind, Direction, Redactor, RulePack};

/// Realistic API-response JSON without secrets: ids, timestamps, prose, URLs, numbers.
fn clean_json(target: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(target + 512);
    out.extend_from_slice(b"[");
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
    out.extend_from_slice(b"]");
    out
}

/// JSON with a provider token, a password, an email or a card in every record.
fn dense_json(target: usize) -> Vec<u8> {
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
    out.extend_from_slice(b"[");
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
    out.extend_from_slice(b"]");
    out
}

/// The naive scanner: each rule's full regex over the whole body.
struct Baseline {
    regexes: Vec<regex_automata::meta::Regex>,
}

impl Baseline {
    fn new() -> Self {
        let pack = RulePack::default_pack().expect("pack");
        let mut regexes = Vec::new();
        for r in &pack.rules {
            let re = regex_automata::meta::Regex::builder()
                .syntax(
                    regex_automata::util::syntax::Config::new()
                        .unicode(false)
                        .utf8(false),
                )
                .configure(
                    regex_automata::meta::Regex::config()
                        .utf8_empty(false)
                        .nfa_size_limit(Some(64 << 20)),
                )
                .build(&r.regex);
            if let Ok(re) = re {
                regexes.push(re);
            }
        }
        Self { regexes }
    }

    fn count(&self, body: &[u8]) -> usize {
        self.regexes
            .iter()
            .map(|re| re.find_iter(body).count())
            .sum()
    }
}

/// Findings listed in full, as the data path lists them (the rest are counted per rule).
const LISTED: usize = 64;

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// The pattern engine alone on the raw bytes (no structure layer), for its cost.
fn engine_alone() -> Redactor {
    Redactor::new(
        &RulePack::default_pack().expect("pack"),
        &warden::redact::RedactOptions {
            structure: warden::redact::StructureOptions {
                decode: false,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("compiles")
}

fn bench(c: &mut Criterion) {
    let r = Redactor::with_defaults().expect("compiles");
    // For profiling one path alone (`perf record … --bench nomatch`): masks that body 50
    // times (`REDACT_BENCH_ROUNDS`) and prints nothing else.
    if let Ok(which) = std::env::var("REDACT_BENCH_PROFILE") {
        let body = if which.starts_with("dense") {
            dense_json(4 << 20)
        } else {
            clean_json(4 << 20)
        };
        let engine_alone = which.ends_with("alone").then(engine_alone);
        let redactor = engine_alone.as_ref().unwrap_or(&r);
        let rounds: usize = std::env::var("REDACT_BENCH_ROUNDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(50);
        let t = Instant::now();
        for _ in 0..rounds {
            redactor.redact_listing(&body, ContentKind::Json, Direction::Response, LISTED);
        }
        println!(
            "PROFILE {which} {:.0} MB/s",
            mbps(body.len() * rounds, t.elapsed().as_secs_f64())
        );
        return;
    }
    let engine_alone = engine_alone();

    let clean = clean_json(4 << 20);
    let dense = dense_json(4 << 20);
    let mut g = c.benchmark_group("redact");
    g.sample_size(10);
    for (name, body) in [("clean_json", &clean), ("dense_json", &dense)] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(BenchmarkId::new("redactor", name), body, |b, body| {
            b.iter(|| r.redact_listing(body, ContentKind::Json, Direction::Response, LISTED))
        });
    }
    let base = Baseline::new();
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_with_input(
        BenchmarkId::new("per_rule_regex_loop", "clean_json"),
        &clean,
        |b, body| b.iter(|| base.count(body)),
    );
    g.finish();

    // Plain timings for the ratio line (criterion's own report has the detail). Best of 5,
    // each side measured the same way in the same run: on a shared 2-core VM the minimum is
    // the least noisy estimate of what the code costs.
    let time = |f: &dyn Fn()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let t_clean = time(&|| {
        r.redact_listing(&clean, ContentKind::Json, Direction::Response, LISTED);
    });
    let t_dense = time(&|| {
        r.redact_listing(&dense, ContentKind::Json, Direction::Response, LISTED);
    });
    let t_base = time(&|| {
        base.count(&clean);
    });
    let t_base_dense = time(&|| {
        base.count(&dense);
    });
    let t_clean_alone = time(&|| {
        engine_alone.redact_listing(&clean, ContentKind::Json, Direction::Response, LISTED);
    });
    let t_dense_alone = time(&|| {
        engine_alone.redact_listing(&dense, ContentKind::Json, Direction::Response, LISTED);
    });
    let findings = r
        .redact(&dense, ContentKind::Json, Direction::Response)
        .findings
        .len();
    println!(
        "SUMMARY clean_json {:.0} MB/s | dense_json {:.0} MB/s ({findings} findings in {} bytes) | per-rule regex loop ({} rules) {:.1} MB/s | speed-up {:.1}x",
        mbps(clean.len(), t_clean),
        mbps(dense.len(), t_dense),
        dense.len(),
        base.regexes.len(),
        mbps(clean.len(), t_base),
        t_base / t_clean
    );
    println!(
        "SUMMARY structure layer on: clean {:.1}x, dense {:.1}x the per-rule loop (dense loop {:.1} MB/s) | engine alone: clean {:.0} MB/s, dense {:.0} MB/s | layer cost: clean +{:.0}%, dense +{:.0}%",
        t_base / t_clean,
        t_base_dense / t_dense,
        mbps(dense.len(), t_base_dense),
        mbps(clean.len(), t_clean_alone),
        mbps(dense.len(), t_dense_alone),
        (t_clean / t_clean_alone - 1.0) * 100.0,
        (t_dense / t_dense_alone - 1.0) * 100.0,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
