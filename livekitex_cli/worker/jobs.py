"""Jobs: one agent session in one room each, contained so that one job never hurts another."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from livekit.protocol import agent as proto

from livekitex_cli.agent import Agent
from livekitex_cli.errors import AuthError, ConnectError, ValidationError
from livekitex_cli.log import get_logger

if TYPE_CHECKING:  # imported on the first job (or by ``warm_up``): not needed to register
    from livekit import rtc

    from livekitex_cli.session import AgentSession
    from livekitex_cli.worker.dispatch import Server
    from livekitex_cli.worker.room_io import RoomIO

log = get_logger("worker")
JobState = Literal["reserved", "running", "success", "failed", "terminated"]
CLEANUP_TIMEOUT = 5.0


@dataclass(frozen=True)
class JoinPolicy:
    """How hard a job tries to join its room. Each attempt is bounded (the first by
    ``attempt_timeout``, later ones by half as much again each, since a slow join on a busy
    machine is more likely than a lost one); a timeout or a transient failure is retried after
    an exponential backoff with jitter; the whole join is bounded by ``budget``."""

    attempt_timeout: float = 20.0
    budget: float = 90.0
    first_backoff: float = 0.5
    max_backoff: float = 5.0
    min_attempt: float = 1.0  # no attempt is started with less time than this left

    def timeout(self, attempt: int, left: float) -> float:
        grown: float = self.attempt_timeout * 1.5 ** (attempt - 1)
        return min(grown, left)

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.max_backoff, self.first_backoff * 2.0 ** (attempt - 1))
        return delay * (0.5 + random.random())


class JoinGaveUp(ConnectError):
    """A job's room could not be joined within its ``JoinPolicy``."""


@dataclass
class JobContext:
    """What a custom ``entry_point`` gets: the job, its room, its agent and its session."""

    job_id: str
    room: rtc.Room
    agent: Agent
    session: AgentSession
    ended: asyncio.Event


@dataclass
class Job:
    id: str
    agent: str
    room: str = ""
    state: JobState = "reserved"
    created: float = field(default_factory=time.time)
    ended: float | None = None
    error: str = ""
    join_attempts: int = 0
    ending: bool = False  # cleaning up: a termination now would only cut the cleanup short
    dispatch_id: str = ""
    ended_by_server: bool = False  # the server terminated it while it ran
    left: list[int] = field(default_factory=list)  # the room's disconnect reasons, in order
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    session: AgentSession | None = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        """The job's agent participant in its room (the worker's availability answer names it)."""
        return f"agent-{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "room": self.room,
            "state": self.state,
            "created": self.created,
            "ended": self.ended,
            "error": self.error,
            "join_attempts": self.join_attempts,
        }


