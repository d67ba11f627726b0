//! Git packfiles: nothing in a `git clone`/`git fetch` (or `git push`) passes uninspected.
//!
//! A pack cannot be masked: changing one byte of a blob changes its id, and with it every
//! tree and commit above it, so git refuses the result. What Warden can guarantee is that
//! a pack whose objects carry a secret does not reach the other side: [`GitPackInspector`]
//! reads the response (or push) as it streams, inflates every object, resolves deltas,
//! runs the masking engine's detection over the text of blobs, commits and tags, and lets
//! bytes go only once every object they belong to was inspected. On a secret it stops and
//! the caller replaces the rest of the stream with an error git prints
//! ([`refusal_packet`]).
//!
//! The layers it reads, outermost first:
//!
//! - pkt-lines (`0008NAK\n`, protocol v2 section headers such as `packfile`, `0000`
//!   flush, `0001` delimiter); after them either side-band packets (band 1 pack data,
//!   2 progress, 3 fatal error) or, without side-band, the raw pack;
//! - the pack: `PACK`, version, object count, entries (a type/size header, an
//!   `OFS_DELTA` offset or `REF_DELTA` base id, then a zlib stream), a SHA-1 trailer.
//!
//! Limits keep it bounded: an object inflates to at most [`MAX_OBJECT_BYTES`], inflated
//! objects kept as delta bases take at most [`BASE_CACHE_BYTES`], and the caller's
//! deadline is checked while inflating and scanning. Anything it cannot read — corrupt,
//! truncated, too large, out of time — is an error: the fetch is refused, never passed
//! half-read.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use flate2::{Decompress, FlushDecompress, Status};
use sha1::{Digest, Sha1};

use crate::content::Declared;

use super::{ContentKind, Direction, Finding, FindingKind, Redactor};

/// The largest object (inflated, or rebuilt from a delta) Warden inspects; a pack with a
/// larger one is refused, since its bytes could not be held back until inspected.
pub const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;

/// Memory for inflated objects kept as possible delta bases (oldest evicted first).
pub const BASE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The largest pkt-line git sends (`LARGE_PACKET_MAX`, 65520, including its 4-byte length).
const MAX_PKT_LEN: usize = 65520;

/// Text of progress packets kept between packets so a secret split over two is seen.
const PROGRESS_TAIL: usize = 4096;

/// Output buffer for one inflate step.
const INFLATE_STEP: usize = 64 * 1024;

/// Whether a media type carries git pack data Warden inspects: a fetch's result
/// (`application/x-git-upload-pack-result`) or a push
/// (`application/x-git-receive-pack-request`).
pub fn is_git_pack_media(media: &str) -> bool {
    let media = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/x-git-upload-pack-result"
        || media == "application/x-git-receive-pack-request"
}

/// What kind of git object a finding was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A commit (its message and headers).
    Commit,
    /// A tree.
    Tree,
    /// A file's content.
    Blob,
    /// An annotated tag.
    Tag,
    /// A delta whose base was not at hand: only the data it inserts was read.
    Delta,
}

