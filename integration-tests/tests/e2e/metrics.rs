//! Warden's Prometheus metrics through a real Envoy and `warden serve`: requests by
//! decision and rule, a hold and its approval (pending, approved, used), masking
//! findings, phase latency histograms, the JWKS fetch at start-up and a bad policy
//! reload, all read from the admin port's `/metrics` as parsed samples.

use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use warden_integration_tests::issuer::DevIssuer;
use warden_integration_tests::metrics::Scrape;
use warden_integration_tests::paths;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{http1_client, Flavor, Stack, StackOptions};

/// How long a test waits for an asynchronous state (a stream's end, the pending
/// gauge's refresh, a policy reload).
const STATE_TIMEOUT: Duration = Duration::from_secs(30);

const POLICY: &str = r#"rules:
  - id: block-denied
    when: { path: /denied }
    action: deny
    reason: blocked for the test
  - id: hold-delete
    when: { method: DELETE, path: /echo }
    action: hold
    reason: deletes need a human
"#;

/// A secret the upstream reflects back, which response masking must catch.
const GITHUB: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

struct Fixture {
    issuer: DevIssuer,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> anyhow::Result<Fixture> {
        let dir = tempfile::Builder::new()
            .prefix("warden-metrics-")
            .disable_cleanup(std::env::var_os("WARDEN_KEEP_TEST_DIRS").is_some())
            .tempdir()?;
        let issuer = DevIssuer::start(dir.path()).await?;
        std::fs::create_dir(dir.path().join("policy"))?;
        std::fs::write(dir.path().join("policy/policy.yaml"), POLICY)?;
        Ok(Fixture { issuer, dir })
    }

    async fn stack(&self, flavor: Flavor) -> anyhow::Result<Stack> {
        let config = format!(
            "{}policy:\n  dir: {}\n  reload_interval_seconds: 1\n\
             masking:\n  request: false\n  response: true\n\
             approvals:\n  store: sqlite://{}\n  admin: {{listen: '127.0.0.1:$ADMIN_PORT'}}\n",
            self.issuer.identity_config(),
            self.dir.path().join("policy").display(),
            self.dir.path().join(format!("{flavor:?}.db")).display(),
        );
        Stack::start(StackOptions {
            flavor,
            warden_config: config,
            ..StackOptions::default()
        })
        .await
    }
}

