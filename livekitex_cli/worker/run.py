"""What ``lkx start`` runs: load agents, resolve options, serve health, run the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from livekitex_cli.agent import load_agents
from livekitex_cli.errors import ValidationError
from livekitex_cli.providers.preflight import preflight_error
from livekitex_cli.session.handoff import resolve_handoffs
from livekitex_cli.tracing import setup as setup_tracing
from livekitex_cli.worker.health import HealthServer
from livekitex_cli.worker.options import WorkerOptions, process_settings
from livekitex_cli.worker.worker import Worker

ReadyCallback = Callable[[Worker, int], None]

__all__ = ["run_worker"]


async def run_worker(
    *,
    paths: Sequence[str | Path],
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    version: str = "0",
    on_ready: ReadyCallback | None = None,
    preflight: bool = True,
    job_args: Sequence[str] = (),
) -> None:
    """Serve every agent under ``paths`` until SIGTERM/SIGINT has drained the worker.

    ``job_args``: the log options of ``lkx job-process`` (agents with ``isolation: process``).

    Raises ``ValidationError`` (bad files or options), ``PreflightError`` (an agent's providers
    cannot work: a missing key, model or package), ``ConnectError`` (server unreachable) or
    ``AuthError`` (credentials refused), ``ResourceError`` (``OTEL_*`` asks for traces and
    the ``otel`` extra is missing).
    """
    setup_tracing()  # OTEL_*: a missing extra is an error before anything runs
    agents = load_agents(paths)
    resolve_handoffs(agents)  # handoffs: targets by name among these, or by path
    if not agents:
        where = ", ".join(map(str, paths))
        raise ValidationError("paths", f"no agent files (*.yaml, *.yml) under {where}")
    problems = [problem for agent in agents for problem in agent.preflight()] if preflight else []
    if problems:
        raise preflight_error(problems)
    options = {
        agent.name: WorkerOptions.resolve(
            cli=cli, env=env, yaml_section=agent.spec.worker, agent_name=agent.name
        ).validate()
        for agent in agents
    }
    process = process_settings(options, {a.name: a.source or a.name for a in agents})
    max_jobs = (cli or {}).get("max_concurrent_jobs")  # --max-jobs: every agent, and in all
    worker = Worker(agents=agents, options=options, version=version, max_jobs=max_jobs)
    worker.job_args = list(job_args)
    health = HealthServer(worker, host=process.health_check_host, port=process.health_check_port)
    port = await health.start()
    try:
        running = asyncio.create_task(worker.run(), name="lkx-worker")
        while not running.done() and not worker.registered:
            await asyncio.wait([running], timeout=0.05)
        if not running.done() and on_ready is not None:
            on_ready(worker, port)
        await running
    finally:
        await health.aclose()
