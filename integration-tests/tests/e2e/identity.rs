//! Identity through a real Envoy, for ext_proc and ext_authz: verified tokens pass
//! with the identity attached; ≥ 25 malformed or hostile tokens are each refused with
//! 401 and a reason; the agent's token never reaches the upstream, the injected
//! credential does, and an upstream that echoes it back has it masked.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use warden::dev::issuer::{mint_token, serve_issuer};
use warden_integration_tests::stack::{http1_client, Flavor, Stack, StackOptions};

const INJECTED: &str = "upstream-credential-4f9b2c7e1a8d6350";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A dev issuer on a free port, serving in this process; returns its URL.
async fn start_issuer(key_dir: &Path) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let (dir, url) = (key_dir.to_path_buf(), issuer.clone());
    tokio::spawn(async move {
        let _ = serve_issuer(listener, &dir, url, std::future::pending()).await;
    });
    Ok(issuer)
}

async fn stack(flavor: Flavor, issuer: &str, secret_file: &Path) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        flavor,
        warden_config: format!(
            "identity:\n  required: true\n  issuers:\n    - issuer: {issuer}\n      audiences: [warden]\n      allow_http: true\n\
             \x20 upstream_headers: {{subject: x-warden-subject, groups: x-warden-groups}}\n\
             \x20 credentials:\n    - name: upstream-api\n      hosts: ['127.0.0.1']\n      path_prefix: /headers\n      inject: {{bearer: {{file: {}}}}}\n",
            secret_file.display()
        ),
        ..StackOptions::default()
    })
    .await
}

/// The hostile and malformed tokens, each with a name. `good` is a valid token.
fn hostile_tokens(
    key_dir: &Path,
    issuer: &str,
    good: &str,
) -> anyhow::Result<Vec<(&'static str, Option<String>)>> {
    let mint = |extra: Value| -> anyhow::Result<String> {
        let extra: Map<String, Value> = serde_json::from_value(extra)?;
        Ok(mint_token(
            key_dir,
            issuer,
            "mallory",
            &[],
            Duration::from_secs(600),
            &extra,
        )?)
    };
    let parts: Vec<&str> = good.split('.').collect();
    ensure!(parts.len() == 3, "dev token is not a JWS");
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0])?,
    )?;
    let kid = header["kid"].as_str().unwrap_or_default().to_string();
    let with_header = |h: Value| {
        format!(
            "{}.{}.{}",
            b64(h.to_string().as_bytes()),
            parts[1],
            parts[2]
        )
    };
    let payload = |claims: Value| b64(claims.to_string().as_bytes());
    let claims =
        json!({"iss": issuer, "sub": "mallory", "aud": "warden", "exp": now() + 600, "iat": now()});
    // HMAC "signed" with the issuer's public JWKS material as the secret: key confusion.
    let hs_header = b64(json!({"alg": "HS256", "typ": "JWT", "kid": kid})
        .to_string()
        .as_bytes());
    let hs_body = payload(claims.clone());
    let mut flipped_sig = parts[2].to_string();
    let last = flipped_sig
        .pop()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .unwrap_or('A');
    flipped_sig.push(last);

    Ok(vec![
        ("no token", None),
        ("empty bearer", Some(String::new())),
        ("one segment", Some("abc".into())),
        ("two segments", Some("abc.def".into())),
        ("four segments", Some(format!("{good}.xyz"))),
        ("not base64", Some("!!!.@@@.###".into())),
        (
            "header not JSON",
            Some(format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2])),
        ),
        (
            "alg none, no signature",
            Some(format!(
                "{}.{}.",
                b64(br#"{"alg":"none"}"#),
                payload(claims.clone())
            )),
        ),
        (
            "alg none, with signature",
            Some(with_header(json!({"alg": "none", "kid": kid}))),
        ),
        (
            "alg None (case)",
            Some(with_header(json!({"alg": "None", "kid": kid}))),
        ),
        (
            "HS256 key confusion",
            Some(format!(
                "{hs_header}.{hs_body}.{}",
                b64(b"forged-hmac-signature-bytes")
            )),
        ),
        (
            "alg switched to RS256",
            Some(with_header(
                json!({"alg": "RS256", "kid": kid, "typ": "JWT"}),
            )),
        ),
        (
            "unknown kid",
            Some(with_header(
                json!({"alg": header["alg"], "kid": "attacker-key"}),
            )),
        ),
        (
            "kid removed",
            Some(with_header(json!({"alg": header["alg"]}))),
        ),
        (
            "payload tampered",
            Some(format!(
                "{}.{}.{}",
                parts[0],
                payload(
                    json!({"iss": issuer, "sub": "admin", "aud": "warden", "exp": now() + 600})
                ),
                parts[2]
            )),
        ),
        (
            "signature flipped",
            Some(format!("{}.{}.{flipped_sig}", parts[0], parts[1])),
        ),
        (
            "signature empty",
            Some(format!("{}.{}.", parts[0], parts[1])),
        ),
        (
            "signature not base64",
            Some(format!("{}.{}.%%%%", parts[0], parts[1])),
        ),
        (
            "expired",
            Some(mint(json!({"exp": now() - 3600, "iat": now() - 7200}))?),
        ),
        ("not yet valid", Some(mint(json!({"nbf": now() + 3600}))?)),
        (
            "wrong issuer",
            Some(mint(json!({"iss": "https://evil.example"}))?),
        ),
        (
            "wrong audience",
            Some(mint(json!({"aud": "someone-else"}))?),
        ),
        (
            "audience list without us",
            Some(mint(json!({"aud": ["a", "b"]}))?),
        ),
        ("exp as a string", Some(mint(json!({"exp": "9999999999"}))?)),
        ("no exp", Some(mint(json!({"exp": null}))?)),
        (
            "oversized",
            Some(mint(json!({"padding": "x".repeat(20_000)}))?),
        ),
        (
            "crit header",
            Some(with_header(
                json!({"alg": header["alg"], "kid": kid, "crit": ["exp-ext"], "exp-ext": 1}),
            )),
        ),
        (
            "token with spaces",
            Some(format!("{} {}", parts[0], parts[1])),
        ),
    ])
}

