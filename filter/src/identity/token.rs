//! The pure JWT verifier: structure, header, key choice, signature and claims, over
//! keys already in memory. No I/O, no clock (the caller passes `now`).
//!
//! Verification runs in two steps so the caller can pick the issuer's keys in between:
//! [`parse`] checks the shape and the header (rejecting `alg: none`, HMAC and unknown
//! algorithms before anything else) and decodes the claims; [`verify`] checks the
//! signature against one issuer's [`KeySet`] and then the claims against its
//! [`IssuerPolicy`]. Every rejection is a [`TokenError`] whose text is safe to show the
//! caller: it never contains the token or any part of it.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::{ClaimMatch, IdentityKind, IssuerConfig, KeyType, SigningAlgorithm};

/// Smallest RSA modulus accepted (bits). Smaller keys are skipped when a JWKS is read.
pub const MIN_RSA_BITS: usize = 2048;

/// Most groups taken from one token; more is refused as hostile (they end up in
/// metadata and headers).
pub const MAX_GROUPS: usize = 256;

/// Why a token was refused. The `Display` text is safe to show the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Larger than `token.max_bytes`.
    #[error("token is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Not three base64url segments of JSON header, JSON payload and signature.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg: none` (unsigned).
    #[error("unsigned tokens (alg none) are not accepted")]
    AlgNone,
    /// `HS256`/`HS384`/`HS512`: only asymmetric keys are trusted.
    #[error("HMAC-signed tokens are not accepted")]
    Hmac,
    /// An algorithm Warden does not implement.
    #[error("unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// A supported algorithm outside this issuer's allow-list.
    #[error("algorithm {} is not allowed for this issuer", .0.name())]
    AlgorithmNotAllowed(SigningAlgorithm),
    /// The header has a `crit` list: extensions Warden does not understand must fail.
    #[error("unsupported critical header parameters")]
    CriticalHeader,
    /// The token's `iss` is not a configured issuer.
    #[error("issuer is not trusted")]
    UnknownIssuer,
    /// `iss` differs from the issuer whose keys verified it.
    #[error("token was not issued by the expected issuer")]
    WrongIssuer,
    /// No key with the token's `kid` (after a refresh, if one was allowed).
    #[error("unknown signing key")]
    UnknownKid,
    /// No `kid`, and the issuer has several keys for the algorithm.
    #[error("token names no key id and the issuer has several keys")]
    AmbiguousKey,
    /// The key with that `kid` is for another algorithm.
    #[error("signing key does not match the token's algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("signature is invalid")]
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// No accepted audience in `aud`.
    #[error("token is not meant for this audience")]
    WrongAudience,
    /// A required claim is absent.
    #[error("token has no {0} claim")]
    MissingClaim(String),
    /// A claim has the wrong type or value.
    #[error("claim {0} is invalid")]
    InvalidClaim(String),
}

impl TokenError {
    /// A stable machine-readable code (`expired`, `alg_none`, ...), for JSON bodies,
    /// metrics and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "token_too_large",
            Self::Malformed(_) => "malformed_token",
            Self::AlgNone => "alg_none",
            Self::Hmac => "hmac_not_accepted",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Self::CriticalHeader => "critical_header",
            Self::UnknownIssuer => "unknown_issuer",
            Self::WrongIssuer => "wrong_issuer",
            Self::UnknownKid => "unknown_kid",
            Self::AmbiguousKey => "ambiguous_key",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
        }
    }
}

/// One public key from a JWKS, ready to verify.
pub struct VerificationKey {
    kid: Option<String>,
    key_type: KeyType,
    alg: Option<SigningAlgorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("alg", &self.alg)
            .finish()
    }
}

impl VerificationKey {
    /// The key id, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The kind of key.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The algorithm the JWK is pinned to (`alg`), if any.
    pub fn alg(&self) -> Option<SigningAlgorithm> {
        self.alg
    }

    fn accepts(&self, alg: SigningAlgorithm) -> bool {
        self.key_type == alg.key_type() && self.alg.is_none_or(|a| a == alg)
    }
}

/// Why one JWK was skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not a JSON object with the fields its `kty` needs.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    /// Symmetric, encryption-only, or an algorithm/curve Warden does not verify with.
    #[error("unusable key: {0}")]
    Unusable(&'static str),
}

