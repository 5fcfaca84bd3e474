"""``Worker``: every agent registered with the server, jobs contained, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from livekitex_cli.agent import Agent
from livekitex_cli.log import get_logger
from livekitex_cli.tasks import TaskSet
from livekitex_cli.worker.blocking import guard_worker
from livekitex_cli.worker.child import SUPERVISED_ENV
from livekitex_cli.worker.cpu import CpuMeter
from livekitex_cli.worker.jobs import Job, JobContext, JoinPolicy
from livekitex_cli.worker.joining import settle_given_up_joins
from livekitex_cli.worker.metrics import REFRESH_INTERVAL, WorkerMetrics, multiprocess
from livekitex_cli.worker.options import WorkerOptions
from livekitex_cli.worker.recall import Recalls
from livekitex_cli.worker.slot import LIVE, AgentSlot
from livekitex_cli.worker.warmup import warm_up

log = get_logger("worker")
CPU_LOAD_CAP = 0.6  # the most the CPU share adds to the reported load (see Worker.load)
GIVEN_UP_SETTLE = 20.0  # s a stopping worker waits for joins it gave up on (see joining.py)


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
        self.cpu = CpuMeter()
        self.session_totals: Counter[str] = Counter()  # of ended jobs (see SESSION_TOTALS)
        self.recalls = Recalls()  # agents asked back into rooms they dropped out of
        self.admission = threading.Lock()  # job counts: the protocol's threads take jobs too
        self._loop: asyncio.AbstractEventLoop | None = None
        self.job_args: list[str] = []  # for ``lkx job-process`` (isolation: process): logging
        self._stop = asyncio.Event()
        self.now = asyncio.Event()  # asked to stop again while draining: jobs end at once
        self._background = TaskSet("lkx-worker", log)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the worker runs on, once it runs."""
        return self._loop

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
        """The process's load: its jobs against ``--max-jobs``, or its recent CPU share (a
        fraction of one core over the last 5 s, ``cpu.py``) when that is higher. The CPU
        counts once the warm-up has loaded the local models: loading them is a burst that
        says nothing about the conversations the process can take. The CPU part stops at
        ``CPU_LOAD_CAP``: it steers LiveKit towards the less busy worker, but on its own it
        never stops offers to a worker (nor does lkx refuse a job at ``load_threshold`` for
        it; the server hears this load scaled to its target, ``slot.SERVER_TARGET_LOAD``):
        a lone worker on a busy machine would otherwise turn every call away. A lower
        ``load_threshold`` makes it refuse on CPU too."""
        jobs = min(1.0, self.active / self.max_jobs) if self.max_jobs else 0.0
        cpu = min(CPU_LOAD_CAP, self.cpu.share()) if self.providers_loaded else 0.0
        return max(jobs, cpu)

    def active_jobs(self) -> list[Job]:
        return [job for slot in self.slots for job in slot.jobs.values() if job.state in LIVE]

    def record_turn(self, metrics: dict[str, Any]) -> None:
        """A session's turn figures, into the worker's latency histograms."""
        self.metrics.turn(metrics)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._background.spawn(coro, name)

    def call_soon(self, callback: Callable[..., None], *args: object) -> None:
        """Run ``callback`` on the worker's loop, from any thread."""
        if self._loop is None:
            callback(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the worker is gone
                self._loop.call_soon_threadsafe(callback, *args)

    def drain(self) -> None:
        """Stop taking jobs, let running ones finish (up to ``drain_timeout``), then stop.
        Asked again while draining (a second Ctrl-C, SIGTERM again): end them now."""
        if self.draining and not self.now.is_set():
            self.now.set()
            log.warning("stopping now", extra={"active_jobs": len(self.active_jobs())})
            self.job_ended.set()
        if not self.draining:
            log.info("draining", extra={"active_jobs": len(self.active_jobs())})
            self.draining = True
            for slot in self.slots:
                self.spawn(slot.connection.update_status(), "status")
        self._stop.set()

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Register every agent and serve until drained. SIGTERM/SIGINT start the drain; a
        supervised child (``SUPERVISED_ENV``, started with SIGINT ignored) keeps ignoring it:
        Ctrl-C in a terminal reaches the whole process group, and its supervisor answers it with
        a SIGTERM, so heard both ways one Ctrl-C counted twice and ended the conversations."""
        loop = self._loop = asyncio.get_running_loop()
        supervised = os.environ.get(SUPERVISED_ENV) == "1"
        ignoring_sigint = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        signals = (signal.SIGTERM,) if supervised else (signal.SIGTERM, signal.SIGINT)
        if install_signal_handlers:
            for sig in signals:
                loop.add_signal_handler(sig, self.drain)
        connections = [
            asyncio.create_task(slot.connection.run(), name=f"lkx-conn-{slot.agent.name}")
            for slot in self.slots
        ]
        stop = asyncio.create_task(self._stop.wait(), name="lkx-worker-stop")
        warming = asyncio.create_task(warm_up([s.agent for s in self.slots]), name="lkx-warm-up")
        warming.add_done_callback(lambda _: self._warmed_up())
        # no scrape reaches a process under ``--workers N``: its supervisor reads the files
        helpers = [asyncio.create_task(self._refresh_metrics())] if multiprocess() else []
        guard = guard_worker(self)
        guard.start()
        try:
            done, _ = await asyncio.wait([*connections, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop:
                    task.result()  # a fatal connection error (refused credentials...) ends the run
            await self._wait_for_jobs()
        finally:
            if install_signal_handlers:
                for sig in signals:
                    loop.remove_signal_handler(sig)
                if ignoring_sigint and not supervised:  # asyncio put Python's handler back
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
            for task in [*connections, stop, *helpers]:
                task.cancel()
            await asyncio.gather(*connections, stop, warming, *helpers, return_exceptions=True)
            for slot in self.slots:
                await slot.connection.aclose()
            await guard.aclose()
            await settle_given_up_joins(GIVEN_UP_SETTLE)

    def _warmed_up(self) -> None:
        self.cpu.reset()
        self.providers_loaded = True

    async def _refresh_metrics(self) -> None:
        while True:
            self.metrics.refresh()
            await asyncio.sleep(REFRESH_INTERVAL)

    async def _wait_for_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_timeout
        while self.active_jobs() and loop.time() < deadline and not self.now.is_set():
            self.job_ended.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await self.job_ended.wait()
        left = [job for job in self.active_jobs() if job.task is not None]
        if left:
            why = "stopping now" if self.now.is_set() else "drain timeout"
            log.warning(f"{why}: ending jobs", extra={"jobs": [j.id for j in left]})
            for job in left:
                job.state = "terminated"
                assert job.task is not None
                job.task.cancel()
            await asyncio.gather(*(job.task for job in left if job.task), return_exceptions=True)
