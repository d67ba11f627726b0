//! Masking a body as it really is, whatever it is labelled.
//!
//! A [`BodyMasker`] takes the declared type ([`Declared`]) as a hint and lets the bytes
//! decide ([`crate::content::sniff`]):
//!
//! - text is masked — as JSON, a form or plain text by its shape when the label does
//!   not say (`application/octet-stream` carrying JSON gets the JSON rules);
//! - text in UTF-16 or UTF-32 is transcoded, masked and written back in its encoding;
//! - multipart bodies are masked part by part, each by its own type and bytes, with
//!   delimiters and part headers kept (the headers are scanned as text too); parts in
//!   base64 or quoted-printable are decoded, masked and encoded again;
//! - only bytes that really are binary pass unread ([`BodyMasker::passed_unread`]);
//!   bytes that are binary under a text label are still scanned, and reported
//!   ([`BodyMasker::saw_binary`]) so `masking.binary: block` can refuse them.
//!
//! Chunk by chunk or whole, the output is the same. A body must be decided on its first
//! bytes: at most [`sniff::WINDOW`] bytes are held back while that is not possible
//! (typically none: the first chunk tells).

use std::sync::Arc;

use crate::content::charset::{self, CharsetKind};
use crate::content::multipart::{self, Piece};
use crate::content::sniff::{self, Encoding, Shape, Sniffed};
use crate::content::Declared;

use super::engine::{Deadline, Engine};
use super::events::{EventJoiner, Framing};
use super::known::KnownSet;
use super::{
    ContentKind, DeadlinePassed, Direction, Finding, FindingLog, RedactStream, Redactor,
    StructureOptions, UnlistedFindings,
};

/// Largest part in `base64` or `quoted-printable` held to be decoded and masked; a
/// larger one passes unread, like binary.
const MAX_ENCODED_PART: usize = 16 << 20;

/// What one-shot masking of a body gives ([`Redactor::redact_body`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedBody {
    /// The masked body (the input itself when nothing was found).
    pub body: Vec<u8>,
    /// What was masked (all of it, or the first ones when the listing was limited:
    /// [`Redactor::redact_body_listing_within`]).
    pub findings: Vec<Finding>,
    /// What was masked past the listing limit, counted per rule.
    pub unlisted: UnlistedFindings,
    /// Some of the bytes are binary (scanned anyway under a text label).
    pub binary: bool,
    /// Some of the bytes are binary and passed unread.
    pub passed_unread: bool,
}

impl RedactedBody {
    /// Whether anything was masked.
    pub fn changed(&self) -> bool {
        !self.findings.is_empty() || !self.unlisted.is_empty()
    }
}

/// What a masker needs to start the streams it uses.
#[derive(Clone)]
struct Scanner {
    engine: Arc<Engine>,
    known: Arc<KnownSet>,
    direction: Direction,
    /// Shared by every stream of the body: they all give up together.
    deadline: Arc<Deadline>,
    structure: Arc<StructureOptions>,
    /// Findings each masker of the body lists in full ([`BodyMasker::list_at_most`]).
    max_listed: usize,
}

impl Scanner {
    fn stream(&self, kind: ContentKind) -> RedactStream {
        let mut stream = RedactStream::new(
            Arc::clone(&self.engine),
            Arc::clone(&self.known),
            kind,
            self.direction,
            &self.structure,
        );
        stream.share_deadline(Arc::clone(&self.deadline));
        stream
    }
}

enum State {
    /// Waiting for enough bytes to tell what the body is.
    Sniffing {
        declared: ContentKind,
        hint: Option<Encoding>,
        held: Vec<u8>,
    },
    /// Text, masked as it comes.
    Text(RedactStream),
    /// UTF-16/32 text: decoded, masked, encoded back.
    Transcoded {
        decoder: charset::Decoder,
        stream: RedactStream,
        encoder: charset::Encoder,
    },
    /// Binary: passed unread, but for the secrets Warden knows ([`KnownOnly`]).
    Binary(KnownOnly),
    /// Multipart: part by part.
    Multipart(Box<Parts>),
    /// A part in base64 or quoted-printable: held, then decoded and masked whole.
    Encoded(Box<EncodedPart>),
    /// Finished.
    Done,
}

/// Masks one body, chunk by chunk or whole. Create with [`Redactor::body_masker`].
pub struct BodyMasker {
    scanner: Scanner,
    state: State,
    findings: FindingLog,
    binary: bool,
    unread: bool,
    /// The first bytes of text labelled text, kept (up to [`sniff::WINDOW`]) to notice
    /// binary bytes after the masking kind was chosen.
    window: Option<Vec<u8>>,
    /// Where this body starts within the outermost one (findings are offset by it).
    base: u64,
    depth: usize,
    /// Masking across events, for event streams and NDJSON ([`super::events`]).
    events: Option<EventJoiner>,
}

