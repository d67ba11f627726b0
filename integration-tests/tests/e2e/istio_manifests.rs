//! The Kubernetes and Istio manifests in `envoy/istio/` are well formed and agree with
//! each other, with Warden and with the Envoy configs we ship.
//!
//! - Every YAML document has a kind this test knows; none is skipped.
//! - Core Kubernetes kinds deserialise into `k8s-openapi` types, and serialise back to the
//!   same document (k8s-openapi ignores unknown fields, so a misspelled field shows up as
//!   a difference). Istio kinds deserialise into the structs below, which reject unknown
//!   fields.
//! - Names, labels, selectors, ports and mounts line up across documents.
//! - The policy ConfigMap is `policies/default.yaml` and passes `warden policy check`; the
//!   Warden ConfigMap passes `warden check-config`.
//! - The ext_proc filter each EnvoyFilter inserts equals the one in `envoy/sidecar.yaml` and
//!   `envoy/front-proxy.yaml` (but for the cluster name), the ext_authz provider is the
//!   Istio spelling of `envoy/ext-authz.yaml`'s filter, and both pass
//!   `envoy --mode validate` in a minimal bootstrap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use warden_integration_tests::paths;

/// Where the manifests live, relative to the repo root.
const MANIFEST_DIR: &str = "envoy/istio";

/// The Envoy filter name of ext_proc, and of the filters it is placed around.
const EXT_PROC: &str = "envoy.filters.http.ext_proc";
const EXT_AUTHZ: &str = "envoy.filters.http.ext_authz";
const HCM: &str = "envoy.filters.network.http_connection_manager";
const ROUTER: &str = "envoy.filters.http.router";

// ---- Istio kinds: only the fields the manifests use, unknown fields rejected ------------

