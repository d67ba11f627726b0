//! Holds and approvals end to end: real Envoy, real `warden serve` with identity (a
//! `warden dev-issuer` process, tokens from `warden dev-token`), real clients (`curl`,
//! `kubectl`) and approvers using the real `warden approvals` command line against the
//! admin API — never the store directly.
//!
//! Covered: hold → approve → the retry passes once → held again; other operations and
//! identities are not covered; self-approval and late approvals are refused; denial
//! and expiry are recorded; N-of-M with justification; wait mode (approve and deny);
//! kubectl's `Forbidden` Status; two replicas sharing PostgreSQL (approval on one
//! replica honoured once by the other, wait mode woken across replicas); ext_authz.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use serde_json::Value;
use tokio::process::Command;
use warden_integration_tests::issuer::DevIssuer;
use warden_integration_tests::k8s::KubeApi;
use warden_integration_tests::paths;
use warden_integration_tests::postgres::Postgres;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{
    http1_client, Envoy, Flavor, Stack, StackOptions, Warden, WardenAddress,
};

/// How long a test waits for an asynchronous state (sweeps, a listed hold).
const STATE_TIMEOUT: Duration = Duration::from_secs(30);

const POLICY: &str = r#"rules:
  - id: hold-item-delete
    when: { method: DELETE, path: "/api/items/*" }
    action: hold
    reason: deleting items needs a human's approval
  - id: hold-short
    when: { method: DELETE, path: "/api/short/*" }
    action: hold
    reason: expires quickly
    approval: { expires: 2s }
  - id: hold-critical
    when: { method: DELETE, path: "/api/critical/*" }
    action: hold
    reason: two approvers must agree
    approval: { required: 2, justification: true }
  - id: hold-wait
    when: { method: DELETE, path: "/api/slow/*" }
    action: hold
    reason: waits for a human
    approval: { wait: 20s }
"#;

/// Tokens of the people and agents in these tests.
struct Tokens {
    /// `agent-1`, groups `agents` and `approvers` (so self-approval is tried for real).
    agent: String,
    /// `agent-2`, group `agents`.
    other_agent: String,
    /// `alice`, group `approvers`.
    alice: String,
    /// `bob`, group `approvers`.
    bob: String,
}

impl Tokens {
    fn mint(issuer: &DevIssuer) -> anyhow::Result<Tokens> {
        Ok(Tokens {
            agent: issuer.token("agent-1", &["agents", "approvers"])?,
            other_agent: issuer.token("agent-2", &["agents"])?,
            alice: issuer.token("alice", &["approvers"])?,
            bob: issuer.token("bob", &["approvers"])?,
        })
    }
}

/// Issuer, policy and approvals store for one test; the stacks come on top.
struct Fixture {
    issuer: DevIssuer,
    tokens: Tokens,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> anyhow::Result<Fixture> {
        let dir = tempfile::Builder::new()
            .prefix("warden-approvals-")
            .disable_cleanup(std::env::var_os("WARDEN_KEEP_TEST_DIRS").is_some())
            .tempdir()?;
        let issuer = DevIssuer::start(dir.path()).await?;
        let tokens = Tokens::mint(&issuer)?;
        std::fs::create_dir(dir.path().join("policy"))?;
        std::fs::write(
            dir.path().join("policy/policy.yaml"),
            format!("{POLICY}{QUERY_POLICY}"),
        )?;
        Ok(Fixture {
            issuer,
            tokens,
            dir,
        })
    }

    /// Warden's config: identity, the policy (None: the built-in default pack) and
    /// approvals in `store` (None: SQLite in the fixture's directory) with an admin API.
    fn warden_config(&self, policy: bool, store: Option<&str>) -> String {
        let policy = if policy {
            format!(
                "policy:\n  dir: {}\n",
                self.dir.path().join("policy").display()
            )
        } else {
            String::new()
        };
        let store = match store {
            Some(url) => url.to_string(),
            None => format!(
                "sqlite://{}",
                self.dir.path().join("approvals.db").display()
            ),
        };
        format!(
            "{}{policy}approvals:\n  store: {store}\n  admin: {{listen: '127.0.0.1:$ADMIN_PORT'}}\n  sweep_interval_seconds: 1\n",
            self.issuer.identity_config()
        )
    }

    async fn stack(&self, flavor: Flavor, store: Option<&str>) -> anyhow::Result<Stack> {
        Stack::start(StackOptions {
            flavor,
            warden_config: self.warden_config(true, store),
            ..StackOptions::default()
        })
        .await
    }
}

