"""lkx: run LiveKit voice and text AI agents defined in YAML.

The public API follows the seed contract in Python form: keyword arguments, exceptions instead
of error tuples, ``async`` where there is I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from livekitex_cli.session import AgentSession
    from livekitex_cli.worker import WorkerOptions

__version__ = "0.1.0"

_LAZY = {"AgentSession": "livekitex_cli.session", "WorkerOptions": "livekitex_cli.worker"}


def __getattr__(name: str) -> Any:
    """Heavier parts (the session pipeline, the worker) load on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'livekitex_cli' has no attribute '{name}'")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Agent",
    "AgentSession",
    "AuthError",
    "ConnectError",
    "ExitCode",
    "ExternalServiceError",
    "FunctionTool",
    "InvalidConfigError",
    "InvalidInstructionsError",
    "LkxError",
    "OperationTimeoutError",
    "ResourceError",
    "RunContext",
    "ToolExecutionError",
    "ToolRegistry",
    "UnknownToolError",
    "ValidationError",
    "WorkerOptions",
    "create_agent",
    "execute_tool",
    "function_tool",
    "get_all_tools",
    "load_agents",
    "register_tool",
    "to_openai_format",
]
