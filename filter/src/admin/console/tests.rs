//! The console's handlers through the admin router (`tower::ServiceExt::oneshot`),
//! with a dev issuer on a loopback port: a whole sign-in (login → the issuer's page →
//! its code → callback), the cookie in place of a bearer token, the CSRF check, and
//! self-approval refused.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt as _;

use super::auth::{CSRF_HEADER, FLOW_COOKIE, SESSION_COOKIE};
use super::*;
use crate::admin::router;
use crate::approval::{ApprovalRules, NewHold, Operation, Requester, Scope};
use crate::identity::{Authenticator, IdentityConfig};
use crate::store::ApprovalStore;
use crate::webhook::Notifier;

const CLIENT: &str = "warden-console";
const REDIRECT: &str = "http://127.0.0.1:9090/console/callback";

struct Harness {
    issuer: String,
    key_dir: tempfile::TempDir,
    state: AdminState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    async fn start() -> Harness {
        let key_dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = crate::dev::issuer::issuer_url_for(listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (dir, served) = (key_dir.path().to_path_buf(), issuer.clone());
        tokio::spawn(async move {
            let _ = crate::dev::issuer::serve_issuer(listener, &dir, served, async {
                let _ = stopped.await;
            })
            .await;
        });
        let identity: IdentityConfig = serde_yaml_ng::from_str(&format!(
            "issuers:\n  - issuer: {issuer}\n    audiences: [warden, {CLIENT}]\n    allow_http: true\n"
        ))
        .unwrap();
        let console = Console::new(
            ConsoleConfig {
                issuer: issuer.clone(),
                client_id: CLIENT.into(),
                redirect_url: REDIRECT.into(),
                cookie_secure: false,
            },
            "authorization",
        )
        .unwrap();
        let state = AdminState::new(
            ApprovalStore::open("sqlite::memory:").await.unwrap(),
            Arc::new(Authenticator::new(&identity).unwrap()),
            Arc::new(Notifier::new(Vec::new()).unwrap()),
        )
        .with_console(console);
        Harness {
            issuer,
            key_dir,
            state,
            _stop: stop,
        }
    }

    fn token(&self, sub: &str, groups: &[&str], aud: &str) -> String {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let mut extra = serde_json::Map::new();
        extra.insert("aud".into(), serde_json::json!(aud));
        crate::dev::issuer::mint_token(
            self.key_dir.path(),
            &self.issuer,
            sub,
            &groups,
            Duration::from_secs(300),
            &extra,
        )
        .unwrap()
    }

    async fn send(&self, request: Request<Body>) -> axum::response::Response {
        router(self.state.clone()).oneshot(request).await.unwrap()
    }

    async fn hold_by(&self, subject: &str) -> String {
        let hold = NewHold {
            requester: Requester {
                subject: subject.into(),
                issuer: self.issuer.clone(),
                groups: vec!["approvers".into()],
                kind: "agent".into(),
                acting_for: Vec::new(),
            },
            operation: Operation {
                method: "DELETE".into(),
                host: "api.test".into(),
                path: "/things/1".into(),
                summary: "DELETE api.test/things/1".into(),
                fingerprint: crate::approval::Fingerprint(format!("{subject:0>64}")),
            },
            scope: Scope::Operation,
            rule: "hold-deletes".into(),
            reason: "deletes need a human".into(),
            policy_hash: "p".into(),
            rules: ApprovalRules::default(),
            request_id: "req-1".into(),
        };
        let (approval, _) = self
            .state
            .store
            .open_hold(hold, crate::approval::Timestamp::now())
            .await
            .unwrap();
        approval.id.0
    }
}

fn set_cookies(response: &axum::response::Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_pair(set_cookie: &[String], name: &str) -> String {
    set_cookie
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {set_cookie:?}"))
        .to_string()
}

fn location(response: &axum::response::Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

async fn json_of(response: axum::response::Response) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

fn get(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).unwrap()
}

/// Signs in as `user` through the issuer's page; the session cookie pair.
async fn sign_in(h: &Harness, user: &str) -> String {
    let login = h.send(get("/console/login", None)).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let flow = cookie_pair(&set_cookies(&login), FLOW_COOKIE);
    let authorize = location(&login);
    assert!(
        authorize.starts_with(&format!("{}/authorize?", h.issuer)),
        "{authorize}"
    );
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    let query = authorize.split_once('?').unwrap().1;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"alice\""), "{page}");
    let chosen = http
        .post(format!("{}/authorize", h.issuer))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("{query}&user={user}"))
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status().as_u16(), 303);
    let back = chosen.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(REDIRECT), "{back}");
    let callback = back.replacen("http://127.0.0.1:9090", "", 1);
    let done = h.send(get(&callback, Some(&flow))).await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        json_of(done).await
    );
    let cookies = set_cookies(&done);
    assert!(
        cookies.iter().any(|c| c.starts_with("warden_console=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax")),
        "{cookies:?}"
    );
    // Replaying the same code fails: it was single use.
    let replay = h.send(get(&callback, Some(&flow))).await;
    assert_eq!(replay.status(), StatusCode::BAD_GATEWAY);
    cookie_pair(&cookies, SESSION_COOKIE)
}

