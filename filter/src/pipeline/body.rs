//! Bodies: how each one is inspected (skip, streamed, buffered), decoded and masked.
//!
//! The choice is made from the headers — content type, encoding, length — before the
//! first byte arrives, because Envoy must be told the mode in the header reply:
//!
//! - compressed bodies are buffered, decoded and masked whole (a compressed stream
//!   cannot be masked chunk by chunk); if masking changes them they go on decoded,
//!   with `content-encoding` removed and `content-length` fixed;
//! - bodies of known length within the limit are buffered, so a changed body gets a
//!   matching `content-length`;
//! - event streams, NDJSON and bodies of unknown or large size are streamed; their
//!   `content-length` is removed up front because masking may resize them;
//! - what a body is, its bytes decide, not its label: text under any label (JSON
//!   labelled `application/octet-stream`, a prompt labelled `image/png`) is masked,
//!   multipart bodies part by part ([`crate::redact::BodyMasker`]); only bytes that
//!   really are binary follow the binary policy: pass (logged) or refuse.

use std::collections::BTreeMap;

use crate::audit::BodyRecorder;
use crate::content::{self, Declared};
use crate::http::Headers;
use crate::masking::BinaryPolicy;
use std::sync::Arc;

use crate::redact::fields::{FieldError, FieldMasker, FieldSet};
use crate::redact::gitpack::{self, GitPackInspector};
use crate::redact::{
    decode_body, BodyMasker, ContentKind, Direction, Finding, Redactor, UnlistedFindings,
};

use super::{reply, BodyMode, LocalReply, Mutation, Outcome, Step};

/// How one body will be handled, decided from its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyChoice {
    /// The phase mode to ask Envoy for.
    pub mode: BodyMode,
    /// Whether the body is masked (by the pattern engine, flagged fields, or both).
    pub mask: bool,
    /// Whether the pattern engine masks it (`mask` without `patterns`: only the fields
    /// a policy flags are masked).
    pub patterns: bool,
    /// What the headers declare the body to be (a hint: the bytes decide).
    pub content: Declared,
    /// The `content-encoding` to undo before masking (buffered bodies only).
    pub encoding: Option<String>,
    /// Remove `content-length` in the header reply (streamed masking may resize).
    pub drop_content_length: bool,
    /// What bytes that are binary get: passed unread, or refused.
    pub binary: BinaryPolicy,
    /// Bytes of the body were binary and passed unread (set as the body is read).
    pub passed_unread: bool,
}

impl BodyChoice {
    /// A body handled in `mode` without masking.
    pub fn unmasked(mode: BodyMode) -> BodyChoice {
        BodyChoice {
            mode,
            mask: false,
            patterns: false,
            content: Declared::default(),
            encoding: None,
            drop_content_length: false,
            binary: BinaryPolicy::Pass,
            passed_unread: false,
        }
    }
}

/// Findings of a buffered body listed one by one; past it they are only counted per rule
/// (the tally is all the data path keeps), so a body with a million findings does not
/// hold a million of them.
const LISTED_FINDINGS: usize = 64;

/// Masking findings of one body, by rule. Never holds a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingTally {
    /// Findings in all.
    pub total: u64,
    /// Findings per rule id.
    pub by_rule: BTreeMap<String, u64>,
}

impl FindingTally {
    pub(crate) fn add(&mut self, findings: &[Finding]) {
        for finding in findings {
            self.total += 1;
            *self.by_rule.entry(finding.rule_id.to_string()).or_default() += 1;
        }
    }

    /// Adds findings the masker counted without listing them.
    pub(crate) fn add_unlisted(&mut self, unlisted: &UnlistedFindings) {
        for (rule_id, count) in &unlisted.by_rule {
            self.total += count;
            *self.by_rule.entry(rule_id.to_string()).or_default() += count;
        }
    }

    /// The rule ids that fired, comma-separated (for logs and replies).
    pub fn rules(&self) -> String {
        self.by_rule.keys().cloned().collect::<Vec<_>>().join(",")
    }
}

/// Progress through one body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyProgress {
    /// Bytes seen so far (as Envoy sent them, before decoding).
    pub bytes: u64,
    /// Messages (chunks) seen so far.
    pub messages: u32,
    /// True once the last chunk arrived.
    pub ended: bool,
}

