//! The `warden` binary: parses the command line and runs the subcommand.
//! `anyhow` lives only here, at the binary's edge.

use anyhow::Context;
use clap::Parser;
use warden::cli::{Cli, Command};
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
            Config::load(&path)?;
            println!("{}: ok", path.display());
            Ok(())
        }
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
