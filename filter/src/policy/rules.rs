//! The policy file format and how one rule matches a request's facts.
//!
//! Every condition in `when` must hold (AND); a list inside one condition is any-of
//! (OR). `unless` takes the same conditions: a rule whose `unless` holds does not
//! match. Conditions on one protocol element (one SQL statement, one ref update, one
//! JSON-RPC message) must all hold for the *same* element.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::pattern::{OneOrMany, PathPattern, Pattern};
use crate::classify::git::{GitService, RefAction};
use crate::classify::graphql::GraphqlOperationKind;
use crate::classify::kubernetes::KubernetesVerb;
use crate::classify::llm::LlmApi;
use crate::classify::manifest::KubernetesRisk;
use crate::classify::sql::{SqlFacts, SqlKind};
use crate::classify::{Protocol, RequestFacts, SqlSettings};

/// What a matching rule does to the request. Ordered by severity: when several rules
/// match, the most severe action wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let it through.
    Allow,
    /// Stop it until a human approves.
    Hold,
    /// Refuse it, with the rule's reason.
    Deny,
}

impl Action {
    /// `allow`, `hold` or `deny`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Hold => "hold",
            Action::Deny => "deny",
        }
    }
}

/// Whether decisions are enforced or only logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Decisions are enforced.
    #[default]
    Enforce,
    /// Decisions are logged (and recorded) but every request is allowed.
    Observe,
}

/// How much of an exchange is recorded (used by session recording).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordLevel {
    /// Nothing beyond the audit record of the decision.
    None,
    /// Request line, headers and decision, no bodies.
    Metadata,
    /// Everything, masked.
    Full,
}

/// One policy file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Policy-wide settings (in at most one file of a directory).
    #[serde(default)]
    pub settings: Option<SettingsSpec>,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Policy-wide settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsSpec {
    /// `enforce` (default) or `observe`.
    #[serde(default)]
    pub mode: Mode,
    /// The action when no rule matches (default `allow`).
    #[serde(default)]
    pub default: Option<Action>,
    /// The reason given with the default action when it is not `allow`.
    #[serde(default)]
    pub default_reason: Option<String>,
    /// Where SQL is looked for.
    #[serde(default)]
    pub sql: Option<SqlSettings>,
    /// Defaults for every hold rule's `approval` settings.
    #[serde(default)]
    pub approvals: Option<ApprovalSpec>,
}

/// How a `hold` is decided: a rule's `approval:` block (unset fields come from
/// `settings.approvals`, then from Warden's defaults).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// Groups whose members may approve or deny (default `[approvers]`).
    #[serde(default)]
    pub approvers: Option<Vec<String>>,
    /// Distinct approvals needed (default 1).
    #[serde(default)]
    pub required: Option<u32>,
    /// Approvers must give a justification (default false).
    #[serde(default)]
    pub justification: Option<bool>,
    /// How long a request waits for a decision before it expires (default `1h`).
    #[serde(default)]
    pub expires: Option<String>,
    /// How long after approval the retry may pass (default `15m`).
    #[serde(default)]
    pub use_within: Option<String>,
    /// Wait mode: keep the request paused up to this long for a decision (default: answer at once).
    #[serde(default)]
    pub wait: Option<String>,
    /// Approval grants time-bound access for this long instead of one operation.
    #[serde(default)]
    pub grant: Option<String>,
    /// The hold scope a grant covers (default: the rule id). Rules sharing a scope
    /// share grants.
    #[serde(default)]
    pub scope: Option<String>,
    /// Request headers that are part of the operation, besides Warden's defaults
    /// (database, schema, tenant, impersonation... headers): the approved retry must
    /// send them with the same values. Names are case-insensitive, `_` reads as `-`,
    /// `*` is a wildcard (`x-acme-*`).
    #[serde(default)]
    pub bind_headers: Option<Vec<String>>,
}

