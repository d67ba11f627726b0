//! The docker compose demo (`compose/`), checked without a Docker engine.
//!
//! - every YAML file there parses, and the compose file deserialises into typed structs
//!   that reject fields they do not know;
//! - `compose/envoy.yaml` and `compose/warden.yaml` are what `compose/generate` makes from
//!   the local demo's configs (so the two demos cannot drift);
//! - every host name the Envoy, Warden and collector configs point at is a compose service
//!   listening on that port (its `expose` list), and every command's `--listen` port is
//!   exposed;
//! - every file a service mounts or an image copies exists in the repo;
//! - the Envoy config passes `envoy --mode validate`, the Warden config passes
//!   `warden check-config` (with container paths mapped onto a temporary directory that
//!   mirrors the mounts), and the collector wires its OTLP receiver to Jaeger;
//! - the images run as non-root, and Warden's final image copies only the binary;
//! - the git and MCP servers the images run actually serve (on loopback).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;
use warden_integration_tests::paths;
use warden_integration_tests::process::{free_port, poll_until, ChildProcess};
use warden_integration_tests::stack::http1_client;

// ------------------------------------------------------------------ the compose file, typed

/// The parts of the compose file the demo uses. Unknown fields are errors: a field this
/// test does not model is a field it does not check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComposeFile {
    name: String,
    services: BTreeMap<String, Service>,
    #[serde(default)]
    volumes: BTreeMap<String, Option<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    image: String,
    #[serde(default)]
    build: Option<Build>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    volumes: Vec<String>,
    #[serde(default)]
    ports: Vec<String>,
    /// The ports the service listens on inside the compose network.
    expose: Vec<u16>,
    #[serde(default)]
    depends_on: BTreeMap<String, DependsOn>,
    #[serde(default)]
    healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Build {
    context: String,
    dockerfile: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DependsOn {
    condition: Condition,
}

/// `depends_on.<service>.condition`: what the dependency must have reached.
#[derive(Debug, Deserialize, PartialEq, Eq)]
enum Condition {
    #[serde(rename = "service_started")]
    Started,
    #[serde(rename = "service_healthy")]
    Healthy,
    #[serde(rename = "service_completed_successfully")]
    CompletedSuccessfully,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Healthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    #[serde(default)]
    start_period: Option<String>,
}

/// One `volumes:` entry of a service: `SOURCE:TARGET[:MODE]`.
#[derive(Debug)]
struct Mount {
    source: String,
    target: String,
    /// A bind mount of a repo path (source starts with `.` or `/`), else a named volume.
    bind: bool,
}

impl Mount {
    fn parse(spec: &str) -> Mount {
        let mut parts = spec.splitn(3, ':');
        let source = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let bind = source.starts_with('.') || source.starts_with('/');
        Mount {
            source,
            target,
            bind,
        }
    }
}

fn compose_dir() -> PathBuf {
    paths::repo_root().join("compose")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn compose_file() -> ComposeFile {
    let path = compose_dir().join("docker-compose.yaml");
    let text = read(&path);
    let deserializer = serde_yaml_ng::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(deserializer).unwrap_or_else(|e| {
        panic!(
            "{} does not match the typed model at {}: {}",
            path.display(),
            e.path(),
            e.inner()
        )
    })
}

fn service<'a>(compose: &'a ComposeFile, name: &str) -> &'a Service {
    compose.services.get(name).unwrap_or_else(|| {
        panic!(
            "compose/docker-compose.yaml has no service `{name}` (services: {:?})",
            compose.services.keys().collect::<Vec<_>>()
        )
    })
}

/// Asserts `host:port` names a compose service that exposes `port`.
fn assert_service_port(compose: &ComposeFile, what: &str, host: &str, port: u16) {
    let Some(service) = compose.services.get(host) else {
        panic!(
            "{what} points at host `{host}`, which is not a compose service (services: {:?})",
            compose.services.keys().collect::<Vec<_>>()
        );
    };
    assert!(
        service.expose.contains(&port),
        "{what} points at {host}:{port}, but service `{host}` listens on {:?} (its `expose`)",
        service.expose
    );
}

/// Host and port of an `http://host:port...` or `postgres://user@host:port/db` URL.
fn url_host_port(url: &str) -> (String, u16) {
    let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url:?} is not a URL: {e}"));
    let host = parsed
        .host_str()
        .unwrap_or_else(|| panic!("{url:?} has no host"))
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .or_else(|| (parsed.scheme() == "postgres").then_some(5432))
        .unwrap_or_else(|| panic!("{url:?} has no port"));
    (host, port)
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{addr:?} is not HOST:PORT"))
}

// ------------------------------------------------------------------ parsing and generation

