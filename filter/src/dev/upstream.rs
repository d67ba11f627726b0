//! `warden dev-upstream`: a sample upstream HTTP API for the local demo, tests and benchmarks.
//!
//! **Demo only.** It is the "system behind Envoy" in `scripts/demo`, the integration tests and
//! `scripts/bench-datapath`. Every secret and every piece of personal data it serves is fake:
//! random strings in the shape of provider keys (never issued by any provider), test card
//! numbers, voided SSNs, example IBANs,
//! `example.com` addresses and fictional phone numbers. They are shaped like the real thing so
//! that Warden's detection and masking are visible when the demo runs through Envoy.
//!
//! Endpoints (HTTP/1.1 and cleartext HTTP/2):
//!
//! | method | path | response |
//! | --- | --- | --- |
//! | GET | `/healthz` | `ok` |
//! | GET | `/api/customers` | JSON list of customers with fake PII and secrets |
//! | GET | `/api/customers/{id}` | one customer, or 404 |
//! | any | `/api/echo` | JSON echo of method, path, query, headers and body |
//! | GET | `/events?n=N&interval_ms=MS` | `text/event-stream` of N events, MS apart; some carry fake secrets |
//! | GET | `/bench` | a small fixed JSON body (for the data-path benchmark) |
//! | GET | `/large?bytes=N` | N bytes, streamed chunked (no `content-length`) |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Largest request body `/api/echo` accepts (bigger than Warden's 8 MiB default limit, so the
/// tests can show that Warden, not the upstream, refuses oversized bodies).
pub const MAX_ECHO_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Most events `/events` sends in one response.
pub const MAX_EVENTS: u32 = 10_000;

/// Longest pause between two events of `/events`, in milliseconds.
pub const MAX_EVENT_INTERVAL_MS: u64 = 10_000;

/// Most bytes `/large` sends in one response (1 GiB).
pub const MAX_LARGE_BYTES: u64 = 1 << 30;

/// Size of the chunks `/large` streams.
const LARGE_CHUNK_BYTES: usize = 64 * 1024;

/// How long in-flight requests may run on after Ctrl-C / SIGTERM before the server stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The body of `GET /bench`: small and fixed, so the benchmark measures the data path only.
pub const BENCH_BODY: &str =
    r#"{"ok":true,"service":"warden-dev-upstream","items":[1,2,3,4,5,6,7,8]}"#;

/// Fake credentials, shaped like real ones (see the module docs). Never real.
pub mod fake {
    /// Random, shaped like an AWS access key id (`AKIA` + 16 base32 characters).
    pub const AWS_ACCESS_KEY_ID: &str = "AKIAPYCDYBK377OXTZQ6";
    /// Random, shaped like an AWS secret access key (40 base64 characters).
    pub const AWS_SECRET_ACCESS_KEY: &str = "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";
    /// Random, shaped like a GitHub personal access token (`ghp_` + 36 alphanumerics).
    pub const GITHUB_TOKEN: &str = "ghp_brKIRaGSxoHYL9f6SN23dsP8KvZJLIke1qUF";
    /// Random, shaped like a legacy OpenAI API key (`sk-` + 20 + `T3BlbkFJ` + 20).
    pub const OPENAI_API_KEY: &str = "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";
    /// A PEM private-key block whose content is random bytes, not a key.
    pub const PEM_PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
        oCPZ2o0I8H2ofOgJatV5zxPERw4NmBoa1DAeZpcDpYvx92sCY+mzAuzFxh2865X1\n\
        Uhf0dPJ2xgH5rWk3FWwzkKOi5pKaoc2kifg4vzwFrdpydyYvTddvc+SDCzvuFQg6\n\
        Pzh/sx9iaKP0huVIlFpnCs8nsOkMdgXXQ0TDm8iMCf8XWn0/6OGgjV9r+Ot7G6sB\n\
        -----END RSA PRIVATE KEY-----\n";
}

