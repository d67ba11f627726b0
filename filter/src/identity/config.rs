//! The `identity:` section of the Warden config: who may call, how their identity is
//! read, and which upstream credentials Warden injects in their place.
//!
//! ```yaml
//! identity:
//!   required: true                      # no credential at all → 401
//!   token: {header: authorization, max_bytes: 8192}
//!   issuers:
//!     - issuer: https://idp.example/realms/agents
//!       audiences: [warden]
//!       algorithms: [RS256, EdDSA]
//!       leeway_seconds: 30
//!       groups_claim: realm_access.roles
//!       kind: {default: human, agent_when: [{claim: act}, {claim: azp, values: [ci-agent]}]}
//!   spiffe: {source: peer_certificate, trust_domains: [mesh.example]}
//!   upstream_headers: {subject: x-warden-subject, groups: x-warden-groups}
//!   credentials:
//!     - name: github
//!       hosts: [api.github.com]
//!       inject: {bearer: {file: /run/secrets/github-token}}
//! ```
//!
//! Every struct rejects unknown fields (a typo is an error, not a silently ignored
//! setting), and [`IdentityConfig::validate`] names the offending field.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Name of the config section; error field paths start with it.
pub const SECTION: &str = "identity";

/// Default largest token accepted, in bytes. Real access tokens are 1–4 KiB; anything
/// far larger is more likely an attack on the parser than a credential.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

/// Hard ceiling for `token.max_bytes` (Envoy's default header limit is 60 KiB).
pub const MAX_TOKEN_BYTES_CEILING: usize = 64 * 1024;

/// Largest accepted `leeway_seconds`: more than a few minutes hides broken clocks.
pub const MAX_LEEWAY_SECONDS: u64 = 600;

/// A configuration value that is wrong, with the dotted path of the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct IdentityConfigError {
    /// Dotted path of the field, e.g. `identity.issuers[0].audiences`.
    pub field: String,
    /// What is wrong and, where possible, what would be right.
    pub message: String,
}

impl IdentityConfigError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The whole `identity:` section.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// When true (the default), a request that presents no credential at all is refused
    /// with 401. When false it goes on without an identity (later policy may still deny).
    /// A credential that *is* presented and fails is refused either way.
    #[serde(default = "yes")]
    pub required: bool,
    /// Where the bearer token is read from.
    #[serde(default)]
    pub token: TokenSourceConfig,
    /// Trusted token issuers (OIDC providers). Several may be active at once; a token is
    /// matched to one by its `iss` claim.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// JWKS fetching and caching, shared by all issuers.
    #[serde(default)]
    pub jwks: JwksConfig,
    /// The verified-token cache that keeps the hot path to a hash and a lookup.
    #[serde(default)]
    pub token_cache: TokenCacheConfig,
    /// Identity from mesh mTLS (a SPIFFE ID). Off when absent.
    #[serde(default)]
    pub spiffe: Option<SpiffeConfig>,
    /// Request headers that carry the agent's session id, first present wins; the
    /// token's `jti` is the fallback.
    #[serde(default = "default_session_headers")]
    pub session_headers: Vec<String>,
    /// Identity headers added to the request for the upstream (off unless named).
    #[serde(default)]
    pub upstream_headers: UpstreamHeadersConfig,
    /// Upstream credential injection rules, first match wins.
    #[serde(default)]
    pub credentials: Vec<CredentialRule>,
    /// How often (milliseconds) a credential file is checked for changes; 0 checks on
    /// every request.
    #[serde(default = "default_reload_check_ms")]
    pub credential_reload_check_ms: u64,
}

fn yes() -> bool {
    true
}

fn default_session_headers() -> Vec<String> {
    vec!["x-agent-session".into(), "mcp-session-id".into()]
}

fn default_reload_check_ms() -> u64 {
    1000
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            required: true,
            token: TokenSourceConfig::default(),
            issuers: Vec::new(),
            jwks: JwksConfig::default(),
            token_cache: TokenCacheConfig::default(),
            spiffe: None,
            session_headers: default_session_headers(),
            upstream_headers: UpstreamHeadersConfig::default(),
            credentials: Vec::new(),
            credential_reload_check_ms: default_reload_check_ms(),
        }
    }
}