impl ObjectKind {
    fn from_type(t: u8) -> Option<ObjectKind> {
        match t {
            1 => Some(ObjectKind::Commit),
            2 => Some(ObjectKind::Tree),
            3 => Some(ObjectKind::Blob),
            4 => Some(ObjectKind::Tag),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tree => "tree",
            ObjectKind::Blob => "blob",
            ObjectKind::Tag => "tag",
            ObjectKind::Delta => "delta",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the inspector stopped: the stream must not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitPackError {
    /// An object carries a secret.
    #[error("a {object} contains a secret ({rules})", rules = rules.join(", "))]
    Secret {
        /// Where it was found.
        object: ObjectKind,
        /// The rules that fired (never the value).
        rules: Vec<String>,
    },
    /// A git message (progress or a protocol line) carries a secret.
    #[error("a git message contains a secret ({rules})", rules = rules.join(", "))]
    SecretInMessage {
        /// The rules that fired.
        rules: Vec<String>,
    },
    /// The bytes are not a well-formed git stream or pack.
    #[error("the pack data is malformed ({0})")]
    Malformed(String),
    /// The stream ended inside a pkt-line or the pack.
    #[error("the pack data ended early ({0})")]
    Truncated(&'static str),
    /// An object is larger than Warden inspects.
    #[error("an object inflates to more than the {max} bytes Warden inspects", max = MAX_OBJECT_BYTES)]
    ObjectTooLarge,
    /// Inspection ran out of time.
    #[error("inspecting the pack took longer than Warden's time budget")]
    DeadlinePassed,
}

impl GitPackError {
    /// The findings behind a refusal for a secret (rule ids only), for the audit record.
    pub fn rules(&self) -> &[String] {
        match self {
            GitPackError::Secret { rules, .. } | GitPackError::SecretInMessage { rules } => rules,
            _ => &[],
        }
    }

    /// A short code for logs and metadata.
    pub fn code(&self) -> &'static str {
        match self {
            GitPackError::Secret { .. } | GitPackError::SecretInMessage { .. } => "git_pack_secret",
            GitPackError::Malformed(_) | GitPackError::Truncated(_) => "git_pack_unreadable",
            GitPackError::ObjectTooLarge => "git_pack_object_too_large",
            GitPackError::DeadlinePassed => "inspection_timeout",
        }
    }

    /// What git shows the user (after `remote error:`), saying what to do.
    pub fn message(&self, direction: Direction) -> String {
        let what = match direction {
            Direction::Response => "fetch",
            Direction::Request => "push",
        };
        match self {
            GitPackError::Secret { .. } | GitPackError::SecretInMessage { .. } => {
                let who = match direction {
                    Direction::Response => "ask the repository owner to remove it",
                    Direction::Request => "remove it from the commits you push (rewrite them)",
                };
                format!("Warden refused this {what}: {self}; {who}, or an operator to allow it")
            }
            _ => format!(
                "Warden refused this {what}: {self}, so it could not be inspected; \
                 fetch less at once (a shallow or partial clone) or ask an operator"
            ),
        }
    }
}

/// The bytes that end a refused fetch: a side-band error packet (band 3) with `message`
/// and a flush. git prints `remote: <message>` (older versions `remote error:`) and
/// fails the fetch.
pub fn refusal_packet(message: &str) -> Vec<u8> {
    // A pkt-line's payload is at most MAX_PKT_LEN - 4 bytes; band byte and newline too.
    let mut text: String = message.chars().filter(|c| !c.is_control()).collect();
    let max = MAX_PKT_LEN - 4 - 2;
    while text.len() > max {
        text.pop();
    }
    let len = 4 + 1 + text.len() + 1;
    let mut out = format!("{len:04x}").into_bytes();
    out.push(3);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n0000");
    out
}

/// How the pack travels inside the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// pkt-lines, pack data in side-band band 1.
    PktLines,
    /// Past the pkt-lines: the raw pack (no side-band).
    RawPack,
}

/// Reads a stream of pkt-lines, side-band packets and pack data chunk by chunk, inspects
/// every object, and releases only bytes whose objects were all inspected.
///
/// Pure: no I/O. Feed it with [`GitPackInspector::push`] and end with
/// [`GitPackInspector::finish`]; the concatenation of what they return is a prefix of
/// the input (the whole input when nothing was found), cut at a pkt-line boundary.
pub struct GitPackInspector {
    direction: Direction,
    framing: Framing,
    /// Input not yet split into pkt-lines (always empty in raw pack mode).
    unparsed: Vec<u8>,
    /// Complete input not yet released, and where each piece ends: (end offset in the
    /// input, pack offset that must be inspected before it may go).
    held: Vec<u8>,
    held_start: u64,
    marks: VecDeque<(u64, u64)>,
    /// Input offset of the end of `held`.
    input_end: u64,
    progress_tail: Vec<u8>,
    pack: PackReader,
    failed: Option<GitPackError>,
    /// Inspected bytes not yet released when inspection failed.
    clean_prefix: Vec<u8>,
}

impl std::fmt::Debug for GitPackInspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitPackInspector")
            .field("direction", &self.direction)
            .field("held", &self.held.len())
            .field("pack_offset", &self.pack.offset)
            .field("failed", &self.failed)
            .finish()
    }
}

