"""Calls one MCP tool with the official Python SDK and prints the result as JSON.

    python client.py URL TOKEN TOOL [JSON_ARGUMENTS]

Prints {"isError": bool, "text": "..."} on stdout (the CallToolResult's text content).
Each run is a new client: a new session and new JSON-RPC ids, as an agent's retry is.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main() -> None:
    url, token, tool = sys.argv[1], sys.argv[2], sys.argv[3]
    arguments = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool(tool, arguments)
    text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    print(json.dumps({"isError": bool(result.isError), "text": text}))


if __name__ == "__main__":
    asyncio.run(main())
