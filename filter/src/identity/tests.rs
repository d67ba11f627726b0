//! Unit tests for the pure parts of the identity module. Keys are generated at test time.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::EncodingKey;
use serde_json::{json, Value};

use super::config::*;
use super::token::{self, IssuerPolicy, KeySet, TokenError, VerificationKey, VerifiedToken};
use super::*;
use crate::http::RequestHead;

const NOW: u64 = 1_700_000_000;
const ISS: &str = "https://idp.example/realms/agents";
const ISS2: &str = "https://other-idp.example";

struct TestKey {
    kid: String,
    alg: SigningAlgorithm,
    enc: EncodingKey,
    jwk: Value,
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

impl TestKey {
    fn ed25519(kid: &str) -> TestKey {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let sk = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let der = sk.to_pkcs8_der().unwrap();
        TestKey {
            kid: kid.into(),
            alg: SigningAlgorithm::EdDSA,
            enc: EncodingKey::from_ed_der(der.as_bytes()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                        "x": b64(sk.verifying_key().as_bytes())}),
        }
    }

    fn rsa(kid: &str, alg: SigningAlgorithm, pinned: Option<&str>) -> TestKey {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        // RSA generation is slow in debug builds: one key for the whole test binary.
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        let sk = KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap());
        let der = sk.to_pkcs1_der().unwrap();
        let mut jwk = json!({"kty": "RSA", "kid": kid, "use": "sig",
            "n": b64(&sk.n().to_bytes_be()), "e": b64(&sk.e().to_bytes_be())});
        if let Some(p) = pinned {
            jwk["alg"] = json!(p);
        }
        TestKey {
            kid: kid.into(),
            alg,
            enc: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk,
        }
    }

    fn p256(kid: &str) -> TestKey {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePrivateKey;
        let sk = p256::SecretKey::random(&mut rand_core::OsRng);
        let der = sk.to_pkcs8_der().unwrap();
        let point = sk.public_key().to_encoded_point(false);
        TestKey {
            kid: kid.into(),
            alg: SigningAlgorithm::ES256,
            enc: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid,
                "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())}),
        }
    }

    fn header(&self) -> Value {
        json!({"alg": self.alg.name(), "typ": "JWT", "kid": self.kid})
    }

    fn sign_raw(&self, alg: jsonwebtoken::Algorithm, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &self.enc, alg).unwrap();
        format!("{input}.{sig}")
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(self.alg.jwt(), &header.to_string(), &claims.to_string())
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    fn verification_key(&self) -> VerificationKey {
        VerificationKey::from_jwk(&self.jwk).unwrap()
    }
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "agent-7", "aud": ["warden", "other"], "exp": NOW + 300,
           "iat": NOW - 10, "jti": "j-1", "groups": ["dev", "ops"]})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

struct Fixture {
    ed: TestKey,
    attacker: TestKey,
    rsa: TestKey,
    rsa_pinned: TestKey,
    ec: TestKey,
    other_issuer_key: TestKey,
    issuers: HashMap<&'static str, (IssuerPolicy, KeySet)>,
}

fn issuer_config(issuer: &str, algorithms: Vec<SigningAlgorithm>) -> IssuerConfig {
    IssuerConfig {
        issuer: issuer.into(),
        jwks_uri: None,
        discovery_uri: None,
        audiences: vec!["warden".into()],
        algorithms,
        leeway_seconds: 30,
        subject_claim: "sub".into(),
        groups_claim: Some("groups".into()),
        kind: KindConfig::default(),
        allow_http: false,
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ed = TestKey::ed25519("ed-1");
        let attacker = TestKey::ed25519("ed-1");
        let rsa = TestKey::rsa("rsa-1", SigningAlgorithm::RS256, None);
        let rsa_pinned = TestKey::rsa("rsa-pinned", SigningAlgorithm::PS256, Some("RS256"));
        let ec = TestKey::p256("ec-1");
        let other_issuer_key = TestKey::ed25519("other-1");
        let keys = KeySet::new([
            ed.verification_key(),
            rsa.verification_key(),
            rsa_pinned.verification_key(),
            ec.verification_key(),
        ]);
        let mut algs = SigningAlgorithm::ALL.to_vec();
        algs.retain(|a| *a != SigningAlgorithm::RS512);
        let mut issuers = HashMap::new();
        issuers.insert(ISS, (IssuerPolicy::from(&issuer_config(ISS, algs)), keys));
        issuers.insert(
            ISS2,
            (
                IssuerPolicy::from(&issuer_config(ISS2, vec![SigningAlgorithm::EdDSA])),
                KeySet::new([other_issuer_key.verification_key()]),
            ),
        );
        Fixture {
            ed,
            attacker,
            rsa,
            rsa_pinned,
            ec,
            other_issuer_key,
            issuers,
        }
    })
}

