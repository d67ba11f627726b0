//! JSON string values that hold base64: decoded, masked as the text (or JSON) they carry,
//! and encoded again.
//!
//! Why: files and binary payloads travel inside JSON as base64 — a file read through the
//! GitHub, GitLab or Gitea contents API (`"content"`), an MCP resource (`"blob"`), an
//! MCP image or audio block and a Pub/Sub or Kinesis message (`"data"`), an image from an
//! LLM API (`"b64_json"`), a ConfigMap's `binaryData`. A client decodes them; a pattern
//! engine reading the raw bytes sees only the alphabet, so a `.env` file fetched through
//! an API passed with every secret in it.
//!
//! A string value whose key names a payload ([`names_payload`]) is held while it reads as
//! base64 (alphabet characters, escaped line breaks). At its end it is decoded; the decoded
//! bytes are masked by the same engine (as JSON when they are a JSON document, else as
//! text, PII and known secrets included) and, when that changed anything, the value is
//! replaced by the base64 of the masked bytes, in the same alphabet: the client still
//! decodes a valid payload, with markers where the secrets were. A value masking leaves
//! unchanged, or that is not base64 after all, is read as an ordinary string (so a secret
//! written in the clear under such a key is still found, as is a known secret's base64
//! spelling). A value longer than [`HOLD_LIMIT`] is masked wholesale: it cannot be read
//! whole within bounded memory, and nothing passes uninspected.

use std::sync::Arc;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::super::engine::{Deadline, Engine};
use super::super::known::KnownSet;
use super::super::stream::RedactStream;
use super::super::{ContentKind, Direction, Finding};
use super::StructureOptions;
use crate::content::sniff::is_binary;

/// Longest base64 value (raw bytes) held to be decoded; a longer one is masked wholesale.
pub const HOLD_LIMIT: usize = 8 << 20;

/// Rule id of a base64 value masked wholesale because it is longer than [`HOLD_LIMIT`].
pub const OVER_LIMIT_ID: &str = "base64-over-limit";

/// Decoded payloads shorter than this are not masked as payloads (no secret or PII fits
/// in fewer bytes); they are read as ordinary strings.
const MIN_DECODED: usize = 6;

/// Raw length of the shortest value that can decode to [`MIN_DECODED`] bytes.
pub(crate) const MIN_RAW: usize = 8;

/// Nesting of base64 inside decoded JSON inside base64 that is still decoded; deeper
/// payloads are masked as text.
const MAX_DEPTH: u8 = 4;

/// Findings listed per decoded payload (the value is replaced whole either way).
const MAX_LISTED: usize = 1024;

/// Whether a member named `key` carries a base64 payload when its value reads as base64.
#[inline]
pub(crate) fn names_payload(key: &[u8]) -> bool {
    const SUFFIXES: [&[u8]; 3] = [b"base64", b"_b64", b"b64_json"];
    let (Some(&first), Some(&last)) = (key.first(), key.last()) else {
        return false;
    };
    // Asked of every key of every JSON body the plain path walks: the length and first
    // letter reject most keys before any compare.
    let is = |name: &[u8]| key.eq_ignore_ascii_case(name);
    let named = match (key.len(), first | 0x20) {
        (3, b'r') => is(b"raw"),
        (4, b'b') => is(b"blob") || is(b"body"),
        (4, b'd') => is(b"data"),
        (4, b'f') => is(b"file"),
        (5, b'b') => is(b"bytes"),
        (7, b'c') => is(b"content"),
        (7, b'p') => is(b"payload"),
        _ => false,
    };
    named
        || (matches!(last, b'4' | b'n' | b'N')
            && SUFFIXES.iter().any(|s| {
                key.len() >= s.len() && key[key.len() - s.len()..].eq_ignore_ascii_case(s)
            }))
}

/// Whether `b` may appear in base64 text (either alphabet, or padding).
#[inline]
pub(crate) fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=')
}

/// Whether `text` (a string's content in the engine's canonical spelling) may continue a
/// base64 value: alphabet bytes, or an escaped line break (`\n`, `\r`: MIME and the
/// contents APIs break base64 into lines).
pub(crate) fn continues_base64(text: &[u8]) -> bool {
    text == b"\\n" || text == b"\\r" || text.iter().all(|&b| is_base64_byte(b))
}

