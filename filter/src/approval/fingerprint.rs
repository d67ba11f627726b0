//! The fingerprint of an operation: what an approval is bound to.
//!
//! Two requests have the same fingerprint when they do the same thing: same effective
//! method, host and port, normalised path and query, the same classifier facts
//! (Kubernetes resource, git ref updates, SQL, MCP tool and arguments, GraphQL
//! operations), the same values of the headers that are part of the operation (the
//! database, schema or tenant they address, impersonation...; see
//! [`super::DEFAULT_BOUND_HEADERS`] and a rule's `approval.bind_headers`) and the same
//! body. What varies between two sendings of one operation is left out, so an agent's
//! retry matches: the caller's identity (bound separately), other headers, JSON-RPC
//! request ids and `_meta` (MCP clients number their requests), and a git push's
//! packfile (its ref updates already name the exact commits).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::classify::RequestFacts;

/// `sha256:<hex>` over the canonical description of an operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fingerprint of the operation `facts` describe, with `body` the request body as
/// received (decoded: `content-encoding` undone), or `None` when the request had none
/// or it was not read (a git push, whose ref updates are in `facts`). `bound_headers`
/// name the headers that are part of the operation (folded patterns).
pub fn fingerprint(
    facts: &RequestFacts,
    body: Option<&[u8]>,
    bound_headers: &[String],
) -> Fingerprint {
    let mut described = serde_json::to_value(Described::from(facts)).unwrap_or(Value::Null);
    if let Some(mcp) = described.pointer_mut("/facts/mcp/messages") {
        for message in mcp.as_array_mut().into_iter().flatten() {
            if let Some(object) = message.as_object_mut() {
                object.remove("id");
            }
        }
    }
    let body_digest = body.map(|b| body_digest(facts, b));
    let canonical = serde_json::json!({
        "v": 2,
        "operation": described,
        "headers": bound_values(facts, bound_headers),
        "body": body_digest,
    });
    let mut hasher = Sha256::new();
    hasher.update(canonical.to_string().as_bytes());
    Fingerprint(format!("sha256:{}", hex(&hasher.finalize())))
}

/// The facts that describe the operation, without the caller and headers.
#[derive(Serialize)]
struct Described<'a> {
    facts: FactsWithoutCaller<'a>,
}

#[derive(Serialize)]
struct FactsWithoutCaller<'a> {
    method: &'a str,
    method_overrides: &'a [String],
    host: &'a str,
    port: Option<u16>,
    path: &'a str,
    query: &'a str,
    kubernetes: &'a [crate::classify::kubernetes::KubernetesFacts],
    git: Option<&'a crate::classify::GitFacts>,
    sql: &'a [crate::classify::SqlFound],
    mcp: Option<&'a crate::classify::mcp::McpFacts>,
    graphql: &'a [crate::classify::graphql::GraphqlFacts],
}

impl<'a> From<&'a RequestFacts> for Described<'a> {
    fn from(f: &'a RequestFacts) -> Self {
        Described {
            facts: FactsWithoutCaller {
                method: &f.method,
                method_overrides: &f.method_overrides,
                host: &f.host,
                port: f.port,
                path: &f.path,
                query: &f.query,
                kubernetes: &f.kubernetes,
                git: f.git.as_ref(),
                sql: &f.sql,
                mcp: f.mcp.as_ref(),
                graphql: &f.graphql,
            },
        }
    }
}

/// The body's digest. A JSON-RPC body is compared without its request ids and
/// `params._meta` (re-serialised with sorted keys, so whitespace and key order do not
/// matter either); any other body byte for byte.
fn body_digest(facts: &RequestFacts, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    let canonical = facts
        .mcp
        .as_ref()
        .filter(|mcp| mcp.malformed.is_empty())
        .and_then(|_| serde_json::from_slice::<Value>(body).ok())
        .map(|mut value| {
            match &mut value {
                Value::Array(elements) => elements.iter_mut().for_each(strip_rpc_noise),
                other => strip_rpc_noise(other),
            }
            // serde_json's map is ordered by key: the text is canonical.
            value.to_string()
        });
    match canonical {
        Some(text) => {
            hasher.update(b"jsonrpc:");
            hasher.update(text.as_bytes());
        }
        None => {
            hasher.update(b"bytes:");
            hasher.update(body);
        }
    }
    format!("sha256:{}", hex(&hasher.finalize()))
}

fn strip_rpc_noise(message: &mut Value) {
    if let Some(object) = message.as_object_mut() {
        object.remove("id");
        if let Some(params) = object.get_mut("params").and_then(Value::as_object_mut) {
            params.remove("_meta");
        }
    }
}

/// A header name or pattern as compared: lowercase, every character other than a
/// letter, digit or `*` read as `-` (servers that fold `_` and `-` read
/// `x_database` as `x-database`, so both spellings bind alike).
pub fn fold_header_pattern(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '*' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// True when `name` (folded) matches `pattern` (folded; `*` matches any run).
fn header_pattern_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The request's values of the bound headers: folded name → values in order (trimmed).
/// Headers that are absent are absent, so adding one to the retry changes it.
fn bound_values(
    facts: &RequestFacts,
    bound_headers: &[String],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in facts.headers.iter() {
        let folded = fold_header_pattern(name);
        if bound_headers
            .iter()
            .any(|pattern| header_pattern_matches(pattern, &folded))
        {
            out.entry(folded)
                .or_default()
                .push(String::from_utf8_lossy(value).trim().to_string());
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
