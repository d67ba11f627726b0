//! The `warden` binary: parses the command line and runs the subcommand.
//! `anyhow` lives only here, at the binary's edge.

use anyhow::Context;
use clap::Parser;
use warden::cli::{
    ApprovalsCommand, AuditCommand, Cli, Command, EvidenceCommand, PolicyCommand, SessionsCommand,
};
use warden::config::{Config, LogFormat};

fn main() -> anyhow::Result<()> {
    warden::configure_process_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            init_logging(config.log.format);
            runtime()?.block_on(async {
                warden::server::serve(config, warden::server::termination_signal(), |_| {})
                    .await
                    .context("warden serve failed")
            })
        }
        Command::CheckConfig { config: path } => {
            let config = Config::load(&path)?;
            if config.audit.enabled {
                let key = warden::audit::signing_key_path(&config.audit)
                    .with_context(|| format!("{}: audit", path.display()))?;
                if config.audit.demo_key_in_log_dir {
                    eprintln!(
                        "warning: audit.demo_key_in_log_dir is set: the audit log can be \
                         re-signed by anyone who can write {} (demo only)",
                        config.audit.log_dir.display()
                    );
                } else if !key.is_file() {
                    eprintln!(
                        "note: audit.signing_key {} does not exist yet; create it with `warden \
                         audit keygen --out {}` before `warden serve`",
                        key.display(),
                        key.display()
                    );
                }
            }
            if let Some(dir) = config
                .policy
                .dir
                .as_deref()
                .filter(|_| config.policy.enabled)
            {
                warden::policy::Policy::load_dir(dir)?;
            }
            println!("{}: ok", path.display());
            Ok(())
        }
        Command::Policy { command } => policy(command),
        Command::Audit { command } => audit(command),
        Command::Evidence { command } => evidence(command),
        Command::Approvals {
            admin_url,
            token,
            command,
        } => runtime()?.block_on(approvals(&admin_url, token, command)),
        Command::Sessions {
            admin_url,
            token,
            command,
        } => runtime()?.block_on(sessions(&admin_url, token, command)),
        Command::Redact {
            content_type,
            findings,
            policy,
            request,
            url,
            method,
            sub,
            groups,
            kind,
        } => {
            let caller = RedactCaller {
                url,
                method,
                identity: sub.map(|subject| warden::classify::IdentityFacts {
                    subject,
                    groups,
                    kind,
                }),
            };
            redact(&content_type, findings, policy, request, caller)
        }
        Command::DevIssuer {
            listen,
            issuer,
            key_dir,
            users,
        } => {
            init_logging(LogFormat::Text);
            let users = if users.is_empty() {
                warden::dev::login::default_users()
            } else {
                users
            };
            runtime()?.block_on(async {
                warden::dev::issuer::run_issuer(listen, issuer, &key_dir, users)
                    .await
                    .with_context(|| format!("dev-issuer on {listen} failed"))
            })
        }
        Command::DevToken {
            sub,
            groups,
            issuer,
            key_dir,
            ttl,
            acting_for,
        } => {
            let mut extra = serde_json::Map::new();
            if let Some(human) = acting_for {
                extra.insert("act".into(), serde_json::json!({ "sub": human }));
            }
            let token = warden::dev::issuer::mint_token(
                &key_dir,
                &issuer,
                &sub,
                &groups,
                std::time::Duration::from_secs(ttl),
                &extra,
            )?;
            println!("{token}");
            Ok(())
        }
        Command::DevUpstream { listen } => {
            init_logging(LogFormat::Text);
            runtime()?.block_on(async {
                warden::dev::upstream::run(listen)
                    .await
                    .with_context(|| format!("dev-upstream on {listen} failed"))
            })
        }
    }
}

