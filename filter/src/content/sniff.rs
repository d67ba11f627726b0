//! Text or binary, decided by the bytes.
//!
//! A declared type is only a hint: `application/octet-stream` may carry JSON and
//! `image/png` a prompt. [`sniff`] looks at the start of a body — byte order marks,
//! the NUL pattern of UTF-16 and UTF-32, signatures of compressed and image formats, NUL
//! and control bytes — and says whether it is text (in which encoding, and of which
//! shape: JSON, markup, form, plain) or binary.
//!
//! Binary needs evidence: a NUL byte (outside the UTF-16/32 pattern), a format
//! signature that no text starts with, or many control bytes in a sample long enough
//! to judge. Everything else is text, because reading a binary body as text costs a
//! scan while reading text as binary would pass it unread.

use super::charset;

/// How the text of a body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8, or any charset that agrees with ASCII on ASCII bytes.
    Utf8,
    /// UTF-16, little-endian.
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
    /// UTF-32, little-endian.
    Utf32Le,
    /// UTF-32, big-endian.
    Utf32Be,
}

impl Encoding {
    /// Bytes per code unit.
    pub fn unit(self) -> usize {
        match self {
            Encoding::Utf8 => 1,
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
            Encoding::Utf32Le | Encoding::Utf32Be => 4,
        }
    }
}

/// The shape of a text body, from its first characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Starts with `{` or `[`.
    Json,
    /// Starts with `<` (XML, HTML).
    Markup,
    /// `name=value&...` with nothing a form encoding would escape.
    Form,
    /// Anything else.
    Text,
}

/// What the start of a body shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// Binary: not to be read as text.
    Binary,
    /// Text.
    Text {
        /// How it is encoded.
        encoding: Encoding,
        /// Length of its byte order mark (0 when none).
        bom: usize,
        /// Its shape.
        shape: Shape,
    },
}

/// Bytes of a body looked at to tell text from binary (a decision on a longer body is
/// taken on its first `WINDOW` bytes).
pub const WINDOW: usize = 8 * 1024;

/// A sample shorter than this is not judged by its share of control bytes (one stray
/// byte in a short first chunk proves nothing).
const MIN_RATIO_SAMPLE: usize = 32;

/// Signatures of binary formats: all but PDF's have a byte no text begins with; PDF is
/// listed because a PDF's first bytes can be all text while the rest is not (scanning
/// it as text would corrupt it).
const SIGNATURES: [&[u8]; 12] = [
    b"\x89PNG\r\n\x1a\n",
    b"%PDF-",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"\x28\xb5\x2f\xfd",
    b"\xfd7zXZ\x00",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x07\x08",
    b"7z\xbc\xaf\x27\x1c",
    b"\x7fELF",
    b"\x00asm",
];

/// Sniffs the start of a body. `complete` says `sample` is all of it; otherwise `None`
/// means more bytes are needed to tell (at most [`WINDOW`] are ever needed).
/// `declared` is an encoding named by the `charset` parameter, used when the bytes
/// carry no byte order mark.
pub fn sniff(sample: &[u8], complete: bool, declared: Option<Encoding>) -> Option<Sniffed> {
    let complete = complete || sample.len() >= WINDOW;
    let sample = &sample[..sample.len().min(WINDOW)];
    let (encoding, bom) = detect_encoding(sample, complete, declared)?;
    if encoding == Encoding::Utf8 && bom == 0 && SIGNATURES.iter().any(|s| sample.starts_with(s)) {
        return Some(Sniffed::Binary);
    }
    let text = charset::decode_prefix(encoding, &sample[bom..]);
    if text.contains(&0) {
        return Some(Sniffed::Binary);
    }
    if text.len() >= MIN_RATIO_SAMPLE || complete {
        let control = text.iter().filter(|&&b| is_control(b)).count();
        if control * 10 > text.len() {
            return Some(Sniffed::Binary);
        }
    }
    let shape = shape(&text, complete)?;
    Some(Sniffed::Text {
        encoding,
        bom,
        shape,
    })
}

/// Whether `sample` shows binary evidence (used where text needs no shape).
pub fn is_binary(sample: &[u8], complete: bool) -> Option<bool> {
    sniff(sample, complete, None).map(|s| s == Sniffed::Binary)
}

