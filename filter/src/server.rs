//! `warden serve`: one gRPC server carrying ext_proc, ext_authz and health, on TCP
//! and/or a Unix domain socket, with graceful shutdown.
//!
//! Shutdown order on SIGTERM (or any `shutdown` future completing):
//! 1. health turns `NOT_SERVING`, so health-checking Envoys stop sending new streams;
//! 2. the listeners close (new connections are refused) and every connection gets an
//!    HTTP/2 GOAWAY, so no new stream starts on it;
//! 3. in-flight streams run to completion, for at most `shutdown.grace_period_seconds`;
//!    after that Warden exits anyway and Envoy fails what is left closed.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::config::Config;
use crate::extauthz::{AuthorizationServer, AuthzService};
use crate::extproc::{ExtProcService, ExternalProcessorServer};
use crate::identity::{Authenticator, CredentialInjector};
use crate::pipeline::{Pipeline, PipelineSettings};

/// Names under which `grpc.health.v1` reports status ("" is the whole server).
const HEALTH_SERVICES: [&str; 3] = [
    "",
    "envoy.service.ext_proc.v3.ExternalProcessor",
    "envoy.service.auth.v3.Authorization",
];

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A TCP address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another process using it? change listen.tcp)")]
    BindTcp {
        /// The address from `listen.tcp`.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A Unix socket could not be bound.
    #[error("cannot listen on unix socket {path}: {source} (check the directory exists and is writable; change listen.unix)")]
    BindUnix {
        /// The path from `listen.unix`.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The gRPC server failed while running.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The masking engine could not be built from `masking`.
    #[error("masking: {0}")]
    Masking(#[from] crate::masking::MaskingError),
    /// The identity section could not be put into service.
    #[error("identity: {0}")]
    Identity(String),
    /// The body worker threads could not be started.
    #[error("cannot start the body worker threads: {0} (lower limits.body_workers)")]
    BodyWorkers(std::io::Error),
    /// The policy could not be loaded.
    #[error("policy: {0}")]
    Policy(#[from] crate::policy::PolicyError),
    /// A server task ended abnormally.
    #[error("gRPC server task failed: {0}")]
    Task(String),
    /// The approval store could not be opened.
    #[error("approvals.store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The admin API could not listen.
    #[error("cannot listen on {addr} for the admin API: {source} (change approvals.admin.listen)")]
    BindAdmin {
        /// The address from `approvals.admin.listen`.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A webhook could not be set up.
    #[error("approvals.webhooks: {0}")]
    Webhook(String),
    /// The admin API failed while running.
    #[error("admin API failed: {0}")]
    Admin(std::io::Error),
    /// The audit log could not be opened.
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::AuditStartError),
    /// The audit log is behind the checkpoints the store holds for it (the message
    /// names both positions and what to do).
    #[error("audit: {0}")]
    AuditBehindStore(String),
    /// The OTLP exporter could not be set up.
    #[error("audit.otlp: {0}")]
    Otlp(#[from] crate::audit::OtlpSetupError),
}

/// The addresses a started server listens on.
#[derive(Clone, Debug)]
pub struct Bound {
    /// The TCP address, with the real port when the config asked for port 0.
    pub tcp: Option<SocketAddr>,
    /// The Unix socket path.
    pub unix: Option<PathBuf>,
    /// The admin API's address, when it is on.
    pub admin: Option<SocketAddr>,
}

/// The policy store `config` asks for: the directory, the built-in pack, or none.
pub fn open_policy(
    config: &crate::config::PolicyConfig,
) -> Result<Option<Arc<crate::policy::watch::PolicyStore>>, crate::policy::PolicyError> {
    use crate::policy::{watch::PolicyStore, Policy};
    if !config.enabled {
        tracing::warn!("policy.enabled is false: requests are not checked against any policy");
        return Ok(None);
    }
    Ok(Some(match &config.dir {
        Some(dir) => PolicyStore::open(dir.clone())?,
        None => PolicyStore::fixed(Policy::builtin()?),
    }))
}

/// Runs the server until `shutdown` completes, then shuts down gracefully.
/// `on_bound` is called once every listener is bound.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
    on_bound: impl FnOnce(&Bound),
) -> Result<(), ServeError> {
    let masking = &config.masking;
    let redactor = if masking.request || masking.response {
        Some(Arc::new(masking.build()?))
    } else {
        None
    };
    // One metrics handle for the whole server; what updates it gets a clone.
    let metrics = crate::metrics::Metrics::new();
    let body_workers = crate::body_workers::BodyWorkers::start(config.limits.body_workers)
        .map_err(ServeError::BodyWorkers)?;
    let mut pipeline = Pipeline::new(PipelineSettings::from(&config), redactor.clone())
        .with_metrics(metrics.clone())
        .with_body_work(config.limits.body_work(), Some(body_workers));
    let mut admin_authenticator = None;
    if let Some(identity) = &config.identity {
        let authenticator =
            Authenticator::new(identity).map_err(|e| ServeError::Identity(e.to_string()))?;
        authenticator.set_metrics(metrics.clone());
        let injector = CredentialInjector::from_config(identity)
            .map_err(|e| ServeError::Identity(e.to_string()))?;
        let injector = (!injector.is_empty()).then(|| Arc::new(injector));
        if let (Some(redactor), Some(injector)) = (&redactor, &injector) {
            // An upstream that echoes an injected credential must not hand it to the agent.
            redactor
                .set_known_secrets(&injector.known_secrets())
                .map_err(|e| ServeError::Identity(format!("injected credentials: {e}")))?;
        }
        // Warm the key caches so the first requests do not wait for the IdP; failures
        // are logged and retried on demand.
        let warm = authenticator.clone();
        tokio::spawn(async move {
            for (issuer, result) in warm.prefetch().await {
                match result {
                    Ok(keys) => tracing::info!(%issuer, keys, "signing keys loaded"),
                    Err(error) => tracing::warn!(%issuer, %error, "signing keys not loaded yet"),
                }
            }
        });
        admin_authenticator = Some(Arc::new(authenticator.clone()));
        pipeline = pipeline.with_identity(authenticator, injector);
    }
    let policy_store = open_policy(&config.policy)?;
    let mut policy_metrics = None;
    if let Some(store) = &policy_store {
        policy_metrics = Some(crate::metrics::PolicyMetrics::start(Arc::clone(store)));
        let policy = store.current();
        tracing::info!(
            hash = policy.hash(),
            rules = policy.rule_count(),
            files = policy.source(),
            "policy loaded"
        );
        let interval = config.policy.reload_interval_seconds;
        if interval > 0 {
            tokio::spawn(Arc::clone(store).watch(std::time::Duration::from_secs(interval)));
        }
        pipeline = pipeline.with_policy(Arc::clone(store));
    }
    let store = crate::store::ApprovalStore::open(&config.approvals.store).await?;
    tracing::info!(backend = store.backend(), "approval store open");
    let mut retention = None;
    let mut audit_metrics = None;
    let audit_writer = if config.audit.enabled {
        let log = crate::audit::open_log(&config.audit)?;
        tracing::info!(
            segment = %log.segment_path().display(),
            seq = log.chain().seq(),
            key_id = %log.key_id(),
            "audit log open"
        );
        check_log_against_store(&log, &store).await?;
        let (mut sink, receiver) = crate::audit::AuditSink::new(
            config.audit.queue_capacity,
            config.audit.on_queue_full,
            redactor.clone(),
        );
        // Outputs after the log, in order: the session store, then OTLP spans.
        let mut outputs: Vec<Arc<dyn crate::audit::AuditOutput>> = Vec::new();
        if config.audit.sessions.record {
            sink = sink.with_capture(config.audit.sessions.max_body_bytes);
            outputs.push(Arc::new(crate::store::SessionRecorder::new(store.clone())));
            retention = Some(crate::store::spawn_retention(
                store.clone(),
                crate::store::RetentionSettings::from(&config.audit.sessions),
            ));
        } else {
            // The checkpoints still go to the store: the copy of the chain's head an
            // auditor compares the log with.
            outputs.push(Arc::new(crate::store::SessionRecorder::checkpoints_only(
                store.clone(),
            )));
        }
        let metrics_sink = sink.clone();
        pipeline = pipeline.with_audit(sink);
        if let Some(otlp) = &config.audit.otlp {
            let spans = crate::audit::SpanExporter::new(otlp, &config.audit.instance_name())?;
            tracing::info!(endpoint = %otlp.endpoint, "audit spans go to an OTLP collector");
            outputs.push(Arc::new(spans));
        }
        let writer = crate::audit::spawn_writer(
            receiver,
            log,
            crate::audit::WriterSettings::from_config(&config.audit),
            outputs,
        );
        if let Some(store) = &policy_store {
            record_policy_versions(store, writer.policy_recorder());
        }
        audit_metrics = Some(crate::metrics::AuditMetrics::new(
            metrics_sink,
            writer.stats(),
        ));
        Some(writer)
    } else {
        tracing::warn!("audit.enabled is false: exchanges are not recorded");
        None
    };
    let notifier = Arc::new(
        crate::webhook::Notifier::new(config.approvals.webhooks.clone())
            .map_err(|e| ServeError::Webhook(e.to_string()))?
            .with_metrics(metrics.clone()),
    );
    let gate = Arc::new(crate::approval::gate::ApprovalGate::new(
        store.clone(),
        Arc::clone(&notifier),
    ));
    pipeline = pipeline.with_approvals(gate);
    let sweeper = tokio::spawn(sweep_expired(
        store.clone(),
        Arc::clone(&notifier),
        Duration::from_secs(config.approvals.sweep_interval_seconds),
    ));
    // Only worth a database read every few seconds when someone can scrape it.
    let pending_holds = config.approvals.admin.is_some().then(|| {
        crate::metrics::spawn_pending_holds(
            metrics.clone(),
            store.clone(),
            crate::metrics::PENDING_HOLDS_INTERVAL,
        )
    });
    let pipeline = Arc::new(pipeline);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    for name in HEALTH_SERVICES {
        health_reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    // Envoy may send a body (streamed chunks included) as one message as large as its
    // own buffer limit. Anything over this limit fails the stream closed.
    let max_message = grpc_message_limit(config.limits.max_buffered_body_bytes);
    let extproc =
        ExternalProcessorServer::from_arc(Arc::new(ExtProcService::new(Arc::clone(&pipeline))))
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message);
    let authz = AuthorizationServer::new(AuthzService::new(Arc::clone(&pipeline)))
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    let router = || {
        tonic::transport::Server::builder()
            // Envoy multiplexes every ext_proc stream over few connections.
            .max_concurrent_streams(None)
            // Fixed, large windows rather than adaptive ones: h2 closes a connection
            // whose buffered small DATA frames cost more framing overhead than half the
            // connection window, and an adaptive window starts at 64 KiB, so a burst of
            // tiny body messages (each one a DATA frame from Envoy) could take down every
            // stream on the connection. 64 MiB allows ~150,000 tiny frames in flight.
            .initial_connection_window_size(Some(CONNECTION_WINDOW_BYTES))
            .initial_stream_window_size(Some(STREAM_WINDOW_BYTES))
            .add_service(health_service.clone())
            .add_service(extproc.clone())
            .add_service(authz.clone())
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let mut bound = Bound {
        tcp: None,
        unix: None,
        admin: None,
    };
    let mut servers: tokio::task::JoinSet<Result<(), ServeError>> = tokio::task::JoinSet::new();
    if let (Some(admin), Some(authenticator)) = (&config.approvals.admin, admin_authenticator) {
        let addr = admin.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::BindAdmin { addr, source })?;
        bound.admin = Some(
            listener
                .local_addr()
                .map_err(|source| ServeError::BindAdmin { addr, source })?,
        );
        let mut state =
            crate::admin::AdminState::new(store.clone(), authenticator, Arc::clone(&notifier))
                .with_session_readers(config.audit.sessions.reader_groups.clone())
                .with_metrics(Arc::new(crate::metrics::registry(
                    &metrics,
                    audit_metrics.take(),
                    policy_metrics.take(),
                )));
        // The web console and its audit status (see admin::console).
        if let Some(console) = &admin.console {
            let header = config
                .identity
                .as_ref()
                .map_or("authorization", |i| &i.token.header);
            let console = crate::admin::console::Console::new(console.clone(), header)
                .map_err(|e| ServeError::Identity(e.to_string()))?;
            state = state.with_console(console);
        }
        if let Some(writer) = &audit_writer {
            state = state.with_audit_status(
                crate::admin::console::audit_status::AuditStatusSource::for_config(
                    writer.stats(),
                    &config.audit,
                ),
            );
        }
        let app = crate::admin::router(state);
        let stop = stopped(stop_rx.clone());
        servers.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
                .map_err(ServeError::Admin)
        });
    }
    if let Some(addr) = config.listen.tcp {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::BindTcp { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServeError::BindTcp { addr, source })?;
        bound.tcp = Some(local);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let server = router().serve_with_incoming_shutdown(incoming, stopped(stop_rx.clone()));
        servers.spawn(async move { server.await.map_err(ServeError::from) });
    }
    if let Some(path) = &config.listen.unix {
        let listener = bind_unix(path)?;
        bound.unix = Some(path.clone());
        let incoming = UnixListenerStream::new(listener);
        let server = router().serve_with_incoming_shutdown(incoming, stopped(stop_rx.clone()));
        servers.spawn(async move { server.await.map_err(ServeError::from) });
    }
    on_bound(&bound);
    tracing::info!(tcp = ?bound.tcp, unix = ?bound.unix, admin = ?bound.admin, "warden serving ext_proc, ext_authz and health");

    let grace = Duration::from_secs(config.shutdown.grace_period_seconds);
    let result = tokio::select! {
        // A server that stops on its own has failed.
        Some(joined) = servers.join_next() => Some(joined),
        () = shutdown => None,
    };
    sweeper.abort();
    if let Some(pending_holds) = &pending_holds {
        pending_holds.abort();
    }
    if let Some(retention) = &retention {
        retention.abort();
    }
    if let Some(joined) = result {
        let _ = stop_tx.send(true);
        remove_socket(&bound);
        stop_audit(audit_writer).await;
        return match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(join) => Err(ServeError::Task(join.to_string())),
        };
    }

    tracing::info!(
        grace_period_seconds = grace.as_secs(),
        "shutting down: refusing new streams, letting in-flight streams finish"
    );
    for name in HEALTH_SERVICES {
        health_reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(grace, async {
        let mut first_error = None;
        while let Some(joined) = servers.join_next().await {
            if let Ok(Err(e)) = joined {
                first_error.get_or_insert(e);
            }
        }
        first_error
    })
    .await;
    remove_socket(&bound);
    // No stream sends records any more: flush the queue and sign the shutdown checkpoint.
    stop_audit(audit_writer).await;
    match drained {
        Ok(None) => {
            tracing::info!("all streams finished; stopped");
            Ok(())
        }
        Ok(Some(e)) => Err(e),
        Err(_) => {
            tracing::warn!("grace period over with streams still open; stopping anyway (Envoy fails them closed)");
            Ok(())
        }
    }
}

/// Chains the policy in force now and every policy a reload puts in force later.
fn record_policy_versions(
    store: &Arc<crate::policy::watch::PolicyStore>,
    recorder: crate::audit::PolicyRecorder,
) {
    use crate::audit::{rfc3339_micros, PolicyVersion};
    let now = || rfc3339_micros(&time::OffsetDateTime::now_utc());
    // Subscribe before reading the current policy, so no reload falls in between.
    let mut changes = store.subscribe();
    if recorder
        .record(PolicyVersion::of(&store.current(), now()))
        .is_err()
    {
        return;
    }
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let policy = Arc::clone(&changes.borrow_and_update());
            if recorder.record(PolicyVersion::of(&policy, now())).is_err() {
                break;
            }
        }
    });
}

