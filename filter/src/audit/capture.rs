//! The session capture of one exchange: masked headers and bodies, for the replay.
//!
//! Nothing unmasked goes in: bodies are captured after masking (the bytes Warden let
//! through), header values pass through the redactor, and credential headers are
//! never kept. A body Warden did not mask (binary passed unread, masking off for its
//! direction) is not captured at all: the capture only says why.
//!
//! The pieces:
//!
//! - [`BodyRecorder`] keeps up to `max_body_bytes` of one masked body as the pipeline
//!   produces it, counting the rest, with per-chunk timing for streamed bodies;
//! - [`captured_headers`] filters and masks a header list;
//! - [`ExchangeCapture`] is what is stored and replayed; [`sse_events`] turns a
//!   captured `text/event-stream` body into its events.

use serde::{Deserialize, Serialize};

use crate::redact::{ContentKind, Direction, Redactor};

/// How much of an exchange a session keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSettings {
    /// Bytes of each (masked) body kept; the rest is counted, not kept.
    pub max_body_bytes: usize,
}

/// Headers that carry credentials: never captured, whatever their value.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// What a header value is replaced by when no redactor is available to mask it.
pub const UNMASKED_HEADER_VALUE: &str = "[not recorded: masking is off]";

/// Masked headers and bodies of one exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeCapture {
    /// Request headers, masked (as Warden passed them upstream, or as received when
    /// Warden answered the request itself).
    #[serde(default)]
    pub request_headers: Vec<(String, String)>,
    /// Response headers, masked (the upstream's response as Warden passed it on).
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    /// The request body.
    #[serde(default)]
    pub request_body: BodyCapture,
    /// The upstream's response body.
    #[serde(default)]
    pub response_body: BodyCapture,
    /// The reply Warden gave the client itself (deny, hold, error), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyCapture>,
}

impl ExchangeCapture {
    /// The capture as stored: compact JSON.
    pub fn to_json(&self) -> String {
        // Strings, numbers, booleans and lists only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// SHA-256 (lowercase hex) of [`ExchangeCapture::to_json`], for the record.
    pub fn sha256(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.to_json().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One body as captured (masked), or why it was not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyCapture {
    /// True when the masked body (or its first `max_body_bytes`) is kept.
    pub captured: bool,
    /// Why the body is not kept (`not captured: <why>`), or `no body`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The media type (`application/json`, `text/event-stream`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    /// The kept bytes, when they are UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The kept bytes in base64, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Masked bytes in all (kept and counted).
    #[serde(default)]
    pub bytes: u64,
    /// True when bytes past `max_body_bytes` were counted, not kept.
    #[serde(default)]
    pub truncated: bool,
    /// Streamed bodies: each chunk as it went through (timing and size).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<ChunkTiming>,
    /// `text/event-stream` bodies: the events (masked), with when each completed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SseEvent>,
}

impl BodyCapture {
    /// A body that is not kept, and why.
    pub fn not_captured(why: &str) -> BodyCapture {
        BodyCapture {
            note: format!("not captured: {why}"),
            ..BodyCapture::default()
        }
    }

    /// An exchange direction without a body.
    pub fn empty() -> BodyCapture {
        BodyCapture {
            captured: true,
            note: "no body".into(),
            ..BodyCapture::default()
        }
    }
}

/// One chunk of a streamed body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkTiming {
    /// Milliseconds from the start of the exchange to this chunk.
    pub at_ms: u64,
    /// Masked bytes Warden passed on for it.
    pub bytes: u64,
}

/// One server-sent event of a captured `text/event-stream` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SseEvent {
    /// Milliseconds from the start of the exchange to the chunk that completed it.
    pub at_ms: u64,
    /// The `event:` field, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The `id:` field, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The `data:` lines, joined with `\n` (masked).
    pub data: String,
}

/// A reply Warden gave the client itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyCapture {
    /// HTTP status.
    pub status: u16,
    /// Headers, masked.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body, masked.
    #[serde(default)]
    pub body: BodyCapture,
}

/// Keeps the first `limit` bytes of one masked body as the pipeline passes it on, and
/// counts the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyRecorder {
    limit: usize,
    kept: Vec<u8>,
    total: u64,
    seen: bool,
    chunks: Vec<ChunkTiming>,
}

