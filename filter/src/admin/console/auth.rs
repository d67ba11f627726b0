//! The console's sign-in mechanics as plain functions: PKCE, the login flow cookie,
//! the session cookie, the CSRF check and the id_token claims the callback checks.
//!
//! The session is the verified id_token itself, in an HttpOnly, SameSite=Lax cookie:
//! nothing is kept server-side, so any replica serves any browser, and every request
//! verifies the token again (expiry ends the session by itself).

use axum::http::{HeaderMap, Method};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie: the verified id_token.
pub const SESSION_COOKIE: &str = "warden_console";

/// The login flow cookie: state, nonce and PKCE verifier of one sign-in.
pub const FLOW_COOKIE: &str = "warden_console_flow";

/// Where the flow cookie is sent (only to the callback).
pub const FLOW_COOKIE_PATH: &str = "/console/callback";

/// How long a sign-in may take, in seconds (the flow cookie's lifetime).
pub const FLOW_MAX_AGE: u64 = 600;

/// The header the console's scripts send with every state-changing request. A form
/// on another site cannot set it, and a cross-origin script that tries needs a CORS
/// preflight this server never grants: a cookie alone never changes anything.
pub const CSRF_HEADER: &str = "x-warden-console";

/// 32 random bytes, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 PKCE challenge of `verifier`: BASE64URL(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Compares secrets without stopping at the first difference.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One sign-in in progress: what the callback must see again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Binds the callback to this browser's request (login CSRF).
    pub state: String,
    /// Binds the id_token to this request (replay).
    pub nonce: String,
    /// The PKCE verifier; only its challenge goes to the issuer.
    pub verifier: String,
}

impl Flow {
    /// A fresh flow with random values.
    pub fn new() -> Flow {
        Flow {
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
        }
    }

    /// The cookie value: the three values joined by `.` (base64url has no dots).
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.state, self.nonce, self.verifier)
    }

    /// Reads a cookie value written by [`Flow::encode`].
    pub fn decode(value: &str) -> Option<Flow> {
        let mut parts = value.split('.');
        let flow = Flow {
            state: parts.next()?.to_string(),
            nonce: parts.next()?.to_string(),
            verifier: parts.next()?.to_string(),
        };
        let well_formed = parts.next().is_none()
            && [&flow.state, &flow.nonce, &flow.verifier]
                .iter()
                .all(|p| p.len() >= 32 && p.bytes().all(is_base64url));
        well_formed.then_some(flow)
    }
}

