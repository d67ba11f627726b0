//! Re-forging the audit log, as someone who can write its directory would try it, with
//! the real `warden` binary:
//!
//! - (a) edit a record, re-chain every line after it and re-sign every checkpoint with a
//!   new key written into the log directory: `warden audit verify` with the operator's
//!   key fails, a key file in the directory is never trusted on its own, and no key at
//!   all is refused;
//! - (b) swap the key pair (the files next to `audit.signing_key`, or the demo key in
//!   the log directory) and re-sign: the pinned key id fails it;
//! - (c) cut the log back to an earlier checkpoint through a real Envoy + Warden: with
//!   the head deleted it fails; with the head rewritten to the earlier checkpoint the
//!   directory alone cannot tell, but the store's checkpoints (`--store`) and the OTLP
//!   checkpoint span (`--expect-head`) do, and Warden refuses to start on it;
//! - (d) `warden serve` and `warden check-config` refuse a signing key inside the log
//!   directory (however it is spelt) or none at all; only the demo flag allows it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};
use warden::audit::{
    generate_key_pair, head_file_name, key_id, load_signing_key, public_key_path, Chain,
    Checkpoint, CheckpointReason, LogLine,
};
use warden_integration_tests::otlp::OtlpReceiver;
use warden_integration_tests::paths;
use warden_integration_tests::stack::{
    audit_public_key, audit_signing_key, http1_client, http2_client, Stack, StackOptions, Warden,
};

use super::audit_log::{lines, segments, warden, write_log};

const WAIT: Duration = Duration::from_secs(30);

fn arg(path: &Path) -> anyhow::Result<&str> {
    path.to_str().context("a UTF-8 path")
}

fn reason(text: &str) -> anyhow::Result<CheckpointReason> {
    Ok(match text {
        "start" => CheckpointReason::Start,
        "count" => CheckpointReason::Count,
        "interval" => CheckpointReason::Interval,
        "seal" => CheckpointReason::Seal,
        "shutdown" => CheckpointReason::Shutdown,
        other => anyhow::bail!("unknown checkpoint reason {other:?}"),
    })
}

/// What the forger does besides re-chaining.
struct Forgery<'a> {
    /// The private key file the forger signs with (`None`: checkpoints and head are
    /// dropped).
    key: Option<&'a Path>,
    /// The key id written into the forged checkpoints (claiming another key's).
    claimed_key_id: Option<String>,
}

/// Re-forges the log in `log_dir` as whoever can write it would: the record with
/// `seq` gets the outcome `outcome`, every line is re-chained, every checkpoint
/// re-signed (or dropped), headers and the head file rewritten to match.
fn reforge(log_dir: &Path, seq: u64, outcome: &str, forgery: &Forgery<'_>) -> anyhow::Result<()> {
    let key = forgery.key.map(load_signing_key).transpose()?;
    let mut chain: Option<Chain> = None;
    let mut head = None;
    for file in segments(log_dir)? {
        let mut text = String::new();
        for line in std::fs::read_to_string(&file)?.lines() {
            let forged = match LogLine::parse(line)? {
                LogLine::Segment(mut header) => {
                    let current = chain.get_or_insert_with(|| Chain::new(header.instance.clone()));
                    header.first_seq = current.seq() + 1;
                    header.prev_hash = current.hash().to_string();
                    if let Some(key) = &key {
                        header.key_id = key_id(&key.verifying_key());
                    }
                    LogLine::Segment(header)
                }
                LogLine::Record(record) => {
                    let mut record = record.record;
                    if let Some(current) = &chain {
                        if current.seq() + 1 == seq {
                            record.decision.outcome = outcome.to_string();
                        }
                    }
                    let current = chain.as_mut().context("a record before any header")?;
                    LogLine::Record(current.append(record)?)
                }
                LogLine::Policy(policy) => {
                    let current = chain.as_mut().context("a policy before any header")?;
                    LogLine::Policy(current.append_policy(policy.policy)?)
                }
                LogLine::Checkpoint(checkpoint) => {
                    let Some(key) = &key else {
                        continue;
                    };
                    let current = chain.as_ref().context("a checkpoint before any header")?;
                    let mut forged = Checkpoint::sign_at(
                        current,
                        reason(&checkpoint.reason)?,
                        key,
                        checkpoint.signed_at.clone(),
                    );
                    if let Some(claimed) = &forgery.claimed_key_id {
                        forged.key_id = claimed.clone();
                    }
                    head = Some(forged.clone());
                    LogLine::Checkpoint(forged)
                }
            };
            text.push_str(&forged.to_json()?);
            text.push('\n');
        }
        std::fs::write(&file, text)?;
    }
    let instance = chain.context("no segment")?.instance().to_string();
    let head_path = log_dir.join(head_file_name(&instance));
    match head {
        Some(head) => std::fs::write(&head_path, serde_json::to_string(&head)? + "\n")?,
        None => std::fs::remove_file(&head_path)?,
    }
    Ok(())
}

