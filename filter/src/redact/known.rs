//! Known secrets: exact values (and their common encodings) masked wherever they appear.
//!
//! A value is found in every spelling a reader would decode back to it:
//!
//! - raw, and hex (either case);
//! - base64, standard and URL-safe alphabets, at each of the three alignments the value
//!   can have inside a longer encoded blob (only the characters that depend on the value
//!   alone are matched, so padding and neighbouring bytes do not matter);
//! - escaped, with any mix of JSON escapes (`\u0041`, `\/`, `\"`, surrogate pairs) and
//!   percent-encoding (either hex case, any character encoded or not): such bytes are
//!   decoded into a side buffer that maps each decoded byte back to the raw bytes it
//!   came from, and the automaton runs over that too.
//!
//! Kept apart from the rule automaton so credentials can rotate at runtime by compiling only
//! this small automaton (see [`super::Redactor::set_known_secrets`]).

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::engine::{Cand, Source};
use super::{KnownSecret, RedactError, Strategy};

pub(crate) struct KnownSet {
    ac: Option<AhoCorasick>,
    /// Label index per automaton pattern.
    pattern_label: Vec<u32>,
    labels: Vec<Arc<str>>,
    /// Longest raw spelling of a match: an escaped match can be up to
    /// [`MAX_ESCAPE_LEN`] raw bytes per decoded byte.
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
        let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0) * MAX_ESCAPE_LEN;
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

    /// Every occurrence (overlapping ones too) that may end after `from`, in any of the
    /// spellings the module docs list.
    pub fn scan(&self, hay: &[u8], from: usize, out: &mut Vec<Cand>) {
        let Some(ac) = &self.ac else { return };
        let start = from.saturating_sub(self.max_len);
        let input = aho_corasick::Input::new(hay).span(start..hay.len());
        for m in ac.find_overlapping_iter(input) {
            out.push(self.cand(m.start(), m.end(), m.pattern().as_usize()));
        }
        let region = &hay[start..];
        if memchr::memchr2(b'%', b'\\', region).is_none() {
            return;
        }
        // Escaped spellings: decode `%HH` and JSON escapes, match, map back.
        let unescaped = Unescaped::new(region);
        if !unescaped.changed {
            return;
        }
        for m in ac.find_overlapping_iter(&unescaped.bytes) {
            let raw_start = start + unescaped.raw_start[m.start()];
            let raw_end = start + unescaped.raw_end[m.end() - 1];
            out.push(self.cand(raw_start, raw_end, m.pattern().as_usize()));
        }
    }

    fn cand(&self, start: usize, end: usize, pattern: usize) -> Cand {
        Cand {
            start,
            end,
            source: Source::Known(self.pattern_label[pattern]),
            quote: false,
            drop: false,
        }
    }
}

/// Most raw bytes one decoded byte can take: `\uXXXX` (a UTF-8 byte of a character
/// above U+007F takes at most that per byte as well).
const MAX_ESCAPE_LEN: usize = 6;

/// `region` with `%HH` and JSON string escapes decoded, and where each decoded byte
/// came from.
struct Unescaped {
    bytes: Vec<u8>,
    /// Per decoded byte: the raw offset of the escape (or byte) it came from.
    raw_start: Vec<usize>,
    /// Per decoded byte: the raw offset just past that escape.
    raw_end: Vec<usize>,
    /// Whether any escape was decoded.
    changed: bool,
}

