//! A recording upstream for end-to-end tests.
//!
//! Every request it receives is recorded (method, path, Warden's request id, body
//! length and checksum), so a test can prove what reached the upstream — and that
//! nothing reached it without passing through Warden.
//!
//! Routes:
//! - `ANY /echo` — reads the body, answers `{"len", "checksum", "warden_request_id"}`;
//! - `GET /bytes/{n}` — `n` bytes of a known pattern, with `content-length`, or
//!   chunked with `?chunked=1`;
//! - `GET /sse?events=N` — N server-sent events; after each event it waits until the
//!   test opens the gate ([`Upstream::release`]) before sending the next, so a test
//!   can prove events reach the client while the stream is still open;
//! - `POST /reflect` — answers with the request body itself, so a test controls what
//!   the upstream "returns": content type from `x-reflect-content-type`, gzip when
//!   `x-reflect-gzip: 1`, labelled (not encoded) with the `content-encoding` named in
//!   `x-reflect-content-encoding` (the test sends bytes already encoded), decoded from
//!   base64 first when `x-reflect-base64: 1` (so a test can have binary bytes returned
//!   without sending them), streamed in
//!   `x-reflect-chunk`-byte chunks without a length when that header is set, or one
//!   line per chunk with `x-reflect-split: lines` (each after the first waiting for
//!   the gate with `x-reflect-gated: 1`: a token stream that pauses);
//! - `GET /headers` — answers with the request headers it received, as JSON, and
//!   echoes each in response headers `x-echo-<name>` (raw) and `x-echo-b64-<name>`
//!   (base64); `?as=binary` answers with them in a binary body instead, raw and base64
//!   at shifting offsets (an upstream that echoes credentials back any way it can);
//! - `GET /repo.git/info/refs?service=git-receive-pack` — a receive-pack ref
//!   advertisement of an empty repository (as `git http-backend` sends it), so a real
//!   `git push` gets as far as its push request;
//! - anything else — like `/echo`. `/echo?find=S` also reports whether the body it
//!   received contains `S`.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use futures::StreamExt;
use http_body_util::BodyExt;
use tokio::sync::Semaphore;

/// One request as the upstream saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `x-warden-request-id` header, if any.
    pub warden_request_id: Option<String>,
    /// Bytes of body received.
    pub body_len: usize,
    /// [`checksum`] of the body.
    pub checksum: u64,
    /// All request headers.
    pub headers: Vec<(String, String)>,
}

struct Shared {
    seen: Mutex<Vec<Seen>>,
    /// One permit per `release` call; the SSE route takes one before each later event.
    gate: Semaphore,
}

