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
