//! Kubernetes API requests: which RBAC verb, on which resource, where.
//!
//! The apiserver's REST shape is read the way its `RequestInfoFactory` reads it, so
//! the facts here are the ones Kubernetes RBAC would authorise:
//!
//! - `/api` and `/apis` (discovery), `/api/{version}`, `/apis/{group}[/{version}]`;
//! - `/api/{version}/{resource}[/{name}[/{subresource}[/...]]]` and the same under
//!   `/apis/{group}/{version}`;
//! - `.../namespaces/{ns}/{resource}[/{name}[/{subresource}[/...]]]`;
//! - namespaces themselves: `.../namespaces/{name}[/status|/finalize]` (the namespace
//!   *is* the object, so both `namespace` and `name` are set, as the apiserver does);
//! - the legacy `watch/` and `proxy/` prefixes after the version.
//!
//! **Verbs** are the apiserver's RBAC verbs: `GET`/`HEAD` of a named object is `get`, of
//! a collection `list` (or `watch` with the `watch/` prefix or a `watch` parameter
//! other than `0`/`false`), `POST` is `create`, `PUT` `update`, `PATCH` `patch`,
//! `DELETE` of a named object `delete` and of a collection `deletecollection`.
//! Streaming subresources keep that mapping too: `exec`, `attach` and `portforward`
//! are `create` over `POST` and `get` over a `GET` WebSocket upgrade, exactly as RBAC
//! sees them, so a policy that wants to stop `kubectl exec` matches
//! `subresource: exec` (with any verb), not a verb. The `connect` verb is reported for
//! the HTTP `CONNECT` method (HTTP/2 extended CONNECT carries WebSocket upgrades,
//! i.e. exec/attach/portforward) and for any method the apiserver has no verb for:
//! such a request is never read as a harmless read. The legacy `proxy/` prefix is
//! reported as subresource `proxy`.
//!
//! **Recognition.** Plenty of ordinary REST APIs live under `/api/v1/...`, so a path
//! counts as Kubernetes only when
//! (a) it is under `/api/v1` and names a built-in core resource (pods, secrets, ...),
//! (b) it is under `/apis/{group}/{version}/` and the group contains a dot (every CRD
//! and aggregated API group does) or is a built-in dotless group (`apps`, `batch`, ...),
//! (c) it is exactly `/api` or `/apis`, or
//! (d) the request carries Kubernetes client hints ([`KubernetesHints`]); then any
//! Kubernetes-shaped path counts, including discovery paths and paths behind a proxy
//! prefix (`/k8s/clusters/c-1/api/v1/...`).
//!
//! **Spellings.** Empty segments, a trailing slash, `.`/`..` segments and anything
//! after `;`, `?` or `#` inside a segment do not change the answer; `api`/`apis`, `namespaces`, `watch`,
//! `proxy`, versions, groups, resources and subresources are compared and reported in
//! lowercase, because an upstream (or a proxy in front of it) that folds case would act
//! on the riskier reading. Namespaces and names are reported as sent.
//!
//! **Dry run** is reported only when every `dryRun` parameter is exactly `All` (the
//! only value the apiserver accepts) and there is at least one; `dryrun=All`,
//! `dryRun=all` or a parameter that cannot be decoded is not a dry run.

use serde::{Deserialize, Serialize};

/// The apiserver's RBAC verb for a request (see the module docs for the mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KubernetesVerb {
    /// Read one object (`GET` of a named object, or a discovery document).
    Get,
    /// Read a collection.
    List,
    /// Stream changes to an object or collection.
    Watch,
    /// `POST`: create an object, or run a `POST` subresource (exec, eviction, token, ...).
    Create,
    /// `PUT`: replace an object or subresource.
    Update,
    /// `PATCH`: modify an object or subresource.
    Patch,
    /// `DELETE` of a named object.
    Delete,
    /// `DELETE` of a collection.
    Deletecollection,
    /// The HTTP `CONNECT` method, or a method the apiserver maps to no verb.
    Connect,
}

