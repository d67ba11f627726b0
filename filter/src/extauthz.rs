//! The ext_authz gRPC shell: Envoy's `Authorization` service over the same pipeline.
//!
//! For meshes that prefer ext_authz (Istio's `CUSTOM` action, for example). ext_authz
//! sees the request only — headers, plus the body when Envoy's filter sets
//! `with_request_body` — so it gives the same allow/deny decision as ext_proc but
//! cannot mask responses; use ext_proc where responses must be inspected.
//!
//! Failing closed: an error or panic becomes an error status, which Envoy (with
//! `failure_mode_allow: false`) turns into a denial.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{
    header_value_option::HeaderAppendAction, HeaderValue, HeaderValueOption,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::envoy::service::auth::v3::{
    authorization_server::Authorization, check_response::HttpResponse, CheckRequest, CheckResponse,
    DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::google::rpc;
use tonic::{Request, Response, Status};

pub use envoy_types::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;

use crate::audit::RecordSource;
use crate::extproc::{log_decision, string_struct};
use crate::http::{Headers, RequestHead};
use crate::identity::PeerAttributes;
use crate::metrics::{Phase, Shell};
use crate::pipeline::{BodyMode, Direction, Exchange, LocalReply, Outcome, Pipeline, Step};

/// Header Envoy's ext_authz filter adds when it sends the request body: `true`
/// when the body was cut at `max_request_bytes`, `false` when it is whole.
const PARTIAL_BODY_HEADER: &str = "x-envoy-auth-partial-body";

/// gRPC status codes used in `CheckResponse.status`.
const GRPC_OK: i32 = 0;
const GRPC_PERMISSION_DENIED: i32 = 7;

/// Envoy's `envoy.service.auth.v3.Authorization`, backed by the [`Pipeline`].
#[derive(Debug)]
pub struct AuthzService {
    pipeline: Arc<Pipeline>,
}

impl AuthzService {
    /// A service that decides with `pipeline`.
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        AuthzService { pipeline }
    }
}

#[tonic::async_trait]
impl Authorization for AuthzService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let mut exchange = Exchange::new(uuid::Uuid::now_v7().to_string());
        exchange.set_trace_parent(
            request
                .metadata()
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        );
        let check_request = request.into_inner();
        match AssertUnwindSafe(check_exchange(&self.pipeline, exchange, check_request))
            .catch_unwind()
            .await
        {
            Ok(result) => result.map(Response::new),
            Err(_) => {
                tracing::error!("ext_authz check panicked; denying the request");
                // The exchange went down with the panic; count the failure anyway.
                let mut failed = Exchange::new(String::new());
                failed.note_failure();
                self.pipeline
                    .metrics()
                    .count_exchange(Shell::ExtAuthz, &failed);
                Err(Status::internal(
                    "warden: internal error while checking the request",
                ))
            }
        }
    }
}

/// One check, start to end: the request head, then the body if Envoy sent one.
pub async fn check(
    pipeline: &Pipeline,
    request_id: String,
    request: CheckRequest,
) -> Result<CheckResponse, Status> {
    check_exchange(pipeline, Exchange::new(request_id), request).await
}

/// [`check`] for an exchange the caller opened (with its trace context). The
/// exchange's audit record is sent when the check is decided; it is counted in the
/// metrics however the check ended.
pub async fn check_exchange(
    pipeline: &Pipeline,
    mut exchange: Exchange,
    request: CheckRequest,
) -> Result<CheckResponse, Status> {
    let started = std::time::Instant::now();
    let result = decide_check(pipeline, &mut exchange, request).await;
    let waited = match &result {
        Ok(decided) => decided.waited,
        Err(_) => Duration::ZERO,
    };
    pipeline
        .metrics()
        .observe_phase(Phase::Check, started.elapsed().saturating_sub(waited));
    match result {
        Ok(decided) => {
            pipeline.finish_audit(exchange, RecordSource::ExtAuthz);
            Ok(decided.response)
        }
        Err(status) => {
            // Failed closed: counted, but (as before) not recorded, since no decision
            // was answered.
            exchange.note_failure();
            pipeline
                .metrics()
                .count_exchange(Shell::ExtAuthz, &exchange);
            Err(status)
        }
    }
}

/// A check's answer, and what the caller needs to finish the exchange.
struct Decided {
    response: CheckResponse,
    /// Time the approval gate took on a held request.
    waited: Duration,
}

