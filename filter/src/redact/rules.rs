//! The rule pack: detector definitions as data (`policies/redact/rules.yaml`).
//!
//! A rule pack is plain YAML so operators can read, diff and extend it without a rebuild.
//! Three shapes of rule exist:
//! - `rules`: a full regex with its literal keywords (or anchoring prefixes);
//! - `context_rules`: a provider keyword plus the shape of its value, expanded with one shared
//!   "key ... = value" template so the assignment syntax is written once, not 100 times;
//! - built-in PII detectors, which are code (validators such as Luhn and mod-97 are not
//!   expressible as regexes) and are only switched on or off here.

use serde::Deserialize;

use super::{FindingKind, RedactError, Strategy};

/// The default rule pack shipped with Warden, compiled into the binary so the service and
/// the CLI always have a pack even without a policy directory.
pub const DEFAULT_RULES_YAML: &str = include_str!("../../../policies/redact/rules.yaml");

/// A parsed (not yet compiled) rule pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    /// Schema version; only `1` exists.
    #[serde(default = "one")]
    pub version: u32,
    /// Full-regex rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Provider keyword + value-shape rules, expanded with [`RulePack::context_template`].
    #[serde(default)]
    pub context_rules: Vec<ContextRuleSpec>,
    /// The assignment template for `context_rules`: `{KEYWORDS}` and `{VALUE}` are substituted.
    #[serde(default)]
    pub context_template: Option<String>,
    /// Which built-in PII detectors are on by default (a policy may override).
    #[serde(default)]
    pub pii: PiiSpec,
}

fn one() -> u32 {
    1
}

/// Which content a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleContext {
    /// Any textual body (JSON, NDJSON, SSE, form, plain text).
    Any,
    /// JSON-shaped bodies only (JSON, NDJSON, SSE data), e.g. key-name rules.
    Json,
    /// `application/x-www-form-urlencoded` bodies only.
    Form,
}

/// Named post-match validators implemented in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// The shared placeholder check plus fake-key patterns (keyboard runs, constant runs).
    #[default]
    Default,
    /// The shared placeholder check only (masks, templates, near-constant values); the default
    /// for `context_rules`, where a provider key name vouches for the value.
    Light,
    /// No check at all (e.g. JSON key-name rules: the key alone decides).
    None,
    /// A value in a provider's strict documented format (fixed prefix, exact length and
    /// charset: `AKIA` + 16 base32, `NRAK-` + 27): only explicit placeholder markers
    /// (`EXAMPLE`, `xxxx`, `****`, templates, near-constant values) keep it. Alphabet runs
    /// and low entropy do not: such a value is far more likely a credential than a dummy,
    /// and masking a dummy costs the reader nothing.
    Strict,
    /// Generic secrets: strict gating against hashes, UUIDs, identifiers, paths, placeholders.
    Generic,
    /// A password-like value: keeps obvious placeholders and variable references only.
    Password,
    /// JSON Web Token: the header segment must decode to a JSON object with `alg`/`typ`.
    Jwt,
    /// HTTP Basic credentials (`base64(user:pass)`).
    Basic,
    /// `user:password` (`curl -u`): the password part must not be a placeholder or a word.
    UserPass,
    /// `user:password` in a URL: only templates and masks are kept.
    UrlCreds,
    /// Base64 of a JWT (`ZXlK...`).
    Jwt64,
    /// Anything but a template expression or variable reference (`${X}`, `{{ x }}`,
    /// `%X%`...), also when percent-encoded: for key-name rules, where the key alone says
    /// the value is secret.
    Template,
}

