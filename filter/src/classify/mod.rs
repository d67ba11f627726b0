//! Classification: what a request *does*, as plain facts a policy matches on.
//!
//! Protocols are recognised from the request itself — path shapes (`/api/v1/...`,
//! `/info/refs?service=`), JSON-RPC 2.0 bodies, SQL fields in JSON or form bodies,
//! GraphQL documents, LLM API shapes — not from host names a user must configure, so
//! the default policy protects an unfamiliar upstream too. Each protocol has its own
//! pure module; this one normalises the request and routes its parts to them.
//!
//! A body that cannot be read (unknown encoding, malformed JSON where JSON is declared
//! or sniffed, ambiguous duplicate keys) is recorded in [`BodyFacts::unreadable`] and
//! never counts as harmless.

mod container;
pub mod git;
pub mod git_api;
pub mod graphql;
mod json;
pub mod kubernetes;
pub mod llm;
pub mod manifest;
pub mod mcp;
pub mod path;
pub mod sql;
mod sql_fast;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::content::Declared;
use crate::http::{Headers, RequestHead};
use crate::identity::Identity;

pub use path::normalize_path;

/// Headers through which clients ask a server to treat a request as another method.
/// Some frameworks honour them; a policy on `DELETE` must see them too.
const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Where SQL is looked for, and how it is parsed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSettings {
    /// JSON keys (at any depth), form fields and query parameters whose value is SQL.
    /// `query` is also a common name for search strings and GraphQL documents, so a
    /// `query` value counts as SQL only when it looks like SQL; every other listed
    /// field always does.
    #[serde(default = "default_sql_fields")]
    pub fields: Vec<String>,
    /// Dialects the text is parsed with; the facts are the union of the dialects
    /// that parse it (the most conservative reading).
    #[serde(default = "default_dialects")]
    pub dialects: Vec<sql::SqlDialect>,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            fields: default_sql_fields(),
            dialects: default_dialects(),
        }
    }
}

fn default_sql_fields() -> Vec<String> {
    ["query", "sql", "statement", "stmt", "sql_query", "command"]
        .map(String::from)
        .to_vec()
}

fn default_dialects() -> Vec<sql::SqlDialect> {
    vec![
        sql::SqlDialect::Postgres,
        sql::SqlDialect::MySql,
        sql::SqlDialect::Generic,
    ]
}

/// A protocol Warden recognised in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Any HTTP request (every request has it).
    Http,
    /// The Kubernetes API.
    Kubernetes,
    /// git smart HTTP.
    Git,
    /// SQL carried in a field or parameter.
    Sql,
    /// MCP / JSON-RPC 2.0.
    Mcp,
    /// GraphQL.
    Graphql,
    /// An LLM API (OpenAI, Anthropic).
    Llm,
}

/// One SQL text found in a request, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SqlFound {
    /// Where: `query:sql`, `body:$.params.arguments.query`, `form:statement`, `body`.
    pub location: String,
    /// What it does.
    pub facts: sql::SqlFacts,
    /// The text itself (for reading which result columns it computes from which,
    /// [`sql::renamed_columns`]; never printed).
    #[serde(skip)]
    pub text: String,
}

/// git facts: the request line, and the ref updates of a push.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GitFacts {
    /// Service and phase.
    pub request: git::GitRequest,
    /// Ref updates a receive-pack request carries (empty until its body was read), or
    /// that a ref API call asks for (an empty ref name: unknown, any ref).
    pub ref_updates: Vec<git::RefUpdate>,
    /// For a ref API call: the ref update its body names, still to be read.
    #[serde(skip)]
    pub body_ref: Option<git_api::BodyRef>,
}

/// What Warden could tell about the request body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BodyFacts {
    /// The body was read and classified.
    pub inspected: bool,
    /// Why the body could not be read, when it could not.
    pub unreadable: Option<String>,
    /// How it was read: `json`, `form`, `sql`, `graphql`, `git`, `text`.
    pub format: Option<String>,
}