/// What the authenticator does without caches: parse, pick the issuer, verify.
fn check(token: &str) -> Result<VerifiedToken, TokenError> {
    let parsed = token::parse(token, 4096)?;
    let (policy, keys) = fixture()
        .issuers
        .get(parsed.issuer_claim()?)
        .ok_or(TokenError::UnknownIssuer)?;
    token::verify(&parsed, policy, keys, NOW).map(|(v, _)| v)
}

fn seg(v: &Value) -> String {
    b64(v.to_string().as_bytes())
}

#[test]
fn valid_tokens_of_every_key_type_verify() {
    let f = fixture();
    for key in [&f.ed, &f.rsa, &f.ec] {
        let v = check(&key.token(&claims())).unwrap_or_else(|e| panic!("{}: {e}", key.kid));
        assert_eq!(v.subject, "agent-7");
        assert_eq!(v.issuer, ISS);
        assert_eq!(v.groups, vec!["dev".to_string(), "ops".into()]);
        assert_eq!(v.jti.as_deref(), Some("j-1"));
        assert_eq!(v.kind, IdentityKind::Human);
        assert_eq!(v.expires_at, NOW + 300);
    }
    // PS256 with an unpinned RSA key, and RS256 with the key pinned to RS256.
    let ps = TestKey::rsa("rsa-1", SigningAlgorithm::PS256, None);
    check(&ps.token(&claims())).unwrap();
    let pinned_rs = TestKey::rsa("rsa-pinned", SigningAlgorithm::RS256, None);
    check(&pinned_rs.token(&claims())).unwrap();
    // Within the leeway.
    check(&f.ed.token(&with(claims(), "exp", json!(NOW - 20)))).unwrap();
    check(&f.ed.token(&with(claims(), "nbf", json!(NOW + 20)))).unwrap();
    // Fractional NumericDate, single-string audience.
    check(
        &f.ed
            .token(&with(claims(), "exp", json!((NOW + 5) as f64 + 0.5))),
    )
    .unwrap();
    check(&f.ed.token(&with(claims(), "aud", json!("warden")))).unwrap();
    // Second issuer, its own key.
    let c = with(claims(), "iss", json!(ISS2));
    check(&f.other_issuer_key.token(&c)).unwrap();
}