/// What a Kubernetes API request does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubernetesFacts {
    /// The RBAC verb.
    pub verb: KubernetesVerb,
    /// The API group, lowercase; `""` for the core group (`/api/...`).
    pub api_group: String,
    /// The API version, lowercase (`v1`, `v1beta1`); `None` for `/api`, `/apis` and
    /// `/apis/{group}`.
    pub version: Option<String>,
    /// The resource (plural, lowercase); `None` for discovery paths.
    pub resource: Option<String>,
    /// The subresource, lowercase: `exec`, `attach`, `portforward`, `proxy`, `log`,
    /// `status`, `scale`, `eviction`, `token`, ...
    pub subresource: Option<String>,
    /// The namespace, as sent; for a namespace itself, its own name.
    pub namespace: Option<String>,
    /// The object's name, as sent; `None` for a collection.
    pub name: Option<String>,
    /// The request is an apiserver dry run (`dryRun=All`, every value).
    pub dry_run: bool,
    /// What the object(s) in the request body would do (see
    /// [`manifest`](super::manifest)); empty until the body is read, and for bodies
    /// without risks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<super::manifest::KubernetesRisk>,
}

/// Signs in the request headers that the client speaks the Kubernetes API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KubernetesHints {
    /// The `User-Agent` is kubectl's or client-go's.
    pub kubectl_user_agent: bool,
    /// `Accept` or `Content-Type` names a Kubernetes-specific media type.
    pub kubernetes_media_type: bool,
}

/// Media types only Kubernetes clients send (matched as lowercase substrings).
/// `merge-patch+json` and `json-patch+json` are generic RFCs, but kubectl and
/// client-go are by far their main senders towards an apiserver.
const KUBERNETES_MEDIA_MARKERS: [&str; 8] = [
    "application/vnd.kubernetes.",
    "application/apply-patch+",
    "application/strategic-merge-patch+",
    "application/json-patch+json",
    "application/merge-patch+json",
    // kubectl's server-side printing: `application/json;as=Table;v=v1;g=meta.k8s.io`.
    "g=meta.k8s.io",
    "as=table",
    "as=partialobjectmetadata",
];

impl KubernetesHints {
    /// Reads the hints from the `User-Agent`, `Accept` and `Content-Type` headers.
    ///
    /// client-go's default agent is `<program>/<version> (<os>/<arch>) kubernetes/<commit>`,
    /// so `kubernetes/` after a space counts as well as `kubectl/` and `client-go`.
    pub fn from_headers(
        user_agent: Option<&str>,
        accept: Option<&str>,
        content_type: Option<&str>,
    ) -> KubernetesHints {
        let kubectl_user_agent = user_agent.is_some_and(|agent| {
            let agent = agent.trim().to_ascii_lowercase();
            agent.starts_with("kubectl/")
                || agent.contains("client-go")
                || agent.contains(" kubernetes/")
        });
        let kubernetes_media_type = [accept, content_type].into_iter().flatten().any(|value| {
            let value = value.to_ascii_lowercase();
            KUBERNETES_MEDIA_MARKERS
                .iter()
                .any(|marker| value.contains(marker))
        });
        KubernetesHints {
            kubectl_user_agent,
            kubernetes_media_type,
        }
    }

    fn any(self) -> bool {
        self.kubectl_user_agent || self.kubernetes_media_type
    }
}

/// Resources of the core (`/api/v1`) group. The core group is closed (CRDs and
/// aggregated APIs cannot add to it), so this list is exact.
const CORE_RESOURCES: [&str; 17] = [
    "bindings",
    "componentstatuses",
    "configmaps",
    "endpoints",
    "events",
    "limitranges",
    "namespaces",
    "nodes",
    "persistentvolumeclaims",
    "persistentvolumes",
    "pods",
    "podtemplates",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "serviceaccounts",
    "services",
];

/// Built-in API groups whose names have no dot (every other group has one).
const DOTLESS_BUILTIN_GROUPS: [&str; 6] = [
    "apps",
    "autoscaling",
    "batch",
    "extensions",
    "policy",
    "componentconfig",
];

/// Subresources of a namespace that sit directly after its name.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Classifies a Kubernetes API request, or `None` when the request is not one (see the
/// module docs for what counts). `path` is the normalised request path, `query` the raw
/// query string. A `?` in `path` (a decoded `%3F`) is part of a segment, as it is to the
/// apiserver, and is never read as a query.
pub fn classify_kubernetes(
    method: &str,
    path: &str,
    query: &str,
    hints: KubernetesHints,
) -> Option<KubernetesFacts> {
    let params = QueryParams::parse(query);
    let segments = super::path::segments(path);
    let hinted = hints.any();

    if let Some(facts) = classify_segments(method, &segments, &params, hinted) {
        return Some(facts);
    }
    if hinted {
        // kubectl pointed at a proxy that serves the apiserver under a prefix.
        for start in 1..segments.len() {
            let Some(rest) = segments.get(start..) else {
                break;
            };
            if let Some(facts) = classify_segments(method, rest, &params, true) {
                return Some(facts);
            }
        }
    }
    None
}

