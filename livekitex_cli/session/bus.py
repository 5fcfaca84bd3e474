"""Event delivery to any number of listeners: callbacks by event type (or ``"*"`` for all)
added with ``on``, the contract's one-callback-per-type slots, and async iterators."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from livekitex_cli.log import get_logger
from livekitex_cli.session.events import SessionEvent

log = get_logger("session")
EventCallback = Callable[[Any], Any]


class EventBus:
    """Listeners run in the order they were added, as events happen; async ones run as tracked
    tasks. One failing listener is logged and the others still run."""

    def __init__(
        self,
        callbacks: Mapping[str, EventCallback] | None,
        spawn: Callable[[Any, str], object],
    ) -> None:
        # the contract's ``event_callbacks``: one user slot per type, replaced by assignment
        self.callbacks: dict[str, EventCallback] = dict(callbacks or {})
        self._listeners: dict[str, list[EventCallback]] = {}
        self._spawn = spawn
        self._queues: list[asyncio.Queue[SessionEvent | None]] = []
        self._closed = False

    def on(self, event_type: str, callback: EventCallback) -> Callable[[], None]:
        """Add a listener for ``event_type`` (``"*"``: every event); returns its remover."""
        listeners = self._listeners.setdefault(event_type, [])
        listeners.append(callback)

        def remove() -> None:
            if callback in listeners:
                listeners.remove(callback)

        return remove

    def subscribe(self) -> Subscription:
        """Every event from the moment of this call until ``close`` (or the iterator's own
        ``aclose``), as an async iterator: what happens before the first ``async for`` step is
        kept, not lost."""
        return Subscription(self)

    def emit(self, event: SessionEvent) -> None:
        for queue in self._queues:
            queue.put_nowait(event)
        for key in (event.type, "*"):
            for callback in [*self._listeners.get(key, ()), self.callbacks.get(key)]:
                if callback is not None:
                    self._call(callback, event, key)

    def close(self) -> None:
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(None)

    def _call(self, callback: EventCallback, event: SessionEvent, key: str) -> None:
        try:
            result = callback(event)
            if inspect.isawaitable(result):
                self._spawn(_await(result), f"callback-{key}")
        except Exception:  # noqa: BLE001 - a broken callback must not break the session
            log.exception("event callback failed", extra={"event": event.type})


class Subscription:
    """An async iterator over a bus's events, registered when it is made."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue()
        bus._queues.append(self._queue)
        if bus._closed:
            self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> SessionEvent:
        event = await self._queue.get()
        if event is None:
            self._detach()
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self._detach()

    def _detach(self) -> None:
        if self._queue in self._bus._queues:
            self._bus._queues.remove(self._queue)


async def _await(awaitable: Any) -> None:
    await awaitable