/// The hold rule the binding test uses: any POST to /api/query.
const QUERY_POLICY: &str = r#"  - id: hold-query
    when: { method: POST, path: "/api/query" }
    action: hold
    reason: queries need a human's approval
"#;

/// What curl got back.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn approval_id(&self) -> anyhow::Result<String> {
        self.header("x-warden-approval-id")
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no x-warden-approval-id in {self:#?}"))
    }

    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("body is not JSON: {self:#?}"))
    }

    /// Fails unless this is a hold answer; returns its approval id.
    fn held(&self) -> anyhow::Result<String> {
        ensure!(
            self.status == 403 && self.header("x-warden-decision") == Some("hold"),
            "expected a hold, got {self:#?}"
        );
        self.approval_id()
    }
}

/// Runs the real `curl`: `METHOD url` with the bearer `token`.
async fn curl(method: &str, url: &str, token: &str) -> anyhow::Result<Reply> {
    curl_with(method, url, token, &[]).await
}

/// [`curl`] with extra `curl` arguments (headers, a body).
async fn curl_with(method: &str, url: &str, token: &str, extra: &[&str]) -> anyhow::Result<Reply> {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "60", "-X", method])
        .arg("-H")
        .arg(format!("authorization: Bearer {token}"))
        .args(extra)
        .arg(url)
        .output()
        .await
        .context("running curl")?;
    ensure!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no header/body split in curl output:\n{text}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no status line in:\n{text}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Runs `warden approvals --admin-url URL --token T ARGS...`.