/// The JWKS document: `{"keys": [...]}`.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Not JSON, or no `keys` array.
    #[error("JWKS is not a JSON object with a `keys` array")]
    NotAKeySet,
    /// Not a single key was usable.
    #[error("JWKS has no usable signing key ({skipped} skipped)")]
    NoUsableKeys {
        /// Keys that were skipped.
        skipped: usize,
    },
}

#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    key_ops: Option<Vec<String>>,
}

fn b64(field: &str) -> Result<Vec<u8>, JwkError> {
    URL_SAFE_NO_PAD
        .decode(field.trim_end_matches('='))
        .map_err(|_| JwkError::Malformed("a key field is not base64url"))
}

impl VerificationKey {
    /// Reads one JWK. HMAC (`oct`) keys, encryption keys and keys for algorithms
    /// Warden does not verify with are refused; RSA keys under 2048 bits too.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JwkError> {
        let raw: RawJwk = serde_json::from_value(jwk.clone())
            .map_err(|_| JwkError::Malformed("fields of the wrong type"))?;
        if raw.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(JwkError::Unusable("not a signature key"));
        }
        if let Some(ops) = &raw.key_ops {
            if !ops.iter().any(|o| o == "verify") {
                return Err(JwkError::Unusable("key_ops does not include verify"));
            }
        }
        let alg = match raw.alg.as_deref() {
            None => None,
            Some(name) => Some(
                SigningAlgorithm::from_name(name)
                    .ok_or(JwkError::Unusable("algorithm not supported"))?,
            ),
        };
        let (key_type, key) = match raw.kty.as_deref() {
            Some("RSA") => {
                let (Some(n), Some(e)) = (raw.n.as_deref(), raw.e.as_deref()) else {
                    return Err(JwkError::Malformed("RSA key without n or e"));
                };
                let n = b64(n)?;
                let e = b64(e)?;
                let first = n.iter().position(|&b| b != 0).unwrap_or(n.len());
                let bits = (n.len() - first) * 8;
                if bits < MIN_RSA_BITS {
                    return Err(JwkError::Unusable("RSA key shorter than 2048 bits"));
                }
                if e.is_empty() || e.len() > 8 {
                    return Err(JwkError::Malformed("RSA exponent out of range"));
                }
                (KeyType::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
            }
            Some("EC") => {
                let (Some(x), Some(y)) = (raw.x.as_deref(), raw.y.as_deref()) else {
                    return Err(JwkError::Malformed("EC key without x or y"));
                };
                let (key_type, len) = match raw.crv.as_deref() {
                    Some("P-256") => (KeyType::P256, 32),
                    Some("P-384") => (KeyType::P384, 48),
                    _ => return Err(JwkError::Unusable("curve not supported")),
                };
                let (x, y) = (b64(x)?, b64(y)?);
                if x.len() != len || y.len() != len {
                    return Err(JwkError::Malformed("EC coordinates of the wrong length"));
                }
                // Uncompressed SEC1 point, which is what jsonwebtoken verifies with.
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (key_type, DecodingKey::from_ec_der(&point))
            }
            Some("OKP") => {
                if raw.crv.as_deref() != Some("Ed25519") {
                    return Err(JwkError::Unusable("curve not supported"));
                }
                let Some(x) = raw.x.as_deref() else {
                    return Err(JwkError::Malformed("OKP key without x"));
                };
                let x = b64(x)?;
                if x.len() != 32 {
                    return Err(JwkError::Malformed("Ed25519 key of the wrong length"));
                }
                (KeyType::Ed25519, DecodingKey::from_ed_der(&x))
            }
            Some("oct") => return Err(JwkError::Unusable("symmetric keys are never trusted")),
            _ => return Err(JwkError::Unusable("key type not supported")),
        };
        if alg.is_some_and(|a| a.key_type() != key_type) {
            return Err(JwkError::Malformed("alg does not fit the key type"));
        }
        Ok(Self {
            kid: raw.kid,
            key_type,
            alg,
            key,
        })
    }
}

/// The usable signing keys of one issuer.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    all: Vec<Arc<VerificationKey>>,
}

impl KeySet {
    /// Builds a set from keys; a later key with an already-seen `kid` is ignored.
    pub fn new(keys: impl IntoIterator<Item = VerificationKey>) -> Self {
        let mut set = KeySet::default();
        for key in keys {
            let key = Arc::new(key);
            if let Some(kid) = &key.kid {
                if set.by_kid.contains_key(kid) {
                    continue;
                }
                set.by_kid.insert(kid.clone(), Arc::clone(&key));
            }
            set.all.push(key);
        }
        set
    }

