"""Load: one ``lkx start`` worker, 50 participants in 50 rooms, 20 typed turns each. Every
message gets exactly one reply, in order; nothing is lost or crosses rooms."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.tally import TALLY
from tests.livekit_server import needs_server

pytestmark = [needs_server, pytest.mark.livekit, pytest.mark.slow]
ROOMS, TURNS = 50, 20
AGENT = "name: echo\ninstructions: Echo.\nllm: {provider: openai, model: m}\nworker: {max_concurrent_jobs: 50}\n"


def agent_state(person: Any) -> str | None:
    agent = person.agent()
    return None if agent is None else agent.attributes.get("lk.agent.state")


async def conversation(person: Any, room: str) -> list[str]:
    replies = []
    for turn in range(TURNS):
        await person.say(f"{room} message {turn}")
        replies.append(await person.next_chat(timeout=60))
    return replies


async def test_fifty_rooms_twenty_turns(start_worker: Any, join: Any, tmp_path: Path) -> None:
    agent = tmp_path / "echo.yaml"
    agent.write_text(AGENT)
    worker = start_worker(str(agent))
    people = await asyncio.gather(
        *(join(f"load-{i}", "echo", identity=f"user-{i}") for i in range(ROOMS))
    )
    await asyncio.gather(*(person.wait_agent(timeout=60) for person in people))
    _, ready = worker.health("/ready")
    assert ready["active_jobs"] == ROOMS and ready["max_jobs"] == ROOMS and ready["load"] == 1.0
    started = time.perf_counter()
    results = await asyncio.gather(*(conversation(p, f"load-{i}") for i, p in enumerate(people)))
    elapsed = time.perf_counter() - started
    for index, replies in enumerate(results):
        assert replies == [f"You said: load-{index} message {turn}" for turn in range(TURNS)]
    await asyncio.sleep(0.5)
    for person in people:
        assert person.chat.empty()  # exactly one reply per message
    # under load the agent's state updates coalesce, but the last one always lands
    async with asyncio.timeout(10):
        while any(agent_state(person) != "listening" for person in people):
            await asyncio.sleep(0.05)
    _, state = worker.health("/worker")
    jobs = state["agents"][0]["jobs"]
    assert len(jobs) == ROOMS and all(job["state"] == "running" for job in jobs)
    summary = {"rooms": ROOMS, "turns": ROOMS * TURNS, "seconds": round(elapsed, 2),
               "turns_per_second": round(ROOMS * TURNS / elapsed, 1), "lost": 0}  # fmt: skip
    print(f"\nLOAD {json.dumps(summary)}")
    TALLY["load turns"] += ROOMS * TURNS
    TALLY["load replies lost"] += 0  # asserted above: every reply arrived, in order
