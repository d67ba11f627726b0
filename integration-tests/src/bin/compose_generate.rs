//! `compose/generate`: writes the docker compose demo's Envoy and Warden configs from the
//! local demo's (`envoy/local-demo.yaml`, `envoy/tracing.yaml`, `compose/local-warden.yaml`),
//! so the two demos cannot drift apart.
//!
//! ```text
//! compose_generate [--out-dir DIR]   # default: <repo>/compose
//! compose_generate --check           # exit 1 if the committed files are stale
//! ```
//!
//! The changes are structural (parse, edit named fields, print) and listed in
//! [`ENVOY_CHANGES`] and [`WARDEN_CHANGES`]; both lists are also written at the top of each
//! generated file. Everything else (listeners, filters, ext_proc settings, access log,
//! policy, masking, limits, identity rules) is copied unchanged.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_yaml_ng::{Mapping, Value};
use warden_integration_tests::paths;

/// The generated Envoy config, relative to the output directory.
const ENVOY_OUT: &str = "envoy.yaml";
/// The generated Warden config, relative to the output directory.
const WARDEN_OUT: &str = "warden.yaml";

/// Compose services (their DNS names on the compose network) and the ports they listen on.
const WARDEN_HOST: &str = "warden";
const UPSTREAM_HOST: &str = "upstream";
const GIT_HOST: &str = "git";
const GIT_PORT: u64 = 8000;
const MCP_HOST: &str = "mcp";
const MCP_PORT: u64 = 8000;
const OTEL_HOST: &str = "otel-collector";
const OTEL_GRPC_PORT: u64 = 4317;
const ISSUER_URL: &str = "http://issuer:8081";
const POSTGRES_URL: &str = "postgres://warden:warden@postgres:5432/warden";

/// What is changed in `envoy/local-demo.yaml` (one line each, written into the output).
const ENVOY_CHANGES: &[&str] = &[
    "admin and listener `ingress` listen on 0.0.0.0 (ports unchanged: 9901, 10000)",
    "clusters `warden` and `upstream`: STRICT_DNS on the compose services warden:50051 and upstream:8080",
    "new clusters `git` (git:8000) and `mcp` (mcp:8000), copied from `upstream`",
    "new routes before the catch-all: prefix /git/ -> git, prefix /mcp -> mcp",
    "envoy/tracing.yaml merged in: `tracing` on the ingress HCM, cluster `otel_collector` at otel-collector:4317",
];

/// What is changed in `compose/local-warden.yaml` (one line each, written into the output).
const WARDEN_CHANGES: &[&str] = &[
    "listen.tcp 0.0.0.0:50051; listen.unix removed",
    "policy.dir /etc/warden/policies (the repo's policies/, mounted read-only)",
    "approvals.store PostgreSQL (service postgres); approvals.admin.listen 0.0.0.0:9090",
    "audit.log_dir /var/lib/warden/audit (volume); audit.signing_key /var/lib/warden/audit-key/audit-key.pem (its own volume, made by the audit-key service); audit.otlp to otel-collector:4317",
    "identity issuer http://issuer:8081 with jwks_uri; approvals.admin.console.issuer the same (the browser reaches it through the published port 8081: add `127.0.0.1 issuer` to the host's /etc/hosts)",
    "credential files under /etc/warden/ (compose/upstream-token, mounted read-only)",
];

/// Why generation failed: the source file and what is missing or wrong in it.
#[derive(Debug)]
struct GenError(String);

impl std::fmt::Display for GenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, GenError>;

fn err<T>(message: impl Into<String>) -> Result<T> {
    Err(GenError(message.into()))
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("compose/generate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let root = paths::repo_root();
    let mut args = std::env::args().skip(1);
    let mut out_dir = root.join("compose");
    let mut check = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--out-dir" => match args.next() {
                Some(dir) => out_dir = PathBuf::from(dir),
                None => return err("--out-dir needs a directory"),
            },
            other => {
                return err(format!(
                    "unknown argument {other:?}; usage: compose/generate [--out-dir DIR | --check]"
                ))
            }
        }
    }
    let files = [
        (ENVOY_OUT, envoy_config(&root)?),
        (WARDEN_OUT, warden_config(&root)?),
    ];
    if check {
        let mut stale = Vec::new();
        for (name, text) in &files {
            let path = out_dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        if stale.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "compose/generate: stale: {} (run compose/generate and commit the result)",
            stale.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    for (name, text) in &files {
        let path = out_dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| GenError(format!("cannot write {}: {e}", path.display())))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn load(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| GenError(format!("cannot read {}: {e}", path.display())))?;
    serde_yaml_ng::from_str(&text)
        .map_err(|e| GenError(format!("{} is not valid YAML: {e}", path.display())))
}

fn header(sources: &[&str], changes: &[&str]) -> String {
    let mut text = format!(
        "# GENERATED by compose/generate from {} — do not edit; edit the source and rerun\n\
         # compose/generate (integration-tests/tests/e2e/compose.rs fails while this file is stale).\n\
         # Changes from the local demo:\n",
        sources.join(" + ")
    );
    for change in changes {
        text.push_str(&format!("#   - {change}\n"));
    }
    text
}

fn to_yaml(value: &Value) -> Result<String> {
    serde_yaml_ng::to_string(value).map_err(|e| GenError(format!("cannot print YAML: {e}")))
}

/// `value[key]` as a mutable mapping entry, or an error naming `what`.
fn get_mut<'a>(value: &'a mut Value, key: &str, what: &str) -> Result<&'a mut Value> {
    match value.get_mut(key) {
        Some(v) => Ok(v),
        None => err(format!("{what}: no `{key}`")),
    }
}

