//! The approver web console, served on the admin port under `/console/`.
//!
//! Plain HTML, one script and one style sheet, embedded in the binary. People sign in
//! with OIDC (authorization code + PKCE S256, [`auth`]) at `approvals.admin.console.issuer`;
//! the verified id_token is kept in an HttpOnly cookie that the whole admin API accepts
//! as well as `Authorization: Bearer` (a state-changing request with the cookie also
//! needs the console's header, [`auth::CSRF_HEADER`]). The console then uses the
//! existing API (`/v1/approvals`, `/v1/sessions`) plus:
//!
//! | method | path | |
//! | --- | --- | --- |
//! | GET | `/console/` | the page (and `/console/app.js`, `/console/style.css`) |
//! | GET | `/console/login` | starts a sign-in at the issuer |
//! | GET | `/console/callback` | the issuer's redirect: checks state and nonce, sets the cookie |
//! | POST | `/console/logout` | clears the cookie |
//! | GET | `/console/api/me` | who is signed in |
//! | GET | `/console/api/events` | server-sent events: the caller's approvals whenever they change ([`events`]) |
//! | GET | `/console/api/audit` | the audit writer's counters and whether the local log verifies ([`audit_status`]) |
//! | GET | `/console/api/holds/{id}/preview` | the held request's masked body, from its recorded exchange ([`preview`]) |
//!
//! Every console response forbids caching and framing, and carries
//! `Content-Security-Policy: default-src 'self'` (no inline script).

pub mod audit_status;
pub mod auth;
pub mod events;
pub mod preview;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use self::auth::{
    check_csrf, check_id_token_claims, claims_of, clear_cookie, cookie_value, origin_of,
    set_cookie, Flow, FLOW_COOKIE, FLOW_COOKIE_PATH, FLOW_MAX_AGE, SESSION_COOKIE,
};
use super::{caller, AdminError, AdminState};
use crate::config::ConsoleConfig;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The policy every console response carries.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's settings and its client for the issuer.
#[derive(Debug)]
pub struct Console {
    settings: ConsoleConfig,
    /// The header the identity section reads tokens from (where the cookie's token goes).
    token_header: HeaderName,
    /// `scheme://host:port` of the redirect URL: state-changing requests must come from it.
    origin: String,
    http: reqwest::Client,
    endpoints: tokio::sync::OnceCell<Endpoints>,
}

/// The issuer's endpoints, from its discovery document.
#[derive(Clone, Debug, Deserialize)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// Why the console could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The HTTP client for the issuer could not be built.
    #[error("approvals.admin.console: cannot build the HTTP client: {0}")]
    Client(String),
    /// `identity.token.header` is not a valid header name.
    #[error("identity.token.header {0:?} is not a header name")]
    TokenHeader(String),
}

impl Console {
    /// The console for `settings`; tokens go to the authenticator in `token_header`.
    pub fn new(settings: ConsoleConfig, token_header: &str) -> Result<Console, ConsoleError> {
        crate::identity::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConsoleError::Client(e.to_string()))?;
        let token_header = HeaderName::from_bytes(token_header.as_bytes())
            .map_err(|_| ConsoleError::TokenHeader(token_header.to_string()))?;
        Ok(Console {
            origin: origin_of(&settings.redirect_url),
            settings,
            token_header,
            http,
            endpoints: tokio::sync::OnceCell::new(),
        })
    }

    /// The token as the authenticator expects it in [`Console::token_header`].
    fn token_value(&self, token: &str) -> Option<HeaderValue> {
        let value = if self.token_header == header::AUTHORIZATION {
            format!("Bearer {token}")
        } else {
            token.to_string()
        };
        HeaderValue::from_str(&value).ok()
    }

    async fn endpoints(&self) -> Result<&Endpoints, String> {
        self.endpoints
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let response = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("cannot reach {url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("{url} answered {}", response.status()));
                }
                response
                    .json::<Endpoints>()
                    .await
                    .map_err(|e| format!("{url} has no authorization_endpoint/token_endpoint: {e}"))
            })
            .await
    }
}