/// `metadata` of an Istio resource.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// `networking.istio.io/v1alpha3` `EnvoyFilter`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvoyFilter {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: EnvoyFilterSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvoyFilterSpec {
    workload_selector: WorkloadSelector,
    config_patches: Vec<ConfigPatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadSelector {
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigPatch {
    apply_to: ApplyTo,
    #[serde(rename = "match")]
    matches: PatchMatch,
    patch: Patch,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ApplyTo {
    Listener,
    HttpFilter,
}

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum PatchContext {
    SidecarInbound,
    SidecarOutbound,
    Gateway,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchMatch {
    context: PatchContext,
    #[serde(default)]
    listener: Option<ListenerMatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListenerMatch {
    filter_chain: FilterChainMatch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterChainMatch {
    filter: FilterMatch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilterMatch {
    name: String,
    #[serde(default)]
    sub_filter: Option<SubFilterMatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubFilterMatch {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    operation: Operation,
    /// Envoy config: checked by Envoy itself, not here.
    value: Value,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Operation {
    Merge,
    InsertBefore,
}

/// `security.istio.io/v1` `AuthorizationPolicy` with `action: CUSTOM`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthorizationPolicy {
    api_version: String,
    kind: String,
    metadata: Meta,
    spec: AuthorizationPolicySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizationPolicySpec {
    selector: LabelSelector,
    action: AuthorizationAction,
    provider: Provider,
    rules: Vec<AuthorizationRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LabelSelector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum AuthorizationAction {
    Custom,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Provider {
    name: String,
}

/// An empty rule (`{}`: every request). Any field in it is a mistake here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizationRule {}

/// `install.istio.io/v1alpha1` `IstioOperator` carrying the mesh config snippet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IstioOperator {
    api_version: String,
    kind: String,
    metadata: OperatorMeta,
    spec: OperatorSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorMeta {
    name: String,
    namespace: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OperatorSpec {
    mesh_config: MeshConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MeshConfig {
    extension_providers: Vec<ExtensionProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtensionProvider {
    name: String,
    envoy_ext_authz_grpc: ExtAuthzGrpcProvider,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtAuthzGrpcProvider {
    service: String,
    port: u16,
    timeout: String,
    fail_open: bool,
    include_request_body_in_check: RequestBodyInCheck,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestBodyInCheck {
    max_request_bytes: u64,
    allow_partial_message: bool,
    pack_as_bytes: bool,
}

// ---- Reading the documents ---------------------------------------------------------------

/// One parsed document, by kind.
#[derive(Debug)]
enum Manifest {
    Namespace(Box<Namespace>),
    ServiceAccount(Box<ServiceAccount>),
    ConfigMap(Box<ConfigMap>),
    Service(Box<Service>),
    StatefulSet(Box<StatefulSet>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    NetworkPolicy(Box<k8s_openapi::api::networking::v1::NetworkPolicy>),
    EnvoyFilter(Box<EnvoyFilter>),
    AuthorizationPolicy(Box<AuthorizationPolicy>),
    IstioOperator(Box<IstioOperator>),
}

impl Manifest {
    /// The document's `kind`.
    fn kind(&self) -> &'static str {
        match self {
            Manifest::Namespace(_) => "Namespace",
            Manifest::ServiceAccount(_) => "ServiceAccount",
            Manifest::ConfigMap(_) => "ConfigMap",
            Manifest::Service(_) => "Service",
            Manifest::StatefulSet(_) => "StatefulSet",
            Manifest::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Manifest::NetworkPolicy(_) => "NetworkPolicy",
            Manifest::EnvoyFilter(_) => "EnvoyFilter",
            Manifest::AuthorizationPolicy(_) => "AuthorizationPolicy",
            Manifest::IstioOperator(_) => "IstioOperator",
        }
    }
}

/// A document and where it came from.
#[derive(Debug)]
struct Document {
    /// `file#index` for messages.
    origin: String,
    manifest: Manifest,
}

/// Every non-empty YAML document of `text`, as JSON values. Comment-only documents (a
/// file's header before its first `---`) are the only ones dropped.
fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut values = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| format!("document {index}: {e}"))?;
        if !value.is_null() {
            values.push(value);
        }
    }
    Ok(values)
}

/// Deserialises a core Kubernetes kind and checks that it serialises back to the same
/// document: k8s-openapi ignores unknown fields, so a misspelled one shows as a difference.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back != value {
        return Err(format!(
            "does not survive a round trip through k8s-openapi (a misspelled or misplaced \
             field?):\n  differences: {}",
            differences(value, &back, "").join("\n                ")
        ));
    }
    Ok(typed)
}

/// Paths where `a` and `b` differ, for messages.
fn differences(a: &Value, b: &Value, at: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let path = format!("{at}.{k}");
                    match (x.get(k), y.get(k)) {
                        (Some(v), Some(w)) => differences(v, w, &path),
                        (Some(_), None) => vec![format!("{path}: dropped")],
                        (None, Some(_)) => vec![format!("{path}: added")],
                        (None, None) => Vec::new(),
                    }
                })
                .collect()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .flat_map(|(i, (v, w))| differences(v, w, &format!("{at}[{i}]")))
            .collect(),
        _ if a == b => Vec::new(),
        _ => vec![format!("{at}: {a} became {b}")],
    }
}

/// Deserialises an Istio kind with its own (strict) struct.
fn strict<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| e.to_string())
}

/// Parses one document by its `apiVersion` and `kind`.
fn parse_manifest(value: &Value) -> Result<Manifest, String> {
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    Ok(match (api_version, kind) {
        (Some("v1"), Some("Namespace")) => Manifest::Namespace(Box::new(round_trip(value)?)),
        (Some("v1"), Some("ServiceAccount")) => {
            Manifest::ServiceAccount(Box::new(round_trip(value)?))
        }
        (Some("v1"), Some("ConfigMap")) => Manifest::ConfigMap(Box::new(round_trip(value)?)),
        (Some("v1"), Some("Service")) => Manifest::Service(Box::new(round_trip(value)?)),
        (Some("apps/v1"), Some("StatefulSet")) => {
            Manifest::StatefulSet(Box::new(round_trip(value)?))
        }
        (Some("policy/v1"), Some("PodDisruptionBudget")) => {
            Manifest::PodDisruptionBudget(Box::new(round_trip(value)?))
        }
        (Some("networking.k8s.io/v1"), Some("NetworkPolicy")) => {
            Manifest::NetworkPolicy(Box::new(round_trip(value)?))
        }
        (Some("networking.istio.io/v1alpha3"), Some("EnvoyFilter")) => {
            Manifest::EnvoyFilter(Box::new(strict(value)?))
        }
        (Some("security.istio.io/v1"), Some("AuthorizationPolicy")) => {
            Manifest::AuthorizationPolicy(Box::new(strict(value)?))
        }
        (Some("install.istio.io/v1alpha1"), Some("IstioOperator")) => {
            Manifest::IstioOperator(Box::new(strict(value)?))
        }
        (api_version, kind) => {
            return Err(format!(
                "unknown kind {kind:?} of apiVersion {api_version:?}: teach \
                 integration-tests/tests/e2e/istio_manifests.rs about it (or fix the spelling)"
            ))
        }
    })
}

/// Every document in `envoy/istio/`, parsed; the errors of those that do not parse.
fn read_manifests() -> (Vec<Document>, Vec<String>) {
    let root = paths::repo_root();
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for file in paths::yaml_files(&root.join(MANIFEST_DIR)) {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let values = match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| yaml_documents(&text))
        {
            Ok(values) => values,
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (index, value) in values.iter().enumerate() {
            let origin = format!("{name}#{index}");
            match parse_manifest(value) {
                Ok(manifest) => documents.push(Document { origin, manifest }),
                Err(e) => errors.push(format!("{origin}: {e}")),
            }
        }
    }
    (documents, errors)
}

/// The manifests, all of which must parse.
struct Manifests(Vec<Document>);

impl Manifests {
    fn load() -> Manifests {
        let (documents, errors) = read_manifests();
        assert!(
            errors.is_empty(),
            "documents in {MANIFEST_DIR} that do not parse:\n{}",
            errors.join("\n")
        );
        Manifests(documents)
    }

    fn all<'a, T: ?Sized + 'a>(
        &'a self,
        pick: impl Fn(&'a Manifest) -> Option<&'a T>,
    ) -> Vec<&'a T> {
        self.0.iter().filter_map(|d| pick(&d.manifest)).collect()
    }

    /// The one document of a kind (the manifests hold exactly one of each core kind).
    fn one<'a, T: ?Sized + 'a>(
        &'a self,
        what: &str,
        pick: impl Fn(&'a Manifest) -> Option<&'a T>,
    ) -> &'a T {
        let all = self.all(pick);
        assert_eq!(
            all.len(),
            1,
            "expected exactly one {what} in {MANIFEST_DIR}"
        );
        all[0]
    }

    fn stateful_set(&self) -> &StatefulSet {
        self.one("StatefulSet", |m| match m {
            Manifest::StatefulSet(d) => Some(d.as_ref()),
            _ => None,
        })
    }

    fn service(&self) -> &Service {
        self.one("Service", |m| match m {
            Manifest::Service(s) => Some(s.as_ref()),
            _ => None,
        })
    }

    fn config_maps(&self) -> Vec<&ConfigMap> {
        self.all(|m| match m {
            Manifest::ConfigMap(c) => Some(c.as_ref()),
            _ => None,
        })
    }

    fn config_map(&self, name: &str) -> &ConfigMap {
        self.config_maps()
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no ConfigMap {name} in {MANIFEST_DIR}"))
    }

    fn envoy_filters(&self) -> Vec<&EnvoyFilter> {
        self.all(|m| match m {
            Manifest::EnvoyFilter(f) => Some(f.as_ref()),
            _ => None,
        })
    }

    fn extension_providers(&self) -> Vec<&ExtensionProvider> {
        self.all(|m| match m {
            Manifest::IstioOperator(o) => Some(o.as_ref()),
            _ => None,
        })
        .into_iter()
        .flat_map(|o| &o.spec.mesh_config.extension_providers)
        .collect()
    }

    /// The Warden Service's gRPC port (`appProtocol: grpc`).
    fn grpc_port(&self) -> i32 {
        let ports = self
            .service()
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .expect("the Service has ports");
        let grpc: Vec<_> = ports
            .iter()
            .filter(|p| p.app_protocol.as_deref() == Some("grpc"))
            .collect();
        assert_eq!(
            grpc.len(),
            1,
            "the Service needs exactly one `appProtocol: grpc` port"
        );
        grpc[0].port
    }

    /// `warden.<ns>.svc.cluster.local`: the Service's cluster-local name.
    fn service_host(&self) -> String {
        let meta = &self.service().metadata;
        format!(
            "{}.{}.svc.cluster.local",
            meta.name.as_deref().unwrap_or_default(),
            meta.namespace.as_deref().unwrap_or_default()
        )
    }

    /// Istio's name for the cluster of the Service's gRPC port.
    fn istio_cluster(&self) -> String {
        format!("outbound|{}||{}", self.grpc_port(), self.service_host())
    }

    /// Warden's config file (the `warden-config` ConfigMap's one key) as YAML text.
    fn warden_config_text(&self) -> (&str, &str) {
        let data = self
            .config_map("warden-config")
            .data
            .as_ref()
            .expect("warden-config has data");
        assert_eq!(data.len(), 1, "warden-config holds one file, the config");
        let (key, text) = data.iter().next().expect("one key");
        (key.as_str(), text.as_str())
    }

    fn warden_config(&self) -> warden::config::Config {
        let (key, text) = self.warden_config_text();
        warden::config::Config::parse(text, Path::new(key))
            .unwrap_or_else(|e| panic!("warden-config does not parse: {e}"))
    }
}

/// Labels as a map (k8s-openapi keeps them optional).
fn labels(map: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    map.cloned().unwrap_or_default()
}

/// Whether every `selector` label is among `labels` with the same value.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// An Istio resource lives in Istio's root namespace and carries Warden's name.
fn istio_resource(origin: &str, name: &str, namespace: &str) {
    assert_eq!(
        namespace, "istio-system",
        "{origin}: not in Istio's root namespace"
    );
    assert!(
        name.starts_with("warden-"),
        "{origin}: {name} should start with `warden-` (it shares istio-system with others)"
    );
}

// ---- Shipped Envoy configs -----------------------------------------------------------------

/// A file of the repo as one YAML document, converted to JSON.
fn repo_yaml(relative: &str) -> Value {
    let path = paths::repo_root().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{relative} is not YAML: {e}"))
}

/// The HTTP filter named `name` of the first listener's HCM in a shipped Envoy config.
fn shipped_http_filter(config: &str, name: &str) -> Value {
    let bootstrap = repo_yaml(config);
    let hcm = &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0];
    assert_eq!(
        hcm["name"], HCM,
        "{config}: the first network filter is not the HCM"
    );
    hcm["typed_config"]["http_filters"]
        .as_array()
        .and_then(|filters| filters.iter().find(|f| f["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{config} has no {name} filter"))
}

/// The per-connection buffer limit of a shipped config's first listener.
fn shipped_listener_buffer_limit(config: &str) -> Value {
    repo_yaml(config)["static_resources"]["listeners"][0]["per_connection_buffer_limit_bytes"]
        .clone()
}

/// `filter` with its gRPC service pointed at `cluster`.
fn with_cluster(mut filter: Value, cluster: &str) -> Value {
    filter["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"] = json!(cluster);
    filter
}

/// The ext_authz filter Istio generates for an `envoyExtAuthzGrpc` provider (the fields
/// our provider sets), in Envoy's own spelling.
fn ext_authz_filter_of(provider: &ExtAuthzGrpcProvider) -> Value {
    let body = &provider.include_request_body_in_check;
    json!({
        "name": EXT_AUTHZ,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "grpc_service": {
                "envoy_grpc": {
                    "cluster_name": format!("outbound|{}||{}", provider.port, provider.service)
                },
                "timeout": provider.timeout,
            },
            "transport_api_version": "V3",
            "failure_mode_allow": provider.fail_open,
            "with_request_body": {
                "max_request_bytes": body.max_request_bytes,
                "allow_partial_message": body.allow_partial_message,
                "pack_as_bytes": body.pack_as_bytes,
            },
        }
    })
}

/// The patches of `filter` that apply to `what`.
fn patches(filter: &EnvoyFilter, what: ApplyTo) -> Vec<&ConfigPatch> {
    filter
        .spec
        .config_patches
        .iter()
        .filter(|p| p.apply_to == what)
        .collect()
}

// ---- Running Envoy and Warden ----------------------------------------------------------------

/// A minimal Envoy bootstrap: one listener whose HCM runs `filter` then the router, and
/// the Warden cluster under Istio's name, speaking HTTP/2.
fn bootstrap_with(filter: &Value, cluster: &str, buffer_limit: &Value) -> Value {
    json!({
        "static_resources": {
            "listeners": [{
                "name": "istio_manifest",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 15001}},
                "per_connection_buffer_limit_bytes": buffer_limit,
                "filter_chains": [{
                    "filters": [{
                        "name": HCM,
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "istio_manifest",
                            "route_config": {
                                "name": "local",
                                "virtual_hosts": [{
                                    "name": "all",
                                    "domains": ["*"],
                                    "routes": [{
                                        "match": {"prefix": "/"},
                                        "direct_response": {"status": 200}
                                    }]
                                }]
                            },
                            "http_filters": [
                                filter,
                                {
                                    "name": ROUTER,
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                                    }
                                }
                            ]
                        }
                    }]
                }]
            }],
            "clusters": [{
                "name": cluster,
                "type": "STATIC",
                "connect_timeout": "1s",
                "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {}}
                    }
                },
                "load_assignment": {
                    "cluster_name": cluster,
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": 50051}
                    }}}]}]
                }
            }]
        }
    })
}

