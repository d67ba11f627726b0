//! The audit trail end to end, through real Envoy and a real `warden serve`: a scripted
//! agent session — allowed, masked in both directions, denied, held → approved by a
//! human with the real `warden approvals` → retried — and then every place the trail
//! lives is checked with the real tools:
//!
//! - OpenTelemetry spans at an OTLP receiver (one per exchange, in chain order);
//! - the chained, signed log (`warden audit verify`);
//! - the session replay (`warden sessions show`): every step, in order, masked;
//! - an evidence bundle (`warden evidence export` + `warden evidence verify`), and a
//!   tampered copy that fails to verify;
//! - a scan of everything Warden wrote — store, log, evidence, its own log — and the
//!   spans for the secrets planted in requests and responses, and the agent's token.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use serde_json::Value;
use tokio::process::Command;
use warden_integration_tests::issuer::DevIssuer;
use warden_integration_tests::otlp::OtlpReceiver;
use warden_integration_tests::paths;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{
    audit_public_key, audit_signing_key, http1_client, Flavor, Stack, StackOptions,
};

const WAIT: Duration = Duration::from_secs(30);

/// Planted secrets: fake, in the shape of real ones (detected by the default rules).
const QUERY_SECRET: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
const HEADER_SECRET: &str = "xoxb-2873625102-4950328745123-Zk7rQ2xT9mWv3bN8cY1pL6sD";
const REQUEST_SECRET: &str = "ghp_Zq8XvR2mK9pL4tW7yN3bC6dF1gH5jS0aE2uI";
const RESPONSE_SECRET: &str = "AKIAQ4ZJX7N2LP5WT3RB";

const SESSION: &str = "audit-e2e-session-1";

const POLICY: &str = r#"rules:
  - id: no-admin
    when: { path: "/admin/**" }
    action: deny
    reason: the admin API is off limits to agents
  - id: hold-item-delete
    when: { method: DELETE, path: "/items/*" }
    action: hold
    reason: deleting items needs a human's approval
  # The upstream reflects this body back: it arrives unmasked from the agent (masking
  # of requests off here), so what the response carries is masked on the way back.
  - id: reflect-unmasked-request
    when: { path: "/reflect" }
    action: allow
    mask: { request: false }
"#;