/// A copy of `from` at `to` (a log directory, flat).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().context("a file name")?))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_rechained_and_resigned_log_fails_with_the_operators_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 40).await?;
    let original = dir.path().join("original");
    copy_dir(&written.log_dir, &original)?;
    let trusted = arg(&written.public_key)?;
    let trusted_id = key_id(&load_signing_key(&written.signing_key)?.verifying_key());

    // The forger edits record 20 (an allow becomes a deny), re-chains everything after
    // it, re-signs every checkpoint with a key of its own and leaves that key in the log
    // directory, where a verifier that trusted the directory would find it.
    let forged_dir = dir.path().join("forged");
    copy_dir(&original, &forged_dir)?;
    let forger_key = forged_dir.join("checkpoint-key.pem");
    let forger_id = key_id(&generate_key_pair(&forger_key)?.verifying_key());
    reforge(
        &forged_dir,
        21,
        "deny",
        &Forgery {
            key: Some(&forger_key),
            claimed_key_id: None,
        },
    )?;
    let forged = arg(&forged_dir)?;
    ensure!(
        lines(&forged_dir)?.iter().any(|(_, _, line)| matches!(
            line,
            LogLine::Record(r) if r.seq == 21 && r.record.decision.outcome == "deny"
        )),
        "the forgery did not change record 20 (seq 21: the policy line is seq 1)"
    );
    ensure!(
        lines(&original)?.iter().all(|(_, _, line)| !matches!(
            line,
            LogLine::Record(r) if r.record.decision.outcome == "deny"
        )),
        "the original has no deny"
    );

    // The original verifies with the operator's key.
    let (code, out, err) = warden(&["audit", "verify", "--public-key", trusted, arg(&original)?])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");

    // The operator's key: every re-signed checkpoint is by an unknown key.
    let (code, out, err) = warden(&["audit", "verify", "--public-key", trusted, forged])?;
    ensure!(
        code == 1,
        "the forged log verifies: exit {code}\n{out}\n{err}"
    );
    ensure!(
        err.contains("unknown key") && err.contains(&forger_id),
        "the failure names the forger's key: {err}"
    );
    // The operator's key id, pinned, with the key file: the same.
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--key-id",
        &trusted_id,
        "--public-key",
        trusted,
        forged,
    ])?;
    ensure!(code == 1, "exit {code}\n{out}\n{err}");
    ensure!(err.contains("unknown key"), "{err}");

    // The key the forger left in the directory is never trusted on its own.
    let planted = public_key_path(&forged_dir.join("checkpoint-key.pem"));
    let (code, out, err) = warden(&["audit", "verify", "--public-key", arg(&planted)?, forged])?;
    ensure!(
        code == 2,
        "a key inside the log is trusted: exit {code}\n{out}\n{err}"
    );
    ensure!(
        err.contains("inside") && err.contains("--key-id"),
        "the refusal says why and what to do: {err}"
    );
    // Nor is the directory's key used when no key is named.
    let (code, out, err) = warden(&["audit", "verify", forged])?;
    ensure!(
        code == 2,
        "verify without a trust anchor: exit {code}\n{out}\n{err}"
    );
    ensure!(
        err.contains("no trusted key") && err.contains("--public-key") && err.contains("--key-id"),
        "{err}"
    );
    // The operator's id pinned, without the key: the directory has only the forger's.
    let (code, out, err) = warden(&["audit", "verify", "--key-id", &trusted_id, forged])?;
    ensure!(code == 2, "exit {code}\n{out}\n{err}");
    ensure!(err.contains(&trusted_id), "{err}");

    // Re-signed checkpoints that claim the operator's key id do not verify under it.
    let claimed_dir = dir.path().join("claimed");
    copy_dir(&original, &claimed_dir)?;
    reforge(
        &claimed_dir,
        21,
        "deny",
        &Forgery {
            key: Some(&forger_key),
            claimed_key_id: Some(trusted_id.clone()),
        },
    )?;
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        trusted,
        arg(&claimed_dir)?,
    ])?;
    ensure!(code == 1, "exit {code}\n{out}\n{err}");
    ensure!(err.contains("does not verify"), "{err}");

    // Re-chained with every checkpoint and the head dropped: nothing signed is left,
    // and the missing head file is named.
    let unsigned_dir = dir.path().join("unsigned");
    copy_dir(&original, &unsigned_dir)?;
    reforge(
        &unsigned_dir,
        21,
        "deny",
        &Forgery {
            key: None,
            claimed_key_id: None,
        },
    )?;
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        trusted,
        arg(&unsigned_dir)?,
    ])?;
    ensure!(
        code == 1,
        "an unsigned re-chained log verifies: exit {code}\n{out}\n{err}"
    );
    // Its first segment lost its signed seal (and the chain its head file).
    ensure!(
        err.contains("seal") || err.contains("no head file"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_swapped_key_pair_fails_against_the_pinned_key_id() -> anyhow::Result<()> {
    // The operator's key pair lives next to audit.signing_key, outside the log; the
    // auditor was given its id when it was made.
    let dir = tempfile::tempdir()?;
    let written = write_log(dir.path(), 25).await?;
    let pinned = key_id(&load_signing_key(&written.signing_key)?.verifying_key());
    let kept_copy = dir.path().join("auditor-copy.pub.pem");
    std::fs::copy(&written.public_key, &kept_copy)?;
    let log = arg(&written.log_dir)?;
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--key-id",
        &pinned,
        "--public-key",
        arg(&written.public_key)?,
        log,
    ])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");

    // Whoever can write both swaps the key pair for one of its own and re-signs.
    std::fs::remove_file(&written.signing_key)?;
    std::fs::remove_file(&written.public_key)?;
    generate_key_pair(&written.signing_key)?;
    reforge(
        &written.log_dir,
        7,
        "allow",
        &Forgery {
            key: Some(&written.signing_key),
            claimed_key_id: None,
        },
    )?;
    // The pinned id does not match the swapped file: nothing is trusted.
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--key-id",
        &pinned,
        "--public-key",
        arg(&written.public_key)?,
        log,
    ])?;
    ensure!(
        code == 2,
        "a swapped key file is trusted: exit {code}\n{out}\n{err}"
    );
    ensure!(err.contains(&pinned), "{err}");
    // The auditor's own copy of the public key: every checkpoint is by an unknown key.
    let (code, out, err) = warden(&["audit", "verify", "--public-key", arg(&kept_copy)?, log])?;
    ensure!(code == 1, "exit {code}\n{out}\n{err}");
    ensure!(err.contains("unknown key"), "{err}");

    // The demo key in the log directory, swapped the same way.
    let demo_dir = tempfile::tempdir()?;
    let log_dir = demo_dir.path().join("audit");
    let config = warden::config::AuditConfig {
        instance: Some("demo-1".into()),
        log_dir: log_dir.clone(),
        demo_key_in_log_dir: true,
        ..warden::config::AuditConfig::default()
    };
    let log = warden::audit::open_log(&config)?;
    drop(log);
    let demo_key = log_dir.join(warden::audit::DEFAULT_KEY_FILE);
    let demo_pinned = key_id(&load_signing_key(&demo_key)?.verifying_key());
    std::fs::remove_file(&demo_key)?;
    std::fs::remove_file(public_key_path(&demo_key))?;
    generate_key_pair(&demo_key)?;
    reforge(
        &log_dir,
        0,
        "allow",
        &Forgery {
            key: Some(&demo_key),
            claimed_key_id: None,
        },
    )?;
    let (code, out, err) = warden(&["audit", "verify", "--key-id", &demo_pinned, arg(&log_dir)?])?;
    ensure!(code == 2, "exit {code}\n{out}\n{err}");
    ensure!(err.contains(&demo_pinned), "{err}");
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        arg(&public_key_path(&demo_key))?,
        arg(&log_dir)?,
    ])?;
    ensure!(
        code == 2,
        "the swapped key in the log is trusted: exit {code}\n{out}\n{err}"
    );
    ensure!(err.contains("inside"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_cut_back_to_an_earlier_checkpoint_is_caught_by_the_store_and_the_span(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let receiver = OtlpReceiver::start().await?;
    let log_dir = dir.path().join("audit");
    let signing_key = audit_signing_key(dir.path())?;
    let audit_config = format!(
        "audit:\n  instance: cut-1\n  log_dir: {}\n  signing_key: {}\n  checkpoint_every_records: 1\n  otlp:\n    endpoint: {}\n",
        log_dir.display(),
        signing_key.display(),
        receiver.grpc_endpoint(),
    );
    let mut stack = Stack::start(StackOptions {
        warden_config: audit_config.clone(),
        ..StackOptions::default()
    })
    .await?;
    let store = format!("sqlite://{}", stack.dir.path().join("warden.db").display());
    // Exchanges over both HTTP/1.1 and HTTP/2, each signed as it is written.
    for n in 0..3 {
        let one = http1_client()
            .get(stack.envoy.url(&format!("/echo?n={n}")))
            .send()
            .await?;
        ensure!(one.status() == 200, "HTTP/1.1: {}", one.status());
        let two = http2_client()
            .get(stack.envoy.url(&format!("/echo?m={n}")))
            .send()
            .await?;
        ensure!(two.status() == 200, "HTTP/2: {}", two.status());
    }
    // A graceful stop signs a shutdown checkpoint: to the log, the store and OTLP.
    stack.warden.process.signal(libc::SIGTERM)?;
    let status = stack.warden.process.wait_exit(WAIT).await?;
    ensure!(
        status.success(),
        "{status}\n{}",
        stack.warden.process.log_tail()
    );
    let shutdown = receiver
        .wait_for_span(WAIT, |s| {
            s.str_attribute("warden.checkpoint.reason") == Some("shutdown")
        })
        .await?;
    let head_seq = shutdown.int_attribute("warden.audit.seq").context("seq")?;
    let head_hash = shutdown
        .str_attribute("warden.audit.hash")
        .context("hash")?
        .to_string();
    ensure!(head_seq >= 6, "six records: {head_seq}");
    ensure!(
        shutdown
            .str_attribute("warden.checkpoint.signature")
            .is_some()
            && shutdown.str_attribute("warden.checkpoint.key_id").is_some(),
        "the span carries the signed checkpoint"
    );
    let expect_head = format!("cut-1:{head_seq}:{head_hash}");
    let public_key = audit_public_key(dir.path())?;
    let key = arg(&public_key)?;
    let log = arg(&log_dir)?;

    // Intact, and in agreement with both copies.
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        key,
        "--store",
        &store,
        "--expect-head",
        &expect_head,
        log,
    ])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");
    ensure!(out.contains("agrees with --expect-head"), "{out}");
    ensure!(out.contains("agrees with the store's checkpoint"), "{out}");

    // Cut back to an earlier checkpoint (the first after the start one): the segment is
    // truncated right after it, later segments go, and the head file with them.
    let all = lines(&log_dir)?;
    let (cut_file, cut_line, earlier) = all
        .iter()
        .find_map(|(file, line, parsed)| match parsed {
            LogLine::Checkpoint(c) if c.seq > 0 && c.seq < u64::try_from(head_seq).ok()? => {
                Some((file.clone(), *line, c.clone()))
            }
            _ => None,
        })
        .context("a checkpoint before the last")?;
    let kept: String = std::fs::read_to_string(&cut_file)?
        .lines()
        .take(cut_line)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cut_file, kept)?;
    for later in segments(&log_dir)?.into_iter().filter(|f| *f > cut_file) {
        std::fs::remove_file(later)?;
    }
    let head_path = log_dir.join(head_file_name("cut-1"));
    std::fs::remove_file(&head_path)?;
    let (code, out, err) = warden(&["audit", "verify", "--public-key", key, log])?;
    ensure!(
        code == 1,
        "a cut log without its head verifies: exit {code}\n{out}\n{err}"
    );
    ensure!(err.contains("no head file"), "{err}");

    // The head rewritten to the earlier checkpoint: the directory is consistent in
    // itself (that is the limit of a log alone)...
    std::fs::write(&head_path, serde_json::to_string(&earlier)? + "\n")?;
    let (code, out, err) = warden(&["audit", "verify", "--public-key", key, log])?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");
    // ...but not with the checkpoints that left it: the store's,
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        key,
        "--store",
        &store,
        log,
    ])?;
    ensure!(
        code == 1,
        "the store does not catch the cut: exit {code}\n{out}\n{err}"
    );
    ensure!(
        err.contains("truncated")
            && err.contains("the store's checkpoint")
            && err.contains(&format!("reached seq {head_seq}")),
        "{err}"
    );
    // and the OTLP span's.
    let (code, out, err) = warden(&[
        "audit",
        "verify",
        "--public-key",
        key,
        "--expect-head",
        &expect_head,
        log,
    ])?;
    ensure!(
        code == 1,
        "the span does not catch the cut: exit {code}\n{out}\n{err}"
    );
    ensure!(
        err.contains("truncated") && err.contains("--expect-head"),
        "{err}"
    );

    // Warden itself refuses to continue a chain that is behind the store.
    let (ok, err) = serve_refused(&serve_config(stack.dir.path(), &audit_config)?).await?;
    ensure!(!ok, "Warden started on a log cut back behind its store");
    ensure!(
        err.contains("cut back") && err.contains(&format!("checkpoint seq {head_seq}")),
        "the refusal says what happened: {err}"
    );
    Ok(())
}