#[test]
fn every_yaml_file_parses() {
    let mut checked = 0;
    for entry in std::fs::read_dir(compose_dir()).expect("compose/ is readable") {
        let path = entry.expect("compose/ entry").path();
        if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            let value = yaml(&path);
            assert!(
                value.is_mapping(),
                "{} is not a YAML mapping",
                path.display()
            );
            checked += 1;
        }
    }
    // docker-compose, envoy, warden, local-warden, otel-collector.
    assert!(checked >= 5, "only {checked} YAML files found in compose/");
}

#[test]
fn the_generated_configs_are_up_to_date() {
    let out = tempfile::tempdir().expect("temp dir");
    let status = Command::new(env!("CARGO_BIN_EXE_compose_generate"))
        .arg("--out-dir")
        .arg(out.path())
        .status()
        .expect("run compose_generate");
    assert!(status.success(), "compose_generate failed: {status}");
    for name in ["envoy.yaml", "warden.yaml"] {
        let fresh = read(&out.path().join(name));
        let committed = read(&compose_dir().join(name));
        assert!(
            fresh == committed,
            "compose/{name} is stale: run compose/generate and commit the result"
        );
    }
    // --check agrees.
    let check = Command::new(env!("CARGO_BIN_EXE_compose_generate"))
        .arg("--check")
        .status()
        .expect("run compose_generate --check");
    assert!(
        check.success(),
        "compose/generate --check reports stale files"
    );
}

#[test]
fn the_generated_envoy_config_keeps_the_local_demo_s_filters() {
    // Generation must only move addresses and add routes/clusters: the listener's HTTP
    // filters (ext_proc settings above all) are the local demo's, byte for byte.
    let root = paths::repo_root();
    let local = yaml(&root.join("envoy/local-demo.yaml"));
    let compose = yaml(&compose_dir().join("envoy.yaml"));
    let filters = |config: &Value| {
        config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
            ["http_filters"]
            .clone()
    };
    assert!(
        filters(&local).is_sequence(),
        "local-demo.yaml: no http_filters"
    );
    assert_eq!(filters(&local), filters(&compose));
    let clusters = compose["static_resources"]["clusters"]
        .as_sequence()
        .expect("compose envoy.yaml has clusters");
    let warden = clusters
        .iter()
        .find(|c| c["name"] == "warden")
        .expect("cluster warden");
    assert!(
        !warden["typed_extension_protocol_options"].is_null(),
        "the warden cluster lost its HTTP/2 protocol options"
    );
}

// ------------------------------------------------------------------ the compose file