/// `warden evidence ...`.
fn evidence(command: EvidenceCommand) -> anyhow::Result<()> {
    match command {
        EvidenceCommand::Export {
            since,
            until,
            out,
            config,
            log_dir,
            store,
            signing_key,
        } => {
            let config = match config {
                Some(path) => Some(
                    Config::load(&path)
                        .with_context(|| format!("reading the Warden config {}", path.display()))?,
                ),
                None => None,
            };
            let log_dir = log_dir
                .or_else(|| config.as_ref().map(|c| c.audit.log_dir.clone()))
                .context("where is the audit log? pass --log-dir DIR or --config FILE")?;
            let store_url = store.or_else(|| config.as_ref().map(|c| c.approvals.store.clone()));
            // The key in the log directory only for a config that says so (demo).
            let signing_key = signing_key
                .or_else(|| config.as_ref().and_then(|c| c.audit.signing_key.clone()))
                .or_else(|| {
                    let demo = config.as_ref().is_some_and(|c| c.audit.demo_key_in_log_dir);
                    let default = log_dir.join(warden::audit::DEFAULT_KEY_FILE);
                    (demo && default.is_file()).then_some(default)
                });
            let since = warden::evidence::parse_time(&since).map_err(anyhow::Error::msg)?;
            let until = match until {
                Some(until) => warden::evidence::parse_time(&until).map_err(anyhow::Error::msg)?,
                None => warden::approval::Timestamp::now(),
            };
            let key = signing_key
                .as_deref()
                .map(warden::audit::load_signing_key)
                .transpose()?;
            let public_key_files: Vec<std::path::PathBuf> = signing_key
                .iter()
                .map(|private| warden::audit::public_key_path(private))
                .filter(|p| p.is_file())
                .collect();
            runtime()?.block_on(async {
                let store = match &store_url {
                    Some(url) => Some(warden::store::ApprovalStore::open(url).await?),
                    None => None,
                };
                let exported = warden::evidence::export(warden::evidence::ExportRequest {
                    since,
                    until,
                    log_dir,
                    store,
                    signing_key: key,
                    public_key_files,
                    out: out.clone(),
                })
                .await?;
                println!(
                    "evidence bundle {}: {} records, {} approvals, {} policy version(s); chain {}",
                    out.display(),
                    exported.summary.records,
                    exported.summary.approvals.len(),
                    exported.summary.policies.len(),
                    if exported.summary.chain.intact {
                        "intact"
                    } else {
                        "BROKEN"
                    }
                );
                if exported.manifest.signed_by.is_none() {
                    eprintln!(
                        "warning: no signing key found, the manifest is not signed (pass --signing-key)"
                    );
                }
                anyhow::Ok(())
            })
        }
        EvidenceCommand::Verify {
            dir,
            public_keys,
            key_ids,
            json,
        } => {
            let anchors = warden::audit::TrustAnchors {
                public_keys,
                key_ids,
            };
            let report = match warden::evidence::verify(&dir, &anchors) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("warden evidence verify: {error}");
                    std::process::exit(2);
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            if report.ok() {
                Ok(())
            } else {
                eprintln!("evidence bundle {} does NOT verify", dir.display());
                std::process::exit(1);
            }
        }
    }
}

/// `warden audit ...`.
fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Keygen { out, if_missing } => {
            let (key, created) = if if_missing && out.exists() {
                (warden::audit::load_signing_key(&out)?, false)
            } else {
                (warden::audit::generate_key_pair(&out)?, true)
            };
            let state = if created {
                "(mode 0600)"
            } else {
                "(kept: it exists)"
            };
            println!("private key: {} {state}", out.display());
            println!(
                "public key:  {}",
                warden::audit::public_key_path(&out).display()
            );
            println!(
                "key id:      {}",
                warden::audit::key_id(&key.verifying_key())
            );
            if created {
                println!(
                    "Keep the private key outside audit.log_dir and set audit.signing_key to \
                     it; give auditors the public key or the key id (warden audit verify \
                     --public-key FILE / --key-id ID)."
                );
            }
            Ok(())
        }
        AuditCommand::Verify {
            paths,
            public_keys,
            key_ids,
            expect_heads,
            store,
            json,
            partial,
        } => {
            let request = AuditVerify {
                anchors: warden::audit::TrustAnchors {
                    public_keys,
                    key_ids,
                },
                expect_heads,
                store,
                json,
                partial,
            };
            match verify_audit(&paths, request) {
                Ok(true) => Ok(()),
                Ok(false) => std::process::exit(1),
                Err(error) => {
                    eprintln!("warden audit verify: {error:#}");
                    std::process::exit(2);
                }
            }
        }
    }
}

