//! Secret and PII detection and masking (see issue 4).
//!
//! A pure library: no I/O, no async. The pipeline compiles one [`Redactor`] from a rule pack
//! and shares it (`Arc<Redactor>`, it is `Send + Sync`) across requests. Bodies are masked
//! either in one shot ([`Redactor::redact`]) or chunk by chunk ([`Redactor::stream`]); both
//! paths run the same code and produce byte-identical output for any chunking.
//!
//! How detection stays fast: every detector is anchored on something cheap to find — a
//! case-insensitive keyword found by one Aho-Corasick pass, an `@`, or a digit — and its full
//! regex or validator only runs in a bounded window around that anchor. Because every
//! detector looks at a bounded window, a stream only needs to carry a bounded tail between
//! chunks, and memory per stream stays bounded whatever the body size.

mod anchor;
mod body;
mod decode;
mod engine;
mod events;
pub mod fields;
pub mod gitpack;
mod known;
mod manifest;
mod pii;
mod prefilter;
mod rules;
mod split;
mod stream;
pub mod structure;
mod validate;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

pub use body::{BodyMasker, RedactedBody};
pub use decode::{decode_body, DecodeError, DEFAULT_MAX_DECODED};
pub use rules::{
    ContextRuleSpec, PiiSpec, RuleContext, RulePack, RuleSpec, Validator, DEFAULT_RULES_YAML,
};
pub use stream::{RedactStream, StreamEnd};
pub use structure::{FieldAction, FieldPath, FieldRules, PathSegment, StructureOptions};

use engine::Engine;
use known::KnownSet;

/// Errors from building a [`Redactor`] or updating its known secrets.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// The rule pack YAML is malformed.
    #[error("rule pack: {0}")]
    RulePack(String),
    /// A rule's regex does not compile or is not usable (e.g. unbounded length).
    #[error("rule {id}: {reason}")]
    Rule {
        /// The offending rule id.
        id: String,
        /// Why it was refused.
        reason: String,
    },
    /// A strategy or disable override names a rule that does not exist.
    #[error("unknown rule id {0:?}")]
    UnknownRule(String),
    /// A known secret is too short to be masked without masking ordinary text.
    #[error("known secret {id:?} is shorter than {min} bytes")]
    KnownSecretTooShort {
        /// The secret's label.
        id: String,
        /// The minimum accepted length.
        min: usize,
    },
    /// The keyword automaton could not be built.
    #[error("automaton: {0}")]
    Automaton(String),
}

/// Which way a body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Agent → upstream (outbound DLP: prompts, pastes, tickets).
    Request,
    /// Upstream → agent.
    Response,
}

/// The shape of a body, which decides which rules apply and how output stays well-formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// A JSON document.
    Json,
    /// Newline-delimited JSON; each line is masked on its own.
    Ndjson,
    /// `text/event-stream`; each event is masked on its own, as soon as it is complete.
    EventStream,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Any other text (plain, XML, YAML, HTML, code...).
    Text,
    /// Binary or unknown media: not scanned as such. Where a body's bytes are at hand,
    /// they decide what it is ([`Redactor::redact_body`], [`BodyMasker`]): text under
    /// such a label is masked as text; only bytes that really are binary pass unread and
    /// the caller applies its binary policy (pass with an audit note, or block) — see
    /// [`Redacted::scanned`] and [`RedactedBody::passed_unread`].
    Binary,
}

impl ContentKind {
    /// Classifies a `Content-Type` header value. A missing or empty type is treated as text:
    /// scanning costs little, and passing an unlabelled body unread would be a silent hole.
    ///
    /// Names are matched by family, not from a short list: any subtype naming JSON
    /// (`application/x-json`, `application/json-rpc`, `*+json`) is JSON, any naming a
    /// JSON sequence (`ndjson`, `jsonl`, `json-seq`) is NDJSON, and text-like subtypes
    /// (XML, YAML, CSV, HTML, scripts, SQL, GraphQL...) are text. Everything else is
    /// [`ContentKind::Binary`]: a label that says nothing about text, whose bytes decide.
    pub fn from_content_type(content_type: &str) -> Self {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime.is_empty() {
            return Self::Text;
        }
        let (top, sub) = mime.split_once('/').unwrap_or((mime.as_str(), ""));
        // `vnd.api+json`, `x-json`, `json-rpc`: words of the subtype.
        let words: Vec<&str> = sub.split(['.', '+', '-', '_']).collect();
        const SEQUENCES: [&str; 4] = ["ndjson", "jsonl", "json-seq", "jsonlines"];
        const TEXTUAL: [&str; 13] = [
            "xml",
            "yaml",
            "toml",
            "csv",
            "html",
            "javascript",
            "ecmascript",
            "graphql",
            "sql",
            "sh",
            "php",
            "markdown",
            "plain",
        ];
        match mime.as_str() {
            "text/event-stream" => Self::EventStream,
            "application/x-www-form-urlencoded" => Self::Form,
            _ if SEQUENCES.iter().any(|s| sub.contains(s)) => Self::Ndjson,
            _ if words.iter().any(|w| w.contains("json")) => Self::Json,
            _ if top == "text" => Self::Text,
            _ if words.iter().any(|w| TEXTUAL.contains(w)) => Self::Text,
            _ => Self::Binary,
        }
    }

