//! A lenient streaming JSON reader: decodes string escapes into the text a client sees,
//! tracks the path of every value, and masks whole values the structure says are secret
//! (Kubernetes Secret data, Docker config `auth`, fields flagged by [`super::FieldRules`]).
//!
//! Lenient on purpose: a body that is not quite JSON (a prefix, a truncated tail, two
//! documents in a row) is still read string by string, so a malformed prefix cannot switch
//! decoding off. Structure is tracked by brackets, `:` and `,`; what does not fit is
//! passed through as it is (and scanned by the engine as text).

use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::payload::{self, Nested};
use super::stream::{NText, Piece, PieceOut};
use super::{
    FieldAction, FieldPath, PathSegment, StructureOptions, DOCKER_AUTH_ID, HOLD_LIMIT,
    K8S_SECRET_ID, KEY_CAP, MAX_DEPTH,
};
use crate::redact::{FindingKind, Strategy};

/// What an object says it is (its `kind` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unknown,
    Secret,
    SecretList,
    List,
    Other,
}

impl Kind {
    fn of(value: &[u8]) -> Kind {
        if value.eq_ignore_ascii_case(b"Secret") {
            Kind::Secret
        } else if value.eq_ignore_ascii_case(b"SecretList") {
            Kind::SecretList
        } else if value == b"List" {
            Kind::List
        } else {
            Kind::Other
        }
    }
}

/// How a value is masked wholesale.
#[derive(Debug, Clone)]
struct Mask {
    id: Arc<str>,
    strategy: Strategy,
    /// The marker is written base64-encoded (the field holds base64).
    base64: bool,
    kind: FindingKind,
}

/// What a container's values are.
#[derive(Debug, Clone)]
enum Role {
    Plain,
    /// `data` (base64) or `stringData` of a Secret.
    SecretData {
        base64: bool,
    },
    /// Everything inside is masked.
    Masked(Mask),
    /// The `items` array of an object (a list).
    Items,
    /// `auths` of a Docker config.
    Auths,
    /// One registry's entry in `auths`.
    AuthEntry,
}

/// One open object or array.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    object: bool,
    /// Arrays: the index of the current element.
    index: u64,
    /// Objects: the current member's key (decoded, at most [`KEY_CAP`] bytes).
    key: Vec<u8>,
    has_key: bool,
    /// Objects: the next string is a key.
    expect_key: bool,
    kind: Kind,
    /// Objects: whether it is a Secret, once known.
    secret: Option<bool>,
    has_metadata: bool,
    role: Role,
}

impl Frame {
    fn new(object: bool, role: Role) -> Frame {
        Frame {
            object,
            index: 0,
            key: Vec::new(),
            has_key: false,
            expect_key: object,
            kind: Kind::Unknown,
            secret: None,
            has_metadata: false,
            role,
        }
    }

    /// The step this frame adds to the path of its current value.
    pub(crate) fn segment(&self) -> Option<PathSegment<'_>> {
        if self.object {
            self.has_key.then_some(PathSegment::Key(&self.key))
        } else {
            Some(PathSegment::Index(self.index))
        }
    }

    fn key_is(&self, key: &[u8]) -> bool {
        self.object && self.has_key && self.key == key
    }
}

/// A value being masked wholesale: what the marker needs, computed as it streams.
#[derive(Clone)]
struct Acc {
    mask: Mask,
    raw_start: u64,
    mac: Option<Hmac<Sha256>>,
    tail: [u8; 4],
    len: u64,
    /// A bare scalar: the marker is written as a string.
    quote: bool,
}

impl Acc {
    fn new(mask: Mask, raw_start: u64, hash_key: &[u8], quote: bool) -> Acc {
        let mac = match mask.strategy {
            Strategy::Hash => Hmac::<Sha256>::new_from_slice(hash_key).ok(),
            _ => None,
        };
        Acc {
            mask,
            raw_start,
            mac,
            tail: [0; 4],
            len: 0,
            quote,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if let Some(mac) = &mut self.mac {
            mac.update(bytes);
        }
        for &b in bytes.iter().rev().take(4).rev() {
            self.tail.rotate_left(1);
            self.tail[3] = b;
        }
        self.len += bytes.len() as u64;
    }

    /// The replacement, as the engine renders its markers.
    fn marker(self) -> Vec<u8> {
        let id = self.mask.id.as_bytes();
        let mut m = Vec::with_capacity(id.len() + 32);
        match self.mask.strategy {
            Strategy::Hash => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                m.extend_from_slice(b"[HASH:");
                m.extend_from_slice(id);
                m.push(b':');
                let tag = self.mac.map(|mac| mac.finalize().into_bytes());
                for i in 0..8 {
                    let b = tag.as_ref().map_or(0, |t| t[i]);
                    m.push(HEX[usize::from(b >> 4)]);
                    m.push(HEX[usize::from(b & 0xf)]);
                }
                m.push(b']');
            }
            Strategy::Partial => {
                m.extend_from_slice(b"[REDACTED:");
                m.extend_from_slice(id);
                // As the engine: only a long value's last 4 alphanumerics are shown.
                if self.len >= 12 && self.tail.iter().all(u8::is_ascii_alphanumeric) {
                    m.extend_from_slice(b":...");
                    m.extend_from_slice(&self.tail);
                }
                m.push(b']');
            }
            Strategy::Redact | Strategy::Drop => {
                m.extend_from_slice(b"[REDACTED:");
                m.extend_from_slice(id);
                m.push(b']');
            }
        }
        if self.mask.base64 {
            m = base64::engine::general_purpose::STANDARD
                .encode(&m)
                .into_bytes();
        }
        if self.quote {
            m.insert(0, b'"');
            m.push(b'"');
        }
        m
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Between tokens.
    Between,
    /// In a string.
    Str,
    /// In an escape sequence (`esc`).
    Esc,
    /// In a bare scalar (number, literal, or anything else outside strings).
    Scalar,
}

/// What the string being read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrMode {
    Key,
    Value,
    /// A value masked wholesale (`acc`).
    Masked,
    /// A value that may be a base64 payload, held until it ends or stops reading as
    /// base64 (`held`, see `payload`).
    Held,
}