impl GitPackInspector {
    /// A new inspector for a body travelling `direction` (a fetch's result travels as a
    /// response, a push as a request).
    pub fn new(direction: Direction) -> GitPackInspector {
        GitPackInspector {
            direction,
            framing: Framing::PktLines,
            unparsed: Vec::new(),
            held: Vec::new(),
            held_start: 0,
            marks: VecDeque::new(),
            input_end: 0,
            progress_tail: Vec::new(),
            pack: PackReader::new(direction),
            failed: None,
            clean_prefix: Vec::new(),
        }
    }

    /// Reads one chunk; returns the bytes that may go on now. After an error nothing
    /// more is released: the caller ends the stream ([`refusal_packet`]).
    pub fn push(
        &mut self,
        redactor: &Redactor,
        chunk: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, GitPackError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.read(redactor, chunk, deadline);
        self.settle(result)
    }

    /// Ends the stream: checks nothing is left half-read and returns the rest.
    pub fn finish(
        &mut self,
        redactor: &Redactor,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, GitPackError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.end(redactor, deadline);
        self.settle(result)
    }

    /// After an error: the bytes that were fully inspected but not yet released when it
    /// happened (whole pkt-lines). They may go on ahead of the error packet.
    pub fn take_clean_prefix(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.clean_prefix)
    }

    /// The error that stopped the inspector, if any.
    pub fn failure(&self) -> Option<&GitPackError> {
        self.failed.as_ref()
    }

    fn settle(&mut self, result: Result<(), GitPackError>) -> Result<Vec<u8>, GitPackError> {
        match result {
            Ok(()) => Ok(self.release()),
            Err(err) => {
                self.failed = Some(err.clone());
                // What was inspected before the failure may still go, ahead of the error
                // (git must see a protocol v2 `packfile` header before a side-band error).
                self.clean_prefix = self.release();
                self.held.clear();
                self.unparsed.clear();
                self.marks.clear();
                Err(err)
            }
        }
    }

    fn end(&mut self, redactor: &Redactor, deadline: Option<Instant>) -> Result<(), GitPackError> {
        if !self.unparsed.is_empty() {
            return Err(GitPackError::Truncated("inside a pkt-line"));
        }
        if !self.progress_tail.is_empty() {
            let tail = std::mem::take(&mut self.progress_tail);
            scan_message(redactor, &tail, self.direction, deadline)?;
        }
        self.pack.finish()
    }

    fn read(
        &mut self,
        redactor: &Redactor,
        chunk: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), GitPackError> {
        if self.framing == Framing::RawPack {
            return self.raw(redactor, chunk, deadline);
        }
        self.unparsed.extend_from_slice(chunk);
        let mut at = 0;
        while self.framing == Framing::PktLines {
            let rest = &self.unparsed[at..];
            if rest.len() < 4 {
                break;
            }
            if &rest[..4] == b"PACK" {
                // No side-band: the pack follows the pkt-lines raw.
                self.framing = Framing::RawPack;
                break;
            }
            let len = pkt_len(&rest[..4])?;
            let total = match len {
                // flush, delimiter, response-end: no payload.
                0..=2 => 4,
                3 => return Err(GitPackError::Malformed("pkt-line length 3".into())),
                n if n > MAX_PKT_LEN => {
                    return Err(GitPackError::Malformed(format!("pkt-line of {n} bytes")))
                }
                n => n,
            };
            if rest.len() < total {
                break;
            }
            let line = self.unparsed[at..at + total].to_vec();
            at += total;
            let payload = &line[4..];
            match payload.first() {
                Some(1) => self.pack.feed(redactor, &payload[1..], deadline)?,
                Some(2) | Some(3) => self.progress(redactor, &payload[1..], deadline)?,
                Some(_) => scan_message(redactor, payload, self.direction, deadline)?,
                None => {}
            }
            self.hold(&line);
        }
        let rest = self.unparsed.split_off(at);
        self.unparsed = rest;
        if self.framing == Framing::RawPack {
            let raw = std::mem::take(&mut self.unparsed);
            return self.raw(redactor, &raw, deadline);
        }
        Ok(())
    }

    /// Raw pack bytes (no side-band).
    fn raw(
        &mut self,
        redactor: &Redactor,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), GitPackError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.pack.feed(redactor, bytes, deadline)?;
        self.hold(bytes);
        Ok(())
    }

    /// Progress and error text (bands 2 and 3): scanned with what came before on the
    /// same line, since git prints the packets as one text.
    fn progress(
        &mut self,
        redactor: &Redactor,
        text: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), GitPackError> {
        let mut joined = std::mem::take(&mut self.progress_tail);
        joined.extend_from_slice(text);
        scan_message(redactor, &joined, self.direction, deadline)?;
        let line_start = joined
            .iter()
            .rposition(|&b| b == b'\n' || b == b'\r')
            .map_or(0, |i| i + 1);
        let keep_from = line_start.max(joined.len().saturating_sub(PROGRESS_TAIL));
        self.progress_tail = joined.split_off(keep_from);
        Ok(())
    }

    /// Holds complete input until the pack data it carries is inspected.
    fn hold(&mut self, bytes: &[u8]) {
        self.held.extend_from_slice(bytes);
        self.input_end += bytes.len() as u64;
        self.marks.push_back((self.input_end, self.pack.offset));
    }

    fn release(&mut self) -> Vec<u8> {
        let mut upto = self.held_start;
        while let Some(&(end, pack_end)) = self.marks.front() {
            if pack_end > self.pack.inspected {
                break;
            }
            upto = end;
            self.marks.pop_front();
        }
        // `upto - held_start` is at most `held.len()`: marks end within `held`.
        let n = usize::try_from(upto - self.held_start).unwrap_or(usize::MAX);
        let n = n.min(self.held.len());
        let rest = self.held.split_off(n);
        let out = std::mem::replace(&mut self.held, rest);
        self.held_start = upto;
        out
    }
}