/// Runs `envoy --mode validate` on `bootstrap`; on failure returns Envoy's output.
fn envoy_validate(bootstrap: &Value, dir: &Path, name: &str) -> Result<(), String> {
    let envoy = paths::envoy_bin()?;
    // JSON is YAML: Envoy reads it as a .yaml bootstrap.
    let file = dir.join(format!("{name}.yaml"));
    let text = serde_json::to_string_pretty(bootstrap).map_err(|e| e.to_string())?;
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let output = Command::new(&envoy)
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(&file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", envoy.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{name} ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Runs the warden binary; returns whether it succeeded and what it printed.
fn warden(args: &[&str]) -> (bool, String) {
    let bin = paths::warden_bin().unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Writes the policies ConfigMap's files into `dir` (as Kubernetes would mount them).
fn write_policies(manifests: &Manifests, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let data = manifests
        .config_map("warden-policies")
        .data
        .as_ref()
        .expect("warden-policies has data");
    for (key, text) in data {
        let file = dir.join(key);
        std::fs::write(&file, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"))
}

// ---- Tests -----------------------------------------------------------------------------------

#[test]
fn every_document_parses_and_has_a_known_kind() {
    let (documents, errors) = read_manifests();
    assert!(
        errors.is_empty(),
        "documents in {MANIFEST_DIR} that do not parse:\n{}",
        errors.join("\n")
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for document in &documents {
        *counts.entry(document.manifest.kind()).or_default() += 1;
    }
    // What a mesh user applies: Warden itself, three ext_proc variants, and ext_authz.
    let expected = BTreeMap::from([
        ("Namespace", 1),
        ("ServiceAccount", 1),
        ("ConfigMap", 2),
        ("Service", 1),
        ("StatefulSet", 1),
        ("PodDisruptionBudget", 1),
        ("NetworkPolicy", 1),
        ("EnvoyFilter", 3),
        ("AuthorizationPolicy", 1),
        ("IstioOperator", 1),
    ]);
    assert_eq!(
        counts,
        expected,
        "documents by kind in {MANIFEST_DIR}; found: {:?}",
        documents.iter().map(|d| &d.origin).collect::<Vec<_>>()
    );
}

/// The checks above can fail: an unknown kind, a misspelled Kubernetes field and a
/// misspelled Istio field are each reported.
#[test]
fn misspelled_documents_are_rejected() {
    let unknown =
        yaml_documents("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n").expect("YAML");
    let err = parse_manifest(&unknown[0]).expect_err("an unknown kind was accepted");
    assert!(err.contains("unknown kind"), "{err}");

    let stateful_set = yaml_documents(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec:\n  replica: 2\n  \
         selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    \
         spec: {containers: [{name: c, image: i}]}\n",
    )
    .expect("YAML");
    let err = parse_manifest(&stateful_set[0]).expect_err("`replica` was accepted");
    assert!(err.contains(".spec.replica: dropped"), "{err}");

    let filter = yaml_documents(
        "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\n\
         metadata: {name: x, namespace: istio-system}\n\
         spec:\n  workloadSelector: {labels: {a: b}}\n  configPatches:\n    \
         - applyTo: HTTP_FILTER\n      match: {context: SIDECAR_OUTBOUND}\n      \
         patch: {operation: INSERT_BEFORE, value: {}, filterClass: AUTHZ}\n",
    )
    .expect("YAML");
    let err = parse_manifest(&filter[0]).expect_err("`filterClass` was accepted");
    assert!(err.contains("filterClass"), "{err}");
}

#[test]
fn names_labels_and_selectors_agree() {
    let manifests = Manifests::load();
    let stateful_set = manifests.stateful_set();
    let service = manifests.service();
    let namespace = stateful_set
        .metadata
        .namespace
        .as_deref()
        .expect("the StatefulSet names its namespace");

    // Every Warden object lives in the Namespace the manifests create.
    let namespaces: Vec<&str> = manifests
        .all(|m| match m {
            Manifest::Namespace(n) => n.metadata.name.as_deref(),
            _ => None,
        })
        .into_iter()
        .collect();
    assert_eq!(namespaces, [namespace]);
    for document in &manifests.0 {
        let ns = match &document.manifest {
            Manifest::ServiceAccount(x) => x.metadata.namespace.as_deref(),
            Manifest::ConfigMap(x) => x.metadata.namespace.as_deref(),
            Manifest::Service(x) => x.metadata.namespace.as_deref(),
            Manifest::PodDisruptionBudget(x) => x.metadata.namespace.as_deref(),
            Manifest::NetworkPolicy(x) => x.metadata.namespace.as_deref(),
            // Istio resources go to Istio's root namespace, named so they are recognisably ours.
            Manifest::EnvoyFilter(x) => {
                istio_resource(&document.origin, &x.metadata.name, &x.metadata.namespace);
                continue;
            }
            Manifest::AuthorizationPolicy(x) => {
                istio_resource(&document.origin, &x.metadata.name, &x.metadata.namespace);
                continue;
            }
            Manifest::IstioOperator(x) => {
                istio_resource(&document.origin, &x.metadata.name, &x.metadata.namespace);
                continue;
            }
            Manifest::Namespace(_) | Manifest::StatefulSet(_) => continue,
        };
        assert_eq!(
            ns,
            Some(namespace),
            "{} is not in {namespace}",
            document.origin
        );
    }

    // The StatefulSet: two replicas, its selector matches its pods.
    let spec = &stateful_set.spec;
    assert_eq!(spec.replicas, Some(2), "Warden runs two replicas");
    let pod_labels = labels(
        spec.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
    );
    let set_selector = labels(spec.selector.match_labels.as_ref());
    assert!(
        selects(&set_selector, &pod_labels),
        "the StatefulSet's selector {set_selector:?} does not match its pods {pod_labels:?}"
    );

    // The Service and the PodDisruptionBudget select Warden's pods.
    let service_spec = service.spec.as_ref().expect("Service spec");
    let service_selector = labels(service_spec.selector.as_ref());
    assert!(
        selects(&service_selector, &pod_labels),
        "the Service's selector {service_selector:?} does not match Warden's pods {pod_labels:?}"
    );
    let pdb = manifests.one("PodDisruptionBudget", |m| match m {
        Manifest::PodDisruptionBudget(p) => Some(p.as_ref()),
        _ => None,
    });
    let pdb_spec = pdb.spec.as_ref().expect("PodDisruptionBudget spec");
    assert_eq!(pdb_spec.min_available, Some(IntOrString::Int(1)));
    let pdb_selector = labels(
        pdb_spec
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref()),
    );
    assert!(
        selects(&pdb_selector, &pod_labels),
        "the PodDisruptionBudget's selector {pdb_selector:?} does not match Warden's pods"
    );

    // The pod: its service account exists, non-root, read-only root, resources, probes.
    let pod = spec.template.spec.as_ref().expect("pod spec");
    let account = pod
        .service_account_name
        .as_deref()
        .expect("serviceAccountName");
    assert!(
        manifests
            .all(|m| match m {
                Manifest::ServiceAccount(a) => a.metadata.name.as_deref(),
                _ => None,
            })
            .contains(&account),
        "ServiceAccount {account} is not in the manifests"
    );
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.run_as_non_root),
        Some(true),
        "the pod must run as non-root"
    );
    let [container] = pod.containers.as_slice() else {
        panic!("the pod has one container, Warden (Istio adds its sidecar)");
    };
    let container_security = container
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(container_security.read_only_root_filesystem, Some(true));
    assert_eq!(container_security.allow_privilege_escalation, Some(false));
    let resources = container.resources.as_ref().expect("resources");
    assert!(resources.requests.is_some() && resources.limits.is_some());

    // Ports: the container's named ports are the Service's targets and Warden's listeners.
    let config = manifests.warden_config();
    let container_port = |name: &str| {
        container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port)
            .unwrap_or_else(|| panic!("the container has no port named {name}"))
    };
    for port in service_spec.ports.iter().flatten() {
        let Some(IntOrString::String(target)) = &port.target_port else {
            panic!(
                "Service port {:?} must target a named container port",
                port.name
            );
        };
        container_port(target);
    }
    let grpc_target = service_spec
        .ports
        .iter()
        .flatten()
        .find(|p| p.app_protocol.as_deref() == Some("grpc"))
        .and_then(|p| p.target_port.clone());
    let Some(IntOrString::String(grpc_target)) = grpc_target else {
        panic!("the Service has no gRPC port with a named target");
    };
    assert_eq!(
        config.listen.tcp.map(|a| i32::from(a.port())),
        Some(container_port(&grpc_target)),
        "Warden's listen.tcp port is not the container's gRPC port"
    );
    let admin_port = config
        .approvals
        .admin
        .as_ref()
        .map(|a| i32::from(a.listen.port()))
        .expect("warden-config enables the admin API (probes use /healthz)");
    for (which, probe) in [
        ("readiness", &container.readiness_probe),
        ("liveness", &container.liveness_probe),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{which} probe: an httpGet"));
        assert_eq!(get.path.as_deref(), Some("/healthz"), "{which} probe path");
        let port = match get.port.clone() {
            IntOrString::Int(n) => n,
            IntOrString::String(name) => container_port(&name),
        };
        assert_eq!(port, admin_port, "{which} probe is not on the admin port");
    }
    assert!(
        config.approvals.store.starts_with("postgres://"),
        "replicas share state: approvals.store must be PostgreSQL, not {}",
        config.approvals.store
    );

    // Volumes: ConfigMaps exist; the mounts are where the config and args look.
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    let mount_of = |volume: &str| {
        container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == volume)
            .map(|m| PathBuf::from(&m.mount_path))
            .unwrap_or_else(|| panic!("volume {volume} is not mounted"))
    };
    let config_map_names: Vec<&str> = manifests
        .config_maps()
        .into_iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    let mut mounted_maps = BTreeMap::new();
    let mut secret_names = Vec::new();
    for volume in volumes {
        if let Some(map) = &volume.config_map {
            assert!(
                config_map_names.contains(&map.name.as_str()),
                "volume {} mounts ConfigMap {}, which is not in the manifests",
                volume.name,
                map.name
            );
            mounted_maps.insert(map.name.clone(), mount_of(&volume.name));
        }
        if let Some(secret) = &volume.secret {
            let name = secret.secret_name.clone().expect("secretName");
            for item in secret.items.iter().flatten() {
                secret_names.push((name.clone(), item.key.clone()));
            }
            let mount = mount_of(&volume.name);
            let signing_key = config
                .audit
                .signing_key
                .as_ref()
                .expect("audit.signing_key");
            assert!(
                secret
                    .items
                    .iter()
                    .flatten()
                    .any(|item| mount.join(&item.path) == *signing_key),
                "audit.signing_key {} is not a file of the mounted Secret",
                signing_key.display()
            );
        }
    }
    // The audit log outlives the pod: each replica's chain is named after its pod (no
    // fixed `audit.instance`, which would make the replicas share one name) and
    // `log_dir` is on the StatefulSet's claim, which deleting or scaling down keeps.
    assert_eq!(
        config.audit.instance, None,
        "audit.instance must be left unset: each replica names its chain after its pod"
    );
    let log_dir = &config.audit.log_dir;
    let audit_mount = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| log_dir.starts_with(&m.mount_path))
        .max_by_key(|m| m.mount_path.len())
        .unwrap_or_else(|| {
            panic!(
                "audit.log_dir {} is on no mounted volume",
                log_dir.display()
            )
        });
    let claims: Vec<&str> = spec
        .volume_claim_templates
        .iter()
        .flatten()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    assert!(
        claims.contains(&audit_mount.name.as_str()),
        "audit.log_dir {} is on volume {}, not on one of the StatefulSet's claims {claims:?}",
        log_dir.display(),
        audit_mount.name
    );
    assert!(
        !volumes.iter().any(|v| v.name == audit_mount.name),
        "pod volume {} (an emptyDir?) shadows the audit log's claim",
        audit_mount.name
    );
    let retention = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .expect("persistentVolumeClaimRetentionPolicy");
    // The signing key is not on the log's volume: whoever can write the log must not be
    // able to re-sign it.
    let signing_key = config
        .audit
        .signing_key
        .as_ref()
        .expect("audit.signing_key");
    let key_mount = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| signing_key.starts_with(&m.mount_path))
        .max_by_key(|m| m.mount_path.len())
        .expect("audit.signing_key is on a mounted volume");
    assert_ne!(
        key_mount.name,
        audit_mount.name,
        "audit.signing_key {} is on the audit log's volume",
        signing_key.display()
    );
    assert!(
        !signing_key.starts_with(log_dir),
        "audit.signing_key {} is inside audit.log_dir",
        signing_key.display()
    );
    assert_eq!(
        key_mount.read_only,
        Some(true),
        "the signing key's volume is mounted read-only"
    );
    assert_eq!(retention.when_deleted.as_deref(), Some("Retain"));
    assert_eq!(retention.when_scaled.as_deref(), Some("Retain"));

    let policies_mount = mounted_maps
        .get("warden-policies")
        .expect("policies mounted");
    assert_eq!(
        config.policy.dir.as_deref(),
        Some(policies_mount.as_path()),
        "policy.dir is not where the policies ConfigMap is mounted"
    );
    let (config_key, _) = manifests.warden_config_text();
    let config_file = mounted_maps
        .get("warden-config")
        .expect("warden-config mounted")
        .join(config_key);
    let args = container.args.clone().unwrap_or_default();
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--config" && Path::new(&w[1]) == config_file),
        "the container's args {args:?} do not point --config at {}",
        config_file.display()
    );

    // Secrets referenced through env: the README tells how to create every key.
    for env in container.env.iter().flatten() {
        if let Some(key) = env
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            secret_names.push((key.name.clone(), key.key.clone()));
        }
    }
    let readme_path = paths::repo_root().join(MANIFEST_DIR).join("README.md");
    let readme = std::fs::read_to_string(&readme_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme_path.display()));
    assert!(
        !secret_names.is_empty(),
        "the StatefulSet references no Secret"
    );
    for (secret, key) in &secret_names {
        assert!(
            readme.contains(&format!("kubectl create secret generic {secret}"))
                && (readme.contains(&format!("--from-file={key}="))
                    || readme.contains(&format!("--from-literal={key}="))),
            "README.md does not show how to create key {key} of Secret {secret}"
        );
    }

    // Istio resources point at the Service.
    let cluster = manifests.istio_cluster();
    for filter in manifests.envoy_filters() {
        for patch in patches(filter, ApplyTo::HttpFilter) {
            let name =
                &patch.patch.value["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"];
            assert_eq!(
                name,
                &json!(cluster),
                "EnvoyFilter {}: the ext_proc cluster is not the Warden Service's",
                filter.metadata.name
            );
        }
    }
    let providers = manifests.extension_providers();
    assert!(!providers.is_empty(), "no ext_authz extension provider");
    for provider in &providers {
        assert_eq!(
            provider.envoy_ext_authz_grpc.service,
            manifests.service_host()
        );
        assert_eq!(
            i32::from(provider.envoy_ext_authz_grpc.port),
            manifests.grpc_port()
        );
    }
    for policy in manifests.all(|m| match m {
        Manifest::AuthorizationPolicy(p) => Some(p.as_ref()),
        _ => None,
    }) {
        assert_eq!(policy.api_version, "security.istio.io/v1");
        assert_eq!(policy.kind, "AuthorizationPolicy");
        assert_eq!(policy.spec.action, AuthorizationAction::Custom);
        assert!(!policy.spec.selector.match_labels.is_empty());
        assert!(
            !policy.spec.rules.is_empty(),
            "a CUSTOM policy without rules matches nothing"
        );
        assert!(
            providers
                .iter()
                .any(|p| p.name == policy.spec.provider.name),
            "AuthorizationPolicy {} names provider {}, which the mesh config does not define",
            policy.metadata.name,
            policy.spec.provider.name
        );
    }
}