/// How sure the shape alone makes us that this is the Kubernetes API.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Certainty {
    /// Kubernetes without any header hint.
    Certain,
    /// Kubernetes-shaped, but only with a header hint.
    NeedsHint,
}

fn classify_segments(
    method: &str,
    segments: &[&str],
    params: &QueryParams,
    hinted: bool,
) -> Option<KubernetesFacts> {
    let (prefix, rest) = segments.split_first()?;
    let (api_group, version, rest, group_certainty) = if prefix.eq_ignore_ascii_case("api") {
        match rest.split_first() {
            None => return Some(discovery(method, String::new(), None, params)),
            Some((version, rest)) => {
                let version = version.to_ascii_lowercase();
                let certainty = if version == "v1" {
                    Certainty::Certain
                } else {
                    Certainty::NeedsHint
                };
                (String::new(), version, rest, certainty)
            }
        }
    } else if prefix.eq_ignore_ascii_case("apis") {
        match rest {
            [] => return Some(discovery(method, String::new(), None, params)),
            [group] => {
                return hinted.then(|| discovery(method, group.to_ascii_lowercase(), None, params))
            }
            [group, version, rest @ ..] => {
                let group = group.to_ascii_lowercase();
                let certainty =
                    if group.contains('.') || DOTLESS_BUILTIN_GROUPS.contains(&group.as_str()) {
                        Certainty::Certain
                    } else {
                        Certainty::NeedsHint
                    };
                (group, version.to_ascii_lowercase(), rest, certainty)
            }
        }
    } else {
        return None;
    };

    if rest.is_empty() {
        // `/api/{version}`, `/apis/{group}/{version}`: discovery documents.
        return hinted.then(|| discovery(method, api_group, Some(version), params));
    }

    let facts = resource_request(method, api_group, version, rest, params);
    let certainty = match (&facts.resource, facts.api_group.is_empty()) {
        (None, _) => Certainty::NeedsHint,
        (Some(resource), true) => {
            if group_certainty == Certainty::Certain && CORE_RESOURCES.contains(&resource.as_str())
            {
                Certainty::Certain
            } else {
                Certainty::NeedsHint
            }
        }
        (Some(_), false) => group_certainty,
    };
    (certainty == Certainty::Certain || hinted).then_some(facts)
}

/// A discovery request: no resource.
fn discovery(
    method: &str,
    api_group: String,
    version: Option<String>,
    params: &QueryParams,
) -> KubernetesFacts {
    let verb = match method_verb(method) {
        MethodVerb::Read => KubernetesVerb::Get,
        MethodVerb::Other(verb) => verb,
    };
    KubernetesFacts {
        verb,
        api_group,
        version,
        resource: None,
        subresource: None,
        namespace: None,
        name: None,
        dry_run: params.dry_run(),
        risks: Vec::new(),
    }
}

/// A legacy verb written as a path segment after the version.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SpecialVerb {
    Watch,
    Proxy,
}

/// Parses what follows the version, the way the apiserver's `RequestInfoFactory` does.
fn resource_request(
    method: &str,
    api_group: String,
    version: String,
    rest: &[&str],
    params: &QueryParams,
) -> KubernetesFacts {
    let mut parts = rest;
    let mut special = None;
    if let Some((first, after)) = parts.split_first() {
        let first = first.to_ascii_lowercase();
        let verb = match first.as_str() {
            "watch" => Some(SpecialVerb::Watch),
            "proxy" => Some(SpecialVerb::Proxy),
            _ => None,
        };
        if verb.is_some() {
            special = verb;
            parts = after;
        }
    }

    let mut namespace = None;
    if let [first, ns, after @ ..] = parts {
        if first.eq_ignore_ascii_case("namespaces") {
            namespace = Some((*ns).to_string());
            if let Some(next) = after.first() {
                let next = next.to_ascii_lowercase();
                if !NAMESPACE_SUBRESOURCES.contains(&next.as_str()) {
                    parts = after;
                }
            }
        }
    }

    let resource = parts.first().map(|r| r.to_ascii_lowercase());
    let name = parts.get(1).map(|n| (*n).to_string());
    let subresource = match special {
        // The legacy proxy prefix proxies to the named object: what follows the name is
        // the proxied path, not a subresource.
        Some(SpecialVerb::Proxy) => Some("proxy".to_string()),
        _ => parts.get(2).map(|s| s.to_ascii_lowercase()),
    };

    let verb = match method_verb(method) {
        MethodVerb::Read => {
            if special == Some(SpecialVerb::Watch) {
                KubernetesVerb::Watch
            } else if resource.is_none() {
                KubernetesVerb::Get
            } else if name.is_none() {
                if params.watch() {
                    KubernetesVerb::Watch
                } else {
                    KubernetesVerb::List
                }
            } else {
                KubernetesVerb::Get
            }
        }
        MethodVerb::Other(KubernetesVerb::Delete) if name.is_none() && resource.is_some() => {
            KubernetesVerb::Deletecollection
        }
        MethodVerb::Other(verb) => verb,
    };

    KubernetesFacts {
        verb,
        api_group,
        version: Some(version),
        resource,
        subresource,
        namespace,
        name,
        dry_run: params.dry_run(),
        risks: Vec::new(),
    }
}

