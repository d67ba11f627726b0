//! Chunked masking with a bounded carry.
//!
//! The stream keeps the bytes it has not emitted yet plus some already-emitted left context.
//! Each processing step detects candidates over that buffer, commits only the spans that start
//! more than `tail` bytes before the buffer end (their decision cannot change with more
//! data), emits up to there, and carries the rest. `tail` and the context size derive from the
//! engine's largest anchor window, so memory per stream is bounded whatever the body size.
//!
//! NDJSON lines and SSE events are independent documents: the stream cuts at their
//! boundaries and flushes each one as soon as it is complete (low latency for token streams),
//! and the one-shot path cuts at exactly the same places.

use std::sync::Arc;

use super::engine::{merge, Cand, Deadline, Engine, Scratch, Span};
use super::known::KnownSet;
use super::structure::{StructStream, StructureOptions};
use super::{ContentKind, Direction, Finding, FindingLog, UnlistedFindings};

/// Minimum new data before a (re)scan, so the carried tail is not rescanned per tiny chunk.
const MIN_STEP: usize = 64 * 1024;

/// Bytes a whole body is detected in per step ([`RedactStream::whole_into`]): the working
/// memory per step is proportional to it, and each step rescans the carried tail (tens of
/// KB), a few percent of a step this size.
const WHOLE_STEP: usize = 1 << 20;

/// Spans one step of a whole body aims at ([`RedactStream::whole_into`]): about 3 MiB of
/// candidates, spans and sort keys.
const DENSE_STEP_SPANS: usize = 16 * 1024;

/// When masking makes the output longer than the input (markers longer than the values:
/// `[REDACTED:pii-email]` for `a@b.co`), reserves room for the rest of the body at the
/// rate seen so far, once, instead of letting the buffer double: each doubling copies it,
/// and the allocator may keep the old buffer resident for a while.
fn reserve_at_rate(out: &mut Vec<u8>, out_start: usize, read: usize, body_len: usize) {
    let written = out.len() - out_start;
    if read == 0 || written <= read {
        return;
    }
    let rest = body_len - read;
    let need = (rest as u128 * written as u128 / read as u128) as usize + rest / 16 + 64;
    if out.capacity() - out.len() < need {
        out.reserve_exact(need);
    }
}

/// What [`RedactStream::finish`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// The last masked bytes (the carried tail).
    pub tail: Vec<u8>,
    /// Findings not yet taken with [`RedactStream::take_findings`].
    pub findings: Vec<Finding>,
}

/// Masks one body chunk by chunk. Create with [`super::Redactor::stream`].
///
/// Concatenating every `push` output and the `finish` tail gives exactly
/// [`super::Redactor::redact`]'s body, and the findings are the same, whatever the chunking.
pub struct RedactStream {
    engine: Arc<Engine>,
    known: Arc<KnownSet>,
    content: ContentKind,
    direction: Direction,
    /// Bytes from `base` on: already-emitted context, then pending bytes from `emit`.
    buf: Vec<u8>,
    base: u64,
    emit: usize,
    /// Where to resume looking for a segment boundary (NDJSON/SSE).
    seg_scan: usize,
    /// Findings committed and not yet taken (listed up to a limit, then counted).
    findings: FindingLog,
    tail: usize,
    ctx: usize,
    max_span: usize,
    cands: Vec<Cand>,
    spans: Vec<Span>,
    /// Sort keys for [`merge`], reused.
    keys: Vec<u128>,
    scratch: Scratch,
    /// [`WHOLE_STEP`], or another step in tests (`usize::MAX`: one step, the reference).
    pub(crate) whole_step: usize,
    /// JSON and forms are read through the structure layer, which runs the same engine
    /// over their decoded text (see [`super::structure`]).
    structured: Option<Box<StructStream>>,
    /// Output equal to the input is not written (see [`Self::whole_changed`]): the body
    /// from 0 to `emit` is still to be copied, should a span come.
    unwritten: bool,
}

