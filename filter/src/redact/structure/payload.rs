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
use crate::content::sniff::{is_binary, WINDOW};

/// Longest base64 value (raw bytes) held to be decoded; a longer one is masked wholesale.
pub const HOLD_LIMIT: usize = 8 << 20;

/// Rule id of a base64 value masked wholesale because it is longer than [`HOLD_LIMIT`].
pub const OVER_LIMIT_ID: &str = "base64-over-limit";

/// Decoded payloads shorter than this are not masked as payloads (no secret or PII fits
/// in fewer bytes); they are read as ordinary strings.
const MIN_DECODED: usize = 6;

/// Raw length of the shortest value that can decode to [`MIN_DECODED`] bytes.
pub(crate) const MIN_RAW: usize = 8;

/// Decoded binary payloads at least this long that masking leaves as they are pass as
/// they came, their base64 text not read as a string (see [`Nested::passes_as_it_came`]).
const RAW_PASS_MIN: usize = 1024;

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

/// The reference decoder: the whole text unescaped at once, then decoded at once (what
/// [`decode_windows`] must equal).
#[cfg(test)]
pub(crate) fn decode_whole(raw: &[u8]) -> Option<(Spelling, Vec<u8>)> {
    let mut text = Vec::with_capacity(raw.len());
    super::json::unescape_into(raw, &mut text);
    text.retain(|&b| b != b'\n' && b != b'\r');
    let url_safe = text.iter().any(|&b| b == b'-' || b == b'_');
    if url_safe && text.iter().any(|&b| b == b'+' || b == b'/') {
        return None;
    }
    let padded = text.last() == Some(&b'=') || (!url_safe && text.len() % 4 == 0);
    let bytes = engine(url_safe, padded).decode(&text).ok()?;
    Some((Spelling { url_safe, padded }, bytes))
}

/// [`decode_windows`] into one buffer, with the spelling.
#[cfg(test)]
pub(crate) fn decode_windowed(raw: &[u8]) -> Option<(Spelling, Vec<u8>)> {
    let spelling = Spelling::of(raw)?;
    let mut bytes = Vec::new();
    decode_windows(raw, spelling, |b| {
        bytes.extend_from_slice(b);
        true
    })
    .then_some((spelling, bytes))
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
    /// Decodes a held base64 value (`raw`: its content as it came, escapes and escaped
    /// line breaks included) and masks the bytes it holds, a window at a time.
    ///
    /// Why streamed: a payload near [`HOLD_LIMIT`] held whole next to its decoded bytes
    /// and their masked copy was three payloads in memory (84 MiB over an 8 MiB body in the
    /// adversarial benchmark). Here the decoded bytes go through a nested stream as they
    /// are decoded; while its output equals its input nothing is kept but the stream's
    /// tail. At the first difference the decoded bytes before it are decoded again from
    /// `raw` (which is held anyway) and the masked bytes are kept from there on.
    pub(crate) fn mask_base64(&self, raw: &[u8]) -> Decoded {
        let Some(spelling) = Spelling::of(raw) else {
            return Decoded::NotBase64;
        };
        let mut masking = Masking::new(self, raw, spelling);
        if !decode_windows(raw, spelling, |bytes| masking.feed(bytes)) {
            return Decoded::NotBase64;
        }
        masking.finish()
    }

    /// Whether a payload masking left as it is goes out as it came (`raw`, its base64)
    /// without its base64 text being read as a plain string too: when it decoded to at
    /// least [`RAW_PASS_MIN`] binary bytes, and no known secret is spelled in `raw`.
    ///
    /// Why: the base64 text of random bytes matches long-token rules by chance (6 MiB of
    /// random bytes: a `facebook-page-access-token` `EAA…` run), and a marker there breaks
    /// a file that holds nothing. What a client reads is the decoded file, which was
    /// searched; a plain token under a payload key is far shorter than this. The known
    /// secrets (the credential Warden injects) are still looked for in the raw text: they
    /// must not pass in any spelling.
    pub(crate) fn passes_as_it_came(&self, decoded_len: usize, binary: bool, raw: &[u8]) -> bool {
        if decoded_len < RAW_PASS_MIN || !binary {
            return false;
        }
        let mut found = Vec::new();
        self.known.scan(raw, 0, &mut found);
        found.is_empty()
    }

    /// Masks `payload` read as `content` (`secrets_only`: no PII detectors); `None` when
    /// masking leaves it as it is.
    pub(crate) fn mask_as(
        &self,
        payload: &[u8],
        content: ContentKind,
        secrets_only: bool,
    ) -> Option<(Vec<u8>, Vec<Finding>)> {
        let mut s = self.stream(content);
        if secrets_only {
            s.secrets_only();
        }
        s.whole_changed(payload)
    }

    /// A nested stream for a payload read as `content`, sharing the body's deadline.
    fn stream(&self, content: ContentKind) -> RedactStream {
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
        s
    }
}

