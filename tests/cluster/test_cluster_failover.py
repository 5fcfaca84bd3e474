"""Losing and replacing a worker in a two-node cluster. What LiveKit (1.13.5) does with the jobs
of a worker killed outright is recorded here (see RELIABILITY.md): nothing. Its agents leave
their rooms once LiveKit's connection timeout passes, the dispatch keeps naming the dead job as
running, and no other worker is asked; a new dispatch for the room brings the survivor in. A
rolling update (new worker up, then SIGTERM to the old one) drops no conversation."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from typing import Any

import pytest
from livekit import api

from livekitex_cli.testing import Hang, ScriptedOpenAI
from tests.cluster.conftest import cluster_test
from tests.cluster.test_cluster_dispatch import converse
from tests.worker.conftest import Participant, WorkerProcess
from tests.worker.test_worker_live import GREETING, SUPPORT

pytestmark = cluster_test
AGENT = "support-agent"


async def enter(join: Any, name: str, index: int) -> Participant:
    """A room dispatched through one node and joined through the other, greeted."""
    user = await join(name, AGENT, dispatch=index % 2, via=(index + 1) % 2, identity=name)
    await user.wait_agent(timeout=90)
    assert await user.next_chat(timeout=60) == GREETING
    return user


async def asked_in_flight(
    openai: ScriptedOpenAI, users: list[Participant], text: str
) -> threading.Event:
    """Each user sends ``text`` and its answer is held at the LLM: set the event to let the
    answers go on. Returns once every request has reached the scripted server."""
    release = threading.Event()
    openai.push(*(Hang(120, until=release) for _ in users))
    before = len(openai.chat_requests)
    for user in users:
        await user.say(text)
    async with asyncio.timeout(60):
        while len(openai.chat_requests) < before + len(users):
            await asyncio.sleep(0.05)
    return release


async def worker_id(worker: WorkerProcess) -> str:
    return str((await worker.get("/worker"))[1]["agents"][0]["worker_id"])


@pytest.mark.fault("worker killed in a cluster")
async def test_killed_worker_jobs_are_not_redispatched(
    apis: list[api.LiveKitAPI], cluster_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    doomed, survivor = cluster_worker(0, SUPPORT), cluster_worker(1, SUPPORT)
    users = {f"kill-{i}": await enter(join, f"kill-{i}", i) for i in range(8)}
    lost, kept = set(doomed.jobs_started()), set(survivor.jobs_started())
    assert lost and kept and lost | kept == set(users), (lost, kept)
    dead_id = await worker_id(doomed)
    # mid-conversation: an answer is on its way in each of the doomed worker's rooms
    release = await asked_in_flight(threaded_openai, [users[n] for n in lost], "still there?")
    killed = time.monotonic()
    doomed.signal(signal.SIGKILL)
    release.set()
    for name in sorted(kept):  # the survivor's conversations go on
        await converse(users[name], "and you, still there?")
    # LiveKit removes the dead agents once their connection times out
    async with asyncio.timeout(120):
        while any(users[name].agent() is not None for name in lost):
            await asyncio.sleep(0.1)
    gone_after = time.monotonic() - killed
    # new rooms go to the survivor; by the time they are answered LiveKit has had every chance
    # to offer the orphaned rooms to it too
    fresh = {f"after-{i}": await enter(join, f"after-{i}", i) for i in range(4)}
    for name, user in fresh.items():
        await converse(user, f"new in {name}")
    assert sorted(survivor.jobs_started()) == sorted(kept | set(fresh))
    for name in lost:
        assert users[name].agent() is None and users[name].chat.empty()  # the answer is lost
        dispatches = await apis[1].agent_dispatch.list_dispatch(name)
        jobs = [job for d in dispatches if d.agent_name == AGENT for job in d.state.jobs]
        assert [(job.state.status, job.state.worker_id) for job in jobs] == [
            (api.JobStatus.JS_RUNNING, dead_id)  # stale: nobody tells LiveKit the job ended
        ]
    # the way back: a new dispatch for the room, which the survivor takes
    redispatched = time.monotonic()
    for index, name in enumerate(sorted(lost)):
        await apis[index % 2].agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=AGENT, room=name)
        )
    for name in sorted(lost):
        await users[name].wait_agent(timeout=90)
        assert await users[name].next_chat(timeout=60) == GREETING
        await converse(users[name], "back again")
    print(
        f"killed worker's {len(lost)} rooms: agent gone after {gone_after:.1f} s, never "
        f"re-dispatched; a new dispatch answered in {time.monotonic() - redispatched:.1f} s"
    )
    assert sorted(survivor.jobs_started()) == sorted(set(users) | set(fresh))


@pytest.mark.fault("rolling update in a cluster")
async def test_rolling_update_drops_no_conversation(
    cluster_worker: Any, join: Any, threaded_openai: ScriptedOpenAI
) -> None:
    old = cluster_worker(0, SUPPORT)
    users = [await enter(join, f"old-{i}", i) for i in range(6)]
    sent = 0
    for user in users:
        await converse(user, "before the update")
        sent += 1
    new = cluster_worker(1, SUPPORT)
    # the old worker is told to stop while an answer is on its way in every one of its rooms
    release = await asked_in_flight(threaded_openai, users, "during the update")
    sent += len(users)
    old.signal(signal.SIGTERM)
    await old.until('"msg": "draining"')
    release.set()
    for user in users:  # the current exchange finishes
        assert await user.next_chat(timeout=60) == "Sorry, I was asleep."
    fresh = [await enter(join, f"new-{i}", i) for i in range(6)]
    for user in [*users, *fresh]:  # old rooms talk on while the old worker drains
        await converse(user, "after the update")
        sent += 1
    assert sorted(old.jobs_started()) == sorted(user.room.name for user in users)
    assert sorted(new.jobs_started()) == sorted(user.room.name for user in fresh)
    for user in users:
        await user.leave()
    assert await old.exited(60) == 0
    print(f"rolling update: {sent} messages, {sent} answers, old worker drained and exited 0")
