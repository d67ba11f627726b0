//! Masking through a real Envoy: upstream secrets never reach the agent and agent
//! secrets never reach the upstream — buffered, streamed, SSE, gzip, and secrets that
//! straddle chunk boundaries.

use std::io::Read;

use anyhow::{ensure, Context};
use bytes::Bytes;
use warden_integration_tests::stack::{http1_client, http2_client, Stack, StackOptions};

const GITHUB: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";
const STRIPE: &str = "sk_live_51HqZ2kLmN8pQ4rS6tU9vW1xY3zA5bC7dE";
const EMAIL: &str = "jane.doe@acme-corp.io";
const SECRETS: [&str; 3] = [GITHUB, STRIPE, EMAIL];

/// Only responses are masked, so `/reflect` returns what the test sent.
fn response_masking() -> StackOptions {
    StackOptions {
        warden_config: "masking:\n  request: false\n  response: true\n".into(),
        ..StackOptions::default()
    }
}

/// Masking on its own. With the default policy a request body is read whole before
/// anything is decided (a 10 MiB body is refused, an undecodable one denied by the
/// `unreadable-body` rule — see policy_evasion.rs); these tests are about masking.
fn masking_only() -> StackOptions {
    StackOptions {
        warden_config: "policy:\n  enabled: false\n".into(),
        ..StackOptions::default()
    }
}