/// The encoding from a byte order mark, else from the NUL pattern of the first four
/// bytes (as JSON parsers detect it), else the declared one, else UTF-8.
fn detect_encoding(
    sample: &[u8],
    complete: bool,
    declared: Option<Encoding>,
) -> Option<(Encoding, usize)> {
    const BOMS: [(&[u8], Encoding); 5] = [
        (b"\x00\x00\xfe\xff", Encoding::Utf32Be),
        (b"\xff\xfe\x00\x00", Encoding::Utf32Le),
        (b"\xef\xbb\xbf", Encoding::Utf8),
        (b"\xfe\xff", Encoding::Utf16Be),
        (b"\xff\xfe", Encoding::Utf16Le),
    ];
    if !complete && sample.len() < 4 {
        // A byte order mark or the NUL pattern of UTF-16/32 may still be cut short.
        return None;
    }
    for (bom, encoding) in BOMS {
        if sample.starts_with(bom) {
            // `FF FE 00 00` is a UTF-32 mark, or a UTF-16 one before a NUL character;
            // both read the text as Unicode, and a NUL makes it binary either way.
            return Some((encoding, bom.len()));
        }
    }
    if let Some(declared) = declared.filter(|e| *e != Encoding::Utf8) {
        return Some((declared, 0));
    }
    if let [a, b, c, d, ..] = *sample {
        let found = match (a == 0, b == 0, c == 0, d == 0) {
            (true, true, true, false) => Some(Encoding::Utf32Be),
            (false, true, true, true) => Some(Encoding::Utf32Le),
            (true, false, true, false) => Some(Encoding::Utf16Be),
            (false, true, false, true) => Some(Encoding::Utf16Le),
            _ => None,
        };
        if let Some(encoding) = found {
            return Some((encoding, 0));
        }
    }
    Some((Encoding::Utf8, 0))
}

/// Control bytes that do not occur in text (tab, line breaks, form feed and escape do).
fn is_control(b: u8) -> bool {
    matches!(b, 0x01..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f | 0x7f)
}

/// The shape of UTF-8 text; `None` while only whitespace was seen of an unfinished body.
fn shape(text: &[u8], complete: bool) -> Option<Shape> {
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return if complete { Some(Shape::Text) } else { None };
    };
    let rest = &text[start..];
    Some(match rest[0] {
        b'{' | b'[' => Shape::Json,
        b'<' => Shape::Markup,
        _ if looks_like_form(rest) => Shape::Form,
        _ => Shape::Text,
    })
}

/// A first line of `name=value(&name=value)*`, with only the characters a form
/// encoder leaves as they are. (Only the first line counts, so the shape of a body
/// streamed in pieces is known once its first line is.)
fn looks_like_form(text: &[u8]) -> bool {
    let line = &text[..first_line_end(text).unwrap_or(text.len())];
    let first_pair = line.split(|&b| b == b'&').next().unwrap_or_default();
    let name_ok = first_pair
        .iter()
        .position(|&b| b == b'=')
        .is_some_and(|eq| eq > 0);
    name_ok
        && line
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"%+&=._~*-[]!'()$,;:@/?".contains(&b))
}

fn first_line_end(text: &[u8]) -> Option<usize> {
    text.iter().position(|&b| b == b'\r' || b == b'\n')
}

