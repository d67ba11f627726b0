//! Masking across the events of a stream: what a token stream spells over many events.
//!
//! LLM APIs stream their answer as SSE events (OpenAI, Anthropic, Gemini) or NDJSON
//! lines (Ollama), each adding a few characters to the text the client shows. A secret
//! the model (or a hostile upstream) writes out arrives split over several events, and
//! masking each event on its own never sees it whole. [`EventJoiner`] reads what the
//! events add up to and masks that:
//!
//! 1. each complete event's *pieces* are found: the delta strings of the LLM formats it
//!    knows (OpenAI chat and completions `choices[].delta.content` / `text` / tool-call
//!    `arguments`, the OpenAI Responses API `*.delta` events, Anthropic
//!    `content_block_delta` `text` / `partial_json` / `thinking`, Gemini
//!    `candidates[].content.parts[].text`, Ollama `message.content` / `response`); for
//!    other JSON every string value; for data that is not JSON the data itself;
//! 2. pieces append to the text of their *channel* (one per choice, content block or
//!    output item), which keeps some already-sent text as left context;
//! 3. an event is held back while one of its pieces is still *open*: part of the word
//!    at the end of its channel's text (a secret has no spaces; digit groups separated
//!    by one space and an unterminated `-----BEGIN` block count as one word), so the
//!    next event may continue it. Everything before is sent at once;
//! 4. before an event goes, its channel text is masked as a whole; a secret that spans
//!    several events is replaced in the event where it starts and removed from the
//!    others, so every event stays well-formed JSON / SSE.
//!
//! Holding is bounded: an event is never held for more than [`MAX_HELD_TEXT`] bytes of
//! channel text nor more than [`MAX_HELD_EVENTS`] events, and the data path flushes
//! held events on a short deadline ([`EventJoiner::flush`]) so streaming stays
//! streaming. A secret whose parts arrive further apart than that is masked in the
//! parts that are still held (its start, already sent, cannot be taken back).
//!
//! The joiner runs after per-event masking ([`super::RedactStream`] cuts at event
//! boundaries), so a secret wholly inside one event is already masked when it gets here.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use super::engine::{merge, Cand, Deadline, Engine, Scratch, Span};
use super::known::KnownSet;
use super::{ContentKind, Direction, Finding};

/// Most channel text held back (not yet sent) before the oldest event goes anyway.
pub const MAX_HELD_TEXT: usize = 4 * 1024;
/// Most events held back at once.
pub const MAX_HELD_EVENTS: usize = 64;
/// Largest event the joiner reads; a larger one goes on as per-event masking left it.
const MAX_EVENT: usize = 256 * 1024;
/// Already-sent channel text kept as left context for the next scan.
const CONTEXT: usize = 2 * 1024;
/// Deepest JSON nesting read for pieces.
const MAX_DEPTH: usize = 64;

/// How a stream is cut into events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `text/event-stream`: events end at an empty line.
    Sse,
    /// NDJSON / JSON Lines: one document per line.
    Lines,
}

impl Framing {
    /// The framing of a content kind, if it is a stream of events.
    pub(crate) fn of(kind: ContentKind) -> Option<Framing> {
        match kind {
            ContentKind::EventStream => Some(Framing::Sse),
            ContentKind::Ndjson => Some(Framing::Lines),
            _ => None,
        }
    }
}

/// Masks across the events of one stream. See the module docs.
pub(crate) struct EventJoiner {
    engine: Arc<Engine>,
    known: Arc<KnownSet>,
    direction: Direction,
    framing: Framing,
    /// Bytes of the event not complete yet.
    partial: Vec<u8>,
    /// The current event outgrew [`MAX_EVENT`]: pass it on unread to its end.
    oversized: bool,
    held: VecDeque<Event>,
    channels: Vec<Channel>,
    findings: Vec<Finding>,
    /// Bytes emitted so far (finding offsets).
    emitted: u64,
    max_span: usize,
    scratch: Scratch,
    cands: Vec<Cand>,
    spans: Vec<Span>,
    keys: Vec<u128>,
}

/// A complete event, held until its pieces are closed.
struct Event {
    raw: Vec<u8>,
    pieces: Vec<Piece>,
    /// Where the data payload sits in `raw`, for rewriting.
    payload: Payload,
}

