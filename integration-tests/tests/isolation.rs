//! One request cannot starve everyone: while two clients send bodies that are slow to
//! mask, a third client's small requests complete and succeed while both slow bodies
//! are still being masked.
//!
//! Its own test binary, so nothing else runs while it measures (Cargo runs test
//! binaries one after another; the e2e binary runs its tests in parallel).
//!
//! Before the body worker pool, masking ran on the runtime's I/O threads: two 8 MiB
//! bodies of one repeated letter (seconds of CPU each) stalled every other stream, and
//! kept computing after Envoy had given up.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use warden_integration_tests::issuer::DevIssuer;
use warden_integration_tests::metrics::Scrape;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{http1_client, Stack, StackOptions};

/// Small requests per batch.
const PROBES: usize = 20;

/// Batches tried under load: one must complete while both slow bodies are in flight.
/// (With masking on the I/O threads none can: every small request waits for a slow
/// body's masking to end.)
const ATTEMPTS: usize = 20;

/// A body that is slow to mask, within the buffered-body limit so it is masked whole:
/// the rule pack's keywords in a fixed pseudo-random order, each followed by a few
/// value-ish bytes — a keyword hit every few bytes that does not repeat, still many
/// times slower than clean text (docs/benchmarks.md "Adversarial bodies"). One letter
/// repeated was the slow case here until the engine learnt to copy periodic text.
fn slow_body() -> Vec<u8> {
    let pack = warden::redact::RulePack::default_pack().expect("the default pack parses");
    let mut keywords: Vec<String> = Vec::new();
    for rule in &pack.rules {
        keywords.extend(rule.keywords.iter().cloned());
        keywords.extend(rule.prefixes.iter().cloned());
    }
    for rule in &pack.context_rules {
        keywords.extend(rule.keywords.iter().cloned());
    }
    keywords.sort();
    keywords.dedup();
    let target = 8 * 1024 * 1024 - 4096;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::with_capacity(target + 64);
    while out.len() < target {
        let keyword = &keywords[(next() % keywords.len() as u64) as usize];
        out.extend_from_slice(keyword.as_bytes());
        out.extend_from_slice(&b" ="[..(next() % 3) as usize]);
    }
    out.truncate(target);
    out
}

/// `PROBES` sequential small requests; every one must succeed.
async fn probe(stack: &Stack) -> anyhow::Result<()> {
    let client = http1_client();
    for i in 0..PROBES {
        let response = client
            .post(stack.envoy.url("/echo"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"probe": {i}, "note": "small"}}"#))
            .send()
            .await
            .with_context(|| format!("probe {i}"))?;
        let status = response.status();
        response.bytes().await?;
        ensure!(status == 200, "probe {i} got {status}\n{}", stack.logs());
    }
    Ok(())
}

/// Warden's metrics, from its admin port.
async fn scrape(stack: &Stack) -> anyhow::Result<Scrape> {
    let text = http1_client()
        .get(format!("{}/metrics", stack.warden.admin_url()?))
        .send()
        .await?
        .text()
        .await?;
    Scrape::parse(&text)
}

/// The body worker pool's state: jobs in flight, and inspections that ran out of time
/// (every slow body ends that way, so an unchanged count means none ended).
async fn pool_state(stack: &Stack) -> anyhow::Result<(f64, f64)> {
    let scrape = scrape(stack).await?;
    Ok((
        scrape.value("warden_body_jobs", &[])?,
        scrape.value("warden_body_inspection_timeouts_total", &[])?,
    ))
}

/// One batch of small requests, sent while both slow bodies are being masked: true when
/// every request completed before either slow body's masking ended.
async fn batch_while_both_slow_bodies_run(stack: &Stack) -> anyhow::Result<bool> {
    let (jobs, timeouts) = pool_state(stack).await?;
    if jobs < 2.0 {
        return Ok(false);
    }
    probe(stack).await?;
    let (jobs_after, timeouts_after) = pool_state(stack).await?;
    Ok(jobs_after >= 2.0 && timeouts_after == timeouts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_do_not_starve_small_requests() -> anyhow::Result<()> {
    // The admin port (for /metrics) needs an identity issuer; requests need no token.
    let dir = tempfile::tempdir()?;
    let issuer = DevIssuer::start(dir.path()).await?;
    let identity = issuer
        .identity_config()
        .replace("required: true", "required: false");
    let stack = Stack::start(StackOptions {
        warden_config: format!(
            // Warden's body deadline well under the slow body's masking time (about
            // 2 s here), so the refusal never depends on how fast this machine is.
            "{identity}approvals:\n  store: sqlite://{}\n  admin: {{listen: '127.0.0.1:$ADMIN_PORT'}}\n\
             limits:\n  message_timeout_ms: 600\n",
            dir.path().join("warden.db").display()
        ),
        ..StackOptions::default()
    })
    .await?;

    // Warm up.
    probe(&stack).await?;

    // Two clients send slow-to-mask bodies back to back until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut heavy = Vec::new();
    for _ in 0..2 {
        let stop = std::sync::Arc::clone(&stop);
        let url = stack.envoy.url("/echo");
        heavy.push(tokio::spawn(async move {
            let client = http1_client();
            let body = slow_body();
            let mut answers: Vec<(u16, Duration)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let status = match client
                    .post(&url)
                    .header("content-type", "text/plain")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                };
                answers.push((status, started.elapsed()));
            }
            answers
        }));
    }
    // The load is on once Warden is masking both slow bodies.
    poll_until(
        "two slow bodies on the body worker pool",
        Duration::from_secs(30),
        || async {
            let scrape = scrape(&stack).await.ok()?;
            scrape
                .value("warden_body_jobs", &[])
                .ok()
                .filter(|jobs| *jobs >= 2.0)
        },
    )
    .await?;
    let mut overlapped = 0;
    let mut loaded = Ok(());
    for _ in 0..ATTEMPTS {
        match batch_while_both_slow_bodies_run(&stack).await {
            Ok(true) => overlapped += 1,
            Ok(false) => {}
            Err(e) => {
                loaded = Err(e);
                break;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    for task in heavy {
        answers.extend(task.await?);
    }
    // Every small request under load succeeded.
    loaded?;

    // The slow bodies failed closed, within about Envoy's 2 s message timeout (the
    // masking stopped at its deadline instead of running on for seconds).
    ensure!(!answers.is_empty(), "no slow request completed");
    for (status, took) in &answers {
        ensure!(
            *status != 200,
            "a body that could not be masked in time passed: {answers:?}"
        );
        ensure!(
            *took < Duration::from_secs(6),
            "a slow request took {took:?}: {answers:?}"
        );
    }
    // Warden stopped masking them at its deadline (a little after Envoy's, which starts
    // when Envoy sends the message): the refusals are counted.
    poll_until(
        "the slow bodies' inspections to time out",
        Duration::from_secs(10),
        || async {
            let scrape = scrape(&stack).await.ok()?;
            scrape
                .value("warden_body_inspection_timeouts_total", &[])
                .ok()
                .filter(|timeouts| *timeouts >= 1.0)
        },
    )
    .await?;
    eprintln!(
        "{overlapped} of {ATTEMPTS} batches of {PROBES} small requests completed while both \
         slow bodies were being masked; slow requests: {answers:?}"
    );
    // Small requests were not starved: some batch finished while both slow bodies were
    // still on the worker pool.
    ensure!(
        overlapped > 0,
        "no batch of small requests completed while both slow bodies were being masked\n{}",
        stack.logs()
    );
    Ok(())
}
