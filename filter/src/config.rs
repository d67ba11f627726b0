//! The `warden serve` configuration file: types, defaults and validation.
//!
//! The file is YAML. Every struct rejects unknown fields so a typo is an error, not a
//! silently ignored setting, and every error names the field that is wrong:
//!
//! ```text
//! warden.yaml: inspection.request_body (line 5, column 17): unknown variant `streem`, expected one of `none`, `streamed`, `buffered`
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::identity::IdentityConfig;
use crate::masking::MaskingConfig;

/// Largest body Warden will ever agree to hold in memory for one message.
const MAX_BUFFERED_BODY_CEILING: u64 = 1 << 30;

/// A configuration that could not be loaded. The message says which file, which
/// field and what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file we tried to read.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file was read but a field is missing, unknown or has a bad value.
    #[error("{path}: {field}{location}: {message}")]
    Invalid {
        /// The file that holds the error.
        path: PathBuf,
        /// Dotted path of the offending field, e.g. `listen.tcp`.
        field: String,
        /// ` (line L, column C)` when the parser knows it, else empty.
        location: String,
        /// What is wrong and, where possible, what would be right.
        message: String,
    },
}

/// Everything `warden serve` needs to run.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the gRPC server listens.
    pub listen: ListenConfig,
    /// Which body phases Warden asks Envoy for.
    #[serde(default)]
    pub inspection: InspectionConfig,
    /// Hard limits that protect Warden and fail closed when exceeded.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Behaviour on SIGTERM.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Who is calling: OIDC JWTs and mesh (SPIFFE) identities, and the upstream
    /// credentials Warden injects. Without it every request is anonymous.
    #[serde(default)]
    pub identity: Option<IdentityConfig>,
    /// Secret and PII masking of bodies (on by default, both directions).
    #[serde(default)]
    pub masking: MaskingConfig,
    /// The policy that allows, denies and holds requests (the built-in default pack
    /// when absent).
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Holds and approvals: where approvals live, the admin API, webhooks.
    #[serde(default)]
    pub approvals: ApprovalsConfig,
    /// The audit trail: chained log, signed checkpoints, session recording, spans.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Log output.
    #[serde(default)]
    pub log: LogConfig,
}

/// The audit trail (see `docs/audit-schema.md`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `false` turns the audit trail off (no records, no sessions, no spans).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// This Warden's name in the chain; each instance keeps its own chain. Defaults to
    /// the `HOSTNAME` environment variable (the pod name in Kubernetes), else `warden`.
    #[serde(default)]
    pub instance: Option<String>,
    /// Directory of the append-only audit log (JSON lines, one segment file per
    /// `segment_max_bytes`).
    #[serde(default = "default_audit_log_dir")]
    pub log_dir: PathBuf,
    /// A segment is closed (sealed with a signed checkpoint) and a new one begun past
    /// this size.
    #[serde(default = "default_segment_max_bytes")]
    pub segment_max_bytes: u64,
    /// Ed25519 private key (PKCS#8 PEM) that signs checkpoints (`warden audit keygen
    /// --out FILE`). Required with the audit trail on, and must be outside `log_dir`
    /// (Warden refuses to start otherwise): whoever can write the log must not be able
    /// to re-sign it.
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
    /// Demo only: allow the signing key inside `log_dir`, and create
    /// `<log_dir>/checkpoint-key.pem` when `signing_key` is not set. A log signed with
    /// such a key proves nothing (anyone who can write the directory can re-sign it);
    /// Warden warns at every start.
    #[serde(default)]
    pub demo_key_in_log_dir: bool,
    /// A signed checkpoint after this many records...
    #[serde(default = "default_checkpoint_every_records")]
    pub checkpoint_every_records: u64,
    /// ...or this many seconds, whichever comes first (when records were added).
    #[serde(default = "default_checkpoint_interval_seconds")]
    pub checkpoint_interval_seconds: u64,
    /// Records in flight or waiting for the writer.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// After writing a batch that did not fill up, the writer waits this long before
    /// taking the next one, so requests do not wake it one by one (a wake-up is a
    /// cross-thread signal on the data path). Records reach the log at most this much
    /// later; 0 writes each record as soon as it arrives.
    #[serde(default = "default_batch_linger_ms")]
    pub batch_linger_ms: u64,
    /// When the queue is full: `fail_closed` (refuse new requests with 503, the
    /// default) or `drop` (let them through unrecorded, counted in a metric).
    #[serde(default)]
    pub on_queue_full: crate::audit::QueueFullPolicy,
    /// Session recording (in the `approvals.store` database).
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// OpenTelemetry export of one span per request. Off unless set.
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
}

