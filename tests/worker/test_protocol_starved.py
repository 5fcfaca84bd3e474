"""A job offered while the worker's loop is starved is still taken. LiveKit gives a job whose
availability answer comes after its deadline to nobody, for good; the fake server here does the
same, and runs on a thread and loop of its own so that its clock never waits for the worker's
loop, which the test keeps busy."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from livekit.protocol import agent as proto

from livekitex_cli import load_agents
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker import Worker
from tests.livekit_server import closed_port
from tests.worker.test_protocol_fake import (
    QUICK,
    FakeAgentServer,
    assignment,
    availability,
    options,
)

DEADLINE = 2.0  # s the server waits for an availability answer
HOGS, SLICES, SLICE = 20, 3, 0.1  # each turn of the worker's loop takes HOGS * SLICE s of CPU


class ServerThread:
    """The fake server on its own thread and event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fake-agent-server")
        self._thread.start()
        self.fake: FakeAgentServer = self.wait(self._start())

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        pending = asyncio.all_tasks(self.loop)  # end as asyncio.run does: nothing left open
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @staticmethod
    async def _start() -> FakeAgentServer:
        fake = FakeAgentServer()
        await fake.start()
        return fake

    def wait(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        """Run ``coro`` there and block for its result (outside the test's loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` there, awaiting its result on the test's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        self.wait(self.fake.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture
def server() -> Iterator[ServerThread]:
    running = ServerThread()
    yield running
    running.close()


async def offer_job(
    fake: FakeAgentServer, job_id: str, url: str, busy: threading.Event
) -> tuple[proto.AvailabilityResponse | None, float]:
    """As LiveKit does, once the worker's loop is busy: ask, wait ``DEADLINE`` for the answer,
    and assign the job only if it came in time. The answer (None when it was late), and how
    long it took."""
    async with asyncio.timeout(30):
        while not busy.is_set():
            await asyncio.sleep(0.01)
    await fake.send(availability(job_id))
    asked = time.perf_counter()
    try:
        answer = (await fake.wait_for("availability", timeout=DEADLINE))[-1]
    except TimeoutError:
        return None, time.perf_counter() - asked
    took = time.perf_counter() - asked
    if answer.available:
        await fake.send(assignment(job_id, url))
    return answer, took


async def starve_the_loop(busy: threading.Event) -> None:
    """``HOGS`` tasks each take the loop for ``SLICE`` s of CPU, ``SLICES`` times: every turn of
    the loop takes ``HOGS * SLICE`` s, as a loop serving many busy rooms might."""

    async def hog() -> None:
        for _ in range(SLICES):
            busy.set()
            end = time.perf_counter() + SLICE
            while time.perf_counter() < end:
                pass
            await asyncio.sleep(0)

    await asyncio.gather(*(hog() for _ in range(HOGS)))


@pytest.mark.faults
@pytest.mark.fault("worker loop starved while a job is offered")
async def test_job_offered_while_the_loop_is_starved_is_taken(
    server: ServerThread, threaded_openai: ScriptedOpenAI
) -> None:
    fake = server.fake
    worker = Worker(
        agents=load_agents(["agents/support-agent.yaml"]),
        options={"support-agent": options(fake.url, max_concurrent_jobs=1, drain_timeout=3)},
        version="test",
        join_policy=QUICK,
    )
    running = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        async with asyncio.timeout(10):
            while not worker.registered:
                await asyncio.sleep(0.02)
        busy = threading.Event()
        with closed_port() as port:  # the job cannot join a room: it is taken, then fails
            offer = server.run(offer_job(fake, "J1", f"ws://127.0.0.1:{port}", busy))
            offered = asyncio.ensure_future(offer)
            await starve_the_loop(busy)
            answer, took = await offered
            print(
                f"\nAVAILABILITY answered after {took:.3f} s, the loop turning every {HOGS * SLICE} s"
            )
            assert answer is not None, f"no availability answer within {DEADLINE} s"
            assert answer.available and answer.job_id == "J1"
            updates = await server.run(fake.wait_for("update_job", 2, timeout=30))
        assert [(u.job_id, u.status) for u in updates] == [
            ("J1", proto.JS_RUNNING),
            ("J1", proto.JS_FAILED),
        ]
        assert worker.slots[0].active == 0 and worker.outcomes["failed"] == 1
    finally:
        worker.drain()
        await asyncio.wait_for(running, 15)
