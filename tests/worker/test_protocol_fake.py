"""The agent-worker protocol against an in-process fake of the server's ``/agent`` endpoint,
for what a real server rarely does on demand: silence, refusals, terminations, dropped sockets,
and rooms that cannot be joined (refused, hanging, or a real server not accepting yet)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from livekit import api
from livekit.protocol import agent as proto

from livekitex_cli import AuthError, ConnectError, load_agents
from livekitex_cli.tasks import close_web_runner
from livekitex_cli.testing import ScriptedOpenAI
from livekitex_cli.worker import Worker, WorkerOptions
from livekitex_cli.worker.health import HealthServer
from livekitex_cli.worker.jobs import JoinPolicy
from livekitex_cli.worker.protocol import AgentConnection, Availability
from tests import livekit_server as real
from tests.livekit_server import LiveKitServer, closed_port, needs_server

KEY, SECRET = "fake-key", "fake-secret-that-is-long-enough-for-hs256-0123"


class FakeAgentServer:
    def __init__(self) -> None:
        self.mode = "normal"  # normal | silent | refuse | drop | down (503: try again later)
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
            await close_web_runner(self._runner)

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.tokens.append(token)
        if self.mode == "refuse":
            return web.Response(status=401, text="invalid token")
        if self.mode == "down":
            return web.Response(status=503, text="unavailable")
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
async def worker(fake: FakeAgentServer, threaded_openai: ScriptedOpenAI) -> AsyncIterator[Worker]:
    # the agent's LLM is the scripted server: "auto" picks it, and nothing loads local models
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


def assignment(job_id: str, url: str, token: str = "not-a-real-token") -> proto.ServerMessage:
    message = proto.ServerMessage()
    message.assignment.job.id = job_id
    message.assignment.job.agent_name = "support-agent"
    message.assignment.job.room.name = f"room-{job_id}"
    message.assignment.url = url
    message.assignment.token = token
    return message


def room_token(job_id: str, secret: str = real.SECRET) -> str:
    """The join token the real server would hand out with the assignment."""
    grants = api.VideoGrants(room_join=True, room=f"room-{job_id}", agent=True)
    return (
        api.AccessToken(real.KEY, secret)
        .with_identity(f"agent-{job_id}")
        .with_grants(grants)
        .to_jwt()
    )


async def worker_state(worker: Worker) -> dict[str, Any]:
    """``GET /worker`` from the worker's own health server."""
    health = HealthServer(worker, host="127.0.0.1", port=0)
    port = await health.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/worker") as answer:
                state: dict[str, Any] = await answer.json()
                return state
    finally:
        await health.aclose()


