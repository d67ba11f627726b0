//! Classifier facts that depend on the request body, through a real Envoy over every
//! framing: HTTP/1.1 with a length, HTTP/1.1 chunked, HTTP/2 with and without a
//! length. The evasion suite (`policy_evasion`) sends each attempt once with a length;
//! here the same kinds of request must be held whatever the framing, including a
//! body Warden cannot buffer (a Kubernetes protobuf stream of unknown length).

use anyhow::{bail, Context};
use bytes::Bytes;
use warden_integration_tests::paths;
use warden_integration_tests::stack::{http1_client, http2_client, Stack, StackOptions};

/// One request of the matrix.
struct Attempt {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    /// `hold`, `deny` or `allow`.
    want: &'static str,
    rule: Option<&'static str>,
}

fn attempts() -> Vec<Attempt> {
    let json = "application/json";
    vec![
        Attempt {
            name: "privileged pod (JSON)",
            method: "POST",
            path: "/api/v1/namespaces/default/pods",
            content_type: json,
            body: br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i","securityContext":{"privileged":true}}]}}"#.to_vec(),
            want: "hold",
            rule: Some("k8s-privileged-workload"),
        },
        Attempt {
            name: "server-side apply of a hostPath deployment (YAML)",
            method: "PATCH",
            path: "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl",
            content_type: "application/apply-patch+yaml",
            body: b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: i\n      volumes:\n      - name: root\n        hostPath:\n          path: /\n".to_vec(),
            want: "hold",
            rule: Some("k8s-privileged-workload"),
        },
        Attempt {
            name: "protobuf pod Warden cannot read",
            method: "POST",
            path: "/api/v1/namespaces/default/pods",
            content_type: "application/vnd.kubernetes.protobuf",
            body: b"k8s\x00\n\x0b\n\x02v1\x12\x03Pod\x12\x80\x01\xff\xfe\x00privileged".to_vec(),
            want: "hold",
            rule: Some("k8s-opaque-body"),
        },
        Attempt {
            name: "scale to zero",
            method: "PATCH",
            path: "/apis/apps/v1/namespaces/prod/deployments/web/scale",
            content_type: "application/merge-patch+json",
            body: br#"{"spec":{"replicas":0}}"#.to_vec(),
            want: "hold",
            rule: Some("k8s-scale-to-zero"),
        },
        Attempt {
            name: "ClusterRoleBinding to cluster-admin",
            method: "POST",
            path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            content_type: json,
            body: br#"{"kind":"ClusterRoleBinding","roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"agent"}]}"#.to_vec(),
            want: "hold",
            rule: Some("k8s-rbac-escalation"),
        },
        Attempt {
            name: "GitHub ref move of main",
            method: "PATCH",
            path: "/repos/acme/app/git/refs/heads/main",
            content_type: json,
            body: br#"{"sha":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","force":true}"#.to_vec(),
            want: "hold",
            rule: Some("git-push-protected"),
        },
        Attempt {
            name: "GitHub merge into main (ref in the body)",
            method: "POST",
            path: "/repos/acme/app/merges",
            content_type: json,
            body: br#"{"base":"main","head":"feature"}"#.to_vec(),
            want: "hold",
            rule: Some("git-push-protected"),
        },
        Attempt {
            name: "MCP call without jsonrpc",
            method: "POST",
            path: "/mcp",
            content_type: json,
            body: br#"{"id":1,"method":"tools/call","params":{"name":"delete_file","arguments":{}}}"#.to_vec(),
            want: "deny",
            rule: Some("mcp-malformed"),
        },
        Attempt {
            name: "MCP code execution tool",
            method: "POST",
            path: "/mcp",
            content_type: json,
            body: br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_python","arguments":{"code":"1"}}}"#.to_vec(),
            want: "hold",
            rule: Some("mcp-code-execution"),
        },
        Attempt {
            name: "GraphQL persisted query",
            method: "POST",
            path: "/graphql",
            content_type: json,
            body: br#"{"operationName":"Wipe","extensions":{"persistedQuery":{"version":1,"sha256Hash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}}"#.to_vec(),
            want: "deny",
            rule: Some("graphql-opaque"),
        },
        Attempt {
            name: "GraphQL form-encoded mutation",
            method: "POST",
            path: "/graphql",
            content_type: "application/x-www-form-urlencoded",
            body: b"query=mutation%20%7B%20productDelete(id%3A%201)%20%7B%20id%20%7D%20%7D".to_vec(),
            want: "hold",
            rule: Some("graphql-destructive-mutation"),
        },
        Attempt {
            name: "SQL constant-subquery tautology",
            method: "POST",
            path: "/query",
            content_type: json,
            body: br#"{"sql":"DELETE FROM users WHERE (select true)"}"#.to_vec(),
            want: "hold",
            rule: Some("sql-unbounded-write"),
        },
        Attempt {
            name: "control: a plain deployment",
            method: "POST",
            path: "/apis/apps/v1/namespaces/default/deployments",
            content_type: json,
            body: br#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#.to_vec(),
            want: "allow",
            rule: None,
        },
        Attempt {
            name: "control: a GraphQL query",
            method: "POST",
            path: "/graphql",
            content_type: json,
            body: br#"{"query":"{ me { id } }"}"#.to_vec(),
            want: "allow",
            rule: None,
        },
    ]
}