/// Everything a policy can match on, for one request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RequestFacts {
    /// `:method`, uppercase.
    pub method: String,
    /// Methods asked for through override headers or a `_method` parameter, uppercase.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub method_overrides: Vec<String>,
    /// `:authority` without port, lowercase.
    pub host: String,
    /// The port `:authority` names, when it names one other than the scheme's default
    /// (an approval binds it: the same host on another port is another service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The normalised path (see [`path`]).
    pub path: String,
    /// The query string as sent.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query: String,
    /// Recognised protocols (always includes `http`).
    pub protocols: BTreeSet<Protocol>,
    /// The caller, when identified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityFacts>,
    /// Kubernetes API facts, one per method the request may be read as.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kubernetes: Vec<kubernetes::KubernetesFacts>,
    /// git smart HTTP facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitFacts>,
    /// Every SQL text found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<SqlFound>,
    /// JSON-RPC / MCP facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp: Option<mcp::McpFacts>,
    /// GraphQL documents found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub graphql: Vec<graphql::GraphqlFacts>,
    /// LLM API facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<llm::LlmFacts>,
    /// The request body, when it was needed.
    pub body: BodyFacts,
    /// Request headers (for header conditions; not printed).
    #[serde(skip)]
    pub headers: Headers,
}

/// The identity facts a policy matches on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentityFacts {
    /// Subject (`sub` or SPIFFE id).
    pub subject: String,
    /// Groups.
    pub groups: Vec<String>,
    /// `agent` or `human`.
    pub kind: String,
}

impl From<&Identity> for IdentityFacts {
    fn from(identity: &Identity) -> Self {
        IdentityFacts {
            subject: identity.subject.clone(),
            groups: identity.groups.clone(),
            kind: identity.kind.name().to_string(),
        }
    }
}

impl RequestFacts {
    /// The method and every override, uppercase, without repeats.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.method.as_str())
            .chain(self.method_overrides.iter().map(|m| m.as_str()))
    }
}

/// Facts from the request head alone: method, host, normalised path, identity, and the
/// protocols recognisable from the request line (Kubernetes, git).
pub fn classify_head(
    head: &RequestHead,
    identity: Option<IdentityFacts>,
    sql: &SqlSettings,
) -> RequestFacts {
    let (raw_path, query) = path::split_target(&head.path);
    let path = normalize_path(raw_path);
    let method = head.method.to_ascii_uppercase();
    let query_pairs = path::form_pairs(query.as_bytes());

    let mut method_overrides: Vec<String> = Vec::new();
    let overrides = METHOD_OVERRIDE_HEADERS
        .iter()
        .flat_map(|name| head.headers.get_all(name))
        .map(|v| String::from_utf8_lossy(v).trim().to_ascii_uppercase())
        .chain(
            query_pairs
                .iter()
                .filter(|(name, _)| name == "_method")
                .map(|(_, v)| v.trim().to_ascii_uppercase()),
        );
    for value in overrides {
        if !value.is_empty() && value != method && !method_overrides.contains(&value) {
            method_overrides.push(value);
        }
    }

    let mut facts = RequestFacts {
        method,
        method_overrides,
        host: head.host(),
        port: authority_port(&head.authority, &head.scheme),
        path,
        query: query.to_string(),
        protocols: BTreeSet::from([Protocol::Http]),
        identity,
        headers: head.headers.clone(),
        ..RequestFacts::default()
    };

    let hints = kubernetes::KubernetesHints::from_headers(
        head.headers.get_str("user-agent"),
        head.headers.get_str("accept"),
        head.headers.get_str("content-type"),
    );
    let methods: Vec<String> = facts.methods().map(str::to_string).collect();
    for method in &methods {
        if let Some(k8s) = kubernetes::classify_kubernetes(method, &facts.path, query, hints) {
            if !facts.kubernetes.contains(&k8s) {
                facts.kubernetes.push(k8s);
            }
        }
    }
    if !facts.kubernetes.is_empty() {
        facts.protocols.insert(Protocol::Kubernetes);
    }
    if let Some(request) = git::classify_git_request(&facts.method, &facts.path, query) {
        facts.git = Some(GitFacts {
            request,
            ref_updates: Vec::new(),
            body_ref: None,
        });
        facts.protocols.insert(Protocol::Git);
    } else {
        // Every method the request may be read as (an override can turn a PATCH into a
        // DELETE): the union of the ref updates they ask for.
        let mut calls = methods
            .iter()
            .filter_map(|method| git_api::classify_ref_api(method, &facts.path));
        if let Some(first) = calls.next() {
            let mut git = GitFacts {
                request: first.request,
                ref_updates: first.updates,
                body_ref: first.body_ref,
            };
            for call in calls {
                git.ref_updates.extend(call.updates);
                if git.body_ref.is_none() {
                    git.body_ref = call.body_ref;
                }
            }
            if let Some(body_ref) = &git.body_ref {
                // Unknown until the body is read (and if it cannot be): any ref. Kept
                // last, where the body's ref replaces it.
                git.ref_updates
                    .push(git_api::update(String::new(), body_ref.action));
            }
            facts.git = Some(git);
            facts.protocols.insert(Protocol::Git);
        }
    }
    for (name, value) in &query_pairs {
        if let Some(found) = sql_in_field(name, value, &format!("query:{name}"), sql) {
            facts.sql.push(found);
        }
    }
    // GraphQL over GET: `?query=...&operationName=...&extensions=...`.
    for request in graphql::requests_from_pairs(&query_pairs, graphql::graphql_path(&facts.path)) {
        if let Some(graphql) = request.classify() {
            facts.graphql.push(graphql);
        }
    }
    finish_protocols(&mut facts);
    facts
}

