//! Envoy + Warden + a recording upstream, on free loopback ports.
//!
//! The Envoy config is the one we ship (`envoy/local-demo.yaml` or
//! `envoy/ext-authz.yaml`), parsed and rewritten structurally: only ports and the
//! Warden address change, so the tests exercise what users run.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde_yaml_ng::Value;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::paths;
use crate::process::{free_port, poll_until, ChildProcess};
use crate::upstream::Upstream;

/// How long a process gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Which shipped Envoy config to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `envoy/local-demo.yaml`: ext_proc.
    ExtProc,
    /// `envoy/ext-authz.yaml`: ext_authz.
    ExtAuthz,
}

impl Flavor {
    fn config_file(self) -> &'static str {
        match self {
            Flavor::ExtProc => "envoy/local-demo.yaml",
            Flavor::ExtAuthz => "envoy/ext-authz.yaml",
        }
    }
}

/// How Envoy reaches Warden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Loopback TCP.
    Tcp,
    /// Warden's Unix domain socket.
    Unix,
}

/// Polls `url` until it answers 2xx; fails with `process`'s log tail if the process
/// dies or [`READY_TIMEOUT`] passes.
async fn wait_http_ok(process: &mut ChildProcess, what: &str, url: &str) -> anyhow::Result<()> {
    let client = http1_client();
    let ready = poll_until(what, READY_TIMEOUT, || {
        let request = client.get(url);
        async move {
            let response = request.send().await.ok()?;
            response.status().is_success().then_some(())
        }
    })
    .await;
    if let Err(e) = ready {
        process.ensure_running()?;
        return Err(e.context(process.log_tail()));
    }
    Ok(())
}

/// What to start.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// Envoy config.
    pub flavor: Flavor,
    /// Envoy → Warden transport.
    pub link: Link,
    /// Extra Warden config sections (YAML), appended after `listen`. Every
    /// [`ADMIN_PORT`] in it is replaced by a free port, kept in [`Warden::admin_port`].
    pub warden_config: String,
    /// Environment variables for the Warden process (e.g. a webhook secret named by
    /// `secret_env`). Set on the child, never on the test process: the tests share
    /// one process and run in parallel.
    pub warden_env: Vec<(String, String)>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            flavor: Flavor::ExtProc,
            link: Link::Tcp,
            warden_config: String::new(),
            warden_env: Vec::new(),
        }
    }
}

/// Placeholder for the admin API's port in Warden's extra config, e.g.
/// `approvals:\n  admin: {listen: '127.0.0.1:$ADMIN_PORT'}`.
pub const ADMIN_PORT: &str = "$ADMIN_PORT";

/// The audit checkpoint signing key of a test in `dir`: `dir/audit-key/audit-key.pem`
/// (outside any `audit.log_dir` a test uses), created on first use, with its public
/// key `audit-key.pub.pem` next to it.
pub fn audit_signing_key(dir: &Path) -> anyhow::Result<PathBuf> {
    let keys = dir.join("audit-key");
    std::fs::create_dir_all(&keys)?;
    let path = keys.join("audit-key.pem");
    if !path.is_file() {
        warden::audit::generate_key_pair(&path)?;
    }
    Ok(path)
}

/// The public key of [`audit_signing_key`].
pub fn audit_public_key(dir: &Path) -> anyhow::Result<PathBuf> {
    Ok(warden::audit::public_key_path(&audit_signing_key(dir)?))
}

/// A running Warden.
pub struct Warden {
    /// The process.
    pub process: ChildProcess,
    /// gRPC TCP port.
    pub port: u16,
    /// gRPC Unix socket.
    pub socket: PathBuf,
    /// The admin API's port, when the config asked for one with [`ADMIN_PORT`].
    pub admin_port: Option<u16>,
}

impl Warden {
    /// Starts `warden serve` with `extra_config` and waits until health says SERVING.
    pub async fn start(dir: &Path, extra_config: &str) -> anyhow::Result<Warden> {
        Warden::start_with_env(dir, extra_config, &[]).await
    }

