//! Masking across events and in headers, through a real Envoy: a secret an LLM-shaped
//! upstream streams over several SSE events or NDJSON lines, a stream that pauses
//! mid-word, and secrets in request and response headers.

use anyhow::{ensure, Context};
use futures::StreamExt;
use warden_integration_tests::stack::{http1_client, http2_client, Stack, StackOptions};

const GITHUB: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

/// Responses masked (so `/reflect` returns what the test sent), events held back for
/// as long as a loaded machine may take between two messages of one stream.
fn streams() -> StackOptions {
    StackOptions {
        // Policy off: the bodies here are what an upstream returns, sent as a request.
        warden_config: "policy:\n  enabled: false\nmasking:\n  request: false\n  response: true\n\
                        limits:\n  event_hold_ms: 5000\n"
            .into(),
        ..StackOptions::default()
    }
}

/// `text` in `parts` pieces, cut inside the token.
fn split(text: &str, parts: usize) -> Vec<String> {
    let at = text.find(GITHUB).unwrap_or(0);
    let mut cuts = vec![0, at + 5];
    for k in 1..parts - 1 {
        cuts.push(at + 5 + k * (GITHUB.len() - 5) / (parts - 1));
    }
    cuts.push(text.len());
    cuts.windows(2)
        .map(|w| text[w[0]..w[1]].to_string())
        .collect()
}

fn openai(delta: &str) -> String {
    let data = serde_json::json!({"id": "c1", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": null}]});
    format!("data: {data}\n\n")
}

fn anthropic(delta: &str) -> String {
    let data = serde_json::json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": delta}});
    format!("event: content_block_delta\ndata: {data}\n\n")
}

fn ollama(delta: &str) -> String {
    let data = serde_json::json!({"model": "m", "message": {"role": "assistant", "content": delta}, "done": false});
    format!("{data}\n")
}

fn plain(delta: &str) -> String {
    format!("data: {delta}\n\n")
}

/// No run of 6 characters of the token (past its `ghp_` prefix) is in `text`.
fn leaked(text: &str) -> Option<&'static str> {
    GITHUB.as_bytes()[4..]
        .windows(6)
        .map(|w| std::str::from_utf8(w).unwrap_or(""))
        .find(|w| text.contains(w))
        .and_then(|w| GITHUB.find(w).map(|i| &GITHUB[i..i + 6]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_split_across_events_or_lines_is_masked() -> anyhow::Result<()> {
    let stack = Stack::start(streams()).await?;
    let text = format!("Sure! The deploy token is {GITHUB} and it is live.");
    type Render = fn(&str) -> String;
    let formats: [(&str, &str, Render); 4] = [
        ("openai", "text/event-stream", openai),
        ("anthropic", "text/event-stream", anthropic),
        ("ollama", "application/x-ndjson", ollama),
        ("plain", "text/event-stream", plain),
    ];
    for (client_name, client) in [("http/1.1", http1_client()), ("h2", http2_client())] {
        for parts in 2..=4 {
            for (name, media, render) in formats {
                let stream: String = split(&text, parts).iter().map(|d| render(d)).collect();
                let response = client
                    .post(stack.envoy.url("/reflect"))
                    .header("x-reflect-content-type", media)
                    .header("x-reflect-split", "lines")
                    .body(stream.clone())
                    .send()
                    .await?;
                ensure!(
                    response.status() == 200,
                    "{name}: {}\n{}",
                    response.status(),
                    stack.logs()
                );
                let out = response.text().await?;
                let what = format!("{client_name} {name} in {parts} events");
                ensure!(
                    leaked(&out).is_none(),
                    "{what}: {:?} leaked:\n{out}",
                    leaked(&out)
                );
                ensure!(out.contains("[REDACTED:"), "{what}: not masked:\n{out}");
                ensure!(out.contains("it is live."), "{what}: text lost:\n{out}");
                // Still well-formed: every data payload / line that was JSON still is.
                for line in out.lines() {
                    let payload = line.strip_prefix("data: ").unwrap_or(line);
                    if payload.starts_with('{') {
                        serde_json::from_str::<serde_json::Value>(payload)
                            .with_context(|| format!("{what}: not JSON: {payload}"))?;
                    }
                }
                let events = |s: &str| s.matches("data: ").count() + s.matches("\"done\"").count();
                ensure!(
                    events(&out) == events(&stream),
                    "{what}: events lost:\n{out}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_pauses_mid_word_is_not_held_up() -> anyhow::Result<()> {
    // The shipped hold: an event held back because its last word may go on goes
    // anyway when nothing follows within it.
    let stack = Stack::start(StackOptions {
        warden_config: "masking:\n  request: false\n  response: true\n".into(),
        ..StackOptions::default()
    })
    .await?;
    let stream = [openai("The answer is"), openai(" forty-two.")].concat();
    let response = http2_client()
        .post(stack.envoy.url("/reflect"))
        .header("x-reflect-content-type", "text/event-stream")
        .header("x-reflect-split", "lines")
        .header("x-reflect-gated", "1")
        .body(stream)
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "{}\n{}",
        response.status(),
        stack.logs()
    );
    // The first event's blank line is the second line: let it come.
    stack.upstream.release();
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    // The upstream sends the second event only once the test opens the gate, which
    // it does after the first event reached it: so the first came on its own.
    while !seen.contains("The answer is") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(20), body.next())
            .await
            .context("the first event never came: held back with nothing after it")?
            .context("stream ended early")??;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    ensure!(
        !seen.contains("forty-two"),
        "the second event came before the gate opened"
    );
    // Release the second event (its data line and its blank line).
    stack.upstream.release();
    stack.upstream.release();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk?));
    }
    ensure!(seen.contains(" forty-two."), "{seen}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_headers_are_masked_both_ways() -> anyhow::Result<()> {
    // Requests masked: the upstream never sees the agent's secret in a header.
    let stack = Stack::start(StackOptions {
        warden_config: "policy:\n  enabled: false\n".into(),
        ..StackOptions::default()
    })
    .await?;
    let response = http1_client()
        .get(stack.envoy.url("/headers"))
        .header("x-note", format!("deploy with {GITHUB}"))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "{}\n{}",
        response.status(),
        stack.logs()
    );
    let seen = stack.upstream.seen();
    let request = seen
        .iter()
        .find(|r| r.path == "/headers")
        .context("upstream not reached")?;
    let note = request
        .headers
        .iter()
        .find(|(n, _)| n == "x-note")
        .map(|(_, v)| v.clone())
        .context("x-note did not reach the upstream")?;
    ensure!(
        note.starts_with("deploy with [REDACTED:"),
        "upstream saw x-note: {note}"
    );
    drop(stack);

    // Responses only: the upstream sees the secret and echoes it in its headers.
    let stack = Stack::start(streams()).await?;
    for client in [http1_client(), http2_client()] {
        let response = client
            .get(stack.envoy.url("/headers"))
            .header("x-note", format!("deploy with {GITHUB}"))
            .send()
            .await?;
        ensure!(
            response.status() == 200,
            "{}\n{}",
            response.status(),
            stack.logs()
        );
        let echoed = response
            .headers()
            .get("x-echo-x-note")
            .and_then(|v| v.to_str().ok())
            .context("the upstream's echo header is missing")?
            .to_string();
        ensure!(
            echoed.starts_with("deploy with [REDACTED:"),
            "x-echo-x-note: {echoed}"
        );
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes());
            ensure!(leaked(&value).is_none(), "{name}: {value}");
        }
    }
    Ok(())
}
