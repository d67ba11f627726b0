//! The authenticator against a local OIDC discovery + JWKS server (axum, in-process, on a
//! free port), with keys made at test time and an injectable clock. Synchronisation is by
//! polling observable state, never by sleeping.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use warden::dev::issuer::DevKey;
use warden::http::RequestHead;
use warden::identity::{
    AuthError, Authenticator, Clock, IdentityConfig, IdentityKind, IdentitySource, ManualClock,
    PeerAttributes, TokenError,
};

/// The fake IdP: what it publishes and what it saw.
struct Idp {
    issuer: Mutex<String>,
    keys: Mutex<Vec<Value>>,
    max_age: Mutex<Option<u64>>,
    down: AtomicBool,
    jwks_requests: AtomicU64,
    discovery_requests: AtomicU64,
    /// While true, JWKS responses wait for the gate to open.
    gate: tokio::sync::watch::Sender<bool>,
}

impl Idp {
    fn publish(&self, keys: &[&DevKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }
}

async fn discovery(State(idp): State<Arc<Idp>>) -> Response {
    idp.discovery_requests.fetch_add(1, Ordering::SeqCst);
    if idp.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = idp.issuer.lock().unwrap().clone();
    Json(json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")})).into_response()
}

async fn jwks(State(idp): State<Arc<Idp>>) -> Response {
    idp.jwks_requests.fetch_add(1, Ordering::SeqCst);
    let mut gate = idp.gate.subscribe();
    // Hold the response while the test keeps the gate closed.
    let _ = gate.wait_for(|closed| !*closed).await;
    if idp.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = idp.keys.lock().unwrap().clone();
    let cache = match *idp.max_age.lock().unwrap() {
        Some(s) => format!("public, max-age={s}"),
        None => "public".into(),
    };
    (
        [(header::CACHE_CONTROL, cache)],
        Json(json!({ "keys": keys })),
    )
        .into_response()
}

async fn start_idp() -> (Arc<Idp>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (gate, _) = tokio::sync::watch::channel(false);
    let idp = Arc::new(Idp {
        issuer: Mutex::new(issuer.clone()),
        keys: Mutex::new(Vec::new()),
        max_age: Mutex::new(None),
        down: AtomicBool::new(false),
        jwks_requests: AtomicU64::new(0),
        discovery_requests: AtomicU64::new(0),
        gate,
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/keys", get(jwks))
        .with_state(Arc::clone(&idp));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (idp, issuer)
}

fn config(issuer: &str, extra: &str) -> IdentityConfig {
    let yaml = format!(
        "issuers:\n  - {{issuer: '{issuer}', audiences: [warden], allow_http: true, \
         groups_claim: groups}}\n\
         jwks: {{default_ttl_seconds: 300, max_stale_seconds: 3600, \
         refresh_min_interval_seconds: 10, fetch_timeout_ms: 5000}}\n{extra}"
    );
    let c: IdentityConfig = serde_yaml_ng::from_str(&yaml).unwrap();
    c.validate().unwrap();
    c
}

fn authenticator(c: &IdentityConfig) -> (Authenticator, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_system_time());
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    (Authenticator::with_clock(c, dyn_clock).unwrap(), clock)
}

/// A token valid for `ttl` seconds from the clock's `now`.
fn token(key: &DevKey, issuer: &str, clock: &ManualClock, sub: &str, ttl: u64) -> String {
    let now = clock.now().as_secs();
    key.sign_compact(
        &json!({"alg": "EdDSA", "kid": key.kid()}),
        &json!({"iss": issuer, "sub": sub, "aud": "warden", "iat": now, "exp": now + ttl,
                "jti": format!("jti-{sub}"), "groups": ["dev"], "client_id": "bot"}),
    )
}

fn request(token: &str) -> RequestHead {
    let auth = format!("Bearer {token}");
    RequestHead::from_header_list([
        (":method", b"GET".as_slice()),
        (":path", b"/"),
        (":authority", b"api.example"),
        ("authorization", auth.as_bytes()),
    ])
}

fn no_peer() -> PeerAttributes {
    PeerAttributes::default()
}

async fn auth(a: &Authenticator, token: &str) -> Result<String, AuthError> {
    a.authenticate(&request(token), &no_peer())
        .await
        .map(|id| id.expect("identity").subject)
}

/// Polls until `cond` holds (bounded: fails the test after 10 s).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    // A poll, not a wait for time to pass: checks every millisecond, bounded.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tick.tick().await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn discovery_jwks_and_the_token_cache() {
    let (idp, issuer) = start_idp().await;
    let key = DevKey::generate();
    idp.publish(&[&key]);
    let (a, clock) = authenticator(&config(&issuer, ""));
    let t = token(&key, &issuer, &clock, "agent-1", 300);

    let head = RequestHead::from_header_list([
        (":method", b"GET".as_slice()),
        (":path", b"/"),
        ("authorization", format!("Bearer {t}").as_bytes()),
        ("mcp-session-id", b"mcp-42"),
    ]);
    let id = a.authenticate(&head, &no_peer()).await.unwrap().unwrap();
    assert_eq!(id.subject, "agent-1");
    assert_eq!(id.issuer, issuer);
    assert_eq!(id.groups, vec!["dev".to_string()]);
    assert_eq!(id.kind, IdentityKind::Agent);
    assert_eq!(id.session_id.as_deref(), Some("mcp-42"));
    assert_eq!(id.source, IdentitySource::Jwt);
    assert_eq!(idp.discovery_requests.load(Ordering::SeqCst), 1);
    assert_eq!(a.jwks_fetch_count(), 1);

    // Cached: same answer, no fetch; the session falls back to `jti` without a header.
    let id = a
        .authenticate(&request(&t), &no_peer())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id.session_id.as_deref(), Some("jti-agent-1"));
    assert_eq!(
        a.authenticate_now(&request(&t), &no_peer())
            .unwrap()
            .unwrap()
            .unwrap()
            .subject,
        "agent-1"
    );
    // A second token with a known key needs no fetch either.
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "agent-2", 300))
            .await
            .unwrap(),
        "agent-2"
    );
    assert_eq!(a.jwks_fetch_count(), 1);
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), 1);

    // The cache honours `exp`: after it (plus leeway) the token is refused.
    clock.advance(Duration::from_secs(331));
    assert_eq!(
        auth(&a, &t).await,
        Err(AuthError::InvalidToken(TokenError::Expired))
    );
}