async fn decide_check(
    pipeline: &Pipeline,
    exchange: &mut Exchange,
    request: CheckRequest,
) -> Result<Decided, Status> {
    if let Err(reply) = pipeline.begin_audit(exchange) {
        return Ok(Decided {
            response: to_check_response(
                Step::Reply(reply),
                &[("request_id", exchange.id().to_string())],
            ),
            waited: Duration::ZERO,
        });
    }
    // The mTLS peer's identity (SPIFFE id in a mesh), as Envoy saw the connection.
    let peer = PeerAttributes {
        uri_san_peer_certificate: request
            .attributes
            .as_ref()
            .and_then(|a| a.source.as_ref())
            .map(|source| source.principal.clone())
            .filter(|p| !p.is_empty()),
    };
    let http = request
        .attributes
        .and_then(|a| a.request)
        .and_then(|r| r.http)
        .ok_or_else(|| {
            Status::invalid_argument(
                "warden: CheckRequest has no attributes.request.http; \
                 use Envoy's HTTP ext_authz filter",
            )
        })?;

    // Envoy fills `header_map` (with raw values) when `encode_raw_headers` is set,
    // else the `headers` map.
    let headers: Headers = match &http.header_map {
        Some(map) if !map.headers.is_empty() => map
            .headers
            .iter()
            .map(|h| {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes().to_vec()
                } else {
                    h.raw_value.clone()
                };
                (h.key.clone(), value)
            })
            .collect(),
        _ => http
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
            .collect(),
    };
    let head = RequestHead {
        method: http.method,
        scheme: http.scheme,
        authority: http.host,
        path: http.path,
        headers,
    };
    let body: Vec<u8> = if http.raw_body.is_empty() {
        http.body.into_bytes()
    } else {
        http.raw_body
    };
    let partial_header = head.headers.get(PARTIAL_BODY_HEADER);
    let body_sent = partial_header.is_some();
    let partial = partial_header == Some(b"true".as_slice());
    let has_body = has_body(&head, body_sent, http.size);

    let auth = pipeline.authenticate(&head, &peer).await;
    let outcome = pipeline
        .on_request_headers(exchange, head, !has_body, auth)
        .map_err(|e| Status::failed_precondition(format!("warden: {e}")))?;
    let mut metadata = outcome.metadata.clone();
    let mut outcome = outcome;

    let needs_body = exchange
        .decision()
        .is_some_and(|d| d.plan.request_body != BodyMode::Skip);
    if matches!(outcome.step, Step::Continue(_)) && needs_body {
        if !body_sent || partial {
            // The body must be inspected but Envoy did not send it whole: never
            // allow what Warden could not see.
            let reason = if partial {
                "the request body was cut short by Envoy's ext_authz max_request_bytes, \
                 so Warden could not inspect it; send a smaller body"
            } else {
                "Warden must inspect this request's body but Envoy's ext_authz filter did \
                 not send it; enable with_request_body (allow_partial_message: false)"
            };
            let reply = LocalReply::json_error(413, "body_not_inspectable", reason, exchange.id());
            metadata = vec![
                ("request_id", exchange.id().to_string()),
                ("decision", "deny".to_string()),
            ];
            outcome.step = Step::Reply(reply);
        } else {
            let mut body_outcome =
                crate::extproc::body_phase(pipeline, exchange, Direction::Request, body, true)
                    .await
                    .map_err(|e| Status::failed_precondition(format!("warden: {e}")))?;
            let changes = match &body_outcome.step {
                Step::Continue(mutation) => Some(mutation),
                Step::Hold(held) => Some(&held.if_approved),
                Step::Reply(_) => None,
            };
            if let Some(mutation) = changes {
                if mutation.body.is_some() {
                    // Masking would change the body, but ext_authz cannot replace it:
                    // refuse rather than let the secret out.
                    let findings = exchange.findings(Direction::Request);
                    let reason = format!(
                        "the request body contains secrets or personal data ({}); Warden \
                         cannot mask bodies through ext_authz, so the request was refused. \
                         Remove them and retry",
                        findings.rules()
                    );
                    body_outcome.step = Step::Reply(LocalReply::json_error(
                        403,
                        "secret_in_request_body",
                        &reason,
                        exchange.id(),
                    ));
                }
            }
            if let Step::Reply(_) = body_outcome.step {
                metadata = vec![
                    ("request_id", exchange.id().to_string()),
                    ("decision", "deny".to_string()),
                ];
            }
            outcome = merge(outcome, body_outcome);
        }
    }
    // ext_authz has no per-message deadline to extend: Envoy's filter `timeout` bounds
    // a wait-mode hold. A rule that waits longer than that timeout fails closed at it
    // (raise the filter's `timeout` above the rule's `approval.wait`).
    let held = matches!(outcome.step, Step::Hold(_));
    let hold_started = std::time::Instant::now();
    let outcome = pipeline
        .resolve_hold(exchange, outcome, &|_| async { true })
        .await;
    let waited = if held {
        let waited = hold_started.elapsed();
        pipeline
            .metrics()
            .observe_hold_wait(Shell::ExtAuthz, waited);
        waited
    } else {
        Duration::ZERO
    };
    exchange.note_step(&outcome.step);
    if let Some((_, decision)) = outcome.metadata.iter().find(|(k, _)| *k == "decision") {
        if let Some(entry) = metadata.iter_mut().find(|(k, _)| *k == "decision") {
            entry.1 = decision.clone();
        }
    }
    for (key, value) in &outcome.metadata {
        if !metadata.iter().any(|(k, _)| k == key) {
            metadata.push((key, value.clone()));
        }
    }
    log_decision(exchange, &outcome.step);
    Ok(Decided {
        response: to_check_response(outcome.step, &metadata),
        waited,
    })
}