#[test]
fn hostile_and_malformed_tokens_are_refused_with_their_reason() {
    use TokenError as E;
    let f = fixture();
    let good = f.ed.token(&claims());
    let mut parts = good.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let ed_header = f.ed.header();
    let none_header = json!({"alg": "none", "typ": "JWT"});
    let pubkey_bytes = URL_SAFE_NO_PAD
        .decode(f.ed.jwk["x"].as_str().unwrap())
        .unwrap();
    let hmac_with_public_key = {
        let input = format!("{}.{}", seg(&json!({"alg": "HS256", "kid": "ed-1"})), p);
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(&pubkey_bytes),
            jsonwebtoken::Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{sig}")
    };
    let other_payload = seg(&with(claims(), "sub", json!("root")));
    let many_groups: Vec<String> = (0..300).map(|i| format!("g{i}")).collect();

    let cases: Vec<(&str, String, TokenError)> = vec![
        ("empty", String::new(), E::Malformed("empty token")),
        ("oversized", "a".repeat(5000), E::TooLarge { max: 4096 }),
        (
            "two segments",
            format!("{h}.{p}"),
            E::Malformed("expected three dot-separated segments"),
        ),
        (
            "trailing dot",
            format!("{good}."),
            E::Malformed("expected three dot-separated segments"),
        ),
        (
            "five segments (JWE)",
            format!("{h}.{p}.{s}.a.b"),
            E::Malformed("encrypted tokens (JWE) are not supported"),
        ),
        (
            "standard base64 characters",
            format!("{h}.{p}+/.{s}"),
            E::Malformed("token has characters outside base64url"),
        ),
        (
            "padding",
            format!("{h}==.{p}.{s}"),
            E::Malformed("token has characters outside base64url"),
        ),
        (
            "embedded whitespace",
            format!("{h}. {p}.{s}"),
            E::Malformed("token has characters outside base64url"),
        ),
        (
            "empty header",
            format!(".{p}.{s}"),
            E::Malformed("empty header or payload"),
        ),
        (
            "alg none, empty signature",
            format!("{}.{p}.", seg(&none_header)),
            E::AlgNone,
        ),
        (
            "alg none with a signature",
            format!("{}.{p}.{s}", seg(&none_header)),
            E::AlgNone,
        ),
        (
            "alg NoNe",
            format!("{}.{p}.{s}", seg(&json!({"alg": "NoNe"}))),
            E::AlgNone,
        ),
        (
            "HS256 signed with the public key",
            hmac_with_public_key,
            E::Hmac,
        ),
        (
            "HS512",
            format!("{}.{p}.{s}", seg(&json!({"alg": "HS512"}))),
            E::Hmac,
        ),
        (
            "unsupported ES512",
            format!("{}.{p}.{s}", seg(&json!({"alg": "ES512", "kid": "ec-1"}))),
            E::UnsupportedAlgorithm,
        ),
        (
            "alg case changed",
            format!("{}.{p}.{s}", seg(&json!({"alg": "eddsa", "kid": "ed-1"}))),
            E::UnsupportedAlgorithm,
        ),
        (
            "header without alg",
            format!("{}.{p}.{s}", seg(&json!({"kid": "ed-1"}))),
            E::Malformed("header has no alg"),
        ),
        (
            "header not JSON",
            format!("{}.{p}.{s}", b64(b"{alg: EdDSA")),
            E::Malformed("header is not a JSON object"),
        ),
        (
            "header is a JSON array",
            format!("{}.{p}.{s}", b64(b"[\"EdDSA\"]")),
            E::Malformed("header is not a JSON object"),
        ),
        (
            "kid is a number",
            format!("{}.{p}.{s}", seg(&json!({"alg": "EdDSA", "kid": 1}))),
            E::Malformed("header is not a JSON object"),
        ),
        (
            "non-canonical base64 in header",
            format!("{}B.{p}.{s}", &h[..h.len() - 1]),
            E::Malformed("header is not base64url"),
        ),
        (
            "critical header",
            f.ed.sign(&with(ed_header.clone(), "crit", json!(["exp"])), &claims()),
            E::CriticalHeader,
        ),
        (
            "payload not base64",
            format!("{h}.{}a.{s}", p),
            E::Malformed("payload is not base64url"),
        ),
        (
            "payload is a JSON array",
            f.ed.sign(&ed_header, &json!(["sub", "root"])),
            E::Malformed("payload is not a JSON object"),
        ),
        (
            "tampered payload",
            format!("{h}.{other_payload}.{s}"),
            E::BadSignature,
        ),
        (
            "signature of another token",
            format!(
                "{h}.{p}.{}",
                f.ed.token(&with(claims(), "jti", json!("x")))
                    .rsplit('.')
                    .next()
                    .unwrap()
            ),
            E::BadSignature,
        ),
        (
            "truncated signature",
            format!("{h}.{p}.{}", &s[..s.len() - 2]),
            E::BadSignature,
        ),
        (
            "attacker key with a known kid",
            f.attacker.token(&claims()),
            E::BadSignature,
        ),
        (
            "unknown kid",
            f.ed.sign(&with(ed_header.clone(), "kid", json!("nope")), &claims()),
            E::UnknownKid,
        ),
        (
            "embedded attacker jwk",
            f.attacker.sign(
                &json!({"alg": "EdDSA", "kid": "evil", "jwk": f.attacker.jwk}),
                &claims(),
            ),
            E::UnknownKid,
        ),
        (
            "jku pointing elsewhere",
            f.attacker.sign(
                &json!({"alg": "EdDSA", "kid": "evil", "jku": "https://evil.example/jwks"}),
                &claims(),
            ),
            E::UnknownKid,
        ),
        (
            "no kid and several RSA keys",
            f.rsa.sign(&json!({"alg": "RS256"}), &claims()),
            E::AmbiguousKey,
        ),
        (
            "EdDSA header naming the RSA key",
            f.ed.sign(&json!({"alg": "EdDSA", "kid": "rsa-1"}), &claims()),
            E::KeyMismatch,
        ),
        (
            "PS256 with a key pinned to RS256",
            f.rsa_pinned.token(&claims()),
            E::KeyMismatch,
        ),
        (
            "RS512 outside the allow-list",
            TestKey::rsa("rsa-1", SigningAlgorithm::RS512, None).token(&claims()),
            E::AlgorithmNotAllowed(SigningAlgorithm::RS512),
        ),
        (
            "RS256 at an EdDSA-only issuer",
            f.rsa.token(&with(claims(), "iss", json!(ISS2))),
            E::AlgorithmNotAllowed(SigningAlgorithm::RS256),
        ),
        (
            "key of another issuer",
            f.other_issuer_key.token(&claims()),
            E::UnknownKid,
        ),
        (
            "untrusted issuer",
            f.ed.token(&with(claims(), "iss", json!("https://evil.example"))),
            E::UnknownIssuer,
        ),
        (
            "issuer with a trailing slash",
            f.ed.token(&with(claims(), "iss", json!(format!("{ISS}/")))),
            E::UnknownIssuer,
        ),
        (
            "no issuer",
            f.ed.token(&without(claims(), "iss")),
            E::MissingClaim("iss".into()),
        ),
        (
            "issuer is a number",
            f.ed.token(&with(claims(), "iss", json!(7))),
            E::InvalidClaim("iss".into()),
        ),
        (
            "expired",
            f.ed.token(&with(claims(), "exp", json!(NOW - 31))),
            E::Expired,
        ),
        (
            "no exp",
            f.ed.token(&without(claims(), "exp")),
            E::MissingClaim("exp".into()),
        ),
        (
            "exp is a string",
            f.ed.token(&with(claims(), "exp", json!("9999999999"))),
            E::InvalidClaim("exp".into()),
        ),
        (
            "exp is negative",
            f.ed.token(&with(claims(), "exp", json!(-1))),
            E::InvalidClaim("exp".into()),
        ),
        (
            "not yet valid",
            f.ed.token(&with(claims(), "nbf", json!(NOW + 31))),
            E::NotYetValid,
        ),
        (
            "issued in the future",
            f.ed.token(&with(claims(), "iat", json!(NOW + 3600))),
            E::IssuedInFuture,
        ),
        (
            "wrong audience",
            f.ed.token(&with(claims(), "aud", json!(["billing"]))),
            E::WrongAudience,
        ),
        (
            "no audience",
            f.ed.token(&without(claims(), "aud")),
            E::MissingClaim("aud".into()),
        ),
        (
            "audience list with a number",
            f.ed.token(&with(claims(), "aud", json!(["warden", 1]))),
            E::InvalidClaim("aud".into()),
        ),
        (
            "no subject",
            f.ed.token(&without(claims(), "sub")),
            E::MissingClaim("sub".into()),
        ),
        (
            "subject with a newline",
            f.ed.token(&with(claims(), "sub", json!("root\r\nx-admin: 1"))),
            E::InvalidClaim("sub".into()),
        ),
        (
            "too many groups",
            f.ed.token(&with(claims(), "groups", json!(many_groups))),
            E::InvalidClaim("groups".into()),
        ),
        (
            "groups is an object",
            f.ed.token(&with(claims(), "groups", json!({"admin": true}))),
            E::InvalidClaim("groups".into()),
        ),
    ];
    assert!(cases.len() >= 25, "{} cases", cases.len());
    for (name, token, expected) in &cases {
        let got = check(token);
        assert_eq!(got.as_ref().err(), Some(expected), "case {name:?}: {got:?}");
        let shown = expected.to_string();
        assert!(
            token.len() < 8 || !shown.contains(token.as_str()),
            "case {name:?}: reason contains the token"
        );
        for part in token.split('.').filter(|p| p.len() >= 8) {
            assert!(
                !shown.contains(part),
                "case {name:?}: reason echoes the token"
            );
        }
    }
}

