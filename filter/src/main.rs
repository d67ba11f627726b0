//! The `warden` binary: parses the command line and runs the subcommand.
//! `anyhow` lives only here, at the binary's edge.

use anyhow::Context;
use clap::Parser;
use warden::cli::{ApprovalsCommand, Cli, Command, PolicyCommand, SessionsCommand};
use warden::config::{Config, LogFormat};

fn main() -> anyhow::Result<()> {
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
        } => redact(&content_type, findings, policy, request),
        Command::DevIssuer { listen, key_dir } => {
            init_logging(LogFormat::Text);
            runtime()?.block_on(async {
                warden::dev::issuer::run_issuer(listen, &key_dir)
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

/// `warden redact`: stdin → masked stdout, findings as JSON lines on stderr.
fn redact(
    content_type: &str,
    print_findings: bool,
    policy: Option<std::path::PathBuf>,
    request: bool,
) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use warden::redact::{ContentKind, Direction};

    let masking = warden::masking::MaskingConfig {
        policy_dir: policy,
        ..Default::default()
    };
    let redactor = masking.build()?;
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .context("cannot read the body from stdin")?;
    let kind = ContentKind::from_content_type(content_type);
    let direction = if request {
        Direction::Request
    } else {
        Direction::Response
    };
    let redacted = redactor.redact(&body, kind, direction);
    if !redacted.scanned {
        eprintln!(
            "warden redact: {content_type} is not a text type; the body was passed through unread"
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
        } => {
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
                use std::io::Read;
                let mut data = Vec::new();
                if path.as_os_str() == "-" {
                    std::io::stdin().read_to_end(&mut data)?;
                } else {
                    data = std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                }
                bytes = Some(data);
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
            let output = serde_json::json!({
                "decision": decision.decision,
                "rule": decision.rule,
                "reason": decision.reason,
                "observed": decision.observed,
                "effects": decision.effects,
                "policy_hash": decision.policy_hash,
                "facts": facts,
            });
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
