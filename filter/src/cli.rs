//! The `warden` command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Warden: the guardrail between AI agents and the systems they touch, inside Envoy.
#[derive(Debug, Parser)]
#[command(name = "warden", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the ext_proc + ext_authz gRPC server for Envoy.
    Serve {
        /// The configuration file (YAML).
        #[arg(long, short, value_name = "FILE", env = "WARDEN_CONFIG")]
        config: PathBuf,
    },
    /// Check a configuration file and exit (0 when valid).
    CheckConfig {
        /// The configuration file (YAML).
        #[arg(value_name = "FILE")]
        config: PathBuf,
    },
    /// Demo only: a sample upstream JSON API whose responses carry fake secrets and PII.
    DevUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}