#[test]
fn groups_claim_path_and_kind_rules() {
    let f = fixture();
    let mut c = issuer_config(ISS, vec![SigningAlgorithm::EdDSA]);
    c.groups_claim = Some("realm_access.roles".into());
    c.kind = KindConfig {
        default: IdentityKind::Human,
        agent_when: vec![ClaimMatch {
            claim: "azp".into(),
            values: vec!["ci-agent".into()],
        }],
        human_when: vec![],
    };
    let policy = IssuerPolicy::from(&c);
    let keys = KeySet::new([f.ed.verification_key()]);
    let run = |claims: Value| {
        let t = f.ed.token(&claims);
        let p = token::parse(&t, 4096).unwrap();
        token::verify(&p, &policy, &keys, NOW).map(|(v, _)| v)
    };
    let v = run(with(
        with(
            claims(),
            "realm_access",
            json!({"roles": ["admin", {"x": 1}, "dev"]}),
        ),
        "azp",
        json!("ci-agent"),
    ))
    .unwrap();
    assert_eq!(v.groups, vec!["admin".to_string(), "dev".into()]);
    assert_eq!(v.kind, IdentityKind::Agent);
    let v = run(with(claims(), "azp", json!("web-app"))).unwrap();
    assert!(v.groups.is_empty());
    assert_eq!(v.kind, IdentityKind::Human);

    // Defaults: `act` (delegation) or `client_id` make an agent.
    let default_policy = IssuerPolicy::from(&issuer_config(ISS, vec![SigningAlgorithm::EdDSA]));
    for (claim, value) in [
        ("act", json!({"sub": "agent-1"})),
        ("client_id", json!("bot")),
    ] {
        let t = f.ed.token(&with(claims(), claim, value));
        let p = token::parse(&t, 4096).unwrap();
        let (v, _) = token::verify(&p, &default_policy, &keys, NOW).unwrap();
        assert_eq!(v.kind, IdentityKind::Agent, "{claim}");
    }
}

