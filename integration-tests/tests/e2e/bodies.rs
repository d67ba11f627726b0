//! Nothing passes uninspected, through a real Envoy: the body of any method without a
//! length, every frame and member of a compressed body, and bodies whose content type
//! says little or lies about them (unknown types, JSON under other names, multipart).
//!
//! Each attempt is made over HTTP/2 (h2c DATA frames, no `content-length`), chunked
//! HTTP/1.1 (in small chunks, so parts and secrets straddle them) and, where a length
//! matters, HTTP/1.1 with `content-length`. An attempt passes only if Warden answered it
//! and the upstream never saw it; the control requests prove the same requests pass
//! when harmless.

use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_integration_tests::stack::{http2_client, Flavor, Stack, StackOptions};

/// The issue's example: a risky statement the default pack holds.
const DROP: &str = r#"{"sql": "DROP TABLE customers"}"#;
/// A harmless statement the default pack allows.
const SELECT: &str = r#"{"sql": "SELECT 1"}"#;
/// A GitHub-token-shaped fake: the default masking pack masks it.
const GITHUB: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

/// How a request body travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// HTTP/1.1 with `content-length`.
    Length,
    /// HTTP/1.1 `transfer-encoding: chunked`, in chunks of this many bytes.
    Chunked(usize),
    /// HTTP/2 (h2c prior knowledge): DATA frames, no `content-length`.
    H2,
}

const FRAMINGS: [Framing; 3] = [Framing::Length, Framing::Chunked(7), Framing::H2];

/// Bytes per HTTP/2 DATA frame of a request body.
const H2_FRAME: usize = 61;

/// A response as the client saw it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn decision(&self) -> Option<&str> {
        self.header("x-warden-decision")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request through Envoy. `headers` may repeat a name; `marker` goes in
/// `x-test-case`, so the upstream's record can be searched for it.
async fn send(
    stack: &Stack,
    framing: Framing,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    marker: &str,
) -> anyhow::Result<Answer> {
    let sent = match framing {
        Framing::H2 => send_h2(stack, method, path, headers, body, marker).await,
        Framing::Length | Framing::Chunked(_) => {
            send_h1(
                stack.envoy.port,
                framing,
                method,
                path,
                headers,
                body,
                marker,
            )
            .await
        }
    };
    sent.with_context(|| format!("{method} {path} over {framing:?}"))
}

