//! The policy engine: rules in YAML files, matched against a request's facts.
//!
//! # Matching semantics
//!
//! * Every rule whose `when` holds and whose `unless` does not hold **matches**.
//! * The decision is the **most severe** action among the enforced matching rules:
//!   `deny` > `hold` > `allow`. Among rules with the same action, the first in load
//!   order (files by name, rules in file order) is named as the deciding rule.
//!   Order never makes a request less restricted; to exempt requests from a rule,
//!   say so in the rule's `unless`.
//! * When no enforced rule matches, the policy's `default` applies (`allow` unless
//!   the settings say otherwise).
//! * A rule with `observe: true`, or every rule when `settings.mode: observe`, is
//!   evaluated and reported (in [`PolicyDecision::observed`]) but not enforced.
//! * Effects (`mask`, `record`, `inject`) come from the first matching rule (enforced
//!   or not, in load order) that sets each of them.
//!   `mask.fields` add up over every matching rule: a field one rule flags stays flagged.
//!
//! Evaluation is pure: [`Policy::evaluate`] over [`RequestFacts`].

mod pattern;
pub mod rules;
pub mod testcases;
pub mod watch;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::classify::{RequestFacts, SqlSettings};
use crate::redact::fields::{FieldRule, FieldSet};
pub use pattern::{PathPattern, Pattern};
pub use rules::{Action, ApprovalSpec, MaskEffect, Mode, RecordLevel, Rule};

use crate::approval::{parse_duration, ApprovalRules};

/// The default policy pack, built into the binary: what a user gets without a
/// `policy.dir` setting. The same file ships in `policies/default.yaml`.
pub const DEFAULT_PACK: &str = include_str!("../../../policies/default.yaml");

/// A policy that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not a valid policy.
    #[error("{path}: {field}{location}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field path (`rules[2].when.sql.kind`), or empty.
        field: String,
        /// ` (line L, column C)` when known.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The directory holds no policy file.
    #[error("{0}: no policy files (*.yaml) found; add one, or remove policy.dir to use the built-in default pack")]
    Empty(PathBuf),
}

/// A loaded policy: its rules, settings and content hash.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    mode: Mode,
    default: Action,
    default_reason: Option<String>,
    sql: SqlSettings,
    hash: String,
    source: String,
    /// Every file's name (as the hash covers it) and text, kept for the audit chain.
    files: Vec<(String, String)>,
    needs_body: bool,
    default_approval: ApprovalRules,
}

/// The outcome of evaluating a policy for one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyDecision {
    /// The enforced action.
    pub decision: Action,
    /// The deciding rule (`None` when the default applied).
    pub rule: Option<String>,
    /// The reason the agent reads.
    pub reason: String,
    /// HTTP status for a `deny`/`hold` reply.
    #[serde(skip)]
    pub status: u16,
    /// Matches that were only observed (observe mode), with the action they would take.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<ObservedMatch>,
    /// Effects of the matching rules.
    pub effects: Effects,
    /// Content hash of the policy that decided.
    pub policy_hash: String,
    /// For a `hold`: how it is decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldSpec>,
}

/// How one hold rule's holds are decided (its `approval` settings, resolved).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HoldSpec {
    /// Approvers, N of M, justification, lifetimes, wait mode.
    pub rules: ApprovalRules,
    /// The hold scope a grant covers.
    pub scope: String,
    /// When set, an approval grants access for this many seconds instead of one operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_seconds: Option<u64>,
}

/// The longest a request may be kept waiting: Envoy's `max_message_timeout` in the
/// configurations Warden ships is a little longer.
pub const MAX_WAIT_SECONDS: u64 = 290;