/// The port an `:authority` names, unless it is the scheme's default. A port that is
/// not a number is kept as 0, so it still differs from none.
fn authority_port(authority: &str, scheme: &str) -> Option<u16> {
    let after_host = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(_, tail)| tail)?,
        None => authority,
    };
    let (_, port) = after_host.rsplit_once(':')?;
    if authority.starts_with('[') && !after_host.starts_with(':') {
        return None;
    }
    let port = port.trim();
    if port.is_empty() {
        return None;
    }
    let number = port.parse::<u16>().unwrap_or(0);
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => 443,
        _ => 80,
    };
    (number != default).then_some(number)
}

/// Most a compressed request body may grow to when decoded for classification.
pub const MAX_DECODED_BODY: usize = 64 << 20;

/// The request body as the upstream will read it: decoded when it carries a
/// `content-encoding` (every value of every such header, in order). An encoding Warden
/// cannot decode is an error (the body is then unreadable, never harmless).
pub fn decoded_body<'a>(
    headers: &Headers,
    body: &'a [u8],
    max: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    match crate::content::content_encoding(headers) {
        None => Ok(std::borrow::Cow::Borrowed(body)),
        Some(encoding) => crate::redact::decode_body(&encoding, body, max)
            .map(std::borrow::Cow::Owned)
            .map_err(|err| format!("content-encoding {encoding:?}: {err}")),
    }
}

/// Adds the facts of a request body as received: decoded per `content-encoding` (at
/// most `max_decoded` bytes) and read per its `content-type`. The one entry point the
/// data path and `warden policy test/eval` share.
pub fn classify_received_body(
    facts: &mut RequestFacts,
    headers: &Headers,
    body: &[u8],
    max_decoded: usize,
    sql: &SqlSettings,
) {
    let decoded = decoded_body(headers, body, max_decoded);
    classify_declared_body(
        facts,
        decoded.as_deref().map_err(String::as_str),
        &Declared::from_headers(headers),
        sql,
    );
}