    /// [`Warden::start`] with extra environment variables for the process.
    pub async fn start_with_env(
        dir: &Path,
        extra_config: &str,
        env: &[(String, String)],
    ) -> anyhow::Result<Warden> {
        let port = free_port()?;
        let admin_port = if extra_config.contains(ADMIN_PORT) {
            Some(free_port()?)
        } else {
            None
        };
        let extra_config = match admin_port {
            Some(admin) => extra_config.replace(ADMIN_PORT, &admin.to_string()),
            None => extra_config.to_string(),
        };
        let socket = dir.join("warden.sock");
        // Approvals live in the test's directory unless the test chose a store.
        let store = if extra_config.contains("approvals:") {
            String::new()
        } else {
            format!(
                "approvals:\n  store: sqlite://{}\n",
                dir.join("warden.db").display()
            )
        };
        // So does the audit log (the default `audit/` is relative to the working
        // directory, which is the test runner's), signed with a key outside it.
        let audit = if extra_config.contains("audit:") {
            String::new()
        } else {
            format!(
                "audit:\n  log_dir: {}\n  signing_key: {}\n",
                dir.join("audit").display(),
                audit_signing_key(dir)?.display()
            )
        };
        let config = format!(
            "listen:\n  tcp: 127.0.0.1:{port}\n  unix: {}\n{store}{audit}{extra_config}\n",
            socket.display()
        );
        let config_path = dir.join("warden.yaml");
        std::fs::write(&config_path, config)?;
        let bin = paths::warden_bin().map_err(|e| anyhow!(e))?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("WARDEN_LOG", "warden=debug")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let mut process = ChildProcess::spawn("warden", command, dir)?;
        let health = poll_until("warden health SERVING", READY_TIMEOUT, || async {
            health_status(port)
                .await
                .filter(|s| *s == ServingStatus::Serving)
        })
        .await;
        if let Err(e) = health {
            process.ensure_running()?;
            return Err(e.context(process.log_tail()));
        }
        if let Some(admin) = admin_port {
            let url = format!("http://127.0.0.1:{admin}/healthz");
            wait_http_ok(&mut process, "warden admin /healthz", &url).await?;
        }
        Ok(Warden {
            process,
            port,
            socket,
            admin_port,
        })
    }

    /// The admin API's base URL (`http://127.0.0.1:PORT`), when it has one.
    pub fn admin_url(&self) -> anyhow::Result<String> {
        let port = self.admin_port.ok_or_else(|| {
            anyhow!("this Warden has no admin API ($ADMIN_PORT not in its config)")
        })?;
        Ok(format!("http://127.0.0.1:{port}"))
    }

    /// The request ids Warden logged a decision for.
    pub fn decided_ids(&self) -> HashSet<String> {
        self.process
            .log()
            .lines()
            .filter_map(|line| {
                let rest = &line[line.find("request_id=")? + "request_id=".len()..];
                let id = rest.split_whitespace().next()?.trim_matches('"');
                Some(id.to_string())
            })
            .collect()
    }

    /// The health status of the whole server, if it answers.
    pub async fn health(&self) -> Option<ServingStatus> {
        health_status(self.port).await
    }
}

async fn health_status(port: u16) -> Option<ServingStatus> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .ok()?
        .connect()
        .await
        .ok()?;
    let mut client = HealthClient::new(channel);
    let reply = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(reply.into_inner().status).ok()
}

/// A running Envoy.
pub struct Envoy {
    /// The process.
    pub process: ChildProcess,
    /// The `ingress` listener port.
    pub port: u16,
    /// The admin port.
    pub admin_port: u16,
}

impl Envoy {
    /// Starts Envoy with the shipped `flavor` config, pointed at `warden` and
    /// `upstream`, and waits for `/ready`.
    pub async fn start(
        dir: &Path,
        flavor: Flavor,
        warden: WardenAddress<'_>,
        upstream: SocketAddr,
    ) -> anyhow::Result<Envoy> {
        Envoy::start_with_tls(dir, flavor, warden, upstream, None).await
    }

