//! The admin HTTP API: approvers list, approve, deny and revoke holds.
//!
//! It listens on its own port (`approvals.admin.listen`), never on the data path.
//! Every call carries a JWT from one of the identity issuers Warden trusts
//! (`Authorization: Bearer ...`); approver groups are enforced per approval (the
//! hold rule's `approval.approvers`), and the requester can never decide their own
//! request. A caller sees the approvals they asked for and those they may decide.
//!
//! | method | path | body | |
//! |---|---|---|---|
//! | GET | `/v1/approvals?status=pending&subject=S&limit=N` | | newest first |
//! | GET | `/v1/approvals/{id}` | | one approval |
//! | POST | `/v1/approvals/{id}/approve` | `{"justification": "..."}` | |
//! | POST | `/v1/approvals/{id}/deny` | `{"justification": "..."}` | |
//! | POST | `/v1/approvals/{id}/revoke` | `{"justification": "..."}` | grants, unused approvals |
//! | GET | `/v1/sessions?identity=S&since=T&until=T&limit=N` | | recorded sessions ([`sessions`]) |
//! | GET | `/v1/sessions/{id}` | | one session's exchanges, in time order |
//! | GET | `/healthz` | | no token needed |
//! | GET | `/console/` | | the approver web console, when configured ([`console`]) |
//!
//! With the console on, the session cookie it sets is accepted in place of the bearer
//! token; a state-changing request with the cookie must also carry the console's
//! header ([`console::auth::CSRF_HEADER`]).
//!
//! Errors are `{"error": {"code": ..., "message": ...}}` with 401 (no or bad token),
//! 403 (not an approver, self-approval), 404 (unknown id), 409 (already decided,
//! expired), 422 (justification required), 503 (store unavailable).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::approval::{Approval, ApprovalError, ApprovalId, Approver, Status, Timestamp, Verdict};
use crate::http::{Headers, RequestHead};
use crate::identity::{Authenticator, Identity, PeerAttributes};
use crate::store::{ApprovalStore, ListFilter, StoreError};
use crate::webhook::{Event, Notifier};

/// What the admin API works with.
#[derive(Clone)]
pub struct AdminState {
    store: ApprovalStore,
    authenticator: Arc<Authenticator>,
    notifier: Arc<Notifier>,
    /// Groups whose members read every identity's sessions.
    session_readers: Vec<String>,
    /// What `/metrics` serves.
    metrics: Option<Arc<prometheus_client::registry::Registry>>,
    /// The web console, when configured.
    console: Option<Arc<console::Console>>,
    /// The audit writer's status, for the console.
    audit_status: Option<Arc<console::audit_status::AuditStatusSource>>,
}

impl AdminState {
    /// State over the shared store; callers are verified by `authenticator`.
    pub fn new(
        store: ApprovalStore,
        authenticator: Arc<Authenticator>,
        notifier: Arc<Notifier>,
    ) -> AdminState {
        AdminState {
            store,
            authenticator,
            notifier,
            session_readers: sessions::default_reader_groups(),
            metrics: None,
            console: None,
            audit_status: None,
        }
    }

    /// Serves the web console ([`console`]) and accepts its session cookie.
    pub fn with_console(mut self, console: console::Console) -> AdminState {
        self.console = Some(Arc::new(console));
        self
    }

    /// Reports the audit writer's status on `/console/api/audit`.
    pub fn with_audit_status(
        mut self,
        source: console::audit_status::AuditStatusSource,
    ) -> AdminState {
        self.audit_status = Some(Arc::new(source));
        self
    }

    /// Serves `registry` on `GET /metrics` (Prometheus scrapes it without a token: it
    /// holds counts, never identities or content).
    pub fn with_metrics(
        mut self,
        registry: Arc<prometheus_client::registry::Registry>,
    ) -> AdminState {
        self.metrics = Some(registry);
        self
    }

    /// Members of these groups may read every identity's recorded sessions
    /// (`audit.sessions.reader_groups`; default `auditors`).
    pub fn with_session_readers(mut self, groups: Vec<String>) -> AdminState {
        self.session_readers = groups;
        self
    }
}

