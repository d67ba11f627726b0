//! Policy test cases (`warden policy test DIR`) and one-off evaluation
//! (`warden policy eval`), in the spirit of `opa test` and `opa eval`.
//!
//! Test files live in `DIR/tests/*.yaml`:
//!
//! ```yaml
//! tests:
//!   - name: dropping a table is held
//!     request:
//!       method: POST
//!       url: http://db.internal/query
//!       headers: { content-type: application/json }
//!       body: '{"sql": "DROP TABLE users"}'
//!       identity: { subject: agent-7, groups: [agents] }
//!     expect:
//!       decision: hold
//!       rule: sql-drop-truncate
//! ```
//!
//! A case may also give the upstream's `response` and say what the agent must (not)
//! read in it once masked — the fields the policy flags, then the pattern engine (the
//! policy directory's `redact/` rules, else the built-in pack):
//!
//! ```yaml
//!   - name: agents never read the salary column
//!     request:
//!       url: http://db.internal/query
//!       identity: { subject: agent-7, groups: [agents] }
//!     response:
//!       headers: { content-type: application/json }
//!       body: '{"columns": ["id", "salary"], "rows": [[1, 90000]]}'
//!     expect:
//!       decision: allow
//!       response_excludes: ["90000"]
//!       response_includes: ['"salary"', "[REDACTED:db-fields]"]
//!       # or the whole masked body: response_body: '...'
//! ```
//!
//! A request goes through exactly the classification the data path uses (body decoded
//! per `content-encoding`, JSON read strictly), so a passing test says what Envoy
//! traffic will get.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Action, Policy, PolicyDecision, PolicyError};
use crate::classify::{self, IdentityFacts, RequestFacts};
use crate::content::Declared;
use crate::http::{Headers, RequestHead};
use crate::redact::fields::FieldMasker;
use crate::redact::{ContentKind, Direction, Redactor};

/// A request described in a test file or on the command line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// Method (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute URL (`http://host/path?query`) or a path with a `host` header.
    pub url: String,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body text.
    #[serde(default)]
    pub body: Option<String>,
    /// Body bytes as base64 (for compressed or binary bodies).
    #[serde(default)]
    pub body_base64: Option<String>,
    /// The caller.
    #[serde(default)]
    pub identity: Option<TestIdentity>,
}

fn default_method() -> String {
    "GET".into()
}

/// The caller of a test request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestIdentity {
    /// Subject.
    pub subject: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `agent` (default) or `human`.
    #[serde(default = "default_kind")]
    pub kind: String,
}

fn default_kind() -> String {
    "agent".into()
}

/// What a test expects.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The decision.
    pub decision: Action,
    /// The deciding rule (`default` for the policy default), when given.
    #[serde(default)]
    pub rule: Option<String>,
    /// The whole response body as the agent gets it (masked).
    #[serde(default)]
    pub response_body: Option<String>,
    /// Text the masked response body must contain.
    #[serde(default)]
    pub response_includes: Vec<String>,
    /// Text the masked response body must not contain.
    #[serde(default)]
    pub response_excludes: Vec<String>,
}

/// The upstream's response in a test case.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestResponse {
    /// Headers (`content-type` decides how the body is read).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body text.
    #[serde(default)]
    pub body: String,
}

impl TestResponse {
    /// The `content-type` header, or empty.
    pub fn content_type(&self) -> &str {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map_or("", |(_, value)| value.as_str())
    }
}

/// One test case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What it checks.
    pub name: String,
    /// The request.
    pub request: TestRequest,
    /// The upstream's response (to check what the agent reads of it).
    #[serde(default)]
    pub response: Option<TestResponse>,
    /// The expected outcome.
    pub expect: Expectation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

/// The result of one test case.
#[derive(Clone, Debug, Serialize)]
pub struct TestResult {
    /// `file: name`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What happened, when it failed.
    pub message: Option<String>,
}

/// Errors in a test request itself.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The URL is not usable.
    #[error("bad url {0:?}: use http://host/path or a path starting with '/'")]
    Url(String),
    /// `body_base64` is not base64.
    #[error("body_base64 is not valid base64: {0}")]
    Base64(String),
    /// Both body forms were given.
    #[error("give either body or body_base64, not both")]
    TwoBodies,
}

