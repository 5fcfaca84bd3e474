"""The agent-worker protocol against an in-process fake of the server's ``/agent`` endpoint,
for what a real server rarely does on demand: silence, refusals, terminations, dropped sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from livekit import api
from livekit.protocol import agent as proto

from livekitex_cli import AuthError, ConnectError, load_agents
from livekitex_cli.worker import Worker, WorkerOptions
from livekitex_cli.worker.protocol import AgentConnection, Availability

KEY, SECRET = "fake-key", "fake-secret-that-is-long-enough-for-hs256-0123"


class FakeAgentServer:
    def __init__(self) -> None:
        self.mode = "normal"  # normal | silent | refuse | drop
        self.received: list[proto.WorkerMessage] = []
        self.tokens: list[str] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.registered = asyncio.Event()
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/agent", self._agent)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.tokens.append(token)
        if self.mode == "refuse":
            return web.Response(status=401, text="invalid token")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for raw in ws:
            if raw.type != WSMsgType.BINARY:
                continue
            message = proto.WorkerMessage.FromString(raw.data)
            self.received.append(message)
            if message.WhichOneof("message") == "register" and self.mode != "silent":
                answer = proto.ServerMessage()
                answer.register.worker_id = f"AW_fake{len(self.sockets)}"
                await ws.send_bytes(answer.SerializeToString())
                self.registered.set()
                if self.mode == "drop":
                    await ws.close()
        return ws

    async def send(self, message: proto.ServerMessage) -> None:
        await self.sockets[-1].send_bytes(message.SerializeToString())

    def of(self, kind: str) -> list[Any]:
        return [getattr(m, kind) for m in self.received if m.WhichOneof("message") == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 10) -> list[Any]:
        async with asyncio.timeout(timeout):
            while len(self.of(kind)) < count:
                await asyncio.sleep(0.02)
        return self.of(kind)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAgentServer]:
    server = FakeAgentServer()
    await server.start()
    yield server
    await server.close()


def options(url: str, **extra: Any) -> WorkerOptions:
    values = {
        "server_url": url,
        "api_key": KEY,
        "api_secret": SECRET,
        "agent_name": "support-agent",
    }
    return WorkerOptions.model_validate({**values, **extra})


@pytest.fixture
async def worker(fake: FakeAgentServer) -> AsyncIterator[Worker]:
    agents = load_agents(["agents/support-agent.yaml"])
    running = Worker(
        agents=agents,
        options={"support-agent": options(fake.url, max_concurrent_jobs=1, drain_timeout=3)},
        version="test",
    )
    task = asyncio.create_task(running.run(install_signal_handlers=False))
    await asyncio.wait_for(fake.registered.wait(), 10)
    yield running
    running.drain()
    await asyncio.wait_for(task, 15)


def availability(job_id: str, agent_name: str = "support-agent") -> proto.ServerMessage:
    message = proto.ServerMessage()
    message.availability.job.id = job_id
    message.availability.job.agent_name = agent_name
    message.availability.job.room.name = f"room-{job_id}"
    message.availability.job.type = proto.JT_ROOM
    return message


def assignment(job_id: str, url: str) -> proto.ServerMessage:
    message = proto.ServerMessage()
    message.assignment.job.id = job_id
    message.assignment.job.agent_name = "support-agent"
    message.assignment.job.room.name = f"room-{job_id}"
    message.assignment.url = url
    message.assignment.token = "not-a-real-token"
    return message


async def test_registration_message_and_token(fake: FakeAgentServer, worker: Worker) -> None:
    register = fake.of("register")[0]
    assert register.agent_name == "support-agent" and register.type == proto.JT_ROOM
    assert register.version == "test" and register.allowed_permissions.agent
    claims = api.TokenVerifier(KEY, SECRET).verify(fake.tokens[0])
    assert claims.video is not None and claims.video.agent
    assert not claims.identity and not claims.video.room  # only the agent grant
    status = (await fake.wait_for("update_worker"))[0]
    assert status.status == proto.WS_AVAILABLE and status.job_count == 0


async def test_availability_accept_reject_and_capacity(
    fake: FakeAgentServer, worker: Worker
) -> None:
    await fake.send(availability("J1"))
    await fake.send(availability("J2", agent_name="someone-else"))
    await fake.send(availability("J3"))  # J1 holds the only slot until its assignment
    answers = {a.job_id: a for a in await fake.wait_for("availability", 3)}
    assert answers["J1"].available and answers["J1"].participant_identity == "agent-J1"
    assert answers["J1"].participant_attributes["lk.agent.name"] == "support-agent"
    assert not answers["J2"].available and not answers["J3"].available
    full = [s for s in fake.of("update_worker") if s.status == proto.WS_FULL]
    assert full, "a worker at capacity reports WS_FULL"
    assert worker.rejected["agent name mismatch"] == 1 and worker.rejected["at capacity"] == 1


async def test_failed_job_is_reported_and_contained(fake: FakeAgentServer, worker: Worker) -> None:
    await fake.send(availability("J1"))
    await fake.wait_for("availability")
    await fake.send(assignment("J1", "ws://127.0.0.1:9"))  # nothing listens there
    updates = await fake.wait_for("update_job", 2, timeout=30)
    assert [(u.job_id, u.status) for u in updates] == [
        ("J1", proto.JS_RUNNING),
        ("J1", proto.JS_FAILED),
    ]
    assert "cannot join" in updates[1].error
    assert worker.outcomes["failed"] == 1 and worker.registered
    await fake.send(availability("J2"))  # the slot is free again
    answers = await fake.wait_for("availability", 2)
    assert answers[1].available


async def test_termination_ends_the_job(fake: FakeAgentServer, worker: Worker) -> None:
    writers: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    hang = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = hang.sockets[0].getsockname()[1]
    try:
        await fake.send(availability("J1"))
        await fake.wait_for("availability")
        await fake.send(assignment("J1", f"ws://127.0.0.1:{port}"))
        await fake.wait_for("update_job", 1)
        termination = proto.ServerMessage()
        termination.termination.job_id = "J1"
        await fake.send(termination)
        updates = await fake.wait_for("update_job", 2)
        assert updates[1].status == proto.JS_SUCCESS
        assert worker.outcomes["terminated"] == 1
    finally:
        for writer in writers:
            writer.close()
        hang.close()
        await hang.wait_closed()


async def test_drain_reports_full_and_rejects(fake: FakeAgentServer, worker: Worker) -> None:
    worker.draining = True
    await worker.slots[0].connection.update_status()
    async with asyncio.timeout(5):
        while not any(s.status == proto.WS_FULL for s in fake.of("update_worker")):
            await asyncio.sleep(0.02)
    await fake.send(availability("J9"))
    answer = (await fake.wait_for("availability"))[0]
    assert not answer.available and worker.rejected["draining"] == 1


class NullHandler:
    def availability(self, request: Any) -> Availability:
        return Availability(False)

    def assignment_lost(self, job_id: str) -> None: ...

    async def assigned(self, assignment: Any, url: str) -> None: ...

    async def terminate(self, job_id: str) -> None: ...

    def status(self) -> tuple[int, float, int]:
        return proto.WS_AVAILABLE, 0.0, 0


def connection(fake: FakeAgentServer, **extra: Any) -> AgentConnection:
    return AgentConnection(options=options(fake.url), handler=NullHandler(), version="t", **extra)


async def test_refused_token_is_an_auth_error(fake: FakeAgentServer) -> None:
    fake.mode = "refuse"
    with pytest.raises(AuthError, match="HTTP 401"):
        await asyncio.wait_for(connection(fake).run(), 10)
    assert len(fake.tokens) == 1  # refused credentials are not retried


async def test_silent_server_gives_connect_error(fake: FakeAgentServer) -> None:
    fake.mode = "silent"
    conn = connection(fake, connect_attempts=2, register_timeout=0.3, max_backoff=0.2)
    with pytest.raises(ConnectError, match="cannot reach"):
        await asyncio.wait_for(conn.run(), 10)
    assert len(fake.of("register")) == 2


async def test_dropped_socket_reconnects(fake: FakeAgentServer) -> None:
    fake.mode = "drop"
    conn = connection(fake, max_backoff=0.2)
    task = asyncio.create_task(conn.run())
    try:
        async with asyncio.timeout(10):
            while conn.registrations < 3:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(fake.of("register")) >= 3