impl ApprovalSpec {
    /// This spec with unset fields taken from `defaults`.
    pub fn or(&self, defaults: &ApprovalSpec) -> ApprovalSpec {
        ApprovalSpec {
            approvers: self
                .approvers
                .clone()
                .or_else(|| defaults.approvers.clone()),
            required: self.required.or(defaults.required),
            justification: self.justification.or(defaults.justification),
            expires: self.expires.clone().or_else(|| defaults.expires.clone()),
            use_within: self
                .use_within
                .clone()
                .or_else(|| defaults.use_within.clone()),
            wait: self.wait.clone().or_else(|| defaults.wait.clone()),
            grant: self.grant.clone().or_else(|| defaults.grant.clone()),
            scope: self.scope.clone(),
            // Both: a rule can bind more headers than the settings, never fewer.
            bind_headers: match (&self.bind_headers, &defaults.bind_headers) {
                (None, None) => None,
                (mine, theirs) => Some(
                    theirs
                        .iter()
                        .flatten()
                        .chain(mine.iter().flatten())
                        .cloned()
                        .collect(),
                ),
            },
        }
    }
}

/// One rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique id, shown to the agent and in audit records.
    pub id: String,
    /// What the rule is for (for people reading the policy).
    #[serde(default)]
    pub description: Option<String>,
    /// Conditions that must all hold.
    #[serde(default)]
    pub when: Conditions,
    /// Conditions that, when they all hold, exempt the request from this rule.
    #[serde(default)]
    pub unless: Option<Conditions>,
    /// What to do.
    pub action: Action,
    /// A reason the agent can read (for `deny` and `hold`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Log the decision without enforcing it.
    #[serde(default)]
    pub observe: bool,
    /// HTTP status of the reply for `deny`/`hold` (default 403).
    #[serde(default)]
    pub status: Option<u16>,
    /// Masking for requests this rule matches.
    #[serde(default)]
    pub mask: Option<MaskEffect>,
    /// Recording level for requests this rule matches.
    #[serde(default)]
    pub record: Option<RecordLevel>,
    /// Whether upstream credentials are injected for requests this rule matches.
    #[serde(default)]
    pub inject: Option<bool>,
    /// How a `hold` is decided.
    #[serde(default)]
    pub approval: Option<ApprovalSpec>,
    /// The resolved approval settings (hold rules only), filled in by the loader.
    #[serde(skip)]
    pub hold: Option<crate::policy::HoldSpec>,
    /// `mask.fields`, compiled by the loader.
    #[serde(skip)]
    pub fields: Vec<std::sync::Arc<crate::redact::fields::FieldRule>>,
}

/// Which bodies are masked, and which fields in them are masked whatever they hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaskEffect {
    /// Mask the request body (outbound DLP).
    #[serde(default)]
    pub request: Option<bool>,
    /// Mask the response body.
    #[serde(default)]
    pub response: Option<bool>,
    /// Fields masked wholesale: JSON paths, key names, SQL result columns (responses
    /// unless a field says otherwise). They apply whether or not pattern masking is on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<crate::redact::fields::FieldSpec>,
}

/// The conditions of a rule. Absent conditions always hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Who is calling.
    #[serde(default)]
    pub identity: Option<IdentityCondition>,
    /// `:authority` host (port removed).
    #[serde(default)]
    pub host: Option<OneOrMany<Pattern>>,
    /// Method, or a method asked for through an override header.
    #[serde(default)]
    pub method: Option<OneOrMany<String>>,
    /// Normalised path.
    #[serde(default)]
    pub path: Option<OneOrMany<PathPattern>>,
    /// Headers: each named header must be present with a value matching a pattern.
    #[serde(default, deserialize_with = "lowercase_header_names")]
    pub header: Option<BTreeMap<String, OneOrMany<Pattern>>>,
    /// Recognised protocols.
    #[serde(default)]
    pub protocol: Option<OneOrMany<Protocol>>,
    /// SQL found in the request.
    #[serde(default)]
    pub sql: Option<SqlCondition>,
    /// Kubernetes API request.
    #[serde(default)]
    pub kubernetes: Option<KubernetesCondition>,
    /// git smart HTTP.
    #[serde(default)]
    pub git: Option<GitCondition>,
    /// MCP / JSON-RPC.
    #[serde(default)]
    pub mcp: Option<McpCondition>,
    /// GraphQL.
    #[serde(default)]
    pub graphql: Option<GraphqlCondition>,
    /// LLM API.
    #[serde(default)]
    pub llm: Option<LlmCondition>,
    /// The request body.
    #[serde(default)]
    pub body: Option<BodyCondition>,
}

