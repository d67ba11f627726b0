//! `loadgen`: a small closed-loop HTTP load generator for the data-path benchmark
//! (`scripts/bench-datapath`).
//!
//! Opens `--connections` keep-alive connections on one thread (to leave the CPU to the system
//! under test), and on each sends a GET, reads the whole response, and sends the next. After
//! `--warmup` seconds it measures for `--duration` seconds and prints one JSON object:
//! requests/s and latency percentiles in microseconds (HdrHistogram, 3 significant digits).
//! Exits non-zero if any request failed or got a non-2xx status.
//!
//! Usage: `loadgen --url http://127.0.0.1:10000/bench --connections 16 --duration 10 --warmup 2`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Closed-loop HTTP load generator: requests/s and latency percentiles as JSON")]
struct Args {
    /// URL to GET (http only).
    #[arg(long, default_value = "http://127.0.0.1:10000/bench")]
    url: hyper::Uri,
    /// Number of keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Speak cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
}

/// Largest latency the histogram records (60 s, in microseconds); longer ones are clamped.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What one connection measured.
struct Tally {
    histogram: Histogram<u64>,
    /// Successful requests including warm-up ones (for CPU-per-request figures).
    completed: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Result<Self, String> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .map_err(|e| format!("cannot create histogram: {e}"))?,
            completed: 0,
            errors: 0,
            first_error: None,
        })
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }
}

/// A connection's request sender, HTTP/1.1 or HTTP/2.
enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    async fn connect(addr: SocketAddr, http2: bool) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
        let io = TokioIo::new(stream);
        if http2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("HTTP/2 handshake with {addr}: {e}"))?;
            tokio::spawn(connection);
            Ok(Self::Http2(sender))
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("HTTP/1.1 handshake with {addr}: {e}"))?;
            tokio::spawn(connection);
            Ok(Self::Http1(sender))
        }
    }

    /// Sends one request and reads the whole response; returns its status.
    async fn round_trip(&mut self, request: Request<Empty<Bytes>>) -> Result<u16, String> {
        let response = match self {
            Self::Http1(sender) => {
                sender
                    .ready()
                    .await
                    .map_err(|e| format!("connection: {e}"))?;
                sender.send_request(request).await
            }
            Self::Http2(sender) => {
                sender
                    .ready()
                    .await
                    .map_err(|e| format!("connection: {e}"))?;
                sender.send_request(request).await
            }
        }
        .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("response body: {e}"))?;
        Ok(status)
    }
}

/// Target of the load: where to connect and what to send.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    uri: hyper::Uri,
    authority: String,
    http2: bool,
}

impl Target {
    fn request(&self) -> Result<Request<Empty<Bytes>>, String> {
        let builder = Request::get(self.uri.clone());
        let builder = if self.http2 {
            builder.version(hyper::Version::HTTP_2)
        } else {
            builder.header(hyper::header::HOST, self.authority.as_str())
        };
        builder
            .body(Empty::new())
            .map_err(|e| format!("cannot build request: {e}"))
    }
}

/// One connection's closed loop until `end`; latencies of requests started at or after
/// `measure_from` and finished by `end` are recorded.
async fn drive(target: Target, measure_from: Instant, end: Instant) -> Result<Tally, String> {
    let mut tally = Tally::new()?;
    let mut sender: Option<Sender> = None;
    while Instant::now() < end {
        let mut conn = match sender.take() {
            Some(conn) => conn,
            None => match Sender::connect(target.addr, target.http2).await {
                Ok(conn) => conn,
                Err(e) => {
                    tally.error(e);
                    // Back off a little so a dead target does not turn into a busy loop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let request = target.request()?;
        let started = Instant::now();
        match conn.round_trip(request).await {
            Ok(status) => {
                let finished = Instant::now();
                if !(200..300).contains(&status) {
                    tally.error(format!("HTTP status {status}"));
                    sender = Some(conn);
                    continue;
                }
                tally.completed += 1;
                if started >= measure_from && finished <= end {
                    let micros = u64::try_from(finished.duration_since(started).as_micros())
                        .unwrap_or(u64::MAX)
                        .clamp(1, MAX_LATENCY_US);
                    tally
                        .histogram
                        .record(micros)
                        .map_err(|e| format!("cannot record latency: {e}"))?;
                }
                sender = Some(conn);
            }
            Err(e) => tally.error(e),
        }
    }
    Ok(tally)
}

async fn run(args: Args) -> Result<(serde_json::Value, bool), String> {
    if args.uri_scheme_is_not_http() {
        return Err(format!("--url must be an http:// URL, got {}", args.url));
    }
    let valid = args.connections > 0
        && args.duration.is_finite()
        && args.duration > 0.0
        && args.warmup.is_finite()
        && args.warmup >= 0.0;
    if !valid {
        return Err("--connections and --duration must be positive, --warmup not negative".into());
    }
    let authority = args
        .url
        .authority()
        .ok_or_else(|| format!("--url {} has no host", args.url))?
        .to_string();
    let lookup = if args.url.port().is_some() {
        authority.clone()
    } else {
        format!("{authority}:80")
    };
    let addr = tokio::net::lookup_host(&lookup)
        .await
        .map_err(|e| format!("cannot resolve {lookup}: {e}"))?
        .next()
        .ok_or_else(|| format!("{lookup} resolves to no address"))?;
    let target = Target {
        addr,
        uri: if args.http2 {
            args.url.clone()
        } else {
            args.url
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
                .parse()
                .map_err(|e| format!("bad path in --url: {e}"))?
        },
        authority,
        http2: args.http2,
    };

    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(drive(target.clone(), measure_from, end)))
        .collect();

    let mut total = Tally::new()?;
    for task in tasks {
        let tally = task
            .await
            .map_err(|e| format!("connection task failed: {e}"))??;
        total
            .histogram
            .add(&tally.histogram)
            .map_err(|e| format!("cannot merge histograms: {e}"))?;
        total.errors += tally.errors;
        total.completed += tally.completed;
        if let Some(message) = tally.first_error {
            total.first_error.get_or_insert(message);
        }
    }

    let h = &total.histogram;
    let requests = h.len();
    let ok = total.errors == 0 && requests > 0;
    let report = serde_json::json!({
        "url": args.url.to_string(),
        "http": if args.http2 { "2" } else { "1.1" },
        "connections": args.connections,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "requests": requests,
        "requests_total": total.completed,
        "errors": total.errors,
        "first_error": total.first_error,
        "rps": requests as f64 / duration.as_secs_f64(),
        "p50_us": h.value_at_quantile(0.50),
        "p90_us": h.value_at_quantile(0.90),
        "p99_us": h.value_at_quantile(0.99),
        "p999_us": h.value_at_quantile(0.999),
        "max_us": h.max(),
        "mean_us": h.mean(),
    });
    Ok((report, ok))
}

impl Args {
    fn uri_scheme_is_not_http(&self) -> bool {
        self.url.scheme_str() != Some("http")
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok((report, ok)) => {
            println!("{report}");
            if ok {
                std::process::ExitCode::SUCCESS
            } else {
                eprintln!(
                    "loadgen: {} failed requests (first: {}), {} measured",
                    report["errors"], report["first_error"], report["requests"]
                );
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
