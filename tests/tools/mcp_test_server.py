"""An MCP server built with the official SDK, for the MCP tests: ``python mcp_test_server.py
[stdio | http PORT [TOKEN]]``. Tools: add, crash (the process exits mid-call), hang, fail
(an error result), huge (1 MB of text), secret (only when the HTTP header matches)."""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer

app = MCPServer("lkx-test")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@app.tool()
def crash() -> str:
    """Exit the server process in the middle of the call."""
    os._exit(3)


@app.tool()
async def hang() -> str:
    """Never answer in time."""
    await asyncio.sleep(60)
    return "late"


@app.tool()
def fail() -> str:
    """Fail with an error."""
    raise ValueError("the warehouse is closed")


@app.tool()
def huge() -> str:
    """Return a megabyte of text."""
    return "x" * 1_000_000


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        app.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()