impl BodyRecorder {
    /// A recorder that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> BodyRecorder {
        BodyRecorder {
            limit,
            ..BodyRecorder::default()
        }
    }

    /// Adds masked bytes. `at_ms` is set for a streamed chunk (its timing is kept);
    /// `None` for a whole (buffered) body.
    pub fn push(&mut self, masked: &[u8], at_ms: Option<u64>) {
        self.seen = true;
        self.total = self.total.saturating_add(masked.len() as u64);
        let room = self.limit.saturating_sub(self.kept.len());
        self.kept
            .extend_from_slice(&masked[..masked.len().min(room)]);
        if let Some(at_ms) = at_ms {
            // Bounded: past the limit only the count grows, not the chunk list.
            if !masked.is_empty() && room > 0 {
                self.chunks.push(ChunkTiming {
                    at_ms,
                    bytes: masked.len() as u64,
                });
            }
        }
    }

    /// True once any masked bytes (possibly none) were pushed: the body was masked.
    pub fn seen(&self) -> bool {
        self.seen
    }

    /// The capture of what was pushed.
    pub fn finish(&self, content_type: &str) -> BodyCapture {
        let (text, base64) = kept_as_text(&self.kept);
        let kind = ContentKind::from_content_type(content_type);
        let events = match (&text, kind) {
            (Some(text), ContentKind::EventStream) => sse_events(text, &self.chunks),
            _ => Vec::new(),
        };
        BodyCapture {
            captured: true,
            note: String::new(),
            content_type: media_type(content_type),
            text,
            base64,
            bytes: self.total,
            truncated: self.total > self.kept.len() as u64,
            chunks: self.chunks.clone(),
            events,
        }
    }
}

/// The media type of a `content-type` value, lowercased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Kept bytes as text when they are UTF-8 (a character cut by the limit is dropped),
/// else as base64.
fn kept_as_text(kept: &[u8]) -> (Option<String>, Option<String>) {
    use base64::Engine as _;
    match std::str::from_utf8(kept) {
        Ok(text) => (Some(text.to_string()), None),
        // Cut inside a character at the end (the limit): keep the whole ones.
        Err(err) if err.error_len().is_none() => (
            Some(String::from_utf8_lossy(&kept[..err.valid_up_to()]).into_owned()),
            None,
        ),
        Err(_) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(kept)),
        ),
    }
}

/// The complete events of an event-stream body, each timed by the chunk that
/// completed it (`chunks` in order; the body is their concatenation).
pub fn sse_events(body: &str, chunks: &[ChunkTiming]) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut start = 0;
    let bytes = body.as_bytes();
    while start < bytes.len() {
        let Some((block_end, next)) = event_end(bytes, start) else {
            break; // an incomplete last event (cut by the limit or the stream's end)
        };
        let block = &body[start..block_end];
        start = next;
        let mut event = SseEvent {
            at_ms: time_of_offset(chunks, next),
            ..SseEvent::default()
        };
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "data" => data.push(value),
                "event" => event.event = Some(value.to_string()),
                "id" => event.id = Some(value.to_string()),
                _ => {} // comments (`: keep-alive`) and `retry`
            }
        }
        if data.is_empty() && event.event.is_none() {
            continue; // a comment-only block
        }
        event.data = data.join("\n");
        events.push(event);
    }
    events
}

/// Where the event starting at `start` ends (before its blank line) and where the
/// next one starts.
fn event_end(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let rest = &bytes[i + 1..];
            if rest.first() == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if rest.starts_with(b"\r\n") {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// The timing of the chunk that holds byte `offset - 1` of the concatenated body.
fn time_of_offset(chunks: &[ChunkTiming], offset: usize) -> u64 {
    let mut end = 0u64;
    for chunk in chunks {
        end = end.saturating_add(chunk.bytes);
        if end >= offset as u64 {
            return chunk.at_ms;
        }
    }
    chunks.last().map_or(0, |c| c.at_ms)
}

/// The headers a capture keeps: credential headers (the [`CREDENTIAL_HEADERS`] and
/// `credentials`, e.g. the headers upstream credentials are injected into) dropped,
/// pseudo-headers dropped, every other value masked by `redactor` (or replaced by
/// [`UNMASKED_HEADER_VALUE`] without one).
pub fn captured_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    credentials: &[String],
    redactor: Option<&Redactor>,
    direction: Direction,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(name, _)| !name.starts_with(':'))
        .filter(|(name, _)| !is_credential_header(name, credentials))
        .map(|(name, value)| {
            let value = match redactor {
                Some(redactor) => match redactor.redact_header(name, value, direction) {
                    Some(masked) => masked.value,
                    None => String::from_utf8_lossy(value).into_owned(),
                },
                None => UNMASKED_HEADER_VALUE.to_string(),
            };
            (name.to_ascii_lowercase(), value)
        })
        .collect()
}