#[test]
fn envoy_filters_insert_the_shipped_ext_proc_before_the_router() {
    let manifests = Manifests::load();
    let cluster = manifests.istio_cluster();
    let shipped: Vec<(&str, Value)> = ["envoy/sidecar.yaml", "envoy/front-proxy.yaml"]
        .into_iter()
        .map(|config| {
            (
                config,
                with_cluster(shipped_http_filter(config, EXT_PROC), &cluster),
            )
        })
        .collect();
    let max_body = manifests.warden_config().limits.max_buffered_body_bytes;

    let filters = manifests.envoy_filters();
    let mut contexts = Vec::new();
    for filter in &filters {
        let name = &filter.metadata.name;
        assert_eq!(filter.api_version, "networking.istio.io/v1alpha3");
        assert_eq!(filter.kind, "EnvoyFilter");
        assert_eq!(
            filter
                .metadata
                .labels
                .get("app.kubernetes.io/part-of")
                .map(String::as_str),
            Some("warden")
        );
        assert!(
            !filter.spec.workload_selector.labels.is_empty(),
            "EnvoyFilter {name} selects no workload: it would apply to every proxy"
        );
        // One context per filter: one variant per file.
        let context = filter.spec.config_patches[0].matches.context;
        assert!(
            filter
                .spec
                .config_patches
                .iter()
                .all(|p| p.matches.context == context),
            "EnvoyFilter {name} mixes contexts"
        );
        contexts.push(context);

        let [ext_proc] = patches(filter, ApplyTo::HttpFilter)[..] else {
            panic!("EnvoyFilter {name}: expected one HTTP_FILTER patch");
        };
        assert_eq!(ext_proc.patch.operation, Operation::InsertBefore, "{name}");
        let listener = ext_proc
            .matches
            .listener
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: the HTTP_FILTER patch matches no listener"));
        assert_eq!(listener.filter_chain.filter.name, HCM, "{name}");
        assert_eq!(
            listener
                .filter_chain
                .filter
                .sub_filter
                .as_ref()
                .map(|s| s.name.as_str()),
            Some(ROUTER),
            "{name}: ext_proc must go right before the router"
        );
        for (config, expected) in &shipped {
            assert_eq!(
                &ext_proc.patch.value,
                expected,
                "EnvoyFilter {name}: the ext_proc filter differs from {config}'s (keep them \
                 in step):\n  {}",
                differences(expected, &ext_proc.patch.value, "").join("\n  ")
            );
        }
        let config = &ext_proc.patch.value["typed_config"];
        assert_eq!(
            config["failure_mode_allow"],
            json!(false),
            "{name}: fail closed"
        );

        let [buffers] = patches(filter, ApplyTo::Listener)[..] else {
            panic!("EnvoyFilter {name}: expected one LISTENER patch (buffer limit)");
        };
        assert_eq!(buffers.patch.operation, Operation::Merge, "{name}");
        let limit = &buffers.patch.value["per_connection_buffer_limit_bytes"];
        assert_eq!(
            limit,
            &shipped_listener_buffer_limit("envoy/sidecar.yaml"),
            "{name}"
        );
        assert!(
            limit.as_u64().is_some_and(|l| l > max_body),
            "{name}: the listener buffer limit {limit} must exceed Warden's \
             max_buffered_body_bytes {max_body}"
        );
    }
    contexts.sort();
    assert_eq!(
        contexts,
        [
            PatchContext::SidecarInbound,
            PatchContext::SidecarOutbound,
            PatchContext::Gateway
        ],
        "one EnvoyFilter per variant: tool sidecar, agent sidecar, gateway"
    );
}