    /// Whether JSON-context rules (key names) and JSON-safe span adjustment apply.
    pub(crate) fn is_jsonish(self) -> bool {
        matches!(self, Self::Json | Self::Ndjson | Self::EventStream)
    }
}

/// Masking gave up because its deadline passed ([`Redactor::redact_within`],
/// [`RedactStream::set_deadline`]); the body was not masked and must not be passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("masking did not finish before its deadline")]
pub struct DeadlinePassed;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A provider secret recognised by its format (tokens, keys, credentials in URLs...).
    Secret,
    /// Personal data (email, phone, card, IBAN, SSN).
    Pii,
    /// An exact value Warden knows is secret (e.g. an injected upstream credential).
    KnownSecret,
    /// A secret recognised by context only (a sensitive key name near a random-looking value).
    Generic,
    /// A field a policy flags (a JSON path, key name or SQL result column; see
    /// [`structure::FieldRules`]).
    Field,
}

/// One masked region, for audit. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule that fired (e.g. `github-pat`, `pii-email`, `known:<label>`).
    #[serde(with = "arc_str")]
    pub rule_id: Arc<str>,
    /// What was found.
    pub kind: FindingKind,
    /// Which way the body was travelling.
    pub direction: Direction,
    /// Byte offset of the masked region in the (decoded) input body.
    pub offset: u64,
    /// Length in bytes of the masked region in the input body.
    pub len: u64,
}

/// How a match is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Replace with `[REDACTED:<rule-id>]`.
    #[default]
    Redact,
    /// Keep the last 4 characters: `[REDACTED:<rule-id>:…abcd]` (only if the value is long
    /// enough that 4 characters reveal little; otherwise as `redact`).
    Partial,
    /// Keyed HMAC-SHA256 pseudonym `[HASH:<rule-id>:<16 hex>]`: stable for one key, so an
    /// agent can still correlate equal values without seeing them.
    Hash,
    /// Remove the whole JSON member (`"key": value` and its comma). Only JSON key-name rules
    /// can drop; everything else falls back to `redact`.
    Drop,
}

/// Findings of a body past its listing limit ([`Redactor::redact_listing`],
/// [`BodyMasker::list_at_most`]): counted per rule instead of listed one by one.
///
/// Why: a buffered caller that only needs counts (the data path's audit record) must not
/// hold one [`Finding`] (40 bytes) per masked region: 8 MiB of `a@b.co ` has 1.2 M of
/// them, 48 MiB on top of the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnlistedFindings {
    /// Findings not listed, in all.
    pub total: u64,
    /// Findings not listed, per rule id.
    pub by_rule: BTreeMap<Arc<str>, u64>,
}

impl UnlistedFindings {
    /// True when every finding was listed.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Counts `count` more findings of `rule_id`.
    pub(crate) fn count(&mut self, rule_id: &Arc<str>, count: u64) {
        self.total += count;
        match self.by_rule.get_mut(rule_id) {
            Some(n) => *n += count,
            None => {
                self.by_rule.insert(Arc::clone(rule_id), count);
            }
        }
    }

    /// Adds another body's (or part's) counts.
    pub(crate) fn absorb(&mut self, other: UnlistedFindings) {
        for (rule_id, count) in &other.by_rule {
            self.count(rule_id, *count);
        }
    }
}

/// A body's findings as they are collected: listed in full up to a limit, counted per rule
/// past it.
#[derive(Debug)]
pub(crate) struct FindingLog {
    /// Findings listed and not yet taken.
    pub(crate) listed: Vec<Finding>,
    /// Findings listed so far, taken or not.
    listed_count: usize,
    /// How many findings are listed in all; later ones are counted.
    limit: usize,
    unlisted: UnlistedFindings,
}

impl Default for FindingLog {
    fn default() -> Self {
        Self {
            listed: Vec::new(),
            listed_count: 0,
            limit: usize::MAX,
            unlisted: UnlistedFindings::default(),
        }
    }
}

