"""Waiting for the user before the agent speaks.

A dispatch often reaches the worker before its user is in the room: the room is created with
the dispatch, or the user's connection is still being set up. LiveKit delivers text only to
participants in the room whose connection is up (``active``), and audio only to those who
have subscribed: a greeting said into the room before that is lost for good. So a job waits
for its user to arrive and to become active before the session starts (and before the call's
variables are read from the user's attributes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livekit import rtc

from livekitex_cli.log import get_logger

log = get_logger("worker")
ACTIVE = rtc.ParticipantState.PARTICIPANT_STATE_ACTIVE
SETTLE = 10.0  # seconds a user in the room may take to become active before the agent speaks


async def wait_for_user(
    room: rtc.Room,
    is_user: Callable[[rtc.RemoteParticipant], bool],
    ended: asyncio.Event,
    *,
    settle: float = SETTLE,
) -> rtc.RemoteParticipant | None:
    """The user (``is_user``) once active; the user as they are when they have been in the room
    ``settle`` seconds without becoming active (a client LiveKit never reports as active still
    gets its greeting); None when ``ended`` is set first."""
    changed = asyncio.Event()

    def users() -> list[rtc.RemoteParticipant]:
        return [p for p in room.remote_participants.values() if is_user(p)]

    def wake(*_: object) -> None:
        changed.set()

    events: tuple[rtc.room.EventTypes, ...] = (
        "participant_connected",
        "participant_active",
        "participant_disconnected",
    )
    for event in events:
        room.on(event, wake)
    loop = asyncio.get_running_loop()
    arrived: float | None = None
    if not users():
        log.info("waiting for the user to join", extra={"room": room.name})
    try:
        while not ended.is_set():
            present = users()
            for participant in present:
                if participant.state == ACTIVE:
                    return participant
            if not present:
                arrived = None  # none yet, or the one who came has left
            elif arrived is None:
                arrived = loop.time()
            if arrived is not None and loop.time() - arrived >= settle:
                log.info(
                    "user not reported active, going on", extra={"identity": present[0].identity}
                )
                return present[0]
            changed.clear()
            waits = {asyncio.ensure_future(changed.wait()), asyncio.ensure_future(ended.wait())}
            timeout = None if arrived is None else max(0.0, arrived + settle - loop.time())
            try:
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        return None
    finally:
        for event in events:
            room.off(event, wake)