#[test]
fn the_ext_authz_provider_matches_the_shipped_ext_authz_filter() {
    let manifests = Manifests::load();
    let operator = manifests.one("IstioOperator", |m| match m {
        Manifest::IstioOperator(o) => Some(o.as_ref()),
        _ => None,
    });
    assert_eq!(operator.api_version, "install.istio.io/v1alpha1");
    assert_eq!(operator.kind, "IstioOperator");
    let cluster = manifests.istio_cluster();
    let shipped = shipped_http_filter("envoy/ext-authz.yaml", EXT_AUTHZ);
    let max_body = manifests.warden_config().limits.max_buffered_body_bytes;
    for provider in manifests.extension_providers() {
        let generated = ext_authz_filter_of(&provider.envoy_ext_authz_grpc);
        assert_eq!(
            generated,
            with_cluster(shipped.clone(), &cluster),
            "provider {}: differs from envoy/ext-authz.yaml's ext_authz filter:\n  {}",
            provider.name,
            differences(&with_cluster(shipped.clone(), &cluster), &generated, "").join("\n  ")
        );
        assert_eq!(
            provider
                .envoy_ext_authz_grpc
                .include_request_body_in_check
                .max_request_bytes,
            max_body,
            "maxRequestBytes must be Warden's max_buffered_body_bytes"
        );
    }
}