/// `GET /metrics`: OpenMetrics text.
async fn metrics(State(state): State<AdminState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(registry) = &state.metrics else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            "no metrics are registered\n",
        )
            .into_response();
    };
    match crate::metrics::render(registry) {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be encoded\n",
        )
            .into_response(),
    }
}

/// The admin API's routes: the HTTP API and the gRPC approvals service
/// (`warden.approvals.v1.Approvals`) on one port.
pub fn router(state: AdminState) -> Router {
    let grpc = tonic::service::Routes::new(grpc::server(state.clone())).into_axum_router();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/approvals", get(list))
        .route("/v1/approvals/{id}", get(show))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/deny", post(deny))
        .route("/v1/approvals/{id}/revoke", post(revoke))
        .route("/v1/sessions", get(sessions::list))
        .route("/v1/sessions/{id}", get(sessions::show));
    let app = if state.console.is_some() {
        app.merge(console::routes())
    } else {
        app
    };
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        console::cookie_auth,
    ))
    .with_state(state)
    .merge(grpc)
}

/// An admin API error: a status and a message that says what to do.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AdminError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AdminError {
        AdminError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(id) => AdminError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no approval {id}; list them with `warden approvals list`"),
            ),
            other => {
                tracing::error!(error = %other, "admin: approval store failed");
                AdminError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    format!("the approval store failed: {other}"),
                )
            }
        }
    }
}

impl From<ApprovalError> for AdminError {
    fn from(err: ApprovalError) -> Self {
        let (status, code) = match &err {
            ApprovalError::SelfApproval { .. } => (StatusCode::FORBIDDEN, "self_approval"),
            ApprovalError::NotAnApprover { .. } => (StatusCode::FORBIDDEN, "not_an_approver"),
            ApprovalError::JustificationRequired(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "justification_required")
            }
            ApprovalError::Expired(_) => (StatusCode::CONFLICT, "expired"),
            ApprovalError::NotPending { .. } => (StatusCode::CONFLICT, "not_pending"),
            ApprovalError::AlreadyVoted { .. } => (StatusCode::CONFLICT, "already_approved"),
            ApprovalError::NotRevocable { .. } => (StatusCode::CONFLICT, "not_revocable"),
        };
        AdminError::new(status, code, err.to_string())
    }
}

/// Verifies the caller's token.
pub(crate) async fn caller(
    state: &AdminState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Identity, AdminError> {
    let head = RequestHead {
        method: "POST".into(),
        scheme: "http".into(),
        authority: headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string(),
        path: path.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect::<Headers>(),
    };
    match state
        .authenticator
        .authenticate(&head, &PeerAttributes::default())
        .await
    {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) => Err(AdminError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send Authorization: Bearer <token> from one of Warden's identity issuers",
        )),
        Err(err) => Err(AdminError::new(
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            err.code(),
            err.to_string(),
        )),
    }
}

fn approver(identity: &Identity) -> Approver {
    Approver {
        subject: identity.subject.clone(),
        issuer: identity.issuer.clone(),
        groups: identity.groups.clone(),
    }
}

/// A caller sees the approvals they asked for and those they may decide.
pub(crate) fn visible_to(approval: &Approval, identity: &Identity) -> bool {
    approval.requester.subject == identity.subject
        || identity
            .groups
            .iter()
            .any(|g| approval.rules.approver_groups.contains(g))
}

/// Query of `GET /v1/approvals`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    subject: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let identity = caller(&state, &headers, "/v1/approvals").await?;
    let approvals = list_visible(
        &state,
        &identity,
        query.status.as_deref(),
        query.subject,
        query.limit,
    )
    .await?;
    Ok(Json(serde_json::json!({ "approvals": approvals })))
}