/// Adds the facts of the request body. `body` is the decoded body, or why it could not
/// be decoded. `content_type` is the declared `content-type` (with its parameters:
/// charset, multipart boundary).
pub fn classify_body(
    facts: &mut RequestFacts,
    body: Result<&[u8], &str>,
    content_type: Option<&str>,
    sql: &SqlSettings,
) {
    let declared = content_type.map(Declared::parse).unwrap_or_default();
    classify_declared_body(facts, body, &declared, sql);
}

/// [`classify_body`] with the declared type already parsed (and any disagreement
/// between repeated `content-type` headers noted).
pub fn classify_declared_body(
    facts: &mut RequestFacts,
    body: Result<&[u8], &str>,
    declared: &Declared,
    sql: &SqlSettings,
) {
    facts.body.inspected = true;
    let body = match body {
        Ok(body) => body,
        Err(reason) => {
            facts.body.unreadable = Some(reason.to_string());
            set_kubernetes_risks(facts, BTreeSet::from([manifest::KubernetesRisk::Opaque]));
            return;
        }
    };
    if let Some(git) = facts.git.as_mut() {
        if git.request.service == git::GitService::ReceivePack
            && git.request.phase == git::GitPhase::Rpc
        {
            facts.body.format = Some("git".into());
            match git::parse_receive_pack_commands(body) {
                Ok(updates) => git.ref_updates = updates,
                Err(err) => {
                    facts.body.unreadable = Some(format!("git receive-pack commands: {err}"))
                }
            }
            return;
        }
    }
    container::classify_content(facts, body, declared, sql, 0);
    finish_protocols(facts);
}

/// Reads plain content (charset, UTF-16/32 and multipart already undone by
/// [`container`]): JSON when declared or when it looks like JSON, whatever the label;
/// else as its media type says, a form when its bytes are shaped like one.
fn classify_plain(
    facts: &mut RequestFacts,
    body: &[u8],
    media: &str,
    shape: container::BodyShape,
    sql: &SqlSettings,
) {
    use crate::content::sniff::Shape;
    use crate::redact::ContentKind;
    let kind = ContentKind::from_content_type(media);
    let declared_json = media == "application/x-ndjson" || kind == ContentKind::Json;
    let sniffed_json = shape == container::BodyShape::Text(Shape::Json);
    // A label that says nothing about text (unknown, binary): JSON-looking content that
    // is not valid JSON may still be read as JSON by a lenient upstream.
    let unlabelled = kind == ContentKind::Binary || media.is_empty();

    let graphql_context = graphql::graphql_path(&facts.path) || media.contains("graphql");
    if declared_json || sniffed_json {
        match json::parse_strict(body) {
            Ok(value) => {
                facts.body.format = Some("json".into());
                classify_json(facts, &value, sql, graphql_context);
            }
            Err(err) if declared_json || unlabelled || err.contains("duplicate key") => {
                facts.body.unreadable = Some(format!("the body is not valid JSON: {err}"));
                set_kubernetes_risks(facts, BTreeSet::from([manifest::KubernetesRisk::Opaque]));
            }
            // Looked like JSON but is not, and was labelled text: read it as text.
            Err(_) => classify_text(facts, body, media, sql, graphql_context),
        }
    } else if unlabelled && shape == container::BodyShape::Binary {
        // Binary under a label that does not say text: nothing to read. (Under a text
        // label the bytes are read as that text, NUL bytes or not: a form parser would.)
        // A Kubernetes object in it (protobuf) could be anything.
        facts.body.format = Some("binary".into());
        body_not_read(facts);
    } else if shape == container::BodyShape::Text(Shape::Form)
        && matches!(kind, ContentKind::Text | ContentKind::Binary)
        && !matches!(
            media,
            "application/sql" | "text/sql" | "application/x-sql" | "application/graphql"
        )
    {
        // Shaped like a form under a label that does not say otherwise: its fields are
        // read like a form's (an upstream may parse it as one).
        classify_text(
            facts,
            body,
            "application/x-www-form-urlencoded",
            sql,
            graphql_context,
        );
    } else {
        classify_text(facts, body, media, sql, graphql_context);
    }
}

