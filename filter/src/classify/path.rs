//! Request-target normalisation: the path a policy matches is the one the upstream acts on.
//!
//! Envoy forwards `:path` as the client sent it (unless `normalize_path` is set), and
//! upstreams decode it before routing. A rule for `/admin/**` must therefore also see
//! `/%61dmin/x`, `/public/../admin/x` and `//admin//x`. The normalised form is:
//! percent-decoded once (as an upstream does; `%2F` becomes `/`, so an encoded slash
//! cannot hide a segment), backslashes read as slashes (several servers do), dot
//! segments resolved (RFC 3986 §5.2.4, never above the root), runs of slashes merged.
//! A trailing slash is kept: upstreams differ on it, and classifiers handle both.

/// Splits a request target into its path and raw query (without the `?`).
pub fn split_target(target: &str) -> (&str, &str) {
    let target = target.split('#').next().unwrap_or(target);
    match target.split_once('?') {
        Some((path, query)) => (path, query),
        None => (target, ""),
    }
}

/// The normalised form of a request path (see the module docs). Always starts with `/`.
pub fn normalize_path(raw: &str) -> String {
    let decoded = percent_decode(raw);
    let unified = decoded.replace('\\', "/");
    let trailing_slash = unified.ends_with('/') && unified.len() > 1
        || unified.ends_with("/.")
        || unified.ends_with("/..");
    let mut segments: Vec<&str> = Vec::new();
    for segment in unified.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(unified.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

/// A path's segments as classifiers read them: split at `/` and `\`, empty and `.`
/// segments dropped, `..` resolved, and each segment cut at `;`, `?` or `#` (`exec;x`,
/// `git-receive-pack;x` and a decoded `exec%3Fx` read as their first part: some server
/// or proxy on the way may cut there).
pub(crate) fn segments(path: &str) -> Vec<&str> {
    let mut segments: Vec<&str> = Vec::new();
    for raw in path.split(['/', '\\']) {
        let segment = raw.split([';', '?', '#']).next().unwrap_or(raw);
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    segments
}

/// Decodes `%XX` escapes once. Invalid escapes are kept as written; bytes that do
/// not form UTF-8 are replaced (U+FFFD), so the result is always text.
pub fn percent_decode(raw: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(raw.as_bytes())).into_owned()
}

/// Decodes `%XX` escapes once, and `+` as a space when `plus_is_space` (forms and
/// query strings).
fn decode(raw: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

fn percent_decode_bytes(raw: &[u8]) -> Vec<u8> {
    decode(raw, false)
}

/// Decodes one query component strictly: `+` is a space, `%XX` a byte; `None` when an
/// escape is invalid (Go's query parser, which the apiserver uses, rejects those too).
pub(crate) fn decode_component(raw: &str) -> Option<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex)?;
                let lo = bytes.get(i + 2).copied().and_then(hex)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The value of one hex digit.
pub(crate) fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The `name=value` pairs of a query string or form body, decoded (`+` is a space).
/// Repeated names are kept in order: a policy must see every value, not the one a
/// particular framework picks.
pub fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    raw.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            (
                String::from_utf8_lossy(&decode(name, true)).into_owned(),
                String::from_utf8_lossy(&decode(value, true)).into_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_the_spellings_upstreams_treat_alike() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("//a///b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/%61dmin", "/admin"),
            ("/a%2Fb", "/a/b"),
            ("/a%2fb%2F..%2Fc", "/a/c"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/a\\b\\..\\c", "/a/c"),
            ("/a%5cb", "/a/b"),
            ("/bad%zzescape%", "/bad%zzescape%"),
            ("/trailing%", "/trailing%"),
            ("/x%2", "/x%2"),
            (
                "/api/v1/namespaces/default/secrets/",
                "/api/v1/namespaces/default/secrets/",
            ),
            ("/%252e%252e/x", "/%2e%2e/x"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw), want, "normalize_path({raw:?})");
        }
    }

    #[test]
    fn splits_target_at_the_first_question_mark() {
        assert_eq!(split_target("/a?b=1?c"), ("/a", "b=1?c"));
        assert_eq!(split_target("/a"), ("/a", ""));
        assert_eq!(split_target("/a#frag?x"), ("/a", ""));
    }

    #[test]
    fn form_pairs_decode_and_keep_repeats() {
        let pairs = form_pairs(b"sql=DROP+TABLE%20t&sql=x&flag&=v&a=%zz");
        assert_eq!(
            pairs,
            vec![
                ("sql".to_string(), "DROP TABLE t".to_string()),
                ("sql".to_string(), "x".to_string()),
                ("flag".to_string(), String::new()),
                (String::new(), "v".to_string()),
                ("a".to_string(), "%zz".to_string()),
            ]
        );
    }
}
