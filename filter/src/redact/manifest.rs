//! Kubernetes Secrets written as text: YAML manifests and JSON text, wherever they sit.
//!
//! The structure layer masks the values of a Secret that *is* the JSON body. A Secret also
//! travels as text: `kubectl get secret -o yaml` output in an MCP tool result, a manifest
//! file read through a git host's API or a raw-file URL, an `application/yaml` response,
//! the `kubectl.kubernetes.io/last-applied-configuration` annotation (the whole Secret as
//! JSON text, inside YAML or inside a JSON string). Its values are base64 (`data`) or plain
//! (`stringData`) under key names that need not sound secret (`DATABASE_URL`), so the
//! pattern rules cannot tell. This detector recognises the object from its `kind`
//! (`Secret`, `SecretList`) and masks every value of its `data` and `stringData`, keeping
//! key names and metadata readable:
//!
//! - **YAML**: the mapping that holds `kind: Secret` (its lines at the key's column, a
//!   list item's first line `- apiVersion: v1` included), then the entries of its `data:`
//!   and `stringData:` blocks: plain and quoted scalars, block scalars (`|`, `>`),
//!   continuation lines, flow mappings.
//! - **JSON text**: the object that holds `"kind": "Secret"`, its `"data"` and
//!   `"stringData"` members' values.
//!
//! Both are read raw or as they appear inside a JSON string (the text the structure layer
//! hands the engine keeps escapes: lines end in `\n`, quotes are `\"`). A `SecretList`
//! masks `data`/`stringData` at any depth inside it (its items carry no `kind`).
//!
//! Everything a candidate depends on lies within [`REACH`] bytes of its anchor, so the
//! engine's windowing keeps streamed output equal to one-shot output. Work is linear:
//! each byte is scanned forward at most once per call (an anchor inside an object already
//! read is skipped) and backward scans stop where the previous object's scan ended.

use super::engine::{Cand, Source};
use super::validate::is_template;

/// How far from its `kind` a Secret's `data` may sit, each way (the engine keeps at least
/// this much context, see `Engine::compile`).
pub(crate) const REACH: usize = 8192;

/// Which spelling of the text an object is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// As is: lines end in a newline byte, quotes are `"`.
    Raw,
    /// Inside a JSON string: lines end in `\n` (two bytes), quotes are `\"`.
    Json,
}

/// Finds the values of Kubernetes Secrets written as text in `hay` and pushes a
/// candidate for each (see the module docs). `from`, `eof` as in `Engine::detect`;
/// `jsonish`: the body is JSON, whose own structure the structure layer reads (a raw
/// JSON `"kind":"Secret"` is its job; text inside its strings is this detector's).
pub(crate) fn scan(hay: &[u8], from: usize, eof: bool, jsonish: bool, out: &mut Vec<Cand>) {
    // A candidate lies within REACH of its anchor: anchors before this cannot reach `from`.
    let scan_from = from.saturating_sub(REACH);
    let finder = memchr::memmem::Finder::new(b"kind");
    let mut yaml: Option<YamlScan> = None;
    let mut json: Option<JsonScan> = None;
    let mut at = scan_from;
    while let Some(rel) = finder.find(&hay[at..]) {
        let k = at + rel;
        at = k + 4;
        if k + REACH > hay.len() && !eof {
            // Its window is not complete yet; the next call sees it whole.
            break;
        }
        let lo = k.saturating_sub(REACH);
        let hi = (k + REACH).min(hay.len());
        if let Some(a) = yaml_anchor(hay, k) {
            // An anchor of the mapping already being read only moves its horizon: the
            // union of every anchor's window is read once.
            match &mut yaml {
                Some(s) if s.kinds.contains(&a.key_start) => s.run(hay, hi, out),
                _ => {
                    let mut s = YamlScan::start(hay, lo, &a);
                    s.run(hay, hi, out);
                    yaml = Some(s);
                }
            }
        } else if let Some(a) = json_anchor(hay, k) {
            if jsonish && a.escape == Escape::Raw {
                continue;
            }
            match &mut json {
                Some(s) if s.kinds.contains(&a.key_start) => s.run(hay, hi, out),
                _ => {
                    let mut s = JsonScan::start(hay, lo, &a);
                    s.run(hay, hi, out);
                    json = Some(s);
                }
            }
        }
    }
}