fn classify_text(
    facts: &mut RequestFacts,
    body: &[u8],
    media: &str,
    sql: &SqlSettings,
    graphql_context: bool,
) {
    if !facts.kubernetes.is_empty() && !body.is_empty() {
        // Kubernetes objects that are not JSON are YAML (server-side apply,
        // `kubectl create -f` with YAML), or unreadable (protobuf).
        set_kubernetes_risks(facts, manifest::text_risks(body));
        facts.body.format = Some("yaml".into());
    }
    match media {
        "application/x-www-form-urlencoded" => {
            facts.body.format = Some("form".into());
            let pairs = path::form_pairs(body);
            for (name, value) in &pairs {
                if let Some(found) = sql_in_field(name, value, &format!("form:{name}"), sql) {
                    facts.sql.push(found);
                }
            }
            for request in graphql::requests_from_pairs(&pairs, graphql_context) {
                if let Some(graphql) = request.classify() {
                    facts.graphql.push(graphql);
                }
            }
        }
        "application/sql" | "text/sql" | "application/x-sql" => {
            facts.body.format = Some("sql".into());
            let text = String::from_utf8_lossy(body);
            facts.sql.push(SqlFound {
                location: "body".into(),
                facts: sql::classify_sql(&text, &sql.dialects),
                text: text.into_owned(),
            });
        }
        "application/graphql" => {
            facts.body.format = Some("graphql".into());
            let text = String::from_utf8_lossy(body);
            facts.graphql.push(graphql::classify_graphql(&text, None));
        }
        // A plain-text body sent to a GraphQL endpoint is a document to it.
        "" | "text/plain"
            if graphql_context
                && facts.kubernetes.is_empty()
                && !body.iter().all(u8::is_ascii_whitespace) =>
        {
            facts.body.format = Some("graphql".into());
            let text = String::from_utf8_lossy(body);
            facts.graphql.push(graphql::classify_graphql(&text, None));
        }
        _ => {
            facts.body.format.get_or_insert_with(|| "text".into());
        }
    }
}

/// Notes that a body the policy would read passes unread (a binary stream of unknown
/// length): a Kubernetes object in it could be anything.
pub fn body_not_read(facts: &mut RequestFacts) {
    set_kubernetes_risks(facts, BTreeSet::from([manifest::KubernetesRisk::Opaque]));
}

/// Adds what the Kubernetes object(s) in the body (or one part of it) would do to
/// every reading of the request.
fn set_kubernetes_risks(facts: &mut RequestFacts, risks: BTreeSet<manifest::KubernetesRisk>) {
    for k8s in &mut facts.kubernetes {
        let mut all: BTreeSet<manifest::KubernetesRisk> = k8s.risks.iter().copied().collect();
        all.extend(risks.iter().copied());
        k8s.risks = all.into_iter().collect();
    }
}

fn classify_json(
    facts: &mut RequestFacts,
    value: &Value,
    sql: &SqlSettings,
    graphql_context: bool,
) {
    if let Some(git) = facts.git.as_mut() {
        if let Some(body_ref) = &git.body_ref {
            // The body's ref replaces the unknown one kept last for it (a second JSON
            // document, in another multipart part, adds its own).
            let update = git_api::body_update(body_ref, value);
            match git.ref_updates.last_mut() {
                Some(last) if last.ref_name.is_empty() => *last = update,
                _ => git.ref_updates.push(update),
            }
        }
    }
    if !facts.kubernetes.is_empty() {
        set_kubernetes_risks(facts, manifest::json_risks(value));
    }
    if let Some(mcp) = mcp::classify_jsonrpc(value) {
        // Several JSON documents (multipart parts) each add their messages.
        match facts.mcp.as_mut() {
            Some(seen) => {
                seen.batch |= mcp.batch;
                seen.messages.extend(mcp.messages);
                seen.malformed.extend(mcp.malformed);
            }
            None => facts.mcp = Some(mcp),
        }
    }
    for request in graphql::requests_from_json(value, graphql_context) {
        if let Some(graphql) = request.classify() {
            facts.graphql.push(graphql);
        }
    }
    if facts.llm.is_none() {
        facts.llm = llm::classify_llm(&facts.path, value);
    }
    let mut location = String::from("$");
    sql_in_json(value, &mut location, sql, &mut facts.sql);
}

