//! Text in UTF-16 and UTF-32, read as UTF-8 and written back.
//!
//! Detectors and classifiers work on UTF-8 (ASCII) bytes; a JSON body in UTF-16 — which
//! many JSON parsers accept — would slip past them byte for byte. Such bodies are
//! transcoded to UTF-8 to be read, and masked text is encoded back to the body's own
//! encoding so the upstream or client gets what it was sent, masked. Both directions
//! work chunk by chunk (a code unit or a surrogate pair split across chunks is
//! carried). Invalid sequences become U+FFFD.
//!
//! Charsets other than the Unicode ones are judged by whether ASCII bytes keep their
//! meaning in them ([`charset_kind`]).

use super::sniff::Encoding;

/// Decodes UTF-16/32 (or passes UTF-8 through) chunk by chunk.
#[derive(Debug)]
pub struct Decoder {
    encoding: Encoding,
    /// Bytes of an incomplete code unit.
    carry: Vec<u8>,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
}

impl Decoder {
    /// A decoder for text in `encoding`.
    pub fn new(encoding: Encoding) -> Decoder {
        Decoder {
            encoding,
            carry: Vec::new(),
            high: None,
        }
    }

    /// Decodes `bytes`, appending UTF-8 to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.encoding == Encoding::Utf8 {
            out.extend_from_slice(bytes);
            return;
        }
        let unit = self.encoding.unit();
        let mut input = bytes;
        if !self.carry.is_empty() {
            let need = unit - self.carry.len();
            let take = need.min(input.len());
            self.carry.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.carry.len() < unit {
                return;
            }
            let carried = std::mem::take(&mut self.carry);
            self.unit(&carried, out);
        }
        let whole = input.len() / unit * unit;
        for chunk in input[..whole].chunks_exact(unit) {
            self.unit(chunk, out);
        }
        self.carry.extend_from_slice(&input[whole..]);
    }

    /// Ends the text: an incomplete unit or a lone high surrogate becomes U+FFFD.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.high.take().is_some() || !std::mem::take(&mut self.carry).is_empty() {
            push_char(char::REPLACEMENT_CHARACTER, out);
        }
    }

    fn unit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        match self.encoding {
            Encoding::Utf8 => out.extend_from_slice(bytes),
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let pair = [bytes[0], bytes[1]];
                let unit = if self.encoding == Encoding::Utf16Le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                };
                self.utf16_unit(unit, out);
            }
            Encoding::Utf32Le | Encoding::Utf32Be => {
                let quad = [bytes[0], bytes[1], bytes[2], bytes[3]];
                let value = if self.encoding == Encoding::Utf32Le {
                    u32::from_le_bytes(quad)
                } else {
                    u32::from_be_bytes(quad)
                };
                push_char(
                    char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
                    out,
                );
            }
        }
    }

    fn utf16_unit(&mut self, unit: u16, out: &mut Vec<u8>) {
        match unit {
            0xd800..=0xdbff => {
                if self.high.replace(unit).is_some() {
                    push_char(char::REPLACEMENT_CHARACTER, out);
                }
            }
            0xdc00..=0xdfff => match self.high.take() {
                Some(high) => {
                    let value =
                        0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
                    push_char(
                        char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
                        out,
                    );
                }
                None => push_char(char::REPLACEMENT_CHARACTER, out),
            },
            _ => {
                if self.high.take().is_some() {
                    push_char(char::REPLACEMENT_CHARACTER, out);
                }
                push_char(
                    char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER),
                    out,
                );
            }
        }
    }
}

/// Encodes UTF-8 back into UTF-16/32 (or passes it through) chunk by chunk.
#[derive(Debug)]
pub struct Encoder {
    encoding: Encoding,
    /// Bytes of an incomplete UTF-8 sequence.
    carry: Vec<u8>,
}

impl Encoder {
    /// An encoder to `encoding`.
    pub fn new(encoding: Encoding) -> Encoder {
        Encoder {
            encoding,
            carry: Vec::new(),
        }
    }