/// True for a header that carries credentials.
pub fn is_credential_header(name: &str, credentials: &[String]) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c))
        || credentials.iter().any(|c| name.eq_ignore_ascii_case(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE";

    #[test]
    fn bytes_past_the_limit_are_counted_not_kept() {
        let mut body = BodyRecorder::new(10);
        body.push(b"0123456", Some(1));
        body.push(b"789abcdef", Some(2));
        body.push(b"ghij", Some(3));
        let capture = body.finish("text/plain; charset=utf-8");
        assert_eq!(capture.text.as_deref(), Some("0123456789"));
        assert_eq!(capture.bytes, 20);
        assert!(capture.truncated);
        assert_eq!(capture.content_type, "text/plain");
        // The chunk after the limit is not listed.
        assert_eq!(capture.chunks.len(), 2);

        let mut whole = BodyRecorder::new(10);
        whole.push(b"0123456789", None);
        let capture = whole.finish("");
        assert!(!capture.truncated && capture.chunks.is_empty());
        assert_eq!(capture.bytes, 10);
    }

    #[test]
    fn a_character_cut_by_the_limit_is_dropped_and_binary_is_base64() {
        let mut body = BodyRecorder::new(4);
        body.push("abcé".as_bytes(), None); // é is two bytes: cut in half
        assert_eq!(body.finish("text/plain").text.as_deref(), Some("abc"));
        let mut body = BodyRecorder::new(10);
        body.push(&[0xff, 0x00, 0x41], None);
        let capture = body.finish("text/plain");
        assert_eq!(capture.text, None);
        assert_eq!(capture.base64.as_deref(), Some("/wBB"));
    }

    #[test]
    fn event_streams_become_timed_events() {
        let mut body = BodyRecorder::new(1 << 10);
        body.push(b"event: delta\ndata: {\"a\":", Some(5));
        body.push(
            b"1}\n\n: keep-alive\n\ndata: two\ndata: lines\nid: 7\n\n",
            Some(9),
        );
        body.push(b"data: incomplete", Some(12));
        let capture = body.finish("text/event-stream");
        assert_eq!(
            capture.events,
            vec![
                SseEvent {
                    at_ms: 9,
                    event: Some("delta".into()),
                    id: None,
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    at_ms: 9,
                    event: None,
                    id: Some("7".into()),
                    data: "two\nlines".into()
                },
            ]
        );
    }

    #[test]
    fn credential_headers_are_dropped_and_values_masked() {
        let redactor = Redactor::with_defaults().unwrap();
        let bearer = format!("Bearer {TOKEN}");
        let note = format!("see {TOKEN}");
        let headers: Vec<(&str, &[u8])> = vec![
            (":path", b"/x"),
            ("Authorization", bearer.as_bytes()),
            ("proxy-authorization", b"Basic xyz"),
            ("cookie", b"session=abc"),
            ("set-cookie", b"session=abc"),
            ("x-api-key", b"k"),
            ("x-upstream-token", b"injected"),
            ("x-note", note.as_bytes()),
            ("accept", b"application/json"),
        ];
        let kept = captured_headers(
            headers.clone(),
            &["x-upstream-token".to_string()],
            Some(&redactor),
            Direction::Request,
        );
        let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["x-note", "accept"]);
        assert!(!kept[0].1.contains(TOKEN), "{:?}", kept[0]);
        assert!(kept[0].1.contains("REDACTED"), "{:?}", kept[0]);
        assert_eq!(kept[1].1, "application/json");

        let unmasked = captured_headers(headers, &[], None, Direction::Request);
        assert!(unmasked.iter().all(|(_, v)| v == UNMASKED_HEADER_VALUE));
        assert!(unmasked.iter().any(|(n, _)| n == "x-upstream-token"));
    }
}