/// Where the agent's token comes from.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenSourceConfig {
    /// Header name (lowercase). `authorization` (the default) requires the `Bearer`
    /// scheme; any other header carries the bare token (a `Bearer ` prefix is tolerated).
    #[serde(default = "default_token_header")]
    pub header: String,
    /// Largest token accepted, in bytes; larger ones are refused before any parsing.
    #[serde(default = "default_max_token_bytes")]
    pub max_bytes: usize,
}

fn default_token_header() -> String {
    "authorization".into()
}

fn default_max_token_bytes() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}

impl Default for TokenSourceConfig {
    fn default() -> Self {
        Self {
            header: default_token_header(),
            max_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

/// An asymmetric JWS algorithm Warden accepts. HMAC (`HS*`) and `none` do not exist
/// here on purpose: a shared secret would let anyone who can verify also mint tokens.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl SigningAlgorithm {
    /// Every supported algorithm (the default allow-list).
    pub const ALL: [SigningAlgorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The JWA name (`RS256`, `EdDSA`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a JWA name exactly (JWA names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The kind of key that verifies this algorithm.
    pub fn key_type(self) -> KeyType {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyType::Rsa
            }
            Self::ES256 => KeyType::P256,
            Self::ES384 => KeyType::P384,
            Self::EdDSA => KeyType::Ed25519,
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }
}

/// The kind of public key an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA (`kty: RSA`), at least 2048 bits.
    Rsa,
    /// EC on P-256 (`kty: EC, crv: P-256`).
    P256,
    /// EC on P-384 (`kty: EC, crv: P-384`).
    P384,
    /// Ed25519 (`kty: OKP, crv: Ed25519`).
    Ed25519,
}

/// One trusted token issuer.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer URL, compared exactly with the token's `iss` claim and with the
    /// `issuer` field of the discovery document.
    pub issuer: String,
    /// JWKS URL. When absent, it is discovered from
    /// `discovery_uri` (default `<issuer>/.well-known/openid-configuration`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Where to fetch the discovery document when it is not under the issuer URL
    /// (e.g. the IdP is reached through an internal name).
    #[serde(default)]
    pub discovery_uri: Option<String>,
    /// Accepted `aud` values; a token must name at least one. Required: a token minted
    /// for another service must not be replayable against Warden.
    pub audiences: Vec<String>,
    /// Allowed signing algorithms for this issuer (default: all supported asymmetric ones).
    #[serde(default = "all_algorithms")]
    pub algorithms: Vec<SigningAlgorithm>,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Claim path of the subject (dots walk into objects).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Claim path of the groups: `groups`, `realm_access.roles`, ... (`null` for none).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: Option<String>,
    /// How a token is classified as an agent or a human.
    #[serde(default)]
    pub kind: KindConfig,
    /// Allow `http://` issuer, discovery and JWKS URLs. For local demos and tests only:
    /// keys fetched in clear text can be replaced by anyone on the path.
    #[serde(default)]
    pub allow_http: bool,
}

fn all_algorithms() -> Vec<SigningAlgorithm> {
    SigningAlgorithm::ALL.to_vec()
}

fn default_leeway() -> u64 {
    30
}

fn default_subject_claim() -> String {
    "sub".into()
}

fn default_groups_claim() -> Option<String> {
    Some("groups".into())
}

/// Whether the caller is an AI agent or a person.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A machine caller (an AI agent or a workload).
    Agent,
    /// A person.
    Human,
}

impl IdentityKind {
    /// `agent` or `human`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Human => "human",
        }
    }
}

/// Classification of a token's caller. `agent_when` is checked first, then
/// `human_when`, then `default` applies.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    /// Kind when no rule matches.
    #[serde(default = "human")]
    pub default: IdentityKind,
    /// Any match makes the caller an agent. Default: a delegation (`act`, RFC 8693)
    /// or a client-credentials token (`client_id`).
    #[serde(default = "default_agent_when")]
    pub agent_when: Vec<ClaimMatch>,
    /// Any match (when no agent rule matched) makes the caller a human.
    #[serde(default)]
    pub human_when: Vec<ClaimMatch>,
}

fn human() -> IdentityKind {
    IdentityKind::Human
}

fn default_agent_when() -> Vec<ClaimMatch> {
    vec![
        ClaimMatch {
            claim: "act".into(),
            values: Vec::new(),
        },
        ClaimMatch {
            claim: "client_id".into(),
            values: Vec::new(),
        },
    ]
}