enum Payload {
    /// No data to rewrite (a comment, `event:` only, or nothing of interest).
    None,
    /// A JSON document: pieces are string tokens within it.
    Json {
        /// The document (SSE: the `data:` lines joined; NDJSON: the line).
        doc: Vec<u8>,
    },
    /// Plain text data: one piece, the whole payload.
    Text,
}

struct Piece {
    channel: usize,
    /// The string token in the JSON document (`Payload::Json`), quotes included.
    token: Range<usize>,
    /// Where the piece's text starts in its channel (absolute).
    start: u64,
    /// The decoded text.
    text: Vec<u8>,
}

struct Channel {
    key: String,
    /// Channel text from `base` on: sent context, then held text.
    text: Vec<u8>,
    base: u64,
    /// Absolute offset up to which the channel's text has been sent.
    sent: u64,
}

impl Channel {
    fn end(&self) -> u64 {
        self.base + self.text.len() as u64
    }
}

impl EventJoiner {
    pub(crate) fn new(
        engine: Arc<Engine>,
        known: Arc<KnownSet>,
        direction: Direction,
        framing: Framing,
        deadline: Arc<Deadline>,
    ) -> Self {
        let l = engine.lmax().max(known.max_len() + 2);
        let mut scratch = Scratch::default();
        scratch.deadline = deadline;
        EventJoiner {
            engine,
            known,
            direction,
            framing,
            partial: Vec::new(),
            oversized: false,
            held: VecDeque::new(),
            channels: Vec::new(),
            findings: Vec::new(),
            emitted: 0,
            max_span: 2 * l,
            scratch,
            cands: Vec::new(),
            spans: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// True while some events are held back (the caller flushes them on a deadline).
    pub(crate) fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// Findings so far (each reported once).
    pub(crate) fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Feeds masked stream bytes; appends what may go on now to `out`.
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.oversized {
                // Pass on unread up to the end of this event.
                match self.event_end(&[], rest) {
                    Some(end) => {
                        self.emit_raw(&rest[..end], out);
                        rest = &rest[end..];
                        self.oversized = false;
                    }
                    None => {
                        self.emit_raw(rest, out);
                        return;
                    }
                }
                continue;
            }
            match self.event_end(&self.partial, rest) {
                Some(end) => {
                    let mut raw = std::mem::take(&mut self.partial);
                    raw.extend_from_slice(&rest[..end]);
                    rest = &rest[end..];
                    self.add_event(raw, out);
                }
                None => {
                    self.partial.extend_from_slice(rest);
                    if self.partial.len() > MAX_EVENT {
                        // Too large to read: it goes on as it is, after what is held.
                        self.flush(out);
                        let raw = std::mem::take(&mut self.partial);
                        self.emit_raw(&raw, out);
                        self.oversized = true;
                    }
                    return;
                }
            }
        }
    }