fn pkt_len(hex: &[u8]) -> Result<usize, GitPackError> {
    let text = std::str::from_utf8(hex)
        .ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()));
    text.and_then(|t| usize::from_str_radix(t, 16).ok())
        .ok_or_else(|| GitPackError::Malformed("not a pkt-line".into()))
}

/// A secret in a protocol line or progress message.
fn scan_message(
    redactor: &Redactor,
    text: &[u8],
    direction: Direction,
    deadline: Option<Instant>,
) -> Result<(), GitPackError> {
    let rules = secret_rules(redactor, text, direction, deadline)?;
    if rules.is_empty() {
        Ok(())
    } else {
        Err(GitPackError::SecretInMessage { rules })
    }
}

/// Whether a finding makes a pack refused: secrets, yes; personal data, no — every
/// commit names its author's email, and refusing every clone for it would be useless.
fn refuses(finding: &Finding) -> bool {
    matches!(
        finding.kind,
        FindingKind::Secret | FindingKind::KnownSecret | FindingKind::Generic
    )
}

/// The ids of the secret rules that fire on `text` (sorted, deduplicated).
fn secret_rules(
    redactor: &Redactor,
    text: &[u8],
    direction: Direction,
    deadline: Option<Instant>,
) -> Result<Vec<String>, GitPackError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    // Read as a file would be: the body layer sniffs UTF-16/32 and transcodes it, and
    // recognises structured text (a Kubernetes Secret manifest). Bytes it finds binary
    // are still read as raw text: a key inside a binary file is still a key.
    let declared = Declared::parse("text/plain");
    let body = redactor
        .redact_body_within(text, &declared, direction, deadline)
        .map_err(|_| GitPackError::DeadlinePassed)?;
    let mut findings = body.findings;
    if body.binary || body.passed_unread {
        let raw = redactor
            .redact_within(text, ContentKind::Text, direction, deadline)
            .map_err(|_| GitPackError::DeadlinePassed)?;
        findings.extend(raw.findings);
    }
    let mut rules: Vec<String> = findings
        .iter()
        .filter(|f| refuses(f))
        .map(|f| f.rule_id.to_string())
        .collect();
    rules.sort();
    rules.dedup();
    Ok(rules)
}

fn check_deadline(deadline: Option<Instant>) -> Result<(), GitPackError> {
    match deadline {
        Some(d) if Instant::now() >= d => Err(GitPackError::DeadlinePassed),
        _ => Ok(()),
    }
}

/// An object kept as a possible delta base.
struct Base {
    kind: ObjectKind,
    data: Arc<Vec<u8>>,
}

