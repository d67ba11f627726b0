//! Fail closed: when Warden dies or stops, Envoy answers 5xx and the upstream receives
//! no request Warden did not see. Graceful shutdown lets in-flight streams finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context};
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{http1_client, http2_client, Stack, StackOptions};

/// One request's fate as the client saw it.
#[derive(Debug)]
struct Sent {
    /// The request started after Warden was dead and reaped.
    after_kill: bool,
    status: u16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_warden_while_traffic_flows_fails_closed() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions::default()).await?;
    let url = stack.envoy.url("/echo");
    let dead = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(Mutex::new(Vec::<Sent>::new()));

    let mut workers = Vec::new();
    for worker in 0..4 {
        let client = if worker % 2 == 0 {
            http1_client()
        } else {
            http2_client()
        };
        let (url, dead, stop, sent) = (url.clone(), dead.clone(), stop.clone(), sent.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let after_kill = dead.load(Ordering::SeqCst);
                let status = match client.post(&url).body(vec![b'x'; 4096]).send().await {
                    Ok(response) => response.status().as_u16(),
                    // A connection reset counts as a failure the client saw.
                    Err(_) => 599,
                };
                if let Ok(mut sent) = sent.lock() {
                    sent.push(Sent { after_kill, status });
                }
            }
        }));
    }
    let count = |pred: fn(&Sent) -> bool| {
        sent.lock()
            .map(|s| s.iter().filter(|x| pred(x)).count())
            .unwrap_or(0)
    };

    poll_until(
        "40 requests through a live Warden",
        Duration::from_secs(60),
        || async { (count(|s| s.status == 200) >= 40).then_some(()) },
    )
    .await?;
    stack.warden.process.kill_now();
    dead.store(true, Ordering::SeqCst);
    poll_until(
        "40 requests after Warden died",
        Duration::from_secs(60),
        || async { (count(|s| s.after_kill) >= 40).then_some(()) },
    )
    .await?;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await?;
    }

    let sent = sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for s in sent.iter() {
        ensure!(
            s.status == 200 || s.status >= 500,
            "unexpected status {s:?}"
        );
        ensure!(
            !s.after_kill || s.status >= 500,
            "a request passed with Warden dead: {s:?}"
        );
    }
    // Everything the upstream received, Warden had decided on first.
    let decided = stack.warden.decided_ids();
    let seen = stack.upstream.seen();
    ensure!(!seen.is_empty());
    for request in &seen {
        let id = request
            .warden_request_id
            .as_deref()
            .context("the upstream received a request without Warden's id")?;
        ensure!(
            decided.contains(id),
            "the upstream received {id}, which Warden never saw"
        );
    }
    ensure!(
        seen.len() <= sent.iter().filter(|s| !s.after_kill).count(),
        "the upstream received requests sent after Warden died"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_warden_down_nothing_reaches_the_upstream() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions::default()).await?;
    stack.warden.process.kill_now();
    for client in [http1_client(), http2_client()] {
        for path in ["/echo", "/bytes/10"] {
            let response = client
                .get(stack.envoy.url(path))
                .header("x-warden-request-id", "forged")
                .send()
                .await?;
            ensure!(
                response.status().is_server_error(),
                "{path}: {}",
                response.status()
            );
        }
    }
    ensure!(
        stack.upstream.seen().is_empty(),
        "the upstream was reached without Warden"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_streams_finish_and_refuses_new_ones() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions::default()).await?;
    let client = http2_client();
    let mut stream = client.get(stack.envoy.url("/sse?events=2")).send().await?;
    ensure!(stream.status() == 200);
    let mut received = String::new();
    while !received.contains("data: event 0\n\n") {
        let chunk = stream.chunk().await?.context("stream ended early")?;
        received.push_str(&String::from_utf8_lossy(&chunk));
    }

    // SIGTERM: Warden stops accepting connections but keeps the open stream.
    stack.warden.process.signal(libc::SIGTERM)?;
    let port = stack.warden.port;
    poll_until(
        "Warden to close its listener",
        Duration::from_secs(30),
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await?;
    stack.warden.process.ensure_running()?;

    // A new request cannot be inspected, so it fails closed.
    let refused = http1_client().get(stack.envoy.url("/echo")).send().await?;
    ensure!(
        refused.status().is_server_error(),
        "new request got {}",
        refused.status()
    );

    // The in-flight stream finishes through Warden: its last event is still processed.
    stack.upstream.release();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = stream.chunk().await? {
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
        anyhow::Ok(())
    })
    .await
    .context("the in-flight stream did not finish")??;
    ensure!(
        received.contains("data: event 1\n\n"),
        "in-flight stream was cut: {received:?}\n{}",
        stack.logs()
    );

    let status = stack
        .warden
        .process
        .wait_exit(Duration::from_secs(30))
        .await?;
    ensure!(
        status.success(),
        "Warden exited with {status}\n{}",
        stack.logs()
    );
    ensure!(
        stack.upstream.seen().iter().all(|r| r.path != "/echo"),
        "refused request reached upstream"
    );
    Ok(())
}