/// The approvals `identity` may see, newest first.
pub(crate) async fn list_visible(
    state: &AdminState,
    identity: &Identity,
    status: Option<&str>,
    subject: Option<String>,
    limit: Option<u32>,
) -> Result<Vec<Approval>, AdminError> {
    let status = match status {
        None | Some("") | Some("all") => None,
        Some(name) => Some(Status::parse(name).ok_or_else(|| {
            AdminError::new(
                StatusCode::BAD_REQUEST,
                "bad_status",
                format!(
                    "unknown status {name:?}: use pending, approved, denied, expired, used, revoked or all"
                ),
            )
        })?),
    };
    let filter = ListFilter {
        status,
        subject: subject.filter(|s| !s.is_empty()),
        limit: Some(limit.filter(|l| *l > 0).unwrap_or(100).min(1000)),
    };
    Ok(state
        .store
        .list(&filter)
        .await?
        .into_iter()
        .filter(|a| visible_to(a, identity))
        .collect())
}

async fn show(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Approval>, AdminError> {
    let identity = caller(&state, &headers, "/v1/approvals/{id}").await?;
    Ok(Json(get_visible(&state, &identity, id).await?))
}

/// One approval, if `identity` may see it (else: not found).
pub(crate) async fn get_visible(
    state: &AdminState,
    identity: &Identity,
    id: String,
) -> Result<Approval, AdminError> {
    let id = ApprovalId(id);
    match state.store.get(&id).await? {
        Some(approval) if visible_to(&approval, identity) => Ok(approval),
        _ => Err(StoreError::NotFound(id).into()),
    }
}

/// Body of approve/deny/revoke.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    justification: Option<String>,
}

async fn approve(
    state: State<AdminState>,
    headers: HeaderMap,
    id: Path<String>,
    body: Option<Json<DecisionBody>>,
) -> Result<Json<Approval>, AdminError> {
    decide(state, headers, id, body, Some(Verdict::Approve)).await
}

async fn deny(
    state: State<AdminState>,
    headers: HeaderMap,
    id: Path<String>,
    body: Option<Json<DecisionBody>>,
) -> Result<Json<Approval>, AdminError> {
    decide(state, headers, id, body, Some(Verdict::Deny)).await
}

async fn revoke(
    state: State<AdminState>,
    headers: HeaderMap,
    id: Path<String>,
    body: Option<Json<DecisionBody>>,
) -> Result<Json<Approval>, AdminError> {
    decide(state, headers, id, body, None).await
}

/// `POST /v1/approvals/{id}/{approve|deny|revoke}`.
async fn decide(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<DecisionBody>>,
    verdict: Option<Verdict>,
) -> Result<Json<Approval>, AdminError> {
    let identity = caller(&state, &headers, "/v1/approvals/{id}/decide").await?;
    let justification = body.and_then(|Json(b)| b.justification);
    Ok(Json(
        decide_as(&state, &identity, id, verdict, justification).await?,
    ))
}

/// Records `identity`'s vote (`Some`) or revocation (`None`) in one store
/// transaction, and announces the change.
pub(crate) async fn decide_as(
    state: &AdminState,
    identity: &Identity,
    id: String,
    verdict: Option<Verdict>,
    justification: Option<String>,
) -> Result<Approval, AdminError> {
    let by = approver(identity);
    let justification = justification.filter(|j| !j.trim().is_empty());
    let id = ApprovalId(id);
    let now = Timestamp::now();
    let result = state
        .store
        .update(&id, |approval| {
            let before = approval.status;
            match verdict {
                Some(verdict) => approval.vote(&by, verdict, justification.as_deref(), now)?,
                None => approval.revoke(&by, justification.as_deref(), now)?,
            }
            Ok::<_, ApprovalError>((before, approval.clone()))
        })
        .await?;
    let (before, approval) = match result {
        Ok(done) => done,
        Err(err) => {
            tracing::info!(approval_id = %id, by = %by.subject, error = %err, "admin: decision refused");
            return Err(err.into());
        }
    };
    tracing::info!(
        approval_id = %id,
        by = %by.subject,
        status = approval.status.name(),
        justification = justification.as_deref().unwrap_or(""),
        "admin: approval decided"
    );
    if approval.status != before {
        state
            .notifier
            .notify(Event::for_status(approval.status), &approval);
    }
    Ok(approval)
}

pub mod client;
pub mod console;
pub mod grpc;
pub mod sessions;
pub mod sessions_command;

#[cfg(test)]
mod sessions_tests;
