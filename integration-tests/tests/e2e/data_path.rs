//! Through a real Envoy: bodies of every size and framing, HTTP/1.1 and HTTP/2
//! clients, server-sent events, buffered limits, the one-round-trip fast path, and
//! Envoy → Warden over a Unix socket.

use std::time::Duration;

use anyhow::{ensure, Context};
use bytes::Bytes;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{http1_client, http2_client, Link, Stack, StackOptions};
use warden_integration_tests::upstream::{checksum, pattern_byte};

const MIB: usize = 1024 * 1024;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(pattern_byte).collect()
}

/// A request body sent without `content-length` (chunked on HTTP/1.1).
fn chunked_body(data: &[u8]) -> reqwest::Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

/// POSTs `data` to `/echo` and checks the upstream got exactly it. Returns the
/// Warden request id the upstream saw.
async fn echo(
    stack: &Stack,
    client: &reqwest::Client,
    data: &[u8],
    chunked: bool,
) -> anyhow::Result<String> {
    let request = client
        .post(stack.envoy.url("/echo"))
        .header("x-warden-request-id", "forged-by-client");
    let request = if chunked {
        request.body(chunked_body(data))
    } else {
        request.body(data.to_vec())
    };
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status == 200, "status {status}: {text}\n{}", stack.logs());
    let json: serde_json::Value = serde_json::from_str(&text)?;
    ensure!(
        json["len"] == data.len(),
        "upstream got {} bytes, sent {}",
        json["len"],
        data.len()
    );
    ensure!(
        json["checksum"].as_str() == Some(checksum(data).to_string().as_str()),
        "upstream got different bytes"
    );
    let id = json["warden_request_id"]
        .as_str()
        .context("upstream saw no x-warden-request-id")?;
    ensure!(
        id != "forged-by-client",
        "a client-set x-warden-request-id reached the upstream"
    );
    Ok(id.to_string())
}