/// Resolves a hold rule's approval settings (`spec` already merged with the defaults).
fn hold_spec(rule_id: &str, spec: &ApprovalSpec) -> Result<HoldSpec, (String, String)> {
    let seconds = |field: &str, value: &Option<String>, default: Option<u64>| match value {
        Some(text) => parse_duration(text)
            .map(Some)
            .map_err(|message| (field.to_string(), message)),
        None => Ok(default),
    };
    let defaults = ApprovalRules::default();
    let approver_groups = spec
        .approvers
        .clone()
        .unwrap_or_else(|| defaults.approver_groups.clone());
    if approver_groups.iter().all(|g| g.trim().is_empty()) {
        return Err((
            "approval.approvers".into(),
            "name at least one approver group: nobody could decide this hold".into(),
        ));
    }
    let required = spec.required.unwrap_or(1);
    if required == 0 {
        return Err((
            "approval.required".into(),
            "at least 1 approval is required; use action: allow to let requests pass".into(),
        ));
    }
    let wait_seconds = seconds("approval.wait", &spec.wait, None)?;
    if wait_seconds.is_some_and(|w| w > MAX_WAIT_SECONDS) {
        return Err((
            "approval.wait".into(),
            format!(
                "a request can wait at most {MAX_WAIT_SECONDS}s (Envoy's max_message_timeout); \
                 agents can poll instead"
            ),
        ));
    }
    let nonzero = |field: &str, value: Option<u64>| match value {
        Some(0) => Err((field.to_string(), "must be longer than 0s".to_string())),
        other => Ok(other),
    };
    Ok(HoldSpec {
        rules: ApprovalRules {
            approver_groups,
            required,
            justification_required: spec.justification.unwrap_or(false),
            pending_seconds: nonzero(
                "approval.expires",
                seconds(
                    "approval.expires",
                    &spec.expires,
                    Some(defaults.pending_seconds),
                )?,
            )?
            .unwrap_or(defaults.pending_seconds),
            use_within_seconds: nonzero(
                "approval.use_within",
                seconds(
                    "approval.use_within",
                    &spec.use_within,
                    Some(defaults.use_within_seconds),
                )?,
            )?
            .unwrap_or(defaults.use_within_seconds),
            wait_seconds: wait_seconds.filter(|w| *w > 0),
            bind_headers: bound_headers(spec.bind_headers.as_deref().unwrap_or_default())
                .map_err(|message| ("approval.bind_headers".to_string(), message))?,
        },
        scope: spec.scope.clone().unwrap_or_else(|| rule_id.to_string()),
        grant_seconds: nonzero(
            "approval.grant",
            seconds("approval.grant", &spec.grant, None)?,
        )?,
    })
}

/// The headers an approval binds: Warden's defaults and `extra`, folded (lowercase,
/// `_` as `-`), without repeats. An empty or malformed name is an error.
fn bound_headers(extra: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = crate::approval::DEFAULT_BOUND_HEADERS
        .iter()
        .map(|h| h.to_string())
        .collect();
    for name in extra {
        let folded = crate::approval::fold_header_pattern(name);
        if folded.trim_matches('*').is_empty() || folded.chars().any(|c| c.is_whitespace()) {
            return Err(format!(
                "{name:?} is not a header name (letters, digits, `-` and `*` wildcards)"
            ));
        }
        if !out.contains(&folded) {
            out.push(folded);
        }
    }
    Ok(out)
}

/// A rule that matched in observe mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedMatch {
    /// The rule.
    pub rule: String,
    /// What it would have done.
    pub action: Action,
}

/// Effects collected from the matching rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Effects {
    /// Mask the request body (None: Warden's configured default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_request: Option<bool>,
    /// Mask the response body (None: Warden's configured default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_response: Option<bool>,
    /// Recording level (None: the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordLevel>,
    /// Inject upstream credentials (None: as configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inject: Option<bool>,
    /// Fields masked wholesale: those of every matching rule (enforced or observed),
    /// in load order — a field one rule flags is never unflagged by another.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Arc<FieldRule>>,
}

impl Effects {
    /// The field rules that apply to bodies travelling in `direction` (`None`: none).
    pub fn field_set(&self, direction: crate::redact::Direction) -> Option<Arc<FieldSet>> {
        let set = FieldSet::new(&self.fields, direction);
        (!set.is_empty()).then(|| Arc::new(set))
    }
}

const DEFAULT_STATUS: u16 = 403;

/// Whether `rule` masks result columns or member keys of responses: the request can
/// rename those (`SELECT salary AS pay`, a GraphQL alias `pay: salary`), so a decision
/// that applies the rule may read the request body first (see [`renames_response_fields`]).
fn flags_renamable_response_fields(rule: &Rule) -> bool {
    rule.fields.iter().any(|f| {
        matches!(
            f.selector,
            crate::redact::fields::Selector::Column(_) | crate::redact::fields::Selector::Key(_)
        ) && f.direction.covers(crate::redact::Direction::Response)
    })
}

