//! Multipart bodies (RFC 2046, RFC 7578): `multipart/form-data`, `mixed`, `related`,
//! `alternative`, `byteranges`... read part by part.
//!
//! Two readers over the same framing rules:
//!
//! - [`parse`] reads a whole body strictly, for policy: anything a parser could read
//!   two ways — a delimiter line ending in a bare LF, a delimiter followed by text, no
//!   closing delimiter, an oversized header block — is an error, and an unreadable body
//!   is never harmless;
//! - [`Splitter`] cuts a body as it streams, for masking: framing passes as it is, each
//!   part's headers and body are handed out separately (a delimiter split across chunks
//!   is found), and bytes that do not follow the framing are handed out as text, so
//!   nothing escapes the masker whatever the body looks like.

use std::borrow::Cow;

use crate::http::Headers;

use super::{split_params, unquote, Declared};

/// Longest boundary accepted (RFC 2046 allows 70; parsers accept more).
pub const MAX_BOUNDARY_LEN: usize = 200;

/// Longest header block of one part.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Deepest nesting of multipart inside multipart that is read.
pub const MAX_DEPTH: usize = 4;

/// Most parts read from one body.
const MAX_PARTS: usize = 10_000;

/// Most transport padding (spaces, tabs) after a delimiter.
const MAX_PADDING: usize = 64;

/// One part of a multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// Its headers (names lowercase).
    pub headers: Headers,
    /// Its body, as sent (before any `content-transfer-encoding` is undone).
    pub body: &'a [u8],
}

impl Part<'_> {
    /// Its declared type (`content-type`; none means the default of its container).
    pub fn declared(&self) -> Declared {
        Declared::from_headers(&self.headers)
    }

    /// Its `content-disposition`.
    pub fn disposition(&self) -> Option<Disposition> {
        self.headers
            .get_str("content-disposition")
            .map(Disposition::parse)
    }

    /// Its `content-transfer-encoding`, or why it is ambiguous (given twice, differently).
    pub fn transfer_encoding(&self) -> Result<Option<String>, String> {
        transfer_encoding(&self.headers)
    }
}

/// The `content-transfer-encoding` of a header block, lowercase.
pub fn transfer_encoding(headers: &Headers) -> Result<Option<String>, String> {
    let mut values = headers
        .get_all("content-transfer-encoding")
        .map(|v| String::from_utf8_lossy(v).trim().to_ascii_lowercase());
    let first = values.next();
    if values.any(|other| Some(&other) != first.as_ref()) {
        return Err("a part gives two different content-transfer-encodings".into());
    }
    Ok(first)
}

/// A `content-disposition` header value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disposition {
    /// `form-data`, `attachment`, `inline`...
    pub kind: String,
    /// Every name the part is given (`name`, and `name*` decoded): parsers differ on
    /// which wins, so each counts.
    pub names: Vec<String>,
    /// The file name, when the part is a file.
    pub filename: Option<String>,
}

