//! Outgoing webhooks: tell people and systems when an operation is held and when its
//! approval is decided, expires, is revoked or is used.
//!
//! Webhooks are configured under `approvals.webhooks` ([`WebhookConfig`]). Each one
//! posts JSON in one of two [`Format`]s:
//!
//! - `slack`: a Slack-compatible incoming-webhook message (`{"text", "blocks"}`) for a
//!   channel where approvers see holds: who asked, what, which rule and why, the
//!   approval id, when it expires and the command that approves it
//!   ([`slack_payload`]).
//! - `json`: a signed, machine-readable [`JsonPayload`] with the whole [`Approval`]
//!   (never a request body: an approval holds none) for ticketing, paging or audit
//!   systems ([`json_payload`]).
//!
//! Delivery never slows a request down: [`Notifier::notify`] queues the event and
//! returns; a background task posts it, retrying 5xx answers, timeouts and connection
//! errors (3 retries, after 1 s, 2 s and 4 s). When the queue is full the event is
//! dropped with a warning and counted ([`NotifierStats::dropped`]). Events for one
//! approval may arrive out of order or more than once: order them by the approval's
//! timestamps and status, and deduplicate by delivery id.
//!
//! # Signatures
//!
//! When a webhook has a key (`secret_env`; required for `json`), every request carries:
//!
//! | header               | value                                                    |
//! |----------------------|----------------------------------------------------------|
//! | `x-warden-event`     | the [`Event`] name, e.g. `hold.created`                  |
//! | `x-warden-delivery`  | a UUID per delivery (the same on retries; also `id`)     |
//! | `x-warden-timestamp` | Unix seconds when this attempt was signed                |
//! | `x-warden-signature` | `sha256=` + hex HMAC-SHA256(key, `<timestamp>.<body>`)   |
//!
//! A receiver verifies a request like this:
//!
//! 1. Read the raw body bytes, before any JSON parsing or re-encoding.
//! 2. Compute HMAC-SHA256 with the shared key over the `x-warden-timestamp` header
//!    value exactly as received, a `.`, and the raw body; compare `sha256=<hex>` with
//!    `x-warden-signature` in constant time ([`verify_signature`] does both steps).
//! 3. Reject the request when the timestamp is more than
//!    [`RECOMMENDED_REPLAY_WINDOW_SECONDS`] (5 minutes) away from the receiver's
//!    clock: the timestamp is signed, so an attacker cannot refresh a captured request.
//! 4. Within the window, drop repeats of an `x-warden-delivery` id already processed
//!    (retries are re-signed with a fresh timestamp but keep the delivery id).
//!
//! The key is read from the environment variable `secret_env` names when the
//! configuration is loaded; it is never logged. Slack incoming-webhook URLs carry
//! their own secret in the path, so logs name only the URL's host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::{mpsc, Notify, Semaphore};

use crate::approval::{Approval, Scope, Status, Timestamp, Verdict};

/// Header naming the [`Event`].
pub const EVENT_HEADER: &str = "x-warden-event";
/// Header with the delivery id (a UUID, the same on retries).
pub const DELIVERY_HEADER: &str = "x-warden-delivery";
/// Header with the Unix time (seconds) the attempt was signed.
pub const TIMESTAMP_HEADER: &str = "x-warden-timestamp";
/// Header with the signature: `sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "x-warden-signature";
/// How far a receiver should let [`TIMESTAMP_HEADER`] differ from its clock.
pub const RECOMMENDED_REPLAY_WINDOW_SECONDS: u64 = 300;
/// Default size of the delivery queue ([`NotifierOptions::queue_capacity`]).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// Longest text taken from one approval field into a Slack message.
const MAX_FIELD_CHARS: usize = 300;

/// One outgoing webhook, from `approvals.webhooks` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to post (`http` or `https`). For Slack, the incoming-webhook URL.
    pub url: String,
    /// What to post: `slack` or `json`.
    pub format: Format,
    /// Name of the environment variable holding the HMAC signing key (the key itself
    /// never goes in the configuration file). Required for `json`; optional for
    /// `slack`, which then sends the signature headers too.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Events to send; all of them when absent.
    #[serde(default)]
    pub events: Option<Vec<Event>>,
    /// Per-attempt timeout, in seconds.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_timeout_seconds() -> u64 {
    5
}

/// What a webhook posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A Slack-compatible incoming-webhook message ([`slack_payload`]).
    Slack,
    /// A signed [`JsonPayload`] ([`json_payload`]).
    Json,
}

/// Something that happened to an approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// An operation was held and an approval is pending (`hold.created`).
    #[serde(rename = "hold.created")]
    HoldCreated,
    /// The approval was approved (`approval.approved`).
    #[serde(rename = "approval.approved")]
    Approved,
    /// An approver denied it (`approval.denied`).
    #[serde(rename = "approval.denied")]
    Denied,
    /// Nobody decided in time, or it was not used in time (`approval.expired`).
    #[serde(rename = "approval.expired")]
    Expired,
    /// An approver revoked it (`approval.revoked`).
    #[serde(rename = "approval.revoked")]
    Revoked,
    /// The approved operation passed (`approval.used`).
    #[serde(rename = "approval.used")]
    Used,
}

impl Event {
    /// Every event, in lifecycle order.
    pub const ALL: [Event; 6] = [
        Event::HoldCreated,
        Event::Approved,
        Event::Denied,
        Event::Expired,
        Event::Revoked,
        Event::Used,
    ];