    /// Sends every held event now (their open pieces masked as far as they are known).
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) {
        let n = self.held.len();
        self.emit_events(n, out);
    }

    /// Ends the stream: the last (unterminated) event and everything held go on.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.partial.is_empty() {
            let raw = std::mem::take(&mut self.partial);
            if self.oversized {
                self.emit_raw(&raw, out);
            } else {
                self.read_event(raw);
            }
        }
        self.oversized = false;
        self.flush(out);
    }

    /// The end (exclusive, within `rest`) of the event that `partial` + `rest` starts.
    fn event_end(&self, partial: &[u8], rest: &[u8]) -> Option<usize> {
        let mut from = 0;
        while let Some(p) = memchr::memchr(b'\n', &rest[from..]) {
            let nl = from + p;
            let ended = match self.framing {
                Framing::Lines => true,
                Framing::Sse => {
                    // An empty line: `\n\n` or `\n\r\n`, possibly across the chunk edge.
                    let before = |k: usize| -> Option<u8> {
                        if nl >= k {
                            Some(rest[nl - k])
                        } else {
                            partial.len().checked_sub(k - nl).map(|i| partial[i])
                        }
                    };
                    before(1) == Some(b'\n')
                        || (before(1) == Some(b'\r') && before(2) == Some(b'\n'))
                }
            };
            if ended {
                return Some(nl + 1);
            }
            from = nl + 1;
        }
        None
    }

    fn emit_raw(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(raw);
        self.emitted += raw.len() as u64;
    }

    fn add_event(&mut self, raw: Vec<u8>, out: &mut Vec<u8>) {
        self.read_event(raw);
        // Events whose pieces are all closed go now, in order.
        let ready = self.ready_events();
        self.emit_events(ready, out);
    }

    /// Reads an event's pieces into their channels and holds it.
    fn read_event(&mut self, raw: Vec<u8>) {
        let raw = self.mask_payloads(raw);
        let (payload, found) = match self.framing {
            Framing::Sse => read_sse(&raw),
            Framing::Lines => read_line(&raw),
        };
        let mut pieces = Vec::with_capacity(found.len());
        for (key, token, text) in found {
            let channel = self.channel(&key);
            let ch = &mut self.channels[channel];
            let start = ch.end();
            ch.text.extend_from_slice(&text);
            pieces.push(Piece {
                channel,
                token,
                start,
                text,
            });
        }
        self.held.push_back(Event {
            raw,
            pieces,
            payload,
        });
    }

    /// The event with the base64 payloads of its JSON data decoded, masked and encoded
    /// again (see `structure::payload`): an MCP resource's `blob` arrives in an SSE
    /// event of the streamable HTTP transport.
    fn mask_payloads(&mut self, raw: Vec<u8>) -> Vec<u8> {
        let doc = match self.framing {
            Framing::Sse => sse_data(&raw),
            Framing::Lines => Some(trim_line_end(&raw).to_vec()),
        };
        let Some(doc) = doc.filter(|d| super::structure::may_hold_payload(d)) else {
            return raw;
        };
        let nested = super::structure::Nested {
            engine: Arc::clone(&self.engine),
            known: Arc::clone(&self.known),
            direction: self.direction,
            opts: Arc::new(super::StructureOptions::default()),
            deadline: Arc::clone(&self.scratch.deadline),
            depth: 0,
        };
        let Some((mut masked, found)) = nested.mask_as(&doc, ContentKind::Json, false) else {
            return raw;
        };
        let base = self.emitted;
        self.findings.extend(found.into_iter().map(|mut f| {
            f.offset += base;
            f
        }));
        match self.framing {
            Framing::Sse => rewrite_sse(&raw, &masked),
            Framing::Lines => {
                let ending = &raw[trim_line_end(&raw).len()..];
                masked.extend_from_slice(ending);
                masked
            }
        }
    }

    fn channel(&mut self, key: &str) -> usize {
        if let Some(i) = self.channels.iter().position(|c| c.key == key) {
            return i;
        }
        self.channels.push(Channel {
            key: key.to_string(),
            text: Vec::new(),
            base: 0,
            sent: 0,
        });
        self.channels.len() - 1
    }

    /// How many held events (from the front) have only closed pieces.
    fn ready_events(&self) -> usize {
        let open_from: Vec<u64> = self.channels.iter().map(open_start).collect();
        let mut ready = 0;
        for (i, event) in self.held.iter().enumerate() {
            let open = event.pieces.iter().any(|p| {
                let ch = &self.channels[p.channel];
                let end = p.start + p.text.len() as u64;
                // Held too long: it goes, open or not.
                let too_much = ch.end().saturating_sub(p.start) > MAX_HELD_TEXT as u64;
                end > open_from[p.channel] && !too_much
            });
            if open && self.held.len() - i <= MAX_HELD_EVENTS {
                break;
            }
            ready = i + 1;
        }
        ready
    }

    /// Masks and sends the first `n` held events.
    fn emit_events(&mut self, n: usize, out: &mut Vec<u8>) {
        if n == 0 {
            return;
        }
        // One scan per channel that has a piece among them.
        let mut edits: Vec<Vec<Edit>> = vec![Vec::new(); self.channels.len()];
        let mut scanned = vec![false; self.channels.len()];
        let channels: Vec<usize> = self
            .held
            .iter()
            .take(n)
            .flat_map(|event| event.pieces.iter().map(|p| p.channel))
            .collect();
        for channel in channels {
            if !scanned[channel] {
                scanned[channel] = true;
                edits[channel] = self.scan_channel(channel);
            }
        }
        for _ in 0..n {
            let Some(event) = self.held.pop_front() else {
                break;
            };
            let mut rewritten: Vec<(usize, Vec<u8>)> = Vec::new();
            for (index, piece) in event.pieces.iter().enumerate() {
                let ch = &mut self.channels[piece.channel];
                let end = piece.start + piece.text.len() as u64;
                if let Some(text) = apply_edits(piece, &edits[piece.channel]) {
                    rewritten.push((index, text));
                }
                ch.sent = ch.sent.max(end);
            }
            let raw = if rewritten.is_empty() {
                event.raw
            } else {
                for edit in edits.iter().flatten() {
                    if let Some(finding) = &edit.finding {
                        if event.pieces.iter().any(|p| {
                            p.channel == edit.channel
                                && edit.start >= p.start
                                && edit.start < p.start + p.text.len() as u64
                        }) {
                            let mut f = finding.clone();
                            f.offset = self.emitted;
                            self.findings.push(f);
                        }
                    }
                }
                rewrite(&event, &rewritten, self.framing)
            };
            self.emit_raw(&raw, out);
        }
        self.trim_channels();
    }

    /// Masks a channel's text; returns the edits (absolute offsets).
    fn scan_channel(&mut self, channel: usize) -> Vec<Edit> {
        let ch = &self.channels[channel];
        let hay = &ch.text;
        self.cands.clear();
        self.spans.clear();
        self.engine.detect(
            hay,
            0,
            true,
            ContentKind::Text,
            &self.known,
            &mut self.scratch,
            &mut self.cands,
        );
        if self.scratch.deadline.passed() {
            return Vec::new();
        }
        merge(
            &mut self.cands,
            0,
            self.max_span,
            &mut self.keys,
            &mut self.spans,
        );
        let mut edits = Vec::with_capacity(self.spans.len());
        for span in &self.spans {
            let mut replacement = Vec::new();
            self.engine.render(
                span,
                &hay[span.start..span.end],
                &self.known,
                &mut replacement,
            );
            let start = ch.base + span.start as u64;
            let end = ch.base + span.end as u64;
            if end <= ch.sent {
                // Wholly sent already (masked when it went, or too late).
                continue;
            }
            let finding = (start >= ch.sent).then(|| Finding {
                rule_id: self.engine.source_id(span.primary.source, &self.known),
                kind: self.engine.source_kind(span.primary.source),
                direction: self.direction,
                offset: 0,
                len: (span.end - span.start) as u64,
            });
            edits.push(Edit {
                channel,
                start,
                end,
                replacement,
                finding,
            });
        }
        edits
    }

    /// Drops sent channel text beyond the left context.
    fn trim_channels(&mut self) {
        for ch in &mut self.channels {
            let keep_from = ch.sent.saturating_sub(CONTEXT as u64).max(ch.base);
            let drop = usize::try_from(keep_from - ch.base)
                .unwrap_or(0)
                .min(ch.text.len());
            if drop > 0 {
                ch.text.drain(..drop);
                ch.base += drop as u64;
            }
        }
    }
}

