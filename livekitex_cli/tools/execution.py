"""Run a tool as the LLM asks: validate arguments, enforce the timeout, contain every failure."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from livekitex_cli.errors import (
    LkxError,
    OperationTimeoutError,
    ToolExecutionError,
    ValidationError,
)
from livekitex_cli.tools.function_tool import FunctionTool, RunContext
from livekitex_cli.tools.registry import ToolRegistry, default_registry
from livekitex_cli.tools.schema import validate_arguments

MAX_OUTPUT_CHARS = 16_000

# Sync tools run here, not on the event loop. A sync tool that hangs past its timeout keeps its
# thread (Python cannot kill threads), so the pool is large enough that a few hung calls do not
# starve the others.
_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="lkx-tool")
# the async tool each task is running now, with its context: read by the loop watch (a thread)
# to name the tool that blocks the event loop
_running: dict[asyncio.Task[Any], tuple[str, RunContext | None]] = {}


def running_tool(task: asyncio.Task[Any] | None) -> tuple[str, RunContext | None] | None:
    """The name and context of the async tool ``task`` is running, if any."""
    return _running.get(task) if task is not None else None


def parse_arguments(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    """Arguments as the LLM sends them (a JSON string) or as a mapping."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ValidationError("arguments", f"not valid JSON: {exc.msg} at {exc.pos}") from None
    else:
        parsed = arguments
    if not isinstance(parsed, dict):
        raise ValidationError("arguments", f"must be a JSON object, not {type(parsed).__name__}")
    return parsed


async def run_tool(
    tool: FunctionTool,
    arguments: str | dict[str, Any] | None,
    context: RunContext | None = None,
) -> Any:
    """Call ``tool`` with validated arguments; raise an ``LkxError``, never anything else."""
    kwargs = validate_arguments(tool.name, tool.arguments_model, parse_arguments(arguments))
    if tool.context_param:
        kwargs[tool.context_param] = context or RunContext()
    try:
        async with asyncio.timeout(tool.timeout):
            if tool.is_async:
                task = asyncio.current_task()
                if task is None:
                    return await tool.fn(**kwargs)
                _running[task] = (tool.name, context)
                try:
                    return await tool.fn(**kwargs)
                finally:
                    _running.pop(task, None)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(_executor, lambda: tool.fn(**kwargs))
    except TimeoutError:
        raise OperationTimeoutError(f"tool '{tool.name}'", tool.timeout) from None
    except LkxError:
        raise
    except Exception as exc:  # noqa: BLE001 - a tool's failure is data for the LLM
        raise ToolExecutionError(tool.name, f"{type(exc).__name__}: {exc}") from exc


async def execute_tool(
    name: str,
    arguments: str | dict[str, Any] | None,
    context: RunContext | None = None,
    *,
    registry: ToolRegistry | None = None,
) -> Any:
    """The contract's ``execute_tool``: look the tool up, then ``run_tool``."""
    tool = (registry or default_registry()).get(name)
    return await run_tool(tool, arguments, context)


def output_text(result: Any, *, limit: int = MAX_OUTPUT_CHARS) -> str:
    """A tool's result as the text the LLM reads: strings as they are, the rest as JSON."""
    if isinstance(result, str):
        text = result
    else:
        try:
            text = json.dumps(result, ensure_ascii=False, default=_jsonable)
        except (TypeError, ValueError) as exc:
            raise ToolExecutionError("result", f"not JSON-serialisable: {exc}") from None
    if len(text) > limit:
        cut = len(text) - limit
        text = f"{text[:limit]}... [truncated {cut} characters]"
    return text


def error_text(error: LkxError) -> str:
    """What the LLM reads when a tool call failed; safe to show (no tracebacks, no secrets)."""
    return f"error: {error}"


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