    /// Parses a JWKS document, skipping keys Warden cannot or must not use. Returns the
    /// set and how many keys were skipped.
    pub fn from_jwks(document: &[u8]) -> Result<(Self, usize), JwksError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<Value>,
        }
        let doc: Doc = serde_json::from_slice(document).map_err(|_| JwksError::NotAKeySet)?;
        let mut skipped = 0;
        let keys: Vec<_> = doc
            .keys
            .iter()
            .filter_map(|k| match VerificationKey::from_jwk(k) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::debug!(error = %e, "skipping JWKS key");
                    skipped += 1;
                    None
                }
            })
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys { skipped });
        }
        Ok((Self::new(keys), skipped))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// True when this exact key object is (still) part of the set.
    pub fn contains(&self, key: &Arc<VerificationKey>) -> bool {
        self.all.iter().any(|k| Arc::ptr_eq(k, key))
    }

    /// The key for a token header: by `kid`, or the only key fitting the algorithm
    /// when the token has no `kid`.
    pub fn select(
        &self,
        kid: Option<&str>,
        alg: SigningAlgorithm,
    ) -> Result<&Arc<VerificationKey>, TokenError> {
        match kid {
            Some(kid) => {
                let key = self.by_kid.get(kid).ok_or(TokenError::UnknownKid)?;
                if key.accepts(alg) {
                    Ok(key)
                } else {
                    Err(TokenError::KeyMismatch)
                }
            }
            None => {
                let mut fitting = self.all.iter().filter(|k| k.accepts(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(TokenError::UnknownKid),
                    (Some(_), Some(_)) => Err(TokenError::AmbiguousKey),
                }
            }
        }
    }
}

/// What is checked for one issuer, compiled from [`IssuerConfig`].
#[derive(Clone, Debug)]
pub struct IssuerPolicy {
    /// Exact `iss`.
    pub issuer: String,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Allowed algorithms.
    pub algorithms: Vec<SigningAlgorithm>,
    /// Tolerated clock skew, seconds.
    pub leeway: u64,
    /// Subject claim path, split at dots.
    pub subject_claim: Vec<String>,
    /// Groups claim path, split at dots.
    pub groups_claim: Option<Vec<String>>,
    /// Kind when nothing matches.
    pub default_kind: IdentityKind,
    /// Agent rules: (path, values).
    pub agent_when: Vec<(Vec<String>, Vec<String>)>,
    /// Human rules: (path, values).
    pub human_when: Vec<(Vec<String>, Vec<String>)>,
}

fn split_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_string).collect()
}

fn compile_rules(rules: &[ClaimMatch]) -> Vec<(Vec<String>, Vec<String>)> {
    rules
        .iter()
        .map(|r| (split_path(&r.claim), r.values.clone()))
        .collect()
}

impl From<&IssuerConfig> for IssuerPolicy {
    fn from(c: &IssuerConfig) -> Self {
        IssuerPolicy {
            issuer: c.issuer.clone(),
            audiences: c.audiences.clone(),
            algorithms: c.algorithms.clone(),
            leeway: c.leeway_seconds,
            subject_claim: split_path(&c.subject_claim),
            groups_claim: c.groups_claim.as_deref().map(split_path),
            default_kind: c.kind.default,
            agent_when: compile_rules(&c.kind.agent_when),
            human_when: compile_rules(&c.kind.human_when),
        }
    }
}

/// A token whose shape and header are sound, not yet verified.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    signing_input: &'a str,
    signature: &'a str,
    alg: SigningAlgorithm,
    kid: Option<String>,
    claims: Map<String, Value>,
}

