//! Upstream credential injection: the agent's credentials are removed and the
//! upstream's are set, so an agent never holds (or sees) an upstream secret.
//!
//! [`injection_changes`] is the pure part. [`CredentialInjector`] matches rules to
//! requests and keeps the secrets, re-reading a secret file when it changes (the last
//! good value stays in use if the new one cannot be read).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::config::{CredentialRule, Injection, SecretSource, SECTION};
use super::HeaderChanges;
use crate::http::RequestHead;
use crate::redact::KnownSecret;

/// Agent headers always removed when a rule applies (besides the token header).
const ALWAYS_REMOVED: &[&str] = &["authorization", "proxy-authorization"];

/// A secret that cannot be used. Never contains the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// The file could not be read.
    #[error("{field}: cannot read secret file {path}: {reason}")]
    Read {
        /// Config field of the rule.
        field: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The environment variable is not set (or not UTF-8).
    #[error("{field}: environment variable {var} is not set")]
    MissingEnv {
        /// Config field of the rule.
        field: String,
        /// The variable.
        var: String,
    },
    /// Empty, too short to be masked reliably, or not usable in a header.
    #[error("{field}: secret is unusable: {reason}")]
    Unusable {
        /// Config field of the rule.
        field: String,
        /// Why (never the value).
        reason: &'static str,
    },
}

