"""Calls one MCP tool with the official Python SDK and prints the result as JSON.

    python client.py URL TOKEN TOOL [JSON_ARGUMENTS [PINGS]]
    python client.py URL TOKEN --read-resource URI

Prints {"isError": bool, "text": "..."} on stdout (the CallToolResult's text content);
with --read-resource, {"blob": "..."} (the base64 blob as the SDK received it) or
{"text": "..."}.
Each run is a new client: a new session, as an agent's retry is. The SDK numbers its
requests from 0 in each session; PINGS pings sent before the call shift the call's
JSON-RPC id, as a long-running agent's would be.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from pydantic import AnyUrl
from mcp.client.streamable_http import streamablehttp_client


async def main() -> None:
    url, token, tool = sys.argv[1], sys.argv[2], sys.argv[3]
    arguments = json.loads(sys.argv[4]) if len(sys.argv) > 4 and tool != "--read-resource" else {}
    pings = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            if tool == "--read-resource":
                result = await session.read_resource(AnyUrl(sys.argv[4]))
                c = result.contents[0]
                print(json.dumps({"blob": c.blob} if hasattr(c, "blob") else {"text": c.text}))
                return
            for _ in range(pings):
                await session.send_ping()
            result = await session.call_tool(tool, arguments)
    text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    print(json.dumps({"isError": bool(result.isError), "text": text}))


if __name__ == "__main__":
    asyncio.run(main())