/// A `kind: Secret` / `kind: SecretList` key, and how its text is written.
struct Anchor {
    escape: Escape,
    /// `SecretList`: values of `data` at any depth are masked.
    list: bool,
    /// Where the key (or its opening quote) starts.
    key_start: usize,
}

/// Reads the quote at `at` in either spelling: `"`, `\"` (JSON-escaped) or `'`.
fn quote_at(hay: &[u8], at: usize) -> Option<(&'static [u8], Option<Escape>)> {
    match hay.get(at..) {
        Some([b'"', ..]) => Some((b"\"", Some(Escape::Raw))),
        Some([b'\\', b'"', ..]) => Some((b"\\\"", Some(Escape::Json))),
        Some([b'\'', ..]) => Some((b"'", None)),
        _ => None,
    }
}

fn skip_spaces(hay: &[u8], mut at: usize) -> usize {
    while at < hay.len() && matches!(hay[at], b' ' | b'\t') {
        at += 1;
    }
    at
}

/// Skips spaces and, in escaped text, the two-byte escapes of white space.
fn skip_ws(hay: &[u8], mut at: usize, escape: Escape) -> usize {
    loop {
        match hay.get(at..) {
            Some([b' ' | b'\t' | b'\n' | b'\r', ..]) if escape == Escape::Raw => at += 1,
            Some([b' ', ..]) => at += 1,
            Some([b'\\', b'n' | b't' | b'r', ..]) if escape == Escape::Json => at += 2,
            _ => return at,
        }
    }
}

/// After `kind` (and its closing quote, if any): `: Secret` or `: SecretList`, quoted or
/// not. Returns (list, end of the value including its closing quote).
fn kind_value(hay: &[u8], mut at: usize) -> Option<(bool, usize)> {
    at = skip_spaces(hay, at);
    if hay.get(at) != Some(&b':') {
        return None;
    }
    at = skip_spaces(hay, at + 1);
    let quote = quote_at(hay, at).map(|(q, _)| q);
    if let Some(q) = quote {
        at += q.len();
    }
    let rest = hay.get(at..)?;
    let (list, len) = if rest.starts_with(b"SecretList") {
        (true, 10)
    } else if rest.starts_with(b"Secret") {
        (false, 6)
    } else {
        return None;
    };
    at += len;
    if let Some(q) = quote {
        if !hay[at..].starts_with(q) {
            return None;
        }
        at += q.len();
    } else if hay.get(at).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((list, at))
}

// ------------------------------------------------------------------------------- YAML

/// One line of text: `[start, end)` without its terminator; `next` is where the next
/// line starts.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

impl Line {
    /// Column of the first key byte: spaces, then at most one `- ` list-item dash.
    /// Returns (indent, key column, whether the line has a dash).
    fn columns(&self, hay: &[u8]) -> (usize, usize, bool) {
        let indent = skip_spaces(&hay[..self.end], self.start) - self.start;
        let first = self.start + indent;
        if hay[first..self.end].starts_with(b"- ") || hay[first..self.end] == *b"-" {
            let key = skip_spaces(&hay[..self.end], first + 1) - self.start;
            (indent, key, true)
        } else {
            (indent, indent, false)
        }
    }

    /// Nothing but spaces or a comment.
    fn blank(&self, hay: &[u8]) -> bool {
        let first = skip_spaces(&hay[..self.end], self.start);
        first == self.end || hay[first] == b'#'
    }

    /// A document marker (`---`, `...`).
    fn doc_marker(&self, hay: &[u8]) -> bool {
        let t = &hay[self.start..self.end];
        t.starts_with(b"---") || t.starts_with(b"...")
    }
}

