//! `bench_envoy_config`: derives the data-path benchmark's Envoy configs from
//! `envoy/local-demo.yaml` (used by `scripts/bench-datapath`).
//!
//! The demo config is edited structurally (listener `ingress`, clusters `warden` and `upstream`,
//! the admin address): ports are replaced, and without `--extproc-port` the ext_proc filter and
//! the `warden` cluster are removed, giving "Envoy alone" with otherwise identical settings.
//!
//! Usage: `bench_envoy_config --listen-port 18000 --admin-port 18901 --upstream-port 18080
//!         [--extproc-port 18051] [--no-access-log] --out FILE`

use std::path::PathBuf;

use clap::Parser;
use serde_yaml_ng::{Mapping, Value};
use warden_integration_tests::paths;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Write a benchmark variant of envoy/local-demo.yaml")]
struct Args {
    /// Config to start from (default: the repo's envoy/local-demo.yaml).
    #[arg(long)]
    base: Option<PathBuf>,
    /// Port of the `ingress` listener.
    #[arg(long)]
    listen_port: u16,
    /// Port of Envoy's admin interface.
    #[arg(long)]
    admin_port: u16,
    /// Port of the `upstream` cluster's endpoint.
    #[arg(long)]
    upstream_port: u16,
    /// Port of the ext_proc server (`warden` cluster); without it, no ext_proc filter.
    #[arg(long)]
    extproc_port: Option<u16>,
    /// Drop the HTTP access log (keeps logging out of the measurement).
    #[arg(long)]
    no_access_log: bool,
    /// Where to write the config.
    #[arg(long)]
    out: PathBuf,
}

fn get_mut<'a>(value: &'a mut Value, key: &str, what: &str) -> Result<&'a mut Value, String> {
    value
        .get_mut(key)
        .ok_or_else(|| format!("{what}: no `{key}`"))
}

fn seq_mut<'a>(value: &'a mut Value, key: &str, what: &str) -> Result<&'a mut Vec<Value>, String> {
    get_mut(value, key, what)?
        .as_sequence_mut()
        .ok_or_else(|| format!("{what}: `{key}` is not a list"))
}

fn named_mut<'a>(list: &'a mut [Value], name: &str, what: &str) -> Result<&'a mut Value, String> {
    list.iter_mut()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| format!("{what}: nothing named `{name}`"))
}

fn set_port(address: &mut Value, port: u16, what: &str) -> Result<(), String> {
    let socket = get_mut(address, "socket_address", what)?
        .as_mapping_mut()
        .ok_or_else(|| format!("{what}: socket_address is not a mapping"))?;
    socket.insert("port_value".into(), Value::from(port));
    Ok(())
}

/// The address of a cluster's first endpoint.
fn endpoint_address<'a>(cluster: &'a mut Value, what: &str) -> Result<&'a mut Value, String> {
    let assignment = get_mut(cluster, "load_assignment", what)?;
    let endpoints = seq_mut(assignment, "endpoints", what)?;
    let first = endpoints
        .first_mut()
        .ok_or_else(|| format!("{what}: no endpoints"))?;
    let lb = seq_mut(first, "lb_endpoints", what)?
        .first_mut()
        .ok_or_else(|| format!("{what}: no lb_endpoints"))?;
    get_mut(get_mut(lb, "endpoint", what)?, "address", what)
}

fn rewrite(config: &mut Value, args: &Args) -> Result<(), String> {
    let admin = get_mut(get_mut(config, "admin", "admin")?, "address", "admin")?;
    set_port(admin, args.admin_port, "admin")?;

    let resources = get_mut(config, "static_resources", "bootstrap")?;
    let listeners = seq_mut(resources, "listeners", "static_resources")?;
    let ingress = named_mut(listeners, "ingress", "listeners")?;
    set_port(
        get_mut(ingress, "address", "listener ingress")?,
        args.listen_port,
        "listener ingress",
    )?;
    for chain in seq_mut(ingress, "filter_chains", "listener ingress")? {
        for filter in seq_mut(chain, "filters", "filter chain")? {
            let Some(hcm) = filter.get_mut("typed_config") else {
                continue;
            };
            let Some(hcm) = hcm.as_mapping_mut() else {
                continue;
            };
            if args.no_access_log {
                hcm.remove("access_log");
            }
            if args.extproc_port.is_none() {
                if let Some(Value::Sequence(http_filters)) = hcm.get_mut("http_filters") {
                    http_filters.retain(|f| {
                        f.get("name").and_then(Value::as_str) != Some("envoy.filters.http.ext_proc")
                    });
                }
            }
        }
    }

    let clusters = seq_mut(resources, "clusters", "static_resources")?;
    let upstream = named_mut(clusters, "upstream", "clusters")?;
    set_port(
        endpoint_address(upstream, "cluster upstream")?,
        args.upstream_port,
        "cluster upstream",
    )?;
    match args.extproc_port {
        Some(port) => {
            let warden = named_mut(clusters, "warden", "clusters")?;
            set_port(
                endpoint_address(warden, "cluster warden")?,
                port,
                "cluster warden",
            )?;
        }
        None => clusters.retain(|c| c.get("name").and_then(Value::as_str) != Some("warden")),
    }
    Ok(())
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let base = args
        .base
        .clone()
        .unwrap_or_else(|| paths::repo_root().join("envoy").join("local-demo.yaml"));
    let text = std::fs::read_to_string(&base)
        .map_err(|e| format!("cannot read {}: {e}", base.display()))?;
    let mut config: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("{} is not valid YAML: {e}", base.display()))?;
    if !config.is_mapping() {
        config = Value::Mapping(Mapping::new());
    }
    rewrite(&mut config, &args).map_err(|e| format!("{}: {e}", base.display()))?;
    let out = serde_yaml_ng::to_string(&config).map_err(|e| format!("cannot write YAML: {e}"))?;
    std::fs::write(&args.out, out)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    Ok(())
}
