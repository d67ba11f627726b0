//! A small stand-in for the Kubernetes API server: enough of the REST shape for
//! `kubectl delete pod` and `kubectl get pod` (legacy discovery, pods and secrets in
//! namespaces). Every request it receives is recorded, so a test can prove what
//! reached "the cluster".

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Request, State};
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