/// The line that contains `at`.
fn line_at(hay: &[u8], at: usize, lo: usize, hi: usize, escape: Escape) -> Line {
    let mut start = at;
    while start > lo {
        match escape {
            Escape::Raw if hay[start - 1] == b'\n' => break,
            Escape::Json if start >= 2 && hay[start - 2] == b'\\' && hay[start - 1] == b'n' => {
                break
            }
            _ => start -= 1,
        }
    }
    let (end, next) = line_end(hay, at, hi, escape);
    Line { start, end, next }
}

/// Where the line holding `at` ends (before `\r`) and where the next one starts.
fn line_end(hay: &[u8], mut at: usize, hi: usize, escape: Escape) -> (usize, usize) {
    while at < hi {
        match escape {
            Escape::Raw if hay[at] == b'\n' => {
                let end = if at > 0 && hay[at - 1] == b'\r' {
                    at - 1
                } else {
                    at
                };
                return (end, at + 1);
            }
            Escape::Json if hay[at] == b'\\' && hay.get(at + 1) == Some(&b'n') => {
                let end = if hay[..at].ends_with(b"\\r") {
                    at - 2
                } else {
                    at
                };
                return (end, at + 2);
            }
            Escape::Json if hay[at] == b'\\' => at += 2,
            _ => at += 1,
        }
    }
    (hi.min(hay.len()), hi.min(hay.len()))
}

fn prev_line(hay: &[u8], line: &Line, lo: usize, escape: Escape) -> Option<Line> {
    let sep = match escape {
        Escape::Raw => 1,
        Escape::Json => 2,
    };
    if line.start < lo + sep {
        return None;
    }
    let last = line.start - sep;
    Some(line_at(hay, last, lo, last, escape)).map(|l| Line {
        end: last_end(hay, l.start, last),
        next: line.start,
        ..l
    })
}

/// `end` of a line `[start, sep)` without a trailing `\r`.
fn last_end(hay: &[u8], start: usize, sep: usize) -> usize {
    if sep > start && hay[sep - 1] == b'\r' {
        sep - 1
    } else if sep >= start + 2 && hay[..sep].ends_with(b"\\r") {
        sep - 2
    } else {
        sep
    }
}

/// `kind: Secret` as the first key of a YAML line, ending the line.
fn yaml_anchor(hay: &[u8], k: usize) -> Option<Anchor> {
    // The key may be quoted.
    let (key_start, after) = match k.checked_sub(1).and_then(|p| quote_at(hay, p)) {
        Some((b"'", _)) | Some((b"\"", _)) => (k - 1, k + 5),
        _ => match k.checked_sub(2).and_then(|p| quote_at(hay, p)) {
            Some((b"\\\"", _)) => (k - 2, k + 6),
            _ => (k, k + 4),
        },
    };
    if after > k + 4 && !hay[k + 4..].starts_with(&hay[key_start..k]) {
        return None;
    }
    let (list, end) = kind_value(hay, after)?;
    // What ends the line says how the text is written.
    let mut at = skip_spaces(hay, end);
    if hay.get(at) == Some(&b'#') {
        while at < hay.len() && hay[at] != b'\n' && !hay[at..].starts_with(b"\\n") {
            at += 1;
        }
    }
    let escape = match hay.get(at..) {
        Some([]) | Some([b'\n' | b'\r', ..]) => Escape::Raw,
        Some([b'\\', b'n' | b'r', ..]) => Escape::Json,
        _ => return None,
    };
    // Only spaces and a list dash before the key on its line.
    let line = line_at(
        hay,
        key_start,
        key_start.saturating_sub(REACH),
        key_start,
        escape,
    );
    let (_, key_col, _) = line.columns(hay);
    if line.start + key_col != key_start {
        return None;
    }
    Some(Anchor {
        escape,
        list,
        key_start,
    })
}

/// Reading one YAML mapping that holds a `kind: Secret`, resumable with a further
/// horizon when another anchor of the same mapping comes into view.
struct YamlScan {
    escape: Escape,
    /// The column of the mapping's keys.
    col: usize,
    list: bool,
    /// Where the mapping's first line starts (its lines before are not members).
    first: usize,
    /// Where the line to read on from starts.
    resume: usize,
    /// The mapping ended (nothing more to read).
    ended: bool,
    /// Where its `kind` keys start (anchors seen to belong to it).
    kinds: Vec<usize>,
}