/// Identity conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityCondition {
    /// Subject patterns.
    #[serde(default)]
    pub subject: Option<OneOrMany<Pattern>>,
    /// Group patterns: any of the caller's groups matches any of them.
    #[serde(default)]
    pub group: Option<OneOrMany<Pattern>>,
    /// `agent` or `human`.
    #[serde(default)]
    pub kind: Option<OneOrMany<IdentityKindName>>,
    /// Whether the caller was identified at all.
    #[serde(default)]
    pub authenticated: Option<bool>,
}

/// Identity kinds as written in policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKindName {
    /// A machine caller.
    Agent,
    /// A person.
    Human,
}

/// SQL conditions, matched per statement.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlCondition {
    /// Statement kinds (SQL that does not parse matches every kind).
    #[serde(default)]
    pub kind: Option<OneOrMany<SqlKind>>,
    /// Table patterns (matched against `schema.table` and `table`).
    #[serde(default)]
    pub table: Option<OneOrMany<Pattern>>,
    /// DELETE/UPDATE without a (non-trivial) WHERE.
    #[serde(default)]
    pub unbounded: Option<bool>,
    /// Several statements in one text.
    #[serde(default)]
    pub multiple: Option<bool>,
    /// The text did not parse.
    #[serde(default)]
    pub unparsed: Option<bool>,
}

/// Kubernetes conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesCondition {
    /// RBAC verbs.
    #[serde(default)]
    pub verb: Option<OneOrMany<KubernetesVerb>>,
    /// API groups (`""` is the core group).
    #[serde(default)]
    pub group: Option<OneOrMany<Pattern>>,
    /// Resources (plural).
    #[serde(default)]
    pub resource: Option<OneOrMany<Pattern>>,
    /// Subresources (`exec`, `attach`, `portforward`, `proxy`, `log`...).
    #[serde(default)]
    pub subresource: Option<OneOrMany<Pattern>>,
    /// Namespaces.
    #[serde(default)]
    pub namespace: Option<OneOrMany<Pattern>>,
    /// Object names.
    #[serde(default)]
    pub name: Option<OneOrMany<Pattern>>,
    /// `dryRun=All`.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// What the object(s) in the body would do (`privileged`, `host_path`,
    /// `admin_binding`, `scale_to_zero`, `opaque`, ...): any of them.
    #[serde(default)]
    pub risk: Option<OneOrMany<KubernetesRisk>>,
}

/// git conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitCondition {
    /// `upload_pack` (read) or `receive_pack` (write).
    #[serde(default)]
    pub service: Option<OneOrMany<GitService>>,
    /// Ref patterns of the pushed ref updates (`refs/heads/main`).
    #[serde(rename = "ref", default)]
    pub ref_name: Option<OneOrMany<Pattern>>,
    /// What a pushed ref update does.
    #[serde(default)]
    pub ref_action: Option<OneOrMany<RefAction>>,
}

/// MCP / JSON-RPC conditions, matched per message (every element of a batch).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpCondition {
    /// JSON-RPC method patterns (`tools/call`).
    #[serde(default)]
    pub method: Option<OneOrMany<Pattern>>,
    /// Tool name patterns, matched against the name as sent and its normalised form.
    #[serde(default)]
    pub tool: Option<OneOrMany<Pattern>>,
    /// Patterns for any one word of the normalised tool name (words are the parts
    /// between `_`: `run_shell_command` has `run`, `shell` and `command`).
    #[serde(default)]
    pub tool_word: Option<OneOrMany<Pattern>>,
    /// `resources/read` URI patterns.
    #[serde(default)]
    pub resource: Option<OneOrMany<Pattern>>,
    /// Malformed JSON-RPC elements present.
    #[serde(default)]
    pub malformed: Option<bool>,
    /// A tool name with characters outside `[A-Za-z0-9_.-]` (look-alikes).
    #[serde(default)]
    pub suspicious_tool_name: Option<bool>,
    /// A tool that runs code or commands (by its name's words or its arguments).
    #[serde(default)]
    pub code_execution: Option<bool>,
}