/// Inflated objects by pack offset and by id, within [`BASE_CACHE_BYTES`].
#[derive(Default)]
struct BaseCache {
    by_offset: HashMap<u64, Base>,
    by_id: HashMap<[u8; 20], u64>,
    order: VecDeque<(u64, [u8; 20])>,
    bytes: usize,
}

impl BaseCache {
    fn insert(&mut self, offset: u64, id: [u8; 20], kind: ObjectKind, data: Arc<Vec<u8>>) {
        if data.len() > BASE_CACHE_BYTES {
            return;
        }
        while self.bytes + data.len() > BASE_CACHE_BYTES {
            let Some((old, old_id)) = self.order.pop_front() else {
                break;
            };
            if let Some(base) = self.by_offset.remove(&old) {
                self.bytes -= base.data.len();
            }
            if self.by_id.get(&old_id) == Some(&old) {
                self.by_id.remove(&old_id);
            }
        }
        self.bytes += data.len();
        self.by_offset.insert(offset, Base { kind, data });
        self.by_id.insert(id, offset);
        self.order.push_back((offset, id));
    }

    fn at(&self, offset: u64) -> Option<&Base> {
        self.by_offset.get(&offset)
    }

    fn by_id(&self, id: &[u8; 20]) -> Option<&Base> {
        self.by_id.get(id).and_then(|o| self.by_offset.get(o))
    }
}

/// Where an entry's delta base is.
#[derive(Debug, Clone, Copy)]
enum BaseRef {
    /// Not a delta.
    None,
    /// At this pack offset.
    Offset(u64),
    /// The object with this id.
    Id([u8; 20]),
}

/// The entry being inflated.
struct Entry {
    start: u64,
    type_code: u8,
    size: usize,
    base: BaseRef,
    inflater: Decompress,
    data: Vec<u8>,
}

enum PackState {
    /// Before the 12-byte header.
    Header,
    /// Between entries (`left` still to come).
    EntryHeader { left: u32 },
    /// Inside an entry's zlib stream.
    Inflating { entry: Box<Entry>, left: u32 },
    /// The 20-byte checksum.
    Trailer,
    /// Past the checksum.
    Done,
}

/// The pack itself, read incrementally.
struct PackReader {
    direction: Direction,
    state: PackState,
    /// Bytes fed but not yet consumed (a partial header; compressed bytes are consumed
    /// as they inflate).
    pending: Vec<u8>,
    /// Pack offset of `pending[0]`.
    consumed: u64,
    /// Pack bytes fed in all.
    offset: u64,
    /// Everything before this pack offset was inspected.
    inspected: u64,
    checksum: Sha1,
    bases: BaseCache,
    started: bool,
}

impl PackReader {
    fn new(direction: Direction) -> PackReader {
        PackReader {
            direction,
            state: PackState::Header,
            pending: Vec::new(),
            consumed: 0,
            offset: 0,
            inspected: 0,
            checksum: Sha1::new(),
            bases: BaseCache::default(),
            started: false,
        }
    }

    fn finish(&mut self) -> Result<(), GitPackError> {
        match self.state {
            PackState::Header if !self.started => Ok(()),
            PackState::Done => Ok(()),
            PackState::Header => Err(GitPackError::Truncated("in the pack header")),
            PackState::EntryHeader { .. } | PackState::Inflating { .. } => {
                Err(GitPackError::Truncated("inside an object"))
            }
            PackState::Trailer => Err(GitPackError::Truncated("in the pack checksum")),
        }
    }

    /// Consumes `n` bytes of `pending` (hashed into the pack checksum unless they are
    /// the checksum itself).
    fn consume(&mut self, n: usize, hash: bool) {
        if hash {
            self.checksum.update(&self.pending[..n]);
        }
        self.pending.drain(..n);
        self.consumed += n as u64;
    }