async def run_job(
    *,
    agent: Agent,
    assignment: proto.JobAssignment,
    url: str,
    job: Job,
    close_on_leave: bool = True,
    entry_point: Callable[[JobContext], Awaitable[None]] | None = None,
    on_turn: Callable[[dict[str, Any]], None] | None = None,
    on_handoff: Callable[[str, str], None] | None = None,
    join_policy: JoinPolicy | None = None,
    server: Server | None = None,
) -> None:
    """Join the room, run the session until the room closes or the user leaves. ``server``:
    the server's API and key, for what the agent's own connection does not get through."""
    # the first job's imports (room I/O, the providers' clients) take seconds on a busy
    # machine: off the loop, which must go on answering the server meanwhile (the server drops
    # a job, for good, whose availability answer comes late)
    from livekitex_cli.worker.warmup import import_modules

    await asyncio.to_thread(import_modules, [agent])
    from livekitex_cli.session import AgentSession
    from livekitex_cli.worker.arrival import wait_for_user
    from livekitex_cli.worker.room_io import OUTPUT_RATE

    agent = agent.copy()  # what a job changes (instructions, tools) stays in its own room
    session = AgentSession(
        agent=agent,
        room_id=assignment.job.room.name,
        user_data={"room": assignment.job.room.name, "job_id": job.id},
        output_sample_rate=OUTPUT_RATE,
    )
    job.session = session
    if on_turn is not None:
        session.on("metrics", lambda event: on_turn(event.metrics))
    if on_handoff is not None:
        session.on("agent_handoff", lambda event: on_handoff(event.from_agent, event.to_agent))
    io: RoomIO | None = None
    try:
        linked = assignment.job.participant.identity or None
        io = await join_room(
            session,
            url,
            assignment.token,
            job=job,
            policy=join_policy or JoinPolicy(),
            linked_identity=linked,
            close_on_leave=close_on_leave,
        )
        job.room = io.room.name
        io.room.on("disconnected", job.left.append)  # why, should the server end the job
        io.state.server = server
        if await wait_for_user(io.room, io.is_user, io.ended) is None:
            return  # the room ended, or its user left, before anyone could be greeted
        if agent.spec.variables:  # per-call variables, before anything is said
            from livekitex_cli.session.variables import fill_session

            fill_session(session, call_sources(assignment, io))
        await session.start()
        if entry_point is not None:
            await entry_point(JobContext(job.id, io.room, agent, session, io.ended))
        await io.ended.wait()
    finally:
        job.ending = True
        await _quietly(session.aclose())
        await _quietly(io.close_room() if io else None)


def call_sources(assignment: proto.JobAssignment, io: RoomIO) -> list[tuple[str, dict[str, Any]]]:
    """Where a call's variables come from, in order: the dispatch metadata (a JSON object),
    then the linked participant's attributes."""
    sources: list[tuple[str, dict[str, Any]]] = []
    raw = assignment.job.metadata.strip()
    if raw:
        try:
            metadata = json.loads(raw)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise ValidationError("metadata", "the dispatch metadata is not a JSON object")
        sources.append(("dispatch metadata", metadata))
    linked = io.room.remote_participants.get(io.linked_identity or "")
    if linked is not None:
        sources.append((f"attributes of {linked.identity}", dict(linked.attributes)))
    return sources


async def join_room(
    session: AgentSession,
    url: str,
    token: str,
    *,
    job: Job,
    policy: JoinPolicy,
    linked_identity: str | None,
    close_on_leave: bool,
) -> RoomIO:
    """``connect_to_room``, retried within ``policy``; raises ``JoinGaveUp`` with the reason
    (and the number of attempts) when the budget is spent or the failure is permanent."""
    from livekitex_cli.worker.room_io import connect_to_room

    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + policy.budget
    while True:
        job.join_attempts += 1
        attempt = job.join_attempts
        timeout = policy.timeout(attempt, deadline - loop.time())
        try:
            return await connect_to_room(
                session,
                url,
                token,
                linked_identity=linked_identity,
                close_on_leave=close_on_leave,
                timeout=timeout,
            )
        except ConnectError as exc:
            reason = exc.reason  # without the token (``join_error``)
            delay = policy.backoff(attempt)
            permanent = isinstance(exc, AuthError)  # a refused token stays refused
            if permanent or loop.time() + delay + policy.min_attempt > deadline:
                spent = loop.time() - started
                why = "refused" if permanent else f"no join within {spent:.0f} s"
                raise JoinGaveUp(
                    f"gave up joining the room after {attempt} attempt(s), {why}: {reason}"
                ) from None
            log.warning(
                "room join failed, retrying",
                extra={"job_id": job.id, "attempt": attempt, "error": reason, "retry_in": delay},
            )
            await asyncio.sleep(delay)


async def _quietly(closing: Awaitable[None] | None) -> None:
    """Clean up within a bound; a hung or failing cleanup is logged, not raised."""
    if closing is None:
        return
    try:
        async with asyncio.timeout(CLEANUP_TIMEOUT):
            await closing
    except Exception as exc:  # noqa: BLE001 - cleanup must not fail the worker
        log.warning("job cleanup failed", extra={"error": f"{type(exc).__name__}: {exc}"})