/// The header changes for one request plus the values to mask in responses.
#[derive(Clone, PartialEq, Eq)]
pub struct Injected {
    /// Removals (agent credentials) and sets (upstream credential).
    pub changes: HeaderChanges,
    /// Name of the rule that applied.
    pub rule: String,
    /// The injected secret in every form an upstream might echo it (raw value, the
    /// full header value, the base64 of `user:password`), for the masking engine.
    pub secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Injected {
    // By hand: the derived form would print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injected")
            .field("rule", &self.rule)
            .field("removed", &self.changes.remove_headers)
            .field(
                "set",
                &self
                    .changes
                    .set_headers
                    .iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The pure part: header changes for a request that `rule` applies to, given the
/// secret's current value. `token_header` is the header the agent's token came in.
pub fn injection_changes(
    head: &RequestHead,
    rule: &CredentialRule,
    token_header: &str,
    secret: &str,
) -> Injected {
    let mut changes = HeaderChanges::default();
    let (name, value, mut secrets) = match &rule.inject {
        Injection::Bearer(_) => (
            "authorization".to_string(),
            format!("Bearer {secret}"),
            vec![secret.as_bytes().to_vec()],
        ),
        Injection::Basic { username, .. } => {
            let encoded = STANDARD.encode(format!("{username}:{secret}"));
            (
                "authorization".to_string(),
                format!("Basic {encoded}"),
                vec![secret.as_bytes().to_vec(), encoded.into_bytes()],
            )
        }
        Injection::Header { name, prefix, .. } => (
            name.clone(),
            format!("{prefix}{secret}"),
            vec![secret.as_bytes().to_vec()],
        ),
    };
    if value.as_bytes() != secrets[0].as_slice() {
        secrets.push(value.as_bytes().to_vec());
    }
    changes.set(&name, value);
    let removals = ALWAYS_REMOVED
        .iter()
        .copied()
        .chain(std::iter::once(token_header))
        .chain(rule.remove_headers.iter().map(String::as_str));
    for header in removals {
        // Only headers the agent actually sent: keeps the mutation small.
        if head.headers.get(header).is_some() {
            changes.remove(header);
        }
    }
    Injected {
        changes,
        rule: rule.name.clone(),
        secrets,
    }
}

/// Whether a credential rule applies to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleMatch {
    /// The rule's host and path match: its credential is injected.
    Applies,
    /// The rule does not apply.
    DoesNotApply,
    /// The path reads differently raw and normalised (dot segments, encoded slashes or
    /// letters, backslashes, repeated slashes) and only one reading is under the rule's
    /// path prefix: an upstream could act on either, so the request is refused rather
    /// than given (or denied) a credential on a guess.
    Ambiguous,
}

/// True when `rule` applies to the request's host and path.
pub fn rule_matches(rule: &CredentialRule, head: &RequestHead) -> bool {
    rule_match(rule, head) == RuleMatch::Applies
}

/// Whether `rule` applies to the request. The path is matched as policy reads it,
/// normalised ([`crate::classify::normalize_path`]), and must read the same raw.
pub fn rule_match(rule: &CredentialRule, head: &RequestHead) -> RuleMatch {
    let host = crate::http::authority_host(&head.authority);
    let host_ok = rule
        .hosts
        .iter()
        .any(|pattern| match pattern.strip_prefix("*.") {
            Some(domain) => {
                host.len() > domain.len() + 1
                    && host.ends_with(domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
            None => host == *pattern,
        });
    if !host_ok {
        return RuleMatch::DoesNotApply;
    }
    let Some(prefix) = &rule.path_prefix else {
        return RuleMatch::Applies;
    };
    let (raw, _query) = crate::classify::path::split_target(&head.path);
    let normalised = crate::classify::normalize_path(raw);
    match (under_prefix(&normalised, prefix), under_prefix(raw, prefix)) {
        (true, true) => RuleMatch::Applies,
        (false, false) => RuleMatch::DoesNotApply,
        _ => RuleMatch::Ambiguous,
    }
}

/// `path` is `prefix` or below it (a whole-segment prefix).
fn under_prefix(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.starts_with(prefix)
            && (prefix.ends_with('/') || path.as_bytes().get(prefix.len()) == Some(&b'/')))
}

/// A request whose path reads differently raw and normalised with respect to a
/// credential rule (see [`RuleMatch::Ambiguous`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the request path is ambiguous for credential rule {rule:?}: written as sent and as \
     the upstream may normalise it, it falls on different sides of the rule's path prefix; \
     send the path without dot segments, percent-encoded characters, backslashes or \
     repeated slashes"
)]
pub struct AmbiguousPath {
    /// The credential rule's name.
    pub rule: String,
}

/// A secret file's identity, to notice replacement (k8s swaps a symlink, editors
/// rename over the file).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    Ok(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

struct SecretCell {
    field: String,
    source: SecretSource,
    value: RwLock<(Arc<str>, Option<Stamp>)>,
    /// Milliseconds since `epoch` of the last file check.
    last_check: AtomicU64,
}

fn read_secret(field: &str, source: &SecretSource) -> Result<(String, Option<Stamp>), InjectError> {
    let (text, stamp) = match source {
        SecretSource::File(path) => {
            let read_err = |e: std::io::Error| InjectError::Read {
                field: field.to_string(),
                path: path.clone(),
                reason: e.kind().to_string(),
            };
            let before = stamp(path).map_err(read_err)?;
            let text = std::fs::read_to_string(path).map_err(read_err)?;
            (text, Some(before))
        }
        SecretSource::Env(var) => {
            let text = std::env::var(var).map_err(|_| InjectError::MissingEnv {
                field: field.to_string(),
                var: var.clone(),
            })?;
            (text, None)
        }
    };
    // Files usually end in a newline that is not part of the secret.
    let value = text.trim_end_matches(['\r', '\n', ' ', '\t']).to_string();
    let unusable = |reason| InjectError::Unusable {
        field: field.to_string(),
        reason,
    };
    if value.len() < KnownSecret::MIN_LEN {
        return Err(unusable(
            "shorter than 6 bytes (too short to mask if an upstream echoes it)",
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(unusable(
            "contains control characters (not valid in a header)",
        ));
    }
    Ok((value, stamp))
}

impl SecretCell {
    fn current(&self, epoch: Instant, check_every_ms: u64) -> Arc<str> {
        if let SecretSource::File(path) = &self.source {
            let now = epoch.elapsed().as_millis() as u64;
            let last = self.last_check.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= check_every_ms
                && self
                    .last_check
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.reload_if_changed(path);
            }
        }
        match self.value.read() {
            Ok(v) => Arc::clone(&v.0),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().0),
        }
    }

    fn reload_if_changed(&self, path: &Path) {
        let known = match self.value.read() {
            Ok(v) => v.1.clone(),
            Err(p) => p.into_inner().1.clone(),
        };
        match stamp(path) {
            Ok(s) if Some(&s) == known.as_ref() => {}
            Ok(_) => match read_secret(&self.field, &self.source) {
                Ok((value, stamp)) => {
                    let mut guard = match self.value.write() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    *guard = (Arc::from(value), stamp);
                    tracing::info!(field = %self.field, "credential file changed; new value in use");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "credential file changed but is unusable; keeping the last good value")
                }
            },
            Err(e) => tracing::warn!(
                field = %self.field,
                error = %e.kind(),
                "credential file cannot be checked; keeping the last good value"
            ),
        }
    }
}