/// One masked span of a channel's text.
#[derive(Clone)]
struct Edit {
    channel: usize,
    start: u64,
    end: u64,
    replacement: Vec<u8>,
    finding: Option<Finding>,
}

/// The piece's text with the edits that touch it applied: the replacement where a span
/// starts, the span's bytes removed elsewhere. `None`: unchanged.
fn apply_edits(piece: &Piece, edits: &[Edit]) -> Option<Vec<u8>> {
    let start = piece.start;
    let end = piece.start + piece.text.len() as u64;
    let touching: Vec<&Edit> = edits
        .iter()
        .filter(|e| e.start < end && e.end > start)
        .collect();
    if touching.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(piece.text.len());
    let mut pos = 0usize;
    for edit in touching {
        let from = usize::try_from(edit.start.max(start) - start).unwrap_or(0);
        let to = usize::try_from(edit.end.min(end) - start).unwrap_or(piece.text.len());
        if from < pos {
            continue;
        }
        out.extend_from_slice(&piece.text[pos..from]);
        if edit.start >= start {
            out.extend_from_slice(&edit.replacement);
        }
        pos = to;
    }
    out.extend_from_slice(&piece.text[pos..]);
    Some(out)
}

/// Where the open word at the end of a channel's text starts (absolute): text from
/// there on may continue in the next event.
fn open_start(ch: &Channel) -> u64 {
    let text = &ch.text;
    let mut i = text.len();
    while i > 0 {
        let c = text[i - 1];
        if c.is_ascii_whitespace() {
            // Digit groups (`4111 1111`, `+1 415 555`) read as one word.
            let digit_before = i >= 2 && text[i - 2].is_ascii_digit();
            let digit_after = i == text.len() || text[i].is_ascii_digit();
            if !(c == b' ' && digit_before && digit_after) {
                break;
            }
        }
        i -= 1;
    }
    // An armored block (a PEM key) is one word to its END line.
    if let Some(begin) = memchr::memmem::rfind(text, b"-----BEGIN") {
        if memchr::memmem::find(&text[begin..], b"-----END").is_none() {
            i = i.min(begin);
        }
    }
    ch.base + i as u64
}