async fn cli(admin_url: &str, token: &str, args: &[&str]) -> anyhow::Result<Output> {
    let bin = paths::warden_bin().map_err(|e| anyhow!(e))?;
    Ok(Command::new(bin)
        .args(["approvals", "--admin-url", admin_url, "--token", token])
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

/// `cli` that must succeed.
async fn cli_ok(admin_url: &str, token: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = cli(admin_url, token, args).await?;
    ensure!(
        output.status.success(),
        "warden approvals {args:?} failed: {}",
        describe(&output)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// `cli` that must fail; returns its stderr.
async fn cli_refused(admin_url: &str, token: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = cli(admin_url, token, args).await?;
    ensure!(
        !output.status.success(),
        "warden approvals {args:?} should have been refused: {}",
        describe(&output)
    );
    Ok(String::from_utf8_lossy(&output.stderr).into_owned())
}

/// `warden approvals show ID` as JSON.
async fn show(admin_url: &str, token: &str, id: &str) -> anyhow::Result<Value> {
    let out = cli_ok(admin_url, token, &["show", id]).await?;
    serde_json::from_str(&out).with_context(|| format!("show printed no JSON: {out}"))
}

/// How many `method path` requests the stack's upstream has seen.
fn upstream_count(stack: &Stack, method: &str, path: &str) -> usize {
    stack
        .upstream
        .seen()
        .iter()
        .filter(|s| s.method == method && s.path == path)
        .count()
}

/// The pending approval for `rule` listed by `warden approvals list --json`.
async fn pending_for_rule(admin_url: &str, token: &str, rule: &str) -> Option<String> {
    let out = cli_ok(admin_url, token, &["list", "--json"]).await.ok()?;
    let list: Vec<Value> = serde_json::from_str(&out).ok()?;
    list.iter()
        .find(|a| a["rule"] == rule && a["status"] == "pending")
        .and_then(|a| a["id"].as_str())
        .map(str::to_string)
}

/// Held → approved by alice → the same request passes exactly once → held again with a
/// new approval. Returns the stack for further checks.
async fn hold_approve_once(fixture: &Fixture, stack: &Stack, path: &str) -> anyhow::Result<()> {
    let admin = stack.warden.admin_url()?;
    let t = &fixture.tokens;
    let url = stack.envoy.url(path);

    let held = curl("DELETE", &url, &t.agent).await?;
    let id = held.held().with_context(|| stack.logs())?;
    ensure!(id.starts_with("apr-"), "{id}");
    ensure!(held.header("retry-after").is_some(), "{held:#?}");
    let body = held.json()?;
    let approval = &body["error"]["approval"];
    ensure!(
        body["error"]["code"] == "held_for_approval"
            && approval["id"] == id.as_str()
            && approval["approvers"] == serde_json::json!(["approvers"])
            && approval["retry"]
                .as_str()
                .is_some_and(|r| r.contains(&format!("warden approvals approve {id}"))),
        "hold body: {body:#}"
    );
    ensure!(upstream_count(stack, "DELETE", path) == 0);

    cli_ok(&admin, &t.alice, &["approve", &id, "--reason", "ok"]).await?;
    let passed = curl("DELETE", &url, &t.agent).await?;
    ensure!(
        passed.status == 200,
        "the approved retry: {passed:#?}\n{}",
        stack.logs()
    );
    ensure!(upstream_count(stack, "DELETE", path) == 1);
    let shown = show(&admin, &t.alice, &id).await?;
    ensure!(shown["status"] == "used", "{shown:#}");

    let again = curl("DELETE", &url, &t.agent).await?;
    let second = again.held()?;
    ensure!(second != id, "a second use reused {id}");
    ensure!(upstream_count(stack, "DELETE", path) == 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_is_held_approved_once_and_held_again() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtProc, None).await?;
    let admin = stack.warden.admin_url()?;
    let t = &fixture.tokens;

    // The whole cycle, once.
    hold_approve_once(&fixture, &stack, "/api/items/1")
        .await
        .with_context(|| stack.logs())?;

    // An approval covers one operation of one identity: approve /api/items/2 for
    // agent-1, then another path and another agent are still held.
    let id = curl("DELETE", &stack.envoy.url("/api/items/2"), &t.agent)
        .await?
        .held()?;
    cli_ok(&admin, &t.alice, &["approve", &id]).await?;
    let other_path = curl("DELETE", &stack.envoy.url("/api/items/3"), &t.agent)
        .await?
        .held()?;
    ensure!(other_path != id);
    let other_agent = curl("DELETE", &stack.envoy.url("/api/items/2"), &t.other_agent)
        .await?
        .held()?;
    ensure!(other_agent != id);
    ensure!(upstream_count(&stack, "DELETE", "/api/items/2") == 0);
    ensure!(upstream_count(&stack, "DELETE", "/api/items/3") == 0);
    // ...and the approved one still passes (once) for agent-1.
    let passed = curl("DELETE", &stack.envoy.url("/api/items/2"), &t.agent).await?;
    ensure!(passed.status == 200, "{passed:#?}");
    ensure!(upstream_count(&stack, "DELETE", "/api/items/2") == 1);

    // The agent is in `approvers` too, but cannot decide its own request.
    let refused = cli_refused(&admin, &t.agent, &["approve", &other_path]).await?;
    ensure!(
        refused.contains("cannot decide"),
        "self-approval refusal: {refused}"
    );
    let shown = show(&admin, &t.alice, &other_path).await?;
    ensure!(shown["status"] == "pending", "{shown:#}");

    // Denial: recorded with who and why; while it stands, the retry is answered as
    // denied, quoting the denied approval.
    cli_ok(
        &admin,
        &t.bob,
        &["deny", &other_path, "--reason", "not during the freeze"],
    )
    .await?;
    let retry = curl("DELETE", &stack.envoy.url("/api/items/3"), &t.agent).await?;
    ensure!(
        retry.status == 403
            && retry.header("x-warden-decision") == Some("deny")
            && retry.header("x-warden-approval-id") == Some(other_path.as_str()),
        "retry after a denial: {retry:#?}"
    );
    ensure!(upstream_count(&stack, "DELETE", "/api/items/3") == 0);
    let shown = show(&admin, &t.alice, &other_path).await?;
    let vote = &shown["votes"][0];
    ensure!(
        shown["status"] == "denied"
            && vote["verdict"] == "deny"
            && vote["by"]["subject"] == "bob"
            && vote["justification"] == "not during the freeze",
        "{shown:#}"
    );

    // Expiry: nobody decides within 2 s; the sweep expires it; a late approve is refused.
    let short = curl("DELETE", &stack.envoy.url("/api/short/1"), &t.agent)
        .await?
        .held()?;
    poll_until("the hold to expire", STATE_TIMEOUT, || async {
        let shown = show(&admin, &t.alice, &short).await.ok()?;
        (shown["status"] == "expired").then_some(())
    })
    .await
    .with_context(|| stack.logs())?;
    let late = cli_refused(&admin, &t.alice, &["approve", &short]).await?;
    ensure!(
        late.contains("409") || late.contains("expired"),
        "late approve: {late}"
    );
    ensure!(upstream_count(&stack, "DELETE", "/api/short/1") == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_authz_holds_and_passes_the_approved_retry_once() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtAuthz, None).await?;
    hold_approve_once(&fixture, &stack, "/api/items/1")
        .await
        .with_context(|| stack.logs())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_m_approvers_with_justification() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtProc, None).await?;
    let admin = stack.warden.admin_url()?;
    let t = &fixture.tokens;
    let url = stack.envoy.url("/api/critical/1");

    let id = curl("DELETE", &url, &t.agent).await?.held()?;
    let refused = cli_refused(&admin, &t.alice, &["approve", &id]).await?;
    ensure!(refused.contains("justification"), "{refused}");

    cli_ok(
        &admin,
        &t.alice,
        &["approve", &id, "--reason", "ticket OPS-1"],
    )
    .await?;
    let still = curl("DELETE", &url, &t.agent).await?;
    still.held().with_context(|| stack.logs())?;
    ensure!(upstream_count(&stack, "DELETE", "/api/critical/1") == 0);
    // alice cannot count twice.
    cli_refused(&admin, &t.alice, &["approve", &id, "--reason", "again"]).await?;

    cli_ok(
        &admin,
        &t.bob,
        &["approve", &id, "--reason", "ticket OPS-1"],
    )
    .await?;
    let shown = show(&admin, &t.bob, &id).await?;
    ensure!(shown["status"] == "approved", "{shown:#}");
    let passed = curl("DELETE", &url, &t.agent).await?;
    ensure!(passed.status == 200, "{passed:#?}\n{}", stack.logs());
    ensure!(upstream_count(&stack, "DELETE", "/api/critical/1") == 1);
    curl("DELETE", &url, &t.agent).await?.held()?;
    ensure!(upstream_count(&stack, "DELETE", "/api/critical/1") == 1);
    Ok(())
}

/// Starts a wait-mode request in the background, waits until its approval is listed
/// (the upstream has not seen it then), decides it with `decide` (`approve`/`deny`)
/// through `decide_admin`, and returns what the paused request finally got.
async fn wait_mode(
    fixture: &Fixture,
    via: &Stack,
    decide_admin: &str,
    path: &str,
    decide: &str,
) -> anyhow::Result<Reply> {
    let t = &fixture.tokens;
    let url = via.envoy.url(path);
    let token = t.agent.clone();
    let request = tokio::spawn(async move { curl("DELETE", &url, &token).await });
    let id = poll_until("the waiting request's approval", STATE_TIMEOUT, || {
        pending_for_rule(decide_admin, &t.alice, "hold-wait")
    })
    .await
    .with_context(|| via.logs())?;
    ensure!(
        !request.is_finished(),
        "the waiting request returned before a decision: {:?}",
        request.await
    );
    ensure!(upstream_count(via, "DELETE", path) == 0);
    cli_ok(
        decide_admin,
        &t.alice,
        &[decide, &id, "--reason", "decided"],
    )
    .await?;
    let reply = tokio::time::timeout(Duration::from_secs(30), request)
        .await
        .context("the waiting request did not finish after the decision")???;
    Ok(reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_mode_continues_on_approval_and_answers_a_denial() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtProc, None).await?;
    let admin = stack.warden.admin_url()?;

    let reply = wait_mode(&fixture, &stack, &admin, "/api/slow/1", "approve").await?;
    ensure!(reply.status == 200, "{reply:#?}\n{}", stack.logs());
    ensure!(upstream_count(&stack, "DELETE", "/api/slow/1") == 1);

    let reply = wait_mode(&fixture, &stack, &admin, "/api/slow/2", "deny").await?;
    ensure!(
        reply.status == 403 && reply.header("x-warden-decision") == Some("deny"),
        "a denied wait: {reply:#?}\n{}",
        stack.logs()
    );
    ensure!(upstream_count(&stack, "DELETE", "/api/slow/2") == 0);
    Ok(())
}

/// Runs the real kubectl against `server` with `token`.
async fn kubectl(dir: &Path, server: &str, token: &str, args: &[&str]) -> anyhow::Result<Output> {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n")?;
    Ok(Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("kube-cache"))
        .args(["--server", server, "--token", token])
        .args(["--insecure-skip-tls-verify", "--request-timeout", "30s"])
        .args(args)
        .output()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_is_held_then_approved_once() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let kube = KubeApi::start().await?;
    // The built-in default pack: deleting Kubernetes objects is held.
    let warden = Warden::start(fixture.dir.path(), &fixture.warden_config(false, None)).await?;
    // kubectl sends its token over https only: Envoy's listener gets a self-signed
    // certificate (kubectl runs with --insecure-skip-tls-verify).
    let (cert, key) = (
        fixture.dir.path().join("tls.crt"),
        fixture.dir.path().join("tls.key"),
    );
    let openssl = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .await?;
    ensure!(openssl.status.success(), "openssl: {}", describe(&openssl));
    let envoy = Envoy::start_with_tls(
        fixture.dir.path(),
        Flavor::ExtProc,
        WardenAddress::Tcp(warden.port),
        kube.addr(),
        Some((&cert, &key)),
    )
    .await?;
    let logs = || {
        format!(
            "{}\n{}",
            warden.process.log_tail(),
            envoy.process.log_tail()
        )
    };
    let admin = warden.admin_url()?;
    let t = &fixture.tokens;
    let server = format!("https://127.0.0.1:{}", envoy.port);
    let pod = "/api/v1/namespaces/prod/pods/web-1";
    let delete = ["delete", "pod", "web-1", "-n", "prod"];

    let held = kubectl(fixture.dir.path(), &server, &t.agent, &delete).await?;
    let stderr = String::from_utf8_lossy(&held.stderr).into_owned();
    ensure!(
        !held.status.success() && stderr.contains("Error from server (Forbidden)"),
        "kubectl delete was not held: {}\n{}",
        describe(&held),
        logs()
    );
    let id = stderr
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == ':')
        .find(|w| w.starts_with("apr-"))
        .map(|w| w.trim_end_matches('.').to_string())
        .ok_or_else(|| anyhow!("no approval id in kubectl's stderr: {stderr}"))?;
    ensure!(kube.deletes_of(pod) == 0, "{:?}", kube.seen());

    cli_ok(&admin, &t.alice, &["approve", &id]).await?;
    let passed = kubectl(fixture.dir.path(), &server, &t.agent, &delete).await?;
    ensure!(
        passed.status.success() && String::from_utf8_lossy(&passed.stdout).contains("deleted"),
        "the approved kubectl delete: {}\n{:?}\n{}",
        describe(&passed),
        kube.seen(),
        logs()
    );
    ensure!(kube.deletes_of(pod) == 1, "{:?}", kube.seen());

    let again = kubectl(fixture.dir.path(), &server, &t.agent, &delete).await?;
    let stderr = String::from_utf8_lossy(&again.stderr);
    ensure!(
        !again.status.success()
            && stderr.contains("Error from server (Forbidden)")
            && stderr.contains("apr-")
            && !stderr.contains(&id),
        "a second delete was not held anew: {}",
        describe(&again)
    );
    ensure!(kube.deletes_of(pod) == 1, "{:?}", kube.seen());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_approvals_through_postgres() -> anyhow::Result<()> {
    let pg = Postgres::start()?;
    let url = pg.create_database("approvals")?;
    let fixture = Fixture::start().await?;
    let a = fixture.stack(Flavor::ExtProc, Some(&url)).await?;
    let b = fixture.stack(Flavor::ExtProc, Some(&url)).await?;
    let (admin_a, admin_b) = (a.warden.admin_url()?, b.warden.admin_url()?);
    let t = &fixture.tokens;
    let path = "/api/items/1";

    // Held via A, approved via B's admin API, the retry through A passes once.
    let id = curl("DELETE", &a.envoy.url(path), &t.agent)
        .await?
        .held()
        .with_context(|| a.logs())?;
    cli_ok(&admin_b, &t.alice, &["approve", &id]).await?;
    let passed = curl("DELETE", &a.envoy.url(path), &t.agent).await?;
    ensure!(passed.status == 200, "{passed:#?}\n{}", a.logs());
    ensure!(upstream_count(&a, "DELETE", path) == 1);
    // Used: through B it is held again.
    curl("DELETE", &b.envoy.url(path), &t.agent)
        .await?
        .held()
        .with_context(|| b.logs())?;
    ensure!(upstream_count(&b, "DELETE", path) == 0);
    let shown = show(&admin_a, &t.alice, &id).await?;
    ensure!(shown["status"] == "used", "{shown:#}");

    // A request waiting on B wakes when the approval is recorded through A.
    let reply = wait_mode(&fixture, &b, &admin_a, "/api/slow/1", "approve").await?;
    ensure!(reply.status == 200, "{reply:#?}\n{}", b.logs());
    ensure!(upstream_count(&b, "DELETE", "/api/slow/1") == 1);
    ensure!(upstream_count(&a, "DELETE", "/api/slow/1") == 0);
    drop((a, b));
    drop(pg);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_a_token() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtProc, None).await?;
    let response = http1_client()
        .get(format!("{}/v1/approvals", stack.warden.admin_url()?))
        .send()
        .await?;
    ensure!(response.status() == 401, "{}", response.status());
    Ok(())
}

/// `POST /api/query` (held by `hold-query`) with a JSON body, as `token`, with extra
/// header lines.
async fn query(stack: &Stack, token: &str, headers: &[String]) -> anyhow::Result<Reply> {
    let mut extra: Vec<&str> = vec![
        "-H",
        "content-type: application/json",
        "--data",
        r#"{"sql":"SELECT 1"}"#,
    ];
    for header in headers {
        extra.push("-H");
        extra.push(header);
    }
    curl_with("POST", &stack.envoy.url("/api/query"), token, &extra).await
}

/// An approval binds the authority's port: approved for `127.0.0.1:P`, the same request
/// addressed to `127.0.0.1:P+1` is held again (before, the port was dropped and it
/// passed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_binds_the_port() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtProc, None).await?;
    let admin = stack.warden.admin_url()?;
    let t = &fixture.tokens;
    let port = stack.envoy.port;
    let id = query(&stack, &t.agent, &[])
        .await?
        .held()
        .with_context(|| stack.logs())?;
    cli_ok(&admin, &t.alice, &["approve", &id, "--reason", "ok"]).await?;
    let other_port = query(&stack, &t.agent, &[format!("host: 127.0.0.1:{}", port + 1)]).await?;
    other_port
        .held()
        .context("an approval for one port covered another")?;
    ensure!(upstream_count(&stack, "POST", "/api/query") == 0);
    let approved = query(&stack, &t.agent, &[]).await?;
    ensure!(approved.status == 200, "the approved retry: {approved:#?}");
    ensure!(upstream_count(&stack, "POST", "/api/query") == 1);
    Ok(())
}

/// An approval binds the headers that are part of the operation, in any spelling:
/// approved with `x-database: staging`, the request for `prod` (or without the header)
/// is held again (before, headers were ignored and it passed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_binds_the_headers_that_choose_the_target() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtProc, None).await?;
    let admin = stack.warden.admin_url()?;
    let t = &fixture.tokens;
    let staging = ["x-database: staging".to_string()];
    let id = query(&stack, &t.agent, &staging)
        .await?
        .held()
        .with_context(|| stack.logs())?;
    cli_ok(&admin, &t.alice, &["approve", &id, "--reason", "ok"]).await?;
    for header in ["x-database: prod", "x_database: prod", "X-Database: prod"] {
        let retry = query(&stack, &t.agent, &[header.to_string()]).await?;
        retry
            .held()
            .with_context(|| format!("approved for staging, passed with {header}"))?;
    }
    query(&stack, &t.agent, &[])
        .await?
        .held()
        .context("approved with x-database, passed without it")?;
    query(
        &stack,
        &t.agent,
        &[
            "x-database: staging".into(),
            "impersonate-user: admin".into(),
        ],
    )
    .await?
    .held()
    .context("approved without impersonation, passed with it")?;
    ensure!(upstream_count(&stack, "POST", "/api/query") == 0);
    let approved = query(&stack, &t.agent, &staging).await?;
    ensure!(approved.status == 200, "the approved retry: {approved:#?}");
    ensure!(upstream_count(&stack, "POST", "/api/query") == 1);
    Ok(())
}

/// Separation of duties: an agent acting for alice (an `act` claim) asks on her
/// behalf, so alice cannot approve its hold; another approver can (before, only the
/// subjects were compared and alice approved her own agent's request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_an_agent_acts_for_cannot_approve_it() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let stack = fixture.stack(Flavor::ExtProc, None).await?;
    let admin = stack.warden.admin_url()?;
    let t = &fixture.tokens;
    let delegated = fixture
        .issuer
        .token_acting_for("agent-9", &["agents"], "alice")?;
    let id = query(&stack, &delegated, &[]).await?.held()?;
    let refused = cli_refused(&admin, &t.alice, &["approve", &id, "--reason", "mine"]).await?;
    ensure!(
        refused.contains("cannot decide"),
        "alice approving the agent acting for her: {refused}"
    );
    cli_ok(&admin, &t.bob, &["approve", &id, "--reason", "ok"]).await?;
    let approved = query(&stack, &delegated, &[]).await?;
    ensure!(approved.status == 200, "the approved retry: {approved:#?}");
    Ok(())
}