#[tokio::test]
async fn sign_in_sets_a_cookie_the_admin_api_accepts() {
    let h = Harness::start().await;
    let session = sign_in(&h, "alice").await;
    let me = h.send(get("/console/api/me", Some(&session))).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.headers()[header::CACHE_CONTROL], "no-store");
    let me = json_of(me).await;
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["groups"], serde_json::json!(["approvers", "auditors"]));
    let list = h.send(get("/v1/approvals", Some(&session))).await;
    assert_eq!(list.status(), StatusCode::OK);
    let anonymous = h.send(get("/console/api/me", None)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let forged = h
        .send(get("/console/api/me", Some("warden_console=abc.def.ghi")))
        .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_callback_refuses_a_foreign_state_and_a_missing_flow() {
    let h = Harness::start().await;
    let login = h.send(get("/console/login", None)).await;
    let flow = cookie_pair(&set_cookies(&login), FLOW_COOKIE);
    let wrong = h
        .send(get("/console/callback?code=c&state=not-ours", Some(&flow)))
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookies(&wrong)
        .iter()
        .any(|c| c.starts_with("warden_console_flow=;")));
    let no_flow = h.send(get("/console/callback?code=c&state=s", None)).await;
    assert_eq!(no_flow.status(), StatusCode::BAD_REQUEST);
    let page = String::from_utf8(
        axum::body::to_bytes(no_flow.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(page.contains("No sign-in is in progress"), "{page}");
}

#[tokio::test]
async fn cookie_changes_need_the_console_header_and_self_approval_is_refused() {
    let h = Harness::start().await;
    let alice = sign_in(&h, "alice").await;
    let own = h.hold_by("alice").await;
    let other = h.hold_by("agent-7").await;
    let post = |id: &str, cookie: &str, csrf: bool| {
        let mut builder = Request::post(format!("/v1/approvals/{id}/approve"))
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if csrf {
            builder = builder.header(CSRF_HEADER, "1");
        }
        builder
            .body(Body::from(r#"{"justification":"ticket OPS-1"}"#))
            .unwrap()
    };
    let forged = h.send(post(&other, &alice, false)).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(forged).await["error"]["code"], "csrf");
    let cross_site = h
        .send({
            let mut r = post(&other, &alice, true);
            r.headers_mut()
                .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
            r
        })
        .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let mine = h.send(post(&own, &alice, true)).await;
    assert_eq!(mine.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(mine).await["error"]["code"], "self_approval");
    let approved = h.send(post(&other, &alice, true)).await;
    assert_eq!(approved.status(), StatusCode::OK);
    assert_eq!(json_of(approved).await["status"], "approved");
    // A bearer token needs no console header (CLI and scripts).
    let bearer = h
        .send(
            Request::post(format!("/v1/approvals/{own}/deny"))
                .header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", h.token("carol", &["approvers"], "warden")),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(bearer.status(), StatusCode::OK);
}

#[tokio::test]
async fn pages_forbid_caching_and_inline_script_and_logout_clears_the_cookie() {
    let h = Harness::start().await;
    let page = h.send(get("/console/", None)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let html = String::from_utf8(
        axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(!html.contains("<script>"), "scripts are files, not inline");
    let alice = sign_in(&h, "alice").await;
    let refused = h
        .send(
            Request::post("/console/logout")
                .header(header::COOKIE, &alice)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let out = h
        .send(
            Request::post("/console/logout")
                .header(header::COOKIE, &alice)
                .header(CSRF_HEADER, "1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(set_cookies(&out)
        .iter()
        .any(|c| c.starts_with("warden_console=;") && c.contains("Max-Age=0")));
}

#[tokio::test]
async fn the_issuer_token_endpoint_refuses_a_wrong_verifier() {
    let h = Harness::start().await;
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{}/token", h.issuer))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=nope&redirect_uri=x&client_id=y&code_verifier=z")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let password = http
        .post(format!("{}/token", h.issuer))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=password&username=alice")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = password.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

/// `GET` with a bearer token of `sub` in `groups`.
fn bearer_get(h: &Harness, uri: &str, sub: &str, groups: &[&str]) -> Request<Body> {
    Request::get(uri)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", h.token(sub, groups, "warden")),
        )
        .body(Body::empty())
        .unwrap()
}

/// The recorded exchange of request `req-1` with `body` as its masked request body.
fn recorded_exchange(body: crate::audit::BodyCapture) -> crate::audit::Chained {
    use crate::audit::{AuditRecord, Chained, ChainedRecord, ExchangeCapture};
    Chained {
        record: ChainedRecord {
            instance: "w-1".into(),
            seq: 1,
            prev_hash: "prev".into(),
            hash: "hash".into(),
            record: AuditRecord {
                request_id: "req-1".into(),
                session_id: "s-1".into(),
                started_at: crate::approval::Timestamp::now().rfc3339(),
                ..AuditRecord::default()
            },
        },
        capture: Some(ExchangeCapture {
            request_body: body,
            ..ExchangeCapture::default()
        }),
    }
}

#[tokio::test]
async fn a_hold_preview_shows_the_masked_body_to_whoever_may_see_the_hold() {
    let mut h = Harness::start().await;
    let id = h.hold_by("agent-7").await;
    let uri = format!("/console/api/holds/{id}/preview");

    // Audit off: no recording, and the answer says so.
    let off = h.send(bearer_get(&h, &uri, "alice", &["approvers"])).await;
    assert_eq!(off.status(), StatusCode::OK);
    let off = json_of(off).await;
    assert_eq!(off["state"], "recording_off");
    assert!(off["note"]
        .as_str()
        .unwrap()
        .contains("audit.sessions.record"));

    // Recording on, not written yet.
    let dir = tempfile::tempdir().unwrap();
    h.state = h
        .state
        .clone()
        .with_audit_status(super::audit_status::AuditStatusSource::new(
            Arc::new(crate::audit::WriterStats::default()),
            dir.path().to_path_buf(),
            dir.path().join("key.pub"),
        ));
    let pending = json_of(h.send(bearer_get(&h, &uri, "alice", &["approvers"])).await).await;
    assert_eq!(pending["state"], "not_recorded");
    assert!(pending["note"]
        .as_str()
        .unwrap()
        .contains("not recorded yet"));

    // Recorded: the masked text, to the approver and to the requester.
    let masked = format!(
        "{{\"token\": \"[MASKED:github-token]\", \"pad\": \"{}\"}}",
        "x".repeat(3000)
    );
    h.state
        .store
        .record_exchanges(&[recorded_exchange(crate::audit::BodyCapture {
            captured: true,
            content_type: "application/json".into(),
            text: Some(masked.clone()),
            bytes: masked.len() as u64,
            ..crate::audit::BodyCapture::default()
        })])
        .await
        .unwrap();
    for (who, groups) in [("alice", &["approvers"][..]), ("agent-7", &["agents"][..])] {
        let shown = h.send(bearer_get(&h, &uri, who, groups)).await;
        assert_eq!(shown.status(), StatusCode::OK, "{who}");
        assert_eq!(shown.headers()[header::CACHE_CONTROL], "no-store");
        let shown = json_of(shown).await;
        assert_eq!(shown["state"], "captured", "{who}");
        assert_eq!(shown["request_id"], "req-1");
        assert_eq!(shown["content_type"], "application/json");
        let text = shown["text"].as_str().unwrap();
        assert_eq!(text.len(), preview::PREVIEW_BYTES);
        assert!(masked.starts_with(text));
        assert_eq!(shown["truncated"], true);
        assert_eq!(shown["bytes"], masked.len());
    }

    // Someone who may neither decide nor asked: as if it did not exist.
    let stranger = h.send(bearer_get(&h, &uri, "mallory", &["agents"])).await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    let text = String::from_utf8(
        axum::body::to_bytes(stranger.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(!text.contains("MASKED"), "{text}");
    let unknown = h
        .send(bearer_get(
            &h,
            "/console/api/holds/apr-nope/preview",
            "alice",
            &["approvers"],
        ))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let anonymous = h.send(get(&uri, None)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_hold_preview_relays_why_a_body_was_not_captured() {
    let h = Harness::start().await;
    let id = h.hold_by("agent-7").await;
    h.state
        .store
        .record_exchanges(&[recorded_exchange(crate::audit::BodyCapture::not_captured(
            "masking is off, and nothing unmasked is recorded",
        ))])
        .await
        .unwrap();
    let uri = format!("/console/api/holds/{id}/preview");
    let answer = json_of(h.send(bearer_get(&h, &uri, "alice", &["approvers"])).await).await;
    assert_eq!(answer["state"], "not_captured");
    assert_eq!(
        answer["note"],
        "not captured: masking is off, and nothing unmasked is recorded"
    );
    assert!(answer.get("text").is_none(), "{answer}");
}
