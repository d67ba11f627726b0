//! The dev issuer's sign-in: an OIDC authorization code flow with PKCE for demos.
//!
//! **Demo only.** `GET /authorize` shows a page listing the demo users (and a box to
//! type any name); choosing one redirects back to the client with a code. `POST /token`
//! trades the code for an `id_token` signed with the dev key, after checking the PKCE
//! verifier (S256 only), the `client_id` and the `redirect_uri` of the authorization
//! request. Codes are single use and live [`CODE_TTL`]. There is no password: whoever
//! reaches the page can be anyone on the list.
//!
//! | method | path | |
//! | --- | --- | --- |
//! | GET | `/authorize?response_type=code&client_id&redirect_uri&state&nonce&code_challenge&code_challenge_method=S256` | the sign-in page |
//! | POST | `/authorize` | form: the same fields plus `user`; 303 to `redirect_uri?code&state` |
//! | POST | `/token` | form: `grant_type=authorization_code&code&redirect_uri&client_id&code_verifier` |

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::issuer::DevKey;
use crate::admin::console::auth::{constant_time_eq, pkce_challenge, random_token};

/// How long an authorization code may be redeemed.
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// How long a minted id_token is valid.
pub const ID_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A demo user: a name and its groups (`--user alice:approvers,auditors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoUser {
    /// The subject of its tokens.
    pub name: String,
    /// The `groups` claim.
    pub groups: Vec<String>,
}

impl FromStr for DemoUser {
    type Err = String;

    /// `NAME` or `NAME:GROUP,GROUP`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, groups) = text.split_once(':').unwrap_or((text, ""));
        let name = name.trim();
        if name.is_empty() {
            return Err(format!(
                "{text:?} names no user: write NAME or NAME:GROUP,GROUP (e.g. alice:approvers,auditors)"
            ));
        }
        let groups = groups
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect();
        Ok(DemoUser {
            name: name.to_string(),
            groups,
        })
    }
}

/// The users offered when none are given: two approvers (alice also an auditor) and an
/// agent owner.
pub fn default_users() -> Vec<DemoUser> {
    ["alice:approvers,auditors", "carol:approvers", "bob:agents"]
        .iter()
        .filter_map(|u| u.parse().ok())
        .collect()
}

/// The parameters of an authorization request (query of `GET`, form of `POST`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    #[serde(default)]
    pub response_type: String,
    /// The client; the token request must name the same one.
    #[serde(default)]
    pub client_id: String,
    /// Where the code goes; the token request must name the same one.
    #[serde(default)]
    pub redirect_uri: String,
    /// Returned unchanged with the code.
    #[serde(default)]
    pub state: String,
    /// Copied into the id_token.
    #[serde(default)]
    pub nonce: Option<String>,
    /// BASE64URL(SHA-256(verifier)).
    #[serde(default)]
    pub code_challenge: String,
    /// Must be `S256`.
    #[serde(default)]
    pub code_challenge_method: String,
    /// The chosen user (form only).
    #[serde(default)]
    pub user: Option<String>,
}

impl AuthorizeParams {
    /// Checks what the flow needs; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.response_type != "code" {
            return Err(format!(
                "response_type must be `code` (got {:?})",
                self.response_type
            ));
        }
        if self.client_id.is_empty() {
            return Err("client_id is missing".into());
        }
        if !(self.redirect_uri.starts_with("http://") || self.redirect_uri.starts_with("https://"))
        {
            return Err(format!(
                "redirect_uri must be an http(s) URL (got {:?})",
                self.redirect_uri
            ));
        }
        if self.state.is_empty() {
            return Err(
                "state is missing (the client must bind the response to its request)".into(),
            );
        }
        if self.code_challenge_method != "S256" {
            return Err("PKCE is required: code_challenge_method must be S256".into());
        }
        // 32 bytes of SHA-256 in unpadded base64url.
        if self.code_challenge.len() != 43 {
            return Err("code_challenge must be BASE64URL(SHA-256(code_verifier))".into());
        }
        Ok(())
    }
}

/// An issued, not yet redeemed code.
#[derive(Clone, Debug)]
struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    user: DemoUser,
    expires: Instant,
}

/// What the token endpoint refuses, as an OAuth error.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `grant_type=authorization_code`.
    #[error("only grant_type=authorization_code is supported")]
    UnsupportedGrant,
    /// Unknown, used or expired code, or a mismatch with the authorization request.
    #[error("{0}")]
    InvalidGrant(&'static str),
}

impl TokenError {
    fn code(&self) -> &'static str {
        match self {
            TokenError::UnsupportedGrant => "unsupported_grant_type",
            TokenError::InvalidGrant(_) => "invalid_grant",
        }
    }
}

/// The codes issued and not yet redeemed, in memory.
#[derive(Debug, Default)]
pub struct CodeStore {
    codes: Mutex<HashMap<String, PendingCode>>,
}

/// A redeemed code: who signed in, and the nonce to put in the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    /// The user.
    pub user: DemoUser,
    /// The authorization request's nonce.
    pub nonce: Option<String>,
    /// The client it was issued to.
    pub client_id: String,
}

impl CodeStore {
    /// Issues a code for `params` (already validated) and `user`.
    pub fn issue(&self, params: &AuthorizeParams, user: DemoUser, now: Instant) -> String {
        let code = random_token();
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        // Forget codes nobody redeemed, so an idle page cannot grow the map forever.
        codes.retain(|_, c| c.expires > now);
        codes.insert(
            code.clone(),
            PendingCode {
                client_id: params.client_id.clone(),
                redirect_uri: params.redirect_uri.clone(),
                challenge: params.code_challenge.clone(),
                nonce: params.nonce.clone().filter(|n| !n.is_empty()),
                user,
                expires: now + CODE_TTL,
            },
        );
        code
    }

    /// Redeems `code`. The code is gone afterwards whatever the outcome (single use: a
    /// failed attempt must not leave it for a second guess).
    pub fn redeem(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        verifier: &str,
        now: Instant,
    ) -> Result<Redeemed, TokenError> {
        let pending = self
            .codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(code)
            .ok_or(TokenError::InvalidGrant("unknown or already used code"))?;
        if pending.expires <= now {
            return Err(TokenError::InvalidGrant("the code expired"));
        }
        if pending.client_id != client_id {
            return Err(TokenError::InvalidGrant(
                "client_id differs from the authorization request",
            ));
        }
        if pending.redirect_uri != redirect_uri {
            return Err(TokenError::InvalidGrant(
                "redirect_uri differs from the authorization request",
            ));
        }
        if !constant_time_eq(&pkce_challenge(verifier), &pending.challenge) {
            return Err(TokenError::InvalidGrant(
                "code_verifier does not match code_challenge",
            ));
        }
        Ok(Redeemed {
            user: pending.user,
            nonce: pending.nonce,
            client_id: pending.client_id,
        })
    }
}

/// What the sign-in endpoints work with.
#[derive(Clone)]
struct Login {
    issuer: String,
    key: Arc<DevKey>,
    users: Arc<Vec<DemoUser>>,
    codes: Arc<CodeStore>,
}

/// The sign-in routes (`/authorize`, `/token`) for `issuer`, signing with `key`.
pub fn router(issuer: String, key: Arc<DevKey>, users: Vec<DemoUser>) -> Router {
    let login = Login {
        issuer,
        key,
        users: Arc::new(users),
        codes: Arc::new(CodeStore::default()),
    };
    Router::new()
        .route("/authorize", get(authorize_page).post(authorize_submit))
        .route("/token", post(token))
        .with_state(login)
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action *",
            ),
        ],
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Demo sign-in</title>\
             <style>body{{font-family:sans-serif;max-width:32em;margin:3em auto}}\
             button{{display:block;margin:.4em 0;padding:.5em 1em;width:100%;text-align:left}}\
             .warn{{color:#a00}}</style></head><body>{body}</body></html>"
        )),
    )
        .into_response()
}

fn refused(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        format!(
            "<h1>Sign-in refused</h1><p class=\"warn\">{}</p>",
            escape_html(message)
        ),
    )
}

/// The sign-in page for a valid request.
pub fn render_sign_in(params: &AuthorizeParams, users: &[DemoUser]) -> String {
    let hidden: String = [
        ("response_type", params.response_type.as_str()),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("state", &params.state),
        ("nonce", params.nonce.as_deref().unwrap_or("")),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
    ]
    .iter()
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            escape_html(v)
        )
    })
    .collect();
    let buttons: String = users
        .iter()
        .map(|u| {
            format!(
                "<button type=\"submit\" name=\"user\" value=\"{name}\">{name} <small>({groups})</small></button>",
                name = escape_html(&u.name),
                groups = escape_html(&u.groups.join(", "))
            )
        })
        .collect();
    format!(
        "<h1>Demo sign-in</h1><p class=\"warn\">Demo issuer: no passwords. Never use it in production.</p>\
         <p>Sign in to <b>{client}</b> as:</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}{buttons}</form>\
         <form method=\"post\" action=\"/authorize\">{hidden}\
         <label>or another name: <input name=\"user\" id=\"user\" required></label> \
         <input type=\"submit\" value=\"Sign in\"></form>",
        client = escape_html(&params.client_id),
    )
}

async fn authorize_page(
    State(login): State<Login>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    if let Err(message) = params.validate() {
        return refused(&message);
    }
    page(StatusCode::OK, render_sign_in(&params, &login.users))
}

/// `redirect_uri` with `code` and `state` added to its query.
pub fn redirect_with_code(redirect_uri: &str, code: &str, state: &str) -> String {
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string([("code", code), ("state", state)]).unwrap_or_default();
    format!("{redirect_uri}{separator}{query}")
}

async fn authorize_submit(
    State(login): State<Login>,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    if let Err(message) = params.validate() {
        return refused(&message);
    }
    let name = params.user.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return refused("choose a user");
    }
    // A typed name that is not on the list signs in without groups.
    let user = login
        .users
        .iter()
        .find(|u| u.name == name)
        .cloned()
        .unwrap_or_else(|| DemoUser {
            name: name.to_string(),
            groups: Vec::new(),
        });
    tracing::info!(user = %user.name, client_id = %params.client_id, "dev issuer: sign-in");
    let code = login.codes.issue(&params, user, Instant::now());
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::LOCATION,
                redirect_with_code(&params.redirect_uri, &code, &params.state),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

/// The form of `POST /token`.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code_verifier: String,
}

async fn token(State(login): State<Login>, Form(params): Form<TokenParams>) -> Response {
    let result = if params.grant_type != "authorization_code" {
        Err(TokenError::UnsupportedGrant)
    } else {
        login.codes.redeem(
            &params.code,
            &params.client_id,
            &params.redirect_uri,
            &params.code_verifier,
            Instant::now(),
        )
    };
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match result {
        Ok(redeemed) => {
            let mut extra = serde_json::Map::new();
            extra.insert("aud".into(), json!(redeemed.client_id));
            extra.insert("name".into(), json!(redeemed.user.name));
            if let Some(nonce) = redeemed.nonce {
                extra.insert("nonce".into(), json!(nonce));
            }
            let id_token = login.key.mint(
                &login.issuer,
                &redeemed.user.name,
                &redeemed.user.groups,
                ID_TOKEN_TTL,
                &extra,
            );
            (
                no_store,
                Json(json!({
                    "id_token": id_token,
                    "token_type": "Bearer",
                    "expires_in": ID_TOKEN_TTL.as_secs(),
                })),
            )
                .into_response()
        }
        Err(err) => (
            StatusCode::BAD_REQUEST,
            no_store,
            Json(json!({"error": err.code(), "error_description": err.to_string()})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(verifier: &str) -> AuthorizeParams {
        AuthorizeParams {
            response_type: "code".into(),
            client_id: "warden-console".into(),
            redirect_uri: "http://127.0.0.1:9090/console/callback".into(),
            state: "s1".into(),
            nonce: Some("n1".into()),
            code_challenge: pkce_challenge(verifier),
            code_challenge_method: "S256".into(),
            user: None,
        }
    }

    fn alice() -> DemoUser {
        "alice:approvers,auditors".parse().unwrap()
    }

    #[test]
    fn users_parse_from_the_flag() {
        assert_eq!(
            alice(),
            DemoUser {
                name: "alice".into(),
                groups: vec!["approvers".into(), "auditors".into()]
            }
        );
        assert_eq!(
            "bob".parse::<DemoUser>().unwrap().groups,
            Vec::<String>::new()
        );
        assert!(":approvers"
            .parse::<DemoUser>()
            .unwrap_err()
            .contains("NAME:GROUP"));
        assert_eq!(default_users().len(), 3);
    }

    #[test]
    fn requests_without_pkce_or_state_are_refused() {
        let good = params("v".repeat(43).as_str());
        assert_eq!(good.validate(), Ok(()));
        let mut plain = good.clone();
        plain.code_challenge_method = "plain".into();
        assert!(plain.validate().unwrap_err().contains("S256"));
        let mut stateless = good.clone();
        stateless.state.clear();
        assert!(stateless.validate().unwrap_err().contains("state"));
        let mut implicit = good.clone();
        implicit.response_type = "token".into();
        assert!(implicit.validate().is_err());
        let mut odd_redirect = good;
        odd_redirect.redirect_uri = "javascript:alert(1)".into();
        assert!(odd_redirect.validate().is_err());
    }

    #[test]
    fn a_code_redeems_once_with_the_right_verifier_client_and_redirect() {
        let store = CodeStore::default();
        let verifier = random_token();
        let p = params(&verifier);
        let now = Instant::now();
        let code = store.issue(&p, alice(), now);
        let redeemed = store
            .redeem(&code, &p.client_id, &p.redirect_uri, &verifier, now)
            .unwrap();
        assert_eq!(redeemed.user, alice());
        assert_eq!(redeemed.nonce.as_deref(), Some("n1"));
        assert_eq!(
            store.redeem(&code, &p.client_id, &p.redirect_uri, &verifier, now),
            Err(TokenError::InvalidGrant("unknown or already used code"))
        );
    }

    #[test]
    fn mismatches_and_expiry_burn_the_code() {
        let store = CodeStore::default();
        let verifier = random_token();
        let p = params(&verifier);
        let now = Instant::now();
        let cases: [(&str, &str, &str, Instant, &str); 4] = [
            ("other", &p.redirect_uri, &verifier, now, "client_id"),
            (
                &p.client_id,
                "http://evil/cb",
                &verifier,
                now,
                "redirect_uri",
            ),
            (
                &p.client_id,
                &p.redirect_uri,
                "wrong-verifier",
                now,
                "code_verifier",
            ),
            (
                &p.client_id,
                &p.redirect_uri,
                &verifier,
                now + CODE_TTL,
                "expired",
            ),
        ];
        for (client, redirect, verifier_given, at, expected) in cases {
            let code = store.issue(&p, alice(), now);
            match store.redeem(&code, client, redirect, verifier_given, at) {
                Err(TokenError::InvalidGrant(message)) => {
                    assert!(message.contains(expected), "{message} vs {expected}")
                }
                other => panic!("{expected}: {other:?}"),
            }
            // Even the right values fail now: the failed attempt used the code up.
            assert!(store
                .redeem(&code, &p.client_id, &p.redirect_uri, &verifier, now)
                .is_err());
        }
    }

    #[test]
    fn the_page_escapes_what_the_client_sent() {
        let mut p = params("x");
        p.state = "\"><script>alert(1)</script>".into();
        let html = render_sign_in(&p, &[alice()]);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
        assert!(html.contains("value=\"alice\""), "{html}");
    }

    #[test]
    fn the_redirect_carries_code_and_state() {
        assert_eq!(
            redirect_with_code("http://h/cb", "c 1", "s&2"),
            "http://h/cb?code=c+1&state=s%262"
        );
        assert_eq!(
            redirect_with_code("http://h/cb?x=1", "c", "s"),
            "http://h/cb?x=1&code=c&state=s"
        );
    }
}
