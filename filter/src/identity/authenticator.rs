//! The async shell around the pure verifier: discovery, JWKS cache, refresh, and the
//! verified-token cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moka::sync::Cache;
use reqwest::Url;
use sha2::{Digest, Sha256};

use super::config::{IdentityConfig, IdentityConfigError, JwksConfig};
use super::spiffe::spiffe_identity;
use super::token::{self, IssuerPolicy, KeySet, TokenError, VerificationKey, VerifiedToken};
use super::{
    presented_token, session_from_headers, upstream_identity_headers, AuthError, HeaderChanges,
    Identity, IdentitySource, PeerAttributes, Presented,
};
use crate::http::RequestHead;

/// Longest a verified token stays cached, whatever its `exp` says: bounds how long a
/// revoked-by-rotation key keeps working through the cache.
const MAX_TOKEN_CACHE_TTL: Duration = Duration::from_secs(3600);

/// Wall-clock time, injectable so expiry and refresh rate limits are testable without
/// sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since the Unix epoch.
    fn now(&self) -> Duration;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        // A clock before 1970 is a broken host; treating it as the epoch makes every
        // token "not yet valid", which fails closed.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A clock that moves only when told to (tests, benchmarks).
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `start` since the epoch.
    pub fn new(start: Duration) -> Self {
        Self {
            millis: AtomicU64::new(start.as_millis() as u64),
        }
    }

    /// A clock standing at the current system time.
    pub fn at_system_time() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.millis
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, to: Duration) {
        self.millis.store(to.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// One issuer's key set as fetched.
struct KeyEntry {
    keys: Arc<KeySet>,
    fresh_until_ms: u64,
    usable_until_ms: u64,
    /// For moka's own eviction (real time): lifetime plus the stale allowance.
    moka_ttl: Duration,
}

/// A verified token, remembered until its `exp`.
struct CachedToken {
    identity: Identity,
    issuer_idx: usize,
    key: Arc<VerificationKey>,
    valid_until: u64,
    moka_ttl: Duration,
}

struct TokenExpiry;

impl moka::Expiry<[u8; 32], Arc<CachedToken>> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<CachedToken>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.moka_ttl)
    }
}

struct KeyExpiry;

impl moka::Expiry<usize, Arc<KeyEntry>> for KeyExpiry {
    fn expire_after_create(
        &self,
        _key: &usize,
        value: &Arc<KeyEntry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.moka_ttl)
    }
}

struct IssuerState {
    policy: IssuerPolicy,
    jwks_uri: Option<Url>,
    discovery_uri: Url,
    allow_http: bool,
    /// `jwks_uri` from the discovery document, until a fetch from it fails.
    discovered: Mutex<Option<Url>>,
    /// Single flight: one fetch per issuer at a time.
    refresh: tokio::sync::Mutex<()>,
    /// Bumped on every successful fetch; a waiter that sees it changed skips its own.
    generation: AtomicU64,
    /// Time of the last fetch attempt in ms + 1 (0 = never), for the rate limit.
    last_attempt: AtomicU64,
    /// A background refresh is queued.
    pending: AtomicBool,
}

struct Inner {
    config: IdentityConfig,
    issuers: Vec<IssuerState>,
    by_issuer: HashMap<String, usize>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    keys: Cache<usize, Arc<KeyEntry>>,
    tokens: Option<Cache<[u8; 32], Arc<CachedToken>>>,
    jwks_fetches: AtomicU64,
    /// Where JWKS refreshes are counted, once set ([`Authenticator::set_metrics`]).
    metrics: std::sync::OnceLock<crate::metrics::Metrics>,
}

/// Authenticates requests: verified JWTs (several issuers) or mesh SPIFFE IDs.
/// `Send + Sync` and cheap to clone (one shared state); build one per config.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuers", &self.inner.by_issuer.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Outcome of one synchronous attempt.
enum Attempt {
    Done(Result<Option<Identity>, AuthError>),
    /// Keys must be fetched for this issuer first.
    NeedKeys {
        idx: usize,
        generation: u64,
    },
}

/// Why a discovery or JWKS fetch failed (for logs; never shown to callers).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request to {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: document larger than {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("{url}: {message}")]
    Invalid { url: String, message: String },
}