/// Session recording.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// Record exchanges (masked) per session.
    #[serde(default = "enabled")]
    pub record: bool,
    /// Bytes of each masked body kept per exchange; the rest is counted, not kept.
    #[serde(default = "default_session_body_bytes")]
    pub max_body_bytes: usize,
    /// Exchanges older than this many days are deleted (0: kept forever).
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// Oldest exchanges are deleted while the recorded bytes exceed this (0: no limit).
    #[serde(default)]
    pub retention_max_bytes: u64,
    /// How often retention runs.
    #[serde(default = "default_retention_interval_seconds")]
    pub retention_interval_seconds: u64,
    /// Groups whose members may read every identity's sessions through the admin API
    /// (everyone else sees only their own).
    #[serde(default = "default_session_reader_groups")]
    pub reader_groups: Vec<String>,
}

/// Where spans go.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Collector endpoint: `http://host:4317` for gRPC, `http://host:4318` for HTTP
    /// (the `/v1/traces` path is added for HTTP).
    pub endpoint: String,
    /// `grpc` (the default) or `http` (protobuf over HTTP).
    #[serde(default)]
    pub protocol: OtlpProtocol,
    /// `service.name` of the spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Extra headers (e.g. an API key for a hosted collector).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// OTLP transport.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OtlpProtocol {
    /// OTLP/gRPC.
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

fn default_audit_log_dir() -> PathBuf {
    PathBuf::from("audit")
}

fn default_segment_max_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_checkpoint_every_records() -> u64 {
    1000
}

fn default_checkpoint_interval_seconds() -> u64 {
    30
}

fn default_queue_capacity() -> usize {
    10_000
}

fn default_batch_linger_ms() -> u64 {
    2
}

fn default_session_body_bytes() -> usize {
    64 * 1024
}

fn default_retention_days() -> u64 {
    30
}

fn default_session_reader_groups() -> Vec<String> {
    vec!["auditors".into()]
}

fn default_retention_interval_seconds() -> u64 {
    300
}

fn default_service_name() -> String {
    "warden".into()
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            instance: None,
            log_dir: default_audit_log_dir(),
            segment_max_bytes: default_segment_max_bytes(),
            signing_key: None,
            demo_key_in_log_dir: false,
            checkpoint_every_records: default_checkpoint_every_records(),
            checkpoint_interval_seconds: default_checkpoint_interval_seconds(),
            queue_capacity: default_queue_capacity(),
            batch_linger_ms: default_batch_linger_ms(),
            on_queue_full: crate::audit::QueueFullPolicy::default(),
            sessions: SessionsConfig::default(),
            otlp: None,
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            record: true,
            max_body_bytes: default_session_body_bytes(),
            retention_days: default_retention_days(),
            retention_max_bytes: 0,
            retention_interval_seconds: default_retention_interval_seconds(),
            reader_groups: default_session_reader_groups(),
        }
    }
}

impl AuditConfig {
    /// This instance's name in the chain.
    pub fn instance_name(&self) -> String {
        self.instance
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "warden".into())
    }
}

/// Holds and approvals.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// Where approvals are stored: `sqlite://FILE` (the default, `sqlite://warden.db`
    /// in the working directory) for one replica, `postgres://user@host/db` when
    /// several replicas share approvals.
    #[serde(default = "default_store")]
    pub store: String,
    /// The admin API approvers use (`warden approvals`). Off unless set; needs an
    /// `identity` section (approvers authenticate with its issuers).
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// How often pending requests and unused approvals past their time are expired.
    #[serde(default = "default_sweep_interval_seconds")]
    pub sweep_interval_seconds: u64,
    /// Where new holds and decisions are announced (Slack, or signed JSON).
    #[serde(default)]
    pub webhooks: Vec<crate::webhook::WebhookConfig>,
}

