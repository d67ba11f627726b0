//! Holds and approvals with real clients, end to end: a real `git push` over smart HTTP
//! to `git http-backend`, and MCP tool calls with the official Python SDK, through the
//! shipped Envoy config and `warden serve` with identity (a `warden dev-issuer`), the
//! default policy pack, and approvals decided with the real `warden approvals` CLI.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context};
use warden_integration_tests::git_http::GitHttpServer;
use warden_integration_tests::paths;
use warden_integration_tests::process::{free_port, poll_until, ChildProcess};
use warden_integration_tests::stack::{http1_client, Envoy, Flavor, Warden, WardenAddress};

const READY: Duration = Duration::from_secs(60);

/// Envoy (shipped ext_proc config) + Warden with identity and the admin API + a dev
/// issuer, in front of `upstream`. Fields drop in order: Envoy first, logs last.
struct Harness {
    envoy: Envoy,
    warden: Warden,
    _issuer: ChildProcess,
    admin_url: String,
    /// `agent-1` in group `agents`.
    agent_token: String,
    /// `alice` in group `approvers`.
    approver_token: String,
    _dir: tempfile::TempDir,
}

fn warden_command() -> anyhow::Result<Command> {
    Ok(Command::new(paths::warden_bin().map_err(|e| anyhow!(e))?))
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl Harness {
    async fn start(upstream: SocketAddr) -> anyhow::Result<Harness> {
        let dir = tempfile::Builder::new()
            .prefix("warden-e2e-clients-")
            .disable_cleanup(std::env::var_os("WARDEN_KEEP_TEST_DIRS").is_some())
            .tempdir()?;
        let key_dir = dir.path().join("issuer");
        let issuer_port = free_port()?;
        let issuer = format!("http://127.0.0.1:{issuer_port}");
        let mut command = warden_command()?;
        command
            .arg("dev-issuer")
            .arg("--listen")
            .arg(format!("127.0.0.1:{issuer_port}"))
            .arg("--key-dir")
            .arg(&key_dir);
        let mut issuer_process = ChildProcess::spawn("dev-issuer", command, dir.path())?;
        let client = http1_client();
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let ready = poll_until("dev-issuer discovery", READY, || {
            let (client, discovery) = (client.clone(), discovery.clone());
            async move {
                let response = client.get(discovery).send().await.ok()?;
                response.status().is_success().then_some(())
            }
        })
        .await;
        if let Err(e) = ready {
            issuer_process.ensure_running()?;
            return Err(e.context(issuer_process.log_tail()));
        }
        let token = |sub: &str, group: &str| -> anyhow::Result<String> {
            let output = warden_command()?
                .args(["dev-token", "--sub", sub, "--group", group, "--issuer"])
                .arg(&issuer)
                .arg("--key-dir")
                .arg(&key_dir)
                .output()?;
            ensure!(output.status.success(), "{}", output_text(&output));
            Ok(String::from_utf8(output.stdout)?.trim().to_string())
        };
        let agent_token = token("agent-1", "agents")?;
        let approver_token = token("alice", "approvers")?;

        let admin_port = free_port()?;
        let config = format!(
            "identity:\n  required: true\n  issuers:\n    - issuer: {issuer}\n      audiences: [warden]\n      allow_http: true\n\
             approvals:\n  store: sqlite://{}\n  admin:\n    listen: 127.0.0.1:{admin_port}\n",
            dir.path().join("approvals.db").display()
        );
        let warden = Warden::start(dir.path(), &config).await?;
        poll_until("the admin API", READY, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", admin_port))
                .await
                .ok()
        })
        .await
        .with_context(|| warden.process.log_tail())?;
        let envoy = Envoy::start(
            dir.path(),
            Flavor::ExtProc,
            WardenAddress::Tcp(warden.port),
            upstream,
        )
        .await?;
        Ok(Harness {
            envoy,
            warden,
            _issuer: issuer_process,
            admin_url: format!("http://127.0.0.1:{admin_port}"),
            agent_token,
            approver_token,
            _dir: dir,
        })
    }

    /// `warden approvals <args>` as the approver; the output (stdout + stderr).
    fn approvals(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = warden_command()?
            .args(["approvals", "--admin-url", &self.admin_url, "--token"])
            .arg(&self.approver_token)
            .args(args)
            .output()?;
        let text = output_text(&output);
        ensure!(
            output.status.success(),
            "warden approvals {args:?} failed: {text}\n{}",
            self.logs()
        );
        Ok(text)
    }

    /// The approval's status, as `warden approvals show` prints it.
    fn status_of(&self, id: &str) -> anyhow::Result<String> {
        let text = self.approvals(&["show", id])?;
        let json: serde_json::Value = serde_json::from_str(&text).context(text.clone())?;
        Ok(json["status"].as_str().unwrap_or_default().to_string())
    }

    fn logs(&self) -> String {
        format!(
            "{}\n{}",
            self.warden.process.log_tail(),
            self.envoy.process.log_tail()
        )
    }
}