impl std::fmt::Debug for BodyMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Sniffing { .. } => "sniffing",
            State::Text(_) => "text",
            State::Transcoded { .. } => "transcoded",
            State::Binary(_) => "binary",
            State::Multipart(_) => "multipart",
            State::Encoded(_) => "encoded",
            State::Done => "done",
        };
        f.debug_struct("BodyMasker")
            .field("state", &state)
            .field("findings", &self.findings.listed.len())
            .finish()
    }
}

impl Redactor {
    /// Starts masking a body declared as `declared` (its `content-type`) that arrives
    /// in chunks.
    pub fn body_masker(&self, declared: &Declared, direction: Direction) -> BodyMasker {
        let scanner = Scanner {
            engine: Arc::clone(&self.engine),
            known: self.known_snapshot(),
            direction,
            deadline: Arc::default(),
            structure: Arc::clone(&self.structure),
            max_listed: usize::MAX,
        };
        let framing = (!declared.is_multipart())
            .then(|| Framing::of(ContentKind::from_content_type(&declared.media)))
            .flatten();
        let events = framing.map(|framing| {
            EventJoiner::new(
                Arc::clone(&scanner.engine),
                Arc::clone(&scanner.known),
                direction,
                framing,
                Arc::clone(&scanner.deadline),
            )
        });
        let mut masker = BodyMasker::with(scanner, declared, 0, 0, false);
        masker.events = events;
        masker
    }

    /// Masks a whole body declared as `declared`.
    pub fn redact_body(
        &self,
        body: &[u8],
        declared: &Declared,
        direction: Direction,
    ) -> RedactedBody {
        let mut masker = self.body_masker(declared, direction);
        let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 64);
        masker.whole_into(body, &mut out);
        let out = masker.join_events(out, true);
        let findings = masker.take_findings();
        RedactedBody {
            body: out,
            findings,
            unlisted: masker.take_unlisted(),
            binary: masker.binary,
            passed_unread: masker.unread,
        }
    }

    /// [`Redactor::redact_body`], giving up when `deadline` passes: a body that cannot
    /// be masked in time is an error, never a partly masked body.
    pub fn redact_body_within(
        &self,
        body: &[u8],
        declared: &Declared,
        direction: Direction,
        deadline: Option<std::time::Instant>,
    ) -> Result<RedactedBody, DeadlinePassed> {
        self.redact_body_listing_within(body, declared, direction, deadline, usize::MAX)
    }

    /// [`Redactor::redact_body_within`], listing at most `max_listed` findings in full
    /// and counting the rest per rule ([`RedactedBody::unlisted`]): what a caller that
    /// needs counts only (the data path's audit record) uses, so memory does not grow
    /// with the number of findings.
    pub fn redact_body_listing_within(
        &self,
        body: &[u8],
        declared: &Declared,
        direction: Direction,
        deadline: Option<std::time::Instant>,
        max_listed: usize,
    ) -> Result<RedactedBody, DeadlinePassed> {
        let mut masker = self.body_masker(declared, direction);
        masker.set_deadline(deadline);
        masker.list_at_most(max_listed);
        let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 64);
        masker.whole_into(body, &mut out);
        let out = masker.join_events(out, true);
        if masker.deadline_passed() {
            return Err(DeadlinePassed);
        }
        let findings = masker.take_findings();
        Ok(RedactedBody {
            body: out,
            findings,
            unlisted: masker.take_unlisted(),
            binary: masker.binary,
            passed_unread: masker.unread,
        })
    }
}

impl BodyMasker {
    /// `untyped_is_unknown`: a missing type says nothing (a multipart part without a
    /// `content-type`), rather than meaning text.
    fn with(
        scanner: Scanner,
        declared: &Declared,
        depth: usize,
        base: u64,
        untyped_is_unknown: bool,
    ) -> BodyMasker {
        let state = if declared.is_multipart() && depth < multipart::MAX_DEPTH {
            match declared.boundary() {
                Ok(boundary) => State::Multipart(Box::new(Parts::new(boundary, depth, base))),
                // Framing that cannot be found: every byte is read as text.
                Err(_) => sniffing(ContentKind::Text, None),
            }
        } else {
            let declared_kind =
                if declared.is_multipart() || (untyped_is_unknown && declared.media.is_empty()) {
                    ContentKind::Binary
                } else {
                    ContentKind::from_content_type(&declared.media)
                };
            let hint = declared
                .charset()
                .and_then(|c| match charset::charset_kind(&c) {
                    CharsetKind::Unicode(encoding) => Some(encoding),
                    _ => None,
                });
            sniffing(declared_kind, hint)
        };
        let mut findings = FindingLog::default();
        findings.set_limit(scanner.max_listed);
        BodyMasker {
            scanner,
            state,
            findings,
            binary: false,
            unread: false,
            window: None,
            base,
            depth,
            events: None,
        }
    }

