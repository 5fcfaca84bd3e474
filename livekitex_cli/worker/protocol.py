"""The agent-worker protocol: one WebSocket to ``<server>/agent`` per agent name.

The worker authenticates with a JWT carrying only the agent grant, registers (type, agent name,
version, permissions), then answers the server: availability requests, job assignments and
terminations. It reports its status every few seconds and pings. When the socket drops it
reconnects with exponential backoff and jitter; running jobs are not touched, and once it has
registered again the server hears about each: that it still runs, or how it ended meanwhile.

The socket is served on a thread and event loop of its own (``loop_thread.py``), so that an
availability request is answered at once however busy the worker's loop is: the server gives a
job whose answer comes late to nobody, for good. Assignments and terminations are handed to the
worker's loop; what the worker sends is handed to the socket's.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Callable
from typing import Protocol

import aiohttp
from livekit.protocol import agent as proto

from livekitex_cli.errors import AuthError, ConnectError
from livekitex_cli.log import get_logger
from livekitex_cli.tasks import TaskSet
from livekitex_cli.worker.loop_thread import run_in_thread
from livekitex_cli.worker.messages import (
    Availability,
    agent_url,
    availability_message,
    job_message,
    ping_message,
    register_message,
    status_message,
    worker_token,
)
from livekitex_cli.worker.options import WorkerOptions

log = get_logger("worker")
STATUS_INTERVAL = 2.5
PING_INTERVAL = 10.0
REGISTER_TIMEOUT = 10.0
__all__ = ["AgentConnection", "Availability", "JobHandler", "agent_url", "worker_token"]


class JobHandler(Protocol):
    """``availability`` and ``status`` are called on the socket's thread (without waiting for
    the worker's loop, they must not touch it); the others on the loop that runs ``run``."""

    def availability(self, request: proto.AvailabilityRequest) -> Availability: ...

    def assignment_lost(self, job_id: str) -> None: ...

    async def assigned(self, assignment: proto.JobAssignment, url: str) -> None: ...

    async def terminate(self, job_id: str) -> None: ...

    def status(self) -> tuple[int, float, int]:
        """(WorkerStatus, load in [0, 1], job count)."""
        ...


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
        self.registered = threading.Event()
        self.registrations = 0
        self.reported: dict[str, object] = {}  # the last status the server got (``/worker``)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tasks = TaskSet("lkx-worker", log)  # the handler's, on the worker's loop
        self._main: asyncio.AbstractEventLoop | None = None  # the worker's loop
        self._io: asyncio.AbstractEventLoop | None = None  # the socket's, while it runs
        self._io_tasks = TaskSet("lkx-protocol", log)
        self._send_lock: asyncio.Lock | None = None
        # the newest update of each job the server must know about (on the socket's loop):
        # running jobs, told again after a reconnect, and ends not delivered yet
        self._jobs: dict[str, proto.WorkerMessage] = {}

    def __repr__(self) -> str:
        return (
            f"<AgentConnection {self.options.agent_name!r} registered={self.registered.is_set()}>"
        )

    async def run(self) -> None:
        """Connect, serve, reconnect. Raises ``AuthError`` at once on refused credentials and
        ``ConnectError`` when the first connection fails ``connect_attempts`` times."""
        self._main = asyncio.get_running_loop()
        await run_in_thread(self._run, name=f"lkx-protocol-{self.options.agent_name}")

    async def _run(self) -> None:
        """``run`` on the socket's own thread and loop."""
        self._io = asyncio.get_running_loop()
        self._send_lock = asyncio.Lock()
        try:
            await self._connect_and_serve()
        finally:
            self._io = None  # from now on, what the worker sends is dropped
            for timer in self._pending.values():
                timer.cancel()
            self._pending.clear()
            await self._io_tasks.aclose()

    async def _connect_and_serve(self) -> None:
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
        message = register_message(self.options, self.version)
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
        for message in list(self._jobs.values()):  # empty on the first registration
            await self._write(message)

    async def _loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        status = asyncio.create_task(self._status_loop(), name="lkx-worker-status")
        try:
            async for raw in ws:
                if raw.type == aiohttp.WSMsgType.BINARY:
                    await self._dispatch(proto.ServerMessage.FromString(raw.data))
                elif raw.type == aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(f"websocket error: {ws.exception()}")
            raise ConnectionError(f"the server closed the connection (code {ws.close_code})")
        finally:
            status.cancel()
            await asyncio.gather(status, return_exceptions=True)

    async def _dispatch(self, message: proto.ServerMessage) -> None:
        which = message.WhichOneof("message")
        if which == "availability":
            await self._answer_availability(message.availability)
        elif which == "assignment":
            self._on_assignment(message.assignment)
        elif which == "termination":
            self._on_main(self._terminate, message.termination.job_id)

    async def _answer_availability(self, request: proto.AvailabilityRequest) -> None:
        """Decided and sent here, before the next message is read."""
        answer = self.handler.availability(request)
        message = availability_message(request, answer)
        if answer.available:
            loop = asyncio.get_running_loop()
            self._pending[request.job.id] = loop.call_later(
                self.assignment_timeout, self._assignment_timed_out, request.job.id
            )
        else:
            log.info("job rejected", extra={"job_id": request.job.id, "reason": answer.reason})
        await self._write(message)

    def _assignment_timed_out(self, job_id: str) -> None:
        if self._pending.pop(job_id, None) is not None:
            log.warning("no assignment after accepting a job", extra={"job_id": job_id})
            self._on_main(self.handler.assignment_lost, job_id)

    def _on_assignment(self, assignment: proto.JobAssignment) -> None:
        timer = self._pending.pop(assignment.job.id, None)
        if timer is not None:
            timer.cancel()
        url = assignment.url or self.options.server_url
        self._on_main(self._assigned, assignment, url)

    # on the worker's loop
    def _assigned(self, assignment: proto.JobAssignment, url: str) -> None:
        self._tasks.spawn(self.handler.assigned(assignment, url), "assignment")

    def _terminate(self, job_id: str) -> None:
        self._tasks.spawn(self.handler.terminate(job_id), "terminate")

    def _on_main(self, callback: Callable[..., None], *args: object) -> None:
        if self._main is not None:
            with contextlib.suppress(RuntimeError):  # the worker's loop is gone: so is the job
                self._main.call_soon_threadsafe(callback, *args)

    async def send(self, message: proto.WorkerMessage) -> None:
        """Send if connected, from either loop (the socket's own writes it, in order); while
        reconnecting, messages are dropped (status is resent)."""
        io = self._io
        if io is None:
            return
        if asyncio.get_running_loop() is io:
            await self._write(message)
        else:
            with contextlib.suppress(RuntimeError):  # the socket's loop has just ended
                io.call_soon_threadsafe(self._post, message)

    def _post(self, message: proto.WorkerMessage) -> None:
        if self._io is not None:  # not once its loop is shutting down
            self._io_tasks.spawn(self._write(message), "send")

    async def _write(self, message: proto.WorkerMessage) -> None:
        job = message.update_job.job_id if message.HasField("update_job") else ""
        if job:  # kept until delivered; a running job's for good (see ``_register``)
            self._jobs[job] = message
        ws, lock = self._ws, self._send_lock
        if ws is None or ws.closed or lock is None:
            return
        async with lock:
            try:
                await ws.send_bytes(message.SerializeToString())
            except (ConnectionError, aiohttp.ClientError) as exc:
                log.info("send failed", extra={"error": str(exc)})
                return
        if job and message.update_job.status != proto.JS_RUNNING and self._jobs.get(job) is message:
            del self._jobs[job]
        if message.HasField("update_worker"):
            update = message.update_worker
            full = update.status == proto.WS_FULL
            self.reported = {"status": "full" if full else "available", "load": update.load}

    async def update_status(self) -> None:
        await self.send(status_message(*self.handler.status()))

    async def update_job(self, job_id: str, status: int, error: str = "") -> None:
        await self.send(job_message(job_id, status, error))

    async def _status_loop(self) -> None:
        while True:
            await self.update_status()
            await self.send(ping_message())
            await asyncio.sleep(STATUS_INTERVAL)

    async def aclose(self) -> None:
        """Once ``run`` has ended: stop the handler's tasks."""
        await self._tasks.aclose()


StatusCallback = Callable[[], None]
