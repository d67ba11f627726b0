//! The same decisions through Envoy's ext_authz filter (`envoy/ext-authz.yaml`).

use anyhow::{ensure, Context};
use warden_integration_tests::stack::{http1_client, http2_client, Flavor, Stack, StackOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_checked_tagged_and_oversized_bodies_refused() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        flavor: Flavor::ExtAuthz,
        warden_config: "inspection:\n  request_body: buffered\n\
                        limits:\n  max_buffered_body_bytes: 1048576\n"
            .into(),
        ..StackOptions::default()
    })
    .await?;
    for client in [http1_client(), http2_client()] {
        let response = client
            .get(stack.envoy.url("/echo"))
            .header("x-warden-request-id", "forged")
            .send()
            .await?;
        ensure!(
            response.status() == 200,
            "GET: {}\n{}",
            response.status(),
            stack.logs()
        );
        let json: serde_json::Value = response.json().await?;
        let id = json["warden_request_id"]
            .as_str()
            .context("no Warden id upstream")?;
        ensure!(id != "forged");
        ensure!(
            stack.warden.decided_ids().contains(id),
            "upstream saw {id}\n{}",
            stack.logs()
        );

        let body = vec![b'a'; 512 * 1024];
        let response = client
            .post(stack.envoy.url("/echo"))
            .body(body)
            .send()
            .await?;
        ensure!(response.status() == 200, "POST: {}", response.status());
        let json: serde_json::Value = response.json().await?;
        ensure!(json["len"] == 512 * 1024);

        let response = client
            .post(stack.envoy.url("/echo"))
            .body(vec![b'a'; 2 * 1024 * 1024])
            .send()
            .await?;
        ensure!(
            response.status() == 413,
            "oversized POST: {}",
            response.status()
        );
        let json: serde_json::Value = response.json().await?;
        ensure!(json["error"]["code"] == "body_too_large", "{json}");
    }
    ensure!(stack
        .upstream
        .seen()
        .iter()
        .all(|r| r.body_len < 1024 * 1024));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_warden_down_ext_authz_denies_everything() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        flavor: Flavor::ExtAuthz,
        ..StackOptions::default()
    })
    .await?;
    stack.warden.process.kill_now();
    for client in [http1_client(), http2_client()] {
        let response = client.get(stack.envoy.url("/echo")).send().await?;
        ensure!(
            response.status() == 403 || response.status().is_server_error(),
            "got {}",
            response.status()
        );
    }
    ensure!(
        stack.upstream.seen().is_empty(),
        "the upstream was reached without Warden"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_with_a_secret_is_refused_since_ext_authz_cannot_mask() -> anyhow::Result<()>
{
    let stack = Stack::start(StackOptions {
        flavor: Flavor::ExtAuthz,
        ..StackOptions::default()
    })
    .await?;
    let client = http1_client();
    let secret = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";
    let response = client
        .post(stack.envoy.url("/echo"))
        .header("content-type", "application/json")
        .body(format!("{{\"prompt\": \"push with {secret}\"}}"))
        .send()
        .await?;
    ensure!(response.status() == 403, "got {}", response.status());
    let json: serde_json::Value = response.json().await?;
    ensure!(json["error"]["code"] == "secret_in_request_body", "{json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    ensure!(
        message.contains("github-token") && !message.contains(secret),
        "{message}"
    );

    let clean = client
        .post(stack.envoy.url("/echo"))
        .header("content-type", "application/json")
        .body("{\"prompt\": \"hello\"}")
        .send()
        .await?;
    ensure!(clean.status() == 200, "clean body got {}", clean.status());
    ensure!(
        stack.upstream.seen().len() == 1,
        "only the clean request may reach the upstream"
    );
    Ok(())
}