/// What decoding and masking a held value gave.
pub(crate) enum Decoded {
    /// It does not read as base64: it is an ordinary string.
    NotBase64,
    /// Masking leaves its bytes as they are.
    Unchanged {
        /// How many bytes it decoded to.
        len: usize,
        /// Whether they are binary (see `content::sniff::is_binary`).
        binary: bool,
    },
    /// Masking changed its bytes: the masked bytes, to be encoded in `spelling`.
    Masked {
        spelling: Spelling,
        bytes: Vec<u8>,
        findings: Vec<Finding>,
    },
}

/// How a base64 value is spelled: its alphabet and padding, which its masked bytes are
/// encoded in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spelling {
    url_safe: bool,
    padded: bool,
}

impl Spelling {
    /// Reads the spelling of a held value (one pass over its text); `None` when it mixes
    /// the two alphabets.
    fn of(raw: &[u8]) -> Option<Spelling> {
        let (mut url, mut std, mut len, mut last) = (false, false, 0usize, None);
        for_each_text_window(raw, |w| {
            url |= w.iter().any(|&b| b == b'-' || b == b'_');
            std |= w.iter().any(|&b| b == b'+' || b == b'/');
            len += w.len();
            last = w.last().copied().or(last);
            true
        });
        if url && std {
            return None;
        }
        // Unpadded and a multiple of four long says nothing about the writer: the standard
        // alphabet is written padded (RFC 4648), the URL-safe one usually not (JOSE).
        let padded = last == Some(b'=') || (!url && len % 4 == 0);
        Some(Spelling {
            url_safe: url,
            padded,
        })
    }

    fn engine(self) -> GeneralPurpose {
        engine(self.url_safe, self.padded)
    }

    /// Appends `bytes` to `out` in this spelling.
    pub(crate) fn encode_into(self, bytes: &[u8], out: &mut Vec<u8>) {
        let at = out.len();
        let len = base64::encoded_len(bytes.len(), self.padded).unwrap_or(0);
        out.resize(at + len, 0);
        let written = self
            .engine()
            .encode_slice(bytes, &mut out[at..])
            .unwrap_or(0);
        out.truncate(at + written);
    }
}

/// Raw bytes of a held value read per window of text.
const TEXT_WINDOW: usize = 64 * 1024;