/// A piece as read from an event: its channel key, its token in the document, its text.
type FoundPiece = (String, Range<usize>, Vec<u8>);

/// The pieces of an NDJSON line.
fn read_line(raw: &[u8]) -> (Payload, Vec<FoundPiece>) {
    let line = trim_line_end(raw);
    let doc = line.to_vec();
    let found = json_pieces(&doc);
    match found {
        Some(found) if !found.is_empty() => (Payload::Json { doc }, found),
        Some(_) => (Payload::None, Vec::new()),
        None if !line.is_empty() => (
            Payload::Text,
            vec![("text".to_string(), 0..line.len(), line.to_vec())],
        ),
        None => (Payload::None, Vec::new()),
    }
}

/// The pieces of an SSE event (its `data:` lines joined with `\n`).
fn read_sse(raw: &[u8]) -> (Payload, Vec<FoundPiece>) {
    let Some(data) = sse_data(raw) else {
        return (Payload::None, Vec::new());
    };
    if data.is_empty() || data == b"[DONE]" {
        return (Payload::None, Vec::new());
    }
    match json_pieces(&data) {
        Some(found) if !found.is_empty() => (Payload::Json { doc: data }, found),
        Some(_) => (Payload::None, Vec::new()),
        None => {
            let len = data.len();
            (Payload::Text, vec![("text".to_string(), 0..len, data)])
        }
    }
}

