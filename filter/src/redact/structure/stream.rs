//! The pattern engine over a normalised reading of the body, output mapped back to raw
//! bytes.
//!
//! A normaliser ([`super::json`], [`super::form`]) turns raw bytes into the text the
//! engine scans (`n`) plus [`Piece`]s: the places where that text differs from the raw
//! bytes (a decoded escape, a value masked wholesale). Between pieces the two are the same
//! bytes. The loop below is [`crate::redact::RedactStream`]'s (detect, merge, commit only
//! spans far enough from the end, carry a bounded tail), except that what is emitted is
//! the raw bytes: a piece not covered by a span writes its own output (the raw escape, the
//! marker of a masked value), and a span never cuts a piece in two.

use std::collections::VecDeque;
use std::sync::Arc;

use super::super::engine::{merge, Cand, Deadline, Engine, Scratch, Span};
use super::super::known::KnownSet;
use super::super::{ContentKind, Direction, Finding, FindingKind};
use super::form::FormNormalizer;
use super::json::JsonNormalizer;
use super::payload::Nested;
use super::StructureOptions;

/// Minimum new data before a (re)scan (as in `RedactStream`).
const MIN_STEP: usize = 64 * 1024;

/// Raw bytes handed to the normaliser at a time by one-shot masking, so the normalised
/// text and its pieces never hold a whole large body.
const WHOLE_STEP: usize = 1 << 20;

/// What a piece writes when it is not inside a span.
#[derive(Debug, Clone)]
pub(crate) enum PieceOut {
    /// Up to 12 bytes (a raw escape sequence).
    Inline([u8; 12], u8),
    /// Anything longer (a marker).
    Bytes(Box<[u8]>),
}

impl PieceOut {
    pub(crate) fn inline(bytes: &[u8]) -> PieceOut {
        let mut a = [0u8; 12];
        let n = bytes.len().min(12);
        a[..n].copy_from_slice(&bytes[..n]);
        PieceOut::Inline(a, n as u8)
    }

    fn bytes(&self) -> &[u8] {
        match self {
            PieceOut::Inline(a, n) => &a[..usize::from(*n)],
            PieceOut::Bytes(b) => b,
        }
    }
}

/// A region where the normalised text differs from the raw bytes. Positions are
/// absolute (from the start of the body); pieces are created in order and never overlap.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub n_start: u64,
    pub n_end: u64,
    pub raw_start: u64,
    pub raw_end: u64,
    pub out: PieceOut,
    /// A value masked by the structure layer: its finding.
    pub finding: Option<(Arc<str>, FindingKind)>,
}

/// Where a normaliser writes: the normalised text (from absolute offset `base`) and its
/// pieces.
pub(crate) struct NText {
    pub n: Vec<u8>,
    pub base: u64,
    pub pieces: VecDeque<Piece>,
}

impl NText {
    pub(crate) fn new() -> NText {
        NText {
            n: Vec::new(),
            base: 0,
            pieces: VecDeque::new(),
        }
    }

    /// The absolute offset of the next normalised byte.
    pub(crate) fn pos(&self) -> u64 {
        self.base + self.n.len() as u64
    }

    /// Drops everything written (a probe's scratch output).
    pub(crate) fn discard(&mut self) {
        self.base = self.pos();
        self.n.clear();
        self.pieces.clear();
    }
}

enum Normalizer {
    Json(Box<JsonNormalizer>),
    Form(FormNormalizer),
}

impl Normalizer {
    fn push(&mut self, raw: &[u8], out: &mut NText) {
        match self {
            Normalizer::Json(j) => j.push(raw, out),
            Normalizer::Form(f) => f.push(raw, out),
        }
    }

    fn finish(&mut self, out: &mut NText) {
        match self {
            Normalizer::Json(j) => j.finish(out),
            Normalizer::Form(f) => f.finish(out),
        }
    }

    fn take_boundaries(&mut self) -> Vec<u64> {
        match self {
            Normalizer::Json(j) => j.take_boundaries(),
            Normalizer::Form(_) => Vec::new(),
        }
    }

    fn held(&self) -> usize {
        match self {
            Normalizer::Json(j) => j.held(),
            Normalizer::Form(_) => 0,
        }
    }
}

