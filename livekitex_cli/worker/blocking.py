"""A blocked event loop is seen and contained: ``LoopGuard`` runs a ``LoopWatch`` for the
worker's jobs. Each blocked episode is logged once, as a warning, with the job, the agent, the
tool running (if one is) and the stack of the blocking frame; it is counted in /metrics; and a
job that blocks the loop ``loop_block_limit`` times within ``loop_block_window`` seconds is
ended, reported failed with the reason.

Which job blocks is read from the task the loop was running: the tool it runs (the tools'
registry of running calls), else the session its name carries (``lkx-<session id>-...``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livekitex_cli.log import get_logger
from livekitex_cli.tools.execution import running_tool
from livekitex_cli.worker.jobs import Job
from livekitex_cli.worker.loopwatch import Blocked, LoopWatch

if TYPE_CHECKING:
    from livekitex_cli.worker.worker import Worker

log = get_logger("worker")
UNKNOWN = "unknown"  # the agent label of a blocked episode no job can be found for


@dataclass(frozen=True)
class BlockLimit:
    """How many blocked episodes within how many seconds end a job."""

    episodes: int = 3
    window: float = 60.0


@dataclass(frozen=True)
class Culprit:
    job_id: str = ""
    agent: str = UNKNOWN
    tool: str = ""


class LoopGuard:
    """``start()`` on the loop it guards, ``aclose()`` when done.

    ``jobs`` lists the live jobs (read from the watch thread while the loop is blocked);
    ``end_job(job, reason)`` ends one (on the loop); ``on_episode(agent, seconds)`` and
    ``on_lag(seconds)`` receive the figures (the worker's metrics)."""

    def __init__(
        self,
        *,
        threshold: float,
        jobs: Callable[[], Iterable[Job]],
        limits: Mapping[str, BlockLimit],
        end_job: Callable[[Job, str], None],
        on_episode: Callable[[str, float], None] | None = None,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.jobs = jobs
        self.limits = limits
        self.end_job = end_job
        self.on_episode = on_episode
        self.episodes = 0
        self._culprits: dict[int, Culprit] = {}  # id(episode) -> who, found while blocked
        self._seen: dict[str, list[float]] = {}  # job id -> when its recent episodes ended
        self._watch = LoopWatch(
            threshold=threshold, on_blocked=self._blocked, on_unblocked=self._unblocked,
            on_lag=on_lag,
        )  # fmt: skip

    def start(self) -> None:
        if self.threshold > 0:
            self._watch.start()

    async def aclose(self) -> None:
        await self._watch.aclose()

    def culprit(self, episode: Blocked) -> Culprit:
        """The job, agent and tool of the task the blocked loop was running."""
        task = episode.task
        if task is None:
            return Culprit()
        running = running_tool(task)
        if running is not None:
            name, context = running
            job_id = str(context.user_data.get("job_id", "")) if context else ""
            agent = getattr(context.agent, "name", "") if context else ""
            return Culprit(job_id, agent or self._agent_of(job_id), name)
        task_name = task.get_name()
        try:
            jobs = list(self.jobs())
        except RuntimeError:  # changed under our feet (the loop was not quite blocked)
            return Culprit()
        for job in jobs:
            session = job.session
            if session is not None and task_name.startswith(f"lkx-{session.session_id}-"):
                return Culprit(job.id, session.agent.name)
        return Culprit()

    def _agent_of(self, job_id: str) -> str:
        try:
            return next((job.agent for job in self.jobs() if job.id == job_id), UNKNOWN)
        except RuntimeError:
            return UNKNOWN

    def _blocked(self, episode: Blocked) -> None:
        """In the watch thread, while the loop is blocked: the one warning of the episode."""
        culprit = self.culprit(episode)
        self._culprits[id(episode)] = culprit
        log.warning(
            "event loop blocked",
            extra={
                "job_id": culprit.job_id or None, "agent": culprit.agent,
                "tool": culprit.tool or None, "threshold": self.threshold,
                "task": episode.task.get_name() if episode.task else None,
                "stack": episode.stack,
            },
        )  # fmt: skip

    def _unblocked(self, episode: Blocked) -> None:
        """On the loop, once it answers again: count, and end a job that keeps blocking."""
        culprit = self._culprits.pop(id(episode), Culprit())
        self.episodes += 1
        log.info(
            "event loop unblocked",
            extra={"job_id": culprit.job_id or None, "seconds": round(episode.seconds, 3)},
        )
        if self.on_episode is not None:
            self.on_episode(culprit.agent, episode.seconds)
        live = {job.id: job for job in self.jobs()}
        self._seen = {key: times for key, times in self._seen.items() if key in live}
        job = live.get(culprit.job_id)
        if job is None:
            return
        limit = self.limits.get(job.agent, BlockLimit())
        now = time.monotonic()
        times = [t for t in self._seen.get(job.id, []) if now - t <= limit.window] + [now]
        self._seen[job.id] = times
        if len(times) >= limit.episodes:
            where = f" in tool '{culprit.tool}'" if culprit.tool else ""
            reason = (
                f"blocked the event loop {len(times)} times within {limit.window:g} s "
                f"(the last for {episode.seconds:.1f} s{where}); a job must not make blocking "
                "calls on the event loop (use a sync tool, which runs in a thread, or "
                "isolation: process)"
            )
            del self._seen[job.id]
            self.end_job(job, reason)


def guard_worker(worker: Worker) -> LoopGuard:
    """The loop guard over a worker's jobs, with its settings and metrics."""
    slots = {slot.agent.name: slot for slot in worker.slots}
    return LoopGuard(
        threshold=worker.slots[0].options.loop_lag_threshold,  # one setting per process
        jobs=worker.active_jobs,
        limits={
            name: BlockLimit(slot.options.loop_block_limit, slot.options.loop_block_window)
            for name, slot in slots.items()
        },
        end_job=lambda job, reason: slots[job.agent].end_job(job, reason),
        on_episode=worker.metrics.loop_episode,
        on_lag=worker.metrics.loop_lag.observe,
    )