impl Default for KindConfig {
    fn default() -> Self {
        Self {
            default: IdentityKind::Human,
            agent_when: default_agent_when(),
            human_when: Vec::new(),
        }
    }
}

/// A test on one claim.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClaimMatch {
    /// Claim path (dots walk into objects), e.g. `azp` or `act.sub`.
    pub claim: String,
    /// Matches when the claim equals one of these (or, for an array claim, contains
    /// one). Empty: matches when the claim is present and not null.
    #[serde(default)]
    pub values: Vec<String>,
}

/// JWKS fetching and caching.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JwksConfig {
    /// Key-set lifetime when the response has no `Cache-Control: max-age`.
    #[serde(default = "default_jwks_ttl")]
    pub default_ttl_seconds: u64,
    /// Lower bound for the lifetime (protects the IdP from `max-age=0`).
    #[serde(default = "default_jwks_min_ttl")]
    pub min_ttl_seconds: u64,
    /// Upper bound for the lifetime (rotations are picked up at least this often).
    #[serde(default = "default_jwks_max_ttl")]
    pub max_ttl_seconds: u64,
    /// How long past its lifetime a key set is still used while the IdP cannot be
    /// reached. After that, tokens of that issuer fail closed.
    #[serde(default = "default_jwks_max_stale")]
    pub max_stale_seconds: u64,
    /// Least time between two fetches for one issuer (an unknown `kid` triggers a
    /// refresh; this keeps forged kids from turning Warden into an IdP flooder).
    #[serde(default = "default_refresh_interval")]
    pub refresh_min_interval_seconds: u64,
    /// Timeout for one discovery or JWKS request.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout_ms: u64,
    /// Largest discovery or JWKS document accepted.
    #[serde(default = "default_max_document")]
    pub max_document_bytes: usize,
}

fn default_jwks_ttl() -> u64 {
    300
}
fn default_jwks_min_ttl() -> u64 {
    30
}
fn default_jwks_max_ttl() -> u64 {
    86_400
}
fn default_jwks_max_stale() -> u64 {
    86_400
}
fn default_refresh_interval() -> u64 {
    10
}
fn default_fetch_timeout() -> u64 {
    5_000
}
fn default_max_document() -> usize {
    512 * 1024
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            default_ttl_seconds: default_jwks_ttl(),
            min_ttl_seconds: default_jwks_min_ttl(),
            max_ttl_seconds: default_jwks_max_ttl(),
            max_stale_seconds: default_jwks_max_stale(),
            refresh_min_interval_seconds: default_refresh_interval(),
            fetch_timeout_ms: default_fetch_timeout(),
            max_document_bytes: default_max_document(),
        }
    }
}

/// The verified-token cache.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenCacheConfig {
    /// Off: every request verifies its signature (for measurements).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Most tokens remembered; the least used are dropped first.
    #[serde(default = "default_token_cache_entries")]
    pub max_entries: u64,
}

fn default_token_cache_entries() -> u64 {
    100_000
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: default_token_cache_entries(),
        }
    }
}

/// Where a mesh identity (SPIFFE ID) is read from.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpiffeSource {
    /// Envoy's `connection.uri_san_peer_certificate` attribute (the mTLS peer of the
    /// connection Envoy terminated). Cannot be forged by a request header.
    PeerCertificate,
    /// The `x-forwarded-client-cert` header set by a front proxy. Only safe when every
    /// path to Envoy goes through a proxy that sanitizes it
    /// (`forward_client_cert_details: SANITIZE_SET`); choosing this is that assertion.
    Xfcc,
}

/// Identity from mesh mTLS.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpiffeConfig {
    /// Where the SPIFFE ID comes from.
    pub source: SpiffeSource,
    /// Accepted trust domains (`mesh.example`); IDs from others are refused.
    pub trust_domains: Vec<String>,
    /// Groups given to IDs by prefix, e.g. `spiffe://mesh.example/ns/agents/` → `[agents]`.
    #[serde(default)]
    pub groups: Vec<SpiffeGroups>,
    /// Kind of a workload identity (default `agent`).
    #[serde(default = "agent")]
    pub kind: IdentityKind,
}

fn agent() -> IdentityKind {
    IdentityKind::Agent
}