/// A running recording upstream.
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts the upstream on a free loopback port.
    pub async fn start() -> anyhow::Result<Upstream> {
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
        });
        let app = Router::new()
            .route("/bytes/{n}", get(bytes))
            .route("/sse", get(sse))
            .route("/echo", any(echo))
            .route("/reflect", axum::routing::post(reflect))
            // A GraphQL endpoint that answers with what it was sent (policies treat paths
            // naming GraphQL as GraphQL). Not `/graphql` itself: other tests expect any
            // method there to reach the catch-all.
            .route("/graphql/reflect", axum::routing::post(reflect))
            .route("/headers", get(headers_route))
            .route("/repo.git/info/refs", get(git_advertisement))
            .fallback(echo)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Upstream { addr, shared, task })
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Lets the SSE route send one more event.
    pub fn release(&self) {
        self.shared.gate.add_permits(1);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The checksum the upstream reports for a body (stable within one build).
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

/// The byte at position `i` of the `/bytes/{n}` pattern.
pub fn pattern_byte(i: usize) -> u8 {
    b"0123456789abcdefghijklmnopqrstuvwxyz\n"[i % 37]
}

fn record(shared: &Shared, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Seen {
    let seen = Seen {
        method: method.to_string(),
        path: path.to_string(),
        warden_request_id: headers
            .get("x-warden-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body_len: body.len(),
        checksum: checksum(body),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    if let Ok(mut all) = shared.seen.lock() {
        all.push(seen.clone());
    }
    seen
}

async fn echo(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let seen = record(&shared, parts.method.as_str(), &path, &parts.headers, &body);
    let found = parts.uri.query().and_then(|q| {
        url_param(q, "find").map(|needle| {
            body.windows(needle.len().max(1))
                .any(|w| w == needle.as_bytes())
        })
    });
    axum::Json(serde_json::json!({
        "len": seen.body_len,
        "checksum": seen.checksum.to_string(),
        "warden_request_id": seen.warden_request_id,
        "found": found,
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct HeadersQuery {
    /// `binary`: answer with the values in a binary body instead of JSON.
    r#as: Option<String>,
}

async fn headers_route(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HeadersQuery>,
    headers: HeaderMap,
) -> Response {
    use base64::Engine;
    let seen = record(&shared, "GET", "/headers", &headers, b"");
    // A hostile upstream echoes every value in response headers too, raw and base64.
    let mut builder = Response::builder();
    for (name, value) in &seen.headers {
        if name.starts_with(':') {
            continue;
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        builder = builder
            .header(format!("x-echo-{name}"), value.as_str())
            .header(format!("x-echo-b64-{name}"), encoded);
    }
    let body = if query.r#as.as_deref() == Some("binary") {
        // Bytes no sniffer reads as text, with each value in them raw and base64 at
        // shifting offsets.
        let mut bytes = b"\x89BIN\0\x01\x02\x03".to_vec();
        for (i, (_, value)) in seen.headers.iter().enumerate() {
            bytes.extend(std::iter::repeat_n(0u8, i % 3));
            bytes.extend(value.as_bytes());
            bytes.push(0);
            let mut shifted = vec![0xA5u8; i % 3];
            shifted.extend(value.as_bytes());
            bytes.extend(
                base64::engine::general_purpose::STANDARD
                    .encode(&shifted)
                    .as_bytes(),
            );
            bytes.extend(b"\0\xff");
        }
        builder = builder.header("content-type", "application/octet-stream");
        Body::from(bytes)
    } else {
        let map: serde_json::Map<String, serde_json::Value> = seen
            .headers
            .into_iter()
            .map(|(n, v)| (n, serde_json::Value::String(v)))
            .collect();
        builder = builder.header("content-type", "application/json");
        Body::from(serde_json::Value::Object(map).to_string())
    };
    builder
        .body(body)
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

async fn git_advertisement(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    record(&shared, "GET", &path, request.headers(), b"");
    let pkt = |payload: &str| format!("{:04x}{payload}", payload.len() + 4);
    let body = format!(
        "{}0000{}0000",
        pkt("# service=git-receive-pack\n"),
        pkt(&format!(
            "{} capabilities^{{}}\0report-status report-status-v2 delete-refs \
             side-band-64k quiet ofs-delta object-format=sha1 agent=git/2.47.3\n",
            "0".repeat(40)
        ))
    );
    (
        [
            (
                "content-type",
                "application/x-git-receive-pack-advertisement",
            ),
            ("cache-control", "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn url_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_string())
    })
}

async fn reflect(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    record(&shared, "POST", "/reflect", &parts.headers, &body);
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut builder = Response::builder();
    if let Some(content_type) = header("x-reflect-content-type") {
        builder = builder.header("content-type", content_type);
    }
    let mut data = body;
    if header("x-reflect-base64").as_deref() == Some("1") {
        use base64::Engine;
        data = match base64::engine::general_purpose::STANDARD.decode(&data) {
            Ok(bytes) => bytes,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        };
    }
    if header("x-reflect-gzip").as_deref() == Some("1") {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if encoder.write_all(&data).is_err() {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        data = match encoder.finish() {
            Ok(gz) => gz,
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        builder = builder.header("content-encoding", "gzip");
    }
    if let Some(encoding) = header("x-reflect-content-encoding") {
        builder = builder.header("content-encoding", encoding);
    }
    let chunk = header("x-reflect-chunk").and_then(|c| c.parse::<usize>().ok());
    if header("x-reflect-split").as_deref() == Some("lines") {
        // One chunk per line; with `x-reflect-gated: 1` each after the first waits for
        // the test to open the gate ([`Upstream::release`]).
        let gated = header("x-reflect-gated").as_deref() == Some("1");
        let lines: Vec<Bytes> = data
            .split_inclusive(|b| *b == b'\n')
            .map(Bytes::copy_from_slice)
            .collect();
        let shared = Arc::clone(&shared);
        let stream = futures::stream::iter(lines.into_iter().enumerate()).then(move |(i, line)| {
            let shared = Arc::clone(&shared);
            async move {
                if gated && i > 0 {
                    if let Ok(permit) = shared.gate.acquire().await {
                        permit.forget();
                    }
                }
                Ok::<Bytes, std::io::Error>(line)
            }
        });
        return builder.body(Body::from_stream(stream)).unwrap_or_else(|e| {
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        });
    }
    let body = match chunk {
        Some(size) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = data
                .chunks(size.max(1))
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Body::from_stream(futures::stream::iter(chunks))
        }
        None => Body::from(data),
    };
    builder
        .body(body)
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

#[derive(serde::Deserialize)]
struct BytesQuery {
    chunked: Option<u8>,
}

async fn bytes(
    State(shared): State<Arc<Shared>>,
    Path(n): Path<usize>,
    Query(query): Query<BytesQuery>,
    headers: HeaderMap,
) -> Response {
    record(&shared, "GET", &format!("/bytes/{n}"), &headers, b"");
    let data: Vec<u8> = (0..n).map(pattern_byte).collect();
    if query.chunked.unwrap_or(0) == 1 {
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Response::new(Body::from_stream(futures::stream::iter(chunks)))
    } else {
        data.into_response()
    }
}

#[derive(serde::Deserialize)]
struct SseQuery {
    events: Option<usize>,
}

async fn sse(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SseQuery>,
    headers: HeaderMap,
) -> Response {
    record(&shared, "GET", "/sse", &headers, b"");
    let events = query.events.unwrap_or(3);
    let stream = futures::stream::iter(0..events)
        .then(move |i| {
            let shared = Arc::clone(&shared);
            async move {
                if i > 0 {
                    // Wait for the test to see the previous event before sending this one.
                    if let Ok(permit) = shared.gate.acquire().await {
                        permit.forget();
                    }
                }
                Ok::<_, std::io::Error>(Bytes::from(format!("id: {i}\ndata: event {i}\n\n")))
            }
        })
        .boxed();
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}
