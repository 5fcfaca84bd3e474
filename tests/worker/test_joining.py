"""A join that is given up on (timed out, or its job ended) while livekit is still connecting.

livekit 1.2.1 goes on connecting after ``Room.connect`` is cancelled and, once through, waits
15 s for an answer the cancelled coroutine never sends, then SIGTERMs its own process
(livekit/python-sdks#784): the test suite died of it twice. Here the real server is reached
through a proxy that holds each connection back longer than the join's bound, so every join
gets through only after lkx gave up on it: lkx must leave that room itself, and livekit must
not panic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from livekit import api, rtc

from livekitex_cli.worker import joining
from livekitex_cli.worker.joining import connect_room, settle_given_up_joins
from tests import conftest as root
from tests.livekit_server import KEY, SECRET, LiveKitServer

pytestmark = [pytest.mark.livekit, pytest.mark.slow]

HOLD = 2.5  # s the proxy holds a connection before passing it on; joins are bounded by 0.5 s
ROOM = "late-join"


class HoldingProxy:
    """Passes TCP connections to ``target`` after holding each one for ``HOLD`` seconds."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.holding = 0  # connections held back right now
        self.most = 0  # ... and the most at once
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> HoldingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            self.holding += 1
            self.most = max(self.most, self.holding)
            try:
                await asyncio.sleep(HOLD)
            finally:
                self.holding -= 1
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._pipes.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def _token(identity: str) -> str:
    grants = api.VideoGrants(room_join=True, room=ROOM)
    return api.AccessToken(KEY, SECRET).with_identity(identity).with_grants(grants).to_jwt()


@pytest.fixture
async def proxy(livekit_server: LiveKitServer) -> AsyncIterator[HoldingProxy]:
    async with HoldingProxy(livekit_server.port) as held:
        yield held


async def _people(server: LiveKitServer) -> set[str]:
    async with api.LiveKitAPI(server.http_url, KEY, SECRET) as client:
        answer = await client.room.list_participants(api.ListParticipantsRequest(room=ROOM))
    return {p.identity for p in answer.participants}


async def _gone(server: LiveKitServer, identity: str) -> bool:
    """Whether ``identity`` is out of the room within 8 s (the server takes a leave in a
    moment; a join nobody leaves stays until livekit's 15 s panic)."""
    for _ in range(40):
        if identity not in await _people(server):
            return True
        await asyncio.sleep(0.2)
    return False


LATE = "a join given up on got through late; leaving that room"


async def test_a_timed_out_join_that_gets_through_late_leaves_the_room(
    livekit_server: LiveKitServer, proxy: HoldingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livekitex")
    panics_before = len(root._FFI_PANICS)
    room = rtc.Room()
    with pytest.raises(TimeoutError):
        await connect_room(room, f"ws://127.0.0.1:{proxy.port}", _token("late"), timeout=0.5)

    # livekit carries on and gets in after the proxy's hold; lkx then leaves at once
    assert await settle_given_up_joins(30.0) == 0
    assert LATE in caplog.messages
    assert not room.isconnected()
    assert await _gone(livekit_server, "late")
    # and the native side got its answer: no panic comes after its 15 s wait
    await asyncio.sleep(16)
    assert root._FFI_PANICS[panics_before:] == []


async def test_a_join_cancelled_with_its_job_leaves_the_room_too(
    livekit_server: LiveKitServer, proxy: HoldingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livekitex")
    room = rtc.Room()
    url = f"ws://127.0.0.1:{proxy.port}"
    job = asyncio.create_task(connect_room(room, url, _token("ended"), timeout=60))
    await asyncio.sleep(0.5)
    job.cancel()  # a termination from the server cancels the job while it is joining
    with pytest.raises(asyncio.CancelledError):
        await job
    assert await settle_given_up_joins(30.0) == 0
    assert LATE in caplog.messages
    assert not room.isconnected()
    assert await _gone(livekit_server, "ended")


async def test_a_join_within_its_bound_stays(livekit_server: LiveKitServer) -> None:
    room = rtc.Room()
    await connect_room(room, livekit_server.url, _token("prompt"), timeout=30)
    try:
        assert room.isconnected()
        assert "prompt" in await _people(livekit_server)
        assert joining.joins_given_up() == 0
    finally:
        await room.disconnect()


async def test_joins_wait_their_turn_at_the_gate(
    livekit_server: LiveKitServer, proxy: HoldingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most ``LKX_MAX_JOINING`` connects at once, a given-up one included: with no gate,
    200 rooms dispatched at once had one process set up over 600 WebRTC sessions (timed-out
    joins retried while the first attempts ran on) until it ran out of file descriptors."""
    monkeypatch.setenv("LKX_MAX_JOINING", "2")  # this test's loop gets a gate of its own
    url = f"ws://127.0.0.1:{proxy.port}"
    rooms = [rtc.Room() for _ in range(4)]
    given_up = asyncio.create_task(connect_room(rooms[0], url, _token("r0"), timeout=0.5))
    await asyncio.sleep(0)  # it takes its place first
    joins = [
        asyncio.create_task(connect_room(room, url, _token(f"r{n}"), timeout=30))
        for n, room in enumerate(rooms[1:], start=1)
    ]
    await asyncio.sleep(0.2)  # the proxy holds the first two for 2.5 s; the others wait
    gate = joining.join_gate()
    assert (gate.places, gate.connecting, gate.waiting) == (2, 2, 2)
    with pytest.raises(TimeoutError):
        await given_up
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*joins)
        assert all(room.isconnected() for room in rooms[1:])
        # the proxy holds each connection 2.5 s: unbounded, all four would have waited there
        # together; the given-up join kept its place until it got through (and left)
        assert proxy.most == 2
        assert await settle_given_up_joins(30.0) == 0
        assert (gate.connecting, gate.waiting) == (0, 0)
        assert await _people(livekit_server) == {"r1", "r2", "r3"}
    finally:
        for room in rooms[1:]:
            await room.disconnect()
