"""Waiting in tests for something that happens on its own time (a server's echo, a reply
through the real server), with a bound: never a bare sleep, never an endless loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Until ``condition()`` holds; ``TimeoutError`` after ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def eventually(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Whether ``condition()`` holds within ``timeout`` s (for an ``assert`` that shows what
    was seen instead)."""
    try:
        await until(condition, timeout)
    except TimeoutError:
        return bool(condition())
    return True
