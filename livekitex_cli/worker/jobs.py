"""Jobs: one agent session in one room each, contained so that one job never hurts another."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from livekit.protocol import agent as proto

from livekitex_cli.agent import Agent
from livekitex_cli.log import get_logger

if TYPE_CHECKING:  # imported on the first job (or by ``warm_up``): not needed to register
    from livekit import rtc

    from livekitex_cli.session import AgentSession
    from livekitex_cli.worker.room_io import RoomIO

log = get_logger("worker")
JobState = Literal["reserved", "running", "success", "failed", "terminated"]
CLEANUP_TIMEOUT = 5.0


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
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    session: AgentSession | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "room": self.room,
            "state": self.state,
            "created": self.created,
            "ended": self.ended,
            "error": self.error,
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
) -> None:
    """Join the room, run the session until the room closes or the user leaves."""
    from livekitex_cli.session import AgentSession
    from livekitex_cli.worker.room_io import OUTPUT_RATE, connect_to_room

    session = AgentSession(
        agent=agent,
        room_id=assignment.job.room.name,
        user_data={"room": assignment.job.room.name, "job_id": job.id},
        output_sample_rate=OUTPUT_RATE,
    )
    job.session = session
    if on_turn is not None:
        session.callbacks["metrics"] = lambda event: on_turn(event.metrics)
    io: RoomIO | None = None
    try:
        linked = assignment.job.participant.identity or None
        io = await connect_to_room(
            session, url, assignment.token, linked_identity=linked, close_on_leave=close_on_leave
        )
        job.room = io.room.name
        await session.start()
        if entry_point is not None:
            await entry_point(JobContext(job.id, io.room, agent, session, io.ended))
        await io.ended.wait()
    finally:
        await _quietly(session.aclose())
        await _quietly(io.close_room() if io else None)


def warm_up(agents: list[Agent]) -> None:
    """Import what the first job needs (rtc, the session, the providers' clients), so that a
    worker registers fast and its first job does not wait for imports. Runs in a thread."""
    modules = ["livekitex_cli.worker.room_io"]
    for agent in agents:
        for kind in ("llm", "stt", "tts"):
            config = getattr(agent.spec, kind)
            if config is None or config.provider in ("openai", "auto"):
                modules.append(
                    "livekitex_cli.providers.openai.llm"
                    if kind == "llm"
                    else "livekitex_cli.providers.openai.speech"
                )
    for name in dict.fromkeys(modules):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.info("warm-up import failed", extra={"module": name, "error": str(exc)})


async def _quietly(closing: Awaitable[None] | None) -> None:
    """Clean up within a bound; a hung or failing cleanup is logged, not raised."""
    if closing is None:
        return
    try:
        async with asyncio.timeout(CLEANUP_TIMEOUT):
            await closing
    except Exception as exc:  # noqa: BLE001 - cleanup must not fail the worker
        log.warning("job cleanup failed", extra={"error": f"{type(exc).__name__}: {exc}"})