/// Calls `f` with the text of a held value a window at a time: escapes undone, escaped
/// line breaks dropped; stops (returning false) when `f` does.
fn for_each_text_window(raw: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> bool {
    if !raw.contains(&b'\\') {
        return raw.chunks(TEXT_WINDOW).all(f);
    }
    let mut text = Vec::with_capacity(TEXT_WINDOW);
    let mut at = 0;
    while at < raw.len() {
        // Windows end between escapes, never inside one.
        let mut i = at;
        while i < raw.len() && i - at < TEXT_WINDOW {
            i += match (raw[i], raw.get(i + 1)) {
                (b'\\', Some(b'u')) => 6,
                (b'\\', _) => 2,
                _ => 1,
            };
        }
        let cut = i.min(raw.len());
        text.clear();
        super::json::unescape_into(&raw[at..cut], &mut text);
        text.retain(|&b| b != b'\n' && b != b'\r');
        if !f(&text) {
            return false;
        }
        at = cut;
    }
    true
}

/// Decodes a held value's text a window at a time, calling `f` with each window's bytes;
/// false when it is not base64 (or `f` asked to stop). The bytes are those of decoding the
/// whole text at once: windows are cut at four-character quanta, and a quantum ending in
/// padding is decoded only at the end.
fn decode_windows(raw: &[u8], spelling: Spelling, mut f: impl FnMut(&[u8]) -> bool) -> bool {
    let engine = spelling.engine();
    let mut joined: Vec<u8> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut ok = for_each_text_window(raw, |w| {
        joined.extend_from_slice(w);
        let mut cut = joined.len() / 4 * 4;
        if cut >= 4 && joined[cut - 1] == b'=' {
            cut -= 4;
        }
        if cut == 0 {
            return true;
        }
        bytes.clear();
        if engine.decode_vec(&joined[..cut], &mut bytes).is_err() {
            return false;
        }
        joined.drain(..cut);
        f(&bytes)
    });
    if ok {
        bytes.clear();
        ok = engine.decode_vec(&joined, &mut bytes).is_ok() && (bytes.is_empty() || f(&bytes));
    }
    ok
}

/// A held value's decoded bytes on their way through a nested stream (see
/// [`Nested::mask_base64`]).
struct Masking<'a> {
    nested: &'a Nested,
    raw: &'a [u8],
    spelling: Spelling,
    /// Decoded bytes read before the stream is made: its content kind is taken from the
    /// first [`WINDOW`] of them.
    head: Vec<u8>,
    stream: Option<RedactStream>,
    binary: bool,
    len: usize,
    /// Decoded bytes the stream has not given back yet (its output equal so far).
    pending: Vec<u8>,
    /// Output bytes equal to the input so far (while `masked` is `None`).
    equal: usize,
    /// The masked bytes, once the output differs from the input.
    masked: Option<Vec<u8>>,
    findings: Vec<Finding>,
}