/// Whether a JSON document may hold a payload: a string under a key that names one,
/// long enough and spelled in the base64 alphabet (escapes allowed). A cheap test, so
/// streams of small documents (SSE events, NDJSON lines) are read through the structure
/// layer only when it can change something.
pub(crate) fn may_hold_payload(doc: &[u8]) -> bool {
    if memchr::memmem::find(doc, b"\"binaryData\"").is_some() {
        return true;
    }
    // A data URL's header ends in `;base64,` (any case).
    let mut at = 0;
    while let Some(k) = memchr::memchr(b',', &doc[at..]) {
        let comma = at + k;
        if comma >= 7 && doc[comma - 7..comma].eq_ignore_ascii_case(b";base64") {
            return true;
        }
        at = comma + 1;
    }
    let mut named = false;
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'"', &doc[i..]) {
        let start = i + q + 1;
        let mut end = start;
        while end < doc.len() && doc[end] != b'"' {
            end += if doc[end] == b'\\' { 2 } else { 1 };
        }
        let text = &doc[start..end.min(doc.len())];
        if named && text.len() >= MIN_RAW && text.iter().all(|&b| is_base64_byte(b) || b == b'\\') {
            return true;
        }
        named = names_payload(text);
        i = end + 1;
        if i >= doc.len() {
            break;
        }
    }
    false
}

/// Whether a string starting with `ahead` (its first bytes, up to five, as far as they
/// are known) may be a data URL (`data:…;base64,…`, RFC 2397).
pub(crate) fn may_start_data_url(ahead: &[u8]) -> bool {
    for (k, &b) in ahead.iter().take(5).enumerate() {
        if b == b'\\' {
            // An escape may spell the rest (`\u0064ata:`): the value must be read to know.
            return true;
        }
        if b.to_ascii_lowercase() != b"data:"[k] {
            return false;
        }
    }
    true
}

/// Whether a string without escapes is a data URL (`data:` whatever its case).
pub(crate) fn is_data_url(text: &[u8]) -> bool {
    text.len() >= 5 && text[4] == b':' && text[..4].eq_ignore_ascii_case(b"data")
}

/// How far a data URL's header has been read.
pub(crate) enum Header {
    /// All of the text is header; the comma is still to come.
    Partial,
    /// The header ends after the first `n` bytes of the text (its comma included).
    Done(usize),
    /// Not a base64 data URL.
    NotUrl,
}

/// Reads `text` as the continuation of a data URL header (`url`, so far): `data:`, a
/// media type and parameters, `;base64`, then the comma.
pub(crate) fn read_data_url_header(url: &mut Vec<u8>, text: &[u8]) -> Header {
    for (i, &b) in text.iter().enumerate() {
        if url.len() < 5 {
            if b.to_ascii_lowercase() != b"data:"[url.len()] {
                return Header::NotUrl;
            }
        } else if b == b',' {
            let base64 = url.len() >= 12 && url[url.len() - 7..].eq_ignore_ascii_case(b";base64");
            return if base64 {
                Header::Done(i + 1)
            } else {
                Header::NotUrl
            };
        } else if url.len() >= 256 || !b.is_ascii_graphic() || matches!(b, b'\\' | b'"') {
            return Header::NotUrl;
        }
        url.push(b);
    }
    Header::Partial
}

/// A value that reads as base64: its bytes and how it was spelled.
pub(crate) struct Payload {
    pub(crate) bytes: Vec<u8>,
    url_safe: bool,
    padded: bool,
}

impl Payload {
    /// Decodes the raw content of a JSON string (escapes undone, line breaks skipped);
    /// `None` when it is not base64.
    pub(crate) fn decode(raw: &[u8]) -> Option<Payload> {
        // Most payloads are one line without escapes: decoded from the held bytes
        // themselves, without a copy of up to [`HOLD_LIMIT`] bytes.
        let text: std::borrow::Cow<'_, [u8]> = if raw.contains(&b'\\') {
            let mut text = Vec::with_capacity(raw.len());
            super::json::unescape_into(raw, &mut text);
            text.retain(|&b| b != b'\n' && b != b'\r');
            text.into()
        } else {
            raw.into()
        };
        let url_safe = text.iter().any(|&b| b == b'-' || b == b'_');
        if url_safe && text.iter().any(|&b| b == b'+' || b == b'/') {
            return None;
        }
        // Unpadded and a multiple of four long says nothing about the writer: the standard
        // alphabet is written padded (RFC 4648), the URL-safe one usually not (JOSE).
        let padded = text.last() == Some(&b'=') || (!url_safe && text.len() % 4 == 0);
        let bytes = engine(url_safe, padded).decode(&text).ok()?;
        Some(Payload {
            bytes,
            url_safe,
            padded,
        })
    }

    /// Appends `bytes` to `out` in the alphabet and padding the payload was written in.
    pub(crate) fn encode_into(&self, bytes: &[u8], out: &mut Vec<u8>) {
        let engine = engine(self.url_safe, self.padded);
        let at = out.len();
        let len = base64::encoded_len(bytes.len(), self.padded).unwrap_or(0);
        out.resize(at + len, 0);
        let written = engine.encode_slice(bytes, &mut out[at..]).unwrap_or(0);
        out.truncate(at + written);
    }

    /// [`Self::encode_into`] a new buffer.
    #[cfg(test)]
    pub(crate) fn encode(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(bytes, &mut out);
        out
    }

    /// Frees the decoded bytes, keeping how the payload was spelled.
    pub(crate) fn forget_bytes(&mut self) {
        self.bytes = Vec::new();
    }
}