/// Whether the checked request has a body, from what Envoy's CheckRequest tells.
///
/// ext_authz has no end-of-stream flag. What it has: the body itself (with the
/// partial-body header) when the filter buffers bodies (`with_request_body`, which
/// Envoy applies to every request not ended by its headers, whatever the method);
/// `size`, the body bytes Envoy had received when it checked; and the headers. Any of
/// them saying "body" means a body: a GET over HTTP/2 without `content-length` is read
/// like any other. A request none of them flags has no body Warden could have been told
/// about, which is why the shipped configs must keep `with_request_body` (without it a
/// body is only known from its headers, and one they announce is refused unread).
fn has_body(head: &RequestHead, body_sent: bool, size: i64) -> bool {
    body_sent || size > 0 || head.announces_body()
}

/// Headers from the header phase, then whatever the body phase says (a reply wins).
fn merge(headers: Outcome, body: Outcome) -> Outcome {
    match (headers.step, body.step) {
        (_, Step::Reply(reply)) => Outcome {
            step: Step::Reply(reply),
            metadata: headers.metadata,
        },
        (Step::Continue(mut first), Step::Continue(second)) => {
            first.set_headers.extend(second.set_headers);
            first.append_headers.extend(second.append_headers);
            first.remove_headers.extend(second.remove_headers);
            Outcome {
                step: Step::Continue(first),
                metadata: headers.metadata,
            }
        }
        // A hold decided on the body: approved, it continues with both phases' changes.
        (Step::Continue(mut first), Step::Hold(mut held)) => {
            first.set_headers.append(&mut held.if_approved.set_headers);
            first
                .append_headers
                .append(&mut held.if_approved.append_headers);
            first
                .remove_headers
                .append(&mut held.if_approved.remove_headers);
            held.if_approved.set_headers = first.set_headers;
            held.if_approved.append_headers = first.append_headers;
            held.if_approved.remove_headers = first.remove_headers;
            let mut metadata = headers.metadata;
            metadata.extend(body.metadata);
            Outcome {
                step: Step::Hold(held),
                metadata,
            }
        }
        (hold @ Step::Hold(_), Step::Continue(_) | Step::Hold(_)) => Outcome {
            step: hold,
            metadata: headers.metadata,
        },
        (reply @ Step::Reply(_), _) => Outcome {
            step: reply,
            metadata: headers.metadata,
        },
    }
}

/// Headers for ext_authz replies. Unlike ext_proc, Envoy's ext_authz client reads
/// `HeaderValue.value`, not `raw_value` (a raw value arrives as an empty header).
fn header_options(set: Vec<(String, String)>) -> Vec<HeaderValueOption> {
    set.into_iter()
        .map(|(key, value)| HeaderValueOption {
            header: Some(HeaderValue {
                key,
                value,
                ..HeaderValue::default()
            }),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            ..HeaderValueOption::default()
        })
        .collect()
}