/// A string value held as a possible base64 payload.
struct Held {
    /// Its raw content so far (after the opening quote).
    raw: Vec<u8>,
    /// The raw offset of its first content byte.
    raw_start: u64,
    /// While it may still be a `data:…;base64,` URL: its header so far.
    url: Option<Vec<u8>>,
    /// Raw length of its data URL header, once read (0: not a data URL).
    header: usize,
    /// Held only because it may be a data URL (its key names no payload).
    url_only: bool,
}

/// What a probe looks for: whether the object at `target` is a Secret.
#[derive(Debug, Clone)]
struct ProbeState {
    target: usize,
    /// Index of the frame of the held `data` object, once opened.
    data_frame: Option<usize>,
    resolved: Option<bool>,
    bytes: usize,
}

/// The JSON normaliser of one body.
pub(crate) struct JsonNormalizer {
    opts: Arc<StructureOptions>,
    hash_key: Arc<[u8]>,
    frames: Vec<Frame>,
    /// Levels deeper than [`MAX_DEPTH`].
    untracked: usize,
    lex: Lex,
    mode: StrMode,
    esc: [u8; 12],
    esc_len: usize,
    esc_raw: u64,
    acc: Option<Box<Acc>>,
    key_buf: Vec<u8>,
    /// The value of a `kind` member being read.
    capture: Option<Vec<u8>>,
    /// Absolute raw offset of the next byte.
    raw_pos: u64,
    /// Raw bytes held while a probe reads ahead.
    held: Vec<u8>,
    probe: Option<Box<JsonNormalizer>>,
    probe_scratch: Option<Box<NText>>,
    /// A string value held as a possible base64 payload.
    held_value: Option<Box<Held>>,
    /// How to mask decoded payloads (`None`: payloads are read as plain strings).
    nested: Option<Nested>,
    /// The string value starting now may be a data URL (see `value_start`).
    url_ahead: bool,
    /// Set on a probe: what it looks for.
    probing: Option<ProbeState>,
    /// Raw bytes read by probes so far (bounded against the body's length).
    probed: u64,
    /// Normalised offsets where a top-level document ended (not yet taken).
    boundaries: Vec<u64>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_delim(b: u8) -> bool {
    is_ws(b) || matches!(b, b',' | b'}' | b']' | b':' | b'"' | b'{' | b'[')
}

/// Length of the plain run at the start of a string's content: up to its closing quote or
/// an escape.
#[inline]
fn string_run(rest: &[u8]) -> usize {
    // Why eight bytes at a time: this runs over every string of every JSON body, and most
    // are short (keys, ids, words), too short to pay for setting up a vector search. A
    // word-wide test for `"` and `\\` costs about what one byte's test does.
    let mut at = 0;
    while at + 8 <= rest.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&rest[at..at + 8]);
        let stops = quote_or_backslash(u64::from_le_bytes(w));
        if stops != 0 {
            return at + (stops.trailing_zeros() / 8) as usize;
        }
        at += 8;
        if at >= 64 {
            // A long string: the vector search pays for itself now.
            return memchr::memchr2(b'"', b'\\', &rest[at..]).map_or(rest.len(), |k| at + k);
        }
    }
    rest[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map_or(rest.len(), |k| at + k)
}

/// Bit 7 of byte `j` set exactly when byte `j` of `w` (little-endian) is `"` or `\\`.
///
/// Per byte, with no carry between bytes: `x ^ c` is zero exactly for the byte `c`; adding
/// 0x7f to its low seven bits sets bit 7 unless they are all zero, and OR-ing the byte
/// itself in covers bytes of 128 and up.
#[inline(always)]
fn quote_or_backslash(w: u64) -> u64 {
    const L: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = L * 0x7f;
    let zero_byte = |x: u64| !(((x & LOW7) + LOW7) | x) & (L * 0x80);
    zero_byte(w ^ (L * u64::from(b'"'))) | zero_byte(w ^ (L * u64::from(b'\\')))
}

fn hex(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        v = v * 16 + char::from(c).to_digit(16)?;
    }
    Some(v)
}

/// The canonical spelling of code point `cp` inside a JSON string (what the engine sees):
/// UTF-8, except quote, backslash and control characters, which stay escaped.
fn canonical(cp: u32, out: &mut Vec<u8>) {
    match cp {
        0x22 => out.extend_from_slice(b"\\\""),
        0x5c => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x0d => out.extend_from_slice(b"\\r"),
        0x09 => out.extend_from_slice(b"\\t"),
        c if c < 0x20 => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        }
        c => {
            let ch = char::from_u32(c).unwrap_or('\u{fffd}');
            let mut b = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
        }
    }
}

/// A key as a client reads it: the canonical escapes left in the normalised text undone,
/// written over `out` (its buffer is reused: one key per member, no allocation).
fn decode_key_into(canon: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if !canon.contains(&b'\\') {
        out.extend_from_slice(canon);
        return;
    }
    let mut i = 0;
    while i < canon.len() {
        if canon[i] == b'\\' && i + 1 < canon.len() {
            let c = canon[i + 1];
            let d = match c {
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'"' | b'\\' | b'/' => Some(c),
                b'u' if i + 6 <= canon.len() => hex(&canon[i + 2..i + 6]).map(|v| {
                    i += 4;
                    v as u8
                }),
                _ => None,
            };
            if let Some(d) = d {
                out.push(d);
                i += 2;
                continue;
            }
        }
        out.push(canon[i]);
        i += 1;
    }
}

/// The content of a JSON string as a client reads it (escapes undone) into `out`.
pub(crate) fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    decode_key_into(raw, out);
}

/// [`decode_key_into`] into a new buffer.
fn decode_key(canon: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(canon.len());
    decode_key_into(canon, &mut out);
    out
}

impl JsonNormalizer {
    pub(crate) fn new(opts: Arc<StructureOptions>, hash_key: Arc<[u8]>) -> JsonNormalizer {
        JsonNormalizer {
            opts,
            hash_key,
            frames: Vec::new(),
            untracked: 0,
            lex: Lex::Between,
            mode: StrMode::Value,
            esc: [0; 12],
            esc_len: 0,
            esc_raw: 0,
            acc: None,
            key_buf: Vec::new(),
            capture: None,
            raw_pos: 0,
            held: Vec::new(),
            probe: None,
            probe_scratch: None,
            held_value: None,
            nested: None,
            url_ahead: false,
            probing: None,
            probed: 0,
            boundaries: Vec::new(),
        }
    }