    fn feed(
        &mut self,
        redactor: &Redactor,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), GitPackError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.started = true;
        self.offset += bytes.len() as u64;
        self.pending.extend_from_slice(bytes);
        loop {
            check_deadline(deadline)?;
            let state = std::mem::replace(&mut self.state, PackState::Done);
            let (next, progressed) = self.step(state, redactor, deadline)?;
            self.state = next;
            if !progressed {
                return Ok(());
            }
        }
    }

    /// One step of the state machine; `false` when it needs more bytes.
    fn step(
        &mut self,
        state: PackState,
        redactor: &Redactor,
        deadline: Option<Instant>,
    ) -> Result<(PackState, bool), GitPackError> {
        match state {
            PackState::Header => {
                if self.pending.len() < 12 {
                    return Ok((PackState::Header, false));
                }
                let head = &self.pending[..12];
                if &head[..4] != b"PACK" {
                    return Err(GitPackError::Malformed("no PACK signature".into()));
                }
                let version = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
                if version != 2 && version != 3 {
                    return Err(GitPackError::Malformed(format!("pack version {version}")));
                }
                let count = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
                self.consume(12, true);
                self.inspected = self.consumed;
                let next = if count == 0 {
                    PackState::Trailer
                } else {
                    PackState::EntryHeader { left: count }
                };
                Ok((next, true))
            }
            PackState::EntryHeader { left } => match parse_entry_header(&self.pending)? {
                None => Ok((PackState::EntryHeader { left }, false)),
                Some((header_len, type_code, size, base)) => {
                    let start = self.consumed;
                    let base = match base {
                        EntryBase::None => BaseRef::None,
                        EntryBase::Back(back) => {
                            if back == 0 || back > start {
                                return Err(GitPackError::Malformed(
                                    "delta base offset outside the pack".into(),
                                ));
                            }
                            BaseRef::Offset(start - back)
                        }
                        EntryBase::Id(id) => BaseRef::Id(id),
                    };
                    self.consume(header_len, true);
                    let entry = Entry {
                        start,
                        type_code,
                        size,
                        base,
                        inflater: Decompress::new(true),
                        data: Vec::with_capacity(size.min(1 << 20)),
                    };
                    Ok((
                        PackState::Inflating {
                            entry: Box::new(entry),
                            left,
                        },
                        true,
                    ))
                }
            },
            PackState::Inflating { mut entry, left } => {
                let done = self.inflate(&mut entry, deadline)?;
                if !done {
                    return Ok((PackState::Inflating { entry, left }, false));
                }
                self.inspect(*entry, redactor, deadline)?;
                self.inspected = self.consumed;
                let next = if left <= 1 {
                    PackState::Trailer
                } else {
                    PackState::EntryHeader { left: left - 1 }
                };
                Ok((next, true))
            }
            PackState::Trailer => {
                if self.pending.len() < 20 {
                    return Ok((PackState::Trailer, false));
                }
                let expected = std::mem::replace(&mut self.checksum, Sha1::new()).finalize();
                if self.pending[..20] != expected[..] {
                    return Err(GitPackError::Malformed("pack checksum mismatch".into()));
                }
                self.consume(20, false);
                self.inspected = self.consumed;
                Ok((PackState::Done, true))
            }
            PackState::Done => {
                if !self.pending.is_empty() {
                    return Err(GitPackError::Malformed("data after the pack".into()));
                }
                Ok((PackState::Done, false))
            }
        }
    }

    /// Inflates what `pending` holds of the entry; `true` once its zlib stream ended.
    fn inflate(
        &mut self,
        entry: &mut Entry,
        deadline: Option<Instant>,
    ) -> Result<bool, GitPackError> {
        let mut buf = vec![0u8; INFLATE_STEP];
        let mut used = 0usize;
        loop {
            check_deadline(deadline)?;
            let (in_before, out_before) = (entry.inflater.total_in(), entry.inflater.total_out());
            let status = entry
                .inflater
                .decompress(&self.pending[used..], &mut buf, FlushDecompress::None)
                .map_err(|e| GitPackError::Malformed(format!("zlib: {e}")))?;
            let took = usize::try_from(entry.inflater.total_in() - in_before).unwrap_or(0);
            let made = usize::try_from(entry.inflater.total_out() - out_before).unwrap_or(0);
            used += took;
            if entry.data.len() + made > entry.size {
                return Err(if entry.size >= MAX_OBJECT_BYTES {
                    GitPackError::ObjectTooLarge
                } else {
                    GitPackError::Malformed("an object is larger than its header says".into())
                });
            }
            entry.data.extend_from_slice(&buf[..made]);
            match status {
                Status::StreamEnd => {
                    self.consume(used, true);
                    if entry.data.len() != entry.size {
                        return Err(GitPackError::Malformed(
                            "an object is smaller than its header says".into(),
                        ));
                    }
                    return Ok(true);
                }
                _ if took == 0 && made == 0 => {
                    // Needs more input (or more room, which it always has here).
                    self.consume(used, true);
                    return Ok(false);
                }
                _ => {}
            }
        }
    }

    /// Resolves an inflated entry (applies its delta when the base is at hand), keeps it
    /// as a possible base, and scans what it says.
    fn inspect(
        &mut self,
        entry: Entry,
        redactor: &Redactor,
        deadline: Option<Instant>,
    ) -> Result<(), GitPackError> {
        let resolved = match (entry.type_code, entry.base) {
            (6 | 7, base) => {
                let base = match base {
                    BaseRef::Offset(offset) => self.bases.at(offset),
                    BaseRef::Id(id) => self.bases.by_id(&id),
                    BaseRef::None => None,
                };
                match base {
                    Some(base) => Some((base.kind, apply_delta(&base.data, &entry.data)?)),
                    None => {
                        // A thin pack's base the other side already has, or one evicted:
                        // the new bytes this delta brings are what can be read.
                        let inserted = delta_inserts(&entry.data)?;
                        let rules = secret_rules(redactor, &inserted, self.direction, deadline)?;
                        if !rules.is_empty() {
                            return Err(GitPackError::Secret {
                                object: ObjectKind::Delta,
                                rules,
                            });
                        }
                        None
                    }
                }
            }
            (t, _) => match ObjectKind::from_type(t) {
                Some(kind) => Some((kind, entry.data)),
                None => {
                    return Err(GitPackError::Malformed(format!("object type {t}")));
                }
            },
        };
        let Some((kind, data)) = resolved else {
            return Ok(());
        };
        if kind != ObjectKind::Tree {
            let rules = secret_rules(redactor, &data, self.direction, deadline)?;
            if !rules.is_empty() {
                return Err(GitPackError::Secret {
                    object: kind,
                    rules,
                });
            }
        }
        let id = object_id(kind, &data);
        self.bases.insert(entry.start, id, kind, Arc::new(data));
        Ok(())
    }
}