/// One full-regex rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable rule id, used in `[REDACTED:<id>]` and findings.
    pub id: String,
    /// Finding kind.
    #[serde(default = "secret_kind")]
    pub kind: FindingKind,
    /// Case-insensitive literals; the regex only runs in a window around their hits, and every
    /// match must contain one of them.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Case-insensitive literals at which a match must start (anchored search, cheapest form).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// The regex (bytes, Unicode off). Group `s` is the masked part (whole match without it);
    /// group `n` marks a bare JSON number value, which is masked as a string to stay valid JSON.
    pub regex: String,
    /// Longest match in bytes. Needed when the regex has unbounded repetition (bounded
    /// repetitions unroll into large automata); the regex then only ever sees a window of
    /// this size around its keyword, which keeps results identical for any chunking.
    #[serde(default)]
    pub max_len: Option<usize>,
    /// Minimum Shannon entropy (bits/byte) of the masked part.
    #[serde(default)]
    pub min_entropy: f64,
    /// Require a non-alphanumeric byte (or a JSON escape) on both sides of the masked part.
    /// Defaults to true for `prefixes` rules.
    #[serde(default)]
    pub boundary: Option<bool>,
    /// Post-match validator.
    #[serde(default)]
    pub validate: Validator,
    /// Regexes on the masked part that mark it as a false positive (placeholders, examples).
    #[serde(default)]
    pub reject: Vec<String>,
    /// Require the match to start at a word start (not inside an identifier, but a camelCase
    /// hump counts): `twitterToken` and `TWITTER_KEY` yes, `SetSysctl` for `etsy` no.
    #[serde(default)]
    pub word_start: bool,
    /// Content this rule applies to.
    #[serde(default = "any_ctx")]
    pub contexts: Vec<RuleContext>,
    /// Default strategy for this rule.
    #[serde(default)]
    pub strategy: Strategy,
    /// Free text for operators.
    #[serde(default)]
    pub description: Option<String>,
    /// Shipped switched off (a policy turns it on with `RedactOptions::enabled_rules`), for
    /// detectors that are right for some deployments only (e.g. cloud resource identifiers).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A provider keyword rule: `<keyword>... <op> <value>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextRuleSpec {
    /// Stable rule id.
    pub id: String,
    /// Key-name literals (case-insensitive) that must precede the value.
    pub keywords: Vec<String>,
    /// Regex for the value shape (bytes, Unicode off, no capture groups).
    pub value: String,
    /// Minimum Shannon entropy of the value.
    #[serde(default)]
    pub min_entropy: f64,
    /// Extra rejects for the value.
    #[serde(default)]
    pub reject: Vec<String>,
    /// Post-match validator (default `light`).
    #[serde(default = "light")]
    pub validate: Validator,
    /// Match the keywords case-sensitively (when a lowercase spelling is a common word part).
    #[serde(default)]
    pub case_sensitive: bool,
}

/// Built-in PII detector defaults.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiSpec {
    /// Email addresses.
    pub email: bool,
    /// Phone numbers (international `+` form and formatted NANP).
    pub phone: bool,
    /// Payment card numbers (Luhn-valid, known IIN ranges).
    pub card: bool,
    /// IBANs (mod-97 valid, per-country length).
    pub iban: bool,
    /// US social security numbers (valid ranges, dashed or spaced form).
    pub ssn: bool,
}

impl Default for PiiSpec {
    fn default() -> Self {
        Self {
            email: true,
            phone: true,
            card: true,
            iban: true,
            ssn: true,
        }
    }
}

fn light() -> Validator {
    Validator::Light
}

fn secret_kind() -> FindingKind {
    FindingKind::Secret
}

fn any_ctx() -> Vec<RuleContext> {
    vec![RuleContext::Any]
}

impl RulePack {
    /// Parses a rule pack from YAML text.
    pub fn from_yaml_str(text: &str) -> Result<Self, RedactError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| RedactError::RulePack(e.to_string()))
    }

    /// The rule pack shipped with Warden (`policies/redact/rules.yaml`).
    pub fn default_pack() -> Result<Self, RedactError> {
        Self::from_yaml_str(DEFAULT_RULES_YAML)
    }

    /// Appends the rules of `other` (e.g. a site-specific pack layered on the default one).
    pub fn extend(&mut self, other: RulePack) {
        self.rules.extend(other.rules);
        self.context_rules.extend(other.context_rules);
        if other.context_template.is_some() {
            self.context_template = other.context_template;
        }
    }

    /// All rules, with `context_rules` expanded to full regex rules.
    pub(crate) fn expanded(&self) -> Result<Vec<RuleSpec>, RedactError> {
        let mut out = self.rules.clone();
        if self.context_rules.is_empty() {
            return Ok(out);
        }
        let template = self.context_template.as_deref().ok_or_else(|| {
            RedactError::RulePack("context_rules need a context_template".to_string())
        })?;
        for c in &self.context_rules {
            if c.keywords.is_empty() {
                return Err(RedactError::RulePack(format!("{}: no keywords", c.id)));
            }
            let mut kws = c
                .keywords
                .iter()
                .map(|k| regex_syntax::escape(k))
                .collect::<Vec<_>>()
                .join("|");
            if c.case_sensitive {
                kws = format!("(?-i:{kws})");
            }
            let regex = template
                .replace("{KEYWORDS}", &kws)
                .replace("{VALUE}", &c.value);
            out.push(RuleSpec {
                id: c.id.clone(),
                kind: FindingKind::Secret,
                keywords: c.keywords.clone(),
                prefixes: Vec::new(),
                regex,
                max_len: None,
                min_entropy: c.min_entropy,
                boundary: Some(false),
                validate: c.validate,
                reject: c.reject.clone(),
                word_start: true,
                contexts: any_ctx(),
                strategy: Strategy::Redact,
                description: None,
                enabled: true,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pack_parses_and_expands() {
        let pack = RulePack::default_pack().expect("default pack parses");
        let rules = pack.expanded().expect("expands");
        assert!(rules.len() > 150, "only {} rules", rules.len());
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate rule ids");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = RulePack::from_yaml_str("rules:\n- id: x\n  regex: a\n  bogus: 1\n");
        assert!(err.is_err());
    }
}
