"""What the dev worker is doing, from its own ``/worker`` endpoint: registered or not, which
agents, and the job of each room (failed jobs stay listed with their reason). Lets the page say
why no agent came."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession


@dataclass(frozen=True)
class JobState:
    state: str  # reserved, running or failed
    error: str = ""


@dataclass
class WorkerState:
    port: int | None = None  # the worker's health port; None: no worker is running
    ready: bool = False
    agents: set[str] = field(default_factory=set)  # registered with the server
    jobs: dict[tuple[str, str], JobState] = field(default_factory=dict)  # (agent, room) -> job

    def job(self, agent: str, room: str) -> JobState | None:
        return self.jobs.get((agent, room))


async def read_worker_state(client: ClientSession, port: int | None) -> WorkerState:
    """The state of the worker on ``port``; an empty state when it does not answer."""
    if port is None:
        return WorkerState()
    try:
        async with client.get(f"http://127.0.0.1:{port}/worker") as answer:
            data: dict[str, Any] = await answer.json()
    except (ClientError, TimeoutError, OSError, ValueError):
        return WorkerState(port=port)
    agents = data.get("agents") or []
    return WorkerState(
        port=port,
        ready=bool(data.get("registered")) and not data.get("draining"),
        agents={str(a.get("name")) for a in agents if a.get("registered")},
        jobs={
            (str(a.get("name")), str(job.get("room"))): JobState(
                str(job.get("state")), str(job.get("error") or "")
            )
            for a in agents
            for job in a.get("jobs") or []
        },
    )