/// GraphQL conditions, matched per operation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlCondition {
    /// `query`, `mutation`, `subscription`.
    #[serde(default)]
    pub operation: Option<OneOrMany<GraphqlOperationKind>>,
    /// Top-level field patterns.
    #[serde(default)]
    pub field: Option<OneOrMany<Pattern>>,
    /// Patterns for any one word of any field name at any depth (camelCase and
    /// snake_case split, lowercase: `productDelete` has `product` and `delete`).
    #[serde(default)]
    pub field_word: Option<OneOrMany<Pattern>>,
    /// The document did not parse.
    #[serde(default)]
    pub unparsed: Option<bool>,
    /// The operations cannot be known from the request (a persisted query).
    #[serde(default)]
    pub opaque: Option<bool>,
}

/// LLM API conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmCondition {
    /// Which API.
    #[serde(default)]
    pub api: Option<OneOrMany<LlmApi>>,
    /// Model patterns.
    #[serde(default)]
    pub model: Option<OneOrMany<Pattern>>,
    /// Declared tool patterns.
    #[serde(default)]
    pub tool: Option<OneOrMany<Pattern>>,
    /// Tool results are sent back to the model.
    #[serde(default)]
    pub tool_results: Option<bool>,
    /// The conversation contains tool calls.
    #[serde(default)]
    pub tool_calls: Option<bool>,
}

/// Body conditions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyCondition {
    /// The body could not be read (unknown encoding, malformed or ambiguous JSON,
    /// unparsable git commands).
    #[serde(default)]
    pub unreadable: Option<bool>,
}

impl Conditions {
    /// True when the conditions need facts only the request body gives.
    pub fn needs_body(&self) -> bool {
        self.sql.is_some()
            || self.mcp.is_some()
            || self.graphql.is_some()
            || self.llm.is_some()
            || self.body.is_some()
            || self.kubernetes.as_ref().is_some_and(|k| k.risk.is_some())
            || self
                .git
                .as_ref()
                .is_some_and(|g| g.ref_name.is_some() || g.ref_action.is_some())
            || self.protocol.as_ref().is_some_and(|p| {
                p.any(|p| {
                    matches!(
                        p,
                        Protocol::Sql | Protocol::Mcp | Protocol::Graphql | Protocol::Llm
                    )
                })
            })
    }

    /// True when the conditions that depend on the request head alone hold.
    pub fn matches_head(&self, facts: &RequestFacts) -> bool {
        // Cheapest and most selective first.
        opt(&self.method, |m| {
            m.any(|m| facts.methods().any(|have| have.eq_ignore_ascii_case(m)))
        }) && (self.kubernetes.is_none() || !facts.kubernetes.is_empty())
            && (self.git.is_none() || facts.git.is_some())
            && opt(&self.host, |p| p.any(|p| p.matches(&facts.host)))
            && opt(&self.path, |p| p.any(|p| p.matches(&facts.path)))
            && opt(&self.identity, |c| c.matches(facts))
            && opt(&self.header, |headers| {
                headers.iter().all(|(name, patterns)| {
                    // Names are lowercased when the policy is loaded.
                    let found = facts.headers.get_all(name).any(|value| {
                        let value = String::from_utf8_lossy(value);
                        patterns.any(|p| p.matches(&value))
                    });
                    found
                })
            })
            && opt(&self.kubernetes, |c| c.matches_request(facts))
            && opt(&self.git, |c| c.matches_request(facts))
    }

    /// True when every condition holds.
    pub fn matches(&self, facts: &RequestFacts) -> bool {
        // A condition on a protocol the request does not carry cannot hold.
        let absent = (self.sql.is_some() && facts.sql.is_empty())
            || (self.mcp.is_some() && facts.mcp.is_none())
            || (self.graphql.is_some() && facts.graphql.is_empty())
            || (self.llm.is_some() && facts.llm.is_none());
        !absent
            && self.matches_head(facts)
            && opt(&self.protocol, |p| p.any(|p| facts.protocols.contains(p)))
            && opt(&self.sql, |c| c.matches(facts))
            && opt(&self.kubernetes, |c| c.matches(facts))
            && opt(&self.git, |c| c.matches_refs(facts))
            && opt(&self.mcp, |c| c.matches(facts))
            && opt(&self.graphql, |c| c.matches(facts))
            && opt(&self.llm, |c| c.matches(facts))
            && opt(&self.body, |c| {
                opt(&c.unreadable, |&want| {
                    facts.body.unreadable.is_some() == want
                })
            })
    }
}