/// Walks the whole document: SQL fields can sit at any depth (an MCP tool's
/// `arguments.query`, a batch of statements, a wrapper object).
fn sql_in_json(value: &Value, location: &mut String, sql: &SqlSettings, out: &mut Vec<SqlFound>) {
    match value {
        Value::Object(object) => {
            for (key, item) in object {
                let len = location.len();
                location.push('.');
                location.push_str(key);
                match item {
                    Value::String(text) => {
                        if let Some(found) =
                            sql_in_field(key, text, &format!("body:{location}"), sql)
                        {
                            out.push(found);
                        }
                    }
                    Value::Array(items) if is_sql_field(key, sql) => {
                        // `{"statements": [...]}`-style lists of SQL strings.
                        for (i, item) in items.iter().enumerate() {
                            if let Value::String(text) = item {
                                if let Some(found) =
                                    sql_in_field(key, text, &format!("body:{location}[{i}]"), sql)
                                {
                                    out.push(found);
                                }
                            } else {
                                sql_in_json(item, location, sql, out);
                            }
                        }
                    }
                    other => sql_in_json(other, location, sql, out),
                }
                location.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = location.len();
                location.push_str(&format!("[{i}]"));
                sql_in_json(item, location, sql, out);
                location.truncate(len);
            }
        }
        _ => {}
    }
}

fn is_sql_field(name: &str, sql: &SqlSettings) -> bool {
    sql.fields
        .iter()
        .any(|field| field.eq_ignore_ascii_case(name))
}

/// The SQL facts of one named value, when the name is a SQL field. A `query` value
/// must also look like SQL (and not like GraphQL), since the name is shared.
fn sql_in_field(name: &str, value: &str, location: &str, sql: &SqlSettings) -> Option<SqlFound> {
    if !is_sql_field(name, sql) || value.trim().is_empty() {
        return None;
    }
    if name.eq_ignore_ascii_case("query")
        && (graphql::looks_like_graphql(value) || !sql::looks_like_sql(value))
    {
        return None;
    }
    let ambiguous = name.eq_ignore_ascii_case("query") || name.eq_ignore_ascii_case("command");
    if ambiguous && !sql::looks_like_sql(value) {
        return None;
    }
    let facts = sql::classify_sql(value, &sql.dialects);
    // In a field that often holds plain language ("show me last week's orders"), text
    // that does not parse is taken as SQL only when it names a write or DDL keyword:
    // then it is the riskiest kind, as anywhere else.
    if ambiguous && !facts.parsed() && !mentions_write_keyword(value) {
        return None;
    }
    Some(SqlFound {
        location: location.to_string(),
        facts,
        text: value.to_string(),
    })
}

/// Whether `text` contains, as a whole word in any case, a keyword of a statement that
/// writes, deletes, changes schema or permissions, or runs code.
fn mentions_write_keyword(text: &str) -> bool {
    const WRITES: [&str; 18] = [
        "insert", "update", "delete", "merge", "replace", "upsert", "create", "alter", "drop",
        "truncate", "rename", "grant", "revoke", "exec", "execute", "call", "copy", "do",
    ];
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|word| WRITES.iter().any(|w| word.eq_ignore_ascii_case(w)))
}

fn finish_protocols(facts: &mut RequestFacts) {
    if !facts.sql.is_empty() {
        facts.protocols.insert(Protocol::Sql);
    }
    if facts.mcp.is_some() {
        facts.protocols.insert(Protocol::Mcp);
    }
    if !facts.graphql.is_empty() {
        facts.protocols.insert(Protocol::Graphql);
    }
    if facts.llm.is_some() {
        facts.protocols.insert(Protocol::Llm);
    }
}