#[test]
fn jwks_parsing_skips_unusable_keys() {
    let f = fixture();
    let doc = json!({"keys": [
        f.ed.jwk,
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "RSA", "kid": "small", "n": b64(&[0xff; 128]), "e": "AQAB"},
        {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": f.ed.jwk["x"]},
        {"kty": "OKP", "crv": "Ed25519", "kid": "bad-alg", "alg": "RS256", "x": f.ed.jwk["x"]},
        {"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"},
        "not an object",
    ]});
    let (set, skipped) = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(skipped, 7);
    assert!(KeySet::from_jwks(b"{\"keys\": []}").is_err());
    assert!(KeySet::from_jwks(b"[]").is_err());
}

#[test]
fn cache_control_sets_the_key_lifetime_within_bounds() {
    use super::authenticator::cache_ttl;
    let j = JwksConfig::default();
    let s = |v: Option<&str>| cache_ttl(v, &j).as_secs();
    assert_eq!(s(None), 300);
    assert_eq!(s(Some("public, max-age=600")), 600);
    assert_eq!(s(Some("max-age=1")), 30);
    assert_eq!(s(Some("no-store")), 30);
    assert_eq!(s(Some("max-age=99999999")), 86_400);
    assert_eq!(s(Some("s-maxage=120, max-age=900")), 120);
    assert_eq!(s(Some("max-age=abc")), 300);
}

fn head(headers: &[(&str, &str)]) -> RequestHead {
    let mut list: Vec<(&str, &[u8])> = vec![
        (":method", b"GET"),
        (":path", b"/repos/acme/x?y=1"),
        (":authority", b"api.github.com:443"),
    ];
    list.extend(headers.iter().map(|(n, v)| (*n, v.as_bytes())));
    RequestHead::from_header_list(list)
}

#[test]
fn token_extraction_from_headers() {
    let get = |h: &[(&str, &str)], name: &str| {
        let head = head(h);
        presented_token(&head.headers, name, 4096).map(|p| match p {
            Presented::None => None,
            Presented::Token(t) => Some(t.to_string()),
        })
    };
    assert_eq!(
        get(&[("authorization", "Bearer abc")], "authorization"),
        Ok(Some("abc".into()))
    );
    assert_eq!(
        get(&[("authorization", "bearer   abc ")], "authorization"),
        Ok(Some("abc".into()))
    );
    assert_eq!(
        get(&[("authorization", "Basic abc")], "authorization"),
        Ok(None)
    );
    assert_eq!(
        get(&[("authorization", "Bearerabc")], "authorization"),
        Ok(None)
    );
    assert_eq!(get(&[], "authorization"), Ok(None));
    assert_eq!(
        get(&[("authorization", "Bearer ")], "authorization"),
        Err(TokenError::Malformed("empty token"))
    );
    assert_eq!(
        get(
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
            "authorization"
        ),
        Err(TokenError::Malformed("more than one credential header"))
    );
    assert_eq!(
        get(&[("x-agent-token", "abc")], "x-agent-token"),
        Ok(Some("abc".into()))
    );
    assert_eq!(
        get(&[("x-agent-token", "Bearer abc")], "x-agent-token"),
        Ok(Some("abc".into()))
    );
    let big = format!("Bearer {}", "a".repeat(5000));
    assert_eq!(
        get(&[("authorization", &big)], "authorization"),
        Err(TokenError::TooLarge { max: 4096 })
    );
}

#[test]
fn replies_are_401_with_www_authenticate_and_a_json_reason() {
    let r = AuthError::InvalidToken(TokenError::Expired).reply("req-1");
    assert_eq!(r.status, 401);
    let www = r
        .headers
        .iter()
        .find(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        www,
        Some("Bearer realm=\"warden\", error=\"invalid_token\", error_description=\"token has expired\"")
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["reason"], "expired");
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert_eq!(body["error"]["request_id"], "req-1");
    assert_eq!(r.details, "warden_expired");

    let r = AuthError::MissingCredential.reply("req-2");
    assert_eq!(r.status, 401);
    assert!(r
        .headers
        .contains(&("www-authenticate".into(), "Bearer realm=\"warden\"".into())));
    let r = AuthError::IdpUnavailable.reply("req-3");
    assert_eq!(r.status, 503);
}

