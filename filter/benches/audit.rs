//! Cost of auditing per request, printed in one run.
//!
//! One typical exchange through the pipeline — an identified agent's `GET` with a query,
//! the default policy pack, a 2 KB JSON response with one secret masked — timed
//! without auditing and with it (slot reserved at the request headers, record built and
//! queued at the end). The two are run alternately in rounds, so load on the machine
//! hits both alike; the figure is the median over rounds. The queue is drained between
//! rounds (the writer's work: build the record, its JSON and SHA-256), timed on its own:
//! in Warden it runs on the writer task, off the data path. The plain variant runs the
//! same writer work between its batches, so both see the same cache disruption. Target: the data path's audit overhead ≤ 5% of the
//! request's Warden time.
//!
//! Also printed, for sizing the writer: what the writer spends per record off the data
//! path (building the record from the exchange, its JSON and SHA-256), as a share of the
//! request's Warden time.
//!
//! Run: `cargo bench -p warden --bench audit`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use warden::audit::{AuditSink, QueueFullPolicy, RecordSource};
use warden::config::BodyInspection;
use warden::http::{Headers, RequestHead, ResponseHead};
use warden::identity::{Identity, IdentityKind, IdentitySource};
use warden::masking::BinaryPolicy;
use warden::pipeline::{Exchange, MaskingSettings, Pipeline, PipelineSettings};
use warden::policy::watch::PolicyStore;
use warden::policy::Policy;
use warden::redact::Redactor;

/// Rounds of the timed comparison (`AUDIT_BENCH_ROUNDS` overrides it, e.g. a few
/// rounds under `valgrind --tool=callgrind`, which counts instructions per function).
const ROUNDS: usize = 41;
const PER_ROUND: usize = 2_000;
/// Exchanges between two writer drains.
const BATCH: usize = 25;

fn pipeline(redactor: &Arc<Redactor>) -> Pipeline {
    Pipeline::new(
        PipelineSettings {
            request_body: BodyInspection::Streamed,
            response_body: BodyInspection::Buffered,
            max_buffered_body_bytes: 1 << 20,
            masking: MaskingSettings {
                request: true,
                response: true,
                binary: BinaryPolicy::Pass,
            },
        },
        Some(Arc::clone(redactor)),
    )
    .with_policy(PolicyStore::fixed(
        Policy::builtin().expect("the default pack loads"),
    ))
}

fn identity() -> Identity {
    Identity {
        subject: "agent-build-7".into(),
        issuer: "https://issuer.example.com".into(),
        groups: vec!["agents".into(), "ci".into()],
        kind: IdentityKind::Agent,
        session_id: Some("sess-4711".into()),
        source: IdentitySource::Jwt,
        acting_for: Vec::new(),
    }
}

