"""``Worker``: every agent registered with the server, jobs contained, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from livekit.protocol import agent as proto

from livekitex_cli.agent import Agent
from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.tasks import TaskSet
from livekitex_cli.tracing import traced
from livekitex_cli.worker.jobs import Job, JobContext, JoinGaveUp, JoinPolicy, run_job
from livekitex_cli.worker.joining import settle_given_up_joins
from livekitex_cli.worker.metrics import WorkerMetrics
from livekitex_cli.worker.options import Accept, Reject, WorkerOptions
from livekitex_cli.worker.protocol import AgentConnection, Availability
from livekitex_cli.worker.warmup import warm_up

log = get_logger("worker")
KEEP_FAILED = 20  # failed jobs stay listed on /worker (with their reason) until newer ones
LIVE = ("reserved", "running")
GIVEN_UP_SETTLE = 20.0  # s a stopping worker waits for joins it gave up on (see joining.py)


class AgentSlot:
    """One agent's registration and jobs: the ``JobHandler`` its connection calls."""

    def __init__(self, worker: Worker, agent: Agent, options: WorkerOptions) -> None:
        self.worker = worker
        self.agent = agent
        self.options = options
        self.jobs: dict[str, Job] = {}
        self.connection = AgentConnection(options=options, handler=self, version=worker.version)

    @property
    def active(self) -> int:
        return sum(1 for job in self.jobs.values() if job.state in LIVE)

    @property
    def load(self) -> float:
        """The agent's own load, or the process's when that is higher (``--max-jobs``)."""
        own = self.active / self.options.max_concurrent_jobs
        return min(1.0, max(own, self.worker.load))

    @property
    def full(self) -> bool:
        return self.active >= self.options.max_concurrent_jobs or self.worker.full

    def status(self) -> tuple[int, float, int]:
        full = self.worker.draining or self.full or self.load >= self.options.load_threshold
        return (proto.WS_FULL if full else proto.WS_AVAILABLE), self.load, self.active

    def availability(self, request: proto.AvailabilityRequest) -> Availability:
        verdict = self.options.should_handle_job(
            {"agent_name": request.job.agent_name, "id": request.job.id},
            active_jobs=self.active,
            load=self.load,
            draining=self.worker.draining,
        )
        if isinstance(verdict, Accept) and self.worker.full:
            verdict = Reject(f"at capacity ({self.worker.active} jobs in this process)")
        if not isinstance(verdict, Accept):
            self.worker.rejected[verdict.reason.split(" (")[0].split(":")[0]] += 1
            return Availability(False, reason=verdict.reason)
        self.jobs[request.job.id] = Job(request.job.id, self.agent.name, request.job.room.name)
        self._status_changed()
        return Availability(
            True,
            identity=f"agent-{request.job.id}",
            name=self.agent.name,
            attributes={"lk.agent.name": self.agent.name},
        )

    def assignment_lost(self, job_id: str) -> None:
        job = self.jobs.pop(job_id, None)
        if job is not None:
            self._status_changed()

    async def assigned(self, assignment: proto.JobAssignment, url: str) -> None:
        job = self.jobs.get(assignment.job.id)
        if (
            job is None
        ):  # assigned without our acceptance (e.g. after a reconnect): take it if we can
            if self.full or self.worker.draining:
                await self.connection.update_job(assignment.job.id, proto.JS_FAILED, "worker full")
                return
            job = self.jobs[assignment.job.id] = Job(assignment.job.id, self.agent.name)
        job.state = "running"
        job.task = asyncio.current_task()
        await self.connection.update_job(job.id, proto.JS_RUNNING)
        attributes = {"lkx.job.id": job.id, "lkx.agent": self.agent.name,
                      "lkx.room": assignment.job.room.name}  # fmt: skip
        with traced("job", attributes):  # the job's trace, when OTEL_* asks for one
            log.info(
                "job started", extra={"job_id": job.id, "agent": self.agent.name, "room": job.room}
            )
            await self._run(job, assignment, url)

    async def _run(self, job: Job, assignment: proto.JobAssignment, url: str) -> None:
        try:
            await run_job(
                agent=self.agent,
                assignment=assignment,
                url=url,
                job=job,
                close_on_leave=self.options.close_on_participant_leave,
                entry_point=self.options.entry_point or self.worker.entry_point,
                on_turn=self.worker.record_turn,
                on_handoff=self.worker.metrics.handoff,
                join_policy=self.worker.join_policy,
            )
        except asyncio.CancelledError:
            job.state = "terminated" if job.state == "running" else job.state
        except Exception as exc:  # noqa: BLE001 - a failing job is reported, never spread
            job.state = "failed"
            job.error = str(exc) if isinstance(exc, LkxError) else f"{type(exc).__name__}: {exc}"
            details = {"job_id": job.id, "room": job.room, "error": job.error}
            if isinstance(exc, JoinGaveUp):
                log.error(
                    "job gave up joining its room", extra={**details, "attempts": job.join_attempts}
                )
            else:
                log.error("job failed", extra=details)
        else:
            job.state = "success"
        finally:
            await self._finish(job)

    async def _finish(self, job: Job) -> None:
        job.ended = time.time()
        if job.session is not None:
            final = job.session.metrics()
            self.worker.tool_calls_done += final["tool_calls_executed"]
            self.worker.errors_done += final["errors"]
        job.session = None
        self.worker.outcomes[job.state] += 1
        self.worker.metrics.job_ended(job.state)
        self.jobs.pop(job.id, None)
        if job.state == "failed":  # listed on /worker with its reason, the newest few only
            self.jobs[job.id] = job
            failed = [key for key, kept in self.jobs.items() if kept.state == "failed"]
            for key in failed[:-KEEP_FAILED]:
                del self.jobs[key]
        self.worker.finished.append(job)
        del self.worker.finished[:-200]
        status = proto.JS_SUCCESS if job.state in ("success", "terminated") else proto.JS_FAILED
        await self.connection.update_job(job.id, status, job.error)
        self._status_changed()
        log.info("job ended", extra={"job_id": job.id, "state": job.state})
        self.worker.job_ended.set()

    async def terminate(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.task is None or job.state not in LIVE:
            return
        if job.ending:  # it is closing its session and leaving the room: let it finish that
            log.info("job termination while it ends, let it end", extra={"job_id": job_id})
            return
        log.info("job terminated by the server", extra={"job_id": job_id})
        job.state = "terminated"
        job.task.cancel()

    def _status_changed(self) -> None:
        # with a process-wide cap, one agent's job changes every agent's load
        slots = self.worker.slots if self.worker.max_jobs else [self]
        for slot in slots:
            self.worker.spawn(slot.connection.update_status(), "status")


class Worker:
    """Serves every given agent from one process."""

    def __init__(
        self,
        *,
        agents: list[Agent],
        options: dict[str, WorkerOptions],
        version: str,
        entry_point: Callable[[JobContext], Awaitable[None]] | None = None,
        join_policy: JoinPolicy | None = None,
        max_jobs: int | None = None,
    ) -> None:
        """``max_jobs`` caps the jobs of the whole process (every agent together); each agent
        also has its own ``max_concurrent_jobs``."""
        self.version = version
        self.max_jobs = max_jobs
        self.entry_point = entry_point
        self.join_policy = join_policy or JoinPolicy()
        self.slots = [AgentSlot(self, agent, options[agent.name]) for agent in agents]
        self.draining = False
        self.providers_loaded = False  # set once the warm-up has loaded the local models
        self.outcomes: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.finished: list[Job] = []
        self.job_ended = asyncio.Event()
        self.metrics = WorkerMetrics(self)
        self.tool_calls_done = 0
        self.errors_done = 0
        self._stop = asyncio.Event()
        self._background = TaskSet("lkx-worker", log)

    @property
    def drain_timeout(self) -> float:
        return max(slot.options.drain_timeout for slot in self.slots)

    @property
    def registered(self) -> bool:
        return all(slot.connection.registered.is_set() for slot in self.slots)

    @property
    def active(self) -> int:
        return sum(slot.active for slot in self.slots)

    @property
    def full(self) -> bool:
        return self.max_jobs is not None and self.active >= self.max_jobs

    @property
    def load(self) -> float:
        return min(1.0, self.active / self.max_jobs) if self.max_jobs else 0.0

    def active_jobs(self) -> list[Job]:
        return [job for slot in self.slots for job in slot.jobs.values() if job.state in LIVE]

    def record_turn(self, metrics: dict[str, Any]) -> None:
        """A session's turn figures, into the worker's latency histograms."""
        self.metrics.turn(metrics)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._background.spawn(coro, name)

    def drain(self) -> None:
        """Stop taking jobs, let running ones finish (up to ``drain_timeout``), then stop."""
        if not self.draining:
            log.info("draining", extra={"active_jobs": len(self.active_jobs())})
            self.draining = True
            for slot in self.slots:
                self.spawn(slot.connection.update_status(), "status")
        self._stop.set()

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Register every agent and serve until drained. SIGTERM/SIGINT start the drain."""
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.drain)
        connections = [
            asyncio.create_task(slot.connection.run(), name=f"lkx-conn-{slot.agent.name}")
            for slot in self.slots
        ]
        stop = asyncio.create_task(self._stop.wait(), name="lkx-worker-stop")
        warming = asyncio.create_task(warm_up([s.agent for s in self.slots]), name="lkx-warm-up")
        warming.add_done_callback(lambda _: setattr(self, "providers_loaded", True))
        try:
            done, _ = await asyncio.wait([*connections, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop:
                    task.result()  # a fatal connection error (refused credentials...) ends the run
            await self._wait_for_jobs()
        finally:
            if install_signal_handlers:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            for task in [*connections, stop]:
                task.cancel()
            await asyncio.gather(*connections, stop, warming, return_exceptions=True)
            for slot in self.slots:
                await slot.connection.aclose()
            await settle_given_up_joins(GIVEN_UP_SETTLE)

    async def _wait_for_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_timeout
        while self.active_jobs() and loop.time() < deadline:
            self.job_ended.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await self.job_ended.wait()
        left = [job for job in self.active_jobs() if job.task is not None]
        if left:
            log.warning("drain timeout: ending jobs", extra={"jobs": [j.id for j in left]})
            for job in left:
                job.state = "terminated"
                assert job.task is not None
                job.task.cancel()
            await asyncio.gather(*(job.task for job in left if job.task), return_exceptions=True)