/// Per-direction body state of an exchange.
#[derive(Debug)]
pub(crate) struct BodyState {
    pub(crate) progress: BodyProgress,
    pub(crate) choice: BodyChoice,
    pub(crate) masker: Option<BodyMasker>,
    /// The fields the policy flags in this body (`None`: none).
    pub(crate) fields: Option<Arc<FieldSet>>,
    /// Masks them as the body streams.
    pub(crate) field_masker: Option<FieldMasker>,
    /// Inspects a git fetch's or push's pack data (which cannot be masked, only let
    /// through or refused).
    pub(crate) git_pack: Option<GitPackInspector>,
    /// The start of a push's body (its command list, up to [`PUSH_HEAD_MAX`]): a refusal
    /// names the refs it rejects and answers in the shape the client asked for.
    pub(crate) push_head: Vec<u8>,
    pub(crate) findings: FindingTally,
    /// The masked body as passed on, kept for the session capture (only when sessions
    /// are recorded).
    pub(crate) capture: Option<BodyRecorder>,
    /// When masking the current message must give up (its share of Envoy's message
    /// timeout and of the exchange's CPU budget).
    pub(crate) deadline: Option<std::time::Instant>,
}

impl Default for BodyState {
    fn default() -> Self {
        BodyState {
            progress: BodyProgress::default(),
            choice: BodyChoice::unmasked(BodyMode::Skip),
            masker: None,
            fields: None,
            field_masker: None,
            git_pack: None,
            push_head: Vec::new(),
            findings: FindingTally::default(),
            capture: None,
            deadline: None,
        }
    }
}