impl Disposition {
    /// Parses a `content-disposition` value.
    pub fn parse(value: &str) -> Disposition {
        let mut fields = split_params(value).into_iter();
        let kind = fields
            .next()
            .map(|k| k.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let mut disposition = Disposition {
            kind,
            ..Disposition::default()
        };
        for field in fields {
            let Some((name, raw)) = field.split_once('=') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = match name.strip_suffix('*') {
                Some(_) => decode_ext_value(raw.trim()),
                None => unquote(raw.trim()),
            };
            match name.as_str() {
                "name" | "name*" if !disposition.names.contains(&value) => {
                    disposition.names.push(value)
                }
                "filename" | "filename*" => disposition.filename = Some(value),
                _ => {}
            }
        }
        disposition
    }
}

/// An RFC 8187 `ext-value` (`utf-8'en'%73ql`), decoded.
fn decode_ext_value(value: &str) -> String {
    let encoded = value.splitn(3, '\'').nth(2).unwrap_or(value);
    let mut bytes = Vec::with_capacity(encoded.len());
    let raw = encoded.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (raw[i], hex) {
            (b'%', Some(byte)) => {
                bytes.push(byte);
                i += 3;
            }
            (byte, _) => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads a whole multipart body into its parts. The preamble and epilogue are
/// ignored, as every parser ignores them; anything a parser could read another way is
/// an error.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    let dash = [b"--".as_slice(), boundary.as_bytes()].concat();
    let delim = [b"\r\n".as_slice(), &dash].concat();
    let bare = [b"\n".as_slice(), &dash].concat();
    if memchr::memmem::find_iter(body, &bare).any(|at| at == 0 || body[at - 1] != b'\r') {
        return Err("a multipart delimiter line ends in a bare LF".into());
    }
    let mut pos = if body.starts_with(&dash) {
        dash.len()
    } else {
        memchr::memmem::find(body, &delim)
            .map(|at| at + delim.len())
            .ok_or("the multipart boundary does not occur in the body")?
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let pad = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !rest[pad..].starts_with(b"\r\n") {
            return Err(if rest[pad..].is_empty() {
                "the multipart body has no closing delimiter".into()
            } else {
                "a multipart delimiter is followed by something other than a line break".into()
            });
        }
        pos += pad + 2;
        let (headers, start) = if body[pos..].starts_with(b"\r\n") {
            (Headers::new(), pos + 2)
        } else {
            let window = &body[pos..body.len().min(pos + MAX_HEADER_BYTES)];
            let end = memchr::memmem::find(window, b"\r\n\r\n")
                .ok_or("a part's headers do not end (or are too long)")?;
            (parse_headers(&body[pos..pos + end + 2])?, pos + end + 4)
        };
        let end = memchr::memmem::find(&body[start..], &delim)
            .map(|at| start + at)
            .ok_or("the multipart body has no closing delimiter")?;
        parts.push(Part {
            headers,
            body: &body[start..end],
        });
        if parts.len() > MAX_PARTS {
            return Err(format!("more than {MAX_PARTS} parts"));
        }
        pos = end + delim.len();
    }
}

/// Parses a part's header block: lines ending in CRLF (the block may end with its
/// empty line), folded lines joined. A bare CR or LF is an error.
pub fn parse_headers(block: &[u8]) -> Result<Headers, String> {
    let text = block
        .strip_suffix(b"\r\n\r\n")
        .or_else(|| block.strip_suffix(b"\r\n"))
        .unwrap_or(block);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, after) = match memchr::memmem::find(rest, b"\r\n") {
            Some(at) => (&rest[..at], &rest[at + 2..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = after;
        if line.contains(&b'\r') || line.contains(&b'\n') {
            return Err("a part header line has a bare CR or LF".into());
        }
        match (line.first(), lines.last_mut()) {
            (Some(b' ' | b'\t'), Some(previous)) => {
                previous.push(b' ');
                previous.extend_from_slice(line.trim_ascii_start());
            }
            (Some(b' ' | b'\t'), None) => return Err("a part's headers start with a space".into()),
            (None, _) => return Err("a part's header block has an empty line inside".into()),
            _ => lines.push(line.to_vec()),
        }
    }
    let mut headers = Headers::new();
    for line in lines {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("a part header line has no colon")?;
        let name = &line[..colon];
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
        if name.is_empty() || !name.iter().all(token) {
            return Err("a part header has an invalid name".into());
        }
        let value = line[colon + 1..].trim_ascii();
        headers.push(String::from_utf8_lossy(name).into_owned(), value.to_vec());
    }
    Ok(headers)
}

/// A part's body with its `content-transfer-encoding` undone.
pub fn decode_transfer<'a>(
    encoding: Option<&str>,
    body: &'a [u8],
) -> Result<Cow<'a, [u8]>, String> {
    match encoding.map(str::trim) {
        None | Some("") | Some("7bit") | Some("8bit") | Some("binary") => Ok(Cow::Borrowed(body)),
        Some("base64") => decode_base64(body).map(Cow::Owned),
        Some("quoted-printable") => decode_quoted_printable(body).map(Cow::Owned),
        Some(other) => Err(format!(
            "content-transfer-encoding {other:?} is not one Warden reads"
        )),
    }
}

fn decode_base64(body: &[u8]) -> Result<Vec<u8>, String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    engine
        .decode(compact)
        .map_err(|err| format!("a base64 part does not decode: {err}"))
}

