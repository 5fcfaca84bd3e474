"""What ``lkx start --workers N`` runs (N > 1): the process-wide settings the supervisor needs,
its health server, and the supervisor itself.

The supervisor reads only the agent files' ``worker:`` sections (the health port and the drain
timeout may be set there), never their tools or providers: a file that does not load is left to
the first worker process, which reports it as ``--workers 1`` would."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic

from livekitex_cli.config import WorkerSection
from livekitex_cli.config.loader import read_document
from livekitex_cli.errors import LkxError, ValidationError
from livekitex_cli.worker.health import HealthServer
from livekitex_cli.worker.options import DEFAULTS, WorkerOptions, process_settings
from livekitex_cli.worker.supervisor import Supervisor
from livekitex_cli.worker.supervisor_health import SupervisorHealth

__all__ = ["run_workers", "worker_count"]
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"


def worker_count(value: str, *, cpu_max: Path = CPU_MAX) -> int:
    """``--workers``: a positive number, or ``auto``: the cores this process may use (its CPU
    affinity, and its cgroup's CPU limit where one is set, as in a container)."""
    if value.strip().lower() == "auto":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        with contextlib.suppress(OSError, ValueError):
            quota, period = cpu_max.read_text().split()[:2]
            if quota != "max":
                cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
        return cores
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValidationError("--workers", f"'{value}' must be a positive number or 'auto'")
    return count


async def run_workers(
    *,
    count: int,
    paths: Sequence[str | Path],
    args: Sequence[str],
    cli: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve with ``count`` worker processes until SIGTERM/SIGINT has drained them all.

    ``args``: the ``lkx start`` options each process gets; ``cli``: the command line's values
    of ``WorkerOptions`` (health port and host, drain timeout). ``on_ready`` hears the health
    port once every process has registered. Raises ``ResourceError`` (health port taken),
    ``ValidationError`` (the files disagree on a process-wide setting) or ``ChildFailed`` (the
    first process could not start; it said why)."""
    from livekitex_cli.agent import agent_files

    environment = dict(os.environ if env is None else env)
    options = {}
    for file in agent_files(paths):
        with contextlib.suppress(LkxError, pydantic.ValidationError, AttributeError):
            section = WorkerSection.model_validate(read_document(file).data.get("worker") or {})
            options[str(file)] = WorkerOptions.resolve(cli=cli, env={}, yaml_section=section)
    settings = (
        process_settings(options, {name: name for name in options})
        if options
        else WorkerOptions.resolve(cli=cli, env={})
    )
    supervisor = Supervisor(
        count=count,
        paths=[str(p) for p in paths],
        args=args,
        env=environment,
        drain_timeout=settings.drain_timeout or DEFAULTS["drain_timeout"],
    )
    health = HealthServer(
        SupervisorHealth(supervisor),
        host=settings.health_check_host,
        port=settings.health_check_port,
    )
    try:
        port = await health.start()
        await supervisor.run(on_ready=None if on_ready is None else lambda: on_ready(port))
    finally:
        await health.aclose()
        supervisor.cleanup()