    /// True once some bytes of the body showed to be binary (passed unread, or scanned
    /// because their label said text).
    pub fn saw_binary(&self) -> bool {
        self.binary
    }

    /// True once some bytes passed unread because they are binary.
    pub fn passed_unread(&self) -> bool {
        self.unread
    }

    /// Sets when masking must give up (`None`: no limit); every stream of the body
    /// then stops at it and [`Self::deadline_passed`] turns true.
    pub fn set_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.scanner.deadline.set(deadline);
    }

    /// True once masking gave up at its deadline: the output of the call that gave up,
    /// and of every later one, is incomplete and must not be passed on.
    pub fn deadline_passed(&self) -> bool {
        self.scanner.deadline.passed()
    }

    /// Findings so far (each reported once).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        self.findings.take()
    }

    /// Lists at most `max_listed` findings of the body in all ([`Self::take_findings`]);
    /// later ones are counted per rule ([`Self::take_unlisted`]). Set before the first
    /// bytes.
    pub fn list_at_most(&mut self, max_listed: usize) {
        self.scanner.max_listed = max_listed;
        self.findings.set_limit(max_listed);
    }

    /// Findings past the listing limit ([`Self::list_at_most`]) since the last call.
    pub fn take_unlisted(&mut self) -> UnlistedFindings {
        self.findings.take_unlisted()
    }

    /// Feeds the next chunk; returns the masked bytes now safe to pass on.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        self.push_into(chunk, &mut out);
        self.join_events(out, false)
    }

    /// Ends the body; returns the last masked bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        self.join_events(out, true)
    }

    /// True when this body is an event stream masked across its events (its output
    /// may lag its input by a few events).
    pub fn joins_events(&self) -> bool {
        self.events.is_some()
    }

    /// True while events of an event stream are held back because a secret may span
    /// them and the next event ([`super::events`]); [`Self::flush_events`] sends them.
    pub fn holds_events(&self) -> bool {
        self.events.as_ref().is_some_and(EventJoiner::holds)
    }

    /// Sends the events held back now (the data path calls it on a short deadline so
    /// a stream that pauses is not held up).
    pub fn flush_events(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(events) = &mut self.events {
            events.flush(&mut out);
            let found = events.take_findings();
            self.add(found);
        }
        out
    }

    /// Runs masked stream bytes through the cross-event stage, if this body has one.
    fn join_events(&mut self, masked: Vec<u8>, end: bool) -> Vec<u8> {
        let Some(events) = &mut self.events else {
            return masked;
        };
        let mut out = Vec::with_capacity(masked.len());
        events.push(&masked, &mut out);
        if end {
            events.finish(&mut out);
        }
        let found = events.take_findings();
        self.add(found);
        out
    }

    fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.watch(chunk, false);
        match &mut self.state {
            State::Sniffing { held, .. } => {
                held.extend_from_slice(chunk);
                self.decide(false, out);
            }
            State::Text(stream) => {
                stream.push_into(chunk, out);
                let found = stream.take_findings();
                self.add(found);
            }
            State::Transcoded {
                decoder,
                stream,
                encoder,
            } => {
                let mut text = Vec::with_capacity(chunk.len());
                decoder.push(chunk, &mut text);
                let mut masked = Vec::with_capacity(text.len());
                stream.push_into(&text, &mut masked);
                encoder.push(&masked, out);
                let found = stream.take_findings();
                self.add(found);
            }
            State::Binary(known) => {
                let found = known.push(&self.scanner, chunk, out);
                self.add(found);
            }
            State::Done => out.extend_from_slice(chunk),
            State::Multipart(parts) => {
                parts.push(&self.scanner, chunk, out);
                self.absorb_parts();
            }
            State::Encoded(part) => {
                part.held.extend_from_slice(chunk);
                if part.held.len() > MAX_ENCODED_PART {
                    // Too large to decode here: it passes unread, like binary.
                    let held = std::mem::take(&mut part.held);
                    let mut known = KnownOnly::default();
                    let found = known.push(&self.scanner, &held, out);
                    self.add(found);
                    self.binary = true;
                    self.unread = true;
                    self.state = State::Binary(known);
                }
            }
        }
    }

    fn finish_into(&mut self, out: &mut Vec<u8>) {
        if matches!(self.state, State::Sniffing { .. }) {
            self.decide(true, out);
        }
        self.watch(&[], true);
        match std::mem::replace(&mut self.state, State::Done) {
            State::Text(mut stream) => {
                let found = stream.finish_into(out);
                self.add(found);
            }
            State::Transcoded {
                mut decoder,
                mut stream,
                mut encoder,
            } => {
                let mut text = Vec::new();
                decoder.finish(&mut text);
                let mut masked = Vec::new();
                stream.push_into(&text, &mut masked);
                let mut found = stream.take_findings();
                found.extend(stream.finish_into(&mut masked));
                encoder.push(&masked, out);
                encoder.finish(out);
                self.add(found);
            }
            State::Multipart(mut parts) => {
                parts.finish(&self.scanner, out);
                let report = parts.take_report();
                self.merge(report);
            }
            State::Encoded(part) => {
                let report = part.finish(&self.scanner, self.depth, self.base, out);
                self.merge(report);
            }
            State::Sniffing { held, .. } => out.extend_from_slice(&held),
            State::Binary(mut known) => {
                let found = known.finish(&self.scanner, out);
                self.add(found);
            }
            State::Done => {}
        }
    }

    /// A whole body at once: the same output as push then finish, scanning plain text
    /// in place without copying it first.
    fn whole_into(&mut self, body: &[u8], out: &mut Vec<u8>) {
        if let State::Sniffing { held, .. } = &self.state {
            if held.is_empty() {
                self.decide_on(body, true);
                if let State::Text(stream) = &mut self.state {
                    // Listed up to the same limit inside the stream: a finding-dense body
                    // is not first listed in full there.
                    stream.list_at_most(self.findings.room());
                    let found = stream.whole_into(body, out);
                    let unlisted = stream.take_unlisted();
                    self.add(found);
                    self.findings.absorb(unlisted);
                    self.state = State::Done;
                    return;
                }
                self.feed_decided(body, out);
                self.finish_into(out);
                return;
            }
        }
        self.push_into(body, out);
        self.finish_into(out);
    }

    /// Decides what the held bytes are, when they tell; then feeds them on.
    fn decide(&mut self, complete: bool, out: &mut Vec<u8>) {
        let held = match &mut self.state {
            State::Sniffing { held, .. } => std::mem::take(held),
            _ => return,
        };
        if !self.decide_on(&held, complete) {
            if let State::Sniffing { held: kept, .. } = &mut self.state {
                *kept = held;
            }
            return;
        }
        self.feed_decided(&held, out);
    }

    /// Keeps looking at the first bytes of text labelled text for binary ones (which
    /// only `masking.binary: block` cares about), as far as a whole-body sniff looks.
    fn watch(&mut self, chunk: &[u8], complete: bool) {
        let Some(window) = self.window.as_mut() else {
            return;
        };
        let room = sniff::WINDOW.saturating_sub(window.len());
        window.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let full = complete || window.len() >= sniff::WINDOW;
        if sniff::sniff(window, full, None) == Some(Sniffed::Binary) {
            self.binary = true;
            self.window = None;
        } else if full {
            self.window = None;
        }
    }

    /// Sets the state from what `sample` (the body's first bytes) shows; false when it
    /// does not tell yet. A label that says nothing about text waits for the whole
    /// sniffing window (or the end): binary evidence anywhere in it counts. Text
    /// labelled plain text waits for its first line, which fixes its shape.
    fn decide_on(&mut self, sample: &[u8], complete: bool) -> bool {
        let State::Sniffing { declared, hint, .. } = &self.state else {
            return true;
        };
        let (declared, hint) = (*declared, *hint);
        let Some(sniffed) = sniff::sniff(sample, complete, hint) else {
            return false;
        };
        let full = complete || sample.len() >= sniff::WINDOW;
        let ready = match (declared, sniffed) {
            (_, Sniffed::Binary) => true,
            (ContentKind::Binary, _) => full,
            (
                ContentKind::Text,
                Sniffed::Text {
                    encoding, shape, ..
                },
            ) => {
                full || matches!(shape, Shape::Json | Shape::Markup)
                    || (encoding == Encoding::Utf8 && sniff::first_line_complete(sample))
            }
            _ => true,
        };
        if !ready {
            return false;
        }
        if !full && sniffed != Sniffed::Binary {
            // Labelled text, decided early: binary bytes may still come in the window.
            // (The held bytes are fed next, and watched as they go.)
            self.window = Some(Vec::new());
        }
        self.state = match sniffed {
            Sniffed::Binary => {
                self.binary = true;
                if declared == ContentKind::Binary {
                    self.unread = true;
                    State::Binary(KnownOnly::default())
                } else {
                    // Labelled text: scanned anyway (and reported, for `block`).
                    State::Text(self.scanner.stream(declared))
                }
            }
            Sniffed::Text {
                encoding,
                bom: _,
                shape,
            } => {
                let kind = refine(declared, shape);
                if encoding == Encoding::Utf8 {
                    State::Text(self.scanner.stream(kind))
                } else {
                    State::Transcoded {
                        decoder: charset::Decoder::new(encoding),
                        stream: self.scanner.stream(kind),
                        encoder: charset::Encoder::new(encoding),
                    }
                }
            }
        };
        true
    }

    /// Feeds the first bytes once the state is decided. (A byte order mark of
    /// transcoded text goes through as U+FEFF and comes back as the same bytes.)
    fn feed_decided(&mut self, first: &[u8], out: &mut Vec<u8>) {
        self.push_into(first, out);
    }

    fn add(&mut self, findings: Vec<Finding>) {
        let base = self.base;
        self.findings.extend(findings.into_iter().map(|mut f| {
            f.offset += base;
            f
        }));
    }

    fn absorb_parts(&mut self) {
        if let State::Multipart(parts) = &mut self.state {
            let report = parts.take_report();
            self.merge(report);
        }
    }

    /// Findings (already offset) and flags of a part.
    fn merge(&mut self, report: Report) {
        self.findings.extend(report.findings);
        self.findings.absorb(report.unlisted);
        self.binary |= report.binary;
        self.unread |= report.unread;
    }
}

