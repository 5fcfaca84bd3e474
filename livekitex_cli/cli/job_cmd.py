"""``lkx job-process`` (hidden): one job of an ``isolation: process`` agent, in a child process
the worker starts; the job comes on stdin, the report goes to stdout (``worker/isolated.py``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from livekitex_cli.cli.logs import LogFormat, LogLevel, LogLevelOption, setup_logging


def job_process_command(
    log_level: LogLevelOption = LogLevel.info,
    log_format: Annotated[LogFormat, typer.Option(help="auto, rich, json or plain.")] = (
        LogFormat.auto
    ),
) -> None:
    """Run one job handed over on stdin by an ``lkx start`` worker (not for direct use)."""
    from livekitex_cli.worker.job_process import serve_job

    setup_logging(log_level, log_format)
    asyncio.run(serve_job())