/// Runs `warden serve --config FILE` with a config that must be refused: the exit
/// status and stderr, or an error when it is still running after a while.
async fn serve_refused(config: &Path) -> anyhow::Result<(bool, String)> {
    let bin = paths::warden_bin().map_err(anyhow::Error::msg)?;
    let child = tokio::process::Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("warden serve is still running with {}", config.display()))??;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

fn serve_config(dir: &Path, audit: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("warden-{}.yaml", sha(audit)));
    std::fs::write(
        &path,
        format!(
            "listen:\n  tcp: 127.0.0.1:0\napprovals:\n  store: sqlite://{}\n{audit}",
            dir.join("warden.db").display()
        ),
    )?;
    Ok(path)
}

fn sha(text: &str) -> String {
    warden::audit::sha256_hex(text.as_bytes())[..12].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warden_refuses_a_signing_key_inside_the_log_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log_dir = dir.path().join("audit");
    std::fs::create_dir_all(&log_dir)?;
    std::fs::create_dir_all(dir.path().join("other"))?;
    std::os::unix::fs::symlink(&log_dir, dir.path().join("alias"))?;
    generate_key_pair(&log_dir.join("key.pem"))?;

    // No key at all.
    let config = serve_config(
        dir.path(),
        &format!("audit:\n  log_dir: {}\n", log_dir.display()),
    )?;
    let (ok, err) = serve_refused(&config).await?;
    ensure!(!ok, "warden serve started without a signing key");
    ensure!(
        err.contains("audit.signing_key is not set")
            && err.contains("warden audit keygen --out /etc/warden/audit-key.pem"),
        "{err}"
    );
    ensure!(
        !log_dir.join(warden::audit::DEFAULT_KEY_FILE).exists(),
        "a key was created in the log directory"
    );
    let (code, out, err) = warden(&["check-config", arg(&config)?])?;
    ensure!(code != 0, "check-config passes without a key: {out}{err}");
    ensure!(err.contains("audit.signing_key is not set"), "{err}");

    // A key inside the log directory, under several spellings.
    let spellings = [
        log_dir.join("key.pem"),
        dir.path().join("other/../audit/key.pem"),
        dir.path().join("alias/key.pem"),
    ];
    for key in &spellings {
        let config = serve_config(
            dir.path(),
            &format!(
                "audit:\n  log_dir: {}\n  signing_key: {}\n",
                log_dir.display(),
                key.display()
            ),
        )?;
        let (ok, err) = serve_refused(&config).await?;
        ensure!(
            !ok,
            "warden serve started with {} as its key",
            key.display()
        );
        ensure!(
            err.contains("is inside audit.log_dir") && err.contains("warden audit keygen"),
            "{}: {err}",
            key.display()
        );
        let (code, out, err) = warden(&["check-config", arg(&config)?])?;
        ensure!(
            code != 0,
            "check-config passes {}: {out}{err}",
            key.display()
        );
        ensure!(err.contains("is inside audit.log_dir"), "{err}");
    }
    // The log directory named through the alias, the key by its real path.
    let config = serve_config(
        dir.path(),
        &format!(
            "audit:\n  log_dir: {}\n  signing_key: {}\n",
            dir.path().join("alias").display(),
            log_dir.join("key.pem").display()
        ),
    )?;
    let (ok, err) = serve_refused(&config).await?;
    ensure!(!ok && err.contains("is inside audit.log_dir"), "{err}");

    // The demo flag allows the old behaviour, loudly.
    let demo_dir = dir.path().join("demo");
    std::fs::create_dir_all(&demo_dir)?;
    let demo_audit = format!(
        "audit:\n  log_dir: {}\n  demo_key_in_log_dir: true\n",
        demo_dir.join("audit").display()
    );
    let (code, out, err) = warden(&["check-config", arg(&serve_config(&demo_dir, &demo_audit)?)?])?;
    ensure!(code == 0, "{out}{err}");
    ensure!(err.contains("demo_key_in_log_dir"), "{err}");
    let warden_process = Warden::start(&demo_dir, &demo_audit).await?;
    ensure!(
        warden_process.process.log().contains("AUDIT DEMO MODE"),
        "{}",
        warden_process.process.log_tail()
    );
    ensure!(demo_dir
        .join("audit")
        .join(warden::audit::DEFAULT_KEY_FILE)
        .is_file());
    Ok(())
}
