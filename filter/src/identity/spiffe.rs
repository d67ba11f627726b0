//! Mesh identities: SPIFFE IDs from the mTLS peer certificate or a trusted XFCC header.

use super::config::{SpiffeConfig, SpiffeSource};
use super::{Identity, IdentitySource};
use crate::http::Headers;

/// Longest SPIFFE ID accepted (the SPIFFE spec's limit).
pub const MAX_SPIFFE_ID_BYTES: usize = 2048;

/// Why a mesh identity was refused. Safe to show the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeError {
    /// Not a well-formed `spiffe://trust-domain/path` ID.
    #[error("peer identity is not a valid SPIFFE ID")]
    Malformed,
    /// A well-formed ID from a trust domain that is not configured.
    #[error("peer identity is from an untrusted trust domain")]
    UntrustedDomain,
    /// The XFCC header could not be parsed, or carries no URI.
    #[error("x-forwarded-client-cert header is malformed")]
    MalformedXfcc,
}

impl SpiffeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "spiffe_malformed",
            Self::UntrustedDomain => "spiffe_untrusted_domain",
            Self::MalformedXfcc => "xfcc_malformed",
        }
    }
}

/// True for a valid trust domain name: lowercase letters, digits, `.`, `-`, `_`.
pub fn is_trust_domain(td: &str) -> bool {
    !td.is_empty()
        && td.len() <= 255
        && td
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Splits a SPIFFE ID into trust domain and path, checking the spec's grammar
/// (no query, fragment, port, user info, empty or dot segments).
pub fn parse_spiffe_id(id: &str) -> Result<(&str, &str), SpiffeError> {
    if id.len() > MAX_SPIFFE_ID_BYTES {
        return Err(SpiffeError::Malformed);
    }
    let rest = id.strip_prefix("spiffe://").ok_or(SpiffeError::Malformed)?;
    let (td, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !is_trust_domain(td) {
        return Err(SpiffeError::Malformed);
    }
    if !path.is_empty() {
        for seg in path[1..].split('/') {
            let ok = !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(SpiffeError::Malformed);
            }
        }
    }
    Ok((td, path))
}

/// The `URI=` of the element a proxy appended last to an XFCC header value (the one
/// describing the connection nearest to Envoy). Handles quoted values.
pub fn xfcc_uri(value: &str) -> Result<Option<String>, SpiffeError> {
    let elements = split_quoted(value, ',')?;
    let Some(last) = elements.last() else {
        return Ok(None);
    };
    let mut uri = None;
    for pair in split_quoted(last, ';')? {
        let Some((key, val)) = pair.split_once('=') else {
            return Err(SpiffeError::MalformedXfcc);
        };
        if key.trim().eq_ignore_ascii_case("uri") {
            let val = val.trim();
            let val = match val.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => inner.replace("\\\"", "\""),
                None => val.to_string(),
            };
            // Several URI SANs are possible; the SPIFFE one is what we want.
            if val.starts_with("spiffe://") || uri.is_none() {
                uri = Some(val);
            }
        }
    }
    Ok(uri)
}

/// Splits at `sep` outside double quotes (`\"` escapes a quote).
fn split_quoted(s: &str, sep: char) -> Result<Vec<&str>, SpiffeError> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return Err(SpiffeError::MalformedXfcc);
    }
    out.push(&s[start..]);
    Ok(out.into_iter().filter(|p| !p.trim().is_empty()).collect())
}

/// Builds the mesh identity, if the configured source carries one.
pub fn spiffe_identity(
    config: &SpiffeConfig,
    peer_uri_san: Option<&str>,
    headers: &Headers,
) -> Result<Option<Identity>, SpiffeError> {
    let id = match config.source {
        SpiffeSource::PeerCertificate => peer_uri_san.map(str::to_string),
        SpiffeSource::Xfcc => {
            let mut values = headers.get_all("x-forwarded-client-cert");
            match (values.next(), values.next()) {
                (None, _) => None,
                (Some(v), None) => {
                    let v = std::str::from_utf8(v).map_err(|_| SpiffeError::MalformedXfcc)?;
                    Some(xfcc_uri(v)?.ok_or(SpiffeError::MalformedXfcc)?)
                }
                // Two headers: something on the path appended instead of sanitizing.
                (Some(_), Some(_)) => return Err(SpiffeError::MalformedXfcc),
            }
        }
    };
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    let (td, _) = parse_spiffe_id(&id)?;
    if !config.trust_domains.iter().any(|t| t == td) {
        return Err(SpiffeError::UntrustedDomain);
    }
    let mut groups: Vec<String> = Vec::new();
    for rule in &config.groups {
        if prefix_matches(&id, &rule.id_prefix) {
            for g in &rule.groups {
                if !groups.contains(g) {
                    groups.push(g.clone());
                }
            }
        }
    }
    Ok(Some(Identity {
        issuer: format!("spiffe://{td}"),
        subject: id,
        groups,
        kind: config.kind,
        session_id: None,
        source: IdentitySource::Spiffe,
        acting_for: Vec::new(),
    }))
}

