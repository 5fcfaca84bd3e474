"""Assignments the server gets wrong, against the fake ``/agent`` endpoint: one that never comes
after an accepted availability, and one that comes without being asked for."""

from __future__ import annotations

import asyncio

import pytest
from livekit.protocol import agent as proto

from livekitex_cli.worker import Worker
from tests.worker.test_protocol_fake import (
    FakeAgentServer,
    HangingServer,
    assignment,
    availability,
    worker_state,
)
from tests.worker.test_protocol_fake import fake as fake  # the fixtures, offered here
from tests.worker.test_protocol_fake import worker as worker


@pytest.mark.fault("assignment never comes")
async def test_accepted_job_whose_assignment_never_comes_gives_its_place_back(
    fake: FakeAgentServer, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    slot = worker.slots[0]  # max_concurrent_jobs 1: J1 holds the only place while reserved
    slot.connection.assignment_timeout = 0.5
    await fake.send(availability("J1"))
    assert (await fake.wait_for("availability"))[0].available
    async with asyncio.timeout(10):
        while not any(
            r.getMessage() == "no assignment after accepting a job" for r in caplog.records
        ):
            await asyncio.sleep(0.02)
        while slot.active or "J1" in slot.jobs:
            await asyncio.sleep(0.02)
    seen = len(fake.received)
    async with asyncio.timeout(10):  # and the server is told there is room again
        while not any(
            m.WhichOneof("message") == "update_worker"
            and m.update_worker.status == proto.WS_AVAILABLE
            and m.update_worker.job_count == 0
            for m in fake.received[seen - 1 :]
        ):
            await asyncio.sleep(0.02)
    await fake.send(availability("J2"))
    answers = await fake.wait_for("availability", 2)
    assert answers[1].job_id == "J2" and answers[1].available
    assert (await worker_state(worker))["agents"][0]["jobs"][0]["id"] == "J2"


@pytest.mark.fault("assignment without availability")
async def test_assignment_without_availability_is_taken_if_there_is_room(
    fake: FakeAgentServer, worker: Worker
) -> None:
    hang = await HangingServer().start()  # the job's join hangs: it stays running meanwhile
    try:
        await fake.send(assignment("J7", f"ws://127.0.0.1:{hang.port}"))
        first = (await fake.wait_for("update_job", 1))[0]
        assert (first.job_id, first.status) == ("J7", proto.JS_RUNNING)
        listed = (await worker_state(worker))["agents"][0]["jobs"]
        assert [(j["id"], j["room"], j["state"]) for j in listed] == [("J7", "room-J7", "running")]
        # the only place is taken now: a second one is refused, and said so
        await fake.send(assignment("J8", f"ws://127.0.0.1:{hang.port}"))
        second = (await fake.wait_for("update_job", 2))[1]
        assert (second.job_id, second.status, second.error) == (
            "J8",
            proto.JS_FAILED,
            "worker full",
        )
        assert "J8" not in worker.slots[0].jobs and worker.slots[0].active == 1
        termination = proto.ServerMessage()
        termination.termination.job_id = "J7"
        await fake.send(termination)
        third = (await fake.wait_for("update_job", 3))[2]
        assert (third.job_id, third.status) == ("J7", proto.JS_SUCCESS)
        assert worker.slots[0].active == 0
    finally:
        await hang.close()