/// A demo customer: every field is fake.
fn customer(id: u32) -> Option<Value> {
    let record = match id {
        1 => json!({
            "id": 1,
            "name": "Alice Example",
            "email": "alice@example.com",
            "phone": "+1 202-555-0143",
            "ssn": "078-05-1120",
            "card": { "number": "4111 1111 1111 1111", "expiry": "12/30", "brand": "visa" },
            "iban": "GB82 WEST 1234 5698 7654 32",
            "address": "1 Example Street, Springfield",
            "integration": {
                "aws_access_key_id": fake::AWS_ACCESS_KEY_ID,
                "aws_secret_access_key": fake::AWS_SECRET_ACCESS_KEY,
            },
            "notes": format!("Deploy bot uses {}", fake::GITHUB_TOKEN),
        }),
        2 => json!({
            "id": 2,
            "name": "Bob Sample",
            "email": "bob.sample@example.org",
            "phone": "+44 20 7946 0018",
            "ssn": "219-09-9999",
            "card": { "number": "5555555555554444", "expiry": "01/29", "brand": "mastercard" },
            "iban": "DE89370400440532013000",
            "address": "2 Sample Road, London",
            "integration": { "openai_api_key": fake::OPENAI_API_KEY },
            "notes": "Asked to be called on 202-555-0187 after 5pm.",
        }),
        3 => json!({
            "id": 3,
            "name": "Carol Placeholder",
            "email": "carol@example.net",
            "phone": "(202) 555-0199",
            "ssn": "078-05-1120",
            "card": { "number": "4111-1111-1111-1111", "expiry": "06/31", "brand": "visa" },
            "iban": "FR14 2004 1010 0505 0001 3M02 606",
            "address": "3 Placeholder Avenue, Paris",
            "integration": { "ssh_private_key": fake::PEM_PRIVATE_KEY },
            "notes": "Rotates keys quarterly.",
        }),
        _ => return None,
    };
    Some(record)
}

/// Ids of the demo customers.
const CUSTOMER_IDS: [u32; 3] = [1, 2, 3];

/// The sample upstream's routes (see the module docs).
pub fn router() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/customers", get(list_customers))
        .route("/api/customers/{id}", get(get_customer))
        .route("/api/echo", any(echo))
        .route("/events", get(events))
        .route("/bench", get(bench))
        .route("/large", get(large))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_ECHO_BODY_BYTES))
}

/// Serves [`router`] on `addr` (HTTP/1.1 and h2c) until Ctrl-C or SIGTERM.
///
/// After the signal, new connections are refused and in-flight requests get a few seconds to
/// finish (long event streams and downloads are then cut).
///
/// # Errors
/// When `addr` cannot be bound (e.g. the port is in use) or the listener fails.
pub async fn run(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("dev-upstream cannot listen on {addr}: {e} (is another process using the port? pick another with --listen)"),
        )
    })?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "dev-upstream (demo only: fake data) listening");

    let stopping = std::sync::Arc::new(tokio::sync::Notify::new());
    let signal_seen = stopping.clone();
    let server = axum::serve(listener, router()).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("dev-upstream shutting down");
        signal_seen.notify_one();
    });
    tokio::select! {
        result = server => result,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("dev-upstream: requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

async fn list_customers() -> Json<Value> {
    let customers: Vec<Value> = CUSTOMER_IDS.iter().filter_map(|id| customer(*id)).collect();
    Json(json!({
        "_note": "demo data: every secret and personal detail here is fake",
        "customers": customers,
    }))
}

async fn get_customer(Path(id): Path<String>) -> Response {
    match id.parse::<u32>().ok().and_then(customer) {
        Some(record) => Json(record).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no customer {id:?}; try one of {CUSTOMER_IDS:?}"),
        ),
    }
}

/// Echoes the request as JSON: method, path, query, headers (repeated ones as arrays) and body
/// (as text when it is UTF-8, else with `body_utf8: false` and invalid bytes replaced).
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let mut header_map = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = match <[Value; 1]>::try_from(values) {
            Ok([single]) => single,
            Err(many) => Value::Array(many),
        };
        header_map.insert(name.as_str().to_owned(), value);
    }
    let body_utf8 = std::str::from_utf8(&body).is_ok();
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": header_map,
        "body_bytes": body.len(),
        "body_utf8": body_utf8,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// Query of `/events`.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Number of events (default 5).
    n: Option<u32>,
    /// Pause before each event after the first, in milliseconds (default 200).
    interval_ms: Option<u64>,
}