impl YamlScan {
    /// Finds the first line of the mapping holding `a`, no further back than `lo`.
    fn start(hay: &[u8], lo: usize, a: &Anchor) -> YamlScan {
        let escape = a.escape;
        let anchor_line = line_at(hay, a.key_start, lo, a.key_start, escape);
        let anchor_line = Line {
            end: line_end(hay, a.key_start, hay.len(), escape).0,
            next: line_end(hay, a.key_start, hay.len(), escape).1,
            ..anchor_line
        };
        let col = a.key_start - anchor_line.start;
        let mut first = anchor_line;
        let mut cur = anchor_line;
        while let Some(prev) = prev_line(hay, &cur, lo, escape) {
            if prev.doc_marker(hay) {
                break;
            }
            cur = prev;
            if prev.blank(hay) {
                continue;
            }
            let (indent, key_col, dash) = prev.columns(hay);
            if indent >= col {
                first = prev;
                continue;
            }
            if dash && key_col == col {
                first = prev;
            }
            break;
        }
        YamlScan {
            escape,
            col,
            list: a.list,
            first: first.start,
            resume: first.start,
            ended: false,
            kinds: Vec::new(),
        }
    }

    /// Reads on up to `hi`, masking the values of the mapping's data blocks.
    fn run(&mut self, hay: &[u8], hi: usize, out: &mut Vec<Cand>) {
        if self.ended {
            return;
        }
        let escape = self.escape;
        let col = self.col;
        let (end, next) = line_end(hay, self.resume, hi, escape);
        let mut line = Line {
            start: self.resume,
            end,
            next,
        };
        while line.start < hi {
            self.resume = line.start;
            let (indent, key_col, _) = line.columns(hay);
            let own = line.start == self.first || indent == col;
            let member = (key_col == col && own) || (self.list && key_col > col);
            if member && !line.blank(hay) {
                if key_col == col && kind_key(hay, &line, key_col) {
                    let at = line.start + key_col;
                    if self.kinds.last() != Some(&at) {
                        self.kinds.push(at);
                    }
                }
                if let Some(value) = data_key(hay, &line, key_col, escape) {
                    // `None`: cut at the horizon; the block is read again from its key.
                    let Some(next) = data_block(hay, &line, value, key_col, hi, escape, out) else {
                        return;
                    };
                    if self.boundary(hay, &next) {
                        return;
                    }
                    line = next;
                    continue;
                }
            }
            let Some(next) = next_line(hay, &line, hi, escape) else {
                if line.next >= hay.len() {
                    self.ended = true;
                }
                return;
            };
            if self.boundary(hay, &next) {
                return;
            }
            line = next;
        }
    }

    /// Whether `line` ends the mapping (a document marker or a shallower line); marks it.
    fn boundary(&mut self, hay: &[u8], line: &Line) -> bool {
        let end = line.doc_marker(hay) || (!line.blank(hay) && line.columns(hay).0 < self.col);
        if end {
            self.ended = true;
        }
        end
    }
}

/// `kind:` (quoted or not) at `key_col`.
fn kind_key(hay: &[u8], line: &Line, key_col: usize) -> bool {
    let at = line.start + key_col;
    let at = match quote_at(hay, at) {
        Some((q, _)) => at + q.len(),
        None => at,
    };
    hay[at..line.end].starts_with(b"kind")
}

/// `data:` or `stringData:` (quoted or not) at `key_col`: where its value starts.
fn data_key(hay: &[u8], line: &Line, key_col: usize, escape: Escape) -> Option<usize> {
    let mut at = line.start + key_col;
    let quote = quote_at(hay, at).map(|(q, _)| q);
    if let Some(q) = quote {
        if q == b"\\\"" && escape == Escape::Raw {
            return None;
        }
        at += q.len();
    }
    let rest = &hay[at..line.end];
    let len = if rest.starts_with(b"data") {
        4
    } else if rest.starts_with(b"stringData") {
        10
    } else {
        return None;
    };
    at += len;
    if let Some(q) = quote {
        if !hay[at..line.end].starts_with(q) {
            return None;
        }
        at += q.len();
    }
    at = skip_spaces(&hay[..line.end], at);
    (hay.get(at) == Some(&b':') && at < line.end).then_some(at + 1)
}

