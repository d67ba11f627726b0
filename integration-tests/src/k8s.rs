//! A small stand-in for the Kubernetes API server: enough of the REST shape for
//! `kubectl delete pod`, `kubectl get pod` and `kubectl get secret` (legacy discovery,
//! pods and secrets in namespaces; secrets get, list, list across namespaces and watch,
//! in the API server's wire format). Every request it receives is recorded, so a test
//! can prove what reached "the cluster".

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

type Seen = Arc<Mutex<Vec<String>>>;

/// A running Kubernetes API stand-in.
pub struct KubeApi {
    addr: SocketAddr,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl KubeApi {
    /// Starts it on a free loopback port.
    pub async fn start() -> anyhow::Result<KubeApi> {
        let seen: Seen = Arc::default();
        let app = Router::new()
            .route("/api", get(api_versions))
            .route("/apis", get(api_groups))
            .route("/api/v1", get(core_resources))
            .route("/api/v1/namespaces/{ns}/pods", get(pod_list))
            .route(
                "/api/v1/namespaces/{ns}/pods/{name}",
                get(get_pod).delete(delete_pod),
            )
            .route("/api/v1/secrets", get(all_secrets))
            .route("/api/v1/namespaces/{ns}/secrets", get(secret_list))
            .route("/api/v1/namespaces/{ns}/secrets/{name}", get(get_secret))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&seen),
                record,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(KubeApi { addr, seen, task })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, as `METHOD path?query`, in arrival order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// How many `DELETE`s of `path` it received.
    pub fn deletes_of(&self, path: &str) -> usize {
        let wanted = format!("DELETE {path}");
        self.seen()
            .iter()
            .filter(|s| s.split('?').next() == Some(wanted.as_str()))
            .count()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(seen): State<Seen>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let line = format!(
        "{} {}",
        request.method(),
        request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    if let Ok(mut seen) = seen.lock() {
        seen.push(line);
    }
    next.run(request).await
}

async fn api_versions() -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]
    }))
}

async fn api_groups() -> Json<Value> {
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
}

async fn core_resources() -> Json<Value> {
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    Json(json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
             "verbs": verbs, "shortNames": ["po"]},
            {"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret",
             "verbs": verbs}
        ]
    }))
}

fn pod(ns: &str, name: &str) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"),
                     "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        "status": {"phase": "Running"}
    })
}

async fn get_pod(Path((ns, name)): Path<(String, String)>) -> Json<Value> {
    Json(pod(&ns, &name))
}

/// After a delete, kubectl waits for the pod to be gone by listing it by name: the
/// list is always empty here.
async fn pod_list(Path(ns): Path<String>) -> Json<Value> {
    let _ = ns;
    Json(json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "2"}, "items": []
    }))
}

async fn delete_pod(Path((ns, name)): Path<(String, String)>) -> Json<Value> {
    Json(json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "kind": "pods", "uid": format!("uid-{ns}-{name}")}
    }))
}

/// One Secret the fake API server serves: `(namespace, name, [(key, value)])`.
pub type SecretSpec = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The Secrets it serves, values in clear (the API server sends them base64-encoded
/// under `data`).
pub const SECRETS: &[SecretSpec] = &[
    (
        "prod",
        "app",
        &[
            (
                "DATABASE_URL",
                "postgres://app:Vq8-dsn-pass-77@db.internal:5432/app",
            ),
            ("STRIPE", "sk_live_51HxQmZ2eVn8kLp4Rt6Yw3Ju9Bc"),
            ("plain-setting", "blue-green-rollout"),
            (
                ".dockerconfigjson",
                r#"{"auths":{"registry.example.com":{"auth":"cm9ib3Q6cmVnLXB3LTk5"}}}"#,
            ),
        ],
    ),
    (
        "dev",
        "tls",
        &[
            (
                "tls.key",
                "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANdevkey\n-----END PRIVATE KEY-----\n",
            ),
            ("token", "dev-token-4f9a1c"),
        ],
    ),
];

/// Every Secret value, in clear and base64-encoded: none of them may reach a client
/// through Warden.
pub fn secret_values() -> Vec<String> {
    use base64::Engine as _;
    let mut values = Vec::new();
    for (_, _, data) in SECRETS {
        for (_, value) in *data {
            values.push((*value).to_string());
            values.push(base64::engine::general_purpose::STANDARD.encode(value));
        }
    }
    values
}

/// A Secret as the API server writes it: `kind` and `apiVersion` first (list items
/// have neither), `data` base64.
fn secret(ns: &str, name: &str, data: &[(&str, &str)], typed: bool) -> Value {
    use base64::Engine as _;
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_string(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect();
    let mut object = serde_json::Map::new();
    if typed {
        object.insert("kind".into(), json!("Secret"));
        object.insert("apiVersion".into(), json!("v1"));
    }
    object.insert(
        "metadata".into(),
        json!({"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"),
               "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z"}),
    );
    object.insert("data".into(), Value::Object(data));
    object.insert("type".into(), json!("Opaque"));
    Value::Object(object)
}

fn secrets_in(ns: Option<&str>, name: Option<&str>, typed: bool) -> Vec<Value> {
    SECRETS
        .iter()
        .filter(|(n, s, _)| ns.is_none_or(|ns| ns == *n) && name.is_none_or(|name| name == *s))
        .map(|(n, s, data)| secret(n, s, data, typed))
        .collect()
}

async fn get_secret(Path((ns, name)): Path<(String, String)>) -> Response {
    match secrets_in(Some(&ns), Some(&name), true).pop() {
        Some(secret) => Json(secret).into_response(),
        None => not_found().await,
    }
}

fn secret_list_of(items: Vec<Value>) -> Response {
    Json(json!({
        "kind": "SecretList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "7"}, "items": items
    }))
    .into_response()
}

async fn all_secrets() -> Response {
    secret_list_of(secrets_in(None, None, false))
}

/// A list, or with `watch=true` a watch stream: one JSON event per line, written as
/// they happen (chunked), then the stream ends (kubectl then stops watching).
async fn secret_list(
    Path(ns): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let name = query
        .get("fieldSelector")
        .and_then(|s| s.strip_prefix("metadata.name="))
        .map(str::to_string);
    let items = secrets_in(Some(&ns), name.as_deref(), false);
    if !matches!(query.get("watch").map(String::as_str), Some("true" | "1")) {
        return secret_list_of(items);
    }
    let events: Vec<Result<bytes::Bytes, std::io::Error>> =
        secrets_in(Some(&ns), name.as_deref(), true)
            .into_iter()
            .flat_map(|s| {
                ["ADDED", "MODIFIED"].map(|kind| {
                    let mut line =
                        serde_json::to_vec(&json!({"type": kind, "object": s})).unwrap_or_default();
                    line.push(b'\n');
                    Ok(bytes::Bytes::from(line))
                })
            })
            .collect();
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(futures::stream::iter(events)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server could not find the requested resource",
            "reason": "NotFound", "code": 404
        })),
    )
        .into_response()
}
