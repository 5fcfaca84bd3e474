"""``lkx start --workers N``: N worker processes under one supervisor, to use every core.

Modelled on uvicorn's ``supervisors/multiprocess.py``. Each process is a plain ``lkx start``
(``--workers 1``) that registers with the LiveKit server on its own; the server spreads jobs
over them by the load each reports. The supervisor never imports agent code (like ``lkx dev``'s
reloader, it runs ``child.Child`` processes and reads them over HTTP); it serves the one health
port for all of them (``supervisor_health.py``).

- The first process starts alone: a bad file or key stops everything with that process's exit
  code and one error, as ``--workers 1`` would. The others start once it has registered.
- A process that dies is started again after a backoff (0.5 s, doubling up to 30 s while it
  keeps dying within 30 s of its start); the fifth quick death in a row is logged as a crash
  loop. Its jobs (as last read from it, every 0.5 s) are logged as failed and counted in
  ``lkx_jobs_total{outcome="failed"}``. The other processes are not touched.
- SIGTERM or SIGINT: every process gets SIGTERM and drains (``drain_timeout``); the supervisor
  exits once all have, or kills what is left ``DRAIN_GRACE`` seconds after the drain timeout.
  A second signal (Ctrl-C again) sends every process SIGTERM again: each ends its jobs now.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client.multiprocess import mark_process_dead

from livekitex_cli.log import get_logger
from livekitex_cli.worker.child import Child, ChildFailed
from livekitex_cli.worker.metrics import MULTIPROC_DIR

log = get_logger("supervisor")
POLL_INTERVAL = 0.5
STABLE_AFTER = 30.0  # s: a process that lived this long was not crash-looping
MAX_BACKOFF = 30.0
CRASH_LOOP = 5
DRAIN_GRACE = 30.0  # s past the drain timeout (a worker settles its given-up joins for 20 s)
INDEX_ENV = "LKX_WORKER_INDEX"  # which process of the supervisor this is


class Process:
    """One of the N places: the child running there now, and its history."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.child: Child | None = None
        self.started = 0.0
        self.restarts = 0
        self.quick_deaths = 0  # in a row
        self.state: dict[str, Any] | None = None  # its /worker, read every POLL_INTERVAL
        self.told = 0  # SIGTERMs sent to the child running here now

    @property
    def alive(self) -> bool:
        return self.child is not None and self.child.process.returncode is None

    @property
    def registered(self) -> bool:
        return self.alive and bool(self.state and self.state.get("registered"))

    @property
    def ready(self) -> bool:
        state = self.state or {}
        return self.registered and bool(state.get("providers_loaded")) and not state.get("draining")

    def live_jobs(self) -> list[dict[str, Any]]:
        agents = (self.state or {}).get("agents", [])
        jobs = [job for agent in agents for job in agent.get("jobs", [])]
        return [job for job in jobs if job.get("state") in ("reserved", "running")]

    def backoff(self, code: int) -> float:
        """Seconds before the next start; counts quick deaths."""
        quick = code != 0 and time.monotonic() - self.started < STABLE_AFTER
        self.quick_deaths = self.quick_deaths + 1 if quick else 0
        return float(min(MAX_BACKOFF, 0.5 * 2 ** max(0, self.quick_deaths - 1)))