    /// The event's name (`hold.created`, `approval.approved`, ...), as configured and
    /// sent in [`EVENT_HEADER`].
    pub fn name(self) -> &'static str {
        match self {
            Event::HoldCreated => "hold.created",
            Event::Approved => "approval.approved",
            Event::Denied => "approval.denied",
            Event::Expired => "approval.expired",
            Event::Revoked => "approval.revoked",
            Event::Used => "approval.used",
        }
    }

    /// The event an approval reaching `status` announces (`pending` is a new hold).
    pub fn for_status(status: Status) -> Event {
        match status {
            Status::Pending => Event::HoldCreated,
            Status::Approved => Event::Approved,
            Status::Denied => Event::Denied,
            Status::Expired => Event::Expired,
            Status::Revoked => Event::Revoked,
            Status::Used => Event::Used,
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a webhook configuration was refused. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookConfigError {
    /// `url` does not parse.
    #[error(
        "approvals.webhooks: url is not a valid URL ({reason}); \
         set it to the receiver's full http(s) URL, e.g. https://hooks.example.com/warden"
    )]
    InvalidUrl {
        /// What the URL parser said.
        reason: String,
    },
    /// `url` is not http or https.
    #[error(
        "approvals.webhooks: url for {host} uses {scheme}:, which Warden cannot post to; \
         use an https:// (or http://) URL"
    )]
    UnsupportedScheme {
        /// The URL's host.
        host: String,
        /// The URL's scheme.
        scheme: String,
    },
    /// A `json` webhook without `secret_env`.
    #[error(
        "approvals.webhooks: the json webhook for {host} has no secret_env; json webhooks \
         are signed: set secret_env to the name of an environment variable holding the \
         signing key shared with the receiver (e.g. secret_env: WARDEN_WEBHOOK_SECRET)"
    )]
    MissingSecret {
        /// The URL's host.
        host: String,
    },
    /// `secret_env` is an empty string.
    #[error(
        "approvals.webhooks: secret_env for {host} is empty; set it to the name of an \
         environment variable holding the signing key, or remove it (slack only)"
    )]
    EmptySecretEnv {
        /// The URL's host.
        host: String,
    },
    /// The variable `secret_env` names is unset or empty.
    #[error(
        "approvals.webhooks: the webhook for {host} reads its signing key from ${var}, \
         which is not set or is empty; export {var} with a random key (32+ characters) \
         shared with the receiver"
    )]
    SecretUnset {
        /// The URL's host.
        host: String,
        /// The environment variable.
        var: String,
    },
    /// `timeout_seconds: 0`.
    #[error(
        "approvals.webhooks: timeout_seconds for {host} is 0; set it to at least 1 \
         (default 5)"
    )]
    ZeroTimeout {
        /// The URL's host.
        host: String,
    },
    /// `events: []`.
    #[error(
        "approvals.webhooks: events for {host} is empty, so nothing would be sent; list \
         events (hold.created, approval.approved, approval.denied, approval.expired, \
         approval.revoked, approval.used), omit events for all, or remove the webhook"
    )]
    NoEvents {
        /// The URL's host.
        host: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(String),
    /// [`Notifier::new`] was called outside a Tokio runtime.
    #[error("webhooks need a Tokio runtime: create the Notifier inside the server's runtime")]
    NoRuntime,
}

/// A webhook checked and ready to post to. Its `Debug` leaves the key and URL out.
struct Webhook {
    url: reqwest::Url,
    host: String,
    format: Format,
    key: Option<Vec<u8>>,
    events: Option<Vec<Event>>,
    timeout: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("host", &self.host)
            .field("format", &self.format)
            .field("signed", &self.key.is_some())
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Webhook {
    fn wants(&self, event: Event) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&event))
    }
}

impl WebhookConfig {
    /// Checks the webhook against the process environment: the URL parses and is
    /// http(s), a `json` webhook names a key, the key's variable is set and not empty,
    /// the timeout is not zero and `events`, when given, is not empty.
    pub fn validate(&self) -> Result<(), WebhookConfigError> {
        self.validate_with(|name| std::env::var(name).ok())
    }

    /// [`WebhookConfig::validate`] with `env` standing in for the process environment.
    pub fn validate_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), WebhookConfigError> {
        self.resolve(&env).map(|_| ())
    }

    fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Webhook, WebhookConfigError> {
        let url =
            reqwest::Url::parse(self.url.trim()).map_err(|e| WebhookConfigError::InvalidUrl {
                reason: e.to_string(),
            })?;
        let host = url.host_str().unwrap_or_default().to_string();
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookConfigError::UnsupportedScheme {
                host,
                scheme: url.scheme().to_string(),
            });
        }
        if host.is_empty() {
            return Err(WebhookConfigError::InvalidUrl {
                reason: "it has no host".into(),
            });
        }
        let key = match &self.secret_env {
            None if self.format == Format::Json => {
                return Err(WebhookConfigError::MissingSecret { host })
            }
            None => None,
            Some(var) if var.trim().is_empty() => {
                return Err(WebhookConfigError::EmptySecretEnv { host })
            }
            Some(var) => match env(var.trim()) {
                Some(key) if !key.is_empty() => Some(key.into_bytes()),
                _ => {
                    return Err(WebhookConfigError::SecretUnset {
                        host,
                        var: var.trim().to_string(),
                    })
                }
            },
        };
        if self.timeout_seconds == 0 {
            return Err(WebhookConfigError::ZeroTimeout { host });
        }
        if self.events.as_ref().is_some_and(Vec::is_empty) {
            return Err(WebhookConfigError::NoEvents { host });
        }
        Ok(Webhook {
            url,
            host,
            format: self.format,
            key,
            events: self.events.clone(),
            timeout: Duration::from_secs(self.timeout_seconds),
        })
    }
}

// ---------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------

/// The body of a `json` webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonPayload {
    /// What happened.
    pub event: Event,
    /// The delivery id (also in [`DELIVERY_HEADER`]; the same on retries).
    pub id: String,
    /// When Warden first tried to send it.
    pub sent_at: Timestamp,
    /// The approval after the event.
    pub approval: Approval,
}