impl Unescaped {
    fn new(region: &[u8]) -> Unescaped {
        let mut u = Unescaped {
            bytes: Vec::with_capacity(region.len()),
            raw_start: Vec::with_capacity(region.len()),
            raw_end: Vec::with_capacity(region.len()),
            changed: false,
        };
        let mut i = 0;
        while i < region.len() {
            let (decoded, used) = match region[i] {
                b'%' => match hex_byte(region.get(i + 1..i + 3)) {
                    Some(b) => (Decoded::Byte(b), 3),
                    None => (Decoded::Byte(b'%'), 1),
                },
                b'\\' => json_escape(&region[i..]),
                b => (Decoded::Byte(b), 1),
            };
            if used > 1 {
                u.changed = true;
            }
            let mut utf8 = [0u8; 4];
            let bytes: &[u8] = match decoded {
                Decoded::Byte(ref b) => std::slice::from_ref(b),
                Decoded::Char(c) => c.encode_utf8(&mut utf8).as_bytes(),
            };
            for &b in bytes {
                u.bytes.push(b);
                u.raw_start.push(i);
                u.raw_end.push(i + used);
            }
            i += used;
        }
        u
    }
}

enum Decoded {
    Byte(u8),
    Char(char),
}

/// The JSON escape at the start of `s` (which starts with a backslash): what it
/// decodes to and how many bytes it takes. Not an escape: the backslash itself.
fn json_escape(s: &[u8]) -> (Decoded, usize) {
    let simple = match s.get(1) {
        Some(b'"') => Some(b'"'),
        Some(b'\\') => Some(b'\\'),
        Some(b'/') => Some(b'/'),
        Some(b'b') => Some(0x08),
        Some(b'f') => Some(0x0c),
        Some(b'n') => Some(b'\n'),
        Some(b'r') => Some(b'\r'),
        Some(b't') => Some(b'\t'),
        _ => None,
    };
    if let Some(b) = simple {
        return (Decoded::Byte(b), 2);
    }
    let Some(high) = s
        .get(1)
        .filter(|b| **b == b'u')
        .and_then(|_| hex_u16(s.get(2..6)))
    else {
        return (Decoded::Byte(b'\\'), 1);
    };
    if (0xD800..0xDC00).contains(&high) {
        // A surrogate pair: `\uD83D\uDE00`.
        if s.get(6) == Some(&b'\\') && s.get(7) == Some(&b'u') {
            if let Some(low) = hex_u16(s.get(8..12)).filter(|l| (0xDC00..0xE000).contains(l)) {
                let code = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                if let Some(c) = char::from_u32(code) {
                    return (Decoded::Char(c), 12);
                }
            }
        }
        return (Decoded::Char(char::REPLACEMENT_CHARACTER), 6);
    }
    match char::from_u32(u32::from(high)) {
        Some(c) if c.is_ascii() => (Decoded::Byte(c as u8), 6),
        Some(c) => (Decoded::Char(c), 6),
        None => (Decoded::Char(char::REPLACEMENT_CHARACTER), 6),
    }
}

fn hex_byte(s: Option<&[u8]>) -> Option<u8> {
    let s = s?;
    let hi = (s.first()?.to_ascii_lowercase() as char).to_digit(16)?;
    let lo = (s.get(1)?.to_ascii_lowercase() as char).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

fn hex_u16(s: Option<&[u8]>) -> Option<u16> {
    let s = s?;
    let text = std::str::from_utf8(s).ok()?;
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(text, 16).ok()
}

/// The value as it may appear in a body unescaped: raw, JSON-escaped the usual way,
/// percent-encoded, hex, and base64 (both alphabets, every alignment). Other escaped
/// spellings are found by decoding the body ([`KnownSet::scan`]).
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
    let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
    out.push(hex.to_ascii_uppercase().into_bytes());
    out.push(hex.into_bytes());
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
    ] {
        for align in 0..3 {
            out.push(base64_core(engine, v, align));
        }
    }
    out.retain(|x| x.len() >= KnownSecret::MIN_LEN);
    out.sort();
    out.dedup();
    out
}

