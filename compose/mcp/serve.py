"""Runs the end-to-end tests' MCP server (integration-tests/mcp/server.py) for the compose demo.

    python serve.py PORT

The test server binds 127.0.0.1 and, being local, accepts only local Host headers. In a
container it must listen on every interface, and Envoy reaches it as `mcp:PORT`, so this
imports it unchanged and widens just those two settings before running it.
MCP_LISTEN_HOST overrides the interface (integration-tests/tests/e2e/compose.rs uses 127.0.0.1).
"""

import os
import sys

from mcp.server.transport_security import TransportSecuritySettings

import server as tests_server  # reads the port from sys.argv[1]

settings = tests_server.server.settings
settings.host = os.environ.get("MCP_LISTEN_HOST", "0.0.0.0")
settings.transport_security = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*", "mcp:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*"],
)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python serve.py PORT")
    tests_server.server.run(transport="streamable-http")