/// Stops the audit writer (flush, shutdown checkpoint) and logs how it ended.
async fn stop_audit(writer: Option<crate::audit::WriterHandle>) {
    let Some(writer) = writer else {
        return;
    };
    match writer.shutdown().await {
        Ok(summary) => tracing::info!(
            seq = summary.last_seq,
            records = summary.records_written,
            "audit log flushed and signed"
        ),
        Err(error) => tracing::error!(%error, "audit writer ended with an error"),
    }
}

/// Expires pending requests and unused approvals past their time, every `interval`,
/// and announces each (webhooks). Every replica sweeps; the store's transactions make
/// sure each approval expires once.
async fn sweep_expired(
    store: crate::store::ApprovalStore,
    notifier: Arc<crate::webhook::Notifier>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.expire_due(crate::approval::Timestamp::now()).await {
            Ok(expired) => {
                for approval in expired {
                    tracing::info!(
                        approval_id = %approval.id,
                        rule = %approval.rule,
                        subject = %approval.requester.subject,
                        "approval expired (not decided or not used in time)"
                    );
                    notifier.notify(crate::webhook::Event::Expired, &approval);
                }
            }
            Err(err) => tracing::warn!(error = %err, "approval sweep failed; retrying"),
        }
    }
}

/// The largest gRPC message Warden reads or writes: room for the largest body Envoy
/// may send in one message (its buffer limits, 16 MiB in our configs) plus headers,
/// and never less than twice the buffered-body limit.
/// HTTP/2 flow-control window of a connection from Envoy (see `router` in `serve`).
const CONNECTION_WINDOW_BYTES: u32 = 64 << 20;