/// Masks a `data:` block whose key line is `key_line` (value from `value`); returns the
/// first line after the block.
fn data_block(
    hay: &[u8],
    key_line: &Line,
    value: usize,
    key_col: usize,
    hi: usize,
    escape: Escape,
    out: &mut Vec<Cand>,
) -> Option<Line> {
    let inline = skip_spaces(&hay[..key_line.end], value);
    if inline < key_line.end && hay[inline] != b'#' {
        // A flow mapping (or anything) on the key's own line.
        let body = trim_end(hay, inline, key_line.end);
        let (s, e) = match (hay.get(inline), body.checked_sub(1).map(|i| hay[i])) {
            (Some(b'{'), Some(b'}')) => (inline + 1, body - 1),
            _ => (inline, body),
        };
        if skip_spaces(&hay[..e], s) < e {
            push(hay, out, s, e);
        }
    }
    // The entries: the following lines indented deeper than the key.
    let mut entry_col = None;
    let mut line = next_line(hay, key_line, hi, escape);
    let mut open: Option<(usize, usize)> = None; // the value being masked: [start, end)
    while let Some(l) = line {
        if l.doc_marker(hay) {
            break;
        }
        if l.blank(hay) {
            line = next_line(hay, &l, hi, escape);
            continue;
        }
        let (indent, _, _) = l.columns(hay);
        if indent <= key_col {
            break;
        }
        let col = *entry_col.get_or_insert(indent);
        if indent > col {
            // A continuation or block-scalar line of the current entry.
            let content = skip_spaces(&hay[..l.end], l.start);
            let e = trim_end(hay, content, l.end);
            open = Some(match open {
                Some((s, _)) => (s, e),
                None => (content, e),
            });
        } else {
            if let Some((s, e)) = open.take() {
                push(hay, out, s, e);
            }
            open = entry_value(hay, &l, indent, escape);
        }
        line = next_line(hay, &l, hi, escape);
    }
    if let Some((s, e)) = open {
        push(hay, out, s, e);
    }
    line
}

/// The value of a `key: value` entry line: `None` when it continues on the next lines
/// (block scalar indicator or nothing after the colon; those lines are masked then).
fn entry_value(hay: &[u8], l: &Line, col: usize, escape: Escape) -> Option<(usize, usize)> {
    let mut at = l.start + col;
    // The key, quoted or plain.
    if let Some((q, _)) = quote_at(hay, at) {
        at += q.len();
        let close = memchr::memmem::find(&hay[at..l.end], q)?;
        at += close + q.len();
        at = skip_spaces(&hay[..l.end], at);
        if hay.get(at) != Some(&b':') {
            return None;
        }
    } else {
        loop {
            let c = memchr::memchr(b':', &hay[at..l.end])? + at;
            at = c;
            if c + 1 == l.end || matches!(hay[c + 1], b' ' | b'\t') {
                break;
            }
            at = c + 1;
        }
    }
    let v = skip_spaces(&hay[..l.end], at + 1);
    if v >= l.end || hay[v] == b'#' {
        return None;
    }
    if matches!(hay[v], b'|' | b'>') {
        return None;
    }
    let e = trim_end(hay, v, l.end);
    let (s, e) = match quote_at(hay, v) {
        Some((q, _)) if e >= v + 2 * q.len() && hay[..e].ends_with(q) => {
            if q == b"\\\"" && escape == Escape::Raw {
                (v, e)
            } else {
                (v + q.len(), e - q.len())
            }
        }
        _ => (v, e),
    };
    (s < e).then_some((s, e))
}

fn next_line(hay: &[u8], l: &Line, hi: usize, escape: Escape) -> Option<Line> {
    if l.next >= hi || l.next == l.start && l.end == l.next {
        return None;
    }
    let (end, next) = line_end(hay, l.next, hi, escape);
    Some(Line {
        start: l.next,
        end,
        next,
    })
}

