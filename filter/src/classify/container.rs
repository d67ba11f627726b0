//! What wraps a request body's content: its charset, UTF-16/32 encoding, and multipart
//! framing. Undone here, before the protocol classifiers see the content, so that they
//! read what the upstream reads — and a body whose wrapping could be read two ways is
//! unreadable, never harmless.
//!
//! - A `charset` that is not ASCII-compatible (Shift_JIS, GBK, UTF-7, EBCDIC...) is
//!   unreadable: in it, the upstream may see quotes and keywords Warden does not.
//! - UTF-16 and UTF-32 text (by byte order mark, NUL pattern or charset) is transcoded;
//!   a UTF-8 byte order mark is dropped (JSON parsers that accept one do the same).
//! - Multipart bodies are parsed strictly ([`crate::content::multipart::parse`]); each
//!   part is read by its own type and bytes, its `content-transfer-encoding` undone;
//!   `multipart/form-data` fields count like form fields (a field named `sql` is SQL).

use std::borrow::Cow;

use crate::content::charset::{self, CharsetKind};
use crate::content::multipart;
use crate::content::sniff::{self, Encoding, Shape, Sniffed};
use crate::content::Declared;

use super::{classify_plain, sql_in_field, Protocol, RequestFacts, SqlSettings};

/// Classifies `body` (decoded from its content codings) as declared by `declared`.
pub(super) fn classify_content(
    facts: &mut RequestFacts,
    body: &[u8],
    declared: &Declared,
    sql: &SqlSettings,
    depth: usize,
) {
    if declared.conflicting {
        unreadable(
            facts,
            "the request has several content-type headers that disagree".into(),
        );
        return;
    }
    let charset = match declared_encoding(declared) {
        Ok(charset) => charset,
        Err(why) => {
            unreadable(facts, why);
            return;
        }
    };
    if declared.is_multipart() {
        classify_multipart(facts, body, declared, sql, depth);
        return;
    }
    let (text, sniffed) = as_text(body, charset);
    classify_plain(facts, &text, &declared.media, sniffed, sql);
}

/// The encoding a `charset` parameter names: `None` for ASCII-compatible ones, an
/// error for charsets Warden cannot read the way the upstream would.
fn declared_encoding(declared: &Declared) -> Result<Option<Encoding>, String> {
    let Some(name) = declared.charset() else {
        return Ok(None);
    };
    match charset::charset_kind(&name) {
        CharsetKind::AsciiCompatible => Ok(None),
        CharsetKind::Unicode(encoding) => Ok(Some(encoding)),
        CharsetKind::Other => Err(format!(
            "the body's charset {name:?} is not one Warden reads (send UTF-8)"
        )),
    }
}

/// What the bytes of a body are, by sniffing, for the classifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyShape {
    /// Binary bytes.
    Binary,
    /// Text of this shape.
    Text(Shape),
}

/// The body as UTF-8 text (transcoded from UTF-16/32, without a byte order mark), and
/// what its bytes look like.
fn as_text(body: &[u8], charset: Option<Encoding>) -> (Cow<'_, [u8]>, BodyShape) {
    match sniff::sniff(body, true, charset) {
        Some(Sniffed::Text {
            encoding,
            bom,
            shape,
        }) => {
            let text = if encoding == Encoding::Utf8 {
                Cow::Borrowed(&body[bom..])
            } else {
                Cow::Owned(charset::decode_all(encoding, &body[bom..]))
            };
            (text, BodyShape::Text(shape))
        }
        _ => (Cow::Borrowed(body), BodyShape::Binary),
    }
}

fn unreadable(facts: &mut RequestFacts, why: String) {
    if facts.body.unreadable.is_none() {
        facts.body.unreadable = Some(why);
    }
}

/// Reads each part of a multipart body by its own type; form fields by name.
fn classify_multipart(
    facts: &mut RequestFacts,
    body: &[u8],
    declared: &Declared,
    sql: &SqlSettings,
    depth: usize,
) {
    if depth >= multipart::MAX_DEPTH {
        unreadable(
            facts,
            format!(
                "multipart bodies are nested deeper than {} levels",
                multipart::MAX_DEPTH
            ),
        );
        return;
    }
    let boundary = match declared.boundary() {
        Ok(boundary) => boundary,
        Err(why) => {
            unreadable(facts, format!("the multipart body cannot be read: {why}"));
            return;
        }
    };
    let parts = match multipart::parse(body, boundary) {
        Ok(parts) => parts,
        Err(why) => {
            unreadable(facts, format!("the multipart body cannot be read: {why}"));
            return;
        }
    };
    let form = declared.media == "multipart/form-data";
    for part in parts {
        let decoded = part
            .transfer_encoding()
            .and_then(|encoding| multipart::decode_transfer(encoding.as_deref(), part.body));
        let bytes = match decoded {
            Ok(bytes) => bytes,
            Err(why) => {
                unreadable(facts, format!("a multipart part cannot be read: {why}"));
                return;
            }
        };
        let part_declared = part.declared();
        if form {
            if let Some(disposition) = part.disposition() {
                let charset = declared_encoding(&part_declared).ok().flatten();
                let (value, shape) = as_text(&bytes, charset);
                if shape != BodyShape::Binary {
                    let value = String::from_utf8_lossy(&value);
                    for name in &disposition.names {
                        let location = format!("multipart:{name}");
                        if let Some(found) = sql_in_field(name, &value, &location, sql) {
                            facts.sql.push(found);
                        }
                    }
                }
            }
        }
        classify_content(facts, &bytes, &part_declared, sql, depth + 1);
    }
    if !facts.sql.is_empty() {
        facts.protocols.insert(Protocol::Sql);
    }
    facts.body.format = Some("multipart".into());
}