#[test]
fn the_compose_file_has_the_demo_services() {
    let compose = compose_file();
    assert_eq!(compose.name, "warden-demo");
    for name in [
        "envoy",
        "warden",
        "issuer",
        "upstream",
        "git",
        "mcp",
        "postgres",
        "otel-collector",
        "jaeger",
    ] {
        service(&compose, name);
    }
    for (name, service) in &compose.services {
        // Images are pinned (no floating `latest`), or built here (`:local`).
        let tag = service.image.rsplit_once(':').map(|(_, tag)| tag);
        assert!(
            tag.is_some_and(|t| t != "latest"),
            "service {name}: image {} has no pinned tag",
            service.image
        );
        assert_eq!(
            service.build.is_some(),
            tag == Some("local"),
            "service {name}: an image tagged :local must be built here, and only those"
        );
        for (dependency, on) in &service.depends_on {
            let target = service_or_panic(&compose, name, dependency);
            if on.condition == Condition::Healthy {
                assert!(
                    target.healthcheck.is_some(),
                    "service {name} waits for {dependency} to be healthy, which has no healthcheck"
                );
            }
        }
        if let Some(check) = &service.healthcheck {
            assert!(
                matches!(
                    check.test.first().map(String::as_str),
                    Some("CMD" | "CMD-SHELL")
                ),
                "service {name}: healthcheck test must start with CMD or CMD-SHELL"
            );
            assert!(check.retries > 0, "service {name}: healthcheck retries 0");
            for duration in [
                Some(&check.interval),
                Some(&check.timeout),
                check.start_period.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(
                    duration.ends_with('s')
                        && duration.trim_end_matches('s').parse::<u32>().is_ok(),
                    "service {name}: healthcheck duration {duration:?} is not N s"
                );
            }
        }
        for port in &service.ports {
            // HOST_IP:HOST_PORT:CONTAINER_PORT, published on loopback only.
            let parts: Vec<&str> = port.split(':').collect();
            let [ip, _, container] = parts.as_slice() else {
                panic!("service {name}: port {port:?} is not 127.0.0.1:HOST:CONTAINER");
            };
            assert_eq!(
                *ip, "127.0.0.1",
                "service {name}: port {port} must bind loopback"
            );
            let container: u16 = container
                .parse()
                .unwrap_or_else(|_| panic!("service {name}: port {port:?}"));
            assert!(
                service.expose.contains(&container),
                "service {name} publishes {container}, which it does not listen on ({:?})",
                service.expose
            );
        }
        for spec in &service.volumes {
            let mount = Mount::parse(spec);
            assert!(
                mount.target.starts_with('/'),
                "service {name}: volume {spec:?} has no absolute target"
            );
            if !mount.bind {
                assert!(
                    compose.volumes.contains_key(&mount.source),
                    "service {name} mounts volume `{}`, not declared under top-level volumes",
                    mount.source
                );
            }
        }
    }
    // Start order: Envoy after everything it routes to; Warden after its store and issuer.
    let envoy = service(&compose, "envoy");
    for dependency in ["warden", "upstream", "git", "mcp"] {
        assert!(
            envoy
                .depends_on
                .get(dependency)
                .is_some_and(|d| d.condition == Condition::Healthy),
            "envoy must wait for {dependency} to be healthy"
        );
    }
    let warden = service(&compose, "warden");
    assert_eq!(
        warden.hostname.as_deref(),
        Some("warden"),
        "warden's hostname names its audit chain: keep it stable"
    );
    for dependency in ["postgres", "issuer"] {
        assert!(
            warden
                .depends_on
                .get(dependency)
                .is_some_and(|d| d.condition == Condition::Healthy),
            "warden must wait for {dependency} to be healthy"
        );
    }
    let postgres = service(&compose, "postgres");
    let store = yaml(&compose_dir().join("warden.yaml"))["approvals"]["store"]
        .as_str()
        .expect("approvals.store")
        .to_owned();
    let url = reqwest::Url::parse(&store).expect("approvals.store is a URL");
    assert_eq!(
        Some(url.username()),
        postgres
            .environment
            .get("POSTGRES_USER")
            .map(String::as_str)
    );
    assert_eq!(
        url.password(),
        postgres
            .environment
            .get("POSTGRES_PASSWORD")
            .map(String::as_str)
    );
    assert_eq!(
        Some(url.path().trim_start_matches('/')),
        postgres.environment.get("POSTGRES_DB").map(String::as_str)
    );
}

fn service_or_panic<'a>(compose: &'a ComposeFile, from: &str, name: &str) -> &'a Service {
    compose.services.get(name).unwrap_or_else(|| {
        panic!("service {from} depends on `{name}`, which is not a compose service")
    })
}