impl Authenticator {
    /// Builds an authenticator on the system clock. Validates the config first.
    pub fn new(config: &IdentityConfig) -> Result<Self, IdentityConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Builds an authenticator on a given clock (tests inject a [`ManualClock`]).
    pub fn with_clock(
        config: &IdentityConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, IdentityConfigError> {
        config.validate()?;
        let mut issuers = Vec::with_capacity(config.issuers.len());
        let mut by_issuer = HashMap::new();
        for (i, c) in config.issuers.iter().enumerate() {
            let field = |f: &str| format!("{}.issuers[{i}].{f}", super::config::SECTION);
            let parse = |text: &str, f: &str| {
                Url::parse(text).map_err(|e| IdentityConfigError::new(field(f), e.to_string()))
            };
            let discovery_uri = match &c.discovery_uri {
                Some(u) => parse(u, "discovery_uri")?,
                None => parse(
                    &format!(
                        "{}/.well-known/openid-configuration",
                        c.issuer.trim_end_matches('/')
                    ),
                    "issuer",
                )?,
            };
            let jwks_uri = c
                .jwks_uri
                .as_deref()
                .map(|u| parse(u, "jwks_uri"))
                .transpose()?;
            by_issuer.insert(c.issuer.clone(), i);
            issuers.push(IssuerState {
                policy: IssuerPolicy::from(c),
                jwks_uri,
                discovery_uri,
                allow_http: c.allow_http,
                discovered: Mutex::new(None),
                refresh: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                last_attempt: AtomicU64::new(0),
                pending: AtomicBool::new(false),
            });
        }
        super::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.jwks.fetch_timeout_ms))
            .connect_timeout(Duration::from_millis(config.jwks.fetch_timeout_ms))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| {
                IdentityConfigError::new(
                    format!("{}.jwks", super::config::SECTION),
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        let keys = Cache::builder()
            .max_capacity(issuers.len().max(1) as u64)
            .expire_after(KeyExpiry)
            .build();
        let tokens = config.token_cache.enabled.then(|| {
            Cache::builder()
                .max_capacity(config.token_cache.max_entries)
                .expire_after(TokenExpiry)
                .build()
        });
        Ok(Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                issuers,
                by_issuer,
                http,
                clock,
                keys,
                tokens,
                jwks_fetches: AtomicU64::new(0),
                metrics: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &IdentityConfig {
        &self.inner.config
    }

    /// Counts JWKS refreshes in `metrics` from now on (for every clone). Set once; a
    /// second call is ignored.
    pub fn set_metrics(&self, metrics: crate::metrics::Metrics) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// How many JWKS documents were fetched successfully so far (all issuers).
    pub fn jwks_fetch_count(&self) -> u64 {
        self.inner.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Identity headers for the upstream (see [`upstream_identity_headers`]).
    pub fn upstream_headers(&self, identity: Option<&Identity>) -> HeaderChanges {
        upstream_identity_headers(&self.inner.config.upstream_headers, identity)
    }

    /// Fetches every issuer's keys now (at start-up, so the first request does not
    /// wait). Returns per issuer the number of keys or why it failed; failures are
    /// not fatal: requests retry later (rate-limited).
    pub async fn prefetch(&self) -> Vec<(String, Result<usize, String>)> {
        let mut out = Vec::new();
        for (idx, state) in self.inner.issuers.iter().enumerate() {
            let generation = state.generation.load(Ordering::SeqCst);
            let result = match self.inner.refresh(idx, generation).await {
                Ok(()) => self
                    .inner
                    .usable_keys(idx, self.inner.now_ms())
                    .map(|e| e.keys.len())
                    .ok_or_else(|| "no keys".to_string()),
                Err(e) => Err(e.to_string()),
            };
            out.push((state.policy.issuer.clone(), result));
        }
        out
    }

    /// Authenticates one request. `Ok(None)`: no credential was presented and
    /// `identity.required` is false. A presented credential that fails is always an
    /// error. A JWT wins over a mesh identity when both are present.
    ///
    /// Awaits only when keys must be fetched (first use of an issuer, or an unknown
    /// `kid` within the refresh rate limit); otherwise it is a hash and a cache lookup,
    /// or one signature check.
    pub async fn authenticate(
        &self,
        head: &RequestHead,
        peer: &PeerAttributes,
    ) -> Result<Option<Identity>, AuthError> {
        match self.inner.attempt(head, peer, true) {
            Attempt::Done(result) => result,
            Attempt::NeedKeys { idx, generation } => {
                // Fetch errors are logged inside; what counts is whether keys exist now.
                let _ = self.inner.refresh(idx, generation).await;
                match self.inner.attempt(head, peer, false) {
                    Attempt::Done(result) => result,
                    Attempt::NeedKeys { .. } => Err(AuthError::IdpUnavailable),
                }
            }
        }
    }

    /// The synchronous part of [`Authenticator::authenticate`]: `None` when a key fetch
    /// is needed first (then call `authenticate`). Lets a sync caller handle the common
    /// case without a runtime hop.
    pub fn authenticate_now(
        &self,
        head: &RequestHead,
        peer: &PeerAttributes,
    ) -> Option<Result<Option<Identity>, AuthError>> {
        match self.inner.attempt(head, peer, true) {
            Attempt::Done(result) => Some(result),
            Attempt::NeedKeys { .. } => None,
        }
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        self.clock.now().as_millis() as u64
    }

    fn attempt(
        self: &Arc<Self>,
        head: &RequestHead,
        peer: &PeerAttributes,
        may_fetch: bool,
    ) -> Attempt {
        let cfg = &self.config;
        let token = match presented_token(&head.headers, &cfg.token.header, cfg.token.max_bytes) {
            Ok(Presented::Token(t)) => t,
            Ok(Presented::None) => {
                let result = match &cfg.spiffe {
                    Some(sp) => {
                        spiffe_identity(sp, peer.uri_san_peer_certificate.as_deref(), &head.headers)
                            .map_err(AuthError::from)
                    }
                    None => Ok(None),
                };
                let result = match result {
                    Ok(None) if cfg.required => Err(AuthError::MissingCredential),
                    Ok(Some(mut id)) => {
                        id.session_id = session_from_headers(head, &cfg.session_headers);
                        Ok(Some(id))
                    }
                    other => other,
                };
                return Attempt::Done(result);
            }
            Err(e) => return Attempt::Done(Err(e.into())),
        };
        match self.verify(token, may_fetch) {
            Ok(mut identity) => {
                if let Some(s) = session_from_headers(head, &cfg.session_headers) {
                    identity.session_id = Some(s);
                }
                Attempt::Done(Ok(Some(identity)))
            }
            Err(VerifyOutcome::Error(e)) => Attempt::Done(Err(e)),
            Err(VerifyOutcome::NeedKeys { idx, generation }) => {
                Attempt::NeedKeys { idx, generation }
            }
        }
    }

    /// Verifies a token: cache first, then the full check.
    fn verify(self: &Arc<Self>, token: &str, may_fetch: bool) -> Result<Identity, VerifyOutcome> {
        let max = self.config.token.max_bytes;
        if token.len() > max {
            return Err(TokenError::TooLarge { max }.into());
        }
        let now_ms = self.now_ms();
        let now = now_ms / 1000;
        let digest: Option<[u8; 32]> = self.tokens.as_ref().map(|_| Sha256::digest(token).into());
        if let (Some(cache), Some(d)) = (&self.tokens, &digest) {
            if let Some(hit) = cache.get(d) {
                // The key must still be published: a withdrawn key stops its cached
                // tokens as soon as the key set is refreshed.
                let entry = self.usable_keys(hit.issuer_idx, now_ms);
                let key_current = entry.as_ref().is_some_and(|e| e.keys.contains(&hit.key));
                if now <= hit.valid_until && key_current {
                    if entry.is_some_and(|e| now_ms >= e.fresh_until_ms) {
                        self.spawn_refresh(hit.issuer_idx, now_ms);
                    }
                    return Ok(hit.identity.clone());
                }
                cache.invalidate(d);
            }
        }
        let parsed = token::parse(token, max)?;
        let idx = *self
            .by_issuer
            .get(parsed.issuer_claim()?)
            .ok_or(TokenError::UnknownIssuer)?;
        let state = &self.issuers[idx];
        // Read before looking at the keys: if a fetch lands in between, the refresh
        // below sees a new generation and does not fetch again.
        let generation = state.generation.load(Ordering::SeqCst);
        let Some(entry) = self.usable_keys(idx, now_ms) else {
            return if may_fetch && self.may_refresh(state, now_ms) {
                Err(VerifyOutcome::NeedKeys { idx, generation })
            } else {
                Err(AuthError::IdpUnavailable.into())
            };
        };
        if now_ms >= entry.fresh_until_ms {
            self.spawn_refresh(idx, now_ms);
        }
        let (verified, key) = match token::verify(&parsed, &state.policy, &entry.keys, now) {
            Err(TokenError::UnknownKid) if may_fetch && self.may_refresh(state, now_ms) => {
                return Err(VerifyOutcome::NeedKeys { idx, generation });
            }
            other => other?,
        };
        let identity = identity_from(verified.clone());
        if let (Some(cache), Some(d)) = (&self.tokens, digest) {
            let valid_until = verified.expires_at.saturating_add(state.policy.leeway);
            let ttl = Duration::from_secs(valid_until.saturating_sub(now)).min(MAX_TOKEN_CACHE_TTL);
            if !ttl.is_zero() {
                cache.insert(
                    d,
                    Arc::new(CachedToken {
                        identity: identity.clone(),
                        issuer_idx: idx,
                        key,
                        valid_until: valid_until.min(now + MAX_TOKEN_CACHE_TTL.as_secs()),
                        moka_ttl: ttl,
                    }),
                );
            }
        }
        Ok(identity)
    }

    /// The issuer's keys if fetched and not past the stale allowance.
    fn usable_keys(&self, idx: usize, now_ms: u64) -> Option<Arc<KeyEntry>> {
        self.keys.get(&idx).filter(|e| now_ms < e.usable_until_ms)
    }

    /// The refresh rate limit: at most one fetch attempt per interval and issuer.
    fn may_refresh(&self, state: &IssuerState, now_ms: u64) -> bool {
        let last = state.last_attempt.load(Ordering::SeqCst);
        last == 0
            || now_ms
                >= (last - 1).saturating_add(self.config.jwks.refresh_min_interval_seconds * 1000)
    }

    /// Refreshes stale keys in the background; the request goes on with the stale ones.
    fn spawn_refresh(self: &Arc<Self>, idx: usize, now_ms: u64) {
        let state = &self.issuers[idx];
        if !self.may_refresh(state, now_ms) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if state.pending.swap(true, Ordering::SeqCst) {
            return;
        }
        let generation = state.generation.load(Ordering::SeqCst);
        let inner = Arc::clone(self);
        runtime.spawn(async move {
            let _ = inner.refresh(idx, generation).await;
            inner.issuers[idx].pending.store(false, Ordering::SeqCst);
        });
    }

    /// Fetches the issuer's keys unless another fetch finished since `generation` was
    /// read (single flight) or the rate limit forbids it.
    async fn refresh(&self, idx: usize, generation: u64) -> Result<(), FetchErrorShown> {
        let state = &self.issuers[idx];
        let _guard = state.refresh.lock().await;
        if state.generation.load(Ordering::SeqCst) != generation {
            return Ok(());
        }
        let now_ms = self.now_ms();
        if !self.may_refresh(state, now_ms) {
            return Err(FetchErrorShown("refresh rate-limited".into()));
        }
        state.last_attempt.store(now_ms + 1, Ordering::SeqCst);
        let fetched = self.fetch_keys(state).await;
        if let Some(metrics) = self.metrics.get() {
            metrics.count_jwks_refresh(&state.policy.issuer, fetched.is_ok());
        }
        match fetched {
            Ok((keys, ttl)) => {
                let jwks = &self.config.jwks;
                let fresh_until_ms = now_ms + ttl.as_millis() as u64;
                let entry = KeyEntry {
                    keys: Arc::new(keys),
                    fresh_until_ms,
                    usable_until_ms: fresh_until_ms + jwks.max_stale_seconds * 1000,
                    moka_ttl: ttl + Duration::from_secs(jwks.max_stale_seconds),
                };
                self.keys.insert(idx, Arc::new(entry));
                self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                state.generation.fetch_add(1, Ordering::SeqCst);
                tracing::debug!(issuer = %state.policy.issuer, ttl_s = ttl.as_secs(), "JWKS refreshed");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(issuer = %state.policy.issuer, error = %e, "JWKS refresh failed; cached keys (if any) stay in use");
                Err(FetchErrorShown(e.to_string()))
            }
        }
    }

    async fn fetch_keys(&self, state: &IssuerState) -> Result<(KeySet, Duration), FetchError> {
        let uri = match &state.jwks_uri {
            Some(u) => u.clone(),
            None => self.discover(state).await?,
        };
        let result = async {
            let (headers, body) = self.get(&uri).await?;
            let ttl = cache_ttl(
                headers
                    .get(reqwest::header::CACHE_CONTROL)
                    .and_then(|v| v.to_str().ok()),
                &self.config.jwks,
            );
            let (keys, skipped) = KeySet::from_jwks(&body).map_err(|e| FetchError::Invalid {
                url: uri.to_string(),
                message: e.to_string(),
            })?;
            if skipped > 0 {
                tracing::debug!(issuer = %state.policy.issuer, skipped, "JWKS keys skipped");
            }
            Ok((keys, ttl))
        }
        .await;
        if result.is_err() && state.jwks_uri.is_none() {
            // The IdP may have moved its JWKS: discover again next time.
            if let Ok(mut d) = state.discovered.lock() {
                *d = None;
            }
        }
        result
    }

    async fn discover(&self, state: &IssuerState) -> Result<Url, FetchError> {
        if let Some(u) = state.discovered.lock().ok().and_then(|d| d.clone()) {
            return Ok(u);
        }
        let url = &state.discovery_uri;
        let invalid = |message: String| FetchError::Invalid {
            url: url.to_string(),
            message,
        };
        let (_, body) = self.get(url).await?;
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| invalid(format!("not a discovery document: {e}")))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer we asked for.
        if doc.issuer != state.policy.issuer {
            return Err(invalid(format!(
                "discovery names issuer {:?}, expected {:?}",
                doc.issuer, state.policy.issuer
            )));
        }
        let jwks = Url::parse(&doc.jwks_uri).map_err(|e| invalid(format!("jwks_uri: {e}")))?;
        if !(jwks.scheme() == "https" || (jwks.scheme() == "http" && state.allow_http)) {
            return Err(invalid("jwks_uri is not https".into()));
        }
        if let Ok(mut d) = state.discovered.lock() {
            *d = Some(jwks.clone());
        }
        Ok(jwks)
    }

    async fn get(&self, url: &Url) -> Result<(reqwest::header::HeaderMap, Vec<u8>), FetchError> {
        let http = |e: reqwest::Error| FetchError::Http {
            url: url.to_string(),
            message: error_chain(&e.without_url()),
        };
        let mut response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(http)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        let max = self.config.jwks.max_document_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            max,
        };
        if response.content_length().is_some_and(|l| l > max as u64) {
            return Err(too_large());
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((headers, body))
    }
}

/// An error and its sources on one line ("error sending request: ... connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A fetch error already rendered for logs.
#[derive(Debug)]
struct FetchErrorShown(String);

impl std::fmt::Display for FetchErrorShown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

enum VerifyOutcome {
    Error(AuthError),
    NeedKeys { idx: usize, generation: u64 },
}

impl From<TokenError> for VerifyOutcome {
    fn from(e: TokenError) -> Self {
        VerifyOutcome::Error(AuthError::InvalidToken(e))
    }
}

impl From<AuthError> for VerifyOutcome {
    fn from(e: AuthError) -> Self {
        VerifyOutcome::Error(e)
    }
}

fn identity_from(v: VerifiedToken) -> Identity {
    Identity {
        subject: v.subject,
        issuer: v.issuer,
        groups: v.groups,
        kind: v.kind,
        session_id: v.jti,
        source: IdentitySource::Jwt,
        acting_for: v.acting_for,
    }
}

/// Key-set lifetime from a `Cache-Control` value: `max-age` (or `s-maxage`),
/// `no-store`/`no-cache` meaning the minimum, clamped to the configured bounds.
pub(crate) fn cache_ttl(cache_control: Option<&str>, jwks: &JwksConfig) -> Duration {
    let mut ttl = None;
    if let Some(value) = cache_control {
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                ttl = Some(0);
                break;
            }
            if let Some(v) = directive
                .strip_prefix("max-age=")
                .or_else(|| directive.strip_prefix("s-maxage="))
            {
                if let Ok(n) = v.trim_matches('"').parse::<u64>() {
                    ttl = Some(ttl.map_or(n, |t: u64| t.min(n)));
                }
            }
        }
    }
    let secs = ttl
        .unwrap_or(jwks.default_ttl_seconds)
        .clamp(jwks.min_ttl_seconds, jwks.max_ttl_seconds);
    Duration::from_secs(secs)
}