/// Adds the console's headers: no caching, no framing, the content policy.
fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The callback URL carries the code: never hand it to another site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The console's routes (the caller merges them into the admin router).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/console/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/console/login", get(login))
        .route("/console/callback", get(callback))
        .route("/console/logout", post(logout))
        .route("/console/api/me", get(me))
        .route("/console/api/events", get(events::events))
        .route("/console/api/audit", get(audit_status::status))
        .route("/console/api/holds/{id}/preview", get(preview::preview))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Middleware over the whole admin router: a request with the session cookie and no
/// token of its own is authenticated with the cookie's token, after the CSRF check
/// for state-changing methods. Console paths get [`harden`]ed headers, and so does
/// every cookie-authenticated answer.
pub async fn cookie_auth(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(console) = state.console.clone() else {
        return next.run(request).await;
    };
    let console_path = request.uri().path().starts_with("/console");
    let headers = request.headers();
    let mut by_cookie = false;
    if !headers.contains_key(&console.token_header) {
        if let Some(token) = cookie_value(headers, SESSION_COOKIE) {
            if let Err(err) = check_csrf(request.method(), headers, &console.origin) {
                tracing::info!(path = %request.uri().path(), error = %err, "console: request refused");
                let refusal =
                    AdminError::new(StatusCode::FORBIDDEN, "csrf", err.to_string()).into_response();
                return harden(refusal);
            }
            if let Some(value) = console.token_value(&token) {
                request
                    .headers_mut()
                    .insert(console.token_header.clone(), value);
                by_cookie = true;
            }
        }
    }
    let response = next.run(request).await;
    if console_path || by_cookie {
        harden(response)
    } else {
        response
    }
}

async fn login(State(state): State<AdminState>) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let endpoints = match console.endpoints().await {
        Ok(e) => e,
        Err(message) => {
            tracing::warn!(error = %message, "console: the issuer's discovery failed");
            return error_page(
                StatusCode::BAD_GATEWAY,
                &format!("The sign-in issuer is unavailable ({message}). Try again shortly."),
            );
        }
    };
    let flow = Flow::new();
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", console.settings.client_id.as_str()),
        ("redirect_uri", console.settings.redirect_url.as_str()),
        ("scope", "openid profile groups"),
        ("state", flow.state.as_str()),
        ("nonce", flow.nonce.as_str()),
        ("code_challenge", &auth::pkce_challenge(&flow.verifier)),
        ("code_challenge_method", "S256"),
    ])
    .unwrap_or_default();
    let separator = if endpoints.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{query}", endpoints.authorization_endpoint);
    let cookie = set_cookie(
        FLOW_COOKIE,
        &flow.encode(),
        FLOW_COOKIE_PATH,
        FLOW_MAX_AGE,
        console.settings.cookie_secure,
    );
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response()
}

/// Query of `/console/callback`.
#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Warden console</title>\
         <link rel=\"stylesheet\" href=\"/console/style.css\"></head><body><main>\
         <h1>Sign-in failed</h1><p class=\"error\" id=\"signin-error\">{}</p>\
         <p><a href=\"/console/login\">Sign in again</a></p></main></body></html>",
        crate::dev::login::escape_html(message)
    );
    (status, Html(body)).into_response()
}

