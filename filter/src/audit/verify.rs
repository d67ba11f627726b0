//! Verifying an audit log: every line parses and is canonical, hashes recompute, seqs
//! are contiguous, `prev_hash` links (across segments too), checkpoints are signed by a
//! trusted key and name a record that is there, and the log is not shorter than its
//! head file says.
//!
//! The core ([`ChainVerifier`], [`verify_segments`]) is pure: it takes segment bytes
//! and returns a [`Report`] naming the first broken line (file, line number, seq,
//! what is wrong). [`verify_paths`] reads files and directories for the CLI.
//!
//! # Starting mid-way
//!
//! With [`VerifyOptions::allow_partial_start`], the first file may begin anywhere in
//! the chain (an evidence bundle: a range of records). The first line's `prev_hash`
//! (or the first segment header's) is then taken as given, and trust is anchored by
//! the signed checkpoints inside the range: a valid checkpoint at seq N commits, through
//! the hash links, to every line from the start of the range up to N. Lines after the
//! last checkpoint are reported as not yet signed; a range with no valid checkpoint at
//! all is reported as broken (nothing anchors it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::chain::{Checkpoint, KeyRing, LogLine, SegmentHeader, GENESIS_HASH};

/// What a verification accepts.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Accept a chain whose first file does not start at segment 1 / seq 1 (see the
    /// module docs for how trust is anchored then), and a chain without its head file
    /// (an incomplete copy). Head files are still checked when given.
    pub allow_partial_start: bool,
    /// Positions of the chain known from outside the log (the store's checkpoints, an
    /// OTLP checkpoint span, an auditor's notes): the log must reach each and agree with
    /// it. This is what catches a log cut back to an earlier checkpoint whose head file
    /// was rewritten to match.
    pub expected: Vec<ExpectedPosition>,
    /// Skip signature checks (only to resume a chain whose older checkpoints may be
    /// signed by a key since replaced; never for verification).
    pub(crate) skip_signatures: bool,
}

/// A position of a chain known from outside the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedPosition {
    /// The chain it is about; `None` applies it to every chain verified.
    pub instance: Option<String>,
    /// The seq the chain reached.
    pub seq: u64,
    /// That line's hash.
    pub hash: String,
    /// Where it comes from, for messages (`--expect-head`, `the store`).
    pub source: String,
    /// When it is a signed checkpoint: its signature is checked with the trusted keys
    /// (a checkpoint no trusted key signed is itself a forgery).
    pub checkpoint: Option<Checkpoint>,
    /// Only compare it when the verified lines reach it (an evidence bundle holding a
    /// range that ends before it); otherwise a log ending before it is truncated.
    pub may_be_past_end: bool,
}

impl ExpectedPosition {
    /// The position a signed checkpoint names.
    pub fn of_checkpoint(checkpoint: &Checkpoint, source: impl Into<String>) -> ExpectedPosition {
        ExpectedPosition {
            instance: Some(checkpoint.instance.clone()),
            seq: checkpoint.seq,
            hash: checkpoint.hash.clone(),
            source: source.into(),
            checkpoint: Some(checkpoint.clone()),
            may_be_past_end: false,
        }
    }
}

/// The first line that does not verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number (one past the last line for a missing tail).
    pub line: u64,
    /// The seq involved, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What is wrong, for people.
    pub problem: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// A break Warden recorded when it restarted after a crash (the previous segment ends
/// in a partial line, left as it was).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedBreak {
    /// The segment that ends torn.
    pub file: PathBuf,
    /// The line number of the partial line.
    pub line: u64,
    /// Bytes of the partial line.
    pub discarded_bytes: u64,
}

/// The verification of one instance's chain.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChainReport {
    /// The instance.
    pub instance: String,
    /// Segment files read.
    pub segments: u64,
    /// Lines read (all kinds).
    pub lines: u64,
    /// Exchange records verified.
    pub records: u64,
    /// Policy versions verified.
    pub policy_versions: u64,
    /// Checkpoints whose signature and (seq, hash) verified.
    pub checkpoints: u64,
    /// The seq before the first chained line read (0 for a whole chain).
    pub start_seq: u64,
    /// The last chained line's seq.
    pub last_seq: u64,
    /// The last chained line's hash.
    pub last_hash: String,
    /// The newest valid checkpoint (from the log or the head file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_signed: Option<Checkpoint>,
    /// Chained lines after the last valid checkpoint (not yet signed).
    pub unsigned: u64,
    /// Whether a head file was found and agreed.
    pub head: HeadStatus,
    /// Positions known from outside the log that it reaches and agrees with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub agrees_with: Vec<String>,
    /// Crash recoveries Warden recorded (not tampering, but listed).
    pub breaks: Vec<RecordedBreak>,
    /// Things worth knowing that do not break the chain.
    pub warnings: Vec<String>,
    /// The first line that does not verify; `None` when the chain is intact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<Broken>,
}

/// What the head file said.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadStatus {
    /// No head file was given or found.
    #[default]
    Missing,
    /// It names a record in the log, with the same hash, and its signature holds.
    Agrees,
    /// It does not (see `first_broken`).
    Disagrees,
}

impl ChainReport {
    /// True when nothing is broken.
    pub fn intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// The verification of everything given.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// One per instance found.
    pub chains: Vec<ChainReport>,
    /// Files that belong to no chain (no header to tell which), each a broken line.
    pub unattributed: Vec<Broken>,
}

impl Report {
    /// True when every chain is intact and every file belonged to one.
    pub fn intact(&self) -> bool {
        self.unattributed.is_empty() && self.chains.iter().all(ChainReport::intact)
    }

    /// The first broken line of all (unattributed files first, then chains in order).
    pub fn first_broken(&self) -> Option<&Broken> {
        self.unattributed
            .first()
            .or_else(|| self.chains.iter().find_map(|c| c.first_broken.as_ref()))
    }
}