#[test]
fn every_command_listens_where_its_service_exposes() {
    let compose = compose_file();
    let mut checked = 0;
    for (name, service) in &compose.services {
        for pair in service.command.windows(2) {
            if pair[0] == "--listen" {
                let port = port_of(&pair[1]);
                assert!(
                    pair[1].starts_with("0.0.0.0:"),
                    "service {name}: --listen {} must be 0.0.0.0 to be reachable",
                    pair[1]
                );
                assert!(
                    service.expose.contains(&port),
                    "service {name} listens on {port}, not in its expose {:?}",
                    service.expose
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "no --listen found (issuer, upstream)");
    // The images built from their own Dockerfiles: EXPOSE and CMD port agree with compose.
    for name in ["git", "mcp"] {
        let service = service(&compose, name);
        let build = service.build.as_ref().expect("built here");
        let dockerfile = read(&compose_dir().join(&build.context).join(&build.dockerfile));
        let exposed: Vec<u16> = instructions(&dockerfile)
            .into_iter()
            .filter(|(op, _)| op == "EXPOSE")
            .flat_map(|(_, args)| {
                args.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u16>>()
            })
            .collect();
        assert_eq!(
            exposed, service.expose,
            "{}: EXPOSE vs compose",
            build.dockerfile
        );
    }
}

#[test]
fn every_mounted_and_copied_file_exists() {
    let compose = compose_file();
    let dir = compose_dir();
    let mut checked = 0;
    for (name, service) in &compose.services {
        for spec in &service.volumes {
            let mount = Mount::parse(spec);
            if mount.bind {
                let source = dir.join(&mount.source);
                assert!(
                    source.exists(),
                    "service {name} mounts {}, which does not exist ({})",
                    mount.source,
                    source.display()
                );
                checked += 1;
            }
        }
        if let Some(build) = &service.build {
            let context = dir.join(&build.context);
            let dockerfile = context.join(&build.dockerfile);
            assert!(
                dockerfile.is_file(),
                "service {name}: no {}",
                dockerfile.display()
            );
            for (op, args) in instructions(&read(&dockerfile)) {
                if op != "COPY" || args.starts_with("--from=") {
                    continue;
                }
                let words: Vec<&str> = args.split_whitespace().collect();
                let Some((_, sources)) = words.split_last() else {
                    panic!("{}: empty COPY", dockerfile.display());
                };
                for source in sources {
                    assert!(
                        context.join(source).exists(),
                        "{}: COPY {source}: no such file in the build context {}",
                        dockerfile.display(),
                        context.display()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 8, "only {checked} mounts and copies checked");
    // Build outputs and local state stay out of every build context.
    let ignore = read(&paths::repo_root().join(".dockerignore"));
    for excluded in ["target/", ".venv/", ".demo/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == excluded),
            ".dockerignore does not exclude {excluded}"
        );
    }
}

// ------------------------------------------------------------------ Envoy

#[test]
fn envoy_points_at_compose_services() {
    let compose = compose_file();
    let config = yaml(&compose_dir().join("envoy.yaml"));
    let clusters = config["static_resources"]["clusters"]
        .as_sequence()
        .expect("static_resources.clusters");
    let mut names = BTreeSet::new();
    for cluster in clusters {
        let name = cluster["name"].as_str().expect("cluster name");
        names.insert(name.to_owned());
        let kind = cluster["type"].as_str().unwrap_or("STATIC");
        let endpoints = cluster["load_assignment"]["endpoints"]
            .as_sequence()
            .expect("endpoints");
        for group in endpoints {
            for lb in group["lb_endpoints"].as_sequence().expect("lb_endpoints") {
                let socket = &lb["endpoint"]["address"]["socket_address"];
                let host = socket["address"].as_str().expect("address");
                let port = socket["port_value"].as_u64().expect("port_value");
                let port = u16::try_from(port).expect("port fits u16");
                assert!(
                    kind == "STRICT_DNS" || kind == "LOGICAL_DNS",
                    "cluster {name} resolves the name {host} but is {kind}"
                );
                assert_service_port(&compose, &format!("envoy cluster {name}"), host, port);
            }
        }
    }
    for expected in ["warden", "upstream", "git", "mcp", "otel_collector"] {
        assert!(
            names.contains(expected),
            "envoy.yaml has no cluster {expected}"
        );
    }
    // Every route goes to a defined cluster.
    let hcm = &config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_sequence()
        .expect("routes");
    for route in routes {
        let cluster = route["route"]["cluster"].as_str().expect("route cluster");
        assert!(
            names.contains(cluster),
            "a route goes to unknown cluster {cluster}"
        );
    }
    assert_eq!(
        routes.last().map(|r| &r["match"]["prefix"]),
        Some(&Value::from("/")),
        "the catch-all route must come last"
    );
    // Tracing goes to the collector cluster.
    assert_eq!(
        hcm["tracing"]["provider"]["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"],
        Value::from("otel_collector")
    );
    // The listener and admin listen where the envoy service exposes.
    let envoy = service(&compose, "envoy");
    for (what, socket) in [
        (
            "listener",
            &config["static_resources"]["listeners"][0]["address"]["socket_address"],
        ),
        ("admin", &config["admin"]["address"]["socket_address"]),
    ] {
        assert_eq!(
            socket["address"],
            Value::from("0.0.0.0"),
            "envoy {what} address"
        );
        let port = u16::try_from(socket["port_value"].as_u64().expect("port")).expect("u16");
        assert!(
            envoy.expose.contains(&port),
            "envoy {what} port {port} not exposed"
        );
    }
    let mount = envoy
        .volumes
        .iter()
        .map(|v| Mount::parse(v))
        .find(|m| m.source == "./envoy.yaml")
        .expect("envoy mounts ./envoy.yaml");
    assert!(
        envoy
            .command
            .windows(2)
            .any(|w| w[0] == "-c" && w[1] == mount.target),
        "envoy's command must load the mounted config {}",
        mount.target
    );
}

#[test]
fn the_envoy_image_is_the_tested_version() {
    let envoy = paths::envoy_bin().unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(&envoy)
        .arg("--version")
        .output()
        .expect("envoy --version");
    let text = String::from_utf8_lossy(&output.stdout);
    // "<path>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
    let version = text
        .split_once("version:")
        .and_then(|(_, build)| build.split('/').nth(1))
        .unwrap_or_else(|| panic!("cannot read a version from {text:?}"));
    let compose = compose_file();
    assert_eq!(
        service(&compose, "envoy").image,
        format!("envoyproxy/envoy:v{version}"),
        "compose's Envoy image must be the version the tests run ({})",
        envoy.display()
    );
}

#[test]
fn the_compose_envoy_config_validates() {
    let envoy = paths::envoy_bin().unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(&envoy)
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(compose_dir().join("envoy.yaml"))
        .output()
        .expect("run envoy --mode validate");
    assert!(
        output.status.success(),
        "envoy --mode validate compose/envoy.yaml failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ------------------------------------------------------------------ Warden

#[test]
fn warden_points_at_compose_services() {
    let compose = compose_file();
    let config = yaml(&compose_dir().join("warden.yaml"));
    let warden = service(&compose, "warden");
    let grpc = port_of(config["listen"]["tcp"].as_str().expect("listen.tcp"));
    let admin = port_of(
        config["approvals"]["admin"]["listen"]
            .as_str()
            .expect("approvals.admin.listen"),
    );
    for port in [grpc, admin] {
        assert!(
            warden.expose.contains(&port),
            "warden listens on {port}, not exposed"
        );
    }
    let mut urls = vec![
        ("approvals.store", config["approvals"]["store"].as_str()),
        (
            "audit.otlp.endpoint",
            config["audit"]["otlp"]["endpoint"].as_str(),
        ),
    ];
    for issuer in config["identity"]["issuers"]
        .as_sequence()
        .expect("issuers")
    {
        urls.push(("identity.issuers[].issuer", issuer["issuer"].as_str()));
        urls.push(("identity.issuers[].jwks_uri", issuer["jwks_uri"].as_str()));
    }
    for (what, url) in urls {
        let url = url.unwrap_or_else(|| panic!("warden.yaml: no {what}"));
        let (host, port) = url_host_port(url);
        assert_service_port(&compose, &format!("warden.yaml {what}"), &host, port);
    }
    // Tokens minted as the README says carry the issuer Warden trusts.
    let issuer = config["identity"]["issuers"][0]["issuer"]
        .as_str()
        .expect("issuer");
    let readme = read(&compose_dir().join("README.md"));
    assert!(
        readme.contains(&format!("--issuer {issuer}")),
        "compose/README.md must mint tokens with --issuer {issuer}"
    );
}

/// Keys of Warden's config whose values are file system paths.
const PATH_KEYS: &[&str] = &["dir", "log_dir", "file", "signing_key", "unix"];

/// Calls `visit` on every path-valued string in `value` (see [`PATH_KEYS`]).
fn visit_paths(value: &mut Value, visit: &mut dyn FnMut(&mut String)) {
    match value {
        Value::Sequence(items) => items.iter_mut().for_each(|v| visit_paths(v, visit)),
        Value::Mapping(entries) => {
            for (key, v) in entries.iter_mut() {
                match v {
                    Value::String(text) if key.as_str().is_some_and(|k| PATH_KEYS.contains(&k)) => {
                        visit(text)
                    }
                    _ => visit_paths(v, visit),
                }
            }
        }
        _ => {}
    }
}

/// The mirrored path of container path `path`, if a mount in `map` provides it.
fn mirror_of(path: &str, map: &[(String, PathBuf)]) -> Option<PathBuf> {
    map.iter().find_map(|(target, mirror)| {
        let rest = path.strip_prefix(target.as_str())?;
        if rest.is_empty() {
            Some(mirror.clone())
        } else {
            rest.strip_prefix('/').map(|rest| mirror.join(rest))
        }
    })
}

#[test]
fn the_compose_warden_config_passes_check_config() {
    let compose = compose_file();
    let warden = service(&compose, "warden");
    let dir = compose_dir();
    let mirror = tempfile::tempdir().expect("temp dir");
    // Each mount's target, mirrored in the temp dir: bind mounts point at the repo file,
    // named volumes are empty directories, as on a first `docker compose up`.
    // A named volume is one directory, whichever service mounts it where.
    let volume_dir = |name: &str| {
        let empty = mirror.path().join("volumes").join(name);
        std::fs::create_dir_all(&empty).expect("mirror a volume");
        empty
    };
    let mut map = Vec::new();
    for spec in &warden.volumes {
        let mount = Mount::parse(spec);
        let mirrored = if mount.bind {
            let source = dir.join(&mount.source);
            source
                .canonicalize()
                .unwrap_or_else(|e| panic!("warden mounts {}: {e}", source.display()))
        } else {
            volume_dir(&mount.source)
        };
        map.push((mount.target.clone(), mirrored));
    }
    // One-shot services Warden waits for (the audit key) fill its volumes first: run
    // them as `docker compose up` would, with their container paths mapped the same way.
    for (dependency, on) in &warden.depends_on {
        if on.condition != Condition::CompletedSuccessfully {
            continue;
        }
        let oneshot = service(&compose, dependency);
        assert_eq!(
            oneshot.image, warden.image,
            "one-shot service {dependency} is expected to run the warden image"
        );
        let mut oneshot_map = Vec::new();
        for spec in &oneshot.volumes {
            let mount = Mount::parse(spec);
            assert!(!mount.bind, "{dependency} mounts a repo path: {spec}");
            oneshot_map.push((mount.target.clone(), volume_dir(&mount.source)));
        }
        let args: Vec<String> = oneshot
            .command
            .iter()
            .map(|arg| match mirror_of(arg, &oneshot_map) {
                Some(mirrored) => mirrored.display().to_string(),
                None => arg.clone(),
            })
            .collect();
        let bin = paths::warden_bin().unwrap_or_else(|e| panic!("{e}"));
        for run in 0..2 {
            // Twice: a second `up` must keep what the first made.
            let output = Command::new(&bin)
                .args(&args)
                .current_dir(mirror.path())
                .output()
                .expect("run the one-shot service's command");
            assert!(
                output.status.success(),
                "{dependency} (run {run}): warden {args:?} failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    let config_target = warden
        .command
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .expect("warden's command names --config");
    let (_, config_source) = map
        .iter()
        .find(|(target, _)| *target == config_target)
        .unwrap_or_else(|| panic!("warden loads {config_target}, which is not mounted"));
    let mut config = yaml(config_source);
    // Every path is absolute (the working directory is the image's, not the repo's), is
    // provided by a mount, and exists there (check-config does not read credential files).
    let mut problems = Vec::new();
    let mut paths_seen = Vec::new();
    visit_paths(&mut config, &mut |text| {
        paths_seen.push(text.clone());
        match mirror_of(text, &map) {
            Some(mirrored) if mirrored.exists() => *text = mirrored.display().to_string(),
            Some(mirrored) => problems.push(format!("{text} (mirrored: {})", mirrored.display())),
            None => problems.push(format!("{text} (no mount provides it)")),
        }
    });
    assert!(
        problems.is_empty(),
        "compose/warden.yaml names paths missing in the container: {problems:?}"
    );
    for expected in [
        "/etc/warden/policies",
        "/etc/warden/upstream-token",
        "/var/lib/warden/audit",
        "/var/lib/warden/audit-key/audit-key.pem",
    ] {
        assert!(
            paths_seen.iter().any(|p| p == expected),
            "compose/warden.yaml does not use {expected} (paths: {paths_seen:?})"
        );
    }
    let mapped = mirror.path().join("warden.yaml");
    std::fs::write(
        &mapped,
        serde_yaml_ng::to_string(&config).expect("print YAML"),
    )
    .expect("write the mapped config");
    let bin = paths::warden_bin().unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(bin)
        .arg("check-config")
        .arg(&mapped)
        .current_dir(mirror.path())
        .output()
        .expect("run warden check-config");
    assert!(
        output.status.success(),
        "warden check-config on compose/warden.yaml (container paths mapped to {}) failed:\n{}{}",
        mirror.path().display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ------------------------------------------------------------------ OpenTelemetry collector

/// The collector config, typed as far as the demo uses it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Collector {
    receivers: BTreeMap<String, Value>,
    #[serde(default)]
    processors: BTreeMap<String, Value>,
    exporters: BTreeMap<String, Value>,
    #[serde(default)]
    extensions: BTreeMap<String, Value>,
    service: CollectorService,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectorService {
    #[serde(default)]
    extensions: Vec<String>,
    pipelines: BTreeMap<String, Pipeline>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pipeline {
    receivers: Vec<String>,
    #[serde(default)]
    processors: Vec<String>,
    exporters: Vec<String>,
}

#[test]
fn the_collector_sends_otlp_to_jaeger() {
    let compose = compose_file();
    let collector_service = service(&compose, "otel-collector");
    let mount = collector_service
        .volumes
        .iter()
        .map(|v| Mount::parse(v))
        .find(|m| m.source == "./otel-collector.yaml")
        .expect("otel-collector mounts ./otel-collector.yaml");
    assert!(
        collector_service
            .command
            .iter()
            .any(|arg| *arg == format!("--config={}", mount.target)),
        "the collector's command must load {}",
        mount.target
    );
    let path = compose_dir().join("otel-collector.yaml");
    let collector: Collector =
        serde_yaml_ng::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let traces = collector
        .service
        .pipelines
        .get("traces")
        .expect("a traces pipeline");
    // Every component a pipeline names is defined (the collector refuses to start otherwise).
    for (kind, names, defined) in [
        ("receiver", &traces.receivers, &collector.receivers),
        ("processor", &traces.processors, &collector.processors),
        ("exporter", &traces.exporters, &collector.exporters),
        (
            "extension",
            &collector.service.extensions,
            &collector.extensions,
        ),
    ] {
        for name in names {
            assert!(
                defined.contains_key(name),
                "{kind} {name} is used but not defined"
            );
        }
    }
    // OTLP/gRPC in, on the port Warden and Envoy send to.
    assert!(
        traces.receivers.iter().any(|r| r == "otlp"),
        "no otlp receiver in traces"
    );
    let grpc = collector.receivers["otlp"]["protocols"]["grpc"]["endpoint"]
        .as_str()
        .expect("otlp grpc endpoint");
    assert!(
        grpc.starts_with("0.0.0.0:"),
        "the OTLP receiver must listen on 0.0.0.0"
    );
    let port = port_of(grpc);
    assert!(
        collector_service.expose.contains(&port),
        "receiver port {port} not exposed"
    );
    let warden = yaml(&compose_dir().join("warden.yaml"));
    let (_, warden_port) = url_host_port(
        warden["audit"]["otlp"]["endpoint"]
            .as_str()
            .expect("audit.otlp.endpoint"),
    );
    assert_eq!(
        warden_port, port,
        "Warden sends OTLP to another port than the receiver's"
    );
    // OTLP out, to Jaeger's OTLP port.
    let jaeger_exporters: Vec<&String> = traces
        .exporters
        .iter()
        .filter(|name| name.split('/').next() == Some("otlp"))
        .filter(|name| {
            collector.exporters[name.as_str()]["endpoint"]
                .as_str()
                .is_some_and(|e| e.starts_with("jaeger:"))
        })
        .collect();
    let [exporter] = jaeger_exporters.as_slice() else {
        panic!("the traces pipeline needs exactly one otlp exporter to jaeger, has {jaeger_exporters:?}");
    };
    let endpoint = collector.exporters[exporter.as_str()]["endpoint"]
        .as_str()
        .expect("endpoint");
    assert_service_port(
        &compose,
        "the collector's Jaeger exporter",
        "jaeger",
        port_of(endpoint),
    );
    let jaeger = service(&compose, "jaeger");
    assert_eq!(
        jaeger
            .environment
            .get("COLLECTOR_OTLP_ENABLED")
            .map(String::as_str),
        Some("true")
    );
    assert!(
        jaeger.ports.iter().any(|p| p.ends_with(":16686")),
        "Jaeger's UI (16686) is not published"
    );
}

// ------------------------------------------------------------------ Dockerfiles

/// A Dockerfile's instructions as (OPERATION, arguments), continuation lines joined and
/// comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (op, args) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        out.push((op.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

/// The instructions of the last stage (from its `FROM` on).
fn final_stage(text: &str) -> Vec<(String, String)> {
    let all = instructions(text);
    let start = all
        .iter()
        .rposition(|(op, _)| op == "FROM")
        .expect("a FROM");
    all[start..].to_vec()
}

/// Whether a stage runs as a non-root user: a `:nonroot` base, or a last `USER` that is
/// neither root nor uid 0.
fn runs_as_non_root(stage: &[(String, String)]) -> bool {
    let base_nonroot = stage.first().is_some_and(|(_, base)| {
        base.split_whitespace()
            .next()
            .is_some_and(|b| b.ends_with(":nonroot"))
    });
    let user = stage
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, u)| u.split(':').next().unwrap_or_default().to_owned());
    match user {
        Some(user) => user != "root" && user != "0",
        None => base_nonroot,
    }
}

#[test]
fn the_warden_image_is_small_and_non_root() {
    let path = compose_dir().join("Dockerfile");
    let text = read(&path);
    let all = instructions(&text);
    assert!(
        all.iter()
            .any(|(op, args)| op == "RUN"
                && args.contains("cargo build --release --locked -p warden")),
        "{}: the builder must run `cargo build --release --locked -p warden`",
        path.display()
    );
    assert!(
        all.iter()
            .any(|(op, args)| op == "RUN" && args.contains("cargo chef cook")),
        "{}: the dependencies must be built in a layer of their own (cargo chef cook)",
        path.display()
    );
    let stage = final_stage(&text);
    assert!(
        runs_as_non_root(&stage),
        "{}: the final stage runs as root",
        path.display()
    );
    let copies: Vec<&String> = stage
        .iter()
        .filter(|(op, _)| op == "COPY" || op == "ADD")
        .map(|(_, args)| args)
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "{}: the final stage must copy the binary only, copies {copies:?}",
        path.display()
    );
    let words: Vec<&str> = copies[0].split_whitespace().collect();
    assert!(
        matches!(words.as_slice(), [from, source, target]
            if from.starts_with("--from=") && source.ends_with("/warden") && target.ends_with("/warden")),
        "{}: the final stage's COPY must be `--from=<builder> .../warden .../warden`, is {words:?}",
        path.display()
    );
    // The entrypoint is the copied binary.
    let target = words[2];
    assert!(
        stage
            .iter()
            .any(|(op, args)| op == "ENTRYPOINT" && args.contains(target)),
        "{}: ENTRYPOINT must run {target}",
        path.display()
    );
}

#[test]
fn every_demo_image_runs_as_non_root() {
    let compose = compose_file();
    let mut checked = 0;
    for (name, service) in &compose.services {
        let Some(build) = &service.build else {
            continue;
        };
        let path = compose_dir().join(&build.context).join(&build.dockerfile);
        assert!(
            runs_as_non_root(&final_stage(&read(&path))),
            "service {name}: {} runs as root",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} built images");
}

// ------------------------------------------------------------------ the git and MCP servers

fn python() -> PathBuf {
    std::env::var_os("WARDEN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::repo_root().join(".venv/bin/python"))
}

async fn http_ok(url: &str) -> bool {
    http1_client()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn git(args: &[&str], dir: &Path) {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git (install git)");
    assert!(
        output.status.success(),
        "git {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_git_server_serves_clone_and_push() {
    let root = tempfile::tempdir().expect("temp dir");
    let repos = root.path().join("repos");
    std::fs::create_dir(&repos).expect("repos dir");
    let port = free_port().expect("free port");
    let mut command = Command::new(python());
    command
        .arg(compose_dir().join("git/server.py"))
        .arg(port.to_string())
        .env("GIT_PROJECT_ROOT", &repos)
        .env("GIT_LISTEN_HOST", "127.0.0.1");
    let mut server = ChildProcess::spawn("git-server", command, root.path()).expect("start");
    let health = format!("http://127.0.0.1:{port}/healthz");
    let ready = poll_until(
        "the git server's /healthz",
        Duration::from_secs(30),
        || async { http_ok(&health).await.then_some(()) },
    )
    .await;
    if let Err(e) = ready {
        server.ensure_running().expect("git server running");
        panic!("{e}\n{}", server.log_tail());
    }
    let url = format!("http://127.0.0.1:{port}/git/demo.git");
    git(&["clone", "--quiet", &url, "clone"], root.path());
    let clone = root.path().join("clone");
    assert!(
        clone.join("README.md").is_file(),
        "the demo repository has no README.md on main"
    );
    git(
        &["commit", "--quiet", "--allow-empty", "-m", "change"],
        &clone,
    );
    git(
        &["push", "--quiet", "origin", "HEAD:refs/heads/feature"],
        &clone,
    );
    let output = Command::new("git")
        .args(["ls-remote", &url])
        .output()
        .expect("git ls-remote");
    let refs = String::from_utf8_lossy(&output.stdout);
    assert!(
        refs.contains("refs/heads/feature") && refs.contains("refs/heads/main"),
        "the push did not arrive: {refs}\n{}",
        server.log_tail()
    );
}

#[tokio::test]
async fn the_mcp_server_answers_for_its_compose_host_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port().expect("free port");
    let mut command = Command::new(python());
    command
        .arg(compose_dir().join("mcp/serve.py"))
        .arg(port.to_string())
        // In the image server.py sits next to serve.py; here it is the tests' copy.
        .env(
            "PYTHONPATH",
            paths::repo_root().join("integration-tests/mcp"),
        )
        .env("MCP_LISTEN_HOST", "127.0.0.1");
    let mut server = ChildProcess::spawn("mcp-server", command, dir.path()).expect("start");
    let url = format!("http://127.0.0.1:{port}/mcp");
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {},
                   "clientInfo": {"name": "compose-test", "version": "1"}}
    });
    let client = http1_client();
    let post = |host: String| {
        client
            .post(&url)
            .header("host", host)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize)
            .timeout(Duration::from_secs(5))
            .send()
    };
    // Envoy forwards the client's Host; inside the network the server is `mcp:<port>`.
    let status = poll_until("the MCP server", Duration::from_secs(30), || async {
        post(format!("mcp:{port}")).await.ok().map(|r| r.status())
    })
    .await;
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            server.ensure_running().expect("mcp server running");
            panic!("{e}\n{}", server.log_tail());
        }
    };
    assert!(
        status.is_success(),
        "initialize as mcp:{port}: {status}\n{}",
        server.log_tail()
    );
    let foreign = post(format!("attacker.example:{port}"))
        .await
        .expect("request");
    assert_eq!(
        foreign.status().as_u16(),
        421,
        "a foreign Host header must still be refused (DNS rebinding protection)"
    );
}