/// JSON records, each carrying the secrets, `n` records long.
fn records(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"owner\": \"{EMAIL}\", \"note\": \"deploy with {GITHUB}\", \
                 \"billing\": \"{STRIPE}\", \"padding\": \"{}\"}}",
                "x".repeat(i % 97)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn assert_masked(body: &str, expect_records: Option<usize>) -> anyhow::Result<()> {
    for secret in SECRETS {
        ensure!(!body.contains(secret), "{secret} reached the client");
    }
    ensure!(
        body.contains("[REDACTED:"),
        "nothing was marked as redacted"
    );
    if let Some(n) = expect_records {
        let json: serde_json::Value =
            serde_json::from_str(body).context("masked JSON is not JSON")?;
        ensure!(json.as_array().map(Vec::len) == Some(n), "records lost");
    }
    Ok(())
}

async fn reflect(
    stack: &Stack,
    client: &reqwest::Client,
    body: String,
    headers: &[(&str, &str)],
) -> anyhow::Result<reqwest::Response> {
    let mut request = client.post(stack.envoy.url("/reflect")).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    ensure!(
        response.status() == 200,
        "status {}\n{}",
        response.status(),
        stack.logs()
    );
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_responses_are_masked_buffered_and_streamed() -> anyhow::Result<()> {
    let stack = Stack::start(response_masking()).await?;
    for client in [http1_client(), http2_client()] {
        // Known length within the limit: buffered, content-length fixed.
        let response = reflect(
            &stack,
            &client,
            records(50),
            &[("x-reflect-content-type", "application/json")],
        )
        .await?;
        let length = response.headers().get("content-length").cloned();
        let text = response.text().await?;
        assert_masked(&text, Some(50))?;
        if let Some(length) = length {
            ensure!(
                length.to_str()? == text.len().to_string(),
                "content-length not fixed"
            );
        }

        // No length, many small chunks: streamed, secrets straddle chunk boundaries.
        let body = records(400);
        let sent = "http.ingress.ext_proc.stream_msgs_sent";
        let before = stack.envoy.stat(sent).await?;
        let response = reflect(
            &stack,
            &client,
            body,
            &[
                ("x-reflect-content-type", "application/json"),
                ("x-reflect-chunk", "1013"),
            ],
        )
        .await?;
        assert_masked(&response.text().await?, Some(400))?;
        let messages = stack.envoy.stat(sent).await? - before;
        ensure!(
            messages > 3,
            "the body was not streamed in chunks ({messages} messages)"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_responses_are_decoded_masked_and_sent_plain() -> anyhow::Result<()> {
    let stack = Stack::start(response_masking()).await?;
    // reqwest here has no gzip support, so it neither asks for nor decodes gzip: what
    // it reads is exactly what Envoy delivered.
    let client = http1_client();
    let response = reflect(
        &stack,
        &client,
        records(30),
        &[
            ("x-reflect-content-type", "application/json"),
            ("x-reflect-gzip", "1"),
        ],
    )
    .await?;
    ensure!(
        response.headers().get("content-encoding").is_none(),
        "still gzip after masking"
    );
    assert_masked(&response.text().await?, Some(30))?;

    // A gzip body without secrets passes untouched, still compressed.
    let clean = "{\"status\": \"ok\"}".to_string();
    let response = reflect(
        &stack,
        &client,
        clean.clone(),
        &[
            ("x-reflect-content-type", "application/json"),
            ("x-reflect-gzip", "1"),
        ],
    )
    .await?;
    ensure!(response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(response.bytes().await?.as_ref()).read_to_string(&mut plain)?;
    ensure!(plain == clean);
    Ok(())
}

/// A buffered body with thousands of findings: Warden lists only the first few of them
/// and counts the rest per rule (its memory must not grow with the findings); every one
/// is still masked, and every one is counted in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_dense_bodies_are_masked_and_counted_in_full() -> anyhow::Result<()> {
    use std::time::Duration;
    use warden_integration_tests::metrics::Scrape;
    use warden_integration_tests::process::poll_until;

    // The admin port (for /metrics) needs an identity issuer; requests need no token.
    let dir = tempfile::tempdir()?;
    let issuer = warden_integration_tests::issuer::DevIssuer::start(dir.path()).await?;
    let identity = issuer
        .identity_config()
        .replace("required: true", "required: false");
    let stack = Stack::start(StackOptions {
        warden_config: format!(
            "{identity}masking:\n  request: false\n  response: true\n\
             approvals:\n  store: sqlite://{}\n  admin: {{listen: '127.0.0.1:$ADMIN_PORT'}}\n",
            dir.path().join("warden.db").display()
        ),
        ..StackOptions::default()
    })
    .await?;
    const EMAILS: usize = 3000;
    let mut body: String = (0..EMAILS).map(|i| format!("u{i}@b.co ")).collect();
    body.push_str(GITHUB);
    let response = reflect(
        &stack,
        &http1_client(),
        body,
        &[("x-reflect-content-type", "text/plain")],
    )
    .await?;
    // Buffered (a known length within the limit), so the one-shot path masked it.
    let length = response.headers().get("content-length").cloned();
    let text = response.text().await?;
    ensure!(
        length
            .as_ref()
            .is_some_and(|l| l.to_str().ok() == Some(text.len().to_string().as_str())),
        "not masked as a buffered body (content-length {length:?})"
    );
    ensure!(!text.contains("@b.co"), "an email reached the client");
    ensure!(!text.contains(GITHUB), "the token reached the client");
    let masked = text.matches("[REDACTED:pii-email]").count();
    ensure!(masked == EMAILS, "{masked} emails masked, not {EMAILS}");

    let metrics = format!("{}/metrics", stack.warden.admin_url()?);
    let counted = |scrape: &Scrape, rule: &str| {
        scrape.sum(
            "warden_masking_findings_total",
            &[("direction", "response"), ("rule", rule)],
        )
    };
    let scrape = poll_until(
        "the exchange's findings in the metrics",
        Duration::from_secs(30),
        || async {
            let text = http1_client()
                .get(&metrics)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let scrape = Scrape::parse(&text).ok()?;
            (counted(&scrape, "pii-email") > 0.0).then_some(scrape)
        },
    )
    .await?;
    ensure!(
        counted(&scrape, "pii-email") == EMAILS as f64,
        "pii-email findings counted: {}",
        counted(&scrape, "pii-email")
    );
    ensure!(
        scrape.sum(
            "warden_masking_findings_total",
            &[("direction", "response")]
        ) == EMAILS as f64 + 1.0,
        "findings counted in all: {}",
        scrape.sum(
            "warden_masking_findings_total",
            &[("direction", "response")]
        )
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_are_masked_event_by_event() -> anyhow::Result<()> {
    let stack = Stack::start(response_masking()).await?;
    let events: String = (0..20)
        .map(|i| format!("id: {i}\ndata: {{\"delta\": \"key {GITHUB} for {EMAIL}\"}}\n\n"))
        .collect();
    let response = reflect(
        &stack,
        &http2_client(),
        events,
        &[
            ("x-reflect-content-type", "text/event-stream"),
            ("x-reflect-chunk", "97"),
        ],
    )
    .await?;
    let text = response.text().await?;
    for secret in [GITHUB, EMAIL] {
        ensure!(!text.contains(secret), "{secret} reached the client");
    }
    ensure!(text.matches("data: ").count() == 20, "events lost: {text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_masked_before_the_upstream_sees_them() -> anyhow::Result<()> {
    let stack = Stack::start(masking_only()).await?;
    let client = http1_client();
    // Small JSON prompt (buffered), and 10 MiB with the secret at the very end, both
    // with a length (streamed: over the buffered limit) and chunked.
    let prompt = format!("{{\"prompt\": \"use {GITHUB} to push\"}}");
    // Text filler: 10 MiB of one repeated letter is a pathological input of its own
    // (a rule's literal occurs at every offset) that this test is not about.
    let mut big: Vec<u8> = b"The quick brown fox jumps over the lazy dog 0123456789. "
        .iter()
        .copied()
        .cycle()
        .take(10 * 1024 * 1024)
        .collect();
    big.extend_from_slice(format!("\ntoken={GITHUB}\n").as_bytes());
    let cases: Vec<(Vec<u8>, bool)> = vec![
        (prompt.into_bytes(), false),
        (big.clone(), false),
        (big, true),
    ];
    for (body, chunked) in cases {
        let len = body.len();
        let request = client.post(stack.envoy.url(&format!("/echo?find={GITHUB}")));
        let request = if chunked {
            let chunks: Vec<Result<Bytes, std::io::Error>> = body
                .chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        } else {
            request.body(body)
        };
        let response = request.send().await?;
        ensure!(
            response.status() == 200,
            "{len} bytes: {}\n{}",
            response.status(),
            stack.logs()
        );
        let json: serde_json::Value = response.json().await?;
        ensure!(
            json["found"] == false,
            "{len} bytes, chunked={chunked}: the upstream saw the secret"
        );
        ensure!(
            json["len"].as_u64().is_some_and(|n| n + 1000 > len as u64),
            "body lost: {json}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_cannot_be_decoded_is_refused() -> anyhow::Result<()> {
    let stack = Stack::start(masking_only()).await?;
    let response = http1_client()
        .post(stack.envoy.url("/echo"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("this is not gzip")
        .send()
        .await?;
    ensure!(response.status() == 400, "got {}", response.status());
    let json: serde_json::Value = response.json().await?;
    ensure!(json["error"]["code"] == "body_not_decodable", "{json}");
    ensure!(
        stack.upstream.seen().is_empty(),
        "an unreadable body reached the upstream"
    );
    Ok(())
}

/// Tokens in a provider's documented layout are masked even when they look like dummies
/// (digit and alphabet runs); explicit placeholders stay readable; a PHPMailer block in its
/// documented, aligned layout loses host, user and password together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dummy_looking_provider_tokens_are_masked_and_placeholders_kept() -> anyhow::Result<()> {
    let stack = Stack::start(response_masking()).await?;
    let client = http1_client();
    let anthropic = format!(
        "sk-ant-api03-{}AA",
        &"abcdefghij0123456789-_".repeat(5)[..93]
    );
    let tokens = [
        anthropic.as_str(),
        "ghp_1234567890abcdefghijklmnopqrstuvwxyz",
        "npm_0123456789abcdefghijABCDEFGHIJ012345",
        "xoxb-123456789012-Xw9q7tWSXJbs1lFqKe",
    ];
    let placeholder = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    let body = serde_json::json!({
        "tokens": tokens,
        "docs": placeholder,
    })
    .to_string();
    let response = reflect(
        &stack,
        &client,
        body,
        &[("x-reflect-content-type", "application/json")],
    )
    .await?;
    let text = response.text().await?;
    for token in tokens {
        ensure!(!text.contains(token), "{token} reached the client: {text}");
    }
    ensure!(
        text.contains(placeholder),
        "a placeholder was masked: {text}"
    );
    serde_json::from_str::<serde_json::Value>(&text).context("masked JSON is not JSON")?;

    let php = "$mail->Host       = 'smtp.corp.test';                 //Set the SMTP server\n\
               $mail->SMTPAuth   = true;                             //Enable SMTP authentication\n\
               $mail->Username   = 'svc_relay';                      //SMTP username\n\
               $mail->Password   = 'Zq9!vT4wL2';                     //SMTP password\n";
    let response = reflect(
        &stack,
        &client,
        php.to_string(),
        &[("x-reflect-content-type", "text/plain")],
    )
    .await?;
    let text = response.text().await?;
    for part in ["smtp.corp.test", "svc_relay", "Zq9!vT4wL2"] {
        ensure!(!text.contains(part), "{part} reached the client: {text}");
    }
    Ok(())
}