/// The admin API's listener.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address to listen on, e.g. `127.0.0.1:9090` (port 0: any free port).
    pub listen: SocketAddr,
    /// The approver web console on the same port (`/console/`); off unless set.
    #[serde(default)]
    pub console: Option<ConsoleConfig>,
}

/// The approver web console: people sign in with OIDC (authorization code + PKCE).
///
/// ```yaml
/// approvals:
///   admin:
///     listen: 127.0.0.1:9090
///     console:
///       issuer: https://idp.example/realms/staff   # one of identity.issuers
///       client_id: warden-console                  # in that issuer's audiences
///       redirect_url: https://warden-admin.example/console/callback
///       cookie_secure: true
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The OIDC issuer people sign in with. It must be one of `identity.issuers`, so
    /// the id_token it returns is verified like any other token.
    pub issuer: String,
    /// The console's client id at the issuer (the id_token's audience).
    pub client_id: String,
    /// The public URL of `/console/callback`, as registered at the issuer.
    pub redirect_url: String,
    /// Mark cookies `Secure` (sent over https only). Turn off only for a plain-http
    /// demo on loopback.
    #[serde(default = "default_cookie_secure")]
    pub cookie_secure: bool,
}

fn default_cookie_secure() -> bool {
    true
}

impl ConsoleConfig {
    /// Checks the console settings against the identity section; the message says
    /// what to fix (the field is relative to `approvals.admin.console`).
    pub fn validate(
        &self,
        identity: Option<&crate::identity::IdentityConfig>,
    ) -> Result<(), (&'static str, String)> {
        let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
        let issuers = identity.map(|i| i.issuers.as_slice()).unwrap_or_default();
        let Some(issuer) = issuers.iter().find(|i| same(&i.issuer, &self.issuer)) else {
            let known: Vec<&str> = issuers.iter().map(|i| i.issuer.as_str()).collect();
            return Err((
                "issuer",
                format!(
                    "{:?} is not one of identity.issuers ({}): add it there (the console's                      id_tokens are verified through it) or use one of those",
                    self.issuer,
                    known.join(", ")
                ),
            ));
        };
        if self.client_id.trim().is_empty() {
            return Err((
                "client_id",
                "set the console's client id at the issuer".into(),
            ));
        }
        if !issuer.audiences.is_empty() && !issuer.audiences.contains(&self.client_id) {
            return Err((
                "client_id",
                format!(
                    "{:?} is not in the audiences of identity issuer {}: add it to its                      `audiences` (id_tokens are issued for the client id)",
                    self.client_id, issuer.issuer
                ),
            ));
        }
        let https = self.redirect_url.starts_with("https://");
        if !(https || self.redirect_url.starts_with("http://"))
            || !self.redirect_url.ends_with("/console/callback")
        {
            return Err((
                "redirect_url",
                format!(
                    "{:?} must be the public http(s) URL of the console's callback, ending                      in /console/callback (e.g. https://warden-admin.example/console/callback)",
                    self.redirect_url
                ),
            ));
        }
        if self.cookie_secure && !https {
            return Err((
                "cookie_secure",
                "browsers keep Secure cookies for https only: serve the console over https                  (an https redirect_url), or set cookie_secure: false for a loopback demo"
                    .into(),
            ));
        }
        Ok(())
    }
}

fn default_store() -> String {
    "sqlite://warden.db".into()
}

fn default_sweep_interval_seconds() -> u64 {
    5
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            store: default_store(),
            admin: None,
            sweep_interval_seconds: default_sweep_interval_seconds(),
            webhooks: Vec::new(),
        }
    }
}

