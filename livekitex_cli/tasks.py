"""``TaskSet``: background tasks that are named, kept, logged when they fail and cancelled
together. The one way lkx starts a task it does not await at once (STYLE habit 6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aiohttp import web

T = TypeVar("T")


class TaskSet:
    """Tasks named ``{prefix}-{name}``; a failure is logged once on ``logger`` at ``level``."""

    def __init__(self, prefix: str, logger: logging.Logger, *, level: int = logging.ERROR) -> None:
        self.prefix = prefix
        self._log = logger
        self._level = level
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.prefix}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    async def aclose(self) -> None:
        """Cancel every task and wait for them all (their errors are already logged)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.log(
                self._level,
                "background task failed",
                extra={"task": task.get_name()},
                exc_info=task.exception(),
            )


async def close_web_runner(runner: web.AppRunner) -> None:
    """``runner.cleanup()`` after one short turn of the loop: a connection the kernel accepted
    but the loop has not taken yet would otherwise be taken while the server closes, missed by
    its shutdown and left open (a ResourceWarning when it is collected, much later)."""
    await asyncio.sleep(0.05)
    await runner.cleanup()