impl<'a> Masking<'a> {
    fn new(nested: &'a Nested, raw: &'a [u8], spelling: Spelling) -> Self {
        Self {
            nested,
            raw,
            spelling,
            head: Vec::new(),
            stream: None,
            binary: false,
            len: 0,
            pending: Vec::new(),
            equal: 0,
            masked: None,
            findings: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> bool {
        self.len += bytes.len();
        if self.stream.is_none() {
            self.head.extend_from_slice(bytes);
            if self.head.len() < WINDOW {
                return true;
            }
            let head = std::mem::take(&mut self.head);
            self.start(&head, false);
            self.push(&head);
            return true;
        }
        self.push(bytes);
        true
    }

    /// Makes the nested stream, from the first decoded bytes (`complete`: all of them).
    fn start(&mut self, head: &[u8], complete: bool) {
        // Binary payloads (images, archives, random bytes) are searched for secrets only:
        // PII patterns (`x@y.io`, digit runs) match in random bytes every few MiB, and a
        // marker spliced into an image breaks it for nothing. A secret in a binary file is
        // still masked.
        let sample = &head[..head.len().min(WINDOW)];
        self.binary = is_binary(sample, complete && sample.len() == head.len()) == Some(true);
        let first = head.iter().find(|b| !b.is_ascii_whitespace());
        let content = match first {
            Some(b'{' | b'[') if !self.binary && self.nested.depth + 1 < MAX_DEPTH => {
                ContentKind::Json
            }
            _ => ContentKind::Text,
        };
        let mut s = self.nested.stream(content);
        if self.binary {
            s.secrets_only();
        }
        self.stream = Some(s);
    }

    fn push(&mut self, bytes: &[u8]) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let out = s.push(bytes);
        self.findings.extend(s.take_findings());
        self.take_output(Some(bytes), &out);
    }

    /// Compares the stream's output with its input while they are equal; keeps it from
    /// the first difference on.
    fn take_output(&mut self, input: Option<&[u8]>, out: &[u8]) {
        if let Some(m) = self.masked.as_mut() {
            m.extend_from_slice(out);
            return;
        }
        if let Some(input) = input {
            self.pending.extend_from_slice(input);
        }
        if self.pending.starts_with(out) {
            self.pending.drain(..out.len());
            self.equal += out.len();
            return;
        }
        // The first difference: the equal part is decoded again, then kept with the rest.
        let mut m = Vec::with_capacity(self.len + self.len / 16 + 64);
        let want = self.equal;
        decode_windows(self.raw, self.spelling, |b| {
            let take = b.len().min(want - m.len());
            m.extend_from_slice(&b[..take]);
            m.len() < want
        });
        m.extend_from_slice(out);
        self.pending = Vec::new();
        self.masked = Some(m);
    }

    fn finish(mut self) -> Decoded {
        if self.stream.is_none() {
            // Fewer bytes than a sniffing window: no secret or PII fits in fewer than
            // [`MIN_DECODED`].
            if self.len < MIN_DECODED {
                return Decoded::Unchanged {
                    len: self.len,
                    binary: false,
                };
            }
            let head = std::mem::take(&mut self.head);
            self.start(&head, true);
            self.push(&head);
        }
        if let Some(s) = self.stream.take() {
            let end = s.finish();
            self.findings.extend(end.findings);
            self.take_output(None, &end.tail);
        }
        match self.masked {
            Some(bytes) => Decoded::Masked {
                spelling: self.spelling,
                bytes,
                findings: self.findings,
            },
            // Output shorter than the input (a deadline stopped the stream) is not the
            // input: the body fails with the deadline, never passes as if read.
            None if !self.pending.is_empty() => Decoded::Masked {
                spelling: self.spelling,
                bytes: Vec::new(),
                findings: self.findings,
            },
            None => Decoded::Unchanged {
                len: self.len,
                binary: self.binary,
            },
        }
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
        let (_, bytes) = decode_windowed(br"U1RS\nSVBF\u0049Q\u003d=").expect("decodes");
        assert_eq!(bytes, b"STRIPE!");
        // Re-encoded in the same alphabet, with padding as it came.
        let encode = |sp: Spelling, b: &[u8]| {
            let mut out = Vec::new();
            sp.encode_into(b, &mut out);
            out
        };
        let (sp, b) = decode_windowed(b"-_8").expect("url-safe decodes");
        assert_eq!(encode(sp, &b), b"-_8");
        let (sp, b) = decode_windowed(b"+/8=").expect("standard decodes");
        assert_eq!(encode(sp, &b), b"+/8=");
        assert!(decode_windowed(b"+_8=").is_none(), "mixed alphabets");
        assert!(decode_windowed(b"abcde").is_none(), "length 1 mod 4");
    }

    /// Decoding a window at a time gives what decoding the whole text gives, wherever the
    /// windows fall: across escapes, line breaks, padding and bad input.
    #[test]
    fn windowed_decoding_equals_whole_decoding() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=";
        let mut decoded = 0;
        for case in 0..400 {
            // Up to three windows long, so cuts fall everywhere.
            let len = (next() as usize) % (3 * TEXT_WINDOW + 9);
            let mut raw = Vec::with_capacity(len + 16);
            let mixed = case % 7 == 0;
            while raw.len() < len {
                let r = next();
                match r % 97 {
                    0 => raw.extend_from_slice(br"\n"),
                    1 => raw.extend_from_slice(br"\u0041"),
                    2 => raw.extend_from_slice(br"\/"),
                    3 if mixed => raw.push(alphabet[(r >> 8) as usize % alphabet.len()]),
                    _ => raw.push(alphabet[(r >> 8) as usize % 62]),
                }
            }
            match case % 5 {
                0 => raw.extend_from_slice(b"=="),
                1 => raw.push(b'='),
                2 => raw.extend_from_slice(b"\\u003d"),
                _ => {}
            }
            let whole = decode_whole(&raw);
            let windowed = decode_windowed(&raw);
            assert_eq!(
                whole.as_ref().map(|w| (w.0, w.1.len())),
                windowed.as_ref().map(|w| (w.0, w.1.len())),
                "case {case}, {} raw bytes",
                raw.len()
            );
            assert!(whole == windowed, "case {case}");
            decoded += usize::from(whole.is_some());
        }
        // Both outcomes are exercised, not only rejections.
        assert!((100..300).contains(&decoded), "{decoded} of 400 decoded");
    }
}