fn identity() -> Identity {
    Identity {
        subject: "alice\r\nx-evil: 1".into(),
        issuer: ISS.into(),
        groups: vec!["dev".into(), "ops".into()],
        kind: IdentityKind::Agent,
        session_id: Some("s-1".into()),
        source: IdentitySource::Jwt,
        acting_for: Vec::new(),
    }
}

#[test]
fn metadata_and_upstream_headers() {
    let id = identity();
    let m = id.metadata();
    assert!(m.contains(&("subject", id.subject.clone())));
    assert!(m.contains(&("groups", "dev,ops".into())));
    assert!(m.contains(&("session", "s-1".into())));
    assert!(m.contains(&("identity_kind", "agent".into())));

    let cfg = UpstreamHeadersConfig {
        subject: Some("x-warden-subject".into()),
        groups: Some("x-user-groups".into()),
        session: Some("x-session".into()),
        ..Default::default()
    };
    let c = upstream_identity_headers(&cfg, Some(&id));
    assert_eq!(
        c.set_headers,
        vec![
            (
                "x-warden-subject".to_string(),
                "alice%0D%0Ax-evil: 1".to_string()
            ),
            ("x-user-groups".into(), "dev,ops".into()),
            ("x-session".into(), "s-1".into()),
        ]
    );
    assert!(c.remove_headers.is_empty());
    let c = upstream_identity_headers(&cfg, None);
    assert!(c.set_headers.is_empty());
    assert_eq!(
        c.remove_headers,
        vec!["x-warden-subject", "x-user-groups", "x-session"]
    );
}

#[test]
fn session_id_from_headers() {
    let names = vec!["x-agent-session".to_string(), "mcp-session-id".into()];
    assert_eq!(
        session_from_headers(&head(&[("mcp-session-id", "m-1")]), &names).as_deref(),
        Some("m-1")
    );
    assert_eq!(
        session_from_headers(
            &head(&[("mcp-session-id", "m-1"), ("x-agent-session", "a-1")]),
            &names
        )
        .as_deref(),
        Some("a-1")
    );
    let long = "x".repeat(200);
    assert_eq!(
        session_from_headers(&head(&[("x-agent-session", &long)]), &names),
        None
    );
    assert_eq!(
        session_from_headers(&head(&[("x-agent-session", "a b")]), &names),
        None
    );
}

