"""Function tools: the decorator, the registry and discovery, execution with a ``RunContext``."""

from __future__ import annotations

from typing import Any

from livekitex_cli.tools.execution import error_text, execute_tool, output_text, run_tool
from livekitex_cli.tools.function_tool import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    FunctionTool,
    RunContext,
    function_tool,
    make_tool,
    to_openai_format,
)
from livekitex_cli.tools.registry import (
    ENTRY_POINT_GROUP,
    ToolLoadProblem,
    ToolRegistry,
    default_registry,
    reset_default_registry,
)


def register_tool(definition: dict[str, Any] | FunctionTool) -> FunctionTool:
    """The contract's ``register_tool``: add a tool to the process-wide registry."""
    return default_registry().register(definition)


def get_all_tools() -> dict[str, FunctionTool]:
    """The contract's ``get_all_tools``: every registered tool by name."""
    return default_registry().all()


__all__ = [
    "DEFAULT_TIMEOUT",
    "ENTRY_POINT_GROUP",
    "MAX_TIMEOUT",
    "FunctionTool",
    "RunContext",
    "ToolLoadProblem",
    "ToolRegistry",
    "default_registry",
    "error_text",
    "execute_tool",
    "function_tool",
    "get_all_tools",
    "make_tool",
    "output_text",
    "register_tool",
    "reset_default_registry",
    "run_tool",
    "to_openai_format",
]
