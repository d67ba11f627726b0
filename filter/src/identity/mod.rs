//! Who is calling: OIDC JWTs and mesh (SPIFFE) identities, and the upstream
//! credentials Warden injects in place of the agent's (issue 3).
//!
//! Layers, from pure to I/O:
//!
//! - [`token`]: the pure JWT verifier over keys in memory ([`token::parse`] +
//!   [`token::verify`]), with a typed [`TokenError`] per rejection.
//! - [`spiffe`]: SPIFFE IDs from the mTLS peer certificate or a trusted XFCC header.
//! - [`inject`]: credential injection (pure [`inject::injection_changes`], plus the
//!   [`CredentialInjector`] that re-reads secret files when they change).
//! - [`Authenticator`]: the async shell. OIDC discovery, JWKS cache (moka), refresh on
//!   unknown `kid` (single-flight, rate-limited), stale keys served while the IdP is
//!   down, and a verified-token cache keyed by SHA-256 of the token so a repeat
//!   request costs a hash and a lookup.
//!
//! The token itself never leaves this module: not in errors, logs, metadata or headers.

mod authenticator;
pub mod config;
pub mod inject;
pub mod spiffe;
pub mod token;

#[cfg(test)]
mod tests;

pub use authenticator::{Authenticator, Clock, ManualClock, SystemClock};
pub use config::{
    CredentialRule, IdentityConfig, IdentityConfigError, IdentityKind, Injection, IssuerConfig,
    SecretSource, SigningAlgorithm, SpiffeConfig, SpiffeSource, UpstreamHeadersConfig,
};
pub use inject::{CredentialInjector, InjectError, Injected};
pub use spiffe::SpiffeError;
pub use token::TokenError;

use crate::http::{Headers, RequestHead};
use crate::pipeline::{LocalReply, DECISION_HEADER, REQUEST_ID_HEADER};

/// Installs ring as the process-wide rustls crypto provider unless one is installed.
///
/// Why: reqwest is built with `rustls-no-provider` (its default provider, aws-lc, needs
/// cmake), so every reqwest client in the process needs a provider installed first.
/// [`Authenticator::new`] calls this; other code building reqwest clients should too.
pub fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Longest session id taken from a request header; longer values are ignored.
pub const MAX_SESSION_ID_BYTES: usize = 128;

/// Where an identity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// A verified OIDC JWT.
    Jwt,
    /// A SPIFFE ID from mesh mTLS.
    Spiffe,
}

impl IdentitySource {
    /// `jwt` or `spiffe`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Spiffe => "spiffe",
        }
    }
}

/// One verified caller. Every later phase (policy, holds, audit) works from this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The subject: the token's subject claim, or the SPIFFE ID.
    pub subject: String,
    /// The token issuer, or `spiffe://<trust domain>`.
    pub issuer: String,
    /// Groups (from the configured claim path, or SPIFFE prefix rules).
    pub groups: Vec<String>,
    /// Agent or human.
    pub kind: IdentityKind,
    /// Session: `x-agent-session` / `mcp-session-id` header (configurable), else `jti`.
    pub session_id: Option<String>,
    /// JWT or SPIFFE.
    pub source: IdentitySource,
    /// Who else the credential says takes part: the subjects of a JWT's `act`
    /// delegation chain (an agent acting for a person names that person). Approval
    /// treats them as requesters too: none of them may approve the request.
    pub acting_for: Vec<String>,
}

impl Identity {
    /// Pairs for Envoy dynamic metadata (namespace `warden`), for access logs:
    /// `subject`, `issuer`, `groups` (comma-separated), `identity_kind`,
    /// `identity_source` and, when known, `session`.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("subject", self.subject.clone()),
            ("issuer", self.issuer.clone()),
            ("groups", self.groups.join(",")),
            ("identity_kind", self.kind.name().to_string()),
            ("identity_source", self.source.name().to_string()),
        ];
        if let Some(s) = &self.session_id {
            out.push(("session", s.clone()));
        }
        out
    }
}

/// What the mesh told Envoy about the connection (not forgeable by request headers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerAttributes {
    /// The peer certificate's URI SAN: ext_proc attribute
    /// `connection.uri_san_peer_certificate`, or ext_authz
    /// `attributes.source.principal`. `None` without mTLS.
    pub uri_san_peer_certificate: Option<String>,
}

/// Header changes for the request that goes on to the upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderChanges {
    /// Headers to set, replacing any existing value.
    pub set_headers: Vec<(String, String)>,
    /// Headers to remove. Never names a header that is also in `set_headers`.
    pub remove_headers: Vec<String>,
}

impl HeaderChanges {
    /// Adds a removal unless the name is already removed or set.
    pub(crate) fn remove(&mut self, name: &str) {
        if !self.remove_headers.iter().any(|n| n == name)
            && !self.set_headers.iter().any(|(n, _)| n == name)
        {
            self.remove_headers.push(name.to_string());
        }
    }

    /// Sets a header, dropping an earlier removal of the same name.
    pub(crate) fn set(&mut self, name: &str, value: String) {
        self.remove_headers.retain(|n| n != name);
        self.set_headers.retain(|(n, _)| n != name);
        self.set_headers.push((name.to_string(), value));
    }
}