    /// Like [`Envoy::start`], with TLS on the ingress listener when `tls` names a PEM
    /// certificate chain and key (clients such as kubectl send bearer tokens over
    /// https only).
    pub async fn start_with_tls(
        dir: &Path,
        flavor: Flavor,
        warden: WardenAddress<'_>,
        upstream: SocketAddr,
        tls: Option<(&Path, &Path)>,
    ) -> anyhow::Result<Envoy> {
        Envoy::start_edited(dir, flavor, warden, upstream, tls, |_| Ok(())).await
    }

    /// Like [`Envoy::start_with_tls`], with `edit` applied to the rewritten config
    /// before Envoy starts (a test adds tracing, say).
    pub async fn start_edited(
        dir: &Path,
        flavor: Flavor,
        warden: WardenAddress<'_>,
        upstream: SocketAddr,
        tls: Option<(&Path, &Path)>,
        edit: impl FnOnce(&mut Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<Envoy> {
        let port = free_port()?;
        let admin_port = free_port()?;
        let shipped = paths::repo_root().join(flavor.config_file());
        let text = std::fs::read_to_string(&shipped)
            .with_context(|| format!("reading {}", shipped.display()))?;
        let mut config: Value = serde_yaml_ng::from_str(&text)?;
        rewrite(&mut config, port, admin_port, warden, upstream)
            .with_context(|| format!("rewriting {}", shipped.display()))?;
        if let Some((cert, key)) = tls {
            let listener = named_mut(&mut config["static_resources"]["listeners"], "ingress")?;
            let chain = &mut listener["filter_chains"][0];
            anyhow::ensure!(
                chain.is_mapping(),
                "the ingress listener has no filter chain"
            );
            chain["transport_socket"] = serde_yaml_ng::from_str(&format!(
                "name: envoy.transport_sockets.tls\n\
                 typed_config:\n  \
                 '@type': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n  \
                 common_tls_context:\n    tls_certificates:\n      \
                 - certificate_chain: {{filename: '{}'}}\n        \
                 private_key: {{filename: '{}'}}\n",
                cert.display(),
                key.display()
            ))?;
        }
        edit(&mut config).with_context(|| format!("editing {}", shipped.display()))?;
        let config_path = dir.join("envoy.yaml");
        std::fs::write(&config_path, serde_yaml_ng::to_string(&config)?)?;

        let bin = paths::envoy_bin().map_err(|e| anyhow!(e))?;
        let mut command = Command::new(bin);
        command
            .arg("-c")
            .arg(&config_path)
            .args(["--disable-hot-restart", "--concurrency", "1"])
            .args(["--log-level", "warn"]);
        // For debugging a test: e.g. `WARDEN_E2E_ENVOY_COMPONENT_LOG=ext_proc:debug` (with
        // `WARDEN_KEEP_TEST_DIRS=1` to keep the log) shows every ext_proc message's timing.
        if let Ok(levels) = std::env::var("WARDEN_E2E_ENVOY_COMPONENT_LOG") {
            command.args(["--component-log-level", &levels]);
        }
        let mut process = ChildProcess::spawn("envoy", command, dir)?;
        let url = format!("http://127.0.0.1:{admin_port}/ready");
        wait_http_ok(&mut process, "envoy /ready", &url).await?;
        Ok(Envoy {
            process,
            port,
            admin_port,
        })
    }

    /// A URL on the ingress listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A counter or gauge from Envoy's admin `/stats`, by exact name.
    pub async fn stat(&self, name: &str) -> anyhow::Result<u64> {
        let text = http1_client()
            .get(format!(
                "http://127.0.0.1:{}/stats?filter=^{}$",
                self.admin_port,
                name.replace('.', "\\.")
            ))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .ok_or_else(|| anyhow!("stat {name} not found in:\n{text}"))?
            .trim()
            .parse()
            .with_context(|| format!("stat {name}"))
    }

    /// The JSON access log lines Envoy wrote so far.
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        self.process
            .log()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// Where Envoy finds Warden.
#[derive(Clone, Copy, Debug)]
pub enum WardenAddress<'a> {
    /// TCP on loopback.
    Tcp(u16),
    /// A Unix socket.
    Unix(&'a Path),
}

fn rewrite(
    config: &mut Value,
    port: u16,
    admin_port: u16,
    warden: WardenAddress<'_>,
    upstream: SocketAddr,
) -> anyhow::Result<()> {
    set_port(&mut config["admin"]["address"], admin_port)?;
    let listener = named_mut(&mut config["static_resources"]["listeners"], "ingress")?;
    set_port(&mut listener["address"], port)?;
    let warden_address = match warden {
        WardenAddress::Tcp(port) => serde_yaml_ng::from_str(&format!(
            "socket_address: {{address: 127.0.0.1, port_value: {port}}}"
        ))?,
        WardenAddress::Unix(path) => {
            serde_yaml_ng::from_str(&format!("pipe: {{path: '{}'}}", path.display()))?
        }
    };
    *endpoint_address(&mut config["static_resources"]["clusters"], "warden")? = warden_address;
    set_port(
        endpoint_address(&mut config["static_resources"]["clusters"], "upstream")?,
        upstream.port(),
    )?;
    Ok(())
}

/// The entry named `name` in a YAML list of named items (listeners, clusters, filters).
pub fn named_mut<'a>(list: &'a mut Value, name: &str) -> anyhow::Result<&'a mut Value> {
    list.as_sequence_mut()
        .ok_or_else(|| anyhow!("expected a list holding `{name}`"))?
        .iter_mut()
        .find(|item| item["name"].as_str() == Some(name))
        .ok_or_else(|| anyhow!("no entry named `{name}`"))
}

fn endpoint_address<'a>(clusters: &'a mut Value, name: &str) -> anyhow::Result<&'a mut Value> {
    let cluster = named_mut(clusters, name)?;
    let address =
        &mut cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"];
    anyhow::ensure!(
        !address.is_null(),
        "cluster `{name}` has no endpoint address"
    );
    Ok(address)
}