/// Groups for SPIFFE IDs under one prefix.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpiffeGroups {
    /// SPIFFE ID prefix (`spiffe://domain/path...`).
    pub id_prefix: String,
    /// Groups of every ID under the prefix.
    pub groups: Vec<String>,
}

/// Names of the identity headers sent to the upstream. Each is off when absent. Warden
/// always removes these names from the agent's request, so they cannot be forged.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamHeadersConfig {
    /// Subject (`sub` or the SPIFFE ID).
    #[serde(default)]
    pub subject: Option<String>,
    /// Issuer (token issuer or `spiffe://<trust domain>`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Groups, comma-separated.
    #[serde(default)]
    pub groups: Option<String>,
    /// `agent` or `human`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Session id.
    #[serde(default)]
    pub session: Option<String>,
}

impl UpstreamHeadersConfig {
    /// The configured names with their field names, for validation and stripping.
    pub fn names(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("subject", &self.subject),
            ("issuer", &self.issuer),
            ("groups", &self.groups),
            ("kind", &self.kind),
            ("session", &self.session),
        ]
        .into_iter()
        .filter_map(|(f, n)| n.as_deref().map(|n| (f, n)))
    }
}

/// Where a secret is read from.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// A file (trailing newline trimmed), re-read when it changes; the last good value
    /// stays in use if a new version cannot be read.
    File(PathBuf),
    /// An environment variable, read once at start.
    Env(String),
}

/// How the upstream credential is presented.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Injection {
    /// `Authorization: Bearer <secret>`.
    Bearer(SecretSource),
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// User name (no `:`).
        username: String,
        /// Password source.
        password: SecretSource,
    },
    /// `<name>: <prefix><secret>`, e.g. `x-api-key`.
    Header {
        /// Header name (lowercase).
        name: String,
        /// Secret source.
        value: SecretSource,
        /// Text before the secret (e.g. `token `), empty by default.
        #[serde(default)]
        prefix: String,
    },
}

/// One credential injection rule: requests to these hosts (and path prefix) lose the
/// agent's credentials and get the upstream's.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CredentialRule {
    /// Label for logs, audit and masking findings (`known:credential:<name>`).
    pub name: String,
    /// Hosts (`:authority` without port), exact or `*.example.com` for subdomains.
    pub hosts: Vec<String>,
    /// Only paths under this prefix (segment-aligned), e.g. `/repos`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Further agent headers to strip (the agent's `authorization`, `proxy-authorization`
    /// and the configured token header are always stripped).
    #[serde(default)]
    pub remove_headers: Vec<String>,
    /// The credential to set. Written as a one-key map (`{bearer: {file: ...}}`), not
    /// a YAML tag.
    #[serde(with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub inject: Injection,
}

/// True for a syntactically valid lowercase HTTP header name (RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// Headers Warden must never be told to set or strip for identity purposes.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "keep-alive",
    "proxy-connection",
];