fn parse_config(yaml: &str) -> Result<IdentityConfig, String> {
    let c: IdentityConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

const EXAMPLE: &str = r#"
required: true
token: {header: authorization, max_bytes: 8192}
issuers:
  - issuer: https://idp.example/realms/agents
    audiences: [warden]
    algorithms: [RS256, EdDSA]
    leeway_seconds: 30
    groups_claim: realm_access.roles
    kind:
      default: human
      agent_when: [{claim: act}, {claim: azp, values: [ci-agent]}]
  - issuer: http://127.0.0.1:8081
    jwks_uri: http://127.0.0.1:8081/jwks.json
    audiences: [warden]
    allow_http: true
jwks: {max_stale_seconds: 3600}
spiffe:
  source: peer_certificate
  trust_domains: [mesh.example]
  groups: [{id_prefix: "spiffe://mesh.example/ns/agents/", groups: [agents]}]
session_headers: [x-agent-session, mcp-session-id]
upstream_headers: {subject: x-warden-subject, groups: x-warden-groups}
credentials:
  - name: github
    hosts: [api.github.com]
    path_prefix: /repos
    inject: {bearer: {file: /run/secrets/github-token}}
  - name: jira
    hosts: ["*.atlassian.net"]
    inject: {basic: {username: bot, password: {env: JIRA_PASSWORD}}}
  - name: search
    hosts: [search.internal]
    remove_headers: [x-agent-key]
    inject: {header: {name: x-api-key, value: {env: SEARCH_KEY}}}
"#;

#[test]
fn example_config_parses_and_validates() {
    let c = parse_config(EXAMPLE).unwrap();
    assert_eq!(c.issuers.len(), 2);
    assert_eq!(c.issuers[1].algorithms.len(), 9);
    assert_eq!(c.credentials.len(), 3);
    assert_eq!(c.spiffe.as_ref().unwrap().kind, IdentityKind::Agent);
    assert!(IdentityConfig::default().validate().is_err());
}

#[test]
fn config_errors_name_the_field() {
    let base = "issuers: [{issuer: 'https://i.example', audiences: [w]}]\n";
    let cases = [
        ("{}", "identity.required"),
        ("issuers: [{issuer: 'http://i.example', audiences: [w]}]", "identity.issuers[0].issuer"),
        ("issuers: [{issuer: 'https://i.example', audiences: []}]", "identity.issuers[0].audiences"),
        (
            "issuers: [{issuer: 'https://i.example', audiences: [w], algorithms: []}]",
            "identity.issuers[0].algorithms",
        ),
        (
            "issuers: [{issuer: 'https://i.example', audiences: [w], leeway_seconds: 9999}]",
            "identity.issuers[0].leeway_seconds",
        ),
        (
            "issuers: [{issuer: 'https://i.example', audiences: [w], groups_claim: 'a..b'}]",
            "identity.issuers[0].groups_claim",
        ),
        (
            "issuers: [{issuer: 'https://i.example', audiences: [w]}, {issuer: 'https://i.example', audiences: [w]}]",
            "identity.issuers[1].issuer",
        ),
        (&format!("{base}token: {{max_bytes: 10}}"), "identity.token.max_bytes"),
        (&format!("{base}token: {{header: X-Token}}"), "identity.token.header"),
        (
            &format!("{base}jwks: {{min_ttl_seconds: 100, max_ttl_seconds: 10}}"),
            "identity.jwks.min_ttl_seconds",
        ),
        (
            &format!("{base}spiffe: {{source: xfcc, trust_domains: []}}"),
            "identity.spiffe.trust_domains",
        ),
        (
            &format!("{base}upstream_headers: {{subject: authorization}}"),
            "identity.upstream_headers.subject",
        ),
        (
            &format!("{base}credentials: [{{name: a, hosts: [], inject: {{bearer: {{env: X}}}}}}]"),
            "identity.credentials[0].hosts",
        ),
        (
            &format!("{base}credentials: [{{name: a, hosts: [a.example], inject: {{basic: {{username: 'a:b', password: {{env: X}}}}}}}}]"),
            "identity.credentials[0].inject.basic.username",
        ),
    ];
    for (yaml, field) in cases {
        let e = parse_config(yaml).expect_err(yaml);
        assert!(e.starts_with(&format!("{field}:")), "{yaml}\n→ {e}");
    }
    // Unknown fields are errors.
    let e = parse_config(&format!("{base}tokn: {{}}")).unwrap_err();
    assert!(e.contains("unknown field `tokn`"), "{e}");
    let e = parse_config(
        "issuers: [{issuer: 'https://i.example', audiences: [w], algorithms: [HS256]}]",
    )
    .unwrap_err();
    assert!(e.contains("unknown variant `HS256`"), "{e}");
}

fn rule(inject: Injection) -> CredentialRule {
    CredentialRule {
        name: "gh".into(),
        hosts: vec!["api.github.com".into(), "*.corp.example".into()],
        path_prefix: Some("/repos".into()),
        remove_headers: vec!["x-agent-key".into()],
        inject,
    }
}

#[test]
fn injection_strips_agent_credentials_and_sets_the_upstream_one() {
    let r = rule(Injection::Bearer(SecretSource::Env("UNUSED".into())));
    let h = head(&[
        ("authorization", "Bearer agent-token"),
        ("x-agent-key", "k"),
        ("x-agent-token", "t"),
    ]);
    let inj = inject::injection_changes(&h, &r, "x-agent-token", "ghp_upstream_secret");
    assert_eq!(
        inj.changes.set_headers,
        vec![(
            "authorization".to_string(),
            "Bearer ghp_upstream_secret".to_string()
        )]
    );
    assert_eq!(
        inj.changes.remove_headers,
        vec!["x-agent-token", "x-agent-key"]
    );
    assert!(inj.secrets.contains(&b"ghp_upstream_secret".to_vec()));
    assert!(!format!("{inj:?}").contains("ghp_upstream_secret"));

    let r = rule(Injection::Basic {
        username: "bot".into(),
        password: SecretSource::Env("UNUSED".into()),
    });
    let inj = inject::injection_changes(&h, &r, "authorization", "hunter22");
    let encoded = URL_SAFE_NO_PAD.encode("bot:hunter22"); // same alphabet for this input
    assert_eq!(inj.changes.set_headers[0].1, format!("Basic {encoded}"));
    assert!(inj.secrets.contains(&encoded.into_bytes()));

    let r = rule(Injection::Header {
        name: "x-api-key".into(),
        value: SecretSource::Env("UNUSED".into()),
        prefix: "token ".into(),
    });
    let inj = inject::injection_changes(&h, &r, "authorization", "k-123456");
    assert_eq!(
        inj.changes.set_headers,
        vec![("x-api-key".to_string(), "token k-123456".to_string())]
    );
    assert_eq!(
        inj.changes.remove_headers,
        vec!["authorization", "x-agent-key"]
    );
}

#[test]
fn rules_match_host_and_path_prefix() {
    let r = rule(Injection::Bearer(SecretSource::Env("UNUSED".into())));
    let at = |authority: &str, path: &str| {
        let h = RequestHead {
            authority: authority.into(),
            path: path.into(),
            ..Default::default()
        };
        inject::rule_matches(&r, &h)
    };
    assert!(at("api.github.com", "/repos/a"));
    assert!(at("API.GitHub.com:443", "/repos?x=1"));
    assert!(at("x.corp.example", "/repos"));
    assert!(!at("corp.example", "/repos"));
    assert!(!at("evilcorp.example", "/repos"));
    assert!(!at("api.github.com.evil.example", "/repos"));
    assert!(!at("api.github.com", "/reposx"));
    assert!(!at("api.github.com", "/user"));
}

#[test]
fn credential_paths_match_as_normalised_and_ambiguous_ones_are_refused() {
    let r = rule(Injection::Bearer(SecretSource::Env("UNUSED".into())));
    let at = |path: &str| {
        let h = RequestHead {
            authority: "api.github.com".into(),
            path: path.into(),
            ..Default::default()
        };
        inject::rule_match(&r, &h)
    };
    use inject::RuleMatch::{Ambiguous, Applies, DoesNotApply};
    assert_eq!(at("/repos/a"), Applies);
    assert_eq!(at("/repos/./a"), Applies, "both readings are under /repos");
    assert_eq!(at("/user/x"), DoesNotApply);
    // Written under the prefix, but the upstream acts on /admin/x.
    assert_eq!(at("/repos/../admin/x"), Ambiguous);
    assert_eq!(at("/repos/a/../../admin"), Ambiguous);
    assert_eq!(at("/repos/%2e%2e/admin"), Ambiguous);
    assert_eq!(at("/repos/..%5c..%5cadmin"), Ambiguous);
    // Neither reading is under the prefix: no credential, nothing to refuse.
    assert_eq!(at("/repos\\..\\..\\admin"), DoesNotApply);
    // Written elsewhere, read as under the prefix.
    assert_eq!(at("/x/../repos/a"), Ambiguous);
    assert_eq!(at("/%72epos/a"), Ambiguous);
    assert_eq!(at("//repos/a"), Ambiguous);
    assert_eq!(at("/repos%2Fa"), Ambiguous);
}

#[test]
fn injector_rereads_a_changed_file_and_keeps_the_last_good_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "first-secret\n").unwrap();
    let rules = vec![rule(Injection::Bearer(SecretSource::File(path.clone())))];
    let inj = CredentialInjector::new(&rules, "authorization", 0).unwrap();
    let h = head(&[("authorization", "Bearer agent")]);
    let value = |i: &CredentialInjector| {
        i.apply(&h).unwrap().unwrap().changes.set_headers[0]
            .1
            .clone()
    };
    assert_eq!(value(&inj), "Bearer first-secret");

    // Replace by rename (as secret mounts and editors do): a new inode.
    let tmp = dir.path().join("token.new");
    std::fs::write(&tmp, "second-secret-longer\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(value(&inj), "Bearer second-secret-longer");
    assert_eq!(
        inj.secret_values(),
        vec![
            b"second-secret-longer".to_vec(),
            b"Bearer second-secret-longer".to_vec()
        ]
    );

    // An unusable new version (too short) keeps the last good value; so does deletion.
    std::fs::write(&tmp, "abc").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(value(&inj), "Bearer second-secret-longer");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(value(&inj), "Bearer second-secret-longer");

    // At start, a missing or short secret is an error that names the field.
    let e = CredentialInjector::new(&rules, "authorization", 0).unwrap_err();
    assert!(
        e.to_string().starts_with("identity.credentials[0].inject"),
        "{e}"
    );
    let known = inj.known_secrets();
    assert_eq!(known[0].label, "credential:gh");
    assert!(!format!("{known:?}").contains("second-secret"));
}

#[test]
fn injected_secrets_are_masked_when_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "upstream-Secret-9f8e7d").unwrap();
    let rules = vec![rule(Injection::Bearer(SecretSource::File(path)))];
    let inj = CredentialInjector::new(&rules, "authorization", 1000).unwrap();
    let redactor = crate::redact::Redactor::with_defaults().unwrap();
    redactor.set_known_secrets(&inj.known_secrets()).unwrap();
    let echoed = br#"{"headers":{"authorization":"Bearer upstream-Secret-9f8e7d"}}"#;
    let out = redactor.redact(
        echoed,
        crate::redact::ContentKind::Json,
        crate::redact::Direction::Response,
    );
    assert!(
        !String::from_utf8_lossy(&out.body).contains("upstream-Secret-9f8e7d"),
        "{}",
        String::from_utf8_lossy(&out.body)
    );
}