/// The `data:` lines of an SSE event joined with `\n`, as a client reads them.
fn sse_data(raw: &[u8]) -> Option<Vec<u8>> {
    let lines: Vec<&[u8]> = raw
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter_map(|line| {
            if line == b"data" {
                Some(&b""[..])
            } else {
                line.strip_prefix(b"data:")
                    .map(|v| v.strip_prefix(b" ").unwrap_or(v))
            }
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join(&b'\n'))
}

fn trim_line_end(raw: &[u8]) -> &[u8] {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The event with its changed pieces written back.
fn rewrite(event: &Event, rewritten: &[(usize, Vec<u8>)], framing: Framing) -> Vec<u8> {
    let payload = match &event.payload {
        Payload::None => return event.raw.clone(),
        Payload::Text => rewritten
            .first()
            .map(|(_, text)| text.clone())
            .unwrap_or_default(),
        Payload::Json { doc } => {
            let mut out = Vec::with_capacity(doc.len());
            let mut pos = 0;
            let mut changes: Vec<(&Range<usize>, &Vec<u8>)> = rewritten
                .iter()
                .filter_map(|(i, text)| event.pieces.get(*i).map(|p| (&p.token, text)))
                .collect();
            changes.sort_by_key(|(r, _)| r.start);
            for (token, text) in changes {
                if token.start < pos {
                    continue;
                }
                out.extend_from_slice(&doc[pos..token.start]);
                let text = String::from_utf8_lossy(text);
                match serde_json::to_vec(&*text) {
                    Ok(encoded) => out.extend_from_slice(&encoded),
                    Err(_) => out.extend_from_slice(b"\"\""),
                }
                pos = token.end;
            }
            out.extend_from_slice(&doc[pos..]);
            out
        }
    };
    match framing {
        Framing::Lines => {
            let ending = &event.raw[trim_line_end(&event.raw).len()..];
            let mut out = payload;
            out.extend_from_slice(ending);
            out
        }
        Framing::Sse => rewrite_sse(&event.raw, &payload),
    }
}

/// The SSE event with its `data:` lines replaced by `payload` (one `data:` line per
/// payload line, where the first one was); other fields stay as they were.
fn rewrite_sse(raw: &[u8], payload: &[u8]) -> Vec<u8> {
    let crlf = memchr::memmem::find(raw, b"\r\n").is_some();
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut wrote = false;
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    for line in body.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let is_data = line == b"data" || line.starts_with(b"data:");
        if is_data {
            if !wrote {
                for data_line in payload.split(|b| *b == b'\n') {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(data_line);
                    out.extend_from_slice(eol);
                }
                wrote = true;
            }
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(eol);
    }
    // The body ended with the event's blank line, which the split leaves as a last
    // empty line already written; make sure exactly one blank line ends the event.
    if !out.ends_with(eol) {
        out.extend_from_slice(eol);
    }
    let double: Vec<u8> = [eol, eol].concat();
    if !out.ends_with(&double) {
        out.extend_from_slice(eol);
    }
    out
}

/// A path step in a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A string value of a JSON document: its path, its token (quotes included), its text.
struct StringValue {
    path: Vec<Seg>,
    token: Range<usize>,
    text: Vec<u8>,
}

/// The pieces of one JSON document: `None` when it is not JSON.
fn json_pieces(doc: &[u8]) -> Option<Vec<FoundPiece>> {
    let value: serde_json::Value = serde_json::from_slice(doc).ok()?;
    if !(value.is_object() || value.is_array()) {
        return None;
    }
    let mut strings = Vec::new();
    let mut scanner = JsonScanner { doc, pos: 0 };
    scanner.value(&mut Vec::new(), &mut strings, 0)?;
    let llm = strings
        .iter()
        .filter_map(|s| llm_channel(&value, &s.path).map(|key| (key, s)))
        .collect::<Vec<_>>();
    let chosen: Vec<(String, &StringValue)> = if llm.is_empty() {
        // Not a format we know: every string value, one channel.
        strings.iter().map(|s| ("json".to_string(), s)).collect()
    } else {
        llm
    };
    Some(
        chosen
            .into_iter()
            .map(|(key, s)| (key, s.token.clone(), s.text.clone()))
            .collect(),
    )
}

/// The channel of a delta string of a known LLM stream format, or `None` when the path
/// is not one.
fn llm_channel(doc: &serde_json::Value, path: &[Seg]) -> Option<String> {
    use Seg::{Index, Key};
    let key = |s: &Seg, k: &str| matches!(s, Key(x) if x == k);
    let field = |name: &str| doc.get(name);
    let index_of = |v: Option<&serde_json::Value>, fallback: usize| -> String {
        v.and_then(serde_json::Value::as_u64)
            .map_or_else(|| fallback.to_string(), |i| i.to_string())
    };
    match path {
        // OpenAI chat completions.
        [Key(c), Index(i), Key(d), Key(f)]
            if c == "choices"
                && d == "delta"
                && matches!(
                    f.as_str(),
                    "content" | "reasoning_content" | "refusal" | "reasoning"
                ) =>
        {
            let choice = doc.get("choices").and_then(|c| c.get(*i));
            Some(format!(
                "choice:{}:{f}",
                index_of(choice.and_then(|c| c.get("index")), *i)
            ))
        }
        [Key(c), Index(i), Key(d), Key(t), Index(j), Key(fun), Key(a)]
            if c == "choices"
                && d == "delta"
                && t == "tool_calls"
                && fun == "function"
                && a == "arguments" =>
        {
            let choice = doc.get("choices").and_then(|c| c.get(*i));
            let call = choice
                .and_then(|c| c.get("delta"))
                .and_then(|d| d.get("tool_calls"))
                .and_then(|t| t.get(*j));
            Some(format!(
                "choice:{}:tool:{}",
                index_of(choice.and_then(|c| c.get("index")), *i),
                index_of(call.and_then(|c| c.get("index")), *j)
            ))
        }
        // OpenAI completions.
        [Key(c), Index(i), Key(t)] if c == "choices" && t == "text" => {
            let choice = doc.get("choices").and_then(|c| c.get(*i));
            Some(format!(
                "choice:{}:text",
                index_of(choice.and_then(|c| c.get("index")), *i)
            ))
        }
        // Anthropic messages.
        [Key(d), Key(f)]
            if d == "delta"
                && matches!(f.as_str(), "text" | "partial_json" | "thinking")
                && field("type").and_then(|t| t.as_str()) == Some("content_block_delta") =>
        {
            Some(format!("block:{}", index_of(field("index"), 0)))
        }
        [Key(b), Key(f)]
            if b == "content_block"
                && matches!(f.as_str(), "text" | "thinking")
                && field("type").and_then(|t| t.as_str()) == Some("content_block_start") =>
        {
            Some(format!("block:{}", index_of(field("index"), 0)))
        }
        // OpenAI Responses API: `response.output_text.delta`,
        // `response.function_call_arguments.delta`, ...
        [Key(d)]
            if d == "delta"
                && field("type")
                    .and_then(|t| t.as_str())
                    .is_some_and(|t| t.ends_with(".delta")) =>
        {
            let item = field("item_id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| index_of(field("output_index"), 0));
            Some(format!(
                "item:{item}:{}",
                index_of(field("content_index"), 0)
            ))
        }
        // Gemini.
        [Key(c), Index(i), Key(content), Key(parts), Index(_), Key(t)]
            if c == "candidates" && content == "content" && parts == "parts" && t == "text" =>
        {
            Some(format!("candidate:{i}"))
        }
        // Ollama chat and generate.
        [Key(m), Key(f)] if m == "message" && matches!(f.as_str(), "content" | "thinking") => {
            Some(format!("message:{f}"))
        }
        [Key(r)] if r == "response" && field("done").is_some() => Some("response".into()),
        _ => {
            let _ = key;
            None
        }
    }
}

/// Finds every string value of a JSON document with its path and raw token.
struct JsonScanner<'a> {
    doc: &'a [u8],
    pos: usize,
}

impl JsonScanner<'_> {
    fn skip_ws(&mut self) {
        while self
            .doc
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn value(
        &mut self,
        path: &mut Vec<Seg>,
        out: &mut Vec<StringValue>,
        depth: usize,
    ) -> Option<()> {
        self.skip_ws();
        match *self.doc.get(self.pos)? {
            b'{' => {
                if depth >= MAX_DEPTH {
                    return self.skip_nested();
                }
                self.pos += 1;
                self.skip_ws();
                if self.doc.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip_ws();
                    let (_, key) = self.string()?;
                    self.skip_ws();
                    if self.doc.get(self.pos) != Some(&b':') {
                        return None;
                    }
                    self.pos += 1;
                    path.push(Seg::Key(String::from_utf8_lossy(&key).into_owned()));
                    self.value(path, out, depth + 1)?;
                    path.pop();
                    self.skip_ws();
                    match self.doc.get(self.pos)? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return self.skip_nested();
                }
                self.pos += 1;
                self.skip_ws();
                if self.doc.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Some(());
                }
                let mut i = 0;
                loop {
                    path.push(Seg::Index(i));
                    self.value(path, out, depth + 1)?;
                    path.pop();
                    i += 1;
                    self.skip_ws();
                    match self.doc.get(self.pos)? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => {
                let (token, text) = self.string()?;
                out.push(StringValue {
                    path: path.clone(),
                    token,
                    text,
                });
                Some(())
            }
            _ => {
                // A number or literal: up to the next delimiter.
                while self.doc.get(self.pos).is_some_and(|b| {
                    !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    self.pos += 1;
                }
                Some(())
            }
        }
    }

    /// Skips a container too deep to read (its strings are not pieces).
    fn skip_nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        while let Some(&b) = self.doc.get(self.pos) {
            match b {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        self.pos += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        None
    }

    /// A string token at `pos`: its range (quotes included) and decoded text.
    fn string(&mut self) -> Option<(Range<usize>, Vec<u8>)> {
        let start = self.pos;
        if self.doc.get(start) != Some(&b'"') {
            return None;
        }
        let mut i = start + 1;
        loop {
            match *self.doc.get(i)? {
                b'"' => break,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        let token = start..i + 1;
        self.pos = i + 1;
        let text: String = serde_json::from_slice(&self.doc[token.clone()]).ok()?;
        Some((token, text.into_bytes()))
    }
}

#[cfg(test)]
mod tests;