/// The body of a `json` webhook for `event` on `approval`.
pub fn json_payload(
    event: Event,
    approval: &Approval,
    delivery_id: &str,
    sent_at: Timestamp,
) -> Value {
    json!({
        "event": event,
        "id": delivery_id,
        "sent_at": sent_at,
        "approval": approval,
    })
}

/// A Slack-compatible incoming-webhook message for `event` on `approval`:
/// `{"text": <mrkdwn>, "blocks": [<one section with the same text>]}`.
///
/// Text taken from the approval is escaped (`&`, `<`, `>`), so a request path cannot
/// mention `@channel` or plant a link, and long fields are shortened.
pub fn slack_payload(event: Event, approval: &Approval) -> Value {
    let text = slack_text(event, approval);
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}
        ],
    })
}

fn slack_text(event: Event, a: &Approval) -> String {
    let id = code(a.id.as_str());
    let title = match event {
        Event::HoldCreated => ":hourglass_flowing_sand: *Approval needed*",
        Event::Approved => ":white_check_mark: *Approved*",
        Event::Denied => ":no_entry: *Denied*",
        Event::Expired => ":alarm_clock: *Expired*",
        Event::Revoked => ":leftwards_arrow_with_hook: *Revoked*",
        Event::Used => ":arrow_forward: *Used*",
    };
    let kind = if a.requester.kind.is_empty() {
        "unknown"
    } else {
        a.requester.kind.as_str()
    };
    let mut lines = vec![
        format!("{title}: {}", text(&a.operation.summary)),
        format!("*Who:* {} ({})", text(&a.requester.subject), text(kind)),
        format!(
            "*What:* `{} {}{}`",
            code(&a.operation.method),
            code(&a.operation.host),
            code(&a.operation.path)
        ),
        format!("*Rule:* {} — {}", text(&a.rule), text(&a.reason)),
        format!("*Approval:* `{id}`"),
    ];
    if let Scope::Grant {
        scope,
        duration_seconds,
    } = &a.scope
    {
        lines.push(format!(
            "*Grant:* everything held by `{}` for {}",
            code(scope),
            duration(*duration_seconds)
        ));
    }
    match event {
        Event::HoldCreated => {
            let needed = a.rules.required.max(1);
            lines.push(format!(
                "*Needs:* {needed} approval{} from {}",
                if needed == 1 { "" } else { "s" },
                text(&a.rules.approver_groups.join(", "))
            ));
            lines.push(format!("*Expires:* {}", a.expires_at));
            lines.push(format!(
                "*To approve:* `warden approvals approve {id}` (to deny: `warden approvals deny {id}`)"
            ));
        }
        Event::Approved => {
            lines.push(format!(
                "*Approved by:* {}",
                votes(a, Some(Verdict::Approve))
            ));
            if let Some(until) = a.valid_until {
                lines.push(format!("*Valid until:* {until}"));
            }
        }
        Event::Denied => {
            lines.push(format!("*Denied by:* {}", votes(a, Some(Verdict::Deny))));
        }
        Event::Expired => {
            let at = a.expired_at.unwrap_or(a.expires_at);
            lines.push(format!("*Expired at:* {at}"));
        }
        Event::Revoked => {
            if let Some(vote) = &a.revoked {
                lines.push(format!("*Revoked by:* {}", vote_text(vote)));
            }
        }
        Event::Used => {
            if let Some(used) = &a.used {
                lines.push(format!(
                    "*Used at:* {} by request `{}`",
                    used.at,
                    code(&used.request_id)
                ));
            }
        }
    }
    lines.join("\n")
}

/// The votes with `verdict` (all when `None`), as `alice ("why"), bob`.
fn votes(a: &Approval, verdict: Option<Verdict>) -> String {
    let shown: Vec<String> = a
        .votes
        .iter()
        .filter(|v| verdict.is_none_or(|verdict| v.verdict == verdict))
        .map(vote_text)
        .collect();
    if shown.is_empty() {
        "nobody recorded".into()
    } else {
        shown.join(", ")
    }
}

fn vote_text(vote: &crate::approval::Vote) -> String {
    match &vote.justification {
        Some(why) => format!("{} (\"{}\")", text(&vote.by.subject), text(why)),
        None => text(&vote.by.subject),
    }
}

fn duration(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Approval text for Slack mrkdwn: shortened, with `&`, `<` and `>` escaped.
fn text(raw: &str) -> String {
    let mut shortened: String = raw.chars().take(MAX_FIELD_CHARS).collect();
    if raw.chars().nth(MAX_FIELD_CHARS).is_some() {
        shortened.push('…');
    }
    shortened
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// [`text`] for inside a `code span`: backticks would end the span.
fn code(raw: &str) -> String {
    text(raw).replace('`', "'")
}

// ---------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------

/// The [`SIGNATURE_HEADER`] value for `body` sent at `timestamp` (Unix seconds):
/// `sha256=` + hex HMAC-SHA256(`key`, `"<timestamp>.<body>"`).
pub fn sign(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex(&mac(key, &timestamp.to_string(), body)
            .finalize()
            .into_bytes())
    )
}

/// True when `header` (the [`SIGNATURE_HEADER`] value) is the signature of `body`
/// with `timestamp` (the [`TIMESTAMP_HEADER`] value as received) under `key`. The
/// comparison is constant-time. It does not check the timestamp's age: see the module
/// docs for the replay window.
pub fn verify_signature(key: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(given) = header.trim().strip_prefix("sha256=").and_then(unhex) else {
        return false;
    };
    mac(key, timestamp, body).verify_slice(&given).is_ok()
}

fn mac(key: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------

/// Tuning for a [`Notifier`]; [`Default`] is what production uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifierOptions {
    /// Events waiting to be sent before [`Notifier::notify`] drops new ones (1024).
    pub queue_capacity: usize,
    /// Deliveries in flight at once (16).
    pub max_in_flight: usize,
    /// Retries after the first attempt (3).
    pub max_retries: u32,
    /// Delay before the first retry, doubled for each next one (1 s: 1 s, 2 s, 4 s).
    pub backoff_base: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_in_flight: 16,
            max_retries: 3,
            backoff_base: Duration::from_secs(1),
        }
    }
}

