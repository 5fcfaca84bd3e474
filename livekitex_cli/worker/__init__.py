"""The LiveKit worker: the agent-worker protocol, jobs, room I/O, health and hot reload."""

from livekitex_cli.worker.jobs import Job, JobContext
from livekitex_cli.worker.options import Accept, Reject, WorkerOptions
from livekitex_cli.worker.run import connect_to_room, run_worker
from livekitex_cli.worker.tokens import mint_token
from livekitex_cli.worker.worker import Worker

__all__ = [
    "Accept",
    "Job",
    "JobContext",
    "Reject",
    "Worker",
    "WorkerOptions",
    "connect_to_room",
    "mint_token",
    "run_worker",
]