fn lowercase_header_names<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, OneOrMany<Pattern>>>, D::Error> {
    let map = Option::<BTreeMap<String, OneOrMany<Pattern>>>::deserialize(deserializer)?;
    Ok(map.map(|map| {
        map.into_iter()
            .map(|(name, patterns)| (name.to_ascii_lowercase(), patterns))
            .collect()
    }))
}

/// An absent condition holds.
fn opt<T>(condition: &Option<T>, f: impl FnOnce(&T) -> bool) -> bool {
    condition.as_ref().is_none_or(f)
}

fn any_pattern(patterns: &Option<OneOrMany<Pattern>>, value: Option<&str>) -> bool {
    opt(patterns, |p| value.is_some_and(|v| p.any(|p| p.matches(v))))
}

impl IdentityCondition {
    fn matches(&self, facts: &RequestFacts) -> bool {
        let identity = facts.identity.as_ref();
        opt(&self.authenticated, |&want| identity.is_some() == want)
            && any_pattern(&self.subject, identity.map(|i| i.subject.as_str()))
            && opt(&self.group, |p| {
                identity.is_some_and(|i| i.groups.iter().any(|g| p.any(|p| p.matches(g))))
            })
            && opt(&self.kind, |kinds| {
                identity.is_some_and(|i| {
                    kinds.any(|k| match k {
                        IdentityKindName::Agent => i.kind == "agent",
                        IdentityKindName::Human => i.kind == "human",
                    })
                })
            })
    }
}

impl SqlCondition {
    fn matches(&self, facts: &RequestFacts) -> bool {
        facts
            .sql
            .iter()
            .any(|found| self.matches_text(&found.facts))
    }

    fn matches_text(&self, sql: &SqlFacts) -> bool {
        let parsed = sql.parsed();
        if !opt(&self.unparsed, |&want| parsed != want)
            || !opt(&self.multiple, |&want| (sql.multiple() || !parsed) == want)
        {
            return false;
        }
        if !parsed {
            // Unreadable SQL is the riskiest kind: every statement condition holds,
            // except a request that it be bounded.
            return self.unbounded != Some(false);
        }
        sql.statements.iter().any(|statement| {
            opt(&self.kind, |k| {
                // Nested and implied kinds count (a CTE wrapping a DELETE is a DELETE);
                // a part Warden could not see into could be any kind.
                let unseen = statement.kind == SqlKind::Unparsed
                    || statement.nested_kinds.contains(&SqlKind::Unparsed);
                unseen || k.any(|k| statement.kind == *k || statement.nested_kinds.contains(k))
            }) && opt(&self.table, |p| {
                statement.tables.iter().any(|table| {
                    let short = table.rsplit('.').next().unwrap_or(table);
                    p.any(|p| p.matches(table) || p.matches(short))
                })
            }) && opt(&self.unbounded, |&want| statement.unbounded == want)
        })
    }
}

impl KubernetesCondition {
    /// Every condition, body risks included, on one reading of the request.
    fn matches(&self, facts: &RequestFacts) -> bool {
        facts.kubernetes.iter().any(|k8s| {
            self.matches_line(k8s) && opt(&self.risk, |r| r.any(|r| k8s.risks.contains(r)))
        })
    }

    /// The conditions the request line decides (body risks are not known yet).
    fn matches_request(&self, facts: &RequestFacts) -> bool {
        facts.kubernetes.iter().any(|k8s| self.matches_line(k8s))
    }

