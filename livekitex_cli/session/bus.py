"""Event delivery: callbacks by event type (or ``"*"``) and any number of async iterators."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from livekitex_cli.log import get_logger
from livekitex_cli.session.events import SessionEvent

log = get_logger("session")
EventCallback = Callable[[Any], Any]


class EventBus:
    """Callbacks run in order as events happen; async callbacks run as tracked tasks."""

    def __init__(
        self,
        callbacks: Mapping[str, EventCallback] | None,
        spawn: Callable[[Any, str], object],
    ) -> None:
        self.callbacks: dict[str, EventCallback] = dict(callbacks or {})
        self._spawn = spawn
        self._queues: list[asyncio.Queue[SessionEvent | None]] = []

    async def subscribe(self) -> AsyncIterator[SessionEvent]:
        """Every event from now on, until ``close``."""
        queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._queues.remove(queue)

    def emit(self, event: SessionEvent) -> None:
        for queue in self._queues:
            queue.put_nowait(event)
        for key in (event.type, "*"):
            callback = self.callbacks.get(key)
            if callback is None:
                continue
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    self._spawn(_await(result), f"callback-{key}")
            except Exception:  # noqa: BLE001 - a broken callback must not break the session
                log.exception("event callback failed", extra={"event": event.type})

    def close(self) -> None:
        for queue in self._queues:
            queue.put_nowait(None)


async def _await(awaitable: Any) -> None:
    await awaitable
