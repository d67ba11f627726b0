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