/// One segment file's bytes.
#[derive(Clone, Debug)]
pub struct SegmentInput {
    /// Its path (named in the report).
    pub path: PathBuf,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// How a segment ended, to judge the next one's header.
#[derive(Clone, Debug)]
struct SegmentTail {
    path: PathBuf,
    file_name: String,
    /// The last line was a `seal` checkpoint.
    sealed: bool,
    /// A partial last line: (line number, byte offset where it starts, its length).
    torn: Option<(u64, u64, u64)>,
}

/// Where a segment leaves the chain, for resuming it.
#[derive(Debug)]
pub(crate) struct ResumeState {
    /// The first broken line (not counting a torn last line).
    pub broken: Option<Broken>,
    /// How the head file disagrees, when it does.
    pub head_problem: Option<String>,
    /// The segment's number.
    pub segment: u64,
    /// The last complete chained line's seq.
    pub last_seq: u64,
    /// Its hash.
    pub last_hash: String,
    /// The segment ends with its seal.
    pub sealed: bool,
    /// A partial last line: (line number, byte offset, length).
    pub torn: Option<(u64, u64, u64)>,
    /// The newest checkpoint in the segment.
    pub last_signed: Option<Checkpoint>,
}

/// Verifies one instance's chain, a segment at a time (so a long log is never held in
/// memory whole). Feed segments in chain order with [`ChainVerifier::segment`], then
/// call [`ChainVerifier::finish`].
#[derive(Debug)]
pub struct ChainVerifier<'k> {
    keys: &'k KeyRing,
    options: VerifyOptions,
    report: ChainReport,
    /// A first header or chained line has fixed where the chain starts.
    started: bool,
    /// The hash before the first chained line read (genesis for a whole chain).
    start_hash: String,
    last_segment: u64,
    /// Hashes of every chained line read, from `report.start_seq + 1` on.
    hashes: Vec<String>,
    /// Where the last chained line is (file, line), for messages.
    last_line: Option<(PathBuf, u64)>,
    /// The last file fed and its line count.
    last_file: Option<(PathBuf, u64)>,
    previous: Option<SegmentTail>,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier for `instance`'s chain, trusting `keys`.
    pub fn new(instance: &str, keys: &'k KeyRing, options: VerifyOptions) -> ChainVerifier<'k> {
        ChainVerifier {
            keys,
            options,
            report: ChainReport {
                instance: instance.to_string(),
                last_hash: GENESIS_HASH.to_string(),
                ..ChainReport::default()
            },
            started: false,
            start_hash: GENESIS_HASH.to_string(),
            last_segment: 0,
            hashes: Vec::new(),
            last_line: None,
            last_file: None,
            previous: None,
        }
    }

    /// True once a broken line was found (later input is ignored).
    pub fn is_broken(&self) -> bool {
        self.report.first_broken.is_some()
    }

    fn broken(&mut self, file: &Path, line: u64, seq: Option<u64>, problem: String) {
        if self.report.first_broken.is_none() {
            self.report.first_broken = Some(Broken {
                file: file.to_path_buf(),
                line,
                seq,
                problem,
            });
        }
    }

    /// The hash of chained line `seq`, when it is in the verified range.
    fn hash_at(&self, seq: u64) -> Option<&str> {
        if seq == self.report.start_seq {
            return Some(&self.start_hash);
        }
        let index = seq.checked_sub(self.report.start_seq + 1)?;
        self.hashes
            .get(usize::try_from(index).ok()?)
            .map(String::as_str)
    }

    /// Verifies the next segment file of the chain.
    pub fn segment(&mut self, path: &Path, bytes: &[u8]) {
        if self.is_broken() {
            return;
        }
        self.report.segments += 1;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if bytes.is_empty() {
            self.broken(
                path,
                1,
                None,
                "empty file: a segment begins with its header line (the file was emptied)".into(),
            );
            return;
        }
        let mut offset = 0usize;
        let mut line_no = 0u64;
        let mut sealed = false;
        let mut torn = None;
        while offset < bytes.len() {
            line_no += 1;
            let rest = &bytes[offset..];
            let Some(end) = memchr::memchr(b'\n', rest) else {
                torn = Some((line_no, offset as u64, rest.len() as u64));
                break;
            };
            if sealed {
                self.broken(
                    path,
                    line_no,
                    None,
                    "a line after the segment's seal checkpoint (a sealed segment ends with \
                     its seal; lines were appended later)"
                        .into(),
                );
                return;
            }
            self.report.lines += 1;
            sealed = self.line(path, line_no, &rest[..end], line_no == 1);
            if self.is_broken() {
                return;
            }
            offset += end + 1;
        }
        let complete_lines = line_no - u64::from(torn.is_some());
        self.last_file = Some((path.to_path_buf(), complete_lines));
        self.previous = Some(SegmentTail {
            path: path.to_path_buf(),
            file_name,
            sealed,
            torn,
        });
    }

    /// Verifies one complete line; returns true when it is a seal checkpoint.
    fn line(&mut self, path: &Path, line_no: u64, raw: &[u8], first_in_file: bool) -> bool {
        let Ok(text) = std::str::from_utf8(raw) else {
            self.broken(path, line_no, None, "the line is not UTF-8 text".into());
            return false;
        };
        let parsed = match LogLine::parse(text) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.broken(
                    path,
                    line_no,
                    None,
                    format!("the line does not parse as an audit line: {e}"),
                );
                return false;
            }
        };
        let seq = parsed.link().map(|l| l.seq);
        match parsed.to_json() {
            Ok(canonical) if canonical == text => {}
            Ok(_) => {
                self.broken(
                    path,
                    line_no,
                    seq,
                    "the line is not in the canonical form Warden writes (re-serialising what \
                     it says gives other bytes: a field was added, reordered or re-spelt)"
                        .into(),
                );
                return false;
            }
            Err(e) => {
                self.broken(path, line_no, seq, e.to_string());
                return false;
            }
        }
        if parsed.instance() != self.report.instance {
            let problem = format!(
                "the line belongs to instance {:?}, not {:?} (files of two chains mixed, or \
                 the instance was edited)",
                parsed.instance(),
                self.report.instance
            );
            self.broken(path, line_no, seq, problem);
            return false;
        }
        let headerless_start = self.options.allow_partial_start && !self.started;
        match &parsed {
            LogLine::Segment(header) => {
                if first_in_file {
                    self.header(path, line_no, header);
                } else {
                    self.broken(
                        path,
                        line_no,
                        None,
                        "a segment header in the middle of a file".into(),
                    );
                }
                false
            }
            _ if first_in_file && !headerless_start => {
                self.broken(
                    path,
                    line_no,
                    seq,
                    "a segment file must begin with its segment header (its head was cut)".into(),
                );
                false
            }
            LogLine::Record(_) | LogLine::Policy(_) => {
                self.chained(path, line_no, &parsed);
                false
            }
            LogLine::Checkpoint(checkpoint) => {
                self.checkpoint(path, line_no, checkpoint);
                checkpoint.reason == "seal"
            }
        }
    }

    fn start_at(&mut self, seq_before: u64, hash_before: &str) {
        self.started = true;
        self.report.start_seq = seq_before;
        self.report.last_seq = seq_before;
        self.start_hash = hash_before.to_string();
        self.report.last_hash = hash_before.to_string();
    }

    fn header(&mut self, path: &Path, line_no: u64, header: &SegmentHeader) {
        if !self.started {
            let whole_chain_start = header.segment == 1
                && header.first_seq == 1
                && header.prev_hash == GENESIS_HASH
                && header.resumed_after.is_none();
            if !whole_chain_start && !self.options.allow_partial_start {
                let problem = format!(
                    "the chain's first segment must be segment 1, starting at seq 1 from the \
                     genesis hash; this is segment {} from seq {} (earlier segments are \
                     missing; to verify a range, allow a partial start)",
                    header.segment, header.first_seq
                );
                self.broken(path, line_no, None, problem);
                return;
            }
            if header.first_seq == 0 {
                self.broken(path, line_no, None, "first_seq 0: seqs begin at 1".into());
                return;
            }
            self.start_at(header.first_seq - 1, &header.prev_hash);
            self.last_segment = header.segment;
            return;
        }
        if let Some(previous) = self.previous.take() {
            match (&previous.torn, &header.resumed_after) {
                (Some((_, offset, length)), Some(recorded))
                    if recorded.segment_file == previous.file_name
                        && recorded.valid_bytes == *offset
                        && recorded.discarded_bytes == *length =>
                {
                    if let Some((line, _, length)) = previous.torn {
                        self.report.breaks.push(RecordedBreak {
                            file: previous.path.clone(),
                            line,
                            discarded_bytes: length,
                        });
                    }
                }
                (Some((line, _, _)), _) => {
                    self.broken(
                        &previous.path,
                        *line,
                        None,
                        "partial last line (a torn write or a cut file), and the next segment \
                         does not record it as a break"
                            .into(),
                    );
                    return;
                }
                (None, Some(recorded)) => {
                    let problem = format!(
                        "the header records a break in {} that is not there (the previous \
                         segment ends in a complete line)",
                        recorded.segment_file
                    );
                    self.broken(path, line_no, None, problem);
                    return;
                }
                (None, None) if !previous.sealed => {
                    let line = self
                        .last_file
                        .as_ref()
                        .map_or(1, |(_, lines)| lines.saturating_add(1));
                    self.broken(
                        &previous.path,
                        line,
                        None,
                        "the segment ends without its seal checkpoint although another segment \
                         follows (its tail was cut)"
                            .into(),
                    );
                    return;
                }
                (None, None) => {}
            }
        }
        if header.segment != self.last_segment + 1 {
            let problem = format!(
                "segment {} follows segment {}: the segment(s) between are missing",
                header.segment, self.last_segment
            );
            self.broken(path, line_no, None, problem);
            return;
        }
        if header.first_seq != self.report.last_seq + 1 {
            let problem = format!(
                "the segment starts at seq {} but the chain before it ends at seq {} \
                 (records are missing)",
                header.first_seq, self.report.last_seq
            );
            self.broken(path, line_no, Some(header.first_seq), problem);
            return;
        }
        if header.prev_hash != self.report.last_hash {
            let problem = format!(
                "the header's prev_hash is not the hash of seq {} (a segment was replaced)",
                self.report.last_seq
            );
            self.broken(path, line_no, Some(header.first_seq), problem);
            return;
        }
        self.last_segment = header.segment;
    }

    fn chained(&mut self, path: &Path, line_no: u64, line: &LogLine) {
        let Some(link) = line.link() else {
            return;
        };
        if !self.started {
            if link.seq == 0 {
                self.broken(path, line_no, Some(0), "seq 0: seqs begin at 1".into());
                return;
            }
            self.start_at(link.seq - 1, link.prev_hash);
        }
        let expected = self.report.last_seq + 1;
        if link.seq != expected {
            let problem = if link.seq > expected {
                format!(
                    "seq {} where {expected} was expected: seq {expected}..{} are missing \
                     (deleted)",
                    link.seq,
                    link.seq - 1
                )
            } else {
                format!(
                    "seq {} where {expected} was expected (lines reordered or repeated)",
                    link.seq
                )
            };
            self.broken(path, line_no, Some(link.seq), problem);
            return;
        }
        if link.prev_hash != self.report.last_hash {
            let previous = match &self.last_line {
                Some((file, line)) => format!(" ({}:{line})", file.display()),
                None => String::new(),
            };
            let problem = format!(
                "prev_hash is not the hash of seq {}{previous}: that line was changed after \
                 it was chained (its hash recomputed), or this link was",
                self.report.last_seq
            );
            self.broken(path, line_no, Some(link.seq), problem);
            return;
        }
        match line.recompute_hash() {
            Ok(Some(hash)) if hash == link.hash => {}
            Ok(_) => {
                self.broken(
                    path,
                    line_no,
                    Some(link.seq),
                    "the hash does not match the line's content: the line was edited".into(),
                );
                return;
            }
            Err(e) => {
                self.broken(path, line_no, Some(link.seq), e.to_string());
                return;
            }
        }
        match line {
            LogLine::Policy(policy) => {
                if policy.policy.recomputed_hash() != policy.policy.policy_hash {
                    self.broken(
                        path,
                        line_no,
                        Some(link.seq),
                        "policy_hash does not match the policy files' text".into(),
                    );
                    return;
                }
                let file_hashes_hold = policy
                    .policy
                    .files
                    .iter()
                    .all(|f| super::chain::sha256_hex(f.content.as_bytes()) == f.sha256);
                if !file_hashes_hold {
                    self.broken(
                        path,
                        line_no,
                        Some(link.seq),
                        "a policy file's sha256 does not match its text".into(),
                    );
                    return;
                }
                self.report.policy_versions += 1;
            }
            _ => self.report.records += 1,
        }
        self.report.last_seq = link.seq;
        self.report.last_hash = link.hash.to_string();
        self.hashes.push(link.hash.to_string());
        self.last_line = Some((path.to_path_buf(), line_no));
    }

    fn checkpoint(&mut self, path: &Path, line_no: u64, checkpoint: &Checkpoint) {
        if !self.started {
            self.broken(
                path,
                line_no,
                Some(checkpoint.seq),
                "a range must begin with a segment header or a chained line".into(),
            );
            return;
        }
        if checkpoint.seq > self.report.last_seq {
            let problem = format!(
                "the checkpoint names seq {}, past the last line before it (seq {}): \
                 lines were removed or reordered",
                checkpoint.seq, self.report.last_seq
            );
            self.broken(path, line_no, Some(checkpoint.seq), problem);
            return;
        }
        if !self.options.skip_signatures {
            if let Err(e) = checkpoint.verify(self.keys) {
                self.broken(path, line_no, Some(checkpoint.seq), e.to_string());
                return;
            }
        }
        match self.hash_at(checkpoint.seq) {
            Some(hash) if hash == checkpoint.hash => {}
            Some(hash) => {
                let problem = format!(
                    "the signed checkpoint names seq {} with hash {}, but that line's hash \
                     is {hash}: the chain was rewritten after it was signed",
                    checkpoint.seq, checkpoint.hash
                );
                self.broken(path, line_no, Some(checkpoint.seq), problem);
                return;
            }
            None => {
                self.report.warnings.push(format!(
                    "{}:{line_no}: checkpoint at seq {} is before the verified range; only \
                     its signature was checked",
                    path.display(),
                    checkpoint.seq
                ));
                self.report.checkpoints += 1;
                return;
            }
        }
        self.report.checkpoints += 1;
        self.newer_signed(checkpoint);
    }

    fn newer_signed(&mut self, checkpoint: &Checkpoint) {
        if self
            .report
            .last_signed
            .as_ref()
            .is_none_or(|last| checkpoint.seq >= last.seq)
        {
            self.report.last_signed = Some(checkpoint.clone());
        }
    }

    /// Where a (single, newest) segment leaves the chain, for resuming it: a torn last
    /// line is reported, not counted as broken; `head` is compared with the chain.
    pub(crate) fn resume_state(mut self, head: Option<&Checkpoint>) -> ResumeState {
        let (sealed, torn) = self
            .previous
            .take()
            .map_or((false, None), |tail| (tail.sealed, tail.torn));
        let head_problem = head
            .filter(|h| h.instance == self.report.instance)
            .and_then(|head| {
                if head.seq > self.report.last_seq {
                    return Some(format!(
                        "the log ends at seq {} but the head file holds a checkpoint signed at                          seq {}: the log was truncated",
                        self.report.last_seq, head.seq
                    ));
                }
                match self.hash_at(head.seq) {
                    Some(hash) if hash != head.hash => Some(format!(
                        "the head file's checkpoint names seq {} with hash {}, but the log's                          line has {hash}: the chain was rewritten",
                        head.seq, head.hash
                    )),
                    _ => None,
                }
            });
        ResumeState {
            broken: self.report.first_broken.take(),
            head_problem,
            segment: self.last_segment,
            last_seq: self.report.last_seq,
            last_hash: std::mem::take(&mut self.report.last_hash),
            sealed,
            torn,
            last_signed: self.report.last_signed.take(),
        }
    }

    /// Ends the chain: checks its tail and the head file (`None` when there is none),
    /// and returns the report.
    pub fn finish(mut self, head: Option<(&Path, Result<Checkpoint, String>)>) -> ChainReport {
        if !self.is_broken() {
            if let Some(SegmentTail {
                path,
                torn: Some((line, _, _)),
                ..
            }) = self.previous.take()
            {
                self.broken(
                    &path,
                    line,
                    None,
                    "partial last line: a torn write (Warden stopped mid-write; it records a \
                     break when it restarts) or a cut file"
                        .into(),
                );
            }
        }
        if !self.is_broken() {
            self.check_head(head);
        }
        if !self.is_broken() {
            self.check_expected();
        }
        let anchored = self
            .report
            .last_signed
            .as_ref()
            .is_some_and(|c| c.seq > self.report.start_seq)
            || self.report.last_seq == self.report.start_seq;
        if !self.is_broken() && self.options.allow_partial_start && !anchored {
            let (file, line) = self
                .last_file
                .clone()
                .unwrap_or_else(|| (PathBuf::new(), 0));
            self.broken(
                &file,
                line,
                None,
                "no valid signed checkpoint in the range: nothing anchors these lines".into(),
            );
        }
        let signed_to = self
            .report
            .last_signed
            .as_ref()
            .map_or(self.report.start_seq, |c| c.seq);
        self.report.unsigned = self.report.last_seq.saturating_sub(signed_to);
        self.report
    }

    /// Where a problem past the last line is reported: one past the last line read.
    fn past_the_end(&self) -> (PathBuf, u64) {
        self.last_file.as_ref().map_or_else(
            || (PathBuf::new(), 1),
            |(file, lines)| (file.clone(), lines + 1),
        )
    }

    fn check_head(&mut self, head: Option<(&Path, Result<Checkpoint, String>)>) {
        let Some((head_path, head)) = head else {
            if self.options.allow_partial_start {
                self.report.warnings.push(format!(
                    "no head file ({}): a tail cut after the last checkpoint line cannot be \
                     told from a copy that simply ends here",
                    head_file_name(&self.report.instance)
                ));
                return;
            }
            let (file, line) = self.past_the_end();
            let problem = format!(
                "no head file ({}): Warden always keeps one next to the log (the latest \
                 signed checkpoint), so it was deleted, and the log's tail may have been cut \
                 with it. Compare with the checkpoints exported out of the log (--store, or \
                 --expect-head from an OTLP checkpoint span); --partial verifies an \
                 incomplete copy without it",
                head_file_name(&self.report.instance)
            );
            self.broken(&file, line, None, problem);
            return;
        };
        self.report.head = HeadStatus::Disagrees;
        let checkpoint = match head {
            Ok(checkpoint) => checkpoint,
            Err(e) => {
                self.broken(
                    head_path,
                    1,
                    None,
                    format!("the head file is unreadable: {e}"),
                );
                return;
            }
        };
        if checkpoint.instance != self.report.instance {
            let problem = format!(
                "the head file holds a checkpoint of instance {:?}, not {:?} (another chain's \
                 head put in its place)",
                checkpoint.instance, self.report.instance
            );
            self.broken(head_path, 1, Some(checkpoint.seq), problem);
            return;
        }
        if let Err(e) = checkpoint.verify(self.keys) {
            self.broken(
                head_path,
                1,
                Some(checkpoint.seq),
                format!("head checkpoint: {e}"),
            );
            return;
        }
        let (last_file, last_lines) = self
            .last_file
            .clone()
            .unwrap_or_else(|| (head_path.to_path_buf(), 0));
        if checkpoint.seq > self.report.last_seq {
            let problem = format!(
                "the log ends at seq {} but its head file {} holds a checkpoint signed at seq \
                 {}: seq {}..{} were removed (the log was truncated)",
                self.report.last_seq,
                head_path.display(),
                checkpoint.seq,
                self.report.last_seq + 1,
                checkpoint.seq
            );
            self.broken(
                &last_file,
                last_lines + 1,
                Some(self.report.last_seq + 1),
                problem,
            );
            return;
        }
        match self.hash_at(checkpoint.seq) {
            Some(hash) if hash == checkpoint.hash => {
                self.report.head = HeadStatus::Agrees;
                if self
                    .report
                    .last_signed
                    .as_ref()
                    .is_none_or(|last| checkpoint.seq > last.seq)
                {
                    self.report.warnings.push(format!(
                        "the head file's checkpoint (seq {}) is not in the log: a checkpoint \
                         line was removed",
                        checkpoint.seq
                    ));
                }
                self.newer_signed(&checkpoint);
            }
            Some(hash) => {
                let problem = format!(
                    "the head file's signed checkpoint names seq {} with hash {}, but the log's \
                     line has {hash}: the chain was rewritten",
                    checkpoint.seq, checkpoint.hash
                );
                self.broken(head_path, 1, Some(checkpoint.seq), problem);
            }
            None => {
                self.report.head = HeadStatus::Missing;
                self.report.warnings.push(format!(
                    "the head file's checkpoint (seq {}) is before the verified range",
                    checkpoint.seq
                ));
            }
        }
    }
}