/// Where the policy comes from.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// A policy directory (`*.yaml` files; see `policies/`). Without it Warden uses
    /// the built-in default pack.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How often the directory is checked for changes (hot reload); 0 turns reload off.
    #[serde(default = "default_reload_interval_seconds")]
    pub reload_interval_seconds: u64,
    /// `false` turns policy off entirely: every authenticated request is allowed
    /// (masking still applies). For tests and staged roll-outs; prefer `mode: observe`.
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn default_reload_interval_seconds() -> u64 {
    2
}

fn enabled() -> bool {
    true
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            dir: None,
            reload_interval_seconds: default_reload_interval_seconds(),
            enabled: true,
        }
    }
}

/// Listening sockets of the gRPC server (ext_proc, ext_authz, health).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// TCP address, e.g. `127.0.0.1:50051`.
    pub tcp: Option<SocketAddr>,
    /// Unix domain socket path, e.g. `/var/run/warden/warden.sock`.
    pub unix: Option<PathBuf>,
}

/// How Warden looks at a body, per direction.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyInspection {
    /// Bodies are not sent to Warden.
    None,
    /// Bodies arrive chunk by chunk as they stream; memory stays bounded.
    Streamed,
    /// Envoy buffers the whole body and sends it in one message (up to the limit).
    Buffered,
}

/// Which body phases Warden asks Envoy for by default. Policy (a later layer)
/// can only ask for more, never less, than what masking needs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InspectionConfig {
    /// Request bodies (outbound data: prompts, SQL, tool calls).
    #[serde(default = "streamed")]
    pub request_body: BodyInspection,
    /// Response bodies (inbound data: what the agent gets to see).
    #[serde(default = "streamed")]
    pub response_body: BodyInspection,
}

fn streamed() -> BodyInspection {
    BodyInspection::Streamed
}

impl Default for InspectionConfig {
    fn default() -> Self {
        Self {
            request_body: BodyInspection::Streamed,
            response_body: BodyInspection::Streamed,
        }
    }
}

/// Limits that keep one request from exhausting Warden.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest body Warden accepts in one buffered message; larger bodies are
    /// refused with 413 (requests) or 502 (responses), never passed uninspected.
    #[serde(default = "default_max_buffered_body_bytes")]
    pub max_buffered_body_bytes: u64,
    /// Envoy's ext_proc `message_timeout` (keep the two equal): work on one body
    /// message stops when it passes and the request fails closed, instead of burning
    /// CPU on a request Envoy has already failed.
    #[serde(default = "default_message_timeout_ms")]
    pub message_timeout_ms: u64,
    /// Most time one request may spend on body work (decoding, classifying, masking)
    /// over all its messages; past it the request fails closed.
    #[serde(default = "default_body_work_per_request_ms")]
    pub body_work_per_request_ms: u64,
    /// Threads for large body messages, at a lower CPU priority than the threads that
    /// serve everything else (0: one per CPU but one, at least one).
    #[serde(default)]
    pub body_workers: usize,
    /// Longest an event of an event stream (SSE, NDJSON) is held back because a secret
    /// may continue in the next event (an LLM writing a key token by token). The
    /// latency it adds to a stream that pauses mid-word; keep it well under
    /// `message_timeout_ms`.
    #[serde(default = "default_event_hold_ms")]
    pub event_hold_ms: u64,
}

fn default_event_hold_ms() -> u64 {
    crate::pipeline::DEFAULT_EVENT_HOLD_MS
}

fn default_max_buffered_body_bytes() -> u64 {
    8 * 1024 * 1024
}

fn default_message_timeout_ms() -> u64 {
    2000
}

fn default_body_work_per_request_ms() -> u64 {
    30_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_buffered_body_bytes: default_max_buffered_body_bytes(),
            message_timeout_ms: default_message_timeout_ms(),
            body_work_per_request_ms: default_body_work_per_request_ms(),
            body_workers: 0,
            event_hold_ms: default_event_hold_ms(),
        }
    }
}

impl LimitsConfig {
    /// The time limits on body work.
    pub fn body_work(&self) -> crate::pipeline::BodyWorkLimits {
        crate::pipeline::BodyWorkLimits {
            message_timeout: std::time::Duration::from_millis(self.message_timeout_ms),
            per_exchange: std::time::Duration::from_millis(self.body_work_per_request_ms),
            event_hold: std::time::Duration::from_millis(self.event_hold_ms),
        }
    }
}