fn request() -> RequestHead {
    RequestHead {
        method: "GET".into(),
        scheme: "https".into(),
        authority: "orders.internal".into(),
        path: "/api/v2/orders?customer=c-1842&page=2&limit=50".into(),
        headers: [
            ("user-agent", "agent-sdk/1.4"),
            ("accept", "application/json"),
            ("x-agent-session", "sess-4711"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]
        .into_iter()
        .collect(),
    }
}

fn response_body() -> Vec<u8> {
    let mut items = Vec::new();
    for i in 0..14 {
        items.push(format!(
            "{{\"id\":\"ord-{i:05}\",\"status\":\"shipped\",\"total\":{}.{:02},\"sku\":\"SKU-{:06}\",\"note\":\"left at the door\"}}",
            40 + i * 3,
            i * 7 % 100,
            i * 7919
        ));
    }
    let body = format!(
        "{{\"orders\":[{}],\"debug\":{{\"api_key\":\"sk_live_51HqX9bK2eZvKYlo2C8aTqFcV3xYzW0\"}}}}",
        items.join(",")
    );
    body.into_bytes()
}

/// One exchange, start to end; with `audit`, the record is reserved and queued.
fn exchange(pipeline: &Pipeline, body: &[u8], audited: bool) {
    let mut exchange = Exchange::new("0192f0a4-7b1c-7d2e-9f00-1a2b3c4d5e6f");
    exchange.set_trace_parent(Some(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
    ));
    if audited && pipeline.begin_audit(&mut exchange).is_err() {
        panic!("the audit queue refused a request in the benchmark");
    }
    let outcome = pipeline
        .on_request_headers(&mut exchange, request(), true, Ok(Some(identity())))
        .expect("request headers");
    exchange.note_step(&outcome.step);
    let head = ResponseHead {
        status: 200,
        headers: [
            ("content-type", "application/json".to_string()),
            ("content-length", body.len().to_string()),
        ]
        .into_iter()
        .collect::<Headers>(),
    };
    pipeline
        .on_response_headers(&mut exchange, head, false)
        .expect("response headers");
    let outcome = pipeline
        .on_response_body(&mut exchange, body, true)
        .expect("response body");
    black_box(&outcome);
    // Both variants end the exchange as the shells do (metrics count it either way);
    // only the audited pipeline has a slot to hand the exchange over.
    pipeline.finish_audit(exchange, RecordSource::ExtProc);
}

/// One exchange without auditing (its own function so callgrind's inclusive counts
/// separate the variants).
#[inline(never)]
fn exchange_plain(pipeline: &Pipeline, body: &[u8]) {
    exchange(pipeline, body, false);
}

/// One audited exchange.
#[inline(never)]
fn exchange_audited(pipeline: &Pipeline, body: &[u8]) {
    exchange(pipeline, body, true);
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let redactor = Arc::new(Redactor::with_defaults().expect("default rules compile"));
    let plain = pipeline(&redactor);
    // Room for a whole round: the queue is drained between timed rounds, so the
    // writer's work (on its own task in Warden) does not share the timed core.
    let (sink, mut queue) = AuditSink::new(
        PER_ROUND + 16,
        QueueFullPolicy::FailClosed,
        Some(Arc::clone(&redactor)),
    );
    let audited = pipeline(&redactor).with_audit(sink);
    let body = response_body();

    // Check the exchange does what it should before timing it.
    {
        let mut probe = Exchange::new("probe");
        let outcome = plain
            .on_request_headers(&mut probe, request(), true, Ok(Some(identity())))
            .expect("request headers");
        assert!(
            matches!(outcome.step, warden::pipeline::Step::Continue(_)),
            "the benchmark request must be allowed"
        );
    }

    // The writer's work for what one round queued: build each record, its JSON and
    // SHA-256 (the chain hash), as the writer task does off the data path.
    let drain = |queue: &mut tokio::sync::mpsc::Receiver<warden::audit::PendingEntry>| {
        let start = Instant::now();
        let mut n = 0u32;
        while let Ok(pending) = queue.try_recv() {
            let entry = pending.build();
            let json = serde_json::to_vec(&entry.record).expect("record serialises");
            black_box(Sha256::digest(&json));
            n += 1;
        }
        (start.elapsed(), n)
    };
    for _ in 0..PER_ROUND / 2 {
        exchange_plain(&plain, &body);
        exchange_audited(&audited, &body);
    }
    drain(&mut queue);
    let mut writer_time = std::time::Duration::ZERO;
    let mut written = 0u32;
    let mut without = Vec::new();
    let mut with = Vec::new();
    // A finished exchange to build records from between the plain batches: the writer's
    // work runs untimed between batches in both variants, so the cache disruption it
    // causes on this one-thread bench (in Warden it runs on another core) hits both
    // alike and the difference is the data path's own cost.
    let mut probe = Exchange::new("0192f0a4-7b1c-7d2e-9f00-1a2b3c4d5e6f");
    let outcome = plain
        .on_request_headers(&mut probe, request(), true, Ok(Some(identity())))
        .expect("request headers");
    probe.note_step(&outcome.step);
    let probe = probe.into_finished();
    let writer_stand_in = || {
        for _ in 0..BATCH {
            let record = audited.audit_entry(&probe, RecordSource::ExtProc).record;
            let json = serde_json::to_vec(&record).expect("record serialises");
            black_box(Sha256::digest(&json));
        }
    };
    let rounds = std::env::var("AUDIT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(ROUNDS);
    for _ in 0..rounds {
        let mut elapsed = std::time::Duration::ZERO;
        for _ in 0..PER_ROUND / BATCH {
            let start = Instant::now();
            for _ in 0..BATCH {
                exchange_plain(&plain, &body);
            }
            elapsed += start.elapsed();
            writer_stand_in();
        }
        without.push(elapsed.as_secs_f64() * 1e6 / PER_ROUND as f64);
        // The writer keeps up in Warden: drain every few exchanges, untimed, so the
        // queue stays short as it would (and the allocator recycles as it would).
        let mut elapsed = std::time::Duration::ZERO;
        for _ in 0..PER_ROUND / BATCH {
            let start = Instant::now();
            for _ in 0..BATCH {
                exchange_audited(&audited, &body);
            }
            elapsed += start.elapsed();
            let (time, n) = drain(&mut queue);
            writer_time += time;
            written += n;
        }
        with.push(elapsed.as_secs_f64() * 1e6 / PER_ROUND as f64);
    }
    let overhead: Vec<f64> = without
        .iter()
        .zip(&with)
        .map(|(a, b)| (b - a) / a * 100.0)
        .collect();
    let base = median(without);
    let audited_us = median(with);
    let overhead = median(overhead);

    let writer_us = writer_time.as_secs_f64() * 1e6 / f64::from(written.max(1));

    println!(
        "size of an exchange: {} bytes; of what waits in the queue: {} bytes (+ its heap)",
        std::mem::size_of::<Exchange>(),
        std::mem::size_of::<warden::pipeline::FinishedExchange>()
    );
    println!("exchange: GET with query, default policy pack, 2 KB JSON response (1 secret masked)");
    println!("warden time per request, no audit:   {base:>7.2} µs (median of {rounds} rounds x {PER_ROUND})");
    println!("warden time per request, audited:    {audited_us:>7.2} µs");
    println!(
        "writer time per record (build + JSON + SHA-256, off the data path): {writer_us:.2} µs ({:.1}% of the request's Warden time)",
        writer_us / base * 100.0
    );
    println!(
        "SUMMARY audit overhead on the data path {overhead:.1}% (target <= 5%: {})",
        if overhead <= 5.0 { "met" } else { "MISSED" }
    );
    assert_eq!(
        written as usize,
        rounds * PER_ROUND,
        "every audited exchange queued its record"
    );
}
