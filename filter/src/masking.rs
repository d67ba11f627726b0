//! Masking settings: the `masking:` config section and how it builds a [`Redactor`].
//!
//! This is the glue between the configuration and the [`crate::redact`] engine; the
//! per-body decisions (which mode, decode or refuse) live in [`crate::pipeline`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::redact::{
    PiiSpec, RedactError, RedactOptions, Redactor, RulePack, Strategy, StructureOptions,
};

/// What to do with a body Warden cannot read as text (images, archives, unknown types).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BinaryPolicy {
    /// Let it through unread, and say so in the log (and later the audit record).
    #[default]
    Pass,
    /// Refuse it: 415 for requests, 502 for responses.
    Block,
}

/// Which PII detectors run (all on by default).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Email addresses.
    pub email: bool,
    /// Phone numbers.
    pub phone: bool,
    /// Payment card numbers (Luhn-checked).
    pub card: bool,
    /// IBANs (mod-97-checked).
    pub iban: bool,
    /// US social security numbers (valid ranges).
    pub ssn: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            email: true,
            phone: true,
            card: true,
            iban: true,
            ssn: true,
        }
    }
}

/// How values of Kubernetes Secrets (`data`, `stringData`) are masked.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SecretMasking {
    /// `[REDACTED:k8s-secret]` (base64-encoded under `data`, so the object stays a
    /// valid Secret).
    #[default]
    Redact,
    /// The marker with the value's last 4 characters (long values only).
    Partial,
    /// A keyed pseudonym (`[HASH:k8s-secret:…]`).
    Hash,
    /// Not masked as Secret values (the pattern rules still scan them).
    Off,
}

impl SecretMasking {
    fn strategy(self) -> Option<Strategy> {
        match self {
            SecretMasking::Redact => Some(Strategy::Redact),
            SecretMasking::Partial => Some(Strategy::Partial),
            SecretMasking::Hash => Some(Strategy::Hash),
            SecretMasking::Off => None,
        }
    }
}

/// The `masking:` section of the config.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// Mask request bodies (outbound DLP: prompts, pastes, tickets).
    #[serde(default = "yes")]
    pub request: bool,
    /// Mask response bodies (what the agent gets to see).
    #[serde(default = "yes")]
    pub response: bool,
    /// Bodies that are not text.
    #[serde(default)]
    pub binary: BinaryPolicy,
    /// A policy pack directory whose `redact/*.yaml` rule files replace the built-in
    /// pack (e.g. `policies`). Unset: the built-in pack.
    #[serde(default)]
    pub policy_dir: Option<PathBuf>,
    /// PII detectors.
    #[serde(default)]
    pub pii: PiiConfig,
    /// Strategy for every rule: `redact` (default), `partial`, `hash` or `drop`.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// A file holding the key for the `hash` strategy (its bytes, trailing newline
    /// trimmed). Without it pseudonyms use a fixed key and are guessable.
    #[serde(default)]
    pub hash_key_file: Option<PathBuf>,
    /// Values of Kubernetes Secrets, wherever a Secret appears in a JSON body.
    #[serde(default)]
    pub kubernetes_secrets: SecretMasking,
}

fn yes() -> bool {
    true
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            request: true,
            response: true,
            binary: BinaryPolicy::Pass,
            policy_dir: None,
            pii: PiiConfig::default(),
            strategy: None,
            hash_key_file: None,
            kubernetes_secrets: SecretMasking::Redact,
        }
    }
}

/// Why the masking engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MaskingError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The policy directory holds no rule files.
    #[error("{0}: no rule files found in its redact/ directory (expected redact/*.yaml)")]
    NoRules(PathBuf),
    /// A rule file is invalid.
    #[error("{path}: {source}")]
    Rules {
        /// The rule file.
        path: PathBuf,
        /// What is wrong in it.
        source: RedactError,
    },
    /// The rules are valid one by one but do not compile together.
    #[error("the masking rules do not compile: {0}")]
    Compile(RedactError),
}

/// Loads the rule pack: every `redact/*.yaml` of `policy_dir` (in name order), or the
/// built-in pack when `policy_dir` is `None`.
pub fn load_rule_pack(policy_dir: Option<&Path>) -> Result<RulePack, MaskingError> {
    let Some(dir) = policy_dir else {
        return RulePack::default_pack().map_err(MaskingError::Compile);
    };
    let redact_dir = dir.join("redact");
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MaskingError::Read { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&redact_dir)
        .map_err(read_err(&redact_dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let mut pack: Option<RulePack> = None;
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
        let more = RulePack::from_yaml_str(&text)
            .map_err(|source| MaskingError::Rules { path, source })?;
        match pack.as_mut() {
            Some(pack) => pack.extend(more),
            None => pack = Some(more),
        }
    }
    pack.ok_or_else(|| MaskingError::NoRules(dir.to_path_buf()))
}

impl MaskingConfig {
    /// Builds the masking engine these settings describe.
    pub fn build(&self) -> Result<Redactor, MaskingError> {
        let pack = load_rule_pack(self.policy_dir.as_deref())?;
        let hash_key = match &self.hash_key_file {
            Some(path) => {
                let mut key = std::fs::read(path).map_err(|source| MaskingError::Read {
                    path: path.clone(),
                    source,
                })?;
                while key.last().is_some_and(|b| b.is_ascii_whitespace()) {
                    key.pop();
                }
                Some(key)
            }
            None => None,
        };
        let options = RedactOptions {
            pii: Some(PiiSpec {
                email: self.pii.email,
                phone: self.pii.phone,
                card: self.pii.card,
                iban: self.pii.iban,
                ssn: self.pii.ssn,
            }),
            default_strategy: self.strategy,
            hash_key,
            structure: StructureOptions {
                kubernetes_secrets: self.kubernetes_secrets.strategy(),
                ..StructureOptions::default()
            },
            ..RedactOptions::default()
        };
        Redactor::new(&pack, &options).map_err(MaskingError::Compile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_dir_loads_and_equals_the_built_in_pack() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let from_dir = load_rule_pack(Some(&dir)).expect("shipped pack loads");
        let built_in = load_rule_pack(None).expect("built-in pack");
        let a = Redactor::new(&from_dir, &RedactOptions::default()).expect("compiles");
        let b = Redactor::new(&built_in, &RedactOptions::default()).expect("compiles");
        assert_eq!(a.rule_ids(), b.rule_ids());
    }

    #[test]
    fn a_dir_without_rules_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("redact")).expect("mkdir");
        let err = load_rule_pack(Some(dir.path())).expect_err("no rules");
        assert!(err.to_string().contains("no rule files"), "{err}");
        let err = load_rule_pack(Some(&dir.path().join("missing"))).expect_err("missing");
        assert!(err.to_string().contains("cannot read"), "{err}");
    }

    #[test]
    fn a_bad_rule_file_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("redact")).expect("mkdir");
        std::fs::write(dir.path().join("redact/bad.yaml"), "rules: 3\n").expect("write");
        let err = load_rule_pack(Some(dir.path())).expect_err("bad");
        assert!(err.to_string().contains("bad.yaml"), "{err}");
    }
}
