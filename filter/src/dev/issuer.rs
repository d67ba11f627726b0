//! `warden dev-issuer` and `warden dev-token`: a local OIDC issuer for demos and tests.
//!
//! **Demo only.** It serves a discovery document and a JWKS for one Ed25519 key that it
//! creates on first run in a key directory (`ed25519.pem`, mode 0600), and mints tokens
//! with that key. Its sign-in page (for the approver console) has no passwords: whoever
//! reaches it can be any listed user. There is no client authentication and no
//! revocation, and anyone who can read the key directory can mint any identity. Never
//! point a production Warden at it.
//!
//! | method | path | response |
//! | --- | --- | --- |
//! | GET | `/.well-known/openid-configuration` | `{issuer, jwks_uri, ...}` |
//! | GET | `/jwks.json` | `{"keys": [<the Ed25519 public key>]}` |
//! | GET, POST | `/authorize` | demo sign-in page (authorization code + PKCE, see [`super::login`]) |
//! | POST | `/token` | code → `id_token` |
//!
//! Tokens carry `iss`, `sub`, `aud` (`warden` unless given), `groups`, `iat`, `exp`,
//! `jti` and any extra claims.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub use super::login::{default_users, DemoUser};

/// Audience of minted tokens unless the extra claims set `aud`.
pub const DEFAULT_AUDIENCE: &str = "warden";

/// File name of the private key inside the key directory.
pub const KEY_FILE: &str = "ed25519.pem";

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    /// The key directory or key file could not be read or written.
    #[error("key directory: {0}")]
    Io(#[from] std::io::Error),
    /// The key file is not a PKCS#8 Ed25519 private key.
    #[error("{path} is not a PKCS#8 Ed25519 private key")]
    BadKey {
        /// The key file.
        path: String,
    },
}

/// A demo Ed25519 signing key with a stable key id.
pub struct DevKey {
    signing: SigningKey,
    kid: String,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey").field("kid", &self.kid).finish()
    }
}

impl DevKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self::from_signing(SigningKey::generate(&mut rand_core::OsRng))
    }

    fn from_signing(signing: SigningKey) -> Self {
        // The kid is derived from the public key, so it changes exactly when the key does.
        let digest = Sha256::digest(signing.verifying_key().as_bytes());
        let kid = URL_SAFE_NO_PAD.encode(&digest[..12]);
        Self { signing, kid }
    }

    /// Loads `<key_dir>/ed25519.pem`, creating the directory and a new key on first use.
    /// Safe when `dev-issuer` and `dev-token` race on first use: the key is written to a
    /// temporary file and hard-linked into place, so one key wins and nobody reads a
    /// half-written file.
    pub fn load_or_create(key_dir: &Path) -> Result<Self, DevIssuerError> {
        let path = key_dir.join(KEY_FILE);
        let bad_key = || DevIssuerError::BadKey {
            path: path.display().to_string(),
        };
        match std::fs::read_to_string(&path) {
            Ok(pem) => {
                return SigningKey::from_pkcs8_pem(&pem)
                    .map(Self::from_signing)
                    .map_err(|_| bad_key())
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            Err(_) => {}
        }
        std::fs::create_dir_all(key_dir)?;
        let key = Self::generate();
        let pem = key
            .signing
            .to_pkcs8_pem(Default::default())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tmp = key_dir.join(format!(".{KEY_FILE}.{}", uuid::Uuid::new_v4()));
        write_private(&tmp, pem.as_bytes())?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            // Someone else created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let pem = std::fs::read_to_string(&path)?;
                SigningKey::from_pkcs8_pem(&pem)
                    .map(Self::from_signing)
                    .map_err(|_| bad_key())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "use": "sig",
            "alg": "EdDSA",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes()),
        })
    }

    /// Signs arbitrary header and claims as a compact JWS. The header is used as given
    /// (tests craft hostile ones); normally it is `{"alg":"EdDSA","kid":...}`.
    pub fn sign_compact(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// Mints a token for `sub` with `groups`, valid for `ttl` from now.
    pub fn mint(
        &self,
        issuer: &str,
        sub: &str,
        groups: &[String],
        ttl: Duration,
        extra: &Map<String, Value>,
    ) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("sub".into(), json!(sub));
        claims.insert("aud".into(), json!(DEFAULT_AUDIENCE));
        claims.insert("groups".into(), json!(groups));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ttl.as_secs()));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        for (k, v) in extra {
            claims.insert(k.clone(), v.clone());
        }
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid});
        self.sign_compact(&header, &Value::Object(claims))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// A JWKS document for these keys.