impl TestRequest {
    /// The request head and body bytes.
    pub fn to_parts(&self) -> Result<(RequestHead, Option<Vec<u8>>), RequestError> {
        let (authority, target) = split_url(&self.url)?;
        let mut headers = Headers::new();
        for (name, value) in &self.headers {
            headers.push(name.clone(), value.clone().into_bytes());
        }
        let body = match (&self.body, &self.body_base64) {
            (Some(_), Some(_)) => return Err(RequestError::TwoBodies),
            (Some(text), None) => Some(text.clone().into_bytes()),
            (None, Some(b64)) => {
                use base64::Engine;
                Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|e| RequestError::Base64(e.to_string()))?,
                )
            }
            (None, None) => None,
        };
        if let Some(body) = &body {
            if headers.get("content-length").is_none() && headers.get("transfer-encoding").is_none()
            {
                headers.push("content-length", body.len().to_string().into_bytes());
            }
        }
        let authority = authority
            .or_else(|| headers.get_str("host").map(str::to_string))
            .unwrap_or_default();
        Ok((
            RequestHead {
                method: self.method.to_ascii_uppercase(),
                scheme: "http".into(),
                authority,
                path: target,
                headers,
            },
            body,
        ))
    }

    fn identity(&self) -> Option<IdentityFacts> {
        self.identity.as_ref().map(|i| IdentityFacts {
            subject: i.subject.clone(),
            groups: i.groups.clone(),
            kind: i.kind.clone(),
        })
    }
}

fn split_url(url: &str) -> Result<(Option<String>, String), RequestError> {
    if url.starts_with('/') {
        return Ok((None, url.to_string()));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| RequestError::Url(url.to_string()))?;
    let (authority, target) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].to_string()),
        None => match rest.find('?') {
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_string()),
        },
    };
    if authority.is_empty() {
        return Err(RequestError::Url(url.to_string()));
    }
    Ok((Some(authority.to_string()), target))
}

/// Classifies a request exactly as the data path does and evaluates `policy`.
pub fn evaluate_request(
    policy: &Policy,
    head: &RequestHead,
    body: Option<&[u8]>,
    identity: Option<IdentityFacts>,
) -> (PolicyDecision, RequestFacts) {
    let sql = policy.sql_settings();
    let mut facts = classify::classify_head(head, identity, sql);
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        if policy.needs_body(&facts) {
            classify::classify_received_body(
                &mut facts,
                &head.headers,
                body,
                classify::MAX_DECODED_BODY,
                sql,
            );
        }
    }
    (policy.evaluate(&facts), facts)
}

/// The fields Warden masks in bodies travelling in `direction` under `decision` for the
/// request `facts` describe: the ones the policy flags, and for responses also the names
/// the request gives them (see [`Policy::response_fields`]).
pub fn flagged_fields(
    policy: &Policy,
    decision: &PolicyDecision,
    facts: &RequestFacts,
    direction: Direction,
) -> Option<std::sync::Arc<crate::redact::fields::FieldSet>> {
    match direction {
        Direction::Request => decision.effects.field_set(direction),
        Direction::Response => policy.response_fields(decision, facts),
    }
}

/// A body as Warden passes it on under `decision`: `fields` masked (see
/// [`flagged_fields`]), then the pattern engine's findings (unless the decision turns
/// pattern masking off for that direction; `redactor` `None`: fields only). `Err` says
/// why the body would be refused.
pub fn masked_body(
    decision: &PolicyDecision,
    fields: Option<std::sync::Arc<crate::redact::fields::FieldSet>>,
    direction: Direction,
    content_type: &str,
    body: &[u8],
    redactor: Option<&Redactor>,
) -> Result<Vec<u8>, String> {
    let mut body = body.to_vec();
    if let Some(fields) = fields {
        let kind = ContentKind::from_content_type(content_type);
        let hash_key = redactor.map(Redactor::hash_key).unwrap_or_default();
        body = FieldMasker::new(fields, kind, direction, hash_key, usize::MAX)
            .whole(&body)
            .map_err(|err| {
                format!(
                    "refused: policy flags fields in this body but it could not mask them: {err}"
                )
            })?
            .0;
    }
    let patterns = match direction {
        Direction::Request => decision.effects.mask_request,
        Direction::Response => decision.effects.mask_response,
    };
    if let Some(redactor) = redactor.filter(|_| patterns != Some(false)) {
        body = redactor
            .redact_body(&body, &Declared::parse(content_type), direction)
            .body;
    }
    Ok(body)
}