    /// Decodes base64 payloads and masks them with `nested` (see `payload`).
    pub(crate) fn decode_payloads(&mut self, nested: Nested) {
        self.nested = Some(nested);
    }

    /// The body's deadline changed: payloads are masked under the new one.
    pub(crate) fn share_deadline(&mut self, deadline: Arc<super::super::engine::Deadline>) {
        if let Some(n) = self.nested.as_mut() {
            n.deadline = deadline;
        }
    }

    /// Where the top-level documents of `body` end, when this (fresh) normaliser would
    /// read `body` exactly as it is: no escape to decode (no `\` in a string), no value to
    /// mask wholesale (no field rules, no `"data"`, `"stringData"` or `"auths"` member,
    /// which every Secret and Docker config needs), so the normalised text is `body`
    /// itself and has no piece. `None` when it would not (it must be read for real).
    ///
    /// Why: most bodies are like this, and then the only structure that changes what the
    /// engine does is where each document ends (each is masked on its own). Finding those
    /// ends is a walk over the brackets outside strings, a fraction of the cost of reading
    /// and copying every token.
    pub(crate) fn plain_document_ends(&self, body: &[u8]) -> Option<Vec<usize>> {
        if self.raw_pos != 0 || self.opts.field_rules.is_some() {
            return None;
        }
        // As `run` reads it: with no escapes a string ends at the next quote; outside
        // strings, brackets nest (a stray closer at the top level ends a document too). A
        // backslash outside strings is a scalar byte like any other; in a string it may
        // start an escape. The member names are checked on every string (keys and values
        // alike), in the same walk: one pass over the body.
        let mut ends = Vec::new();
        let mut depth = 0usize;
        let mut i = 0;
        // The last string named a payload: a base64-looking string next is decoded.
        let mut payload_named = false;
        while i < body.len() {
            match body[i] {
                b'"' => {
                    let rest = &body[i + 1..];
                    let len = string_run(rest);
                    // A string the body ends in is read as the normaliser would read it
                    // at its end (a held payload or data URL is decoded there too).
                    let closed = match rest.get(len) {
                        None => false,
                        Some(b'\\') => return None,
                        Some(_) => true,
                    };
                    let text = &rest[..len];
                    if matches!(text, b"data" | b"stringData" | b"auths" | b"binaryData")
                        || payload::is_data_url(text)
                    {
                        return None;
                    }
                    if payload_named
                        && len >= payload::MIN_RAW
                        && text.iter().all(|&b| payload::is_base64_byte(b))
                    {
                        return None;
                    }
                    if !closed {
                        break;
                    }
                    i += len + 2;
                    // Only a key names a payload: a `:` follows it.
                    let mut k = i;
                    while k < body.len() && is_ws(body[k]) {
                        k += 1;
                    }
                    payload_named = body.get(k) == Some(&b':') && payload::names_payload(text);
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        ends.push(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Some(ends)
    }

    /// Where top-level documents ended since the last call (a JSON sequence or a watch
    /// stream is masked document by document, each as soon as it is complete).
    pub(crate) fn take_boundaries(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.boundaries)
    }

    /// Raw bytes held back while a probe reads ahead.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

    pub(crate) fn push(&mut self, raw: &[u8], out: &mut NText) {
        if self.probe.is_some() {
            self.held.extend_from_slice(raw);
            if let Some(answer) = self.run_probe(raw, false) {
                self.resume(answer, out);
            }
            return;
        }
        self.feed(raw, out);
    }

    pub(crate) fn finish(&mut self, out: &mut NText) {
        // Resuming may stop at another object to read ahead; there is nothing more
        // ahead, so each is answered from what was read.
        while self.probe.is_some() {
            let answer = self.run_probe(&[], true).unwrap_or(true);
            self.resume(answer, out);
        }
        // An unterminated escape or value at the end: as it is, or its marker.
        match self.lex {
            Lex::Esc => {
                let esc = self.esc;
                let n = self.esc_len;
                self.esc_len = 0;
                self.lex = Lex::Str;
                self.sink(&esc[..n], None, out);
                self.end_masked(out);
                self.end_held(out);
            }
            Lex::Str => {
                self.end_masked(out);
                self.end_held(out);
            }
            Lex::Scalar => self.end_masked(out),
            Lex::Between => {}
        }
        self.lex = Lex::Between;
    }

    /// Feeds the probe `new` bytes (`eof`: there are no more); its answer, once it has one.
    fn run_probe(&mut self, new: &[u8], eof: bool) -> Option<bool> {
        let probe = self.probe.as_mut()?;
        let scratch = self
            .probe_scratch
            .get_or_insert_with(|| Box::new(NText::new()));
        let room = HOLD_LIMIT.saturating_sub(probe.probing.as_ref().map_or(0, |p| p.bytes));
        let take = new.len().min(room);
        let before = probe.raw_pos;
        probe.run(&new[..take], scratch);
        scratch.discard();
        let closed = eof.then(|| probe.closed_answer());
        // What it read, not what it was given: it stops where it learns the answer, and
        // the budget must not depend on how the body was cut.
        let read = (probe.raw_pos - before) as usize;
        let state = probe.probing.as_mut()?;
        state.bytes += read;
        if state.resolved.is_none() && (take < new.len() || state.bytes >= HOLD_LIMIT) {
            // Read ahead as far as allowed without learning: masked, to be safe.
            state.resolved = Some(true);
        }
        if state.resolved.is_none() {
            state.resolved = closed;
        }
        state.resolved
    }

    /// The probe is answered: the held bytes are read for real.
    fn resume(&mut self, answer: bool, out: &mut NText) {
        let Some(probe) = self.probe.take() else {
            return;
        };
        if let Some(target) = probe.probing.as_ref().map(|p| p.target) {
            self.probed += probe.probing.as_ref().map_or(0, |p| p.bytes as u64);
            if let Some(frame) = self.frames.get_mut(target) {
                frame.secret = Some(answer);
            }
        }
        let held = std::mem::take(&mut self.held);
        self.feed(&held, out);
    }

    /// Reads `raw`; when it stops at an object whose secrecy must be read ahead, starts
    /// a probe there and holds the rest.
    fn feed(&mut self, raw: &[u8], out: &mut NText) {
        let mut rest = raw;
        while let Some(at) = self.run(rest, out) {
            rest = &rest[at..];
            let target = self.frames.len() - 1;
            // Probes never read much more than the body itself, whatever its nesting.
            if self.probed > 4 * self.raw_pos + HOLD_LIMIT as u64 {
                self.frames[target].secret = Some(true);
                continue;
            }
            let mut probe = Box::new(self.clone_state());
            probe.probing = Some(ProbeState {
                target,
                data_frame: None,
                resolved: None,
                bytes: 0,
            });
            self.probe = Some(probe);
            self.held = rest.to_vec();
            match self.run_probe(rest, false) {
                Some(answer) => {
                    self.probed += self
                        .probe
                        .as_ref()
                        .map_or(0, |p| p.probing.as_ref().map_or(0, |s| s.bytes as u64));
                    self.probe = None;
                    self.held.clear();
                    self.frames[target].secret = Some(answer);
                }
                None => return,
            }
        }
    }

    /// A copy of the reading state (not the hold) for a probe.
    fn clone_state(&self) -> JsonNormalizer {
        JsonNormalizer {
            opts: Arc::clone(&self.opts),
            hash_key: Arc::clone(&self.hash_key),
            frames: self.frames.clone(),
            untracked: self.untracked,
            lex: self.lex,
            mode: self.mode,
            esc: self.esc,
            esc_len: self.esc_len,
            esc_raw: self.esc_raw,
            acc: self.acc.clone(),
            key_buf: self.key_buf.clone(),
            capture: self.capture.clone(),
            raw_pos: self.raw_pos,
            held: Vec::new(),
            probe: None,
            probe_scratch: None,
            // A probe starts between tokens (never inside a held string) and only learns
            // structure: it decodes no payload.
            held_value: None,
            nested: None,
            url_ahead: false,
            probing: None,
            probed: 0,
            boundaries: Vec::new(),
        }
    }

    fn resolved(&self) -> bool {
        self.probing.as_ref().is_some_and(|p| p.resolved.is_some())
    }

    /// A probe's answer when its target object closes (or the body ends) without saying
    /// `kind: Secret`: an item of a list whose kind is not known yet is taken for a
    /// Secret when it looks like a Kubernetes object.
    fn closed_answer(&self) -> bool {
        let Some(state) = &self.probing else {
            return false;
        };
        let Some(o) = self.frames.get(state.target) else {
            return false;
        };
        match o.kind {
            Kind::Secret => true,
            Kind::Unknown => {
                o.has_metadata
                    && self
                        .list_of(state.target)
                        .is_some_and(|k| matches!(k, Kind::SecretList | Kind::List | Kind::Unknown))
            }
            _ => false,
        }
    }

    /// The kind of the list object whose `items` hold the object at `index`.
    fn list_of(&self, index: usize) -> Option<Kind> {
        if index < 2 {
            return None;
        }
        let items = &self.frames[index - 1];
        let list = &self.frames[index - 2];
        (matches!(items.role, Role::Items) && list.object).then_some(list.kind)
    }

    /// Whether the object at `index` is a Secret, if known yet.
    fn secret_of(&self, index: usize) -> Option<bool> {
        let o = &self.frames[index];
        if let Some(s) = o.secret {
            return Some(s);
        }
        match o.kind {
            Kind::Secret => Some(true),
            Kind::Unknown => match self.list_of(index) {
                Some(Kind::SecretList) => Some(true),
                Some(Kind::List | Kind::Unknown) | None => None,
                Some(_) => Some(false),
            },
            _ => Some(false),
        }
    }

    /// Reads `raw` until its end, or until a value whose treatment needs reading ahead
    /// (returns its index; nothing of it was consumed).
    ///
    /// Most of a body goes into the normalised text exactly as it came: punctuation,
    /// keys, scalars, strings without escapes. Those bytes are not copied token by token
    /// (a call per token was most of this layer's cost on clean JSON): `raw[copied..i]` is
    /// read and still to be copied, and is written in one go before anything that differs
    /// from the raw bytes (an escape, a value masked wholesale), before the normalised
    /// position is taken (a piece, a document's end), and when `run` returns.
    fn run(&mut self, raw: &[u8], out: &mut NText) -> Option<usize> {
        let mut i = 0;
        let mut copied = 0;
        macro_rules! flush {
            () => {{
                out.n.extend_from_slice(&raw[copied..i]);
                copied = i;
            }};
        }
        while i < raw.len() {
            if self.probing.is_some() && self.resolved() {
                out.n.extend_from_slice(&raw[copied..i]);
                return None;
            }
            match self.lex {
                Lex::Str => {
                    let rest = &raw[i..];
                    let stop = string_run(rest);
                    if stop > 0 {
                        if self.mode == StrMode::Held {
                            out.n.extend_from_slice(&raw[copied..i]);
                            copied = i;
                            // Held (or, past the limit, masked): not written. Released:
                            // read as the plain string it turned out to be, from here on.
                            if self.hold(&rest[..stop], None, out) || self.mode == StrMode::Masked {
                                copied = i + stop;
                            } else {
                                self.note(&rest[..stop]);
                            }
                        } else if self.mode == StrMode::Masked {
                            // Not written: the value's marker replaces it.
                            out.n.extend_from_slice(&raw[copied..i]);
                            self.sink(&rest[..stop], None, out);
                            copied = i + stop;
                        } else {
                            self.note(&rest[..stop]);
                        }
                        i += stop;
                        self.raw_pos += stop as u64;
                        continue;
                    }
                    if rest[0] == b'"' {
                        if matches!(self.mode, StrMode::Masked | StrMode::Held) {
                            flush!();
                        }
                        // The closing quote itself is copied as it is.
                        self.end_string(out);
                    } else {
                        // The escape is written by `esc_byte` once it is complete.
                        out.n.extend_from_slice(&raw[copied..i]);
                        copied = i + 1;
                        self.esc[0] = b'\\';
                        self.esc_len = 1;
                        self.esc_raw = self.raw_pos;
                        self.lex = Lex::Esc;
                    }
                    i += 1;
                    self.raw_pos += 1;
                }
                Lex::Esc => {
                    if self.esc_byte(raw[i], out) {
                        i += 1;
                        self.raw_pos += 1;
                    }
                    copied = i;
                }
                Lex::Scalar => {
                    let rest = &raw[i..];
                    let run = rest.iter().position(|&c| is_delim(c)).unwrap_or(rest.len());
                    if run == 0 {
                        if self.acc.is_some() {
                            flush!();
                        }
                        self.end_masked(out);
                        self.lex = Lex::Between;
                        continue;
                    }
                    if self.mode == StrMode::Masked {
                        out.n.extend_from_slice(&raw[copied..i]);
                        self.sink(&rest[..run], None, out);
                        copied = i + run;
                    } else {
                        self.note(&rest[..run]);
                    }
                    i += run;
                    self.raw_pos += run as u64;
                }
                Lex::Between => {
                    let b = raw[i];
                    if is_ws(b) {
                        let rest = &raw[i..];
                        let run = rest.iter().position(|&c| !is_ws(c)).unwrap_or(rest.len());
                        i += run;
                        self.raw_pos += run as u64;
                        continue;
                    }
                    match b {
                        b'"' => {
                            let key = self.frames.last().is_some_and(|f| f.object && f.expect_key)
                                && self.untracked == 0;
                            self.raw_pos += 1;
                            if key {
                                self.mode = StrMode::Key;
                                self.key_buf.clear();
                            } else {
                                // Whether the value may be a data URL: its first bytes,
                                // as far as this chunk has them.
                                let ahead = &raw[i + 1..raw.len().min(i + 6)];
                                self.url_ahead = payload::may_start_data_url(ahead);
                                self.value_start(false, out);
                            }
                            self.lex = Lex::Str;
                        }
                        b'{' | b'[' => {
                            if self.needs_probe(b == b'{') {
                                out.n.extend_from_slice(&raw[copied..i]);
                                return Some(i);
                            }
                            self.open(b == b'{');
                        }
                        b'}' | b']' => {
                            self.raw_pos += 1;
                            self.close();
                            if self.frames.is_empty()
                                && self.untracked == 0
                                && self.probing.is_none()
                            {
                                i += 1;
                                flush!();
                                self.boundaries.push(out.pos());
                                continue;
                            }
                        }
                        b':' => {
                            self.raw_pos += 1;
                            if let Some(f) = self.frames.last_mut().filter(|_| self.untracked == 0)
                            {
                                f.expect_key = false;
                            }
                        }
                        b',' => {
                            self.raw_pos += 1;
                            if let Some(f) = self.frames.last_mut().filter(|_| self.untracked == 0)
                            {
                                if f.object {
                                    f.expect_key = true;
                                    f.has_key = false;
                                } else {
                                    f.index += 1;
                                }
                            }
                        }
                        _ => {
                            // A bare scalar starts here; read in `Scalar`.
                            self.value_start(true, out);
                            self.lex = Lex::Scalar;
                            continue;
                        }
                    }
                    i += 1;
                }
            }
        }
        out.n.extend_from_slice(&raw[copied..i]);
        None
    }

    /// The wholesale mask for the value starting now, if any.
    fn value_mask(&self) -> Option<Mask> {
        let role = self.frames.last().map_or(&Role::Plain, |f| &f.role);
        match role {
            Role::Masked(m) => return Some(m.clone()),
            Role::SecretData { base64 } if self.untracked == 0 => {
                if let Some(strategy) = self.opts.kubernetes_secrets {
                    return Some(Mask {
                        id: Arc::from(K8S_SECRET_ID),
                        strategy,
                        base64: *base64,
                        kind: FindingKind::Secret,
                    });
                }
            }
            Role::AuthEntry if self.untracked == 0 => {
                const SECRET_KEYS: [&[u8]; 4] =
                    [b"auth", b"password", b"identitytoken", b"registrytoken"];
                let key = self
                    .frames
                    .last()
                    .filter(|f| f.has_key)
                    .map(|f| f.key.as_slice());
                if key.is_some_and(|k| SECRET_KEYS.contains(&k)) {
                    return Some(Mask {
                        id: Arc::from(DOCKER_AUTH_ID),
                        strategy: Strategy::Redact,
                        base64: false,
                        kind: FindingKind::Secret,
                    });
                }
            }
            _ => {}
        }
        if self.untracked > 0 {
            return None;
        }
        let rules = self.opts.field_rules.as_ref()?;
        let path = FieldPath {
            frames: &self.frames,
            untracked: self.untracked,
        };
        match rules.decide(&path) {
            FieldAction::Scan => None,
            FieldAction::Mask { strategy, label } => Some(Mask {
                id: label,
                strategy,
                base64: false,
                kind: FindingKind::Field,
            }),
        }
    }

    /// A value starts (a string after its opening quote, or a bare scalar).
    fn value_start(&mut self, scalar: bool, _out: &mut NText) {
        self.probe_value(!scalar);
        let mask = self.value_mask();
        let Some(parent) = self.frames.last_mut().filter(|_| self.untracked == 0) else {
            self.mode = StrMode::Value;
            self.capture = None;
            if let Some(mask) = mask {
                self.acc = Some(Box::new(Acc::new(
                    mask,
                    self.raw_pos,
                    &self.hash_key,
                    scalar,
                )));
                self.mode = StrMode::Masked;
            }
            return;
        };
        self.capture = (!scalar && parent.key_is(b"kind")).then(Vec::new);
        if mask.is_none() && !scalar && self.probing.is_none() && self.nested.is_some() {
            let named = parent.object && parent.has_key && payload::names_payload(&parent.key);
            let depth = self.frames.len();
            let binary_data = depth >= 2 && self.frames[depth - 2].key_is(b"binaryData");
            if named || binary_data || self.url_ahead {
                self.held_value = Some(Box::new(Held {
                    raw: Vec::new(),
                    raw_start: self.raw_pos,
                    url: self.url_ahead.then(Vec::new),
                    header: 0,
                    url_only: !(named || binary_data),
                }));
                self.mode = StrMode::Held;
                return;
            }
        }
        match mask {
            Some(mask) => {
                self.acc = Some(Box::new(Acc::new(
                    mask,
                    self.raw_pos,
                    &self.hash_key,
                    scalar,
                )));
                self.mode = StrMode::Masked;
            }
            None => self.mode = StrMode::Value,
        }
    }

    /// In a probe: a value under the held `data` object that is not a string means the
    /// object is not a Secret's data.
    fn probe_value(&mut self, string: bool) {
        let depth = self.frames.len();
        if let Some(state) = self.probing.as_mut() {
            if state.resolved.is_none()
                && state.data_frame.is_some_and(|d| d + 1 == depth)
                && self.untracked == 0
                && !string
            {
                state.resolved = Some(false);
            }
        }
    }

    /// Whether the container opening now is a `data`/`stringData` object of an object
    /// not yet known to be a Secret or not (a probe must read ahead).
    fn needs_probe(&self, object: bool) -> bool {
        if !object || self.probing.is_some() || self.untracked > 0 {
            return false;
        }
        if self.opts.kubernetes_secrets.is_none() {
            return false;
        }
        let Some(parent) = self.frames.last() else {
            return false;
        };
        if !(parent.key_is(b"data") || parent.key_is(b"stringData")) {
            return false;
        }
        if !matches!(parent.role, Role::Plain | Role::Items) {
            return false;
        }
        let index = self.frames.len() - 1;
        self.secret_of(index).is_none()
    }

    /// An object or array opens (its bracket is copied by the caller).
    fn open(&mut self, object: bool) {
        self.probe_value(false);
        let mask = self.value_mask();
        self.raw_pos += 1;
        if self.untracked > 0 || self.frames.len() >= MAX_DEPTH {
            self.untracked += 1;
            return;
        }
        let depth = self.frames.len();
        let role = match (mask, self.frames.last()) {
            (Some(mask), _) => Role::Masked(mask),
            (None, None) => Role::Plain,
            (None, Some(parent)) => {
                if object && (parent.key_is(b"data") || parent.key_is(b"stringData")) {
                    let base64 = parent.key_is(b"data");
                    if let Some(state) = self.probing.as_mut() {
                        if state.target + 1 == depth && state.data_frame.is_none() {
                            state.data_frame = Some(depth);
                        }
                    }
                    match self.secret_of(depth - 1) {
                        Some(true) if self.opts.kubernetes_secrets.is_some() => {
                            Role::SecretData { base64 }
                        }
                        _ => Role::Plain,
                    }
                } else if !object && parent.key_is(b"items") {
                    Role::Items
                } else if object && parent.key_is(b"auths") {
                    Role::Auths
                } else if object && matches!(parent.role, Role::Auths) {
                    Role::AuthEntry
                } else {
                    Role::Plain
                }
            }
        };
        if let Some(parent) = self.frames.last_mut() {
            if parent.key_is(b"metadata") {
                parent.has_metadata = true;
            }
        }
        self.frames.push(Frame::new(object, role));
    }

    /// An object or array closes.
    fn close(&mut self) {
        if self.untracked > 0 {
            self.untracked -= 1;
            return;
        }
        if let Some(state) = &self.probing {
            if state.resolved.is_none() && state.target + 1 == self.frames.len() {
                let answer = self.closed_answer();
                if let Some(state) = self.probing.as_mut() {
                    state.resolved = Some(answer);
                }
            }
        }
        self.frames.pop();
    }

    /// A string ends (at its closing quote, not yet written: the caller copies it).
    fn end_string(&mut self, out: &mut NText) {
        match self.mode {
            StrMode::Key => {
                if let Some(f) = self.frames.last_mut() {
                    decode_key_into(&self.key_buf, &mut f.key);
                    f.has_key = true;
                }
            }
            StrMode::Value => {
                if let Some(kind) = self.capture.take() {
                    let kind = Kind::of(&decode_key(&kind));
                    let depth = self.frames.len();
                    if let Some(f) = self.frames.last_mut() {
                        f.kind = kind;
                        if kind == Kind::Secret {
                            f.secret = Some(true);
                        }
                    }
                    if let Some(state) = self.probing.as_mut() {
                        if state.resolved.is_none() && state.target + 1 == depth {
                            state.resolved = Some(kind == Kind::Secret);
                        }
                    }
                }
            }
            StrMode::Masked => self.end_masked(out),
            StrMode::Held => self.end_held(out),
        }
        self.mode = StrMode::Value;
        self.lex = Lex::Between;
    }

    /// A masked value ends at the current raw position: its marker becomes a piece.
    fn end_masked(&mut self, out: &mut NText) {
        let Some(acc) = self.acc.take() else {
            return;
        };
        self.mode = StrMode::Value;
        let raw_start = acc.raw_start;
        let finding = Some((Arc::clone(&acc.mask.id), acc.mask.kind));
        let pos = out.pos();
        out.pieces.push_back(Piece {
            n_start: pos,
            n_end: pos,
            raw_start,
            raw_end: self.raw_pos,
            out: PieceOut::Bytes(acc.marker().into_boxed_slice()),
            finding,
        });
    }

    /// Holds string content of a possible payload: `text` in the engine's spelling, `raw`
    /// as it came when it differs (an escape). False when the value stopped being held:
    /// it does not read as base64 (what was held is read as a plain string, and so is
    /// `text` by the caller), or it grew past [`payload::HOLD_LIMIT`] (masked wholesale
    /// from its start, `text` included).
    fn hold(&mut self, text: &[u8], raw: Option<&[u8]>, out: &mut NText) -> bool {
        let Some(held) = self.held_value.as_mut() else {
            return false;
        };
        let raw = raw.unwrap_or(text);
        let mut body = text;
        if let Some(url) = held.url.as_mut() {
            match payload::read_data_url_header(url, text) {
                payload::Header::Partial => body = &[],
                payload::Header::Done(n) => {
                    // The comma ends the header: what follows in `text` is the payload
                    // (`text` is `raw` here: an escape is one character, never split).
                    held.url = None;
                    held.header = held.raw.len() + raw.len() - (text.len() - n);
                    body = &text[n..];
                }
                payload::Header::NotUrl => {
                    held.url = None;
                    // What was held matched `data:` so far: alphabet bytes, unless it got
                    // to the colon.
                    if held.url_only || held.raw.contains(&b':') {
                        self.release(out);
                        return false;
                    }
                }
            }
        }
        if !payload::continues_base64(body) {
            self.release(out);
            return false;
        }
        if held.raw.len() + raw.len() > payload::HOLD_LIMIT {
            let mut acc = Acc::new(
                Mask {
                    id: Arc::from(payload::OVER_LIMIT_ID),
                    strategy: Strategy::Redact,
                    base64: true,
                    kind: FindingKind::Secret,
                },
                held.raw_start,
                &self.hash_key,
                false,
            );
            acc.feed(&held.raw);
            acc.feed(raw);
            self.held_value = None;
            self.acc = Some(Box::new(acc));
            self.mode = StrMode::Masked;
            return false;
        }
        held.raw.extend_from_slice(raw);
        true
    }

    /// The held value is read as a plain string after all: its content so far goes
    /// through the normal path (decoded escapes and their pieces), as if never held.
    fn release(&mut self, out: &mut NText) {
        let Some(held) = self.held_value.take() else {
            return;
        };
        self.mode = StrMode::Value;
        // Replaying runs the string reader over the held bytes: keep the state of the
        // escape or run being read when the value was released.
        let saved = (self.raw_pos, self.lex, self.esc, self.esc_len, self.esc_raw);
        self.raw_pos = held.raw_start;
        self.lex = Lex::Str;
        self.esc_len = 0;
        let _ = self.run(&held.raw, out);
        if self.lex == Lex::Esc {
            let n = self.esc_len;
            self.flush_esc(n, out);
        }
        (self.raw_pos, self.lex, self.esc, self.esc_len, self.esc_raw) = saved;
    }

    /// A held value ends: a base64 payload that masking changes is replaced by the
    /// encoding of its masked bytes; anything else is read as a plain string.
    fn end_held(&mut self, out: &mut NText) {
        let Some(held) = self.held_value.as_ref() else {
            return;
        };
        // Still in a data URL's header, or held only as one and not one: a plain string.
        let url_failed = held.url.is_some() || (held.url_only && held.header == 0);
        let header = held.header;
        let decoded = match (&self.nested, url_failed) {
            (Some(nested), false) => nested.mask_base64(&held.raw[header..]),
            _ => payload::Decoded::NotBase64,
        };
        let (spelling, bytes, findings) = match decoded {
            payload::Decoded::Masked {
                spelling,
                bytes,
                findings,
            } => (spelling, bytes, findings),
            payload::Decoded::Unchanged { len, binary } => {
                let passes = self
                    .nested
                    .as_ref()
                    .is_some_and(|n| n.passes_as_it_came(len, binary, &held.raw));
                if passes {
                    self.pass_held(out);
                } else {
                    self.release(out);
                }
                return;
            }
            payload::Decoded::NotBase64 => {
                self.release(out);
                return;
            }
        };
        let raw_start = held.raw_start;
        let raw_end = self.raw_pos;
        let mut replacement = Vec::with_capacity(header + bytes.len().div_ceil(3) * 4 + 4);
        replacement.extend_from_slice(&held.raw[..header]);
        self.held_value = None;
        spelling.encode_into(&bytes, &mut replacement);
        drop(bytes);
        self.mode = StrMode::Value;
        let pos = out.pos();
        // Each finding where its bytes sit in the encoded value (a base64 quantum: four
        // characters for three bytes; escaped line breaks make it approximate).
        for f in findings {
            let start = (raw_start + header as u64 + f.offset / 3 * 4).min(raw_end);
            let end = (start + f.len.div_ceil(3) * 4 + 4).min(raw_end);
            out.pieces.push_back(Piece {
                n_start: pos,
                n_end: pos,
                raw_start: start,
                raw_end: end,
                out: PieceOut::Inline([0; 12], 0),
                finding: Some((f.rule_id, f.kind)),
            });
        }
        // Last, so the raw position it leaves is the value's end.
        out.pieces.push_back(Piece {
            n_start: pos,
            n_end: pos,
            raw_start,
            raw_end,
            out: PieceOut::Bytes(replacement.into_boxed_slice()),
            finding: None,
        });
    }

    /// The held value goes out as it came, unread as text (see
    /// [`payload::Nested::passes_as_it_came`]).
    fn pass_held(&mut self, out: &mut NText) {
        let Some(held) = self.held_value.take() else {
            return;
        };
        self.mode = StrMode::Value;
        let pos = out.pos();
        out.pieces.push_back(Piece {
            n_start: pos,
            n_end: pos,
            raw_start: held.raw_start,
            raw_end: self.raw_pos,
            out: PieceOut::Bytes(held.raw.into_boxed_slice()),
            finding: None,
        });
    }

    /// String (or scalar) content read as it came (the caller copies it): kept where a
    /// key or a `kind` value is being read.
    #[inline]
    fn note(&mut self, text: &[u8]) {
        if self.mode == StrMode::Key && self.key_buf.len() < KEY_CAP {
            let room = KEY_CAP - self.key_buf.len();
            self.key_buf
                .extend_from_slice(&text[..text.len().min(room)]);
        }
        if let Some(c) = self.capture.as_mut() {
            if c.len() < 64 {
                c.extend_from_slice(&text[..text.len().min(64)]);
            }
        }
    }

    /// String (or scalar) content: `text` is its normalised spelling; `raw` (start and
    /// bytes), when given, the raw spelling it stands for (else the same bytes).
    fn sink(&mut self, text: &[u8], raw: Option<(u64, &[u8])>, out: &mut NText) {
        if self.mode == StrMode::Held && self.hold(text, raw.map(|r| r.1), out) {
            return;
        }
        if self.mode == StrMode::Masked {
            if let Some(acc) = self.acc.as_mut() {
                acc.feed(text);
            }
            return;
        }
        self.note(text);
        match raw {
            Some((raw_start, raw)) if raw != text => {
                let n_start = out.pos();
                out.n.extend_from_slice(text);
                out.pieces.push_back(Piece {
                    n_start,
                    n_end: out.pos(),
                    raw_start,
                    raw_end: raw_start + raw.len() as u64,
                    out: PieceOut::inline(raw),
                    finding: None,
                });
            }
            _ => out.n.extend_from_slice(text),
        }
    }

    /// One byte of an escape sequence; false when the byte was not consumed (the escape
    /// ended before it and it must be read again as string content).
    fn esc_byte(&mut self, b: u8, out: &mut NText) -> bool {
        let n = self.esc_len;
        match n {
            1 => {
                if b == b'u' {
                    self.esc[1] = b;
                    self.esc_len = 2;
                    return true;
                }
                self.lex = Lex::Str;
                self.esc_len = 0;
                let raw = [b'\\', b];
                let text: &[u8] = match b {
                    b'/' => b"/",
                    _ => &raw,
                };
                self.sink(text, Some((self.esc_raw, &raw)), out);
                true
            }
            2..=5 | 8..=11 => {
                if !b.is_ascii_hexdigit() {
                    self.flush_esc(n, out);
                    return false;
                }
                self.esc[n] = b;
                self.esc_len = n + 1;
                if n + 1 == 6 {
                    self.resolve_u(out);
                } else if n + 1 == 12 {
                    self.resolve_pair(out);
                }
                true
            }
            6 => {
                if b == b'\\' {
                    self.esc[6] = b;
                    self.esc_len = 7;
                    return true;
                }
                self.flush_esc(6, out);
                false
            }
            7 => {
                if b == b'u' {
                    self.esc[7] = b;
                    self.esc_len = 8;
                    return true;
                }
                // A lone high surrogate, then another escape.
                self.flush_esc(6, out);
                self.esc[0] = b'\\';
                self.esc_len = 1;
                self.esc_raw += 6;
                self.lex = Lex::Esc;
                false
            }
            _ => {
                self.flush_esc(n, out);
                false
            }
        }
    }

    /// The first `n` escape bytes were not an escape to decode: as they are.
    fn flush_esc(&mut self, n: usize, out: &mut NText) {
        let esc = self.esc;
        self.esc_len = 0;
        self.lex = Lex::Str;
        self.sink(&esc[..n], None, out);
    }

    /// `\uXXXX` complete.
    fn resolve_u(&mut self, out: &mut NText) {
        let cp = hex(&self.esc[2..6]).unwrap_or(0xfffd);
        if (0xd800..0xdc00).contains(&cp) {
            // A high surrogate: its pair may follow.
            return;
        }
        self.esc_len = 0;
        self.lex = Lex::Str;
        let esc = self.esc;
        if (0xdc00..0xe000).contains(&cp) {
            // A lone low surrogate: no character to decode; kept as it is.
            self.sink(&esc[..6], None, out);
            return;
        }
        let mut text = Vec::with_capacity(4);
        canonical(cp, &mut text);
        self.sink(&text, Some((self.esc_raw, &esc[..6])), out);
    }

    /// `\uXXXX\uXXXX` complete, the first a high surrogate.
    fn resolve_pair(&mut self, out: &mut NText) {
        let hi = hex(&self.esc[2..6]).unwrap_or(0);
        let lo = hex(&self.esc[8..12]).unwrap_or(0);
        let esc = self.esc;
        if (0xdc00..0xe000).contains(&lo) {
            self.esc_len = 0;
            self.lex = Lex::Str;
            let cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
            let mut text = Vec::with_capacity(4);
            canonical(cp, &mut text);
            self.sink(&text, Some((self.esc_raw, &esc[..12])), out);
            return;
        }
        // The first is lone; the second is an escape of its own.
        self.esc_len = 0;
        self.lex = Lex::Str;
        self.sink(&esc[..6], None, out);
        self.esc = [0; 12];
        self.esc[..6].copy_from_slice(&esc[6..12]);
        self.esc_len = 6;
        self.esc_raw += 6;
        self.lex = Lex::Esc;
        self.resolve_u(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalise(raw: &[u8]) -> (Vec<u8>, Vec<Piece>) {
        let mut j = JsonNormalizer::new(Arc::new(StructureOptions::default()), Arc::from(&[][..]));
        let mut out = NText::new();
        j.push(raw, &mut out);
        j.finish(&mut out);
        (out.n, out.pieces.into_iter().collect())
    }

    #[test]
    fn escapes_decode_to_the_text_a_client_sees() {
        let (n, pieces) =
            normalise(br#"{"pass\u0077ord": "a\/b\u0026c\"d\u0022e\ud83d\ude00f\u000ag"}"#);
        assert_eq!(
            String::from_utf8(n).unwrap(),
            "{\"password\": \"a/b&c\\\"d\\\"e\u{1f600}f\\ng\"}"
        );
        assert_eq!(pieces.len(), 6);
    }

    #[test]
    fn lone_and_broken_escapes_stay_as_they_are() {
        for raw in [
            &br#"["\ud83d x"]"#[..],
            br#"["\ude00"]"#,
            br#"["\u12"]"#,
            br#"["\ud83d\u0041"]"#,
            br#"["\ud83d\n"]"#,
            br#"["\q"]"#,
        ] {
            let (n, _) = normalise(raw);
            let expect = String::from_utf8_lossy(raw).replace("\\u0041", "A");
            assert_eq!(String::from_utf8_lossy(&n), expect);
        }
    }
}

#[cfg(test)]
mod string_run_tests {
    use super::string_run;

    #[test]
    fn string_run_stops_at_the_first_quote_or_backslash() {
        // Every length up to past the vector-search switch, the stop at every offset, and
        // bytes of 128 and up around it (the word test must not see them as stops).
        for len in 0..100usize {
            for stop in [None, Some(b'"'), Some(b'\\')] {
                for at in 0..len.max(1) {
                    let mut s: Vec<u8> =
                        (0..len).map(|i| [b'a', 0xa2, 0xdc, b' '][i % 4]).collect();
                    if let (Some(c), true) = (stop, at < len) {
                        s[at] = c;
                    }
                    let want = s
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\')
                        .unwrap_or(len);
                    assert_eq!(string_run(&s), want, "len {len} stop {stop:?} at {at}");
                }
            }
        }
    }
}
