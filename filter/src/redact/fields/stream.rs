//! Field masking of a body as it streams.
//!
//! A flagged field can only be found in a whole document, so each document is held
//! until it is complete and then masked ([`super::mask_document`]) and let go:
//!
//! - JSON, NDJSON, JSON text sequences and concatenated JSON: every top-level value is
//!   a document (whitespace and RS between them pass as they come);
//! - `text/event-stream`: every event; its `data:` lines, joined, are the document;
//! - forms: every `name=value` pair (key and column rules);
//! - anything else (HTML, plain text, binary) has no fields and passes.
//!
//! One document may hold at most the limit it is built with (the buffered-body
//! limit): a larger one is an error, and the body must be refused — a flagged field in
//! it could not be found. Chunk by chunk or whole, the output is the same: a document
//! is masked only once it is complete.

use std::sync::Arc;

use super::{mask_document, placeholder_text, FieldSet, Masking, StreamColumns};
use crate::redact::{ContentKind, Direction, Finding, FindingKind};

/// Why a body could not be field-masked; it must not be passed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// One document is larger than Warden holds.
    #[error("one JSON document, event or form field is larger than the {limit} bytes Warden holds while it masks the fields policy flags")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is labelled or shaped as JSON but is not valid JSON.
    #[error("it is not valid JSON ({0})")]
    Malformed(String),
    /// Text in an encoding fields are not read in.
    #[error("it is UTF-16 or UTF-32 text, in which Warden does not read fields")]
    Unreadable,
}

#[derive(Debug)]
enum Mode {
    /// Waiting for the first bytes that tell what the body is.
    Sniff {
        json_declared: bool,
    },
    Json(JsonScan),
    Sse(SseScan),
    Form(FormScan),
    Pass,
}

#[derive(Debug, Default)]
struct JsonScan {
    pos: usize,
    in_value: bool,
    start: usize,
    depth: usize,
    in_string: bool,
    escape: bool,
    scalar: bool,
}

#[derive(Debug, Default)]
struct SseScan {
    pos: usize,
    line_start: usize,
}

#[derive(Debug, Default)]
struct FormScan {
    pos: usize,
}

/// Masks flagged fields of one body, chunk by chunk or whole.
pub struct FieldMasker {
    set: Arc<FieldSet>,
    direction: Direction,
    hash_key: Vec<u8>,
    limit: usize,
    mode: Mode,
    /// Bytes not yet let go (the document in progress).
    held: Vec<u8>,
    /// Where `held` starts in the body.
    base: u64,
    findings: Vec<Finding>,
    columns: StreamColumns,
    failed: Option<FieldError>,
}

impl std::fmt::Debug for FieldMasker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldMasker")
            .field("rules", &self.set.rules().len())
            .field("mode", &self.mode)
            .field("held", &self.held.len())
            .finish()
    }
}

impl FieldMasker {
    /// A masker for a body of `kind` (what its label says; the bytes decide when it
    /// says little), holding at most `limit` bytes of one document. `hash_key` keys the
    /// `hash` strategy (the masking engine's, so pseudonyms agree).
    pub fn new(
        set: Arc<FieldSet>,
        kind: ContentKind,
        direction: Direction,
        hash_key: &[u8],
        limit: usize,
    ) -> FieldMasker {
        let mode = match kind {
            ContentKind::EventStream => Mode::Sse(SseScan::default()),
            ContentKind::Form => Mode::Form(FormScan::default()),
            ContentKind::Json | ContentKind::Ndjson => Mode::Sniff {
                json_declared: true,
            },
            ContentKind::Text | ContentKind::Binary => Mode::Sniff {
                json_declared: false,
            },
        };
        FieldMasker {
            set,
            direction,
            hash_key: hash_key.to_vec(),
            limit,
            mode,
            held: Vec::new(),
            base: 0,
            findings: Vec::new(),
            columns: StreamColumns::default(),
            failed: None,
        }
    }

    /// Masks a whole body at once (the same output as [`Self::push`] then
    /// [`Self::finish`]).
    pub fn whole(mut self, body: &[u8]) -> Result<(Vec<u8>, Vec<Finding>), FieldError> {
        let mut out = Vec::with_capacity(body.len());
        self.push(body, &mut out)?;
        self.finish(&mut out)?;
        Ok((out, self.findings))
    }