/// Counts of what a [`Notifier`] did, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Deliveries a receiver accepted (2xx).
    pub delivered: u64,
    /// Deliveries given up on (a 3xx/4xx answer, or retries used up).
    pub failed: u64,
    /// Events dropped because the queue was full or the sender had stopped.
    pub dropped: u64,
}

#[derive(Default)]
struct Shared {
    /// Events queued or being delivered.
    pending: AtomicU64,
    /// Signalled when `pending` drops to zero.
    idle: Notify,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Counts one event as pending while it lives (queued, then shared by its
/// deliveries); dropping the last reference marks it done.
struct PendingEvent(Arc<Shared>);

impl PendingEvent {
    fn new(shared: &Arc<Shared>) -> PendingEvent {
        shared.pending.fetch_add(1, Ordering::SeqCst);
        PendingEvent(Arc::clone(shared))
    }
}

impl Drop for PendingEvent {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

struct Job {
    event: Event,
    approval: Approval,
    _pending: PendingEvent,
}

struct Inner {
    webhooks: Arc<[Webhook]>,
    queue: mpsc::Sender<Arc<Job>>,
    shared: Arc<Shared>,
}

/// Sends webhook events in the background. Cheap to clone; clones share the queue.
#[derive(Clone)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
    /// Counts every event, webhooks or not (`warden_approvals_total`).
    metrics: Option<crate::metrics::Metrics>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Notifier(disabled)"),
            Some(inner) => f
                .debug_struct("Notifier")
                .field("webhooks", &inner.webhooks)
                .finish(),
        }
    }
}

impl Notifier {
    /// A notifier for `webhooks`, with keys read from the process environment and the
    /// default [`NotifierOptions`]. Must be called inside a Tokio runtime: it starts
    /// the delivery task there. No webhooks: the same as [`Notifier::disabled`].
    pub fn new(webhooks: Vec<WebhookConfig>) -> Result<Notifier, WebhookConfigError> {
        Notifier::with_options(webhooks, NotifierOptions::default(), |name| {
            std::env::var(name).ok()
        })
    }

    /// [`Notifier::new`] with explicit options and `env` standing in for the process
    /// environment when reading keys.
    pub fn with_options(
        webhooks: Vec<WebhookConfig>,
        options: NotifierOptions,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Notifier, WebhookConfigError> {
        if webhooks.is_empty() {
            return Ok(Notifier::disabled());
        }
        let webhooks: Arc<[Webhook]> = webhooks
            .iter()
            .map(|w| w.resolve(&env))
            .collect::<Result<Vec<_>, _>>()?
            .into();
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| WebhookConfigError::NoRuntime)?;
        crate::identity::ensure_tls_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("warden-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookConfigError::HttpClient(e.without_url().to_string()))?;
        let (queue, jobs) = mpsc::channel(options.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        runtime.spawn(dispatch(
            jobs,
            client,
            Arc::clone(&webhooks),
            options,
            Arc::clone(&shared),
        ));
        Ok(Notifier {
            inner: Some(Arc::new(Inner {
                webhooks,
                queue,
                shared,
            })),
            metrics: None,
        })
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            inner: None,
            metrics: None,
        }
    }

    /// Also counts each event in `metrics`: every approval change passes through
    /// here once, from whichever part of Warden made it.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Notifier {
        self.metrics = Some(metrics);
        self
    }