fn decode_quoted_printable(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'=' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let rest = &body[i + 1..];
        if rest.starts_with(b"\r\n") {
            i += 3;
        } else if rest.starts_with(b"\n") {
            i += 2;
        } else {
            let byte = rest
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a quoted-printable part has a stray '='")?;
            out.push(byte);
            i += 3;
        }
    }
    Ok(out)
}

/// `data` encoded again as `encoding` (`base64` or `quoted-printable`), lines of at
/// most 76 characters when `wrap`.
pub fn encode_transfer(encoding: &str, data: &[u8], wrap: bool) -> Vec<u8> {
    match encoding {
        "base64" => {
            use base64::Engine;
            let text = base64::engine::general_purpose::STANDARD.encode(data);
            if !wrap {
                return text.into_bytes();
            }
            let lines: Vec<&[u8]> = text.as_bytes().chunks(76).collect();
            lines.join(b"\r\n".as_slice())
        }
        "quoted-printable" => encode_quoted_printable(data),
        _ => data.to_vec(),
    }
}

fn encode_quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8);
    let mut line = 0;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'\r' && data.get(i + 1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            line = 0;
            i += 2;
            continue;
        }
        let at_line_end = matches!(data.get(i + 1), None | Some(b'\r'));
        let literal =
            (b.is_ascii_graphic() && b != b'=') || ((b == b' ' || b == b'\t') && !at_line_end);
        let width = if literal { 1 } else { 3 };
        if line + width > 75 {
            out.extend_from_slice(b"=\r\n");
            line = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
        line += width;
        i += 1;
    }
    out
}

/// A piece of a multipart body as it streams through a [`Splitter`]. Concatenated in
/// order, the pieces are the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Framing: a delimiter, its transport padding and line break, or the closing `--`.
    Framing(Vec<u8>),
    /// Bytes outside the parts: the preamble, the epilogue, or everything after the
    /// framing stopped making sense. Read as plain text.
    Outside(Vec<u8>),
    /// A part's header block, up to and including its empty line.
    Headers(Vec<u8>),
    /// Bytes of the current part's body.
    Body(Vec<u8>),
    /// The current part ended.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SplitState {
    Preamble,
    AfterDelimiter,
    Headers,
    Body,
    Outside,
}

/// Cuts a multipart body into [`Piece`]s as it streams. Holds back at most a
/// delimiter's length (or one part's header block) between pushes.
#[derive(Debug)]
pub struct Splitter {
    dash: Vec<u8>,
    delim: Vec<u8>,
    state: SplitState,
    buf: Vec<u8>,
    at_start: bool,
    broken: bool,
}

impl Splitter {
    /// A splitter for parts separated by `boundary`.
    pub fn new(boundary: &str) -> Splitter {
        let dash = [b"--".as_slice(), boundary.as_bytes()].concat();
        let delim = [b"\r\n".as_slice(), &dash].concat();
        Splitter {
            dash,
            delim,
            state: SplitState::Preamble,
            buf: Vec::new(),
            at_start: true,
            broken: false,
        }
    }

