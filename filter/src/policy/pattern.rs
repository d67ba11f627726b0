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
    matcher: GlobMatcher,
}

impl Pattern {
    /// Compiles `source`.
    pub fn new(source: &str) -> Result<Pattern, globset::Error> {
        let glob = GlobBuilder::new(source)
            .case_insensitive(true)
            .literal_separator(false)
            .backslash_escape(true)
            .build()?;
        Ok(Pattern {
            source: source.to_string(),
            matcher: glob.compile_matcher(),
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
    matcher: GlobMatcher,
    /// `/admin/**` also matches `/admin` itself.
    prefix: Option<String>,
}

impl PathPattern {
    /// Compiles `source`, which must start with `/`.
    pub fn new(source: &str) -> Result<PathPattern, String> {
        if !source.starts_with('/') {
            return Err(format!("a path pattern starts with '/': {source:?}"));
        }
        let glob = GlobBuilder::new(source)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|err| err.to_string())?;
        Ok(PathPattern {
            source: source.to_string(),
            matcher: glob.compile_matcher(),
            prefix: source.strip_suffix("/**").map(str::to_string),
        })
    }

    /// True when the normalised `path` matches (a trailing slash is ignored).
    pub fn matches(&self, path: &str) -> bool {
        let trimmed = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        self.matcher.is_match(path)
            || self.matcher.is_match(trimmed)
            || self.prefix.as_deref().is_some_and(|p| p == trimmed)
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
