//! Patterns in policy files: globs compiled while the file is read, so a bad pattern
//! is reported with its file, line and column.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use serde::de::{self, Deserializer};
use serde::Deserialize;

/// A case-insensitive glob for names (hosts, tools, tables, refs, groups...):
/// `*` matches any run of characters (slashes included), `?` one character,
/// `[abc]` a class, `{a,b}` alternatives.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    matcher: NameMatcher,
}

/// Most policy patterns are a literal, a prefix or a suffix: those are compared
/// directly, which keeps a 200-rule decision in single-digit microseconds; anything
/// else goes through the compiled glob.
#[derive(Clone)]
enum NameMatcher {
    /// `*`
    Any,
    /// ASCII text, compared ignoring ASCII case.
    Exact(String),
    /// `text*`
    Prefix(String),
    /// `*text`
    Suffix(String),
    /// Everything else.
    Glob(GlobMatcher),
}

const GLOB_META: &[char] = &['*', '?', '[', ']', '{', '}', '\\'];

impl NameMatcher {
    fn new(source: &str) -> Result<NameMatcher, globset::Error> {
        let literal = |s: &str| s.is_ascii() && !s.contains(GLOB_META);
        if source == "*" {
            return Ok(NameMatcher::Any);
        }
        if literal(source) {
            return Ok(NameMatcher::Exact(source.to_string()));
        }
        if let Some(prefix) = source.strip_suffix('*').filter(|p| literal(p)) {
            return Ok(NameMatcher::Prefix(prefix.to_string()));
        }
        if let Some(suffix) = source.strip_prefix('*').filter(|p| literal(p)) {
            return Ok(NameMatcher::Suffix(suffix.to_string()));
        }
        let glob = GlobBuilder::new(source)
            .case_insensitive(true)
            .literal_separator(false)
            .backslash_escape(true)
            .build()?;
        Ok(NameMatcher::Glob(glob.compile_matcher()))
    }

    fn is_match(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        match self {
            NameMatcher::Any => true,
            NameMatcher::Exact(p) => text.eq_ignore_ascii_case(p),
            NameMatcher::Prefix(p) => {
                bytes.len() >= p.len() && bytes[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            }
            NameMatcher::Suffix(p) => {
                bytes.len() >= p.len()
                    && bytes[bytes.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
            }
            NameMatcher::Glob(glob) => glob.is_match(text),
        }
    }
}

impl Pattern {
    /// Compiles `source`.
    pub fn new(source: &str) -> Result<Pattern, globset::Error> {
        Ok(Pattern {
            source: source.to_string(),
            matcher: NameMatcher::new(source)?,
        })
    }

    /// True when `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        self.matcher.is_match(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Pattern::new(&source).map_err(|err| de::Error::custom(format!("bad pattern: {err}")))
    }
}

/// A case-sensitive glob for normalised paths: `*` matches within one segment, `**`
/// any number of segments (`/admin/**` matches `/admin` and everything below it).
#[derive(Clone)]
pub struct PathPattern {
    source: String,
    matcher: PathMatcher,
}

#[derive(Clone)]
enum PathMatcher {
    /// A literal path (a trailing slash on the request is ignored).
    Exact(String),
    /// `/literal/**`: the path itself and everything below it.
    Subtree(String),
    /// `/literal/*`: exactly one segment below.
    Child(String),
    /// Everything else; `subtree` is the part before a final `/**`, which also matches.
    Glob {
        glob: GlobMatcher,
        subtree: Option<GlobMatcher>,
    },
}

impl PathPattern {
    /// Compiles `source`, which must start with `/`.
    pub fn new(source: &str) -> Result<PathPattern, String> {
        if !source.starts_with('/') {
            return Err(format!("a path pattern starts with '/': {source:?}"));
        }
        let literal = |s: &str| !s.contains(GLOB_META);
        let matcher = if literal(source) {
            PathMatcher::Exact(trim_slash(source).to_string())
        } else if let Some(base) = source.strip_suffix("/**").filter(|b| literal(b)) {
            PathMatcher::Subtree(trim_slash(base).to_string())
        } else if let Some(base) = source
            .strip_suffix("/*")
            .filter(|b| literal(b) && !b.is_empty())
        {
            PathMatcher::Child(base.to_string())
        } else {
            let compile = |source: &str| {
                GlobBuilder::new(source)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|err| err.to_string())
            };
            PathMatcher::Glob {
                glob: compile(source)?,
                subtree: source
                    .strip_suffix("/**")
                    .filter(|base| !base.is_empty())
                    .map(compile)
                    .transpose()?,
            }
        };
        Ok(PathPattern {
            source: source.to_string(),
            matcher,
        })
    }