fn sniffing(declared: ContentKind, hint: Option<Encoding>) -> State {
    State::Sniffing {
        declared,
        hint,
        held: Vec::new(),
    }
}

/// The kind to mask text as: the label's, unless it only says "text" or nothing, in
/// which case the shape of the bytes decides (JSON rules for JSON, form rules for a form).
fn refine(declared: ContentKind, shape: Shape) -> ContentKind {
    match declared {
        ContentKind::Json | ContentKind::Ndjson | ContentKind::EventStream | ContentKind::Form => {
            declared
        }
        ContentKind::Text | ContentKind::Binary => match shape {
            Shape::Json => ContentKind::Json,
            Shape::Form => ContentKind::Form,
            Shape::Markup | Shape::Text => ContentKind::Text,
        },
    }
}

/// Findings and flags handed up from a part.
#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
    /// Findings past the listing limit.
    unlisted: UnlistedFindings,
    binary: bool,
    unread: bool,
}

impl Report {
    fn of(masker: &mut BodyMasker) -> Report {
        Report {
            findings: masker.take_findings(),
            unlisted: masker.take_unlisted(),
            binary: masker.binary,
            unread: masker.unread,
        }
    }

    fn add(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.unlisted.absorb(other.unlisted);
        self.binary |= other.binary;
        self.unread |= other.unread;
    }
}