impl UnverifiedToken<'_> {
    /// The `iss` claim, unverified: only for choosing which keys to verify with.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The `iss` claim, or why it is unusable.
    pub fn issuer_claim(&self) -> Result<&str, TokenError> {
        match self.claims.get("iss") {
            None | Some(Value::Null) => Err(TokenError::MissingClaim("iss".into())),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(TokenError::InvalidClaim("iss".into())),
        }
    }

    /// The header's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The header's algorithm.
    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<Value>,
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a token's shape and header and decodes its claims, without verifying.
///
/// Refuses, in this order: oversized tokens, characters outside base64url, a segment
/// count other than three (five is called out as JWE), empty segments, undecodable
/// header, `alg` none / HMAC / unknown, `crit`, undecodable payload.
pub fn parse(token: &str, max_bytes: usize) -> Result<UnverifiedToken<'_>, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::TooLarge { max: max_bytes });
    }
    if token.is_empty() {
        return Err(TokenError::Malformed("empty token"));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(TokenError::Malformed(
            "token has characters outside base64url",
        ));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "expected three dot-separated segments",
        ));
    };
    match parts.count() {
        0 => {}
        2 => {
            return Err(TokenError::Malformed(
                "encrypted tokens (JWE) are not supported",
            ))
        }
        _ => {
            return Err(TokenError::Malformed(
                "expected three dot-separated segments",
            ))
        }
    }
    if header.is_empty() || payload.is_empty() {
        return Err(TokenError::Malformed("empty header or payload"));
    }
    if signature.is_empty() {
        // An empty signature is how `alg: none` tokens look; say so when it is one.
        if let Ok(h) = decode_header(header) {
            if h.alg
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case("none"))
            {
                return Err(TokenError::AlgNone);
            }
        }
        return Err(TokenError::Malformed("empty signature"));
    }
    let raw = decode_header(header)?;
    let alg = match raw.alg.as_deref() {
        None => return Err(TokenError::Malformed("header has no alg")),
        Some(a) if a.eq_ignore_ascii_case("none") => return Err(TokenError::AlgNone),
        Some("HS256" | "HS384" | "HS512") => return Err(TokenError::Hmac),
        Some(a) => SigningAlgorithm::from_name(a).ok_or(TokenError::UnsupportedAlgorithm)?,
    };
    if raw.crit.is_some() {
        return Err(TokenError::CriticalHeader);
    }
    if !is_b64url(signature) {
        return Err(TokenError::Malformed("signature is not base64url"));
    }
    let signing_len = header.len() + 1 + payload.len();
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload)
        .map_err(|_| TokenError::Malformed("payload is not a JSON object"))?;
    Ok(UnverifiedToken {
        signing_input: &token[..signing_len],
        signature,
        alg,
        kid: raw.kid,
        claims,
    })
}

fn decode_header(segment: &str) -> Result<RawHeader, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed("header is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed("header is not a JSON object"))
}

/// The result of a successful verification: what the identity is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `iss`.
    pub issuer: String,
    /// The subject claim.
    pub subject: String,
    /// Groups from the groups claim (empty when absent).
    pub groups: Vec<String>,
    /// Agent or human.
    pub kind: IdentityKind,
    /// `jti`, when present.
    pub jti: Option<String>,
    /// `exp` (seconds since the epoch).
    pub expires_at: u64,
    /// The other parties the token names through its delegation chain: `act.sub`,
    /// `act.act.sub`, ... (RFC 8693), outermost first.
    pub acting_for: Vec<String>,
}

/// Verifies a parsed token with one issuer's policy and keys at time `now` (seconds
/// since the epoch). Returns the key that verified it alongside the claims.
pub fn verify(
    token: &UnverifiedToken<'_>,
    policy: &IssuerPolicy,
    keys: &KeySet,
    now: u64,
) -> Result<(VerifiedToken, Arc<VerificationKey>), TokenError> {
    if !policy.algorithms.contains(&token.alg) {
        return Err(TokenError::AlgorithmNotAllowed(token.alg));
    }
    let key = keys.select(token.kid(), token.alg)?;
    // Why `crypto::verify` and not `decode`: the header and claims are already parsed
    // and checked here with typed reasons; this is only the signature.
    let ok = jsonwebtoken::crypto::verify(
        token.signature,
        token.signing_input.as_bytes(),
        &key.key,
        token.alg.jwt(),
    )
    .map_err(|_| TokenError::BadSignature)?;
    if !ok {
        return Err(TokenError::BadSignature);
    }
    let verified = check_claims(&token.claims, policy, now)?;
    Ok((verified, Arc::clone(key)))
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite() && *f >= 0.0) {
                // NumericDate may carry fractions; whole seconds are enough here.
                Ok(Some(f as u64))
            } else {
                Err(TokenError::InvalidClaim(name.into()))
            }
        }
        Some(_) => Err(TokenError::InvalidClaim(name.into())),
    }
}