    /// True once the body stopped following multipart framing (what followed was
    /// handed out as [`Piece::Outside`]).
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// Feeds bytes; appends the pieces now complete to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Piece>) {
        self.buf.extend_from_slice(data);
        self.run(false, out);
    }

    /// Ends the body; appends the remaining pieces to `out`.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        self.run(true, out);
        if !matches!(self.state, SplitState::Outside) || self.at_start {
            // No closing delimiter (or no delimiter at all).
            self.broken = true;
        }
        self.state = SplitState::Outside;
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.buf.drain(..n).collect()
    }

    fn break_framing(&mut self) {
        self.broken = true;
        self.state = SplitState::Outside;
    }

    fn run(&mut self, end: bool, out: &mut Vec<Piece>) {
        loop {
            match self.state {
                SplitState::Preamble => {
                    if self.at_start {
                        if !end
                            && self.buf.len() < self.dash.len()
                            && self.dash.starts_with(&self.buf)
                        {
                            return;
                        }
                        self.at_start = false;
                        if self.buf.starts_with(&self.dash) {
                            let framing = self.take(self.dash.len());
                            out.push(Piece::Framing(framing));
                            self.state = SplitState::AfterDelimiter;
                            continue;
                        }
                    }
                    match memchr::memmem::find(&self.buf, &self.delim) {
                        Some(at) => {
                            if at > 0 {
                                let outside = self.take(at);
                                out.push(Piece::Outside(outside));
                            }
                            let framing = self.take(self.delim.len());
                            out.push(Piece::Framing(framing));
                            self.state = SplitState::AfterDelimiter;
                        }
                        None => {
                            let keep = if end { 0 } else { self.delim.len() - 1 };
                            let n = self.buf.len().saturating_sub(keep);
                            if n > 0 {
                                let outside = self.take(n);
                                out.push(Piece::Outside(outside));
                            }
                            return;
                        }
                    }
                }
                SplitState::AfterDelimiter => {
                    if self.buf.starts_with(b"--") {
                        let framing = self.take(2);
                        out.push(Piece::Framing(framing));
                        self.state = SplitState::Outside;
                        continue;
                    }
                    let pad = self
                        .buf
                        .iter()
                        .take_while(|&&b| b == b' ' || b == b'\t')
                        .count();
                    let after = &self.buf[pad..];
                    if after.starts_with(b"\r\n") && pad <= MAX_PADDING {
                        let framing = self.take(pad + 2);
                        out.push(Piece::Framing(framing));
                        self.state = SplitState::Headers;
                        continue;
                    }
                    let undecided = after.is_empty() || after == b"\r" || self.buf == b"-";
                    if undecided && !end && pad <= MAX_PADDING {
                        return;
                    }
                    self.break_framing();
                }
                SplitState::Headers => {
                    if self.buf.starts_with(b"\r\n") {
                        let headers = self.take(2);
                        out.push(Piece::Headers(headers));
                        self.state = SplitState::Body;
                        continue;
                    }
                    match memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                        Some(at) if at + 4 <= MAX_HEADER_BYTES => {
                            let headers = self.take(at + 4);
                            out.push(Piece::Headers(headers));
                            self.state = SplitState::Body;
                        }
                        None if !end && self.buf.len() <= MAX_HEADER_BYTES => return,
                        _ => self.break_framing(),
                    }
                }
                SplitState::Body => match memchr::memmem::find(&self.buf, &self.delim) {
                    Some(at) => {
                        if at > 0 {
                            let body = self.take(at);
                            out.push(Piece::Body(body));
                        }
                        out.push(Piece::End);
                        let framing = self.take(self.delim.len());
                        out.push(Piece::Framing(framing));
                        self.state = SplitState::AfterDelimiter;
                    }
                    None => {
                        let keep = if end { 0 } else { self.delim.len() - 1 };
                        let n = self.buf.len().saturating_sub(keep);
                        if n > 0 {
                            let body = self.take(n);
                            out.push(Piece::Body(body));
                        }
                        if end {
                            out.push(Piece::End);
                            self.broken = true;
                            self.state = SplitState::Outside;
                        }
                        return;
                    }
                },
                SplitState::Outside => {
                    if !self.buf.is_empty() {
                        let outside = std::mem::take(&mut self.buf);
                        out.push(Piece::Outside(outside));
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"sql\"\r\n\r\nDROP TABLE t\r\n--XyZ  \r\nContent-Type: application/json\r\nX-Folded: a\r\n b\r\n\r\n{\"a\": 1}\r\n--XyZ\r\n\r\nno headers\r\n--XyZ--\r\nepilogue";

    #[test]
    fn a_well_formed_body_is_read_part_by_part() {
        let parts = parse(BODY, "XyZ").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].body, b"DROP TABLE t");
        assert_eq!(
            parts[0].disposition().unwrap().names,
            vec!["sql".to_string()]
        );
        assert_eq!(parts[1].declared().media, "application/json");
        assert_eq!(parts[1].headers.get_str("x-folded"), Some("a b"));
        assert_eq!(parts[2].body, b"no headers");
        assert!(parts[2].headers.is_empty());
        // A delimiter at the very start needs no preamble.
        let start = b"--b\r\n\r\nx\r\n--b--";
        assert_eq!(parse(start, "b").unwrap()[0].body, b"x");
    }

    #[test]
    fn ambiguous_framing_is_an_error() {
        let cases: [&[u8]; 6] = [
            b"--b\r\n\r\nx\r\n",
            b"--b\r\n\r\nx",
            b"--b\n\r\nx\r\n--b--",
            b"--b\r\n\r\nx\n--b\r\n\r\ny\r\n--b--",
            b"--b\r\n\r\nx\r\n--bc\r\n\r\ny\r\n--b--",
            b"no delimiter here",
        ];
        for body in cases {
            assert!(
                parse(body, "b").is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let headers = b"--b\r\nno-colon\r\n\r\nx\r\n--b--";
        assert!(parse(headers, "b").is_err());
    }

    #[test]
    fn dispositions_name_every_spelling() {
        let d =
            Disposition::parse("form-data; name=\"q\"; name*=UTF-8''%73ql; filename=\"a;b.txt\"");
        assert_eq!(d.kind, "form-data");
        assert_eq!(d.names, vec!["q".to_string(), "sql".to_string()]);
        assert_eq!(d.filename.as_deref(), Some("a;b.txt"));
    }

    #[test]
    fn transfer_encodings_are_undone_and_redone() {
        assert_eq!(
            decode_transfer(Some("base64"), b"RFJPUCBU\r\nQUJMRQ==")
                .unwrap()
                .as_ref(),
            b"DROP TABLE"
        );
        assert_eq!(
            decode_transfer(Some("quoted-printable"), b"DROP=20TA=\r\nBLE =3D")
                .unwrap()
                .as_ref(),
            b"DROP TABLE ="
        );
        assert!(decode_transfer(Some("quoted-printable"), b"a=zz").is_err());
        assert!(decode_transfer(Some("base64"), b"@@@").is_err());
        assert!(decode_transfer(Some("x-uuencode"), b"x").is_err());
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for encoding in ["base64", "quoted-printable"] {
            let encoded = encode_transfer(encoding, &data, true);
            assert!(
                encoded.split(|&b| b == b'\n').all(|l| l.len() <= 77),
                "{encoding}"
            );
            assert_eq!(
                decode_transfer(Some(encoding), &encoded).unwrap().as_ref(),
                data.as_slice()
            );
        }
    }

    fn split(body: &[u8], size: usize) -> (Vec<Piece>, bool) {
        let mut splitter = Splitter::new("XyZ");
        let mut pieces = Vec::new();
        for chunk in body.chunks(size) {
            splitter.push(chunk, &mut pieces);
        }
        splitter.finish(&mut pieces);
        (pieces, splitter.broken())
    }

    /// Pieces with consecutive runs of the same kind merged, for comparing chunkings.
    fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for piece in pieces {
            match (out.last_mut(), piece) {
                (Some(Piece::Outside(a)), Piece::Outside(b))
                | (Some(Piece::Body(a)), Piece::Body(b)) => a.extend(b),
                (_, piece) => out.push(piece),
            }
        }
        out
    }

    #[test]
    fn the_splitter_finds_the_framing_in_any_chunking() {
        let (whole, broken) = split(BODY, BODY.len());
        assert!(!broken);
        let bodies: Vec<&Piece> = whole
            .iter()
            .filter(|p| matches!(p, Piece::Body(_)))
            .collect();
        assert_eq!(bodies.len(), 3);
        assert_eq!(whole.iter().filter(|p| **p == Piece::End).count(), 3);
        for size in 1..20 {
            let (pieces, broken) = split(BODY, size);
            assert!(!broken);
            let joined: Vec<u8> = pieces
                .iter()
                .flat_map(|p| match p {
                    Piece::Framing(b) | Piece::Outside(b) | Piece::Headers(b) | Piece::Body(b) => {
                        b.clone()
                    }
                    Piece::End => Vec::new(),
                })
                .collect();
            assert_eq!(joined, BODY, "{size}");
            assert_eq!(merged(pieces), merged(whole.clone()), "{size}");
        }
    }

    #[test]
    fn broken_framing_is_handed_out_as_text() {
        let (pieces, broken) = split(b"--XyZ\r\n\r\nunfinished part", 4);
        assert!(broken);
        assert!(pieces.iter().any(|p| matches!(p, Piece::Body(_))));
        let (pieces, broken) = split(b"--XyZgarbage after", 3);
        assert!(broken);
        assert!(pieces.iter().any(|p| matches!(p, Piece::Outside(_))));
        let (_, broken) = split(b"no framing at all", 5);
        assert!(broken);
    }
}