impl ChainVerifier<'_> {
    /// Compares the chain with the positions known from outside the log.
    fn check_expected(&mut self) {
        let expected: Vec<ExpectedPosition> = self
            .options
            .expected
            .iter()
            .filter(|e| {
                e.instance
                    .as_deref()
                    .is_none_or(|instance| instance == self.report.instance)
            })
            .cloned()
            .collect();
        for position in expected {
            if let Some(checkpoint) = &position.checkpoint {
                if !self.options.skip_signatures {
                    if let Err(e) = checkpoint.verify(self.keys) {
                        let (file, line) = self.past_the_end();
                        let problem = format!(
                            "{}: the checkpoint at seq {} is not signed by a key you trust \
                             ({e}): it was forged there, or signed by a key you did not pass",
                            position.source, checkpoint.seq
                        );
                        self.broken(&file, line, Some(checkpoint.seq), problem);
                        return;
                    }
                }
            }
            if position.seq > self.report.last_seq {
                if position.may_be_past_end {
                    self.report.warnings.push(format!(
                        "{} names seq {}, past the lines verified here (seq {}): not compared",
                        position.source, position.seq, self.report.last_seq
                    ));
                    continue;
                }
                let (file, line) = self.past_the_end();
                let problem = format!(
                    "the log ends at seq {} but {} says the chain reached seq {} (hash {}): \
                     seq {}..{} were removed. The log was cut back (truncated), and its head \
                     file deleted or rewritten to an earlier checkpoint",
                    self.report.last_seq,
                    position.source,
                    position.seq,
                    position.hash,
                    self.report.last_seq + 1,
                    position.seq
                );
                self.broken(&file, line, Some(self.report.last_seq + 1), problem);
                return;
            }
            match self.hash_at(position.seq).map(str::to_string) {
                Some(hash) if hash == position.hash => {
                    self.report.agrees_with.push(format!(
                        "{}: seq {} hash {}",
                        position.source, position.seq, position.hash
                    ));
                }
                Some(hash) => {
                    let (file, line) = self.past_the_end();
                    let problem = format!(
                        "{} says seq {} has hash {}, but the log's line has {hash}: the chain \
                         was rewritten after that position left the log",
                        position.source, position.seq, position.hash
                    );
                    self.broken(&file, line, Some(position.seq), problem);
                    return;
                }
                None => self.report.warnings.push(format!(
                    "{} names seq {}, before the lines verified here: not compared",
                    position.source, position.seq
                )),
            }
        }
    }
}