/// A body sent without `content-length` (chunked on HTTP/1.1, no length on HTTP/2),
/// split so that no one chunk holds the whole document.
fn streamed(data: &[u8]) -> reqwest::Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(7)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_facts_hold_over_http1_http2_with_and_without_length() -> anyhow::Result<()> {
    let policies = paths::repo_root().join("policies");
    let stack = Stack::start(StackOptions {
        warden_config: format!("policy:\n  dir: {}\n", policies.display()),
        ..StackOptions::default()
    })
    .await?;

    let mut failures = Vec::new();
    let mut index = 0;
    for (transport, client) in [("http/1.1", http1_client()), ("h2c", http2_client())] {
        for with_length in [true, false] {
            for attempt in attempts() {
                index += 1;
                let marker = format!("classify-gap-{index}");
                let request = client
                    .request(
                        attempt.method.parse().context("method")?,
                        stack.envoy.url(attempt.path),
                    )
                    .header("content-type", attempt.content_type)
                    .header("x-test-case", &marker);
                let request = if with_length {
                    request.body(attempt.body.clone())
                } else {
                    request.body(streamed(&attempt.body))
                };
                let label = format!(
                    "{transport} {} {}: {}",
                    if with_length {
                        "with length"
                    } else {
                        "streamed"
                    },
                    attempt.method,
                    attempt.name
                );
                let response = request.send().await.with_context(|| label.clone())?;
                let status = response.status();
                let decision = response
                    .headers()
                    .get("x-warden-decision")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let rule = response
                    .headers()
                    .get("x-warden-rule")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let text = response.text().await.unwrap_or_default();
                let reached = stack.upstream.seen().iter().any(|seen| {
                    seen.headers
                        .iter()
                        .any(|(name, value)| name == "x-test-case" && *value == marker)
                });
                let problem = if attempt.want == "allow" {
                    (!reached || status != 200)
                        .then(|| format!("expected to pass; got {status} {decision:?}: {text}"))
                } else if reached {
                    Some(format!("reached the upstream ({status} {decision:?})"))
                } else if decision.as_deref() != Some(attempt.want) {
                    Some(format!(
                        "expected {}; got {status} {decision:?}: {text}",
                        attempt.want
                    ))
                } else if attempt.rule.is_some() && rule.as_deref() != attempt.rule {
                    Some(format!("expected rule {:?}, got {rule:?}", attempt.rule))
                } else {
                    None
                };
                if let Some(problem) = problem {
                    failures.push(format!("{label}: {problem}"));
                }
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {index} requests failed:\n{}\n--- logs ---\n{}",
            failures.len(),
            failures.join("\n"),
            stack.logs()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_and_sql_in_query_strings_over_http2() -> anyhow::Result<()> {
    let policies = paths::repo_root().join("policies");
    let stack = Stack::start(StackOptions {
        warden_config: format!("policy:\n  dir: {}\n", policies.display()),
        ..StackOptions::default()
    })
    .await?;
    let cases = [
        (
            "/graphql?query=mutation%20%7B%20user_destroy(id%3A%201)%20%7D",
            "hold",
        ),
        ("/graphql?documentId=abc&variables=%7B%7D", "deny"),
        ("/graphql?query=%7B%20me%20%7B%20id%20%7D%20%7D", "allow"),
        ("/search?query=query%20the%20orders", "allow"),
    ];
    let mut failures = Vec::new();
    for (transport, client) in [("http/1.1", http1_client()), ("h2c", http2_client())] {
        for (path, want) in cases {
            let response = client.get(stack.envoy.url(path)).send().await?;
            let status = response.status();
            let decision = response
                .headers()
                .get("x-warden-decision")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let ok = match want {
                "allow" => status == 200,
                want => decision.as_deref() == Some(want),
            };
            if !ok {
                failures.push(format!(
                    "{transport} GET {path}: want {want}, got {status} {decision:?}"
                ));
            }
        }
    }
    if !failures.is_empty() {
        bail!("{}\n--- logs ---\n{}", failures.join("\n"), stack.logs());
    }
    Ok(())
}
