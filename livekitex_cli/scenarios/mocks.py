"""Tools replaced for a test: same name, description and argument schema (so the LLM sees the
same tool and its arguments are validated the same way), but the function returns the scripted
result or raises the scripted error. The real function is never called."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from livekitex_cli.errors import ToolExecutionError
from livekitex_cli.scenarios.schema import MockSpec
from livekitex_cli.tools import FunctionTool, ToolRegistry


def mocked_registry(base: ToolRegistry, mocks: Mapping[str, MockSpec]) -> ToolRegistry:
    """``base`` with the tools named in ``mocks`` replaced (``base`` is left alone)."""
    registry = ToolRegistry()
    for name, tool in base.all().items():
        spec = mocks.get(name)
        registry.register(tool if spec is None else mock_tool(tool, spec))
    return registry


def mock_tool(tool: FunctionTool, spec: MockSpec) -> FunctionTool:
    return replace(tool, fn=_mock_function(tool.name, spec), origin=f"mock of {tool.origin}")


def _mock_function(name: str, spec: MockSpec) -> Callable[..., Any]:
    async def mocked(**_: Any) -> Any:
        if spec.delay_ms:
            await asyncio.sleep(spec.delay_ms / 1000)
        if spec.error is not None:
            raise ToolExecutionError(name, spec.error)
        return copy.deepcopy(spec.result)

    mocked.__name__ = name
    return mocked