/// Which chain a file belongs to and where it goes in it, from its first line.
fn place_of(first_line: &[u8]) -> Result<(String, u64, u64), String> {
    let text = std::str::from_utf8(first_line).map_err(|_| "the first line is not UTF-8")?;
    let line = LogLine::parse(text).map_err(|e| format!("the first line does not parse: {e}"))?;
    Ok(match &line {
        LogLine::Segment(header) => (header.instance.clone(), header.first_seq, header.segment),
        LogLine::Record(r) => (r.instance.clone(), r.seq, 0),
        LogLine::Policy(p) => (p.instance.clone(), p.seq, 0),
        LogLine::Checkpoint(c) => (c.instance.clone(), c.seq, 0),
    })
}

fn first_line(bytes: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', bytes) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

/// Files of one chain, in chain order: (first seq, segment number, path).
type ChainFiles = BTreeMap<String, Vec<(u64, u64, PathBuf)>>;

/// Sorts files into chains by their first line; files that tell no chain are returned
/// as broken.
fn group<'a>(firsts: impl Iterator<Item = (&'a Path, &'a [u8])>) -> (ChainFiles, Vec<Broken>) {
    let mut chains = ChainFiles::new();
    let mut unattributed = Vec::new();
    for (path, first) in firsts {
        match place_of(first) {
            Ok((instance, seq, segment)) => {
                chains
                    .entry(instance)
                    .or_default()
                    .push((seq, segment, path.to_path_buf()));
            }
            Err(problem) => unattributed.push(Broken {
                file: path.to_path_buf(),
                line: 1,
                seq: None,
                problem: format!("{problem} (cannot tell which chain the file belongs to)"),
            }),
        }
    }
    for files in chains.values_mut() {
        files.sort();
    }
    (chains, unattributed)
}