/// What `warden audit verify` was asked, besides the paths.
struct AuditVerify {
    anchors: warden::audit::TrustAnchors,
    expect_heads: Vec<String>,
    store: Option<String>,
    json: bool,
    partial: bool,
}

/// `[INSTANCE:]SEQ:HASH` of `--expect-head`.
fn parse_expect_head(text: &str) -> anyhow::Result<warden::audit::ExpectedPosition> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let (instance, seq, hash) = match parts.as_slice() {
        [seq, hash] => (None, *seq, *hash),
        [instance, seq, hash] if !instance.is_empty() => (Some(instance.to_string()), *seq, *hash),
        _ => anyhow::bail!(
            "--expect-head {text:?} is not [INSTANCE:]SEQ:HASH (the warden.audit.seq and \
             warden.audit.hash of a checkpoint span, e.g. 1042:9f2c…)"
        ),
    };
    let seq: u64 = seq
        .parse()
        .with_context(|| format!("--expect-head {text:?}: {seq:?} is not a seq number"))?;
    let hash = hash.to_ascii_lowercase();
    anyhow::ensure!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "--expect-head {text:?}: {hash:?} is not a chain hash (64 hex digits)"
    );
    Ok(warden::audit::ExpectedPosition {
        instance,
        seq,
        hash,
        source: format!("--expect-head {text}"),
        checkpoint: None,
        may_be_past_end: false,
    })
}

/// Every checkpoint the store at `url` holds. A SQLite file that does not exist is an
/// error (opening it would create an empty store that vouches for nothing).
fn store_checkpoints(url: &str) -> anyhow::Result<Vec<warden::audit::Checkpoint>> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let file = rest.trim_start_matches("//");
        let file = file.split('?').next().unwrap_or(file);
        anyhow::ensure!(
            file.contains(":memory:") || std::path::Path::new(file).is_file(),
            "--store {url}: {file} does not exist (pass the approvals.store of the Warden \
             that wrote the log)"
        );
    }
    runtime()?.block_on(async {
        let store = warden::store::ApprovalStore::open(url)
            .await
            .with_context(|| format!("--store {url}"))?;
        Ok(store.checkpoints(None).await?)
    })
}

