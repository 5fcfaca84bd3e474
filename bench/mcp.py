"""MCP tool call overhead: the same tool called through ``run_tool`` directly (a Python
function) and through an MCP server (stdio, and streamable HTTP on 127.0.0.1), both with
argument validation; the MCP server is the one the tests build with the official SDK.

    python -m bench mcp [--calls 300]

Numbers are printed (and returned), never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import stats
from livekitex_cli.config.mcp import McpServerSpec
from livekitex_cli.tools import function_tool, run_tool
from livekitex_cli.tools.mcp import close_servers, server_for

SERVER = str(Path(__file__).resolve().parents[1] / "tests" / "tools" / "mcp_test_server.py")


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def timed(tool: Any, calls: int) -> list[float]:
    times = []
    for index in range(calls):
        started = time.perf_counter()
        await run_tool(tool, {"a": index, "b": 1})
        times.append((time.perf_counter() - started) * 1000)
    return times[5:]


async def measure(calls: int, url: str) -> dict[str, Any]:
    results = {"direct_ms": stats(await timed(add, calls))}
    for label, spec in (
        ("mcp_stdio_ms", McpServerSpec(name="s", command=[sys.executable, SERVER])),
        ("mcp_http_ms", McpServerSpec(name="h", url=url)),
    ):
        tools = await server_for(spec).ensure()
        tool = next(t for t in tools if t.name == "add")
        results[label] = stats(await timed(tool, calls))
    await close_servers()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = subprocess.Popen([sys.executable, SERVER, "http", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        results = asyncio.run(measure(args.calls, f"http://127.0.0.1:{port}/mcp"))
    finally:
        http.terminate()
        http.wait(10)
    for name, figures in results.items():
        print(f"{name}: median {figures['median']} ms, p95 {figures['p95']} ms (n={figures['n']})")
    return results


if __name__ == "__main__":
    main()