fn parse_head(bytes: &[u8]) -> Result<Checkpoint, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Verifies segments held in memory, with head files `(path, bytes)`.
pub fn verify_segments(
    segments: &[SegmentInput],
    heads: &[SegmentInput],
    keys: &KeyRing,
    options: &VerifyOptions,
) -> Report {
    let (chains, unattributed) = group(
        segments
            .iter()
            .map(|s| (s.path.as_path(), first_line(&s.bytes))),
    );
    let bytes_of = |path: &Path| {
        segments
            .iter()
            .find(|s| s.path == path)
            .map_or(&[][..], |s| s.bytes.as_slice())
    };
    let heads: Vec<(&Path, Result<Checkpoint, String>)> = heads
        .iter()
        .map(|h| (h.path.as_path(), parse_head(&h.bytes)))
        .collect();
    let mut report = Report {
        chains: Vec::new(),
        unattributed,
    };
    for (instance, files) in &chains {
        let mut verifier = ChainVerifier::new(instance, keys, options.clone());
        for (_, _, path) in files {
            verifier.segment(path, bytes_of(path));
        }
        report
            .chains
            .push(verifier.finish(head_for(instance, &heads)));
    }
    report
}

fn head_for<'a>(
    instance: &str,
    heads: &[(&'a Path, Result<Checkpoint, String>)],
) -> Option<(&'a Path, Result<Checkpoint, String>)> {
    heads.iter().find_map(|(path, head)| {
        let named = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == format!("{instance}.head.json"));
        named.then(|| (*path, head.clone()))
    })
}

/// Why files could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A path could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No segment file was found.
    #[error("no audit segment (*.jsonl) found in {0}; pass segment files or the audit.log_dir")]
    NoSegments(String),
}

/// The name of the head file of `instance`.
pub fn head_file_name(instance: &str) -> String {
    format!("{instance}.head.json")
}

/// Verifies segment files and log directories (every `*.jsonl` in them). Head files
/// (`<instance>.head.json`) are taken from the directories given and, unless a partial
/// start is allowed, from the directories of the files given.
pub fn verify_paths(
    paths: &[PathBuf],
    keys: &KeyRing,
    options: &VerifyOptions,
) -> Result<Report, VerifyError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VerifyError::Read { path, source }
    };
    let mut segments = Vec::new();
    let mut head_dirs = Vec::new();
    let mut heads = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).map_err(read_err(path))? {
                let entry = entry.map_err(read_err(path))?.path();
                let name = entry
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.ends_with(".jsonl") && entry.is_file() {
                    segments.push(entry);
                }
            }
            head_dirs.push(path.clone());
        } else if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".head.json"))
        {
            heads.push(path.clone());
        } else {
            segments.push(path.clone());
            if !options.allow_partial_start {
                let parent = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
                head_dirs.push(parent);
            }
        }
    }
    if segments.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(VerifyError::NoSegments(names.join(", ")));
    }
    segments.sort();
    segments.dedup();
    let mut firsts = Vec::with_capacity(segments.len());
    for path in &segments {
        firsts.push((path.clone(), read_first_line(path).map_err(read_err(path))?));
    }
    let (chains, unattributed) = group(firsts.iter().map(|(p, l)| (p.as_path(), l.as_slice())));
    for instance in chains.keys() {
        for dir in &head_dirs {
            let candidate = dir.join(head_file_name(instance));
            if candidate.is_file() && !heads.contains(&candidate) {
                heads.push(candidate);
            }
        }
    }
    let mut head_checkpoints = Vec::new();
    for path in &heads {
        let bytes = std::fs::read(path).map_err(read_err(path))?;
        head_checkpoints.push((path.as_path(), parse_head(&bytes)));
    }
    let mut report = Report {
        chains: Vec::new(),
        unattributed,
    };
    for (instance, files) in &chains {
        let mut verifier = ChainVerifier::new(instance, keys, options.clone());
        for (_, _, path) in files {
            if verifier.is_broken() {
                break;
            }
            let bytes = std::fs::read(path).map_err(read_err(path))?;
            verifier.segment(path, &bytes);
        }
        report
            .chains
            .push(verifier.finish(head_for(instance, &head_checkpoints)));
    }
    Ok(report)
}

