//! A git smart-HTTP server: each request runs `git http-backend` as a CGI program
//! over bare repositories in one directory (pushes enabled), so real `git push` and
//! `git fetch` can go through Envoy and Warden to a real git server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use tokio::io::AsyncWriteExt;

/// How to install `git http-backend` when it is missing.
pub const INSTALL_HINT: &str =
    "install git with its http-backend (Debian/Ubuntu: `apt-get install git`; \
     it lives in `git --exec-path`)";

/// A running git smart-HTTP server. Dropping it stops it.
pub struct GitHttpServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl GitHttpServer {
    /// Serves the bare repositories under `root` on a free loopback port. Fails (with
    /// how to install it) when `git http-backend` is not available.
    pub async fn start(root: &Path) -> anyhow::Result<GitHttpServer> {
        check_http_backend()?;
        let app = Router::new().fallback(cgi).with_state(root.to_path_buf());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(GitHttpServer { addr, task })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Fails with an install hint unless `git http-backend` can run.
pub fn check_http_backend() -> anyhow::Result<()> {
    let exec_path = std::process::Command::new("git")
        .arg("--exec-path")
        .output()
        .with_context(|| format!("git is not installed: {INSTALL_HINT}"))?;
    anyhow::ensure!(
        exec_path.status.success(),
        "`git --exec-path` failed: {INSTALL_HINT}"
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim());
    anyhow::ensure!(
        dir.join("git-http-backend").is_file(),
        "{} has no git-http-backend: {INSTALL_HINT}",
        dir.display()
    );
    Ok(())
}

async fn cgi(State(root): State<PathBuf>, request: Request) -> Response {
    match run_cgi(&root, request).await {
        Ok(response) => response,
        Err(e) => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from(format!("git http-backend bridge: {e:#}\n")))
            .unwrap_or_default(),
    }
}

async fn run_cgi(root: &Path, request: Request) -> anyhow::Result<Response> {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await?;
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", root)
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "agent")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, var) in [
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        let value = header(name);
        if !value.is_empty() {
            command.env(var, value);
        }
    }
    let mut child = command.spawn().context("starting git http-backend")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await?;
    let _ = writer.await;
    anyhow::ensure!(
        output.status.success() || !output.stdout.is_empty(),
        "git http-backend failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    parse_cgi_response(&output.stdout)
}

/// Parses a CGI response: header lines (with `Status:`), a blank line, the body.
fn parse_cgi_response(out: &[u8]) -> anyhow::Result<Response> {
    let (head_len, sep) = [&b"\r\n\r\n"[..], &b"\n\n"[..]]
        .iter()
        .filter_map(|sep| {
            out.windows(sep.len())
                .position(|w| w == *sep)
                .map(|p| (p, sep.len()))
        })
        .min()
        .context("the CGI response has no end of headers")?;
    let head = String::from_utf8_lossy(&out[..head_len]);
    let mut response = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("500").parse()?;
            response = response.status(StatusCode::from_u16(code)?);
        } else {
            response = response.header(
                HeaderName::from_bytes(name.trim().as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
    }
    Ok(response.body(Body::from(out[head_len + sep..].to_vec()))?)
}
