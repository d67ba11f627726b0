//! JSON paths as policies write them, and matching them one path step at a time.
//!
//! The subset: `$` then any of `.name`, `['name']` / `["name"]` (any key, quotes
//! escaped with `\`), `[3]`, `[-1]` (from the end), `[*]` / `.*` (every member or
//! element), and `..` before any of them (at any depth below). Filters, unions and
//! slices are refused when the policy loads.
//!
//! Matching is a small automaton over the segments ([`PathState`]): one step per
//! level, so the cost is the path's depth times its segments, whatever the `..`s —
//! and a streaming tokenizer can carry one state per open container.

use std::fmt;

/// One step of a concrete path: the member key (decoded) or the element index (and
/// the array's length, for indexes from the end; `None` while it is unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStep<'a> {
    /// A member of an object.
    Key(&'a str),
    /// An element of an array.
    Index {
        /// Its position.
        index: usize,
        /// The array's length, when known.
        len: Option<usize>,
    },
}

/// What one segment selects.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Selector {
    /// A member with exactly this key.
    Name(String),
    /// An element by position (negative: from the end).
    Index(i64),
    /// Every member or element.
    Wildcard,
}

impl Selector {
    fn matches(&self, step: PathStep<'_>) -> bool {
        match (self, step) {
            (Selector::Wildcard, _) => true,
            (Selector::Name(name), PathStep::Key(key)) => name == key,
            (Selector::Index(want), PathStep::Index { index, len }) => {
                if *want >= 0 {
                    usize::try_from(*want).is_ok_and(|w| w == index)
                } else {
                    // From the end: known only with the array's length.
                    len.and_then(|len| len.checked_sub(want.unsigned_abs() as usize))
                        .is_some_and(|w| w == index)
                }
            }
            _ => false,
        }
    }
}

/// One segment: a child, or a descendant at any depth (`..`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    descendant: bool,
    selector: Selector,
}

/// A parsed JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

/// Why a JSON path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON path {path:?}: {reason}")]
pub struct PathError {
    path: String,
    reason: String,
}

/// Paths longer than this are refused (a state is one bit per segment).
pub const MAX_SEGMENTS: usize = 63;