/// Verifies and prints the report; `Ok(false)` when something is broken.
fn verify_audit(paths: &[std::path::PathBuf], request: AuditVerify) -> anyhow::Result<bool> {
    // The directories the log lives in: a key found there is not trusted on its own.
    let mut log_dirs: Vec<std::path::PathBuf> = Vec::new();
    for path in paths {
        let dir = if path.is_dir() {
            path.clone()
        } else {
            match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            }
        };
        if !log_dirs.contains(&dir) {
            log_dirs.push(dir);
        }
    }
    let trusted = request.anchors.key_ring(&log_dirs, &log_dirs)?;
    let mut options = warden::audit::VerifyOptions::default();
    options.allow_partial_start = request.partial;
    for text in &request.expect_heads {
        options.expected.push(parse_expect_head(text)?);
    }
    // The store is read before the log: Warden writes a checkpoint to the log before
    // the store, so a store read first never holds one the log does not have yet.
    let stored = match &request.store {
        Some(url) => {
            let mut stored = store_checkpoints(url)?;
            // Newest first: a cut log is reported against the furthest point it missed.
            stored.sort_by_key(|c| std::cmp::Reverse(c.seq));
            Some(stored)
        }
        None => None,
    };
    for checkpoint in stored.iter().flatten() {
        options
            .expected
            .push(warden::audit::ExpectedPosition::of_checkpoint(
                checkpoint,
                format!(
                    "the store's checkpoint (instance {}, seq {}, {}, signed {})",
                    checkpoint.instance, checkpoint.seq, checkpoint.reason, checkpoint.signed_at
                ),
            ));
    }
    let report = warden::audit::verify_paths(paths, &trusted.ring, &options)?;
    // Positions about chains that are not in the paths at all.
    let mut missing = Vec::new();
    let mut warnings = Vec::new();
    let verified: Vec<&str> = report.chains.iter().map(|c| c.instance.as_str()).collect();
    for position in &options.expected {
        if let (Some(instance), None) = (&position.instance, &position.checkpoint) {
            if !verified.contains(&instance.as_str()) {
                missing.push(format!(
                    "{} names instance {instance}, which has no segment in the paths given \
                     (its log was removed, or the instance is misspelt)",
                    position.source
                ));
            }
        }
    }
    if let Some(stored) = &stored {
        for chain in &report.chains {
            if !stored.iter().any(|c| c.instance == chain.instance) {
                missing.push(format!(
                    "the store holds no checkpoint of instance {}: it is not the store this \
                     Warden writes to (approvals.store), or its checkpoints were deleted",
                    chain.instance
                ));
            }
        }
        let others: std::collections::BTreeSet<&str> = stored
            .iter()
            .map(|c| c.instance.as_str())
            .filter(|i| !verified.contains(i))
            .collect();
        for instance in others {
            warnings.push(format!(
                "the store also holds checkpoints of instance {instance}, whose log is not \
                 among the paths given (another replica?): not compared"
            ));
        }
    }
    if request.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for reason in &trusted.reasons {
            println!("trusted key {reason}");
        }
        print!("{report}");
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(broken) = report.first_broken() {
        eprintln!("audit log BROKEN: first broken line: {broken}");
        return Ok(false);
    }
    if !missing.is_empty() {
        for problem in &missing {
            eprintln!("audit log BROKEN: {problem}");
        }
        return Ok(false);
    }
    Ok(true)
}

/// The request `warden redact --policy` evaluates the policy's field rules for.
struct RedactCaller {
    url: String,
    method: String,
    identity: Option<warden::classify::IdentityFacts>,
}