/// Why a body was refused at its headers.
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Chooses how to handle a body from its headers.
///
/// `base` is the mode inspection asks for without masking; `mask` says whether the
/// pattern engine masks this direction, `fields` whether a policy flags fields in it.
/// A label never makes a body skipped or refused here: what the body is, its bytes
/// show ([`mask_whole`], [`mask_chunk`]).
pub(crate) fn choose(
    direction: Direction,
    headers: &Headers,
    base: BodyMode,
    mask: bool,
    fields: bool,
    binary: BinaryPolicy,
    max_buffered: u64,
) -> Result<BodyChoice, Refusal> {
    let patterns = mask;
    let mask = mask || fields;
    let length = headers
        .get_str("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let declared = Declared::from_headers(headers);
    let kind = ContentKind::from_content_type(&declared.media);
    let streaming_kind = matches!(kind, ContentKind::EventStream | ContentKind::Ndjson);
    // A request body configured `buffered` is wanted whole (and refused when too
    // large). A response is only buffered when that is safe: known, acceptable size
    // and not a stream — buffering a stream would hold every event back to the end.
    let whole_wanted = direction == Direction::Request && base == BodyMode::Buffered;
    let unmasked_mode = match base {
        BodyMode::Buffered
            if !whole_wanted && (streaming_kind || length.is_none_or(|l| l > max_buffered)) =>
        {
            BodyMode::Streamed
        }
        other => other,
    };
    if !mask {
        return Ok(BodyChoice::unmasked(unmasked_mode));
    }
    let (what, too_large_status) = match direction {
        Direction::Request => ("request", 413),
        Direction::Response => ("response", 502),
    };
    if direction == Direction::Response && is_protobuf(&declared.media) {
        // Warden asks for JSON instead ([`json_accept`]); protobuf that comes anyway
        // (a Kubernetes Secret in protobuf) cannot be read, so it does not pass. A
        // request body in protobuf is the policy's to judge: the default pack holds
        // bodies it cannot read (`unreadable-body`), so a human can let one through.
        return Err(Refusal {
            status: 502,
            code: "unreadable_body",
            message: format!(
                "the {what} body is {} which Warden cannot read to mask; ask for \
                 application/json",
                declared.media
            ),
        });
    }
    if let Some(encoding) = content::content_encoding(headers) {
        // A compressed body is masked whole, after decoding.
        if length.is_some_and(|l| l > max_buffered) {
            return Err(Refusal {
                status: too_large_status,
                code: "compressed_body_too_large",
                message: format!(
                    "the {what} body is {encoding}-compressed and larger than the \
                     {max_buffered} bytes Warden can decode and inspect"
                ),
            });
        }
        return Ok(BodyChoice {
            mode: BodyMode::Buffered,
            mask: true,
            patterns,
            content: declared,
            encoding: Some(encoding),
            drop_content_length: false,
            binary,
            passed_unread: false,
        });
    }
    let buffered = whole_wanted || (!streaming_kind && length.is_some_and(|l| l <= max_buffered));
    Ok(BodyChoice {
        mode: if buffered {
            BodyMode::Buffered
        } else {
            BodyMode::Streamed
        },
        mask: true,
        patterns,
        content: declared,
        encoding: None,
        drop_content_length: !buffered && length.is_some(),
        binary,
        passed_unread: false,
    })
}

/// Whether a media type is protobuf (`application/vnd.kubernetes.protobuf`,
/// `application/x-protobuf`, ...): bytes Warden cannot read to mask.
pub(crate) fn is_protobuf(media: &str) -> bool {
    let media = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media.starts_with("application/") && media.contains("protobuf")
}

/// An `accept` header value without the protobuf media types it lists (`None` when
/// it lists none): a Kubernetes API server then answers JSON, which can be masked.
/// `application/json` when nothing else is left.
pub(crate) fn json_accept(accept: &str) -> Option<String> {
    let entries: Vec<&str> = accept.split(',').map(str::trim).collect();
    let kept: Vec<&str> = entries
        .iter()
        .copied()
        .filter(|e| !e.is_empty() && !is_protobuf(e))
        .collect();
    if kept.len() == entries.iter().filter(|e| !e.is_empty()).count() {
        return None;
    }
    Some(if kept.is_empty() {
        "application/json".to_string()
    } else {
        kept.join(",")
    })
}

/// The refusal of a body whose bytes are binary when `masking.binary` is `block`.
pub(crate) fn binary_blocked(direction: Direction, request_id: &str) -> LocalReply {
    let (status, what) = match direction {
        Direction::Request => (415, "request"),
        Direction::Response => (502, "response"),
    };
    LocalReply::json_error(
        status,
        "binary_body_blocked",
        &format!(
            "the {what} body is binary, which Warden cannot inspect, and policy blocks \
             bodies it cannot inspect (masking.binary: block)"
        ),
        request_id,
    )
}

/// Notes binary bytes passed unread (logged once per body).
fn note_unread(state: &mut BodyState, direction: Direction, request_id: &str) {
    if !state.choice.passed_unread {
        tracing::info!(
            request_id,
            ?direction,
            content_type = %state.choice.content.media,
            "body is binary: passed unread (masking.binary: pass)"
        );
    }
    state.choice.passed_unread = true;
}

/// Masks a whole (buffered) body: the fields the policy flags, then patterns.
pub(crate) fn mask_whole(
    redactor: Option<&Redactor>,
    state: &mut BodyState,
    direction: Direction,
    body: &[u8],
    request_id: &str,
    max_decoded: usize,
) -> Outcome {
    let decoded;
    let plain: &[u8] = match &state.choice.encoding {
        Some(encoding) => match decode_body(encoding, body, max_decoded) {
            Ok(bytes) => {
                decoded = bytes;
                &decoded
            }
            Err(err) => return undecodable(direction, encoding, &err.to_string(), request_id),
        },
        None => body,
    };
    if let Some(outcome) = inspect_git_pack(redactor, state, direction, plain, true, request_id) {
        return whole_git_pack(state, outcome);
    }
    let fielded;
    let mut field_findings = Vec::new();
    let plain: &[u8] = match &state.fields {
        Some(fields) => {
            let kind = ContentKind::from_content_type(&state.choice.content.media);
            let hash_key = redactor.map(Redactor::hash_key).unwrap_or_default();
            // The whole body is at hand: no document limit beyond the body's own.
            let masker =
                FieldMasker::new(Arc::clone(fields), kind, direction, hash_key, usize::MAX);
            match masker.whole(plain) {
                Ok((bytes, found)) => {
                    fielded = bytes;
                    field_findings = found;
                    &fielded
                }
                Err(err) => return fields_unmaskable(direction, &err, request_id),
            }
        }
        None => plain,
    };
    if state
        .deadline
        .is_some_and(|d| std::time::Instant::now() >= d)
    {
        return out_of_time(direction, request_id);
    }
    let redacted = match redactor.filter(|_| state.choice.patterns) {
        Some(redactor) => match redactor.redact_body_listing_within(
            plain,
            &state.choice.content,
            direction,
            state.deadline,
            LISTED_FINDINGS,
        ) {
            Ok(redacted) => redacted,
            Err(_) => return out_of_time(direction, request_id),
        },
        None => crate::redact::RedactedBody {
            body: plain.to_vec(),
            findings: Vec::new(),
            unlisted: UnlistedFindings::default(),
            binary: false,
            passed_unread: false,
        },
    };
    let fields_changed = !field_findings.is_empty();
    state.findings.add(&field_findings);
    if redacted.binary && state.choice.binary == BinaryPolicy::Block {
        return Outcome::reply(binary_blocked(direction, request_id));
    }
    state.findings.add(&redacted.findings);
    state.findings.add_unlisted(&redacted.unlisted);
    if redacted.passed_unread {
        note_unread(state, direction, request_id);
    } else if let Some(capture) = &mut state.capture {
        // What goes on: the masked body, or (unchanged) the same text decoded.
        capture.push(&redacted.body, None);
    }
    if !redacted.changed() && !fields_changed {
        // Unchanged: the original bytes (still compressed, if they were) go on.
        return Outcome::pass();
    }
    let mut mutation = Mutation {
        set_headers: vec![("content-length".into(), redacted.body.len().to_string())],
        ..Mutation::default()
    };
    if state.choice.encoding.is_some() {
        mutation.remove_headers.push("content-encoding".into());
    }
    mutation.body = Some(redacted.body);
    Outcome {
        step: Step::Continue(mutation),
        metadata: Vec::new(),
    }
}

/// Masks one chunk of a streamed body; the masker carries a tail between chunks so a
/// secret split across them is still caught. `at_ms` (time since the exchange began)
/// times the chunk in the session capture.
/// Flagged fields are masked first: a JSON document (an NDJSON line, an event) is held
/// until it is complete, up to `max_document` bytes ([`FieldMasker`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mask_chunk(
    redactor: Option<&Redactor>,
    state: &mut BodyState,
    direction: Direction,
    chunk: &[u8],
    end_of_stream: bool,
    request_id: &str,
    at_ms: u64,
    max_document: usize,
) -> Outcome {
    if let Some(encoding) = &state.choice.encoding {
        // Only reachable if Envoy streamed a body we asked to buffer.
        return undecodable(
            direction,
            encoding,
            "a compressed body arrived in chunks",
            request_id,
        );
    }
    if let Some(outcome) =
        inspect_git_pack(redactor, state, direction, chunk, end_of_stream, request_id)
    {
        return outcome;
    }
    let content = &state.choice.content;
    let fielded;
    let chunk_in = chunk;
    let chunk: &[u8] = match &state.fields {
        Some(fields) => {
            let field_masker = state.field_masker.get_or_insert_with(|| {
                let kind = ContentKind::from_content_type(&content.media);
                let hash_key = redactor.map(Redactor::hash_key).unwrap_or_default();
                FieldMasker::new(Arc::clone(fields), kind, direction, hash_key, max_document)
            });
            let mut out = Vec::with_capacity(chunk.len());
            let mut result = field_masker.push(chunk, &mut out);
            if end_of_stream {
                result = result.and_then(|()| field_masker.finish(&mut out));
            }
            let found = field_masker.take_findings();
            if let Err(err) = result {
                state.field_masker = None;
                return fields_unmaskable(direction, &err, request_id);
            }
            state.findings.add(&found);
            fielded = out;
            &fielded
        }
        None => chunk,
    };
    let Some(redactor) = redactor.filter(|_| state.choice.patterns) else {
        if let Some(capture) = &mut state.capture {
            capture.push(chunk, Some(at_ms));
        }
        return Outcome {
            step: Step::Continue(Mutation {
                body: (chunk != chunk_in).then(|| chunk.to_vec()),
                ..Mutation::default()
            }),
            metadata: Vec::new(),
        };
    };
    let masker = state
        .masker
        .get_or_insert_with(|| redactor.body_masker(content, direction));
    masker.set_deadline(state.deadline);
    // Events held back go on in a later reply, so this one is never "unchanged".
    let joins_events = masker.joins_events();
    let mut out = masker.push(chunk);
    if end_of_stream && !masker.deadline_passed() {
        out.extend(masker.finish());
    }
    if masker.deadline_passed() {
        // What it emitted is incomplete: nothing of this chunk goes on.
        state.masker = None;
        return out_of_time(direction, request_id);
    }
    let findings = masker.take_findings();
    let (binary, unread) = (masker.saw_binary(), masker.passed_unread());
    if end_of_stream {
        state.masker = None;
    }
    if binary && state.choice.binary == BinaryPolicy::Block {
        // Nothing of this chunk goes on.
        return Outcome::reply(binary_blocked(direction, request_id));
    }
    state.findings.add(&findings);
    if unread {
        note_unread(state, direction, request_id);
        // A body with unread bytes is not recorded: it is not all masked.
        state.capture = None;
    }
    if let Some(capture) = &mut state.capture {
        capture.push(&out, Some(at_ms));
    }
    Outcome {
        step: Step::Continue(Mutation {
            // A chunk that comes out as it went in needs no replacing (and a whole body
            // checked in one message, as through ext_authz, is then seen unchanged).
            body: (joins_events || out != chunk_in).then_some(out),
            ..Mutation::default()
        }),
        metadata: Vec::new(),
    }
}