/// Runs every test file in `dir/tests/` against the policy in `dir`.
pub fn run_dir(dir: &Path) -> Result<Vec<TestResult>, PolicyError> {
    let policy = Policy::load_dir(dir)?;
    let mut redactor: Option<Redactor> = None;
    let tests_dir = dir.join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tests_dir)
        .map_err(|source| PolicyError::Read {
            path: tests_dir.clone(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let mut results = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
            path: path.clone(),
            source,
        })?;
        let file: TestFile = super::parse_yaml(&path, &text)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in file.tests {
            if case.response.is_some() && redactor.is_none() {
                // The pattern engine the policy directory ships (`redact/`), else the
                // built-in one.
                let config = crate::masking::MaskingConfig {
                    policy_dir: dir.join("redact").is_dir().then(|| dir.to_path_buf()),
                    ..Default::default()
                };
                redactor = Some(config.build().map_err(|err| PolicyError::Invalid {
                    path: dir.join("redact"),
                    field: String::new(),
                    location: String::new(),
                    message: err.to_string(),
                })?);
            }
            results.push(run_case_with(&policy, &file_name, &case, redactor.as_ref()));
        }
    }
    Ok(results)
}

/// Runs one test case (a response in it is masked for fields only).
pub fn run_case(policy: &Policy, file: &str, case: &TestCase) -> TestResult {
    run_case_with(policy, file, case, None)
}

/// Runs one test case; a response in it is masked with `redactor` too.
pub fn run_case_with(
    policy: &Policy,
    file: &str,
    case: &TestCase,
    redactor: Option<&Redactor>,
) -> TestResult {
    let name = format!("{file}: {}", case.name);
    let (head, body) = match case.request.to_parts() {
        Ok(parts) => parts,
        Err(err) => {
            return TestResult {
                name,
                passed: false,
                message: Some(err.to_string()),
            }
        }
    };
    let (decision, facts) =
        evaluate_request(policy, &head, body.as_deref(), case.request.identity());
    let rule = decision.rule.clone().unwrap_or_else(|| "default".into());
    let mut problems = Vec::new();
    if decision.decision != case.expect.decision {
        problems.push(format!(
            "expected {}, got {} (rule {rule}: {})",
            case.expect.decision.name(),
            decision.decision.name(),
            decision.reason
        ));
    }
    if let Some(want) = &case.expect.rule {
        if *want != rule {
            problems.push(format!("expected rule {want}, got {rule}"));
        }
    }
    let expects_response = case.expect.response_body.is_some()
        || !case.expect.response_includes.is_empty()
        || !case.expect.response_excludes.is_empty();
    match (&case.response, expects_response) {
        (None, true) => problems.push("the expectation is about a response; give one".into()),
        (Some(response), _) => {
            let masked = masked_body(
                &decision,
                flagged_fields(policy, &decision, &facts, Direction::Response),
                Direction::Response,
                response.content_type(),
                response.body.as_bytes(),
                redactor,
            );
            match masked {
                Err(why) => problems.push(format!("the response would be {why}")),
                Ok(masked) => {
                    let text = String::from_utf8_lossy(&masked);
                    if let Some(want) = &case.expect.response_body {
                        if *want != text {
                            problems.push(format!("expected response body {want:?}, got {text:?}"));
                        }
                    }
                    for want in &case.expect.response_includes {
                        if !text.contains(want.as_str()) {
                            problems.push(format!("the masked response lacks {want:?}: {text}"));
                        }
                    }
                    for unwanted in &case.expect.response_excludes {
                        if text.contains(unwanted.as_str()) {
                            problems.push(format!(
                                "the masked response still holds {unwanted:?}: {text}"
                            ));
                        }
                    }
                }
            }
        }
        (None, false) => {}
    }
    let message = (!problems.is_empty()).then(|| {
        let facts = serde_json::to_string(&facts).unwrap_or_default();
        format!("{}; facts: {facts}", problems.join("; "))
    });
    TestResult {
        name,
        passed: problems.is_empty(),
        message,
    }
}
