"""The floor of typed-chat latency: a bare participant, no agent framework, that answers every
``lk.chat`` message with an ``lk.transcription`` text stream, the shape of an agent's reply.

    python -m bench.floor --prefix NAME --rooms N

One process holds all N rooms (``NAME-0`` ... ``NAME-<N-1>``), as a worker would. It is not
dispatched: it joins each room by name with a token of its own (participant kind agent, identity
``agent-floor-<i>``, ``lk.agent.state`` already set, so ``Person`` takes it for an agent). What
is left of a turn is the LiveKit server and the client SDK. Needs ``LIVEKIT_URL``,
``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from livekit import api, rtc

from bench.common import Remote

READY = "floor started"
JOINED = "floor joined"


def token(server: Remote, room: str, identity: str) -> str:
    return (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_kind("agent")
        .with_attributes({"lk.agent.state": "listening"})
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


class Echo:
    """One room: each chat message read whole, then answered with one text stream."""

    def __init__(self, room: rtc.Room) -> None:
        self.room = room
        self.answered = 0
        self._tasks: set[asyncio.Task[None]] = set()
        room.register_text_stream_handler("lk.chat", self._on_chat)

    def _on_chat(self, reader: rtc.TextStreamReader, sender: str) -> None:
        task = asyncio.create_task(self._answer(reader), name=f"floor-answer-{sender}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            print(f"floor: answer failed: {task.exception()!r}", file=sys.stderr, flush=True)

    async def _answer(self, reader: rtc.TextStreamReader) -> None:
        text = await reader.read_all()
        await self.room.local_participant.send_text(
            f"You said: {text}",
            topic="lk.transcription",
            attributes={
                "lk.segment_id": f"SG_{self.answered}_agent",
                "lk.transcription_final": "true",
            },
        )
        self.answered += 1

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.room.disconnect()


async def join(server: Remote, name: str, index: int, gate: asyncio.Semaphore) -> Echo | None:
    async with gate:
        echo = Echo(rtc.Room())
        try:
            await echo.room.connect(server.url, token(server, name, f"agent-floor-{index}"))
        except Exception as exc:  # noqa: BLE001 - counted and said; the others go on
            print(f"floor: {name} not joined: {exc!r}", file=sys.stderr, flush=True)
            return None
        return echo


async def serve(prefix: str, rooms: int) -> None:
    server = Remote.from_env()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(READY, flush=True)
    gate = asyncio.Semaphore(8)
    joined = await asyncio.gather(*(join(server, f"{prefix}-{i}", i, gate) for i in range(rooms)))
    echoes = [echo for echo in joined if echo is not None]
    print(f"{JOINED} {len(echoes)} of {rooms} rooms", flush=True)
    await stop.wait()
    answered = sum(echo.answered for echo in echoes)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(15):
            await asyncio.gather(*(echo.aclose() for echo in echoes), return_exceptions=True)
    print(f"floor answered {answered} messages", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--rooms", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.prefix, args.rooms))


if __name__ == "__main__":
    main()
