"""lkx: run LiveKit voice and text AI agents defined in YAML.

The public API follows the seed contract in Python form: keyword arguments, exceptions instead
of error tuples, ``async`` where there is I/O. Names load on first use, so ``lkx --help`` and
tools that only need the errors stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekitex_cli.agent import Agent, create_agent, load_agents
    from livekitex_cli.errors import (
        AuthError,
        ConnectError,
        ExitCode,
        ExternalServiceError,
        InvalidConfigError,
        InvalidInstructionsError,
        LkxError,
        OperationTimeoutError,
        ResourceError,
        ToolExecutionError,
        UnknownToolError,
        ValidationError,
    )
    from livekitex_cli.session import AgentSession, start_session
    from livekitex_cli.tools import (
        FunctionTool,
        RunContext,
        ToolRegistry,
        execute_tool,
        function_tool,
        get_all_tools,
        register_tool,
        to_openai_format,
    )
    from livekitex_cli.worker import WorkerOptions

__version__ = "0.1.0"

_WHERE = {
    "livekitex_cli.agent": ("Agent", "create_agent", "load_agents"),
    "livekitex_cli.errors": (
        "AuthError", "ConnectError", "ExitCode", "ExternalServiceError", "InvalidConfigError",
        "InvalidInstructionsError", "LkxError", "OperationTimeoutError", "ResourceError",
        "ToolExecutionError", "UnknownToolError", "ValidationError",
    ),
    "livekitex_cli.session": ("AgentSession", "start_session"),
    "livekitex_cli.tools": (
        "FunctionTool", "RunContext", "ToolRegistry", "execute_tool", "function_tool",
        "get_all_tools", "register_tool", "to_openai_format",
    ),
    "livekitex_cli.worker": ("WorkerOptions",),
}  # fmt: skip
_LAZY = {name: module for module, names in _WHERE.items() for name in names}
__all__ = [
    "Agent", "AgentSession", "AuthError", "ConnectError", "ExitCode", "ExternalServiceError",
    "FunctionTool", "InvalidConfigError", "InvalidInstructionsError", "LkxError",
    "OperationTimeoutError", "ResourceError", "RunContext", "ToolExecutionError", "ToolRegistry",
    "UnknownToolError", "ValidationError", "WorkerOptions", "create_agent", "execute_tool",
    "function_tool", "get_all_tools", "load_agents", "register_tool", "start_session",
    "to_openai_format",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'livekitex_cli' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
