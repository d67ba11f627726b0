//! Identity verification cost per request (issue 3).
//!
//! - `cached`: a repeat token through `Authenticator::authenticate_now` (hash + cache
//!   lookup + identity clone). Target ≤ 5 µs.
//! - `first/*`: a token never seen before: Warden's pure `parse + verify`, the whole
//!   `Authenticator` with the token cache off, and jsonwebtoken's own `decode` with the
//!   same key and checks. Target: Warden ≤ 1.2× `decode`.
//!
//! Run: `cargo bench -p warden --bench identity`

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{json, Map, Value};
use warden::dev::issuer::{mint_token, serve_issuer, DevKey};
use warden::http::RequestHead;
use warden::identity::token::{self, IssuerPolicy, KeySet, VerificationKey};
use warden::identity::{Authenticator, IdentityConfig, IssuerConfig, PeerAttributes};

fn head(token: &str) -> RequestHead {
    let auth = format!("Bearer {token}");
    RequestHead::from_header_list([
        (":method", b"GET".as_slice()),
        (":path", b"/api/customers"),
        (":authority", b"api.example"),
        ("authorization", auth.as_bytes()),
        ("user-agent", b"bench"),
    ])
}

fn issuer_config(issuer: &str) -> IssuerConfig {
    serde_yaml_ng::from_str(&format!(
        "{{issuer: '{issuer}', audiences: [warden], allow_http: true}}"
    ))
    .expect("issuer config")
}

fn authenticator(issuer: &str, cache: bool) -> Authenticator {
    let yaml = format!(
        "issuers: [{{issuer: '{issuer}', audiences: [warden], allow_http: true}}]\n\
         token_cache: {{enabled: {cache}}}\n"
    );
    let c: IdentityConfig = serde_yaml_ng::from_str(&yaml).expect("config");
    Authenticator::new(&c).expect("authenticator")
}

fn bench_identity(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let key_dir: &Path = dir.path();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    DevKey::load_or_create(key_dir).expect("key");
    {
        let (issuer, key_dir) = (issuer.clone(), key_dir.to_path_buf());
        runtime.spawn(async move {
            let _ = serve_issuer(listener, &key_dir, issuer, std::future::pending()).await;
        });
    }
    let mut extra = Map::new();
    extra.insert("client_id".into(), json!("bench-agent"));
    let groups = vec!["dev".to_string(), "ops".to_string()];
    let token = mint_token(
        key_dir,
        &issuer,
        "agent-1",
        &groups,
        Duration::from_secs(3600),
        &extra,
    )
    .expect("mint");
    let peer = PeerAttributes::default();
    let request = head(&token);

    // Warm: keys fetched and the token verified once.
    let cached = authenticator(&issuer, true);
    let uncached = authenticator(&issuer, false);
    for a in [&cached, &uncached] {
        runtime
            .block_on(a.authenticate(&request, &peer))
            .expect("verifies")
            .expect("identity");
    }
    let _guard = runtime.enter();

    c.bench_function("identity/cached", |b| {
        b.iter(|| {
            let r = cached.authenticate_now(&request, &peer);
            assert!(matches!(r, Some(Ok(Some(_)))));
            r
        })
    });

    // The same Ed25519 key, both ways.
    let key = DevKey::load_or_create(key_dir).expect("key");
    let jwk: Value = key.jwk();
    let keys = KeySet::new([VerificationKey::from_jwk(&jwk).expect("jwk")]);
    let policy = IssuerPolicy::from(&issuer_config(&issuer));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let jwt_key = DecodingKey::from_jwk(&serde_json::from_value(jwk).expect("jwk")).expect("key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["warden"]);
    validation.set_issuer(&[issuer.as_str()]);
    validation.leeway = 30;

    let mut group = c.benchmark_group("identity/first/EdDSA");
    group.bench_function("warden_parse_verify", |b| {
        b.iter(|| {
            let p = token::parse(&token, 8192).expect("parse");
            token::verify(&p, &policy, &keys, now).expect("verify")
        })
    });
    group.bench_function("warden_authenticator_uncached", |b| {
        b.iter(|| {
            let r = uncached.authenticate_now(&request, &peer);
            assert!(matches!(r, Some(Ok(Some(_)))));
            r
        })
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(&token, &jwt_key, &validation).expect("decode"))
    });
    group.finish();

    // RS256 with a 2048-bit key.
    rs256(c, &issuer, now);
    drop(dir);
}

fn rs256(c: &mut Criterion, issuer: &str, now: u64) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let sk = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("rsa");
    let enc = EncodingKey::from_rsa_der(sk.to_pkcs1_der().expect("der").as_bytes());
    let jwk = json!({"kty": "RSA", "kid": "r1", "n": URL_SAFE_NO_PAD.encode(sk.n().to_bytes_be()),
                     "e": URL_SAFE_NO_PAD.encode(sk.e().to_bytes_be())});
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some("r1".into());
    let claims = json!({"iss": issuer, "sub": "agent-1", "aud": "warden", "exp": now + 3600,
                        "iat": now, "groups": ["dev", "ops"], "jti": "j1"});
    let token = jsonwebtoken::encode(&header, &claims, &enc).expect("encode");
    let keys = KeySet::new([VerificationKey::from_jwk(&jwk).expect("jwk")]);
    let policy = IssuerPolicy::from(&issuer_config(issuer));
    let jwt_key = DecodingKey::from_jwk(&serde_json::from_value(jwk).expect("jwk")).expect("key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["warden"]);
    validation.set_issuer(&[issuer]);
    let mut group = c.benchmark_group("identity/first/RS256");
    group.bench_function("warden_parse_verify", |b| {
        b.iter(|| {
            let p = token::parse(&token, 8192).expect("parse");
            token::verify(&p, &policy, &keys, now).expect("verify")
        })
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(&token, &jwt_key, &validation).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, bench_identity);
criterion_main!(benches);
