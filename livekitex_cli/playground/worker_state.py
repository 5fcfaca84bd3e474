"""What the dev worker is doing, from its own ``/worker`` endpoint: registered or not, which
agents, which rooms have a job, how many jobs failed. Lets the page say why no agent came."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession


@dataclass
class WorkerState:
    port: int | None = None  # the worker's health port; None: no worker is running
    ready: bool = False
    agents: set[str] = field(default_factory=set)  # registered with the server
    rooms: dict[str, set[str]] = field(default_factory=dict)  # agent -> rooms with a job
    failed_jobs: int = 0


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
        rooms={
            str(a.get("name")): {str(job.get("room")) for job in a.get("jobs") or []}
            for a in agents
        },
        failed_jobs=int((data.get("jobs_total") or {}).get("failed", 0)),
    )
