//! The approver web console in a real browser: headless Chromium driven by Playwright
//! (`integration-tests/browser/console.mjs`) against real Envoy, `warden serve` (identity,
//! a policy with hold rules, approvals with the admin API and the console, audit with
//! session recording) and `warden dev-issuer` (its demo sign-in page).
//!
//! The agent's side runs here: requests through Envoy are held, and after the approver
//! approved in the browser the retry passes. The people's side runs in the browser: the
//! requester, in an approver group too, is refused its own hold with a visible message;
//! an approver signs in with OIDC (code + PKCE), sees who/what/why, approves with a
//! justification, sees a new hold appear live (SSE), approves and revokes a grant; an
//! auditor replays the session and sees the audit log verify. A held SQL request carries
//! a GitHub token in its body: the approver's body preview shows it masked.
//!
//! Needs `node`, `/usr/bin/chromium` (or `CHROMIUM`) and `npm ci` in
//! `integration-tests/browser` (`scripts/test` does both). Screenshots go to
//! `WARDEN_SCREENSHOTS_DIR` when set (e.g. `docs/img`), else to the test's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use warden_integration_tests::issuer::DevIssuer;
use warden_integration_tests::paths;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{http1_client, Stack, StackOptions};

const POLICY: &str = r#"rules:
  - id: hold-item-delete
    when: { method: DELETE, path: "/api/items/*" }
    action: hold
    reason: deleting items needs a human's approval
  - id: hold-admin-access
    when: { method: POST, path: "/api/admin/*" }
    action: hold
    reason: admin access is granted for a maintenance window
    approval: { grant: 30m, scope: admin }
  - id: hold-sql-drop
    when: { method: POST, path: "/api/query", sql: { kind: [drop] } }
    action: hold
    reason: dropping a table needs a human's approval
"#;

/// A GitHub token (a generated sample of the gitleaks `github-pat` rule) planted in a
/// held request's body: the console's body preview must show it masked, never as is.
const PLANTED_TOKEN: &str = "ghp_g35tltzm995kln0gesn2k89lsfk1nwz8isyg";

/// The agent, in an approver group too (so self-approval is tried for real).
const AGENT: &str = "agent-1";
/// The approver and auditor who signs in to the console.
const APPROVER: &str = "alice";
/// The agent's session id (header `x-agent-session`).
const SESSION: &str = "console-e2e";

/// How long the test waits for recorded sessions.
const STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// The browser tools, or an error that says how to install them.
fn browser_dir() -> anyhow::Result<PathBuf> {
    let dir = paths::repo_root().join("integration-tests/browser");
    ensure!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test does)",
        dir.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    ensure!(
        Path::new(&chromium).is_file(),
        "{chromium} not found: install Chromium (`apt-get install -y chromium`; scripts/test \
         does) or set CHROMIUM to its binary"
    );
    Ok(dir)
}

