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
    /// List, approve, deny and revoke held requests (talks to the admin API).
    Approvals {
        /// The admin API (`approvals.admin.listen` of any Warden replica).
        #[arg(
            long,
            env = "WARDEN_ADMIN_URL",
            default_value = "http://127.0.0.1:9090"
        )]
        admin_url: String,
        /// Your token from one of Warden's identity issuers (an approver's, to decide).
        #[arg(long, env = "WARDEN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// What to do.
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// List and replay recorded sessions (talks to the admin API).
    Sessions {
        /// The admin API (`approvals.admin.listen` of any Warden replica).
        #[arg(
            long,
            env = "WARDEN_ADMIN_URL",
            default_value = "http://127.0.0.1:9090"
        )]
        admin_url: String,
        /// Your token from one of Warden's identity issuers (an auditor's, to read
        /// others' sessions).
        #[arg(long, env = "WARDEN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// What to do.
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Check, test and evaluate policies.
    Policy {
        /// What to do.
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Mask secrets and PII in a body: reads stdin, writes the masked body to stdout,
    /// with the same rules the service uses.
    Redact {
        /// The body's media type (decides JSON / NDJSON / SSE / form / text handling).
        #[arg(long, default_value = "text/plain", value_name = "MIME")]
        content_type: String,
        /// Print each finding (rule, kind, offset, length — never the value) as a JSON
        /// line on stderr.
        #[arg(long)]
        findings: bool,
        /// A policy pack directory: its `redact/*.yaml` replace the built-in rules, and
        /// the fields its policy rules flag (`mask.fields`) for the request described
        /// by --url, -X, --sub, --group and --kind are masked too.
        #[arg(long, value_name = "DIR")]
        policy: Option<PathBuf>,
        /// Treat the body as travelling to the upstream (outbound DLP) instead of back.
        #[arg(long)]
        request: bool,
        /// With --policy: the URL of the request the body belongs to (its host and path
        /// decide which rules match).
        #[arg(long, default_value = "http://localhost/", requires = "policy")]
        url: String,
        /// With --policy: the request's method.
        #[arg(
            long = "method",
            short = 'X',
            default_value = "GET",
            requires = "policy"
        )]
        method: String,
        /// With --policy: the caller's subject (without it the caller is anonymous).
        #[arg(long, requires = "policy")]
        sub: Option<String>,
        /// With --policy: the caller's groups (repeat for several).
        #[arg(long = "group", value_name = "G", requires = "sub")]
        groups: Vec<String>,
        /// With --policy: the caller's kind, agent or human.
        #[arg(long, default_value = "agent", requires = "sub")]
        kind: String,
    },
    /// Verify the tamper-evident audit log; create checkpoint signing keys.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Evidence bundles for auditors: export a period's records, policies and approvals
    /// with a SOC 2 summary; verify a bundle offline.
    Evidence {
        /// What to do.
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Demo only: an OIDC issuer (discovery + JWKS) for a local key it creates.
    DevIssuer {
        /// Address to listen on; the issuer URL is `http://<this address>`.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// The issuer URL to name in discovery and tokens, when clients reach the issuer
        /// under another name than its listen address (e.g. `http://issuer:8081` in
        /// docker compose).
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// Where the signing key is kept (created on first use).
        #[arg(long, default_value = ".demo/issuer", value_name = "DIR")]
        key_dir: PathBuf,
        /// A user offered on the sign-in page, `NAME:GROUP,GROUP` (repeat for several;
        /// default alice:approvers,auditors, carol:approvers, bob:agents).
        #[arg(long = "user", value_name = "NAME:GROUPS")]
        users: Vec<crate::dev::login::DemoUser>,
    },
    /// Demo only: print a token signed by the `dev-issuer` key.
    DevToken {
        /// Subject: the named identity the token stands for.
        #[arg(long)]
        sub: String,
        /// Group membership (repeat for several).
        #[arg(long = "group", value_name = "G")]
        groups: Vec<String>,
        /// The issuer URL (must match `dev-issuer --listen`).
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        issuer: String,
        /// Where the signing key is kept.
        #[arg(long, default_value = ".demo/issuer", value_name = "DIR")]
        key_dir: PathBuf,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Mark the token as an agent's (adds an `act` claim naming the human it acts for).
        #[arg(long, value_name = "HUMAN")]
        acting_for: Option<String>,
    },
    /// Demo only: a sample upstream JSON API whose responses carry fake secrets and PII.
    DevUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

/// Subcommands of `warden approvals`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approvals, newest first.
    List {
        /// pending, approved, denied, expired, used, revoked or all.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only those asked for by this subject.
        #[arg(long)]
        subject: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one approval (JSON).
    Show {
        /// The approval id (`apr-...`, from the hold reply's `x-warden-approval-id`).
        id: String,
    },
    /// Approve a held request (or grant).
    Approve {
        /// The approval id.
        id: String,
        /// Why (required by rules with `approval.justification: true`).
        #[arg(long, short)]
        reason: Option<String>,
    },
    /// Deny a held request.
    Deny {
        /// The approval id.
        id: String,
        /// Why.
        #[arg(long, short)]
        reason: Option<String>,
    },
    /// Revoke a grant, an unused approval or a pending request.
    Revoke {
        /// The approval id.
        id: String,
        /// Why.
        #[arg(long, short)]
        reason: Option<String>,
    },
}

/// Subcommands of `warden sessions`.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, most recently active first.
    List {
        /// Only this identity's exchanges (token subject; `anonymous` for none).
        #[arg(long)]
        identity: Option<String>,
        /// Only exchanges since this time: RFC 3339 or a duration back from now
        /// (`2h`, `7d`).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// Only exchanges before this time: RFC 3339 or a duration back from now.
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// At most this many sessions.
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replay one session: a timeline of its exchanges, masked.
    Show {
        /// The session id (from `warden sessions list`).
        id: String,
        /// Print the structured form (JSON) for tools.
        #[arg(long)]
        json: bool,
    },
}

/// `warden policy ...`
// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load a policy directory and report the first error (file, field, line, column).
    Check {
        /// The policy directory (`*.yaml`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Run the test cases in `DIR/tests/*.yaml` against the policy in `DIR`.
    Test {
        /// The policy directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Print passing tests too.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Decide one request and print the decision, the deciding rule and the facts as JSON.
    Eval {
        /// The policy directory (default: the built-in default pack).
        #[arg(long, value_name = "DIR")]
        policy: Option<PathBuf>,
        /// The request method.
        #[arg(long, short = 'X', default_value = "GET")]
        method: String,
        /// The request URL (`http://host/path?query`).
        #[arg(long)]
        url: String,
        /// A request header, `Name: value` (repeat for several).
        #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The request body.
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// Read the request body from a file (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// The caller's subject.
        #[arg(long)]
        sub: Option<String>,
        /// The caller's groups (repeat for several).
        #[arg(long = "group", value_name = "G")]
        groups: Vec<String>,
        /// The caller's kind: agent or human.
        #[arg(long, default_value = "agent")]
        kind: String,
        /// The upstream's response body (`-` for stdin): printed masked, as the agent
        /// would read it, in `masked_response_body`.
        #[arg(long, value_name = "FILE")]
        response_body_file: Option<PathBuf>,
        /// The response's media type (decides JSON / NDJSON / SSE / form handling).
        #[arg(
            long,
            value_name = "MIME",
            default_value = "application/json",
            requires = "response_body_file"
        )]
        response_content_type: String,
    },
}

