"""An agent that dropped out of its room is asked back.

When an agent's connection to its room breaks before its media is up, the server removes it
and ends its job as failed ("agent worker left the room"); its user stays, alone. A dispatch
carries a restart policy for this (``JRP_ON_FAILURE``, the default), but the open-source
server records it and does not act on it. So the worker whose job it was does: once the job
has ended, if the room still has a user, the dispatch still exists and asks for restarts, and
no agent of that name serves the room, it dispatches the agent again (the same agent name,
metadata and attributes) and deletes the spent dispatch. Bounded per room, so an agent that
cannot stay is not asked back forever.

Not asked back: an agent the server removed on purpose (``RemoveParticipant``, the room
deleted or closed: seen as the room's disconnect reason), one whose dispatch was deleted (that
is how an operator ends an agent's work in a room), a room without its user."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from livekitex_cli.errors import LkxError, ValidationError
from livekitex_cli.log import get_logger

if TYPE_CHECKING:  # imported on the first recall: the worker registers without them
    from livekit import api

    from livekitex_cli.worker.dispatch import Server
    from livekitex_cli.worker.jobs import Job

log = get_logger("worker")
ON_PURPOSE = {  # the room's disconnect reasons that mean the server meant the agent to go
    "PARTICIPANT_REMOVED",
    "ROOM_DELETED",
    "ROOM_CLOSED",
    "DUPLICATE_IDENTITY",
    "SERVER_SHUTDOWN",
}


@dataclass
class Recalls:
    """How often this worker asked an agent back into each room: at most ``limit`` times
    within ``window`` seconds per room."""

    limit: int = 3
    window: float = 600.0
    _times: dict[str, deque[float]] = field(default_factory=dict)

    def take(self, room: str) -> bool:
        now = time.monotonic()
        for name in [n for n, t in self._times.items() if not t or now - t[-1] > self.window]:
            del self._times[name]  # rooms with no recall in the window: a worker runs for months
        times = self._times.setdefault(room, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


async def recall(
    server: Server, job: Job, recalls: Recalls, leaving: frozenset[str] = frozenset()
) -> str | None:
    """Ask ``job``'s agent back into its room if it dropped out (see the module). Returns the
    new dispatch's id, or ``None`` with the reason logged. Never raises: a failed recall is
    logged, and the room is as it would have been without it. ``leaving``: identities of this
    worker's ended jobs (a join given up on may get through late, and leaves at once)."""
    from livekit import api

    from livekitex_cli.worker.dispatch import call_api

    details = {"job_id": job.id, "room": job.room, "agent": job.agent}
    try:
        why_not, spent = await _check(server, job, leaving | {job.identity})
        if why_not is None and not recalls.take(job.room):
            why_not = f"asked back {recalls.limit} times within {recalls.window:.0f} s already"
        if why_not is not None:
            log.info("agent left its room, not asked back", extra={**details, "reason": why_not})
            return None
        created = await call_api(
            server,
            lambda lk: lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name=spent.agent_name,
                    room=job.room,
                    metadata=spent.metadata,
                    attributes=dict(spent.attributes),
                    restart_policy=spent.restart_policy,
                )
            ),
        )
        await call_api(server, lambda lk: lk.agent_dispatch.delete_dispatch(spent.id, job.room))
    except LkxError as exc:
        log.warning("agent left its room, asking it back failed",
                    extra={**details, "error": str(exc)})  # fmt: skip
        return None
    log.warning("agent dropped out of its room, dispatched again",
                extra={**details, "dispatch_id": created.id, "previous": spent.id})  # fmt: skip
    return created.id


async def _check(
    server: Server, job: Job, leaving: frozenset[str]
) -> tuple[str | None, api.AgentDispatch]:
    """Why the agent is not to be asked back (``None``: it is), and its dispatch."""
    from livekit import api, rtc

    from livekitex_cli.worker.dispatch import call_api

    spent = api.AgentDispatch()
    if not job.room or not job.dispatch_id:
        return "no room or dispatch to ask it back to", spent
    reasons = [rtc.DisconnectReason.Name(reason) for reason in job.left]  # type: ignore[arg-type]
    removed = [reason for reason in reasons if reason in ON_PURPOSE]
    if removed:
        return f"the server ended its connection ({removed[0]})", spent
    try:
        found = await call_api(
            server, lambda lk: lk.room.list_participants(api.ListParticipantsRequest(room=job.room))
        )
    except ValidationError as exc:  # the server's 404
        return f"the room is gone ({exc.reason})", spent
    people = found.participants
    agent_kind = api.ParticipantInfo.Kind.AGENT
    if not any(person.kind != agent_kind for person in people):
        return "nobody is left in the room", spent
    if any(
        person.kind == agent_kind
        and person.attributes.get("lk.agent.name") == job.agent
        and person.identity not in leaving  # itself, or an ended job's late join, on its way out
        for person in people
    ):
        return "another agent of that name is in the room", spent
    dispatches = await call_api(server, lambda lk: lk.agent_dispatch.list_dispatch(job.room))
    mine = [item for item in dispatches if item.id == job.dispatch_id]
    if not mine:
        return "its dispatch was deleted", spent
    if mine[0].restart_policy == api.JobRestartPolicy.JRP_NEVER:
        return "its dispatch's restart policy is JRP_NEVER", mine[0]
    return None, mine[0]