/// `warden redact`: stdin → masked stdout, findings as JSON lines on stderr.
fn redact(
    content_type: &str,
    print_findings: bool,
    policy: Option<std::path::PathBuf>,
    request: bool,
    caller: RedactCaller,
) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use warden::content::Declared;
    use warden::policy::{testcases, Policy, PolicyError};
    use warden::redact::fields::FieldMasker;
    use warden::redact::{ContentKind, Direction};

    let direction = if request {
        Direction::Request
    } else {
        Direction::Response
    };
    // The fields the directory's policy flags for the described request.
    let fields = match &policy {
        None => None,
        Some(dir) => match Policy::load_dir(dir) {
            Err(PolicyError::Empty(_)) => None,
            Err(err) => return Err(err.into()),
            Ok(loaded) => {
                let described = testcases::TestRequest {
                    method: caller.method.clone(),
                    url: caller.url.clone(),
                    ..Default::default()
                };
                let (head, _) = described.to_parts()?;
                let (decision, _) =
                    testcases::evaluate_request(&loaded, &head, None, caller.identity.clone());
                let fields = decision.effects.field_set(direction);
                let who = caller
                    .identity
                    .as_ref()
                    .map_or("anonymous".to_string(), |i| {
                        format!("{} ({}, groups: {})", i.subject, i.kind, i.groups.join(","))
                    });
                let mut rules: Vec<&str> = Vec::new();
                for rule in fields.iter().flat_map(|f| f.rules()) {
                    if !rules.contains(&&*rule.rule_id) {
                        rules.push(&rule.rule_id);
                    }
                }
                eprintln!(
                    "warden redact: policy fields for {} {} as {who}: {}",
                    caller.method.to_ascii_uppercase(),
                    caller.url,
                    if rules.is_empty() {
                        "none".to_string()
                    } else {
                        format!("flagged by {}", rules.join(", "))
                    }
                );
                fields
            }
        },
    };
    let masking = warden::masking::MaskingConfig {
        policy_dir: policy,
        ..Default::default()
    };
    let redactor = masking.build()?;
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .context("cannot read the body from stdin")?;
    let mut field_findings = Vec::new();
    if let Some(fields) = fields {
        let kind = ContentKind::from_content_type(content_type);
        let masker = FieldMasker::new(fields, kind, direction, redactor.hash_key(), usize::MAX);
        let (masked, found) = masker.whole(&body).map_err(|err| {
            anyhow::anyhow!(
                "the policy flags fields in this body but they could not be masked: {err}"
            )
        })?;
        body = masked;
        field_findings = found;
    }
    // The same reading as the data path: the label is a hint, the bytes decide.
    // Without `--findings` nothing reads them one by one: they are only counted, so a
    // finding-dense body does not hold one per masked region.
    let max_listed = if print_findings { usize::MAX } else { 0 };
    let mut redacted = redactor
        .redact_body_listing_within(
            &body,
            &Declared::parse(content_type),
            direction,
            None,
            max_listed,
        )
        .map_err(|_| anyhow::anyhow!("masking gave up without a deadline (a bug)"))?;
    field_findings.append(&mut redacted.findings);
    redacted.findings = field_findings;
    if redacted.passed_unread {
        eprintln!(
            "warden redact: the body (or part of it) is binary and was passed through unread"
        );
    }
    std::io::stdout()
        .write_all(&redacted.body)
        .context("cannot write the masked body")?;
    if print_findings {
        let mut stderr = std::io::stderr().lock();
        for finding in &redacted.findings {
            writeln!(stderr, "{}", serde_json::to_string(finding)?)?;
        }
    }
    Ok(())
}