class Supervisor:
    def __init__(
        self,
        *,
        count: int,
        paths: Sequence[str],
        args: Sequence[str],
        env: Mapping[str, str],
        drain_timeout: float,
    ) -> None:
        """``args``: the ``lkx start`` options of every process (not the health port)."""
        self.paths, self.args = list(paths), list(args)
        self.metrics_dir = tempfile.mkdtemp(prefix="lkx-metrics-")
        self.env = {**env, MULTIPROC_DIR: self.metrics_dir}
        self.drain_timeout = drain_timeout
        self.processes = [Process(index) for index in range(count)]
        self.draining = False
        self.lost_jobs = 0  # jobs that were running in a process when it died
        self._stop = asyncio.Event()
        self._asked = 0  # signals received: the first drains, the second stops now
        self._failed: int | None = None  # exit code of a first process that could not start
        self._up = False  # the first process has registered once

    @property
    def restarts(self) -> int:
        return sum(process.restarts for process in self.processes)

    def on_signal(self) -> None:
        self._asked = min(2, self._asked + 1)
        if self._asked == 2:
            log.warning("stopping every worker process now")
        self.drain()

    def drain(self) -> None:
        """Every process hears SIGTERM once (it drains), and once more if the supervisor was
        asked twice (it ends its jobs now)."""
        if not self.draining:
            log.info("draining every worker process")
        self.draining = True
        self._stop.set()
        for process in self.processes:
            self._tell(process)

    def _tell(self, process: Process) -> None:
        while process.child is not None and process.told < max(1, self._asked):
            process.told += 1
            process.child.signal(signal.SIGTERM)

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Until SIGTERM/SIGINT has drained every process. Raises ``ChildFailed`` if the first
        process cannot start (it printed why)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal)
        first, *others = self.processes
        keepers = [asyncio.create_task(self._keep(first), name="lkx-process-0")]
        poller = asyncio.create_task(self._poll(), name="lkx-supervisor-poll")
        try:
            if await self._until(lambda: first.registered):
                self._up = True
                keepers += [
                    asyncio.create_task(self._keep(p), name=f"lkx-process-{p.index}")
                    for p in others
                ]
                if await self._until(lambda: all(p.registered for p in self.processes)):
                    if on_ready is not None:
                        on_ready()
            await self._stop.wait()
            self.drain()
            await self._wait_drained(keepers)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            self.drain()
            for task in [*keepers, poller]:
                task.cancel()
            await asyncio.gather(*keepers, poller, return_exceptions=True)
            await self._kill_all()
            self.cleanup()
        if self._failed is not None:
            raise ChildFailed(self._failed)

    def cleanup(self) -> None:
        """Remove the metrics folder (idempotent)."""
        shutil.rmtree(self.metrics_dir, ignore_errors=True)

    async def _until(self, condition: Callable[[], bool]) -> bool:
        """Wait for ``condition`` (False if stopped first)."""
        while not self._stop.is_set():
            if condition():
                return True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await self._stop.wait()
        return False

    async def _keep(self, process: Process) -> None:
        """Run a process at this place, and again each time it dies, until the drain."""
        while not self.draining:
            process.state = None
            process.child = await Child.start(
                self.paths, self.args, env={**self.env, INDEX_ENV: str(process.index)}
            )
            process.started, process.told = time.monotonic(), 0
            if self.draining:  # the drain came while it started
                self._tell(process)
            code = await process.child.process.wait()
            mark_process_dead(process.child.pid, self.metrics_dir)  # type: ignore[no-untyped-call]
            if self.draining:
                return
            if not self._up:  # the first start: what failed it would fail every one
                self._failed = code or None
                self._stop.set()
                return
            delay = self._died(process, code)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()
            process.restarts += 1

    def _died(self, process: Process, code: int) -> float:
        """Report a death; the seconds to wait before the next start."""
        assert process.child is not None
        jobs = process.live_jobs()
        delay = process.backoff(code)
        how = {"signal": -code} if code < 0 else {"exit_code": code}
        details = {"index": process.index, "pid": process.child.pid, **how}
        log.error("worker process died", extra={**details, "jobs": len(jobs), "retry_in": delay})
        for job in jobs:
            error = f"its worker process (pid {process.child.pid}) died"
            log.error(
                "job failed", extra={"job_id": job["id"], "room": job["room"], "error": error}
            )
        self.lost_jobs += len(jobs)
        if process.quick_deaths == CRASH_LOOP:
            log.error(
                "worker process is crash-looping: restarts slow down",
                extra={**details, "deaths": process.quick_deaths, "retry_in": delay},
            )
        return delay

    async def _poll(self) -> None:
        """Read every live process's ``/worker``: readiness and the jobs each runs."""
        while True:
            live = [p for p in self.processes if p.alive and p.child is not None]
            states = await asyncio.gather(*(p.child.state() for p in live if p.child))
            for process, state in zip(live, states, strict=True):
                if state is not None and process.alive:
                    process.state = state
            await asyncio.sleep(POLL_INTERVAL)

    async def _wait_drained(self, keepers: list[asyncio.Task[None]]) -> None:
        timeout = max(
            [self.drain_timeout]
            + [float((p.state or {}).get("drain_timeout") or 0) for p in self.processes]
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout + DRAIN_GRACE):
                await asyncio.gather(*keepers, return_exceptions=True)

    async def _kill_all(self) -> None:
        for process in self.processes:
            child = process.child
            if child is not None and child.process.returncode is None:
                log.warning(
                    "worker process did not drain in time: killed", extra={"pid": child.pid}
                )
                child.signal(signal.SIGKILL)
                await child.process.wait()
