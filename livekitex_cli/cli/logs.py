"""Log handlers: Rich on a terminal, JSON lines for production (``--log-format json``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from enum import StrEnum
from typing import Annotated, Any

import typer

from livekitex_cli.tracing import log_filter

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


LogLevelOption = Annotated[LogLevel, typer.Option(help="debug, info, warning or error.")]


class LogFormat(StrEnum):
    auto = "auto"
    rich = "rich"
    json = "json"
    plain = "plain"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with ``extra=`` fields as keys."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(_extras(record))
        if record.exc_info and record.exc_info[1] is not None:
            data["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return json.dumps(data, default=str)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of ``record`` (room, job, timings...)."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``: the ``extra=`` fields stay in a plain
    log (a service's journal, a container's output), where they name the room or the job."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={_value(value)}" for key, value in _extras(record).items())
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the line
        return f"{head} {fields}{newline}{rest}"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (it may be swapped, e.g. by test runners)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def setup_logging(level: str = "warning", fmt: LogFormat = LogFormat.auto) -> None:
    """Install one handler on the root logger (replacing ours from a previous call)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.name == "lkx":
            root.removeHandler(old)
    if fmt == LogFormat.auto:
        fmt = LogFormat.rich if sys.stderr.isatty() else LogFormat.plain
    handler: logging.Handler
    if fmt == LogFormat.rich:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
    else:
        handler = _StderrHandler()
        if fmt == LogFormat.json:
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(PlainFormatter())
    handler.set_name("lkx")
    trace_ids = log_filter()  # OTEL_*: records inside a span carry its ids
    if trace_ids is not None:
        handler.addFilter(trace_ids)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if level.lower() != "debug":  # per-request and per-connection chatter of our dependencies
        for noisy in ("httpx", "httpx2", "openai", "livekit", "aiohttp.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