#[test]
fn envoy_validates_the_embedded_filters() {
    let manifests = Manifests::load();
    let cluster = manifests.istio_cluster();
    let dir = temp_dir();
    let mut failures = Vec::new();
    let mut checked = 0;
    for filter in manifests.envoy_filters() {
        let limit = patches(filter, ApplyTo::Listener)
            .first()
            .map(|p| p.patch.value["per_connection_buffer_limit_bytes"].clone())
            .unwrap_or(Value::Null);
        for patch in patches(filter, ApplyTo::HttpFilter) {
            checked += 1;
            let bootstrap = bootstrap_with(&patch.patch.value, &cluster, &limit);
            if let Err(e) = envoy_validate(&bootstrap, dir.path(), &filter.metadata.name) {
                failures.push(e);
            }
        }
    }
    for provider in manifests.extension_providers() {
        checked += 1;
        let generated = ext_authz_filter_of(&provider.envoy_ext_authz_grpc);
        let bootstrap = bootstrap_with(&generated, &cluster, &json!(16777216));
        if let Err(e) = envoy_validate(&bootstrap, dir.path(), &provider.name) {
            failures.push(e);
        }
    }
    assert_eq!(
        checked, 4,
        "three ext_proc filters and one ext_authz provider"
    );
    assert!(
        failures.is_empty(),
        "Envoy rejects filters of {MANIFEST_DIR}:\n\n{}",
        failures.join("\n")
    );
}