/// `warden audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify audit log segments: every line parses, hashes recompute, seqs are
    /// contiguous, links hold across segments, checkpoints are signed by a key you trust
    /// and match, the head file is there and agrees, and the log reaches every position
    /// exported out of it that you compare (`--store`, `--expect-head`). Exit 0 when
    /// intact; 1 naming the first broken line; 2 when the log could not be verified at
    /// all (nothing to read, no trusted key).
    Verify {
        /// Segment files (`*.jsonl`) or log directories (`audit.log_dir`).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// A public key you trust to sign checkpoints (PEM; the `.pub.pem` next to the
        /// Warden's `audit.signing_key`, as the operator gave it to you). Repeat for
        /// rotated keys. A file inside the log directory is refused unless its id is
        /// pinned with --key-id.
        #[arg(long = "public-key", value_name = "FILE")]
        public_keys: Vec<PathBuf>,
        /// A key id you trust (`ed25519:<sha256 hex>`, printed by `warden audit keygen`).
        /// The key itself is read from --public-key files or the `*.pem` files in the log
        /// directory. Repeat for rotated keys.
        #[arg(long = "key-id", value_name = "ID")]
        key_ids: Vec<String>,
        /// A chain position known from outside the log (an OTLP checkpoint span's
        /// `warden.audit.seq` and `warden.audit.hash`), `[INSTANCE:]SEQ:HASH`: the log
        /// must reach it and agree. Repeatable.
        #[arg(long = "expect-head", value_name = "[INSTANCE:]SEQ:HASH")]
        expect_heads: Vec<String>,
        /// The approvals store Warden writes its checkpoints to (`approvals.store`,
        /// `sqlite://FILE` or `postgres://…`): every checkpoint it holds for the chains
        /// verified must be signed by a trusted key, and the log must reach it and agree.
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Verify an incomplete copy: a range that starts mid-chain (an evidence
        /// bundle), or a log without its head file. Trust is anchored by the signed
        /// checkpoints inside the range.
        #[arg(long)]
        partial: bool,
    },
    /// Create an Ed25519 key pair for signing checkpoints: FILE (PKCS#8 PEM, mode 0600)
    /// and the public key next to it (`FILE` with `.pub.pem`), and print the key id. Keep
    /// FILE outside `audit.log_dir`, set `audit.signing_key` to it, and give the public
    /// key or the key id to auditors.
    Keygen {
        /// Where to write the private key (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// When FILE exists already, keep it and print its key id instead of failing.
        #[arg(long)]
        if_missing: bool,
    },
}