#[tokio::test]
async fn key_rotation_during_the_test() {
    let (idp, issuer) = start_idp().await;
    let old = DevKey::generate();
    let new = DevKey::generate();
    idp.publish(&[&old]);
    let (a, clock) = authenticator(&config(&issuer, ""));
    let t_old = token(&old, &issuer, &clock, "old", 3000);
    assert_eq!(auth(&a, &t_old).await.unwrap(), "old");

    // The IdP rotates: both keys published, new tokens signed with the new key.
    idp.publish(&[&new, &old]);
    // (Refreshes are rate-limited per issuer: the rotation comes after the interval.)
    clock.advance(Duration::from_secs(10));
    let t_new = token(&new, &issuer, &clock, "new", 3000);
    assert_eq!(auth(&a, &t_new).await.unwrap(), "new");
    assert_eq!(a.jwks_fetch_count(), 2, "unknown kid triggered one refresh");
    assert_eq!(auth(&a, &t_old).await.unwrap(), "old");

    // The old key is withdrawn; once the key set's lifetime ends, a background refresh
    // picks that up and tokens signed with it fail even though they were cached.
    idp.publish(&[&new]);
    clock.advance(Duration::from_secs(301));
    assert_eq!(auth(&a, &t_new).await.unwrap(), "new");
    eventually("background refresh", || a.jwks_fetch_count() == 3).await;
    assert_eq!(
        auth(&a, &t_old).await,
        Err(AuthError::InvalidToken(TokenError::UnknownKid))
    );
    assert_eq!(auth(&a, &t_new).await.unwrap(), "new");
}

#[tokio::test]
async fn idp_down_cached_keys_still_verify_and_unknown_kids_fail_closed() {
    let (idp, issuer) = start_idp().await;
    let key = DevKey::generate();
    let unknown = DevKey::generate();
    idp.publish(&[&key]);
    let (a, clock) = authenticator(&config(&issuer, ""));
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "a", 60))
            .await
            .unwrap(),
        "a"
    );

    idp.down.store(true, Ordering::SeqCst);
    // Past the key set's lifetime but within max_stale: stale keys keep serving.
    clock.advance(Duration::from_secs(400));
    let requests_before = idp.jwks_requests.load(Ordering::SeqCst);
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "b", 60))
            .await
            .unwrap(),
        "b"
    );
    // The background refresh it triggered failed; nothing changed.
    eventually("refresh attempt", || {
        idp.jwks_requests.load(Ordering::SeqCst) > requests_before
    })
    .await;
    assert_eq!(a.jwks_fetch_count(), 1);

    // An unknown kid while the IdP is down fails closed (after at most one attempt).
    clock.advance(Duration::from_secs(11));
    let t = token(&unknown, &issuer, &clock, "x", 60);
    assert_eq!(
        auth(&a, &t).await,
        Err(AuthError::InvalidToken(TokenError::UnknownKid))
    );
    assert_eq!(
        auth(&a, &t).await,
        Err(AuthError::InvalidToken(TokenError::UnknownKid))
    );
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "c", 60))
            .await
            .unwrap(),
        "c"
    );

    // Past max_stale, keys are no longer trusted: 503, fail closed.
    clock.advance(Duration::from_secs(3600));
    let e = auth(&a, &token(&key, &issuer, &clock, "d", 60))
        .await
        .unwrap_err();
    assert_eq!(e, AuthError::IdpUnavailable);
    assert_eq!(e.reply("r").status, 503);

    // The IdP comes back: the next allowed attempt restores service.
    idp.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "e", 60))
            .await
            .unwrap(),
        "e"
    );
}