/// One request of the agent through Envoy: status and approval id (when held).
async fn agent_request(
    url: &str,
    method: reqwest::Method,
    token: &str,
) -> anyhow::Result<(u16, Option<String>)> {
    let response = http1_client()
        .request(method, url)
        .bearer_auth(token)
        .header("x-agent-session", SESSION)
        .send()
        .await?;
    let id = response
        .headers()
        .get("x-warden-approval-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((response.status().as_u16(), id))
}

/// Runs `node console.mjs <phase>` with `env`; its `RESULT` JSON.
async fn browser(
    dir: &Path,
    phase: &str,
    env: &[(&str, String)],
    logs: impl Fn() -> String,
) -> anyhow::Result<serde_json::Value> {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(dir.join("console.mjs"))
        .arg(phase)
        .current_dir(dir)
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .map_err(|_| anyhow!("console.mjs {phase} did not finish in 180 s\n{}", logs()))?
        .context("cannot run node: install Node.js 18 or later")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "console.mjs {phase} failed:\n{stdout}\n{stderr}\n{}",
        logs()
    );
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| anyhow!("console.mjs {phase} printed no RESULT:\n{stdout}\n{stderr}"))?;
    Ok(serde_json::from_str(result)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_decide_in_the_console_and_replay_the_session() -> anyhow::Result<()> {
    let browser_dir = browser_dir()?;
    let dir = tempfile::Builder::new()
        .prefix("warden-console-")
        .disable_cleanup(std::env::var_os("WARDEN_KEEP_TEST_DIRS").is_some())
        .tempdir()?;
    let issuer = DevIssuer::start_with_users(
        dir.path(),
        &[
            "alice:approvers,auditors",
            "carol:approvers",
            "agent-1:agents,approvers",
        ],
    )
    .await?;
    let agent = issuer.token(AGENT, &["agents", "approvers"])?;
    let auditor = issuer.token(APPROVER, &["approvers", "auditors"])?;
    std::fs::create_dir(dir.path().join("policy"))?;
    std::fs::write(dir.path().join("policy/policy.yaml"), POLICY)?;
    let config = format!(
        "identity:\n  required: true\n  issuers:\n    - issuer: {issuer}\n      audiences: [warden, warden-console]\n      allow_http: true\n\
         policy:\n  dir: {policy}\n\
         approvals:\n  store: sqlite://{db}\n  admin:\n    listen: '127.0.0.1:$ADMIN_PORT'\n    console:\n      issuer: {issuer}\n      client_id: warden-console\n      redirect_url: 'http://127.0.0.1:$ADMIN_PORT/console/callback'\n      cookie_secure: false\n\
         audit:\n  log_dir: {audit}\n  signing_key: {key}\n  checkpoint_every_records: 1\n  sessions:\n    record: true\n",
        issuer = issuer.url,
        policy = dir.path().join("policy").display(),
        db = dir.path().join("approvals.db").display(),
        audit = dir.path().join("audit").display(),
        key = warden_integration_tests::stack::audit_signing_key(dir.path())?.display(),
    );
    let stack = Stack::start(StackOptions {
        warden_config: config,
        ..StackOptions::default()
    })
    .await?;
    let logs = || format!("{}\n{}", stack.logs(), issuer.process.log_tail());
    let admin = stack.warden.admin_url()?;

    // The agent is held twice: one operation, and access that needs a grant.
    let item = stack.envoy.url("/api/items/1");
    let (status, hold) = agent_request(&item, reqwest::Method::DELETE, &agent).await?;
    let hold = hold
        .filter(|_| status == 403)
        .ok_or_else(|| anyhow!("the delete was not held ({status})\n{}", logs()))?;
    let admin_path = stack.envoy.url("/api/admin/maintenance");
    let (status, grant) = agent_request(&admin_path, reqwest::Method::POST, &agent).await?;
    let grant = grant
        .filter(|_| status == 403)
        .ok_or_else(|| anyhow!("the admin call was not held ({status})\n{}", logs()))?;

    // A held request with a body: its preview in the console is the masked record.
    let query_body = serde_json::json!({
        "sql": "DROP TABLE staging_events",
        "github_token": PLANTED_TOKEN,
    })
    .to_string();
    let response = http1_client()
        .post(stack.envoy.url("/api/query"))
        .bearer_auth(&agent)
        .header("x-agent-session", SESSION)
        .header("content-type", "application/json")
        .body(query_body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body_hold = response
        .headers()
        .get("x-warden-approval-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|_| status == 403)
        .ok_or_else(|| anyhow!("the DROP TABLE was not held ({status})\n{}", logs()))?;

    let screenshots = std::env::var("WARDEN_SCREENSHOTS_DIR")
        .map(|d| paths::repo_root().join(d))
        .unwrap_or_else(|_| dir.path().join("screenshots"));
    let common = [
        ("CONSOLE_URL", format!("{admin}/console/")),
        ("APPROVER", APPROVER.to_string()),
        ("REQUESTER", AGENT.to_string()),
        ("HOLD_ID", hold.clone()),
        ("WARDEN_SCREENSHOTS_DIR", screenshots.display().to_string()),
    ];
    let mut decide = common.to_vec();
    decide.extend([
        ("HOLD_RULE", "hold-item-delete".to_string()),
        (
            "HOLD_REASON",
            "deleting items needs a human's approval".to_string(),
        ),
        ("GRANT_ID", grant.clone()),
        ("ENVOY_URL", stack.envoy.url("")),
        ("AGENT_TOKEN", agent.clone()),
        ("SECOND_PATH", "/api/items/2".to_string()),
        ("BODY_HOLD_ID", body_hold.clone()),
        ("PLANTED_SECRET", PLANTED_TOKEN.to_string()),
    ]);
    let decided = browser(&browser_dir, "decide", &decide, logs).await?;
    let preview = decided["preview"].as_str().unwrap_or_default();
    ensure!(
        preview.contains("DROP TABLE staging_events")
            && preview.contains("[REDACTED:")
            && !preview.contains(PLANTED_TOKEN),
        "the body preview: {decided}"
    );
    let second = decided["second"].as_str().unwrap_or_default().to_string();
    ensure!(
        second.starts_with("apr-") && second != hold,
        "the live hold: {decided}"
    );

    // What the approver did in the browser holds on the data path: the retry passes
    // once, and only it.
    let (status, _) = agent_request(&item, reqwest::Method::DELETE, &agent).await?;
    ensure!(status == 200, "the approved retry got {status}\n{}", logs());
    let passed = stack
        .upstream
        .seen()
        .iter()
        .filter(|s| s.method == "DELETE" && s.path == "/api/items/1")
        .count();
    ensure!(passed == 1, "the upstream saw the delete {passed} times");
    let (status, _) = agent_request(&item, reqwest::Method::DELETE, &agent).await?;
    ensure!(
        status == 403,
        "a second retry must be held again, got {status}"
    );
    // The grant was revoked in the browser: admin access is held again.
    let (status, _) = agent_request(&admin_path, reqwest::Method::POST, &agent).await?;
    ensure!(
        status == 403,
        "the revoked grant still let a request pass ({status})"
    );

    // The session store has the approved retry once the writer handed it over.
    let client = http1_client();
    let url = format!("{admin}/v1/sessions/{SESSION}");
    poll_until("the recorded retry", STATE_TIMEOUT, || {
        let request = client.get(&url).bearer_auth(&auditor);
        async move {
            let view: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
            let allowed = view["exchanges"].as_array()?.iter().any(|x| {
                x["record"]["record"]["decision"]["outcome"] == "allow"
                    && x["record"]["record"]["request"]["path"] == "/api/items/1"
            });
            allowed.then_some(())
        }
    })
    .await
    .with_context(logs)?;

    let mut replay = common.to_vec();
    replay.push(("SESSION_ID", SESSION.to_string()));
    let replayed = browser(&browser_dir, "replay", &replay, logs).await?;
    ensure!(
        replayed["audit"]
            .as_str()
            .is_some_and(|a| a.starts_with("verifies")),
        "{replayed}"
    );
    Ok(())
}