/// A git object's id: SHA-1 of `<type> <size>\0<content>`.
fn object_id(kind: ObjectKind, data: &[u8]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(format!("{} {}\0", kind.name(), data.len()).as_bytes());
    hasher.update(data);
    hasher.finalize().into()
}

/// The base an entry header names.
enum EntryBase {
    None,
    /// OFS_DELTA: this many bytes before the entry.
    Back(u64),
    /// REF_DELTA: the object with this id.
    Id([u8; 20]),
}

/// Parses an entry header: `(length, type, inflated size, base)`, or `None` when more
/// bytes are needed.
fn parse_entry_header(bytes: &[u8]) -> Result<Option<(usize, u8, usize, EntryBase)>, GitPackError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let type_code = (first >> 4) & 0x7;
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4u32;
    let mut at = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        let Some(&next) = bytes.get(at) else {
            return Ok(None);
        };
        if shift > 57 {
            return Err(GitPackError::Malformed("object size overflows".into()));
        }
        byte = next;
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        at += 1;
    }
    if !matches!(type_code, 1..=4 | 6 | 7) {
        return Err(GitPackError::Malformed(format!("object type {type_code}")));
    }
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= MAX_OBJECT_BYTES)
        .ok_or(GitPackError::ObjectTooLarge)?;
    let base = match type_code {
        6 => {
            let Some(&b) = bytes.get(at) else {
                return Ok(None);
            };
            at += 1;
            let mut back = u64::from(b & 0x7f);
            let mut byte = b;
            while byte & 0x80 != 0 {
                let Some(&next) = bytes.get(at) else {
                    return Ok(None);
                };
                at += 1;
                byte = next;
                back = back
                    .checked_add(1)
                    .and_then(|v| v.checked_mul(128))
                    .map(|v| v | u64::from(byte & 0x7f))
                    .ok_or_else(|| GitPackError::Malformed("delta offset overflows".into()))?;
            }
            EntryBase::Back(back)
        }
        7 => {
            let Some(id) = bytes.get(at..at + 20) else {
                return Ok(None);
            };
            at += 20;
            let mut out = [0u8; 20];
            out.copy_from_slice(id);
            EntryBase::Id(out)
        }
        _ => EntryBase::None,
    };
    Ok(Some((at, type_code, size, base)))
}