    /// True when the normalised `path` matches (a trailing slash is ignored).
    pub fn matches(&self, path: &str) -> bool {
        let trimmed = trim_slash(path);
        match &self.matcher {
            PathMatcher::Exact(p) => trimmed == p,
            PathMatcher::Subtree(base) => {
                base.is_empty()
                    || trimmed == base
                    || (trimmed.starts_with(base.as_str())
                        && trimmed.as_bytes().get(base.len()) == Some(&b'/'))
            }
            PathMatcher::Child(base) => trimmed
                .strip_prefix(base.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|segment| !segment.is_empty() && !segment.contains('/')),
            PathMatcher::Glob { glob, subtree } => {
                glob.is_match(path)
                    || glob.is_match(trimmed)
                    || subtree.as_ref().is_some_and(|base| base.is_match(trimmed))
            }
        }
    }
}

/// `path` without a trailing slash (`/` stays `/`... as the empty root for subtrees).
fn trim_slash(path: &str) -> &str {
    if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl<'de> Deserialize<'de> for PathPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        PathPattern::new(&source).map_err(de::Error::custom)
    }
}

/// One value or a list of them: `method: DELETE` and `method: [DELETE, PATCH]` both work.
#[derive(Clone, Debug)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> OneOrMany<T> {
    /// True when any item satisfies `f`.
    pub fn any(&self, f: impl FnMut(&T) -> bool) -> bool {
        self.0.iter().any(f)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                if items.is_empty() {
                    return Err(de::Error::custom(
                        "an empty list matches nothing; remove the condition instead",
                    ));
                }
                Ok(OneOrMany(items))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::new(v)).map(|t| OneOrMany(vec![t]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                self.visit_str(&v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                self.visit_str(if v { "true" } else { "false" })
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_are_case_insensitive_and_cross_slashes() {
        let p = Pattern::new("refs/heads/release/*").unwrap();
        assert!(p.matches("refs/heads/release/1.0"));
        assert!(p.matches("refs/heads/release/a/b"));
        assert!(p.matches("REFS/heads/Release/x"));
        assert!(!p.matches("refs/heads/main"));
        let p = Pattern::new("{delete,drop}_*").unwrap();
        assert!(p.matches("delete_file") && p.matches("DROP_table"));
        assert!(!p.matches("undelete_file"));
    }

    #[test]
    fn fast_paths_agree_with_the_glob() {
        let patterns = [
            "*",
            "api.internal",
            "svc-*",
            "*.internal",
            "Delete*",
            "*_FILE",
            "a*b",
            "x?z",
        ];
        let texts = [
            "",
            "api.internal",
            "API.Internal",
            "svc-1",
            "svc",
            "x.internal",
            "delete_x",
            "DELETE",
            "my_file",
            "ab",
            "a-b",
            "xyz",
            "xz",
            "ünï",
            "SVC-ü",
        ];
        for pattern in patterns {
            let fast = Pattern::new(pattern).unwrap();
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(false)
                .backslash_escape(true)
                .build()
                .unwrap()
                .compile_matcher();
            for text in texts {
                assert_eq!(
                    fast.matches(text),
                    glob.is_match(text),
                    "{pattern} vs {text:?}"
                );
            }
        }
        for (pattern, yes, no) in [
            ("/**", vec!["/", "/a", "/a/b"], vec![]),
            ("/a/b", vec!["/a/b", "/a/b/"], vec!["/a/bc", "/a", "/a/b/c"]),
            ("/a/**", vec!["/a", "/a/", "/a/b/c"], vec!["/ab", "/b/a"]),
            (
                "/a/*",
                vec!["/a/b", "/a/b/"],
                vec!["/a", "/a/", "/a/b/c", "/ab/c"],
            ),
            ("/a/*/c/**", vec!["/a/x/c", "/a/x/c/d"], vec!["/a/x/y/c"]),
        ] {
            let p = PathPattern::new(pattern).unwrap();
            for path in yes {
                assert!(p.matches(path), "{pattern} should match {path}");
            }
            for path in no {
                assert!(!p.matches(path), "{pattern} should not match {path}");
            }
        }
    }

    #[test]
    fn path_patterns_respect_segments() {
        let p = PathPattern::new("/admin/*").unwrap();
        assert!(p.matches("/admin/x"));
        assert!(p.matches("/admin/x/"));
        assert!(!p.matches("/admin/x/y"));
        let p = PathPattern::new("/admin/**").unwrap();
        assert!(p.matches("/admin") && p.matches("/admin/") && p.matches("/admin/x/y"));
        assert!(!p.matches("/administrator"));
        assert!(!p.matches("/Admin/x"), "paths are case-sensitive");
        assert!(PathPattern::new("admin").is_err());
    }
}