/// GETs `/bytes/{n}` and checks the client got exactly the pattern.
async fn download(
    stack: &Stack,
    client: &reqwest::Client,
    n: usize,
    chunked: bool,
) -> anyhow::Result<()> {
    let query = if chunked { "?chunked=1" } else { "" };
    let response = client
        .get(stack.envoy.url(&format!("/bytes/{n}{query}")))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "status {}\n{}",
        response.status(),
        stack.logs()
    );
    let got = response.bytes().await?;
    ensure!(
        got.len() == n,
        "downloaded {} bytes, expected {n}",
        got.len()
    );
    ensure!(
        got.as_ref() == pattern(n).as_slice(),
        "downloaded bytes differ"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_every_size_and_framing_pass_both_ways_over_http1_and_http2() -> anyhow::Result<()>
{
    // The data path itself, without policy: the default pack reads request bodies whole
    // (up to the buffered limit), and this test streams 10 MiB bodies through.
    let stack = Stack::start(StackOptions {
        warden_config: "policy:\n  enabled: false\n".into(),
        ..StackOptions::default()
    })
    .await?;
    let mut ids = Vec::new();
    for (name, client) in [("http/1.1", http1_client()), ("h2c", http2_client())] {
        for size in [0, MIB, 10 * MIB] {
            for chunked in [false, true] {
                let data = pattern(size);
                let id = echo(&stack, &client, &data, chunked)
                    .await
                    .with_context(|| format!("{name} POST {size} bytes, chunked={chunked}"))?;
                ids.push(id);
                download(&stack, &client, size, chunked)
                    .await
                    .with_context(|| format!("{name} GET {size} bytes, chunked={chunked}"))?;
            }
        }
    }
    // Every request that reached the upstream is one Warden decided on.
    let decided = stack.warden.decided_ids();
    let seen = stack.upstream.seen();
    ensure!(
        seen.len() == 24,
        "upstream saw {} requests, expected 24",
        seen.len()
    );
    for request in &seen {
        let id = request
            .warden_request_id
            .as_deref()
            .context("request without Warden id")?;
        ensure!(
            decided.contains(id),
            "upstream saw {id}, which Warden never decided on"
        );
    }
    ids.sort();
    ids.dedup();
    ensure!(ids.len() == 12, "request ids are not unique");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_reach_the_client_before_the_stream_ends() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    for client in [http1_client(), http2_client()] {
        let mut response = client.get(stack.envoy.url("/sse?events=3")).send().await?;
        ensure!(response.status() == 200);
        let mut received = String::new();
        for i in 0..3 {
            let wanted = format!("data: event {i}\n\n");
            // The upstream sends event i+1 only after we saw event i: if anything on
            // the path buffered the stream, this would never complete.
            tokio::time::timeout(Duration::from_secs(20), async {
                while !received.contains(&wanted) {
                    let chunk = response
                        .chunk()
                        .await?
                        .with_context(|| format!("stream ended before {wanted:?}"))?;
                    received.push_str(&String::from_utf8_lossy(&chunk));
                }
                anyhow::Ok(())
            })
            .await
            .with_context(|| {
                format!(
                    "event {i} did not arrive while the stream was open\n{}",
                    stack.logs()
                )
            })??;
            if i < 2 {
                stack.upstream.release();
            }
        }
        // The stream then ends, with nothing after the last event.
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(chunk) = response.chunk().await? {
                rest.extend_from_slice(&chunk);
            }
            anyhow::Ok(())
        })
        .await
        .context("the event stream did not end")??;
        ensure!(
            !received.contains("event 3") && rest.is_empty(),
            "unexpected data after the last event: {rest:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_that_needs_no_inspection_costs_one_round_trip() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        warden_config: "inspection:\n  request_body: streamed\n  response_body: none\n\
                        masking:\n  response: false\n"
            .into(),
        ..StackOptions::default()
    })
    .await?;
    let client = http1_client();
    let sent = "http.ingress.ext_proc.stream_msgs_sent";
    let received = "http.ingress.ext_proc.stream_msgs_received";

    let before = (
        stack.envoy.stat(sent).await?,
        stack.envoy.stat(received).await?,
    );
    for _ in 0..5 {
        let response = client.get(stack.envoy.url("/echo")).send().await?;
        ensure!(response.status() == 200);
    }
    let after = (
        stack.envoy.stat(sent).await?,
        stack.envoy.stat(received).await?,
    );
    ensure!(
        after.0 - before.0 == 5 && after.1 - before.1 == 5,
        "5 GETs cost {} messages to Warden and {} back, expected 5 and 5",
        after.0 - before.0,
        after.1 - before.1
    );

    // A POST with a body does pay for its body phase: the fast path is per request.
    let before = stack.envoy.stat(sent).await?;
    echo(&stack, &client, b"{\"query\": \"select 1\"}", false).await?;
    let after = stack.envoy.stat(sent).await?;
    ensure!(after - before >= 2, "the POST body was not sent to Warden");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_bodies_over_the_limit_are_refused_and_never_reach_the_upstream(
) -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        warden_config: "inspection:\n  request_body: buffered\n  response_body: buffered\n\
                        limits:\n  max_buffered_body_bytes: 2097152\n"
            .into(),
        ..StackOptions::default()
    })
    .await?;
    let client = http1_client();
    echo(&stack, &client, &pattern(MIB), false).await?;
    echo(&stack, &client, &pattern(MIB), true).await?;

    for chunked in [false, true] {
        let data = pattern(3 * MIB);
        let request = client.post(stack.envoy.url("/echo"));
        let request = if chunked {
            request.body(chunked_body(&data))
        } else {
            request.body(data)
        };
        let response = request.send().await?;
        ensure!(
            response.status() == 413,
            "chunked={chunked}: status {}",
            response.status()
        );
        ensure!(response
            .headers()
            .get("x-warden-decision")
            .is_some_and(|v| v == "deny"));
        let json: serde_json::Value = response.json().await?;
        ensure!(json["error"]["code"] == "body_too_large", "{json}");
        ensure!(
            json["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("2097152"),
            "the reason should name the limit: {json}"
        );
    }
    ensure!(
        stack.upstream.seen().iter().all(|r| r.body_len < 2 * MIB),
        "an oversized body reached the upstream"
    );

    // Responses too large to buffer are streamed instead: inspected, never refused,
    // never passed unseen.
    download(&stack, &client, MIB, false).await?;
    download(&stack, &client, 3 * MIB, false).await?;
    download(&stack, &client, 3 * MIB, true).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_reaches_warden_over_a_unix_socket() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        link: Link::Unix,
        ..StackOptions::default()
    })
    .await?;
    for client in [http1_client(), http2_client()] {
        echo(&stack, &client, &pattern(MIB), true).await?;
        download(&stack, &client, MIB, true).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_shows_wardens_request_id_and_decision() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let id = echo(&stack, &http1_client(), b"hello", false).await?;
    let line = poll_until("the access log line", Duration::from_secs(30), || {
        let lines = stack.envoy.access_log();
        let id = id.clone();
        async move {
            lines
                .into_iter()
                .find(|l| l["warden_request_id"].as_str() == Some(id.as_str()))
        }
    })
    .await?;
    ensure!(line["warden_decision"] == "allow", "{line}");
    ensure!(line["status"] == "200" || line["status"] == 200, "{line}");
    Ok(())
}