/// A multipart body being masked.
struct Parts {
    splitter: multipart::Splitter,
    depth: usize,
    /// Bytes of the multipart body seen so far, and where it starts in the outermost body.
    seen: u64,
    base: u64,
    /// Masker of bytes outside the parts (preamble, epilogue, broken framing).
    outside: Option<Box<BodyMasker>>,
    /// Masker of the current part.
    part: Option<Box<BodyMasker>>,
    report: Report,
}

impl Parts {
    fn new(boundary: &str, depth: usize, base: u64) -> Parts {
        Parts {
            splitter: multipart::Splitter::new(boundary),
            depth,
            seen: 0,
            base,
            outside: None,
            part: None,
            report: Report::default(),
        }
    }

    fn take_report(&mut self) -> Report {
        std::mem::take(&mut self.report)
    }

    fn push(&mut self, scanner: &Scanner, chunk: &[u8], out: &mut Vec<u8>) {
        let mut pieces = Vec::new();
        self.splitter.push(chunk, &mut pieces);
        self.handle(scanner, pieces, out);
    }

    fn finish(&mut self, scanner: &Scanner, out: &mut Vec<u8>) {
        let mut pieces = Vec::new();
        self.splitter.finish(&mut pieces);
        self.handle(scanner, pieces, out);
        self.end_outside(out);
        if let Some(mut part) = self.part.take() {
            part.finish_into(out);
            self.report.add(Report::of(&mut part));
        }
    }

    fn handle(&mut self, scanner: &Scanner, pieces: Vec<Piece>, out: &mut Vec<u8>) {
        for piece in pieces {
            match piece {
                Piece::Outside(bytes) => {
                    let (depth, base) = (self.depth, self.base + self.seen);
                    let outside = self.outside.get_or_insert_with(|| {
                        Box::new(BodyMasker::with(
                            scanner.clone(),
                            &Declared::parse("text/plain"),
                            depth + 1,
                            base,
                            false,
                        ))
                    });
                    outside.push_into(&bytes, out);
                    self.report.add(Report::of(outside));
                    self.seen += bytes.len() as u64;
                }
                Piece::Framing(bytes) => {
                    self.end_outside(out);
                    out.extend_from_slice(&bytes);
                    self.seen += bytes.len() as u64;
                }
                Piece::Headers(block) => {
                    self.end_outside(out);
                    // Part headers can carry data too (file names, custom headers):
                    // scanned as text, which keeps their syntax.
                    let mut stream = scanner.stream(ContentKind::Text);
                    let found = stream.whole_into(&block, out);
                    let base = self.base + self.seen;
                    self.report.findings.extend(found.into_iter().map(|mut f| {
                        f.offset += base;
                        f
                    }));
                    self.seen += block.len() as u64;
                    self.part = Some(Box::new(self.part_masker(scanner, &block)));
                }
                Piece::Body(bytes) => {
                    let (depth, base) = (self.depth, self.base + self.seen);
                    let part = self.part.get_or_insert_with(|| {
                        Box::new(BodyMasker::with(
                            scanner.clone(),
                            &Declared::default(),
                            depth + 1,
                            base,
                            true,
                        ))
                    });
                    part.push_into(&bytes, out);
                    self.report.add(Report::of(part));
                    self.seen += bytes.len() as u64;
                }
                Piece::End => {
                    if let Some(mut part) = self.part.take() {
                        part.finish_into(out);
                        self.report.add(Report::of(&mut part));
                    }
                }
            }
        }
    }

