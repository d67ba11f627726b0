//! The gRPC approvals service (`warden.approvals.v1.Approvals`) on Warden's admin port,
//! with a real Envoy in front of the held request: Watch sees the hold appear, List
//! and Get show it, Approve (as an approver, never as the requester) lets the retry
//! pass once, and every call needs a token from Warden's issuer.

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
    let stack = Stack::start(StackOptions {
        warden_config: format!(
            "identity:\n  required: true\n  issuers:\n    - issuer: {issuer}\n      audiences: [warden]\n      allow_http: true\n\
             policy:\n  dir: {}\n\
             approvals:\n  store: sqlite://{}\n  admin:\n    listen: 127.0.0.1:{admin_port}\n",
            policy.path().display(),
            policy.path().join("warden.db").display(),
        ),
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
    Ok(())
}
