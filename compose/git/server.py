"""The compose demo's git smart-HTTP server: `git http-backend` behind a small CGI bridge.

    python server.py [PORT]      # default 8000; repositories under $GIT_PROJECT_ROOT

URLs are http://HOST:PORT/git/<repo>.git (Envoy routes the /git/ prefix here). Pushes are
enabled (`http.receivepack`), so the demo can show Warden holding a push to main. On start
it creates the bare repository `demo.git` with one commit on main if it does not exist.
GET /healthz answers "ok" for the compose healthcheck. GIT_LISTEN_HOST overrides the
interface (default 0.0.0.0; integration-tests/tests/e2e/compose.rs uses 127.0.0.1).

Python's standard library only (cgi support left the standard library in 3.13, so the few
lines of CGI are here): each request runs `git http-backend` with the CGI environment, the
request body on stdin, and the CGI response (headers, blank line, body) relayed back.
"""

import os
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/git"
ROOT = os.environ.get("GIT_PROJECT_ROOT", "/srv/git")


def ensure_demo_repo() -> None:
    """Creates ROOT/demo.git (bare, pushes allowed) with a README on main, once."""
    bare = os.path.join(ROOT, "demo.git")
    if os.path.isdir(bare):
        return
    git = ["git", "-c", "user.name=Warden demo", "-c", "user.email=demo@example.invalid"]
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", bare], check=True)
    subprocess.run(["git", "-C", bare, "config", "http.receivepack", "true"], check=True)
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["git", "init", "--quiet", "--initial-branch=main", work], check=True)
        with open(os.path.join(work, "README.md"), "w", encoding="utf-8") as f:
            f.write("# demo\n\nA repository behind Envoy and Warden.\n")
        subprocess.run(git + ["-C", work, "add", "README.md"], check=True)
        subprocess.run(git + ["-C", work, "commit", "--quiet", "-m", "first commit"], check=True)
        subprocess.run(git + ["-C", work, "push", "--quiet", bare, "main"], check=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.handle_cgi()

    def do_POST(self) -> None:
        self.handle_cgi()

    def read_body(self) -> bytes:
        # Envoy forwards a body Warden inspected as chunked when its length changed.
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_cgi(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/healthz":
            self.reply(200, "ok\n")
            return
        if not path.startswith(PREFIX + "/"):
            self.reply(404, f"no route for {path}; repositories are under {PREFIX}/\n")
            return
        body = self.read_body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path[len(PREFIX):],
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            # Warden passes the caller's identity upstream; git records it as the pusher.
            "REMOTE_USER": self.headers.get("x-warden-subject", ""),
        }
        if self.headers.get("git-protocol"):
            env["GIT_PROTOCOL"] = self.headers["git-protocol"]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        if result.returncode != 0 and not result.stdout:
            self.reply(500, result.stderr.decode(errors="replace"))
            return
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    ensure_demo_repo()
    ThreadingHTTPServer((os.environ.get("GIT_LISTEN_HOST", "0.0.0.0"), port), Handler).serve_forever()