impl FindingLog {
    /// Lists at most `limit` findings in all (those listed so far included).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// How many more findings would be listed.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.listed_count)
    }

    pub(crate) fn push(&mut self, finding: Finding) {
        if self.listed_count < self.limit {
            self.listed_count += 1;
            self.listed.push(finding);
        } else {
            self.unlisted.count(&finding.rule_id, 1);
        }
    }

    pub(crate) fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for finding in findings {
            self.push(finding);
        }
    }

    /// Findings listed since the last call.
    pub(crate) fn take(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.listed)
    }

    /// Findings counted past the limit since the last call.
    pub(crate) fn take_unlisted(&mut self) -> UnlistedFindings {
        std::mem::take(&mut self.unlisted)
    }

    /// Adds findings counted elsewhere past the same limit.
    pub(crate) fn absorb(&mut self, unlisted: UnlistedFindings) {
        self.unlisted.absorb(unlisted);
    }
}

/// The result of a one-shot [`Redactor::redact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The masked body (equal to the input when nothing was found or nothing was scanned).
    pub body: Vec<u8>,
    /// What was masked, in body order (all of it, or the first ones when the listing was
    /// limited: [`Redactor::redact_listing`]).
    pub findings: Vec<Finding>,
    /// What was masked past the listing limit, counted per rule (empty unless limited).
    pub unlisted: UnlistedFindings,
    /// False when the content kind is [`ContentKind::Binary`]: the body was passed through
    /// unread and the caller must apply its binary policy (audit note or block).
    pub scanned: bool,
}

impl Redacted {
    /// Whether anything was masked (and so BUFFERED mode must fix `content-length`).
    pub fn changed(&self) -> bool {
        !self.findings.is_empty() || !self.unlisted.is_empty()
    }

    /// Findings in all, listed or counted.
    pub fn finding_count(&self) -> u64 {
        self.findings.len() as u64 + self.unlisted.total
    }
}

/// A header value [`Redactor::redact_header`] masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedHeader {
    /// The value to pass on instead.
    pub value: String,
    /// What was masked (offsets within the value).
    pub findings: Vec<Finding>,
}

/// A secret value Warden knows (e.g. an upstream credential it injects), masked wherever it
/// appears whatever its format.
#[derive(Clone)]
pub struct KnownSecret {
    /// A label for findings (`known:<label>`); never the value.
    pub label: String,
    /// The exact value.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for KnownSecret {
    // Why by hand: a derived Debug would print the secret into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownSecret")
            .field("label", &self.label)
            .field("len", &self.value.len())
            .finish()
    }
}

/// Knobs layered over a rule pack (per policy).
#[derive(Debug, Clone, Default)]
pub struct RedactOptions {
    /// Overrides the pack's PII defaults when set.
    pub pii: Option<PiiSpec>,
    /// Rule ids to switch off.
    pub disabled_rules: Vec<String>,
    /// Rule ids shipped switched off (`enabled: false` in the pack) to switch on.
    pub enabled_rules: Vec<String>,
    /// Per-rule strategy overrides (`pii-email` → `hash`, ...). Ids of built-in detectors:
    /// `pii-email`, `pii-phone`, `pii-card`, `pii-iban`, `pii-ssn`, and `known` for all
    /// known secrets.
    pub strategies: Vec<(String, Strategy)>,
    /// Strategy for rules without an override and without a default in the pack.
    pub default_strategy: Option<Strategy>,
    /// Key for the `hash` strategy. Without one, a fixed all-zero key is used: pseudonyms are
    /// then stable but guessable for low-entropy values, so policies should set one.
    pub hash_key: Option<Vec<u8>>,
    /// The structure layer: Kubernetes Secrets, field rules (see [`structure`]).
    pub structure: StructureOptions,
}

/// The compiled masking engine. Build once, share via `Arc`, use from many threads.
pub struct Redactor {
    engine: Arc<Engine>,
    // Why a lock around an Arc: the known-secret set changes at runtime (credentials rotate)
    // without recompiling the rule automaton; streams take a snapshot when they start so one
    // body is masked against one consistent set.
    known: RwLock<Arc<KnownSet>>,
    structure: Arc<StructureOptions>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.engine.rule_count())
            .finish()
    }
}

impl Redactor {
    /// Compiles the default rule pack with default options.
    pub fn with_defaults() -> Result<Self, RedactError> {
        Self::new(&RulePack::default_pack()?, &RedactOptions::default())
    }

    /// Compiles a rule pack with options.
    pub fn new(pack: &RulePack, options: &RedactOptions) -> Result<Self, RedactError> {
        let engine = Engine::compile(pack, options)?;
        Ok(Self {
            engine: Arc::new(engine),
            known: RwLock::new(Arc::new(KnownSet::empty())),
            structure: Arc::new(options.structure.clone()),
        })
    }

