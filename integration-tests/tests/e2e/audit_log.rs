//! The tamper-evident audit log end to end: the writer produces a multi-segment log,
//! the real `warden audit verify` passes it, then names the record an edit, a cut tail
//! or a foreign key breaks. And `warden serve` chains its policy versions (at start and
//! on reload) and signs a shutdown checkpoint when it stops.
//!
//! Needs the `warden` binary: `cargo build -p warden` first (or `scripts/test`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use warden::audit::{
    open_log, spawn_writer, AuditEntry, AuditRecord, DecisionRecord, LogLine, MaskingRecord,
    PolicyVersion, RecordSource, WriterSettings, RECORD_VERSION,
};
use warden::config::AuditConfig;
use warden_integration_tests::paths;
use warden_integration_tests::process::poll_until;
use warden_integration_tests::stack::Warden;

/// Runs `warden args…`: (exit code, stdout, stderr).
pub(crate) fn warden(args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let bin = paths::warden_bin().map_err(anyhow::Error::msg)?;
    let output = Command::new(bin).args(args).output()?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        version: RECORD_VERSION,
        request_id: format!("req-{n}"),
        session_id: "agent-1/2026-11-30".into(),
        source: RecordSource::ExtProc,
        started_at: "2026-11-30T08:00:00.000000Z".into(),
        duration_us: 1000 + n,
        identity: None,
        request: None,
        decision: DecisionRecord {
            outcome: "allow".into(),
            rule: Some("allow-reads".into()),
            policy_hash: "sha256:abc".into(),
            ..DecisionRecord::default()
        },
        approval: None,
        facts: BTreeMap::from([("http.method".to_string(), "GET".to_string())]),
        masking: MaskingRecord::default(),
        response: None,
        trace: None,
        capture_sha256: None,
    }
}

/// The segment files of a log directory, in name (= chain) order.
pub(crate) fn segments(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    Ok(files)
}

/// Every line of every segment: (file, 1-based line number, parsed line).
pub(crate) fn lines(dir: &Path) -> anyhow::Result<Vec<(PathBuf, usize, LogLine)>> {
    let mut all = Vec::new();
    for file in segments(dir)? {
        for (index, text) in std::fs::read_to_string(&file)?.lines().enumerate() {
            let line = LogLine::parse(text).with_context(|| format!("{}", file.display()))?;
            all.push((file.clone(), index + 1, line));
        }
    }
    Ok(all)
}

/// A log written by [`write_log`].
pub(crate) struct WrittenLog {
    /// `audit.log_dir`.
    pub log_dir: PathBuf,
    /// `audit.signing_key` (outside the log directory).
    pub signing_key: PathBuf,
    /// Its public key, as the operator gives it to auditors.
    pub public_key: PathBuf,
    /// The approvals store the writer handed its checkpoints to (`sqlite://…`).
    pub store: String,
}

/// Writes a log of `records` records under `dir` with the writer, as `warden serve`
/// would: `dir/audit`, signed with a key in `dir/audit-key/`, its checkpoints also in a
/// store in `dir/warden.db`.
pub(crate) async fn write_log(dir: &Path, records: u64) -> anyhow::Result<WrittenLog> {
    let signing_key = warden_integration_tests::stack::audit_signing_key(dir)?;
    let written = WrittenLog {
        log_dir: dir.join("audit"),
        public_key: warden::audit::public_key_path(&signing_key),
        signing_key,
        store: format!("sqlite://{}", dir.join("warden.db").display()),
    };
    let config = AuditConfig {
        instance: Some("it-1".into()),
        log_dir: written.log_dir.clone(),
        signing_key: Some(written.signing_key.clone()),
        segment_max_bytes: 4096,
        checkpoint_every_records: 10,
        ..AuditConfig::default()
    };
    let log = open_log(&config)?;
    let store = warden::store::ApprovalStore::open(&written.store).await?;
    if let Some(head) = log.last_checkpoint() {
        store.record_checkpoint(head).await?;
    }
    // Records made here, not from exchanges: the writer takes plain entries too.
    let (sink, receiver) = tokio::sync::mpsc::channel::<AuditEntry>(config.queue_capacity);
    let writer = spawn_writer(
        receiver,
        log,
        WriterSettings::from_config(&config),
        vec![std::sync::Arc::new(
            warden::store::SessionRecorder::checkpoints_only(store),
        )],
    );
    let policy = warden::policy::Policy::builtin()?;
    writer
        .policy_recorder()
        .record(PolicyVersion::of(&policy, "2026-11-30T08:00:00Z".into()))?;
    for n in 1..=records {
        sink.send(AuditEntry {
            record: record(n),
            capture: None,
        })
        .await
        .map_err(|e| anyhow!("the writer stopped: {e}"))?;
    }
    let summary = writer.shutdown().await?;
    ensure!(summary.last_seq == records + 1, "{summary:?}");
    Ok(written)
}

