//! The structure layer: what a body *means*, in front of the pattern engine.
//!
//! The pattern engine matches bytes. A client does not read bytes: it decodes JSON string
//! escapes (`"pass\u0077ord"` is `password`, `\/` is `/`), percent-encoding in forms and
//! query strings, and it knows that every value under `data` of a Kubernetes `Secret` is a
//! secret whatever its key is called. This layer reads a body the way a client does and
//! hands the engine that reading, so a secret is found however it is spelled:
//!
//! - **JSON** ([`ContentKind::Json`]): a lenient streaming tokenizer tracks the path of
//!   every value (keys and array indices) and decodes string escapes (`\uXXXX` including
//!   surrogate pairs, `\/`, ...) into the text a client sees. The engine scans that text
//!   (which is itself JSON: quotes, backslashes and control characters stay escaped, so
//!   key-name rules see `"password": "..."`), and an offset map sends every finding back to
//!   the raw bytes it came from. Bytes that are not masked are passed on exactly as they
//!   came (an escaped `\u003c` stays escaped); a replacement is plain ASCII without quotes
//!   or backslashes, so the output stays valid JSON.
//! - **Forms and query strings** ([`ContentKind::Form`]): `%XX` and `+` are decoded
//!   before scanning, with the same offset map; the separators `&`, `=`, `%` and `+`
//!   spelled as escapes stay escaped so the engine still sees the form's pairs.
//! - **Kubernetes Secrets** (on by default, [`StructureOptions::kubernetes_secrets`]):
//!   every value of `data` and `stringData` of a `Secret` is masked wholesale, wherever
//!   the Secret appears (API responses, `SecretList` and `List` items, watch events, a
//!   document inside any JSON). A Secret is recognised from the object itself (`kind:
//!   Secret`, or an item of a `SecretList`, whose items carry no `kind`). Because member
//!   order is free (`kind` may come after `data`), an object whose `data` comes before its
//!   `kind` is read ahead until it is known (at most [`HOLD_LIMIT`] bytes; past that, its
//!   data values are masked). Values of `data` are base64, so their replacement is the
//!   base64 of the marker: the object stays a valid Secret for typed clients, and
//!   decoding it gives `[REDACTED:k8s-secret]`. Key names and metadata stay readable.
//! - **Base64 that the structure names**: `auths.<registry>.auth` of a Docker config
//!   (`.dockerconfigjson`, base64 of `user:password`) is masked wholesale. A string under
//!   a key that names a payload (`content` of the contents APIs, MCP's `blob` and `data`,
//!   `b64_json`, `*_base64`, ConfigMap `binaryData`...) that reads as base64 is decoded,
//!   masked as the text or JSON it carries, and encoded again (see `payload`).
//! - **Field rules** ([`FieldRules`]): a hook the policy layer uses to flag fields. It is
//!   asked once per JSON value with the value's path and key, and answers
//!   [`FieldAction::Scan`] (the default: the pattern engine decides) or
//!   [`FieldAction::Mask`] (the whole value is replaced, whatever it holds; for an object
//!   or array, every value inside it). Without field rules every value is scanned as
//!   usual.
//!
//! Memory stays bounded: string values stream through (a masked value is never held, its
//! hash is computed as it goes), the carried window is the engine's, keys are kept up to
//! [`KEY_CAP`] bytes and paths up to [`MAX_DEPTH`] levels (deeper values are still decoded
//! and scanned, only their path is no longer tracked). Streamed output equals one-shot
//! output for every chunking.
//!
//! [`ContentKind::Json`]: super::ContentKind::Json
//! [`ContentKind::Form`]: super::ContentKind::Form

mod form;
mod json;
mod payload;
mod stream;

use std::sync::Arc;

pub(crate) use payload::{may_hold_payload, Nested};
pub use payload::{HOLD_LIMIT as PAYLOAD_HOLD_LIMIT, OVER_LIMIT_ID as PAYLOAD_OVER_LIMIT_ID};
pub(crate) use stream::StructStream;

use super::Strategy;

/// Deepest nesting whose path is tracked; deeper values are still decoded and scanned.
pub const MAX_DEPTH: usize = 64;

/// Longest key (decoded bytes) kept for paths and field rules; a longer key is kept
/// truncated to this length.
pub const KEY_CAP: usize = 256;

