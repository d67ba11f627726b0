//! What a body is: what its headers declare (media type, charset, multipart boundary,
//! content codings) and, where that says little or lies, what its bytes show.
//!
//! Masking ([`crate::redact`]) and classification ([`crate::classify`]) both read bodies
//! through this module, so a body is read the same way for policy and for masking, in
//! both directions. A label is a hint, never a reason to skip bytes: an unknown or
//! binary type is looked at ([`sniff`]), text in UTF-16 or UTF-32 is read as text
//! ([`charset`]), and multipart bodies are read part by part ([`multipart`]).
//!
//! Pure: no I/O.

pub mod charset;
pub mod multipart;
pub mod sniff;

use crate::http::Headers;

/// A `content-type` header value, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    /// The media type without parameters, lowercase (`application/json`); empty when
    /// there is no `content-type`.
    pub media: String,
    /// Parameters in order, names lowercase, values unquoted (case kept).
    pub params: Vec<(String, String)>,
    /// The header was sent more than once with different values: which one the
    /// upstream reads is not known.
    pub conflicting: bool,
}

impl Declared {
    /// Parses one `content-type` value (`multipart/form-data; boundary="x y"`).
    pub fn parse(content_type: &str) -> Declared {
        let mut fields = split_params(content_type);
        let media = if fields.is_empty() {
            String::new()
        } else {
            fields.remove(0).trim().to_ascii_lowercase()
        };
        let params = fields
            .into_iter()
            .filter_map(|field| {
                let (name, value) = field.split_once('=')?;
                let name = name.trim().to_ascii_lowercase();
                (!name.is_empty()).then(|| (name, unquote(value.trim())))
            })
            .collect();
        Declared {
            media,
            params,
            conflicting: false,
        }
    }

    /// The declared type of a message: its first `content-type`, noting whether other
    /// values disagree with it.
    pub fn from_headers(headers: &Headers) -> Declared {
        let mut values = headers
            .get_all("content-type")
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let Some(first) = values.next() else {
            return Declared::default();
        };
        let mut declared = Declared::parse(&first);
        declared.conflicting = values.any(|other| Declared::parse(&other) != declared);
        declared
    }

    /// The value of parameter `name` (lowercase), when it is given exactly once.
    pub fn param(&self, name: &str) -> Option<&str> {
        let mut values = self.params.iter().filter(|(n, _)| n == name);
        let first = values.next()?;
        values.next().is_none().then_some(first.1.as_str())
    }

    /// The `charset` parameter, lowercase.
    pub fn charset(&self) -> Option<String> {
        self.param("charset").map(|c| c.trim().to_ascii_lowercase())
    }

    /// True for `multipart/*`.
    pub fn is_multipart(&self) -> bool {
        self.media.starts_with("multipart/")
    }

    /// The multipart boundary, or why there is no usable one (missing, repeated, empty,
    /// or longer than any parser accepts).
    pub fn boundary(&self) -> Result<&str, String> {
        let count = self.params.iter().filter(|(n, _)| n == "boundary").count();
        match (count, self.param("boundary")) {
            (0, _) => Err(format!("{} without a boundary parameter", self.media)),
            (1, Some("")) => Err("an empty multipart boundary".into()),
            (1, Some(b)) if b.len() > multipart::MAX_BOUNDARY_LEN => Err(format!(
                "a multipart boundary longer than {} bytes",
                multipart::MAX_BOUNDARY_LEN
            )),
            (1, Some(b)) if b.bytes().any(|c| c == b'\r' || c == b'\n') => {
                Err("a multipart boundary with a line break".into())
            }
            (1, Some(b)) => Ok(b),
            _ => Err("the multipart boundary is given more than once".into()),
        }
    }
}

/// Splits a header value at `;` outside quoted strings.
pub(crate) fn split_params(value: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            field.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                field.push(c);
                escaped = true;
            }
            '"' => {
                field.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// A parameter value without its quotes and backslash escapes.
pub(crate) fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The `content-encoding` of a message: every value of every `content-encoding`
/// header, in order (an upstream joins repeated headers into one list), without
/// `identity`. `None` when the body is not encoded.
pub fn content_encoding(headers: &Headers) -> Option<String> {
    let codings: Vec<String> = headers
        .get_all("content-encoding")
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty() && c != "identity")
                .collect::<Vec<_>>()
        })
        .collect();
    (!codings.is_empty()).then(|| codings.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_parsed_with_quotes_and_case() {
        let d = Declared::parse("Multipart/Form-Data; Boundary=\"a;b \\\"c\\\"\"; charset=UTF-8");
        assert_eq!(d.media, "multipart/form-data");
        assert_eq!(d.boundary(), Ok("a;b \"c\""));
        assert_eq!(d.charset().as_deref(), Some("utf-8"));
        assert!(d.is_multipart());
        assert_eq!(Declared::parse("").media, "");
        assert_eq!(Declared::parse("text/plain").params, vec![]);
    }

    #[test]
    fn unusable_boundaries_say_why() {
        assert!(Declared::parse("multipart/mixed").boundary().is_err());
        assert!(Declared::parse("multipart/mixed; boundary=")
            .boundary()
            .is_err());
        assert!(Declared::parse("multipart/mixed; boundary=a; boundary=b")
            .boundary()
            .is_err());
        let long = format!("multipart/mixed; boundary={}", "x".repeat(300));
        assert!(Declared::parse(&long).boundary().is_err());
    }

    #[test]
    fn repeated_content_types_that_disagree_are_noted() {
        let headers: Headers = [
            ("content-type", "application/json"),
            ("content-type", "text/plain"),
        ]
        .into_iter()
        .collect();
        assert!(Declared::from_headers(&headers).conflicting);
        let same: Headers = [
            ("content-type", "application/json"),
            ("content-type", "application/json"),
        ]
        .into_iter()
        .collect();
        assert!(!Declared::from_headers(&same).conflicting);
    }

    #[test]
    fn content_encoding_joins_every_header_and_drops_identity() {
        let headers: Headers = [
            ("content-encoding", "identity"),
            ("content-encoding", "GZIP , zstd"),
        ]
        .into_iter()
        .collect();
        assert_eq!(content_encoding(&headers).as_deref(), Some("gzip, zstd"));
        let plain: Headers = [("content-encoding", " identity ")].into_iter().collect();
        assert_eq!(content_encoding(&plain), None);
        assert_eq!(content_encoding(&Headers::new()), None);
    }
}