impl std::fmt::Debug for RedactStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactStream")
            .field("content", &self.content)
            .field("direction", &self.direction)
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl RedactStream {
    pub(crate) fn new(
        engine: Arc<Engine>,
        known: Arc<KnownSet>,
        content: ContentKind,
        direction: Direction,
        structure: &Arc<StructureOptions>,
    ) -> Self {
        Self::nested(engine, known, content, direction, structure, 0)
    }

    /// [`Self::new`] for a payload decoded out of a body, `depth` payloads deep (see
    /// `structure::payload`).
    pub(crate) fn nested(
        engine: Arc<Engine>,
        known: Arc<KnownSet>,
        content: ContentKind,
        direction: Direction,
        structure: &Arc<StructureOptions>,
        depth: u8,
    ) -> Self {
        let structured =
            StructStream::for_kind(&engine, &known, content, direction, structure, depth)
                .map(Box::new);
        let l = engine.lmax().max(known.max_len() + 2);
        let max_span = 2 * l;
        Self {
            engine,
            known,
            content,
            direction,
            buf: Vec::new(),
            base: 0,
            emit: 0,
            seg_scan: 0,
            findings: FindingLog::default(),
            // A committed span must have every candidate that could overlap it decided:
            // span length (<= max_span + l) plus one anchor window on each side.
            tail: max_span + 4 * l,
            ctx: 2 * l + 128,
            max_span,
            cands: Vec::new(),
            spans: Vec::new(),
            keys: Vec::new(),
            scratch: Scratch::default(),
            whole_step: WHOLE_STEP,
            structured,
            unwritten: false,
        }
    }

    /// Whether this stream scans at all ([`ContentKind::Binary`] passes through unread).
    pub fn scanned(&self) -> bool {
        self.content != ContentKind::Binary
    }

    /// Bytes currently held (carried tail plus context): bounded by the rule pack, not the body.
    pub fn buffered(&self) -> usize {
        match &self.structured {
            Some(s) => s.buffered(),
            None => self.buf.len(),
        }
    }

    /// Sets when masking must give up: after it, [`Self::deadline_passed`] turns true
    /// and nothing more is emitted. `None`: no limit.
    pub fn set_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.scratch.deadline.set(deadline);
        if let Some(s) = &mut self.structured {
            s.share_deadline(Arc::clone(&self.scratch.deadline));
        }
    }

    /// Masks secrets only, no PII: for bytes that are binary (see [`Scratch::secrets_only`]).
    pub(crate) fn secrets_only(&mut self) {
        self.scratch.secrets_only = true;
        if let Some(s) = &mut self.structured {
            s.secrets_only();
        }
    }

    /// Makes this stream give up with the others that mask the same body.
    pub(crate) fn share_deadline(&mut self, deadline: Arc<Deadline>) {
        if let Some(s) = &mut self.structured {
            s.share_deadline(Arc::clone(&deadline));
        }
        self.scratch.deadline = deadline;
    }

    /// True once masking gave up at its deadline ([`Self::set_deadline`]). The output of
    /// the call that gave up, and of every later one, is incomplete: the caller must not
    /// pass it on.
    pub fn deadline_passed(&self) -> bool {
        self.scratch.deadline.passed()
    }

    /// Lists at most `max_listed` findings in all ([`Self::take_findings`]); later ones
    /// are counted per rule ([`Self::take_unlisted`]) so a finding-dense body does not
    /// hold one [`Finding`] per masked region.
    pub fn list_at_most(&mut self, max_listed: usize) {
        self.findings.set_limit(max_listed);
    }

    /// Findings past the listing limit ([`Self::list_at_most`]) since the last call.
    pub fn take_unlisted(&mut self) -> UnlistedFindings {
        self.findings.take_unlisted()
    }

    /// Feeds the next chunk; returns the masked bytes that are now safe to emit (possibly
    /// none).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.push_into(chunk, &mut out);
        out
    }

    /// [`Self::push`], appending to `out`.
    pub(crate) fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if let Some(s) = &mut self.structured {
            return s.push_into(chunk, out);
        }
        if !self.scanned() {
            out.extend_from_slice(chunk);
            return;
        }
        if self.buf.is_empty()
            && self.emit == 0
            && !matches!(self.content, ContentKind::Ndjson | ContentKind::EventStream)
            && chunk.len() >= self.tail + MIN_STEP.max(self.tail)
        {
            // Nothing carried yet (typically a whole body in one push): scan the caller's
            // bytes in place and keep only what the slow path would have kept after `trim`,
            // instead of first copying the whole chunk into the carry buffer.
            self.process(chunk, chunk.len(), false, out);
            let keep_from = self.emit.saturating_sub(self.ctx);
            self.buf.extend_from_slice(&chunk[keep_from..]);
            self.base += keep_from as u64;
            self.emit -= keep_from;
            return;
        }
        self.buf.extend_from_slice(chunk);
        if matches!(self.content, ContentKind::Ndjson | ContentKind::EventStream) {
            while let Some(cut) = self.next_boundary() {
                self.process_buf(cut, true, out);
                self.reset_segment(cut);
            }
        }
        if self.buf.len() - self.emit >= self.tail + MIN_STEP.max(self.tail) {
            let len = self.buf.len();
            self.process_buf(len, false, out);
            self.trim();
        }
    }

    /// A whole body in one call (what [`super::Redactor::redact`] runs): the same as
    /// [`Self::push_into`] then [`Self::finish_into`], whose output does not depend on how the
    /// body is cut.
    ///
    /// Why not push then finish: a fresh stream given a whole non-segmented body can scan it
    /// once, as the last step (`eof`). Pushing scans it all but the carried tail, then
    /// `finish` scans the tail and its left context again (eight anchor
    /// windows, tens of KB with the default pack) after copying them into the carry buffer.
    pub(crate) fn whole_into(&mut self, body: &[u8], out: &mut Vec<u8>) -> Vec<Finding> {
        if let Some(s) = &mut self.structured {
            let found = s.whole_into(body, out);
            self.findings.extend(found);
            return self.findings.take();
        }
        if self.scanned()
            && self.buf.is_empty()
            && self.emit == 0
            && self.base == 0
            && !matches!(self.content, ContentKind::Ndjson | ContentKind::EventStream)
        {
            // Long bodies are detected a step at a time, each step over a prefix of the
            // body (as pushing the steps would, minus the copies): the candidates and
            // spans held at once are bounded by the step, not by the body (8 MiB of
            // `a@b.co ` held 1.2 M of each, over 300 MiB). Short bodies take one step.
            //
            // Where findings are dense the steps get shorter (down to two carried tails),
            // so the candidates, spans and sort keys of one step stay near
            // `DENSE_STEP_SPANS` whatever the density: 1 MiB of `a@b.co ` is 150 k of
            // each, ~25 MiB with their vectors' growth. The output is the same for any
            // steps (`whole_body_in_steps_equals_one_step`).
            let max_step = self.whole_step.max(2 * self.tail);
            let min_step = (2 * self.tail).min(max_step);
            // A first step shorter than the longest tells the density before the vectors
            // grow (a step longer than `WHOLE_STEP`, as tests ask for, is taken as asked).
            let mut step = if max_step > WHOLE_STEP {
                max_step
            } else {
                max_step.min(WHOLE_STEP / 4).max(min_step)
            };
            let out_start = out.len();
            let mut end = body.len().min(self.emit.saturating_add(step));
            while end < body.len() && body.len() - end > self.tail + step / 2 {
                let from = self.emit;
                self.process(body, end, false, out);
                if self.scratch.deadline.passed() {
                    return self.findings.take();
                }
                let spans = self.spans.len().max(1);
                let done = (self.emit - from).max(1);
                step = (done.saturating_mul(DENSE_STEP_SPANS) / spans).clamp(min_step, max_step);
                if spans > DENSE_STEP_SPANS {
                    // Shorter steps from here on: give back what this one grew.
                    self.cands.shrink_to(DENSE_STEP_SPANS * 2);
                    self.spans.shrink_to(DENSE_STEP_SPANS * 2);
                    self.keys.shrink_to(DENSE_STEP_SPANS * 2);
                }
                reserve_at_rate(out, out_start, self.emit, body.len());
                end = body.len().min(self.emit.saturating_add(step));
            }
            self.process(body, body.len(), true, out);
            return self.findings.take();
        }
        self.push_into(body, out);
        self.finish_into(out)
    }

    /// Masks a whole body as [`Self::whole_into`] does; `None` when that leaves it as it
    /// is.
    ///
    /// Why not `whole_into` and a compare: a decoded payload of megabytes is mostly clean,
    /// and its unchanged copy was one more payload-sized buffer in memory (and a copy and
    /// a compare). Read as text in one go, the body itself is what the engine scans: clean
    /// output is not written until a span comes, then written from the start.
    pub(crate) fn whole_changed(&mut self, body: &[u8]) -> Option<(Vec<u8>, Vec<Finding>)> {
        let mut out = Vec::new();
        let in_one_go = self.structured.is_none()
            && self.scanned()
            && self.buf.is_empty()
            && self.emit == 0
            && self.base == 0
            && !matches!(self.content, ContentKind::Ndjson | ContentKind::EventStream);
        if !in_one_go {
            let findings = self.whole_into(body, &mut out);
            return (out != body).then_some((out, findings));
        }
        self.unwritten = true;
        let findings = self.whole_into(body, &mut out);
        let unwritten = std::mem::replace(&mut self.unwritten, false);
        (!unwritten).then_some((out, findings))
    }

    /// Findings committed so far (each is reported once).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        if let Some(s) = &mut self.structured {
            let found = s.take_findings();
            self.findings.extend(found);
        }
        self.findings.take()
    }

    /// Ends the body: masks and returns the carried tail and the remaining findings.
    pub fn finish(mut self) -> StreamEnd {
        let mut out = Vec::new();
        let findings = self.finish_into(&mut out);
        StreamEnd {
            tail: out,
            findings,
        }
    }

    /// [`Self::finish`], appending the tail to `out`; returns the remaining findings.
    pub(crate) fn finish_into(&mut self, out: &mut Vec<u8>) -> Vec<Finding> {
        if let Some(s) = &mut self.structured {
            let found = s.finish_into(out);
            self.findings.extend(found);
            return self.findings.take();
        }
        if self.scanned() {
            let len = self.buf.len();
            self.process_buf(len, true, out);
            self.buf.clear();
            self.emit = 0;
        }
        self.findings.take()
    }

    /// The end (exclusive) of the next complete NDJSON line / SSE event in the buffer.
    fn next_boundary(&mut self) -> Option<usize> {
        let hay = &self.buf;
        let mut i = self.seg_scan.max(self.emit);
        while let Some(p) = memchr::memchr(b'\n', &hay[i..]) {
            let nl = i + p;
            let end = nl + 1;
            let is_boundary = match self.content {
                ContentKind::Ndjson => true,
                // An event ends at an empty line: `\n\n` or `\n\r\n`.
                _ => {
                    (nl >= 1 && hay[nl - 1] == b'\n')
                        || (nl >= 2 && hay[nl - 1] == b'\r' && hay[nl - 2] == b'\n')
                }
            };
            if is_boundary && nl >= self.emit {
                self.seg_scan = end;
                return Some(end);
            }
            i = end;
        }
        self.seg_scan = hay.len();
        None
    }

    /// After a segment ended at `cut`: everything up to it is emitted; the next segment
    /// starts a fresh haystack (no left context across documents).
    fn reset_segment(&mut self, cut: usize) {
        self.buf.drain(..cut);
        self.base += cut as u64;
        self.emit = 0;
        self.seg_scan = 0;
    }

    /// Drops context older than needed.
    fn trim(&mut self) {
        let keep_from = self.emit.saturating_sub(self.ctx);
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.emit -= keep_from;
            self.seg_scan = self.seg_scan.saturating_sub(keep_from);
        }
    }

    /// Detects over `buf[..end]` and emits from `emit` to the commit point (`end` when
    /// `eof`, else `end - tail` or the end of the last committed span).
    fn process_buf(&mut self, end: usize, eof: bool, out: &mut Vec<u8>) {
        // Moved out and back so `process` can borrow the bytes while updating the rest.
        let buf = std::mem::take(&mut self.buf);
        self.process(&buf, end, eof, out);
        self.buf = buf;
    }

    /// [`Self::process_buf`] over `hay`, which is either the carry buffer or, when nothing
    /// is carried, the caller's chunk itself.
    fn process(&mut self, hay: &[u8], end: usize, eof: bool, out: &mut Vec<u8>) {
        let hay = &hay[..end];
        let from = self.emit;
        let limit = if eof {
            end
        } else {
            end.saturating_sub(self.tail)
        };
        if limit <= from && !eof {
            return;
        }
        self.cands.clear();
        self.spans.clear();
        self.engine.detect(
            hay,
            from,
            eof,
            self.content,
            &self.known,
            &mut self.scratch,
            &mut self.cands,
        );
        if self.scratch.deadline.passed() {
            return;
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
            if self.unwritten {
                // The first span: what was read so far comes out as it was. (Set only
                // where `hay` is the whole body, from its start.)
                self.unwritten = false;
                out.reserve(hay.len() + 64);
                out.extend_from_slice(&hay[..pos]);
            }
            out.extend_from_slice(&hay[pos..span.start]);
            self.engine
                .render(span, &hay[span.start..span.end], &self.known, out);
            pos = span.end;
            self.findings.push(Finding {
                rule_id: self.engine.source_id(span.primary.source, &self.known),
                kind: self.engine.source_kind(span.primary.source),
                direction: self.direction,
                offset: self.base + span.start as u64,
                len: (span.end - span.start) as u64,
            });
        }
        let emit_to = limit.max(pos);
        if !self.unwritten {
            out.extend_from_slice(&hay[pos..emit_to]);
        }
        self.emit = emit_to;
    }
}