/// The `seq`-th event (1-based) of `/events`, in SSE wire format. Every third carries a fake
/// secret.
fn sse_event(seq: u32) -> Bytes {
    let data = if seq % 3 == 0 {
        json!({ "seq": seq, "text": format!("tool output: export AWS_ACCESS_KEY_ID={}", fake::AWS_ACCESS_KEY_ID) })
    } else {
        json!({ "seq": seq, "text": format!("progress {seq}") })
    };
    Bytes::from(format!("id: {seq}\nevent: message\ndata: {data}\n\n"))
}

async fn events(Query(query): Query<EventsQuery>) -> Response {
    let n = query.n.unwrap_or(5);
    let interval_ms = query.interval_ms.unwrap_or(200);
    if n > MAX_EVENTS || interval_ms > MAX_EVENT_INTERVAL_MS {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "n must be at most {MAX_EVENTS} and interval_ms at most {MAX_EVENT_INTERVAL_MS}"
            ),
        );
    }
    let interval = Duration::from_millis(interval_ms);
    let stream = futures::stream::unfold(1u32, move |seq| async move {
        if seq > n {
            return None;
        }
        if seq > 1 {
            tokio::time::sleep(interval).await;
        }
        Some((Ok::<_, Infallible>(sse_event(seq)), seq + 1))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn bench() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        BENCH_BODY,
    )
        .into_response()
}

/// Query of `/large`.
#[derive(Debug, Deserialize)]
struct LargeQuery {
    /// Number of bytes to send.
    bytes: Option<u64>,
}