fn lookup<'v>(claims: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut value = claims.get(first)?;
    for segment in rest {
        value = value.as_object()?.get(segment)?;
    }
    Some(value).filter(|v| !v.is_null())
}

fn matches(claims: &Map<String, Value>, path: &[String], values: &[String]) -> bool {
    let Some(v) = lookup(claims, path) else {
        return false;
    };
    if values.is_empty() {
        return true;
    }
    match v {
        Value::String(s) => values.iter().any(|x| x == s),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|s| values.iter().any(|x| x == s)),
        Value::Bool(b) => values
            .iter()
            .any(|x| x == if *b { "true" } else { "false" }),
        _ => false,
    }
}

/// Checks issuer, times, audience and extracts subject, groups, kind and `jti`.
pub fn check_claims(
    claims: &Map<String, Value>,
    policy: &IssuerPolicy,
    now: u64,
) -> Result<VerifiedToken, TokenError> {
    match claims.get("iss") {
        None => return Err(TokenError::MissingClaim("iss".into())),
        Some(Value::String(iss)) if *iss == policy.issuer => {}
        Some(Value::String(_)) => return Err(TokenError::WrongIssuer),
        Some(_) => return Err(TokenError::InvalidClaim("iss".into())),
    }
    let exp = numeric_date(claims, "exp")?.ok_or(TokenError::MissingClaim("exp".into()))?;
    if now > exp.saturating_add(policy.leeway) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now.saturating_add(policy.leeway) < nbf {
            return Err(TokenError::NotYetValid);
        }
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if now.saturating_add(policy.leeway) < iat {
            return Err(TokenError::IssuedInFuture);
        }
    }
    let accepted = |a: &str| policy.audiences.iter().any(|x| x == a);
    match claims.get("aud") {
        None | Some(Value::Null) => return Err(TokenError::MissingClaim("aud".into())),
        Some(Value::String(a)) => {
            if !accepted(a) {
                return Err(TokenError::WrongAudience);
            }
        }
        Some(Value::Array(items)) => {
            if items.iter().any(|v| !v.is_string()) {
                return Err(TokenError::InvalidClaim("aud".into()));
            }
            if !items.iter().filter_map(Value::as_str).any(accepted) {
                return Err(TokenError::WrongAudience);
            }
        }
        Some(_) => return Err(TokenError::InvalidClaim("aud".into())),
    }
    let subject_name = || policy.subject_claim.join(".");
    let subject = match lookup(claims, &policy.subject_claim) {
        None => return Err(TokenError::MissingClaim(subject_name())),
        Some(Value::String(s)) if !s.is_empty() && !s.chars().any(char::is_control) => s.clone(),
        Some(_) => return Err(TokenError::InvalidClaim(subject_name())),
    };
    let groups = match &policy.groups_claim {
        None => Vec::new(),
        Some(path) => match lookup(claims, path) {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => {
                if items.len() > MAX_GROUPS {
                    return Err(TokenError::InvalidClaim(path.join(".")));
                }
                // Non-string entries (some IdPs emit objects) carry no group name.
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }
            Some(_) => return Err(TokenError::InvalidClaim(path.join("."))),
        },
    };
    let kind = if policy.agent_when.iter().any(|(p, v)| matches(claims, p, v)) {
        IdentityKind::Agent
    } else if policy.human_when.iter().any(|(p, v)| matches(claims, p, v)) {
        IdentityKind::Human
    } else {
        policy.default_kind
    };
    let jti = match claims.get("jti") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(VerifiedToken {
        issuer: policy.issuer.clone(),
        subject,
        groups,
        kind,
        jti,
        expires_at: exp,
        acting_for: delegation_chain(claims),
    })
}

/// Most links of an `act` chain that are read; deeper nesting is cut (a token that
/// nests this deep names enough parties to refuse all of them as approvers).
const MAX_DELEGATION_DEPTH: usize = 8;

/// The subjects of the token's `act` chain (RFC 8693 §4.1): every party the token says
/// takes part in the request besides its subject. A link without a string `sub` ends
/// the chain.
fn delegation_chain(claims: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut link = claims.get("act");
    while let Some(Value::Object(actor)) = link {
        if out.len() == MAX_DELEGATION_DEPTH {
            break;
        }
        match actor.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => out.push(sub.clone()),
            _ => break,
        }
        link = actor.get("act");
    }
    out
}