impl Default for Flow {
    fn default() -> Self {
        Flow::new()
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, `Secure` when `secure`.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear_cookie(name: &str, path: &str, secure: bool) -> String {
    set_cookie(name, "", path, 0, secure)
}

/// Why a cookie-authenticated request was refused before it reached a handler.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// A state-changing request without the console's header.
    #[error("this change was not sent by the console (header {CSRF_HEADER} missing): use the console's buttons, or send Authorization: Bearer instead of the cookie")]
    MissingHeader,
    /// A state-changing request from another origin.
    #[error("this change came from another site ({0}); it was refused")]
    CrossOrigin(String),
}

/// True for methods that change nothing.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF check for a cookie-authenticated request: a state-changing one must carry
/// [`CSRF_HEADER`], and an `Origin`, when the browser sends one, must be `origin`.
pub fn check_csrf(method: &Method, headers: &HeaderMap, origin: &str) -> Result<(), CsrfError> {
    if is_safe(method) {
        return Ok(());
    }
    if let Some(sent) = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    {
        if sent != origin {
            return Err(CsrfError::CrossOrigin(sent.to_string()));
        }
    }
    if headers.get(CSRF_HEADER).is_none() {
        return Err(CsrfError::MissingHeader);
    }
    Ok(())
}

/// The origin (`scheme://host[:port]`) of an absolute URL.
pub fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// The claims of a compact JWS, unverified: call only on a token that verified.
pub fn claims_of(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Why the callback refused an id_token that otherwise verified.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// The nonce is not the one this browser's sign-in sent.
    #[error("the id_token's nonce does not match this sign-in; sign in again")]
    Nonce,
    /// Not issued for the console's client id.
    #[error("the id_token was not issued for client {0}; check approvals.admin.console.client_id")]
    Audience(String),
    /// No expiry.
    #[error("the id_token has no exp claim")]
    NoExpiry,
}

/// Checks the nonce and audience of a verified id_token; its expiry (Unix seconds).
pub fn check_id_token_claims(
    claims: &serde_json::Value,
    nonce: &str,
    client_id: &str,
) -> Result<u64, ClaimsError> {
    let sent = claims.get("nonce").and_then(|n| n.as_str()).unwrap_or("");
    if !constant_time_eq(sent, nonce) {
        return Err(ClaimsError::Nonce);
    }
    let for_us = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == client_id,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a == client_id),
        _ => false,
    };
    if !for_us {
        return Err(ClaimsError::Audience(client_id.to_string()));
    }
    claims
        .get("exp")
        .and_then(|e| e.as_u64())
        .ok_or(ClaimsError::NoExpiry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_token());
    }

    #[test]
    fn flow_cookie_round_trips_and_rejects_tampering() {
        let flow = Flow::new();
        assert_eq!(Flow::decode(&flow.encode()), Some(flow.clone()));
        assert_eq!(Flow::decode("a.b.c"), None, "too short to be ours");
        assert_eq!(Flow::decode(&format!("{}.x", flow.encode())), None);
        assert_eq!(Flow::decode(&flow.encode().replace('.', ";")), None);
        assert!(constant_time_eq(&flow.state, &flow.state.clone()));
        assert!(!constant_time_eq(&flow.state, &flow.nonce));
        assert!(!constant_time_eq("abc", "ab"));
    }

    #[test]
    fn cookies_are_found_among_others_and_set_http_only() {
        let mut headers = HeaderMap::new();
        headers.append(
            "cookie",
            HeaderValue::from_static("a=1; warden_console=tok"),
        );
        headers.append("cookie", HeaderValue::from_static("b=2"));
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("tok")
        );
        assert_eq!(cookie_value(&headers, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(&headers, FLOW_COOKIE), None);
        let set = set_cookie(SESSION_COOKIE, "tok", "/", 60, true);
        assert_eq!(
            set,
            "warden_console=tok; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(!clear_cookie(SESSION_COOKIE, "/", false).contains("Secure"));
        assert!(clear_cookie(SESSION_COOKIE, "/", false).contains("Max-Age=0"));
    }

    #[test]
    fn csrf_needs_the_header_and_our_origin_on_changes() {
        let origin = "http://127.0.0.1:9090";
        let mut headers = HeaderMap::new();
        assert_eq!(check_csrf(&Method::GET, &headers, origin), Ok(()));
        assert_eq!(
            check_csrf(&Method::POST, &headers, origin),
            Err(CsrfError::MissingHeader)
        );
        headers.insert(CSRF_HEADER, HeaderValue::from_static("1"));
        assert_eq!(check_csrf(&Method::POST, &headers, origin), Ok(()));
        headers.insert("origin", HeaderValue::from_static("http://evil.example"));
        assert_eq!(
            check_csrf(&Method::POST, &headers, origin),
            Err(CsrfError::CrossOrigin("http://evil.example".into()))
        );
        headers.insert("origin", HeaderValue::from_static("http://127.0.0.1:9090"));
        assert_eq!(check_csrf(&Method::DELETE, &headers, origin), Ok(()));
        assert_eq!(
            origin_of("http://127.0.0.1:9090/console/callback?x=1"),
            "http://127.0.0.1:9090"
        );
    }

    #[test]
    fn id_token_claims_bind_nonce_and_audience() {
        let claims = serde_json::json!({"nonce": "n1", "aud": "warden-console", "exp": 99});
        assert_eq!(
            check_id_token_claims(&claims, "n1", "warden-console"),
            Ok(99)
        );
        assert_eq!(
            check_id_token_claims(&claims, "n2", "warden-console"),
            Err(ClaimsError::Nonce)
        );
        assert_eq!(
            check_id_token_claims(&claims, "n1", "other"),
            Err(ClaimsError::Audience("other".into()))
        );
        let list = serde_json::json!({"nonce": "n1", "aud": ["x", "warden-console"], "exp": 5});
        assert_eq!(check_id_token_claims(&list, "n1", "warden-console"), Ok(5));
        let no_nonce = serde_json::json!({"aud": "warden-console", "exp": 5});
        assert_eq!(
            check_id_token_claims(&no_nonce, "n1", "warden-console"),
            Err(ClaimsError::Nonce)
        );
        let header = URL_SAFE_NO_PAD.encode(b"{}");
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_eq!(claims_of(&format!("{header}.{body}.sig")), Some(claims));
        assert_eq!(claims_of("garbage"), None);
    }
}