/// Most of a push's body kept for its refusal: the command list (a few refs, or a push
/// certificate) fits many times over.
const PUSH_HEAD_MAX: usize = 64 * 1024;

/// Inspects a git fetch's result or a push's pack ([`gitpack`]) when the body is one:
/// only bytes whose objects were all inspected go on (the rest of this chunk is held);
/// on a secret, or pack data Warden cannot read, a fetch's stream ends with an error
/// git prints and a push is refused. `None`: not git pack data, or not masked.
fn inspect_git_pack(
    redactor: Option<&Redactor>,
    state: &mut BodyState,
    direction: Direction,
    chunk: &[u8],
    end_of_stream: bool,
    request_id: &str,
) -> Option<Outcome> {
    if !state.choice.patterns || !gitpack::is_git_pack_media(&state.choice.content.media) {
        return None;
    }
    let redactor = redactor?;
    let deadline = state.deadline;
    if direction == Direction::Request && state.push_head.len() < PUSH_HEAD_MAX {
        let room = PUSH_HEAD_MAX - state.push_head.len();
        state
            .push_head
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    let inspector = state
        .git_pack
        .get_or_insert_with(|| GitPackInspector::new(direction));
    let refused_before = inspector.failure().is_some();
    let mut result = inspector.push(redactor, chunk, deadline);
    if end_of_stream {
        result = result.and_then(|mut out| {
            out.extend(inspector.finish(redactor, deadline)?);
            Ok(out)
        });
    }
    let err = match result {
        Ok(out) => {
            if let Some(capture) = &mut state.capture {
                capture.push(&out, None);
            }
            return Some(Outcome {
                step: Step::Continue(Mutation {
                    body: (out != chunk).then_some(out),
                    ..Mutation::default()
                }),
                metadata: Vec::new(),
            });
        }
        // Already refused: the rest of the stream goes nowhere.
        Err(_) if refused_before => {
            return Some(Outcome {
                step: Step::Continue(Mutation {
                    body: Some(Vec::new()),
                    ..Mutation::default()
                }),
                metadata: Vec::new(),
            });
        }
        Err(err) => err,
    };
    // What was released before the refusal is already on its way.
    let message = err.message(direction);
    tracing::warn!(
        request_id,
        ?direction,
        code = err.code(),
        rules = %err.rules().join(","),
        "git pack refused: {err}"
    );
    for rule in err.rules() {
        state.findings.total += 1;
        *state.findings.by_rule.entry(rule.clone()).or_default() += 1;
    }
    let metadata = vec![("refused_git_pack", err.code().to_string())];
    if direction == Direction::Request {
        // A push: the server must not get the pack. Refused in git's reply shape, so
        // `git push` prints the reason and marks each ref rejected; an HTTP error when
        // the command list cannot be read (git then prints only the status).
        let ng_reason = format!("refused by Warden: {err}");
        let reply = reply::git_push_refused(
            &state.push_head,
            &message,
            &ng_reason,
            err.code(),
            request_id,
        )
        .unwrap_or_else(|| LocalReply::json_error(403, err.code(), &message, request_id));
        return Some(Outcome {
            step: Step::Reply(reply),
            metadata,
        });
    }
    // Whole pkt-lines inspected before the failure go first (a protocol v2 `packfile`
    // section header, clean objects), then the error.
    let mut packet = state
        .git_pack
        .as_mut()
        .map(GitPackInspector::take_clean_prefix)
        .unwrap_or_default();
    packet.extend(gitpack::refusal_packet(&message));
    if let Some(capture) = &mut state.capture {
        capture.push(&packet, None);
    }
    Some(Outcome {
        step: Step::Continue(Mutation {
            body: Some(packet),
            ..Mutation::default()
        }),
        metadata,
    })
}

/// A whole (buffered) git body's outcome: a changed (refused) body replaces the
/// original, decoded, with a matching `content-length`; an unchanged one goes on as it
/// came (still compressed, if it was).
fn whole_git_pack(state: &BodyState, outcome: Outcome) -> Outcome {
    let Outcome { step, metadata } = outcome;
    let Step::Continue(mut mutation) = step else {
        return Outcome { step, metadata };
    };
    let Some(body) = mutation.body.take() else {
        return Outcome {
            step: Step::Continue(mutation),
            metadata,
        };
    };
    mutation
        .set_headers
        .push(("content-length".into(), body.len().to_string()));
    if state.choice.encoding.is_some() {
        mutation.remove_headers.push("content-encoding".into());
    }
    mutation.body = Some(body);
    Outcome {
        step: Step::Continue(mutation),
        metadata,
    }
}

/// The reply when a body could not be masked before its deadline: fail closed, and say
/// why (Envoy may already have answered the client itself, when its own message timeout
/// fired first).
/// The error code of a body refused for running out of time.
pub(crate) const INSPECTION_TIMEOUT_CODE: &str = "inspection_timeout";

pub(crate) fn out_of_time(direction: Direction, request_id: &str) -> Outcome {
    tracing::warn!(
        request_id,
        ?direction,
        "body inspection ran out of time (message timeout or CPU budget); failing closed"
    );
    let (status, what) = match direction {
        Direction::Request => (503, "request"),
        Direction::Response => (502, "response"),
    };
    Outcome::reply(LocalReply::json_error(
        status,
        INSPECTION_TIMEOUT_CODE,
        &format!(
            "Warden could not inspect the {what} body within its time budget, so it was not \
             passed on; send a smaller or simpler body"
        ),
        request_id,
    ))
}

/// The refusal of a body whose flagged fields could not be masked: too large a
/// document to hold, or not readable as the JSON it claims to be.
fn fields_unmaskable(direction: Direction, err: &FieldError, request_id: &str) -> Outcome {
    tracing::info!(request_id, ?direction, error = %err, "flagged fields could not be masked; body refused");
    let (status, what) = match (direction, err) {
        (Direction::Request, FieldError::TooLarge { .. }) => (413, "request"),
        (Direction::Request, _) => (400, "request"),
        (Direction::Response, _) => (502, "response"),
    };
    Outcome::reply(LocalReply::json_error(
        status,
        "fields_not_maskable",
        &format!(
            "policy flags fields in this {what} body that Warden must mask, but it could not: \
             {err}; the body was not passed on"
        ),
        request_id,
    ))
}

fn undecodable(direction: Direction, encoding: &str, why: &str, request_id: &str) -> Outcome {
    let (status, what) = match direction {
        Direction::Request => (400, "request"),
        Direction::Response => (502, "response"),
    };
    Outcome::reply(LocalReply::json_error(
        status,
        "body_not_decodable",
        &format!(
            "the {what} body is {encoding}-encoded and could not be decoded ({why}), so \
             Warden could not inspect it and did not pass it on"
        ),
        request_id,
    ))
}
