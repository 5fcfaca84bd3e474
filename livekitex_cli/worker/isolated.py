"""``isolation: process``: each of an agent's jobs in a child process of its own, for heavy or
untrusted tools. The parent keeps the agent-worker protocol connection and the job's record
(status to the server, the failed reason, the /worker listing); the child (``lkx job-process``,
``job_process.py``) joins the room and runs the session, so a tool that blocks or crashes its
event loop stalls or ends that one job only.

The parent writes the job (one JSON line) to the child's stdin and keeps stdin open: closing
it ends the job (a termination, a drain), and a child whose parent died ends its job too. The
child reports on stdout, one ``PREFIX``-ed JSON object a line: ``turn``, ``handoff``,
``blocked``, ``failing`` (it is ending the job, with the reason), and last ``end`` (its state,
error and totals)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from livekit.protocol import agent as proto

from livekitex_cli.errors import LkxError
from livekitex_cli.log import get_logger
from livekitex_cli.worker.jobs import Job

if TYPE_CHECKING:
    from livekitex_cli.worker.slot import AgentSlot

log = get_logger("worker")
PREFIX = "lkx-job "
STOP_GRACE = 10.0  # s a child gets to leave its room once told to end, before it is killed
NOW_GRACE = 1.0  # ...once the worker was told to stop now (a second Ctrl-C)
__all__ = ["PREFIX", "IsolatedJobFailed", "job_payload", "run_isolated"]


class IsolatedJobFailed(LkxError):
    """The job failed in its child process; the message is the child's reason."""


def job_payload(slot: AgentSlot, job: Job, assignment: proto.JobAssignment, url: str) -> str:
    """What the child needs to run the job, as one JSON line. The agent files of the whole
    worker go along (handoffs find their targets among them)."""
    worker, options = slot.worker, slot.options
    paths = [s.agent.source for s in worker.slots if s.agent.source]
    if slot.agent.source is None:
        raise IsolatedJobFailed(f"agent '{slot.agent.name}' has no file to load in a child")
    data = {
        "paths": paths,
        "agent": slot.agent.name,
        "assignment": base64.b64encode(assignment.SerializeToString()).decode(),
        "url": url,
        "close_on_leave": options.close_on_participant_leave,
        "join_policy": dataclasses.asdict(worker.join_policy),
        "loop": {
            "threshold": options.loop_lag_threshold,
            "episodes": options.loop_block_limit,
            "window": options.loop_block_window,
        },
    }
    return json.dumps(data) + "\n"


async def run_isolated(
    slot: AgentSlot, job: Job, assignment: proto.JobAssignment, url: str, *, args: Sequence[str]
) -> None:
    """Run ``job`` in a child process until it ends; raise ``IsolatedJobFailed`` with the
    child's reason when it failed (or died without saying why). Cancelled: the child is told
    to end the job, and killed if it has not within ``STOP_GRACE``."""
    if slot.options.entry_point or slot.worker.entry_point:
        raise IsolatedJobFailed("isolation: process cannot run a Python entry_point")
    payload = job_payload(slot, job, assignment, url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livekitex_cli", "job-process", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # the worker's signals are the worker's: it decides
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    log.info("job process started", extra={"job_id": job.id, "pid": process.pid})
    end: dict[str, Any] | None = None
    try:
        process.stdin.write(payload.encode())
        await process.stdin.drain()
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if not line.startswith(PREFIX):
                log.debug("job process output", extra={"job_id": job.id, "line": line[:500]})
                continue
            end = _report(slot, job, json.loads(line[len(PREFIX) :])) or end
        code = await process.wait()
    except asyncio.CancelledError:
        await _stop(process, job, slot.worker.now)
        raise
    finally:
        _close(process)
    if end is None:
        raise IsolatedJobFailed(f"the job's process ended (exit {code}) without a report")
    if end.get("state") != "success":
        raise IsolatedJobFailed(str(end.get("error") or f"the job's process {end.get('state')}"))


def _report(slot: AgentSlot, job: Job, message: dict[str, Any]) -> dict[str, Any] | None:
    """One line of the child's report, into the job's record and the worker's metrics."""
    worker = slot.worker
    if "failing" in message:  # the child ends the job: a termination now changes nothing
        job.state, job.error = "failed", str(message["failing"])
    elif "turn" in message:
        worker.record_turn(message["turn"])
    elif "handoff" in message:
        worker.metrics.handoff(*message["handoff"])
    elif "blocked" in message:
        agent, seconds = message["blocked"]
        worker.metrics.loop_episode(str(agent), float(seconds))
    elif "end" in message:
        end: dict[str, Any] = message["end"]
        job.join_attempts = int(end.get("join_attempts", job.join_attempts))
        worker.session_totals["tool_calls_executed"] += int(end.get("tool_calls", 0))
        worker.session_totals["errors"] += int(end.get("errors", 0))
        return end
    return None


async def _stop(process: asyncio.subprocess.Process, job: Job, now: asyncio.Event) -> None:
    """Tell the child to end its job (stdin closed), then kill it if it does not within
    ``STOP_GRACE`` (``NOW_GRACE`` once the worker is told to stop now)."""
    if process.returncode is not None:
        return
    if process.stdin is not None:
        process.stdin.close()
    ended = asyncio.ensure_future(process.wait())
    hurried = asyncio.ensure_future(now.wait())
    try:
        await asyncio.wait(
            [ended, hurried], timeout=STOP_GRACE, return_when=asyncio.FIRST_COMPLETED
        )
        if not ended.done() and hurried.done():
            await asyncio.wait([ended], timeout=NOW_GRACE)
    finally:
        hurried.cancel()
    if not ended.done():
        log.warning("job process did not end, killing it", extra={"job_id": job.id})
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await ended


def _close(process: asyncio.subprocess.Process) -> None:
    """Close the pipes and the process's transport (asyncio leaves it open, a ResourceWarning
    when collected; closing kills a child that still runs)."""
    if process.stdin is not None:
        process.stdin.close()
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()