/// The base64 characters that depend on `v` alone when `v` starts `align` bytes into
/// the encoded data: whatever comes before or after it, an encoding of data containing
/// `v` at that alignment contains these characters.
fn base64_core(engine: &impl base64::Engine, v: &[u8], align: usize) -> Vec<u8> {
    let mut data = vec![0u8; align];
    data.extend_from_slice(v);
    data.extend_from_slice(&[0, 0]);
    let encoded = engine.encode(&data);
    // Character i carries bits [6i, 6i + 6): keep those wholly inside `v`'s bits.
    let first = (8 * align).div_ceil(6);
    let end = (8 * (align + v.len())) / 6;
    encoded
        .as_bytes()
        .get(first..end)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use crate::redact::{ContentKind, Direction, KnownSecret, Redactor};

    const SECRET: &str = "s3cr/t+Inj3cted-Cred_v4lue=Zq";

    fn redactor() -> Redactor {
        let r = Redactor::with_defaults().expect("default pack compiles");
        r.set_known_secrets(&[KnownSecret::new("upstream", SECRET)])
            .expect("known secret accepted");
        r
    }

    fn masked(r: &Redactor, body: &[u8]) -> String {
        String::from_utf8_lossy(&r.redact(body, ContentKind::Text, Direction::Response).body)
            .into_owned()
    }

    /// Every raw byte of `body` that spells part of the secret: the ones that must not
    /// survive masking.
    fn leaks(out: &str, needle: &str) -> bool {
        out.contains(needle)
    }

    #[test]
    fn base64_of_the_secret_is_found_at_every_offset_in_both_alphabets() {
        let r = redactor();
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ] {
            for prefix in ["", "a", "ab", "abc", "{\"k\":1,\"t\":\""] {
                for suffix in ["", "x", "xy", "\n"] {
                    let blob = format!("{prefix}{SECRET}{suffix}");
                    let encoded = engine.encode(blob.as_bytes());
                    let out = masked(&r, format!("data={encoded};").as_bytes());
                    assert!(
                        out.contains("[REDACTED:known:upstream]"),
                        "{prefix:?}+{suffix:?}: {out}"
                    );
                    // Only the few characters that mix in neighbouring bytes survive.
                    let kept = out.len() - "data=[REDACTED:known:upstream];".len();
                    assert!(kept <= 2 * 4 + prefix.len() * 2 + 4, "{kept}: {out}");
                }
            }
        }
    }

    #[test]
    fn any_mix_of_json_escapes_and_percent_encoding_is_found() {
        let r = redactor();
        let spellings = [
            // Go's encoder: `+` and `=` as \u escapes; PHP: `/` as `\/`.
            SECRET.replace('+', "\\u002b").replace('=', "\\u003D"),
            SECRET.replace('/', "\\/"),
            SECRET
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect::<String>(),
            SECRET
                .bytes()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        format!("%{b:02x}")
                    } else {
                        (b as char).to_string()
                    }
                })
                .collect::<String>(),
            SECRET
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>(),
            // Both in one: a percent-encoded value inside a JSON string.
            SECRET.replace('/', "%2f").replace('I', "\\u0049"),
        ];
        for spelling in spellings {
            let body = format!("{{\"echo\":\"{spelling}\",\"ok\":true}}");
            let out = masked(&r, body.as_bytes());
            assert!(
                out.contains("[REDACTED:known:upstream]") && !leaks(&out, "Inj3cted"),
                "{spelling}: {out}"
            );
            assert!(!out.contains("\\u0049nj3"), "{out}");
        }
    }

    #[test]
    fn hex_of_the_secret_is_found() {
        let r = redactor();
        let hex: String = SECRET.bytes().map(|b| format!("{b:02x}")).collect();
        for text in [hex.clone(), hex.to_ascii_uppercase()] {
            let out = masked(&r, format!("dump {text} end").as_bytes());
            assert_eq!(out, "dump [REDACTED:known:upstream] end");
        }
    }

    #[test]
    fn escapes_that_decode_to_something_else_are_left_alone() {
        let r = redactor();
        let body = "path=%2Fhome%2Fuser\\u0020and \\q %zz \\uD800 %4";
        assert_eq!(masked(&r, body.as_bytes()), body);
    }
}