/// Whether a request with these head facts may rename fields `rule` masks in its
/// response, so its body must be read before deciding: any request for a column rule
/// (SQL travels in JSON, forms and plain bodies alike), and for a key rule a request to a
/// path that names GraphQL (`/graphql`, `/api/gql`), whose aliases rename keys. Why not
/// every request for a key rule: that would make every large upload under such a rule
/// wait for, and be refused past, the inspection limit; a `GET ?query=` document is read
/// from the head anyway.
fn renames_response_fields(rule: &Rule, head_facts: &RequestFacts) -> bool {
    use crate::redact::fields::Selector;
    rule.fields.iter().any(|f| {
        f.direction.covers(crate::redact::Direction::Response)
            && match f.selector {
                Selector::Column(_) => true,
                Selector::Key(_) => crate::classify::graphql::graphql_path(&head_facts.path),
                Selector::Path(_) => false,
            }
    })
}

impl Policy {
    /// The built-in default pack.
    pub fn builtin() -> Result<Policy, PolicyError> {
        Policy::from_sources(vec![(
            PathBuf::from("<built-in>/default.yaml"),
            DEFAULT_PACK.to_string(),
        )])
    }

    /// Loads every `*.yaml`/`*.yml` file directly in `dir` (sub-directories such as
    /// `tests/` and `redact/` hold other things), in file-name order.
    pub fn load_dir(dir: &Path) -> Result<Policy, PolicyError> {
        Policy::from_sources(read_sources(dir)?)
    }

    /// Builds a policy from `(file name, YAML text)` pairs, in order.
    pub fn from_sources(sources: Vec<(PathBuf, String)>) -> Result<Policy, PolicyError> {
        let hash = hash_sources(&sources);
        let mut rules: Vec<Rule> = Vec::new();
        let mut rule_files: Vec<PathBuf> = Vec::new();
        let mut settings: Option<(PathBuf, rules::SettingsSpec)> = None;
        let mut names = Vec::new();
        for (path, text) in &sources {
            names.push(path.display().to_string());
            let file = parse_file(path, text)?;
            if let Some(spec) = file.settings {
                if let Some((first, _)) = &settings {
                    return Err(invalid(
                        path,
                        "settings",
                        format!(
                            "settings are already given in {}; keep them in one file",
                            first.display()
                        ),
                    ));
                }
                settings = Some((path.clone(), spec));
            }
            for (index, rule) in file.rules.into_iter().enumerate() {
                let field = format!("rules[{index}]");
                if rule.id.trim().is_empty() {
                    return Err(invalid(path, &field, "a rule needs a non-empty id".into()));
                }
                if rules.iter().any(|r| r.id == rule.id) {
                    return Err(invalid(
                        path,
                        &field,
                        format!("duplicate rule id {:?}", rule.id),
                    ));
                }
                let mut rule = rule;
                if let Some(mask) = &rule.mask {
                    for (j, spec) in mask.fields.iter().enumerate() {
                        let compiled = crate::redact::fields::FieldRule::compile(&rule.id, spec)
                            .map_err(|message| {
                                invalid(path, &format!("{field}.mask.fields[{j}]"), message)
                            })?;
                        rule.fields.push(std::sync::Arc::new(compiled));
                    }
                }
                if let Some(status) = rule.status {
                    if !(400..=599).contains(&status) {
                        return Err(invalid(
                            path,
                            &format!("{field}.status"),
                            format!("{status} is not an error status (400-599)"),
                        ));
                    }
                }
                rules.push(rule);
                rule_files.push(path.clone());
            }
        }
        let (settings_path, spec) = match settings {
            Some((path, spec)) => (Some(path), spec),
            None => (None, rules::SettingsSpec::default()),
        };
        let approval_defaults = spec.approvals.clone().unwrap_or_default();
        if let Some(path) = &settings_path {
            hold_spec("settings", &approval_defaults).map_err(|(field, message)| {
                invalid(
                    path,
                    &format!("settings.{}", field.replace("approval.", "approvals.")),
                    message,
                )
            })?;
        }
        for (rule, path) in rules.iter_mut().zip(&rule_files) {
            let merged = rule
                .approval
                .as_ref()
                .map(|a| a.or(&approval_defaults))
                .unwrap_or_else(|| approval_defaults.clone());
            if rule.approval.is_some() && rule.action != Action::Hold {
                return Err(invalid(
                    path,
                    &format!("rule {}.approval", rule.id),
                    "only hold rules are approved; remove approval or use action: hold".into(),
                ));
            }
            if rule.action == Action::Hold {
                rule.hold = Some(hold_spec(&rule.id, &merged).map_err(|(field, message)| {
                    invalid(path, &format!("rule {}.{field}", rule.id), message)
                })?);
            }
        }
        let needs_body = rules.iter().any(|r| {
            r.when.needs_body()
                || r.unless.as_ref().is_some_and(|u| u.needs_body())
                || flags_renamable_response_fields(r)
        });
        Ok(Policy {
            rules,
            mode: spec.mode,
            default: spec.default.unwrap_or(Action::Allow),
            default_reason: spec.default_reason,
            sql: spec.sql.unwrap_or_default(),
            hash,
            source: names.join(", "),
            files: sources
                .iter()
                .map(|(path, text)| (source_name(path), text.clone()))
                .collect(),
            needs_body,
            default_approval: hold_spec("default", &approval_defaults)
                .map(|h| h.rules)
                .unwrap_or_default(),
        })
    }
}