class HangingServer:
    """Accepts connections and never says a word. Closing it closes every connection, also
    those the client's own retries open while it closes (else they leak into later tests)."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.closing = False
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> HangingServer:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        if self.closing:
            writer.close()

    async def close(self) -> None:
        self.closing = True
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in self.writers), return_exceptions=True)


QUICK = JoinPolicy(attempt_timeout=3.0, budget=5.0, first_backoff=0.05, max_backoff=0.2)


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


@pytest.mark.fault("room join refused")
async def test_failed_job_is_reported_and_contained(
    fake: FakeAgentServer, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    worker.join_policy = QUICK
    await fake.send(availability("J1"))
    await fake.wait_for("availability")
    with closed_port() as port:  # nothing listens there
        await fake.send(assignment("J1", f"ws://127.0.0.1:{port}"))
        updates = await fake.wait_for("update_job", 2, timeout=30)
    assert [(u.job_id, u.status) for u in updates] == [
        ("J1", proto.JS_RUNNING),
        ("J1", proto.JS_FAILED),
    ]
    assert "gave up joining the room after" in updates[1].error
    assert "cannot join the room at ws://127.0.0.1:" in updates[1].error
    assert worker.outcomes["failed"] == 1 and worker.registered
    # given up after retrying, and said so: in the log and on /worker, with the reason
    retries = [r for r in caplog.records if r.getMessage() == "room join failed, retrying"]
    gave_up = [r for r in caplog.records if r.getMessage() == "job gave up joining its room"]
    assert len(retries) >= 1 and len(gave_up) == 1
    assert gave_up[0].attempts == len(retries) + 1 and gave_up[0].error == updates[1].error
    listed = (await worker_state(worker))["agents"][0]["jobs"]
    assert [(j["id"], j["state"], j["error"]) for j in listed] == [
        ("J1", "failed", updates[1].error)
    ]
    assert listed[0]["join_attempts"] == len(retries) + 1
    await fake.send(availability("J2"))  # the slot is free again
    answers = await fake.wait_for("availability", 2)
    assert answers[1].available


@pytest.mark.fault("room join hangs")
async def test_join_that_hangs_is_retried_then_given_up(
    fake: FakeAgentServer, worker: Worker
) -> None:
    worker.join_policy = JoinPolicy(
        attempt_timeout=0.3, budget=4.0, first_backoff=0.05, max_backoff=0.1
    )
    hang = await HangingServer().start()
    try:
        await fake.send(availability("J1"))
        await fake.wait_for("availability")
        await fake.send(assignment("J1", f"ws://127.0.0.1:{hang.port}"))
        updates = await fake.wait_for("update_job", 2, timeout=30)
    finally:
        await hang.close()
    assert updates[1].status == proto.JS_FAILED
    assert "timed out" in updates[1].error and "no join within" in updates[1].error
    job = worker.slots[0].jobs["J1"]
    assert job.state == "failed" and job.join_attempts >= 2
    assert f"after {job.join_attempts} attempt(s)" in updates[1].error
    assert len(hang.writers) >= 2  # every attempt really knocked again


@needs_server
@pytest.mark.livekit
@pytest.mark.fault("LiveKit server not accepting when a job joins")
async def test_join_is_retried_until_the_server_accepts(
    fake: FakeAgentServer, worker: Worker, tmp_path: Path
) -> None:
    server = LiveKitServer(tmp_path)
    worker.join_policy = JoinPolicy(attempt_timeout=10, budget=90, first_backoff=0.2, max_backoff=1)
    with server.refusing():  # its ports are held: connections are refused, nobody takes them
        await fake.send(availability("J1"))
        await fake.wait_for("availability")
        await fake.send(assignment("J1", server.url, room_token("J1")))
        job = worker.slots[0].jobs["J1"]
        async with asyncio.timeout(30):
            while job.join_attempts < 2:  # the first attempt was refused
                await asyncio.sleep(0.02)
    await asyncio.to_thread(server.start, attempts=1)  # the same ports, let go of just now
    client = api.LiveKitAPI(server.http_url, real.KEY, real.SECRET)
    try:
        async with asyncio.timeout(60):
            while True:
                people = await client.room.list_participants(
                    api.ListParticipantsRequest(room="room-J1")
                )
                if any(p.identity == "agent-J1" for p in people.participants):
                    break
                await asyncio.sleep(0.1)
        assert job.state == "running" and job.join_attempts >= 2 and not job.error
        assert [u.status for u in fake.of("update_job")] == [proto.JS_RUNNING]
        termination = proto.ServerMessage()
        termination.termination.job_id = "J1"
        await fake.send(termination)
        updates = await fake.wait_for("update_job", 2)
        assert updates[1].status == proto.JS_SUCCESS and worker.outcomes == {"terminated": 1}
    finally:
        await client.aclose()
        await asyncio.to_thread(server.close)


@needs_server
@pytest.mark.livekit
@pytest.mark.fault("refused room join token")
async def test_refused_join_token_is_not_retried(
    fake: FakeAgentServer, worker: Worker, livekit_server: LiveKitServer
) -> None:
    bad = room_token("J1", secret="a-wrong-secret-that-is-long-enough-for-hs256-0123")
    await fake.send(availability("J1"))
    await fake.wait_for("availability")
    await fake.send(assignment("J1", livekit_server.url, bad))
    updates = await fake.wait_for("update_job", 2, timeout=60)
    assert updates[1].status == proto.JS_FAILED
    assert "refused" in updates[1].error and "401" in updates[1].error
    assert worker.slots[0].jobs["J1"].join_attempts == 1  # the same token would be refused again
    assert bad not in updates[1].error and bad.split(".")[1] not in updates[1].error


@pytest.mark.fault("job terminated while joining")
async def test_termination_ends_the_job(fake: FakeAgentServer, worker: Worker) -> None:
    hang = await HangingServer().start()
    try:
        await fake.send(availability("J1"))
        await fake.wait_for("availability")
        await fake.send(assignment("J1", f"ws://127.0.0.1:{hang.port}"))
        await fake.wait_for("update_job", 1)
        termination = proto.ServerMessage()
        termination.termination.job_id = "J1"
        await fake.send(termination)
        updates = await fake.wait_for("update_job", 2)
        assert updates[1].status == proto.JS_SUCCESS
        assert worker.outcomes["terminated"] == 1
    finally:
        await hang.close()


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


@pytest.mark.fault("refused worker credentials")
async def test_refused_token_is_an_auth_error(fake: FakeAgentServer) -> None:
    fake.mode = "refuse"
    with pytest.raises(AuthError, match="HTTP 401"):
        await asyncio.wait_for(connection(fake).run(), 10)
    assert len(fake.tokens) == 1  # refused credentials are not retried


@pytest.mark.fault("agent server accepts and never answers")
async def test_silent_server_gives_connect_error(fake: FakeAgentServer) -> None:
    fake.mode = "silent"
    conn = connection(fake, connect_attempts=2, register_timeout=0.3, max_backoff=0.2)
    with pytest.raises(ConnectError, match="cannot reach"):
        await asyncio.wait_for(conn.run(), 10)
    assert len(fake.of("register")) == 2


@pytest.mark.fault("worker socket dropped")
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