    /// Findings so far (each reported once).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Feeds the next chunk; appends what can be let go to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), FieldError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.held.extend_from_slice(chunk);
        let result = self.run(false, out);
        self.fail_on(result)
    }

    /// Ends the body; appends the rest to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), FieldError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.run(true, out);
        let result = self.fail_on(result);
        if result.is_ok() {
            out.append(&mut self.held);
        }
        result
    }

    fn fail_on(&mut self, result: Result<(), FieldError>) -> Result<(), FieldError> {
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.held = Vec::new();
        }
        result
    }

    /// Works through the held bytes; lets go of what is done.
    fn run(&mut self, end: bool, out: &mut Vec<u8>) -> Result<(), FieldError> {
        if let Mode::Sniff { json_declared } = self.mode {
            let Some((prefix, mode)) = sniff(&self.held, end, json_declared)? else {
                return self.check_limit();
            };
            out.extend_from_slice(&self.held[..prefix]);
            self.release(prefix);
            self.mode = mode;
            if matches!(self.mode, Mode::Sniff { .. }) {
                return Ok(());
            }
        }
        let consumed = match &self.mode {
            Mode::Sniff { .. } => 0,
            Mode::Pass => {
                out.append(&mut self.held);
                return Ok(());
            }
            Mode::Json(_) => self.json(end, out)?,
            Mode::Sse(_) => self.sse(end, out)?,
            Mode::Form(_) => self.form(end, out)?,
        };
        self.release(consumed);
        self.check_limit()
    }

    fn check_limit(&self) -> Result<(), FieldError> {
        if self.held.len() > self.limit {
            return Err(FieldError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// Forgets the first `n` held bytes (already written out).
    fn release(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.held.drain(..n);
        self.base += n as u64;
        match &mut self.mode {
            Mode::Json(scan) => {
                scan.pos -= n;
                scan.start = scan.start.saturating_sub(n);
            }
            Mode::Sse(scan) => {
                scan.pos -= n;
                scan.line_start -= n;
            }
            Mode::Form(scan) => scan.pos -= n,
            Mode::Sniff { .. } | Mode::Pass => {}
        }
    }

    fn masking(&self) -> Masking<'_> {
        Masking {
            direction: self.direction,
            hash_key: &self.hash_key,
        }
    }

    /// JSON values: returns how many held bytes were written out.
    fn json(&mut self, end: bool, out: &mut Vec<u8>) -> Result<usize, FieldError> {
        let Mode::Json(scan) = &mut self.mode else {
            return Ok(0);
        };
        let held = &self.held;
        let masking = Masking {
            direction: self.direction,
            hash_key: &self.hash_key,
        };
        let mut consumed = 0;
        let mut i = scan.pos;
        let mut complete = |start: usize,
                            end: usize,
                            out: &mut Vec<u8>,
                            findings: &mut Vec<Finding>|
         -> Result<(), FieldError> {
            mask_document(
                &self.set,
                &held[start..end],
                &masking,
                &mut self.columns,
                self.base + start as u64,
                out,
                findings,
            )
            .map_err(|e| FieldError::Malformed(e.to_string()))
        };
        while i < held.len() {
            let b = held[i];
            if !scan.in_value {
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' | 0x1e => {
                        out.push(b);
                        i += 1;
                        consumed = i;
                    }
                    b'{' | b'[' => {
                        *scan = JsonScan {
                            pos: i,
                            in_value: true,
                            start: i,
                            depth: 1,
                            ..JsonScan::default()
                        };
                        i += 1;
                    }
                    b'"' => {
                        *scan = JsonScan {
                            pos: i,
                            in_value: true,
                            start: i,
                            in_string: true,
                            ..JsonScan::default()
                        };
                        i += 1;
                    }
                    b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                        *scan = JsonScan {
                            pos: i,
                            in_value: true,
                            start: i,
                            scalar: true,
                            ..JsonScan::default()
                        };
                        i += 1;
                    }
                    _ => {
                        return Err(FieldError::Malformed(format!(
                            "a byte outside any JSON value at byte {}",
                            self.base + i as u64
                        )))
                    }
                }
                continue;
            }
            if scan.in_string {
                if scan.escape {
                    scan.escape = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &held[i..]) {
                    None => i = held.len(),
                    Some(at) => {
                        i += at;
                        if held[i] == b'\\' {
                            scan.escape = true;
                            i += 1;
                        } else {
                            scan.in_string = false;
                            i += 1;
                            if scan.depth == 0 {
                                complete(scan.start, i, out, &mut self.findings)?;
                                scan.in_value = false;
                                consumed = i;
                            }
                        }
                    }
                }
                continue;
            }
            if scan.scalar {
                if matches!(
                    b,
                    b' ' | b'\t' | b'\n' | b'\r' | 0x1e | b'{' | b'[' | b'"' | b',' | b']' | b'}'
                ) {
                    complete(scan.start, i, out, &mut self.findings)?;
                    scan.in_value = false;
                    consumed = i;
                } else {
                    i += 1;
                }
                continue;
            }
            match b {
                b'"' => scan.in_string = true,
                b'{' | b'[' => scan.depth += 1,
                b'}' | b']' => {
                    scan.depth -= 1;
                    if scan.depth == 0 {
                        i += 1;
                        complete(scan.start, i, out, &mut self.findings)?;
                        scan.in_value = false;
                        consumed = i;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        scan.pos = i;
        if end && scan.in_value {
            if !scan.scalar {
                return Err(FieldError::Malformed(
                    "the body ends inside a JSON value".into(),
                ));
            }
            complete(scan.start, held.len(), out, &mut self.findings)?;
            scan.in_value = false;
            scan.pos = held.len();
            consumed = held.len();
        }
        Ok(consumed)
    }

    /// Server-sent events: returns how many held bytes were written out.
    fn sse(&mut self, end: bool, out: &mut Vec<u8>) -> Result<usize, FieldError> {
        let Mode::Sse(scan) = &mut self.mode else {
            return Ok(0);
        };
        let mut consumed = 0;
        let mut i = scan.pos;
        let mut events = Vec::new();
        while i < self.held.len() {
            let next = match self.held[i] {
                b'\n' => i + 1,
                b'\r' => match self.held.get(i + 1) {
                    Some(b'\n') => i + 2,
                    Some(_) => i + 1,
                    // `\r` last: `\r\n` or not, the next byte says.
                    None if !end => break,
                    None => i + 1,
                },
                _ => {
                    i += 1;
                    continue;
                }
            };
            if i == scan.line_start {
                // A blank line ends the event.
                events.push((consumed, next));
                consumed = next;
            }
            scan.line_start = next;
            i = next;
        }
        scan.pos = i;
        if end && consumed < self.held.len() {
            events.push((consumed, self.held.len()));
            consumed = self.held.len();
            scan.pos = consumed;
            scan.line_start = consumed;
        }
        for (start, stop) in events {
            let masked = self.sse_event(start, stop);
            match masked {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => out.extend_from_slice(&self.held[start..stop]),
            }
        }
        Ok(consumed)
    }

    /// One event (`held[start..stop]`): `Some` with its new bytes when a field in its
    /// JSON `data` was masked. Data that is not JSON (`[DONE]`, text) passes.
    fn sse_event(&mut self, start: usize, stop: usize) -> Option<Vec<u8>> {
        let event = &self.held[start..stop];
        // (content, terminator) of each line.
        let mut lines: Vec<(&[u8], &[u8])> = Vec::new();
        let mut at = 0;
        while at < event.len() {
            let end = event[at..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map_or(event.len(), |p| at + p);
            let term_end = match event.get(end) {
                Some(b'\r') if event.get(end + 1) == Some(&b'\n') => end + 2,
                Some(_) => end + 1,
                None => end,
            };
            lines.push((&event[at..end], &event[end..term_end]));
            at = term_end;
        }
        let data: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                let line = lines[i].0;
                line.starts_with(b"data") && (line.len() == 4 || line[4] == b':')
            })
            .collect();
        if data.is_empty() {
            return None;
        }
        let value = |line: &[u8]| -> Vec<u8> {
            let rest = line.get(5..).unwrap_or_default();
            rest.strip_prefix(b" ").unwrap_or(rest).to_vec()
        };
        let payload = data
            .iter()
            .map(|&i| value(lines[i].0))
            .collect::<Vec<_>>()
            .join(&b'\n');
        let first = payload.iter().find(|b| !b.is_ascii_whitespace());
        if !matches!(first, Some(b'{' | b'[')) {
            return None;
        }
        let mut masked = Vec::with_capacity(payload.len());
        let mut found = Vec::new();
        let masking = self.masking();
        let result = mask_document(
            &self.set,
            &payload,
            &masking,
            &mut StreamColumns::default(),
            self.base + start as u64,
            &mut masked,
            &mut found,
        );
        if result.is_err() || found.is_empty() {
            return None;
        }
        self.findings.extend(found);
        let term = lines[data[0]].1;
        let term: &[u8] = if term.is_empty() { b"\n" } else { term };
        let mut out = Vec::with_capacity(event.len() + 64);
        for (i, (line, line_term)) in lines.iter().enumerate() {
            if i == data[0] {
                for part in masked.split(|&b| b == b'\n') {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(part);
                    out.extend_from_slice(term);
                }
            } else if !data.contains(&i) {
                out.extend_from_slice(line);
                out.extend_from_slice(line_term);
            }
        }
        Some(out)
    }

    /// Form pairs: returns how many held bytes were written out.
    fn form(&mut self, end: bool, out: &mut Vec<u8>) -> Result<usize, FieldError> {
        let Mode::Form(scan) = &mut self.mode else {
            return Ok(0);
        };
        let mut consumed = 0;
        let mut pairs = Vec::new();
        let mut i = scan.pos;
        while let Some(at) = memchr::memchr2(b'&', b';', &self.held[i..]) {
            pairs.push((consumed, i + at, true));
            consumed = i + at + 1;
            i = consumed;
        }
        scan.pos = self.held.len();
        if end && consumed < self.held.len() {
            pairs.push((consumed, self.held.len(), false));
            consumed = self.held.len();
        }
        for (start, stop, separator) in pairs {
            self.form_pair(start, stop, out);
            if separator {
                out.push(self.held[stop]);
            }
        }
        Ok(consumed)
    }

    /// One `name=value` pair (`held[start..stop]`), masked when a key or column rule
    /// names it (`drop` removes it; the separators stay, which forms allow).
    fn form_pair(&mut self, start: usize, stop: usize, out: &mut Vec<u8>) {
        let pair = &self.held[start..stop];
        let (name, value_at) = match memchr::memchr(b'=', pair) {
            Some(at) => (&pair[..at], at + 1),
            None => (pair, pair.len()),
        };
        let decoded: String = form_decode(name);
        let Some(rule) = self.set.action(&self.set.root(), Some(&decoded)).cloned() else {
            out.extend_from_slice(pair);
            return;
        };
        self.findings.push(Finding {
            rule_id: Arc::clone(&rule.finding_id),
            kind: FindingKind::Field,
            direction: self.direction,
            offset: self.base + (start + value_at) as u64,
            len: (pair.len() - value_at) as u64,
        });
        if rule.strategy == crate::redact::Strategy::Drop {
            return;
        }
        let value = form_decode(&pair[value_at..]);
        let text = placeholder_text(&rule.rule_id, rule.strategy, &value, &self.hash_key);
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend(
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
                .flat_map(str::bytes),
        );
    }
}

/// A form name or value as servers read it: `+` is a space, `%XX` a byte.
fn form_decode(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Decides what a body is from its first bytes: `Some((prefix, mode))` with the bytes
/// to let go first (whitespace, an anti-XSSI `)]}'` line), `None` while they do not
/// tell yet.
fn sniff(held: &[u8], end: bool, json_declared: bool) -> Result<Option<(usize, Mode)>, FieldError> {
    let json = || Mode::Json(JsonScan::default());
    let utf16ish = |b: &[u8]| {
        b.starts_with(&[0xff, 0xfe]) || b.starts_with(&[0xfe, 0xff]) || b.first() == Some(&0)
    };
    if utf16ish(held) {
        return Err(FieldError::Unreadable);
    }
    let mut at = 0;
    if held.starts_with(b"\xef\xbb\xbf") {
        at = 3;
    } else if b"\xef\xbb\xbf".starts_with(held) && !end {
        return Ok(None);
    }
    while held
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x1e))
    {
        at += 1;
    }
    let Some(&first) = held.get(at) else {
        if end {
            return Ok(Some((held.len(), Mode::Pass)));
        }
        // Only whitespace so far: it can go on.
        return Ok(Some((held.len(), Mode::Sniff { json_declared })));
    };
    if held.get(at + 1) == Some(&0) {
        return Err(FieldError::Unreadable);
    }
    const XSSI: &[u8] = b")]}'";
    if first == b')' {
        let rest = &held[at..];
        if rest.len() < XSSI.len() && XSSI.starts_with(rest) && !end {
            return Ok(None);
        }
        if rest.starts_with(XSSI) {
            // The prefix line passes; what follows it is the JSON.
            return match memchr::memchr(b'\n', rest) {
                Some(newline) => Ok(Some((at + newline + 1, json()))),
                None if end => Ok(Some((held.len(), Mode::Pass))),
                None => Ok(None),
            };
        }
    }
    let mode = if matches!(first, b'{' | b'[') || json_declared {
        json()
    } else {
        Mode::Pass
    };
    Ok(Some((at, mode)))
}