impl IdentityConfig {
    /// Checks what the types cannot: required combinations, ranges, URL schemes and
    /// header names. Pure (reads no files or variables). The error names the field as
    /// `identity.<path>`.
    pub fn validate(&self) -> Result<(), IdentityConfigError> {
        let err = |field: String, message: String| Err(IdentityConfigError::new(field, message));
        if self.required && self.issuers.is_empty() && self.spiffe.is_none() {
            return err(
                format!("{SECTION}.required"),
                "credentials are required but no `issuers` or `spiffe` source is configured".into(),
            );
        }
        let t = &self.token;
        if !is_header_name(&t.header) {
            return err(
                format!("{SECTION}.token.header"),
                format!("{:?} is not a lowercase header name", t.header),
            );
        }
        if t.max_bytes < 256 || t.max_bytes > MAX_TOKEN_BYTES_CEILING {
            return err(
                format!("{SECTION}.token.max_bytes"),
                format!(
                    "{} is out of range: use 256..={MAX_TOKEN_BYTES_CEILING}",
                    t.max_bytes
                ),
            );
        }
        let mut seen = HashSet::new();
        for (i, issuer) in self.issuers.iter().enumerate() {
            issuer.validate(&format!("{SECTION}.issuers[{i}]"))?;
            if !seen.insert(issuer.issuer.as_str()) {
                return err(
                    format!("{SECTION}.issuers[{i}].issuer"),
                    format!("issuer {:?} is configured twice", issuer.issuer),
                );
            }
        }
        self.jwks.validate()?;
        if self.token_cache.max_entries == 0 {
            return err(
                format!("{SECTION}.token_cache.max_entries"),
                "must be at least 1 (set `enabled: false` to turn the cache off)".into(),
            );
        }
        if let Some(spiffe) = &self.spiffe {
            spiffe.validate()?;
        }
        for (i, name) in self.session_headers.iter().enumerate() {
            if !is_header_name(name) {
                return err(
                    format!("{SECTION}.session_headers[{i}]"),
                    format!("{name:?} is not a lowercase header name"),
                );
            }
        }
        let mut upstream_names = HashSet::new();
        for (field, name) in self.upstream_headers.names() {
            let path = format!("{SECTION}.upstream_headers.{field}");
            if !is_header_name(name) || RESERVED_HEADERS.contains(&name) {
                return err(
                    path,
                    format!("{name:?} is not a usable lowercase header name"),
                );
            }
            if name == "authorization" || name == t.header {
                return err(
                    path,
                    format!("{name:?} carries credentials; pick another name"),
                );
            }
            if !upstream_names.insert(name) {
                return err(path, format!("{name:?} is used for two identity headers"));
            }
        }
        let mut names = HashSet::new();
        for (i, rule) in self.credentials.iter().enumerate() {
            let path = format!("{SECTION}.credentials[{i}]");
            rule.validate(&path)?;
            if !names.insert(rule.name.as_str()) {
                return err(
                    format!("{path}.name"),
                    format!("rule name {:?} is used twice", rule.name),
                );
            }
        }
        Ok(())
    }
}

impl IssuerConfig {
    fn validate(&self, path: &str) -> Result<(), IdentityConfigError> {
        let err = |field: &str, message: String| {
            Err(IdentityConfigError::new(format!("{path}.{field}"), message))
        };
        check_url(&self.issuer, self.allow_http).or_else(|m| err("issuer", m))?;
        if let Some(uri) = &self.jwks_uri {
            check_url(uri, self.allow_http).or_else(|m| err("jwks_uri", m))?;
        }
        if let Some(uri) = &self.discovery_uri {
            check_url(uri, self.allow_http).or_else(|m| err("discovery_uri", m))?;
            if self.jwks_uri.is_some() {
                return err(
                    "discovery_uri",
                    "set either `jwks_uri` or `discovery_uri`, not both".into(),
                );
            }
        }
        if self.audiences.is_empty() {
            return err(
                "audiences",
                "name at least one accepted audience (e.g. `[warden]`)".into(),
            );
        }
        if let Some(i) = self.audiences.iter().position(|a| a.is_empty()) {
            return err(&format!("audiences[{i}]"), "empty audience".into());
        }
        if self.algorithms.is_empty() {
            return err(
                "algorithms",
                "allow at least one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                    .into(),
            );
        }
        if self.leeway_seconds > MAX_LEEWAY_SECONDS {
            return err(
                "leeway_seconds",
                format!(
                    "{} is out of range: use 0..={MAX_LEEWAY_SECONDS}",
                    self.leeway_seconds
                ),
            );
        }
        check_claim_path(&self.subject_claim).or_else(|m| err("subject_claim", m))?;
        if let Some(groups) = &self.groups_claim {
            check_claim_path(groups).or_else(|m| err("groups_claim", m))?;
        }
        for (list, rules) in [
            ("agent_when", &self.kind.agent_when),
            ("human_when", &self.kind.human_when),
        ] {
            for (i, rule) in rules.iter().enumerate() {
                check_claim_path(&rule.claim)
                    .or_else(|m| err(&format!("kind.{list}[{i}].claim"), m))?;
            }
        }
        Ok(())
    }
}

fn check_url(text: &str, allow_http: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(format!(
                "{text:?} is plain http: use https, or set `allow_http: true` for a local demo"
            ))
        }
        other => return Err(format!("{text:?}: scheme {other:?} is not http(s)")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(())
}

fn check_claim_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        Err(format!(
            "{path:?} is not a claim path like `groups` or `realm_access.roles`"
        ))
    } else {
        Ok(())
    }
}