fn seq_mut<'a>(value: &'a mut Value, key: &str, what: &str) -> Result<&'a mut Vec<Value>> {
    match get_mut(value, key, what)? {
        Value::Sequence(seq) => Ok(seq),
        _ => err(format!("{what}: `{key}` is not a list")),
    }
}

/// The element of `list` whose `name` is `name`.
fn named<'a>(list: &'a mut [Value], name: &str, what: &str) -> Result<&'a mut Value> {
    list.iter_mut()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
        .map_or_else(|| err(format!("{what}: no entry named `{name}`")), Ok)
}

fn set(value: &mut Value, key: &str, new: impl Into<Value>) -> Result<()> {
    match value {
        Value::Mapping(map) => {
            map.insert(Value::from(key), new.into());
            Ok(())
        }
        _ => err(format!("cannot set `{key}`: not a mapping")),
    }
}

/// Points a cluster's single endpoint at `host:port` and resolves it through DNS.
fn point_cluster(cluster: &mut Value, name: &str, host: &str, port: u64) -> Result<()> {
    set(cluster, "name", name)?;
    set(cluster, "type", "STRICT_DNS")?;
    let what = format!("cluster {name}");
    let assignment = get_mut(cluster, "load_assignment", &what)?;
    set(assignment, "cluster_name", name)?;
    let endpoints = seq_mut(assignment, "endpoints", &what)?;
    let [group] = endpoints.as_mut_slice() else {
        return err(format!("{what}: expected one endpoint group"));
    };
    let lb = seq_mut(group, "lb_endpoints", &what)?;
    let [endpoint] = lb.as_mut_slice() else {
        return err(format!("{what}: expected one endpoint"));
    };
    let address = get_mut(get_mut(endpoint, "endpoint", &what)?, "address", &what)?;
    let socket = get_mut(address, "socket_address", &what)?;
    set(socket, "address", host)?;
    set(socket, "port_value", port)
}

