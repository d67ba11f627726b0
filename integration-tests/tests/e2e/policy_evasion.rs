//! The evasion suite: attempts to slip risky operations past the default policy pack,
//! through a real Envoy. Each request in `cases/evasion.yaml` is written to Envoy's
//! listener byte for byte (a raw HTTP/1.1 client: no URL normalisation on the way),
//! and must be held or denied as the case says — and must never reach the upstream.
//! The `control:` cases must pass through, so the suite can fail.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden::policy::testcases::TestCase;
use warden_integration_tests::paths;
use warden_integration_tests::stack::{Flavor, Stack, StackOptions};

#[derive(serde::Deserialize)]
struct CaseFile {
    tests: Vec<TestCase>,
}

/// A response as read off the wire.
struct RawResponse {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Sends one HTTP/1.1 request exactly as given and reads the response to the end.
async fn send_raw(
    port: u16,
    method: &str,
    target: &str,
    host: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> anyhow::Result<RawResponse> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .context("response timed out")??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no complete response head in {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(RawResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_pack_holds_or_denies_every_evasion_attempt_ext_proc() -> anyhow::Result<()> {
    run_suite(Flavor::ExtProc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_pack_holds_or_denies_every_evasion_attempt_ext_authz() -> anyhow::Result<()> {
    run_suite(Flavor::ExtAuthz).await
}

async fn run_suite(flavor: Flavor) -> anyhow::Result<()> {
    let path = paths::repo_root().join("integration-tests/cases/evasion.yaml");
    let file: CaseFile = serde_yaml_ng::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| path.display().to_string())?;
    let attempts = file
        .tests
        .iter()
        .filter(|c| c.expect.decision != warden::policy::Action::Allow)
        .count();
    assert!(attempts >= 40, "only {attempts} evasion attempts");

    let policies = paths::repo_root().join("policies");
    let stack = Stack::start(StackOptions {
        warden_config: format!("policy:\n  dir: {}\n", policies.display()),
        flavor,
        ..StackOptions::default()
    })
    .await?;

    let mut failures = Vec::new();
    for (index, case) in file.tests.iter().enumerate() {
        let (head, body) = case.request.to_parts()?;
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in head.headers.iter() {
            if name != "content-length" {
                headers.insert(
                    name.to_string(),
                    String::from_utf8_lossy(value).into_owned(),
                );
            }
        }
        // A marker the upstream's record can be searched for.
        let marker = format!("evasion-{index}");
        headers.insert("x-test-case".into(), marker.clone());
        let response = send_raw(
            stack.envoy.port,
            &head.method,
            &head.path,
            &head.authority,
            &headers,
            body.as_deref().unwrap_or_default(),
        )
        .await
        .with_context(|| case.name.clone())?;
        let reached_upstream = stack.upstream.seen().iter().any(|s| {
            s.headers
                .iter()
                .any(|(n, v)| n == "x-test-case" && *v == marker)
        });
        let decision = response.headers.get("x-warden-decision").cloned();
        let want = case.expect.decision.name();
        let problem = if want == "allow" {
            (!reached_upstream || response.status != 200).then(|| {
                format!(
                    "expected to pass; got {} {:?}: {}",
                    response.status, decision, response.body
                )
            })
        } else if reached_upstream {
            Some("reached the upstream".to_string())
        } else if decision.as_deref() != Some(want) {
            Some(format!(
                "expected {want}; got {} decision {:?}: {}",
                response.status, decision, response.body
            ))
        } else if let Some(rule) = &case.expect.rule {
            let got = response.headers.get("x-warden-rule");
            (got != Some(rule)).then(|| format!("expected rule {rule}, got {got:?}"))
        } else {
            None
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{flavor:?}: {} of {} cases failed:\n{}\n--- logs ---\n{}",
            failures.len(),
            file.tests.len(),
            failures.join("\n"),
            stack.logs()
        );
    }
    Ok(())
}