async fn scrape(stack: &Stack) -> anyhow::Result<Scrape> {
    let admin = stack.warden.admin_url()?;
    let response = http1_client()
        .get(format!("{admin}/metrics"))
        .send()
        .await?;
    ensure!(response.status() == 200, "/metrics: {}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ensure!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    Scrape::parse(&response.text().await?)
}

/// Scrapes until `ready` holds (counts land when a stream ends, which can be just
/// after the client has its answer; the pending gauge refreshes every few seconds).
async fn scrape_until(
    stack: &Stack,
    what: &str,
    ready: impl Fn(&Scrape) -> bool,
) -> anyhow::Result<Scrape> {
    let result = poll_until(what, STATE_TIMEOUT, || async {
        let scrape = scrape(stack).await.ok()?;
        ready(&scrape).then_some(scrape)
    })
    .await;
    match result {
        Ok(scrape) => Ok(scrape),
        Err(e) => {
            let last = scrape(stack).await.map(|s| s.text).unwrap_or_default();
            Err(e.context(format!("last scrape:\n{last}\n{}", stack.logs())))
        }
    }
}

async fn send(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> anyhow::Result<(u16, Option<String>)> {
    let mut request = http1_client().request(method, stack.envoy.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let approval = response
        .headers()
        .get("x-warden-approval-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await?;
    ensure!(!text.contains(GITHUB), "the secret reached the client");
    Ok((status, approval))
}

fn requests(scrape: &Scrape, shell: &str, decision: &str, rule: &str) -> f64 {
    scrape.sum(
        "warden_requests_total",
        &[("shell", shell), ("decision", decision), ("rule", rule)],
    )
}

fn phase_count(scrape: &Scrape, shell: &str, phase: &str) -> anyhow::Result<f64> {
    scrape.value(
        "warden_phase_duration_seconds_count",
        &[("shell", shell), ("phase", phase)],
    )
}

async fn approve(stack: &Stack, token: &str, id: &str) -> anyhow::Result<()> {
    let bin = paths::warden_bin().map_err(|e| anyhow!(e))?;
    let output = tokio::process::Command::new(bin)
        .args(["approvals", "--admin-url", &stack.warden.admin_url()?])
        .args(["--token", token, "approve", id])
        .env_remove("WARDEN_ADMIN_URL")
        .env_remove("WARDEN_TOKEN")
        .output()
        .await?;
    ensure!(
        output.status.success(),
        "warden approvals approve: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_proc_decisions_holds_masking_jwks_and_reloads_are_measured() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let agent = fixture.issuer.token("agent-1", &["agents"])?;
    let alice = fixture.issuer.token("alice", &["approvers"])?;
    let stack = fixture.stack(Flavor::ExtProc).await?;
    use reqwest::Method;

    // The signing keys were fetched at start-up (or by the first request).
    let issuer = fixture.issuer.url.as_str();
    let before = scrape(&stack).await?;
    ensure!(
        before.sum("warden_requests_total", &[]) == 0.0,
        "{}",
        before.text
    );
    ensure!(
        before.value("warden_holds_pending", &[])? == 0.0,
        "{}",
        before.text
    );

    // Allowed, denied by a rule, denied for want of a token, held.
    ensure!(
        send(&stack, Method::GET, "/echo", Some(&agent), None)
            .await?
            .0
            == 200
    );
    ensure!(
        send(&stack, Method::GET, "/denied", Some(&agent), None)
            .await?
            .0
            == 403
    );
    ensure!(send(&stack, Method::GET, "/echo", None, None).await?.0 == 401);
    let (status, approval) = send(&stack, Method::DELETE, "/echo", Some(&agent), None).await?;
    let approval = approval.with_context(|| format!("no approval id ({status})"))?;
    ensure!(status == 403, "hold answered {status}");
    // Allowed, with the upstream's answer masked.
    let body = format!("{{\"note\": \"deploy with {GITHUB}\"}}");
    let (status, _) = send(&stack, Method::POST, "/reflect", Some(&agent), Some(body)).await?;
    ensure!(status == 200, "reflect: {status}\n{}", stack.logs());

    let scrape1 = scrape_until(&stack, "five requests and one pending hold", |s| {
        s.sum("warden_requests_total", &[]) == 5.0
            && s.value("warden_holds_pending", &[]).ok() == Some(1.0)
    })
    .await?;
    let s = &scrape1;
    ensure!(requests(s, "ext_proc", "allow", "") == 2.0, "{}", s.text);
    ensure!(
        requests(s, "ext_proc", "deny", "block-denied") == 1.0,
        "{}",
        s.text
    );
    ensure!(
        requests(s, "ext_proc", "deny", "") == 1.0,
        "401: {}",
        s.text
    );
    ensure!(
        requests(s, "ext_proc", "hold", "hold-delete") == 1.0,
        "{}",
        s.text
    );
    ensure!(
        s.value("warden_approvals_total", &[("outcome", "requested")])? == 1.0,
        "{}",
        s.text
    );
    ensure!(
        s.sum(
            "warden_masking_findings_total",
            &[("direction", "response")]
        ) >= 1.0
            && s.sum("warden_masking_findings_total", &[("direction", "request")]) == 0.0,
        "{}",
        s.text
    );
    // Every request's headers were timed; the masked response body too. The hold's
    // time with the gate is in its own histogram.
    ensure!(
        phase_count(s, "ext_proc", "request_headers")? == 5.0,
        "{}",
        s.text
    );
    ensure!(
        phase_count(s, "ext_proc", "response_body")? >= 1.0,
        "{}",
        s.text
    );
    let sum = s.value(
        "warden_phase_duration_seconds_sum",
        &[("shell", "ext_proc"), ("phase", "request_headers")],
    )?;
    ensure!(sum > 0.0 && sum < 5.0, "{sum}");
    ensure!(
        s.value(
            "warden_phase_duration_seconds_bucket",
            &[
                ("shell", "ext_proc"),
                ("phase", "request_headers"),
                ("le", "+Inf")
            ],
        )? == 5.0,
        "{}",
        s.text
    );
    ensure!(
        s.value(
            "warden_hold_wait_duration_seconds_count",
            &[("shell", "ext_proc")]
        )? == 1.0,
        "{}",
        s.text
    );
    ensure!(
        s.value(
            "warden_jwks_refreshes_total",
            &[("issuer", issuer), ("outcome", "success")]
        )? >= 1.0,
        "{}",
        s.text
    );
    ensure!(
        s.sum("warden_jwks_refreshes_total", &[("outcome", "failure")]) == 0.0,
        "{}",
        s.text
    );
    // The audit trail's metrics are still there.
    ensure!(s.declares("warden_audit_queue_depth"), "{}", s.text);

    // Approved, then the retry passes (the approval is used): no hold pending.
    approve(&stack, &alice, &approval).await?;
    let (status, _) = send(&stack, Method::DELETE, "/echo", Some(&agent), None).await?;
    ensure!(status == 200, "approved retry: {status}\n{}", stack.logs());
    let s = scrape_until(&stack, "the approved retry, used", |s| {
        s.sum("warden_requests_total", &[]) == 6.0
            && s.value("warden_holds_pending", &[]).ok() == Some(0.0)
    })
    .await?;
    ensure!(
        requests(&s, "ext_proc", "allow", "hold-delete") == 1.0,
        "{}",
        s.text
    );
    for (outcome, count) in [("requested", 1.0), ("approved", 1.0), ("used", 1.0)] {
        ensure!(
            s.value("warden_approvals_total", &[("outcome", outcome)])? == count,
            "{outcome}: {}",
            s.text
        );
    }

    // A bad policy edit is counted; the policy in force stays.
    let hash = s
        .matching("warden_policy_info", &[])
        .next()
        .and_then(|sample| sample.labels.get("hash").cloned())
        .context("warden_policy_info")?;
    ensure!(s.value("warden_policy_rules", &[])? == 2.0, "{}", s.text);
    let loaded = s.value("warden_policy_loaded_timestamp_seconds", &[])?;
    ensure!(loaded > 1.7e9, "{loaded}");
    std::fs::write(
        fixture.dir.path().join("policy/policy.yaml"),
        "rules:\n  - id: broken\n    action: perhaps\n",
    )?;
    let s = scrape_until(&stack, "the reload failure", |s| {
        s.value("warden_policy_reload_failures_total", &[]).ok() == Some(1.0)
    })
    .await?;
    ensure!(
        s.value("warden_policy_info", &[("hash", &hash)])? == 1.0
            && s.value("warden_policy_reloads_total", &[])? == 0.0
            && s.value("warden_policy_loaded_timestamp_seconds", &[])? == loaded,
        "{}",
        s.text
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_authz_checks_are_counted_and_timed() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let agent = fixture.issuer.token("agent-1", &["agents"])?;
    let stack = fixture.stack(Flavor::ExtAuthz).await?;
    use reqwest::Method;

    ensure!(
        send(&stack, Method::GET, "/echo", Some(&agent), None)
            .await?
            .0
            == 200
    );
    ensure!(
        send(&stack, Method::GET, "/denied", Some(&agent), None)
            .await?
            .0
            == 403
    );
    let s = scrape_until(&stack, "two checks", |s| {
        s.sum("warden_requests_total", &[]) == 2.0
    })
    .await?;
    ensure!(requests(&s, "ext_authz", "allow", "") == 1.0, "{}", s.text);
    ensure!(
        requests(&s, "ext_authz", "deny", "block-denied") == 1.0,
        "{}",
        s.text
    );
    ensure!(phase_count(&s, "ext_authz", "check")? == 2.0, "{}", s.text);
    ensure!(
        phase_count(&s, "ext_proc", "request_headers")? == 0.0,
        "{}",
        s.text
    );
    Ok(())
}