fn engine(url_safe: bool, padded: bool) -> GeneralPurpose {
    let alphabet = if url_safe {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(padded)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// What masking a decoded payload needs: the body's engine, known secrets and direction.
#[derive(Clone)]
pub(crate) struct Nested {
    pub(crate) engine: Arc<Engine>,
    pub(crate) known: Arc<KnownSet>,
    pub(crate) direction: Direction,
    pub(crate) opts: Arc<StructureOptions>,
    /// The body's deadline: a payload masked past it fails the body like any other part.
    pub(crate) deadline: Arc<Deadline>,
    /// Payloads this one is nested in.
    pub(crate) depth: u8,
}

impl Nested {
    /// Masks a decoded payload; `None` when masking leaves it as it is.
    pub(crate) fn mask(&self, payload: &[u8]) -> Option<(Vec<u8>, Vec<Finding>)> {
        if payload.len() < MIN_DECODED {
            return None;
        }
        // Binary payloads (images, archives, random bytes) are searched for secrets only:
        // PII patterns (`x@y.io`, digit runs) match in random bytes every few MiB, and a
        // marker spliced into an image breaks it for nothing. A secret in a binary file is
        // still masked.
        let sample = &payload[..payload.len().min(crate::content::sniff::WINDOW)];
        let binary = is_binary(sample, sample.len() == payload.len()) == Some(true);
        let first = payload.iter().find(|b| !b.is_ascii_whitespace());
        let content = match first {
            Some(b'{' | b'[') if !binary && self.depth + 1 < MAX_DEPTH => ContentKind::Json,
            _ => ContentKind::Text,
        };
        self.mask_as(payload, content, binary)
    }

    /// Masks `payload` read as `content` (`secrets_only`: no PII detectors); `None` when
    /// masking leaves it as it is.
    pub(crate) fn mask_as(
        &self,
        payload: &[u8],
        content: ContentKind,
        secrets_only: bool,
    ) -> Option<(Vec<u8>, Vec<Finding>)> {
        let mut s = RedactStream::nested(
            Arc::clone(&self.engine),
            Arc::clone(&self.known),
            content,
            self.direction,
            &self.opts,
            self.depth + 1,
        );
        s.share_deadline(Arc::clone(&self.deadline));
        s.list_at_most(MAX_LISTED);
        if secrets_only {
            s.secrets_only();
        }
        let mut out = Vec::with_capacity(payload.len() + 64);
        let findings = s.whole_into(payload, &mut out);
        (out != payload).then_some((out, findings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_keys_are_named_by_name_or_suffix() {
        for k in [
            "blob",
            "Data",
            "content",
            "b64_json",
            "data_base64",
            "fileBase64",
            "img_b64",
        ] {
            assert!(names_payload(k.as_bytes()), "{k}");
        }
        for k in ["title", "database", "contents_url", "b64", "encoding"] {
            assert!(!names_payload(k.as_bytes()), "{k}");
        }
    }

    #[test]
    fn payloads_decode_through_escapes_and_line_breaks_and_keep_their_spelling() {
        let p = Payload::decode(br"U1RS\nSVBF\u0049Q\u003d=").expect("decodes");
        assert_eq!(p.bytes, b"STRIPE!");
        // Re-encoded in the same alphabet, with padding as it came.
        let p = Payload::decode(b"-_8").expect("url-safe decodes");
        assert_eq!(p.encode(&p.bytes), b"-_8");
        let p = Payload::decode(b"+/8=").expect("standard decodes");
        assert_eq!(p.encode(&p.bytes), b"+/8=");
        assert!(Payload::decode(b"+_8=").is_none(), "mixed alphabets");
        assert!(Payload::decode(b"abcde").is_none(), "length 1 mod 4");
    }
}
