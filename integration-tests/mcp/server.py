"""An MCP server for the end-to-end tests (official Python SDK, streamable HTTP).

    python server.py PORT

Stateful: each client gets its own session (`mcp-session-id`). Tools: `list_items`
(harmless) and `delete_repo(name)` (the default policy pack holds tools whose names say
they destroy). Each `delete_repo` call that reaches the server is
counted, so the test can tell a held call (never arrives) from a passed one. Resource:
`file:///app/.env`, a binary (base64 `blob`) resource whose bytes hold a secret.
"""

import sys

from mcp.server.fastmcp import FastMCP

port = int(sys.argv[1])
server = FastMCP("warden-e2e", host="127.0.0.1", port=port)
deleted: list[str] = []


@server.tool()
def list_items() -> str:
    """Lists the items."""
    return "items: alpha, beta"


@server.tool()
def delete_repo(name: str) -> str:
    """Deletes a repository."""
    deleted.append(name)
    return f"deleted repo {name} (call {len(deleted)})"


# A GitHub-token-shaped fake: the bytes an agent must never read back.
ENV_FILE = b"# deploy settings\nGITHUB_TOKEN=ghp_9xQ2mK7vL4pR8sT1wY6zB3nC5dF0gH2jA4kE\nREGION=eu-west-1\n"


@server.resource("file:///app/.env", mime_type="application/octet-stream")
def env_file() -> bytes:
    """The deployment's environment file (served as a base64 blob)."""
    return ENV_FILE


if __name__ == "__main__":
    server.run(transport="streamable-http")