/// The Envoy check can fail: a misspelled ext_proc field is rejected, with Envoy's reason.
#[test]
fn envoy_rejects_a_broken_embedded_filter() {
    let manifests = Manifests::load();
    let cluster = manifests.istio_cluster();
    let mut filter = with_cluster(
        shipped_http_filter("envoy/sidecar.yaml", EXT_PROC),
        &cluster,
    );
    filter["typed_config"]["failure_mode_alow"] = json!(false);
    let dir = temp_dir();
    let err = envoy_validate(
        &bootstrap_with(&filter, &cluster, &json!(16777216)),
        dir.path(),
        "broken",
    )
    .expect_err("Envoy accepted a misspelled ext_proc field");
    assert!(err.contains("failure_mode_alow"), "unexpected error: {err}");
}

#[test]
fn the_policies_config_map_is_the_default_pack_and_passes_policy_check() {
    let manifests = Manifests::load();
    let data = manifests
        .config_map("warden-policies")
        .data
        .clone()
        .expect("warden-policies has data");
    let default_path = paths::repo_root().join("policies/default.yaml");
    let default = std::fs::read_to_string(&default_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", default_path.display()));
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["default.yaml"],
        "warden-policies holds the default pack, as default.yaml"
    );
    assert!(
        data.get("default.yaml") == Some(&default),
        "warden-policies' default.yaml differs from policies/default.yaml: regenerate it \
         (see the comment at the top of {MANIFEST_DIR}/warden-policies.yaml)"
    );

    let dir = temp_dir();
    let policies = dir.path().join("policies");
    write_policies(&manifests, &policies);
    let (ok, output) = warden(&["policy", "check", &policies.display().to_string()]);
    assert!(ok, "warden policy check rejects warden-policies:\n{output}");

    // The check can fail: a broken pack is refused.
    std::fs::write(
        policies.join("broken.yaml"),
        "rules:\n  - id: x\n    action: explode\n",
    )
    .unwrap_or_else(|e| panic!("cannot write the broken pack: {e}"));
    let (ok, output) = warden(&["policy", "check", &policies.display().to_string()]);
    assert!(!ok, "warden policy check accepted a broken pack:\n{output}");
}