async fn large(Query(query): Query<LargeQuery>) -> Response {
    let Some(total) = query.bytes else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing ?bytes=N (how many bytes to stream)".to_owned(),
        );
    };
    if total > MAX_LARGE_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            format!("bytes must be at most {MAX_LARGE_BYTES}"),
        );
    }
    let chunk = Bytes::from(
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_\n"
            .iter()
            .copied()
            .cycle()
            .take(LARGE_CHUNK_BYTES)
            .collect::<Vec<u8>>(),
    );
    let stream = futures::stream::unfold(total, move |remaining| {
        let chunk = chunk.clone();
        async move {
            if remaining == 0 {
                return None;
            }
            let len = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            Some((
                Ok::<_, Infallible>(chunk.slice(..len)),
                remaining - len as u64,
            ))
        }
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {}; try /healthz, /api/customers, /api/echo, /events, /bench, /large?bytes=N",
            uri.path()
        ),
    )
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_alnum(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// The fakes keep the shapes detectors look for, so masking stays visible in the demo.
    #[test]
    fn fake_secrets_have_real_shapes() {
        assert_eq!(fake::AWS_ACCESS_KEY_ID.len(), 20);
        assert!(fake::AWS_ACCESS_KEY_ID.starts_with("AKIA"));
        assert_eq!(fake::AWS_SECRET_ACCESS_KEY.len(), 40);

        let gh = fake::GITHUB_TOKEN.strip_prefix("ghp_").unwrap_or("");
        assert_eq!(gh.len(), 36, "{}", fake::GITHUB_TOKEN);
        assert!(is_alnum(gh));

        let oa = fake::OPENAI_API_KEY.strip_prefix("sk-").unwrap_or("");
        let (left, right) = oa.split_once("T3BlbkFJ").unwrap_or(("", ""));
        assert_eq!(
            (left.len(), right.len()),
            (20, 20),
            "{}",
            fake::OPENAI_API_KEY
        );
        assert!(is_alnum(left) && is_alnum(right));

        assert!(fake::PEM_PRIVATE_KEY.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(fake::PEM_PRIVATE_KEY.ends_with("-----END RSA PRIVATE KEY-----\n"));

        for id in CUSTOMER_IDS {
            let text = customer(id).map(|c| c.to_string()).unwrap_or_default();
            assert!(
                text.contains("@example."),
                "customer {id} has no example email"
            );
        }
    }

    /// The test card numbers pass the Luhn check (so card detectors fire on them).
    #[test]
    fn test_cards_are_luhn_valid() {
        fn luhn(number: &str) -> bool {
            let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
            let sum: u32 = digits
                .iter()
                .rev()
                .enumerate()
                .map(|(i, d)| {
                    if i % 2 == 1 {
                        (d * 2) % 9 + u32::from(*d == 9) * 9
                    } else {
                        *d
                    }
                })
                .sum();
            digits.len() >= 13 && sum % 10 == 0
        }
        assert!(!luhn("4111 1111 1111 1112"));
        for id in CUSTOMER_IDS {
            let record = customer(id).unwrap_or_default();
            let number = record["card"]["number"].as_str().unwrap_or_default();
            assert!(luhn(number), "customer {id}: {number} fails Luhn");
        }
    }

    /// Example IBANs pass the ISO 13616 mod-97 check.
    #[test]
    fn ibans_are_valid() {
        for id in CUSTOMER_IDS {
            let record = customer(id).unwrap_or_default();
            let iban: String = record["iban"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let rearranged = format!("{}{}", &iban[4..], &iban[..4]);
            let remainder = rearranged.chars().fold(0u64, |acc, c| {
                let value = c.to_digit(36).map(u64::from).unwrap_or(1000);
                let acc = if value >= 10 {
                    acc * 100 + value
                } else {
                    acc * 10 + value
                };
                acc % 97
            });
            assert_eq!(remainder, 1, "customer {id}: {iban} is not a valid IBAN");
        }
    }

    #[test]
    fn events_every_third_carries_a_fake_secret() {
        let third = sse_event(3);
        let first = sse_event(1);
        assert!(String::from_utf8_lossy(&third).contains(fake::AWS_ACCESS_KEY_ID));
        assert!(!String::from_utf8_lossy(&first).contains(fake::AWS_ACCESS_KEY_ID));
        assert!(first.ends_with(b"\n\n"));
    }

    #[tokio::test]
    async fn serves_every_endpoint() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router()).await });

        let get = |path: &'static str| async move { raw_request(addr, "GET", path, b"").await };

        let health = get("/healthz").await;
        assert!(
            health.starts_with("HTTP/1.1 200") && health.ends_with("ok"),
            "{health}"
        );

        let list = get("/api/customers").await;
        assert!(list.contains("4111 1111 1111 1111") && list.contains(fake::AWS_ACCESS_KEY_ID));

        assert!(get("/api/customers/2").await.contains(fake::OPENAI_API_KEY));
        assert!(get("/api/customers/9").await.starts_with("HTTP/1.1 404"));
        assert!(get("/api/customers/x").await.starts_with("HTTP/1.1 404"));
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));

        let echo = raw_request(addr, "POST", "/api/echo?x=1", b"hello body").await;
        assert!(echo.contains(r#""method":"POST""#), "{echo}");
        assert!(echo.contains(r#""body":"hello body""#), "{echo}");
        assert!(echo.contains(r#""query":"x=1""#), "{echo}");

        let events = get("/events?n=4&interval_ms=1").await;
        assert!(events.contains("text/event-stream"), "{events}");
        assert_eq!(events.matches("event: message").count(), 4, "{events}");
        assert!(get("/events?n=100000").await.starts_with("HTTP/1.1 400"));

        assert!(get("/bench").await.ends_with(BENCH_BODY));

        let large = get("/large?bytes=200000").await;
        assert!(large
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"));
        assert!(get("/large").await.starts_with("HTTP/1.1 400"));
    }

    /// One HTTP/1.1 request with `Connection: close`; returns the raw response (chunked bodies
    /// are left encoded, except for `/large`, whose size is checked by decoding).
    async fn raw_request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.write_all(body).await.expect("write body");
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.expect("read");
        if path.starts_with("/large?") {
            let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
            let decoded = decode_chunked(&out[split..]);
            assert_eq!(decoded.len(), 200_000);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn decode_chunked(mut rest: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size line");
            let size_text = std::str::from_utf8(&rest[..line_end]).expect("ascii");
            let size = usize::from_str_radix(size_text.trim(), 16).expect("hex size");
            rest = &rest[line_end + 2..];
            if size == 0 {
                return out;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
    }
}
