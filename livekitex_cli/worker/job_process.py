"""The child side of ``isolation: process`` (``isolated.py``): read one job from stdin, join
its room and run its session under this process's own loop guard, report on stdout, and end
the job when stdin closes (the parent ended it, or is gone)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from typing import Any

from livekit.protocol import agent as proto

from livekitex_cli.agent import load_agents
from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.session.handoff import resolve_handoffs
from livekitex_cli.worker.blocking import BlockLimit, LoopGuard
from livekitex_cli.worker.dispatch import Server
from livekitex_cli.worker.isolated import PREFIX
from livekitex_cli.worker.jobs import Job, JoinPolicy, run_job

log = get_logger("worker")


def report(message: dict[str, Any]) -> None:
    """One line of the report to the parent."""
    sys.stdout.write(PREFIX + json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


async def serve_job() -> None:
    """Run the job the parent writes on stdin; always ends with an ``end`` report."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin
    )
    job = Job("", "")
    try:
        payload = json.loads(await stdin.readline())
        assignment = proto.JobAssignment.FromString(base64.b64decode(payload["assignment"]))
        job = Job(assignment.job.id, payload["agent"], assignment.job.room.name, state="running")
        await _run(job, payload, assignment, stdin)
    except Exception as exc:  # noqa: BLE001 - every failure is the job's, reported
        job.state = "failed"
        job.error = str(exc) if isinstance(exc, LkxError) else f"{type(exc).__name__}: {exc}"
    finally:
        transport.close()
        totals = job.session.metrics() if job.session is not None else {}
        report(
            {
                "end": {
                    "state": job.state, "error": job.error, "join_attempts": job.join_attempts,
                    "tool_calls": totals.get("tool_calls_executed", 0),
                    "errors": totals.get("errors", 0),
                }
            }
        )  # fmt: skip


async def _run(
    job: Job, payload: dict[str, Any], assignment: proto.JobAssignment, stdin: asyncio.StreamReader
) -> None:
    agents = load_agents(payload["paths"])
    resolve_handoffs(agents)
    agent = next(a for a in agents if a.name == payload["agent"])
    running = asyncio.create_task(
        run_job(
            agent=agent, assignment=assignment, url=payload["url"], job=job,
            close_on_leave=payload["close_on_leave"],
            on_turn=lambda metrics: report({"turn": metrics}),
            on_handoff=lambda old, new: report({"handoff": [old, new]}),
            join_policy=JoinPolicy(**payload["join_policy"]),
            server=_server(payload["url"]),
        ),
        name="lkx-job",
    )  # fmt: skip
    job.task = running

    def end(_: Job, reason: str) -> None:
        if not job.ending and not running.done():
            log.error("ending a job", extra={"job_id": job.id, "reason": reason})
            job.state, job.error = "failed", reason
            report({"failing": reason})  # before leaving the room ends the job another way
            running.cancel()

    settings = payload["loop"]
    guard = LoopGuard(
        threshold=settings["threshold"],
        jobs=lambda: [job] if job.state == "running" else [],
        limits={agent.name: BlockLimit(settings["episodes"], settings["window"])},
        end_job=end,
        on_episode=lambda name, seconds: report({"blocked": [name, seconds]}),
    )
    parent = asyncio.create_task(stdin.read(), name="lkx-job-parent")  # EOF: end the job
    parent.add_done_callback(lambda _: running.cancel() if job.state == "running" else None)
    guard.start()
    try:
        await asyncio.wait([running])
    finally:
        parent.cancel()
        await asyncio.gather(parent, return_exceptions=True)
        await guard.aclose()
    if running.cancelled():
        job.state = "failed" if job.state == "failed" else "terminated"
    elif (exc := running.exception()) is not None:
        raise exc
    else:
        job.state = "success"


def _server(url: str) -> Server | None:
    """The server's API, when the worker's key reached this process by its environment (the
    credentials never go through the job's payload)."""
    key, secret = os.environ.get("LIVEKIT_API_KEY", ""), os.environ.get("LIVEKIT_API_SECRET", "")
    return Server(url, key, secret) if key and secret else None