/// The bytes of a file, or of stdin for `-`.
fn read_file_or_stdin(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    if path.as_os_str() == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        return Ok(data);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Logs go to stderr; the level comes from `WARDEN_LOG` (default `warden=info`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warden=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    use warden::policy::{testcases, Policy};
    match command {
        PolicyCommand::Check { dir } => {
            let policy = Policy::load_dir(&dir)?;
            println!(
                "{}: ok ({} rules, {})",
                dir.display(),
                policy.rule_count(),
                policy.hash()
            );
            Ok(())
        }
        PolicyCommand::Test { dir, verbose } => {
            let results = testcases::run_dir(&dir)?;
            let failed = results.iter().filter(|r| !r.passed).count();
            for result in &results {
                match &result.message {
                    Some(message) => println!("FAIL {}: {message}", result.name),
                    None if verbose => println!("PASS {}", result.name),
                    None => {}
                }
            }
            println!("{} passed, {failed} failed", results.len() - failed);
            if results.is_empty() {
                anyhow::bail!("no tests found in {}", dir.join("tests").display());
            }
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        PolicyCommand::Eval {
            policy,
            method,
            url,
            headers,
            body,
            body_file,
            sub,
            groups,
            kind,
            response_body_file,
            response_content_type,
        } => {
            let redact_dir = policy.clone().filter(|dir| dir.join("redact").is_dir());
            let policy = match policy {
                Some(dir) => Policy::load_dir(&dir)?,
                None => Policy::builtin()?,
            };
            let mut request = testcases::TestRequest {
                method,
                url,
                body,
                ..Default::default()
            };
            for header in headers {
                let (name, value) = header
                    .split_once(':')
                    .with_context(|| format!("header {header:?} is not `Name: value`"))?;
                request
                    .headers
                    .insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
            let (head, mut bytes) = request.to_parts()?;
            if let Some(path) = body_file {
                bytes = Some(read_file_or_stdin(&path)?);
            }
            let mut head = head;
            if let Some(data) = &bytes {
                if head.headers.get("content-length").is_none() {
                    head.headers.push("content-length", data.len().to_string());
                }
            }
            let identity = sub.map(|subject| warden::classify::IdentityFacts {
                subject,
                groups,
                kind,
            });
            let (decision, facts) =
                testcases::evaluate_request(&policy, &head, bytes.as_deref(), identity);
            let mut output = serde_json::json!({
                "decision": decision.decision,
                "rule": decision.rule,
                "reason": decision.reason,
                "observed": decision.observed,
                "effects": decision.effects,
                "policy_hash": decision.policy_hash,
                "facts": facts,
            });
            if let Some(path) = response_body_file {
                let body = read_file_or_stdin(&path)?;
                let masking = warden::masking::MaskingConfig {
                    policy_dir: redact_dir,
                    ..Default::default()
                };
                let redactor = masking.build()?;
                let masked = testcases::masked_body(
                    &decision,
                    testcases::flagged_fields(
                        &policy,
                        &decision,
                        &facts,
                        warden::redact::Direction::Response,
                    ),
                    warden::redact::Direction::Response,
                    &response_content_type,
                    &body,
                    Some(&redactor),
                );
                match masked {
                    Ok(bytes) => {
                        output["masked_response_body"] =
                            String::from_utf8_lossy(&bytes).into_owned().into();
                    }
                    Err(why) => {
                        // Warden would refuse the response: nothing of it is shown.
                        output["masked_response_body"] = serde_json::Value::Null;
                        output["response_refused"] = why.into();
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(())
        }
    }
}

async fn sessions(
    admin_url: &str,
    token: Option<String>,
    command: SessionsCommand,
) -> anyhow::Result<()> {
    let client = warden::admin::client::AdminClient::new(admin_url, token)?;
    let now = warden::approval::Timestamp::now();
    let text = warden::admin::sessions_command::run(&client, command, now).await?;
    print!("{text}");
    Ok(())
}

async fn approvals(
    admin_url: &str,
    token: Option<String>,
    command: ApprovalsCommand,
) -> anyhow::Result<()> {
    use warden::admin::client::{AdminClient, Decision};
    let client = AdminClient::new(admin_url, token)?;
    let print = |approval: &warden::approval::Approval| -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(approval)?);
        Ok(())
    };
    match command {
        ApprovalsCommand::List {
            status,
            subject,
            json,
        } => {
            let approvals = client.list(&status, subject.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approvals)?);
                return Ok(());
            }
            if approvals.is_empty() {
                eprintln!("no {status} approvals");
                return Ok(());
            }
            println!(
                "{:<40} {:<9} {:<24} {:<20} OPERATION",
                "ID", "STATUS", "REQUESTER", "RULE"
            );
            for a in &approvals {
                println!(
                    "{:<40} {:<9} {:<24} {:<20} {}",
                    a.id,
                    a.status.name(),
                    a.requester.subject,
                    a.rule,
                    a.operation.summary
                );
            }
            Ok(())
        }
        ApprovalsCommand::Show { id } => print(&client.show(&id).await?),
        ApprovalsCommand::Approve { id, reason } => {
            let approval = client
                .decide(&id, Decision::Approve, reason.as_deref())
                .await?;
            let needed = approval.rules.required.saturating_sub(approval.approvals());
            match approval.status {
                warden::approval::Status::Approved => eprintln!(
                    "{id}: approved; valid until {}",
                    approval
                        .valid_until
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                ),
                _ => eprintln!("{id}: approval recorded; {needed} more needed"),
            }
            print(&approval)
        }
        ApprovalsCommand::Deny { id, reason } => {
            let approval = client
                .decide(&id, Decision::Deny, reason.as_deref())
                .await?;
            eprintln!("{id}: denied");
            print(&approval)
        }
        ApprovalsCommand::Revoke { id, reason } => {
            let approval = client
                .decide(&id, Decision::Revoke, reason.as_deref())
                .await?;
            eprintln!("{id}: revoked");
            print(&approval)
        }
    }
}