/// The first approval id (`apr-...`) in `text`.
fn approval_id(text: &str) -> Option<String> {
    let start = text.find("apr-")?;
    let id: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (id.len() > "apr-".len()).then_some(id)
}

// ---------------------------------------------------------------------------------- git

/// Runs `git` in `dir`, isolated from the user's and the system's configuration.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
        .with_context(|| {
            format!(
                "cannot run git: {}",
                warden_integration_tests::git_http::INSTALL_HINT
            )
        })?;
    Ok(output)
}

fn git_ok(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = git(dir, args)?;
    ensure!(
        output.status.success(),
        "git {args:?}: {}",
        output_text(&output)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

fn commit(work: &Path, file: &str, text: &str) -> anyhow::Result<String> {
    std::fs::write(work.join(file), text)?;
    git_ok(work, &["add", file])?;
    git_ok(
        work,
        &[
            "-c",
            "user.name=Agent",
            "-c",
            "user.email=agent@example.test",
            "commit",
            "-q",
            "-m",
            text,
        ],
    )?;
    git_ok(work, &["rev-parse", "HEAD"])
}

/// The bare repository's commit for `refname`, `None` when the ref does not exist.
fn bare_ref(bare: &Path, refname: &str) -> anyhow::Result<Option<String>> {
    let output = git(bare, &["rev-parse", "--verify", "--quiet", refname])?;
    Ok(output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string()))
}

/// `git push <url> <refspec>` as the agent; (succeeded, stderr).
async fn push(
    work: &Path,
    url: &str,
    token: &str,
    refspec: &str,
) -> anyhow::Result<(bool, String)> {
    let (work, url, header, refspec) = (
        work.to_path_buf(),
        url.to_string(),
        format!("http.extraHeader=Authorization: Bearer {token}"),
        refspec.to_string(),
    );
    let output =
        tokio::task::spawn_blocking(move || git(&work, &["-c", &header, "push", &url, &refspec]))
            .await??;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
    ))
}