    fn matches_line(&self, k8s: &crate::classify::kubernetes::KubernetesFacts) -> bool {
        opt(&self.verb, |v| v.any(|v| *v == k8s.verb))
            && any_pattern(&self.group, Some(k8s.api_group.as_str()))
            && any_pattern(&self.resource, k8s.resource.as_deref())
            && any_pattern(&self.subresource, k8s.subresource.as_deref())
            && any_pattern(&self.namespace, k8s.namespace.as_deref())
            && any_pattern(&self.name, k8s.name.as_deref())
            && opt(&self.dry_run, |&want| k8s.dry_run == want)
    }
}

impl GitCondition {
    fn matches_request(&self, facts: &RequestFacts) -> bool {
        let Some(git) = &facts.git else {
            return false;
        };
        opt(&self.service, |s| s.any(|s| *s == git.request.service))
    }

    fn matches_refs(&self, facts: &RequestFacts) -> bool {
        if self.ref_name.is_none() && self.ref_action.is_none() {
            return true;
        }
        let Some(git) = &facts.git else {
            return false;
        };
        git.ref_updates.iter().any(|update| {
            // An unknown ref (a ref API call that does not name it) could be any ref.
            (update.ref_name.is_empty()
                || any_pattern(&self.ref_name, Some(update.ref_name.as_str())))
                && opt(&self.ref_action, |a| a.any(|a| *a == update.action))
        })
    }
}

impl McpCondition {
    fn matches(&self, facts: &RequestFacts) -> bool {
        let Some(mcp) = &facts.mcp else {
            return false;
        };
        if !opt(&self.malformed, |&want| mcp.malformed.is_empty() != want) {
            return false;
        }
        if self.method.is_none()
            && self.tool.is_none()
            && self.tool_word.is_none()
            && self.resource.is_none()
            && self.suspicious_tool_name.is_none()
            && self.code_execution.is_none()
        {
            return true;
        }
        mcp.messages.iter().any(|message| {
            any_pattern(&self.method, Some(message.method.as_str()))
                && opt(&self.tool, |p| {
                    [message.tool.as_deref(), message.tool_normalized.as_deref()]
                        .into_iter()
                        .flatten()
                        .any(|name| p.any(|p| p.matches(name)))
                })
                && opt(&self.tool_word, |p| {
                    message.tool_normalized.as_deref().is_some_and(|name| {
                        name.split('_')
                            .any(|word| !word.is_empty() && p.any(|p| p.matches(word)))
                    })
                })
                && any_pattern(&self.resource, message.resource_uri.as_deref())
                && opt(&self.suspicious_tool_name, |&want| {
                    message.tool_name_suspicious == want
                })
                && opt(&self.code_execution, |&want| message.code_execution == want)
        })
    }
}

impl GraphqlCondition {
    fn matches(&self, facts: &RequestFacts) -> bool {
        facts.graphql.iter().any(|document| {
            let parsed = document.parse_error.is_none();
            let known = document.opaque.is_none();
            if !opt(&self.unparsed, |&want| parsed != want)
                || !opt(&self.opaque, |&want| known != want)
            {
                return false;
            }
            if !parsed || !known {
                // An unreadable document, or one the server looks up, could be any
                // operation.
                return true;
            }
            if self.operation.is_none() && self.field.is_none() && self.field_word.is_none() {
                return true;
            }
            document.operations.iter().any(|operation| {
                opt(&self.operation, |k| k.any(|k| *k == operation.kind))
                    && opt(&self.field, |p| {
                        operation.fields.iter().any(|f| p.any(|p| p.matches(f)))
                    })
                    && opt(&self.field_word, |p| {
                        operation.all_fields.iter().any(|f| {
                            crate::classify::graphql::field_words(f)
                                .any(|word| p.any(|p| p.matches(&word)))
                        })
                    })
            })
        })
    }
}

impl LlmCondition {
    fn matches(&self, facts: &RequestFacts) -> bool {
        let Some(llm) = &facts.llm else {
            return false;
        };
        opt(&self.api, |a| a.any(|a| *a == llm.api))
            && any_pattern(&self.model, llm.model.as_deref())
            && opt(&self.tool, |p| {
                llm.tools.iter().any(|t| p.any(|p| p.matches(t)))
            })
            && opt(&self.tool_results, |&want| llm.tool_results_present == want)
            && opt(&self.tool_calls, |&want| llm.tool_calls_present == want)
    }
}