/// `end` moved back over trailing spaces and a ` # comment`.
fn trim_end(hay: &[u8], start: usize, end: usize) -> usize {
    let text = &hay[start..end];
    let mut e = text.len();
    // A comment starts at ` #` outside quotes; values here are base64 or plain text,
    // so the first ` #` is taken (a `#` inside a quoted value stays: quotes are checked).
    if !matches!(text.first(), Some(b'"' | b'\'')) && !text.starts_with(b"\\\"") {
        if let Some(i) = memchr::memmem::find(text, b" #") {
            e = i;
        }
    }
    while e > 0 && matches!(text[e - 1], b' ' | b'\t') {
        e -= 1;
    }
    start + e
}

// ------------------------------------------------------------------------- JSON text

/// `"kind": "Secret"` in either spelling, as a member of an object.
fn json_anchor(hay: &[u8], k: usize) -> Option<Anchor> {
    let (q, key_start) = match k.checked_sub(2).and_then(|p| quote_at(hay, p)) {
        Some((q @ b"\\\"", _)) => (q, k - 2),
        _ => match k.checked_sub(1).and_then(|p| quote_at(hay, p)) {
            Some((q @ b"\"", _)) => (q, k - 1),
            _ => return None,
        },
    };
    if !hay[k + 4..].starts_with(q) {
        return None;
    }
    let escape = if q.len() == 2 {
        Escape::Json
    } else {
        Escape::Raw
    };
    let at = skip_ws(hay, k + 4 + q.len(), escape);
    if hay.get(at) != Some(&b':') {
        return None;
    }
    let at = skip_ws(hay, at + 1, escape);
    if !hay[at..].starts_with(q) {
        return None;
    }
    let v = at + q.len();
    let (list, len) = if hay[v..].starts_with(b"SecretList") {
        (true, 10)
    } else if hay[v..].starts_with(b"Secret") {
        (false, 6)
    } else {
        return None;
    };
    if !hay[v + len..].starts_with(q) {
        return None;
    }
    Some(Anchor {
        escape,
        list,
        key_start,
    })
}

/// Whether the `"` at `at` delimits a string in this spelling (raw: not escaped; in a JSON
/// string: the `\"` that stands for a raw delimiter, not `\\\"`).
fn is_delim(hay: &[u8], at: usize, escape: Escape, lo: usize) -> bool {
    if hay[at] != b'"' {
        return false;
    }
    let mut n = 0;
    while at > lo + n && hay[at - 1 - n] == b'\\' {
        n += 1;
    }
    match escape {
        Escape::Raw => n % 2 == 0,
        Escape::Json => n % 4 == 1,
    }
}

/// The opening brace of the object holding `key_start`, scanning back to `lo`.
fn object_start(hay: &[u8], lo: usize, key_start: usize, escape: Escape) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = key_start;
    while at > lo {
        at -= 1;
        match hay[at] {
            b'"' if is_delim(hay, at, escape, lo) => {
                // Back to the string's opening delimiter.
                loop {
                    if at <= lo {
                        return None;
                    }
                    at -= 1;
                    if hay[at] == b'"' && is_delim(hay, at, escape, lo) {
                        break;
                    }
                }
            }
            b'}' | b']' => depth += 1,
            b'{' | b'[' if depth > 0 => depth -= 1,
            b'{' => return Some(at),
            b'[' => return None,
            _ => {}
        }
    }
    None
}

/// A JSON string at `at` in this spelling: (content start, content end, after).
fn json_string(hay: &[u8], at: usize, hi: usize, escape: Escape) -> Option<(usize, usize, usize)> {
    let q = match escape {
        Escape::Raw => 1,
        Escape::Json => 2,
    };
    let open = at + q - 1;
    if hay.get(open) != Some(&b'"') || !is_delim(hay, open, escape, 0) {
        return None;
    }
    let mut i = open + 1;
    while i < hi {
        if hay[i] == b'"' && is_delim(hay, i, escape, open) {
            return Some((open + 1, i + 1 - q, i + 1));
        }
        i += 1;
    }
    None
}

