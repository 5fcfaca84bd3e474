"""The LiveKit worker: the agent-worker protocol, jobs, room I/O, health and hot reload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livekitex_cli.worker.jobs import Job, JobContext
from livekitex_cli.worker.options import Accept, Reject, WorkerOptions
from livekitex_cli.worker.run import run_worker
from livekitex_cli.worker.tokens import mint_token
from livekitex_cli.worker.worker import Worker

if TYPE_CHECKING:
    from livekitex_cli.worker.room_io import RoomIO, connect_to_room


def __getattr__(name: str) -> Any:
    """Room I/O (``livekit.rtc``) loads on first use: registering does not need it."""
    if name in ("connect_to_room", "RoomIO"):
        from livekitex_cli.worker import room_io

        return getattr(room_io, name)
    raise AttributeError(f"module 'livekitex_cli.worker' has no attribute '{name}'")


__all__ = [
    "Accept",
    "Job",
    "JobContext",
    "Reject",
    "RoomIO",
    "Worker",
    "WorkerOptions",
    "connect_to_room",
    "mint_token",
    "run_worker",
]
