"""Joining a room without ever cancelling livekit's ``Room.connect`` half way.

livekit 1.2.1's ``Room.connect`` is not cancellation-safe (livekit/python-sdks#784): the native
side goes on connecting after the Python coroutine is cancelled, and when it gets through it
waits 15 s for a ``ReadyForRoomEventRequest`` that the cancelled coroutine can no longer send,
then reports a panic that the SDK answers with SIGTERM to its own process - one slow join would
end every job of the worker. So a join is bounded here by waiting on the connect, never by
cancelling it: a connect given up on runs on in the background, and if it gets through after
all, its room is left at once.

Joins are also gated: at most ``MAX_JOINING`` connects run at once per event loop (a given-up
one holds its place until it ends), and the rest wait their turn. Each connect is a WebRTC
session being set up, a few dozen sockets and threads in the native library; with no gate,
200 rooms dispatched at once had one process set up over 600 of them (timed-out joins retried
while the first attempts ran on) until it ran out of file descriptors and died, and the
server, starved meanwhile, dropped most agents that did join before their media connected.
``LKX_MAX_JOINING`` sets the number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import weakref

from livekit import rtc

from livekitex_cli.errors import AuthError, ConnectError
from livekitex_cli.log import get_logger
from livekitex_cli.tasks import TaskSet

log = get_logger("worker")
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
# a refused join token does not get better by trying again; anything else (refused or reset
# connections, timeouts on a busy machine, 5xx) may
_REFUSED = re.compile(r"\b(401|403)\b|unauthori[sz]ed|forbidden|invalid token", re.I)

_GIVEN_UP = TaskSet("lkx-given-up-join", log)
MAX_JOINING = 8  # connects at once per event loop (LKX_MAX_JOINING)
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, JoinGate] = weakref.WeakKeyDictionary()


def max_joining() -> int:
    """``LKX_MAX_JOINING`` when it is a positive whole number, else ``MAX_JOINING``."""
    try:
        return max(1, int(os.environ.get("LKX_MAX_JOINING", "")))
    except ValueError:
        return MAX_JOINING


class JoinGate:
    """At most ``places`` connects at once; how many connect and wait, for ``/metrics``."""

    def __init__(self, places: int) -> None:
        self.places = places
        self.connecting = 0
        self.waiting = 0
        self._places = asyncio.Semaphore(places)

    async def enter(self) -> None:
        self.waiting += 1
        try:
            await self._places.acquire()
        finally:
            self.waiting -= 1
        self.connecting += 1

    def leave(self) -> None:
        self.connecting -= 1
        self._places.release()


def join_gate(loop: asyncio.AbstractEventLoop | None = None) -> JoinGate:
    """The gate of ``loop`` (the running one by default)."""
    loop = loop or asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None:
        gate = _GATES[loop] = JoinGate(max_joining())
    return gate


async def connect_room(
    room: rtc.Room, url: str, token: str, *, timeout: float, options: rtc.RoomOptions | None = None
) -> None:
    """``room.connect`` bounded by ``timeout``: raises ``TimeoutError`` (or the connect's own
    error) and, if cancelled, passes the cancellation on - in both cases the connect itself
    is left to finish and its room is then left (see the module's text). The wait for a
    place at the gate comes first and is not part of ``timeout``."""
    gate = join_gate()
    await gate.enter()
    connecting = asyncio.ensure_future(room.connect(url, token, options or rtc.RoomOptions()))
    connecting.add_done_callback(lambda _: gate.leave())  # given up on or not
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


def join_error(url: str, exc: BaseException, timeout: float) -> ConnectError:
    """A failed join as one line without the join token (the SDK's message quotes it whole):
    an ``AuthError`` when the server refused the token, else a ``ConnectError``."""
    reason = JWT.sub("<token>", str(exc)) or f"timed out after {timeout:.1f} s"
    if _REFUSED.search(reason):
        return AuthError(f"cannot join the room at {url}, the server refused the token: {reason}")
    return ConnectError(f"cannot join the room at {url}: {reason}")


class _NoTokens(logging.Filter):
    """The SDK logs a refused join with its token in full: blanked before anyone sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if JWT.search(text):
            record.msg, record.args = JWT.sub("<token>", text), ()
        return True


def hide_tokens_in_library_logs() -> None:
    """Blank join tokens out of the ``livekit`` logger's records (idempotent)."""
    library = logging.getLogger("livekit")
    if not any(isinstance(f, _NoTokens) for f in library.filters):
        library.addFilter(_NoTokens())


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
