"""``lkx dev``: a supervisor that never imports agent code. It runs the worker as a child
process, watches agent YAML and Python files, and on a change starts a fresh child; the old one
drains (finishes its conversations, takes nothing new). A change that does not validate keeps
the last good child serving."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import watchfiles

from livekitex_cli.log import get_logger

log = get_logger("dev")
WATCHED = (".py", ".yaml", ".yml")
IGNORED = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
Say = Callable[[str], None]


def watch_filter(change: watchfiles.Change, path: str) -> bool:
    parts = Path(path).parts
    return path.endswith(WATCHED) and not any(part in IGNORED for part in parts)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """One ``lkx start`` process with its own health port."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls, paths: Sequence[str], args: Sequence[str]) -> Child:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livekitex_cli", "start", *paths, *args,
            "--health-port", str(port),
        )  # fmt: skip
        return cls(process, port)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    async def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.returncode is None:
            if await asyncio.to_thread(self.healthy):
                return True
            await asyncio.sleep(0.05)
        return False

    async def drain(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        await self.process.wait()


async def supervise(
    *,
    paths: Sequence[str],
    watch: Sequence[str],
    start_args: Sequence[str],
    say: Say,
    ready_timeout: float = 30.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM): reload on every change."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    current: Child | None = None
    draining: set[asyncio.Task[None]] = set()
    try:
        started = time.perf_counter()
        current = await _launch(paths, start_args, ready_timeout, say)
        if current is not None:
            say(f"worker ready in {time.perf_counter() - started:.2f} s; watching for changes")
        async for changes in watchfiles.awatch(*watch, watch_filter=watch_filter, stop_event=stop):
            started = time.perf_counter()
            names = sorted({os.path.relpath(path) for _, path in changes})
            say(f"changed: {', '.join(names)}")
            fresh = await _launch(paths, start_args, ready_timeout, say)
            if fresh is None:
                continue
            if current is not None:
                task = asyncio.create_task(current.drain())
                draining.add(task)
                task.add_done_callback(draining.discard)
            current = fresh
            say(f"reloaded in {time.perf_counter() - started:.2f} s")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if current is not None:
            await current.drain()
        await asyncio.gather(*draining, return_exceptions=True)


async def _launch(
    paths: Sequence[str], args: Sequence[str], timeout: float, say: Say
) -> Child | None:
    """A new child once it is registered; ``None`` if it failed (it printed why)."""
    child = await Child.start(paths, args)
    if await child.wait_ready(timeout):
        return child
    await child.drain()
    say("not reloading, the last good worker keeps serving (fix the error above and save)")
    return None