/// Chunked masking of JSON and forms through the structure layer. Same contract as
/// `RedactStream`: the concatenated output and the findings do not depend on the chunking.
pub(crate) struct StructStream {
    engine: Arc<Engine>,
    known: Arc<KnownSet>,
    content: ContentKind,
    direction: Direction,
    norm: Normalizer,
    text: NText,
    /// Index in `text.n` up to which output was emitted.
    emit: usize,
    /// The raw offset of normalised offset `anchor.0` (the end of the last piece passed).
    anchor: (u64, u64),
    findings: Vec<Finding>,
    tail: usize,
    ctx: usize,
    max_span: usize,
    cands: Vec<Cand>,
    spans: Vec<Span>,
    keys: Vec<u128>,
    scratch: Scratch,
}

impl StructStream {
    /// A structure stream for `content`, if the structure layer reads it.
    pub(crate) fn for_kind(
        engine: &Arc<Engine>,
        known: &Arc<KnownSet>,
        content: ContentKind,
        direction: Direction,
        options: &Arc<StructureOptions>,
        depth: u8,
    ) -> Option<StructStream> {
        if !options.decode {
            return None;
        }
        let scratch = Scratch::default();
        let norm = match content {
            ContentKind::Json => {
                let mut j = JsonNormalizer::new(Arc::clone(options), Arc::from(engine.hash_key()));
                j.decode_payloads(Nested {
                    engine: Arc::clone(engine),
                    known: Arc::clone(known),
                    direction,
                    opts: Arc::clone(options),
                    deadline: Arc::clone(&scratch.deadline),
                    depth,
                });
                Normalizer::Json(Box::new(j))
            }
            ContentKind::Form => Normalizer::Form(FormNormalizer::default()),
            _ => return None,
        };
        let l = engine.lmax().max(known.max_len() + 2);
        let max_span = 2 * l;
        Some(StructStream {
            engine: Arc::clone(engine),
            known: Arc::clone(known),
            content,
            direction,
            norm,
            text: NText::new(),
            emit: 0,
            anchor: (0, 0),
            findings: Vec::new(),
            tail: max_span + 4 * l,
            ctx: 2 * l + 128,
            max_span,
            cands: Vec::new(),
            spans: Vec::new(),
            keys: Vec::new(),
            scratch,
        })
    }

    pub(crate) fn buffered(&self) -> usize {
        self.text.n.len() + self.norm.held()
    }

    /// Masks secrets only, no PII (binary bytes).
    pub(crate) fn secrets_only(&mut self) {
        self.scratch.secrets_only = true;
    }

    /// Makes this stream (and the payloads it decodes) give up with the others that mask
    /// the same body.
    pub(crate) fn share_deadline(&mut self, deadline: Arc<Deadline>) {
        if let Normalizer::Json(j) = &mut self.norm {
            j.share_deadline(Arc::clone(&deadline));
        }
        self.scratch.deadline = deadline;
    }

