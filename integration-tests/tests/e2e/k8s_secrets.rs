//! Kubernetes Secrets through a real Envoy with the real `kubectl`: get, list across
//! namespaces and watch, as JSON and YAML. No byte of any Secret value (base64 or
//! decoded) reaches kubectl; key names and metadata stay readable.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, ensure};
use tokio::process::Command;
use warden_integration_tests::k8s::{secret_values, KubeApi, SECRETS};
use warden_integration_tests::stack::{Envoy, Flavor, Warden, WardenAddress};

/// Runs the real kubectl against `server` (no credentials: this Warden has no identity
/// configured); gives up after 60 s.
async fn kubectl(dir: &Path, server: &str, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n")?;
    let run = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("kube-cache"))
        .args(["--server", server, "--request-timeout", "30s"])
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .map_err(|_| anyhow!("kubectl {args:?} did not finish in 60 s"))??;
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_never_sees_a_secret_value() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let kube = KubeApi::start().await?;
    // Masking as shipped (Kubernetes Secrets on by default); no policy in the way.
    let warden = Warden::start(dir.path(), "policy:\n  enabled: false\n").await?;
    let envoy = Envoy::start(
        dir.path(),
        Flavor::ExtProc,
        WardenAddress::Tcp(warden.port),
        kube.addr(),
    )
    .await?;
    let server = format!("http://127.0.0.1:{}", envoy.port);
    let logs = || {
        format!(
            "{}\n{}",
            warden.process.log_tail(),
            envoy.process.log_tail()
        )
    };
    let secrets = secret_values();

    let runs: [(&[&str], &[&str]); 5] = [
        (
            &["get", "secret", "app", "-n", "prod", "-o", "json"],
            &["prod"],
        ),
        (
            &["get", "secret", "app", "-n", "prod", "-o", "yaml"],
            &["prod"],
        ),
        (&["get", "secrets", "-n", "prod", "-o", "json"], &["prod"]),
        (&["get", "secrets", "-A", "-o", "json"], &["prod", "dev"]),
        (
            &[
                "get", "secret", "app", "-n", "prod", "--watch", "-o", "json",
            ],
            &["prod"],
        ),
    ];
    for (args, namespaces) in runs {
        let (ok, out) = kubectl(dir.path(), &server, args).await?;
        ensure!(ok, "kubectl {args:?} failed:\n{out}\n{}", logs());
        for value in &secrets {
            ensure!(
                !out.contains(value.as_str()),
                "kubectl {args:?} got the Secret value {value:?}:\n{out}"
            );
        }
        for (ns, name, data) in SECRETS.iter().filter(|(ns, _, _)| namespaces.contains(ns)) {
            ensure!(
                out.contains(&format!("uid-{ns}-{name}")),
                "kubectl {args:?}: metadata of {ns}/{name} lost:\n{out}"
            );
            for (key, _) in *data {
                ensure!(
                    out.contains(key),
                    "kubectl {args:?}: key {key} lost:\n{out}"
                );
            }
        }
        // The masked value is base64 of the marker: the object stays a valid Secret.
        ensure!(
            out.contains("W1JFREFDVEVEOms4cy1zZWNyZXRd"),
            "kubectl {args:?}: no marker:\n{out}"
        );
        if args.contains(&"--watch") {
            ensure!(
                out.matches("\"uid-prod-app\"").count() >= 2,
                "kubectl {args:?}: watch events lost:\n{out}"
            );
        }
    }
    let seen = kube.seen();
    ensure!(
        seen.iter().any(|s| s.contains("watch=")),
        "kubectl never watched: {seen:?}"
    );
    Ok(())
}

/// Values of the Secrets written as text below: base64 under `data` and plain under
/// `stringData`, under key names no pattern rule knows.
const TEXT_SECRET_VALUES: [&str; 4] = [
    "cG9zdGdyZXM6Ly9hcHA6aHVudGVyMkBkYi5pbnRlcm5hbDo1NDMyL2FwcA==",
    "b3BhcXVlLXNldHRpbmctdmFsdWU=",
    "correct horse battery staple",
    "bGFzdC1hcHBsaWVkLXZhbHVl",
];