/// `warden evidence ...`
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Write an auditor's bundle for a period: the records (as chained), the log
    /// segments that anchor them, the chain check, the policy versions in force, the
    /// approvals with their approvers, a SOC 2 summary, and a signed manifest.
    Export {
        /// Period start: RFC 3339 (`2026-11-01T00:00:00Z`) or a duration before now (`7d`).
        #[arg(long)]
        since: String,
        /// Period end (exclusive), same forms; default now.
        #[arg(long)]
        until: Option<String>,
        /// The new bundle directory (must not exist or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Warden's config: `audit.log_dir`, `audit.signing_key` and `approvals.store`
        /// come from it unless given below.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The audit log directory.
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
        /// The approvals store URL (`sqlite://FILE`, `postgres://…`).
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// The checkpoint signing key (signs the manifest; its public key goes into the
        /// bundle and its id into the manifest); default `audit.signing_key` from
        /// --config.
        #[arg(long, value_name = "FILE")]
        signing_key: Option<PathBuf>,
    },
    /// Re-check a bundle offline with the keys you trust: manifest hashes and signature,
    /// the chain, the store's checkpoints against it, every record against it, policy
    /// contents against their hashes, approvals, the summary. Exit 0 when everything
    /// holds, 1 naming what does not, 2 when it cannot be checked (no trusted key).
    Verify {
        /// The bundle directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// A public key you trust (the operator's, from outside the bundle). Repeatable.
        #[arg(long = "public-key", value_name = "FILE")]
        public_keys: Vec<PathBuf>,
        /// A key id you trust (`ed25519:<sha256 hex>`); the key is read from the bundle's
        /// `keys/`. Repeatable. One of --public-key and --key-id is required: keys
        /// inside the bundle are never trusted on their own.
        #[arg(long = "key-id", value_name = "ID")]
        key_ids: Vec<String>,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
}