/// Graceful shutdown.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// After SIGTERM, how long in-flight streams may take to finish before Warden
    /// exits anyway (Envoy then fails those requests closed).
    #[serde(default = "default_grace_period_seconds")]
    pub grace_period_seconds: u64,
}

fn default_grace_period_seconds() -> u64 {
    30
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace_period_seconds: default_grace_period_seconds(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Logging.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`. The level comes from `WARDEN_LOG` (e.g. `warden=debug`).
    #[serde(default)]
    pub format: LogFormat,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let field = match err.path().to_string() {
                p if p == "." => "(top level)".to_string(),
                p => p,
            };
            let inner = err.into_inner();
            let location = inner
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            ConfigError::Invalid {
                path: path.to_path_buf(),
                field,
                location,
                message: strip_location(&inner.to_string()),
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks what the type system cannot: required combinations and ranges.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: field.to_string(),
            location: String::new(),
            message,
        };
        if self.listen.tcp.is_none() && self.listen.unix.is_none() {
            return Err(invalid(
                "listen",
                "set `tcp` (e.g. 127.0.0.1:50051), `unix` (a socket path), or both".into(),
            ));
        }
        if let Some(unix) = &self.listen.unix {
            if unix.as_os_str().is_empty() {
                return Err(invalid("listen.unix", "the socket path is empty".into()));
            }
        }
        if let Some(identity) = &self.identity {
            identity.validate().map_err(|e| {
                let field = if e.field.starts_with("identity") {
                    e.field.clone()
                } else {
                    format!("identity.{}", e.field)
                };
                invalid(&field, e.message.clone())
            })?;
        }
        let store = self.approvals.store.as_str();
        if !(store.starts_with("sqlite:")
            || store.starts_with("postgres://")
            || store.starts_with("postgresql://"))
        {
            return Err(invalid(
                "approvals.store",
                format!(
                    "{store:?} is not a store URL: use sqlite://FILE (one replica) or \
                     postgres://user@host:port/db (several replicas)"
                ),
            ));
        }
        if self.approvals.admin.is_some() && self.identity.is_none() {
            return Err(invalid(
                "approvals.admin",
                "the admin API authenticates approvers with the identity issuers: add an \
                 identity section, or remove approvals.admin"
                    .into(),
            ));
        }
        if let Some(console) = self
            .approvals
            .admin
            .as_ref()
            .and_then(|a| a.console.as_ref())
        {
            console
                .validate(self.identity.as_ref())
                .map_err(|(field, message)| {
                    invalid(&format!("approvals.admin.console.{field}"), message)
                })?;
        }
        for (i, webhook) in self.approvals.webhooks.iter().enumerate() {
            webhook
                .validate()
                .map_err(|e| invalid(&format!("approvals.webhooks[{i}]"), e.to_string()))?;
        }
        if self.approvals.sweep_interval_seconds == 0 {
            return Err(invalid(
                "approvals.sweep_interval_seconds",
                "must be at least 1".into(),
            ));
        }
        if self.limits.message_timeout_ms == 0 {
            return Err(invalid(
                "limits.message_timeout_ms",
                "must be at least 1 (set it to the ext_proc filter's message_timeout)".into(),
            ));
        }
        if self.limits.body_work_per_request_ms == 0 {
            return Err(invalid(
                "limits.body_work_per_request_ms",
                "must be at least 1".into(),
            ));
        }
        let max = self.limits.max_buffered_body_bytes;
        if max == 0 || max > MAX_BUFFERED_BODY_CEILING {
            return Err(invalid(
                "limits.max_buffered_body_bytes",
                format!("{max} is out of range: use 1..={MAX_BUFFERED_BODY_CEILING}"),
            ));
        }
        Ok(())
    }
}

/// serde_yaml puts " at line L column C" into its messages; we report the
/// location separately, so drop it from the message.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("warden.yaml"))
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = parse("listen:\n  tcp: 127.0.0.1:50051\n").expect("valid");
        assert_eq!(config.listen.tcp, Some("127.0.0.1:50051".parse().unwrap()));
        assert_eq!(config.inspection, InspectionConfig::default());
        assert_eq!(config.limits.max_buffered_body_bytes, 8 * 1024 * 1024);
        assert_eq!(config.shutdown.grace_period_seconds, 30);
        assert_eq!(config.log.format, LogFormat::Text);
    }

    #[test]
    fn full_config_parses() {
        let config = parse(
            "listen: {tcp: '0.0.0.0:1', unix: /tmp/w.sock}\n\
             inspection: {request_body: buffered, response_body: none}\n\
             limits: {max_buffered_body_bytes: 1024}\n\
             shutdown: {grace_period_seconds: 2}\n\
             log: {format: json}\n",
        )
        .expect("valid");
        assert_eq!(config.inspection.request_body, BodyInspection::Buffered);
        assert_eq!(config.inspection.response_body, BodyInspection::None);
        assert_eq!(
            config.listen.unix.as_deref(),
            Some(Path::new("/tmp/w.sock"))
        );
        assert_eq!(config.log.format, LogFormat::Json);
    }

    fn error_of(text: &str) -> String {
        parse(text).expect_err("must be rejected").to_string()
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let e = error_of("listen: {tcp: 127.0.0.1:1}\ninspection:\n  request_body: streem\n");
        assert!(e.starts_with("warden.yaml: inspection.request_body"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("unknown variant `streem`"), "{e}");

        let e = error_of("listen: {tcp: 'not an address'}\n");
        assert!(e.contains("listen.tcp"), "{e}");
        assert!(e.contains("invalid socket address"), "{e}");

        let e = error_of("listen: {tcp: 127.0.0.1:1}\nlimits: {max_bufferd_body_bytes: 3}\n");
        assert!(e.contains("limits"), "{e}");
        assert!(e.contains("unknown field `max_bufferd_body_bytes`"), "{e}");

        let e = error_of("inspection: {}\n");
        assert!(e.contains("missing field `listen`"), "{e}");

        let e = error_of("listen: {}\n");
        assert!(e.starts_with("warden.yaml: listen: set `tcp`"), "{e}");

        let e = error_of("listen: {tcp: 127.0.0.1:1}\nlimits: {max_buffered_body_bytes: 0}\n");
        assert!(
            e.contains("limits.max_buffered_body_bytes: 0 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn console_settings_are_checked_against_the_identity_issuers() {
        let config = |console: &str| {
            format!(
                "listen: {{tcp: 127.0.0.1:1}}\n\
                 identity:\n  issuers:\n    - issuer: http://127.0.0.1:8081\n      audiences: [warden, warden-console]\n      allow_http: true\n\
                 approvals:\n  admin:\n    listen: 127.0.0.1:9090\n    console: {console}\n"
            )
        };
        let good = "{issuer: 'http://127.0.0.1:8081/', client_id: warden-console, redirect_url: 'http://127.0.0.1:9090/console/callback', cookie_secure: false}";
        let parsed = parse(&config(good)).expect("valid");
        let console = parsed
            .approvals
            .admin
            .and_then(|a| a.console)
            .expect("console");
        assert_eq!(console.client_id, "warden-console");

        let e = error_of(&config(&good.replace("8081/", "9999")));
        assert!(e.contains("approvals.admin.console.issuer"), "{e}");
        assert!(e.contains("not one of identity.issuers"), "{e}");
        let e = error_of(&config(
            &good.replace("client_id: warden-console", "client_id: other"),
        ));
        assert!(
            e.contains("console.client_id") && e.contains("audiences"),
            "{e}"
        );
        let e = error_of(&config(&good.replace("/console/callback", "/cb")));
        assert!(e.contains("console.redirect_url"), "{e}");
        let e = error_of(&config(&good.replace(", cookie_secure: false", "")));
        assert!(
            e.contains("console.cookie_secure") && e.contains("https"),
            "{e}"
        );
    }

    #[test]
    fn unreadable_file_says_which() {
        let err = Config::load(Path::new("/nonexistent/warden.yaml")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/warden.yaml"));
    }
}