pub fn jwks_document(keys: &[&DevKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// A discovery document for `issuer` with its JWKS at `<issuer>/jwks.json`.
pub fn discovery_document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks.json", issuer.trim_end_matches('/')),
        "authorization_endpoint": format!("{}/authorize", issuer.trim_end_matches('/')),
        "token_endpoint": format!("{}/token", issuer.trim_end_matches('/')),
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
    })
}

/// The issuer URL `run_issuer` announces for a listen address: `http://<addr>`, with an
/// unspecified address (`0.0.0.0`) shown as loopback.
pub fn issuer_url_for(listen: SocketAddr) -> String {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{addr}")
}

/// Mints a token with the key in `key_dir` (created on first use). Demo only.
pub fn mint_token(
    key_dir: &Path,
    issuer: &str,
    sub: &str,
    groups: &[String],
    ttl: Duration,
    extra: &Map<String, Value>,
) -> Result<String, DevIssuerError> {
    Ok(DevKey::load_or_create(key_dir)?.mint(issuer, sub, groups, ttl, extra))
}

/// Serves discovery, JWKS and the demo sign-in for `users` on `listen` for the key in
/// `key_dir` (created on first run), announcing issuer [`issuer_url_for`]`(listen)`.
/// Runs until Ctrl-C. Demo only.
pub async fn run_issuer(
    listen: SocketAddr,
    issuer: Option<String>,
    key_dir: &Path,
    users: Vec<DemoUser>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let issuer = match issuer {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => issuer_url_for(listener.local_addr()?),
    };
    tracing::info!(%issuer, users = users.len(), "dev issuer (demo only) listening");
    serve_issuer_with_users(listener, key_dir, issuer, users, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Serves discovery, JWKS and the sign-in for the [`default_users`] on a bound
/// listener until `shutdown` completes.
pub async fn serve_issuer(
    listener: tokio::net::TcpListener,
    key_dir: &Path,
    issuer: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_issuer_with_users(listener, key_dir, issuer, default_users(), shutdown).await
}

/// [`serve_issuer`] with the sign-in page offering `users`.
pub async fn serve_issuer_with_users(
    listener: tokio::net::TcpListener,
    key_dir: &Path,
    issuer: String,
    users: Vec<DemoUser>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let key = DevKey::load_or_create(key_dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    let jwks = Arc::new(jwks_document(&[&key]));
    let login = super::login::router(issuer.clone(), Arc::new(key), users);
    let discovery = Arc::new(discovery_document(&issuer));
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let d = Arc::clone(&discovery);
                async move { Json((*d).clone()) }
            }),
        )
        .route(
            "/jwks.json",
            get(move || {
                let j = Arc::clone(&jwks);
                async move {
                    (
                        [(header::CACHE_CONTROL, "public, max-age=300")],
                        Json((*j).clone()),
                    )
                        .into_response()
                }
            }),
        )
        .merge(login);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = DevKey::load_or_create(dir.path()).unwrap();
        let b = DevKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.kid(), b.kid());
        let t = mint_token(
            dir.path(),
            "http://127.0.0.1:1",
            "alice",
            &["dev".into()],
            Duration::from_secs(60),
            &Map::new(),
        )
        .unwrap();
        assert_eq!(t.split('.').count(), 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
    }

    #[test]
    fn racing_first_use_agrees_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let kids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        DevKey::load_or_create(dir.path())
                            .unwrap()
                            .kid()
                            .to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "temporary files are cleaned up");
    }

    #[test]
    fn issuer_url_replaces_unspecified_addresses() {
        assert_eq!(
            issuer_url_for("0.0.0.0:8081".parse().unwrap()),
            "http://127.0.0.1:8081"
        );
        assert_eq!(
            issuer_url_for("10.0.0.1:9".parse().unwrap()),
            "http://10.0.0.1:9"
        );
    }
}