async fn warden_cli(args: &[&str]) -> anyhow::Result<Output> {
    let bin = paths::warden_bin().map_err(|e| anyhow!(e))?;
    Ok(Command::new(bin)
        .args(args)
        .env_remove("WARDEN_ADMIN_URL")
        .env_remove("WARDEN_TOKEN")
        .output()
        .await?)
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn cli_ok(args: &[&str]) -> anyhow::Result<String> {
    let output = warden_cli(args).await?;
    ensure!(
        output.status.success(),
        "warden {args:?}: {}",
        describe(&output)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                // Regular files only (not Warden's Unix socket).
                out.push(path);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_agent_session_is_recorded_chained_exported_and_never_leaks(
) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("warden-audit-trail-")
        .disable_cleanup(std::env::var_os("WARDEN_KEEP_TEST_DIRS").is_some())
        .tempdir()?;
    let issuer = DevIssuer::start(dir.path()).await?;
    let agent = issuer.token("agent-7", &["agents"])?;
    let alice = issuer.token("alice", &["approvers", "auditors"])?;
    std::fs::create_dir(dir.path().join("policy"))?;
    std::fs::write(dir.path().join("policy/policy.yaml"), POLICY)?;
    let receiver = OtlpReceiver::start().await?;
    let audit_dir = dir.path().join("audit");
    let config = format!(
        "{}policy:\n  dir: {}\napprovals:\n  store: sqlite://{}\n  admin: {{listen: '127.0.0.1:$ADMIN_PORT'}}\naudit:\n  log_dir: {}\n  signing_key: {}\n  checkpoint_every_records: 1\n  otlp:\n    endpoint: {}\n",
        issuer.identity_config(),
        dir.path().join("policy").display(),
        dir.path().join("warden.db").display(),
        audit_dir.display(),
        audit_signing_key(dir.path())?.display(),
        receiver.grpc_endpoint(),
    );
    let stack = Stack::start(StackOptions {
        flavor: Flavor::ExtProc,
        warden_config: config,
        ..StackOptions::default()
    })
    .await?;
    let admin = stack.warden.admin_url()?;
    let client = http1_client();
    let send = |method: reqwest::Method, path: &str| {
        client
            .request(method, stack.envoy.url(path))
            .bearer_auth(&agent)
            .header("x-agent-session", SESSION)
    };

    // 1. Allowed, with a secret in the query string and one in a header.
    let allowed = send(
        reqwest::Method::GET,
        &format!("/echo?api_key={QUERY_SECRET}&page=2"),
    )
    .header("x-api-key", HEADER_SECRET)
    .send()
    .await?;
    ensure!(allowed.status() == 200, "allowed: {}", allowed.status());
    // 2. A secret in the request body: masked before the upstream sees it.
    let masked_request = send(reqwest::Method::POST, "/echo?find=ghp_")
        .header("content-type", "application/json")
        .body(format!(r#"{{"note":"deploy with {REQUEST_SECRET}"}}"#))
        .send()
        .await?;
    ensure!(masked_request.status() == 200);
    // 3. A secret in the response body: masked before the agent sees it.
    let reflected = send(reqwest::Method::POST, "/reflect")
        .header("content-type", "application/json")
        .header("x-reflect-content-type", "application/json")
        .body(format!(r#"{{"aws_access_key_id":"{RESPONSE_SECRET}"}}"#))
        .send()
        .await?;
    ensure!(reflected.status() == 200);
    let reflected = reflected.text().await?;
    ensure!(
        !reflected.contains(RESPONSE_SECRET) && reflected.contains("[REDACTED:"),
        "the agent got {reflected}"
    );
    // 4. Denied.
    let denied = send(reqwest::Method::GET, "/admin/users").send().await?;
    ensure!(denied.status() == 403, "denied: {}", denied.status());
    // 5. Held, 6. approved by alice, 7. the retry passes.
    let held = send(reqwest::Method::DELETE, "/items/7").send().await?;
    ensure!(held.status() == 403);
    let approval_id = held
        .headers()
        .get("x-warden-approval-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .context("the hold names its approval")?;
    cli_ok(&[
        "approvals",
        "--admin-url",
        &admin,
        "--token",
        &alice,
        "approve",
        &approval_id,
        "--reason",
        "cleanup ticket 42",
    ])
    .await?;
    let retried = send(reqwest::Method::DELETE, "/items/7").send().await?;
    ensure!(retried.status() == 200, "retry: {}", retried.status());
    let outcomes = ["allow", "allow", "allow", "deny", "hold", "allow"];

    // Spans: one per exchange, in chain order, and the checkpoints.
    // Checkpoints come per written batch, so their number varies: wait for every
    // record's span and for the checkpoint that signs the last of them (the writer
    // exports a batch before it signs it, and the log holds a checkpoint before its
    // span is sent, so after this the log is signed to the end).
    let is_record = |s: &&warden_integration_tests::otlp::ReceivedSpan| {
        s.str_attribute("warden.decision.outcome").is_some()
    };
    let is_checkpoint = |s: &&warden_integration_tests::otlp::ReceivedSpan| {
        s.str_attribute("warden.checkpoint.signature").is_some()
    };
    let signed_to_the_end = |spans: &[warden_integration_tests::otlp::ReceivedSpan]| {
        let last_record = spans
            .iter()
            .filter(is_record)
            .filter_map(|s| s.int_attribute("warden.audit.seq"))
            .max();
        let last_signed = spans
            .iter()
            .filter(is_checkpoint)
            .filter_map(|s| s.int_attribute("warden.audit.seq"))
            .max();
        spans.iter().filter(is_record).count() >= outcomes.len() && last_signed >= last_record
    };
    let mut want = outcomes.len();
    let spans = loop {
        let spans = receiver
            .wait_for_spans(want, WAIT)
            .await
            .with_context(|| stack.logs())?;
        if signed_to_the_end(&spans) {
            break spans;
        }
        want = spans.len() + 1;
    };
    ensure!(
        spans.iter().any(|s| is_checkpoint(&s)),
        "signed checkpoints are exported too"
    );
    let mut record_spans: Vec<_> = spans.iter().filter(is_record).collect();
    record_spans.sort_by_key(|s| s.int_attribute("warden.audit.seq"));
    let span_outcomes: Vec<&str> = record_spans
        .iter()
        .filter_map(|s| s.str_attribute("warden.decision.outcome"))
        .collect();
    ensure!(span_outcomes == outcomes, "span outcomes {span_outcomes:?}");
    ensure!(
        record_spans
            .iter()
            .all(|s| s.str_attribute("enduser.id") == Some("agent-7")),
        "every span names the agent"
    );
    let last = record_spans.last().context("no record span")?;
    ensure!(last.str_attribute("warden.approval.id") == Some(approval_id.as_str()));
    ensure!(
        format!("{:?}", last.attribute("warden.approval.approvers")).contains("alice"),
        "{:?}",
        last.attribute("warden.approval.approvers")
    );

    // The chain verifies, and every record is signed.
    let verified = cli_ok(&[
        "audit",
        "verify",
        audit_dir.to_str().unwrap_or_default(),
        "--public-key",
        audit_public_key(dir.path())?.to_str().unwrap_or_default(),
        "--store",
        &format!("sqlite://{}", dir.path().join("warden.db").display()),
        "--json",
    ])
    .await?;
    let report: Value = serde_json::from_str(&verified)?;
    let chain = &report["chains"][0];
    ensure!(
        chain["records"] == outcomes.len() && chain["unsigned"] == 0,
        "{report:#}"
    );

    // The session replay: every step, in order, with masked bodies.
    let shown = poll_until("the session's exchanges", WAIT, || async {
        let out = cli_ok(&[
            "sessions",
            "--admin-url",
            &admin,
            "--token",
            &alice,
            "show",
            SESSION,
            "--json",
        ])
        .await
        .ok()?;
        let view: Value = serde_json::from_str(&out).ok()?;
        (view["exchanges"].as_array()?.len() == outcomes.len()).then_some(view)
    })
    .await?;
    let exchanges = shown["exchanges"].as_array().context("exchanges")?;
    let shown_outcomes: Vec<&str> = exchanges
        .iter()
        .filter_map(|e| e["record"]["record"]["decision"]["outcome"].as_str())
        .collect();
    ensure!(
        shown_outcomes == outcomes,
        "replay outcomes {shown_outcomes:?}"
    );
    let masked_body = exchanges[1]["capture"]["request_body"]["text"]
        .as_str()
        .context("the masked request body is in the replay")?;
    ensure!(masked_body.contains("[REDACTED:"), "{masked_body}");
    let masked_response = exchanges[2]["capture"]["response_body"]["text"]
        .as_str()
        .context("the masked response body is in the replay")?;
    ensure!(masked_response.contains("[REDACTED:"), "{masked_response}");
    ensure!(
        exchanges[2]["capture"]["request_body"]["captured"] == false,
        "a request body that was not masked is not recorded: {:#}",
        exchanges[2]["capture"]["request_body"]
    );
    ensure!(exchanges[3]["record"]["record"]["decision"]["rule"] == "no-admin");
    ensure!(exchanges[4]["record"]["record"]["approval"]["id"] == approval_id.as_str());
    ensure!(
        exchanges[5]["record"]["record"]["approval"]["approvers"] == serde_json::json!(["alice"])
    );
    let timeline = cli_ok(&[
        "sessions",
        "--admin-url",
        &admin,
        "--token",
        &alice,
        "show",
        SESSION,
    ])
    .await?;
    ensure!(
        timeline.contains("no-admin") && timeline.contains(&approval_id),
        "{timeline}"
    );

    // The admin port's metrics count what the writer wrote and show the queue.
    let metrics = client
        .get(format!("{admin}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let written = metrics
        .lines()
        .find_map(|l| l.strip_prefix("warden_audit_records_written_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .context("warden_audit_records_written_total in /metrics")?;
    ensure!(written == outcomes.len() as u64, "{metrics}");
    ensure!(
        metrics.contains("warden_audit_queue_depth ")
            && metrics.contains("warden_audit_requests_refused_total 0"),
        "{metrics}"
    );

    // The evidence bundle verifies; a tampered copy does not.
    let bundle = dir.path().join("evidence");
    let config_path = stack.dir.path().join("warden.yaml");
    cli_ok(&[
        "evidence",
        "export",
        "--since",
        "1h",
        "--out",
        bundle.to_str().unwrap_or_default(),
        "--config",
        config_path.to_str().unwrap_or_default(),
    ])
    .await?;
    let public_key = audit_public_key(dir.path())?;
    let checked = cli_ok(&[
        "evidence",
        "verify",
        bundle.to_str().unwrap_or_default(),
        "--public-key",
        public_key.to_str().unwrap_or_default(),
    ])
    .await?;
    ensure!(!checked.contains("FAIL"), "{checked}");
    let summary = std::fs::read_to_string(bundle.join("summary.md"))?;
    for criterion in ["CC6.1", "CC6.3", "CC7.2", "CC8.1"] {
        ensure!(summary.contains(criterion), "{summary}");
    }
    ensure!(
        summary.contains(&approval_id) && summary.contains("alice"),
        "{summary}"
    );
    let tampered = dir.path().join("evidence-tampered");
    std::fs::create_dir(&tampered)?;
    for file in files_under(&bundle) {
        let relative = file.strip_prefix(&bundle)?;
        let target = tampered.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&file, &target)?;
    }
    let records = std::fs::read_to_string(tampered.join("records.jsonl"))?;
    ensure!(records.contains(r#""outcome":"deny""#));
    std::fs::write(
        tampered.join("records.jsonl"),
        records.replacen(r#""outcome":"deny""#, r#""outcome":"allow""#, 1),
    )?;
    let refused = warden_cli(&[
        "evidence",
        "verify",
        tampered.to_str().unwrap_or_default(),
        "--public-key",
        public_key.to_str().unwrap_or_default(),
    ])
    .await?;
    ensure!(
        refused.status.code() == Some(1),
        "a tampered bundle verifies: {}",
        describe(&refused)
    );

    // Nothing Warden wrote, and no span, holds a planted secret or the agent's token.
    let secrets = [
        QUERY_SECRET,
        HEADER_SECRET,
        REQUEST_SECRET,
        RESPONSE_SECRET,
        agent.as_str(),
    ];
    let mut scanned = 0;
    let mut written = files_under(dir.path());
    written.extend(files_under(stack.dir.path()));
    for file in written {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Envoy's own files (its access log shows the path as the agent sent it), the
        // tampered copy's twin and the test's own inputs are not Warden's output.
        if name.starts_with("envoy") || file.starts_with(&tampered) || name.ends_with(".pem") {
            continue;
        }
        let bytes = std::fs::read(&file)?;
        scanned += 1;
        for secret in &secrets {
            ensure!(
                !contains(&bytes, secret),
                "{} holds a planted secret ({}…)",
                file.display(),
                &secret[..8]
            );
        }
    }
    ensure!(scanned >= 5, "only {scanned} files scanned");
    let spans_text = format!("{:?}", receiver.exports());
    for secret in &secrets {
        ensure!(
            !spans_text.contains(secret),
            "a span holds a planted secret ({}…)",
            &secret[..8]
        );
    }
    Ok(())
}