/// Matches injection rules to requests and holds their secrets.
pub struct CredentialInjector {
    rules: Vec<(CredentialRule, SecretCell)>,
    token_header: String,
    check_every_ms: u64,
    epoch: Instant,
}

impl std::fmt::Debug for CredentialInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialInjector")
            .field(
                "rules",
                &self.rules.iter().map(|(r, _)| &r.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CredentialInjector {
    /// Reads every rule's secret now; a missing or unusable one is an error (a rule
    /// that cannot inject would forward requests without credentials).
    /// `token_header` is the header the agent's token arrives in
    /// (`identity.token.header`); `check_every_ms` is how often files are re-checked.
    pub fn new(
        rules: &[CredentialRule],
        token_header: &str,
        check_every_ms: u64,
    ) -> Result<Self, InjectError> {
        let mut out = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("{SECTION}.credentials[{i}].inject");
            let source = match &rule.inject {
                Injection::Bearer(s) => s,
                Injection::Basic { password, .. } => password,
                Injection::Header { value, .. } => value,
            };
            let (value, stamp) = read_secret(&field, source)?;
            out.push((
                rule.clone(),
                SecretCell {
                    field,
                    source: source.clone(),
                    value: RwLock::new((Arc::from(value), stamp)),
                    last_check: AtomicU64::new(0),
                },
            ));
        }
        Ok(Self {
            rules: out,
            token_header: token_header.to_string(),
            check_every_ms,
            epoch: Instant::now(),
        })
    }

    /// Builds the injector for an identity config.
    pub fn from_config(config: &super::IdentityConfig) -> Result<Self, InjectError> {
        Self::new(
            &config.credentials,
            &config.token.header,
            config.credential_reload_check_ms,
        )
    }

    /// True when no rule is configured.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule that applies to the request.
    pub fn rule_for(&self, head: &RequestHead) -> Option<&CredentialRule> {
        self.rules
            .iter()
            .map(|(r, _)| r)
            .find(|r| rule_matches(r, head))
    }

    /// Every header that carries a credential under these rules: the agent's token
    /// header, each rule's injected header and the agent headers it removes. Session
    /// captures never keep them.
    pub fn credential_header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ALWAYS_REMOVED.iter().map(|n| n.to_string()).collect();
        names.push(self.token_header.clone());
        for (rule, _) in &self.rules {
            match &rule.inject {
                Injection::Bearer(_) | Injection::Basic { .. } => {
                    names.push("authorization".into())
                }
                Injection::Header { name, .. } => names.push(name.clone()),
            }
            names.extend(rule.remove_headers.iter().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    /// The header changes for this request, when a rule applies. An error when the
    /// path is ambiguous for a rule (the request must be refused).
    pub fn apply(&self, head: &RequestHead) -> Result<Option<Injected>, AmbiguousPath> {
        for (rule, cell) in &self.rules {
            match rule_match(rule, head) {
                RuleMatch::DoesNotApply => continue,
                RuleMatch::Ambiguous => {
                    return Err(AmbiguousPath {
                        rule: rule.name.clone(),
                    })
                }
                RuleMatch::Applies => {
                    let secret = cell.current(self.epoch, self.check_every_ms);
                    return Ok(Some(injection_changes(
                        head,
                        rule,
                        &self.token_header,
                        &secret,
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Every current secret value in every injected form, for the masking engine
    /// ([`crate::redact::Redactor::set_known_secrets`]). Call again after a file
    /// changed (compare [`CredentialInjector::known_secrets`] lists).
    pub fn secret_values(&self) -> Vec<Vec<u8>> {
        self.known_secrets().into_iter().map(|k| k.value).collect()
    }

    /// Like [`CredentialInjector::secret_values`], labelled `credential:<rule name>`.
    pub fn known_secrets(&self) -> Vec<KnownSecret> {
        let empty = RequestHead::default();
        let mut out = Vec::new();
        for (rule, cell) in &self.rules {
            let secret = cell.current(self.epoch, self.check_every_ms);
            let injected = injection_changes(&empty, rule, &self.token_header, &secret);
            for value in injected.secrets {
                out.push(KnownSecret::new(format!("credential:{}", rule.name), value));
            }
        }
        out
    }
}
