"""Typing participants for ``python -m bench text_rooms``, one process per share of the rooms
so that the client side spreads over the cores.

    python -m bench.chatters --prefix NAME --first 0 --count 50 --turns 10 [--agent bench-echo]

Rooms ``NAME-<first>`` ... get one ``Person`` each. With ``--agent``, each room is created and
that agent dispatched to it; without, the room is only joined (``bench.floor`` joins it by
name). Once every room has its agent (or ``--join-timeout`` is up, joining included, or no
agent more came for ``--join-stall`` s) and has had one warm-up turn, one JSON line says so; a
line on stdin starts the conversations: ``--turns`` messages per room, one after the other
(``--pause`` s apart), all rooms at once. A last JSON line has every turn's latency (ms;
``null``: no reply within ``--timeout`` s). Needs ``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and
``LIVEKIT_API_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from livekit import api, rtc

from bench.common import ROOT, Person, Remote, connect_user, enter_room, wait_agents


def say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def join(
    server: Remote, client: api.LiveKitAPI, name: str, agent: str | None, gate: asyncio.Semaphore
) -> Person | None:
    async with gate:
        try:
            if agent:
                return await enter_room(server, client, name, agent)
            person = Person(rtc.Room())
            await connect_user(server, person.room, name)
            return person
        except Exception as exc:  # noqa: BLE001 - a room that fails is counted, not fatal
            print(f"chatters: {name} not joined: {exc!r}", file=sys.stderr, flush=True)
            return None


async def join_all(
    server: Remote, client: api.LiveKitAPI, names: list[str], agent: str | None, within: float
) -> list[Person]:
    """The rooms joined within ``within`` seconds (8 at a time); the late ones are given up."""
    gate = asyncio.Semaphore(8)
    tasks = [asyncio.ensure_future(join(server, client, n, agent, gate)) for n in names]
    done, late = await asyncio.wait(tasks, timeout=within)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return [person for task in tasks if task in done and (person := task.result()) is not None]


async def turn(person: Person, text: str, timeout: float) -> float | None:
    try:
        return await person.turn(text, timeout)
    except TimeoutError:
        return None
    except Exception as exc:  # noqa: BLE001 - a turn that cannot be sent is a lost turn
        print(f"chatters: turn failed: {exc!r}", file=sys.stderr, flush=True)
        return None


async def converse(person: Person, turns: int, timeout: float, pause: float) -> list[float | None]:
    latencies = []
    for index in range(turns):
        if index and pause:
            await asyncio.sleep(pause)
        latencies.append(await turn(person, f"message {index}", timeout))
    return latencies


async def chat(args: argparse.Namespace) -> None:
    server = Remote.from_env()
    client = api.LiveKitAPI(server.url.replace("ws://", "http://"), server.api_key,
                            server.api_secret)  # fmt: skip
    names = [f"{args.prefix}-{i}" for i in range(args.first, args.first + args.count)]
    people: list[Person] = []
    try:
        began = time.perf_counter()
        people = await join_all(server, client, names, args.agent, args.join_timeout)
        left = max(1.0, args.join_timeout - (time.perf_counter() - began))
        await wait_agents(people, timeout=left, stall=args.join_stall)
        held = [person for person in people if person.agent_here()]
        warm = await asyncio.gather(*(turn(person, "warm up", args.timeout) for person in held))
        say({"connected": len(people), "with_agent": len(held),
             "warm_up_lost": sum(w is None for w in warm),
             "join_s": round(time.perf_counter() - began, 2)})  # fmt: skip
        if not await asyncio.to_thread(sys.stdin.readline):
            return  # the benchmark has gone
        began, cpu = time.perf_counter(), time.process_time()
        latencies = await asyncio.gather(
            *(converse(person, args.turns, args.timeout, args.pause) for person in held)
        )
        say({"latencies_ms": [x for room in latencies for x in room],
             "wall_s": round(time.perf_counter() - began, 3),
             "cpu_s": round(time.process_time() - cpu, 3)})  # fmt: skip
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                await asyncio.gather(
                    *(person.room.disconnect() for person in people), return_exceptions=True
                )
        await client.aclose()


class Chatters:
    """The benchmark's side of one ``bench.chatters`` process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, server: Remote, options: list[str], log: Path) -> Chatters:
        with log.open("ab") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.chatters", *options, cwd=ROOT,
                env={**os.environ, **Remote.env(server)}, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=errors,
            )  # fmt: skip
        return cls(process)

    @classmethod
    async def spread(
        cls, server: Remote, prefix: str, rooms: int, per_process: int, options: list[str],
        log: Path,
    ) -> list[Chatters]:  # fmt: skip
        """Rooms ``prefix-0`` ... shared out: a process per ``per_process`` rooms, and at least
        one per core; ``options`` for each."""
        processes = min(rooms, max(os.cpu_count() or 1, -(-rooms // per_process)))
        shares = [(rooms * i // processes, rooms * (i + 1) // processes) for i in range(processes)]
        return [
            await cls.start(server, ["--prefix", prefix, "--first", str(first),
                                     "--count", str(last - first), *options], log)
            for first, last in shares
        ]  # fmt: skip

    async def line(self, timeout: float) -> dict[str, Any]:
        """Its next JSON line; ``{"error": ...}`` if it ends or says nothing in time."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while raw := await self.process.stdout.readline():
                    with contextlib.suppress(ValueError):
                        message: dict[str, Any] = json.loads(raw)
                        return message
        except TimeoutError:
            return {"error": f"nothing from the chatters in {timeout:.0f} s"}
        return {"error": f"the chatters ended (exit code {await self.process.wait()})"}

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")

    async def aclose(self) -> None:
        if self.process.returncode is None:
            if self.process.stdin is not None:
                self.process.stdin.close()  # a chatters still waiting to start leaves
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chatters", description=__doc__)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--agent", help="dispatch this agent to each room (none: the floor)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a reply may take")
    parser.add_argument("--pause", type=float, default=0, help="seconds from a reply to the next")
    parser.add_argument("--join-timeout", type=float, default=180)
    parser.add_argument(
        "--join-stall", type=float, default=30, help="stop waiting when no agent came for this"
    )
    asyncio.run(chat(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
