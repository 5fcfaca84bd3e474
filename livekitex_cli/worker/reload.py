"""``lkx dev``: a supervisor that never imports agent code. It runs the worker as a child
process, watches agent YAML and Python files, and on a change starts a fresh child; the old one
drains (finishes its conversations, takes nothing new). A change that does not validate keeps
the last good child serving.

To make a reload cost registration rather than a Python start, the supervisor keeps one spare
child ready (``livekitex_cli.cli.spare``): lkx and its libraries imported, no agent code read.
A change hands it the ``lkx start`` arguments. A change to lkx itself or to an installed library
(files the spare has already imported) starts a fresh child instead."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import watchfiles

from livekitex_cli.errors import ExitCode
from livekitex_cli.log import get_logger
from livekitex_cli.worker.child import Child, ChildFailed, supervised, supervised_env

log = get_logger("dev")
WATCHED = (".py", ".yaml", ".yml")
IGNORED = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
Say = Callable[[str], None]


def watch_filter(change: watchfiles.Change, path: str) -> bool:
    parts = Path(path).parts
    return path.endswith(WATCHED) and not any(part in IGNORED for part in parts)


class Spare:
    """A process with lkx imported, waiting on stdin for the arguments of ``lkx start``."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> Spare:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livekitex_cli.cli.spare", stdin=asyncio.subprocess.PIPE,
            env=supervised_env(), preexec_fn=supervised,
        )  # fmt: skip
        return cls(process)

    async def hand(self, command: Sequence[str]) -> bool:
        """Give it its command; False if it is gone (then start a fresh child)."""
        stdin = self.process.stdin
        if self.process.returncode is not None or stdin is None:
            return False
        try:
            stdin.write(json.dumps(list(command)).encode() + b"\n")
            await stdin.drain()
            stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    async def discard(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()  # end of input: it exits
        try:
            async with asyncio.timeout(5):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@functools.cache
def _preloaded_roots() -> tuple[Path, ...]:
    """lkx's own package and the installed libraries: what a spare imports ahead."""
    libraries = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    return (Path(__file__).resolve().parents[1], *sorted(libraries))


def preloaded(path: str) -> bool:
    """Is ``path`` among what a spare has already imported (lkx itself, installed libraries)?"""
    resolved = Path(path).resolve()
    return path.endswith(".py") and any(resolved.is_relative_to(r) for r in _preloaded_roots())


async def supervise(
    *,
    paths: Sequence[str],
    watch: Sequence[str],
    start_args: Sequence[str],
    say: Say,
    ready_timeout: float = 30.0,
    stop: asyncio.Event | None = None,
    on_worker: Callable[[int | None], None] | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM): reload on every change.

    ``on_worker`` hears the health port of each worker that takes over (``None`` at the end).
    """
    stop = stop or asyncio.Event()
    serving = on_worker or (lambda _: None)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    current: Child | None = None
    spare: Spare | None = None
    draining: dict[Child, asyncio.Task[None]] = {}  # replaced workers, until they have drained
    try:
        started = time.perf_counter()
        current = await _launch(paths, start_args, ready_timeout, say, stop=stop, first=True)
        if stop.is_set():
            return  # Ctrl-C while it started
        if current is not None:
            serving(current.port)
            say(f"worker ready in {time.perf_counter() - started:.2f} s; watching for changes")
        spare = await Spare.start()
        async for changes in watchfiles.awatch(*watch, watch_filter=watch_filter, stop_event=stop):
            started = time.perf_counter()
            names = sorted({os.path.relpath(path) for _, path in changes})
            say(f"changed: {', '.join(names)}")
            if spare is not None and any(preloaded(path) for _, path in changes):
                await spare.discard()  # it imported the old version of what changed
                spare = None
            fresh = await _launch(paths, start_args, ready_timeout, say, spare, stop=stop)
            spare = await Spare.start()
            if fresh is None:
                continue
            if current is not None:
                draining[current] = asyncio.create_task(current.drain())
                draining[current].add_done_callback(_forget(draining, current))
            current = fresh
            serving(current.port)
            how = " (spare worker)" if fresh.warm else " (fresh worker)"
            say(f"reloaded in {time.perf_counter() - started:.2f} s{how}")
    finally:
        serving(None)

        def now() -> None:
            say("stopping now")
            for child in [*draining, *([current] if current is not None else [])]:
                child.signal(signal.SIGTERM)  # again: it ends its jobs at once

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, now)
        try:
            if spare is not None:
                await spare.discard()
            if current is not None:
                say("draining: conversations may finish (Ctrl-C again to stop now)")
                await current.drain()
            await asyncio.gather(*draining.values(), return_exceptions=True)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def _forget(
    draining: dict[Child, asyncio.Task[None]], child: Child
) -> Callable[[asyncio.Task[None]], None]:
    """A done-callback that drops ``child`` from ``draining`` once it has drained."""

    def forget(_: asyncio.Task[None]) -> None:
        draining.pop(child, None)

    return forget


async def _launch(
    paths: Sequence[str],
    args: Sequence[str],
    timeout: float,
    say: Say,
    spare: Spare | None = None,
    *,
    stop: asyncio.Event,
    first: bool = False,
) -> Child | None:
    """A new child once it is registered; ``None`` if it failed (it printed why), or if
    ``stop`` was set meanwhile (Ctrl-C: it is ended, with nothing to drain).

    The first child failing its preflight (a missing key, model or package; an unreachable
    server: exit 3, 4 or 6) ends ``lkx dev`` with that code, since saving a file cannot mend
    it; a file that does not validate (exit 1) is waited on: fix it and save."""
    child = await Child.start(paths, args, spare)
    if await child.wait_ready(timeout, stop):
        return child
    await child.drain()
    if stop.is_set():
        return None
    code = child.process.returncode
    if first and code not in (None, 0, int(ExitCode.INVALID_INPUT)):
        raise ChildFailed(code)
    if first:
        say("no worker is running: fix the error above and save")
    else:
        say("not reloading, the last good worker keeps serving (fix the error above and save)")
    return None
