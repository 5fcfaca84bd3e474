"""The agent-worker protocol: one WebSocket to ``<server>/agent`` per agent name.

The worker authenticates with a JWT carrying only the agent grant, registers (type, agent name,
version, permissions), then answers the server: availability requests, job assignments and
terminations. It reports its status every few seconds and pings. When the socket drops it
reconnects with exponential backoff and jitter; running jobs are not touched.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

import aiohttp
from livekit import api
from livekit.protocol import agent as proto
from livekit.protocol import models

from livekitex_cli.errors import AuthError, ConnectError
from livekitex_cli.log import get_logger
from livekitex_cli.tasks import TaskSet
from livekitex_cli.worker.options import WorkerOptions

log = get_logger("worker")
STATUS_INTERVAL = 2.5
PING_INTERVAL = 10.0
REGISTER_TIMEOUT = 10.0


@dataclass(frozen=True)
class Availability:
    """How to answer one availability request."""

    available: bool
    identity: str = ""
    name: str = ""
    attributes: dict[str, str] | None = None
    reason: str = ""


class JobHandler(Protocol):
    def availability(self, request: proto.AvailabilityRequest) -> Availability: ...

    def assignment_lost(self, job_id: str) -> None: ...

    async def assigned(self, assignment: proto.JobAssignment, url: str) -> None: ...

    async def terminate(self, job_id: str) -> None: ...

    def status(self) -> tuple[int, float, int]:
        """(WorkerStatus, load in [0, 1], job count)."""
        ...


def agent_url(server_url: str) -> str:
    parsed = urlparse(server_url)
    scheme = (
        parsed.scheme.replace("http", "ws", 1)
        if parsed.scheme.startswith("http")
        else parsed.scheme
    )
    return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/agent"


def worker_token(options: WorkerOptions) -> str:
    """A short-lived JWT with only the agent grant (no identity, no room)."""
    return (
        api.AccessToken(options.api_key.get_secret_value(), options.api_secret.get_secret_value())
        .with_grants(api.VideoGrants(agent=True))
        .to_jwt()
    )


class AgentConnection:
    """Keeps one agent registered with the server for as long as ``run`` runs."""

    def __init__(
        self,
        *,
        options: WorkerOptions,
        handler: JobHandler,
        version: str,
        connect_attempts: int = 5,
        assignment_timeout: float = 7.5,
        register_timeout: float = REGISTER_TIMEOUT,
        max_backoff: float = 10.0,
    ) -> None:
        self.options = options
        self.handler = handler
        self.version = version
        self.connect_attempts = connect_attempts
        self.assignment_timeout = assignment_timeout
        self.register_timeout = register_timeout
        self.max_backoff = max_backoff
        self.worker_id = ""
        self.registered = asyncio.Event()
        self.registrations = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tasks = TaskSet("lkx-worker", log)

    def __repr__(self) -> str:
        return (
            f"<AgentConnection {self.options.agent_name!r} registered={self.registered.is_set()}>"
        )

    async def run(self) -> None:
        """Connect, serve, reconnect. Raises ``AuthError`` at once on refused credentials and
        ``ConnectError`` when the first connection fails ``connect_attempts`` times."""
        failures = 0
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    await self._serve(http)
                    failures = 0
                except AuthError:
                    raise
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure leads to a reconnect
                    failures += 1
                    self.registered.clear()
                    reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    if self.registrations == 0 and failures >= self.connect_attempts:
                        url = agent_url(self.options.server_url)
                        raise ConnectError(f"cannot reach {url} ({reason})") from None
                    delay = min(self.max_backoff, 0.5 * 2 ** min(failures, 5)) * (
                        0.5 + random.random()
                    )
                    log.warning(
                        "connection to the server lost, reconnecting",
                        extra={
                            "agent": self.options.agent_name,
                            "error": reason,
                            "retry_in": delay,
                        },
                    )
                    await asyncio.sleep(delay)

    async def _serve(self, http: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {worker_token(self.options)}"}
        try:
            ws = await http.ws_connect(
                agent_url(self.options.server_url), headers=headers, heartbeat=PING_INTERVAL
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise AuthError(
                    f"the server refused the API key or secret (HTTP {exc.status})"
                ) from None
            raise
        self._ws = ws
        try:
            await self._register(ws)
            await self._loop(ws)
        finally:
            self._ws = None
            self.registered.clear()
            await ws.close()

    async def _register(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        message = proto.WorkerMessage()
        request = message.register
        request.type = (
            proto.JT_PUBLISHER if self.options.worker_type == "publisher" else proto.JT_ROOM
        )
        request.agent_name = self.options.agent_name
        request.version = self.version
        request.allowed_permissions.CopyFrom(
            models.ParticipantPermission(
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
                can_update_metadata=True,
                agent=True,
            )  # fmt: skip
        )
        await ws.send_bytes(message.SerializeToString())
        async with asyncio.timeout(self.register_timeout):
            raw = await ws.receive()
        if raw.type != aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"expected the register response, got {raw.type.name}")
        answer = proto.ServerMessage.FromString(raw.data)
        if not answer.HasField("register"):
            raise ConnectionError("the server's first message was not a register response")
        self.worker_id = answer.register.worker_id
        self.registrations += 1
        self.registered.set()
        log.info(
            "worker registered",
            extra={"agent": self.options.agent_name, "worker_id": self.worker_id},
        )

    async def _loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        status = asyncio.create_task(self._status_loop(), name="lkx-worker-status")
        try:
            async for raw in ws:
                if raw.type == aiohttp.WSMsgType.BINARY:
                    self._dispatch(proto.ServerMessage.FromString(raw.data))
                elif raw.type == aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(f"websocket error: {ws.exception()}")
            raise ConnectionError(f"the server closed the connection (code {ws.close_code})")
        finally:
            status.cancel()
            await asyncio.gather(status, return_exceptions=True)

    def _dispatch(self, message: proto.ServerMessage) -> None:
        which = message.WhichOneof("message")
        if which == "availability":
            self._answer_availability(message.availability)
        elif which == "assignment":
            self._on_assignment(message.assignment)
        elif which == "termination":
            self._spawn(self.handler.terminate(message.termination.job_id), "terminate")

    def _answer_availability(self, request: proto.AvailabilityRequest) -> None:
        answer = self.handler.availability(request)
        message = proto.WorkerMessage()
        response = message.availability
        response.job_id = request.job.id
        response.available = answer.available
        if answer.available:
            response.participant_identity = answer.identity
            response.participant_name = answer.name
            response.participant_attributes.update(answer.attributes or {})
            loop = asyncio.get_running_loop()
            self._pending[request.job.id] = loop.call_later(
                self.assignment_timeout, self._assignment_timed_out, request.job.id
            )
        else:
            log.info("job rejected", extra={"job_id": request.job.id, "reason": answer.reason})
        self._spawn(self.send(message), "availability")

    def _assignment_timed_out(self, job_id: str) -> None:
        if self._pending.pop(job_id, None) is not None:
            log.warning("no assignment after accepting a job", extra={"job_id": job_id})
            self.handler.assignment_lost(job_id)

    def _on_assignment(self, assignment: proto.JobAssignment) -> None:
        timer = self._pending.pop(assignment.job.id, None)
        if timer is not None:
            timer.cancel()
        url = assignment.url or self.options.server_url
        self._spawn(self.handler.assigned(assignment, url), "assignment")

    async def send(self, message: proto.WorkerMessage) -> None:
        """Send if connected; while reconnecting, messages are dropped (status is resent)."""
        ws = self._ws
        if ws is None or ws.closed:
            return
        async with self._send_lock:
            try:
                await ws.send_bytes(message.SerializeToString())
            except (ConnectionError, aiohttp.ClientError) as exc:
                log.info("send failed", extra={"error": str(exc)})

    async def update_status(self) -> None:
        status, load, jobs = self.handler.status()
        message = proto.WorkerMessage()
        message.update_worker.status = status  # type: ignore[assignment]
        message.update_worker.load = load
        message.update_worker.job_count = jobs
        await self.send(message)

    async def update_job(self, job_id: str, status: int, error: str = "") -> None:
        message = proto.WorkerMessage()
        message.update_job.job_id = job_id
        message.update_job.status = status  # type: ignore[assignment]
        message.update_job.error = error
        await self.send(message)

    async def _status_loop(self) -> None:
        while True:
            await self.update_status()
            ping = proto.WorkerMessage()
            ping.ping.timestamp = int(time.time() * 1000)
            await self.send(ping)
            await asyncio.sleep(STATUS_INTERVAL)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def run() -> None:
            await coro

        self._tasks.spawn(run(), name)

    async def aclose(self) -> None:
        for timer in self._pending.values():
            timer.cancel()
        await self._tasks.aclose()


StatusCallback = Callable[[], None]