#[tokio::test]
async fn first_use_with_the_idp_down_is_503_and_rate_limited() {
    let (idp, issuer) = start_idp().await;
    let key = DevKey::generate();
    idp.publish(&[&key]);
    idp.down.store(true, Ordering::SeqCst);
    let (a, clock) = authenticator(&config(&issuer, ""));
    let t = token(&key, &issuer, &clock, "a", 600);
    assert_eq!(auth(&a, &t).await, Err(AuthError::IdpUnavailable));
    let seen = idp.discovery_requests.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(auth(&a, &t).await, Err(AuthError::IdpUnavailable));
    }
    assert_eq!(
        idp.discovery_requests.load(Ordering::SeqCst),
        seen,
        "rate-limited"
    );
    idp.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(10));
    assert_eq!(auth(&a, &t).await.unwrap(), "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_refresh_is_single_flight() {
    let (idp, issuer) = start_idp().await;
    let key = DevKey::generate();
    let rotated = DevKey::generate();
    idp.publish(&[&key]);
    // No rate limit here, so only the single-flight logic can keep fetches at one.
    let (a, clock) = authenticator(&config(&issuer, ""));
    let c = {
        let mut c = a.config().clone();
        c.jwks.refresh_min_interval_seconds = 0;
        c
    };
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let a = Authenticator::with_clock(&c, dyn_clock).unwrap();
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "warm", 600))
            .await
            .unwrap(),
        "warm"
    );
    let before = idp.jwks_requests.load(Ordering::SeqCst);

    idp.publish(&[&key, &rotated]);
    idp.gate.send_replace(true);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let a = a.clone();
        let t = token(&rotated, &issuer, &clock, &format!("c{i}"), 600);
        tasks.push(tokio::spawn(async move { auth(&a, &t).await }));
    }
    // One fetch is in flight (held at the gate); the others queue behind it.
    eventually("the first fetch", || {
        idp.jwks_requests.load(Ordering::SeqCst) == before + 1
    })
    .await;
    idp.gate.send_replace(false);
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), format!("c{i}"));
    }
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn unknown_kid_refresh_is_rate_limited() {
    let (idp, issuer) = start_idp().await;
    let key = DevKey::generate();
    idp.publish(&[&key]);
    let (a, clock) = authenticator(&config(&issuer, ""));
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "a", 600))
            .await
            .unwrap(),
        "a"
    );
    let forged: Vec<DevKey> = (0..20).map(|_| DevKey::generate()).collect();
    for k in &forged {
        assert_eq!(
            auth(&a, &token(k, &issuer, &clock, "f", 600)).await,
            Err(AuthError::InvalidToken(TokenError::UnknownKid))
        );
    }
    assert_eq!(
        idp.jwks_requests.load(Ordering::SeqCst),
        1,
        "forged kids did not reach the IdP"
    );
    clock.advance(Duration::from_secs(10));
    let _ = auth(&a, &token(&forged[0], &issuer, &clock, "f", 600)).await;
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn cache_control_max_age_drives_the_refresh() {
    let (idp, issuer) = start_idp().await;
    let key = DevKey::generate();
    idp.publish(&[&key]);
    *idp.max_age.lock().unwrap() = Some(60);
    let (a, clock) = authenticator(&config(&issuer, "token_cache: {enabled: false}\n"));
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "a", 600))
            .await
            .unwrap(),
        "a"
    );
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "b", 600))
            .await
            .unwrap(),
        "b"
    );
    assert_eq!(idp.jwks_requests.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        auth(&a, &token(&key, &issuer, &clock, "c", 600))
            .await
            .unwrap(),
        "c"
    );
    eventually("refresh after max-age", || a.jwks_fetch_count() == 2).await;
}