/// True when the first line of text (after leading whitespace) has ended in `sample`:
/// the shape [`sniff`] gives is then final.
pub fn first_line_complete(sample: &[u8]) -> bool {
    let start = sample.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|start| first_line_end(&sample[start..]).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sample: &[u8]) -> (Encoding, usize, Shape) {
        match sniff(sample, true, None) {
            Some(Sniffed::Text {
                encoding,
                bom,
                shape,
            }) => (encoding, bom, shape),
            other => panic!("{sample:?}: {other:?}"),
        }
    }

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn shapes_of_text() {
        assert_eq!(text(b"  {\"a\": 1}").2, Shape::Json);
        assert_eq!(text(b"[1]").2, Shape::Json);
        assert_eq!(text(b"<?xml version='1.0'?><a/>").2, Shape::Markup);
        assert_eq!(text(b"sql=DROP+TABLE+x&db=prod").2, Shape::Form);
        assert_eq!(text(b"sql=DROP+TABLE+x\r\n").2, Shape::Form);
        assert_eq!(text(b"API_KEY=abc\nDB=x y").2, Shape::Form);
        assert_eq!(text(b"DROP TABLE x").2, Shape::Text);
        assert_eq!(text(b"a = b").2, Shape::Text);
        assert_eq!(text(b"=x").2, Shape::Text);
        assert_eq!(text(b"").2, Shape::Text);
        assert_eq!(text("héllo wörld".as_bytes()).2, Shape::Text);
        // Latin-1 text is text (invalid UTF-8 is not evidence of binary).
        assert_eq!(text(b"caf\xe9 cr\xe8me").0, Encoding::Utf8);
    }

    #[test]
    fn byte_order_marks_and_nul_patterns_name_the_encoding() {
        assert_eq!(text(b"\xef\xbb\xbf{}"), (Encoding::Utf8, 3, Shape::Json));
        let mut le = vec![0xff, 0xfe];
        le.extend(utf16le("{\"sql\": 1}"));
        assert_eq!(text(&le), (Encoding::Utf16Le, 2, Shape::Json));
        assert_eq!(
            text(&utf16le("{\"sql\": 1}")),
            (Encoding::Utf16Le, 0, Shape::Json)
        );
        let be: Vec<u8> = "[1]".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(text(&be), (Encoding::Utf16Be, 0, Shape::Json));
        let u32le: Vec<u8> = "{}"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        assert_eq!(text(&u32le), (Encoding::Utf32Le, 0, Shape::Json));
        let u32be: Vec<u8> = "{}"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        assert_eq!(text(&u32be), (Encoding::Utf32Be, 0, Shape::Json));
        // A declared charset is used when the bytes carry no mark.
        let cjk: Vec<u8> = "你好".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(matches!(
            sniff(&cjk, true, Some(Encoding::Utf16Le)),
            Some(Sniffed::Text {
                encoding: Encoding::Utf16Le,
                ..
            })
        ));
    }

    #[test]
    fn binary_needs_evidence() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n....", true, None),
            Some(Sniffed::Binary)
        );
        assert_eq!(
            sniff(b"\x1f\x8b\x08\x00", true, None),
            Some(Sniffed::Binary)
        );
        assert_eq!(sniff(b"abc\0def", true, None), Some(Sniffed::Binary));
        // gRPC's length prefix.
        assert_eq!(
            sniff(b"\0\0\0\0\x05hello", false, None),
            Some(Sniffed::Binary)
        );
        let controls: Vec<u8> = (0..64).map(|i| if i % 4 == 0 { 1 } else { b'a' }).collect();
        assert_eq!(sniff(&controls, true, None), Some(Sniffed::Binary));
        // A few control bytes in a short unfinished sample prove nothing.
        assert!(matches!(
            sniff(b"\x01\x02 DROP", false, None),
            Some(Sniffed::Text { .. })
        ));
        // UTF-16 text with a NUL character is binary.
        let mut nul = utf16le("ab");
        nul.extend([0, 0]);
        nul.extend(utf16le("cd"));
        assert_eq!(sniff(&nul, true, None), Some(Sniffed::Binary));
    }

    #[test]
    fn short_or_blank_starts_wait_for_more() {
        assert_eq!(sniff(b"", false, None), None);
        assert_eq!(sniff(b"\xff", false, None), None);
        assert_eq!(sniff(b"{\0", false, None), None);
        assert_eq!(sniff(b"{", false, None), None);
        assert_eq!(sniff(b"   \r\n", false, None), None);
        assert!(sniff(b"   \r\n", true, None).is_some());
        assert!(sniff(&[b' '; WINDOW], false, None).is_some());
        assert!(matches!(
            sniff(b"{\"a\"", false, None),
            Some(Sniffed::Text {
                shape: Shape::Json,
                ..
            })
        ));
        assert!(!first_line_complete(b"  a=b"));
        assert!(first_line_complete(b"\r\n a=b\n"));
    }
}