#[cfg(test)]
mod tests {
    use crate::classify::{classify_body, RequestFacts, SqlSettings};

    fn facts(body: &[u8], content_type: &str) -> RequestFacts {
        let mut facts = RequestFacts::default();
        classify_body(
            &mut facts,
            Ok(body),
            Some(content_type),
            &SqlSettings::default(),
        );
        facts
    }

    fn drops(facts: &RequestFacts) -> bool {
        facts.sql.iter().any(|s| {
            format!("{:?}", s.facts)
                .to_ascii_lowercase()
                .contains("drop")
        })
    }

    const DROP: &str = r#"{"sql": "DROP TABLE customers"}"#;

    #[test]
    fn json_under_any_label_or_encoding_is_read() {
        for content_type in [
            "application/x-json",
            "application/json-rpc",
            "application/octet-stream",
            "text/plain",
            "image/png",
            "",
        ] {
            let f = facts(DROP.as_bytes(), content_type);
            assert!(drops(&f), "{content_type}: {f:?}");
            assert!(f.body.unreadable.is_none(), "{content_type}");
        }
        let utf16: Vec<u8> = DROP.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(drops(&facts(&utf16, "application/json")));
        let bom = [b"\xef\xbb\xbf".as_slice(), DROP.as_bytes()].concat();
        assert!(drops(&facts(&bom, "application/json")));
        let be: Vec<u8> = DROP.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(drops(&facts(&be, "application/json; charset=utf-16be")));
    }

    #[test]
    fn unsafe_charsets_and_conflicting_labels_are_unreadable() {
        let f = facts(DROP.as_bytes(), "application/json; charset=shift_jis");
        assert!(f.body.unreadable.is_some());
        let f = facts(DROP.as_bytes(), "application/json; charset=utf-8");
        assert!(f.body.unreadable.is_none() && drops(&f));
    }

    fn form(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (headers, body) in parts {
            out.extend(format!("--b0\r\n{headers}\r\n\r\n").as_bytes());
            out.extend(*body);
            out.extend(b"\r\n");
        }
        out.extend(b"--b0--\r\n");
        out
    }

    #[test]
    fn multipart_fields_and_parts_are_read() {
        let ct = "multipart/form-data; boundary=b0";
        let field = form(&[(
            "Content-Disposition: form-data; name=\"sql\"",
            b"DROP TABLE t",
        )]);
        let f = facts(&field, ct);
        assert!(drops(&f), "{f:?}");
        assert_eq!(f.body.format.as_deref(), Some("multipart"));
        assert_eq!(f.sql[0].location, "multipart:sql");

        let ext = form(&[(
            "Content-Disposition: form-data; name*=utf-8''%73ql",
            b"DROP TABLE t",
        )]);
        assert!(drops(&facts(&ext, ct)));

        let json = form(&[(
            "Content-Disposition: form-data; name=\"p\"; filename=\"p.json\"\r\nContent-Type: application/json",
            DROP.as_bytes(),
        )]);
        assert!(drops(&facts(&json, ct)));

        let b64 = form(&[(
            "Content-Type: application/json\r\nContent-Transfer-Encoding: base64",
            b"eyJzcWwiOiAiRFJPUCBUQUJMRSBjdXN0b21lcnMifQ==",
        )]);
        assert!(drops(&facts(&b64, "multipart/mixed; boundary=b0")));

        let inner =
            b"--in\r\nContent-Type: application/json\r\n\r\n{\"sql\": \"DROP TABLE t\"}\r\n--in--";
        let nested = form(&[("Content-Type: multipart/mixed; boundary=in", inner)]);
        assert!(drops(&facts(&nested, "multipart/related; boundary=b0")));

        let harmless = form(&[
            ("Content-Disposition: form-data; name=\"sql\"", b"SELECT 1"),
            ("Content-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\nContent-Type: image/png", b"\x89PNG\r\n\x1a\n\0\0"),
        ]);
        let f = facts(&harmless, ct);
        assert!(!drops(&f) && f.body.unreadable.is_none(), "{f:?}");
    }

    #[test]
    fn malformed_multipart_is_unreadable() {
        let ok =
            b"--b0\r\nContent-Disposition: form-data; name=\"sql\"\r\n\r\nDROP TABLE t\r\n--b0--";
        for (body, ct) in [
            (&ok[..ok.len() - 8], "multipart/form-data; boundary=b0"),
            (&ok[..], "multipart/form-data"),
            (&ok[..], "multipart/form-data; boundary=other"),
            (
                b"--b0\r\nContent-Transfer-Encoding: base64\r\n\r\n@@\r\n--b0--".as_slice(),
                "multipart/mixed; boundary=b0",
            ),
        ] {
            let f = facts(body, ct);
            assert!(
                f.body.unreadable.is_some(),
                "{ct}: {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