/// The reason Warden must give for each hostile token.
fn expected_reason(name: &str) -> &'static str {
    match name {
        "no token" => "missing_credential",
        "alg none, no signature" | "alg none, with signature" | "alg None (case)" => "alg_none",
        "HS256 key confusion" => "hmac_not_accepted",
        "alg switched to RS256" => "key_mismatch",
        "unknown kid" => "unknown_kid",
        "kid removed" | "payload tampered" | "signature flipped" => "bad_signature",
        "expired" => "expired",
        "not yet valid" => "not_yet_valid",
        "wrong issuer" => "unknown_issuer",
        "wrong audience" | "audience list without us" => "wrong_audience",
        "exp as a string" => "invalid_claim",
        "no exp" => "missing_claim",
        "oversized" => "token_too_large",
        "crit header" => "critical_header",
        _ => "malformed_token",
    }
}

async fn check_hostile(flavor: Flavor) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let issuer = start_issuer(dir.path()).await?;
    let secret = dir.path().join("upstream-token");
    std::fs::write(&secret, INJECTED)?;
    let good = mint_token(
        dir.path(),
        &issuer,
        "alice",
        &["agents".into()],
        Duration::from_secs(600),
        &Map::new(),
    )?;
    let stack = stack(flavor, &issuer, &secret).await?;
    let client = http1_client();

    // The good token passes, carrying the identity to the upstream.
    let response = client
        .get(stack.envoy.url("/echo"))
        .bearer_auth(&good)
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "{flavor:?}: valid token got {}\n{}",
        response.status(),
        stack.logs()
    );

    let cases = hostile_tokens(dir.path(), &issuer, &good)?;
    ensure!(cases.len() >= 25);
    let before = stack.upstream.seen().len();
    for (name, token) in &cases {
        let mut request = client.get(stack.envoy.url("/echo"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await?;
        ensure!(status == 401, "{flavor:?} {name}: got {status}: {body}");
        ensure!(
            challenge.starts_with("Bearer"),
            "{flavor:?} {name}: challenge {challenge:?}"
        );
        let json: Value =
            serde_json::from_str(&body).with_context(|| format!("{name}: body {body}"))?;
        let code = json["error"]["code"].as_str().unwrap_or_default();
        ensure!(!code.is_empty(), "{flavor:?} {name}: no reason in {body}");
        let reason = json["error"]["reason"].as_str().unwrap_or_default();
        ensure!(
            reason == expected_reason(name),
            "{flavor:?} {name}: reason {reason:?}, expected {:?}",
            expected_reason(name)
        );
        if let Some(token) = token.as_deref().filter(|t| t.len() > 16) {
            ensure!(
                !body.contains(token) && !challenge.contains(token),
                "{name}: the token was echoed"
            );
        }
        if *name != "no token" {
            ensure!(
                challenge.contains("invalid_token"),
                "{flavor:?} {name}: {challenge}"
            );
        }
    }
    ensure!(
        stack.upstream.seen().len() == before,
        "{flavor:?}: a refused request reached the upstream"
    );
    // Nothing in Warden's own log may carry a token.
    let log = stack.warden.process.log();
    for (_, token) in &cases {
        if let Some(token) = token.as_deref().filter(|t| t.len() > 40) {
            ensure!(!log.contains(token), "a token appeared in Warden's log");
        }
    }
    ensure!(
        !log.contains(&good),
        "the good token appeared in Warden's log"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tokens_are_refused_through_ext_proc() -> anyhow::Result<()> {
    check_hostile(Flavor::ExtProc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tokens_are_refused_through_ext_authz() -> anyhow::Result<()> {
    check_hostile(Flavor::ExtAuthz).await
}

/// Base64 of `value` as it reads when it starts `align` bytes into the encoded data:
/// the characters that depend on the value alone.
fn base64_core(value: &[u8], align: usize) -> String {
    let mut data = vec![0u8; align];
    data.extend_from_slice(value);
    data.extend_from_slice(&[0, 0]);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    encoded[(8 * align).div_ceil(6)..(8 * (align + value.len())) / 6].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_credential_never_comes_back_in_a_header_or_a_binary_body(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let issuer = start_issuer(dir.path()).await?;
    let secret = dir.path().join("upstream-token");
    std::fs::write(&secret, INJECTED)?;
    let token = mint_token(
        dir.path(),
        &issuer,
        "alice",
        &["agents".into()],
        Duration::from_secs(600),
        &Map::new(),
    )?;
    let stack = stack(Flavor::ExtProc, &issuer, &secret).await?;
    // Every spelling that must not come back: raw, and base64 at each alignment.
    let mut spellings = vec![INJECTED.to_string()];
    spellings.extend((0..3).map(|a| base64_core(INJECTED.as_bytes(), a)));
    for path in ["/headers", "/headers?as=binary"] {
        let response = http1_client()
            .get(stack.envoy.url(path))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(
            response.status() == 200,
            "{path}: {}\n{}",
            response.status(),
            stack.logs()
        );
        let echoed = response
            .headers()
            .get("x-echo-authorization")
            .and_then(|v| v.to_str().ok())
            .context("the upstream's echo header is missing")?
            .to_string();
        ensure!(
            echoed.contains("[REDACTED:"),
            "{path}: x-echo-authorization: {echoed}"
        );
        let mut everything = String::new();
        for (name, value) in response.headers() {
            everything.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = response.bytes().await?;
        ensure!(!body.is_empty(), "{path}: empty body");
        everything.push_str(&String::from_utf8_lossy(&body));
        for spelling in &spellings {
            ensure!(
                !everything.contains(&spelling[..spelling.len().min(16)]),
                "{path}: {spelling} came back:\n{everything}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_reaches_the_upstream_and_credentials_are_swapped() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let issuer = start_issuer(dir.path()).await?;
    let secret = dir.path().join("upstream-token");
    std::fs::write(&secret, INJECTED)?;
    let token = mint_token(
        dir.path(),
        &issuer,
        "alice",
        &["agents".into(), "dev".into()],
        Duration::from_secs(600),
        &Map::new(),
    )?;
    let stack = stack(Flavor::ExtProc, &issuer, &secret).await?;
    let client = http1_client();

    // The upstream echoes every header it got; the injected credential comes back
    // masked, and the agent's own token never reached it.
    let response = client
        .get(stack.envoy.url("/headers"))
        .bearer_auth(&token)
        .header("x-warden-subject", "forged-admin")
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "{}\n{}",
        response.status(),
        stack.logs()
    );
    let body = response.text().await?;
    ensure!(
        !body.contains(INJECTED),
        "the injected credential came back to the agent: {body}"
    );
    ensure!(
        body.contains("[REDACTED:"),
        "the echoed credential was not masked: {body}"
    );

    let seen = stack.upstream.seen();
    let request = seen
        .iter()
        .find(|r| r.path == "/headers")
        .context("upstream not reached")?;
    let header = |name: &str| {
        request
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    ensure!(
        header("authorization") == vec![format!("Bearer {INJECTED}").as_str()],
        "upstream got {:?}",
        header("authorization")
    );
    ensure!(
        !request.headers.iter().any(|(_, v)| v.contains(&token)),
        "the agent's token reached the upstream"
    );
    ensure!(
        header("x-warden-subject") == vec!["alice"],
        "subject: {:?}",
        header("x-warden-subject")
    );
    ensure!(header("x-warden-groups")
        .first()
        .is_some_and(|g| g.contains("agents")));

    // Rotate the credential file: Warden injects the new value, and masks it when echoed.
    let rotated = "rotated-upstream-credential-9c3e71d05b2a";
    std::fs::write(&secret, rotated)?;
    let body = warden_integration_tests::process::poll_until(
        "the rotated credential to be injected",
        Duration::from_secs(30),
        || {
            let (client, url, token) = (client.clone(), stack.envoy.url("/headers"), token.clone());
            let seen = stack.upstream.seen();
            async move {
                let used = seen.iter().any(|r| {
                    r.headers
                        .iter()
                        .any(|(n, v)| n == "authorization" && v.contains(rotated))
                });
                let body = client
                    .get(url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                used.then_some(body)
            }
        },
    )
    .await?;
    ensure!(
        !body.contains(rotated),
        "the rotated credential came back unmasked: {body}"
    );

    // Other routes get no injected credential, and still no agent token.
    let response = client
        .get(stack.envoy.url("/echo"))
        .bearer_auth(&token)
        .send()
        .await?;
    ensure!(response.status() == 200);

    // The access log carries the subject from Warden's metadata.
    let line = warden_integration_tests::process::poll_until(
        "access log",
        Duration::from_secs(30),
        || {
            let lines = stack.envoy.access_log();
            async move { lines.into_iter().find(|l| l["path"] == "/headers") }
        },
    )
    .await?;
    ensure!(line["warden_decision"] == "allow", "{line}");
    ensure!(line["warden_subject"] == "alice", "{line}");
    Ok(())
}

/// Sends one HTTP/1.1 request to `port` exactly as written (no client-side path
/// normalisation or header-name checks) and returns the status code.
async fn send_raw(port: u16, request: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .context("response timed out")??;
    let text = String::from_utf8_lossy(&raw);
    text.lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line in {text:?}"))
}

/// A stack with identity, identity headers for the upstream and two credential rules
/// (a bearer under `/headers`, an `x-api-key` under `/keyed`), a token for alice, and
/// a raw HTTP/1.1 sender (no client-side path normalisation or header-name checks).
struct HoleStack {
    stack: Stack,
    token: String,
    api_key: &'static str,
    _dir: tempfile::TempDir,
}

impl HoleStack {
    async fn start() -> anyhow::Result<HoleStack> {
        let dir = tempfile::tempdir()?;
        let issuer = start_issuer(dir.path()).await?;
        let secret = dir.path().join("upstream-token");
        std::fs::write(&secret, INJECTED)?;
        let key = dir.path().join("api-key");
        let api_key = "injected-api-key-58c2e09d71b4a6f3";
        std::fs::write(&key, api_key)?;
        let token = mint_token(
            dir.path(),
            &issuer,
            "alice",
            &["agents".into()],
            Duration::from_secs(600),
            &Map::new(),
        )?;
        let stack = Stack::start(StackOptions {
            warden_config: format!(
                "identity:\n  required: true\n  issuers:\n    - issuer: {issuer}\n      audiences: [warden]\n      allow_http: true\n\
                 \x20 upstream_headers: {{subject: x-warden-subject, groups: x-warden-groups}}\n\
                 \x20 credentials:\n    - name: upstream-api\n      hosts: ['127.0.0.1']\n      path_prefix: /headers\n      inject: {{bearer: {{file: {}}}}}\n\
                 \x20   - name: keyed-api\n      hosts: ['127.0.0.1']\n      path_prefix: /keyed\n      inject: {{header: {{name: x-api-key, value: {{file: {}}}}}}}\n",
                secret.display(),
                key.display()
            ),
            ..StackOptions::default()
        })
        .await?;
        Ok(HoleStack {
            stack,
            token,
            api_key,
            _dir: dir,
        })
    }

    /// `GET target` with alice's token and `extra` header lines; the status code.
    async fn get(&self, target: &str, extra: &str) -> anyhow::Result<u16> {
        let port = self.stack.envoy.port;
        let token = &self.token;
        send_raw(
            port,
            &format!(
                "GET {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {token}\r\n{extra}connection: close\r\n\r\n"
            ),
        )
        .await
    }
}

/// Identity and credential headers are Warden's in every spelling an upstream might
/// fold onto them (`x_warden_subject`, `X.Warden.Subject`, `x_api_key`): none of the
/// client's reaches the upstream. Before, `x_warden_subject: admin` passed and a
/// WSGI/CGI upstream read it as Warden's `x-warden-subject`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_headers_are_stripped_in_every_spelling() -> anyhow::Result<()> {
    let holes = HoleStack::start().await?;
    let stack = &holes.stack;
    let forged = "x_warden_subject: forged-admin\r\nX_WARDEN_GROUPS: admins\r\nx-warden_subject: forged-2\r\n\
                  x.warden.subject: forged-3\r\nx_api_key: agent-chosen-key\r\nX_Api_Key: agent-key-2\r\n";
    let status = holes.get("/keyed/spellings", forged).await?;
    ensure!(status == 200, "status {status}\n{}", stack.logs());
    let seen = stack.upstream.seen();
    let got = seen
        .iter()
        .find(|r| r.path == "/keyed/spellings")
        .context("upstream not reached")?;
    let leaked: Vec<&(String, String)> = got
        .headers
        .iter()
        .filter(|(name, value)| {
            let folded: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            (folded.starts_with("x-warden-")
                && name != "x-warden-subject"
                && name != "x-warden-groups"
                && name != "x-warden-request-id")
                || value.contains("forged")
                || value.contains("admins")
                || (folded == "x-api-key" && value != holes.api_key)
        })
        .collect();
    ensure!(
        leaked.is_empty(),
        "client spellings reached the upstream: {leaked:?}"
    );
    let subject: Vec<&str> = got
        .headers
        .iter()
        .filter(|(n, _)| n == "x-warden-subject")
        .map(|(_, v)| v.as_str())
        .collect();
    ensure!(subject == vec!["alice"], "subject headers: {subject:?}");
    ensure!(
        got.headers
            .iter()
            .any(|(n, v)| n == "x-api-key" && v == holes.api_key),
        "the injected key is missing: {:?}",
        got.headers
    );
    Ok(())
}

/// Credentials are injected on the path policy reads (normalised), and a path that
/// reads differently raw and normalised is refused rather than given a credential.
/// Before, `/headers/../../admin/x` got the credential configured for `/headers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_follow_the_normalised_path_and_ambiguous_paths_are_refused(
) -> anyhow::Result<()> {
    let holes = HoleStack::start().await?;
    let stack = &holes.stack;
    for target in [
        "/headers/../../admin/x",
        "/headers/%2e%2e/admin",
        "/headers/..%2f..%2fadmin",
        "/x/../headers/y",
        "/%68eaders/y",
        "/headers%2Fy",
    ] {
        let status = holes.get(target, "").await?;
        ensure!(
            status == 400,
            "{target}: status {status} (want 400 ambiguous_path)"
        );
    }
    let reached: Vec<String> = stack
        .upstream
        .seen()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    ensure!(
        reached.is_empty(),
        "ambiguous paths reached the upstream: {reached:?}"
    );
    // Not under the prefix either way: passes, without the credential.
    let status = holes.get("/admin/x", "").await?;
    ensure!(status == 200, "/admin/x: {status}");
    // Under it either way: passes, with it.
    let status = holes.get("/headers/ok", "").await?;
    ensure!(status == 200, "/headers/ok: {status}");
    let seen = stack.upstream.seen();
    let credential = |path: &str| {
        seen.iter()
            .find(|r| r.path == path)
            .map(|r| r.headers.iter().any(|(_, v)| v.contains(INJECTED)))
    };
    ensure!(
        credential("/admin/x") == Some(false),
        "/admin/x: {:?}",
        credential("/admin/x")
    );
    ensure!(
        credential("/headers/ok") == Some(true),
        "/headers/ok: {:?}",
        credential("/headers/ok")
    );
    Ok(())
}

/// The access log of the Envoy configs we ship shows paths without their query
/// strings, where tokens and personal data travel (the audit trail masks them; the
/// access log printed them verbatim).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_never_carries_the_query_string() -> anyhow::Result<()> {
    let holes = HoleStack::start().await?;
    let stack = &holes.stack;
    let status = holes
        .get(
            "/echo?api_key=query-secret-77f1&email=pat%40example.com",
            "",
        )
        .await?;
    ensure!(status == 200, "/echo: {status}");
    let line = warden_integration_tests::process::poll_until(
        "access log line for /echo",
        Duration::from_secs(30),
        || {
            let lines = stack.envoy.access_log();
            async move {
                lines
                    .into_iter()
                    .find(|l| l["path"].as_str().is_some_and(|p| p.starts_with("/echo")))
            }
        },
    )
    .await?;
    let all = stack
        .envoy
        .access_log()
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    ensure!(
        !all.contains("query-secret-77f1") && !all.contains("example.com"),
        "the access log carries a query string: {line}"
    );
    ensure!(line["path"] == "/echo", "{line}");
    Ok(())
}