#[tokio::test]
async fn several_issuers_and_discovery_issuer_mismatch() {
    let (idp1, iss1) = start_idp().await;
    let (idp2, iss2) = start_idp().await;
    let (k1, k2) = (DevKey::generate(), DevKey::generate());
    idp1.publish(&[&k1]);
    idp2.publish(&[&k2]);
    let yaml = format!(
        "issuers:\n  - {{issuer: '{iss1}', audiences: [warden], allow_http: true}}\n  \
         - {{issuer: '{iss2}', audiences: [warden], allow_http: true, jwks_uri: '{iss2}/keys'}}\n"
    );
    let c: IdentityConfig = serde_yaml_ng::from_str(&yaml).unwrap();
    let (a, clock) = authenticator(&c);
    assert_eq!(
        auth(&a, &token(&k1, &iss1, &clock, "one", 60))
            .await
            .unwrap(),
        "one"
    );
    assert_eq!(
        auth(&a, &token(&k2, &iss2, &clock, "two", 60))
            .await
            .unwrap(),
        "two"
    );
    assert_eq!(
        idp2.discovery_requests.load(Ordering::SeqCst),
        0,
        "explicit jwks_uri"
    );
    // A token claiming issuer 1 but signed with issuer 2's key.
    assert!(auth(&a, &token(&k2, &iss1, &clock, "x", 60)).await.is_err());

    // A discovery document naming another issuer is not trusted.
    let (idp3, iss3) = start_idp().await;
    idp3.publish(&[&k1]);
    *idp3.issuer.lock().unwrap() = "https://evil.example".into();
    let (a3, clock3) = authenticator(&config(&iss3, ""));
    assert_eq!(
        auth(&a3, &token(&k1, &iss3, &clock3, "x", 60)).await,
        Err(AuthError::IdpUnavailable)
    );
}

#[tokio::test]
async fn no_credential_required_or_not_and_mesh_identity() {
    let c = config("https://idp.example", "");
    let (a, _) = authenticator(&c);
    let bare = RequestHead::from_header_list([(":method", b"GET".as_slice()), (":path", b"/")]);
    assert_eq!(
        a.authenticate(&bare, &no_peer()).await,
        Err(AuthError::MissingCredential)
    );

    let c = config("https://idp.example", "required: false\n");
    let (a, _) = authenticator(&c);
    assert_eq!(a.authenticate(&bare, &no_peer()).await, Ok(None));
    // A presented but broken credential is refused even when none is required.
    assert_eq!(
        auth(&a, "not-a-token").await,
        Err(AuthError::InvalidToken(TokenError::Malformed(
            "expected three dot-separated segments"
        )))
    );

    let c = config(
        "https://idp.example",
        "spiffe: {source: peer_certificate, trust_domains: [mesh.example]}\n",
    );
    let (a, _) = authenticator(&c);
    let peer = PeerAttributes {
        uri_san_peer_certificate: Some("spiffe://mesh.example/ns/a/sa/coder".into()),
    };
    let id = a.authenticate(&bare, &peer).await.unwrap().unwrap();
    assert_eq!(id.source, IdentitySource::Spiffe);
    assert_eq!(id.kind, IdentityKind::Agent);
    let evil = PeerAttributes {
        uri_san_peer_certificate: Some("spiffe://evil.example/x".into()),
    };
    assert_eq!(
        a.authenticate(&bare, &evil).await.unwrap_err().code(),
        "spiffe_untrusted_domain"
    );
}

#[tokio::test]
async fn the_token_never_appears_in_errors_or_replies() {
    let (idp, issuer) = start_idp().await;
    let key = DevKey::generate();
    idp.publish(&[&key]);
    let (a, clock) = authenticator(&config(&issuer, ""));
    let expired = token(&key, &issuer, &clock, "a", 0);
    clock.advance(Duration::from_secs(100));
    let e = auth(&a, &expired).await.unwrap_err();
    let reply = e.reply("r");
    let shown = format!(
        "{e} {e:?} {:?} {}",
        reply.headers,
        String::from_utf8_lossy(&reply.body)
    );
    for part in expired.split('.') {
        assert!(!shown.contains(part), "{shown}");
    }
}

#[tokio::test]
async fn https_issuers_are_fetched_over_tls() {
    // Nothing listens on port 1: the point is that the attempt is a TLS connection
    // (the client has a TLS backend), not an unsupported-scheme error.
    let c: IdentityConfig = serde_yaml_ng::from_str(
        "issuers: [{issuer: 'https://127.0.0.1:1', audiences: [warden]}]\n",
    )
    .unwrap();
    let a = Authenticator::new(&c).unwrap();
    let results = a.prefetch().await;
    let err = results[0].1.as_ref().unwrap_err();
    assert!(!err.to_lowercase().contains("scheme"), "{err}");
    assert!(
        err.contains("https://127.0.0.1:1/.well-known/openid-configuration"),
        "{err}"
    );
}