    /// Encodes the UTF-8 in `text`, appending to `out`.
    pub fn push(&mut self, text: &[u8], out: &mut Vec<u8>) {
        if self.encoding == Encoding::Utf8 {
            out.extend_from_slice(text);
            return;
        }
        self.carry.extend_from_slice(text);
        let carried = std::mem::take(&mut self.carry);
        let mut rest: &[u8] = &carried;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    self.encode_str(valid, out);
                    break;
                }
                Err(err) => {
                    let (valid, after) = rest.split_at(err.valid_up_to());
                    // The prefix is valid UTF-8 by construction.
                    self.encode_str(std::str::from_utf8(valid).unwrap_or_default(), out);
                    match err.error_len() {
                        Some(bad) => {
                            self.encode_str("\u{fffd}", out);
                            rest = &after[bad..];
                        }
                        None => {
                            // Cut short: wait for the rest of the sequence.
                            self.carry.extend_from_slice(after);
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Ends the text: an incomplete sequence becomes U+FFFD.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !std::mem::take(&mut self.carry).is_empty() {
            self.encode_str("\u{fffd}", out);
        }
    }

    fn encode_str(&self, text: &str, out: &mut Vec<u8>) {
        match self.encoding {
            Encoding::Utf8 => out.extend_from_slice(text.as_bytes()),
            Encoding::Utf16Le => text
                .encode_utf16()
                .for_each(|u| out.extend_from_slice(&u.to_le_bytes())),
            Encoding::Utf16Be => text
                .encode_utf16()
                .for_each(|u| out.extend_from_slice(&u.to_be_bytes())),
            Encoding::Utf32Le => text
                .chars()
                .for_each(|c| out.extend_from_slice(&(c as u32).to_le_bytes())),
            Encoding::Utf32Be => text
                .chars()
                .for_each(|c| out.extend_from_slice(&(c as u32).to_be_bytes())),
        }
    }
}

fn push_char(c: char, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// All of `bytes` as UTF-8.
pub fn decode_all(encoding: Encoding, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut decoder = Decoder::new(encoding);
    decoder.push(bytes, &mut out);
    decoder.finish(&mut out);
    out
}

/// The start of a body as UTF-8, ignoring an incomplete last unit (for sniffing).
pub(crate) fn decode_prefix(encoding: Encoding, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    Decoder::new(encoding).push(bytes, &mut out);
    out
}

/// UTF-8 `text` encoded as `encoding`.
pub fn encode_all(encoding: Encoding, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * encoding.unit());
    let mut encoder = Encoder::new(encoding);
    encoder.push(text, &mut out);
    encoder.finish(&mut out);
    out
}

/// How a declared `charset` relates to what Warden reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharsetKind {
    /// ASCII bytes mean ASCII and no multi-byte sequence can contain one: UTF-8,
    /// US-ASCII, the ISO 8859 and Windows single-byte code pages.
    AsciiCompatible,
    /// A Unicode encoding Warden transcodes.
    Unicode(Encoding),
    /// Anything else (Shift_JIS, GBK, EBCDIC, UTF-7...): the upstream may read the bytes
    /// as something Warden does not see, so for policy the body is unreadable.
    Other,
}

/// Classifies a `charset` parameter value.
pub fn charset_kind(name: &str) -> CharsetKind {
    let name: String = name
        .trim()
        .trim_matches('"')
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' ' | '.' | ':'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let single_byte = name
        .strip_prefix("iso8859")
        .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| (1..=16).contains(&n)))
        || name
            .strip_prefix("windows125")
            .is_some_and(|n| n.len() == 1)
        || name.strip_prefix("cp125").is_some_and(|n| n.len() == 1)
        || name
            .strip_prefix("latin")
            .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| (1..=10).contains(&n)));
    match name.as_str() {
        "utf8" | "usascii" | "ascii" | "ansix341968" | "iso646us" | "us" | "l1" | "cp819"
        | "ibm819" | "koi8r" | "koi8u" | "macintosh" | "macroman" | "ibm437" | "cp437" => {
            CharsetKind::AsciiCompatible
        }
        _ if single_byte => CharsetKind::AsciiCompatible,
        // Without a byte order mark, UTF-16 is read in the byte order its NUL
        // pattern shows (sniffing), little-endian when there is none.
        "utf16" | "ucs2" | "utf16le" | "unicode" => CharsetKind::Unicode(Encoding::Utf16Le),
        "utf16be" | "unicodefffe" => CharsetKind::Unicode(Encoding::Utf16Be),
        "utf32" | "utf32le" | "ucs4" => CharsetKind::Unicode(Encoding::Utf32Le),
        "utf32be" => CharsetKind::Unicode(Encoding::Utf32Be),
        _ => CharsetKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\"note\": \"héllo 😀 ghp_abc\"}";

    #[test]
    fn round_trips_in_any_chunking() {
        for encoding in [
            Encoding::Utf16Le,
            Encoding::Utf16Be,
            Encoding::Utf32Le,
            Encoding::Utf32Be,
            Encoding::Utf8,
        ] {
            let encoded = encode_all(encoding, TEXT.as_bytes());
            assert_eq!(
                decode_all(encoding, &encoded),
                TEXT.as_bytes(),
                "{encoding:?}"
            );
            for size in 1..7 {
                let mut decoder = Decoder::new(encoding);
                let mut text = Vec::new();
                for chunk in encoded.chunks(size) {
                    decoder.push(chunk, &mut text);
                }
                decoder.finish(&mut text);
                assert_eq!(text, TEXT.as_bytes(), "{encoding:?} in {size}-byte chunks");
                let mut encoder = Encoder::new(encoding);
                let mut back = Vec::new();
                for chunk in text.chunks(size) {
                    encoder.push(chunk, &mut back);
                }
                encoder.finish(&mut back);
                assert_eq!(back, encoded, "{encoding:?} back in {size}-byte chunks");
            }
        }
    }

    #[test]
    fn invalid_sequences_become_replacement_characters() {
        // A lone low surrogate, then "a".
        let bytes = [0x00, 0xdc, b'a', 0x00];
        assert_eq!(
            decode_all(Encoding::Utf16Le, &bytes),
            "\u{fffd}a".as_bytes()
        );
        // A high surrogate at the end.
        assert_eq!(
            decode_all(Encoding::Utf16Le, &[0x00, 0xd8]),
            "\u{fffd}".as_bytes()
        );
        assert_eq!(decode_all(Encoding::Utf16Le, b"a"), "\u{fffd}".as_bytes());
        assert_eq!(
            encode_all(Encoding::Utf16Le, b"a\xffb"),
            encode_all(Encoding::Utf16Le, "a\u{fffd}b".as_bytes())
        );
    }

    #[test]
    fn charsets_are_judged_by_what_ascii_bytes_mean() {
        for ascii in [
            "utf-8",
            "UTF8",
            "\"utf-8\"",
            "us-ascii",
            "ISO-8859-1",
            "latin1",
            "windows-1252",
        ] {
            assert_eq!(charset_kind(ascii), CharsetKind::AsciiCompatible, "{ascii}");
        }
        assert_eq!(
            charset_kind("utf-16"),
            CharsetKind::Unicode(Encoding::Utf16Le)
        );
        assert_eq!(
            charset_kind("UTF-16BE"),
            CharsetKind::Unicode(Encoding::Utf16Be)
        );
        assert_eq!(
            charset_kind("utf-32"),
            CharsetKind::Unicode(Encoding::Utf32Le)
        );
        for other in [
            "shift_jis",
            "gbk",
            "utf-7",
            "ibm037",
            "big5",
            "euc-jp",
            "x-unknown",
        ] {
            assert_eq!(charset_kind(other), CharsetKind::Other, "{other}");
        }
    }
}