/// A delta's size varint at `*at`.
fn delta_varint(delta: &[u8], at: &mut usize) -> Result<usize, GitPackError> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *delta
            .get(*at)
            .ok_or_else(|| GitPackError::Malformed("truncated delta header".into()))?;
        *at += 1;
        if shift > 63 {
            return Err(GitPackError::Malformed("delta size overflows".into()));
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    usize::try_from(value).map_err(|_| GitPackError::ObjectTooLarge)
}

/// One delta instruction.
enum Instruction<'a> {
    Copy { offset: usize, len: usize },
    Insert(&'a [u8]),
}

/// The next instruction at `*at`.
fn delta_instruction<'a>(delta: &'a [u8], at: &mut usize) -> Result<Instruction<'a>, GitPackError> {
    let truncated = || GitPackError::Malformed("truncated delta instruction".into());
    let op = *delta.get(*at).ok_or_else(truncated)?;
    *at += 1;
    if op & 0x80 != 0 {
        let mut offset = 0usize;
        let mut len = 0usize;
        for i in 0..4 {
            if op & (1 << i) != 0 {
                let b = *delta.get(*at).ok_or_else(truncated)?;
                *at += 1;
                offset |= usize::from(b) << (8 * i);
            }
        }
        for i in 0..3 {
            if op & (0x10 << i) != 0 {
                let b = *delta.get(*at).ok_or_else(truncated)?;
                *at += 1;
                len |= usize::from(b) << (8 * i);
            }
        }
        if len == 0 {
            len = 0x10000;
        }
        Ok(Instruction::Copy { offset, len })
    } else if op != 0 {
        let n = usize::from(op);
        let data = delta.get(*at..*at + n).ok_or_else(truncated)?;
        *at += n;
        Ok(Instruction::Insert(data))
    } else {
        Err(GitPackError::Malformed("delta opcode 0".into()))
    }
}

/// Rebuilds an object from its base and a delta.
fn apply_delta(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, GitPackError> {
    let mut at = 0;
    let base_len = delta_varint(delta, &mut at)?;
    let result_len = delta_varint(delta, &mut at)?;
    if base_len != base.len() {
        return Err(GitPackError::Malformed("delta base size mismatch".into()));
    }
    if result_len > MAX_OBJECT_BYTES {
        return Err(GitPackError::ObjectTooLarge);
    }
    let mut out = Vec::with_capacity(result_len);
    while at < delta.len() {
        match delta_instruction(delta, &mut at)? {
            Instruction::Copy { offset, len } => {
                let piece = offset
                    .checked_add(len)
                    .and_then(|end| base.get(offset..end))
                    .ok_or_else(|| GitPackError::Malformed("delta copies past its base".into()))?;
                out.extend_from_slice(piece);
            }
            Instruction::Insert(data) => out.extend_from_slice(data),
        }
        if out.len() > result_len {
            return Err(GitPackError::Malformed("delta result too long".into()));
        }
    }
    if out.len() != result_len {
        return Err(GitPackError::Malformed("delta result size mismatch".into()));
    }
    Ok(out)
}

/// The literal data a delta inserts, one insert per line (copies come from a base that
/// is not at hand).
fn delta_inserts(delta: &[u8]) -> Result<Vec<u8>, GitPackError> {
    let mut at = 0;
    delta_varint(delta, &mut at)?;
    let result_len = delta_varint(delta, &mut at)?;
    if result_len > MAX_OBJECT_BYTES {
        return Err(GitPackError::ObjectTooLarge);
    }
    let mut out = Vec::new();
    let mut previous_was_insert = false;
    while at < delta.len() {
        match delta_instruction(delta, &mut at)? {
            Instruction::Copy { .. } => {
                if previous_was_insert {
                    out.push(b'\n');
                }
                previous_was_insert = false;
            }
            // Consecutive inserts are contiguous in the object (git splits long literal
            // runs into 127-byte inserts): keep them joined.
            Instruction::Insert(data) => {
                out.extend_from_slice(data);
                previous_was_insert = true;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "gitpack_tests.rs"]
mod tests;