/// Why a request was not authenticated. The `Display` text is safe to show the
/// caller (see [`AuthError::reply`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential was presented and one is required.
    #[error("no credential presented: send Authorization: Bearer <token>")]
    MissingCredential,
    /// The token was refused.
    #[error("{0}")]
    InvalidToken(#[from] TokenError),
    /// The mesh identity was refused.
    #[error("{0}")]
    InvalidPeer(#[from] SpiffeError),
    /// The token's issuer keys are not available (IdP unreachable and nothing cached).
    #[error("identity provider keys are unavailable")]
    IdpUnavailable,
}

impl AuthError {
    /// Stable machine-readable code, e.g. `expired`, `missing_credential`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingCredential => "missing_credential",
            Self::InvalidToken(t) => t.code(),
            Self::InvalidPeer(p) => p.code(),
            Self::IdpUnavailable => "idp_unavailable",
        }
    }

    /// HTTP status: 401, or 503 when the IdP's keys are unavailable (the request may
    /// be fine; Warden cannot tell, so it fails closed).
    pub fn status(&self) -> u16 {
        match self {
            Self::IdpUnavailable => 503,
            _ => 401,
        }
    }

    /// The reply to the client: 401 with
    /// `WWW-Authenticate: Bearer error="invalid_token", error_description="…"` (RFC
    /// 6750; without `error` when no credential was sent, as §3.1 asks) and a JSON body
    /// `{"error": {"code": "unauthenticated", "reason": "<code>", "message": ..., "request_id": ...}}`.
    pub fn reply(&self, request_id: &str) -> LocalReply {
        let message = self.to_string();
        let status = self.status();
        let code = if status == 503 {
            "identity_unavailable"
        } else {
            "unauthenticated"
        };
        let body = serde_json::json!({
            "error": {
                "code": code,
                "reason": self.code(),
                "message": message,
                "request_id": request_id,
            }
        });
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            (DECISION_HEADER.to_string(), "deny".to_string()),
            (REQUEST_ID_HEADER.to_string(), request_id.to_string()),
        ];
        match self {
            Self::MissingCredential => {
                headers.push(("www-authenticate".into(), "Bearer realm=\"warden\"".into()))
            }
            Self::IdpUnavailable => headers.push(("retry-after".into(), "5".into())),
            _ => headers.push((
                "www-authenticate".into(),
                format!(
                    "Bearer realm=\"warden\", error=\"invalid_token\", error_description=\"{}\"",
                    quoted_string_safe(&message)
                ),
            )),
        }
        LocalReply {
            status,
            headers,
            body: body.to_string().into_bytes(),
            details: format!("warden_{}", self.code()),
        }
    }
}

/// Makes text safe inside an HTTP quoted-string (RFC 6750 limits error_description to
/// printable ASCII without `"` and `\`).
fn quoted_string_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}

/// The credential found in a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    /// No credential in the configured header.
    None,
    /// A bearer token.
    Token(&'a str),
}

/// Reads the token from the configured header. `authorization` must use the Bearer
/// scheme (any other scheme counts as "no token"); other headers carry the token itself.
pub(crate) fn presented_token<'h>(
    headers: &'h Headers,
    header: &str,
    max_bytes: usize,
) -> Result<Presented<'h>, TokenError> {
    let mut values = headers.iter().filter(|(n, _)| *n == header).map(|(_, v)| v);
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(Presented::None),
        (Some(v), None) => v,
        // Two credentials: which one a later hop uses is anyone's guess. Refuse.
        (Some(_), Some(_)) => return Err(TokenError::Malformed("more than one credential header")),
    };
    // Size first, so an enormous header is never scanned further.
    if value.len() > max_bytes + 16 {
        return Err(TokenError::TooLarge { max: max_bytes });
    }
    let value =
        std::str::from_utf8(value).map_err(|_| TokenError::Malformed("header is not text"))?;
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let token = match strip_bearer(value) {
        Some(t) => t,
        None if header == "authorization" => return Ok(Presented::None),
        None => value,
    };
    let token = token.trim_start_matches([' ', '\t']);
    if token.is_empty() {
        return Err(TokenError::Malformed("empty token"));
    }
    Ok(Presented::Token(token))
}

fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if scheme.eq_ignore_ascii_case("bearer") && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
        Some(rest)
    } else {
        None
    }
}

/// The session id from the first configured header that holds a usable one.
pub(crate) fn session_from_headers(head: &RequestHead, names: &[String]) -> Option<String> {
    names.iter().find_map(|name| {
        let v = head.headers.get_str(name)?.trim();
        // Why so strict: the value lands in metadata, audit and upstream headers.
        let ok = !v.is_empty()
            && v.len() <= MAX_SESSION_ID_BYTES
            && v.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| v.to_string())
    })
}

/// Makes a value safe for an HTTP header: bytes outside printable ASCII (and `%`) are
/// percent-encoded, so a claim can never inject a header line.
pub(crate) fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Identity headers for the upstream: every configured name is removed from the agent's
/// request (so it cannot be forged) and, with an identity, set to Warden's value.
pub fn upstream_identity_headers(
    config: &UpstreamHeadersConfig,
    identity: Option<&Identity>,
) -> HeaderChanges {
    let mut changes = HeaderChanges::default();
    for (field, name) in config.names() {
        let value = identity.and_then(|id| match field {
            "subject" => Some(id.subject.clone()),
            "issuer" => Some(id.issuer.clone()),
            "groups" => Some(id.groups.join(",")),
            "kind" => Some(id.kind.name().to_string()),
            "session" => id.session_id.clone(),
            _ => None,
        });
        match value {
            Some(v) => changes.set(name, header_safe(&v)),
            None => changes.remove(name),
        }
    }
    changes
}
