//! Plain HTTP types the decision core works on.
//!
//! These are deliberately independent of Envoy's protobuf types: the gRPC shells
//! ([`crate::extproc`], [`crate::extauthz`]) translate into them, and every decision
//! function is tested with them directly.

/// A header list as Envoy presents it: lowercase names, raw byte values, order kept.
///
/// Repeated names are kept as separate entries (Envoy sends them that way), so a
/// lookup that must not be fooled by duplicates can use [`Headers::get_all`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header; the name is lowercased so lookups are case-insensitive.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let mut name = name.into();
        name.make_ascii_lowercase();
        self.entries.push((name, value.into()));
    }

    /// The first value of `name` (lowercase), if present.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` as UTF-8 text, if present and valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// All entries in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of entries (a repeated name counts once per value).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no headers at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<N: Into<String>, V: Into<Vec<u8>>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.push(name, value);
        }
        headers
    }
}

/// The request line and headers of one HTTP request, as Envoy forwards it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// `:method`, e.g. `GET`.
    pub method: String,
    /// `:scheme`, e.g. `http`.
    pub scheme: String,
    /// `:authority` (the host the client addressed).
    pub authority: String,
    /// `:path` including the query string, exactly as Envoy forwards it.
    pub path: String,
    /// Regular headers (pseudo-headers are lifted into the fields above).
    pub headers: Headers,
}

impl RequestHead {
    /// Builds a request head from an HTTP/2-style header list, lifting the
    /// pseudo-headers (`:method`, `:path`, ...) into fields.
    pub fn from_header_list<'a>(list: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut head = RequestHead::default();
        for (name, value) in list {
            let text = || String::from_utf8_lossy(value).into_owned();
            match name {
                ":method" => head.method = text(),
                ":scheme" => head.scheme = text(),
                ":authority" => head.authority = text(),
                ":path" => head.path = text(),
                _ if name.starts_with(':') => {}
                _ => head.headers.push(name, value),
            }
        }
        if head.authority.is_empty() {
            if let Some(host) = head.headers.get_str("host") {
                head.authority = host.to_string();
            }
        }
        head
    }

    /// The host the client addressed: `:authority` without port or trailing dot,
    /// lowercased (an IPv6 literal without its brackets).
    pub fn host(&self) -> String {
        authority_host(&self.authority)
    }

    /// True when the request's headers announce a body: a `content-length` other than
    /// zero, or any `transfer-encoding`. An unparsable `content-length` counts as
    /// announcing one: when in doubt, inspect.
    ///
    /// This is not a test for the absence of a body: HTTP/2 and HTTP/3 requests of any
    /// method may carry one without either header. Only Envoy's end-of-stream flag on
    /// the request headers proves there is none (ext_proc); ext_authz, which has no such
    /// flag, also looks at what Envoy sent.
    pub fn announces_body(&self) -> bool {
        if self.headers.get("transfer-encoding").is_some() {
            return true;
        }
        self.headers.get_all("content-length").any(|len| {
            std::str::from_utf8(len)
                .ok()
                .and_then(|len| len.trim().parse::<u64>().ok())
                .is_none_or(|n| n > 0)
        })
    }
}

/// The host part of an `:authority`: without port or trailing dot, lowercased (an
/// IPv6 literal without its brackets).
pub fn authority_host(authority: &str) -> String {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                authority
            }
        })
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The status and headers of one HTTP response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    /// `:status`, e.g. 200. Zero when Envoy sent no parsable status.
    pub status: u16,
    /// Regular headers.
    pub headers: Headers,
}

impl ResponseHead {
    /// Builds a response head from a header list, lifting `:status`.
    pub fn from_header_list<'a>(list: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut head = ResponseHead::default();
        for (name, value) in list {
            match name {
                ":status" => {
                    head.status = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0)
                }
                _ if name.starts_with(':') => {}
                _ => head.headers.push(name, value),
            }
        }
        head
    }

    /// The media type of the body without parameters, lowercased (`text/event-stream`).
    pub fn media_type(&self) -> Option<String> {
        media_type(&self.headers)
    }
}

/// The media type of a `content-type` header without parameters, lowercased.
pub fn media_type(headers: &Headers) -> Option<String> {
    let value = headers.get_str("content-type")?;
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.is_empty() {
        None
    } else {
        Some(essence.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut list = vec![(":method", method.as_bytes()), (":path", b"/".as_slice())];
        list.extend(headers.iter().map(|(n, v)| (*n, v.as_bytes())));
        RequestHead::from_header_list(list)
    }

    #[test]
    fn pseudo_headers_are_lifted_and_names_lowercased() {
        let head = RequestHead::from_header_list([
            (":method", b"POST".as_slice()),
            (":path", b"/a?b=c"),
            (":authority", b"api.example"),
            (":scheme", b"https"),
            ("Content-Type", b"application/json"),
        ]);
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/a?b=c");
        assert_eq!(head.authority, "api.example");
        assert_eq!(head.scheme, "https");
        assert_eq!(
            head.headers.get_str("content-type"),
            Some("application/json")
        );
        assert_eq!(head.headers.len(), 1);
    }

    #[test]
    fn host_header_fills_a_missing_authority() {
        let head = req("GET", &[("host", "h.example")]);
        assert_eq!(head.authority, "h.example");
    }

    #[test]
    fn a_body_is_announced_by_length_or_encoding_whatever_the_method() {
        assert!(!req("GET", &[]).announces_body());
        assert!(!req("POST", &[]).announces_body());
        assert!(!req("POST", &[("content-length", "0")]).announces_body());
        assert!(req("POST", &[("content-length", "12")]).announces_body());
        assert!(req("GET", &[("content-length", "3")]).announces_body());
        assert!(req("DELETE", &[("transfer-encoding", "chunked")]).announces_body());
        assert!(req("POST", &[("content-length", "x1")]).announces_body());
        assert!(req("GET", &[("content-length", "0"), ("content-length", "5")]).announces_body());
    }

    #[test]
    fn media_type_drops_parameters() {
        let head = ResponseHead::from_header_list([
            (":status", b"200".as_slice()),
            ("content-type", b"Text/Event-Stream; charset=utf-8"),
        ]);
        assert_eq!(head.status, 200);
        assert_eq!(head.media_type().as_deref(), Some("text/event-stream"));
    }

    #[test]
    fn repeated_headers_are_all_kept() {
        let headers: Headers = [("a", "1"), ("A", "2")].into_iter().collect();
        assert_eq!(headers.get_all("a").count(), 2);
        assert_eq!(headers.get("a"), Some(b"1".as_slice()));
    }
}