/// How far ahead an object whose `data` comes before its `kind` is read to learn whether
/// it is a Secret; past it, its data values are masked.
pub const HOLD_LIMIT: usize = 1 << 20;

/// One step of a value's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSegment<'a> {
    /// An object member, by its decoded key (truncated to [`KEY_CAP`] bytes; not
    /// necessarily UTF-8 when the body is not).
    Key(&'a [u8]),
    /// An array element, by its index from 0.
    Index(u64),
}

/// The path of a JSON value, from the document root (see [`FieldRules::decide`]).
#[derive(Clone, Copy)]
pub struct FieldPath<'a> {
    pub(crate) frames: &'a [json::Frame],
    /// Nesting levels deeper than [`MAX_DEPTH`] whose steps are not known.
    pub(crate) untracked: usize,
}

impl<'a> FieldPath<'a> {
    /// The steps from the root to the value, outermost first. Empty for a top-level
    /// value (each value of an NDJSON body or JSON sequence is a root).
    pub fn segments(&self) -> impl Iterator<Item = PathSegment<'a>> + 'a {
        self.frames.iter().filter_map(json::Frame::segment)
    }

    /// The key of the member this value is (`None` for an array element or a root).
    pub fn key(&self) -> Option<&'a [u8]> {
        match self.frames.last().and_then(json::Frame::segment) {
            Some(PathSegment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Whether the value sits deeper than [`MAX_DEPTH`]: its path is not fully known.
    pub fn truncated(&self) -> bool {
        self.untracked > 0
    }

    /// The path as `$.a.b[3]` (for messages and tests).
    pub fn to_json_path(&self) -> String {
        let mut s = String::from("$");
        for seg in self.segments() {
            match seg {
                PathSegment::Key(k) => {
                    s.push('.');
                    s.push_str(&String::from_utf8_lossy(k));
                }
                PathSegment::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        s
    }
}

impl std::fmt::Debug for FieldPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_json_path())
    }
}

/// What to do with one JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FieldAction {
    /// Let the pattern engine decide (the default).
    #[default]
    Scan,
    /// Replace the whole value, whatever it holds.
    Mask {
        /// How: `redact`, `partial` or `hash` keep the key and replace the value (a
        /// non-string value becomes a string marker); `drop` also replaces the value (the
        /// member's key stays, so paths and column positions stay where they were).
        strategy: Strategy,
        /// The id in the marker and the finding (`[REDACTED:<label>]`), e.g. the policy
        /// rule that flagged the field.
        label: Arc<str>,
    },
}

/// Flags fields of JSON bodies: asked once per value (object members, array elements,
/// roots; containers before what they hold), in body order.
///
/// A container's [`FieldAction::Mask`] applies to every value inside it (the hook is not
/// asked again for them). Implementations must be pure (the same path and key always give
/// the same answer) and cheap: they run for every value of every body.
pub trait FieldRules: Send + Sync + std::fmt::Debug {
    /// The action for the value at `path` (its key, if any, is `path.key()`).
    fn decide(&self, path: &FieldPath<'_>) -> FieldAction;
}

/// Settings of the structure layer (part of [`super::RedactOptions`]).
#[derive(Debug, Clone)]
pub struct StructureOptions {
    /// Read JSON and forms through the structure layer (the default). `false`: the
    /// pattern engine alone reads their raw bytes (no decoding, no Secrets, no field
    /// rules) — for measuring what the layer costs, not for use.
    pub decode: bool,
    /// Strategy for values of Kubernetes Secrets (`None`: not masked as such; the
    /// pattern engine still scans them). Default: `redact`.
    pub kubernetes_secrets: Option<Strategy>,
    /// Field rules (the policy layer's); `None`: every value is scanned as usual.
    pub field_rules: Option<Arc<dyn FieldRules>>,
}

impl Default for StructureOptions {
    fn default() -> Self {
        StructureOptions {
            decode: true,
            kubernetes_secrets: Some(Strategy::Redact),
            field_rules: None,
        }
    }
}

/// Rule id of Kubernetes Secret values in markers and findings.
pub const K8S_SECRET_ID: &str = "k8s-secret";

/// Rule id of Docker config `auth` values (base64 of `user:password`).
pub const DOCKER_AUTH_ID: &str = "docker-config-auth";

#[cfg(test)]
mod tests;