    /// True when there is at least one webhook.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues `event` for `approval` to every webhook that wants it and returns at
    /// once. When the queue is full the event is dropped, counted and logged.
    pub fn notify(&self, event: Event, approval: &Approval) {
        if let Some(metrics) = &self.metrics {
            metrics.count_approval(event.into());
        }
        let Some(inner) = &self.inner else {
            return;
        };
        if !inner.webhooks.iter().any(|w| w.wants(event)) {
            return;
        }
        let job = Arc::new(Job {
            event,
            approval: approval.clone(),
            _pending: PendingEvent::new(&inner.shared),
        });
        let why = match inner.queue.try_send(job) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => "the webhook queue is full",
            Err(mpsc::error::TrySendError::Closed(_)) => "the webhook sender has stopped",
        };
        let dropped = inner.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            event = event.name(),
            approval = %approval.id,
            dropped_total = dropped,
            "webhook event dropped: {why}; receivers will not hear of it"
        );
    }

    /// Waits until every event notified so far (and any notified meanwhile) has been
    /// delivered or given up on, retries included. For tests and shutdown (bound it
    /// with a timeout there). Returns at once when disabled.
    pub async fn flush(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        loop {
            let idle = inner.shared.idle.notified();
            let mut idle = std::pin::pin!(idle);
            idle.as_mut().enable();
            if inner.shared.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// What this notifier did so far.
    pub fn stats(&self) -> NotifierStats {
        match &self.inner {
            None => NotifierStats::default(),
            Some(inner) => NotifierStats {
                delivered: inner.shared.delivered.load(Ordering::Relaxed),
                failed: inner.shared.failed.load(Ordering::Relaxed),
                dropped: inner.shared.dropped.load(Ordering::Relaxed),
            },
        }
    }
}

/// Takes events off the queue and starts one delivery per interested webhook, at most
/// `max_in_flight` at once (the queue fills up behind a slow receiver).
async fn dispatch(
    mut jobs: mpsc::Receiver<Arc<Job>>,
    client: reqwest::Client,
    webhooks: Arc<[Webhook]>,
    options: NotifierOptions,
    shared: Arc<Shared>,
) {
    let limit = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    while let Some(job) = jobs.recv().await {
        for (index, hook) in webhooks.iter().enumerate() {
            if !hook.wants(job.event) {
                continue;
            }
            let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
                return;
            };
            let (client, hooks, job, shared) = (
                client.clone(),
                Arc::clone(&webhooks),
                Arc::clone(&job),
                Arc::clone(&shared),
            );
            let (max_retries, backoff_base) = (options.max_retries, options.backoff_base);
            tokio::spawn(async move {
                let _permit = permit;
                let outcome =
                    deliver(&client, &hooks[index], &job, max_retries, backoff_base).await;
                let counter = if outcome {
                    &shared.delivered
                } else {
                    &shared.failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
            });
        }
    }
}

/// Posts one event to one webhook, retrying transient failures. True when delivered.
async fn deliver(
    client: &reqwest::Client,
    hook: &Webhook,
    job: &Job,
    max_retries: u32,
    backoff_base: Duration,
) -> bool {
    let delivery = uuid::Uuid::new_v4().to_string();
    let body = match hook.format {
        Format::Slack => slack_payload(job.event, &job.approval),
        Format::Json => json_payload(job.event, &job.approval, &delivery, Timestamp::now()),
    };
    let body = match serde_json::to_vec(&body) {
        Ok(body) => Bytes::from(body),
        Err(e) => {
            tracing::warn!(
                host = %hook.host,
                event = job.event.name(),
                approval = %job.approval.id,
                "webhook not sent: cannot encode the payload: {e}"
            );
            return false;
        }
    };
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let mut request = client
            .post(hook.url.clone())
            .timeout(hook.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, job.event.name())
            .header(DELIVERY_HEADER, delivery.as_str())
            .body(body.clone());
        if let Some(key) = &hook.key {
            let timestamp = unix_seconds();
            request = request
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, sign(key, timestamp, &body));
        }
        let (problem, retryable) = match request.send().await {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(
                    host = %hook.host,
                    event = job.event.name(),
                    approval = %job.approval.id,
                    attempt,
                    "webhook delivered"
                );
                return true;
            }
            Ok(response) => {
                let status = response.status();
                let retryable = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                let hint = if status.is_redirection() {
                    " (webhooks do not follow redirects: configure the final URL)"
                } else {
                    ""
                };
                (format!("the receiver answered {status}{hint}"), retryable)
            }
            Err(e) => {
                let retryable = !e.is_builder();
                // `without_url`: a Slack webhook URL carries its secret in the path.
                (format!("{}", e.without_url()), retryable)
            }
        };
        if retryable && attempt <= max_retries {
            let delay = backoff_base.saturating_mul(2u32.saturating_pow(attempt - 1));
            tracing::warn!(
                host = %hook.host,
                event = job.event.name(),
                approval = %job.approval.id,
                attempt,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "webhook attempt failed, will retry: {problem}"
            );
            tokio::time::sleep(delay).await;
            continue;
        }
        tracing::warn!(
            host = %hook.host,
            event = job.event.name(),
            approval = %job.approval.id,
            attempt,
            "webhook not delivered, giving up: {problem}"
        );
        return false;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;

    use super::*;
    use crate::approval::{
        ApprovalId, ApprovalRules, Approver, Fingerprint, NewHold, Operation, Requester,
    };

    const T0: Timestamp = Timestamp(1_796_000_000_000);
    const KEY: &str = "test-signing-key-0123456789abcdef";

    fn held() -> Approval {
        let hold = NewHold {
            requester: Requester {
                subject: "agent-7".into(),
                issuer: "https://idp".into(),
                groups: vec!["agents".into()],
                kind: "agent".into(),
                acting_for: Vec::new(),
            },
            operation: Operation {
                method: "DELETE".into(),
                host: "k8s.internal".into(),
                path: "/api/v1/namespaces/prod/pods/web-1".into(),
                summary: "kubernetes delete pods/web-1 in prod".into(),
                fingerprint: Fingerprint("sha256:aa".into()),
            },
            scope: Scope::Operation,
            rule: "hold-prod-deletes".into(),
            reason: "deletes in prod need a human".into(),
            policy_hash: "sha256:p".into(),
            rules: ApprovalRules {
                approver_groups: vec!["sre".into()],
                ..ApprovalRules::default()
            },
            request_id: "req-1".into(),
        };
        Approval::open(hold, ApprovalId("apr-0123".into()), T0)
    }

    fn approved() -> Approval {
        let mut a = held();
        let alice = Approver {
            subject: "alice".into(),
            issuer: "https://idp".into(),
            groups: vec!["sre".into()],
        };
        a.vote(
            &alice,
            Verdict::Approve,
            Some("planned rollout"),
            T0.plus_seconds(30),
        )
        .expect("alice may approve");
        a
    }

    fn config(url: &str, format: Format, secret_env: Option<&str>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            format,
            secret_env: secret_env.map(str::to_string),
            events: None,
            timeout_seconds: 5,
        }
    }

    fn env_with(name: &'static str, value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |asked| (asked == name).then(|| value.to_string())
    }

    fn options() -> NotifierOptions {
        NotifierOptions {
            backoff_base: Duration::from_millis(1),
            ..NotifierOptions::default()
        }
    }

    fn notifier(configs: Vec<WebhookConfig>, options: NotifierOptions) -> Notifier {
        Notifier::with_options(configs, options, env_with("HOOK_KEY", KEY)).expect("valid webhooks")
    }

    async fn flushed(notifier: &Notifier) {
        tokio::time::timeout(Duration::from_secs(30), notifier.flush())
            .await
            .expect("deliveries did not finish within 30 s");
    }

    /// A local HTTP receiver that records every request and answers with the queued
    /// status codes (then 200).
    #[derive(Clone, Default)]
    struct Receiver {
        received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
        answers: Arc<Mutex<VecDeque<u16>>>,
    }

    impl Receiver {
        async fn start(answers: &[u16]) -> (Receiver, String) {
            let receiver = Receiver::default();
            receiver
                .answers
                .lock()
                .expect("lock")
                .extend(answers.iter().copied());
            let app = Router::new()
                .route("/hook", post(receive))
                .with_state(receiver.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a local port");
            let addr = listener.local_addr().expect("local address");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            (receiver, format!("http://{addr}/hook"))
        }

        fn requests(&self) -> Vec<(HeaderMap, Bytes)> {
            self.received.lock().expect("lock").clone()
        }
    }

    async fn receive(
        State(receiver): State<Receiver>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        receiver
            .received
            .lock()
            .expect("lock")
            .push((headers, body));
        let code = receiver
            .answers
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(200);
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
    }

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("header {name} missing"))
    }

    #[test]
    fn events_have_dotted_names_and_follow_status() {
        let names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "hold.created",
                "approval.approved",
                "approval.denied",
                "approval.expired",
                "approval.revoked",
                "approval.used"
            ]
        );
        for event in Event::ALL {
            let json = serde_json::to_string(&event).expect("serialise");
            assert_eq!(json, format!("\"{}\"", event.name()));
            assert_eq!(serde_json::from_str::<Event>(&json).ok(), Some(event));
        }
        assert_eq!(Event::for_status(Status::Pending), Event::HoldCreated);
        assert_eq!(Event::for_status(Status::Approved), Event::Approved);
        assert_eq!(Event::for_status(Status::Denied), Event::Denied);
        assert_eq!(Event::for_status(Status::Expired), Event::Expired);
        assert_eq!(Event::for_status(Status::Revoked), Event::Revoked);
        assert_eq!(Event::for_status(Status::Used), Event::Used);
    }

    #[test]
    fn config_parses_with_defaults_and_refuses_unknown_fields() {
        let parsed: WebhookConfig = serde_yaml_ng::from_str(
            "url: https://hooks.example.com/w\nformat: json\nsecret_env: HOOK_KEY\n\
             events: [hold.created, approval.denied]\n",
        )
        .expect("valid config");
        assert_eq!(parsed.format, Format::Json);
        assert_eq!(parsed.timeout_seconds, 5);
        assert_eq!(parsed.events, Some(vec![Event::HoldCreated, Event::Denied]));
        assert_eq!(parsed.validate_with(env_with("HOOK_KEY", KEY)), Ok(()));

        let unknown = serde_yaml_ng::from_str::<WebhookConfig>(
            "url: https://h/w\nformat: slack\nsecret: oops\n",
        );
        assert!(unknown.is_err(), "unknown field accepted");
        let bad_event = serde_yaml_ng::from_str::<WebhookConfig>(
            "url: https://h/w\nformat: slack\nevents: [hold.updated]\n",
        );
        assert!(bad_event.is_err(), "unknown event accepted");
    }

    #[test]
    fn validation_says_what_to_set() {
        let env = env_with("HOOK_KEY", KEY);
        let ok_slack = config(
            "https://hooks.slack.com/services/T/B/X",
            Format::Slack,
            None,
        );
        assert_eq!(ok_slack.validate_with(&env), Ok(()));

        let err = config("not a url", Format::Slack, None).validate_with(&env);
        assert!(
            matches!(err, Err(WebhookConfigError::InvalidUrl { .. })),
            "{err:?}"
        );
        let err = config("ftp://files.example.com/x", Format::Slack, None).validate_with(&env);
        assert!(
            matches!(err, Err(WebhookConfigError::UnsupportedScheme { .. })),
            "{err:?}"
        );

        let err = config("https://h.example.com/x", Format::Json, None)
            .validate_with(&env)
            .expect_err("json without a key");
        assert!(matches!(err, WebhookConfigError::MissingSecret { .. }));
        assert!(err.to_string().contains("set secret_env"), "{err}");

        let err = config("https://h.example.com/x", Format::Json, Some("OTHER_KEY"))
            .validate_with(&env)
            .expect_err("unset variable");
        assert_eq!(
            err,
            WebhookConfigError::SecretUnset {
                host: "h.example.com".into(),
                var: "OTHER_KEY".into()
            }
        );
        assert!(err.to_string().contains("export OTHER_KEY"), "{err}");
        let empty = |_: &str| Some(String::new());
        assert!(matches!(
            config("https://h.example.com/x", Format::Json, Some("HOOK_KEY")).validate_with(empty),
            Err(WebhookConfigError::SecretUnset { .. })
        ));
        assert!(matches!(
            config("https://h.example.com/x", Format::Json, Some(" ")).validate_with(&env),
            Err(WebhookConfigError::EmptySecretEnv { .. })
        ));

        let mut zero = config("https://h.example.com/x", Format::Slack, None);
        zero.timeout_seconds = 0;
        assert!(matches!(
            zero.validate_with(&env),
            Err(WebhookConfigError::ZeroTimeout { .. })
        ));
        let mut none = config("https://h.example.com/x", Format::Slack, None);
        none.events = Some(vec![]);
        assert!(matches!(
            none.validate_with(&env),
            Err(WebhookConfigError::NoEvents { .. })
        ));

        // A Slack URL carries its secret in the path: errors name the host only.
        let mut secret_path = config(
            "https://hooks.slack.com/services/T/B/SECRETPATH",
            Format::Slack,
            None,
        );
        secret_path.timeout_seconds = 0;
        let message = secret_path
            .validate_with(&env)
            .expect_err("zero timeout")
            .to_string();
        assert!(
            message.contains("hooks.slack.com") && !message.contains("SECRETPATH"),
            "{message}"
        );
    }

    #[test]
    fn json_payload_carries_the_event_and_the_whole_approval() {
        let approval = approved();
        let body = json_payload(Event::Approved, &approval, "d-1", T0.plus_seconds(31));
        let text = serde_json::to_string(&body).expect("serialise");
        let parsed: JsonPayload = serde_json::from_str(&text).expect("parses back");
        assert_eq!(parsed.event, Event::Approved);
        assert_eq!(parsed.id, "d-1");
        assert_eq!(parsed.sent_at, T0.plus_seconds(31));
        assert_eq!(parsed.approval, approval);
        assert_eq!(body["event"], "approval.approved");
        assert_eq!(body["approval"]["id"], "apr-0123");
        assert_eq!(body["approval"]["status"], "approved");
        assert_eq!(body["sent_at"], "2026-11-30T00:53:51.000Z");
    }

    #[test]
    fn slack_message_names_the_hold_and_how_to_approve() {
        let payload = slack_payload(Event::HoldCreated, &held());
        let text = payload["text"].as_str().expect("text");
        for expected in [
            "Approval needed",
            "kubernetes delete pods/web-1 in prod",
            "agent-7 (agent)",
            "DELETE k8s.internal/api/v1/namespaces/prod/pods/web-1",
            "hold-prod-deletes",
            "deletes in prod need a human",
            "apr-0123",
            "`warden approvals approve apr-0123`",
            "1 approval from sre",
            "2026-11-30T01:53:20.000Z",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert_eq!(payload["blocks"][0]["type"], "section");
        assert_eq!(payload["blocks"][0]["text"]["type"], "mrkdwn");
        assert_eq!(payload["blocks"][0]["text"]["text"], text);
        assert!(
            !text.contains("sha256:"),
            "no fingerprints or hashes in chat"
        );
    }

    #[test]
    fn slack_decisions_name_who_decided_and_why() {
        let payload = slack_payload(Event::Approved, &approved());
        let text = payload["text"].as_str().expect("text");
        assert!(text.contains("*Approved*"), "{text}");
        assert!(text.contains("alice (\"planned rollout\")"), "{text}");
        assert!(text.contains("apr-0123"), "{text}");
        assert!(
            !text.contains("warden approvals approve"),
            "already decided: {text}"
        );
    }

    #[test]
    fn slack_text_escapes_mentions_and_links() {
        let mut approval = held();
        approval.operation.summary = format!(
            "<!channel> <https://evil.example|click> & {}",
            "x".repeat(1000)
        );
        approval.operation.path = "/a`b".into();
        let text = slack_payload(Event::HoldCreated, &approval)["text"]
            .as_str()
            .expect("text")
            .to_string();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<https://evil"), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(text.contains("&amp;"), "{text}");
        assert!(
            !text.contains(&"x".repeat(MAX_FIELD_CHARS)),
            "long fields are shortened"
        );
        assert!(
            text.contains("/a'b"),
            "backticks cannot end a code span: {text}"
        );
    }

    #[test]
    fn signatures_round_trip_and_detect_tampering() {
        let key = KEY.as_bytes();
        let body = br#"{"event":"hold.created"}"#;
        let signature = sign(key, 1_796_000_000, body);
        assert!(
            signature.starts_with("sha256=") && signature.len() == 7 + 64,
            "{signature}"
        );
        assert!(verify_signature(key, "1796000000", body, &signature));
        assert!(
            !verify_signature(
                key,
                "1796000000",
                br#"{"event":"hold.Created"}"#,
                &signature
            ),
            "changed body"
        );
        assert!(
            !verify_signature(key, "1796000001", body, &signature),
            "changed timestamp"
        );
        assert!(
            !verify_signature(b"another key", "1796000000", body, &signature),
            "wrong key"
        );
        let bare = signature.trim_start_matches("sha256=");
        assert!(
            !verify_signature(key, "1796000000", body, bare),
            "missing scheme"
        );
        assert!(
            !verify_signature(key, "1796000000", body, "sha256=zz"),
            "not hex"
        );
        assert!(
            !verify_signature(key, "1796000000", body, &signature[..signature.len() - 2]),
            "truncated"
        );
        assert!(!verify_signature(key, "1796000000", body, ""), "empty");
    }

    #[tokio::test]
    async fn json_webhook_delivers_with_a_valid_signature() {
        let (receiver, url) = Receiver::start(&[]).await;
        let notifier = notifier(
            vec![config(&url, Format::Json, Some("HOOK_KEY"))],
            options(),
        );
        let approval = held();
        notifier.notify(Event::HoldCreated, &approval);
        flushed(&notifier).await;

        let requests = receiver.requests();
        assert_eq!(requests.len(), 1);
        let (headers, body) = &requests[0];
        assert_eq!(header(headers, "content-type"), "application/json");
        assert_eq!(header(headers, EVENT_HEADER), "hold.created");
        let timestamp = header(headers, TIMESTAMP_HEADER);
        let age = unix_seconds().abs_diff(timestamp.parse::<u64>().expect("unix seconds"));
        assert!(
            age <= RECOMMENDED_REPLAY_WINDOW_SECONDS,
            "timestamp {timestamp} is stale"
        );
        assert!(verify_signature(
            KEY.as_bytes(),
            timestamp,
            body,
            header(headers, SIGNATURE_HEADER)
        ));
        assert!(!verify_signature(
            b"wrong",
            timestamp,
            body,
            header(headers, SIGNATURE_HEADER)
        ));

        let payload: JsonPayload = serde_json::from_slice(body).expect("a JSON payload");
        assert_eq!(payload.event, Event::HoldCreated);
        assert_eq!(payload.approval, approval);
        assert_eq!(payload.id, header(headers, DELIVERY_HEADER));
        assert_eq!(
            notifier.stats(),
            NotifierStats {
                delivered: 1,
                failed: 0,
                dropped: 0
            }
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_accepted() {
        let (receiver, url) = Receiver::start(&[500, 500, 200]).await;
        let notifier = notifier(
            vec![config(&url, Format::Json, Some("HOOK_KEY"))],
            options(),
        );
        notifier.notify(Event::Approved, &approved());
        flushed(&notifier).await;

        let requests = receiver.requests();
        assert_eq!(requests.len(), 3, "two 500s, then accepted");
        let ids: Vec<&str> = requests
            .iter()
            .map(|(h, _)| header(h, DELIVERY_HEADER))
            .collect();
        assert!(
            ids.iter().all(|id| *id == ids[0]),
            "retries keep the delivery id: {ids:?}"
        );
        for (headers, body) in &requests {
            assert_eq!(body, &requests[0].1, "retries send the same body");
            let timestamp = header(headers, TIMESTAMP_HEADER);
            assert!(verify_signature(
                KEY.as_bytes(),
                timestamp,
                body,
                header(headers, SIGNATURE_HEADER)
            ));
        }
        assert_eq!(
            notifier.stats(),
            NotifierStats {
                delivered: 1,
                failed: 0,
                dropped: 0
            }
        );
    }

    #[tokio::test]
    async fn retries_stop_after_three() {
        let (receiver, url) = Receiver::start(&[503, 503, 503, 503, 503]).await;
        let notifier = notifier(
            vec![config(&url, Format::Json, Some("HOOK_KEY"))],
            options(),
        );
        notifier.notify(Event::Denied, &held());
        flushed(&notifier).await;
        assert_eq!(
            receiver.requests().len(),
            4,
            "one attempt and three retries"
        );
        assert_eq!(
            notifier.stats(),
            NotifierStats {
                delivered: 0,
                failed: 1,
                dropped: 0
            }
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (receiver, url) = Receiver::start(&[400, 200]).await;
        let notifier = notifier(
            vec![config(&url, Format::Json, Some("HOOK_KEY"))],
            options(),
        );
        notifier.notify(Event::HoldCreated, &held());
        flushed(&notifier).await;
        assert_eq!(receiver.requests().len(), 1);
        assert_eq!(
            notifier.stats(),
            NotifierStats {
                delivered: 0,
                failed: 1,
                dropped: 0
            }
        );
    }

    #[tokio::test]
    async fn connection_errors_are_retried_then_given_up() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        let url = format!("http://{addr}/hook");
        let notifier = notifier(vec![config(&url, Format::Slack, None)], options());
        notifier.notify(Event::HoldCreated, &held());
        flushed(&notifier).await;
        assert_eq!(
            notifier.stats(),
            NotifierStats {
                delivered: 0,
                failed: 1,
                dropped: 0
            }
        );
    }

    #[tokio::test]
    async fn slack_webhook_posts_the_text() {
        let (receiver, url) = Receiver::start(&[]).await;
        let notifier = notifier(vec![config(&url, Format::Slack, None)], options());
        notifier.notify(Event::HoldCreated, &held());
        flushed(&notifier).await;

        let requests = receiver.requests();
        assert_eq!(requests.len(), 1);
        let (headers, body) = &requests[0];
        assert!(
            headers.get(SIGNATURE_HEADER).is_none(),
            "no key, no signature"
        );
        let message: Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(message, slack_payload(Event::HoldCreated, &held()));
        let text = message["text"].as_str().expect("text");
        assert!(text.contains("warden approvals approve apr-0123"), "{text}");
    }

    #[tokio::test]
    async fn only_configured_events_are_sent_to_each_webhook() {
        let (receiver, url) = Receiver::start(&[]).await;
        let mut decisions = config(&url, Format::Json, Some("HOOK_KEY"));
        decisions.events = Some(vec![Event::Approved, Event::Denied]);
        let notifier = notifier(
            vec![decisions, config(&url, Format::Slack, None)],
            options(),
        );
        notifier.notify(Event::HoldCreated, &held());
        notifier.notify(Event::Approved, &approved());
        flushed(&notifier).await;

        let mut seen: Vec<(String, bool)> = receiver
            .requests()
            .iter()
            .map(|(h, _)| {
                (
                    header(h, EVENT_HEADER).to_string(),
                    h.get(SIGNATURE_HEADER).is_some(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("approval.approved".to_string(), false),
                ("approval.approved".to_string(), true),
                ("hold.created".to_string(), false),
            ]
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_blocking() {
        let (receiver, url) = Receiver::start(&[]).await;
        let options = NotifierOptions {
            queue_capacity: 1,
            ..options()
        };
        let notifier = notifier(vec![config(&url, Format::Slack, None)], options);
        // The test runtime is single-threaded: nothing is taken off the queue until
        // the test awaits, so the second and third events find it full.
        for _ in 0..3 {
            notifier.notify(Event::HoldCreated, &held());
        }
        assert_eq!(notifier.stats().dropped, 2);
        flushed(&notifier).await;
        assert_eq!(receiver.requests().len(), 1);
        assert_eq!(
            notifier.stats(),
            NotifierStats {
                delivered: 1,
                failed: 0,
                dropped: 2
            }
        );
    }

    #[tokio::test]
    async fn without_webhooks_nothing_is_sent() {
        let notifier = Notifier::new(Vec::new()).expect("no webhooks is valid");
        assert!(!notifier.is_enabled());
        notifier.notify(Event::HoldCreated, &held());
        flushed(&notifier).await;
        assert_eq!(notifier.stats(), NotifierStats::default());
        assert!(!Notifier::disabled().is_enabled());
    }

    #[test]
    fn a_notifier_needs_a_runtime() {
        let err = Notifier::with_options(
            vec![config("https://h.example.com/x", Format::Slack, None)],
            NotifierOptions::default(),
            |_| None,
        )
        .expect_err("no runtime here");
        assert_eq!(err, WebhookConfigError::NoRuntime);
    }
}
