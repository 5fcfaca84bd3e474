"""``lkx start``: run the worker in production."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from livekitex_cli.cli.logs import LogFormat, LogLevel, LogLevelOption, setup_logging
from livekitex_cli.cli.output import fail, notify
from livekitex_cli.errors import LkxError

UrlOption = Annotated[
    str | None, typer.Option("--url", envvar="LIVEKIT_URL", help="LiveKit server URL.")
]
KeyOption = Annotated[
    str | None, typer.Option("--api-key", envvar="LIVEKIT_API_KEY", help="API key.")
]
SecretOption = Annotated[
    str | None,
    typer.Option(
        "--api-secret", envvar="LIVEKIT_API_SECRET", show_default=False,
        help="API secret; prefer the environment variable.",
    ),
]  # fmt: skip


def worker_cli_options(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def start_command(
    paths: Annotated[list[Path], typer.Argument(help="Agent YAML files or folders.")],
    url: UrlOption = None,
    api_key: KeyOption = None,
    api_secret: SecretOption = None,
    max_jobs: Annotated[
        int | None,
        typer.Option(
            "--max-jobs",
            envvar="LKX_MAX_JOBS",
            min=1,
            help="Concurrent jobs of the process, and of each agent (default: per agent file).",
        ),
    ] = None,
    drain_timeout: Annotated[
        float | None,
        typer.Option(envvar="LKX_DRAIN_TIMEOUT", min=0.001, help="Seconds jobs get on SIGTERM."),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(envvar="LKX_HEALTH_PORT", min=0, max=65_535, help="Health port (0 = any)."),
    ] = None,
    health_host: Annotated[
        str | None,
        typer.Option(
            envvar="LKX_HEALTH_HOST",
            help="Health address (default 127.0.0.1; 0.0.0.0 for a container's probes).",
        ),
    ] = None,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            envvar="LKX_WORKERS",
            help="Worker processes, each registered on its own ('auto': one per core).",
        ),
    ] = "1",
    loop_lag: Annotated[
        float | None,
        typer.Option(
            envvar="LKX_LOOP_LAG",
            min=0,
            help="Seconds of event loop lag that count as blocked (default 0.5; 0 = off).",
        ),
    ] = None,
    loop_blocks: Annotated[
        int | None,
        typer.Option(
            envvar="LKX_LOOP_BLOCKS",
            min=1,
            help="Blocked episodes (within --loop-window) that end a job (default 3).",
        ),
    ] = None,
    loop_window: Annotated[
        float | None,
        typer.Option(envvar="LKX_LOOP_WINDOW", min=0.001, help="Seconds; default 60."),
    ] = None,
    log_level: LogLevelOption = LogLevel.info,
    log_format: Annotated[
        LogFormat, typer.Option(help="auto, rich, json or plain.")
    ] = LogFormat.auto,
) -> None:
    """Register the agents with a LiveKit server and take jobs until SIGTERM (then drain)."""
    from livekitex_cli.cli import package_version
    from livekitex_cli.worker import run_worker
    from livekitex_cli.worker.workers import worker_count

    setup_logging(log_level, log_format)
    try:
        count = worker_count(workers)
    except LkxError as exc:
        fail(exc)
    cli = worker_cli_options(
        server_url=url,
        api_key=api_key,
        api_secret=api_secret,
        max_concurrent_jobs=max_jobs,
        drain_timeout=drain_timeout,
        health_check_port=health_port,
        health_check_host=health_host,
        loop_lag_threshold=loop_lag,
        loop_block_limit=loop_blocks,
        loop_block_window=loop_window,
    )

    host = health_host or "127.0.0.1"
    if count > 1:
        served = [str(p) for p in paths]
        args = ["--workers", "1", "--health-host", "127.0.0.1", "--log-level", log_level]
        args += ["--log-format", log_format]
        args += ["--max-jobs", str(max_jobs)] if max_jobs is not None else []
        args += ["--drain-timeout", str(drain_timeout)] if drain_timeout is not None else []
        for flag, value in (
            ("--loop-lag", loop_lag), ("--loop-blocks", loop_blocks), ("--loop-window", loop_window)
        ):  # fmt: skip
            args += [flag, str(value)] if value is not None else []
        _run_workers(count, served, args, cli, host)
        return

    def ready(worker: Any, port: int) -> None:
        if os.environ.get("LKX_WORKER_INDEX"):  # one of --workers N: its supervisor says it
            return
        names = ", ".join(slot.agent.name for slot in worker.slots)
        notify(f"[green]ready[/]: {names} registered; health on http://{host}:{port}/")

    try:
        job_args = ["--log-level", log_level.value, "--log-format", log_format.value]
        asyncio.run(
            run_worker(
                paths=paths, cli=cli, version=package_version(), on_ready=ready, job_args=job_args
            )
        )
    except LkxError as exc:
        fail(exc)
    if not os.environ.get("LKX_WORKER_INDEX"):
        notify("worker stopped")


def _run_workers(
    count: int, paths: list[str], args: list[str], cli: dict[str, Any], host: str
) -> None:
    """``--workers N``: a supervisor of N ``lkx start`` processes; the credentials reach them
    through the environment, never their command line."""
    from livekitex_cli.worker.workers import run_workers

    env = dict(os.environ)
    for key, name in (
        ("server_url", "LIVEKIT_URL"), ("api_key", "LIVEKIT_API_KEY"),
        ("api_secret", "LIVEKIT_API_SECRET"),
    ):  # fmt: skip
        if key in cli:
            env[name] = cli[key]

    def ready(port: int) -> None:
        notify(
            f"[green]ready[/]: {count} worker processes registered; health on http://{host}:{port}/"
        )

    try:
        asyncio.run(
            run_workers(count=count, paths=paths, args=args, cli=cli, env=env, on_ready=ready)
        )
    except LkxError as exc:
        fail(exc)
    notify("worker processes stopped")
