//! The gRPC approvals service (`warden.approvals.v1.Approvals`) on Warden's admin port,
//! with a real Envoy in front of the held request: Watch sees the hold appear, List
//! and Get show it, Approve (as an approver, never as the requester) lets the retry
//! pass once, and every call needs a token from Warden's issuer. The hold and the
//! decisions are announced on a signed JSON webhook.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio_stream::StreamExt;
use warden::admin::grpc::pb;
use warden::admin::grpc::ApprovalsClient;
use warden::dev::issuer::{mint_token, serve_issuer};
use warden_integration_tests::process::free_port;
use warden_integration_tests::stack::{http1_client, Stack, StackOptions};

const POLICY: &str = "rules:\n  - id: hold-deletes\n    when: { method: DELETE, path: /items/** }\n    action: hold\n    reason: deleting items needs a human\n";

/// The HMAC key of the test's signed webhook (Warden reads it from this variable).
const WEBHOOK_KEY_ENV: &str = "WARDEN_TEST_WEBHOOK_KEY";
const WEBHOOK_KEY: &str = "webhook-key-for-the-approvals-test";

/// A webhook receiver: every delivery's event name, whether its signature verified,
/// and the approval id it carries.
type Deliveries = std::sync::Arc<std::sync::Mutex<Vec<(String, bool, String)>>>;

async fn start_receiver() -> anyhow::Result<(String, Deliveries)> {
    use axum::http::HeaderMap;
    let seen: Deliveries = Default::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let verified = warden::webhook::verify_signature(
                    WEBHOOK_KEY.as_bytes(),
                    &header(warden::webhook::TIMESTAMP_HEADER),
                    &body,
                    &header(warden::webhook::SIGNATURE_HEADER),
                );
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["approval"]["id"].as_str().map(str::to_string))
                    .unwrap_or_default();
                if let Ok(mut seen) = record.lock() {
                    seen.push((header(warden::webhook::EVENT_HEADER), verified, id));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, seen))
}

async fn start_issuer(key_dir: &Path) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let (dir, url) = (key_dir.to_path_buf(), issuer.clone());
    tokio::spawn(async move {
        let _ = serve_issuer(listener, &dir, url, std::future::pending()).await;
    });
    Ok(issuer)
}

