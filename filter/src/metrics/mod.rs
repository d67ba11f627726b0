//! Prometheus metrics, served on the admin port (`GET /metrics`, OpenMetrics text).
//! `docs/metrics.md` lists every metric and its labels.
//!
//! Two kinds live here:
//! - [`Metrics`], the counters and histograms the data path and its helpers update
//!   (requests by decision, masking findings, phase latencies, hold waits, approval
//!   outcomes, JWKS refreshes, holds pending). One handle, registered once, cloned
//!   into whatever updates it.
//! - collectors that read another part's own state at each scrape: the audit trail
//!   ([`AuditMetrics`]) and the policy in force ([`PolicyMetrics`]).
//!
//! Labels are bounded on purpose: shells, decisions, phases and directions are fixed
//! `&'static str`s; rule ids come from the policy and masking configuration, issuers
//! from the identity configuration. Never an identity, a path or an approval id.

mod audit;
mod policy;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use audit::AuditMetrics;
pub use policy::PolicyMetrics;

use crate::audit::RecordSource;
use crate::pipeline::{Direction, Exchange};

/// The gRPC service a request came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shell {
    /// `envoy.service.ext_proc.v3.ExternalProcessor`.
    ExtProc,
    /// `envoy.service.auth.v3.Authorization`.
    ExtAuthz,
}

impl Shell {
    /// The label value: `ext_proc` or `ext_authz`.
    pub fn name(self) -> &'static str {
        match self {
            Shell::ExtProc => "ext_proc",
            Shell::ExtAuthz => "ext_authz",
        }
    }

    fn index(self) -> usize {
        match self {
            Shell::ExtProc => 0,
            Shell::ExtAuthz => 1,
        }
    }
}

impl From<RecordSource> for Shell {
    fn from(source: RecordSource) -> Shell {
        match source {
            RecordSource::ExtProc => Shell::ExtProc,
            RecordSource::ExtAuthz => Shell::ExtAuthz,
        }
    }
}

/// One message Warden works on: an ext_proc phase, or a whole ext_authz check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// ext_proc request headers (identity, policy decision).
    RequestHeaders,
    /// ext_proc request body (a chunk or the whole body).
    RequestBody,
    /// ext_proc response headers.
    ResponseHeaders,
    /// ext_proc response body (a chunk or the whole body).
    ResponseBody,
    /// ext_proc request trailers.
    RequestTrailers,
    /// ext_proc response trailers.
    ResponseTrailers,
    /// One ext_authz check (head and body together).
    Check,
}

impl Phase {
    /// Every phase, in the order of [`Phase::index`].
    const ALL: [Phase; 7] = [
        Phase::RequestHeaders,
        Phase::RequestBody,
        Phase::ResponseHeaders,
        Phase::ResponseBody,
        Phase::RequestTrailers,
        Phase::ResponseTrailers,
        Phase::Check,
    ];

    /// The label value (`request_headers`, …, `check`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::RequestHeaders => "request_headers",
            Phase::RequestBody => "request_body",
            Phase::ResponseHeaders => "response_headers",
            Phase::ResponseBody => "response_body",
            Phase::RequestTrailers => "request_trailers",
            Phase::ResponseTrailers => "response_trailers",
            Phase::Check => "check",
        }
    }

    /// The shell that sends this phase.
    fn shell(self) -> Shell {
        match self {
            Phase::Check => Shell::ExtAuthz,
            _ => Shell::ExtProc,
        }
    }

    fn index(self) -> usize {
        match self {
            Phase::RequestHeaders => 0,
            Phase::RequestBody => 1,
            Phase::ResponseHeaders => 2,
            Phase::ResponseBody => 3,
            Phase::RequestTrailers => 4,
            Phase::ResponseTrailers => 5,
            Phase::Check => 6,
        }
    }
}

/// How an approval changed (the webhook events, which fire once per change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApprovalOutcome {
    /// A hold opened a pending approval.
    Requested,
    /// Approvers approved it.
    Approved,
    /// An approver denied it.
    Denied,
    /// Nobody decided in time, or it was not used in time.
    Expired,
    /// An approver revoked it.
    Revoked,
    /// The approved request passed (single use).
    Used,
}

impl ApprovalOutcome {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            ApprovalOutcome::Requested => "requested",
            ApprovalOutcome::Approved => "approved",
            ApprovalOutcome::Denied => "denied",
            ApprovalOutcome::Expired => "expired",
            ApprovalOutcome::Revoked => "revoked",
            ApprovalOutcome::Used => "used",
        }
    }
}

