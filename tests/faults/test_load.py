"""Load: one ``lkx start`` worker, 50 participants in 50 rooms, 20 typed turns each. Every
message gets exactly one reply, in order; nothing is lost or crosses rooms."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.tally import TALLY
from tests.livekit_server import needs_server

pytestmark = [needs_server, pytest.mark.livekit, pytest.mark.slow]
ROOMS, TURNS = 50, 20
AGENT = "name: echo\ninstructions: Echo.\nllm: {provider: openai, model: m}\nworker: {max_concurrent_jobs: 50}\n"


@pytest.fixture
def alone_on_this_machine() -> Iterator[None]:
    """One load test at a time per machine: two suites run side by side wait for each other
    here rather than measure two loads at once (each is sized to fill the machine). Two at
    once starved the workers: the server dropped dispatches whose availability answer came too
    late, and peer connections timed out. Requested first, so it is let go last, once the
    worker, the server and the participants are gone."""
    fd = os.open(Path(tempfile.gettempdir()) / "lkx-test-load.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def agent_state(person: Any) -> str | None:
    agent = person.agent()
    return None if agent is None else agent.attributes.get("lk.agent.state")


async def conversation(person: Any, room: str) -> list[str]:
    """Twenty turns, then a last message: if any message got a second reply, it comes before
    the last one's. Every message sent and reply received is counted as it happens, so that a
    failed run still reports how many replies were lost."""
    replies = []
    for turn in [*range(TURNS), "end"]:
        await person.say(f"{room} message {turn}")
        TALLY["load messages sent"] += 1
        replies.append(await person.next_chat(timeout=60))
        TALLY["load replies received"] += 1
    return replies


async def test_fifty_rooms_twenty_turns(
    alone_on_this_machine: None, start_worker: Any, join: Any, tmp_path: Path
) -> None:
    TALLY["load messages planned"] += ROOMS * (TURNS + 1)  # a run that fails early says so
    agent = tmp_path / "echo.yaml"
    agent.write_text(AGENT)
    worker = start_worker(str(agent))
    people = await asyncio.gather(
        *(join(f"load-{i}", "echo", identity=f"user-{i}") for i in range(ROOMS))
    )
    # a join may be retried on a busy machine (see JoinPolicy): wait out its whole budget
    await asyncio.gather(*(person.wait_agent(timeout=120) for person in people))
    _, ready = await worker.get("/ready")
    assert ready["active_jobs"] == ROOMS and ready["max_jobs"] == ROOMS and ready["load"] == 1.0
    started = time.perf_counter()
    results = await asyncio.gather(*(conversation(p, f"load-{i}") for i, p in enumerate(people)))
    elapsed = time.perf_counter() - started
    for index, replies in enumerate(results):  # exactly one reply per message, in order
        expected = [f"You said: load-{index} message {turn}" for turn in [*range(TURNS), "end"]]
        assert replies == expected
    # under load the agent's state updates coalesce, but the last one always lands
    async with asyncio.timeout(10):
        while any(agent_state(person) != "listening" for person in people):
            await asyncio.sleep(0.05)
    _, state = await worker.get("/worker")
    jobs = state["agents"][0]["jobs"]
    assert len(jobs) == ROOMS and all(job["state"] == "running" for job in jobs), [
        (job["room"], job["state"], job["error"]) for job in jobs if job["state"] != "running"
    ]
    retried = sum(1 for job in jobs if job["join_attempts"] > 1)
    turns = ROOMS * (TURNS + 1)
    summary = {"rooms": ROOMS, "turns": turns, "seconds": round(elapsed, 2),
               "turns_per_second": round(turns / elapsed, 1), "joins_retried": retried}  # fmt: skip
    print(f"\nLOAD {json.dumps(summary)}")
    TALLY["load turns"] += turns