fn read_first_line(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for broken in &self.unattributed {
            writeln!(f, "BROKEN: {broken}")?;
        }
        for chain in &self.chains {
            let state = if chain.intact() { "intact" } else { "BROKEN" };
            writeln!(
                f,
                "{}: {state}: {} segment(s), {} record(s), {} policy version(s), {} \
                 checkpoint(s), seq {}..{}",
                chain.instance,
                chain.segments,
                chain.records,
                chain.policy_versions,
                chain.checkpoints,
                chain.start_seq + 1,
                chain.last_seq
            )?;
            match &chain.last_signed {
                Some(signed) => writeln!(
                    f,
                    "  last signed checkpoint: seq {} ({}, {}, key {}); {} line(s) after it \
                     not yet signed",
                    signed.seq, signed.reason, signed.signed_at, signed.key_id, chain.unsigned
                )?,
                None => writeln!(
                    f,
                    "  no signed checkpoint; {} line(s) not yet signed",
                    chain.unsigned
                )?,
            }
            let head = match chain.head {
                HeadStatus::Missing => "missing",
                HeadStatus::Agrees => "agrees",
                HeadStatus::Disagrees => "DISAGREES",
            };
            writeln!(f, "  head file: {head}")?;
            for agreement in &chain.agrees_with {
                writeln!(f, "  agrees with {agreement}")?;
            }
            for recorded in &chain.breaks {
                writeln!(
                    f,
                    "  recorded break (crash): {}:{} partial line of {} byte(s) left in place",
                    recorded.file.display(),
                    recorded.line,
                    recorded.discarded_bytes
                )?;
            }
            for warning in &chain.warnings {
                writeln!(f, "  warning: {warning}")?;
            }
            if let Some(broken) = &chain.first_broken {
                writeln!(f, "  first broken: {broken}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::tests::{sample_record, test_key};
    use crate::audit::chain::{Chain, CheckpointReason, LogLine, SegmentHeader};
    use ed25519_dalek::SigningKey;

    /// Builds a log in memory the way the writer does: segments of `per_segment`
    /// records, a `count` checkpoint every `checkpoint_every` records, each segment
    /// sealed, and a final `shutdown` checkpoint. Returns the segments and the head.
    struct LogBuilder {
        chain: Chain,
        key: SigningKey,
        segments: Vec<(String, Vec<String>)>,
        head: Option<Checkpoint>,
    }

    impl LogBuilder {
        fn new() -> LogBuilder {
            LogBuilder {
                chain: Chain::new("w1"),
                key: test_key(1),
                segments: Vec::new(),
                head: None,
            }
        }

        fn begin_segment(&mut self) {
            let number = self.segments.len() as u64 + 1;
            let first_seq = self.chain.seq() + 1;
            let header = LogLine::Segment(SegmentHeader {
                instance: "w1".into(),
                segment: number,
                first_seq,
                prev_hash: self.chain.hash().to_string(),
                key_id: crate::audit::chain::key_id(&self.key.verifying_key()),
                created_at: "2026-11-30T08:00:00.000000Z".into(),
                resumed_after: None,
            });
            self.segments.push((
                format!("w1-{first_seq:012}.jsonl"),
                vec![header.to_json().unwrap()],
            ));
        }

        fn push(&mut self, line: LogLine) {
            let text = line.to_json().unwrap();
            self.segments.last_mut().unwrap().1.push(text);
        }

        fn record(&mut self, n: u64) {
            let line = LogLine::Record(self.chain.append(sample_record(n)).unwrap());
            self.push(line);
        }

        fn checkpoint(&mut self, reason: CheckpointReason) {
            let checkpoint = Checkpoint::sign_at(
                &self.chain,
                reason,
                &self.key,
                "2026-11-30T08:00:01.000000Z".into(),
            );
            self.head = Some(checkpoint.clone());
            self.push(LogLine::Checkpoint(checkpoint));
        }

        /// `segments` segments of `records` records, a checkpoint every 2 records.
        fn standard(segments: u64, records: u64) -> LogBuilder {
            let mut log = LogBuilder::new();
            let mut n = 0;
            for s in 0..segments {
                log.begin_segment();
                for _ in 0..records {
                    n += 1;
                    log.record(n);
                    if n % 2 == 0 {
                        log.checkpoint(CheckpointReason::Count);
                    }
                }
                if s + 1 < segments {
                    log.checkpoint(CheckpointReason::Seal);
                }
            }
            log.checkpoint(CheckpointReason::Shutdown);
            log
        }

        fn keys(&self) -> KeyRing {
            let mut keys = KeyRing::new();
            keys.add(self.key.verifying_key());
            keys
        }

        fn inputs(&self) -> Vec<SegmentInput> {
            self.segments
                .iter()
                .map(|(name, lines)| SegmentInput {
                    path: PathBuf::from(name),
                    bytes: lines
                        .iter()
                        .flat_map(|l| format!("{l}\n").into_bytes())
                        .collect(),
                })
                .collect()
        }

        fn head_input(&self) -> Vec<SegmentInput> {
            self.head
                .iter()
                .map(|head| SegmentInput {
                    path: PathBuf::from("w1.head.json"),
                    bytes: serde_json::to_vec(head).unwrap(),
                })
                .collect()
        }

        fn verify(&self) -> Report {
            self.verify_with(self.inputs(), &VerifyOptions::default())
        }

        fn verify_with(&self, inputs: Vec<SegmentInput>, options: &VerifyOptions) -> Report {
            verify_segments(&inputs, &self.head_input(), &self.keys(), options)
        }

        /// Line `line` (1-based) of segment `segment` (0-based), parsed.
        fn line(&self, segment: usize, line: usize) -> LogLine {
            LogLine::parse(&self.segments[segment].1[line - 1]).unwrap()
        }

        fn set_line(&mut self, segment: usize, line: usize, value: &LogLine) {
            self.segments[segment].1[line - 1] = value.to_json().unwrap();
        }
    }

    fn first_broken(report: &Report) -> &Broken {
        report
            .first_broken()
            .unwrap_or_else(|| panic!("expected a broken line, the report says intact:\n{report}"))
    }

    fn record_mut(line: &mut LogLine) -> &mut crate::audit::ChainedRecord {
        match line {
            LogLine::Record(record) => record,
            other => panic!("not a record: {other:?}"),
        }
    }

    #[test]
    fn an_intact_multi_segment_log_verifies() {
        let log = LogBuilder::standard(3, 5);
        let report = log.verify();
        assert!(report.intact(), "{report}");
        let chain = &report.chains[0];
        assert_eq!(chain.segments, 3);
        assert_eq!(chain.records, 15);
        assert_eq!(chain.last_seq, 15);
        assert_eq!(chain.head, HeadStatus::Agrees);
        assert_eq!(chain.unsigned, 0);
        assert_eq!(chain.last_signed.as_ref().unwrap().reason, "shutdown");
        // 7 count checkpoints, 2 seals, 1 shutdown.
        assert_eq!(chain.checkpoints, 10);
    }

    #[test]
    fn records_after_the_last_checkpoint_are_counted_unsigned() {
        let mut log = LogBuilder::standard(1, 4);
        log.record(5);
        log.record(6);
        let report = log.verify();
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].last_signed.as_ref().unwrap().seq, 4);
        assert_eq!(report.chains[0].unsigned, 2);
    }

    #[test]
    fn an_edited_field_with_the_hash_left_alone_is_named() {
        let mut log = LogBuilder::standard(2, 4);
        // Segment 1: header, r1, r2, cp, r3, r4, cp, seal.
        let mut line = log.line(0, 5);
        record_mut(&mut line).record.decision.outcome = "deny".into();
        log.set_line(0, 5, &line);
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!(broken.file, PathBuf::from("w1-000000000001.jsonl"));
        assert_eq!(broken.line, 5);
        assert_eq!(broken.seq, Some(3));
        assert!(broken.problem.contains("hash does not match"), "{broken}");
    }

    #[test]
    fn an_edit_with_the_hash_recomputed_breaks_the_next_link() {
        let mut log = LogBuilder::standard(2, 4);
        let mut line = log.line(0, 5);
        let record = record_mut(&mut line);
        record.record.decision.outcome = "deny".into();
        record.hash = record.recompute_hash().unwrap();
        log.set_line(0, 5, &line);
        let report = log.verify();
        let broken = first_broken(&report);
        // r4 (line 6) no longer links to r3.
        assert_eq!((broken.line, broken.seq), (6, Some(4)));
        assert!(broken.problem.contains("prev_hash"), "{broken}");
        assert!(
            broken.problem.contains("w1-000000000001.jsonl:5"),
            "{broken}"
        );
    }

    #[test]
    fn a_rewritten_tail_is_caught_by_the_signed_checkpoint() {
        // Edit r3 and re-chain everything after it without the key: links hold, the
        // checkpoint signed over r4's old hash does not.
        let mut log = LogBuilder::standard(1, 4);
        let mut chain = Chain::resume("w1", 2, record_mut(&mut log.line(0, 3)).hash.clone());
        let mut r3 = sample_record(3);
        r3.decision.outcome = "deny".into();
        let r3 = LogLine::Record(chain.append(r3).unwrap());
        let r4 = LogLine::Record(chain.append(sample_record(4)).unwrap());
        log.set_line(0, 5, &r3);
        log.set_line(0, 6, &r4);
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!(broken.line, 7);
        assert!(broken.problem.contains("rewritten"), "{broken}");
    }

    #[test]
    fn an_added_unknown_field_is_not_canonical() {
        let mut log = LogBuilder::standard(1, 2);
        let text = log.segments[0].1[1].replacen("{", r#"{"approved_by_ceo":true,"#, 1);
        log.segments[0].1[1] = text;
        let broken_report = log.verify();
        let broken = first_broken(&broken_report);
        assert_eq!(broken.line, 2);
        assert!(broken.problem.contains("canonical"), "{broken}");
    }

    #[test]
    fn reordered_keys_are_not_canonical_either() {
        let mut log = LogBuilder::standard(1, 2);
        let value: serde_json::Value = serde_json::from_str(&log.segments[0].1[1]).unwrap();
        // serde_json::Value sorts keys: same content, other bytes.
        log.segments[0].1[1] = serde_json::to_string(&value).unwrap();
        let report = log.verify();
        assert_eq!(first_broken(&report).line, 2);
    }

    #[test]
    fn a_deleted_middle_record_is_a_seq_gap() {
        let mut log = LogBuilder::standard(1, 4);
        log.segments[0].1.remove(4); // r3
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!((broken.line, broken.seq), (5, Some(4)));
        assert!(broken.problem.contains("missing"), "{broken}");
    }

    #[test]
    fn a_deleted_middle_segment_is_named() {
        let log = LogBuilder::standard(3, 4);
        let mut inputs = log.inputs();
        inputs.remove(1);
        let report = log.verify_with(inputs, &VerifyOptions::default());
        let broken = first_broken(&report);
        assert_eq!(broken.file, PathBuf::from("w1-000000000009.jsonl"));
        assert_eq!(broken.line, 1);
        assert!(
            broken.problem.contains("segment 3 follows segment 1"),
            "{broken}"
        );
    }

    #[test]
    fn two_swapped_records_are_out_of_order() {
        let mut log = LogBuilder::standard(1, 4);
        log.segments[0].1.swap(4, 5); // r3 <-> r4
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!((broken.line, broken.seq), (5, Some(4)));
    }

    #[test]
    fn a_cut_tail_is_caught_by_the_head_file() {
        let mut log = LogBuilder::standard(1, 4);
        // Drop r4, its checkpoint and the shutdown checkpoint: the log is consistent
        // in itself, but the head holds the shutdown checkpoint at seq 4.
        log.segments[0].1.truncate(5);
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!(broken.seq, Some(4));
        assert!(broken.problem.contains("truncated"), "{broken}");
        assert_eq!(report.chains[0].head, HeadStatus::Disagrees);
    }

    #[test]
    fn a_cut_segment_that_another_follows_is_unsealed() {
        let mut log = LogBuilder::standard(2, 4);
        log.segments[0].1.truncate(6); // lose r4's checkpoint and the seal
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!(broken.file, PathBuf::from("w1-000000000001.jsonl"));
        assert!(broken.problem.contains("seal"), "{broken}");
    }

    #[test]
    fn a_partial_last_line_is_broken_unless_a_restart_recorded_it() {
        let log = LogBuilder::standard(1, 3);
        let mut inputs = log.inputs();
        let bytes = &mut inputs[0].bytes;
        let valid = bytes.len() as u64;
        let partial = br#"{"type":"record","instance":"w1","se"#;
        bytes.extend_from_slice(partial);
        let report = log.verify_with(inputs.clone(), &VerifyOptions::default());
        let broken = first_broken(&report);
        assert_eq!(broken.line, 7);
        assert!(broken.problem.contains("partial last line"), "{broken}");

        // A restart recorded the break in the next segment's header: intact, listed.
        let mut chain = Chain::resume("w1", log.chain.seq(), log.chain.hash());
        let header = LogLine::Segment(SegmentHeader {
            instance: "w1".into(),
            segment: 2,
            first_seq: chain.seq() + 1,
            prev_hash: chain.hash().into(),
            key_id: crate::audit::chain::key_id(&log.key.verifying_key()),
            created_at: "2026-11-30T09:00:00.000000Z".into(),
            resumed_after: Some(crate::audit::ChainBreak {
                segment_file: "w1-000000000001.jsonl".into(),
                valid_bytes: valid,
                discarded_bytes: partial.len() as u64,
                reason: "test".into(),
            }),
        });
        let record = LogLine::Record(chain.append(sample_record(4)).unwrap());
        let checkpoint = LogLine::Checkpoint(Checkpoint::sign_at(
            &chain,
            CheckpointReason::Shutdown,
            &log.key,
            "2026-11-30T09:00:01.000000Z".into(),
        ));
        let text: String = [header, record, checkpoint]
            .iter()
            .map(|l| format!("{}\n", l.to_json().unwrap()))
            .collect();
        inputs.push(SegmentInput {
            path: PathBuf::from("w1-000000000004.jsonl"),
            bytes: text.into_bytes(),
        });
        let report = log.verify_with(inputs, &VerifyOptions::default());
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].breaks.len(), 1);
        assert_eq!(report.chains[0].last_seq, 4);
    }

    #[test]
    fn a_checkpoint_forged_with_another_key_is_named() {
        let mut log = LogBuilder::standard(1, 4);
        let chain = Chain::resume("w1", 2, log.line(0, 3).link().unwrap().hash);
        let forged = Checkpoint::sign_at(
            &chain,
            CheckpointReason::Count,
            &test_key(99),
            "2026-11-30T08:00:01.000000Z".into(),
        );
        log.set_line(0, 5, &LogLine::Checkpoint(forged.clone()));
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!(broken.line, 5);
        assert!(broken.problem.contains("unknown key"), "{broken}");

        // Claiming the trusted key's id does not help.
        let mut claimed = forged;
        claimed.key_id = crate::audit::chain::key_id(&log.key.verifying_key());
        log.set_line(0, 5, &LogLine::Checkpoint(claimed));
        let report = log.verify();
        let broken = first_broken(&report);
        assert_eq!(broken.line, 5);
        assert!(broken.problem.contains("does not verify"), "{broken}");
    }

    #[test]
    fn a_missing_head_file_is_broken_unless_the_copy_is_partial() {
        let log = LogBuilder::standard(1, 4);
        let no_head = verify_segments(&log.inputs(), &[], &log.keys(), &VerifyOptions::default());
        let broken = first_broken(&no_head);
        assert!(broken.problem.contains("no head file"), "{broken}");
        let options = VerifyOptions {
            allow_partial_start: true,
            ..VerifyOptions::default()
        };
        let partial = verify_segments(&log.inputs(), &[], &log.keys(), &options);
        assert!(partial.intact(), "{partial}");
    }

    #[test]
    fn another_chains_head_in_place_of_the_head_file_is_named() {
        let mut log = LogBuilder::standard(1, 2);
        let other = Chain::new("w2");
        log.head = Some(Checkpoint::sign_at(
            &other,
            CheckpointReason::Start,
            &log.key,
            "2026-11-30T08:00:01.000000Z".into(),
        ));
        let report = log.verify();
        let broken = first_broken(&report);
        assert!(broken.problem.contains("another chain's head"), "{broken}");
    }

    #[test]
    fn a_log_cut_back_to_an_earlier_checkpoint_is_caught_by_an_exported_position() {
        // Segment 1: header, r1, r2, cp@2, r3, r4, cp@4, shutdown@4. Cut after cp@2,
        // with the head rewritten to cp@2: consistent in itself.
        let mut log = LogBuilder::standard(1, 4);
        let exported = match log.line(0, 8) {
            LogLine::Checkpoint(c) => c,
            other => panic!("{other:?}"),
        };
        let earlier = match log.line(0, 4) {
            LogLine::Checkpoint(c) => c,
            other => panic!("{other:?}"),
        };
        log.segments[0].1.truncate(4);
        log.head = Some(earlier.clone());
        assert!(log.verify().intact(), "the directory alone cannot tell");

        let with = |position: ExpectedPosition| {
            let options = VerifyOptions {
                expected: vec![position],
                ..VerifyOptions::default()
            };
            log.verify_with(log.inputs(), &options)
        };
        let report = with(ExpectedPosition::of_checkpoint(&exported, "the store"));
        let broken = first_broken(&report);
        assert!(broken.problem.contains("truncated"), "{broken}");
        assert!(broken.problem.contains("the store"), "{broken}");
        assert_eq!(broken.seq, Some(3));

        // A position the log does reach, with another hash: rewritten.
        let mut rewritten = ExpectedPosition::of_checkpoint(&earlier, "--expect-head");
        rewritten.checkpoint = None;
        rewritten.hash = "ab".repeat(32);
        let broken_report = with(rewritten);
        assert!(first_broken(&broken_report).problem.contains("rewritten"));

        // A checkpoint no trusted key signed proves nothing, and says so.
        let chain = Chain::resume("w1", 9, "cd".repeat(32));
        let forged = Checkpoint::sign_at(
            &chain,
            CheckpointReason::Count,
            &test_key(99),
            "2026-11-30T08:00:01.000000Z".into(),
        );
        let forged_report = with(ExpectedPosition::of_checkpoint(&forged, "the store"));
        let broken = first_broken(&forged_report);
        assert!(
            broken.problem.contains("not signed by a key you trust"),
            "{broken}"
        );

        // Agreeing positions are listed; one past a bundle's range is only noted.
        let report = with(ExpectedPosition::of_checkpoint(&earlier, "the store"));
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].agrees_with.len(), 1);
        let mut past = ExpectedPosition::of_checkpoint(&exported, "the store");
        past.may_be_past_end = true;
        let report = with(past);
        assert!(report.intact(), "{report}");
        assert!(report.chains[0]
            .warnings
            .iter()
            .any(|w| w.contains("not compared")));
    }

    #[test]
    fn a_range_starting_mid_chain_needs_the_option_and_a_checkpoint() {
        let log = LogBuilder::standard(3, 4);
        let inputs: Vec<SegmentInput> = log.inputs().into_iter().skip(1).collect();
        let whole = log.verify_with(inputs.clone(), &VerifyOptions::default());
        assert!(first_broken(&whole).problem.contains("first segment"));
        let options = VerifyOptions {
            allow_partial_start: true,
            ..VerifyOptions::default()
        };
        let report = verify_segments(&inputs, &[], &log.keys(), &options);
        assert!(report.intact(), "{report}");
        assert_eq!(report.chains[0].start_seq, 4);
        assert_eq!(report.chains[0].records, 8);

        // Records only, no checkpoint in the range: nothing anchors them.
        let mut bare = log.inputs()[1].clone();
        let text = String::from_utf8(bare.bytes).unwrap();
        let records: String = text
            .lines()
            .filter(|l| l.starts_with(r#"{"type":"record""#))
            .map(|l| format!("{l}\n"))
            .collect();
        bare.bytes = records.into_bytes();
        let report = verify_segments(&[bare], &[], &log.keys(), &options);
        assert!(first_broken(&report).problem.contains("nothing anchors"));
    }
}