impl JwksConfig {
    fn validate(&self) -> Result<(), IdentityConfigError> {
        let field = |f: &str| format!("{SECTION}.jwks.{f}");
        if self.min_ttl_seconds > self.max_ttl_seconds {
            return Err(IdentityConfigError::new(
                field("min_ttl_seconds"),
                "must not exceed `max_ttl_seconds`",
            ));
        }
        if self.default_ttl_seconds < self.min_ttl_seconds
            || self.default_ttl_seconds > self.max_ttl_seconds
        {
            return Err(IdentityConfigError::new(
                field("default_ttl_seconds"),
                "must lie between `min_ttl_seconds` and `max_ttl_seconds`",
            ));
        }
        if self.fetch_timeout_ms == 0 || self.fetch_timeout_ms > 60_000 {
            return Err(IdentityConfigError::new(
                field("fetch_timeout_ms"),
                format!("{} is out of range: use 1..=60000", self.fetch_timeout_ms),
            ));
        }
        if self.max_document_bytes < 1024 || self.max_document_bytes > 16 * 1024 * 1024 {
            return Err(IdentityConfigError::new(
                field("max_document_bytes"),
                format!(
                    "{} is out of range: use 1024..=16777216",
                    self.max_document_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl SpiffeConfig {
    fn validate(&self) -> Result<(), IdentityConfigError> {
        let path = format!("{SECTION}.spiffe");
        if self.trust_domains.is_empty() {
            return Err(IdentityConfigError::new(
                format!("{path}.trust_domains"),
                "name at least one trust domain (e.g. `mesh.example`)",
            ));
        }
        for (i, td) in self.trust_domains.iter().enumerate() {
            if !super::spiffe::is_trust_domain(td) {
                return Err(IdentityConfigError::new(
                    format!("{path}.trust_domains[{i}]"),
                    format!("{td:?} is not a trust domain (lowercase name, no scheme or path)"),
                ));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            if !g.id_prefix.starts_with("spiffe://") {
                return Err(IdentityConfigError::new(
                    format!("{path}.groups[{i}].id_prefix"),
                    format!("{:?} does not start with spiffe://", g.id_prefix),
                ));
            }
        }
        Ok(())
    }
}

impl CredentialRule {
    fn validate(&self, path: &str) -> Result<(), IdentityConfigError> {
        let err = |field: &str, message: String| {
            Err(IdentityConfigError::new(format!("{path}.{field}"), message))
        };
        if self.name.is_empty() || self.name.chars().any(|c| c.is_control()) {
            return err("name", "give the rule a printable name".into());
        }
        if self.hosts.is_empty() {
            return err("hosts", "name at least one host".into());
        }
        for (i, host) in self.hosts.iter().enumerate() {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            let ok = !bare.is_empty()
                && !bare.contains('*')
                && bare.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !ok {
                return err(
                    &format!("hosts[{i}]"),
                    format!("{host:?} is not a lowercase host or `*.domain` pattern"),
                );
            }
        }
        if let Some(prefix) = &self.path_prefix {
            if !prefix.starts_with('/') {
                return err("path_prefix", format!("{prefix:?} does not start with /"));
            }
        }
        for (i, name) in self.remove_headers.iter().enumerate() {
            if !is_header_name(name) || RESERVED_HEADERS.contains(&name.as_str()) {
                return err(
                    &format!("remove_headers[{i}]"),
                    format!("{name:?} is not a removable lowercase header name"),
                );
            }
        }
        let source = match &self.inject {
            Injection::Bearer(source) => source,
            Injection::Basic { username, password } => {
                if username.contains(':') || username.chars().any(|c| c.is_control()) {
                    return err(
                        "inject.basic.username",
                        "must not contain `:` or control characters".into(),
                    );
                }
                password
            }
            Injection::Header {
                name,
                value,
                prefix,
            } => {
                if !is_header_name(name) || RESERVED_HEADERS.contains(&name.as_str()) {
                    return err(
                        "inject.header.name",
                        format!("{name:?} is not a usable lowercase header name"),
                    );
                }
                if prefix.chars().any(|c| c.is_control()) {
                    return err(
                        "inject.header.prefix",
                        "must not contain control characters".into(),
                    );
                }
                value
            }
        };
        match source {
            SecretSource::File(p) if p.as_os_str().is_empty() => {
                err("inject", "the secret file path is empty".into())
            }
            SecretSource::Env(v) if v.is_empty() || v.contains('=') => err(
                "inject",
                format!("{v:?} is not an environment variable name"),
            ),
            _ => Ok(()),
        }
    }
}