/// Prefix match on path-segment boundaries, so `.../agents` does not match `.../agents-x`.
fn prefix_matches(id: &str, prefix: &str) -> bool {
    id == prefix
        || (id.starts_with(prefix)
            && (prefix.ends_with('/') || id.as_bytes().get(prefix.len()) == Some(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::config::{IdentityKind, SpiffeGroups};

    fn config(source: SpiffeSource) -> SpiffeConfig {
        SpiffeConfig {
            source,
            trust_domains: vec!["mesh.example".into()],
            groups: vec![SpiffeGroups {
                id_prefix: "spiffe://mesh.example/ns/agents".into(),
                groups: vec!["agents".into()],
            }],
            kind: IdentityKind::Agent,
        }
    }

    #[test]
    fn spiffe_ids_follow_the_grammar() {
        assert_eq!(
            parse_spiffe_id("spiffe://mesh.example/ns/a/sa/b"),
            Ok(("mesh.example", "/ns/a/sa/b"))
        );
        for bad in [
            "http://mesh.example/x",
            "spiffe://",
            "spiffe://Mesh.example/x",
            "spiffe://mesh.example:443/x",
            "spiffe://user@mesh.example/x",
            "spiffe://mesh.example/a//b",
            "spiffe://mesh.example/a/../b",
            "spiffe://mesh.example/a?b",
            "spiffe://mesh.example/",
        ] {
            assert_eq!(parse_spiffe_id(bad), Err(SpiffeError::Malformed), "{bad}");
        }
    }

    #[test]
    fn peer_certificate_identity_and_groups() {
        let c = config(SpiffeSource::PeerCertificate);
        let id = spiffe_identity(
            &c,
            Some("spiffe://mesh.example/ns/agents/sa/coder"),
            &Headers::new(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(id.subject, "spiffe://mesh.example/ns/agents/sa/coder");
        assert_eq!(id.issuer, "spiffe://mesh.example");
        assert_eq!(id.groups, vec!["agents".to_string()]);
        assert_eq!(id.source, IdentitySource::Spiffe);
        let other = spiffe_identity(
            &c,
            Some("spiffe://mesh.example/ns/agents-x/sa/coder"),
            &Headers::new(),
        )
        .unwrap()
        .unwrap();
        assert!(other.groups.is_empty());
        assert_eq!(
            spiffe_identity(&c, Some("spiffe://evil.example/x"), &Headers::new()),
            Err(SpiffeError::UntrustedDomain)
        );
        assert_eq!(spiffe_identity(&c, None, &Headers::new()), Ok(None));
        // The XFCC header is ignored unless it is the configured source.
        let h: Headers = [(
            "x-forwarded-client-cert",
            "URI=spiffe://mesh.example/ns/agents/x",
        )]
        .into_iter()
        .collect();
        assert_eq!(spiffe_identity(&c, None, &h), Ok(None));
    }

    #[test]
    fn xfcc_takes_the_last_element() {
        let v = r#"By=spiffe://mesh.example/front;Hash=ab;Subject="CN=a,O=b";URI=spiffe://mesh.example/old,By=spiffe://mesh.example/envoy;Hash=cd;Subject="O=\"x,y\"";URI=spiffe://mesh.example/ns/agents/sa/new;DNS=a.example"#;
        assert_eq!(
            xfcc_uri(v).unwrap().as_deref(),
            Some("spiffe://mesh.example/ns/agents/sa/new")
        );
        assert_eq!(
            xfcc_uri("URI=\"unterminated"),
            Err(SpiffeError::MalformedXfcc)
        );
        let c = config(SpiffeSource::Xfcc);
        let h: Headers = [("x-forwarded-client-cert", v)].into_iter().collect();
        let id = spiffe_identity(&c, None, &h).unwrap().unwrap();
        assert_eq!(id.groups, vec!["agents".to_string()]);
        let twice: Headers = [
            ("x-forwarded-client-cert", "URI=spiffe://mesh.example/a"),
            ("x-forwarded-client-cert", "URI=spiffe://mesh.example/b"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            spiffe_identity(&c, None, &twice),
            Err(SpiffeError::MalformedXfcc)
        );
    }
}
