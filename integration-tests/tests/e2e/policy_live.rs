//! Policy in a running system: hot reload through a real Envoy (a good edit takes
//! effect, a bad edit keeps the last good policy), the decision in Envoy's access log,
//! and the `warden policy` command line.

use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context};
use warden_integration_tests::paths;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::{http1_client, Stack, StackOptions};

const DENY_ECHO: &str = "rules:\n  - id: block-echo\n    when: { path: /echo }\n    action: deny\n    reason: blocked for the test\n";
const ALLOW_ECHO: &str =
    "rules:\n  - id: allow-echo\n    when: { path: /echo }\n    action: allow\n";

async fn echo_status(stack: &Stack) -> anyhow::Result<(u16, Option<String>)> {
    let response = http1_client().get(stack.envoy.url("/echo")).send().await?;
    let rule = response
        .headers()
        .get("x-warden-rule")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((response.status().as_u16(), rule))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_edits_are_reloaded_and_a_bad_edit_keeps_the_last_good_policy() -> anyhow::Result<()>
{
    let policy_dir = tempfile::tempdir()?;
    let file = policy_dir.path().join("policy.yaml");
    std::fs::write(&file, DENY_ECHO)?;
    let stack = Stack::start(StackOptions {
        warden_config: format!(
            "policy:\n  dir: {}\n  reload_interval_seconds: 1\n",
            policy_dir.path().display()
        ),
        ..StackOptions::default()
    })
    .await?;

    let (status, rule) = echo_status(&stack).await?;
    ensure!(
        status == 403 && rule.as_deref() == Some("block-echo"),
        "{status} {rule:?}"
    );

    // A good edit takes effect without a restart.
    std::fs::write(&file, ALLOW_ECHO)?;
    poll_until("the allowing policy", Duration::from_secs(20), || async {
        matches!(echo_status(&stack).await, Ok((200, _))).then_some(())
    })
    .await
    .with_context(|| stack.logs())?;

    // A bad edit is reported and the last good policy stays in force.
    std::fs::write(&file, "rules:\n  - id: broken\n    action: perhaps\n")?;
    poll_until(
        "the reload failure in Warden's log",
        Duration::from_secs(20),
        || async {
            stack
                .warden
                .process
                .log()
                .contains("policy reload failed")
                .then_some(())
        },
    )
    .await
    .with_context(|| stack.logs())?;
    let log = stack.warden.process.log();
    ensure!(
        log.contains("perhaps") && log.contains("line 3"),
        "the log does not say what is wrong:\n{log}"
    );
    let (status, _) = echo_status(&stack).await?;
    ensure!(status == 200, "a bad edit changed the decision: {status}");

    // And the next good edit applies again.
    std::fs::write(&file, DENY_ECHO)?;
    poll_until(
        "the denying policy again",
        Duration::from_secs(20),
        || async { matches!(echo_status(&stack).await, Ok((403, _))).then_some(()) },
    )
    .await
    .with_context(|| stack.logs())?;

    // Envoy's access log names the rule and the policy's content hash.
    let entries = stack.envoy.access_log();
    let denied = entries
        .iter()
        .rev()
        .find(|e| e["warden_policy_rule"] == "block-echo")
        .with_context(|| format!("no access log entry names the rule: {entries:?}"))?;
    ensure!(
        denied["warden_policy_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("sha256:")),
        "{denied}"
    );
    Ok(())
}

fn warden(args: &[&str]) -> anyhow::Result<(bool, String)> {
    let bin = paths::warden_bin().map_err(anyhow::Error::msg)?;
    let output = Command::new(bin).args(args).output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

#[test]
fn policy_command_line_checks_tests_and_evaluates() -> anyhow::Result<()> {
    let policies = paths::repo_root().join("policies");
    let policies = policies.to_str().context("path")?;

    let (ok, out) = warden(&["policy", "check", policies])?;
    ensure!(
        ok && out.contains("ok (") && out.contains("sha256:"),
        "{out}"
    );

    let (ok, out) = warden(&["policy", "test", policies])?;
    ensure!(ok && out.contains(" passed, 0 failed"), "{out}");

    let (ok, out) = warden(&[
        "policy",
        "eval",
        "-X",
        "POST",
        "--url",
        "http://db.internal/query",
        "-H",
        "content-type: application/json",
        "--body",
        r#"{"sql": "DELETE FROM users"}"#,
        "--sub",
        "agent-7",
        "--group",
        "agents",
    ])?;
    ensure!(ok, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).context(out.clone())?;
    ensure!(json["decision"] == "hold", "{json}");
    ensure!(json["rule"] == "sql-unbounded-write", "{json}");
    ensure!(
        json["facts"]["sql"][0]["facts"]["statements"][0]["kind"] == "delete",
        "{json}"
    );
    ensure!(json["facts"]["identity"]["subject"] == "agent-7", "{json}");

    // A broken policy: the error names file, field, line and column; exit is non-zero.
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("bad.yaml"),
        "rules:\n  - id: a\n    action: hold\n    when:\n      sql: { kind: [dropp] }\n",
    )?;
    let (ok, out) = warden(&["policy", "check", dir.path().to_str().context("path")?])?;
    ensure!(!ok, "a broken policy passed the check: {out}");
    ensure!(
        out.contains("bad.yaml: rules[0].when.sql.kind")
            && out.contains("line 5")
            && out.contains("dropp"),
        "{out}"
    );

    // A failing test case fails the run.
    std::fs::create_dir(dir.path().join("tests"))?;
    std::fs::write(dir.path().join("bad.yaml"), ALLOW_ECHO)?;
    std::fs::write(
        dir.path().join("tests/t.yaml"),
        "tests:\n  - name: echo is denied\n    request: { url: http://x/echo }\n    expect: { decision: deny }\n",
    )?;
    let (ok, out) = warden(&["policy", "test", dir.path().to_str().context("path")?])?;
    ensure!(
        !ok && out.contains("FAIL t.yaml: echo is denied") && out.contains("0 passed, 1 failed"),
        "{out}"
    );
    Ok(())
}

/// A real pack of one blob of `len` pseudo-random (incompressible) bytes, made by git:
/// Warden inspects a push's pack object by object, so it must be one git can read.
fn real_pack(len: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("r.git");
    let run = |args: &[&str], input: &[u8]| -> anyhow::Result<Vec<u8>> {
        let mut child = Command::new("git")
            .args(args)
            .env("GIT_DIR", &repo)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("git is needed by this test: install git (apt-get install git)")?;
        let mut stdin = child.stdin.take().context("git stdin")?;
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child.wait_with_output()?;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writer panicked"))??;
        ensure!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(output.stdout)
    };
    run(&["init", "-q", "--bare"], b"")?;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let blob: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let id = run(&["hash-object", "-w", "--stdin"], &blob)?;
    run(&["pack-objects", "--stdout", "-q"], &id)
}

/// A git push body: one pkt-line command for `refname`, a flush, then `pack`.
fn push_body(refname: &str, pack: &[u8]) -> Vec<u8> {
    let line = format!(
        "{} {} {refname}\0 report-status side-band-64k",
        "a".repeat(40),
        "b".repeat(40)
    );
    let mut body = format!("{:04x}{line}0000", line.len() + 4).into_bytes();
    body.extend_from_slice(pack);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_git_push_streams_through_once_its_commands_are_allowed() -> anyhow::Result<()> {
    use bytes::Bytes;
    let stack = Stack::start(StackOptions::default()).await?;
    let client = http1_client();
    let pack = real_pack(12 << 20)?;
    // Larger than the buffered-body limit (8 MiB): the push is streamed, held back only
    // until its ref updates are read (and each object until it is inspected).
    for chunked in [false, true] {
        // Both answer 200: a held push gets git's own reply (report-status with `ng`),
        // told apart by `x-warden-decision`.
        for (refname, held) in [("refs/heads/feature/big", false), ("refs/heads/main", true)] {
            let body = push_body(refname, &pack);
            let request = client
                .post(stack.envoy.url("/repo.git/git-receive-pack"))
                .header("content-type", "application/x-git-receive-pack-request");
            let request = if chunked {
                let chunks: Vec<Result<Bytes, std::io::Error>> = body
                    .chunks(16 * 1024)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            } else {
                request.body(body.clone())
            };
            let before = stack.upstream.seen().len();
            let response = request.send().await?;
            let status = response.status().as_u16();
            let decision = response
                .headers()
                .get("x-warden-decision")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = response.text().await?;
            ensure!(
                status == 200 && (decision.as_deref() == Some("hold")) == held,
                "{refname} chunked={chunked}: {status} {decision:?} {text}\n{}",
                stack.logs()
            );
            let seen = stack.upstream.seen();
            if !held {
                let last = seen.last().context("the push never reached the upstream")?;
                ensure!(
                    last.body_len == body.len()
                        && last.checksum == warden_integration_tests::upstream::checksum(&body),
                    "{refname}: the upstream got {} bytes, not the {} sent (or other bytes)",
                    last.body_len,
                    body.len()
                );
            } else {
                ensure!(seen.len() == before, "a held push reached the upstream");
                ensure!(text.contains("git-push-protected"), "{text}");
                ensure!(
                    text.contains("ng refs/heads/main held for approval"),
                    "{text}"
                );
            }
        }
    }
    Ok(())
}

/// Runs `git` in `dir` (isolated from the user's and system configuration).
fn git(dir: &std::path::Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_git_push_through_envoy_prints_the_hold() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let work = dir.path().to_path_buf();
    git(&work, &["init", "-q", "-b", "main"])
        .context("git is needed by this test: install git (apt-get install git)")?;
    std::fs::write(work.join("a.txt"), "hello\n")?;
    git(&work, &["add", "a.txt"])?;
    let commit = git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.test",
            "commit",
            "-q",
            "-m",
            "one",
        ],
    )?;
    ensure!(commit.status.success(), "{commit:?}");

    let stack = Stack::start(StackOptions::default()).await?;
    let url = stack.envoy.url("/repo.git");
    let push = {
        let work = work.clone();
        tokio::task::spawn_blocking(move || git(&work, &["push", &url, "main"])).await??
    };
    let stderr = String::from_utf8_lossy(&push.stderr);
    eprintln!("--- git push stderr ---\n{stderr}");
    ensure!(!push.status.success(), "the push succeeded: {stderr}");
    ensure!(
        stderr.contains(
            "remote: Warden held this request (git push to /repo.git: create refs/heads/main)"
        ),
        "{stderr}\n{}",
        stack.logs()
    );
    ensure!(stderr.contains("git-push-protected"), "{stderr}");
    // The rejected ref names the approval an approver decides.
    ensure!(
        stderr.contains(" ! [remote rejected] main -> main (held for approval apr-"),
        "{stderr}"
    );
    ensure!(stderr.contains("warden approvals approve apr-"), "{stderr}");
    ensure!(
        !stack
            .upstream
            .seen()
            .iter()
            .any(|s| s.path.ends_with("/git-receive-pack")),
        "the held push reached the upstream"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_mode_lets_requests_through_and_logs_what_would_have_happened() -> anyhow::Result<()>
{
    let policy_dir = tempfile::tempdir()?;
    std::fs::write(
        policy_dir.path().join("policy.yaml"),
        format!("settings: {{ mode: observe }}\n{DENY_ECHO}"),
    )?;
    let stack = Stack::start(StackOptions {
        warden_config: format!("policy:\n  dir: {}\n", policy_dir.path().display()),
        ..StackOptions::default()
    })
    .await?;
    let (status, _) = echo_status(&stack).await?;
    ensure!(status == 200, "observe mode enforced a deny: {status}");
    let entries = poll_until("the access log entry", Duration::from_secs(10), || async {
        let entries = stack.envoy.access_log();
        entries
            .iter()
            .any(|e| e["path"] == "/echo")
            .then_some(entries)
    })
    .await?;
    let entry = entries
        .iter()
        .find(|e| e["path"] == "/echo")
        .context("no entry")?;
    ensure!(
        entry["warden_policy_observed"] == "block-echo:deny",
        "{entry}"
    );
    ensure!(entry["warden_decision"] == "allow", "{entry}");
    ensure!(
        stack.warden.process.log().contains("observe only"),
        "Warden did not log the observed match"
    );
    Ok(())
}