/// Reading one JSON-text object that holds a `"kind": "Secret"`, resumable with a
/// further horizon when another anchor of the same object comes into view.
struct JsonScan {
    escape: Escape,
    list: bool,
    /// Where to read on from, and the reader's state there.
    at: usize,
    /// Nesting inside the object (0: its members).
    depth: usize,
    /// Depth of the `data` object being masked, if inside one.
    data_depth: Option<usize>,
    /// The key just read was `data`/`stringData` at a depth that counts.
    pending_data: bool,
    expect_key: bool,
    /// The object closed.
    ended: bool,
    /// Where its own `"kind"` keys start (anchors seen to belong to it).
    kinds: Vec<usize>,
}

impl JsonScan {
    /// Finds the opening brace of the object holding `a`, no further back than `lo`.
    fn start(hay: &[u8], lo: usize, a: &Anchor) -> JsonScan {
        let at = match object_start(hay, lo, a.key_start, a.escape) {
            Some(open) => open + 1,
            // The start is out of reach: read on from the anchor, which is a member.
            None => a.key_start,
        };
        JsonScan {
            escape: a.escape,
            list: a.list,
            at,
            depth: 0,
            data_depth: None,
            pending_data: false,
            expect_key: true,
            ended: false,
            kinds: vec![a.key_start],
        }
    }

    /// Reads on up to `hi`, masking the values of the object's data members.
    fn run(&mut self, hay: &[u8], hi: usize, out: &mut Vec<Cand>) {
        let escape = self.escape;
        while !self.ended && self.at < hi {
            let at = skip_ws(hay, self.at, escape);
            if at >= hi {
                return;
            }
            self.at = at;
            match hay[at] {
                b'{' | b'[' => {
                    if self.pending_data && hay[at] == b'{' {
                        self.data_depth = Some(self.depth + 1);
                    }
                    self.pending_data = false;
                    self.depth += 1;
                    self.expect_key = hay[at] == b'{';
                    self.at += 1;
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        self.ended = true;
                        return;
                    }
                    if self.data_depth == Some(self.depth) {
                        self.data_depth = None;
                    }
                    self.depth -= 1;
                    self.expect_key = false;
                    self.at += 1;
                }
                b',' => {
                    // Inside an object a key follows; arrays have no keys, and a key read
                    // there is only compared, never masked.
                    self.expect_key = true;
                    self.at += 1;
                }
                b':' => {
                    self.expect_key = false;
                    self.at += 1;
                }
                _ => {
                    let in_data = !self.expect_key && self.data_depth == Some(self.depth);
                    let Some((s, e, after)) = json_string(hay, at, hi, escape) else {
                        // A number or literal (or a string cut at the horizon: read again
                        // next time).
                        if quote_at(hay, at).is_some_and(|(q, _)| q[q.len() - 1] == b'"') {
                            return;
                        }
                        let mut e = at;
                        while e < hi
                            && !matches!(hay[e], b',' | b'}' | b']' | b':' | b' ')
                            && !(escape == Escape::Json && hay[e] == b'\\')
                        {
                            e += 1;
                        }
                        if e == at {
                            e += 1;
                        } else if in_data {
                            push(hay, out, at, e);
                        }
                        self.at = e;
                        continue;
                    };
                    if self.expect_key {
                        let name = &hay[s..e];
                        if self.depth == 0 && name == b"kind" {
                            self.kinds.push(at);
                        }
                        self.pending_data = (name == b"data" || name == b"stringData")
                            && (self.depth == 0 || self.list)
                            && self.data_depth.is_none();
                    } else if in_data {
                        push(hay, out, s, e);
                    }
                    self.at = after;
                }
            }
        }
    }
}