    fn end_outside(&mut self, out: &mut Vec<u8>) {
        if let Some(mut outside) = self.outside.take() {
            outside.finish_into(out);
            self.report.add(Report::of(&mut outside));
        }
    }

    /// The masker for the body of a part with this header block.
    fn part_masker(&self, scanner: &Scanner, block: &[u8]) -> BodyMasker {
        let base = self.base + self.seen;
        let depth = self.depth + 1;
        let Ok(headers) = multipart::parse_headers(block) else {
            // Headers that do not parse: the part is read as text.
            return BodyMasker::with(
                scanner.clone(),
                &Declared::parse("text/plain"),
                depth,
                base,
                false,
            );
        };
        let declared = Declared::from_headers(&headers);
        match multipart::transfer_encoding(&headers) {
            Ok(Some(encoding)) if encoding == "base64" || encoding == "quoted-printable" => {
                let mut masker = BodyMasker::with(scanner.clone(), &declared, depth, base, true);
                masker.state = State::Encoded(Box::new(EncodedPart {
                    encoding,
                    declared,
                    held: Vec::new(),
                }));
                masker
            }
            Ok(_) => BodyMasker::with(scanner.clone(), &declared, depth, base, true),
            Err(_) => BodyMasker::with(
                scanner.clone(),
                &Declared::parse("text/plain"),
                depth,
                base,
                false,
            ),
        }
    }
}

/// A part in `base64` or `quoted-printable`, held until it ends.
struct EncodedPart {
    encoding: String,
    declared: Declared,
    held: Vec<u8>,
}

impl EncodedPart {
    /// Decodes, masks and, when anything was masked, encodes the part again.
    fn finish(self, scanner: &Scanner, depth: usize, base: u64, out: &mut Vec<u8>) -> Report {
        let decoded = multipart::decode_transfer(Some(&self.encoding), &self.held);
        let Ok(plain) = decoded else {
            // Not valid in its encoding: scanned as it is.
            let mut stream = scanner.stream(ContentKind::Text);
            let findings = stream.whole_into(&self.held, out);
            return Report {
                findings: offset(findings, base),
                ..Report::default()
            };
        };
        let mut inner = BodyMasker::with(scanner.clone(), &self.declared, depth, base, true);
        let mut masked = Vec::with_capacity(plain.len());
        inner.whole_into(&plain, &mut masked);
        let report = Report::of(&mut inner);
        if report.findings.is_empty() && report.unlisted.is_empty() {
            out.extend_from_slice(&self.held);
        } else {
            let wrap = self.held.contains(&b'\n');
            out.extend_from_slice(&multipart::encode_transfer(&self.encoding, &masked, wrap));
        }
        report
    }
}

fn offset(findings: Vec<Finding>, base: u64) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|mut f| {
            f.offset += base;
            f
        })
        .collect()
}

/// Binary bytes are not read for rules (their patterns would match noise and a
/// replacement would corrupt the format), but an exact secret Warden knows, such as the
/// credential it injected, is found in them in every spelling and overwritten with `*`
/// in place, so the body keeps its length and layout.
#[derive(Default)]
struct KnownOnly {
    /// The last bytes of the previous chunk: a known secret may start in them.
    carry: Vec<u8>,
}

impl KnownOnly {
    fn push(&mut self, scanner: &Scanner, chunk: &[u8], out: &mut Vec<u8>) -> Vec<Finding> {
        let keep = scanner.known.max_len().saturating_sub(1);
        if keep == 0 {
            out.extend_from_slice(chunk);
            return Vec::new();
        }
        let mut hay = std::mem::take(&mut self.carry);
        hay.extend_from_slice(chunk);
        let found = overwrite_known(scanner, &mut hay);
        // A secret starting before `emit` ends within `hay`: those bytes are final.
        let emit = hay.len().saturating_sub(keep);
        out.extend_from_slice(&hay[..emit]);
        self.carry = hay.split_off(emit);
        found
    }