fn set_port(address: &mut Value, port: u16) -> anyhow::Result<()> {
    let socket = &mut address["socket_address"];
    anyhow::ensure!(
        socket.is_mapping(),
        "no socket_address to set port {port} on"
    );
    socket["port_value"] = Value::from(port);
    Ok(())
}

/// Envoy + Warden + upstream. Dropping it stops everything (fields drop in order:
/// Envoy first, the temporary directory with the logs last).
pub struct Stack {
    /// Envoy.
    pub envoy: Envoy,
    /// Warden.
    pub warden: Warden,
    /// The recording upstream.
    pub upstream: Upstream,
    /// Logs and generated configs; kept on disk when `WARDEN_KEEP_TEST_DIRS` is set.
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Starts upstream, Warden and Envoy and waits until all are ready.
    pub async fn start(options: StackOptions) -> anyhow::Result<Stack> {
        let dir = tempfile::Builder::new()
            .prefix("warden-e2e-")
            .disable_cleanup(std::env::var_os("WARDEN_KEEP_TEST_DIRS").is_some())
            .tempdir()?;
        let upstream = Upstream::start().await?;
        let warden =
            Warden::start_with_env(dir.path(), &options.warden_config, &options.warden_env).await?;
        let address = match options.link {
            Link::Tcp => WardenAddress::Tcp(warden.port),
            Link::Unix => WardenAddress::Unix(&warden.socket),
        };
        let envoy = Envoy::start(dir.path(), options.flavor, address, upstream.addr()).await?;
        Ok(Stack {
            envoy,
            warden,
            upstream,
            dir,
        })
    }

    /// Every log, for a failing assertion's message.
    pub fn logs(&self) -> String {
        format!(
            "{}\n{}",
            self.warden.process.log_tail(),
            self.envoy.process.log_tail()
        )
    }
}

/// reqwest is built once for the workspace, with rustls but no crypto provider (Warden
/// brings `ring`); a client cannot be built until one is installed.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means another provider is installed already: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTP/1.1 client.
pub fn http1_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .http1_only()
        .build()
        .unwrap_or_default()
}

/// An HTTP/2 client (cleartext, prior knowledge — what h2c agents use).
pub fn http2_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap_or_default()
}