/// A held push: git fails, prints the hold and names the approval; returns its id.
fn expect_held_push(result: &(bool, String), h: &Harness) -> anyhow::Result<String> {
    let (ok, out) = result;
    eprintln!("--- git push output ---\n{out}");
    ensure!(!ok, "the push was not held:\n{out}\n{}", h.logs());
    let rejected = out
        .lines()
        .find(|l| l.starts_with(" ! [remote rejected] main -> main (held for approval apr-"))
        .with_context(|| format!("git did not report main as held:\n{out}\n{}", h.logs()))?;
    let id = approval_id(rejected).with_context(|| format!("no approval id in:\n{out}"))?;
    // Warden's message, on git's side band (wrapped to the terminal's width).
    let remote = out
        .lines()
        .filter_map(|l| l.strip_prefix("remote: "))
        .collect::<Vec<_>>()
        .join(" ");
    ensure!(
        remote.contains("Warden held this request") && remote.contains(&id),
        "git did not print Warden's message naming {id}:\n{out}"
    );
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_git_push_is_held_approved_once_and_held_again() -> anyhow::Result<()> {
    let repos = tempfile::tempdir()?;
    let server = GitHttpServer::start(repos.path()).await?;
    let bare = repos.path().join("repo.git");
    git_ok(
        repos.path(),
        &["init", "-q", "--bare", "-b", "main", "repo.git"],
    )?;
    git_ok(&bare, &["config", "http.receivepack", "true"])?;
    let work = repos.path().join("work");
    std::fs::create_dir(&work)?;
    git_ok(&work, &["init", "-q", "-b", "main"])?;
    let first = commit(&work, "a.txt", "one")?;

    let h = Harness::start(server.addr()).await?;
    let url = h.envoy.url("/repo.git");
    let token = h.agent_token.clone();

    // A push to main is held: git fails and says so; the repository is unchanged.
    let held = push(&work, &url, &token, "main").await?;
    let id = expect_held_push(&held, &h)?;
    ensure!(
        bare_ref(&bare, "refs/heads/main")?.is_none(),
        "a held push landed"
    );
    ensure!(
        h.status_of(&id)? == "pending",
        "{}",
        h.approvals(&["show", &id])?
    );

    // Approved with the CLI, the same push goes through — once.
    h.approvals(&["approve", &id, "--reason", "e2e"])?;
    let (ok, out) = push(&work, &url, &token, "main").await?;
    ensure!(ok, "the approved push failed:\n{out}\n{}", h.logs());
    ensure!(
        bare_ref(&bare, "refs/heads/main")?.as_deref() == Some(first.as_str()),
        "the approved push did not land {first}"
    );
    ensure!(
        h.status_of(&id)? == "used",
        "{}",
        h.approvals(&["show", &id])?
    );

    // A new commit is a new operation: held again, with a new approval.
    let second = commit(&work, "b.txt", "two")?;
    let held = push(&work, &url, &token, "main").await?;
    let id2 = expect_held_push(&held, &h)?;
    ensure!(id2 != id, "the second push reused approval {id}");
    ensure!(bare_ref(&bare, "refs/heads/main")?.as_deref() == Some(first.as_str()));

    // Denied: the retry does not pass; git says it was denied, quoting the approval,
    // and no new approval is opened while the denial stands.
    h.approvals(&["deny", &id2, "--reason", "not now"])?;
    ensure!(h.status_of(&id2)? == "denied");
    let (ok, out) = push(&work, &url, &token, "main").await?;
    ensure!(!ok, "a denied push passed:\n{out}");
    ensure!(
        out.contains(&id2) && out.contains("denied"),
        "after a denial:\n{out}"
    );
    ensure!(
        approval_id(&out).as_deref() == Some(id2.as_str()),
        "a new approval was opened after the denial:\n{out}"
    );
    ensure!(
        bare_ref(&bare, "refs/heads/main")?.as_deref() == Some(first.as_str()),
        "a denied push landed"
    );

    // A feature branch needs no approval.
    let (ok, out) = push(&work, &url, &token, "main:refs/heads/feature/x").await?;
    ensure!(ok, "the feature push failed:\n{out}\n{}", h.logs());
    ensure!(!out.contains("apr-"), "{out}");
    ensure!(bare_ref(&bare, "refs/heads/feature/x")?.as_deref() == Some(second.as_str()));
    Ok(())
}

// ---------------------------------------------------------------------------------- MCP

/// How to install what the MCP tests need.
const MCP_HINT: &str = "install the official MCP Python SDK into the repository's venv: \
     `python3 -m venv .venv && .venv/bin/pip install 'mcp>=1.9,<2'` (scripts/test does this), \
     or set WARDEN_PYTHON to a Python that has it";

/// The Python with the `mcp` SDK: `$WARDEN_PYTHON`, else `<repo>/.venv/bin/python`.
/// Fails (never skips) with how to install it.
fn mcp_python() -> anyhow::Result<PathBuf> {
    let python = std::env::var_os("WARDEN_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::repo_root().join(".venv/bin/python"));
    let check = Command::new(&python)
        .args([
            "-c",
            "from mcp.server.fastmcp import FastMCP; from mcp.client.streamable_http import streamablehttp_client",
        ])
        .output()
        .with_context(|| format!("cannot run {}: {MCP_HINT}", python.display()))?;
    if !check.status.success() {
        bail!(
            "{} has no usable `mcp` package ({}): {MCP_HINT}",
            python.display(),
            output_text(&check).trim()
        );
    }
    Ok(python)
}

/// What `client.py` printed: the tool result.
#[derive(Debug, serde::Deserialize)]
struct ToolResult {
    #[serde(rename = "isError")]
    is_error: bool,
    text: String,
}

/// Calls `tool` with a new SDK client process (a new session), after `pings` pings (so
/// the call's JSON-RPC id is `pings + 1`: the SDK numbers from 0 per session).
async fn call_tool(
    python: &Path,
    url: &str,
    token: &str,
    tool: &str,
    arguments: &str,
    pings: u32,
) -> anyhow::Result<ToolResult> {
    let script = paths::repo_root().join("integration-tests/mcp/client.py");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(python)
            .arg(script)
            .args([url, token, tool, arguments, &pings.to_string()])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("the MCP client did not finish in 60 s")??;
    ensure!(
        output.status.success(),
        "the MCP client failed: {}",
        output_text(&output)
    );
    let stdout = String::from_utf8(output.stdout)?;
    serde_json::from_str(stdout.trim()).with_context(|| format!("client output: {stdout}"))
}

/// The test MCP server (`integration-tests/mcp/server.py`), listening; its address.
async fn start_mcp_server(python: &Path, dir: &Path) -> anyhow::Result<(ChildProcess, SocketAddr)> {
    let port = free_port()?;
    let mut command = Command::new(python);
    command
        .arg(paths::repo_root().join("integration-tests/mcp/server.py"))
        .arg(port.to_string());
    let mut server = ChildProcess::spawn("mcp-server", command, dir)?;
    let up = poll_until("the MCP server", READY, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    if let Err(e) = up {
        server.ensure_running()?;
        return Err(e.context(server.log_tail()));
    }
    Ok((server, SocketAddr::from(([127, 0, 0, 1], port))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tool_calls_from_the_python_sdk_are_held_and_approved_once() -> anyhow::Result<()> {
    let python = mcp_python()?;
    let server_dir = tempfile::tempdir()?;
    let (server, addr) = start_mcp_server(&python, server_dir.path()).await?;
    let h = Harness::start(addr).await?;
    let url = h.envoy.url("/mcp");
    let call = |tool: &'static str, arguments: &'static str, pings: u32| {
        call_tool(&python, &url, &h.agent_token, tool, arguments, pings)
    };
    let context = |r: &ToolResult| format!("{r:?}\n{}\n{}", server.log_tail(), h.logs());

    // A harmless tool passes.
    let listed = call("list_items", "{}", 0).await?;
    ensure!(
        !listed.is_error && listed.text.contains("items: alpha, beta"),
        "{}",
        context(&listed)
    );

    // A destructive one is held: an error result naming the approval.
    let demo = r#"{"name": "demo"}"#;
    let held = call("delete_repo", demo, 0).await?;
    ensure!(held.is_error, "not held: {}", context(&held));
    let id = approval_id(&held.text).with_context(|| context(&held))?;
    ensure!(
        held.text.contains("Warden held this request") && held.text.contains("for human approval"),
        "{}",
        context(&held)
    );

    // Approved with the CLI, a new client's identical call passes — once — although
    // its session and JSON-RPC id differ.
    h.approvals(&["approve", &id, "--reason", "e2e"])?;
    let passed = call("delete_repo", demo, 3).await?;
    ensure!(
        !passed.is_error && passed.text == "deleted repo demo (call 1)",
        "the approved call did not reach the server: {}",
        context(&passed)
    );
    ensure!(h.status_of(&id)? == "used");
    let again = call("delete_repo", demo, 1).await?;
    ensure!(again.is_error, "a second use passed: {}", context(&again));
    let id2 = approval_id(&again.text).with_context(|| context(&again))?;
    ensure!(id2 != id, "the repeat quoted the used approval {id}");

    // An approval covers its arguments only: another repository is held.
    h.approvals(&["approve", &id2])?;
    let other = call("delete_repo", r#"{"name": "other"}"#, 0).await?;
    ensure!(
        other.is_error,
        "other arguments passed: {}",
        context(&other)
    );
    let id3 = approval_id(&other.text).with_context(|| context(&other))?;
    ensure!(id3 != id2 && h.status_of(&id3)? == "pending");
    // ...and the approval for `demo` is still there for the call it was given for.
    ensure!(h.status_of(&id2)? == "approved");
    let passed = call("delete_repo", demo, 2).await?;
    ensure!(
        !passed.is_error && passed.text == "deleted repo demo (call 2)",
        "{}",
        context(&passed)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_blob_resource_reaches_the_sdk_with_its_secret_masked_inside() -> anyhow::Result<()>
{
    use base64::Engine as _;
    let python = mcp_python()?;
    let server_dir = tempfile::tempdir()?;
    let (server, addr) = start_mcp_server(&python, server_dir.path()).await?;
    let h = Harness::start(addr).await?;
    let script = paths::repo_root().join("integration-tests/mcp/client.py");
    let url = h.envoy.url("/mcp");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&python)
            .arg(script)
            .args([
                url.as_str(),
                h.agent_token.as_str(),
                "--read-resource",
                "file:///app/.env",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("the MCP client did not finish in 60 s")??;
    let context = || {
        format!(
            "{}\n{}\n{}",
            output_text(&output),
            server.log_tail(),
            h.logs()
        )
    };
    ensure!(
        output.status.success(),
        "the MCP client failed: {}",
        context()
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(context)?;
    // The SDK decoded the SSE event and validated the result: the blob is still a blob.
    let blob = read["blob"]
        .as_str()
        .with_context(|| format!("no blob: {}", context()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .with_context(|| format!("the blob is no longer base64: {blob}"))?;
    let file = String::from_utf8(bytes)?;
    ensure!(
        !file.contains("ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE")
            && !file.contains("9xQ2mK7vL4pR8sT1"),
        "the token inside the blob reached the agent: {file}"
    );
    ensure!(
        file.contains("GITHUB_TOKEN=[REDACTED:") && file.contains("REGION=eu-west-1"),
        "the file should keep everything but the secret: {file}"
    );
    Ok(())
}