    fn finish(&mut self, scanner: &Scanner, out: &mut Vec<u8>) -> Vec<Finding> {
        let mut hay = std::mem::take(&mut self.carry);
        let found = overwrite_known(scanner, &mut hay);
        out.extend_from_slice(&hay);
        found
    }
}

/// Overwrites every known secret in `hay` with `*`; returns what it found (offsets
/// within `hay`). Already overwritten bytes are not reported again.
fn overwrite_known(scanner: &Scanner, hay: &mut [u8]) -> Vec<Finding> {
    let mut cands = Vec::new();
    scanner.known.scan(hay, 0, &mut cands);
    let mut findings = Vec::new();
    for cand in cands {
        let Some(bytes) = hay.get_mut(cand.start..cand.end) else {
            continue;
        };
        if bytes.iter().all(|b| *b == b'*') {
            continue;
        }
        bytes.fill(b'*');
        findings.push(Finding {
            rule_id: scanner.engine.source_id(cand.source, &scanner.known),
            kind: scanner.engine.source_kind(cand.source),
            direction: scanner.direction,
            offset: cand.start as u64,
            len: (cand.end - cand.start) as u64,
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

    fn redactor() -> Redactor {
        Redactor::with_defaults().expect("default pack compiles")
    }

    /// Masks `body` whole and in chunks of every size up to 9 (and a few larger); all
    /// must agree. Returns the whole result.
    fn masked(redactor: &Redactor, body: &[u8], content_type: &str) -> RedactedBody {
        let declared = Declared::parse(content_type);
        let whole = redactor.redact_body(body, &declared, Direction::Response);
        for size in (1..10).chain([13, 64, 1000]) {
            let mut masker = redactor.body_masker(&declared, Direction::Response);
            let mut out = Vec::new();
            for chunk in body.chunks(size) {
                out.extend(masker.push(chunk));
            }
            out.extend(masker.finish());
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&whole.body),
                "{content_type} in {size}-byte chunks"
            );
            assert_eq!(masker.passed_unread(), whole.passed_unread, "{size}");
            assert_eq!(masker.saw_binary(), whole.binary, "{size}");
        }
        whole
    }

    #[test]
    fn text_under_a_binary_or_unknown_label_is_masked_with_rules_for_its_shape() {
        let r = redactor();
        let json = format!("{{\"password\": \"hunter2-correct-horse\", \"note\": \"{TOKEN}\"}}");
        for content_type in [
            "application/octet-stream",
            "image/png",
            "application/x-json",
            "",
            "text/plain",
        ] {
            let out = masked(&r, json.as_bytes(), content_type);
            let text = String::from_utf8(out.body).unwrap();
            assert!(!text.contains(TOKEN), "{content_type}: {text}");
            assert!(
                !text.contains("hunter2"),
                "{content_type}: JSON key rules: {text}"
            );
            assert!(!out.passed_unread && !out.binary, "{content_type}");
        }
        let form = format!("user=a&password=hunter2horse&t={TOKEN}");
        let out = masked(&r, form.as_bytes(), "application/octet-stream");
        let text = String::from_utf8(out.body).unwrap();
        assert!(
            !text.contains("hunter2horse") && !text.contains(TOKEN),
            "{text}"
        );
    }

    #[test]
    fn a_known_secret_in_binary_bytes_is_overwritten_in_place() {
        use base64::Engine as _;
        let r = redactor();
        let secret = "injected-Cred-0b7e4d19a2f6";
        r.set_known_secrets(&[crate::redact::KnownSecret::new("upstream", secret)])
            .expect("known secret");
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("u:{secret}"));
        let mut blob = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        blob.extend(secret.as_bytes());
        blob.extend(b"\0\x01\x02");
        blob.extend(b64.as_bytes());
        blob.extend(b"\0tail");
        for chunk in [1, 5, 13, blob.len()] {
            let mut masker = r.body_masker(
                &Declared::parse("application/octet-stream"),
                Direction::Response,
            );
            let mut out = Vec::new();
            for piece in blob.chunks(chunk) {
                out.extend(masker.push(piece));
            }
            out.extend(masker.finish());
            assert!(masker.passed_unread());
            assert_eq!(out.len(), blob.len(), "layout kept");
            let text = String::from_utf8_lossy(&out);
            assert!(!text.contains("0b7e4d19"), "{chunk}: {text}");
            assert!(!text.contains(&b64[4..20]), "{chunk}: {text}");
            assert!(text.ends_with("\0tail"), "{text}");
            assert_eq!(masker.take_findings().len(), 2, "{chunk}");
        }
    }

    #[test]
    fn only_real_binary_passes_unread() {
        let r = redactor();
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(TOKEN.as_bytes());
        let out = masked(&r, &png, "image/png");
        assert!(out.passed_unread && out.binary);
        assert_eq!(out.body, png);
        // Binary bytes labelled text are still scanned, and reported as binary.
        let mut nul = TOKEN.as_bytes().to_vec();
        nul.extend(b"\0\0");
        let out = masked(&r, &nul, "text/plain");
        assert!(out.binary && !out.passed_unread);
        assert!(!String::from_utf8_lossy(&out.body).contains(TOKEN));
    }

    #[test]
    fn utf16_text_is_masked_and_written_back_in_utf16() {
        let r = redactor();
        let text = format!("{{\"note\": \"deploy with {TOKEN}\"}}");
        for bom in [true, false] {
            let mut body: Vec<u8> = if bom { vec![0xff, 0xfe] } else { Vec::new() };
            body.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            let out = masked(&r, &body, "application/octet-stream");
            assert!(out.changed());
            assert_eq!(out.body.starts_with(&[0xff, 0xfe]), bom);
            let start = if bom { 2 } else { 0 };
            let units: Vec<u16> = out.body[start..]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let back = String::from_utf16(&units).unwrap();
            assert!(
                !back.contains(TOKEN) && back.contains("[REDACTED:"),
                "{back}"
            );
            serde_json::from_str::<serde_json::Value>(&back).expect("still JSON");
        }
    }

    fn form(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = b"preamble text\r\n".to_vec();
        for (headers, body) in parts {
            out.extend(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
            out.extend(*body);
            out.extend(b"\r\n");
        }
        out.extend(format!("--{boundary}--\r\nepilogue {TOKEN}").as_bytes());
        out
    }

    #[test]
    fn multipart_is_masked_part_by_part_with_its_framing_intact() {
        let r = redactor();
        let png: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0"
            .iter()
            .copied()
            .chain(0..=255u8)
            .collect();
        let json = format!("{{\"password\": \"hunter2-correct-horse\", \"n\": \"{TOKEN}\"}}");
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(format!("secret {TOKEN} end"))
        };
        let body = form(
            "XyZ",
            &[
                ("Content-Disposition: form-data; name=\"note\"", format!("use {TOKEN}").as_bytes()),
                ("Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json", json.as_bytes()),
                ("Content-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\nContent-Type: image/png", &png),
                ("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64", b64.as_bytes()),
                ("Content-Disposition: form-data; name=\"x\"; filename=\"" , b"unterminated quote in headers"),
            ],
        );
        let out = masked(&r, &body, "multipart/form-data; boundary=XyZ");
        let text = String::from_utf8_lossy(&out.body).into_owned();
        assert!(!text.contains(TOKEN), "{text}");
        assert!(
            !text.contains("hunter2"),
            "the JSON part gets JSON rules: {text}"
        );
        assert!(
            out.body.windows(png.len()).any(|w| w == png.as_slice()),
            "binary part changed"
        );
        assert!(out.passed_unread, "the PNG part passed unread");
        assert_eq!(text.matches("--XyZ").count(), 6);
        assert!(text.contains("--XyZ--\r\nepilogue "));
        // The base64 part was decoded, masked and encoded again.
        let parts = multipart::parse(&out.body, "XyZ").unwrap();
        let decoded = multipart::decode_transfer(Some("base64"), parts[3].body).unwrap();
        let decoded = String::from_utf8_lossy(&decoded);
        assert!(
            decoded.starts_with("secret [REDACTED:") && decoded.ends_with(" end"),
            "{decoded}"
        );
    }

    #[test]
    fn nested_and_broken_multipart_are_still_masked() {
        let r = redactor();
        let inner = form("in", &[("Content-Type: text/plain", TOKEN.as_bytes())]);
        let outer = form(
            "out",
            &[("Content-Type: multipart/mixed; boundary=in", &inner)],
        );
        let out = masked(&r, &outer, "multipart/mixed; boundary=out");
        assert!(!String::from_utf8_lossy(&out.body).contains(TOKEN));
        // No closing delimiter, no boundary parameter, a boundary that never occurs.
        let broken = format!("--b\r\n\r\ntoken {TOKEN} and no end");
        for content_type in [
            "multipart/form-data; boundary=b",
            "multipart/form-data",
            "multipart/mixed; boundary=zzz",
        ] {
            let out = masked(&r, broken.as_bytes(), content_type);
            assert!(
                !String::from_utf8_lossy(&out.body).contains(TOKEN),
                "{content_type}"
            );
        }
    }

    #[test]
    fn plain_json_is_masked_exactly_as_before() {
        let r = redactor();
        let json = format!("{{\"token\": \"{TOKEN}\", \"n\": 1}}");
        let new = r.redact_body(
            json.as_bytes(),
            &Declared::parse("application/json"),
            Direction::Request,
        );
        let old = r.redact(json.as_bytes(), ContentKind::Json, Direction::Request);
        assert_eq!(new.body, old.body);
        assert_eq!(new.findings, old.findings);
    }
}