impl From<crate::webhook::Event> for ApprovalOutcome {
    fn from(event: crate::webhook::Event) -> ApprovalOutcome {
        use crate::webhook::Event;
        match event {
            Event::HoldCreated => ApprovalOutcome::Requested,
            Event::Approved => ApprovalOutcome::Approved,
            Event::Denied => ApprovalOutcome::Denied,
            Event::Expired => ApprovalOutcome::Expired,
            Event::Revoked => ApprovalOutcome::Revoked,
            Event::Used => ApprovalOutcome::Used,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    shell: &'static str,
    decision: &'static str,
    /// The deciding policy rule; empty when no rule decided (the default, or no policy).
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    shell: &'static str,
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShellLabels {
    shell: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabels {
    issuer: String,
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Bucket bounds of the phase histograms, in seconds: 10 µs to 5 s. Most phases take
/// tens of microseconds; a JWKS fetch or a large masked body takes milliseconds.
const PHASE_BUCKETS: [f64; 18] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Bucket bounds of the hold wait histogram, in seconds: 10 ms to an hour (a wait-mode
/// hold waits for a human).
const HOLD_BUCKETS: [f64; 12] = [
    0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

fn phase_histogram() -> Histogram {
    Histogram::new(PHASE_BUCKETS)
}

fn hold_histogram() -> Histogram {
    Histogram::new(HOLD_BUCKETS)
}

#[derive(Debug)]
struct Inner {
    requests: Family<RequestLabels, Counter>,
    findings: Family<FindingLabels, Counter>,
    phases: HistogramFamily<PhaseLabels>,
    /// The series of `phases`, one per [`Phase`] (by [`Phase::index`]): made once, so
    /// observing one takes no lock on the family's map.
    phase_series: [Histogram; 7],
    holds_waited: HistogramFamily<ShellLabels>,
    /// The series of `holds_waited`, by [`Shell::index`].
    hold_series: [Histogram; 2],
    holds_pending: Gauge,
    approvals: Family<OutcomeLabels, Counter>,
    jwks_refreshes: Family<IssuerLabels, Counter>,
    body_jobs: Gauge,
    body_timeouts: Counter,
}

/// The metrics Warden updates as it works. Cheap to clone (one shared state); clones
/// update the same series. Until [`Metrics::register`]ed they count but nobody reads
/// them (tests, and a server without an admin port).
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, all zero.
    pub fn new() -> Metrics {
        let phases: HistogramFamily<PhaseLabels> = Family::new_with_constructor(phase_histogram);
        let phase_series = Phase::ALL.map(|phase| {
            phases.get_or_create_owned(&PhaseLabels {
                shell: phase.shell().name(),
                phase: phase.name(),
            })
        });
        let holds_waited: HistogramFamily<ShellLabels> =
            Family::new_with_constructor(hold_histogram);
        let hold_series = [Shell::ExtProc, Shell::ExtAuthz].map(|shell| {
            holds_waited.get_or_create_owned(&ShellLabels {
                shell: shell.name(),
            })
        });
        Metrics {
            inner: Arc::new(Inner {
                requests: Family::default(),
                findings: Family::default(),
                phases,
                phase_series,
                holds_waited,
                hold_series,
                holds_pending: Gauge::default(),
                approvals: Family::default(),
                jwks_refreshes: Family::default(),
                body_jobs: Gauge::default(),
                body_timeouts: Counter::default(),
            }),
        }
    }

    /// Registers every series in `registry` (once per registry).
    pub fn register(&self, registry: &mut Registry) {
        let inner = &self.inner;
        registry.register(
            "warden_requests",
            "Requests Warden finished, by shell, decision (allow: went upstream; deny; \
             hold: answered as held; error: Warden failed closed; incomplete: the stream \
             ended before a decision) and deciding policy rule (empty: no rule decided)",
            inner.requests.clone(),
        );
        registry.register(
            "warden_masking_findings",
            "Secrets and personal data masked, by masking rule and body direction",
            inner.findings.clone(),
        );
        registry.register_with_unit(
            "warden_phase_duration",
            "Time Warden spent on one message, by shell and ext_proc phase (check: one \
             ext_authz check); a hold's wait for its approver is not included",
            Unit::Seconds,
            inner.phases.clone(),
        );
        registry.register_with_unit(
            "warden_hold_wait_duration",
            "Time a held request spent with the approval gate (looking up approvals, \
             waiting for an approver in wait mode), by shell",
            Unit::Seconds,
            inner.holds_waited.clone(),
        );
        registry.register(
            "warden_body_jobs",
            "Large body messages on the body worker pool now (queued or being decoded, \
             classified and masked)",
            inner.body_jobs.clone(),
        );
        registry.register(
            "warden_body_inspection_timeouts",
            "Body messages refused because their inspection did not finish within Envoy's \
             message timeout or the request's CPU budget (limits.message_timeout_ms, \
             limits.body_work_per_request_ms)",
            inner.body_timeouts.clone(),
        );
        registry.register(
            "warden_holds_pending",
            "Approvals waiting for an approver, read from the approval store (shared by \
             all replicas) every few seconds",
            inner.holds_pending.clone(),
        );
        registry.register(
            "warden_approvals",
            "Approval changes this instance made, by outcome (requested, approved, denied, \
             expired, revoked, used)",
            inner.approvals.clone(),
        );
        registry.register(
            "warden_jwks_refreshes",
            "Fetches of an issuer's signing keys (JWKS), by issuer and outcome (success, \
             failure)",
            inner.jwks_refreshes.clone(),
        );
    }

    /// Counts a finished exchange: its decision once, and its masking findings.
    pub fn count_exchange(&self, shell: Shell, exchange: &Exchange) {
        let rule = exchange
            .policy_decision()
            .and_then(|decision| decision.rule.clone())
            .unwrap_or_default();
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                shell: shell.name(),
                decision: exchange.outcome(),
                rule,
            })
            .inc();
        for direction in [Direction::Request, Direction::Response] {
            for (rule, count) in &exchange.findings(direction).by_rule {
                self.inner
                    .findings
                    .get_or_create(&FindingLabels {
                        rule: rule.clone(),
                        direction: direction_name(direction),
                    })
                    .inc_by(*count);
            }
        }
    }

    /// Notes the time Warden spent on one message (without any hold wait).
    pub fn observe_phase(&self, phase: Phase, spent: Duration) {
        self.inner.phase_series[phase.index()].observe(spent.as_secs_f64());
    }

    /// Notes the time a held request spent with the approval gate.
    pub fn observe_hold_wait(&self, shell: Shell, waited: Duration) {
        self.inner.hold_series[shell.index()].observe(waited.as_secs_f64());
    }

    /// Counts one change to an approval.
    pub fn count_approval(&self, outcome: ApprovalOutcome) {
        self.inner
            .approvals
            .get_or_create(&OutcomeLabels {
                outcome: outcome.name(),
            })
            .inc();
    }

    /// Counts one fetch of `issuer`'s signing keys.
    pub fn count_jwks_refresh(&self, issuer: &str, success: bool) {
        self.inner
            .jwks_refreshes
            .get_or_create(&IssuerLabels {
                issuer: issuer.to_string(),
                outcome: if success { "success" } else { "failure" },
            })
            .inc();
    }

    /// Notes a body message handed to the body worker pool (`started`) or back from it.
    pub fn body_job(&self, started: bool) {
        if started {
            self.inner.body_jobs.inc();
        } else {
            self.inner.body_jobs.dec();
        }
    }

    /// Counts a body message refused because its inspection ran out of time.
    pub fn count_body_timeout(&self) {
        self.inner.body_timeouts.inc();
    }

    /// Sets the number of approvals pending in the store.
    pub fn set_holds_pending(&self, pending: usize) {
        self.inner
            .holds_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Request => "request",
        Direction::Response => "response",
    }
}

/// How often [`spawn_pending_holds`] reads the approval store.
pub const PENDING_HOLDS_INTERVAL: Duration = Duration::from_secs(5);

/// Keeps `warden_holds_pending` in step with the approval store, reading it every
/// `interval`. The store is the truth (replicas share it), and a scrape must not wait
/// for a database, so the gauge is refreshed here in the background and a scrape
/// reads the last value. A failed read keeps the last value and is logged.
pub fn spawn_pending_holds(
    metrics: Metrics,
    store: crate::store::ApprovalStore,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let pending = crate::store::ListFilter {
            status: Some(crate::approval::Status::Pending),
            ..crate::store::ListFilter::default()
        };
        loop {
            ticks.tick().await;
            match store.list(&pending).await {
                Ok(approvals) => metrics.set_holds_pending(approvals.len()),
                Err(error) => {
                    tracing::warn!(%error, "cannot count pending approvals for the metrics; retrying")
                }
            }
        }
    })
}

/// The registry `/metrics` serves: `metrics`, plus the audit trail's and the policy
/// store's collectors when those are on.
pub fn registry(
    metrics: &Metrics,
    audit: Option<AuditMetrics>,
    policy: Option<PolicyMetrics>,
) -> Registry {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    if let Some(audit) = audit {
        registry.register_collector(Box::new(audit));
    }
    if let Some(policy) = policy {
        registry.register_collector(Box::new(policy));
    }
    registry
}

/// The registry as OpenMetrics text.
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