fn envoy_config(root: &Path) -> Result<String> {
    let mut envoy = load(&root.join("envoy/local-demo.yaml"))?;
    let tracing = load(&root.join("envoy/tracing.yaml"))?;
    const SRC: &str = "envoy/local-demo.yaml";

    let admin = get_mut(&mut envoy, "admin", SRC)?;
    set(
        get_mut(get_mut(admin, "address", SRC)?, "socket_address", SRC)?,
        "address",
        "0.0.0.0",
    )?;

    let resources = get_mut(&mut envoy, "static_resources", SRC)?;
    let listeners = seq_mut(resources, "listeners", SRC)?;
    let ingress = named(listeners, "ingress", SRC)?;
    set(
        get_mut(get_mut(ingress, "address", SRC)?, "socket_address", SRC)?,
        "address",
        "0.0.0.0",
    )?;
    let chains = seq_mut(ingress, "filter_chains", SRC)?;
    let Some(chain) = chains.first_mut() else {
        return err("envoy/local-demo.yaml: listener ingress has no filter chain");
    };
    let filters = seq_mut(chain, "filters", SRC)?;
    let hcm = named(
        filters,
        "envoy.filters.network.http_connection_manager",
        SRC,
    )?;
    let hcm = get_mut(hcm, "typed_config", SRC)?;
    let Some(hcm_tracing) = tracing
        .get("http_connection_manager")
        .and_then(|h| h.get("tracing"))
    else {
        return err("envoy/tracing.yaml: no http_connection_manager.tracing");
    };
    // `tracing` goes right after `stat_prefix`, where tracing.yaml says to merge it.
    if let Value::Mapping(map) = hcm {
        let mut merged = Mapping::new();
        for (key, value) in std::mem::take(map) {
            let after = key.as_str() == Some("stat_prefix");
            merged.insert(key, value);
            if after {
                merged.insert("tracing".into(), hcm_tracing.clone());
            }
        }
        *map = merged;
    }
    let route_config = get_mut(hcm, "route_config", SRC)?;
    let vhosts = seq_mut(route_config, "virtual_hosts", SRC)?;
    let Some(vhost) = vhosts.first_mut() else {
        return err("envoy/local-demo.yaml: route_config has no virtual host");
    };
    let routes = seq_mut(vhost, "routes", SRC)?;
    let Some(catch_all) = routes.last().cloned() else {
        return err("envoy/local-demo.yaml: virtual host has no route");
    };
    for (index, (prefix, cluster)) in [("/git/", "git"), ("/mcp", "mcp")].iter().enumerate() {
        let mut route = catch_all.clone();
        set(get_mut(&mut route, "match", SRC)?, "prefix", *prefix)?;
        set(get_mut(&mut route, "route", SRC)?, "cluster", *cluster)?;
        routes.insert(index, route);
    }

    let clusters = seq_mut(resources, "clusters", SRC)?;
    point_cluster(
        named(clusters, "warden", SRC)?,
        "warden",
        WARDEN_HOST,
        50051,
    )?;
    let upstream = named(clusters, "upstream", SRC)?;
    point_cluster(upstream, "upstream", UPSTREAM_HOST, 8080)?;
    let template = upstream.clone();
    for (name, host, port) in [("git", GIT_HOST, GIT_PORT), ("mcp", MCP_HOST, MCP_PORT)] {
        let mut cluster = template.clone();
        point_cluster(&mut cluster, name, host, port)?;
        clusters.push(cluster);
    }
    let Some(tracing_clusters) = tracing.get("clusters").and_then(Value::as_sequence) else {
        return err("envoy/tracing.yaml: no `clusters` list");
    };
    for cluster in tracing_clusters {
        let mut cluster = cluster.clone();
        let name = cluster
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if name == "otel_collector" {
            point_cluster(&mut cluster, &name, OTEL_HOST, OTEL_GRPC_PORT)?;
        }
        clusters.push(cluster);
    }

    Ok(header(&[SRC, "envoy/tracing.yaml"], ENVOY_CHANGES) + &to_yaml(&envoy)?)
}

fn warden_config(root: &Path) -> Result<String> {
    const SRC: &str = "compose/local-warden.yaml";
    let mut warden = load(&root.join(SRC))?;

    let listen = get_mut(&mut warden, "listen", SRC)?;
    set(listen, "tcp", "0.0.0.0:50051")?;
    if let Value::Mapping(map) = listen {
        map.remove("unix");
    }

    set(
        get_mut(&mut warden, "policy", SRC)?,
        "dir",
        "/etc/warden/policies",
    )?;

    let approvals = get_mut(&mut warden, "approvals", SRC)?;
    set(approvals, "store", POSTGRES_URL)?;
    let admin = get_mut(approvals, "admin", SRC)?;
    set(admin, "listen", "0.0.0.0:9090")?;
    // The console's redirect URL stays http://127.0.0.1:9090/... (the published admin
    // port); its issuer is the compose issuer, which the browser reaches by name.
    set(get_mut(admin, "console", SRC)?, "issuer", ISSUER_URL)?;

    let audit = get_mut(&mut warden, "audit", SRC)?;
    set(audit, "log_dir", "/var/lib/warden/audit")?;
    set(
        audit,
        "signing_key",
        "/var/lib/warden/audit-key/audit-key.pem",
    )?;
    let mut otlp = Mapping::new();
    otlp.insert(
        "endpoint".into(),
        format!("http://{OTEL_HOST}:{OTEL_GRPC_PORT}").into(),
    );
    set(audit, "otlp", otlp)?;

    let identity = get_mut(&mut warden, "identity", SRC)?;
    let issuers = seq_mut(identity, "issuers", SRC)?;
    let [issuer] = issuers.as_mut_slice() else {
        return err(format!(
            "{SRC}: expected one identity issuer (the demo issuer)"
        ));
    };
    set(issuer, "issuer", ISSUER_URL)?;
    set(issuer, "jwks_uri", format!("{ISSUER_URL}/jwks.json"))?;
    for credential in seq_mut(identity, "credentials", SRC)? {
        let inject = get_mut(credential, "inject", SRC)?;
        if let Value::Mapping(methods) = inject {
            for (_, method) in methods.iter_mut() {
                let Some(file) = method.get("file").and_then(Value::as_str) else {
                    continue;
                };
                let Some(name) = Path::new(file).file_name().and_then(|n| n.to_str()) else {
                    return err(format!("{SRC}: credential file {file:?} has no file name"));
                };
                let name = format!("/etc/warden/{name}");
                set(method, "file", name)?;
            }
        }
    }

    Ok(header(&[SRC], WARDEN_CHANGES) + &to_yaml(&warden)?)
}