/// `kubectl get secret -o yaml` output: a Secret in a List next to a ConfigMap, with the
/// whole Secret again as JSON text in its last-applied annotation.
fn secret_yaml() -> String {
    format!(
        "apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n    DATABASE_URL: {}\n    \"settings.conf\": |\n      {}\n  kind: Secret\n  metadata:\n    annotations:\n      kubectl.kubernetes.io/last-applied-configuration: |\n        {{\"apiVersion\":\"v1\",\"data\":{{\"LAST\":\"{}\"}},\"kind\":\"Secret\",\"metadata\":{{\"name\":\"app\"}}}}\n    name: app\n    uid: uid-text-app\n  stringData:\n    PASSPHRASE: {}\n  type: Opaque\n- apiVersion: v1\n  data:\n    region: eu-west-1\n  kind: ConfigMap\n  metadata:\n    name: settings\nkind: List\n",
        TEXT_SECRET_VALUES[0], TEXT_SECRET_VALUES[1], TEXT_SECRET_VALUES[3], TEXT_SECRET_VALUES[2]
    )
}

/// A Secret written as text — YAML from `kubectl get -o yaml`, the same in an MCP tool
/// result (JSON string), JSON text in an SSE event — is masked in the response whatever
/// carries it, buffered and streamed; key names, metadata and a ConfigMap's data stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_written_as_text_is_masked_wherever_it_travels() -> anyhow::Result<()> {
    use base64::Engine;
    use warden_integration_tests::stack::{http1_client, Stack, StackOptions};
    let stack = Stack::start(StackOptions {
        // Policy off; only responses are masked, so `/reflect` returns what was sent.
        warden_config: "policy:\n  enabled: false\nmasking:\n  request: false\n  response: true\n"
            .into(),
        ..StackOptions::default()
    })
    .await?;
    let yaml = secret_yaml();
    let mcp = serde_json::json!({"jsonrpc": "2.0", "id": 7, "result": {"content": [
        {"type": "text", "text": yaml}], "isError": false}})
    .to_string();
    let as_json_text = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "app"}, "data": {"DATABASE_URL": TEXT_SECRET_VALUES[0]},
        "stringData": {"PASSPHRASE": TEXT_SECRET_VALUES[2]}})
    .to_string();
    let sse = format!(
        "event: message\ndata: {}\n\n",
        serde_json::json!({"jsonrpc": "2.0", "id": 8, "result": {"content": [
            {"type": "text", "text": as_json_text}]}})
    );
    let bodies: [(&str, &str, &[&str]); 4] = [
        ("application/yaml", &yaml, &TEXT_SECRET_VALUES),
        ("text/plain; charset=utf-8", &yaml, &TEXT_SECRET_VALUES),
        ("application/json", &mcp, &TEXT_SECRET_VALUES),
        ("text/event-stream", &sse, &TEXT_SECRET_VALUES[..3]),
    ];
    let client = http1_client();
    for (media, body, values) in bodies {
        for chunk in [None, Some("37")] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            let mut request = client
                .post(stack.envoy.url("/reflect"))
                .header("content-type", "text/plain")
                .header("x-reflect-content-type", media)
                .header("x-reflect-base64", "1")
                .body(encoded);
            if let Some(chunk) = chunk {
                request = request.header("x-reflect-chunk", chunk);
            }
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            ensure!(
                status == 200,
                "{media} ({chunk:?}): {status}\n{text}\n{}",
                stack.logs()
            );
            for value in values {
                ensure!(
                    !text.contains(value),
                    "{media} ({chunk:?}): the Secret value {value:?} reached the client:\n{text}"
                );
            }
            for kept in ["DATABASE_URL", "PASSPHRASE", "k8s-secret"] {
                ensure!(
                    text.contains(kept),
                    "{media} ({chunk:?}): {kept} missing:\n{text}"
                );
            }
            if media != "text/event-stream" {
                ensure!(
                    text.contains("uid-text-app") && text.contains("region: eu-west-1"),
                    "{media} ({chunk:?}): metadata or the ConfigMap's data was masked:\n{text}"
                );
            }
        }
    }
    Ok(())
}