/// HTTP/2 flow-control window of one ext_proc stream: room for the largest buffered
/// body message (`limits.max_buffered_body_bytes`, 8 MiB by default) and then some.
const STREAM_WINDOW_BYTES: u32 = 16 << 20;

fn grpc_message_limit(max_buffered_body_bytes: u64) -> usize {
    const FLOOR: u64 = 64 << 20;
    let limit = max_buffered_body_bytes
        .saturating_mul(2)
        .saturating_add(1 << 20)
        .max(FLOOR);
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Binds a Unix socket, replacing a stale socket file left by a previous run (but
/// never deleting a regular file someone put there).
fn bind_unix(path: &Path) -> Result<UnixListener, ServeError> {
    use std::os::unix::fs::FileTypeExt;
    let err = |source| ServeError::BindUnix {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path).map_err(err)?;
        }
    }
    UnixListener::bind(path).map_err(err)
}

fn remove_socket(bound: &Bound) {
    if let Some(path) = &bound.unix {
        let _ = std::fs::remove_file(path);
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            // Without signal handlers we can only wait for Ctrl-C the portable way.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Refuses to start on a log that is behind the checkpoints the store already holds for
/// its instance (cut back while Warden was stopped), then records the log's head there,
/// so the store holds the chain's position from the start.
async fn check_log_against_store(
    log: &crate::audit::AuditLog,
    store: &crate::store::ApprovalStore,
) -> Result<(), ServeError> {
    let chain = log.chain();
    if let Some(latest) = store.latest_checkpoint(chain.instance()).await? {
        let problem = if latest.seq > chain.seq() {
            Some("the log was cut back (truncated) while Warden was stopped, or replaced")
        } else if latest.seq == chain.seq() && latest.hash != chain.hash() {
            Some("the log's last line is not the one the store's checkpoint signed (it was rewritten)")
        } else {
            None
        };
        if let Some(problem) = problem {
            let log_dir = log.dir().display();
            return Err(ServeError::AuditBehindStore(format!(
                "the log in {log_dir} ends at seq {} (hash {}), but the approvals store holds \
                 checkpoint seq {} (hash {}, signed {}) of instance {}: {problem}. Keep the \
                 files as evidence and run `warden audit verify {log_dir} --public-key <the \
                 public key> --store <approvals.store>`. If you began a new chain on purpose \
                 (a new audit.log_dir after damage), give it a new audit.instance",
                chain.seq(),
                chain.hash(),
                latest.seq,
                latest.hash,
                latest.signed_at,
                chain.instance(),
            )));
        }
    }
    if let Some(head) = log.last_checkpoint() {
        store.record_checkpoint(head).await?;
    }
    Ok(())
}