async fn send_h2(
    stack: &Stack,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    marker: &str,
) -> anyhow::Result<Answer> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    // A streamed body has no size hint: h2 DATA frames without `content-length`. Small
    // frames, so parts and secrets straddle them — but not hundreds per request: Envoy
    // sends each frame to Warden as a message of its own, and a burst of tiny gRPC DATA
    // frames exhausts the h2 server's framing-overhead budget (h2 0.4.20), which then
    // closes Envoy's connection to Warden — a limit of its own, not what this tests.
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(H2_FRAME)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut request = http2_client()
        .request(method, stack.envoy.url(path))
        .header("x-test-case", marker)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = tokio::time::timeout(Duration::from_secs(30), request.send())
        .await
        .context("no response")??;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.bytes().await?.to_vec();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Writes one HTTP/1.1 request byte for byte (repeated headers kept, chunk sizes as
/// asked) and reads the response to the end of the connection.
async fn send_h1(
    port: u16,
    framing: Framing,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    marker: &str,
) -> anyhow::Result<Answer> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\
         x-test-case: {marker}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut bytes = Vec::new();
    match framing {
        Framing::Chunked(size) => {
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            bytes.extend_from_slice(head.as_bytes());
            for chunk in body.chunks(size.max(1)) {
                bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        }
        _ => {
            head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            bytes.extend_from_slice(head.as_bytes());
            bytes.extend_from_slice(body);
        }
    }
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(&bytes).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .context("response timed out")??;
    parse_h1_response(&raw, method == "HEAD")
}

fn parse_h1_response(raw: &[u8], head_request: bool) -> anyhow::Result<Answer> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            anyhow!(
                "no complete response head in {:?}",
                String::from_utf8_lossy(raw)
            )
        })?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_request {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        ensure!(rest.len() >= size + 2, "truncated chunk");
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// The audit record of request `id`, once the writer has logged it.
async fn audit_record(stack: &Stack, id: &str) -> anyhow::Result<serde_json::Value> {
    let dir = stack.dir.path().join("audit");
    warden_integration_tests::process::poll_until(
        "the audit record",
        Duration::from_secs(30),
        || {
            let dir = dir.clone();
            async move {
                let files = std::fs::read_dir(&dir).ok()?;
                files
                    .filter_map(Result::ok)
                    .filter(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
                    .filter_map(|f| std::fs::read_to_string(f.path()).ok())
                    .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
                    .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
                    .find(|line| line["type"] == "record" && line["record"]["request_id"] == id)
                    .map(|line| line["record"].clone())
            }
        },
    )
    .await
}

/// Whether the upstream received the request tagged `marker`.
fn reached(stack: &Stack, marker: &str) -> bool {
    stack.upstream.seen().iter().any(|s| {
        s.headers
            .iter()
            .any(|(n, v)| n == "x-test-case" && v == marker)
    })
}

/// The body the upstream received for the request tagged `marker` is reported by
/// `/echo`: its length and whether it contained `find`.
fn echo_report(answer: &Answer) -> anyhow::Result<serde_json::Value> {
    serde_json::from_slice(&answer.body).with_context(|| {
        format!(
            "not the upstream's echo: {} {}",
            answer.status,
            answer.text()
        )
    })
}

/// Expects the request to have been answered by Warden with `decision` and kept from
/// the upstream.
fn expect_stopped(
    stack: &Stack,
    answer: &Answer,
    marker: &str,
    decision: &str,
    what: &str,
) -> anyhow::Result<()> {
    ensure!(
        !reached(stack, marker),
        "{what}: reached the upstream ({} {:?})\n{}",
        answer.status,
        answer.decision(),
        stack.logs()
    );
    ensure!(
        answer.decision() == Some(decision),
        "{what}: expected {decision}, got {} {:?}: {}",
        answer.status,
        answer.decision(),
        answer.text()
    );
    Ok(())
}

/// Expects the request to have reached the upstream and been answered 200.
fn expect_passed(stack: &Stack, answer: &Answer, marker: &str, what: &str) -> anyhow::Result<()> {
    ensure!(
        answer.status == 200 && reached(stack, marker),
        "{what}: expected to pass, got {} {:?}: {}\n{}",
        answer.status,
        answer.decision(),
        answer.text(),
        stack.logs()
    );
    Ok(())
}

// ---- encodings, built by hand so the test controls every byte ----------------------

/// One zstd frame holding `data` in raw (stored) blocks: single segment, 4-byte content
/// size, no checksum. Every zstd decoder reads it.
fn zstd_frame(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0b1010_0000];
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
    let mut blocks: Vec<&[u8]> = data.chunks(128 * 1024).collect();
    if blocks.is_empty() {
        blocks.push(&[]);
    }
    let count = blocks.len();
    for (i, block) in blocks.into_iter().enumerate() {
        let last = u32::from(i + 1 == count);
        let header = last | (u32::try_from(block.len()).unwrap_or(0) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(block);
    }
    out
}

/// A zstd skippable frame (decoders skip its content).
fn zstd_skippable(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x50, 0x2a, 0x4d, 0x18];
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

fn zlib(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

/// `{"token":"ghp_abc"} hello hello hello hello`, brotli-compressed (made with
/// Python's `brotli`).
const BROTLI_HEX: &str =
    "1b2a00f88dd462cd19eea437bc5eed7e8464c78a5fe9f4d52453d501b0787400189e47161a5b5a";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A multipart body: each part's header lines and bytes, then the closing delimiter.
fn multipart(boundary: &str, parts: &[(&[&str], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (headers, body) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for header in *headers {
            out.extend_from_slice(format!("{header}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Bytes that are binary by any measure: a PNG signature and header, then every byte
/// value.
fn png_bytes() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0".to_vec();
    out.extend((0..=255u8).cycle().take(2000));
    out
}

// ---- 1. any method may carry a body --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_get_delete_head_options_are_inspected_without_a_length() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let json = [("content-type", "application/json")];
    let mut n = 0;
    for method in ["GET", "DELETE", "OPTIONS", "HEAD"] {
        for framing in [Framing::H2, Framing::Chunked(5), Framing::Length] {
            n += 1;
            let marker = format!("risky-{n}");
            let answer = send(
                &stack,
                framing,
                method,
                "/api/echo",
                &json,
                DROP.as_bytes(),
                &marker,
            )
            .await?;
            expect_stopped(
                &stack,
                &answer,
                &marker,
                "hold",
                &format!("{method} {framing:?}"),
            )?;
            if framing == Framing::H2 && method != "HEAD" {
                // The audit record shows the body that was read.
                let reply: serde_json::Value = serde_json::from_slice(&answer.body)
                    .with_context(|| format!("hold reply: {}", answer.text()))?;
                let id = reply["error"]["request_id"]
                    .as_str()
                    .or_else(|| reply["request_id"].as_str())
                    .with_context(|| format!("no request id in {reply}"))?
                    .to_string();
                let record = audit_record(&stack, &id).await?;
                ensure!(
                    record["request"]["body_bytes"] == DROP.len(),
                    "{method}: the audit record does not show the body: {record}"
                );
            }

            // The same request with a harmless body goes through, body and all.
            let marker = format!("harmless-{n}");
            let answer = send(
                &stack,
                framing,
                method,
                "/api/echo",
                &json,
                SELECT.as_bytes(),
                &marker,
            )
            .await?;
            expect_passed(
                &stack,
                &answer,
                &marker,
                &format!("{method} {framing:?} harmless"),
            )?;
            let seen = stack.upstream.seen();
            let got = seen
                .iter()
                .find(|s| {
                    s.headers
                        .iter()
                        .any(|(n, v)| n == "x-test-case" && *v == marker)
                })
                .map(|s| s.body_len);
            ensure!(
                got == Some(SELECT.len()),
                "{method} {framing:?}: upstream got {got:?} bytes"
            );
        }
    }

    // The issue's reproduction, with curl.
    let output = tokio::process::Command::new("curl")
        .args([
            "--http2-prior-knowledge",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %header{x-warden-decision}",
            "-X",
            "GET",
            "-T",
            "-",
            "-H",
            "content-type: application/json",
            "-H",
            "x-test-case: curl",
        ])
        .arg(stack.envoy.url("/api/echo"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("curl must be installed for this test")?;
    let mut child = output;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(DROP.as_bytes()).await?;
    }
    let output = child.wait_with_output().await?;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(output.status.success(), "curl failed: {printed}");
    ensure!(
        !reached(&stack, "curl"),
        "curl's GET body reached the upstream: {printed}"
    );
    ensure!(printed.ends_with(" hold"), "curl: {printed}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_body_still_costs_one_round_trip() -> anyhow::Result<()> {
    // The default pack reads every request body; a request that has none must not pay
    // for a body phase: Envoy says end-of-stream on its headers.
    let stack = Stack::start(StackOptions {
        warden_config: "inspection:\n  response_body: none\nmasking:\n  response: false\n".into(),
        ..StackOptions::default()
    })
    .await?;
    let sent = "http.ingress.ext_proc.stream_msgs_sent";
    for (name, client) in [
        ("http/1.1", warden_integration_tests::stack::http1_client()),
        ("h2c", http2_client()),
    ] {
        for method in ["GET", "DELETE", "HEAD", "OPTIONS"] {
            let before = stack.envoy.stat(sent).await?;
            let response = client
                .request(
                    reqwest::Method::from_bytes(method.as_bytes())?,
                    stack.envoy.url("/echo"),
                )
                .send()
                .await?;
            ensure!(
                response.status() == 200,
                "{name} {method}: {}",
                response.status()
            );
            let messages = stack.envoy.stat(sent).await? - before;
            ensure!(
                messages == 1,
                "{name} {method} without a body cost {messages} messages to Warden, expected 1"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_authz_reads_the_body_of_a_get_and_passes_a_get_without_one() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        flavor: Flavor::ExtAuthz,
        ..StackOptions::default()
    })
    .await?;
    let json = [("content-type", "application/json")];
    for (i, framing) in FRAMINGS.into_iter().enumerate() {
        let marker = format!("authz-risky-{i}");
        let answer = send(
            &stack,
            framing,
            "GET",
            "/api/echo",
            &json,
            DROP.as_bytes(),
            &marker,
        )
        .await?;
        expect_stopped(
            &stack,
            &answer,
            &marker,
            "hold",
            &format!("ext_authz GET {framing:?}"),
        )?;
    }
    // A body whose label says nothing (read by its bytes), and a real binary upload.
    let octets = [("content-type", "application/octet-stream")];
    for (i, framing) in FRAMINGS.into_iter().enumerate() {
        let marker = format!("authz-octets-{i}");
        let answer = send(
            &stack,
            framing,
            "POST",
            "/db/query",
            &octets,
            DROP.as_bytes(),
            &marker,
        )
        .await?;
        expect_stopped(
            &stack,
            &answer,
            &marker,
            "hold",
            &format!("ext_authz octets {framing:?}"),
        )?;
        let marker = format!("authz-binary-{i}");
        let answer = send(
            &stack,
            framing,
            "POST",
            "/upload",
            &octets,
            &png_bytes(),
            &marker,
        )
        .await?;
        expect_passed(
            &stack,
            &answer,
            &marker,
            &format!("ext_authz binary {framing:?}"),
        )?;
    }
    for (name, client) in [
        ("http/1.1", warden_integration_tests::stack::http1_client()),
        ("h2c", http2_client()),
    ] {
        for method in ["GET", "DELETE", "OPTIONS"] {
            let response = client
                .request(
                    reqwest::Method::from_bytes(method.as_bytes())?,
                    stack.envoy.url("/echo"),
                )
                .send()
                .await?;
            ensure!(
                response.status() == 200,
                "ext_authz {name} {method} without a body: {}\n{}",
                response.status(),
                stack.logs()
            );
        }
    }
    Ok(())
}

// ---- 2. every frame and member of a compressed body ---------------------------------

/// What is tried, the request headers, the body, and the decision expected.
type EncodedCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_of_a_compressed_body_is_read_for_policy() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let sql = "application/sql";
    let two_frames = [
        zstd_frame(b"SELECT 1;"),
        zstd_frame(b" DROP TABLE customers"),
    ]
    .concat();
    let with_skippable = [
        zstd_frame(b"SELECT 1;"),
        zstd_skippable(b"ignored by every decoder"),
        zstd_frame(b" DROP TABLE customers"),
    ]
    .concat();
    let gzip_members = [gzip(b"SELECT 1;")?, gzip(b" DROP TABLE customers")?].concat();
    let cases: Vec<EncodedCase> = vec![
        (
            "zstd, two frames",
            vec![("content-type", sql), ("content-encoding", "zstd")],
            two_frames.clone(),
            "hold",
        ),
        (
            "zstd, a skippable frame between",
            vec![("content-type", sql), ("content-encoding", "zstd")],
            with_skippable,
            "hold",
        ),
        (
            "zstd inside gzip",
            vec![("content-type", sql), ("content-encoding", "zstd, gzip")],
            gzip(&two_frames)?,
            "hold",
        ),
        (
            "encodings split over two headers",
            vec![
                ("content-type", sql),
                ("content-encoding", "identity"),
                ("content-encoding", "zstd"),
            ],
            two_frames.clone(),
            "hold",
        ),
        (
            "gzip, two members",
            vec![("content-type", sql), ("content-encoding", "gzip")],
            gzip_members,
            "hold",
        ),
        (
            "zstd with garbage after the frame",
            vec![("content-type", sql), ("content-encoding", "zstd")],
            [zstd_frame(b"SELECT 1;"), b" DROP TABLE customers".to_vec()].concat(),
            "deny",
        ),
        (
            "gzip with garbage after the member",
            vec![("content-type", sql), ("content-encoding", "gzip")],
            [gzip(b"SELECT 1;")?, b" DROP TABLE customers".to_vec()].concat(),
            "deny",
        ),
        (
            "deflate with garbage after the stream",
            vec![("content-type", sql), ("content-encoding", "deflate")],
            [zlib(b"SELECT 1;")?, b" DROP TABLE customers".to_vec()].concat(),
            "deny",
        ),
        (
            "br with garbage after the stream",
            vec![("content-type", "text/plain"), ("content-encoding", "br")],
            [unhex(BROTLI_HEX), b" DROP TABLE customers".to_vec()].concat(),
            "deny",
        ),
    ];
    let mut n = 0;
    for (name, headers, body, decision) in &cases {
        for framing in FRAMINGS {
            n += 1;
            let marker = format!("encoded-{n}");
            let answer = send(&stack, framing, "POST", "/db/query", headers, body, &marker).await?;
            expect_stopped(
                &stack,
                &answer,
                &marker,
                decision,
                &format!("{name}, {framing:?}"),
            )?;
        }
    }
    // Control: one harmless frame passes.
    let marker = "encoded-control";
    let answer = send(
        &stack,
        Framing::H2,
        "POST",
        "/db/query",
        &[("content-type", sql), ("content-encoding", "zstd")],
        &[zstd_frame(b"SELECT 1;"), zstd_frame(b" SELECT 2;")].concat(),
        marker,
    )
    .await?;
    expect_passed(&stack, &answer, marker, "two harmless zstd frames")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_of_a_compressed_body_is_masked_both_ways() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        warden_config: "policy:\n  enabled: false\n".into(),
        ..StackOptions::default()
    })
    .await?;
    // Raw zstd blocks hold their bytes as they are, so the token is findable in the
    // encoded body: the upstream's `find` and the client see it unless it was masked.
    let json = format!("{{\"note\": \"first frame\", \"deploy\": \"{GITHUB}\"}}");
    let (first, second) = json.split_at(20);
    let frames = [zstd_frame(first.as_bytes()), zstd_frame(second.as_bytes())].concat();

    // Request: the second frame's token must not reach the upstream.
    for (i, framing) in FRAMINGS.into_iter().enumerate() {
        let marker = format!("zstd-request-{i}");
        let answer = send(
            &stack,
            framing,
            "POST",
            &format!("/echo?find={GITHUB}"),
            &[
                ("content-type", "application/json"),
                ("content-encoding", "zstd"),
            ],
            &frames,
            &marker,
        )
        .await?;
        ensure!(
            answer.status == 200,
            "{framing:?}: {} {}\n{}",
            answer.status,
            answer.text(),
            stack.logs()
        );
        let report = echo_report(&answer)?;
        ensure!(
            report["found"] == false,
            "{framing:?}: the token in the second frame reached the upstream"
        );
    }

    // Response: the same frames sent back by the upstream, labelled zstd.
    for (i, framing) in [Framing::Length, Framing::H2].into_iter().enumerate() {
        let marker = format!("zstd-response-{i}");
        let answer = send(
            &stack,
            framing,
            "POST",
            "/reflect",
            &[
                ("content-type", "application/octet-stream"),
                ("x-reflect-content-type", "application/json"),
                ("x-reflect-content-encoding", "zstd"),
            ],
            &frames,
            &marker,
        )
        .await?;
        ensure!(
            answer.status == 200,
            "{framing:?}: {} {}",
            answer.status,
            answer.text()
        );
        let text = answer.text();
        ensure!(
            !text.contains(GITHUB),
            "{framing:?}: the token in the second frame reached the client"
        );
        ensure!(
            text.contains("[REDACTED:"),
            "{framing:?}: nothing masked: {text:?}"
        );
        ensure!(
            answer.header("content-encoding").is_none(),
            "{framing:?}: still labelled zstd"
        );
    }
    Ok(())
}

// ---- 3. the bytes decide, not the label ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_under_any_content_type_is_read_for_policy() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let types = [
        "application/x-json",
        "application/json-rpc",
        "application/octet-stream",
        "text/plain; charset=utf-8",
        "application/vnd.acme.query",
        "image/png",
    ];
    let mut n = 0;
    for content_type in types {
        for framing in FRAMINGS {
            n += 1;
            let headers = [("content-type", content_type)];
            let marker = format!("typed-{n}");
            let answer = send(
                &stack,
                framing,
                "POST",
                "/db/query",
                &headers,
                DROP.as_bytes(),
                &marker,
            )
            .await?;
            expect_stopped(
                &stack,
                &answer,
                &marker,
                "hold",
                &format!("{content_type}, {framing:?}"),
            )?;
            let marker = format!("typed-control-{n}");
            let answer = send(
                &stack,
                framing,
                "POST",
                "/db/query",
                &headers,
                SELECT.as_bytes(),
                &marker,
            )
            .await?;
            expect_passed(
                &stack,
                &answer,
                &marker,
                &format!("{content_type}, {framing:?}, harmless"),
            )?;
        }
    }
    // JSON in UTF-16 (with and without a byte order mark) is JSON to many parsers.
    let utf16: Vec<u8> = DROP.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let with_bom = [vec![0xff, 0xfe], utf16.clone()].concat();
    for (name, body) in [("utf-16le", utf16), ("utf-16le with BOM", with_bom)] {
        for framing in FRAMINGS {
            n += 1;
            let marker = format!("typed-{n}");
            let answer = send(
                &stack,
                framing,
                "POST",
                "/db/query",
                &[("content-type", "application/octet-stream")],
                &body,
                &marker,
            )
            .await?;
            expect_stopped(
                &stack,
                &answer,
                &marker,
                "hold",
                &format!("{name}, {framing:?}"),
            )?;
        }
    }
    // A body that really is binary is not mistaken for text: it passes (masking.binary
    // is `pass` by default).
    let marker = "typed-binary";
    let answer = send(
        &stack,
        Framing::H2,
        "POST",
        "/upload",
        &[("content-type", "application/octet-stream")],
        &png_bytes(),
        marker,
    )
    .await?;
    expect_passed(&stack, &answer, marker, "a binary upload")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_parts_are_read_for_policy() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let b = "----warden-e2e-7MA4YWxkTrZu0gW";
    let form = format!("multipart/form-data; boundary={b}");
    let mixed = format!("multipart/mixed; boundary=\"{b}\"");
    let png = png_bytes();
    let nested_inner = multipart(
        "inner-b0undary",
        &[(&["Content-Type: application/json"], DROP.as_bytes())],
    );
    let base64_drop = "eyJzcWwiOiAiRFJPUCBUQUJMRSBjdXN0b21lcnMifQ==";
    let cases: Vec<(&str, String, Vec<u8>, &str)> = vec![
        (
            "a form field named sql",
            form.clone(),
            multipart(
                b,
                &[
                    (&["Content-Disposition: form-data; name=\"db\""], b"prod"),
                    (
                        &["Content-Disposition: form-data; name=\"sql\""],
                        b"DROP TABLE customers",
                    ),
                ],
            ),
            "hold",
        ),
        (
            "a JSON file part",
            form.clone(),
            multipart(
                b,
                &[
                    (
                        &[
                            "Content-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"",
                            "Content-Type: image/png",
                        ],
                        &png,
                    ),
                    (
                        &[
                            "Content-Disposition: form-data; name=\"payload\"; filename=\"q.json\"",
                            "Content-Type: application/json",
                        ],
                        DROP.as_bytes(),
                    ),
                ],
            ),
            "hold",
        ),
        (
            "a JSON part of multipart/mixed",
            mixed.clone(),
            multipart(b, &[(&["Content-Type: application/json"], DROP.as_bytes())]),
            "hold",
        ),
        (
            "a nested multipart part",
            mixed.clone(),
            multipart(
                b,
                &[(
                    &["Content-Type: multipart/mixed; boundary=inner-b0undary"],
                    &nested_inner,
                )],
            ),
            "hold",
        ),
        (
            "a base64 part",
            mixed.clone(),
            multipart(
                b,
                &[(
                    &[
                        "Content-Type: application/json",
                        "Content-Transfer-Encoding: base64",
                    ],
                    base64_drop.as_bytes(),
                )],
            ),
            "hold",
        ),
        (
            "no closing delimiter",
            form.clone(),
            multipart(
                b,
                &[(
                    &["Content-Disposition: form-data; name=\"sql\""],
                    b"DROP TABLE customers",
                )],
            )
            .strip_suffix(format!("--{b}--\r\n").as_bytes())
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
            "deny",
        ),
        (
            "no boundary parameter",
            "multipart/form-data".to_string(),
            multipart(
                b,
                &[(
                    &["Content-Disposition: form-data; name=\"sql\""],
                    b"DROP TABLE customers",
                )],
            ),
            "deny",
        ),
    ];
    let mut n = 0;
    for (name, content_type, body, decision) in &cases {
        for framing in FRAMINGS {
            n += 1;
            let marker = format!("multipart-{n}");
            let answer = send(
                &stack,
                framing,
                "POST",
                "/db/query",
                &[("content-type", content_type)],
                body,
                &marker,
            )
            .await?;
            expect_stopped(
                &stack,
                &answer,
                &marker,
                decision,
                &format!("{name}, {framing:?}"),
            )?;
        }
    }
    // Control: a harmless form with a binary file passes, byte for byte.
    let body = multipart(
        b,
        &[
            (
                &["Content-Disposition: form-data; name=\"sql\""],
                b"SELECT 1",
            ),
            (
                &[
                    "Content-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"",
                    "Content-Type: image/png",
                ],
                &png,
            ),
        ],
    );
    for framing in FRAMINGS {
        n += 1;
        let marker = format!("multipart-control-{n}");
        let answer = send(
            &stack,
            framing,
            "POST",
            "/echo",
            &[("content-type", &form)],
            &body,
            &marker,
        )
        .await?;
        expect_passed(
            &stack,
            &answer,
            &marker,
            &format!("a harmless form, {framing:?}"),
        )?;
        ensure!(
            echo_report(&answer)?["len"] == body.len(),
            "{framing:?}: the form was changed on the way"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_and_multipart_are_masked_both_ways() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        warden_config: "policy:\n  enabled: false\n".into(),
        ..StackOptions::default()
    })
    .await?;
    let secret_json =
        format!("{{\"note\": \"deploy with {GITHUB}\", \"password\": \"hunter2-correct-horse\"}}");

    // Requests: JSON under other names, and text under a binary label.
    for content_type in [
        "application/x-json",
        "application/json-rpc",
        "application/octet-stream",
        "image/png",
    ] {
        for (i, framing) in FRAMINGS.into_iter().enumerate() {
            let marker = format!("mask-{content_type}-{i}");
            let answer = send(
                &stack,
                framing,
                "POST",
                &format!("/echo?find={GITHUB}"),
                &[("content-type", content_type)],
                secret_json.as_bytes(),
                &marker,
            )
            .await?;
            ensure!(
                answer.status == 200,
                "{content_type} {framing:?}: {} {}",
                answer.status,
                answer.text()
            );
            ensure!(
                echo_report(&answer)?["found"] == false,
                "{content_type} {framing:?}: the token reached the upstream"
            );
        }
    }

    // A form with a text field, a JSON part and a binary file, sent to /reflect: masked
    // on the way up and again on the way back, split into small chunks both ways. Framing and the binary part stay intact.
    let b = "warden-e2e-boundary-42";
    let png = png_bytes();
    let form = multipart(
        b,
        &[
            (
                &["Content-Disposition: form-data; name=\"note\""],
                format!("use {GITHUB} to push").as_bytes(),
            ),
            (
                &[
                    "Content-Disposition: form-data; name=\"meta\"",
                    "Content-Type: application/json",
                ],
                secret_json.as_bytes(),
            ),
            (
                &[
                    "Content-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"",
                    "Content-Type: image/png",
                ],
                &png,
            ),
        ],
    );
    let content_type = format!("multipart/form-data; boundary={b}");
    for (i, framing) in FRAMINGS.into_iter().enumerate() {
        let marker = format!("mask-multipart-{i}");
        let answer = send(
            &stack,
            framing,
            "POST",
            "/reflect",
            &[
                ("content-type", &content_type),
                ("x-reflect-content-type", &content_type),
                ("x-reflect-chunk", "13"),
            ],
            &form,
            &marker,
        )
        .await?;
        ensure!(
            answer.status == 200,
            "{framing:?}: {} {}",
            answer.status,
            answer.text()
        );
        let body = &answer.body;
        ensure!(
            !body.windows(GITHUB.len()).any(|w| w == GITHUB.as_bytes()),
            "{framing:?}: the token survived"
        );
        ensure!(
            !answer.text().contains("hunter2-correct-horse"),
            "{framing:?}: the JSON part's password survived"
        );
        ensure!(
            body.windows(png.len()).any(|w| w == png.as_slice()),
            "{framing:?}: the binary part was changed"
        );
        let delimiters = answer.text().matches(&format!("--{b}")).count();
        ensure!(
            delimiters == 4,
            "{framing:?}: {delimiters} delimiters, expected 4: {}",
            answer.text()
        );
        ensure!(
            answer.text().ends_with(&format!("--{b}--\r\n")),
            "{framing:?}: closing delimiter lost"
        );
    }

    // Responses: multipart/mixed streamed in small chunks, and JSON labelled octet-stream.
    let mixed = multipart(
        b,
        &[
            (
                &["Content-Type: text/plain"],
                format!("token {GITHUB}").as_bytes(),
            ),
            (&["Content-Type: application/json"], secret_json.as_bytes()),
        ],
    );
    let mixed_type = format!("multipart/mixed; boundary={b}");
    for (reflect_type, body, chunk) in [
        (mixed_type.as_str(), mixed.clone(), Some("13")),
        (mixed_type.as_str(), mixed, None),
        (
            "application/octet-stream",
            secret_json.clone().into_bytes(),
            Some("11"),
        ),
        (
            "application/octet-stream",
            secret_json.clone().into_bytes(),
            None,
        ),
    ] {
        let marker = format!("mask-response-{reflect_type}-{chunk:?}");
        let mut headers = vec![
            ("content-type", "application/octet-stream"),
            ("x-reflect-content-type", reflect_type),
        ];
        if let Some(chunk) = chunk {
            headers.push(("x-reflect-chunk", chunk));
        }
        let answer = send(
            &stack,
            Framing::Length,
            "POST",
            "/reflect",
            &headers,
            &body,
            &marker,
        )
        .await?;
        let text = answer.text();
        ensure!(
            answer.status == 200,
            "{reflect_type} {chunk:?}: {} {text}",
            answer.status
        );
        ensure!(
            !text.contains(GITHUB),
            "{reflect_type} {chunk:?}: the token reached the client: {text}"
        );
        ensure!(
            !text.contains("hunter2-correct-horse"),
            "{reflect_type} {chunk:?}: the password reached the client"
        );
        if reflect_type.starts_with("multipart") {
            ensure!(
                text.matches(&format!("--{b}")).count() == 3,
                "{chunk:?}: framing changed: {text}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_binary_block_refuses_only_what_really_is_binary() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        warden_config: "policy:\n  enabled: false\nmasking:\n  binary: block\n".into(),
        ..StackOptions::default()
    })
    .await?;
    let secret_json = format!("{{\"note\": \"deploy with {GITHUB}\"}}");
    for (i, framing) in FRAMINGS.into_iter().enumerate() {
        // Text under a binary label: masked and passed, not refused.
        let marker = format!("block-text-{i}");
        let answer = send(
            &stack,
            framing,
            "POST",
            &format!("/echo?find={GITHUB}"),
            &[("content-type", "application/octet-stream")],
            secret_json.as_bytes(),
            &marker,
        )
        .await?;
        ensure!(
            answer.status == 200,
            "{framing:?}: text under a binary label: {} {}",
            answer.status,
            answer.text()
        );
        ensure!(
            echo_report(&answer)?["found"] == false,
            "{framing:?}: the token reached the upstream"
        );

        // Real binary: refused, whatever it is labelled.
        for content_type in [
            "application/octet-stream",
            "text/plain",
            "application/x-thing",
        ] {
            let marker = format!("block-binary-{content_type}-{i}");
            let answer = send(
                &stack,
                framing,
                "POST",
                "/upload",
                &[("content-type", content_type)],
                &png_bytes(),
                &marker,
            )
            .await?;
            ensure!(
                answer.status == 415 && !reached(&stack, &marker),
                "{framing:?} {content_type}: binary upload: {} {}",
                answer.status,
                answer.text()
            );
        }
    }
    // Responses: text labelled image/png is masked and passed; real binary is refused.
    let answer = send(
        &stack,
        Framing::Length,
        "POST",
        "/reflect",
        &[
            ("content-type", "text/plain"),
            ("x-reflect-content-type", "image/png"),
        ],
        secret_json.as_bytes(),
        "block-response-text",
    )
    .await?;
    ensure!(
        answer.status == 200 && !answer.text().contains(GITHUB),
        "text labelled image/png: {} {}",
        answer.status,
        answer.text()
    );
    let answer = send(
        &stack,
        Framing::Length,
        "POST",
        "/reflect",
        &[
            ("content-type", "text/plain"),
            ("x-reflect-content-type", "image/png"),
        ],
        b"plain words",
        "block-response-plain",
    )
    .await?;
    ensure!(
        answer.status == 200,
        "plain text labelled image/png: {}",
        answer.status
    );
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD.encode(png_bytes());
    for chunk in [None, Some("64")] {
        let mut headers = vec![
            ("content-type", "text/plain"),
            ("x-reflect-content-type", "image/png"),
            ("x-reflect-base64", "1"),
        ];
        if let Some(chunk) = chunk {
            headers.push(("x-reflect-chunk", chunk));
        }
        let sent = send(
            &stack,
            Framing::Length,
            "POST",
            "/reflect",
            &headers,
            png.as_bytes(),
            "block-response-binary",
        )
        .await;
        match (sent, chunk) {
            (Ok(answer), _) => ensure!(
                answer.status == 502
                    || (chunk.is_some()
                        && !answer.body.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n")),
                "a binary response ({chunk:?}) was not refused: {} ({} bytes)",
                answer.status,
                answer.body.len()
            ),
            // Streamed: the status line had gone out before the first bytes were seen,
            // so the refusal cuts the response short.
            (Err(err), Some(_)) => ensure!(
                format!("{err:#}").contains("chunk"),
                "streamed binary response: {err:#}"
            ),
            (Err(err), None) => return Err(err),
        }
    }
    Ok(())
}
