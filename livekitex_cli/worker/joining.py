"""Joining a room without ever cancelling livekit's ``Room.connect`` half way.

livekit 1.2.1's ``Room.connect`` is not cancellation-safe (livekit/python-sdks#784): the native
side goes on connecting after the Python coroutine is cancelled, and when it gets through it
waits 15 s for a ``ReadyForRoomEventRequest`` that the cancelled coroutine can no longer send,
then reports a panic that the SDK answers with SIGTERM to its own process - one slow join would
end every job of the worker. So a join is bounded here by waiting on the connect, never by
cancelling it: a connect given up on runs on in the background, and if it gets through after
all, its room is left at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from livekit import rtc

from livekitex_cli.log import get_logger
from livekitex_cli.tasks import TaskSet

log = get_logger("worker")

_GIVEN_UP = TaskSet("lkx-given-up-join", log)


async def connect_room(
    room: rtc.Room, url: str, token: str, *, timeout: float, options: rtc.RoomOptions | None = None
) -> None:
    """``room.connect`` bounded by ``timeout``: raises ``TimeoutError`` (or the connect's own
    error) and, if cancelled, passes the cancellation on - in both cases the connect itself
    is left to finish and its room is then left (see the module's text)."""
    connecting = asyncio.ensure_future(room.connect(url, token, options or rtc.RoomOptions()))
    # (awaited at once below; on giving up it is handed to a given-up join's task)
    try:
        done, _ = await asyncio.wait({connecting}, timeout=timeout)
    except asyncio.CancelledError:
        _give_up(room, connecting)
        raise
    if not done:
        _give_up(room, connecting)
        raise TimeoutError
    connecting.result()


def _give_up(room: rtc.Room, connecting: asyncio.Future[None]) -> None:
    async def leave_when_through() -> None:
        try:
            await connecting
        except BaseException:  # noqa: BLE001 - it failed on its own: nothing joined, nothing to leave
            return
        log.info("a join given up on got through late; leaving that room")
        with contextlib.suppress(Exception):
            await room.disconnect()

    _GIVEN_UP.spawn(leave_when_through(), "leave-when-through")


def joins_given_up() -> int:
    """How many given-up connects are still running."""
    return len(_GIVEN_UP)


async def settle_given_up_joins(timeout: float) -> int:
    """Wait up to ``timeout`` for given-up connects to end (each ends within livekit's own
    attempts); returns how many are still running. A worker calls this before it stops, so
    that no late connect is left waiting for an answer from a loop that is gone."""
    pending = {task for task in _GIVEN_UP if task.get_loop() is asyncio.get_running_loop()}
    if not pending:
        return 0
    log.info("waiting for given-up room joins to end", extra={"joins": len(pending)})
    await asyncio.wait(pending, timeout=timeout)
    left = sum(not task.done() for task in pending)
    if left:
        log.warning("given-up room joins still running at stop", extra={"joins": left})
    return left