async fn callback(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let secure = console.settings.cookie_secure;
    let clear_flow = clear_cookie(FLOW_COOKIE, FLOW_COOKIE_PATH, secure);
    let fail = |status: StatusCode, message: &str| {
        let mut response = error_page(status, message);
        if let Ok(v) = HeaderValue::from_str(&clear_flow) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    };
    if let Some(error) = &query.error {
        let detail = query.error_description.as_deref().unwrap_or("");
        return fail(
            StatusCode::UNAUTHORIZED,
            &format!("The issuer refused the sign-in: {error} {detail}"),
        );
    }
    let Some(flow) = cookie_value(&headers, FLOW_COOKIE).and_then(|v| Flow::decode(&v)) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "No sign-in is in progress in this browser (it expired, or cookies are blocked).",
        );
    };
    let (Some(code), Some(returned_state)) = (&query.code, &query.state) else {
        return fail(StatusCode::BAD_REQUEST, "The issuer sent no code.");
    };
    if !auth::constant_time_eq(returned_state, &flow.state) {
        return fail(
            StatusCode::BAD_REQUEST,
            "The sign-in response does not belong to this browser's sign-in (state mismatch).",
        );
    }
    let id_token = match exchange_code(&console, code, &flow.verifier).await {
        Ok(t) => t,
        Err(message) => {
            tracing::warn!(error = %message, "console: code exchange failed");
            return fail(StatusCode::BAD_GATEWAY, &message);
        }
    };
    let max_age = match verify_id_token(&state, &console, &id_token, &flow.nonce).await {
        Ok(max_age) => max_age,
        Err(message) => {
            tracing::warn!(error = %message, "console: id_token refused");
            return fail(StatusCode::UNAUTHORIZED, &message);
        }
    };
    let session = set_cookie(SESSION_COOKIE, &id_token, "/", max_age, secure);
    let mut response = Redirect::to("/console/").into_response();
    for cookie in [session, clear_flow] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Trades the code for an id_token at the issuer's token endpoint.
async fn exchange_code(console: &Console, code: &str, verifier: &str) -> Result<String, String> {
    let endpoints = console.endpoints().await?;
    let body = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", console.settings.redirect_url.as_str()),
        ("client_id", console.settings.client_id.as_str()),
        ("code_verifier", verifier),
    ])
    .map_err(|e| e.to_string())?;
    let response = console
        .http
        .post(&endpoints.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach the issuer's token endpoint: {e}"))?;
    let status = response.status();
    let json: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("the token endpoint answered {status} without JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "the issuer refused the code: {} {}",
            json["error"].as_str().unwrap_or(""),
            json["error_description"].as_str().unwrap_or("")
        ));
    }
    json["id_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            "the token endpoint returned no id_token (is the openid scope allowed?)".into()
        })
}

/// Verifies the id_token like any admin token, then its issuer, nonce and audience;
/// the seconds it stays valid (the cookie's lifetime).
async fn verify_id_token(
    state: &AdminState,
    console: &Console,
    id_token: &str,
    nonce: &str,
) -> Result<u64, String> {
    let mut headers = HeaderMap::new();
    let value = console
        .token_value(id_token)
        .ok_or("the id_token is not a valid header value")?;
    headers.insert(console.token_header.clone(), value);
    let identity = caller(state, &headers, "/console/callback")
        .await
        .map_err(|e| format!("the id_token does not verify: {}", e.message))?;
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    if !same(&identity.issuer, &console.settings.issuer) {
        return Err(format!(
            "the id_token comes from {}, not the console's issuer",
            identity.issuer
        ));
    }
    let claims = claims_of(id_token).ok_or("the id_token cannot be read")?;
    let exp = check_id_token_claims(&claims, nonce, &console.settings.client_id)
        .map_err(|e| e.to_string())?;
    let now = crate::approval::Timestamp::now().0 / 1000;
    Ok(exp.saturating_sub(u64::try_from(now).unwrap_or(0)))
}

async fn logout(State(state): State<AdminState>) -> Response {
    let secure = state
        .console
        .as_ref()
        .is_some_and(|c| c.settings.cookie_secure);
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            clear_cookie(SESSION_COOKIE, "/", secure),
        )],
    )
        .into_response()
}

/// `GET /console/api/me`: who the cookie (or token) says the caller is.
async fn me(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, AdminError> {
    let identity = caller(&state, &headers, "/console/api/me").await?;
    Ok(Json(serde_json::json!({
        "subject": identity.subject,
        "issuer": identity.issuer,
        "groups": identity.groups,
        "kind": identity.kind.name(),
        "session_reader": super::sessions::reads_all(&state, &identity),
    })))
}

#[cfg(test)]
mod tests;