#[tokio::test]
async fn warden_audit_verify_passes_a_written_log_and_names_what_tampering_broke(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 40).await?;
    let log_dir = written.log_dir.clone();
    let files = segments(&log_dir)?;
    ensure!(files.len() >= 3, "expected several segments: {files:?}");
    let log_arg = log_dir.to_str().context("path")?;
    let key = written.public_key.to_str().context("path")?;

    // Intact: exit 0 and a short summary.
    let (code, out, err) = warden(&["audit", "verify", "--public-key", key, log_arg])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");
    ensure!(out.contains("it-1: intact"), "{out}");
    ensure!(out.contains("40 record(s), 1 policy version(s)"), "{out}");
    ensure!(out.contains("head file: agrees"), "{out}");

    let (code, out, err) = warden(&["audit", "verify", "--public-key", key, "--json", log_arg])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out)?;
    ensure!(report["chains"][0]["records"] == 40, "{report}");
    ensure!(report["chains"][0]["unsigned"] == 0, "{report}");
    ensure!(
        report["chains"][0].get("first_broken").is_none(),
        "{report}"
    );

    // An edited record in the second segment: exit 1, the file, line and seq named.
    let all = lines(&log_dir)?;
    let (file, line, seq) = all
        .iter()
        .find_map(|(file, line, parsed)| match parsed {
            LogLine::Record(r) if *file == files[1] => Some((file.clone(), *line, r.seq)),
            _ => None,
        })
        .context("a record in the second segment")?;
    let original = std::fs::read_to_string(&file)?;
    let edited: Vec<String> = original
        .lines()
        .enumerate()
        .map(|(index, text)| {
            if index + 1 == line {
                text.replacen(r#""outcome":"allow""#, r#""outcome":"deny""#, 1)
            } else {
                text.to_string()
            }
        })
        .collect();
    ensure!(
        edited.join("\n") + "\n" != original,
        "the edit changed nothing"
    );
    std::fs::write(&file, edited.join("\n") + "\n")?;
    let (code, out, err) = warden(&["audit", "verify", "--public-key", key, log_arg])?;
    ensure!(code == 1, "exit {code}\n{out}\n{err}");
    let named = format!("{}:{line} (seq {seq})", file.display());
    ensure!(err.contains(&named), "expected {named} in:\n{err}");
    ensure!(err.contains("edited"), "{err}");
    std::fs::write(&file, &original)?;

    // A cut tail: the last record and everything after it gone. The head file says
    // the chain went further.
    let (last_file, last_line) = all
        .iter()
        .rev()
        .find_map(|(file, line, parsed)| {
            matches!(parsed, LogLine::Record(r) if r.seq == 41).then(|| (file.clone(), *line))
        })
        .context("the last record")?;
    let saved: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|f| Ok((f.clone(), std::fs::read(f)?)))
        .collect::<anyhow::Result<_>>()?;
    let kept: String = std::fs::read_to_string(&last_file)?
        .lines()
        .take(last_line - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&last_file, kept)?;
    for later in files.iter().filter(|f| **f > last_file) {
        std::fs::remove_file(later)?;
    }
    let (code, out, err) = warden(&["audit", "verify", "--public-key", key, log_arg])?;
    ensure!(code == 1, "exit {code}\n{out}\n{err}");
    ensure!(
        err.contains("(seq 41)") && err.contains("truncated"),
        "{err}"
    );
    for (file, bytes) in &saved {
        std::fs::write(file, bytes)?;
    }

    // Checkpoints checked with a key that did not sign them: exit 1.
    let other = dir.path().join("other.pem");
    let (code, out, err) = warden(&["audit", "keygen", "--out", other.to_str().context("path")?])?;
    ensure!(
        code == 0 && out.contains("key id:      ed25519:"),
        "{out}{err}"
    );
    let other_public = dir.path().join("other.pub.pem");
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        other_public.to_str().context("path")?,
        log_arg,
    ])?;
    ensure!(code == 1, "exit {code}\n{out}\n{err}");
    ensure!(err.contains("unknown key"), "{err}");

    // Restored: intact again (the tampering above really was undone).
    let (code, out, err) = warden(&["audit", "verify", "--public-key", key, log_arg])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");

    // Nothing to verify: exit 2, not 1.
    let missing = dir.path().join("nowhere");
    let (code, _, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        other_public.to_str().context("path")?,
        missing.to_str().context("path")?,
    ])?;
    ensure!(code == 2, "exit {code}\n{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warden_serve_chains_policy_versions_and_signs_at_shutdown() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let policy_dir = dir.path().join("policies");
    std::fs::create_dir(&policy_dir)?;
    let policy_file = policy_dir.join("policy.yaml");
    std::fs::write(
        &policy_file,
        "rules:\n  - id: block-echo\n    when: { path: /echo }\n    action: deny\n",
    )?;
    let log_dir = dir.path().join("audit");
    let signing_key = warden_integration_tests::stack::audit_signing_key(dir.path())?;
    let mut warden_process = Warden::start(
        dir.path(),
        &format!(
            "policy:\n  dir: {}\n  reload_interval_seconds: 1\naudit:\n  instance: serve-1\n  log_dir: {}\n  signing_key: {}\n",
            policy_dir.display(),
            log_dir.display(),
            signing_key.display()
        ),
    )
    .await?;

    let policy_lines = |dir: PathBuf| async move {
        lines(&dir).ok().map(|all| {
            all.into_iter()
                .filter_map(|(_, _, line)| match line {
                    LogLine::Policy(p) => Some(p),
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
    };
    poll_until(
        "the first policy version in the log",
        Duration::from_secs(20),
        || {
            let dir = log_dir.clone();
            async move { policy_lines(dir).await.filter(|p| p.len() == 1) }
        },
    )
    .await
    .with_context(|| warden_process.process.log_tail())?;

    std::fs::write(
        &policy_file,
        "rules:\n  - id: allow-echo\n    when: { path: /echo }\n    action: allow\n",
    )?;
    let versions = poll_until(
        "the reloaded policy in the log",
        Duration::from_secs(20),
        || {
            let dir = log_dir.clone();
            async move { policy_lines(dir).await.filter(|p| p.len() == 2) }
        },
    )
    .await
    .with_context(|| warden_process.process.log_tail())?;
    ensure!(
        versions[1].policy.files[0].content.contains("allow-echo"),
        "{versions:?}"
    );
    ensure!(versions[0].policy.policy_hash != versions[1].policy.policy_hash);

    warden_process.process.signal(libc::SIGTERM)?;
    let status = warden_process
        .process
        .wait_exit(Duration::from_secs(30))
        .await?;
    ensure!(
        status.success(),
        "{status}\n{}",
        warden_process.process.log_tail()
    );

    let last = lines(&log_dir)?
        .pop()
        .map(|(_, _, line)| line)
        .context("an empty log")?;
    ensure!(
        matches!(&last, LogLine::Checkpoint(c) if c.reason == "shutdown" && c.seq == 2),
        "{last:?}"
    );
    let public_key = warden::audit::public_key_path(&signing_key);
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        public_key.to_str().context("path")?,
        "--store",
        &format!("sqlite://{}", dir.path().join("warden.db").display()),
        log_dir.to_str().context("path")?,
    ])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");
    ensure!(out.contains("serve-1: intact"), "{out}");
    ensure!(
        out.contains("agrees with the store's checkpoint (instance serve-1, seq 2, shutdown"),
        "the store holds the shutdown checkpoint: {out}"
    );
    ensure!(out.contains("2 policy version(s)"), "{out}");
    Ok(())
}