impl JsonPath {
    /// Parses a path such as `$.customers[*].ssn`, `$..card`, `$.rows[*][3]` or
    /// `$['odd key'][0]`.
    pub fn parse(text: &str) -> Result<JsonPath, PathError> {
        let error = |reason: &str| PathError {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        let bytes = text.trim().as_bytes();
        if bytes.first() != Some(&b'$') {
            return Err(error("a path starts with `$` (the document)"));
        }
        let mut segments = Vec::new();
        let mut at = 1;
        while at < bytes.len() {
            let mut descendant = false;
            if bytes[at..].starts_with(b"..") {
                descendant = true;
                at += 2;
            } else if bytes[at] == b'.' {
                at += 1;
            } else if bytes[at] != b'[' {
                return Err(error(
                    "expected `.name`, `..name` or `[...]` after a segment",
                ));
            }
            if at >= bytes.len() {
                return Err(error("the path ends with `.`"));
            }
            let selector = if bytes[at] == b'[' {
                let (selector, next) = bracket(text.trim(), at).map_err(|r| error(&r))?;
                at = next;
                selector
            } else {
                let start = at;
                while at < bytes.len() && bytes[at] != b'.' && bytes[at] != b'[' {
                    at += 1;
                }
                let name = &text.trim()[start..at];
                if name == "*" {
                    Selector::Wildcard
                } else if name.is_empty()
                    || name
                        .chars()
                        .any(|c| c.is_whitespace() || matches!(c, ']' | '\'' | '"' | '?' | '('))
                {
                    return Err(error(&format!(
                        "{name:?} is not a plain member name; quote it: ['{name}']"
                    )));
                } else {
                    Selector::Name(name.to_string())
                }
            };
            segments.push(Segment {
                descendant,
                selector,
            });
        }
        if segments.is_empty() {
            return Err(error(
                "`$` alone is the whole body; name a member, an element or `..key`",
            ));
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(error(&format!("more than {MAX_SEGMENTS} segments")));
        }
        Ok(JsonPath {
            text: text.trim().to_string(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The state at the document's root.
    pub fn root(&self) -> PathState {
        PathState(1)
    }

    /// The state of a child reached from `parent` by `step`.
    pub fn step(&self, parent: PathState, step: PathStep<'_>) -> PathState {
        let mut next = 0u64;
        let mut bits = parent.0;
        while bits != 0 {
            let at = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(segment) = self.segments.get(at) else {
                // Already matched: what lies below is inside the matched value.
                continue;
            };
            if segment.descendant {
                next |= 1 << at;
            }
            if segment.selector.matches(step) {
                next |= 1 << (at + 1);
            }
        }
        PathState(next)
    }

    /// Whether a value in `state` is selected by the path.
    pub fn matches(&self, state: PathState) -> bool {
        state.0 & (1 << self.segments.len()) != 0
    }

    /// Whether nothing below a value in `state` can match (its subtree can be skipped).
    pub fn is_dead(&self, state: PathState) -> bool {
        state.0 == 0
    }

    /// True when the path selects an element by an index from the end, which needs the
    /// array's length.
    pub fn needs_lengths(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s.selector, Selector::Index(i) if i < 0))
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where a value stands in a [`JsonPath`]'s automaton: one bit per segment reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PathState(u64);

/// Parses `[...]` starting at `at` (the `[`); returns the selector and the position
/// after the `]`.
fn bracket(text: &str, at: usize) -> Result<(Selector, usize), String> {
    let bytes = text.as_bytes();
    let mut i = at + 1;
    let skip_space = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i] == b' ' {
            *i += 1;
        }
    };
    skip_space(&mut i);
    let selector = match bytes.get(i) {
        Some(&quote @ (b'\'' | b'"')) => {
            i += 1;
            let mut name = String::new();
            loop {
                let Some(c) = text[i..].chars().next() else {
                    return Err("unterminated quoted name".into());
                };
                i += c.len_utf8();
                match c {
                    '\\' => {
                        let Some(escaped) = text[i..].chars().next() else {
                            return Err("unterminated quoted name".into());
                        };
                        i += escaped.len_utf8();
                        name.push(escaped);
                    }
                    c if c as u32 == u32::from(quote) => break,
                    c => name.push(c),
                }
            }
            Selector::Name(name)
        }
        Some(b'*') => {
            i += 1;
            Selector::Wildcard
        }
        Some(b'-' | b'0'..=b'9') => {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let number = &text[start..i];
            Selector::Index(
                number
                    .parse()
                    .map_err(|_| format!("{number:?} is not an index"))?,
            )
        }
        _ => {
            return Err(
                "a bracket holds a quoted name, an index or `*` (filters, unions and slices are not supported)"
                    .into(),
            )
        }
    };
    skip_space(&mut i);
    if bytes.get(i) != Some(&b']') {
        return Err("expected `]` (filters, unions and slices are not supported)".into());
    }
    Ok((selector, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(path: &str, steps: &[PathStep<'_>]) -> bool {
        let path = JsonPath::parse(path).unwrap();
        let mut state = path.root();
        for step in steps {
            state = path.step(state, *step);
        }
        path.matches(state)
    }

    fn ix(index: usize) -> PathStep<'static> {
        PathStep::Index {
            index,
            len: Some(5),
        }
    }

    #[test]
    fn the_documented_subset_matches() {
        use PathStep::Key;
        assert!(matches("$.a.b", &[Key("a"), Key("b")]));
        assert!(!matches("$.a.b", &[Key("a"), Key("c")]));
        assert!(!matches("$.a.b", &[Key("a")]));
        assert!(matches("$.a[*].b", &[Key("a"), ix(3), Key("b")]));
        assert!(!matches("$.a[*].b", &[Key("a"), Key("x"), ix(3), Key("b")]));
        assert!(matches("$..b", &[Key("a"), ix(0), Key("x"), Key("b")]));
        assert!(matches("$..b", &[Key("b")]));
        assert!(matches("$.rows[*][3]", &[Key("rows"), ix(0), ix(3)]));
        assert!(!matches("$.rows[*][3]", &[Key("rows"), ix(0), ix(2)]));
        assert!(matches("$.rows[*][-1]", &[Key("rows"), ix(0), ix(4)]));
        assert!(matches(
            "$['odd key'][\"x.y\"]",
            &[Key("odd key"), Key("x.y")]
        ));
        assert!(matches("$['it\\'s']", &[Key("it's")]));
        assert!(matches("$.*.b", &[Key("zz"), Key("b")]));
        assert!(matches("$..[0]", &[Key("a"), ix(0)]));
        assert!(matches(
            "$..a..b",
            &[Key("a"), Key("x"), Key("y"), Key("b")]
        ));
        assert!(!matches("$..a..b", &[Key("b"), Key("a")]));
    }

    #[test]
    fn paths_outside_the_subset_are_refused_with_a_reason() {
        for bad in [
            "a.b",
            "$",
            "$.",
            "$.a[?(@.x)]",
            "$.a[0,1]",
            "$.a[1:2]",
            "$.a b",
            "$['x'",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn many_descendant_segments_stay_linear() {
        let path = JsonPath::parse(&format!("${}", "..a".repeat(60))).unwrap();
        let mut state = path.root();
        for _ in 0..100_000 {
            state = path.step(state, PathStep::Key("a"));
        }
        assert!(path.matches(state));
    }
}