/// The verb an HTTP method maps to before looking at the path.
enum MethodVerb {
    /// `GET`/`HEAD`: get, list or watch depending on the path and query.
    Read,
    /// Every other method.
    Other(KubernetesVerb),
}

fn method_verb(method: &str) -> MethodVerb {
    let method = method.trim().to_ascii_uppercase();
    match method.as_str() {
        "GET" | "HEAD" => MethodVerb::Read,
        "POST" => MethodVerb::Other(KubernetesVerb::Create),
        "PUT" => MethodVerb::Other(KubernetesVerb::Update),
        "PATCH" => MethodVerb::Other(KubernetesVerb::Patch),
        "DELETE" => MethodVerb::Other(KubernetesVerb::Delete),
        _ => MethodVerb::Other(KubernetesVerb::Connect),
    }
}

/// Query parameters, decoded. A name or value that cannot be decoded is kept as
/// `None`, so that it can never make a request look like a read or a dry run.
struct QueryParams {
    pairs: Vec<(DecodedComponent, DecodedComponent)>,
}

/// A decoded query name or value; `None` when it could not be decoded.
type DecodedComponent = Option<Vec<u8>>;

impl QueryParams {
    fn parse(query: &str) -> QueryParams {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    super::path::decode_component(name),
                    super::path::decode_component(value),
                )
            })
            .collect();
        QueryParams { pairs }
    }

    /// Whether any `watch` parameter asks for a watch. The apiserver reads the first
    /// value and treats everything but `0` and `false` (any case) as true; any truthy
    /// value counts here, since a watch streams every later change.
    fn watch(&self) -> bool {
        self.pairs
            .iter()
            .filter(|(name, _)| name.as_deref() == Some(b"watch".as_slice()))
            .any(|(_, value)| match value {
                Some(value) => !(value.as_slice() == b"0" || value.eq_ignore_ascii_case(b"false")),
                None => true,
            })
    }

    /// Whether this is a dry run: at least one `dryRun`, every one exactly `All`, and
    /// nothing in the query that could not be decoded (it might be another `dryRun`).
    fn dry_run(&self) -> bool {
        let mut seen = false;
        for (name, value) in &self.pairs {
            let (Some(name), Some(_)) = (name, value) else {
                return false;
            };
            if name.as_slice() == b"dryRun" {
                if value.as_deref() != Some(b"All".as_slice()) {
                    return false;
                }
                seen = true;
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_HINTS: KubernetesHints = KubernetesHints {
        kubectl_user_agent: false,
        kubernetes_media_type: false,
    };
    const KUBECTL: KubernetesHints = KubernetesHints {
        kubectl_user_agent: true,
        kubernetes_media_type: false,
    };

    /// Facts as one line: `verb group|version|resource|subresource|namespace|name`,
    /// `-` for none, ` dry` appended for a dry run.
    fn describe(facts: &KubernetesFacts) -> String {
        let verb = serde_json::to_value(facts.verb).unwrap();
        let opt = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
        format!(
            "{} {}|{}|{}|{}|{}|{}{}",
            verb.as_str().unwrap(),
            facts.api_group,
            opt(&facts.version),
            opt(&facts.resource),
            opt(&facts.subresource),
            opt(&facts.namespace),
            opt(&facts.name),
            if facts.dry_run { " dry" } else { "" }
        )
    }

    #[test]
    fn classifies_the_kubernetes_rest_shape() {
        // (method, path, query, hints, expected description or None)
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str, KubernetesHints, Option<&str>)] = &[
            // Core group, namespaced.
            ("GET", "/api/v1/namespaces/default/pods", "", NO_HINTS, Some("list |v1|pods|-|default|-")),
            ("GET", "/api/v1/namespaces/default/pods/web-0", "", NO_HINTS, Some("get |v1|pods|-|default|web-0")),
            ("HEAD", "/api/v1/namespaces/default/pods/web-0", "", NO_HINTS, Some("get |v1|pods|-|default|web-0")),
            ("POST", "/api/v1/namespaces/default/pods", "", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("PUT", "/api/v1/namespaces/default/configmaps/cfg", "", NO_HINTS, Some("update |v1|configmaps|-|default|cfg")),
            ("PATCH", "/api/v1/namespaces/default/services/svc", "", NO_HINTS, Some("patch |v1|services|-|default|svc")),
            ("DELETE", "/api/v1/namespaces/default/secrets/db", "", NO_HINTS, Some("delete |v1|secrets|-|default|db")),
            ("DELETE", "/api/v1/namespaces/default/secrets", "", NO_HINTS, Some("deletecollection |v1|secrets|-|default|-")),
            // Trailing slashes and empty segments change nothing.
            ("GET", "/api/v1/namespaces/default/secrets/", "", NO_HINTS, Some("list |v1|secrets|-|default|-")),
            ("GET", "//api//v1///namespaces/default/secrets//", "", NO_HINTS, Some("list |v1|secrets|-|default|-")),
            ("DELETE", "/api/v1/namespaces/default/secrets/db/", "", NO_HINTS, Some("delete |v1|secrets|-|default|db")),
            // Streaming and other subresources keep the RBAC verb.
            ("POST", "/api/v1/namespaces/default/pods/x/exec", "command=sh", NO_HINTS, Some("create |v1|pods|exec|default|x")),
            ("GET", "/api/v1/namespaces/default/pods/x/exec/", "command=sh&stdin=true", NO_HINTS, Some("get |v1|pods|exec|default|x")),
            ("CONNECT", "/api/v1/namespaces/default/pods/x/exec", "", NO_HINTS, Some("connect |v1|pods|exec|default|x")),
            ("POST", "/api/v1/namespaces/default/pods/x/attach", "", NO_HINTS, Some("create |v1|pods|attach|default|x")),
            ("GET", "/api/v1/namespaces/default/pods/x/portforward", "ports=5432", NO_HINTS, Some("get |v1|pods|portforward|default|x")),
            ("GET", "/api/v1/namespaces/default/pods/x/log", "follow=true", NO_HINTS, Some("get |v1|pods|log|default|x")),
            ("GET", "/api/v1/namespaces/default/services/https:web:443/proxy/admin/delete", "", NO_HINTS, Some("get |v1|services|proxy|default|https:web:443")),
            ("POST", "/api/v1/namespaces/default/pods/x/eviction", "", NO_HINTS, Some("create |v1|pods|eviction|default|x")),
            ("POST", "/api/v1/namespaces/default/serviceaccounts/sa/token", "", NO_HINTS, Some("create |v1|serviceaccounts|token|default|sa")),
            ("PUT", "/apis/apps/v1/namespaces/prod/deployments/web/scale", "", NO_HINTS, Some("update apps|v1|deployments|scale|prod|web")),
            ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/status", "", NO_HINTS, Some("patch apps|v1|deployments|status|prod|web")),
            ("GET", "/api/v1/nodes/n1/proxy/metrics", "", NO_HINTS, Some("get |v1|nodes|proxy|-|n1")),
            // Cluster-scoped.
            ("GET", "/api/v1/nodes", "", NO_HINTS, Some("list |v1|nodes|-|-|-")),
            ("DELETE", "/api/v1/nodes/n1", "", NO_HINTS, Some("delete |v1|nodes|-|-|n1")),
            ("GET", "/api/v1/persistentvolumes/pv-1", "", NO_HINTS, Some("get |v1|persistentvolumes|-|-|pv-1")),
            ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "", NO_HINTS, Some("create rbac.authorization.k8s.io|v1|clusterrolebindings|-|-|-")),
            // Namespaces themselves: the namespace is the object.
            ("GET", "/api/v1/namespaces", "", NO_HINTS, Some("list |v1|namespaces|-|-|-")),
            ("DELETE", "/api/v1/namespaces/kube-system", "", NO_HINTS, Some("delete |v1|namespaces|-|kube-system|kube-system")),
            ("PUT", "/api/v1/namespaces/ns1/finalize", "", NO_HINTS, Some("update |v1|namespaces|finalize|ns1|ns1")),
            ("PUT", "/api/v1/namespaces/ns1/status/", "", NO_HINTS, Some("update |v1|namespaces|status|ns1|ns1")),
            ("POST", "/api/v1/namespaces", "", NO_HINTS, Some("create |v1|namespaces|-|-|-")),
            // Built-in dotless groups and CRDs.
            ("DELETE", "/apis/batch/v1/namespaces/ci/jobs", "", NO_HINTS, Some("deletecollection batch|v1|jobs|-|ci|-")),
            ("POST", "/apis/policy/v1/namespaces/ci/poddisruptionbudgets", "", NO_HINTS, Some("create policy|v1|poddisruptionbudgets|-|ci|-")),
            ("GET", "/apis/autoscaling/v2/namespaces/ci/horizontalpodautoscalers/h", "", NO_HINTS, Some("get autoscaling|v2|horizontalpodautoscalers|-|ci|h")),
            ("PATCH", "/apis/cert-manager.io/v1/namespaces/x/certificates/c", "", NO_HINTS, Some("patch cert-manager.io|v1|certificates|-|x|c")),
            ("GET", "/apis/metrics.k8s.io/v1beta1/pods", "", NO_HINTS, Some("list metrics.k8s.io|v1beta1|pods|-|-|-")),
            ("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com", "", NO_HINTS, Some("delete apiextensions.k8s.io|v1|customresourcedefinitions|-|-|widgets.example.com")),
            // Watch: legacy prefix and parameter.
            ("GET", "/api/v1/watch/namespaces/default/pods", "", NO_HINTS, Some("watch |v1|pods|-|default|-")),
            ("GET", "/api/v1/watch/namespaces/default/pods/web-0", "", NO_HINTS, Some("watch |v1|pods|-|default|web-0")),
            ("GET", "/apis/apps/v1/watch/deployments", "", NO_HINTS, Some("watch apps|v1|deployments|-|-|-")),
            ("GET", "/api/v1/secrets", "watch=true", NO_HINTS, Some("watch |v1|secrets|-|-|-")),
            ("GET", "/api/v1/secrets", "watch=1&resourceVersion=10", NO_HINTS, Some("watch |v1|secrets|-|-|-")),
            ("GET", "/api/v1/secrets", "watch", NO_HINTS, Some("watch |v1|secrets|-|-|-")),
            ("GET", "/api/v1/secrets", "watch=false", NO_HINTS, Some("list |v1|secrets|-|-|-")),
            ("GET", "/api/v1/secrets", "watch=0", NO_HINTS, Some("list |v1|secrets|-|-|-")),
            ("GET", "/api/v1/secrets", "watch=false&watch=true", NO_HINTS, Some("watch |v1|secrets|-|-|-")),
            ("GET", "/api/v1/secrets", "w%61tch=%74rue", NO_HINTS, Some("watch |v1|secrets|-|-|-")),
            ("GET", "/api/v1/namespaces/a/secrets/s", "watch=true", NO_HINTS, Some("get |v1|secrets|-|a|s")),
            // A watch prefix does not turn a write into a read.
            ("DELETE", "/api/v1/watch/namespaces/default/pods", "", NO_HINTS, Some("deletecollection |v1|pods|-|default|-")),
            // Legacy proxy prefix.
            ("GET", "/api/v1/proxy/namespaces/default/services/web/admin", "", NO_HINTS, Some("get |v1|services|proxy|default|web")),
            // dryRun variants.
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=All", NO_HINTS, Some("create |v1|pods|-|default|- dry")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=All&dryRun=All", NO_HINTS, Some("create |v1|pods|-|default|- dry")),
            ("POST", "/api/v1/namespaces/default/pods", "dry%52un=%41ll", NO_HINTS, Some("create |v1|pods|-|default|- dry")),
            ("POST", "/api/v1/namespaces/default/pods", "dryrun=All", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=all", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=All&dryRun=", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=All+", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=All;x=1", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=All&x=%zz", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun=%41l", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("POST", "/api/v1/namespaces/default/pods", "dryRun", NO_HINTS, Some("create |v1|pods|-|default|-")),
            ("DELETE", "/api/v1/namespaces/default/pods/x", "dryRun=All", NO_HINTS, Some("delete |v1|pods|-|default|x dry")),
            // Odd spellings.
            ("delete", "/API/V1/namespaces/default/Secrets/db", "", NO_HINTS, Some("delete |v1|secrets|-|default|db")),
            ("POST", "/api/v1/namespaces/default/pods/x/Exec", "", NO_HINTS, Some("create |v1|pods|exec|default|x")),
            ("POST", "/api/v1/namespaces/default/pods/x/exec;jsessionid=1", "", NO_HINTS, Some("create |v1|pods|exec|default|x")),
            ("POST", "/api/v1/namespaces/default/pods/x/log/../exec", "", NO_HINTS, Some("create |v1|pods|exec|default|x")),
            ("POST", "/api/v1/namespaces/default/pods/x/./exec/.", "", NO_HINTS, Some("create |v1|pods|exec|default|x")),
            ("GET", "/api/v1/namespaces/default/pods/x/exec?command=sh", "", NO_HINTS, Some("get |v1|pods|exec|default|x")),
            ("GET", "/api/v1/namespaces/default/pods/x?a=b/exec", "", NO_HINTS, Some("get |v1|pods|exec|default|x")),
            // A `?` in the path (a decoded `%3F`) is no query: the apiserver does not read it.
            ("GET", "/api/v1/pods?watch=true", "", NO_HINTS, Some("list |v1|pods|-|-|-")),
            ("POST", "/api/v1/namespaces/default/pods?dryRun=All", "", NO_HINTS, Some("create |v1|pods|-|default|-")),
            // Methods the apiserver has no verb for are never reads.
            ("OPTIONS", "/api/v1/namespaces/default/secrets", "", NO_HINTS, Some("connect |v1|secrets|-|default|-")),
            ("FOO", "/api/v1/namespaces/default/secrets/s", "", NO_HINTS, Some("connect |v1|secrets|-|default|s")),
            // Discovery.
            ("GET", "/api", "", NO_HINTS, Some("get |-|-|-|-|-")),
            ("GET", "/apis", "", NO_HINTS, Some("get |-|-|-|-|-")),
            ("GET", "/apis/", "", NO_HINTS, Some("get |-|-|-|-|-")),
            ("GET", "/api/v1", "", NO_HINTS, None),
            ("GET", "/apis/apps", "", NO_HINTS, None),
            ("GET", "/apis/apps/v1", "", NO_HINTS, None),
            ("GET", "/api/v1", "", KUBECTL, Some("get |v1|-|-|-|-")),
            ("GET", "/apis/apps", "", KUBECTL, Some("get apps|-|-|-|-|-")),
            ("GET", "/apis/apps/v1/", "", KUBECTL, Some("get apps|v1|-|-|-|-")),
            // Not Kubernetes: ordinary REST APIs under /api/v1 and /apis.
            ("GET", "/api/v1/users/42", "", NO_HINTS, None),
            ("DELETE", "/api/v1/users/42", "", NO_HINTS, None),
            ("POST", "/api/v1/orders", "dryRun=All", NO_HINTS, None),
            ("GET", "/api/v2/pods", "", NO_HINTS, None),
            ("GET", "/api/v1/namespaces/default/widgets", "", NO_HINTS, None),
            ("GET", "/apis/myapp/v1/things", "", NO_HINTS, None),
            ("GET", "/v1/namespaces/default/pods", "", NO_HINTS, None),
            ("GET", "/foo/api/v1/pods", "", NO_HINTS, None),
            ("GET", "/", "", NO_HINTS, None),
            ("GET", "", "", NO_HINTS, None),
            ("GET", "/apiv1/pods", "", NO_HINTS, None),
            ("GET", "/api/v1/../../etc/pods", "", NO_HINTS, None),
            // With hints, any Kubernetes shape counts, behind a proxy prefix too.
            ("GET", "/api/v1/namespaces/default/widgets", "", KUBECTL, Some("list |v1|widgets|-|default|-")),
            ("GET", "/apis/myapp/v1/things/t", "", KUBECTL, Some("get myapp|v1|things|-|-|t")),
            ("DELETE", "/k8s/clusters/c-1/api/v1/namespaces/prod/secrets/db", "", KUBECTL, Some("delete |v1|secrets|-|prod|db")),
            ("GET", "/k8s/clusters/c-1/apis", "", KUBECTL, Some("get |-|-|-|-|-")),
            ("GET", "/api/v1/watch", "", KUBECTL, Some("watch |v1|-|-|-|-")),
            ("GET", "/api/v1/watch", "", NO_HINTS, None),
        ];
        assert!(cases.len() >= 40);
        let mut failures = Vec::new();
        for (method, path, query, hints, want) in cases {
            let got = classify_kubernetes(method, path, query, *hints).map(|f| describe(&f));
            if got.as_deref() != *want {
                failures.push(format!(
                    "{method} {path}?{query} {hints:?}: got {got:?}, want {want:?}"
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn hints_come_from_client_headers() {
        /// (user agent, accept, content type, kubectl agent, kubernetes media type)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            bool,
            bool,
        );
        let cases: &[Case] = &[
            (
                Some("kubectl/v1.30.1 (linux/amd64) kubernetes/abc1234"),
                None,
                None,
                true,
                false,
            ),
            (Some("KUBECTL/v1.30.1"), None, None, true, false),
            (
                Some("my-operator/v0.1.0 (linux/amd64) kubernetes/$Format"),
                None,
                None,
                true,
                false,
            ),
            (Some("client-go/1.0"), None, None, true, false),
            (Some("curl/8.5.0"), None, None, false, false),
            (Some("notkubectl/1.0"), None, None, false, false),
            (
                None,
                Some("application/vnd.kubernetes.protobuf, */*"),
                None,
                false,
                true,
            ),
            (
                None,
                Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
                None,
                false,
                true,
            ),
            (
                None,
                None,
                Some("application/apply-patch+yaml"),
                false,
                true,
            ),
            (
                None,
                None,
                Some("Application/Strategic-Merge-Patch+JSON"),
                false,
                true,
            ),
            (None, None, Some("application/json-patch+json"), false, true),
            (
                None,
                None,
                Some("application/merge-patch+json; charset=utf-8"),
                false,
                true,
            ),
            (
                None,
                Some("application/json"),
                Some("application/json"),
                false,
                false,
            ),
            (None, None, None, false, false),
        ];
        for (agent, accept, content_type, kubectl, media) in cases {
            let hints = KubernetesHints::from_headers(*agent, *accept, *content_type);
            assert_eq!(
                (hints.kubectl_user_agent, hints.kubernetes_media_type),
                (*kubectl, *media),
                "{agent:?} {accept:?} {content_type:?}"
            );
        }
    }

    #[test]
    fn a_media_type_hint_alone_makes_a_shape_count() {
        let hints = KubernetesHints::from_headers(None, None, Some("application/apply-patch+yaml"));
        let facts = classify_kubernetes(
            "PATCH",
            "/apis/example/v1/namespaces/a/widgets/w",
            "",
            hints,
        )
        .unwrap();
        assert_eq!(describe(&facts), "patch example|v1|widgets|-|a|w");
        assert!(classify_kubernetes(
            "PATCH",
            "/apis/example/v1/namespaces/a/widgets/w",
            "",
            NO_HINTS
        )
        .is_none());
    }

    #[test]
    fn facts_serialise_as_snake_case_json() {
        let facts = classify_kubernetes(
            "DELETE",
            "/api/v1/namespaces/a/secrets",
            "dryRun=All",
            NO_HINTS,
        )
        .unwrap();
        let json = serde_json::to_value(&facts).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "verb": "deletecollection",
                "api_group": "",
                "version": "v1",
                "resource": "secrets",
                "subresource": null,
                "namespace": "a",
                "name": null,
                "dry_run": true,
            })
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        let pieces = [
            "/",
            "api",
            "apis",
            "v1",
            "namespaces",
            "watch",
            "proxy",
            "pods",
            "..",
            ".",
            ";",
            "%",
            "?",
            "é",
            "",
            "x",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..5000 {
            let mut path = String::new();
            let mut query = String::new();
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let piece = pieces[(state % pieces.len() as u64) as usize];
                if state & 0x100 == 0 {
                    path.push_str(piece);
                } else {
                    query.push_str(piece);
                    query.push_str(["=", "&", "%4", "+"][((state >> 20) % 4) as usize]);
                }
            }
            for hints in [NO_HINTS, KUBECTL] {
                let _ = classify_kubernetes("GET", &path, &query, hints);
            }
        }
    }
}
