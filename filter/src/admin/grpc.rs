//! The gRPC approvals service (`proto/warden/approvals/v1/approvals.proto`), over the
//! same logic as the HTTP admin API.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::{caller, decide_as, get_visible, list_visible, visible_to, AdminError, AdminState};
use crate::approval::{self, Verdict};

/// Generated protobuf types and service stubs.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("warden.approvals.v1");
}

pub use pb::approvals_client::ApprovalsClient;
use pb::approvals_server::{Approvals, ApprovalsServer};

/// The service, ready to serve.
pub fn server(state: AdminState) -> ApprovalsServer<ApprovalsService> {
    ApprovalsServer::new(ApprovalsService { state })
}

/// `warden.approvals.v1.Approvals` over the shared store.
#[derive(Clone)]
pub struct ApprovalsService {
    state: AdminState,
}

impl From<AdminError> for Status {
    fn from(err: AdminError) -> Self {
        use axum::http::StatusCode;
        let code = match err.status {
            StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
            StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
            StatusCode::NOT_FOUND => tonic::Code::NotFound,
            StatusCode::CONFLICT => tonic::Code::FailedPrecondition,
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
                tonic::Code::InvalidArgument
            }
            _ => tonic::Code::Unavailable,
        };
        Status::new(code, format!("{} ({})", err.message, err.code))
    }
}

impl ApprovalsService {
    async fn identity<T>(
        &self,
        request: &Request<T>,
        method: &str,
    ) -> Result<crate::identity::Identity, Status> {
        let headers = request.metadata().clone().into_headers();
        Ok(caller(&self.state, &headers, method).await?)
    }

    async fn decide(
        &self,
        request: Request<pb::DecideRequest>,
        verdict: Option<Verdict>,
        method: &str,
    ) -> Result<Response<pb::Approval>, Status> {
        let identity = self.identity(&request, method).await?;
        let body = request.into_inner();
        let justification = Some(body.justification).filter(|j| !j.is_empty());
        let approval = decide_as(&self.state, &identity, body.id, verdict, justification).await?;
        Ok(Response::new(to_proto(&approval)))
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::ApprovalEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Approvals for ApprovalsService {
    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let identity = self.identity(&request, "List").await?;
        let body = request.into_inner();
        let approvals = list_visible(
            &self.state,
            &identity,
            Some(body.status.as_str()),
            Some(body.subject),
            Some(body.limit),
        )
        .await?;
        Ok(Response::new(pb::ListResponse {
            approvals: approvals.iter().map(to_proto).collect(),
        }))
    }

    async fn get(
        &self,
        request: Request<pb::GetRequest>,
    ) -> Result<Response<pb::Approval>, Status> {
        let identity = self.identity(&request, "Get").await?;
        let approval = get_visible(&self.state, &identity, request.into_inner().id).await?;
        Ok(Response::new(to_proto(&approval)))
    }

    async fn approve(
        &self,
        request: Request<pb::DecideRequest>,
    ) -> Result<Response<pb::Approval>, Status> {
        self.decide(request, Some(Verdict::Approve), "Approve")
            .await
    }

    async fn deny(
        &self,
        request: Request<pb::DecideRequest>,
    ) -> Result<Response<pb::Approval>, Status> {
        self.decide(request, Some(Verdict::Deny), "Deny").await
    }

    async fn revoke(
        &self,
        request: Request<pb::DecideRequest>,
    ) -> Result<Response<pb::Approval>, Status> {
        self.decide(request, None, "Revoke").await
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let identity = self.identity(&request, "Watch").await?;
        let only = match request.into_inner().status.as_str() {
            "" | "all" => None,
            name => Some(approval::Status::parse(name).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "unknown status {name:?}: use pending, approved, denied, expired, used, revoked or all"
                ))
            })?),
        };
        let store = self.state.store.clone();
        let changes = store.subscribe();
        let stream = futures::stream::unfold(
            (changes, store, identity),
            move |(mut changes, store, identity)| async move {
                loop {
                    let change = match changes.recv().await {
                        Ok(change) => change,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            let status = Status::data_loss(format!(
                                "the watcher fell {missed} changes behind; list and watch again"
                            ));
                            return Some((Err(status), (changes, store, identity)));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    };
                    if only.is_some_and(|s| s != change.status) {
                        continue;
                    }
                    match store.get(&change.id).await {
                        Ok(Some(approval)) if visible_to(&approval, &identity) => {
                            let event = pb::ApprovalEvent {
                                approval: Some(to_proto(&approval)),
                            };
                            return Some((Ok(event), (changes, store, identity)));
                        }
                        Ok(_) => continue,
                        Err(err) => {
                            let status = Status::unavailable(err.to_string());
                            return Some((Err(status), (changes, store, identity)));
                        }
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

fn time(t: Option<approval::Timestamp>) -> String {
    t.map(|t| t.rfc3339()).unwrap_or_default()
}

fn vote(v: &approval::Vote) -> pb::Vote {
    pb::Vote {
        verdict: match v.verdict {
            Verdict::Approve => "approve".into(),
            Verdict::Deny => "deny".into(),
        },
        by: v.by.subject.clone(),
        by_groups: v.by.groups.clone(),
        at: v.at.rfc3339(),
        justification: v.justification.clone().unwrap_or_default(),
    }
}

/// The protobuf form of an approval.
pub fn to_proto(a: &approval::Approval) -> pb::Approval {
    pb::Approval {
        id: a.id.to_string(),
        status: a.status.name().into(),
        requester: Some(pb::Requester {
            subject: a.requester.subject.clone(),
            issuer: a.requester.issuer.clone(),
            groups: a.requester.groups.clone(),
            kind: a.requester.kind.clone(),
        }),
        operation: Some(pb::Operation {
            method: a.operation.method.clone(),
            host: a.operation.host.clone(),
            path: a.operation.path.clone(),
            summary: a.operation.summary.clone(),
            fingerprint: a.operation.fingerprint.to_string(),
        }),
        rule: a.rule.clone(),
        reason: a.reason.clone(),
        policy_hash: a.policy_hash.clone(),
        request_id: a.request_id.clone(),
        created_at: a.created_at.rfc3339(),
        expires_at: a.expires_at.rfc3339(),
        decided_at: time(a.decided_at),
        valid_until: time(a.valid_until),
        votes: a.votes.iter().map(vote).collect(),
        required: a.rules.required,
        approver_groups: a.rules.approver_groups.clone(),
        justification_required: a.rules.justification_required,
        grant: match &a.scope {
            approval::Scope::Grant {
                scope,
                duration_seconds,
            } => Some(pb::Grant {
                scope: scope.clone(),
                duration_seconds: *duration_seconds,
            }),
            approval::Scope::Operation => None,
        },
        used_at: time(a.used.as_ref().map(|u| u.at)),
        used_by_request: a
            .used
            .as_ref()
            .map(|u| u.request_id.clone())
            .unwrap_or_default(),
        revoked: a.revoked.as_ref().map(vote),
        expired_at: time(a.expired_at),
    }
}
