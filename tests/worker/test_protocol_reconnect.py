"""A running job across a dropped worker socket: the agent protocol runs against the fake
``/agent`` endpoint (so that it can drop and stay down on demand), the job's room is on the real
LiveKit server. The conversation goes on while the worker is away, and once it has registered
again the server hears about the job: that it still runs, or how it ended meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from livekit.protocol import agent as proto

from livekitex_cli.worker import Worker
from livekitex_cli.worker.tokens import mint_token
from tests.livekit_server import KEY, SECRET, LiveKitServer, needs_server
from tests.worker.test_protocol_fake import (
    FakeAgentServer,
    assignment,
    availability,
)
from tests.worker.test_protocol_fake import fake as fake  # the fixtures, offered here
from tests.worker.test_protocol_fake import worker as worker

GREETING = "Hello! I can check an order or open a support ticket. What can I do for you?"


def agent_token(job_id: str) -> str:
    """The join token the real server hands out with an assignment: an agent's."""
    return mint_token(
        api_key=KEY, api_secret=SECRET, room=f"room-{job_id}", identity=f"agent-{job_id}",
        name="support-agent", agent=True,
    )  # fmt: skip


async def seen_after(
    fake: FakeAgentServer, start: int, match: Callable[[proto.WorkerMessage], bool]
) -> proto.WorkerMessage:
    """The first message from index ``start`` on that ``match``es, waiting for it."""
    async with asyncio.timeout(20):
        while True:
            for message in fake.received[start:]:
                if match(message):
                    return message
            await asyncio.sleep(0.02)


def is_job(job_id: str, status: int) -> Callable[[proto.WorkerMessage], bool]:
    def match(message: proto.WorkerMessage) -> bool:
        return (
            message.WhichOneof("message") == "update_job"
            and message.update_job.job_id == job_id
            and message.update_job.status == status
        )

    return match


async def outage(fake: FakeAgentServer, worker: Worker) -> None:
    """Drop the worker's socket and keep refusing it (503) until the caller says otherwise."""
    connection = worker.slots[0].connection
    fake.mode = "down"
    await fake.sockets[-1].close()
    async with asyncio.timeout(10):
        while connection.registered.is_set():
            await asyncio.sleep(0.02)


async def back(fake: FakeAgentServer, worker: Worker, registrations: int) -> int:
    """Let the worker in again; the index of its register message."""
    fake.mode = "normal"
    connection = worker.slots[0].connection
    async with asyncio.timeout(20):
        while connection.registrations < registrations:
            await asyncio.sleep(0.02)
    return max(i for i, m in enumerate(fake.received) if m.WhichOneof("message") == "register")


@needs_server
@pytest.mark.livekit
@pytest.mark.fault("worker socket dropped with a job running")
async def test_running_job_survives_a_worker_reconnect(
    fake: FakeAgentServer, worker: Worker, livekit_server: LiveKitServer, join: Any
) -> None:
    worker.slots[0].connection.max_backoff = 0.5  # quick retries against the 503s
    user = await join("room-J1")
    await fake.send(availability("J1"))
    await fake.wait_for("availability")
    await fake.send(assignment("J1", livekit_server.url, agent_token("J1")))
    await user.wait_agent(timeout=60)
    assert await user.next_chat() == GREETING
    await user.say("before the drop")
    assert await user.next_chat() == "You said: before the drop"

    await outage(fake, worker)
    await user.say("while the worker is away")  # the room does not need the worker's socket
    assert await user.next_chat() == "You said: while the worker is away"
    registered = await back(fake, worker, 2)
    # registered again: the server hears that the job still runs, and counts it
    await seen_after(fake, registered, is_job("J1", proto.JS_RUNNING))
    status = await seen_after(
        fake, registered, lambda m: m.WhichOneof("message") == "update_worker"
    )
    assert status.update_worker.job_count == 1
    await user.say("after the reconnect")
    assert await user.next_chat() == "You said: after the reconnect"
    assert worker.slots[0].jobs["J1"].state == "running"

    await outage(fake, worker)
    await user.leave()  # the job ends while the worker is away: its end is kept, not lost
    async with asyncio.timeout(30):
        while "J1" in worker.slots[0].jobs:
            await asyncio.sleep(0.05)
    registered = await back(fake, worker, 3)
    await seen_after(fake, registered, is_job("J1", proto.JS_SUCCESS))
    status = await seen_after(
        fake, registered, lambda m: m.WhichOneof("message") == "update_worker"
    )
    assert status.update_worker.job_count == 0
    assert worker.outcomes == {"success": 1}