/// Reads the policy files of `dir` (every `*.yaml`/`*.yml` directly in it), in
/// file-name order.
pub fn read_sources(dir: &Path) -> Result<Vec<(PathBuf, String)>, PolicyError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Read { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(PolicyError::Empty(dir.to_path_buf()));
    }
    let mut sources = Vec::with_capacity(files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
        sources.push((path, text));
    }
    Ok(sources)
}

/// Content hash of policy sources: over every file's name and text, `sha256:<hex>`.
pub fn hash_sources(sources: &[(PathBuf, String)]) -> String {
    let mut hasher = Sha256::new();
    for (path, text) in sources {
        let name = source_name(path);
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(name.as_bytes());
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    let mut hash = String::from("sha256:");
    for byte in hasher.finalize() {
        let _ = write!(hash, "{byte:02x}");
    }
    hash
}

/// The name of a policy file as [`hash_sources`] covers it: the file name.
fn source_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

impl Policy {
    /// Every file's name and text, in load order (the audit chain records them).
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str()))
    }

    /// Content hash over every file's name and text (`sha256:...`). Goes into each
    /// audit record, so a decision can be traced to the exact policy that made it.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The files the policy was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Where SQL is looked for.
    pub fn sql_settings(&self) -> &SqlSettings {
        &self.sql
    }

    /// The fields `verdict` flags in the response, with every other name the request
    /// gives them: result columns its SQL renames (`SELECT salary AS pay`) and keys its
    /// GraphQL aliases rename (`{ pay: salary }`), masked as the flagged field is.
    pub fn response_fields(
        &self,
        verdict: &PolicyDecision,
        facts: &RequestFacts,
    ) -> Option<Arc<FieldSet>> {
        let set = verdict
            .effects
            .field_set(crate::redact::Direction::Response)?;
        let renamed_columns = set.has_columns() && !facts.sql.is_empty();
        let renamed_keys = (set.has_keys() || set.has_columns())
            && facts.graphql.iter().any(|g| !g.aliases.is_empty());
        if !renamed_columns && !renamed_keys {
            return Some(set);
        }
        let mut set = (*set).clone();
        for (alias, field) in facts.graphql.iter().flat_map(|g| &g.aliases) {
            set.add_key_alias(alias, field);
        }
        let dialects = &self.sql_settings().dialects;
        for (name, index) in set.column_names() {
            let flagged = std::collections::BTreeSet::from([name]);
            for found in &facts.sql {
                let renamed = crate::classify::sql::renamed_columns(
                    &found.text,
                    dialects,
                    &flagged,
                    &crate::redact::fields::fold_name,
                );
                for alias in renamed {
                    set.add_column_alias(&alias, index);
                }
            }
        }
        Some(Arc::new(set))
    }

    /// True when, for a request with these head facts, a rule that depends on the
    /// request body could match: the body must then be read before deciding.
    pub fn needs_body(&self, head_facts: &RequestFacts) -> bool {
        self.needs_body
            && self.rules.iter().any(|rule| {
                // A rule masking response columns or keys reads the request too: it may
                // rename them (`SELECT salary AS pay`, a GraphQL alias `pay: salary`).
                let body_rule = rule.when.needs_body()
                    || rule.unless.as_ref().is_some_and(|u| u.needs_body())
                    || renames_response_fields(rule, head_facts);
                body_rule && rule.when.matches_head(head_facts)
            })
    }

    /// True when some rule flags fields in bodies travelling in `direction` (a
    /// decision that waits for the request body must plan for them).
    pub fn flags_fields(&self, direction: crate::redact::Direction) -> bool {
        self.rules
            .iter()
            .any(|r| r.fields.iter().any(|f| f.direction.covers(direction)))
    }

    /// Decides about a request.
    pub fn evaluate(&self, facts: &RequestFacts) -> PolicyDecision {
        let mut enforced: Option<&Rule> = None;
        let mut observed = Vec::new();
        let mut effects = Effects::default();
        for rule in &self.rules {
            let matches =
                rule.when.matches(facts) && !rule.unless.as_ref().is_some_and(|u| u.matches(facts));
            if !matches {
                continue;
            }
            if let Some(mask) = &rule.mask {
                effects.mask_request = effects.mask_request.or(mask.request);
                effects.mask_response = effects.mask_response.or(mask.response);
            }
            effects.fields.extend(rule.fields.iter().cloned());
            effects.record = effects.record.or(rule.record);
            effects.inject = effects.inject.or(rule.inject);
            if rule.observe || self.mode == Mode::Observe {
                observed.push(ObservedMatch {
                    rule: rule.id.clone(),
                    action: rule.action,
                });
                continue;
            }
            if enforced.is_none_or(|best| rule.action > best.action) {
                enforced = Some(rule);
            }
        }
        let (decision, rule, reason, status) = match enforced {
            Some(rule) => (
                rule.action,
                Some(rule.id.clone()),
                rule.reason
                    .clone()
                    .unwrap_or_else(|| default_reason(rule.action, &rule.id)),
                rule.status.unwrap_or(DEFAULT_STATUS),
            ),
            None if self.mode == Mode::Observe => {
                if self.default != Action::Allow && observed.is_empty() {
                    observed.push(ObservedMatch {
                        rule: "default".into(),
                        action: self.default,
                    });
                }
                (
                    Action::Allow,
                    None,
                    "observe mode: nothing is enforced".into(),
                    DEFAULT_STATUS,
                )
            }
            None => (
                self.default,
                None,
                self.default_reason
                    .clone()
                    .unwrap_or_else(|| match self.default {
                        Action::Allow => "no rule matched; allowed by default".into(),
                        action => format!(
                            "no rule allows this request; the policy's default is {}",
                            action.name()
                        ),
                    }),
                DEFAULT_STATUS,
            ),
        };
        let hold = match (decision, enforced) {
            (Action::Hold, Some(rule)) => rule.hold.clone(),
            // A default of `hold` is decided like a hold rule without settings.
            (Action::Hold, None) => Some(HoldSpec {
                rules: self.default_approval.clone(),
                scope: "default".into(),
                grant_seconds: None,
            }),
            _ => None,
        };
        PolicyDecision {
            decision,
            rule,
            reason,
            status,
            observed,
            effects,
            policy_hash: self.hash.clone(),
            hold,
        }
    }
}

fn default_reason(action: Action, rule: &str) -> String {
    match action {
        Action::Allow => format!("allowed by rule {rule}"),
        Action::Hold => format!("held for approval by rule {rule}"),
        Action::Deny => format!("denied by rule {rule}"),
    }
}

fn invalid(path: &Path, field: &str, message: String) -> PolicyError {
    PolicyError::Invalid {
        path: path.to_path_buf(),
        field: field.to_string(),
        location: String::new(),
        message,
    }
}

fn parse_file(path: &Path, text: &str) -> Result<rules::PolicyFile, PolicyError> {
    if text.trim().is_empty() {
        return Ok(rules::PolicyFile::default());
    }
    parse_yaml(path, text)
}

/// Parses YAML into `T`, with errors that name the file, field, line and column.
fn parse_yaml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, PolicyError> {
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let location = inner
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        let message = inner.to_string();
        let message = match message.find(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        PolicyError::Invalid {
            path: path.to_path_buf(),
            field: if field == "." { String::new() } else { field },
            location,
            message,
        }
    })
}

#[cfg(test)]
mod tests;