#[test]
fn the_warden_config_map_passes_check_config() {
    let manifests = Manifests::load();
    let (_, text) = manifests.warden_config_text();
    let dir = temp_dir();
    let policies = dir.path().join("policies");
    write_policies(&manifests, &policies);
    // The config's paths are the pod's; the policy directory must exist to be checked, so
    // it moves to the temp dir. Everything else is checked as shipped.
    let mut config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("warden-config is not YAML: {e}"));
    config["policy"]["dir"] = serde_yaml_ng::Value::from(policies.display().to_string());
    let file = dir.path().join("warden.yaml");
    std::fs::write(
        &file,
        serde_yaml_ng::to_string(&config).unwrap_or_else(|e| panic!("cannot write YAML: {e}")),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    let (ok, output) = warden(&["check-config", &file.display().to_string()]);
    assert!(ok, "warden check-config rejects warden-config:\n{output}");

    // The check can fail: a misspelled field is refused.
    std::fs::write(
        &file,
        text.replace("max_buffered_body_bytes", "max_buffered_bytes"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    let (ok, output) = warden(&["check-config", &file.display().to_string()]);
    assert!(!ok && output.contains("max_buffered_bytes"), "{output}");
}

/// The admin port (console, approvals API, and `/metrics`, which answers without a
/// token) is not open to the whole cluster: a NetworkPolicy selecting Warden's pods lets
/// in only named namespaces there, while the gRPC port stays open to every Envoy.
#[test]
fn the_admin_port_is_reachable_only_from_named_namespaces() {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let manifests = Manifests::load();
    let pod_labels = labels(
        manifests
            .stateful_set()
            .spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref()),
    );
    let admin_port = 9090;
    let grpc_port = manifests.grpc_port();
    let policies: Vec<&k8s_openapi::api::networking::v1::NetworkPolicy> =
        manifests.all(|m| match m {
            Manifest::NetworkPolicy(p) => Some(p.as_ref()),
            _ => None,
        });
    let selecting: Vec<_> = policies
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .filter(|spec| {
            selects(
                &labels(
                    spec.pod_selector
                        .as_ref()
                        .and_then(|s| s.match_labels.as_ref()),
                ),
                &pod_labels,
            )
        })
        .collect();
    assert!(
        !selecting.is_empty(),
        "no NetworkPolicy selects Warden's pods"
    );
    let rules_for = |port: i32| {
        selecting
            .iter()
            .flat_map(|spec| spec.ingress.iter().flatten())
            .filter(move |rule| {
                rule.ports.as_ref().is_none_or(|ports| {
                    ports.iter().any(|p| p.port == Some(IntOrString::Int(port)))
                })
            })
            .collect::<Vec<_>>()
    };
    let admin = rules_for(admin_port);
    assert!(
        !admin.is_empty(),
        "nothing may reach the admin port: the console is unreachable"
    );
    for rule in admin {
        let from = rule.from.as_deref().unwrap_or_default();
        assert!(
            !from.is_empty(),
            "an ingress rule opens port {admin_port} to everyone"
        );
        for peer in from {
            let named = peer.namespace_selector.as_ref().is_some_and(|ns| {
                ns.match_labels.as_ref().is_some_and(|l| !l.is_empty())
                    || ns.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
            });
            assert!(
                named || peer.ip_block.is_some(),
                "port {admin_port} is open to every namespace: {peer:?}"
            );
        }
    }
    assert!(
        !rules_for(grpc_port).is_empty(),
        "no NetworkPolicy rule lets Envoys reach gRPC port {grpc_port}"
    );
}