    /// Replaces the set of known secrets. Cheap relative to a full rebuild: only a small
    /// automaton over these values is compiled. Values shorter than
    /// [`KnownSecret::MIN_LEN`] are refused (they would mask ordinary text).
    pub fn set_known_secrets(&self, secrets: &[KnownSecret]) -> Result<(), RedactError> {
        let set = KnownSet::build(secrets, self.engine.known_strategy())?;
        let mut guard = match self.known.write() {
            Ok(g) => g,
            // A panic while holding the lock cannot leave the Arc half-written; keep going.
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(set);
        Ok(())
    }

    fn known_snapshot(&self) -> Arc<KnownSet> {
        match self.known.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Masks a whole body; lists every finding.
    pub fn redact(&self, body: &[u8], content: ContentKind, direction: Direction) -> Redacted {
        self.redact_listing(body, content, direction, usize::MAX)
    }

    /// [`Redactor::redact`], listing at most `max_listed` findings in full
    /// ([`Redacted::findings`]) and counting the rest per rule ([`Redacted::unlisted`]):
    /// for callers that need counts, not offsets, so memory does not grow with the
    /// number of findings.
    pub fn redact_listing(
        &self,
        body: &[u8],
        content: ContentKind,
        direction: Direction,
        max_listed: usize,
    ) -> Redacted {
        let mut s = self.stream(content, direction);
        s.list_at_most(max_listed);
        // Sized up front: masks are usually few, so the output is about the input's size
        // and is written once, without regrowing (and re-copying) a multi-MiB buffer.
        let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 64);
        let findings = s.whole_into(body, &mut out);
        Redacted {
            body: out,
            findings,
            unlisted: s.take_unlisted(),
            scanned: content != ContentKind::Binary,
        }
    }

    /// [`Redactor::redact`], giving up when `deadline` passes: a body that cannot be
    /// masked in time is an error, never a partly masked body.
    pub fn redact_within(
        &self,
        body: &[u8],
        content: ContentKind,
        direction: Direction,
        deadline: Option<std::time::Instant>,
    ) -> Result<Redacted, DeadlinePassed> {
        let mut s = self.stream(content, direction);
        s.set_deadline(deadline);
        let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 64);
        let findings = s.whole_into(body, &mut out);
        if s.deadline_passed() {
            return Err(DeadlinePassed);
        }
        Ok(Redacted {
            body: out,
            findings,
            unlisted: s.take_unlisted(),
            scanned: content != ContentKind::Binary,
        })
    }

    /// Masks one header value, read as the line `name: value` so rules that key on a
    /// name (`x-api-key: …`, `password: …`) apply as they do in a body. `None`: nothing
    /// to mask. The masked value is always a valid header value (no control characters);
    /// when a finding reaches into the name itself the whole value is replaced.
    pub fn redact_header(
        &self,
        name: &str,
        value: &[u8],
        direction: Direction,
    ) -> Option<MaskedHeader> {
        let prefix_len = name.len() + 2;
        let mut line = Vec::with_capacity(prefix_len + value.len());
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(value);
        let masked = self.redact(&line, ContentKind::Text, direction);
        if !masked.changed() {
            return None;
        }
        let value = match masked.body.strip_prefix(&line[..prefix_len]) {
            Some(rest) => String::from_utf8_lossy(rest)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
            None => "[REDACTED]".to_string(),
        };
        let findings = masked
            .findings
            .into_iter()
            .map(|mut f| {
                f.offset = f.offset.saturating_sub(prefix_len as u64);
                f
            })
            .collect();
        Some(MaskedHeader { value, findings })
    }

    /// Starts masking a body that arrives in chunks. See [`RedactStream`].
    pub fn stream(&self, content: ContentKind, direction: Direction) -> RedactStream {
        RedactStream::new(
            Arc::clone(&self.engine),
            self.known_snapshot(),
            content,
            direction,
            &self.structure,
        )
    }

    /// The key of the `hash` strategy (field masking writes the same pseudonyms).
    pub fn hash_key(&self) -> &[u8] {
        self.engine.hash_key()
    }

    /// Ids of all compiled rules (rule pack and built-in detectors), for policy validation.
    pub fn rule_ids(&self) -> Vec<Arc<str>> {
        self.engine.rule_ids()
    }
}

impl KnownSecret {
    /// Known secrets shorter than this are refused.
    pub const MIN_LEN: usize = 6;

    /// Builds a known secret from a label and value.
    pub fn new(label: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// Serde for `Arc<str>` without enabling serde's `rc` feature workspace-wide.
mod arc_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(d).map(Arc::from)
    }
}

#[cfg(test)]
mod tests;