fn to_check_response(step: Step, metadata: &[(&'static str, String)]) -> CheckResponse {
    // ext_authz metadata lands in the `envoy.filters.http.ext_authz` namespace.
    let dynamic_metadata = Some(string_struct(metadata));
    match step {
        // Holds are resolved before this point; one that was not is refused.
        Step::Hold(held) => to_check_response(
            Step::Reply(LocalReply::json_error(
                503,
                "approvals_unavailable",
                "this request is held for approval and its hold was not resolved",
                &held.check.hold.request_id,
            )),
            metadata,
        ),
        Step::Continue(mutation) => {
            // Envoy applies `headers_to_remove` after `headers`: never remove a header
            // we set (the overwrite already replaced the client's value).
            let headers_to_remove = mutation
                .remove_headers
                .into_iter()
                .filter(|name| !mutation.set_headers.iter().any(|(set, _)| set == name))
                .collect();
            CheckResponse {
                status: Some(rpc::Status {
                    code: GRPC_OK,
                    ..rpc::Status::default()
                }),
                http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                    headers: header_options(mutation.set_headers)
                        .into_iter()
                        .chain(header_options(mutation.append_headers).into_iter().map(
                            |mut option| {
                                option.append_action =
                                    HeaderAppendAction::AppendIfExistsOrAdd as i32;
                                option
                            },
                        ))
                        .collect(),
                    headers_to_remove,
                    ..OkHttpResponse::default()
                })),
                dynamic_metadata,
            }
        }
        Step::Reply(reply) => CheckResponse {
            status: Some(rpc::Status {
                code: GRPC_PERMISSION_DENIED,
                message: reply.details.clone(),
                ..rpc::Status::default()
            }),
            http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: i32::from(reply.status),
                }),
                headers: header_options(reply.headers),
                body: String::from_utf8_lossy(&reply.body).into_owned(),
            })),
            dynamic_metadata,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BodyInspection;
    use crate::pipeline::PipelineSettings;
    use envoy_types::pb::envoy::service::auth::v3::{
        attribute_context::{HttpRequest, Request as AttrRequest},
        AttributeContext,
    };

    fn pipeline(request_body: BodyInspection) -> Pipeline {
        Pipeline::new(
            PipelineSettings {
                request_body,
                response_body: BodyInspection::Streamed,
                max_buffered_body_bytes: 10,
                masking: Default::default(),
            },
            None,
        )
    }

    fn check_request(method: &str, headers: &[(&str, &str)], body: &[u8]) -> CheckRequest {
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(AttrRequest {
                    http: Some(HttpRequest {
                        method: method.into(),
                        path: "/v1/x".into(),
                        host: "api.test".into(),
                        scheme: "http".into(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        raw_body: body.to_vec(),
                        ..HttpRequest::default()
                    }),
                    ..AttrRequest::default()
                }),
                ..AttributeContext::default()
            }),
        }
    }

    fn denied(resp: &CheckResponse) -> &DeniedHttpResponse {
        match &resp.http_response {
            Some(HttpResponse::DeniedResponse(d)) => d,
            other => panic!("expected denial, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn get_is_allowed_and_tagged() {
        let resp = check(
            &pipeline(BodyInspection::Streamed),
            "id1".into(),
            check_request("GET", &[("x-warden-request-id", "forged")], b""),
        )
        .await
        .expect("response");
        assert_eq!(resp.status.as_ref().map(|s| s.code), Some(GRPC_OK));
        let Some(HttpResponse::OkResponse(ok)) = resp.http_response else {
            panic!("expected ok");
        };
        let header = ok.headers[0].header.as_ref().expect("header");
        assert_eq!(
            (header.key.as_str(), header.value.as_str()),
            ("x-warden-request-id", "id1")
        );
        // Overwritten, not removed: Envoy removes after it sets.
        assert!(ok.headers_to_remove.is_empty());
    }

    #[tokio::test]
    async fn body_within_limit_is_allowed_and_oversized_is_refused() {
        let p = pipeline(BodyInspection::Buffered);
        let sent = [("content-length", "5"), (PARTIAL_BODY_HEADER, "false")];
        let ok = check(&p, "a".into(), check_request("POST", &sent, b"hello"))
            .await
            .expect("resp");
        assert_eq!(ok.status.map(|s| s.code), Some(GRPC_OK));

        let sent = [
            ("transfer-encoding", "chunked"),
            (PARTIAL_BODY_HEADER, "false"),
        ];
        let resp = check(&p, "b".into(), check_request("POST", &sent, &[b'x'; 11]))
            .await
            .expect("resp");
        assert_eq!(denied(&resp).status.as_ref().map(|s| s.code), Some(413));
    }

    #[tokio::test]
    async fn a_body_envoy_did_not_send_whole_is_never_allowed() {
        let p = pipeline(BodyInspection::Streamed);
        let not_sent = check(
            &p,
            "c".into(),
            check_request("POST", &[("content-length", "5")], b""),
        )
        .await
        .expect("resp");
        assert!(denied(&not_sent).body.contains("with_request_body"));

        let partial = check(
            &p,
            "d".into(),
            check_request(
                "POST",
                &[("content-length", "50"), (PARTIAL_BODY_HEADER, "true")],
                b"abc",
            ),
        )
        .await
        .expect("resp");
        assert!(denied(&partial).body.contains("cut short"));
    }

    #[tokio::test]
    async fn missing_http_attributes_is_an_error() {
        let err = check(
            &pipeline(BodyInspection::None),
            "e".into(),
            CheckRequest::default(),
        )
        .await
        .expect_err("must fail");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
