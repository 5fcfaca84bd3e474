"""``AgentSlot``: one agent of a worker, registered on its own connection - its availability
answers, its jobs from assignment to end, and the status it reports."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from livekit.protocol import agent as proto

from livekitex_cli.agent import Agent
from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.tracing import traced
from livekitex_cli.worker.jobs import Job, JoinGaveUp, run_job
from livekitex_cli.worker.metrics import SESSION_TOTALS
from livekitex_cli.worker.options import Accept, Reject, WorkerOptions
from livekitex_cli.worker.protocol import AgentConnection, Availability

if TYPE_CHECKING:
    from livekitex_cli.worker.worker import Worker

log = get_logger("worker")
KEEP_FAILED = 20  # failed jobs stay listed on /worker (with their reason) until newer ones
LIVE = ("reserved", "running")
# LiveKit offers no job to a worker whose load has reached its ``agents.target_load`` (0.7 by
# default) and does not offer that job again: the room waits for an agent that never comes.
# So the load the server hears is lkx's own (1.0 = every place taken) times this target.
SERVER_TARGET_LOAD = 0.7


class AgentSlot:
    """One agent's registration and jobs: the ``JobHandler`` its connection calls.

    Availability is decided on the connection's own thread, whatever the worker's loop is
    doing, from counts kept under the worker's ``admission`` lock; the job is then recorded on
    the loop."""

    def __init__(self, worker: Worker, agent: Agent, options: WorkerOptions) -> None:
        self.worker = worker
        self.agent = agent
        self.options = options
        self.jobs: dict[str, Job] = {}
        self.active = 0  # jobs accepted and not ended yet (changed under worker.admission)
        self.connection = AgentConnection(options=options, handler=self, version=worker.version)

    @property
    def load(self) -> float:
        """The agent's own load (its jobs / ``max_concurrent_jobs``), or the process's when
        that is higher (``--max-jobs``, CPU: ``Worker.load``)."""
        own = self.active / self.options.max_concurrent_jobs
        return min(1.0, max(own, self.worker.load))

    @property
    def full(self) -> bool:
        return self.active >= self.options.max_concurrent_jobs or self.worker.full

    def status(self) -> tuple[int, float, int]:
        """(status, load as the server reads it, jobs): see ``SERVER_TARGET_LOAD``."""
        full = self.worker.draining or self.full or self.load >= self.options.load_threshold
        heard = round(self.load * SERVER_TARGET_LOAD, 4)
        return (proto.WS_FULL if full else proto.WS_AVAILABLE), heard, self.active

    def availability(self, request: proto.AvailabilityRequest) -> Availability:
        with self.worker.admission:
            verdict = self.options.should_handle_job(
                {"agent_name": request.job.agent_name, "id": request.job.id},
                active_jobs=self.active,
                load=self.load,
                draining=self.worker.draining,
            )
            if isinstance(verdict, Accept) and self.worker.full:
                verdict = Reject(f"at capacity ({self.worker.active} jobs in this process)")
            if isinstance(verdict, Accept):
                self.active += 1
        if not isinstance(verdict, Accept):
            self.worker.call_soon(self._rejected, verdict.reason)
            return Availability(False, reason=verdict.reason)
        job = Job(request.job.id, self.agent.name, request.job.room.name)
        self.worker.call_soon(self._reserved, job)
        return Availability(
            True,
            identity=job.identity,
            name=self.agent.name,
            attributes={"lk.agent.name": self.agent.name},
        )

    def _rejected(self, reason: str) -> None:
        self.worker.rejected[reason.split(" (")[0].split(":")[0]] += 1

    def _reserved(self, job: Job) -> None:
        self.jobs[job.id] = job
        self._status_changed()

    def _release(self) -> None:
        with self.worker.admission:
            self.active -= 1

    def assignment_lost(self, job_id: str) -> None:
        job = self.jobs.pop(job_id, None)
        if job is not None and job.state == "reserved":
            self._release()
            self._status_changed()

    async def assigned(self, assignment: proto.JobAssignment, url: str) -> None:
        job = self.jobs.get(assignment.job.id)
        if (
            job is None
        ):  # assigned without our acceptance (e.g. after a reconnect): take it if we can
            with self.worker.admission:
                refused = self.full or self.worker.draining
                if not refused:
                    self.active += 1
            if refused:
                await self.connection.update_job(assignment.job.id, proto.JS_FAILED, "worker full")
                return
            job = Job(assignment.job.id, self.agent.name, assignment.job.room.name)
            self.jobs[job.id] = job
        job.state = "running"
        job.dispatch_id = assignment.job.dispatch_id
        job.task = asyncio.current_task()
        attributes = {"lkx.job.id": job.id, "lkx.agent": self.agent.name,
                      "lkx.room": assignment.job.room.name}  # fmt: skip
        with traced("job", attributes):  # the job's trace, when OTEL_* asks for one
            await self._run(job, assignment, url)

    async def _run(self, job: Job, assignment: proto.JobAssignment, url: str) -> None:
        try:  # from here on the job ends through _finish, which gives its place back
            await self.connection.update_job(job.id, proto.JS_RUNNING)
            log.info(
                "job started", extra={"job_id": job.id, "agent": self.agent.name, "room": job.room}
            )
            if self.options.isolation == "process":  # in a child process of its own
                from livekitex_cli.worker.isolated import run_isolated

                await run_isolated(self, job, assignment, url, args=self.worker.job_args)
            else:
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
                    server=self.options.server(),
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
            for key, *_ in SESSION_TOTALS:
                self.worker.session_totals[key] += final[key]
        job.session = None
        self._release()
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
        if job.ended_by_server and not self.worker.draining:  # did its agent drop out?
            self.worker.spawn(self._recall(job), "recall")

    async def _recall(self, job: Job) -> None:
        from livekitex_cli.worker.recall import recall

        ended = frozenset(done.identity for done in self.worker.finished)
        if await recall(self.options.server(), job, self.worker.recalls, ended) is not None:
            self.worker.metrics.recalls.labels(job.agent).inc()

    def end_job(self, job: Job, reason: str) -> None:
        """End a running job that must not go on (it keeps blocking the loop): reported
        failed, with ``reason``."""
        if job.task is None or job.state not in LIVE or job.ending:
            return
        log.error("ending a job", extra={"job_id": job.id, "agent": job.agent, "reason": reason})
        job.state, job.error = "failed", reason
        job.task.cancel()

    async def terminate(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.task is None or job.state not in LIVE:
            return
        if job.ending:  # it is closing its session and leaving the room: let it finish that
            log.info("job termination while it ends, let it end", extra={"job_id": job_id})
            return
        log.info("job terminated by the server", extra={"job_id": job_id})
        job.state, job.ended_by_server = "terminated", True
        job.task.cancel()

    def _status_changed(self) -> None:
        # with a process-wide cap, one agent's job changes every agent's load
        slots = self.worker.slots if self.worker.max_jobs else [self]
        for slot in slots:
            self.worker.spawn(slot.connection.update_status(), "status")