    pub(crate) fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    pub(crate) fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.norm.push(chunk, &mut self.text);
        let boundaries = self.norm.take_boundaries();
        if !boundaries.is_empty() {
            // Each complete top-level document is masked and passed on now, on its own,
            // from a buffer holding just it. Why a copy per document: draining each from
            // the front of the held text moved all the rest once per document, quadratic
            // in the documents of a chunk (NDJSON, watch streams).
            let mut held = std::mem::take(&mut self.text.n);
            let held_base = self.text.base;
            let mut at = 0;
            for boundary in boundaries {
                let cut = (boundary - held_base) as usize;
                self.text.n.clear();
                self.text.n.extend_from_slice(&held[at..cut]);
                self.process(cut - at, true, out);
                self.text.base = boundary;
                self.emit = 0;
                at = cut;
            }
            held.drain(..at);
            self.text.n = held;
        }
        if self.text.n.len() - self.emit >= self.tail + MIN_STEP.max(self.tail) {
            let len = self.text.n.len();
            self.process(len, false, out);
            self.trim();
        }
    }

    pub(crate) fn finish_into(&mut self, out: &mut Vec<u8>) -> Vec<Finding> {
        self.norm.finish(&mut self.text);
        let len = self.text.n.len();
        self.process(len, true, out);
        self.text.base = self.text.pos();
        self.text.n.clear();
        self.text.pieces.clear();
        self.emit = 0;
        std::mem::take(&mut self.findings)
    }

    pub(crate) fn whole_into(&mut self, body: &[u8], out: &mut Vec<u8>) -> Vec<Finding> {
        let fresh = self.text.pos() == 0 && self.text.pieces.is_empty();
        if let (true, Normalizer::Json(j)) = (fresh, &self.norm) {
            if let Some(ends) = j.plain_document_ends(body) {
                return self.whole_plain(body, &ends, out);
            }
        }
        for step in body.chunks(WHOLE_STEP) {
            if self.scratch.deadline.passed() {
                break;
            }
            self.push_into(step, out);
        }
        self.finish_into(out)
    }

    /// [`Self::whole_into`] for a body the normaliser would read as it is (see
    /// [`JsonNormalizer::plain_document_ends`]): the engine scans the body itself, document
    /// by document as pushing would (each complete document on its own, to its end), a
    /// step at a time so what is held at once is bounded by the step. Output and findings
    /// are those of reading it for real.
    fn whole_plain(&mut self, body: &[u8], ends: &[usize], out: &mut Vec<u8>) -> Vec<Finding> {
        let step = WHOLE_STEP.max(2 * self.tail);
        let mut start = 0;
        for &end in ends.iter().chain(std::iter::once(&body.len())) {
            let doc = &body[start..end];
            let mut emit = 0;
            let mut upto = doc.len().min(step);
            while upto < doc.len() {
                emit = self.process_plain(doc, start as u64, emit, upto, false, out);
                if self.scratch.deadline.passed() {
                    return std::mem::take(&mut self.findings);
                }
                upto = doc.len().min(emit.saturating_add(step));
            }
            self.process_plain(doc, start as u64, emit, doc.len(), true, out);
            if self.scratch.deadline.passed() {
                return std::mem::take(&mut self.findings);
            }
            start = end;
        }
        std::mem::take(&mut self.findings)
    }

    /// [`Self::process`] over `doc[..end]` (a document that starts at raw offset `base`,
    /// read as it is: no pieces), output from `from`; returns how far output was written.
    fn process_plain(
        &mut self,
        doc: &[u8],
        base: u64,
        from: usize,
        end: usize,
        eof: bool,
        out: &mut Vec<u8>,
    ) -> usize {
        let limit = if eof {
            end
        } else {
            end.saturating_sub(self.tail)
        };
        if limit <= from && !eof {
            return from;
        }
        self.cands.clear();
        self.spans.clear();
        self.engine.detect(
            &doc[..end],
            from,
            eof,
            self.content,
            &self.known,
            &mut self.scratch,
            &mut self.cands,
        );
        if self.scratch.deadline.passed() {
            return from;
        }
        merge(
            &mut self.cands,
            from,
            self.max_span,
            &mut self.keys,
            &mut self.spans,
        );
        let mut pos = from;
        for span in &self.spans {
            if span.start >= limit {
                break;
            }
            let start = span.start.max(pos);
            let stop = span.end.max(start);
            if stop <= start {
                continue;
            }
            out.extend_from_slice(&doc[pos..start]);
            let mut shown = *span;
            if shown.primary.start == span.start && shown.primary.end == span.end {
                shown.primary.start = start;
                shown.primary.end = stop;
            }
            shown.start = start;
            shown.end = stop;
            self.engine
                .render(&shown, &doc[start..stop], &self.known, out);
            self.findings.push(Finding {
                rule_id: self.engine.source_id(span.primary.source, &self.known),
                kind: self.engine.source_kind(span.primary.source),
                direction: self.direction,
                offset: base + start as u64,
                len: (stop - start) as u64,
            });
            pos = stop;
        }
        let emit_to = limit.max(pos);
        out.extend_from_slice(&doc[pos..emit_to]);
        emit_to
    }

    /// Drops normalised text older than the context the engine needs.
    fn trim(&mut self) {
        let keep_from = self.emit.saturating_sub(self.ctx);
        if keep_from > 0 {
            self.text.n.drain(..keep_from);
            self.text.base += keep_from as u64;
            self.emit -= keep_from;
        }
    }

    /// `at` moved back to the start of a piece that contains it (never cuts one).
    fn not_inside_piece(&self, at: usize) -> usize {
        match self.containing(at) {
            Some(p) => (p.n_start - self.text.base) as usize,
            None => at,
        }
    }

    /// The piece of non-zero length that `at` is strictly inside of, if any.
    fn containing(&self, at: usize) -> Option<&Piece> {
        let abs = self.text.base + at as u64;
        // Pieces are in order and disjoint, so their ends are sorted too.
        let i = self.text.pieces.partition_point(|p| p.n_end <= abs);
        self.text.pieces.get(i).filter(|p| p.n_start < abs)
    }

    /// `at` moved forward to the end of a piece that contains it.
    fn not_inside_piece_end(&self, at: usize) -> usize {
        match self.containing(at) {
            Some(p) => (p.n_end - self.text.base) as usize,
            None => at,
        }
    }

    fn raw_of(&self, at: usize) -> u64 {
        let abs = self.text.base + at as u64;
        self.anchor.1 + (abs - self.anchor.0)
    }

    /// Writes the output of `n[from..to]` where no span is: normalised bytes between
    /// pieces, each piece's own output (pieces of zero length at `to` stay).
    fn emit_plain(&mut self, from: usize, to: usize, out: &mut Vec<u8>) {
        let base = self.text.base;
        let to_abs = base + to as u64;
        let mut at = from;
        while let Some(p) = self.text.pieces.front() {
            if p.n_start >= to_abs {
                break;
            }
            let ps = (p.n_start - base) as usize;
            out.extend_from_slice(&self.text.n[at..ps]);
            out.extend_from_slice(p.out.bytes());
            at = (p.n_end - base) as usize;
            self.anchor = (p.n_end, p.raw_end);
            if let Some(p) = self.text.pieces.pop_front() {
                self.piece_finding(&p);
            }
        }
        out.extend_from_slice(&self.text.n[at..to]);
    }

    /// Pieces inside a span `[.., to)` are replaced by it; their findings stay.
    fn swallow(&mut self, to: usize) {
        let to_abs = self.text.base + to as u64;
        while let Some(p) = self.text.pieces.front() {
            if p.n_start >= to_abs {
                break;
            }
            self.anchor = (p.n_end, p.raw_end);
            if let Some(p) = self.text.pieces.pop_front() {
                self.piece_finding(&p);
            }
        }
    }

    fn piece_finding(&mut self, p: &Piece) {
        if let Some((id, kind)) = &p.finding {
            self.findings.push(Finding {
                rule_id: Arc::clone(id),
                kind: *kind,
                direction: self.direction,
                offset: p.raw_start,
                len: p.raw_end - p.raw_start,
            });
        }
    }

    fn process(&mut self, end: usize, eof: bool, out: &mut Vec<u8>) {
        let from = self.emit;
        let limit = if eof {
            end
        } else {
            self.not_inside_piece(end.saturating_sub(self.tail))
        };
        if limit <= from && !eof {
            return;
        }
        self.cands.clear();
        self.spans.clear();
        let hay = std::mem::take(&mut self.text.n);
        self.engine.detect(
            &hay[..end],
            from,
            eof,
            self.content,
            &self.known,
            &mut self.scratch,
            &mut self.cands,
        );
        if self.scratch.deadline.passed() {
            self.text.n = hay;
            return;
        }
        merge(
            &mut self.cands,
            from,
            self.max_span,
            &mut self.keys,
            &mut self.spans,
        );
        self.text.n = hay;
        let mut pos = from;
        let spans = std::mem::take(&mut self.spans);
        for span in &spans {
            if span.start >= limit {
                break;
            }
            let start = self.not_inside_piece(span.start).max(pos);
            let stop = self.not_inside_piece_end(span.end).max(start);
            if stop <= start {
                continue;
            }
            self.emit_plain(pos, start, out);
            let raw_start = self.raw_of(start);
            let mut shown = *span;
            if shown.primary.start == span.start && shown.primary.end == span.end {
                shown.primary.start = start;
                shown.primary.end = stop;
            }
            shown.start = start;
            shown.end = stop;
            self.engine
                .render(&shown, &self.text.n[start..stop], &self.known, out);
            let finding_at = self.findings.len();
            self.swallow(stop);
            let raw_end = self.raw_of(stop);
            self.findings.insert(
                finding_at,
                Finding {
                    rule_id: self.engine.source_id(span.primary.source, &self.known),
                    kind: self.engine.source_kind(span.primary.source),
                    direction: self.direction,
                    offset: raw_start,
                    len: raw_end - raw_start,
                },
            );
            pos = stop;
        }
        self.spans = spans;
        let emit_to = limit.max(pos);
        self.emit_plain(pos, emit_to, out);
        if eof {
            // Zero-length pieces at the very end (a value masked up to the last byte).
            let end_abs = self.text.base + end as u64;
            while let Some(p) = self.text.pieces.front() {
                if p.n_start > end_abs {
                    break;
                }
                let Some(p) = self.text.pieces.pop_front() else {
                    break;
                };
                out.extend_from_slice(p.out.bytes());
                self.anchor = (p.n_end, p.raw_end);
                self.piece_finding(&p);
            }
        }
        self.emit = emit_to;
    }
}