fn request<T>(message: T, token: Option<&str>) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    Ok(request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_approvals_watch_list_get_and_approve_a_held_request() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let issuer = start_issuer(keys.path()).await?;
    let policy = tempfile::tempdir()?;
    std::fs::write(policy.path().join("policy.yaml"), POLICY)?;
    let admin_port = free_port()?;
    let (hook_url, deliveries) = start_receiver().await?;
    let stack = Stack::start(StackOptions {
        warden_config: format!(
            "identity:\n  required: true\n  issuers:\n    - issuer: {issuer}\n      audiences: [warden]\n      allow_http: true\n\
             policy:\n  dir: {}\n\
             approvals:\n  store: sqlite://{}\n  admin:\n    listen: 127.0.0.1:{admin_port}\n\
             \x20 webhooks:\n    - url: {hook_url}\n      format: json\n      secret_env: {WEBHOOK_KEY_ENV}\n",
            policy.path().display(),
            policy.path().join("warden.db").display(),
        ),
        warden_env: vec![(WEBHOOK_KEY_ENV.to_string(), WEBHOOK_KEY.to_string())],
        ..StackOptions::default()
    })
    .await?;
    let token = |sub: &str, groups: &[&str]| -> anyhow::Result<String> {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        Ok(mint_token(
            keys.path(),
            &issuer,
            sub,
            &groups,
            Duration::from_secs(600),
            &Default::default(),
        )?)
    };
    // The agent is in the approvers group too: it still cannot approve itself.
    let agent = token("agent-1", &["agents", "approvers"])?;
    let alice = token("alice", &["approvers"])?;
    let mallory = token("mallory", &["dev"])?;

    let mut client = ApprovalsClient::connect(format!("http://127.0.0.1:{admin_port}")).await?;
    let denied = client
        .list(request(pb::ListRequest::default(), None)?)
        .await
        .expect_err("no token");
    ensure!(denied.code() == tonic::Code::Unauthenticated, "{denied:?}");

    let mut watch = client
        .watch(request(pb::WatchRequest::default(), Some(&alice))?)
        .await?
        .into_inner();

    let send = || {
        http1_client()
            .delete(stack.envoy.url("/items/7"))
            .bearer_auth(&agent)
            .send()
    };
    let held = send().await?;
    ensure!(held.status() == 403, "{}", held.status());
    let id = held
        .headers()
        .get("x-warden-approval-id")
        .and_then(|v| v.to_str().ok())
        .context("hold reply without x-warden-approval-id")?
        .to_string();

    let event = tokio::time::timeout(Duration::from_secs(20), watch.next())
        .await
        .context("no watch event for the hold")?
        .context("watch ended")??;
    let approval = event.approval.context("event without approval")?;
    ensure!(
        approval.id == id && approval.status == "pending",
        "{approval:?}"
    );
    ensure!(
        approval.requester.as_ref().map(|r| r.subject.as_str()) == Some("agent-1"),
        "{approval:?}"
    );

    let listed = client
        .list(request(
            pb::ListRequest {
                status: "pending".into(),
                ..Default::default()
            },
            Some(&alice),
        )?)
        .await?
        .into_inner();
    ensure!(listed.approvals.iter().any(|a| a.id == id), "{listed:?}");
    // Someone who is neither the requester nor an approver does not see it.
    let hidden = client
        .get(request(pb::GetRequest { id: id.clone() }, Some(&mallory))?)
        .await
        .expect_err("hidden from non-approvers");
    ensure!(hidden.code() == tonic::Code::NotFound, "{hidden:?}");

    let own = client
        .approve(request(
            pb::DecideRequest {
                id: id.clone(),
                justification: String::new(),
            },
            Some(&agent),
        )?)
        .await
        .expect_err("self-approval");
    ensure!(own.code() == tonic::Code::PermissionDenied, "{own:?}");

    let approved = client
        .approve(request(
            pb::DecideRequest {
                id: id.clone(),
                justification: "ticket OPS-1".into(),
            },
            Some(&alice),
        )?)
        .await?
        .into_inner();
    ensure!(approved.status == "approved", "{approved:?}");
    ensure!(
        approved
            .votes
            .first()
            .map(|v| (v.by.as_str(), v.justification.as_str()))
            == Some(("alice", "ticket OPS-1")),
        "{approved:?}"
    );

    let passed = send().await?;
    ensure!(
        passed.status() == 200,
        "retry after approval: {}",
        passed.status()
    );
    let again = send().await?;
    ensure!(again.status() == 403, "second use: {}", again.status());
    let used = client
        .get(request(pb::GetRequest { id: id.clone() }, Some(&alice))?)
        .await?
        .into_inner();
    ensure!(
        used.status == "used" && !used.used_by_request.is_empty(),
        "{used:?}"
    );
    let deletes = stack
        .upstream
        .seen()
        .iter()
        .filter(|s| s.method == "DELETE")
        .count();
    ensure!(deletes == 1, "the upstream saw {deletes} deletes");

    // The hold, the approval and its use were announced, signed.
    let announced = |event: &str| {
        deliveries
            .lock()
            .map(|d| d.iter().any(|(e, ok, aid)| e == event && *ok && *aid == id))
            .unwrap_or(false)
    };
    warden_integration_tests::process::poll_until(
        "signed webhooks for the hold, the approval and its use",
        Duration::from_secs(20),
        || async {
            (announced("hold.created")
                && announced("approval.approved")
                && announced("approval.used"))
            .then_some(())
        },
    )
    .await
    .with_context(|| format!("{:?}", deliveries.lock().map(|d| d.clone())))?;
    Ok(())
}