/// A candidate for the value at `[start, end)`, unless it only names a value kept
/// elsewhere (`{{ .Values.password }}`, `${DB_PASSWORD}`: a template, not a secret).
fn push(hay: &[u8], out: &mut Vec<Cand>, start: usize, end: usize) {
    if start < end && !is_template(&hay[start..end]) {
        out.push(Cand {
            start,
            end,
            source: Source::Manifest,
            quote: false,
            drop: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masked regions of `text` as strings.
    fn found(text: &str, jsonish: bool) -> Vec<String> {
        let mut out = Vec::new();
        scan(text.as_bytes(), 0, true, jsonish, &mut out);
        out.sort_by_key(|c| (c.start, c.end));
        // A block read again after a horizon moved gives its values twice: merged later.
        out.dedup_by_key(|c| (c.start, c.end));
        out.iter()
            .map(|c| text[c.start..c.end].to_string())
            .collect()
    }

    #[test]
    fn yaml_secret_values_are_found_keys_and_metadata_are_not() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels:\n    data: keep\ndata:\n  DATABASE_URL: cG9zdGdyZXM6Ly91OnBAaC9k\n  \"quoted\": \"c2Vj\"\n  cert: |\n    LS0tLS1CRUdJTg==\n    QUJD\n  short: eA==  # a comment\nstringData:\n  STRIPE: sk_live_plain\ntype: Opaque\n";
        assert_eq!(
            found(text, false),
            [
                "cG9zdGdyZXM6Ly91OnBAaC9k",
                "c2Vj",
                "LS0tLS1CRUdJTg==\n    QUJD",
                "eA==",
                "sk_live_plain"
            ]
        );
    }

    #[test]
    fn data_before_kind_list_items_and_crlf() {
        let text = "items:\n- apiVersion: v1\n  data:\n    A: QUFB\n  kind: Secret\n- apiVersion: v1\n  data:\n    B: keep\n  kind: ConfigMap\n";
        assert_eq!(found(text, false), ["QUFB"]);
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(found(&crlf, false), ["QUFB"]);
    }

    #[test]
    fn secret_list_masks_every_item() {
        let text = "kind: SecretList\nitems:\n- metadata:\n    name: a\n  data:\n    X: WFg=\n- data:\n    Y: WVk=\n";
        assert_eq!(found(text, false), ["WFg=", "WVk="]);
    }

    #[test]
    fn yaml_inside_a_json_string_is_read_with_its_escapes() {
        let text = r#"{"content":[{"type":"text","text":"apiVersion: v1\nkind: Secret\ndata:\n  TOKEN: c2VjcmV0\n  \"B\": \"QkI=\"\nmetadata:\n  name: x\n"}]}"#;
        assert_eq!(found(text, true), ["c2VjcmV0", "QkI="]);
    }

    #[test]
    fn json_text_secrets_raw_and_escaped() {
        let raw = r#"note: {"apiVersion":"v1","data":{"password":"cGFzcw==","n":1},"kind":"Secret","metadata":{"name":"x","data":"keep"}}"#;
        assert_eq!(found(raw, false), ["cGFzcw==", "1"]);
        // A raw JSON body is the structure layer's.
        assert!(found(raw, true).is_empty());
        let escaped = r#"{"annotations":{"last-applied":"{\"apiVersion\":\"v1\",\"data\":{\"k\":\"dmFs\"},\"kind\":\"Secret\",\"stringData\":{\"p\":\"a \\\"q\\\" b\"}}\n"}}"#;
        assert_eq!(found(escaped, true), ["dmFs", r#"a \\\"q\\\" b"#]);
    }

    #[test]
    fn not_secrets() {
        for text in [
            "kind: ConfigMap\ndata:\n  a: b\n",
            "kind: SecretStore\ndata:\n  a: b\n",
            "what kind: Secret of thing\ndata:\n  a: b\n",
            "kind: Secret\ndata:\n  a: '{{ .Values.password }}'\n  b: ${DB_PASSWORD}\n  c: \"\"\n",
            r#"{"kind":"Secrets","data":{"a":"b"}}"#,
        ] {
            assert!(found(text, false).is_empty(), "{text}");
        }
    }

    #[test]
    fn repeated_anchors_are_read_once() {
        let unit = "kind: Secret\ndata:\n  a: QUFB\n";
        let text = unit.repeat(2000);
        assert_eq!(found(&text, false).len(), 2000);
        let json = r#"{"kind":"Secret","data":{"a":"QUFB"}},"#.repeat(2000);
        assert_eq!(found(&json, false).len(), 2000);
    }
}
