//! A strict JSON reader that keeps where every value lies in the raw bytes, so a
//! value can be replaced in place and everything else stays byte for byte as sent.
//!
//! Keys are decoded (`"s\u0073n"` is the key `ssn`, as every client reads it); string
//! values are decoded only when asked ([`decode_string`]). Anything a strict parser
//! refuses is an error: a body Warden cannot read the way its client will is not passed
//! on with fields it may have missed.

/// Deepest nesting read; deeper documents are refused.
pub const MAX_DEPTH: usize = 256;

/// A value and where it lies: `start..end` in the document.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) value: Value,
}

/// What a value is.
#[derive(Debug)]
pub(crate) enum Value {
    Object(Vec<Member>),
    Array(Vec<Node>),
    String,
    /// A number, `true`, `false` or `null`.
    Scalar,
}

/// One member of an object.
#[derive(Debug)]
pub(crate) struct Member {
    /// Where the key's opening quote is.
    pub(crate) key_start: usize,
    /// The key, decoded.
    pub(crate) key: String,
    pub(crate) node: Node,
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {at}")]
pub struct SyntaxError {
    /// What is wrong.
    pub reason: &'static str,
    /// Where, in the document.
    pub at: usize,
}

/// Reads one JSON value filling `text[start..]`, with only whitespace around it.
pub(crate) fn parse(text: &[u8]) -> Result<Node, SyntaxError> {
    let mut reader = Reader { text, at: 0 };
    reader.space();
    let node = reader.value(0)?;
    reader.space();
    if reader.at != text.len() {
        return Err(reader.error("more than one value"));
    }
    Ok(node)
}

struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, reason: &'static str) -> SyntaxError {
        SyntaxError {
            reason,
            at: self.at,
        }
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let start = self.at;
        let value = match self.text.get(self.at) {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => {
                self.string()?;
                Value::String
            }
            Some(b't') => self.literal(b"true")?,
            Some(b'f') => self.literal(b"false")?,
            Some(b'n') => self.literal(b"null")?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.error("expected a value")),
            None => return Err(self.error("the document ends early")),
        };
        Ok(Node {
            start,
            end: self.at,
            value,
        })
    }

    fn object(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.at += 1;
        let mut members = Vec::new();
        self.space();
        if self.text.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.space();
            let key_start = self.at;
            if self.text.get(self.at) != Some(&b'"') {
                return Err(self.error("expected a quoted key"));
            }
            let raw_end = self.string()?;
            let key = decode_string(&self.text[key_start..raw_end])
                .ok_or_else(|| self.error("a key is not valid text"))?;
            self.space();
            if self.text.get(self.at) != Some(&b':') {
                return Err(self.error("expected `:`"));
            }
            self.at += 1;
            self.space();
            let node = self.value(depth + 1)?;
            members.push(Member {
                key_start,
                key,
                node,
            });
            self.space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.at += 1;
        let mut items = Vec::new();
        self.space();
        if self.text.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.space();
            items.push(self.value(depth + 1)?);
            self.space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// Skips a string (checking it); returns the position after its closing quote.
    fn string(&mut self) -> Result<usize, SyntaxError> {
        self.at += 1;
        let start = self.at;
        loop {
            let Some(rest) = self.text.get(self.at..) else {
                return Err(self.error("unterminated string"));
            };
            let Some(offset) = memchr::memchr3(b'"', b'\\', 0, rest)
                .or_else(|| rest.iter().position(|&b| b < 0x20))
            else {
                self.at = self.text.len();
                return Err(self.error("unterminated string"));
            };
            // A control character before the quote or backslash is an error too.
            if let Some(control) = rest[..offset].iter().position(|&b| b < 0x20) {
                self.at += control;
                return Err(self.error("a control character in a string"));
            }
            self.at += offset;
            match self.text[self.at] {
                b'"' => {
                    if std::str::from_utf8(&self.text[start..self.at]).is_err() {
                        return Err(self.error("a string is not valid UTF-8"));
                    }
                    self.at += 1;
                    return Ok(self.at);
                }
                b'\\' => {
                    self.at += 1;
                    match self.text.get(self.at) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1
                        }
                        Some(b'u') => {
                            let hex = self.text.get(self.at + 1..self.at + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.error("a bad \\u escape"));
                            }
                            self.at += 5;
                        }
                        _ => return Err(self.error("a bad escape")),
                    }
                }
                _ => return Err(self.error("a control character in a string")),
            }
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<Value, SyntaxError> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(Value::Scalar)
        } else {
            Err(self.error("expected true, false or null"))
        }
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let digits = |r: &mut Reader<'_>| {
            let start = r.at;
            while r.text.get(r.at).is_some_and(u8::is_ascii_digit) {
                r.at += 1;
            }
            r.at - start
        };
        if self.text.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.text.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("a bad number")),
        }
        if self.text.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.error("a bad number"));
            }
        }
        if let Some(b'e' | b'E') = self.text.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.text.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("a bad number"));
            }
        }
        Ok(Value::Scalar)
    }
}

/// The text of a raw JSON string (quotes included), escapes decoded; `None` when it is
/// not one. Lone surrogates read as U+FFFD, as most clients read them.
pub(crate) fn decode_string(raw: &[u8]) -> Option<String> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let text = std::str::from_utf8(inner).ok()?;
    if !text.contains('\\') {
        return Some(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    let hex4 = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
        let digits: String = chars.by_ref().take(4).collect();
        (digits.len() == 4)
            .then(|| u32::from_str_radix(&digits, 16).ok())
            .flatten()
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let unit = hex4(&mut chars)?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate: with a low one after it, one character.
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('\\') && ahead.next() == Some('u') {
                        if let Some(low) = hex4(&mut ahead).filter(|l| (0xDC00..0xE000).contains(l))
                        {
                            let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                            chars = ahead;
                            continue;
                        }
                    }
                    out.push('\u{FFFD}');
                } else {
                    out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_spans_and_keys_are_decoded() {
        let text = br#" {"a": [1, "x\"y", true], "s\u0073n": {"k": null}} "#;
        let node = parse(text).unwrap();
        let Value::Object(members) = &node.value else {
            panic!("object")
        };
        assert_eq!(members[0].key, "a");
        assert_eq!(members[1].key, "ssn");
        assert_eq!(
            &text[members[1].node.start..members[1].node.end],
            br#"{"k": null}"#
        );
        let Value::Array(items) = &members[0].node.value else {
            panic!("array")
        };
        assert_eq!(&text[items[1].start..items[1].end], br#""x\"y""#);
        assert_eq!(
            decode_string(&text[items[1].start..items[1].end]).unwrap(),
            "x\"y"
        );
    }

    #[test]
    fn what_a_strict_parser_refuses_is_refused() {
        for bad in [
            &b"{\"a\": 1,}"[..],
            b"{'a': 1}",
            b"[1 2]",
            b"{\"a\" 1}",
            b"\"\x01\"",
            b"01",
            b"1.",
            b"{\"a\": tru}",
            b"[\"\\x\"]",
            b"{} {}",
            b"\"\xff\"",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn surrogate_pairs_decode_to_one_character() {
        assert_eq!(decode_string(br#""\ud83d\ude00""#).unwrap(), "😀");
        assert_eq!(decode_string(br#""\ud83dx""#).unwrap(), "\u{FFFD}x");
    }
}
