//! Known secrets: exact values (and their common encodings) masked wherever they appear.
//!
//! Kept apart from the rule automaton so credentials can rotate at runtime by compiling only
//! this small automaton (see [`super::Redactor::set_known_secrets`]).

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;

use super::engine::{Cand, Source};
use super::{KnownSecret, RedactError, Strategy};

pub(crate) struct KnownSet {
    ac: Option<AhoCorasick>,
    /// Label index per automaton pattern.
    pattern_label: Vec<u32>,
    labels: Vec<Arc<str>>,
    max_len: usize,
    strategy: Strategy,
}

impl KnownSet {
    pub fn empty() -> Self {
        Self {
            ac: None,
            pattern_label: Vec::new(),
            labels: Vec::new(),
            max_len: 0,
            strategy: Strategy::Redact,
        }
    }

    pub fn build(secrets: &[KnownSecret], strategy: Strategy) -> Result<Self, RedactError> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut pattern_label = Vec::new();
        let mut labels = Vec::new();
        for (i, s) in secrets.iter().enumerate() {
            if s.value.len() < KnownSecret::MIN_LEN {
                return Err(RedactError::KnownSecretTooShort {
                    id: s.label.clone(),
                    min: KnownSecret::MIN_LEN,
                });
            }
            let label = u32::try_from(i)
                .map_err(|_| RedactError::Automaton("too many known secrets".into()))?;
            labels.push(Arc::from(format!("known:{}", s.label).as_str()));
            for v in variants(&s.value) {
                if !patterns.contains(&v) {
                    patterns.push(v);
                    pattern_label.push(label);
                }
            }
        }
        if patterns.is_empty() {
            return Ok(Self {
                strategy,
                ..Self::empty()
            });
        }
        let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| RedactError::Automaton(e.to_string()))?;
        Ok(Self {
            ac: Some(ac),
            pattern_label,
            labels,
            max_len,
            strategy,
        })
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// [`Self::label`] without the reference count (for rendering).
    pub fn label_str(&self, i: u32) -> &str {
        self.labels.get(i as usize).map_or("known", |l| l)
    }

    pub fn label(&self, i: u32) -> Arc<str> {
        self.labels
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from("known"))
    }

    /// Every occurrence (overlapping ones too) that may end after `from`.
    pub fn scan(&self, hay: &[u8], from: usize, out: &mut Vec<Cand>) {
        let Some(ac) = &self.ac else { return };
        let start = from.saturating_sub(self.max_len);
        let input = aho_corasick::Input::new(hay).span(start..hay.len());
        for m in ac.find_overlapping_iter(input) {
            out.push(Cand {
                start: m.start(),
                end: m.end(),
                source: Source::Known(self.pattern_label[m.pattern().as_usize()]),
                quote: false,
                drop: false,
            });
        }
    }
}

/// The value as it may appear in a body: raw, JSON-escaped, percent-encoded, base64.
fn variants(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![v.to_vec()];
    let mut json = Vec::with_capacity(v.len());
    for &b in v {
        match b {
            b'"' => json.extend_from_slice(b"\\\""),
            b'\\' => json.extend_from_slice(b"\\\\"),
            b'/' => json.extend_from_slice(b"\\/"),
            b'\n' => json.extend_from_slice(b"\\n"),
            _ => json.push(b),
        }
    }
    out.push(json);
    let mut pct = Vec::with_capacity(v.len());
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            pct.push(b);
        } else {
            pct.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out.push(pct);
    // Base64 only for the unpadded core: padding depends on what follows the value.
    let b64 = base64::engine::general_purpose::STANDARD.encode(v);
    let core = b64.trim_end_matches('=').as_bytes();
    let core = &core[..core.len() - core.len() % 4];
    if core.len() >= KnownSecret::MIN_LEN {
        out.push(core.to_vec());
    }
    out.retain(|x| x.len() >= KnownSecret::MIN_LEN);
    out.dedup();
    out
}
